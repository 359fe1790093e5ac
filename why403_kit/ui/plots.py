"""Rate-limit headroom and backoff schedules as matplotlib figures (step 5 made visible)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..probes.ratelimits import backoff_plan, headroom, retry_wait


def headroom_figure(samples: Mapping[str, Mapping[str, str]]) -> Any:
    """One bar group per sample (e.g. per lab scenario): share of the request and token budget left."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3))
    names = list(samples)
    for i, kind in enumerate(("requests", "tokens")):
        shares = []
        for name in names:
            hr = headroom(samples[name])[kind]
            limit, remaining = hr["limit"], hr["remaining"]
            shares.append(100 * remaining / limit if limit and limit > 0 and remaining is not None else 0.0)
        bars = ax.bar([x + i * 0.4 for x in range(len(names))], shares, width=0.38, label=f"{kind} left")
        ax.bar_label(bars, fmt="%.0f%%", fontsize=8)
    ax.set_xticks([x + 0.2 for x in range(len(names))], names)
    ax.set_ylim(0, 115)
    ax.set_ylabel("% of the limit left")
    ax.set_title("Headroom from x-ratelimit-* headers")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


def backoff_figure(headers: Mapping[str, str], *, body: str = "", attempts: int = 6, seed: int = 0) -> Any:
    """The kit's backoff schedule against a naive immediate retry: the plan the rate-limit step proposes, the first
    wait honouring Retry-After and the reset of an exhausted bucket (:func:`~why403_kit.probes.ratelimits.retry_wait`)."""
    import matplotlib.pyplot as plt

    wait = retry_wait(headers, body)
    plan = backoff_plan(wait.seconds if wait else None, attempts=attempts, seed=seed)
    cumulative = [sum(plan[: i + 1]) for i in range(len(plan))]
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.step(range(1, len(plan) + 1), cumulative, where="post", marker="o", label="kit: wait before attempt (cumulative)")
    ax.plot(range(1, len(plan) + 1), [0.05 * i for i in range(1, len(plan) + 1)], "x--", label="naive immediate retries")
    if wait is not None:
        ax.axhline(wait.seconds, color="crimson", linestyle=":", label=f"first retry after {wait.seconds:g} s ({wait.reason})")
    ax.set_xlabel("retry attempt")
    ax.set_ylabel("seconds since the 429")
    ax.set_title("Backoff schedule")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
