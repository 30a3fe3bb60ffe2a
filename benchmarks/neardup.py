"""Near-duplicate prompts: pairforge's NearDedupe vs rensa's RMinHashLSH vs datatrove's MinHash dedup vs
datasketch MinHashLSH.

    python benchmarks/neardup.py                          # 200k prompts, + pairforge alone at 100k and 1M
    python benchmarks/neardup.py --rows 20000 --scale     # quick (no scaling runs)

datatrove is a benchmark-only dependency: `pip install --no-deps --target /tmp/dt datatrove==0.10.1 humanize loguru`
and run with PYTHONPATH=/tmp/dt (its other needs are already in pairforge's environment).

Synthetic prompts (seeded): 25-40 words from a 30k vocabulary of letter-only words (datatrove
normalises digits away); ~3% planted near-duplicates: an earlier prompt with 1-2 words replaced.
All use 2-word shingles of the lower-cased, whitespace-split prompt and 128 permutations/hashes.
pairforge: NearDedupe with the recipe defaults (threshold 0.6, 32 bands, seed 42) on Arrow tables of
--batch rows with a `prompt` column of messages, as a build calls it. datatrove: Signature -> Buckets
-> Cluster -> Filter on the local executor, 2 tasks / 2 workers (Buckets: a task per bucket), 32
buckets x 4 hashes (pairforge's LSH shape, no verification), a whitespace word tokenizer (its English
default needs spaCy). rensa: RMinHashLSH(threshold, 128, 32) in a Python loop, candidates verified
by RMinHash.jaccard, kept rows inserted (pairforge's semantics, index in memory). datasketch: MinHashLSH(threshold=0.6), query then insert (first one stays).
Each run is its own subprocess (--repeats interleaved): rows/s over the child's own dedupe time
(Parquet reading included, imports not); peak RSS = ru_maxrss from os.wait4 (largest process of the
tree) and the sampled peak sum over the tree. Precision / recall vs the planted groups: a group of k
rows should lose any k-1 of them, a lone row none. Markdown on stdout, all in WORKDIR/report.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import string
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NEAR_SHARE = 0.03


def near_dedupe(a):
    """pairforge's near-dedupe stage, built from its recipe section as a build builds it."""
    sys.path.insert(0, str(ROOT))
    from pairforge.pipeline.dedupe import NearDedupe
    from pairforge.recipe import NearDedupeConfig

    return NearDedupe(NearDedupeConfig(threshold=a.threshold, num_perm=a.num_perm, bands=a.bands, shingle=a.shingle,
                                       seed=a.seed))


def shingles(text: str, size: int = 2) -> list[str]:
    words = text.lower().split()
    if len(words) <= size:
        return [" ".join(words)]
    return [" ".join(words[i : i + size]) for i in range(len(words) - size + 1)]


def make_data(rows: int, folder: Path, seed: int = 0) -> None:
    """Two Parquet files (id, text, prompt messages, group) and truth.json (group of each row)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(seed)
    vocab = sorted({"".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 10))) for _ in range(31_000)})[:30_000]
    texts, groups, origs = [], [], []
    for i in range(rows):
        if origs and rng.random() < NEAR_SHARE:
            g = rng.choice(origs)
            words = texts[g].split()
            for _ in range(rng.randint(1, 2)):
                words[rng.randrange(len(words))] = rng.choice(vocab)
            texts.append(" ".join(words))
        else:
            g = i
            origs.append(i)
            texts.append(" ".join(rng.choices(vocab, k=rng.randint(25, 40))))
        groups.append(g)
    folder.mkdir(parents=True, exist_ok=True)
    half = rows // 2
    for part, (lo, hi) in enumerate([(0, half), (half, rows)]):
        text = pa.array(texts[lo:hi], pa.string())
        msgs = pa.StructArray.from_arrays([pa.array(["user"] * (hi - lo)), text], names=["role", "content"])
        prompt = pa.ListArray.from_arrays(pa.array(range(hi - lo + 1), pa.int32()), msgs)
        pq.write_table(pa.table({"id": [str(i) for i in range(lo, hi)], "text": text, "prompt": prompt,
                                 "group": groups[lo:hi]}), folder / f"part-{part}.parquet")
    (folder / "truth.json").write_text(json.dumps(groups))


def run_pairforge(folder: Path, a) -> tuple[list, str]:
    """NearDedupe as a build runs it (spill.run_two_pass: the rows signed and spilled,
    decided, read back and handed out)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pairforge.pipeline.spill import run_two_pass
    from pairforge.pipeline.stats import Stats

    removed = []

    class Removed:  # stands in for excluded/: keeps the removed ids
        def add(self, stage, dropped, stats):
            removed.extend(dropped["id"].to_pylist())

    batches = (pa.Table.from_batches([b]) for f in sorted(folder.glob("part-*.parquet"))
               for b in pq.ParquetFile(f).iter_batches(batch_size=a.batch, columns=["id", "prompt"]))
    for _ in run_two_pass(batches, [near_dedupe(a)], Stats(), Removed(), a.workdir):
        pass
    return removed, f"{a.bands}x{a.num_perm // a.bands} + verify J>={a.threshold}"


