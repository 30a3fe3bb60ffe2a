"""The train-ipo config: pairforge's own keys (dataset, model, LoRA, evaluation, push) plus
every field of TRL's `DPOConfig`, typed by `DPOConfig` itself (the way TRL's `TrlParser` builds
its dataclasses): `--set learning_rate=1e-4` is a float, `--set optim=adamw_torch` an optimizer
name, `--set output_dir=2024` a string. An unknown key is an error that names it."""

from __future__ import annotations

import dataclasses
import enum
import re
import types
import typing
from pathlib import Path
from typing import Literal, Optional

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.json_schema import SkipJsonSchema

from ..config import (SEED, Section, between, build, check, explain_value, field_ as _f, ge as _ge, gt as _gt, lt,
                      prepare, show, to_dict)
from ..errors import RecipeError
from ..files import apply_overrides, read_yaml_mapping

# TRL 1.16's DPOTrainer loss types; DPOConfig accepts any string and fails only mid-training.
TRL_LOSS_TYPES = ("sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard", "aot",
                  "aot_unpaired", "apo_zero", "apo_down", "discopop", "sft", "sigmoid_norm")

# Where pairforge's defaults differ from DPOConfig's (IPO, a small-model learning rate, one epoch,
# a log line per step, no checkpoints: the trained model is saved once at the end, memory switches).
DPO_DEFAULTS = {
    "output_dir": "out/ipo", "loss_type": ["ipo"], "beta": 0.1, "learning_rate": 5e-6, "num_train_epochs": 1.0,
    "per_device_train_batch_size": 4, "per_device_eval_batch_size": 8, "max_length": 1024,
    "logging_steps": 1, "seed": 0, "report_to": [], "save_strategy": "no",
    # Memory (benchmarks/train_memory.py, SmolLM2 + LoRA, batch 4, max_length 256, CPU): peak RSS 7.84 GiB with neither,
    # 4.68 GiB with gradient checkpointing (+35% s/step); padding_free gave nothing on CPU (4.74 GiB), so it stays off.
    # precompute_ref_log_probs: None = on without LoRA (the reference is a second full model copy, which it then never
    # runs during training), off with LoRA (the reference is the base model with the adapter disabled: precomputing
    # saved ~nothing, 4.68 -> 4.65 GiB, and costs a forward pass over the whole train split before step 1, however
    # few steps max_steps asks for). Resolved at run time (train/ipo.py); a value the user sets wins.
    "gradient_checkpointing": True, "precompute_ref_log_probs": None,
    "eval_strategy": "no", "disable_tqdm": False,
    "bf16": None, "use_cpu": None,  # None: decided at run time (on with a CUDA GPU / when none is visible)
}
# Values DPOConfig accepts but TRL, transformers or torch refuse only mid-run (a traceback after the model loaded).
_POS, _NONNEG = (_gt(0),), (_ge(0),)
DPO_CHECKS = {
    "beta": _POS, "learning_rate": _POS, "num_train_epochs": _POS, "max_length": _POS, "max_prompt_length": _POS,
    "max_completion_length": _POS, "per_device_train_batch_size": _POS, "per_device_eval_batch_size": _POS,
    "gradient_accumulation_steps": _POS, "eval_accumulation_steps": _POS, "precompute_ref_batch_size": _POS,
    "logging_steps": _POS, "eval_steps": _POS, "save_steps": _POS, "dataset_num_proc": _POS,
    "ref_model_sync_steps": _POS, "ddp_timeout": _POS, "seed": (SEED,), "data_seed": (SEED,),
    "warmup_steps": _NONNEG, "weight_decay": _NONNEG, "adam_epsilon": _NONNEG, "dataloader_num_workers": _NONNEG,
    "save_total_limit": _NONNEG, "adam_beta1": (_ge(0), lt(1)), "adam_beta2": (_ge(0), lt(1)),
    "label_smoothing_factor": (between(0, 1),), "label_smoothing": (between(0, 0.5),),
}


class Lora(Section):
    enabled: bool = _f(False)
    r: int = _f(16, _gt(0))
    lora_alpha: int = _f(32, _gt(0))
    lora_dropout: float = _f(0.0, ("range", 0, 1))
    target_modules: str = _f("all-linear", help="'all-linear' or a comma-separated list of module names")
    merge: bool = _f(True, help="save the base model with the adapter merged in (usable as the next weak model)")


