"""A recipe's fingerprints: hashes of the fields that change the output.

Fields carry their stage in their metadata (recipe.py's `_finish` marks the post-generation ones);
the shard store is keyed by the generation fingerprint alone, so a change of finish settings
re-finishes a build from its generated shards without sending a prompt.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any


def _fp_view(obj, stage: str | None = None) -> Any:
    """The fields that change the output; stage 'generation' or 'finish' keeps only that stage's."""
    if dataclasses.is_dataclass(obj):
        view = {}
        for f in dataclasses.fields(obj):
            if not f.metadata.get("fp", True) or f.metadata.get("internal"):
                continue
            if f.metadata.get("stage") == "finish":  # a finish field: the whole subtree is finish
                if stage != "generation":
                    view[f.name] = _fp_view(getattr(obj, f.name))
            else:
                sub = _fp_view(getattr(obj, f.name), stage)
                if stage != "finish" or (isinstance(sub, dict) and sub):
                    view[f.name] = sub
        return view
    if isinstance(obj, list):
        return [_fp_view(x, stage) for x in obj]
    return obj if stage != "finish" else {}


def _hash(view: dict) -> str:
    blob = json.dumps(view, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def fingerprints(recipe, source_digest: str, model_digest: str) -> dict:
    """{"generation", "finish", "combined"}: generation hashes whatever changes which prompts are sent
    or what comes back (source, pre-filters, dedupe, decontamination, weak model, sampling), plus
    the content of the data and the model; finish hashes the post-generation settings (post
    filters, split, output format). combined (stats.json's `fingerprint`) hashes both.

    The source path and the model name are replaced by digests of what they point at, so the
    same data reached through another path gives the same fingerprint, and edited data does not.
    """
    gen = _fp_view(recipe, "generation")
    gen["source"].pop("path", None)
    gen["source_digest"] = source_digest
    gen["weak_model"]["model"] = model_digest
    fin = _fp_view(recipe, "finish")
    g, f = _hash(gen), _hash(fin)
    return {"generation": g, "finish": f, "combined": _hash({"generation": g, "finish": f})}


def fingerprint(recipe, source_digest: str, model_digest: str) -> str:
    """The combined fingerprint: every field that changes the output, the data and the model."""
    return fingerprints(recipe, source_digest, model_digest)["combined"]