def run_datasketch(folder: Path, a) -> tuple[list, str]:
    import pyarrow.parquet as pq
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=a.threshold, num_perm=a.num_perm)
    removed = []
    for f in sorted(folder.glob("part-*.parquet")):
        for b in pq.ParquetFile(f).iter_batches(batch_size=a.batch, columns=["id", "text"]):
            for key, text in zip(b.column(0).to_pylist(), b.column(1).to_pylist()):
                m = MinHash(num_perm=a.num_perm, seed=a.seed)
                m.update_batch([s.encode() for s in shingles(text, a.shingle)])
                if lsh.query(m):
                    removed.append(key)
                else:
                    lsh.insert(key, m)
    return removed, f"{lsh.b}x{lsh.r} (threshold {a.threshold})"


def run_rensa(folder: Path, a) -> tuple[list, str]:
    """rensa's own in-memory RMinHashLSH in a plain loop (already a pairforge dependency): the same
    shingles, permutations, seed and bands; a candidate counts when its Jaccard estimate reaches the
    threshold (as pairforge verifies), and only kept rows are inserted (the first one stays)."""
    import pyarrow.parquet as pq
    from rensa import RMinHash, RMinHashLSH

    lsh, kept, removed = RMinHashLSH(a.threshold, a.num_perm, a.bands), {}, []
    for f in sorted(folder.glob("part-*.parquet")):
        for b in pq.ParquetFile(f).iter_batches(batch_size=a.batch, columns=["id", "text"]):
            for key, text in zip(b.column(0).to_pylist(), b.column(1).to_pylist()):
                m = RMinHash(a.num_perm, a.seed)
                m.update(shingles(text, a.shingle))
                if any(m.jaccard(kept[c]) >= a.threshold for c in lsh.query(m)):
                    removed.append(key)
                else:
                    kept[int(key)] = m
                    lsh.insert(int(key), m)
    return removed, f"{a.bands}x{a.num_perm // a.bands} + verify J>={a.threshold}"


def xxhash64_str(data) -> int:
    import xxhash

    return xxhash.xxh64_intdigest(data.encode() if isinstance(data, str) else data)


def run_datatrove(folder: Path, a) -> tuple[list, str]:
    import datatrove.utils.hashes.xxhash as dt_xxhash
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline import dedup as dt
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.writers import ParquetWriter
    from datatrove.utils.word_tokenizers import WordTokenizer

    dt_xxhash.xxhash64 = xxhash64_str  # datatrove 0.10.1 passes str, xxhash 4 wants bytes

    class Whitespace(WordTokenizer):
        def word_tokenize(self, text):
            return text.split()

        def sent_tokenize(self, text):
            return [text]

        def span_tokenize(self, text):
            return [(0, len(text))]

    work = Path(a.workdir) / "datatrove"
    shutil.rmtree(work, ignore_errors=True)
    cfg = dt.MinhashConfig(n_grams=a.shingle, num_buckets=a.dt_buckets, hashes_per_bucket=a.num_perm // a.dt_buckets,
                        seed=a.seed)

    def run(pipeline, tasks, name):
        LocalPipelineExecutor(pipeline, tasks=tasks, workers=min(tasks, a.workers), start_method="fork",
                              logging_dir=str(work / "logs" / name)).run()

    reader = ParquetReader(str(folder), glob_pattern="part-*.parquet", text_key="text", id_key="id")
    run([reader, dt.MinhashDedupSignature(str(work / "sigs"), config=cfg, language=Whitespace())], 2, "sig")
    run([dt.MinhashDedupBuckets(str(work / "sigs"), str(work / "buckets"), config=cfg)], cfg.num_buckets, "buckets")
    run([dt.MinhashDedupCluster(str(work / "buckets"), str(work / "remove"), config=cfg)], 1, "cluster")
    run([reader, dt.MinhashDedupFilter(str(work / "remove"), exclusion_writer=ParquetWriter(str(work / "removed")))],
        2, "filter")
    import pyarrow.parquet as pq

    files = sorted((work / "removed").glob("*.parquet"))
    return [i for f in files for i in pq.read_table(f, columns=["id"])[0].to_pylist()], f"{cfg.num_buckets}x" \
        f"{cfg.hashes_per_bucket}, no verify"


