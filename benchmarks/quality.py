"""Quality-stage benchmark on synthetic rows with planted duplicates.

    python benchmarks/quality.py                 # 1M rows (a few minutes on 2 cores)
    python benchmarks/quality.py --rows 100000   # quicker
    python benchmarks/quality.py --rows 10000000 # + a streamed 10M-row run (peak RSS stays flat)
    python benchmarks/quality.py --rows 10000000 --streamed-only  # only the 100k / 1M / 10M table
    python benchmarks/quality.py --rows 200000 --file-rows 200000 --filters-only  # only the filters' timing

Reports, measured in the same run:
- rows/s of the filters (pre + post) plus exact dedupe, as a build runs them (two passes, the exact
  index on disk; the post filter on the 1000-row tables the second pass hands back), the source
  file's reading included, with the build's threads and with one thread (the baseline): --repeats
  interleaved runs each, medians and their ratio;
- near-dup throughput of pairforge's rensa stage vs the same MinHash-LSH with datasketch, as a ratio;
- precision and recall of the near-dup stage on the planted near-duplicates
  (these three on a Parquet file of min(--rows, --file-rows) rows);
- per size (100k, 1M, --rows), in a fresh subprocess: rows streamed from the generator (never all
  in memory or on disk) through every pre-generation stage and the post filter: rows/s over the
  stages' own seconds, CPU seconds, peak RSS; one Markdown table at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BATCH = 10_000
EXACT_SHARE = 0.03  # planted exact duplicates (case / whitespace changes)
NEAR_SHARE = 0.03  # planted near duplicates (2 words replaced)


def synthetic_batches(rows: int, seed: int = 0):
    """Yield (generated-schema Arrow table, kinds) batches. kinds[i] is 'orig', 'exact' or 'near'."""
    import pyarrow as pa

    from pairforge.data.schemas import generated_schema

    rng = random.Random(seed)
    vocab = [f"w{i:05d}" for i in range(30_000)]
    recent: list[str] = []
    n = 0
    while n < rows:
        size = min(BATCH, rows - n)
        recs, kinds = [], []
        for _ in range(size):
            r = rng.random()
            if recent and r < EXACT_SHARE:
                prompt = "  " + rng.choice(recent).upper() + " "
                kinds.append("exact")
            elif recent and r < EXACT_SHARE + NEAR_SHARE:
                words = rng.choice(recent).split()
                for _ in range(2):
                    words[rng.randrange(len(words))] = rng.choice(vocab)
                prompt = " ".join(words)
                kinds.append("near")
            else:
                prompt = " ".join(rng.choices(vocab, k=rng.randint(25, 40)))
                kinds.append("orig")
                recent.append(prompt)
                if len(recent) > 5000:
                    recent.pop(rng.randrange(len(recent)))
            chosen = " ".join(rng.choices(vocab, k=rng.randint(20, 60)))
            rejected = " ".join(rng.choices(vocab, k=rng.randint(5, 60)))
            recs.append({"id": f"{n + len(recs)}", "source_index": n + len(recs), "turn_index": 0,
                         "prompt": [{"role": "user", "content": prompt}], "chosen": chosen, "sample_index": 0,
                         "rejected": rejected, "rejected_model": "synthetic", "rejected_finish_reason": "stop",
                         "prompt_tokens": 40, "chosen_tokens": 40, "rejected_tokens": 40})
        yield pa.Table.from_pylist(recs, schema=generated_schema()), kinds
        n += size


def make_data(rows: int, path: Path) -> list[str]:
    """Write the synthetic rows to one Parquet file (so timing excludes making them)."""
    import pyarrow.parquet as pq

    from pairforge.data.schemas import generated_schema

    kinds_all = []
    with pq.ParquetWriter(str(path), generated_schema()) as w:
        for t, kinds in synthetic_batches(rows):
            w.write_table(t)
            kinds_all.extend(kinds)
    return kinds_all


def recipe():
    from pairforge.recipe import recipe_from_dict

    return recipe_from_dict({"source": {"path": "synthetic"}})


def iter_file(path: Path):
    import pyarrow.parquet as pq

    yield from (b for b in pq.ParquetFile(str(path)).iter_batches(batch_size=BATCH))


def filters_and_exact(path: Path, workdir: Path, threads: int | None = None) -> dict:
    """The pre filter and exact dedupe as a build runs them (spill.run_two_pass: exact dedupe sees the
    whole file, its index on disk, then hands the rows back), then the post filter on each table as
    finish() runs it; `threads`: the stages' threads (default: the build's, parallel.threads())."""
    from pairforge.pipeline import parallel

    default = parallel.threads
    parallel.threads = (lambda: threads) if threads else default
    try:
        return _filters_and_exact(path, workdir)
    finally:
        parallel.threads = default


def filters_interleaved(path: Path, workdir: Path, repeats: int) -> dict:
    """filters_and_exact with the build's threads and with one thread (the baseline), interleaved;
    medians, and the ratio of the medians."""
    import statistics

    runs = {"threads": [], "one_thread": []}
    filters_and_exact(path, workdir)  # warm-up (imports, first calls), not counted
    for _ in range(repeats):
        runs["threads"].append(filters_and_exact(path, workdir))
        runs["one_thread"].append(filters_and_exact(path, workdir, threads=1))
    out = {k: {"rows": v[0]["rows"], "kept": v[0]["kept"], "seconds_median": statistics.median(r["seconds"] for r in v),
               "seconds_all": [r["seconds"] for r in v], "stage_seconds_first": v[0]["stage_seconds"]}
           for k, v in runs.items()}
    for v in out.values():
        v["rows_per_s"] = round(v["rows"] / v["seconds_median"])
    out["threads_vs_one_thread"] = round(out["one_thread"]["seconds_median"] / out["threads"]["seconds_median"], 2)
    out["load_average"] = round(os.getloadavg()[0], 2)
    return out


def _filters_and_exact(path: Path, workdir: Path) -> dict:
    import pyarrow as pa

    from pairforge.pipeline.dedupe import ExactDedupe
    from pairforge.pipeline.filters import PostFilter, PreFilter
    from pairforge.pipeline.parallel import run_stages_threaded
    from pairforge.pipeline.spill import counted, run_two_pass
    from pairforge.pipeline.stats import Stats

    r, stats, excluded = recipe(), Stats(), _Count()
    post = [PostFilter(r.filters)]
    t0 = time.perf_counter()
    source = counted((pa.Table.from_batches([b]) for b in iter_file(path)), stats)
    tables = run_two_pass(source, [PreFilter(r.filters), ExactDedupe()], stats, excluded, str(workdir))
    kept = sum(t.num_rows for t in run_stages_threaded(tables, post, stats, excluded))  # as finish() runs it
    dt = time.perf_counter() - t0
    n = stats.rows_read
    return {"rows": n, "kept": kept, "seconds": round(dt, 2), "rows_per_s": round(n / dt),
            "stage_seconds": {k: round(v, 2) for k, v in stats.seconds.items()}}


def near_dup(path: Path, kinds: list[str], rows: int) -> dict:
    """pairforge's stage (after exact dedupe, as in a build: both passes) with precision / recall."""
    import pyarrow as pa

    from pairforge.pipeline.dedupe import ExactDedupe, NearDedupe

    nd = recipe().dedupe.near
    exact = ExactDedupe()
    near = NearDedupe(nd)
    seconds, tables, seen, read = 0.0, [], 0, 0
    for b in iter_file(path):
        t = pa.Table.from_batches([b])
        read += t.num_rows
        t, _ = exact(t)
        t0 = time.perf_counter()
        near.observe(t)
        seconds += time.perf_counter() - t0
        tables.append(t)
        seen += t.num_rows
        if seen >= rows:
            break
    t0 = time.perf_counter()
    near.resolve()
    flagged = set()
    for t in tables:
        flagged.update(int(i) for i in near(t)[1]["source_index"].to_pylist())
    seconds += time.perf_counter() - t0
    planted = {i for i, k in enumerate(kinds[:read]) if k == "near"}
    tp = len(flagged & planted)
    return {"rows": seen, "seconds": round(seconds, 2), "rows_per_s": round(seen / seconds),
            "planted": len(planted), "flagged": len(flagged),
            "precision": round(tp / max(1, len(flagged)), 4), "recall": round(tp / max(1, len(planted)), 4)}


