"""`pairforge train-ipo`: a thin recipe on TRL's DPOTrainer with the IPO loss.

Loads the preference set (a build folder or a Hub id) and passes TRL one split, trains (LoRA
optional), saves a model that the next `pairforge build` can use as its weak model (SPIN-style
self-play: the lineage goes into `pairforge_lineage.json`), and reports held-out preference
accuracy before and after training.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path

from .errors import PairforgeError
from .train_config import TrainConfig

LINEAGE_FILE = "pairforge_lineage.json"


def load_preference_dataset(name: str, revision: str | None = None, token: str | None = None):
    """A DatasetDict from a build folder or a Hub dataset id, and the dataset's own lineage."""
    import datasets

    path = Path(name)
    lineage = None
    try:
        if path.is_dir():
            dd = datasets.load_dataset(str(path))
            stats = path / "stats.json"
            if stats.is_file():
                lineage = json.loads(stats.read_text()).get("lineage")
        else:
            dd = datasets.load_dataset(name, revision=revision, token=token)
            lineage = _hub_lineage(name, revision, token)
    except (FileNotFoundError, ValueError) as e:
        raise PairforgeError(f"dataset: cannot load {name!r}: {str(e).splitlines()[0]}") from None
    except Exception as e:
        if type(e).__name__ in ("RepositoryNotFoundError", "DatasetNotFoundError", "HfHubHTTPError"):
            raise PairforgeError(f"dataset: cannot load {name!r} from the Hub: {str(e).splitlines()[0]}") from None
        raise
    missing = {"prompt", "chosen", "rejected"} - set(dd["train"].column_names) if "train" in dd else {"train split"}
    if missing:
        raise PairforgeError(f"dataset: {name!r} lacks {', '.join(sorted(missing))}; build it with pairforge build")
    return dd, lineage


def _hub_lineage(name, revision, token):
    from huggingface_hub import hf_hub_download

    try:
        stats = json.loads(Path(hf_hub_download(name, "stats.json", repo_type="dataset", revision=revision,
                                                token=token)).read_text())
        return stats.get("lineage")
    except Exception:
        return None


def _model_path(name: str) -> str:
    from .models import materialise, resolve_model

    path, _ = materialise(resolve_model(name))
    return path