METHODS = {"pairforge": run_pairforge, "rensa": run_rensa, "datatrove": run_datatrove, "datasketch": run_datasketch}


# Imported before the clock starts: each method's time is its work, not its imports. pandas for all:
# pyarrow imports it the first time it converts Python objects (pa.array of a list, a str scalar), 0.25-0.37 s
# that landed in whichever method's clock made the first such call (a build has it already: `datasets` loads it).
IMPORTS = {
    "pairforge": ["pandas", "pyarrow.parquet", "pyarrow.compute", "pyarrow.ipc", "numpy", "rensa", "pairforge.recipe",
                  "pairforge.pipeline.dedupe", "pairforge.pipeline.spill", "pairforge.pipeline.stats",
                  "pairforge.pipeline.neardup_pairs", "pairforge.pipeline.parallel", "pairforge.pipeline.stage",
                  "pairforge.pipeline.buckets"],
    "rensa": ["pandas", "pyarrow.parquet", "rensa"],
    "datatrove": ["pandas", "pyarrow.parquet", "xxhash", "datatrove.executor", "datatrove.pipeline.dedup",
                  "datatrove.pipeline.readers", "datatrove.pipeline.writers", "datatrove.utils.word_tokenizers"],
    "datasketch": ["pandas", "pyarrow.parquet", "datasketch"],
}


def child(a) -> None:
    import importlib

    sys.path.insert(0, str(ROOT))
    if a.child == "pairforge":
        from pairforge.pipeline.process_memory import arrow_lean_pool, cap_malloc_arenas

        cap_malloc_arenas()  # as the CLI does
        arrow_lean_pool()
    for module in IMPORTS[a.child]:
        importlib.import_module(module)
    t0 = time.perf_counter()
    removed, lsh = METHODS[a.child](Path(a.data), a)
    seconds = time.perf_counter() - t0
    Path(a.out).write_text(json.dumps(removed))
    hwm = next(int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM:"))
    print(json.dumps({"seconds": seconds, "removed": len(removed), "vmhwm_mib": hwm / 1024, "lsh": lsh}))


def tree_rss_sampler(pid: int, peak: list) -> None:
    import psutil

    try:
        root = psutil.Process(pid)
        while root.is_running() and root.status() != psutil.STATUS_ZOMBIE:
            total = 0
            for p in [root, *root.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
            peak[0] = max(peak[0], total)
            time.sleep(0.1)
    except psutil.Error:
        pass


def run_child(method: str, folder: Path, a, out: Path) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", method, "--data", str(folder), "--out", str(out),
           *[f"--{k.replace('_', '-')}={getattr(a, k)}" for k in PARAMS]]
    load1, peak = os.getloadavg()[0], [0]
    t0 = time.perf_counter()
    with open(out.with_suffix(".err"), "w") as err:
        p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True)
        sampler = threading.Thread(target=tree_rss_sampler, args=(p.pid, peak), daemon=True)
        sampler.start()
        stdout = p.stdout.read()
        _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status):
        raise RuntimeError(f"{method} failed; see {out.with_suffix('.err')}")
    r = json.loads(stdout.strip().splitlines()[-1])
    return {**r, "wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "maxrss_mib": ru.ru_maxrss / 1024,
            "tree_peak_rss_mib": peak[0] / 2**20, "load1_before": load1, "removed_file": str(out)}


