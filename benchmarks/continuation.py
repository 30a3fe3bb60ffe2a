"""Nothing generated in vain: the demo (or any recipe) built with cut answers thrown away (continuation
off, the build of before) and with them continued (weak_model.continuation as the recipe sets it),
or any other ways (--arm: label and its --set values).

    python benchmarks/continuation.py                   # the demo, both ways (baseline: no continuation, no nudge)
    python benchmarks/continuation.py --recipe R --set weak_model.continuation.rounds=2
    python benchmarks/continuation.py --arm "nudged=weak_model.sampling.end_nudge.enabled=true;weak_model.continuation.rounds=0"

Reports, each way, from stats.json: prompts sent, pairs written and pairs per prompt, answers still
cut (dropped as rejected_truncated), tokens generated and tokens in the published pairs, and the
ratio of generated tokens to the build without continuation. Token counts do not depend on the
machine's load (the samples are seeded); the wall times do.
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


def build(recipe: str, out: Path, sets: list[str]) -> dict:
    args = [sys.executable, "-m", "pairforge.cli", "build", recipe, "--json", "-q", "--set", f"output.dir={out}"]
    for s in sets:
        args += ["--set", s]
    load, t0 = os.getloadavg()[0], time.perf_counter()
    res = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    if res.returncode:
        sys.exit(f"build failed:\n{res.stderr[-2000:]}")
    s = json.loads((out / "stats.json").read_text())
    g, sent = s["generation"], s["generation"]["prompts_sent_all_runs"]
    return {"sets": sets, "prompts_sent": sent, "pairs": s["rows_written"], "pairs_per_prompt": round(s["rows_written"] / sent, 3),
            "still_cut": s["drops"].get("filter_post", {}).get("rejected_truncated", 0),
            "drops_after_generation": s["drops"].get("filter_post", {}),
            "tokens_generated": g["tokens_generated"], "tokens_published": s["lengths"]["rejected"]["total"],
            "continued": g.get("continued", 0), "tokens_continued": g.get("tokens_continued", 0),
            "ended_after_nudge": g.get("ended_after_nudge", 0),
            "generate_s": s["seconds"]["generate"], "wall_s": round(time.perf_counter() - t0, 1),
            "load_average": f"{load:.1f}->{os.getloadavg()[0]:.1f}"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default="demo")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="applied to every build but the first")
    ap.add_argument("--arm", action="append", default=[], help="LABEL=SET;SET...: one more build (default: "
                    "'continued', the recipe as it is)")
    ap.add_argument("--keep", help="a folder to keep the builds in (to read their answers)")
    a = ap.parse_args()
    arms = [(label, [x for x in sets.split(";") if x]) for label, _, sets in (arm.partition("=") for arm in a.arm)]
    with tempfile.TemporaryDirectory(prefix="pf-cont-") as tmp:
        where = Path(a.keep or tmp)
        before = build(a.recipe, where / "off", ["weak_model.continuation.rounds=0",  # the build of before
                                                 "weak_model.sampling.end_nudge.enabled=false"])
        after = {label: build(a.recipe, where / f"arm{k}", a.sets + sets)
                 for k, (label, sets) in enumerate(arms or [("continued", [])])}
    for r in after.values():
        r["tokens_vs_before"] = round(r["tokens_generated"] / before["tokens_generated"], 3)
    print(json.dumps({"before": before, "after": after}, indent=2))
    print("| build | pairs / prompts | still cut | ended after nudge | tokens generated | tokens published | generated vs before |")
    print("|---|---|---|---|---|---|---|")
    for name, r in (("continuation off", before), *after.items()):
        print(f"| {name} | {r['pairs']} / {r['prompts_sent']} ({r['pairs_per_prompt']:.0%}) | {r['still_cut']} | "
              f"{r['ended_after_nudge']} | {r['tokens_generated']} | {r['tokens_published']} | "
              f"x{r['tokens_generated'] / before['tokens_generated']:.2f} |")


if __name__ == "__main__":
    main()
