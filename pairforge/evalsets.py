"""Evaluation sets for decontamination: local files or Hub ids, read through `datasets`."""

from __future__ import annotations

from pathlib import Path

from .errors import DataError
from .recipe import EvalSet, Recipe


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


def eval_texts(ev: EvalSet, recipe: Recipe) -> tuple[str, list[str]]:
    import datasets

    from .sources import builder_for

    if ev.path:
        path = recipe.resolve_path(ev.path)
        name = Path(ev.path).name
        if not path.exists():
            raise DataError(f"decontaminate.sets: {ev.path}: no such file or folder")
        try:
            if path.is_dir():
                ds = datasets.load_from_disk(str(path)) if (path / "dataset_info.json").exists() else \
                    datasets.load_dataset(str(path), split=ev.split)
            else:
                ds = datasets.load_dataset(builder_for(path, "decontaminate.sets"), data_files=str(path), split="train")
        except DataError:
            raise
        except Exception as e:
            raise DataError(f"decontaminate.sets: cannot read {ev.path}: {str(e).splitlines()[0]}") from None
    else:
        name = ev.hub
        try:
            ds = datasets.load_dataset(ev.hub, ev.config, split=ev.split)
        except Exception as e:
            raise DataError(f"decontaminate.sets: cannot load {ev.hub} (split {ev.split}): {str(e).splitlines()[0]}") from None
    cols = ev.columns or ds.column_names
    missing = [c for c in cols if c not in ds.column_names]
    if missing:
        raise DataError(f"decontaminate.sets ({name}): columns {missing} not in {ds.column_names}")
    texts: list[str] = []
    for batch in ds.select_columns(cols).iter(batch_size=1000):
        for col in cols:
            for cell in batch[col]:
                _strings(cell, texts)
    return name, texts
