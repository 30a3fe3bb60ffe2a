"""SFT on the chosen answers only: TRL SFTTrainer, LoRA, loss on the completion, CPU-friendly.

    python -m benchmarks.ifeval.train_sft --model DIR --data train.jsonl --out DIR --steps 40 --lr 2e-4

The LoRA adapter is merged and the full model saved, so it can be evaluated or trained further
(`pairforge train-ipo --model OUT` is the SFT->IPO arm).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import time
from pathlib import Path


def train_sft(model_dir: str, rows: list[dict], out: str, steps: int, lr: float, rank: int = 16,
              batch: int = 4, max_length: int = 512, seed: int = 0, threads: int = 1) -> dict:
    import datasets
    import torch
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    torch.set_num_threads(threads)
    tok = AutoTokenizer.from_pretrained(model_dir)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    data = datasets.Dataset.from_list([
        {"prompt": [{"role": "user", "content": r["prompt"]}],
         "completion": [{"role": "assistant", "content": r["response"]}]} for r in rows])
    args = SFTConfig(output_dir=out, max_steps=steps, learning_rate=lr, per_device_train_batch_size=batch,
                     max_length=max_length, completion_only_loss=True, use_cpu=True, bf16=False, report_to=[],
                     save_strategy="no", logging_steps=1, seed=seed, lr_scheduler_type="linear",
                     disable_tqdm=True)
    lora = LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules="all-linear",
                      task_type="CAUSAL_LM")
    trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tok, peft_config=lora)
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):
        result = trainer.train()
    secs = time.perf_counter() - t0
    merged = trainer.model.merge_and_unload()
    tmp = Path(f"{out}.tmp-save")
    shutil.rmtree(tmp, ignore_errors=True)
    merged.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    summary = {"output_dir": out, "steps": trainer.state.global_step, "train_rows": len(rows),
               "train_loss": round(result.training_loss, 6), "train_seconds": round(secs, 2),
               "seconds_per_step": round(secs / max(1, trainer.state.global_step), 3),
               "config": {"lr": lr, "rank": rank, "batch": batch, "max_length": max_length, "seed": seed}}
    (tmp / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    shutil.rmtree(out, ignore_errors=True)  # a run killed before this point left no finished folder
    tmp.rename(out)
    return summary


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True, help="JSONL rows with prompt and response")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    rows = [json.loads(x) for x in Path(a.data).read_text().splitlines() if x.strip()][: a.limit]
    s = train_sft(a.model, rows, a.out, a.steps, a.lr, a.rank, a.batch, a.max_length, a.seed, a.threads)
    print(json.dumps(s))


if __name__ == "__main__":
    main()
