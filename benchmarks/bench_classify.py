"""How often the classifier names the right cause on real refusals, and how fast, against baselines in the same run.

Accuracy: a case is right when the named cause is in its `accept` list; the classifier gets exactly what the case
holds. Printed for the held-out part (tests/fixtures/corpus/heldout.jsonl, collected by someone who never saw the
rules; absent until the lead adds it) and for the development part (the rules were written from it, so its figure
is not a measure of generalisation), overall, per cause, per shape (exception-only pastes vs answers with a body),
with a confusion table of the misses, beside the status-only baseline on the same cases (the cause the status line
alone suggests, by a fixed mapping: tests/corpus.py status_only).

Speed: refusals classified per second over every case of the corpus, against a baseline that only does what any
reader must (json.loads attempt and one regular-expression search over the same inputs), in the same run.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.corpus import DEV, HELDOUT, Case, Score, baseline, load, score  # noqa: E402
from why403_kit import classify  # noqa: E402

KINDS = ("exception-only", "body")


def _pct(n: int, right: int) -> str:
    return f"{right / n:6.1%}" if n else "     -"


def report(name: str, cases: list[Case]) -> Score:
    s, b = score(cases), score(cases, baseline)
    print(f"\n-- {name}: {s.total} cases")
    print(f"accuracy {s.accuracy:.1%} ({s.right}/{s.total})   status-only baseline {b.accuracy:.1%} ({b.right}/{b.total})")
    for kind in KINDS:
        n, r = s.per_kind.get(kind, [0, 0])
        bn, br = b.per_kind.get(kind, [0, 0])
        print(f"  {kind:15} {n:4} cases  classifier {_pct(n, r)}   baseline {_pct(bn, br)}")
    print(f"  {'cause':27} {'cases':>5} {'right':>6} {'classifier':>10} {'baseline':>9}")
    for cause in sorted(s.per_cause, key=lambda c: (-s.per_cause[c][0], c)):
        n, r = s.per_cause[cause]
        print(f"  {cause:27} {n:5} {r:6} {_pct(n, r):>10} {_pct(*b.per_cause.get(cause, [0, 0])):>9}")
    if s.confusion:
        print("  misses (actual -> predicted: count)")
        for (actual, predicted), count in s.confusion.most_common():
            print(f"    {actual} -> {predicted}: {count}")
    else:
        print("  misses: none")
    return s


def _timed(fn: Callable[[], None], min_seconds: float = 1.0) -> tuple[float, int]:
    """Seconds per round (best of three measurements of at least min_seconds each) and rounds per measurement."""
    rounds, best = 1, float("inf")
    while True:
        t0 = time.perf_counter()
        for _ in range(rounds):
            fn()
        elapsed = time.perf_counter() - t0
        if elapsed >= min_seconds / 3:
            break
        rounds *= 2
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(rounds):
            fn()
        best = min(best, (time.perf_counter() - t0) / rounds)
    return best, rounds


def speed(cases: list[Case]) -> None:
    inputs = [(c.status, c.headers, c.body, c.exception) for c in cases]
    texts = [(c.body or "") + "\n" + (c.exception or "") for c in cases]
    word = re.compile(r"error|denied|limit|quota", re.IGNORECASE)

    def kit() -> None:
        for status, headers, body, exception in inputs:
            classify(status, headers, body, exception)

    def reader() -> None:  # the least any reader does: try JSON, search once
        for text in texts:
            with contextlib.suppress(ValueError):
                json.loads(text)
            word.search(text)

    kit()  # warm: knowledge loaded, rules compiled
    per_round, _ = _timed(kit)
    base_round, _ = _timed(reader)
    n = len(inputs)
    mean_us = per_round / n * 1e6
    print(f"\n-- speed over {n} refusals (every case of the corpus)")
    print(f"classifier: {n / per_round:,.0f} refusals/s, mean {mean_us:.1f} us per refusal (target: well under 1000 us)")
    print(f"baseline (json.loads + one regex): {n / base_round:,.0f} inputs/s, mean {base_round / n * 1e6:.1f} us")
    print(f"ratio classifier / baseline: {per_round / base_round:.1f}x")
    big = ("{\"error\": {\"message\": \"" + "x" * 2_000_000 + "\"}}", "<html>" + "<div>blocked</div>" * 200_000)
    for text in big:
        t0 = time.perf_counter()
        classify(403, {}, text)
        print(f"one {len(text) / 1e6:.1f} MB body: {(time.perf_counter() - t0) * 1000:.1f} ms (input is bounded before matching)")


def main() -> None:
    parts: list[Case] = []
    if HELDOUT.exists():
        held = load(HELDOUT)
        report(f"HELD-OUT part ({HELDOUT.relative_to(ROOT)}; never used to write rules)", held)
        parts += held
    else:
        print(f"-- HELD-OUT part: ABSENT ({HELDOUT.relative_to(ROOT)} not found; the lead adds it). "
              "No generalisation figure can be printed without it.")
    dev = load(DEV)
    report(f"development part ({DEV.relative_to(ROOT)}; the rules were written from it)", dev)
    speed(parts + dev)


if __name__ == "__main__":
    main()
