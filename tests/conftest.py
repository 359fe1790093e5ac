from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from why403_kit import Lab

from ._hostile import HostileServer

# Obviously fake: the canary must never show up anywhere the kit writes or prints.
CANARY = "sk-proj-CANARY0test0Key0Do0Not0Leak0123456789abcdef"

# Property tests run the same examples on every run (derandomize: a fixed seed, nothing stored between runs) and
# enough of them to matter; each test says how many it needs with @settings(max_examples=...).
settings.register_profile("why403", derandomize=True, database=None, deadline=None, max_examples=300, print_blob=False,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile("why403")


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    with Lab() as server:
        yield server


@pytest.fixture(scope="session")
def hostile() -> Iterator[HostileServer]:
    """One hostile server (plain and TLS) for the session; drips one byte every half second."""
    with HostileServer(tls=True, drip_interval=0.5, drip_limit=60, bomb_size=32 << 20) as server:
        yield server


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
