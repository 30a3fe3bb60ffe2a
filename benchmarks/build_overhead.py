"""Whole-process overhead of `pairforge build -q --fresh --json` against the script a user would write.

    python benchmarks/build_overhead.py              # 128 prompts, both backends, 3 interleaved repeats
    python benchmarks/build_overhead.py --prompts 16 --repeats 1 --backends vllm --no-profile   # quick
    python benchmarks/build_overhead.py --ablations  # + vLLM scripts with per-prompt seeds / per-batch calls

Both sides: fresh processes, the same alpaca prompts, weights, sampling, engine options; Parquet out
(pairforge with its row-dropping filters off). Medians of wall, CPU (rusage) and tokens/s, median
per-repeat ratios to the script, stats.json seconds per stage vs the script's phases, then
`-X importtime` of both and `-m cProfile` of the build. Every run in WORKDIR/report.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALPACA = ROOT.parent / "shared" / "data" / "alpaca_cleaned_1000.json"
SAMPLING = {"temperature": 0.8, "top_p": 0.95, "max_tokens": 64, "seed": 0}
VARIANTS = {"transformers": ["pairforge", "script"],
            "vllm": ["pairforge", "script", "script+seeds", "script+batches", "script+seeds+batches"]}


def weights_folder() -> str:
    """The safetensors folder pairforge converts the built-in GGUF into."""
    sys.path.insert(0, str(ROOT))
    from pairforge.weights import materialise, resolve_model

    return materialise(resolve_model("smollm2-135m-instruct"))[0]


def make_data(n: int, work: Path, alpaca: Path) -> Path:
    rows = [r for r in json.loads(alpaca.read_text()) if r["instruction"].strip() and r["output"].strip()]
    (path := work / f"alpaca-{n}.json").write_text(json.dumps(rows[:n]))
    return path


def write_recipe(backend: str, data: Path, out: Path, a) -> Path:
    """pairforge's defaults, except: the same sampling and batch size, and nothing that drops a row."""
    off = {"empty": False, "identical": False, "max_similarity": None, "min_chosen_chars": 0, "truncated": "keep",
           "refusals": {"enabled": False}, "repetition": {"enabled": False}}
    wm = {"model": "smollm2-135m-instruct", "backend": backend, "batch_size": a.batch_size, "sampling": SAMPLING}
    recipe = {"source": {"path": str(data)}, "weak_model": wm, "filters": off, "split": {"test_size": 0.0},
              "dedupe": {"exact": False, "near": {"enabled": False}}, "output": {"dir": str(out)}}
    (path := out.with_suffix(".yaml")).write_text(json.dumps(recipe))  # JSON is YAML
    return path


def read_chats(path: str, tok):
    """Alpaca rows -> a user message each (instruction, blank line, input), chosen answers, chat texts."""
    rows = json.loads(Path(path).read_text())
    msgs = [[{"role": "user", "content": r["instruction"] + (f"\n\n{r['input']}" if r["input"].strip() else "")}]
            for r in rows]
    texts = [tok.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in msgs]
    return msgs, [r["output"] for r in rows], texts


