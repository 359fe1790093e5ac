"""The secret holder: a credential that never shows itself.

Every live ``Secret`` registers its value so that :func:`why403_kit.redact.redact`
can scrub it from any text, even in shapes no pattern foresaw.
"""

from __future__ import annotations

import weakref
from typing import Any, NoReturn

_LIVE: weakref.WeakSet[Secret] = weakref.WeakSet()


class Secret:
    """Holds a key. ``repr``/``str``/``format`` show a hint, never the value; pickling is refused."""

    __slots__ = ("__weakref__", "_value")

    def __init__(self, value: str) -> None:
        self._value = value
        if value:
            _LIVE.add(self)

    def reveal(self) -> str:
        """The raw value, for the one place that builds the outgoing header."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    @property
    def hint(self) -> str:
        """A safe description: known prefix and length, never any of the secret part."""
        from .redact import key_prefix

        prefix = key_prefix(self._value)
        return f"{prefix or '?'}… ({len(self._value)} chars)"

    def __repr__(self) -> str:
        return f"Secret({self.hint if self._value else 'empty'})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")

    def __getstate__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", len(self._value)))


def live_values() -> list[str]:
    """Values of every secret alive in this process, longest first."""
    return sorted({s._value for s in list(_LIVE) if len(s._value) >= 4}, key=len, reverse=True)
