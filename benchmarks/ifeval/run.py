"""Do pairforge's pairs teach instruction following? Four arms at an equal training budget.

    python -m benchmarks.ifeval.run --quick          # tiny random model, a few prompts: CI smoke
    python -m benchmarks.ifeval.run --train-prompts 40 --steps 4 --dev-prompts 8 --test-prompts 16 \
        --ifbench-limit 16                             # a small real run (SmolLM2-135M-Instruct)
    python -m benchmarks.ifeval.run                  # the full run

Steps: make_sft (Alpaca + IFEval constraints, rewritten answers) -> `pairforge build` with the
model itself as the weak model (rejected = its own answer) -> arms: base; SFT on chosen (TRL
SFTTrainer, LoRA); IPO on the pairs (`pairforge train-ipo`, LoRA); SFT then IPO (half the steps
each). Every trained arm sees `steps x batch` examples. Learning rate and IPO beta are chosen by
the dev split's pass rate (never by IFBench); SFT->IPO reuses the chosen SFT lr and IPO lr/beta.
Output: WORKDIR/results.json and WORKDIR/results.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import arms
from .make_sft import ALPACA, read_jsonl, write_splits
from .report import markdown
from .weights import smollm2_folder, tiny_model

QUICK = dict(rows=80, train_prompts=16, dev_prompts=4, test_prompts=4, ifbench_limit=4, steps=2, batch=2,
             max_length=256, max_new_tokens=16, build_max_tokens=12, sft_lrs="1e-3", ipo_lrs="1e-3", betas="0.1",
             rank=4, backend="transformers")
# train_prompts None: steps x batch, i.e. one epoch of the budget (pairforge build only what is trained on)
FULL = dict(rows=None, train_prompts=None, dev_prompts=40, test_prompts=None, ifbench_limit=None, steps=24,
            batch=4, max_length=384, max_new_tokens=256, build_max_tokens=192, sft_lrs="1e-4,3e-4",
            ipo_lrs="1e-4", betas="0.1,0.5", rank=16, backend="vllm")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny random model, a few prompts (minutes)")
    ap.add_argument("--workdir", default="/tmp/pairforge-ifeval")
    ap.add_argument("--data", default=str(ALPACA))
    ap.add_argument("--rows", type=int, help="Alpaca rows read (default: all)")
    for name in ("train_prompts", "dev_prompts", "test_prompts", "ifbench_limit", "steps", "batch", "max_length",
                 "max_new_tokens", "build_max_tokens", "rank"):
        ap.add_argument("--" + name.replace("_", "-"), type=int)
    for name in ("sft_lrs", "ipo_lrs", "betas"):
        ap.add_argument("--" + name.replace("_", "-"), help="comma-separated grid, chosen on dev")
    ap.add_argument("--backend", choices=["transformers", "vllm"], help="generation backend for evaluation")
    ap.add_argument("--build-backend", choices=["transformers", "vllm"],
                    help="pairforge build's weak-model backend (default: --backend)")
    a = ap.parse_args(argv)
    base = QUICK if a.quick else FULL
    for k, v in base.items():
        if getattr(a, k, None) is None:
            setattr(a, k, v)
    if a.train_prompts is None:
        a.train_prompts = a.steps * a.batch
    return a


def grid(text: str) -> list[float]:
    return [float(x) for x in str(text).split(",") if x.strip()]


def prepare(a, work: Path) -> dict:
    """SFT splits, the subsets used, the model folder; the preference pairs from pairforge build."""
    rows = json.loads(Path(a.data).read_text())[: a.rows]
    stats = write_splits(rows, work / "sft")
    used = {}
    for split, n in (("train", a.train_prompts), ("dev", a.dev_prompts), ("test", a.test_prompts)):
        part = read_jsonl(work / "sft" / f"{split}.jsonl", n)
        (work / f"{split}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part))
        used[split] = len(part)
    if a.quick:
        corpus = [r["prompt"] for r in read_jsonl(work / "train.jsonl")] + [r["output"] for r in rows]
        model = weak = tiny_model(work / "tiny-model", corpus)
    else:
        model, weak = smollm2_folder(), "smollm2-135m-instruct"
    build = arms.build_pairs(work / "train.jsonl", weak, work / "pairs", work / "logs", a.build_max_tokens,
                             backend=a.build_backend or a.backend, batch=8 if a.quick else 16)
    return {"sft_data": stats, "prompts_used": used, "model": model, "build": build}


def dev_score(a, work: Path, model_dir: str, tag: str) -> float:
    r = arms.evaluate(model_dir, work / "dev.jsonl", work / "evals" / f"dev-{tag}.json", work / "logs", a.backend,
                      a.max_new_tokens, None, False, None)
    return r["indist"]["pass_rate"] or 0.0


def select(a, work: Path, base: str) -> dict:
    """Train each grid point at the full budget, keep the best by dev pass rate (first wins ties)."""
    t = dict(steps=a.steps, rank=a.rank, batch=a.batch, max_length=a.max_length)
    models, trials = work / "models", []
    for lr in grid(a.sft_lrs):
        tag = f"sft-lr{lr:g}"
        info = arms.train_sft(base, work / "train.jsonl", models / tag, work / "logs", lr=lr, **t)
        trials.append({"arm": "sft", "lr": lr, "tag": tag, "train": info,
                       "dev": dev_score(a, work, info["output_dir"], tag)})
    for lr in grid(a.ipo_lrs):
        for beta in grid(a.betas):
            tag = f"ipo-lr{lr:g}-b{beta:g}"
            info = arms.train_ipo(base, work / "pairs", models / tag, work / "logs", lr=lr, beta=beta, **t)
            trials.append({"arm": "ipo", "lr": lr, "beta": beta, "tag": tag, "train": info,
                           "dev": dev_score(a, work, info["output_dir"], tag)})
    best = {arm: max((x for x in trials if x["arm"] == arm), key=lambda x: x["dev"]) for arm in ("sft", "ipo")}
    return {"trials": trials, "best": best}


def sft_then_ipo(a, work: Path, base: str, best: dict) -> dict:
    half, rest = a.steps // 2, a.steps - a.steps // 2
    t = dict(rank=a.rank, batch=a.batch, max_length=a.max_length)
    models = work / "models"
    s = arms.train_sft(base, work / "train.jsonl", models / "sft-half", work / "logs", steps=max(1, half),
                       lr=best["sft"]["lr"], **t)
    i = arms.train_ipo(s["output_dir"], work / "pairs", models / "sft-ipo", work / "logs", steps=rest,
                       lr=best["ipo"]["lr"], beta=best["ipo"]["beta"], **t)
    return {"sft": s, "ipo": i, "output_dir": i["output_dir"]}


def final_eval(a, work: Path, arm_models: dict) -> dict:
    out = {}
    for arm, model_dir in arm_models.items():
        out[arm] = arms.evaluate(model_dir, work / "test.jsonl", work / "evals" / f"test-{arm}.json",
                                 work / "logs", a.backend, a.max_new_tokens, None, True, a.ifbench_limit)
    return out


def main(argv=None):
    a = parse_args(argv)
    work = Path(a.workdir)
    work.mkdir(parents=True, exist_ok=True)
    t0, seconds = time.perf_counter(), {}
    prep = prepare(a, work)
    seconds["prepare"] = round(time.perf_counter() - t0, 1)
    sel = select(a, work, prep["model"])
    seconds["select"] = round(time.perf_counter() - t0 - seconds["prepare"], 1)
    combo = sft_then_ipo(a, work, prep["model"], sel["best"])
    arm_models = {"base": prep["model"], "sft": sel["best"]["sft"]["train"]["output_dir"],
                  "ipo": sel["best"]["ipo"]["train"]["output_dir"], "sft+ipo": combo["output_dir"]}
    t1 = time.perf_counter()
    results = final_eval(a, work, arm_models)
    seconds["final_eval"] = round(time.perf_counter() - t1, 1)
    seconds["total"] = round(time.perf_counter() - t0, 1)
    command = "python -m benchmarks.ifeval.run " + " ".join(sys.argv[1:] if argv is None else argv)
    report = {"command": command.strip(), "config": {k: v for k, v in vars(a).items()}, "prepare": prep, "selection": sel,
              "sft_then_ipo": combo, "arms": arm_models, "results": results, "seconds": seconds}
    (work / "results.json").write_text(json.dumps(report, indent=2) + "\n")
    (work / "results.md").write_text(markdown(report))
    print(markdown(report))
    return report


if __name__ == "__main__":
    main()