def run_train(cfg: TrainConfig, token: str | None = None) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    from .preference_eval import preference_metrics, sequence_logps

    t0 = time.perf_counter()
    dd, ds_lineage = load_preference_dataset(cfg.dataset, cfg.dataset_revision, token)
    train = dd["train"]
    eval_ds = dd[cfg.eval_split] if cfg.eval_split and cfg.eval_split in dd else None
    cuda = torch.cuda.is_available()
    use_cpu = (not cuda) if cfg.use_cpu is None else cfg.use_cpu
    bf16 = (cuda and not use_cpu) if cfg.bf16 is None else cfg.bf16
    model_path = _model_path(cfg.model)
    tok = AutoTokenizer.from_pretrained(model_path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.bfloat16 if bf16 else torch.float32)
    ref_model = None
    if cfg.ref_model:
        ref_model = AutoModelForCausalLM.from_pretrained(_model_path(cfg.ref_model),
                                                         dtype=torch.bfloat16 if bf16 else torch.float32)
    device = "cuda" if cuda and not use_cpu else "cpu"

    eval_rows = eval_ds.select(range(min(cfg.eval_max_pairs, eval_ds.num_rows))).to_list() if eval_ds else []
    before = ref_logps = None
    if eval_rows:
        base = (ref_model or model).to(device)
        ref_logps = sequence_logps(base, tok, eval_rows, cfg.max_length)
        own = ref_logps if ref_model is None else sequence_logps(model.to(device), tok, eval_rows, cfg.max_length)
        before = preference_metrics(own, ref_logps, cfg.beta)

    peft_config = None
    if cfg.lora.enabled:
        from peft import LoraConfig

        targets = cfg.lora.target_modules
        peft_config = LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.lora_alpha, lora_dropout=cfg.lora.lora_dropout,
                                 target_modules=targets if targets == "all-linear" else [t.strip() for t in targets.split(",")],
                                 task_type="CAUSAL_LM")
    out = Path(cfg.output_dir)
    args = DPOConfig(
        output_dir=str(out), loss_type=[cfg.loss_type], beta=cfg.beta, learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.num_train_epochs, max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.per_device_train_batch_size,
        per_device_eval_batch_size=cfg.per_device_eval_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps, max_length=cfg.max_length,
        warmup_steps=cfg.warmup_steps, lr_scheduler_type=cfg.lr_scheduler_type, logging_steps=cfg.logging_steps,
        seed=cfg.seed, precompute_ref_log_probs=cfg.precompute_ref_log_probs,
        gradient_checkpointing=cfg.gradient_checkpointing, bf16=bf16, use_cpu=use_cpu, report_to=[],
        save_strategy="no", eval_strategy="no", disable_tqdm=False,
    )
    trainer = DPOTrainer(model=model, ref_model=ref_model, args=args, train_dataset=train,
                         processing_class=tok, peft_config=peft_config)
    t_train = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # TRL prints log dicts; stdout is for the summary
        result = trainer.train()
    train_seconds = time.perf_counter() - t_train
    trained = trainer.model
    if cfg.lora.enabled and cfg.lora.merge:
        trained = trained.merge_and_unload()
    after = None
    if eval_rows:
        after = preference_metrics(sequence_logps(trained.to(device), tok, eval_rows, cfg.max_length), ref_logps, cfg.beta)

    out.mkdir(parents=True, exist_ok=True)
    trained.save_pretrained(out)
    tok.save_pretrained(out)
    iteration = (ds_lineage or {}).get("iteration", 0) + 1
    lineage = {"iteration": iteration, "dataset": cfg.dataset, "dataset_revision": cfg.dataset_revision,
               "base_model": cfg.model, "loss_type": cfg.loss_type, "beta": cfg.beta}
    (out / LINEAGE_FILE).write_text(json.dumps(lineage, indent=2) + "\n")
    history = trainer.state.log_history
    (out / "log_history.json").write_text(json.dumps(history, indent=2) + "\n")
    steps = trainer.state.global_step
    summary = {
        "output_dir": str(out), "model": cfg.model, "dataset": cfg.dataset, "train_pairs": train.num_rows,
        "eval_pairs": len(eval_rows), "steps": steps, "train_loss": round(result.training_loss, 6),
        "train_seconds": round(train_seconds, 2), "seconds_per_step": round(train_seconds / max(1, steps), 4),
        "preference_before": before, "preference_after": after, "lineage": lineage,
        "total_seconds": round(time.perf_counter() - t0, 2), "config": cfg.to_dict(),
    }
    (out / "preference_eval.json").write_text(json.dumps(
        {"before": before, "after": after, "pairs": len(eval_rows), "split": cfg.eval_split}, indent=2) + "\n")
    (out / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if cfg.push_to_hub:
        summary["hub"] = push_model(out, cfg, summary, token)
    return summary


def push_model(out: Path, cfg: TrainConfig, summary: dict, token: str | None) -> str:
    """Upload the trained model with a model card that links the dataset, in one commit."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError
    from jinja2 import Environment, FileSystemLoader

    from .push import hub_error

    env = Environment(loader=FileSystemLoader(str(Path(__file__).parent / "templates")))
    card = env.get_template("model_card.md.j2").render(s=summary, cfg=cfg,
                                                       dataset_is_hub=not Path(cfg.dataset).is_dir())
    (out / "README.md").write_text(card)
    api = HfApi(token=token)
    try:
        api.create_repo(cfg.push_to_hub, private=cfg.hub_private, exist_ok=True)
        info = api.upload_folder(repo_id=cfg.push_to_hub, folder_path=str(out),
                                 commit_message=f"pairforge train-ipo on {cfg.dataset}")
    except HfHubHTTPError as e:
        raise hub_error(e, cfg.push_to_hub, "push the model to") from None
    return info.oid


def lineage_of_model(model: str) -> dict | None:
    """The lineage of a weak model trained by train-ipo (None for any other model)."""
    f = Path(model) / LINEAGE_FILE
    if f.is_file():
        return json.loads(f.read_text())
    return None