def datasketch_near(path: Path, rows: int) -> dict:
    """The same shingles, permutations, threshold and keep-first logic with datasketch."""
    import pyarrow as pa
    from datasketch import MinHash, MinHashLSH

    from pairforge.pipeline.dedupe import ExactDedupe
    from pairforge.pipeline.text import normalised, prompt_texts, shingles

    nd = recipe().dedupe.near
    exact = ExactDedupe()
    lsh = MinHashLSH(threshold=nd.threshold, num_perm=nd.num_perm)
    seconds, seen = 0.0, 0
    for b in iter_file(path):
        t, _ = exact(pa.Table.from_batches([b]))
        texts = normalised(prompt_texts(t)).to_pylist()[: rows - seen]
        t0 = time.perf_counter()
        for text in texts:
            m = MinHash(num_perm=nd.num_perm, seed=nd.seed)
            m.update_batch([s.encode() for s in shingles(text, nd.shingle)])
            if not lsh.query(m):
                lsh.insert(seen, m)
            seen += 1
        seconds += time.perf_counter() - t0
        if seen >= rows:
            break
    return {"rows": seen, "seconds": round(seconds, 2), "rows_per_s": round(seen / seconds)}


class _Count:
    """Stands in for the excluded-rows writer: counts the drops in the stats, keeps no row."""

    def add(self, stage, dropped, stats) -> None:
        import pyarrow.compute as pc

        for r in pc.value_counts(dropped["reason"]).to_pylist() if dropped is not None else []:
            stats.drop(stage, r["values"], r["counts"])


