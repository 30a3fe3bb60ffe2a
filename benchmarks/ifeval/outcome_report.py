"""The outcome run's report (results.json, results.md) and the --quick run's checks that can fail."""

from __future__ import annotations

import json
from pathlib import Path

from . import arms
from .paired import paired, pooled

COMPARISONS = (("ipo", "base"), ("sft", "base"), ("sft+ipo", "base"), ("ipo", "sft"), ("sft+ipo", "sft"))


def _flags(ev: dict) -> list[bool]:
    return [bool(r["prompt_strict"]) for r in ev["records"]["indist"]]


def load_records(work: Path, split: str, tag: str) -> dict:
    return json.loads((work / "evals" / f"{split}-{tag}.json").read_text())


def comparisons(work: Path, seeds: list[int]) -> list[dict]:
    runs = {"base": [_flags(load_records(work, "test", "base"))]}
    for arm in ("sft", "ipo", "sft+ipo"):
        runs[arm] = [_flags(load_records(work, "test", f"{arm}-s{s}")) for s in seeds]
    out = []
    for a, b in COMPARISONS:
        per_seed = [paired(ra, runs[b][0] if b == "base" else runs[b][k]) for k, ra in enumerate(runs[a])]
        out.append({"a": a, "b": b, "per_seed": [{"seed": s, **p} for s, p in zip(seeds, per_seed)],
                    "pooled": pooled(runs[a], runs[b])})
    return out


