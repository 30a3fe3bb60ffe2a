"""The run's markdown report: one row per arm, plus the dev-split selection and timings."""

from __future__ import annotations


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def arm_table(results: dict) -> list[str]:
    lines = ["| arm | in-dist pass (strict) | in-dist pass (loose) | IFBench strict | IFBench loose | "
             "in-dist prompts | IFBench prompts (left out) |",
             "|---|---|---|---|---|---|---|"]
    for arm, r in results.items():
        i, b = r.get("indist", {}), r.get("ifbench", {})
        lines.append(f"| {arm} | {_pct(i.get('pass_rate'))} | {_pct(i.get('pass_rate_loose'))} | "
                     f"{_pct(b.get('strict'))} | {_pct(b.get('loose'))} | {i.get('prompts', 0)} | "
                     f"{b.get('prompts', 0)} ({b.get('unscorable', 0)}), {b.get('instruction_types', 0)} types |")
    return lines


def selection_table(sel: dict) -> list[str]:
    lines = ["| trial | dev pass | train loss | s/step |", "|---|---|---|---|"]
    for t in sel["trials"]:
        tr = t["train"]
        lines.append(f"| {t['tag']} | {_pct(t['dev'])} | {tr.get('train_loss')} | {tr.get('seconds_per_step')} |")
    return lines


def markdown(report: dict) -> str:
    c, p = report["config"], report["prepare"]
    lines = [
        "# pairforge IFEval-style outcome benchmark", "",
        f"Command: `{report.get('command', '')}`", "",
        f"Model: `{p['model']}`; training budget per arm: {c['steps']} steps x batch {c['batch']} "
        f"(SFT->IPO: {c['steps'] // 2} + {c['steps'] - c['steps'] // 2}); LoRA rank {c['rank']}; "
        f"greedy, max {c['max_new_tokens']} new tokens ({c['backend']}).",
        f"Prompts used: {p['prompts_used']}; pairs: {p['build'].get('splits')}; "
        f"SFT rows dropped by the rewrite check: {p['sft_data']['dropped']} of {p['sft_data']['rows_read']}.", "",
        *arm_table(report["results"]), "",
        "Selection on the dev split (in-distribution pass rate):", "",
        *selection_table(report["selection"]), "",
        f"Seconds: {report['seconds']}", "",
    ]
    return "\n".join(lines)