def score(folder: Path, removed_file: str) -> dict:
    groups = json.loads((folder / "truth.json").read_text())
    size: dict[int, int] = {}
    for g in groups:
        size[g] = size.get(g, 0) + 1
    hit: dict[int, int] = {}
    for key in json.loads(Path(removed_file).read_text()):
        g = groups[int(key)]
        hit[g] = hit.get(g, 0) + 1
    tp = sum(min(n, size[g] - 1) for g, n in hit.items())
    removed, should = sum(hit.values()), sum(s - 1 for s in size.values())
    return {"planted": should, "removed": removed, "true_pos": tp,
            "precision": round(tp / max(1, removed), 4), "recall": round(tp / max(1, should), 4)}


PARAMS = ("threshold", "num_perm", "bands", "shingle", "seed", "batch", "dt_buckets", "workers", "workdir")


def table(results: dict) -> list[str]:
    lines = ["| method | LSH bands x rows | rows | dedupe s | rows/s | wall s | CPU s | ru_maxrss MiB | "
             "tree peak RSS MiB | removed | precision | recall |", "|" + "---|" * 12]
    for (method, n), runs in results.items():
        m = {k: statistics.median(r[k] for r in runs) for k in runs[0] if isinstance(runs[0][k], (int, float))}
        s = runs[0]["score"]
        lines.append(f"| {method} | {runs[0]['lsh']} | {n} | {m['seconds']:.1f} | {n / m['seconds']:,.0f} | "
                     f"{m['wall_s']:.1f} | {m['cpu_s']:.1f} | {m['maxrss_mib']:.0f} | {m['tree_peak_rss_mib']:.0f} | "
                     f"{s['removed']} | {s['precision']} | {s['recall']} |")
    loads = [r["load1_before"] for runs in results.values() for r in runs]
    lines.append(f"\nmedians of {len(next(iter(results.values())))} run(s); load average before runs "
                 f"{min(loads):.2f}..{max(loads):.2f} on {os.cpu_count()} CPUs")
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--scale", type=int, nargs="*", default=[100_000, 1_000_000], help="pairforge-only sizes")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--threshold", type=float, default=0.6)
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument("--bands", type=int, default=32)
    ap.add_argument("--shingle", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--batch", type=int, default=1000, help="rows per table (a build reads 1000 at a time)")
    ap.add_argument("--dt-buckets", type=int, default=32, help="datatrove buckets (num_perm / buckets hashes each)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--workdir", default="/tmp/pairforge-bench-neardup")
    ap.add_argument("--child", choices=list(METHODS), help=argparse.SUPPRESS)
    ap.add_argument("--data"), ap.add_argument("--out"), ap.add_argument("--make-data", type=int)
    a = ap.parse_args()
    work = Path(a.workdir)
    if a.child:
        return child(a)
    if a.make_data:
        return make_data(a.make_data, work / f"data-{a.make_data}")
    jobs = [(m, a.rows) for m in a.methods] + [("pairforge", n) for n in a.scale if n != a.rows]
    for n in sorted({n for _, n in jobs}):
        if not (work / f"data-{n}" / "truth.json").exists():
            t0 = time.perf_counter()
            subprocess.run([sys.executable, __file__, "--make-data", str(n), "--workdir", str(work)], check=True)
            print(f"made {n} rows in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    results: dict = {}
    for r in range(a.repeats):
        for method, n in jobs[r % len(jobs):] + jobs[: r % len(jobs)]:
            res = run_child(method, work / f"data-{n}", a, work / f"removed-{method}-{n}-{r}.json")
            results.setdefault((method, n), []).append(res)
            print(f"[{r}] {method} {n}: {res['seconds']:.1f}s rss {res['maxrss_mib']:.0f} MiB", file=sys.stderr)
    for (_, n), runs in results.items():
        for res in runs:
            res["score"] = score(work / f"data-{n}", res["removed_file"])
    print("\n".join(["## Near-duplicate prompts", *table(results)]))
    report = {f"{m}@{n}": runs for (m, n), runs in results.items()}
    (work / "report.json").write_text(json.dumps({"args": vars(a), "results": report}, indent=1))


if __name__ == "__main__":
    main()