def check_quick(a, work: Path, step, base: str, n: int) -> dict:
    """--quick's assertions: >= 8 pairs; the IPO margin on the train pairs rises after training on
    them and falls after training on them with chosen and rejected swapped."""
    import pyarrow.parquet as pq

    from .margin import mean_margin

    rows = pq.read_table(work / "pairs-train" / "data" / "train-00000-of-00001.parquet").to_pylist()
    lr, beta = (float(x) for x in a.ipo_grid.split(",")[0].split(":"))
    steps = max(1, n // a.batch)
    swapped = step("ipo-swapped-s0", lambda: arms.train_ipo(
        base, work / "pairs-swapped", work / "models" / "ipo-swapped-s0", work / "logs", steps=steps, lr=lr,
        beta=beta, rank=a.rank, batch=a.batch, max_length=a.max_length, threads=a.threads))
    m = {"pairs": n, "before": mean_margin(base, rows), "after_ipo": mean_margin(str(work / "models" / "ipo-s0"), rows),
         "after_swapped": mean_margin(swapped["output_dir"], rows)}
    failures = []
    if n < 8:
        failures.append(f"only {n} pairs (at least 8 needed)")
    if not m["after_ipo"] > m["before"]:
        failures.append(f"IPO did not raise the margin on its train pairs ({m['before']:.4f} -> {m['after_ipo']:.4f})")
    if not m["after_swapped"] < m["before"]:
        failures.append(f"IPO on swapped pairs did not lower it ({m['before']:.4f} -> {m['after_swapped']:.4f})")
    m["failures"] = failures
    return m


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def _pts(x) -> str:
    return f"{100 * x:+.1f}"


def _arm_rows(evals: dict) -> list[str]:
    lines = ["| arm | seed | in-dist strict | in-dist loose | IFBench strict | IFBench loose | prompts (IFBench) |",
             "|---|---|---|---|---|---|---|"]
    for (arm, seed), ev in evals.items():
        i, b = ev.get("indist", {}), ev.get("ifbench") or {}
        lines.append(f"| {arm} | {'-' if seed is None else seed} | {_pct(i.get('pass_rate'))} | "
                     f"{_pct(i.get('pass_rate_loose'))} | {_pct(b.get('strict'))} | {_pct(b.get('loose'))} | "
                     f"{i.get('prompts')} ({b.get('prompts', '-')}) |")
    return lines


def _comparison_rows(comps: list[dict]) -> list[str]:
    lines = ["| comparison | seed | difference (points) | 95 % interval | only a / only b | p |",
             "|---|---|---|---|---|---|"]
    for c in comps:
        name = f"{c['a']} - {c['b']}"
        for p in c["per_seed"]:
            lo, hi = p["ci95"]
            lines.append(f"| {name} | {p['seed']} | {_pts(p['diff'])} | [{_pts(lo)}, {_pts(hi)}] | "
                         f"{p['only_a']} / {p['only_b']} | {p['p_mcnemar']:.2g} (exact McNemar) |")
        q = c["pooled"]
        lines.append(f"| {name} | pooled ({q['runs_a']} vs {q['runs_b']} runs) | {_pts(q['diff'])} | "
                     f"[{_pts(q['ci95'][0])}, {_pts(q['ci95'][1])}] | | {q['p_permutation']:.2g} (sign-flip) |")
    return lines


def _pilot_rows(pil: dict) -> list[str]:
    lines = ["| trial | dev strict | train loss | s/step |", "|---|---|---|---|",
             f"| base | {_pct(pil['base_dev'])} | | |"]
    for t in pil["trials"]:
        tr = t["train"]
        lines.append(f"| {t['tag']} | {_pct(t['dev'])} | {tr.get('train_loss')} | {tr.get('seconds_per_step')} |")
    return lines


def report(a, work: Path, command: str, prep, sizes, pil, trained, evals, margins, seconds, resumed) -> dict:
    seeds = [int(s) for s in a.seeds.split(",")]
    comps = comparisons(work, seeds)
    best = pil["best"]
    md = [
        "# pairforge outcome benchmark: do the pairs teach?", "", f"Command: `{command}`", "",
        f"Model: {'a tiny random model (--quick)' if a.quick else 'SmolLM2-135M-Instruct'}; LoRA r{a.rank}; "
        f"batch {a.batch}; max_length {a.max_length}; greedy evaluation, max {a.max_new_tokens} new tokens "
        f"(IFBench {a.ifbench_max_new_tokens}), {a.backend}; training seeds {a.seeds}.",
        f"Data: {prep['sft_data']['rows_kept']} constrained Alpaca rows (answers cut to {a.short_words} words); "
        f"prompts used {prep['prompts_used']}; build: {prep['build'].get('rows_read')} train prompts -> "
        f"{sizes['pairs_available']} pairs; {sizes['train']} trained on (pilot: {sizes['pilot']}).",
        f"Hyper-parameters from the pilot (dev prompts only): SFT lr {best['sft']['lr']:g}; IPO lr "
        f"{best['ipo']['lr']:g}, beta {best['ipo']['beta']:g}.", "",
        "## Test prompts (primary endpoint: prompt-level strict pass)", "", *_arm_rows(evals), "",
        "## Paired comparisons on the test prompts", "", *_comparison_rows(comps), "",
        "## Pilot (dev prompts)", "", *_pilot_rows(pil), "",
        f"Wall time {seconds} s this invocation; steps resumed from an earlier invocation: {len(resumed)}.", "",
    ]
    if margins:
        md += ["## --quick checks", "", f"IPO margin on the {margins['pairs']} train pairs: before "
               f"{margins['before']:.4f}, after IPO {margins['after_ipo']:.4f}, after IPO on swapped pairs "
               f"{margins['after_swapped']:.4f}. Failures: {margins['failures'] or 'none'}", ""]
    result = {"command": command, "config": vars(a), "prepare": prep, "subsets": sizes, "pilot": pil,
              "trained": {f"{k[0]}-s{k[1]}": v for k, v in trained.items()},
              "evals": {f"{k[0]}" + ("" if k[1] is None else f"-s{k[1]}"): {x: y for x, y in v.items() if x != "records"}
                        for k, v in evals.items()},
              "comparisons": comps, "quick": margins, "seconds": seconds, "markdown": "\n".join(md)}
    (work / "results.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    (work / "results.md").write_text(result["markdown"])
    if margins and margins["failures"]:
        raise SystemExit("Error: --quick checks failed: " + "; ".join(margins["failures"]))
    return result