class TrainConfig(Section):
    dataset: Optional[str] = _f(None, help="a build folder or a Hub dataset id")
    dataset_revision: Optional[str] = _f(None)
    model: Optional[str] = _f(None, help="model to train: built-in name, local folder or Hub id")
    ref_model: Optional[str] = _f(None, help="explicit reference model (default: a frozen copy of the start model)")
    allow_other_loss: bool = _f(False, help="train-ipo trains IPO; true lets loss_type name another TRL loss")
    eval_split: Optional[str] = _f("test", help="split for held-out preference accuracy; null: none")
    eval_max_pairs: int = _f(256, _gt(0), help="pairs used for the held-out preference accuracy")
    lora: Lora = _f(Lora)
    push_to_hub: Optional[str] = _f(None, help="model repo id to upload the result to")
    hub_private: bool = _f(False)
    # every DPOConfig field the user set, plus pairforge's defaults (typed and checked)
    dpo: SkipJsonSchema[dict] = Field(default_factory=dict, exclude=True)

    def __getattr__(self, name):  # cfg.beta, cfg.loss_type ...: the DPOConfig values
        dpo = self.__dict__.get("dpo", {})
        if name in dpo:
            return dpo[name]
        return super().__getattr__(name)

    def to_dict(self) -> dict:
        return {**to_dict(self), **self.dpo}


def _dpo_fields() -> dict:
    from trl import DPOConfig

    hints = typing.get_type_hints(DPOConfig)
    return {f.name: hints[f.name] for f in dataclasses.fields(DPOConfig) if f.init}


