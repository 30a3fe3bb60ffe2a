"""What train-ipo writes and prints about its run: its config with secrets masked, and (in the files
that travel with the model to the Hub: train_summary.json) local paths named as `lineage.public_name`
names them, never as paths."""

from __future__ import annotations

from pathlib import Path

from ..redact import MASK, redact_url

SECRET_KEYS = ("hub_token",)  # DPOConfig fields that hold a credential
# Fields that hold a local dataset or model (named by content digest) or another local path (by its name).
NAMED_KEYS = ("dataset", "model", "ref_model")
PATH_KEYS = ("output_dir", "deepspeed", "fsdp_config", "accelerator_config", "resume_from_checkpoint")


def masked_config(config: dict) -> dict:
    """The config with every credential replaced by *** (a set one) or left None (an unset one)."""
    return {k: (MASK if v is not None else None) if k in SECRET_KEYS else
            redact_url(v) if isinstance(v, str) and "@" in v and "://" in v else v for k, v in config.items()}


def path_name(value):
    """A local path as published: its last part (a dict or a non-path value as it is)."""
    if not isinstance(value, str) or not value:
        return value
    return f"{Path(value).expanduser().resolve().name or 'unnamed'} (local path)"


def public_summary(summary: dict) -> dict:
    """The summary as train_summary.json holds it: names and digests for local things, no credential."""
    from ..lineage import public_name

    out = dict(summary)
    config = masked_config(out.get("config") or {})
    for key in NAMED_KEYS:
        if isinstance(config.get(key), str):
            config[key] = public_name(config[key])
        if isinstance(out.get(key), str):
            out[key] = public_name(out[key])
    for key in PATH_KEYS:
        if key in config:
            config[key] = path_name(config[key])
    out["config"] = config
    if "output_dir" in out:
        out["output_dir"] = path_name(out["output_dir"])
    return out
