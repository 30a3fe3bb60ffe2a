"""The recipe's fingerprint (every field that changes the output, plus the data's and the model's
content) and the resolved recipe as YAML. Imported through recipe.py."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

import yaml

from .config import to_dict
from .redact import bare_url


def fp_view(obj) -> Any:
    if dataclasses.is_dataclass(obj):
        return {
            f.name: fp_view(getattr(obj, f.name))
            for f in dataclasses.fields(obj)
            if f.metadata.get("fp", True) and not f.metadata.get("internal")
        }
    if isinstance(obj, list):
        return [fp_view(x) for x in obj]
    return obj


def fingerprint(recipe, source_digest: str, model_digest: str) -> str:
    """Hash of every field that changes the output, plus the content of the data and the model.

    The source path and the model name are replaced by digests of what they point at, so the
    same data reached through another path gives the same fingerprint, and edited data does not.
    """
    view = fp_view(recipe)
    view["source"].pop("path", None)
    view["source_digest"] = source_digest
    view["weak_model"]["model"] = model_digest
    for key in ("system_prompt", "chat_template"):  # unset: earlier builds keep their fingerprint
        view["weak_model"] = {k: v for k, v in view["weak_model"].items() if k != key or v is not None}
    _strip_credentials(view)
    blob = json.dumps(view, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _strip_credentials(data: dict) -> None:
    """A base_url's user:password@ never reaches a hash or a file (weak model and LLM judge)."""
    for section in (data.get("weak_model"), (data.get("judge") or {}).get("llm")):
        if section and section.get("openai"):
            section["openai"]["base_url"] = bare_url(section["openai"]["base_url"])


def dump_resolved(recipe) -> str:
    """The recipe as YAML, without credentials."""
    data = to_dict(recipe)
    _strip_credentials(data)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
