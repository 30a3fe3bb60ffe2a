"""Per-run statistics: rows through each stage, drops by reason, time per stage."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from contextlib import contextmanager


class Stats:
    def __init__(self):
        self.rows_read = 0
        self.funnel: list[tuple[str, int]] = []  # (after stage, rows left), in stage order
        self.drops: dict[str, Counter] = defaultdict(Counter)  # stage -> reason -> count
        self.seconds: Counter = Counter()
        self.extra: dict = {}

    def drop(self, stage: str, reason: str, n: int = 1) -> None:
        if n:
            self.drops[stage][reason] += n

    def after(self, stage: str, rows: int) -> None:
        self.funnel.append((stage, rows))

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
            "funnel": [{"stage": s, "rows": n} for s, n in self.funnel],
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
