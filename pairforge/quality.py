"""Which quality stages run before and after generation, from the recipe's `filters`/`dedupe`."""

from __future__ import annotations

from dataclasses import dataclass

from .recipe import Recipe
from .tables import split_by_reason


@dataclass
class RowFilter:
    """A stage from a per-row check: check(row) returns a drop reason or None."""

    name: str
    check: object
    columns: tuple

    def __call__(self, table):
        cols = [table[c].to_pylist() for c in self.columns]
        reasons = [self.check(*vals) for vals in zip(*cols)]
        return split_by_reason(table, reasons)


def _empty_rejected(rejected):
    return "empty_rejected" if rejected is None or not rejected.strip() else None


def pre_generation_stages(recipe: Recipe) -> list:
    return []


def post_generation_stages(recipe: Recipe) -> list:
    return [RowFilter("filter_rejected", _empty_rejected, ("rejected",))]
