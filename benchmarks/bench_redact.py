"""Masking speed on 1 MiB answers, with 0, 1 and 10 live keys, as a ratio to parsing a 1 MiB JSON answer.

Every answer the kit reads (up to 1 MiB) goes through :func:`why403_kit.redact.redact`; the masking pass must
stay in the same league as reading the body at all. Bodies: prose, a JSON document full of escapes, a base64
blob and an HTML page, each with one echoed key planted near the end (base64-encoded in the blob). Medians of
several runs, both sides measured in this run (the baseline is json.loads of the JSON body, timed beside each row).
"""

from __future__ import annotations

import base64
import json
import random
import statistics
import string
import time
from collections.abc import Callable

from why403_kit import Secret
from why403_kit.redact import MASK, redact

RUNS = 7
SIZE = 1 << 20


def _median_ms(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def _key(rnd: random.Random) -> str:
    return "sk-proj-" + "".join(rnd.choice(string.ascii_letters + string.digits) for _ in range(48))


def _bodies(rnd: random.Random, key: str) -> dict[str, str]:
    words = ["".join(rnd.choice(string.ascii_lowercase) for _ in range(rnd.randint(2, 10))) for _ in range(4000)]
    prose = " ".join(rnd.choice(words) for _ in range(SIZE // 6))[: SIZE - 200] + f" echoed {key} end"
    items = [{"id": rnd.choice(words), "text": "line\none \"quoted\"\ttab \u00e9", "n": i} for i in range(SIZE // 80)]
    items.append({"echo": key})
    js = json.dumps({"data": items})
    blob = base64.b64encode(rnd.randbytes(SIZE * 3 // 4 - 200) + f"Bearer {key}".encode()).decode()
    page = "<html><body>" + "".join(f"<p class='x'>{rnd.choice(words)} &amp; {rnd.choice(words)}</p>" for _ in range(SIZE // 40))
    page = page[: SIZE - 200] + f"<p>{key}</p></body></html>"
    return {"prose": prose, "json": js, "base64": json.dumps({"b64": blob}), "html": page}


def main() -> int:
    rnd = random.Random(403)
    keys = [_key(rnd) for _ in range(10)]
    bodies = _bodies(rnd, keys[0])
    held: list[Secret] = []
    print(f"{'body':8} {'live keys':>9} {'redact ms':>10} {'json ms':>8} {'ratio':>6}  masked")
    for live in (0, 1, 10):
        held += [Secret(k) for k in keys[len(held) : live]]
        for name, body in bodies.items():
            redact_ms = _median_ms(lambda body=body: redact(body))  # type: ignore[misc]
            json_ms = _median_ms(lambda: json.loads(bodies["json"]))
            masked = MASK in redact(body)
            print(f"{name:8} {live:>9} {redact_ms:>10.1f} {json_ms:>8.1f} {redact_ms / json_ms:>6.1f}  {masked}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
