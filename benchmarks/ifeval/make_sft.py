"""Alpaca rows -> a constrained SFT set: JSONL rows {"prompt", "response", "constraints", "id"}.

The prompt is the Alpaca instruction (plus its input) with one or two IFEval constraints appended
in IFEval's wording; the response is the row's own answer rewritten to satisfy them and checked by
the library's checkers. Rows whose rewrite fails the check are dropped and counted (per family).
Splits (train / dev / test) come from a seeded hash of the prompt, so they do not move when rows
are added or removed.

    python -m benchmarks.ifeval.make_sft --out /tmp/ifeval-sft
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import random
from pathlib import Path

from . import textops as T
from .constraints import attach_constraints, dumps, rewrite, verify

ROOT = Path(__file__).resolve().parents[2]
ALPACA = ROOT.parent / "shared" / "data" / "alpaca_cleaned_1000.json"
SPLITS = ("train", "dev", "test")


def _hash(seed: int, text: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}\x00{text}".encode()).digest()[:8], "big")


def split_of(prompt: str, seed: int, dev_frac: float, test_frac: float) -> str:
    u = _hash(seed, prompt) / 2**64
    return "test" if u < test_frac else "dev" if u < test_frac + dev_frac else "train"


def base_prompt(row: dict) -> str:
    extra = (row.get("input") or "").strip()
    return row["instruction"].strip() + (f"\n\n{extra}" if extra else "")


def constrained_prompt(row: dict, rng: random.Random, short: bool = False) -> tuple[str, list[dict]]:
    """The constraints follow the instruction (as in IFEval); the Alpaca input comes after them."""
    text, specs = attach_constraints(row["instruction"].strip(), rng, short=short)
    extra = (row.get("input") or "").strip()
    return text + (f"\n\n{extra}" if extra else ""), specs


def make_rows(rows: list[dict], seed: int = 0, short_words: int | None = None) -> tuple[list[dict], dict]:
    """(kept rows, drop counts). Each row's constraints come from its own seeded generator. With
    `short_words`, the short-answer regime: the answer is first cut to at most that many words (at
    a sentence boundary) and word limits are drawn for short answers."""
    kept, drops = [], collections.Counter()
    for row in rows:
        prompt = base_prompt(row)
        rng = random.Random(_hash(seed, "constraints\x00" + prompt))
        text, specs = constrained_prompt(row, rng, short=short_words is not None)
        source = row["output"] if short_words is None else T.truncate_words(T.normalise(row["output"]), short_words)
        answer = rewrite(source, specs)
        ok = verify(answer, specs)
        if not all(ok):
            drops.update(s["family"] for s, good in zip(specs, ok) if not good)
            drops["rows"] += 1
            continue
        kept.append({"id": f"{_hash(seed, prompt):016x}", "prompt": text, "response": answer,
                     "constraints": dumps(specs)})
    return kept, dict(drops)


def write_splits(rows: list[dict], out: Path, seed: int = 0, dev_frac: float = 0.1,
                 test_frac: float = 0.1, short_words: int | None = None) -> dict:
    """Write out/{train,dev,test}.jsonl and out/stats.json; return the stats."""
    out.mkdir(parents=True, exist_ok=True)
    kept, drops = make_rows(rows, seed, short_words)
    by_split = {s: [] for s in SPLITS}
    for r in kept:
        by_split[split_of(r["id"], seed, dev_frac, test_frac)].append(r)
    for name, part in by_split.items():
        with open(out / f"{name}.jsonl", "w") as fh:
            fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in part)
    families = collections.Counter(s["family"] for r in kept for s in json.loads(r["constraints"]))
    stats = {"rows_read": len(rows), "rows_kept": len(kept), "dropped": drops.get("rows", 0),
             "dropped_by_family": {k: v for k, v in sorted(drops.items()) if k != "rows"},
             "splits": {k: len(v) for k, v in by_split.items()}, "families_kept": dict(sorted(families.items())),
             "seed": seed, "short_words": short_words, "dev_frac": dev_frac, "test_frac": test_frac}
    (out / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    return stats


def read_jsonl(path: Path, limit: int | None = None) -> list[dict]:
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    return rows[:limit] if limit else rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ALPACA), help="JSON array of {instruction, input, output}")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, help="read only the first N rows")
    ap.add_argument("--dev-frac", type=float, default=0.1)
    ap.add_argument("--test-frac", type=float, default=0.1)
    ap.add_argument("--short-words", type=int, help="short-answer regime: cut answers to N words first")
    a = ap.parse_args(argv)
    rows = json.loads(Path(a.data).read_text())[: a.limit]
    print(json.dumps(write_splits(rows, Path(a.out), a.seed, a.dev_frac, a.test_frac, a.short_words), indent=2))


if __name__ == "__main__":
    main()
