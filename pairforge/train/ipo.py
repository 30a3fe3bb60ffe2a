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
from .checks import check_lora_targets
from .config import TrainConfig, dpo_config


def load_preference_dataset(name: str, revision: str | None = None, token: str | None = None):
    """(a DatasetDict from a build folder or a Hub dataset id, the dataset's own lineage, its Hub commit or None)."""
    from ..data.load import load_hub, load_local

    path, commit = Path(name), None
    try:
        if path.is_dir():
            from ..pipeline.publish import MANIFEST, verify
            from ..pipeline.shards import WORK

            if any((path / f).exists() for f in ("stats.json", WORK, MANIFEST)):  # a pairforge build folder
                verify(path)
            dd = load_local(path, None, "dataset")
            stats = path / "stats.json"
            facts = json.loads(stats.read_text()) if stats.is_file() else None
            lineage = facts.get("lineage") if isinstance(facts, dict) else None
        elif path.is_absolute() or name.startswith(".") or name.count("/") > 1:
            raise DataError(f"dataset: {name}: no such folder")
        else:
            commit = _hub_commit(name, revision, token)  # lineage records the commit trained on, not a branch
            dd = load_hub(name, "dataset", revision=commit or revision, token=token)
            lineage = _hub_lineage(name, commit or revision, token)
    except DataError as e:
        raise PairforgeError(f"dataset: cannot load {name!r}: {str(e).removeprefix('dataset: ')}") from None
    except ValueError as e:  # a stats.json that is not JSON
        raise PairforgeError(f"dataset: {name!r}: its stats.json is not JSON ({type(e).__name__}); rebuild it") from None
    columns = set(dd["train"].column_names) if "train" in dd else None
    if columns is not None and {"chosen", "rejected"} <= columns and not columns & {"prompt", "question"}:
        dd, columns = _extract_prompt(name, dd), columns | {"prompt"}  # the messages layout
    _check_layout(name, columns)
    return dd, lineage, commit


def _extract_prompt(name: str, dd):
    """The messages layout (whole conversations, no prompt column) as TRL's DPOTrainer reads it: the
    shared prompt taken out with TRL's own extract_prompt, so the trainer and the held-out evaluation
    both see prompt / chosen / rejected (the conversational layout)."""
    from trl.data_utils import extract_prompt

    try:
        return dd.map(extract_prompt, desc="Extracting the prompt")
    except Exception as e:  # noqa: BLE001 — rows that are not conversations (empty, null, numbers)
        raise PairforgeError(f"dataset: {name!r} has chosen/rejected but no prompt column, and the shared prompt "
                             f"cannot be taken out of them ({type(e).__name__}); give whole conversations (the "
                             "messages layout) or a prompt column") from None


def _check_layout(name: str, columns: set | None) -> None:
    """train-ipo reads prompt/chosen/rejected (the conversational or standard layout; the messages
    layout after _extract_prompt); the intel layout has no prompt column: the error names the fix."""
    missing = {"prompt", "chosen", "rejected"} - columns if columns is not None else {"train split"}
    if not missing:
        return
    if columns is not None and "question" in columns:
        raise PairforgeError(f"dataset: {name!r} is in the 'intel' layout (no prompt column); train-ipo reads the "
                             "conversational or messages layout: rebuild it with output.format: conversational "
                             "(pairforge build RECIPE --set output.format=conversational)")
    raise PairforgeError(f"dataset: {name!r} lacks {', '.join(sorted(missing))}; build it with pairforge build")


def _hub_commit(name, revision, token) -> str | None:
    """The commit sha a Hub dataset's revision points at, read first (one request, no retries): a name
    that is no folder here and no dataset on the Hub, or an unreachable Hub, fails at once naming that."""
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import HfHubHTTPError

    from ..hub.errors import hub_error, network_errors, unreachable

    if constants.is_offline_mode():
        return None  # the load reads the local cache
    hint = f"dataset: no folder {name!r} here, and "
    try:
        return HfApi(token=token).dataset_info(name, revision=revision, files_metadata=False).sha
    except HfHubHTTPError as e:
        if getattr(e.response, "status_code", None) == 404:
            raise PairforgeError(f"{hint}the Hub at {constants.ENDPOINT} has no dataset {name}" +
                                 (f" at revision {revision!r}" if revision else "") +
                                 " (404); give a build folder or a Hub dataset id (a private one needs --token)") from None
        raise PairforgeError(hint + str(hub_error(e, name, "read", secrets=(token,)))) from None
    except network_errors() as e:
        raise PairforgeError(hint + str(unreachable(e, name, "run train-ipo again", secrets=(token,)))) from None


def _hub_lineage(name, revision, token):
    from huggingface_hub import hf_hub_download

    try:
        stats = json.loads(Path(hf_hub_download(name, "stats.json", repo_type="dataset", revision=revision,
                                                token=token)).read_text())
        return stats.get("lineage")
    except Exception:  # a dataset not built by pairforge has no stats.json: no lineage
        return None


def _load_model(name: str, dtype, check=None, where: str = "model"):
    from transformers import AutoModelForCausalLM

    from ..weights import materialise, resolve_model

    path, _ = materialise(resolve_model(name, where=where))  # `where`: the train config's key (model, ref_model)
    if check:
        check(path)  # before the weights load
    try:
        return path, AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    except OSError as e:  # a Hub id that does not exist or cannot be reached, a folder without a model
        raise PairforgeError(f"{where}: cannot load {name!r}: {str(e).strip().splitlines()[0] if str(e) else e}") from None


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


