"""Per-run statistics: rows kept after each stage (the funnel), drops by reason, seconds per stage."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from contextlib import contextmanager


class Stats:
    def __init__(self):
        self.rows_read = 0
        self.funnel: dict[str, int] = {}  # stage -> rows left after it, in stage order
        self.drops: dict[str, Counter] = defaultdict(Counter)  # stage -> reason -> count
        self.seconds: Counter = Counter()
        self.extra: dict = {}

    def register(self, stages: list[str]) -> None:
        """Put stages in the funnel (in this order) before any row reaches them."""
        for s in stages:
            self.funnel.setdefault(s, 0)

    def kept(self, stage: str, rows: int) -> None:
        self.funnel[stage] = self.funnel.get(stage, 0) + rows

    def drop(self, stage: str, reason: str, n: int = 1) -> None:
        if n:
            self.drops[stage][reason] += n

    @contextmanager
    def timed(self, stage: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - t0

    def drops_total(self) -> int:
        return sum(sum(c.values()) for c in self.drops.values())

    def to_dict(self) -> dict:
        return {
            "rows_read": self.rows_read,
            "funnel": [{"stage": s, "rows": n} for s, n in self.funnel.items()],
            "drops": {stage: dict(sorted(c.items())) for stage, c in self.drops.items()},
            "drops_total": self.drops_total(),
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            **self.extra,
        }


def length_stats(values: list[int]) -> dict:
    if not values:
        return {"count": 0}
    v = sorted(values)
    n = len(v)

    def q(p):
        return v[min(n - 1, int(p * (n - 1) + 0.5))]

    return {"count": n, "mean": round(sum(v) / n, 1), "min": v[0], "p50": q(0.5), "p90": q(0.9), "max": v[-1]}
