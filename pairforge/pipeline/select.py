"""Stages on scored pairs: which rejected sample of a prompt becomes its pair, and the margin filter."""

from __future__ import annotations

import hashlib

from .stage import Reasons, split_by_reason


class SelectRejected:
    """One pair per prompt when the weak model gave several samples (UltraFeedback-style
    binarisation): `lowest`, the lowest-scored rejected sample (ties: the lowest sample_index),
    or `random`, one chosen by a hash of (seed, id). The other samples: `not_selected`."""

    name = "select_rejected"

    def __init__(self, how: str, seed: int):
        if how not in ("lowest", "random"):
            raise ValueError(f"unknown selection {how!r}")
        self.how, self.seed = how, seed

    def __call__(self, table):
        ids, samples = table["id"].to_pylist(), table["sample_index"].to_pylist()
        scores = table["rejected_score"].to_pylist()
        groups: dict[str, list[int]] = {}
        for i, row_id in enumerate(ids):
            groups.setdefault(row_id, []).append(i)
        keep = set()
        for row_id, rows in groups.items():
            rows.sort(key=lambda i: samples[i])
            if self.how == "lowest":
                keep.add(min(rows, key=lambda i: scores[i]))  # min keeps the first of equal scores
            else:
                pick = int.from_bytes(hashlib.sha256(f"{self.seed}:{row_id}".encode()).digest()[:8], "little")
                keep.add(rows[pick % len(rows)])
        return split_by_reason(table, [None if i in keep else "not_selected" for i in range(table.num_rows)])


class MinMargin:
    """Keeps pairs with score_margin >= min_margin: 0 drops inverted pairs (the judge prefers the
    rejected answer), a small positive value drops ties too."""

    name = "filter_margin"

    def __init__(self, min_margin: float):
        self.min_margin = min_margin

    def __call__(self, table):
        import pyarrow.compute as pc

        r = Reasons(table.num_rows)
        margin = table["score_margin"]
        r.flag(pc.or_kleene(pc.is_null(margin), pc.less(margin, self.min_margin)), "score_margin_below_min")
        return r.split(table)
