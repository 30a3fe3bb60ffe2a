"""Self-play lineage: a model trained by `pairforge train-ipo` carries `pairforge_lineage.json`
(its iteration, the dataset and base model it came from); a dataset built with that model as
the weak model records it in stats.json, and the next training round reads it from there."""

from __future__ import annotations

import json
from pathlib import Path

LINEAGE_FILE = "pairforge_lineage.json"


def lineage_of_model(model: str) -> dict | None:
    """The lineage of a weak model trained by train-ipo (None for any other model)."""
    f = Path(model) / LINEAGE_FILE
    if f.is_file():
        return json.loads(f.read_text())
    return None


def dataset_lineage_entry(weak_model: str) -> dict | None:
    """stats.json's `lineage` for a build whose weak model was trained by train-ipo."""
    parent = lineage_of_model(weak_model)
    if not parent:
        return None
    return {"iteration": parent["iteration"], "parent_dataset": parent["dataset"],
            "parent_model": parent["base_model"], "weak_model_dir": weak_model}


def model_lineage(dataset_lineage: dict | None, dataset: str, dataset_revision: str | None, base_model: str,
                  loss_type: str, beta: float) -> dict:
    """The lineage a trained model carries: one iteration past its dataset's."""
    return {"iteration": (dataset_lineage or {}).get("iteration", 0) + 1, "dataset": dataset,
            "dataset_revision": dataset_revision, "base_model": base_model, "loss_type": loss_type, "beta": beta}


def write_model_lineage(out: Path, lineage: dict) -> None:
    (out / LINEAGE_FILE).write_text(json.dumps(lineage, indent=2) + "\n")
