"""How many sequential round trips a full diagnosis costs, against a sequential checklist, in one run.

round trips = (time with 200 ms injected latency - time with none) / 200 ms.
The baseline is a sequential checklist making the same requests one after another.
"""

from __future__ import annotations

import time

import httpx

from why403_kit import Lab, Secret, Target, diagnose

LATENCY_MS = 200


def _kit(lab: Lab) -> tuple[float, int, int]:
    before = lab.request_count
    posts_before = len([m for m, _ in lab.requests if m == "POST"])
    t0 = time.perf_counter()
    diagnose(Target(base_url=lab.url("healthy"), api_key=Secret("sk-proj-LAB-bench-key-not-real-000000"), ip_echo_url=lab.ip_echo_url))
    elapsed = time.perf_counter() - t0
    posts = len([m for m, _ in lab.requests if m == "POST"]) - posts_before
    return elapsed, lab.request_count - before, posts


def _sequential(lab: Lab) -> float:
    t0 = time.perf_counter()
    with httpx.Client() as c:
        h = {"Authorization": "Bearer sk-proj-LAB-bench-key-not-real-000000"}
        c.get(f"{lab.url('healthy')}/models", headers=h)
        c.get(lab.ip_echo_url)
        c.get(f"{lab.url('healthy')}/models/gpt-4o-mini", headers=h)
    return time.perf_counter() - t0


def main() -> None:
    with Lab(latency_ms=0) as fast, Lab(latency_ms=LATENCY_MS) as slow:
        _kit(fast)  # warm imports
        kit0, requests, posts = _kit(fast)
        kit1, _, _ = _kit(slow)
        seq0, seq1 = _sequential(fast), _sequential(slow)
    kit_rt = (kit1 - kit0) / (LATENCY_MS / 1000)
    seq_rt = (seq1 - seq0) / (LATENCY_MS / 1000)
    print(f"probes (requests) per diagnosis: {requests}")
    print(f"token-spending requests without --allow-paid-probe: {posts}")
    print(f"sequential round trips: kit {kit_rt:.2f}  vs sequential checklist {seq_rt:.2f}  (ratio {kit_rt / seq_rt:.2f}; target <= 2 round trips)")


if __name__ == "__main__":
    main()
