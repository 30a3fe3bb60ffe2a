"""Local executor vs Ray executor (2 workers) for the same CPU build, as a wall-time ratio
measured in one run, with where the Ray time goes (cluster start, worker start-up incl. model
load, generation).

    python benchmarks/ray_overhead.py              # the demo recipe, SmolLM2, 64 new tokens
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--shard-size", type=int, default=12)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    import ray

    from pairforge.pipeline.build import run_build
    from pairforge.recipe import load_recipe

    work = Path(tempfile.mkdtemp(prefix="pairforge-bench-ray-"))

    def recipe(out):
        return load_recipe(None, [f"weak_model.sampling.max_tokens={args.max_tokens}", "weak_model.batch_size=12",
                                  f"generation.shard_size={args.shard_size}", f"generation.ray.concurrency={args.workers}",
                                  f"output.dir={out}"])

    run_build(recipe(work / "warm"), quiet=True)  # converts the GGUF once, warms the page cache
    t0 = time.perf_counter()
    local = run_build(recipe(work / "local"), quiet=True)
    local_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
    init_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    remote = run_build(recipe(work / "ray"), quiet=True, executor="ray")
    ray_s = time.perf_counter() - t0
    ray.shutdown()
    same = json.loads((work / "local" / "stats.json").read_text())["rows_written"] == remote["rows_written"]
    worker_gen = remote["generation"]["seconds_all_runs"] / args.workers  # per-worker generation time
    report = {
        "prompts": local["rows_read"], "max_tokens": args.max_tokens, "shards": local["generation"]["shards"],
        "local_s": round(local_s, 1), "local_generate_s": round(local["seconds"]["generate"], 1),
        "ray_init_s": round(init_s, 1), "ray_build_s": round(ray_s, 1),
        "ray_generate_stage_s": round(remote["seconds"]["generate"], 1),
        "ray_worker_generation_s_each": round(worker_gen, 1),
        "ray_overhead_in_stage_s": round(remote["seconds"]["generate"] - worker_gen, 1),
        "ratio_ray_over_local": round((init_s + ray_s) / local_s, 2),
        "ratio_excluding_cluster_start": round(ray_s / local_s, 2),
        "same_rows_written": same,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
