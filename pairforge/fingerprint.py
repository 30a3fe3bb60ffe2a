"""A recipe's fingerprints (hashes of the fields that change the output, plus the content of the
data and the model) and the resolved recipe as YAML. Imported through recipe.py.

Fields carry their stage in their `Meta` (config.py; sections.py's `_finish` marks the post-generation ones);
the shard store is keyed by the generation fingerprint alone, so a change of finish settings
re-finishes a build from its generated shards without sending a prompt. Credentials in a
base_url never reach a hash or a file.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import yaml

from pydantic import BaseModel

from .config import meta, to_dict
from .redact import bare_url


def fp_view(obj, stage: str | None = None) -> Any:
    """The fields that change the output; stage 'generation' or 'finish' keeps only that stage's."""
    if isinstance(obj, BaseModel):
        view = {}
        for name, info in type(obj).model_fields.items():
            m = meta(info)
            if not m.fp:
                continue
            if m.stage == "finish":  # a finish field: the whole subtree is finish
                if stage != "generation":
                    view[name] = fp_view(getattr(obj, name))
            else:
                sub = fp_view(getattr(obj, name), stage)
                if stage != "finish" or (isinstance(sub, dict) and sub):
                    view[name] = sub
        return view
    if isinstance(obj, list):
        return [fp_view(x, stage) for x in obj]
    return obj if stage != "finish" else {}


def _hash(view: dict) -> str:
    blob = json.dumps(view, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def strip_credentials(data):
    """`data` (a view or to_dict of a config, changed in place and returned) with every `base_url`
    bared of its user:password@, wherever it sits (weak model, LLM judge, a judge config alone):
    credentials never reach a hash or a file."""
    if isinstance(data, dict):
        for key, value in data.items():
            if key == "base_url" and isinstance(value, str):
                data[key] = bare_url(value)
            else:
                strip_credentials(value)
    elif isinstance(data, list):
        for value in data:
            strip_credentials(value)
    return data


def fingerprints(recipe, source_digest: str, model_digest: str, judge_code: str | None = None) -> dict:
    """{"generation", "finish", "combined"}: generation hashes whatever changes which prompts are sent
    or what comes back (source, pre-filters, dedupe, decontamination, weak model, sampling), plus
    the content of the data and the model; finish hashes the post-generation settings (post
    filters, judge, split, output format) and a function judge's code (`judge_code`, its digest). combined (stats.json's `fingerprint`) hashes both.

    The source path and the model name are replaced by digests of what they point at, so the
    same data reached through another path gives the same fingerprint, and edited data does not.
    """
    gen = fp_view(recipe, "generation")
    gen["source"].pop("path", None)
    gen["source_digest"] = source_digest
    gen["weak_model"]["model"] = model_digest
    for key in ("system_prompt", "chat_template"):  # unset: earlier builds keep their fingerprint
        gen["weak_model"] = {k: v for k, v in gen["weak_model"].items() if k != key or v is not None}
    fin = fp_view(recipe, "finish")
    for sampling in (gen["weak_model"]["sampling"], fin["judge"]["llm"]["sampling"]):
        if not sampling["end_nudge"]["enabled"]:  # off: earlier builds keep their fingerprints
            del sampling["end_nudge"]
    if judge_code:
        fin["judge"]["function_code"] = judge_code
    strip_credentials(gen)
    strip_credentials(fin)
    g, f = _hash(gen), _hash(fin)
    return {"generation": g, "finish": f, "combined": _hash({"generation": g, "finish": f})}


def fingerprint(recipe, source_digest: str, model_digest: str) -> str:
    """The combined fingerprint: every field that changes the output, the data and the model."""
    return fingerprints(recipe, source_digest, model_digest)["combined"]


def dump_resolved(recipe) -> str:
    """The recipe as YAML, without credentials."""
    data = to_dict(recipe)
    strip_credentials(data)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
