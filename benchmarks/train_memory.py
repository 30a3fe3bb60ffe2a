"""Peak memory and step time of `pairforge train-ipo` under TRL's / transformers' own switches.

Each configuration runs as its own `pairforge train-ipo` process (SmolLM2-135M-Instruct, LoRA,
the same build folder, the same steps); peak RSS is that process's `ru_maxrss` (os.wait4), the
step time comes from its train_summary.json. Configurations run interleaved, `--repeats` times;
medians are reported, with ratios against the first configuration (the old defaults).

    python benchmarks/train_memory.py --dataset out/pairs --steps 6            # max_length 1024, train-ipo's default
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIGS = {  # the old defaults first (the baseline); the last is what train-ipo does now with LoRA
    "old defaults": ["gradient_checkpointing=false", "precompute_ref_log_probs=false"],
    "+ gradient checkpointing": ["gradient_checkpointing=true", "precompute_ref_log_probs=false"],
    "+ precompute_ref_log_probs": ["gradient_checkpointing=true", "precompute_ref_log_probs=true"],
    # with LoRA the reference is the same weights with the adapter off: precomputing saves no memory and
    # costs a pass over the whole train split before step 1, so train-ipo leaves it off there
    "pairforge defaults (LoRA)": [],
}
# padding_free is not measured: TRL 1.16's DPOTrainer warns and pads anyway without flash attention (CPU);
# use_logits_to_keep is not a DPOConfig field in TRL 1.16.


def run_one(dataset: str, steps: int, max_length: int, sets: list[str], out: Path) -> dict:
    args = [sys.executable, "-m", "pairforge.cli", "train-ipo", "--dataset", dataset, "--model",
            "smollm2-135m-instruct", "--output-dir", str(out), "--json", "--set", f"max_steps={steps}",
            "--set", f"max_length={max_length}", "--set", "lora.enabled=true", "--set", "learning_rate=2e-4",
            "--set", "per_device_train_batch_size=4"]
    for s in sets:
        args += ["--set", s]
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    stdout = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"train-ipo failed for {sets}: exit status {status}")
    s = json.loads(stdout)
    return {"peak_rss_gib": usage.ru_maxrss / 2**20, "s_per_step": s["seconds_per_step"],
            "wall_s": time.perf_counter() - t0,
            "reward_accuracy": (s["preference_after"] or {}).get("reward_accuracy")}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", required=True, help="a pairforge build folder")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--max-length", type=int, default=1024, help="train-ipo's default")
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pairforge-train-mem-"))
    results: dict[str, list[dict]] = {name: [] for name in CONFIGS}
    for r in range(args.repeats):
        for i, (name, sets) in enumerate(CONFIGS.items()):
            results[name].append(run_one(args.dataset, args.steps, args.max_length, sets, work / f"{r}-{i}"))
            print(name, results[name][-1], file=sys.stderr)
    base = None
    print(f"| configuration | peak RSS (GiB) | s/step | process wall s | RSS ratio | step ratio | wall ratio |"
          " held-out reward acc. |")
    print("|---|---|---|---|---|---|---|---|")
    for name, runs in results.items():
        rss = statistics.median(x["peak_rss_gib"] for x in runs)
        step = statistics.median(x["s_per_step"] for x in runs)
        wall = statistics.median(x["wall_s"] for x in runs)
        base = base or (rss, step, wall)
        print(f"| {name} | {rss:.2f} | {step:.2f} | {wall:.0f} | {rss / base[0]:.2f} | {step / base[1]:.2f} | "
              f"{wall / base[2]:.2f} | "
              f"{runs[-1]['reward_accuracy']} |")


if __name__ == "__main__":
    main()