def script_transformers(a) -> dict:
    t = [time.perf_counter()]
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t.append(time.perf_counter())
    tok = AutoTokenizer.from_pretrained(a.model, padding_side="left")
    tok.pad_token = tok.pad_token or tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32).eval()
    eos = set(e if isinstance(e := model.generation_config.eos_token_id, list) else [e])
    t.append(time.perf_counter())
    msgs, chosen, texts = read_chats(a.data, tok)
    t.append(time.perf_counter())
    torch.manual_seed(SAMPLING["seed"])
    answers, tokens = [], []
    for b in range(0, len(texts), a.batch_size):
        enc = tok(texts[b : b + a.batch_size], return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            out = model.generate(**enc, do_sample=True, max_new_tokens=SAMPLING["max_tokens"], top_k=0,
                                 temperature=SAMPLING["temperature"], top_p=SAMPLING["top_p"],
                                 pad_token_id=tok.pad_token_id)
        for ids in out[:, enc["input_ids"].shape[1] :].tolist():
            n = next((i + 1 for i, x in enumerate(ids) if x in eos), len(ids))
            tokens.append(n)
            answers.append(tok.decode(ids[:n], skip_special_tokens=True))
    t.append(time.perf_counter())
    return write_parquet(a.out, t, msgs, chosen, answers, tokens)


def script_vllm(a) -> dict:
    t = [time.perf_counter()]  # below: the engine options pairforge uses on CPU (env and LLM kwargs)
    os.environ.update(VLLM_CPU_KVCACHE_SPACE="1", VLLM_ENABLE_V1_MULTIPROCESSING="0",
                      VLLM_LOGGING_STREAM="ext://sys.stderr", VLLM_LOGGING_LEVEL="WARNING")
    from vllm import LLM, SamplingParams

    t.append(time.perf_counter())
    llm = LLM(model=a.model, tokenizer=a.model, dtype="float32", seed=SAMPLING["seed"], enforce_eager=True,
              enable_chunked_prefill=False)
    t.append(time.perf_counter())
    msgs, chosen, texts = read_chats(a.data, llm.get_tokenizer())
    t.append(time.perf_counter())
    kw = {k: SAMPLING[k] for k in ("temperature", "top_p", "max_tokens")}
    params = ([SamplingParams(**kw, seed=SAMPLING["seed"] + i) for i in range(len(texts))] if a.seeds
              else [SamplingParams(**kw)] * len(texts))
    step = a.batch_size if a.batches else len(texts)
    outs = []  # one call, or (--batches) one per batch_size prompts as pairforge does
    for b in range(0, len(texts), step):
        outs += llm.generate(texts[b : b + step], params[b : b + step], use_tqdm=False)
    answers, tokens = [o.outputs[0].text for o in outs], [len(o.outputs[0].token_ids) for o in outs]
    t.append(time.perf_counter())
    return write_parquet(a.out, t, msgs, chosen, answers, tokens)


def write_parquet(path: str, t: list[float], msgs, chosen, answers, tokens) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"prompt": msgs, "chosen": chosen, "rejected": answers, "rejected_tokens": tokens}), path)
    t.append(time.perf_counter())
    names = ("import_s", "load_model_s", "read_s", "generate_s", "write_s")
    return {"rows": len(answers), "tokens": sum(tokens), **{n: t[i + 1] - t[i] for i, n in enumerate(names)}}


def prompts_digest(path: Path) -> str:  # pairforge's and the script's outputs must hold the same prompts
    import pyarrow.parquet as pq

    rows = sorted(json.dumps(p, sort_keys=True) for p in pq.read_table(path, columns=["prompt"])[0].to_pylist())
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:12]


def run_child(cmd: list[str], log: Path) -> dict:
    """Run a fresh process; wall time here, CPU and peak RSS from its rusage (os.wait4)."""
    load1, t0 = os.getloadavg()[0], time.perf_counter()
    with open(log, "w") as err:
        p = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                             stdout=subprocess.PIPE, stderr=err, text=True)
        out = p.stdout.read()
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}; see {log}")
    return {"wall_s": time.perf_counter() - t0, "cpu_s": ru.ru_utime + ru.ru_stime,
            "maxrss_mib": ru.ru_maxrss / 1024, "load1_before": load1, "stdout": out}


def run_variant(backend: str, variant: str, n: int, ctx: dict, pre: tuple = (), tag: str = "") -> dict:
    work, a, name = ctx["work"], ctx["args"], f"{variant}-{backend}-{n}{tag}"
    if variant == "pairforge":
        recipe = write_recipe(backend, ctx["data"][n], out := work / f"pf-{backend}-{n}", a)
        m = run_child([sys.executable, *pre, "-m", "pairforge.cli", "build", str(recipe), "-q", "--fresh", "--json"],
                      work / f"{name}.err")
        s = json.loads((out / "stats.json").read_text())
        m.update(rows=s["rows_written"], tokens=s["generation"]["tokens_generated"], phases=s["seconds"],
                 gen_s=s["seconds"]["generate"], prompts=prompts_digest(next((out / "data").glob("train-*.parquet"))))
    else:
        cmd = [sys.executable, *pre, str(Path(__file__).resolve()), "--run-script", backend, "--model", ctx["model"],
               "--data", str(ctx["data"][n]), "--out", str(work / f"{name}.parquet"),
               "--batch-size", str(a.batch_size), *(f"--{f}" for f in variant.split("+")[1:])]
        m = run_child(cmd, work / f"{name}.err")
        r = json.loads(m["stdout"].strip().splitlines()[-1])
        m.update(rows=r["rows"], tokens=r["tokens"], phases=r, gen_s=r["generate_s"],
                 prompts=prompts_digest(work / f"{name}.parquet"))
    m.pop("stdout")
    return m


