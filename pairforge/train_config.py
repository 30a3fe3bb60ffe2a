"""The train-ipo config: TRL DPOConfig names where one exists, validated with the recipe schema."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .errors import RecipeError
from .recipe import _build, _f, _ge, _gt, _to_dict, apply_overrides, read_yaml_mapping

# TRL 1.16's DPOTrainer loss types; DPOConfig accepts any string and fails only mid-training.
TRL_LOSS_TYPES = ("sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard", "aot",
                  "aot_unpaired", "apo_zero", "apo_down", "discopop", "sft", "sigmoid_norm")


@dataclass
class Lora:
    enabled: bool = _f(False)
    r: int = _f(16, _gt(0))
    lora_alpha: int = _f(32, _gt(0))
    lora_dropout: float = _f(0.0, ("range", 0, 1))
    target_modules: str = _f("all-linear", help="'all-linear' or a comma-separated list of module names")
    merge: bool = _f(True, help="save the base model with the adapter merged in (usable as the next weak model)")


@dataclass
class TrainConfig:
    dataset: Optional[str] = _f(None, help="a build folder or a Hub dataset id")
    dataset_revision: Optional[str] = _f(None)
    model: Optional[str] = _f(None, help="model to train: built-in name, local folder or Hub id")
    ref_model: Optional[str] = _f(None, help="explicit reference model (default: a frozen copy of the start model)")
    output_dir: str = _f("out/ipo")
    loss_type: str = _f("ipo")
    beta: float = _f(0.1, _gt(0), help="IPO's tau: the regularisation towards the reference model")
    learning_rate: float = _f(5e-6, _gt(0))
    num_train_epochs: float = _f(1.0, _gt(0))
    max_steps: int = _f(-1, help="> 0 overrides num_train_epochs")
    per_device_train_batch_size: int = _f(4, _gt(0))
    per_device_eval_batch_size: int = _f(8, _gt(0))
    gradient_accumulation_steps: int = _f(1, _gt(0))
    max_length: int = _f(1024, _gt(0))
    warmup_steps: int = _f(0, _ge(0))
    lr_scheduler_type: str = _f("linear")
    logging_steps: int = _f(1, _gt(0))
    seed: int = _f(0, _ge(0))
    precompute_ref_log_probs: bool = _f(False)
    gradient_checkpointing: bool = _f(False)
    bf16: Optional[bool] = _f(None, help="default: on with a CUDA GPU, off on CPU")
    use_cpu: Optional[bool] = _f(None, help="default: on when no CUDA GPU is visible")
    eval_split: Optional[str] = _f("test", help="split for evaluation and held-out preference accuracy; null: none")
    eval_max_pairs: int = _f(256, _gt(0), help="pairs used for the held-out preference accuracy")
    lora: Lora = _f(Lora)
    push_to_hub: Optional[str] = _f(None, help="model repo id to upload the result to")
    hub_private: bool = _f(False)

    def to_dict(self) -> dict:
        return _to_dict(self)


def load_train_config(path: str | Path | None, overrides: list[str], **cli) -> TrainConfig:
    data = read_yaml_mapping(Path(path), "try: recipes/ipo.yaml") if path is not None else {}
    for key, value in cli.items():  # --dataset / --model / --output-dir / --push-to-hub
        if value is not None:
            data[key] = value
    data = apply_overrides(data, overrides)
    cfg = _build(TrainConfig, data, "")
    if cfg.loss_type not in TRL_LOSS_TYPES:
        raise RecipeError(f"loss_type: unknown loss {cfg.loss_type!r} (TRL knows: {', '.join(TRL_LOSS_TYPES)}); "
                          "pairforge train-ipo trains with 'ipo'")
    if not cfg.dataset:
        raise RecipeError("dataset: give --dataset (a build folder or a Hub dataset id)")
    if not cfg.model:
        raise RecipeError("model: give --model (a local folder, a Hub id or smollm2-135m-instruct)")
    if cfg.max_steps == 0 or cfg.max_steps < -1:
        raise RecipeError(f"max_steps: must be -1 (use num_train_epochs) or > 0, got {cfg.max_steps}")
    return cfg
