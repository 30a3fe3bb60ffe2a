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


class Column:
    """An integer column gathered shard by shard as NumPy chunks (8 bytes a row, not a Python int in a list)."""

    def __init__(self):
        self.chunks: list = []
        self.nulls = 0

    def add(self, array) -> None:
        import numpy as np
        import pyarrow.compute as pc

        self.nulls += array.null_count
        self.chunks.append(np.asarray(pc.drop_null(array).to_numpy(zero_copy_only=False), dtype=np.int64))

    def values(self):
        import numpy as np

        return np.concatenate(self.chunks) if self.chunks else np.zeros(0, dtype=np.int64)


def length_stats(values) -> dict:
    import numpy as np

    v = np.sort(np.asarray(values, dtype=np.int64))
    n = len(v)
    if not n:
        return {"count": 0}

    def q(p):
        return int(v[min(n - 1, int(p * (n - 1) + 0.5))])

    return {"count": n, "total": int(v.sum()), "mean": round(int(v.sum()) / n, 1), "min": int(v[0]), "p50": q(0.5), "p90": q(0.9),
            "max": int(v[-1])}


class LengthPicture:
    """What length alone says about the pairs: a pair teaches whatever separates chosen from
    rejected, and if the longer answer is nearly always the chosen one, it teaches 'longer = better'.
    Lengths are tokens (characters where a backend gives no token counts, e.g. an OpenAI server)."""

    def __init__(self):
        self.generated = self.truncated = 0
        self.tokens = (Column(), Column())  # (chosen, rejected) per written pair
        self.chars = (Column(), Column())

    def add_generated(self, table) -> None:
        """Rows as generated, before the post filters (truncated answers not yet dropped)."""
        import pyarrow.compute as pc

        self.generated += table.num_rows
        self.truncated += pc.sum(pc.equal(table["rejected_finish_reason"], "length")).as_py() or 0

    def add_written(self, table) -> None:
        import pyarrow.compute as pc

        self.tokens[0].add(table["chosen_tokens"].combine_chunks())
        self.tokens[1].add(table["rejected_tokens"].combine_chunks())
        self.chars[0].add(pc.utf8_length(table["chosen"]).combine_chunks())
        self.chars[1].add(pc.utf8_length(pc.fill_null(table["rejected"], "")).combine_chunks())

    def to_dict(self, warn_above: float) -> dict:
        unit = "tokens" if not (self.tokens[0].nulls or self.tokens[1].nulls) else "characters"
        chosen, rejected = (c.values() for c in (self.tokens if unit == "tokens" else self.chars))
        n = len(chosen)
        longer, ties = int((chosen > rejected).sum()), int((chosen == rejected).sum())
        accuracy = round((longer + ties / 2) / n, 3) if n else None  # a tie is a coin flip
        out = {
            "unit": unit, "pairs": n,
            "chosen_mean": round(int(chosen.sum()) / n, 1) if n else None,
            "rejected_mean": round(int(rejected.sum()) / n, 1) if n else None,
            "chosen_longer_share": round(longer / n, 3) if n else None,
            "truncated_share_generated": round(self.truncated / self.generated, 3) if self.generated else None,
            "longer_is_chosen_accuracy": accuracy,
            "warning": None,
        }
        if accuracy is not None and max(accuracy, 1 - accuracy) > warn_above:  # either way, a length shortcut
            rule, share = ("longer", accuracy) if accuracy > warn_above else ("shorter", 1 - accuracy)
            out["warning"] = (f"the rule 'the {rule} answer is chosen' alone separates {share:.0%} of the pairs "
                              f"(> {warn_above:.0%}): a model trained on them can learn '{rule} = better'")
        return out