def peak_rss_child(rows: int, workdir: str) -> None:
    """Stream `rows` synthetic rows (made as they are read, never all in memory or on disk) through
    every pre-generation stage (near-dedupe's two passes included) and the post filter; print rows/s
    over the stages' own seconds, process CPU seconds and peak RSS in MiB."""
    import resource

    from pairforge.pipeline.build import post_generation_stages, pre_generation_stages
    from pairforge.pipeline.spill import counted, run_two_pass
    from pairforge.pipeline.stage import run_stages
    from pairforge.pipeline.stats import Stats

    r, stats, excluded = recipe(), Stats(), _Count()
    post = post_generation_stages(r)
    source = counted((t for t, _ in synthetic_batches(rows)), stats)
    kept = 0
    for t in run_two_pass(source, pre_generation_stages(r), stats, excluded, workdir):
        kept += run_stages(t, post, stats, excluded).num_rows
    seconds = sum(stats.seconds.values())
    ru = resource.getrusage(resource.RUSAGE_SELF)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the (large) parent across fork+exec.
    hwm_kib = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    print(json.dumps({"rows": stats.rows_read, "kept": kept, "stage_seconds": round(seconds, 1),
                      "rows_per_s": round(stats.rows_read / seconds), "cpu_s": round(ru.ru_utime + ru.ru_stime, 1),
                      "peak_rss_mib": round(hwm_kib / 1024), "drops": {k: dict(v) for k, v in stats.drops.items()}}))


def peak_rss(rows: int, workdir: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--rss-child", "--rows", str(rows), "--workdir", str(workdir)],
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"the {rows:,}-row child failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def size_table(runs: list[dict]) -> str:
    lines = ["| rows | pre-generation stages + post filter, rows/s | CPU s | peak RSS MiB | vs the size before |",
             "|---|---|---|---|---|"]
    prev = None
    for run in runs:
        growth = f"x{run['peak_rss_mib'] / prev:.2f}" if prev else ""
        lines.append(f"| {run['rows']:,} | {run['rows_per_s']:,} | {run['cpu_s']} | {run['peak_rss_mib']} | {growth} |")
        prev = run["peak_rss_mib"]
    return "\n".join(lines) + f"\nload average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000, help="the largest size streamed (peak RSS, rows/s)")
    ap.add_argument("--file-rows", type=int, default=1_000_000, help="rows for the file-based parts (at most --rows)")
    ap.add_argument("--datasketch-rows", type=int, default=20_000, help="rows for the datasketch comparison (0: none)")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved runs of the filters, threads vs one thread")
    ap.add_argument("--filters-only", action="store_true", help="only the filters + exact dedupe timing")
    ap.add_argument("--rss-child", action="store_true")
    ap.add_argument("--streamed-only", action="store_true", help="only the streamed sizes' rows/s and peak RSS table")
    ap.add_argument("--workdir", default="/tmp/pairforge-bench-quality")
    args = ap.parse_args()
    from pairforge.pipeline.process_memory import arrow_lean_pool, cap_malloc_arenas

    cap_malloc_arenas()  # as the CLI does (a child caps its own; it inherits the Arrow pool's choice)
    arrow_lean_pool()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    if args.rss_child:
        return peak_rss_child(args.rows, str(work))
    if args.streamed_only:
        runs = [peak_rss(n, work) for n in sorted({n for n in (100_000, 1_000_000, args.rows) if n <= args.rows})]
        return print(json.dumps(runs, indent=1) + "\n" + size_table(runs))
    file_rows = min(args.rows, args.file_rows)
    data = work / f"synthetic-{file_rows}.parquet"
    t0 = time.perf_counter()
    kinds = make_data(file_rows, data)  # seeded: the same rows each run
    print(f"made {file_rows} rows in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    report = {"rows": args.rows, "file_rows": file_rows}
    report["filters_plus_exact_dedupe"] = filters_interleaved(data, work, args.repeats)
    print(json.dumps(report["filters_plus_exact_dedupe"]), file=sys.stderr)
    if args.filters_only:
        return print(json.dumps(report, indent=2))
    if args.datasketch_rows > 0:  # 0: no datasketch comparison
        rensa_small = near_dup(data, kinds, args.datasketch_rows)
        ds = datasketch_near(data, args.datasketch_rows)
        report["near_dup_vs_datasketch"] = {"rows": args.datasketch_rows, "rensa_rows_per_s": rensa_small["rows_per_s"],
                                            "datasketch_rows_per_s": ds["rows_per_s"],
                                            "ratio": round(rensa_small["rows_per_s"] / ds["rows_per_s"], 1)}
        print(json.dumps(report["near_dup_vs_datasketch"]), file=sys.stderr)
    report["near_dup_full"] = near_dup(data, kinds, file_rows)
    print(json.dumps(report["near_dup_full"]), file=sys.stderr)
    sizes = sorted({n for n in (100_000, 1_000_000, args.rows) if n <= args.rows})
    report["streamed"] = []
    for n in sizes:
        report["streamed"].append(peak_rss(n, work))
        print(json.dumps(report["streamed"][-1]), file=sys.stderr)
    print(json.dumps(report, indent=2))
    print(size_table(report["streamed"]))


if __name__ == "__main__":
    main()
