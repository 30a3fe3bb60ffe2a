"""Decontamination stage: drop rows whose prompt shares a word n-gram with any text of an
evaluation set (local files or Hub ids, read through data/load.py)."""

from __future__ import annotations

from pathlib import Path

from ..data.load import load_hub, load_local
from ..errors import DataError
from ..recipe import DecontaminateConfig, EvalSet
from .stage import split_by_reason
from .text import ngrams, prompt_texts


def _strings(value, out: list[str]) -> None:
    """Every string inside a cell (plain text, a list of messages, nested structs)."""
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for v in value.values():
            _strings(v, out)
    elif isinstance(value, list):
        for v in value:
            _strings(v, out)


def eval_texts(ev: EvalSet, resolve_path) -> tuple[str, list[str]]:
    """(name, every text of the chosen columns) of one evaluation set."""
    what = "decontaminate.sets"
    if ev.path:
        path, name = resolve_path(ev.path), Path(ev.path).name
        if not path.exists():
            raise DataError(f"{what}: {ev.path}: no such file or folder")
        ds = load_local(path, ev.split, what)
    else:
        name = ev.hub
        ds = load_hub(ev.hub, what, ev.config, ev.split)
    cols = ev.columns or ds.column_names
    missing = [c for c in cols if c not in ds.column_names]
    if missing:
        raise DataError(f"{what} ({name}): columns {missing} not in {ds.column_names}")
    texts: list[str] = []
    for batch in ds.select_columns(cols).iter(batch_size=1000):
        for col in cols:
            for cell in batch[col]:
                _strings(cell, texts)
    return name, texts


class Decontaminate:
    """Drop rows whose prompt shares a word n-gram with any text of an evaluation set."""

    name = "decontaminate"

    def __init__(self, cfg: DecontaminateConfig, resolve_path):
        self.n = cfg.ngram
        self.index: dict = {}  # n-gram hash -> evaluation set name
        for ev in cfg.sets:
            name, texts = eval_texts(ev, resolve_path)
            for t in texts:
                for g in ngrams(t, self.n):
                    self.index.setdefault(g, name)

    def __call__(self, table):
        reasons = []
        for text in prompt_texts(table).to_pylist():
            hit = next((self.index[g] for g in ngrams(text, self.n) if g in self.index), None)
            reasons.append(None if hit is None else f"contaminated:{hit}")
        return split_by_reason(table, reasons)