def measure(ctx: dict) -> dict:
    a, runs = ctx["args"], {b: {} for b in ctx["args"].backends}
    for r in range(a.repeats):
        for b in a.backends:
            variants = VARIANTS[b] if a.ablations else VARIANTS[b][:2]
            for v in variants[r % len(variants):] + variants[: r % len(variants)]:
                m = run_variant(b, v, a.prompts, ctx)
                runs[b].setdefault(v, []).append(m)
                print(f"[{r}] {b} {v}: wall {m['wall_s']:.1f}s cpu {m['cpu_s']:.1f}s tokens {m['tokens']} rows "
                      f"{m['rows']} load1 {m['load1_before']:.2f}", file=sys.stderr)
    return runs


def summary_table(runs: dict, n: int) -> list[str]:
    cols = {"wall s": lambda m: m["wall_s"], "CPU s": lambda m: m["cpu_s"], "tokens": lambda m: m["tokens"],
            "tok/s (wall)": lambda m: m["tokens"] / m["wall_s"], "tok/s (gen)": lambda m: m["tokens"] / m["gen_s"]}
    lines = ["| backend | variant | " + " | ".join(cols) + " | wall x | CPU x | tok/s x | rows | peak RSS MiB |",
             "|" + "---|" * (len(cols) + 7)]  # rows: per repeat; DIFFER: other prompts than the script
    for b, by_v in runs.items():
        for v, ms in by_v.items():  # x: median of per-repeat ratios to the script (same repeat, same load)
            x = [statistics.median(cols[c](m) / cols[c](s) for m, s in zip(ms, by_v["script"]))
                 for c in ("wall s", "CPU s", "tok/s (wall)")]
            same = {m["prompts"] for m in ms + by_v["script"]} == {ms[0]["prompts"]}
            lines.append(f"| {b} | {v} | " + " | ".join(f"{statistics.median(map(f, ms)):.1f}" for f in cols.values())
                         + " | " + " | ".join(f"{r:.2f}" for r in x) + f" | {'/'.join(str(m['rows']) for m in ms)}"
                         f"{'' if same else ' DIFFER'} | {statistics.median(m['maxrss_mib'] for m in ms):.0f} |")
    loads, walls = zip(*((m["load1_before"], m["wall_s"]) for v in runs.values() for ms in v.values() for m in ms))
    return lines + [f"\n{n} prompts; x = variant / script; load average before runs {min(loads):.2f}..{max(loads):.2f} "
                    f"on {os.cpu_count()} CPUs; walls {min(walls):.1f}..{max(walls):.1f}s"]


def phase_seconds(m: dict, pairforge: bool) -> list[float]:
    """Wall split into comparable phases (PHASES): pairforge's from stats.json, the script's from its clock."""
    p, w = m["phases"], m["wall_s"]
    if pairforge:
        return [w - p["total"] + p.get("load_model", 0), p.get("load", 0), p.get("generate", 0),
                sum(p.get(k, 0) for k in ("normalise", "filter_pre", "filter_post", "write")),
                p["total"] - sum(v for k, v in p.items() if k != "total"), w]
    return [w - p["read_s"] - p["generate_s"] - p["write_s"], p["read_s"], p["generate_s"], p["write_s"], 0.0, w]


PHASES = ["interpreter + imports + model load (pairforge: wall - total + load_model)",
          "read source (pairforge: load, i.e. datasets) / read JSON + chat template", "generate",
          "normalise + filters + write / write", "in run_build but in no stage (digests, fingerprint, shards)", "wall"]


def breakdown_table(runs: dict) -> list[str]:
    lines = ["| backend | phase | pairforge s | script s | extra s |", "|---|---|---|---|---|"]
    for b, by_v in runs.items():
        pf = [phase_seconds(m, True) for m in by_v["pairforge"]]
        sc = [phase_seconds(m, False) for m in by_v["script"]]
        for i, name in enumerate(PHASES):
            p, s = statistics.median(x[i] for x in pf), statistics.median(x[i] for x in sc)
            lines.append(f"| {b} | {name} | {p:.2f} | {s:.2f} | {p - s:+.2f} |")
    return lines