def _dpo_type(tp):
    """DPOConfig's annotation as checked here: an enum takes its values as strings (`Enum | str` too,
    as transformers' HfArgumentParser does), a list or dict is not checked item by item."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if any(isinstance(a, type) and issubclass(a, enum.Enum) for a in args):
            args = tuple(a for a in args if a is not str)
        return typing.Union[tuple(_dpo_type(a) for a in args)]
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return Literal[tuple(m.value for m in tp)]
    return origin if origin in (list, dict) else tp


def _dpo_value(name: str, value, tp):
    if typing.get_origin(tp) is list or list in typing.get_args(tp) or any(
            typing.get_origin(a) is list for a in typing.get_args(tp)):
        plain = getattr(value, "value", value)
        if isinstance(plain, str) and name == "loss_type":
            value = [plain]  # one loss by name
    tp, checks = _dpo_type(tp), DPO_CHECKS.get(name, ())
    v = prepare(value, tp, name, checks)
    try:
        adapter = TypeAdapter(tp, config=ConfigDict(strict=True, allow_inf_nan=False))
    except Exception:  # noqa: BLE001  a type pydantic cannot check: DPOConfig itself checks it
        return v
    try:
        v = adapter.validate_python(v)
    except ValidationError as e:
        raise explain_value(e.errors()[0], tp, name, checks) from None
    check(v, checks, name)
    return v


def load_train_config(path: str | Path | None, overrides: list[str], **cli) -> TrainConfig:
    from ..shipped import find_recipe

    data = read_yaml_mapping(find_recipe(path, "train-ipo")) if path is not None else {}
    for key, value in cli.items():  # --dataset / --model / --output-dir / --push-to-hub
        if value is not None:
            data[key] = value
    data = apply_overrides(data, overrides)
    own = set(TrainConfig.model_fields) - {"dpo"}
    dpo_types = _dpo_fields()
    unknown = sorted(k for k in data if k not in own and k not in dpo_types)
    if unknown:
        raise RecipeError(f"{show(unknown[0], plain=True)}: unknown key (neither a pairforge train-ipo key ({', '.join(sorted(own))}) "
                          "nor a field of TRL's DPOConfig)")
    if data.get("push_to_hub") is not None:
        _check_push_repo(data["push_to_hub"])
    cfg = build(TrainConfig, {k: v for k, v in data.items() if k in own}, "")
    cfg.dpo = dict(DPO_DEFAULTS)
    for k, v in data.items():
        if k in dpo_types and k not in own:  # pairforge's own push_to_hub (a repo id) wins over TRL's bool
            cfg.dpo[k] = _dpo_value(k, v, dpo_types[k])
    _validate(cfg)
    from .checks import check_files

    check_files(cfg)  # a missing deepspeed file is named before DPOConfig asks for the deepspeed package
    dpo_config(cfg, use_cpu=True, bf16=False, precompute=False)  # DPOConfig's own checks, before any data or model
    return cfg


def _check_push_repo(value) -> None:
    """push_to_hub is pairforge's: the model repo id to upload to (TRL's is a flag), never true/false."""
    from ..hub.errors import repo_id_problem

    plain = getattr(value, "value", value)
    if isinstance(plain, bool) or str(value).strip().lower() in ("true", "false"):
        raise RecipeError(f"push_to_hub: takes the Hub model repo id to upload to (user/name), not {str(value)!r}; "
                          "e.g. --push-to-hub alice/my-ipo-model, or leave it out to upload nothing")
    if problem := repo_id_problem(str(value).strip()):
        raise RecipeError(f"push_to_hub: {problem}")


def _validate(cfg: TrainConfig) -> None:
    losses = cfg.dpo["loss_type"]
    for loss in losses:
        if loss not in TRL_LOSS_TYPES:
            raise RecipeError(f"loss_type: unknown loss {loss!r} (TRL knows: {', '.join(TRL_LOSS_TYPES)}); "
                              "pairforge train-ipo trains with 'ipo'")
    if losses != ["ipo"] and not cfg.allow_other_loss:
        raise RecipeError(f"loss_type: {losses} is not IPO, and train-ipo promises IPO; "
                          "set --set allow_other_loss=true to train another TRL loss on purpose")
    if not cfg.dataset:
        raise RecipeError("dataset: give --dataset (a build folder or a Hub dataset id)")
    if not cfg.model:
        raise RecipeError("model: give --model (a local folder, a Hub id or smollm2-135m-instruct)")
    steps = cfg.dpo.get("max_steps", -1)
    if steps == 0 or steps < -1:
        raise RecipeError(f"max_steps: must be -1 (use num_train_epochs) or > 0, got {steps}")


def dpo_config(cfg: TrainConfig, use_cpu: bool, bf16: bool, precompute: bool):
    """TRL's DPOConfig from the validated values and the run-time choices (device, dtype, reference
    log-probs: train/ipo.py decides them); DPOConfig's own checks become RecipeErrors."""
    from trl import DPOConfig

    kwargs = {**cfg.dpo, "use_cpu": use_cpu, "bf16": bf16, "precompute_ref_log_probs": precompute}
    kwargs.pop("hub_token", None)  # pairforge pushes (with it, where --token is not given); TRL never sees it
    kwargs["output_dir"] = str(kwargs["output_dir"])
    try:
        return DPOConfig(**kwargs)
    except ImportError as e:  # a field that needs a package not installed here (deepspeed)
        named = next((k for k in kwargs if kwargs[k] and k in str(e)), "DPOConfig")
        raise RecipeError(f"{named}: needs a package that is not installed "
                          f"({str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__})") from None
    except (ValueError, TypeError) as e:
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise RecipeError(f"{_blame(kwargs, text) or 'DPOConfig'}: {text}") from None


def _blame(kwargs: dict, text: str) -> str | None:
    """The DPOConfig field a __post_init__ error is about: the one its message names, else the one
    set value (not a pairforge default) without which DPOConfig accepts the rest."""
    from trl import DPOConfig

    named = [k for k in kwargs if re.search(rf"(?<![A-Za-z0-9_]){re.escape(k)}(?![A-Za-z0-9_])", text)]
    if named:
        return max(named, key=len)
    for k in [k for k in kwargs if k not in DPO_DEFAULTS or kwargs[k] != DPO_DEFAULTS[k]]:
        if k in ("use_cpu", "bf16", "precompute_ref_log_probs", "output_dir"):
            continue
        try:
            DPOConfig(**{n: v for n, v in kwargs.items() if n != k})
        except (ValueError, TypeError):
            continue
        return k
    return None
