"""The dry run against the build it estimates: estimate vs the build's generation seconds, and the
dry run's wall time vs the build's.

    python benchmarks/dry_run.py                        # the demo, and 128 alpaca prompts like it
    python benchmarks/dry_run.py --recipes demo --prompts 0   # the demo only

Each recipe: `pairforge build R --dry-run --json` in a fresh process, then `pairforge build R --json`
(a fresh output folder) in another, one after the other; wall times from the parent, the estimate from
the dry run's JSON, the generation time from the build's stats.json (`seconds.generate`; loading the
model is reported apart by both). The load average is printed before and after each process: on a
shared machine the two runs do not see the same load, so say so with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALPACA = ROOT.parent / "shared" / "data" / "alpaca_cleaned_1000.json"


def alpaca_recipe(n: int, work: Path, short: bool = False) -> Path:
    """The demo recipe on the first n alpaca rows (`short`: of those whose output is under 300
    characters) (same model, backend, sampling, batching)."""
    demo = (ROOT / "recipes" / "demo.yaml").read_text()
    data = work / f"alpaca-{n}.json"
    rows = [r for r in json.loads(ALPACA.read_text()) if not short or len(r["output"]) < 300]
    data.write_text(json.dumps(rows[:n]))
    path = work / f"alpaca-{n}.yaml"
    path.write_text(demo.replace("path: sft.jsonl", f"path: {data}").replace("out/demo", str(work / f"out-alpaca-{n}")))
    return path


def run(args: list[str]) -> tuple[dict, float, str]:
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "pairforge.cli", *args], cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if res.returncode:
        sys.exit(f"{' '.join(args)} failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout), wall, f"{load:.1f}->{os.getloadavg()[0]:.1f}"


def measure(recipe: str, out: Path) -> dict:
    dry, dry_wall, dry_load = run(["build", recipe, "--dry-run", "--json", "-q", "--set", f"output.dir={out}"])
    built, build_wall, build_load = run(["build", recipe, "--json", "-q", "--set", f"output.dir={out}"])
    est, gen = dry["estimate"]["seconds"], built["seconds"]["generate"]
    return {"recipe": recipe, "prompts": dry["prompts_to_send"], "estimate_s": est, "generate_s": gen,
            "estimate/actual": round(est / gen, 3), "upper_bound_s": dry["estimate"]["seconds_upper_bound"],
            "load_model_s": {"dry": dry["seconds"]["load_model"], "build": built["seconds"]["load_model"]},
            "dry_run_wall_s": round(dry_wall, 1), "build_wall_s": round(build_wall, 1),
            "dry/build wall": round(dry_wall / build_wall, 3), "sample": dry["estimate"]["sample"],
            "load_average": {"dry": dry_load, "build": build_load}}


def build_calls_child(recipe: str, out: str) -> None:
    """The build, in this process, its backend wrapped in the dry run's own call recorder
    (gen_estimate.Recorder): every generation call's kind, width, decode steps and seconds, as JSON."""
    from dataclasses import asdict

    import pairforge.backends as backends
    from pairforge.cli import cli
    from pairforge.pipeline.gen_estimate import Recorder

    made, real = [], backends.make_backend

    def recorded(*a, **k):
        made.append(Recorder(real(*a, **k)))
        return made[-1]

    backends.make_backend = recorded
    try:
        cli(["build", recipe, "-q", "--set", f"output.dir={out}"], prog_name="pairforge")
    except SystemExit as e:
        if e.code:
            raise
    print(json.dumps([asdict(c) for r in made for c in r.calls]))


def per_call(dry: dict, calls: list[dict]) -> dict:
    """The dry run's cost model on the build's own calls (their real widths and decode steps): how much
    of the estimate's error is the cost of a step or a prefill (this) and how much the steps and
    widths it predicted (the rest)."""
    from pairforge.pipeline.gen_estimate import CostModel

    m = CostModel(**dry["estimate"]["model"])
    rows = [{"kind": c["kind"], "sequences": c["sequences"], "steps": c["steps"], "seconds": round(c["seconds"], 2),
             "costed": round(m.prefill * c["sequences"] / m.width + c["steps"] * m.step_at(c["sequences"]), 2)}
            for c in calls]
    actual, costed = sum(r["seconds"] for r in rows), sum(r["costed"] for r in rows)
    return {"calls": rows, "actual_s": round(actual, 1), "costed_with_real_steps_s": round(costed, 1),
            "cost_model_ratio": round(costed / actual, 3) if actual else None}


def measure_calls(recipe: str, out: Path) -> dict:
    """measure() with the build's calls recorded (--calls)."""
    dry, dry_wall, dry_load = run(["build", recipe, "--dry-run", "--json", "-q", "--set", f"output.dir={out}"])
    load, t0 = os.getloadavg()[0], time.perf_counter()
    res = subprocess.run([sys.executable, __file__, "--build-calls", recipe, str(out)], cwd=ROOT, capture_output=True,
                         text=True)
    if res.returncode:
        sys.exit(f"build failed:\n{res.stderr[-2000:]}")
    build_wall, calls = time.perf_counter() - t0, json.loads(res.stdout.strip().splitlines()[-1])
    gen = json.loads((out / "stats.json").read_text())["seconds"]["generate"]
    est = dry["estimate"]["seconds"]
    return {"recipe": recipe, "prompts": dry["prompts_to_send"], "estimate_s": est, "generate_s": gen,
            "estimate/actual": round(est / gen, 3), "upper_bound_s": dry["estimate"]["seconds_upper_bound"],
            "dry_run_wall_s": round(dry_wall, 1), "build_wall_s": round(build_wall, 1),
            "dry/build wall": round(dry_wall / build_wall, 3), "sample": dry["estimate"]["sample"],
            "model": dry["estimate"]["model"], "per_call": per_call(dry, calls),
            "load_average": {"dry": dry_load, "build": f"{load:.1f}->{os.getloadavg()[0]:.1f}"}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipes", nargs="*", default=["demo"], help="recipes (a shipped name or a file)")
    ap.add_argument("--prompts", type=int, default=128, help="also the demo recipe on this many alpaca rows (0: not)")
    ap.add_argument("--calls", action="store_true", help="record the build's calls and cost them with the dry "
                    "run's model (separates the cost of a step from the steps predicted)")
    ap.add_argument("--alpaca-short", action="store_true", help="the alpaca rows whose output is under 300 characters "
                    "(the README's newcomer recipe), not the first ones")
    ap.add_argument("--build-calls", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.build_calls:
        return build_calls_child(*a.build_calls)
    with tempfile.TemporaryDirectory(prefix="pf-dry-") as tmp:
        work = Path(tmp)
        recipes = list(a.recipes) + ([str(alpaca_recipe(a.prompts, work, a.alpaca_short))] if a.prompts else [])
        rows = [(measure_calls if a.calls else measure)(r, work / f"out-{k}") for k, r in enumerate(recipes)]
    print(json.dumps(rows, indent=2))
    print("| recipe | prompts | estimate s | generation s | estimate/actual | dry-run wall / build wall | load avg |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {Path(r['recipe']).name} | {r['prompts']} | {r['estimate_s']} | {r['generate_s']} | "
              f"{r['estimate/actual']} | {r['dry_run_wall_s']} / {r['build_wall_s']} = {r['dry/build wall']} | "
              f"{r['load_average']['dry']}, {r['load_average']['build']} |")


if __name__ == "__main__":
    main()