def import_times(log: Path, top: int = 8) -> dict:
    """Top-level entries of `python -X importtime` (lazy imports inside functions are top-level too)."""
    entries = []
    for line in log.read_text().splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            _, cum, name = line[len("import time:"):].split("|")
            if not name[1:].startswith(" "):
                entries.append((int(cum) / 1e6, name.strip()))
    return {"total_s": round(sum(s for s, _ in entries), 2),
            "top": [f"{n} {s:.2f}s" for s, n in sorted(entries, reverse=True)[:top]]}


CHAIN = {"<module>", "main", "invoke", "build", "flush"}  # the cli -> run_build call chain
ENGINE = {("llm.py", "generate"), ("llm.py", "__init__"), ("utils.py", "generate"), ("ing_utils.py", "from_pretrained")}


def profile_functions(path: Path, top: int = 22) -> list[tuple]:
    """(function, calls, cumulative s): pairforge's own, the engines' load/generate, all imports."""
    import pstats

    keep = []
    for (file, _, fn), (_, nc, _, ct, _) in pstats.Stats(str(path)).stats.items():
        own = "/pairforge/" in file and not (fn in CHAIN and ct > 0.5)
        if own or fn == "_find_and_load" or any(file.endswith(f) and fn == g for f, g in ENGINE):
            keep.append(("/".join(Path(file).parts[-2:]) + f":{fn}", nc, round(ct, 3)))
    return sorted(keep, key=lambda x: -x[2])[:top]


def profile(b: str, ctx: dict) -> list[str]:
    n, work = ctx["args"].profile_prompts, ctx["work"]
    for v in ("pairforge", "script"):
        run_variant(b, v, n, ctx, ("-X", "importtime"), "-importtime")
    it = {v: import_times(work / f"{v}-{b}-{n}-importtime.err") for v in ("pairforge", "script")}
    cp = run_variant(b, "pairforge", n, ctx, ("-m", "cProfile", "-o", str(prof := work / f"pf-{b}.prof")), "-cprof")
    ctx["report"].setdefault("profiles", {})[b] = {"importtime": it, "cprofile_stages": cp["phases"]}
    tops = [f"- {v}: " + ", ".join(it[v]["top"]) for v in it]
    return [f"\n### {b}: profiles at {n} prompts", f"-X importtime, top level: pairforge {it['pairforge']['total_s']}"
            f"s, script {it['script']['total_s']}s", *tops, f"\ncProfile'd build, stats.json seconds: {cp['phases']}",
            "", "| function | calls | cumulative s |", "|---|---|---|",
            *(f"| {f} | {nc} | {ct} |" for f, nc, ct in profile_functions(prof))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=128), ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--backends", nargs="+", default=["transformers", "vllm"], choices=["transformers", "vllm"])
    ap.add_argument("--batch-size", type=int, default=16, help="weak_model.batch_size (pairforge's default)")
    ap.add_argument("--ablations", action="store_true", help="vLLM scripts with per-prompt seeds / per-batch calls")
    ap.add_argument("--profile-prompts", type=int, default=16), ap.add_argument("--no-profile", action="store_true")
    ap.add_argument("--workdir", default="/tmp/pairforge-bench-build")
    ap.add_argument("--alpaca", default=str(ALPACA), help="the Alpaca JSON (default: ../shared/data beside the repo)")
    ap.add_argument("--run-script", choices=["transformers", "vllm"], help=argparse.SUPPRESS)
    ap.add_argument("--model"), ap.add_argument("--data"), ap.add_argument("--out")
    ap.add_argument("--seeds", action="store_true"), ap.add_argument("--batches", action="store_true")
    a = ap.parse_args()
    if a.run_script:
        return print(json.dumps((script_vllm if a.run_script == "vllm" else script_transformers)(a)))
    (work := Path(a.workdir)).mkdir(parents=True, exist_ok=True)
    ctx = {"args": a, "work": work, "model": weights_folder(),
           "data": {n: make_data(n, work, Path(a.alpaca)) for n in {a.prompts, a.profile_prompts}}}
    ctx["report"] = report = {"prompts": a.prompts, "repeats": a.repeats, "cpus": os.cpu_count(), "runs": measure(ctx)}
    print("\n".join(["## pairforge build vs hand-written script", *summary_table(report["runs"], a.prompts),
                     "", "## Where pairforge's seconds go (medians)", *breakdown_table(report["runs"])]), flush=True)
    for b in [] if a.no_profile else a.backends:
        print("\n".join(profile(b, ctx)), flush=True)
    (work / "report.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
