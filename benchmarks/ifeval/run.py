"""Do pairforge's pairs teach? Base vs SFT vs IPO vs SFT->IPO on verifiable constraints, with the
power to tell them apart.

    python -m benchmarks.ifeval.run --quick     # tiny random model, minutes: a check that can fail
    python -m benchmarks.ifeval.run             # the full run (~100 min on 2 CPU cores), resumable

Design (fixed before the run; see README.md beside this file):
- Data: Alpaca rows with one or two IFEval constraints appended; the chosen answer is the row's
  answer cut to ~40 words (the short-answer regime: every family is decided within ~100 tokens)
  and rewritten to pass; splits by a hash of the prompt: train / dev (pilot only) / test (>= 200).
- Pairs: `pairforge build recipes/constraints.yaml`, the shipped function-judge example: the model
  being trained samples 4 answers per train prompt (on-policy, as SPIN), the verifier scores them,
  the lowest-scored becomes the rejected answer and min_margin 1 drops pairs whose rejected
  answer passes (or chosen fails). The first N pairs are the training set.
- Arms at an equal budget of N examples: SFT on the same N chosen answers; IPO on the N pairs;
  SFT on N/2 then IPO on N/2; each at every training seed. Learning rates (and IPO's beta) come
  from a pilot that trains on the first pilot_pairs pairs and scores the dev prompts only.
- Primary endpoint: prompt-level strict pass on the test prompts; each comparison as a paired
  difference with its 95 % interval and an exact McNemar p (per seed) and pooled over seeds (a
  t interval and a sign-flip permutation p). IFBench is reported beside it, descriptively.
- Every step (build, each training, each evaluation) stores its result under WORKDIR/steps/; a
  run killed at any point continues where it stopped when started again with the same arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import arms
from .make_sft import ALPACA, read_jsonl, write_splits

QUICK = dict(rows=80, build_prompts=16, train_pairs=8, pilot_pairs=8, dev_prompts=4, test_prompts=8,
             ifbench_limit=0, ifbench_max_new_tokens=16, batch=2, max_length=192, max_new_tokens=16,
             build_max_tokens=12, samples=2, sft_lrs="1e-3", ipo_grid="1e-3:0.5", seeds="0", rank=4,
             backend="transformers", threads=1, short_words=40, test_frac=0.25)
FULL = dict(rows=None, build_prompts=150, train_pairs=128, pilot_pairs=64, dev_prompts=64, test_prompts=None,
            ifbench_limit=32, ifbench_max_new_tokens=256, batch=4, max_length=256, max_new_tokens=128,
            build_max_tokens=128, samples=2, sft_lrs="2e-4,1e-3", ipo_grid="2e-4:0.5,1e-3:0.5", seeds="0,1",
            rank=16, backend="vllm", threads=2, short_words=40, test_frac=0.25)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny random model, a few prompts (minutes)")
    ap.add_argument("--workdir", default="/tmp/pairforge-outcome")
    ap.add_argument("--data", help=f"Alpaca JSON array (default: {ALPACA})")
    ap.add_argument("--rows", type=int, help="Alpaca rows read (default: all)")
    for name in ("build_prompts", "train_pairs", "pilot_pairs", "dev_prompts", "test_prompts", "ifbench_limit",
                 "ifbench_max_new_tokens", "batch", "max_length", "max_new_tokens", "build_max_tokens", "samples",
                 "rank", "threads", "short_words"):
        ap.add_argument("--" + name.replace("_", "-"), type=int)
    ap.add_argument("--test-frac", type=float)
    ap.add_argument("--sft-lrs", help="pilot grid of SFT learning rates, comma-separated")
    ap.add_argument("--ipo-grid", help="pilot grid of IPO lr:beta, comma-separated")
    ap.add_argument("--seeds", help="training seeds, comma-separated")
    ap.add_argument("--backend", choices=["transformers", "vllm"], help="generation backend (build and evaluation)")
    a = ap.parse_args(argv)
    for k, v in (QUICK if a.quick else FULL).items():
        if getattr(a, k, None) is None:
            setattr(a, k, v)
    a.data = a.data or str(ALPACA)
    if not Path(a.data).is_file():
        ap.error(f"--data {a.data}: no such file; give the Alpaca JSON file (the shared "
                 "alpaca_cleaned_1000.json, or any JSON array of instruction/input/output rows)")
    return a


class Steps:
    """Each finished step's result as WORKDIR/steps/NAME.json (written last, atomically)."""

    def __init__(self, work: Path):
        self.dir = work / "steps"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.resumed: list[str] = []

    def __call__(self, name: str, fn):
        path = self.dir / f"{name}.json"
        if path.is_file():
            self.resumed.append(name)
            return json.loads(path.read_text())
        t0 = time.perf_counter()
        result = fn()
        result = {**result, "step_seconds": round(time.perf_counter() - t0, 1)}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
        tmp.rename(path)
        print(f"[outcome] {name}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        return result


def prepare(a, work: Path, step: Steps) -> dict:
    def data():
        rows = json.loads(Path(a.data).read_text())[: a.rows]
        stats = write_splits(rows, work / "sft", dev_frac=0.1, test_frac=a.test_frac, short_words=a.short_words)
        used = {}
        for split, n in (("train", a.build_prompts), ("dev", a.dev_prompts), ("test", a.test_prompts)):
            part = read_jsonl(work / "sft" / f"{split}.jsonl", n)
            _write_jsonl(work / f"{split}.jsonl", part)
            used[split] = len(part)
        return {"sft_data": stats, "prompts_used": used}

    def model():
        from .weights import smollm2_folder, tiny_model

        if a.quick:
            corpus = [r["prompt"] + " " + r["response"] for r in read_jsonl(work / "sft" / "train.jsonl")]
            return {"model": tiny_model(work / "tiny-model", corpus)}
        return {"model": smollm2_folder()}

    d, m = step("data", data), step("model", model)
    weak = m["model"] if a.quick else "smollm2-135m-instruct"  # the built-in name: the same weights, on-policy
    sets = [f"weak_model.backend={a.backend}", f"weak_model.sampling.n={a.samples}",
            f"weak_model.sampling.max_tokens={a.build_max_tokens}"]
    b = step("build", lambda: arms.build_pairs(work / "train.jsonl", weak, work / "pairs", work / "logs", sets,
                                               threads=a.threads))
    return {**d, **m, "build": b}


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def subsets(work: Path, sizes: dict) -> dict:
    """The first N pairs (in source order) as a preference folder and their chosen answers as SFT rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.concat_tables([pq.read_table(f) for f in sorted((work / "pairs" / "data").glob("train-*.parquet"))])
    table = table.sort_by([("source_index", "ascending"), ("turn_index", "ascending")])
    out = {"pairs_available": table.num_rows}
    for name, n in sizes.items():
        part = table.slice(0, n)
        folder = work / f"pairs-{name}" / "data"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(part.select(["prompt", "chosen", "rejected"]), folder / "train-00000-of-00001.parquet")
        _write_jsonl(work / f"sft-{name}.jsonl", [
            {"prompt": r["prompt"][-1]["content"], "response": r["chosen"][0]["content"]}
            for r in part.select(["prompt", "chosen"]).to_pylist()])
        out[name] = part.num_rows
    swapped = table.slice(0, sizes["train"])
    swapped = swapped.select(["prompt", "rejected", "chosen"]).rename_columns(["prompt", "chosen", "rejected"])
    (work / "pairs-swapped" / "data").mkdir(parents=True, exist_ok=True)
    pq.write_table(swapped, work / "pairs-swapped" / "data" / "train-00000-of-00001.parquet")
    return out


def train_kw(a) -> dict:
    return dict(rank=a.rank, batch=a.batch, max_length=a.max_length, threads=a.threads)


def evaluate(a, work: Path, step: Steps, model_dir: str, split: str, tag: str, ifbench: bool) -> dict:
    def run():
        return arms.evaluate(model_dir, work / f"{split}.jsonl", work / "evals" / f"{split}-{tag}.json", work / "logs",
                             a.backend, a.max_new_tokens, None, ifbench and a.ifbench_limit > 0, a.ifbench_limit,
                             a.threads, a.ifbench_max_new_tokens)
    return step(f"eval-{split}-{tag}", run)


def pilot(a, work: Path, step: Steps, base: str, n: int) -> dict:
    """Train each grid point on the pilot pairs (seed 0), score the dev prompts; the best is kept."""
    steps, models, trials = max(1, n // a.batch), work / "models", []
    for lr in _floats(a.sft_lrs):
        tag = f"pilot-sft-lr{lr:g}"
        info = step(tag, lambda: arms.train_sft(base, work / "sft-pilot.jsonl", models / tag, work / "logs",
                                                steps=steps, lr=lr, **train_kw(a)))
        dev = evaluate(a, work, step, info["output_dir"], "dev", tag, False)
        trials.append({"arm": "sft", "lr": lr, "tag": tag, "train": info, "dev": dev["indist"]["pass_rate"]})
    for point in a.ipo_grid.split(","):
        lr, beta = (float(x) for x in point.split(":"))
        tag = f"pilot-ipo-lr{lr:g}-b{beta:g}"
        info = step(tag, lambda: arms.train_ipo(base, work / "pairs-pilot", models / tag, work / "logs",
                                                steps=steps, lr=lr, beta=beta, **train_kw(a)))
        dev = evaluate(a, work, step, info["output_dir"], "dev", tag, False)
        trials.append({"arm": "ipo", "lr": lr, "beta": beta, "tag": tag, "train": info,
                       "dev": dev["indist"]["pass_rate"]})
    base_dev = evaluate(a, work, step, base, "dev", "base", False)["indist"]["pass_rate"]
    best = {arm: max((t for t in trials if t["arm"] == arm), key=lambda t: t["dev"] or 0.0) for arm in ("sft", "ipo")}
    return {"trials": trials, "best": best, "base_dev": base_dev, "pairs": n, "steps": steps}


def _floats(text: str) -> list[float]:
    return [float(x) for x in str(text).split(",") if x.strip()]


def train_arms(a, work: Path, step: Steps, base: str, best: dict, n: int) -> dict:
    """Every arm at every seed, each seeing n examples (SFT->IPO: n/2 + n/2)."""
    full, half = max(1, n // a.batch), max(1, n // a.batch // 2)
    sft, ipo, models, out = best["sft"], best["ipo"], work / "models", {}
    for seed in (int(s) for s in a.seeds.split(",")):
        kw = dict(train_kw(a), seed=seed)
        out[("sft", seed)] = step(f"sft-s{seed}", lambda: arms.train_sft(
            base, work / "sft-train.jsonl", models / f"sft-s{seed}", work / "logs", steps=full, lr=sft["lr"], **kw))
        out[("ipo", seed)] = step(f"ipo-s{seed}", lambda: arms.train_ipo(
            base, work / "pairs-train", models / f"ipo-s{seed}", work / "logs", steps=full, lr=ipo["lr"],
            beta=ipo["beta"], **kw))
        first = step(f"sft-half-s{seed}", lambda: arms.train_sft(
            base, work / "sft-train.jsonl", models / f"sft-half-s{seed}", work / "logs", steps=half, lr=sft["lr"],
            **kw))
        out[("sft+ipo", seed)] = step(f"sft+ipo-s{seed}", lambda: arms.train_ipo(
            first["output_dir"], work / "pairs-train", models / f"sft+ipo-s{seed}", work / "logs", steps=full - half,
            lr=ipo["lr"], beta=ipo["beta"], **kw))
    return out


def test_evals(a, work: Path, step: Steps, base: str, trained: dict) -> dict:
    seeds = [int(s) for s in a.seeds.split(",")]
    evals = {("base", None): evaluate(a, work, step, base, "test", "base", True)}
    for (arm, seed), info in trained.items():
        evals[(arm, seed)] = evaluate(a, work, step, info["output_dir"], "test", f"{arm}-s{seed}", seed == seeds[0])
    return evals


def main(argv=None):
    a = parse_args(argv)
    work = Path(a.workdir)
    work.mkdir(parents=True, exist_ok=True)
    _check_same_config(work, a)
    t0, step = time.perf_counter(), Steps(work)
    prep = prepare(a, work, step)
    sizes = step("subsets", lambda: subsets(work, {"pilot": a.pilot_pairs, "train": a.train_pairs}))
    n = sizes["train"]
    pil = pilot(a, work, step, prep["model"], sizes["pilot"])
    trained = train_arms(a, work, step, prep["model"], pil["best"], n)
    evals = test_evals(a, work, step, prep["model"], trained)
    from .outcome_report import check_quick, report

    margins = check_quick(a, work, step, prep["model"], n) if a.quick else None
    command = "python -m benchmarks.ifeval.run " + " ".join(sys.argv[1:] if argv is None else argv)
    result = report(a, work, command.strip(), prep, sizes, pil, trained, evals, margins,
                    round(time.perf_counter() - t0, 1), step.resumed)
    print(result["markdown"])
    return result


def _check_same_config(work: Path, a) -> None:
    """A resumed run must use the arguments it started with (finished steps would mix settings)."""
    cfg = {k: v for k, v in vars(a).items() if k not in ("workdir",)}
    path = work / "config.json"
    if path.is_file():
        before = json.loads(path.read_text())
        changed = sorted(k for k in set(before) | set(cfg) if before.get(k) != cfg.get(k))
        if changed:
            sys.exit(f"Error: {work} holds a run with other settings ({', '.join(changed)}); "
                     "use another --workdir or the same arguments")
    else:
        path.write_text(json.dumps(cfg, indent=2) + "\n")


if __name__ == "__main__":
    main()
