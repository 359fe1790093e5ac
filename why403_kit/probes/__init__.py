"""The steps' probes, one module per step, and the registry the runner walks.

- :mod:`.credentials`  step 1: key present and well formed, a live free ``GET /models``
- :mod:`.network`      step 2: DNS, TCP and TLS timing, certificate issuer, proxies, egress IP and allowlist
- :mod:`.permissions`  step 3: model/deployment access and token-free scope probes (paid probe only on opt-in)
- :mod:`.headers`      step 4: the target's URL shape and a request pasted from the user's app
- :mod:`.ratelimits`   step 5: rate-limit headers, Retry-After, rate limit vs quota, backoff plan (reads steps 1 and 3)
- :mod:`.support`      step 6: what the support bundle will hold (reads steps 1 and 3)

Each module declares ``STEP = StepSpec(id, run, reads=...)``; a new step is one module, one line below and one
``[[step]]`` in ``knowledge/steps.toml``. The two must agree: a step in one and not the other stops the import.
:mod:`._http` holds what probes share (the one bounded, redacted HTTP exchange, the rules for sending the key);
:mod:`._step` the contract (:class:`StepSpec`, :class:`StepContext`, :class:`Budget`).
"""

from __future__ import annotations

from .. import knowledge
from . import credentials, headers, network, permissions, ratelimits, support
from ._step import Budget, StepContext, StepSpec, ordered_registry

REGISTRY: tuple[StepSpec, ...] = ordered_registry([
    credentials.STEP,
    network.STEP,
    permissions.STEP,
    headers.STEP,
    ratelimits.STEP,
    support.STEP,
], knowledge.load())

__all__ = ["REGISTRY", "Budget", "StepContext", "StepSpec"]
