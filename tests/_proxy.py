"""The recording proxy moved to :mod:`tests._hostile` (it forwards plain HTTP too); this name stays for the tests that use it."""

from __future__ import annotations

from ._hostile import RecordingProxy
from ._hostile import recording_proxy as connect_proxy

__all__ = ["RecordingProxy", "connect_proxy"]
