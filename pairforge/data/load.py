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


def _saved(path: Path) -> bool:
    return (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists()


def folder_files(path: Path | str, config: str | None, what: str, revision: str | None = None,
                 token: str | None = None) -> tuple[str, dict] | None:
    """(builder, {split: data files}) of a folder of data files or a Hub dataset, resolved as
    `datasets` resolves them (file names, data/ folders, a README's configs); None for a
    save_to_disk folder."""
    import datasets

    if isinstance(path, Path) and _saved(path):
        return None
    try:
        with _quiet_datasets():
            b = datasets.load_dataset_builder(str(path), config, revision=revision, token=token)
    except Exception as e:
        if isinstance(path, Path):
            raise DataError(f"{what}: {path}: not a dataset folder ({first_line(e)})") from None
        raise DataError(f"{what}: cannot load {path!r} (config={config}, revision={revision}): {first_line(e)}") from None
    if getattr(b.config, "field", None):  # JSON rows under a key: the json builder reads them
        return b.name + ":field", {}
    return b.name, {str(k): list(v) for k, v in (b.config.data_files or {}).items()}


def plain_json_files(path: Path, split: str, what: str, config: str | None = None) -> list[Path] | None:
    """The split's data files when every one is .json/.jsonl (read by jsonrows, each row with its own
    types); None when the folder is another kind (save_to_disk, CSV, Parquet, compressed JSON)."""
    files = _json_only(folder_files(path, config, what), split)
    return [Path(f) for f in files] if files else None


def hub_json_files(repo: str, config: str | None, split: str, revision: str, what: str,
                   token: str | None = None) -> list[str] | None:
    """As plain_json_files, for a Hub dataset at a commit: the files' paths in the repo."""
    files = _json_only(folder_files(repo, config, what, revision, token), split)
    if not files or not all(f.startswith("hf://datasets/") and "@" in f for f in files):
        return None
    return [f.split("@", 1)[1].split("/", 1)[1] for f in files]


def _json_only(found, split: str) -> list[str] | None:
    if found is None or found[0] != "json" or split not in found[1]:
        return None
    files = [str(f) for f in found[1][split]]
    return files if files and all(Path(f).suffix.lower() in (".json", ".jsonl") for f in files) else None


def csv_as_text(files: list, token: str | None = None) -> dict:
    """Loader options that read every CSV column as the text written (not numbers, not NaN for "NA").
    files: local paths, or hf:// URLs (read with `token`)."""
    import datasets
    import pandas as pd

    first = files[0]
    remote = isinstance(first, str) and first.startswith("hf://")
    options = {"token": token} if remote else None
    try:  # and the header as written: pandas renames a repeated name to name.1, and the loader keeps the first
        columns = list(pd.read_csv(first, nrows=0, storage_options=options).columns)
        header = [c for c in pd.read_csv(first, nrows=1, header=None, dtype=str, keep_default_na=False,
                                         storage_options=options).iloc[0].tolist() if c]
    except Exception:  # an empty or unreadable file: the loader's own error says what is wrong
        return {}
    twice = sorted({c for c in header if header.count(c) > 1})
    if twice:
        raise DataError(f"{first}: the CSV header names column {twice[0]!r} more than once; rename one (which of "
                        "them holds the data is not clear)")
    return {"features": datasets.Features({c: datasets.Value("string") for c in columns}), "na_filter": False}


def _folder_csv_options(path: Path, config: str | None, split: str | None, what: str) -> dict:
    found = folder_files(path, config, what)
    if not found or found[0] != "csv" or not found[1]:
        return {}
    return csv_as_text(found[1].get(split) or next(iter(found[1].values())))


def _hub_csv_options(repo: str, config: str | None, split: str | None, revision: str | None,
                     token: str | None, what: str) -> dict:
    """As _folder_csv_options, for a Hub dataset (its data files are hf:// URLs). A repo that cannot be
    resolved gets none: load_dataset's own error says why."""
    try:
        found = folder_files(repo, config, what, revision, token)
    except DataError:
        return {}
    if not found or found[0] != "csv" or not found[1]:
        return {}
    return csv_as_text(found[1].get(split) or next(iter(found[1].values())), token)


def load_local(path: Path, split: str | None, what: str, streaming: bool = False, text_csv: bool = False):
    """A file (its one split) or a folder (save_to_disk, or data files `datasets` recognises).
    split=None on a folder gives the whole DatasetDict. streaming: an IterableDataset (not for
    save_to_disk folders, which are memory-mapped already). text_csv: CSV columns as text."""
    import datasets

    datasets.disable_progress_bars()
    if not path.is_dir():
        builder = builder_for(path, what)
        options = csv_as_text([path]) if text_csv and builder == "csv" else {}
        try:
            with _quiet_datasets():  # it logs a corrupt file's error on stderr before raising it
                return datasets.load_dataset(builder, data_files=str(path), split="train", streaming=streaming,
                                             **options)
        except Exception as e:  # datasets raises many types for unreadable files
            if "corresponds to no data" in str(e):
                raise DataError(f"{what}: {path} has no rows") from None
            raise DataError(f"{what}: {path}: cannot be read as {builder}: {first_line(e)}") from None
    options = _folder_csv_options(path, None, split, what) if text_csv else {}
    try:
        if _saved(path):
            dd = datasets.load_from_disk(str(path))
        else:
            dd = datasets.load_dataset(str(path), streaming=streaming, **options)
    except Exception as e:
        raise DataError(f"{what}: {path}: not a dataset folder ({first_line(e)})") from None
    return _pick_split(dd, split, path, what)


def load_hub(repo: str, what: str, config: str | None = None, split: str | None = None,
             revision: str | None = None, token: str | None = None, streaming: bool = False,
             text_csv: bool = False):
    """A Hub dataset, or a local folder laid out like one. text_csv: CSV columns as text."""
    import datasets

    datasets.disable_progress_bars()
    local = Path(repo).expanduser()
    if local.is_dir():
        options = _folder_csv_options(local, config, split, what) if text_csv else {}
    else:
        from ..hub.errors import hub_token

        hub_token(token)  # one the HTTP headers cannot carry: one line before any request
        options = _hub_csv_options(repo, config, split, revision, token, what) if text_csv else {}
    try:
        return datasets.load_dataset(repo, config, split=split, revision=revision, token=token,
                                     streaming=streaming, **options)
    except Exception as e:
        raise DataError(
            f"{what}: cannot load {repo!r} (config={config}, split={split}, revision={revision}): {first_line(e)}"
        ) from None
