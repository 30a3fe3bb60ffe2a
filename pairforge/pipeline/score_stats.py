"""The score and margin distribution of a run, for stats.json and the card."""

from __future__ import annotations


def distribution(values: list[float]) -> dict:
    if not values:
        return {"count": 0}
    v = sorted(values)
    n = len(v)

    def q(p):
        return round(v[min(n - 1, int(p * (n - 1) + 0.5))], 4)

    return {"count": n, "mean": round(sum(v) / n, 4), "p10": q(0.1), "p50": q(0.5), "p90": q(0.9)}


class ScoreStats:
    """Scores collected from tables: `scored` (right after the judge) and `written` (the output)."""

    def __init__(self):
        self.values = {"scored": ([], [], []), "written": ([], [], [])}
        self.truncated = 0

    def add(self, where: str, table) -> None:
        chosen, rejected, margin = self.values[where]
        chosen.extend(table["chosen_score"].to_pylist())
        rejected.extend(table["rejected_score"].to_pylist())
        margin.extend(table["score_margin"].to_pylist())
        if where == "scored":
            self.truncated += sum(bool(t) for t in table["judge_truncated"].to_pylist())

    def summary(self) -> dict:
        out = {"truncated": self.truncated}
        for where, (chosen, rejected, margin) in self.values.items():
            n = len(margin)
            inverted, tied = sum(m < 0 for m in margin), sum(m == 0 for m in margin)
            out[where] = {"count": n, "chosen": distribution(chosen), "rejected": distribution(rejected),
                          "margin": distribution(margin), "inverted": inverted, "tied": tied,
                          "inverted_share": round(inverted / n, 4) if n else None,
                          "tied_share": round(tied / n, 4) if n else None}
        return out
