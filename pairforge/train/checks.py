"""train-ipo's values that TRL, transformers or peft would refuse only after the model has loaded (a
traceback minutes into a run), checked before: the reporting integrations, the files DPOConfig
names, the output folder, evaluation without an evaluation split, LoRA target modules."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import RecipeError

FILE_KEYS = ("deepspeed", "fsdp_config", "accelerator_config")  # a str is a JSON/YAML file to read


def check_config(cfg) -> None:
    """What can be checked from the config alone: integrations, files, the output folder."""
    from transformers.integrations import get_available_reporting_integrations

    report = cfg.dpo.get("report_to")
    names = [report] if isinstance(report, str) else list(report or [])
    available = get_available_reporting_integrations()
    for name in (n for n in names if n not in ("none", "all")):
        if name not in available:
            raise RecipeError(f"report_to: {name!r} is not installed here (installed: {', '.join(available) or 'none'}); "
                              f"pip install it, or leave report_to out")
    check_files(cfg)
    _check_writable(Path(os.path.abspath(cfg.output_dir)))


def check_files(cfg) -> None:
    """The files DPOConfig fields name exist (deepspeed, fsdp and accelerator configs, a checkpoint)."""
    for key in FILE_KEYS:
        value = cfg.dpo.get(key)
        if isinstance(value, str) and value and not value.lstrip().startswith("{") and not Path(value).expanduser().is_file():
            raise RecipeError(f"{key}: no such file: {value}")
    resume = cfg.dpo.get("resume_from_checkpoint")
    if isinstance(resume, str) and resume and not Path(resume).expanduser().exists():
        raise RecipeError(f"resume_from_checkpoint: no such checkpoint: {resume}")


def _check_writable(out: Path) -> None:
    """The trained model is written beside output_dir and renamed into it: its parent must take a folder."""
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        os.rmdir(tempfile.mkdtemp(prefix=f".{out.name}.probe-", dir=parent))
    except OSError as e:
        raise RecipeError(f"output_dir: cannot write the trained model into {out} ({e.strerror or type(e).__name__}"
                          f"{f': {e.filename}' if e.filename else ''}); give a folder you can write with --output-dir") from None


def check_eval(cfg, has_eval: bool, splits) -> bool:
    """eval_strategy other than 'no' needs the evaluation split (TRL fails at its first evaluation);
    returns whether the trainer evaluates."""
    strategy = str(getattr(cfg.dpo.get("eval_strategy"), "value", cfg.dpo.get("eval_strategy")) or "no")
    if strategy != "no" and not has_eval:
        raise RecipeError(f"eval_strategy: {strategy!r} evaluates on the eval_split, and the dataset has no split "
                          f"{cfg.eval_split!r} (it has: {', '.join(splits)}); set eval_split to one of them, or leave "
                          "eval_strategy at 'no'")
    return strategy != "no"


def check_lora_targets(cfg, model_path: str) -> None:
    """Each of lora.target_modules names a module of the model (peft refuses the run otherwise, after
    loading it). The model is built on the meta device: its names, without its weights."""
    lora = cfg.lora
    if not lora.enabled or lora.target_modules.strip() == "all-linear":
        return
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        with torch.device("meta"):
            names = [n for n, _ in AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model_path)).named_modules()]
    except Exception:  # noqa: BLE001 — a model meta cannot build: peft's own check stands
        return
    targets = [t.strip() for t in lora.target_modules.split(",") if t.strip()]
    missing = [t for t in targets if not any(n == t or n.endswith(f".{t}") for n in names)]
    if missing or not targets:
        leaves = sorted({n.rsplit(".", 1)[-1] for n in names if n and not n.rsplit(".", 1)[-1].isdigit()})
        raise RecipeError(f"lora.target_modules: {', '.join(missing) or 'none given'} matches no module of the model "
                          f"(its modules: {', '.join(leaves[:30])}); or use all-linear")