def run_train(cfg: TrainConfig, token: str | None = None, quiet: bool = False) -> dict:
    import torch
    from transformers import AutoTokenizer
    from trl import DPOTrainer

    from .preference_eval import preference_metrics, sequence_logps

    t0 = time.perf_counter()
    dd, ds_lineage, commit, eval_ds, evaluates = _prepare(cfg, token)
    cuda = torch.cuda.is_available()
    use_cpu = (not cuda) if cfg.use_cpu is None else cfg.use_cpu
    bf16 = (cuda and not use_cpu) if cfg.bf16 is None else cfg.bf16
    device, dtype = ("cuda" if cuda and not use_cpu else "cpu"), (torch.bfloat16 if bf16 else torch.float32)
    model_path, model = _load_model(cfg.model, dtype, lambda path: check_lora_targets(cfg, path))
    tok = AutoTokenizer.from_pretrained(model_path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    ref_model = _load_model(cfg.ref_model, dtype, where="ref_model")[1] if cfg.ref_model else None

    eval_rows = eval_ds.select(range(min(cfg.eval_max_pairs, eval_ds.num_rows))).to_list() if eval_ds else []
    before = ref_logps = None
    if eval_rows:
        ref_logps = sequence_logps((ref_model or model).to(device), tok, eval_rows, cfg.max_length)
        before = preference_metrics(ref_logps, ref_logps, cfg.beta) if ref_model is None else \
            _preference(model, tok, eval_rows, ref_logps, cfg, device)
    trainer = DPOTrainer(model=model, ref_model=ref_model, args=dpo_config(cfg, use_cpu, bf16, precompute_ref(cfg)),
                         train_dataset=dd["train"], eval_dataset=eval_ds if evaluates else None, processing_class=tok,
                         peft_config=_peft_config(cfg.lora))
    if quiet:  # no progress bar, no log line per step (the log history is still saved)
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        trainer.remove_callback(ProgressCallback)
        trainer.remove_callback(PrinterCallback)
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
        "lineage": model_lineage(ds_lineage, cfg.dataset, commit or cfg.dataset_revision, cfg.model, cfg.loss_type[0],
                                 cfg.beta),
    }
    _save(trained, tok, trainer.state.log_history, summary, cfg)
    summary["total_seconds"] = round(time.perf_counter() - t0, 2)
    if cfg.push_to_hub:
        from ..hub.model import push_model

        summary["hub"] = push_model(Path(cfg.output_dir), cfg, summary, token)
    return summary


def _prepare(cfg: TrainConfig, token):
    """Everything checked before a model loads: the config, the output folder, the dataset and its
    evaluation split. Returns (dataset dict, its lineage, its Hub commit or None, eval split, evaluates)."""
    from .checks import check_config, check_eval

    check_output_dir(Path(cfg.output_dir))  # before any work: the finished run replaces the folder
    check_config(cfg)
    dd, lineage, commit = load_preference_dataset(cfg.dataset, cfg.dataset_revision, token)
    eval_ds = dd[cfg.eval_split] if cfg.eval_split and cfg.eval_split in dd else None
    return dd, lineage, commit, eval_ds, check_eval(cfg, eval_ds is not None, list(dd))


def precompute_ref(cfg: TrainConfig) -> bool:
    """precompute_ref_log_probs as set, else on only without LoRA: with LoRA the reference is the
    base model with the adapter off (no second copy to free), so precomputing saves ~no memory and
    costs a forward pass over the whole train split before the first step."""
    value = cfg.dpo.get("precompute_ref_log_probs")
    return (not cfg.lora.enabled) if value is None else bool(value)


def check_output_dir(out: Path) -> None:
    """output_dir must be new, empty, or an earlier train-ipo result: a finished run replaces it whole."""
    sweep(out)
    if out.exists() and not out.is_dir():
        raise PairforgeError(f"output_dir {out} is a file; give a folder with --output-dir")
    if out.is_dir() and any(out.iterdir()) and not any((out / f).is_file() for f in ("train_summary.json", LINEAGE_FILE)):
        raise PairforgeError(f"output_dir {out} holds files that are not an earlier train-ipo result, and a finished "
                             "run replaces the whole folder; give a new or empty folder with --output-dir")


def sweep(out: Path) -> None:
    """What a run killed while saving left beside output_dir: its partial copy goes; an earlier result
    that had stepped aside (the kill came between the two renames) goes back."""
    import shutil

    out = Path(os.path.abspath(out))
    if not out.parent.is_dir():
        return
    for stale in sorted(out.parent.glob(f".{out.name}.*-*")):
        kind = stale.name[len(out.name) + 2:].split("-", 1)[0]
        if kind == "replaced" and not out.exists() and stale.is_dir():
            os.replace(stale, out)
        elif kind in ("partial", "replaced", "probe") and stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)


def _save(trained, tok, history, summary: dict, cfg: TrainConfig) -> None:
    """Write the model into a temporary sibling folder and rename it into place when complete: a
    run killed while saving leaves output_dir as it was (an earlier result, or nothing)."""
    import shutil
    import tempfile

    from .published import masked_config, public_summary

    out = Path(os.path.abspath(cfg.output_dir))  # "." too has a parent to stage in
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        trained.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        write_model_lineage(tmp, summary["lineage"])
        (tmp / "log_history.json").write_text(json.dumps(history, indent=2) + "\n")
        summary.update({"output_dir": str(Path(cfg.output_dir)), "config": masked_config(cfg.to_dict())})
        (tmp / "preference_eval.json").write_text(json.dumps(
            {"before": summary["preference_before"], "after": summary["preference_after"],
             "pairs": summary["eval_pairs"], "split": cfg.eval_split}, indent=2) + "\n")
        (tmp / "train_summary.json").write_text(json.dumps(public_summary(summary), indent=2) + "\n")  # pushed too
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
