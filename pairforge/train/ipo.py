"""`pairforge train-ipo`: a thin recipe on TRL's DPOTrainer with the IPO loss.

Loads the preference set (a build folder or a Hub id) and passes TRL one split, trains (LoRA
optional), saves a model that the next `pairforge build` can use as its weak model (SPIN-style
self-play: see lineage.py), and reports held-out preference accuracy before and after training.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path

from ..errors import DataError, PairforgeError
from ..lineage import LINEAGE_FILE, model_lineage, write_model_lineage
from .config import TrainConfig, dpo_config


def load_preference_dataset(name: str, revision: str | None = None, token: str | None = None):
    """A DatasetDict from a build folder or a Hub dataset id, and the dataset's own lineage."""
    from ..data.load import load_hub, load_local

    path = Path(name)
    try:
        if path.is_dir():
            from ..pipeline.publish import MANIFEST, verify

            if any((path / f).exists() for f in ("stats.json", "_work", MANIFEST)):  # a pairforge build folder
                verify(path)
            dd = load_local(path, None, "dataset")
            stats = path / "stats.json"
            lineage = json.loads(stats.read_text()).get("lineage") if stats.is_file() else None
        elif path.is_absolute() or name.startswith(".") or name.count("/") > 1:
            raise DataError(f"dataset: {name}: no such folder")
        else:
            dd = load_hub(name, "dataset", revision=revision, token=token)
            lineage = _hub_lineage(name, revision, token)
    except DataError as e:
        raise PairforgeError(f"dataset: cannot load {name!r}: {str(e).removeprefix('dataset: ')}") from None
    _check_layout(name, set(dd["train"].column_names) if "train" in dd else None)
    return dd, lineage


def _check_layout(name: str, columns: set | None) -> None:
    """train-ipo reads prompt/chosen/rejected (the conversational or standard layout); the intel and
    messages layouts pairforge also writes have no prompt column: the error names the fix."""
    missing = {"prompt", "chosen", "rejected"} - columns if columns is not None else {"train split"}
    if not missing:
        return
    layout = None if columns is None else "intel" if "question" in columns else "messages" if missing == {"prompt"} else None
    if layout:
        raise PairforgeError(f"dataset: {name!r} is in the {layout!r} layout (no prompt column); train-ipo reads the "
                             "conversational layout: rebuild it with output.format: conversational "
                             "(pairforge build RECIPE --set output.format=conversational)")
    raise PairforgeError(f"dataset: {name!r} lacks {', '.join(sorted(missing))}; build it with pairforge build")


def _hub_lineage(name, revision, token):
    from huggingface_hub import hf_hub_download

    try:
        stats = json.loads(Path(hf_hub_download(name, "stats.json", repo_type="dataset", revision=revision,
                                                token=token)).read_text())
        return stats.get("lineage")
    except Exception:  # a dataset not built by pairforge has no stats.json: no lineage
        return None


def _load_model(name: str, dtype):
    from transformers import AutoModelForCausalLM

    from ..weights import materialise, resolve_model

    path, _ = materialise(resolve_model(name))
    try:
        return path, AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    except OSError as e:  # a Hub id that does not exist or cannot be reached, a folder without a model
        raise PairforgeError(f"model: cannot load {name!r}: {str(e).strip().splitlines()[0] if str(e) else e}") from None


def _peft_config(lora):
    if not lora.enabled:
        return None
    try:
        from peft import LoraConfig
    except ImportError:
        raise PairforgeError("lora.enabled: LoRA needs peft: pip install 'pairforge[lora]' "
                             "(or --set lora.enabled=false for full fine-tuning)") from None

    targets = lora.target_modules
    return LoraConfig(r=lora.r, lora_alpha=lora.lora_alpha, lora_dropout=lora.lora_dropout,
                      target_modules=targets if targets == "all-linear" else [t.strip() for t in targets.split(",")],
                      task_type="CAUSAL_LM")


def _preference(model, tok, rows, ref_logps, cfg, device):
    from .preference_eval import preference_metrics, sequence_logps

    return preference_metrics(sequence_logps(model.to(device), tok, rows, cfg.max_length), ref_logps, cfg.beta)


