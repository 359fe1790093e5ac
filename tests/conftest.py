from __future__ import annotations

from collections.abc import Iterator

import pytest

from why403_kit import Lab

# Obviously fake: the canary must never show up anywhere the kit writes or prints.
CANARY = "sk-proj-CANARY0test0Key0Do0Not0Leak0123456789abcdef"


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    with Lab() as server:
        yield server


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
