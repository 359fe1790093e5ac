"""The probes of the six steps, one module per step; :mod:`why403_kit.diagnose` runs them.

- :mod:`.credentials`  step 1: key present and well formed, a live free ``GET /models``
- :mod:`.network`      step 2: DNS, TCP and TLS timing, certificate issuer, proxies, egress IP and allowlist
- :mod:`.permissions`  step 3: model/deployment access and token-free scope probes (paid probe only on opt-in)
- :mod:`.headers`      step 4: the target's URL shape and a request pasted from the user's app
- :mod:`.ratelimits`   step 5: rate-limit headers, Retry-After, rate limit vs quota, backoff plan
- :mod:`.support`      step 6: the support bundle (JSON and Markdown)

:mod:`._http` holds what they share: the one bounded, redacted HTTP exchange and the rules for sending the key.
"""