def run_train(cfg: TrainConfig, token: str | None = None) -> dict:
    import torch
    from transformers import AutoTokenizer
    from trl import DPOTrainer

    from .preference_eval import preference_metrics, sequence_logps

    t0 = time.perf_counter()
    check_output_dir(Path(cfg.output_dir))  # before any work: the finished run replaces the folder
    dd, ds_lineage = load_preference_dataset(cfg.dataset, cfg.dataset_revision, token)
    eval_ds = dd[cfg.eval_split] if cfg.eval_split and cfg.eval_split in dd else None
    cuda = torch.cuda.is_available()
    use_cpu = (not cuda) if cfg.use_cpu is None else cfg.use_cpu
    bf16 = (cuda and not use_cpu) if cfg.bf16 is None else cfg.bf16
    device, dtype = ("cuda" if cuda and not use_cpu else "cpu"), (torch.bfloat16 if bf16 else torch.float32)
    model_path, model = _load_model(cfg.model, dtype)
    tok = AutoTokenizer.from_pretrained(model_path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    ref_model = _load_model(cfg.ref_model, dtype)[1] if cfg.ref_model else None

    eval_rows = eval_ds.select(range(min(cfg.eval_max_pairs, eval_ds.num_rows))).to_list() if eval_ds else []
    before = ref_logps = None
    if eval_rows:
        ref_logps = sequence_logps((ref_model or model).to(device), tok, eval_rows, cfg.max_length)
        before = preference_metrics(ref_logps, ref_logps, cfg.beta) if ref_model is None else \
            _preference(model, tok, eval_rows, ref_logps, cfg, device)
    trainer = DPOTrainer(model=model, ref_model=ref_model, args=dpo_config(cfg, use_cpu, bf16, precompute_ref(cfg)),
                         train_dataset=dd["train"], processing_class=tok, peft_config=_peft_config(cfg.lora))
    t_train = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # TRL prints log dicts; stdout is for the summary
        result = trainer.train()
    train_seconds = time.perf_counter() - t_train
    trained = trainer.model
    if cfg.lora.enabled and cfg.lora.merge:
        trained = trained.merge_and_unload()
    after = _preference(trained, tok, eval_rows, ref_logps, cfg, device) if eval_rows else None
    summary = {
        "model": cfg.model, "dataset": cfg.dataset, "train_pairs": dd["train"].num_rows,
        "eval_pairs": len(eval_rows), "steps": trainer.state.global_step, "train_loss": round(result.training_loss, 6),
        "train_seconds": round(train_seconds, 2),
        "seconds_per_step": round(train_seconds / max(1, trainer.state.global_step), 4),
        "preference_before": before, "preference_after": after,
        "lineage": model_lineage(ds_lineage, cfg.dataset, cfg.dataset_revision, cfg.model, cfg.loss_type[0], cfg.beta),
    }
    _save(trained, tok, trainer.state.log_history, summary, cfg)
    summary["total_seconds"] = round(time.perf_counter() - t0, 2)
    if cfg.push_to_hub:
        from ..hub.model import push_model

        summary["hub"] = push_model(Path(cfg.output_dir), cfg, summary, token)
    return summary


def precompute_ref(cfg: TrainConfig) -> bool:
    """precompute_ref_log_probs as set, else on only without LoRA: with LoRA the reference is the
    base model with the adapter off (no second copy to free), so precomputing saves ~no memory and
    costs a forward pass over the whole train split before the first step."""
    value = cfg.dpo.get("precompute_ref_log_probs")
    return (not cfg.lora.enabled) if value is None else bool(value)


def check_output_dir(out: Path) -> None:
    """output_dir must be new, empty, or an earlier train-ipo result: a finished run replaces it whole."""
    if out.exists() and not out.is_dir():
        raise PairforgeError(f"output_dir {out} is a file; give a folder with --output-dir")
    if out.is_dir() and any(out.iterdir()) and not any((out / f).is_file() for f in ("train_summary.json", LINEAGE_FILE)):
        raise PairforgeError(f"output_dir {out} holds files that are not an earlier train-ipo result, and a finished "
                             "run replaces the whole folder; give a new or empty folder with --output-dir")


def _save(trained, tok, history, summary: dict, cfg: TrainConfig) -> None:
    """Write the model into a temporary sibling folder and rename it into place when complete: a
    run killed while saving leaves output_dir as it was (an earlier result, or nothing)."""
    import shutil
    import tempfile

    out = Path(os.path.abspath(cfg.output_dir))  # "." too has a parent to stage in
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        trained.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        write_model_lineage(tmp, summary["lineage"])
        (tmp / "log_history.json").write_text(json.dumps(history, indent=2) + "\n")
        summary.update({"output_dir": str(Path(cfg.output_dir)), "config": cfg.to_dict()})
        (tmp / "preference_eval.json").write_text(json.dumps(
            {"before": summary["preference_before"], "after": summary["preference_after"],
             "pairs": summary["eval_pairs"], "split": cfg.eval_split}, indent=2) + "\n")
        (tmp / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        old = out.parent / f".{out.name}.replaced-{tmp.name.rsplit('-', 1)[-1]}"
        if out.exists():
            os.replace(out, old)  # the earlier result (or an empty folder) steps aside...
        try:
            os.replace(tmp, out)  # ...and the complete new one takes its place
        except OSError as e:
            if old.exists():
                os.replace(old, out)  # the earlier result goes back: output_dir stays as it was
            raise PairforgeError(f"output_dir: cannot move the trained model into {out}: {e.strerror}") from None
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
