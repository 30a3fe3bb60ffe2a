"""Load a user's SFT data (local files, save_to_disk folders, Hub ids) as a `datasets.Dataset`.

Everything goes through the real `datasets` loaders, so a user's file is read the way TRL and
axolotl would read it. The returned dataset is iterated as Arrow tables by the pipeline.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from .errors import DataError
from .recipe import Recipe

BUILDERS = {
    ".json": "json",
    ".jsonl": "json",
    ".csv": "csv",
    ".parquet": "parquet",
    ".arrow": "arrow",
}


def builder_for(path: Path, field: str = "source.path") -> str:
    suffixes = [s.lower() for s in path.suffixes]
    for s in reversed(suffixes):
        if s in BUILDERS:
            return BUILDERS[s]
    raise DataError(
        f"{field}: {path}: unknown file type {path.suffix or '(none)'!r}; "
        f"use one of {', '.join(sorted(BUILDERS))} or a folder written by Dataset.save_to_disk"
    )


@dataclass
class Loaded:
    dataset: object  # datasets.Dataset, already shuffled / limited
    indices: list[int]  # original row index of each row of `dataset`
    description: str
    digest: str  # identifies the data's content (for the fingerprint)


def load_source(recipe: Recipe) -> Loaded:
    """Load the recipe's source, apply shuffle and limit."""
    import datasets

    datasets.disable_progress_bars()
    s = recipe.source
    if s.path:
        path = recipe.resolve_path(s.path)
        if not path.exists():
            raise DataError(f"source.path: {s.path}: no such file or folder (looked in {recipe.base_dir} and the working directory)")
        if path.is_dir():
            ds = _load_folder(path, s.split)
        else:
            ds = _load_file(path, builder_for(path))
        desc = str(path)
        digest = _digest_path(path)
    else:
        ds = _load_hub(s.hub, s.config, s.split, s.revision)
        desc = s.hub + (f"@{s.revision}" if s.revision else "")
        digest = f"hub:{s.hub}:{s.config}:{s.split}:{s.revision or ds._fingerprint}"
    indices = list(range(len(ds)))
    if s.shuffle:
        import random

        random.Random(s.seed).shuffle(indices)
    if s.limit is not None:
        indices = indices[: s.limit]
    if len(indices) != len(ds) or s.shuffle:
        ds = ds.select(indices)
    return Loaded(ds, indices, desc, digest)


def _load_file(path: Path, builder: str):
    import datasets

    try:
        return datasets.load_dataset(builder, data_files=str(path), split="train")
    except Exception as e:  # datasets raises many types for unreadable files
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"source.path: {path}: cannot be read as {builder}: {msg}") from None


def _load_folder(path: Path, split: str):
    import datasets

    if (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists():
        ds = datasets.load_from_disk(str(path))
        if isinstance(ds, datasets.DatasetDict):
            if split not in ds:
                raise DataError(f"source.split: {split!r} not in {path} (splits: {', '.join(ds)})")
            ds = ds[split]
        return ds
    try:
        dd = datasets.load_dataset(str(path))
    except Exception as e:
        raise DataError(f"source.path: {path}: not a dataset folder ({str(e).splitlines()[0]})") from None
    if split not in dd:
        raise DataError(f"source.split: {split!r} not in {path} (splits: {', '.join(dd)})")
    return dd[split]


def _load_hub(repo: str, config: str | None, split: str, revision: str | None):
    import datasets

    try:
        return datasets.load_dataset(repo, config, split=split, revision=revision)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(
            f"source.hub: cannot load {repo!r} (config={config}, split={split}, revision={revision}): {first}"
        ) from None


def _digest_path(path: Path) -> str:
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            h.update(str(f.relative_to(path)).encode())
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]
