"""Self-play lineage: a model trained by `pairforge train-ipo` carries `pairforge_lineage.json`
(its iteration, the dataset and base model it came from); a dataset built with that model as
the weak model records it in stats.json, and the next training round reads it from there."""

from __future__ import annotations

import json
import re
from pathlib import Path

LINEAGE_FILE = "pairforge_lineage.json"


HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


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
    if Path(weak_model).expanduser().exists():
        return {"iteration": parent["iteration"], "parent_dataset": parent["dataset"],
                "parent_model": parent["base_model"], "weak_model_dir": weak_model}
    return {"iteration": parent["iteration"], "parent_dataset": parent["dataset"],
            "parent_model": parent.get("base_model_hub") or parent["base_model"], "weak_model_hub": weak_model,
            "weak_model_revision": revision}


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
    return {"iteration": (dataset_lineage or {}).get("iteration", 0) + 1, "dataset": dataset,
            "dataset_revision": dataset_revision, "base_model": base_model,
            "base_model_hub": hub_base_model(base_model), "loss_type": loss_type, "beta": beta}


def write_model_lineage(out: Path, lineage: dict) -> None:
    (out / LINEAGE_FILE).write_text(json.dumps(lineage, indent=2) + "\n")


def record_hub_id(out: Path, repo: str) -> dict:
    """Note in the model folder's lineage where it was pushed (a later train-ipo from this folder
    then names the Hub repo as its base model); returns the updated lineage."""
    lineage = {**(lineage_of_model(str(out)) or {}), "hub_id": repo}
    write_model_lineage(out, lineage)
    return lineage
