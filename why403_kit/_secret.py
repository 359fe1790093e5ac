"""The secret holder, and the registry of every value a holder was ever given in this process.

Why a registry keyed by value, kept for the life of the process, and not a weak set of holders:
a value leaves its holder the moment it is sent. A server echoes it, an HTTP library puts it in an
exception or a debug log line, and those texts outlive the ``Secret`` that held it (in a report, a
bundle, the panel's HTML, a buffered log). A registry that forgot a value when its holder was
collected would stop masking it while copies were still around; one keyed by holders that compare by
value forgot it as soon as the *first* of two holders of the same value was collected. So a value is
registered once, with its derived forms computed there and then (:func:`._keys.derived_forms`), and
stays registered: a process sees a handful of keys, and masking a value nobody uses any more costs
one substring search per form.

Two kinds of value are not registered, because masking them would hide ordinary text for the rest of the
process and protect nothing: values shorter than :data:`._keys.MIN_SECRET` characters (they would eat
words), and an http(s) URL pasted where the key belongs (it would hide the target's own address in every
output; the key checks report it, and a password inside it is masked by the URL rule of :mod:`.redact`).
"""

from __future__ import annotations

import re
import threading
from typing import Any, NoReturn

from ._keys import MIN_SECRET, KeyForms, derived_forms, key_prefix

_LOCK = threading.Lock()
_REGISTRY: dict[str, KeyForms] = {}  # value -> its forms; never shrinks (see the module docstring)
_URL = re.compile(r"(?i)\s*https?://\S*\s*\Z")


def register(value: str) -> None:
    """Mask ``value`` and its derived forms from now on, for the life of the process (idempotent)."""
    if not isinstance(value, str) or len(value) < MIN_SECRET or value in _REGISTRY or _URL.match(value):
        return
    forms = derived_forms(value)  # outside the lock: a few dozen encodings
    with _LOCK:
        _REGISTRY.setdefault(value, forms)


def live_forms() -> tuple[KeyForms, ...]:
    """The forms of every registered value (a snapshot)."""
    with _LOCK:
        return tuple(_REGISTRY.values())


class Secret:
    """Holds a key. ``repr``/``str``/``format`` show a hint, never the value; pickling is refused.

    Creating one registers its value for masking for the life of the process (see the module docstring).
    """

    __slots__ = ("__weakref__", "_value")

    def __init__(self, value: str) -> None:
        self._value = value
        register(value)

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
        return f"{key_prefix(self._value) or '?'}… ({len(self._value)} chars)"

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
