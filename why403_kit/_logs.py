"""Log records never carry a secret: a redacting filter, and where the kit installs it.

``logging.basicConfig(level=logging.DEBUG)`` makes httpcore log every response's raw header pairs
(``[(b'x-echo', b'sk-proj-…')]``) and asyncio log exceptions whose text may hold a header value the HTTP
library refused. A server that echoes the key would put it in the log. :class:`RedactingFilter` rewrites
a record so that its formatted message, its exception text and its stack text are masked.

Where it runs (:func:`install_log_redaction`, called once by ``import why403_kit``, idempotent):

- on the loggers the kit drives (``why403_kit``, ``httpx``, ``httpcore`` and its children, ``h11``, ``hpack``,
  ``asyncio``, ``urllib3``) and on every handler attached to them or to the root logger at that moment;
- and, because a logger's filter does not see records of its child loggers and handlers may be configured
  after the import (``basicConfig`` in the next cell), through the log-record factory: every record created in
  the process from then on is masked at creation. A record that holds nothing to mask is left untouched
  (its ``msg`` and ``args`` kept as they were), so other libraries' logging is not changed.

Installing at import, not at the first :class:`Secret`: shapes such as ``Bearer …`` and URL passwords are
masked whether or not a key was registered, and import is the one moment every entry point shares.
"""

from __future__ import annotations

import logging
import threading
import traceback
from typing import Any

from .redact import redact

KIT_LOGGERS = ("why403_kit", "httpx", "httpcore", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy",
               "h11", "hpack", "asyncio", "urllib3", "urllib3.connectionpool")


def redact_record(record: logging.LogRecord) -> None:
    """Mask ``record`` in place: message (with its arguments applied), exception text and stack text."""
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 -- a record whose arguments do not fit its format: logging would print both raw
        message = f"{record.msg!s} (arguments: {record.args!r})"
    masked = redact(message)
    if masked != message:
        record.msg, record.args = masked, ()
    if record.exc_info and record.exc_info[0] is not None:
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        masked_exc = redact(text)
        if masked_exc != text:
            record.exc_text, record.exc_info = masked_exc, None  # the formatter prints exc_text; exc_info would re-render
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


class RedactingFilter(logging.Filter):
    """A filter that masks every record it sees (see :func:`redact_record`) and lets it through."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


_FILTER = RedactingFilter("why403_kit.redact")
_LOCK = threading.Lock()


class _RedactingFactory:
    """Wraps the log-record factory in force: every record is masked as it is created."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = self.inner(*args, **kwargs)
        redact_record(record)
        return record


def install_log_redaction() -> None:
    """Attach the redacting filter where the kit's records go (see the module docstring). Safe to call again:
    it adds nothing twice, and re-wraps the record factory if someone replaced it since."""
    with _LOCK:
        for name in KIT_LOGGERS:
            logger = logging.getLogger(name)
            if _FILTER not in logger.filters:
                logger.addFilter(_FILTER)
        for logger in (logging.getLogger(), *(logging.getLogger(n) for n in KIT_LOGGERS)):
            for handler in logger.handlers:
                if _FILTER not in handler.filters:
                    handler.addFilter(_FILTER)
        if not isinstance(logging.getLogRecordFactory(), _RedactingFactory):
            logging.setLogRecordFactory(_RedactingFactory(logging.getLogRecordFactory()))
