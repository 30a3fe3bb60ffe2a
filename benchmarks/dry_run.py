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


def alpaca_recipe(n: int, work: Path) -> Path:
    """The demo recipe on the first n alpaca rows (same model, backend, sampling, batching)."""
    demo = (ROOT / "recipes" / "demo.yaml").read_text()
    data = work / f"alpaca-{n}.json"
    data.write_text(json.dumps(json.loads(ALPACA.read_text())[:n]))
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipes", nargs="*", default=["demo"], help="recipes (a shipped name or a file)")
    ap.add_argument("--prompts", type=int, default=128, help="also the demo recipe on this many alpaca rows (0: not)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="pf-dry-") as tmp:
        work = Path(tmp)
        recipes = list(a.recipes) + ([str(alpaca_recipe(a.prompts, work))] if a.prompts else [])
        rows = [measure(r, work / f"out-{k}") for k, r in enumerate(recipes)]
    print(json.dumps(rows, indent=2))
    print("| recipe | prompts | estimate s | generation s | estimate/actual | dry-run wall / build wall | load avg |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {Path(r['recipe']).name} | {r['prompts']} | {r['estimate_s']} | {r['generate_s']} | "
              f"{r['estimate/actual']} | {r['dry_run_wall_s']} / {r['build_wall_s']} = {r['dry/build wall']} | "
              f"{r['load_average']['dry']}, {r['load_average']['build']} |")


if __name__ == "__main__":
    main()
