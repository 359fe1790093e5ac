"""A generated gateway log built from real refusal texts, for the notebook, the tests and ``make bench``.

The texts are real refusals copied from public sources (``data/refusals.jsonl``: each with its source URL), plus any
more the caller passes. Each text is also written in four more shapes a gateway or SDK gives it (LiteLLM's exception
line, an OpenAI SDK exception, OpenRouter-style ``metadata.raw`` wrapping, one-api's ``(request id: …)`` suffix), so
49 texts make 245 distinct refusals. Every event gets its own request id, time, host, model and key hint; about 30%
are successes. Deterministic for a seed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import IO, Any

HOSTS = ("api.openai.com", "myco-east.openai.azure.com", "myco-west.openai.azure.com", "llm-gw.internal.example.com",
         "openrouter.ai", "gateway.ai.cloudflare.com")
MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-4.1", "o3-mini", "text-embedding-3-small", "gpt-4.1-nano")
_EXC = {400: "BadRequestError", 401: "AuthenticationError", 403: "PermissionDeniedError", 404: "NotFoundError",
        429: "RateLimitError", 500: "InternalServerError", 502: "APIStatusError", 503: "APIStatusError"}
_RID, _KEY = "@@RID@@", "@@KEY@@"  # slots that survive json.dumps
_OK_BODY = json.dumps({"id": "chatcmpl-" + _RID, "object": "chat.completion", "choices": [], "usage": {"total_tokens": 17}})


def real_texts(extra: Iterable[Path] = ()) -> list[dict[str, Any]]:
    """The bundled real refusals, then those of ``extra`` JSON Lines files (corpus schema: status, headers, body,
    exception), without duplicates and without successes."""
    rows: list[dict[str, Any]] = []
    bundled = resources.files("why403_kit.triage").joinpath("data/refusals.jsonl").read_text(encoding="utf-8")
    texts = [bundled] + [Path(p).read_text(encoding="utf-8") for p in extra]
    seen: set[str] = set()
    for text in texts:
        for line in text.splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            key = (row.get("body") or "") + "\x1f" + (row.get("exception") or "")
            if row.get("cause") == "ok" or key in seen or not key.strip("\x1f"):
                continue
            seen.add(key)
            rows.append(row)
    return rows


def _shapes(row: dict[str, Any]) -> list[dict[str, Any]]:
    """A real refusal as it comes back directly and in four wrapped shapes; bodies carry a slot for the request id and
    the key hint so every event can differ there."""
    status = row.get("status")
    headers = {str(k).lower(): str(v) for k, v in (row.get("headers") or {}).items() if str(k).lower() != "date"}
    body = (row.get("body") or "").replace("sk-VKMIs***************************************wjh3", _KEY)
    exc = row.get("exception") or ""
    if not body:
        return [{"message": exc}, {"message": f"ERROR request {_RID} failed: {exc}"}, {"message": f"litellm.APIConnectionError: {exc}"},
                {"exception": exc, "level": "error"}, {"message": f"{exc} (request id: {_RID})"}]
    cls = _EXC.get(status or 0, "APIStatusError")
    return [
        {"status": status, "headers": headers, "body": body},
        {"level": "error", "message": f"litellm.{cls}: {cls}: OpenAIException - Error code: {status} - {body}"},
        {"level": "error", "message": f"openai.{cls}: Error code: {status} - {body} (request {_RID})"},
        {"status": status, "body": json.dumps({"error": {"message": "Provider returned error", "code": status,
                                                         "metadata": {"raw": body, "provider_name": "OpenAI"}}, "user_id": f"user_{_RID}"})},
        {"status": status, "headers": headers, "body": json.dumps({"error": {"message": f"{body[:300]} (request id: {_RID})",
                                                                              "type": "upstream_error", "code": status}})},
    ]


def templates(extra: Iterable[Path] = ()) -> list[str]:
    """One JSON-line tail per distinct refusal text (the per-event fields go in front)."""
    return [json.dumps(shape, ensure_ascii=False)[1:] for row in real_texts(extra) for shape in _shapes(row)]


def lines(events: int, *, seed: int = 403, extra: Iterable[Path] = (), ok_share: float = 0.3, keys: int = 300,
          start: datetime | None = None, days: float = 3.0) -> Iterator[str]:
    """``events`` JSON lines (newline-terminated), each with its own request id, time, host, model and key hint."""
    rng = random.Random(seed)
    tails = templates(extra)
    ok_tail = json.dumps({"status": 200, "body": _OK_BODY})[1:]
    key_pool = [f"sk-proj-****{rng.getrandbits(16):04x}" for _ in range(keys)]
    t0 = (start or datetime(2026, 3, 2, tzinfo=UTC)).timestamp()
    span = days * 86400
    for _ in range(events):
        tail = ok_tail if rng.random() < ok_share else tails[rng.randrange(len(tails))]
        rid = f"{rng.getrandbits(96):024x}"
        key = key_pool[rng.randrange(keys)]
        when = datetime.fromtimestamp(t0 + rng.random() * span, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        head = (f'{{"ts": "{when}", "request_id": "req_{rid}", "url": "https://{HOSTS[rng.randrange(len(HOSTS))]}/v1/chat/completions", '
                f'"model": "{MODELS[rng.randrange(len(MODELS))]}", "key_hint": "{key}", ')
        yield head + tail.replace(_RID, rid).replace(_KEY, key) + "\n"


def write(path: str | Path | IO[str], events: int, **options: Any) -> Path | None:
    """Write a generated log of ``events`` JSON lines to ``path`` (a .jsonl file, or an open text file)."""
    if hasattr(path, "write"):
        fh: Any = path
        for line in lines(events, **options):
            fh.write(line)
        return None
    target = Path(path)
    with target.open("w", encoding="utf-8") as out:
        batch: list[str] = []
        for line in lines(events, **options):
            batch.append(line)
            if len(batch) >= 10_000:
                out.write("".join(batch))
                batch.clear()
        out.write("".join(batch))
    return target


__all__ = ["HOSTS", "MODELS", "lines", "real_texts", "templates", "write"]

