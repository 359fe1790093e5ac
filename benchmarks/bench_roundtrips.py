"""How many sequential round trips a full diagnosis costs, against a sequential checklist, in one run.

round trips = (time with 200 ms injected latency - time with none) / 200 ms.
The baseline is a sequential checklist making the same requests one after another
(models, IP echo, model retrieve, moderations, and the two invalid-body scope probes).
"""

from __future__ import annotations

import time

import httpx

from why403_kit import Lab, diagnose
from why403_kit.lab import LAB_KEY

LATENCY_MS = 200


def _kit(lab: Lab) -> tuple[float, int, int]:
    before = lab.request_count
    billable_before = len(lab.billable)
    t0 = time.perf_counter()
    diagnose(lab.target("ok"))
    elapsed = time.perf_counter() - t0
    billable = len(lab.billable) - billable_before  # requests the lab answered with inference
    return elapsed, lab.request_count - before, billable


def _sequential(lab: Lab) -> float:
    t0 = time.perf_counter()
    with httpx.Client() as c:
        h = {"Authorization": f"Bearer {LAB_KEY}"}
        c.get(f"{lab.url('ok')}/models", headers=h)
        c.get(lab.ip_echo_url)
        c.get(f"{lab.url('ok')}/models/gpt-4o-mini", headers=h)
        c.post(f"{lab.url('ok')}/moderations", headers=h, json={"input": "ping"})
        c.post(f"{lab.url('ok')}/chat/completions", headers=h, json={"model": "gpt-4o-mini", "messages": []})
        c.post(f"{lab.url('ok')}/responses", headers=h, json={"model": "gpt-4o-mini", "input": ""})
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
    print(f"token-spending requests without --allow-paid-probe: {posts} (counted by the lab)")
    print(f"sequential round trips: kit {kit_rt:.2f}  vs sequential checklist {seq_rt:.2f}  (ratio {kit_rt / seq_rt:.2f}; target <= 2 round trips)")


if __name__ == "__main__":
    main()
