"""The steps of a run as subprocesses: pairforge build, pairforge train-ipo, SFT, evaluation.

pairforge is driven through its CLI only (`python -m pairforge.cli ...`), so its internal layout may
change freely. Every child gets one torch/OpenMP thread, vLLM included: on a shared 2-core box two
threads made TRL steps much slower, and vLLM's OpenMP threads spin-wait when the CPUs are busy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _env(threads: int = 1) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               TOKENIZERS_PARALLELISM="false", PYTHONPATH=os.pathsep.join(
                   [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    return env


def run_json(args: list[str], log: Path, threads: int = 1) -> tuple[dict, float]:
    """Run `python ARGS`, stderr to `log`; the last stdout line that parses as JSON, and seconds."""
    t0 = time.perf_counter()
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as err:
        p = subprocess.run([sys.executable, *args], cwd=ROOT, env=_env(threads), stdout=subprocess.PIPE,
                           stderr=err, text=True)
    secs = time.perf_counter() - t0
    if p.returncode != 0:
        tail = log.read_text()[-3000:]
        raise RuntimeError(f"{' '.join(args[:4])} failed (exit {p.returncode}); log {log}:\n{tail}")
    out = p.stdout.strip()
    try:
        return json.loads(out), secs
    except ValueError:
        for line in reversed(out.splitlines()):
            try:
                return json.loads(line), secs
            except ValueError:
                continue
    return {"stdout": out[-2000:]}, secs


RECIPE = ROOT / "recipes" / "constraints.yaml"


def build_pairs(source: Path, weak_model: str, out: Path, logs: Path, sets: list[str] = (),
                threads: int = 1) -> dict:
    """`pairforge build recipes/constraints.yaml` (the shipped example: on-policy samples, the
    verifier as a function judge, rejected: lowest, min_margin 1) on `source`, no test split."""
    sets = [f"source.path={source}", f"weak_model.model={weak_model}", "weak_model.device=cpu",
            "split.test_size=0", f"output.dir={out}", *sets]
    args = ["-m", "pairforge.cli", "build", str(RECIPE), "--json", "-q"] + [x for s in sets for x in ("--set", s)]
    summary, secs = run_json(args, logs / "build.log", threads)
    return {"rows_read": summary.get("rows_read"), "rows_written": summary.get("rows_written"),
            "splits": summary.get("splits"), "drops": summary.get("drops"), "seconds": round(secs, 1),
            "summary": summary}


def train_ipo(model: str, pairs: Path, out: Path, logs: Path, steps: int, lr: float, beta: float, rank: int,
              batch: int, max_length: int, seed: int = 0, threads: int = 1) -> dict:
    # YAML 1.1 (pairforge's --set parser) reads 5e-05 as a string: always write a mantissa dot
    sets = [f"max_steps={steps}", f"learning_rate={lr:.6e}", f"beta={beta:.6e}", "loss_type=ipo", "lora.enabled=true",
            f"lora.r={rank}", f"lora.lora_alpha={2 * rank}", "lora.merge=true",
            f"per_device_train_batch_size={batch}", f"max_length={max_length}", "use_cpu=true", "bf16=false",
            "eval_max_pairs=32", f"seed={seed}", "gradient_checkpointing=false"]
    args = ["-m", "pairforge.cli", "train-ipo", "--dataset", str(pairs), "--model", model, "--output-dir", str(out),
            "--json"] + [x for s in sets for x in ("--set", s)]
    s, secs = run_json(args, logs / f"{out.name}.log", threads)
    return {"output_dir": str(out), "steps": s.get("steps"), "train_loss": s.get("train_loss"),
            "seconds_per_step": s.get("seconds_per_step"), "seconds": round(secs, 1),
            "preference_before": s.get("preference_before"), "preference_after": s.get("preference_after")}


def train_sft(model: str, data: Path, out: Path, logs: Path, steps: int, lr: float, rank: int, batch: int,
              max_length: int, seed: int = 0, threads: int = 1) -> dict:
    args = ["-m", "benchmarks.ifeval.train_sft", "--model", model, "--data", str(data), "--out", str(out),
            "--steps", str(steps), "--lr", str(lr), "--rank", str(rank), "--batch", str(batch),
            "--max-length", str(max_length), "--seed", str(seed), "--threads", str(threads)]
    s, secs = run_json(args, logs / f"{out.name}.log", threads)
    return {"output_dir": str(out), "steps": s.get("steps"), "train_loss": s.get("train_loss"),
            "seconds_per_step": s.get("seconds_per_step"), "seconds": round(secs, 1)}


def evaluate(model: str, data: Path, out: Path, logs: Path, backend: str, max_new_tokens: int,
             limit: int | None, ifbench: bool, ifbench_limit: int | None, threads: int = 1,
             ifbench_max_new_tokens: int | None = None) -> dict:
    args = ["-m", "benchmarks.ifeval.evaluate", "--model", model, "--data", str(data), "--out", str(out),
            "--backend", backend, "--max-new-tokens", str(max_new_tokens), "--threads", str(threads)]
    args += (["--limit", str(limit)] if limit else []) + ([] if ifbench else ["--no-ifbench"])
    args += ["--ifbench-limit", str(ifbench_limit)] if ifbench and ifbench_limit else []
    args += ["--ifbench-max-new-tokens", str(ifbench_max_new_tokens)] if ifbench and ifbench_max_new_tokens else []
    s, secs = run_json(args, logs / f"eval-{out.stem}.log", threads)
    return {**s, "seconds": round(secs, 1)}
