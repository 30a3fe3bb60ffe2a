"""Self-play lineage: a model trained by `pairforge train-ipo` carries `pairforge_lineage.json`
(its iteration, the dataset and base model it came from); a dataset built with that model as
the weak model records it in stats.json, and the next training round reads it from there.

Both files travel to the Hub (and the cards print them), so they name datasets and models as
`public_name` does: a Hub id (or built-in name) as given, a local folder by its name and a short
digest of its content (`local_label`), never by its path."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

LINEAGE_FILE = "pairforge_lineage.json"


HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")
LABEL = re.compile(r"^[^/\\]+ \(local folder(, sha256 [0-9a-f]+)?\)$")  # what local_label writes


def folder_digest(folder: Path) -> str:
    """16 hex digits of a folder's content: a finished build's data files (from its manifest), a
    model's weights (the digest the card gives a local weak model), else every file in it (or the
    file itself)."""
    from .errors import PairforgeError
    from .pipeline.publish import MANIFEST
    from .weights import resolve_model

    if (folder / MANIFEST).is_file():
        files = json.loads((folder / MANIFEST).read_text()).get("files") or {}
        blob = "".join(f"{k}:{v['sha256']}\n" for k, v in sorted(files.items()) if k.startswith("data/"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]
    try:
        return resolve_model(str(folder)).digest.split(":", 1)[1]
    except PairforgeError:  # no weights: not a model folder
        pass
    h = hashlib.sha256()
    for f in [folder] if folder.is_file() else sorted(folder.rglob("*")):
        rel = Path(f.name) if f == folder else f.relative_to(folder)
        if f.is_file() and not any(part == "_work" or part.startswith(".") for part in rel.parts):  # not work folders
            h.update(f"{rel.as_posix()}\n".encode())
            with open(f, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 22), b""):
                    h.update(chunk)
    return h.hexdigest()[:16]


def label(folder, digest: str) -> str:
    """The one published form of a local folder: `name (local folder, sha256 <digest>)`."""
    return f"{Path(folder).expanduser().resolve().name} (local folder, sha256 {digest})"


def local_label(folder) -> str:
    """A local folder as published, with the digest of its content."""
    return label(folder, folder_digest(Path(folder).expanduser()))


def public_model_name(ref) -> str:
    """A model (a weights.ModelRef) as rows, stats.json and the card name it: a local folder by its
    name and weights digest, never its path; else its name as given."""
    return label(ref.path, ref.digest.split(":", 1)[1]) if ref.digest.startswith("local:") else ref.name


def public_name(name: str | None) -> str | None:
    """A dataset or model as lineage and cards name it: an existing folder by `local_label`, a Hub id
    or built-in name as given, a label as it is; a path that is gone by its last part alone."""
    if not name or LABEL.match(name):
        return name
    p = Path(name).expanduser()
    if p.exists():
        return local_label(p)
    if is_hub_id(name):
        return name
    return f"{p.name or 'unnamed'} (local folder)"


def is_hub_id(model: str) -> bool:
    """A model name that is no local path: `resolve_model` loads it from the Hub."""
    return not Path(model).expanduser().exists() and bool(HUB_ID.match(model))


def lineage_of_model(model: str, revision: str | None = None) -> dict | None:
    """The lineage of a weak model trained by train-ipo (None for any other model): from its folder,
    or, for a Hub id, from the model repo (a repo without the file, or no answer: None)."""
    f = Path(model).expanduser() / LINEAGE_FILE
    if f.is_file():
        return json.loads(f.read_text())
    if not is_hub_id(model) or "/" not in model:
        return None
    from huggingface_hub import hf_hub_download

    try:
        return json.loads(Path(hf_hub_download(model, LINEAGE_FILE, revision=revision)).read_text())
    except Exception:  # not a pairforge model (no such file), or the Hub is unreachable: no lineage
        return None


def dataset_lineage_entry(weak_model: str, revision: str | None = None) -> dict | None:
    """stats.json's `lineage` for a build whose weak model was trained by train-ipo."""
    parent = lineage_of_model(weak_model, revision)
    if not parent:
        return None
    entry = {"iteration": parent["iteration"], "parent_dataset": public_name(parent.get("dataset")),
             "parent_model": parent.get("base_model_hub") or public_name(parent.get("base_model"))}
    if Path(weak_model).expanduser().exists():
        return {**entry, "weak_model": local_label(weak_model)}
    return {**entry, "weak_model_hub": weak_model, "weak_model_revision": revision}


def hub_base_model(model: str) -> str | None:
    """The Hub id a model card may name as `base_model`: the built-in alias's upstream repo, a Hub
    id as given, a local folder's recorded Hub id (trained by train-ipo and pushed); else None
    (a local path is never published)."""
    from .weights import BUILTIN_MODELS

    if model in BUILTIN_MODELS:
        return BUILTIN_MODELS[model]["upstream"]
    if Path(model).expanduser().exists():
        return (lineage_of_model(model) or {}).get("hub_id")
    return model if is_hub_id(model) else None


def model_lineage(dataset_lineage: dict | None, dataset: str, dataset_revision: str | None, base_model: str,
                  loss_type: str, beta: float) -> dict:
    """The lineage a trained model carries: one iteration past its dataset's."""
    return {"iteration": (dataset_lineage or {}).get("iteration", 0) + 1, "dataset": public_name(dataset),
            "dataset_revision": dataset_revision, "base_model": public_name(base_model),
            "base_model_hub": hub_base_model(base_model), "loss_type": loss_type, "beta": beta}


def write_model_lineage(out: Path, lineage: dict) -> None:
    (out / LINEAGE_FILE).write_text(json.dumps(lineage, indent=2) + "\n")


def record_hub_id(out: Path, repo: str) -> dict:
    """Note in the model folder's lineage where it was pushed (a later train-ipo from this folder
    then names the Hub repo as its base model); returns the updated lineage."""
    lineage = {**(lineage_of_model(str(out)) or {}), "hub_id": repo}
    for key in ("dataset", "base_model"):  # a folder trained before lineage named folders by label
        if lineage.get(key):
            lineage[key] = public_name(lineage[key])
    write_model_lineage(out, lineage)
    return lineage
