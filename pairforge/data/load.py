"""One loader for every dataset pairforge reads (SFT sources, evaluation sets, preference sets
for training and inspection): a local file, a local folder, or a Hub id, through the real
`datasets` loaders, with one error policy: any failure is a `DataError` naming the field and
the first line of the cause."""

from __future__ import annotations

import contextlib
from pathlib import Path

from ..errors import DataError

BUILDERS = {
    ".json": "json",
    ".jsonl": "json",
    ".csv": "csv",
    ".parquet": "parquet",
    ".arrow": "arrow",
}


def builder_for(path: Path, what: str = "source.path") -> str:
    for s in reversed([s.lower() for s in path.suffixes]):
        if s in BUILDERS:
            return BUILDERS[s]
    raise DataError(
        f"{what}: {path}: unknown file type {path.suffix or '(none)'!r}; "
        f"use one of {', '.join(sorted(BUILDERS))} or a folder written by Dataset.save_to_disk"
    )


def first_line(e: BaseException) -> str:
    """The first line of the message; `datasets` wraps a file's real error in a vague one."""
    while "error occurred while generating the dataset" in str(e) and (e.__cause__ or e.__context__):
        e = e.__cause__ or e.__context__
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


@contextlib.contextmanager
def _quiet_datasets():
    from datasets.utils import logging as ds_logging

    level = ds_logging.get_verbosity()
    ds_logging.set_verbosity(ds_logging.CRITICAL + 10)
    try:
        yield
    finally:
        ds_logging.set_verbosity(level)


def _pick_split(dd, split: str | None, where, what: str):
    import datasets

    if split is None or not isinstance(dd, (datasets.DatasetDict, datasets.IterableDatasetDict)):
        return dd
    if split not in dd:
        raise DataError(f"{what}: split {split!r} not in {where} (splits: {', '.join(dd)})")
    return dd[split]


def load_local(path: Path, split: str | None, what: str, streaming: bool = False):
    """A file (its one split) or a folder (save_to_disk, or data files `datasets` recognises).
    split=None on a folder gives the whole DatasetDict. streaming: an IterableDataset (not for
    save_to_disk folders, which are memory-mapped already)."""
    import datasets

    datasets.disable_progress_bars()
    if not path.is_dir():
        builder = builder_for(path, what)
        try:
            with _quiet_datasets():  # it logs a corrupt file's error on stderr before raising it
                return datasets.load_dataset(builder, data_files=str(path), split="train", streaming=streaming)
        except Exception as e:  # datasets raises many types for unreadable files
            if "corresponds to no data" in str(e):
                raise DataError(f"{what}: {path} has no rows") from None
            raise DataError(f"{what}: {path}: cannot be read as {builder}: {first_line(e)}") from None
    try:
        if (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists():
            dd = datasets.load_from_disk(str(path))
        else:
            dd = datasets.load_dataset(str(path), streaming=streaming)
    except Exception as e:
        raise DataError(f"{what}: {path}: not a dataset folder ({first_line(e)})") from None
    return _pick_split(dd, split, path, what)


def load_hub(repo: str, what: str, config: str | None = None, split: str | None = None,
             revision: str | None = None, token: str | None = None, streaming: bool = False):
    import datasets

    datasets.disable_progress_bars()
    try:
        return datasets.load_dataset(repo, config, split=split, revision=revision, token=token,
                                     streaming=streaming)
    except Exception as e:
        raise DataError(
            f"{what}: cannot load {repo!r} (config={config}, split={split}, revision={revision}): {first_line(e)}"
        ) from None
