"""Writing the dataset folder: the deterministic split, Parquet splits under data/, excluded rows."""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path


SPLIT_FILE = "data/{split}-00000-of-00001.parquet"
SCORE_COLUMNS = ("chosen_score", "rejected_score", "score_margin", "judge_truncated")


def test_ids(ids: set[str], test_size: float, seed: int) -> set[str]:
    """Deterministic split by id: the same ids give the same test set, whatever their order.

    All samples of a prompt share its id, so they land in the same split (no leakage).
    """
    if test_size <= 0 or len(ids) < 2:
        return set()
    n_test = min(len(ids) - 1, max(1, math.ceil(test_size * len(ids))))
    ranked = sorted(ids, key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest())
    return set(ranked[:n_test])


def to_output_table(table, fmt: str):
    """Shard rows -> the published columns (TRL's conversational or standard preference format)."""
    import pyarrow as pa

    from ..data.schemas import message_type

    cols = {
        "id": table["id"],
        "source_index": table["source_index"],
        "turn_index": table["turn_index"],
        "sample_index": table["sample_index"],
    }
    prompts = table["prompt"].to_pylist()
    chosen = table["chosen"].to_pylist()
    rejected = table["rejected"].to_pylist()
    if fmt == "conversational":
        data = {
            "prompt": pa.array(prompts, message_type()),
            "chosen": pa.array([[{"role": "assistant", "content": c}] for c in chosen], message_type()),
            "rejected": pa.array([[{"role": "assistant", "content": r}] for r in rejected], message_type()),
        }
    else:
        data = {
            "prompt": pa.array([render_plain(p) for p in prompts], pa.string()),
            "chosen": pa.array(chosen, pa.string()),
            "rejected": pa.array(rejected, pa.string()),
        }
    for name in ("rejected_model", "rejected_finish_reason", "prompt_tokens", "chosen_tokens", "rejected_tokens"):
        cols[name] = table[name]
    for name in SCORE_COLUMNS:  # present when the build had a judge
        if name in table.column_names:
            cols[name] = table[name]
    return pa.table({**data, **cols})


def render_plain(messages: list[dict]) -> str:
    """The standard format's prompt: the user's text alone for a one-turn prompt without a system
    prompt, else every turn labelled ('System: ...', 'User: ...', 'Assistant: ...')."""
    if len(messages) == 1:
        return messages[0]["content"]
    return "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in messages)


class SplitWriter:
    """Streams output tables into data/<split>-00000-of-00001.parquet."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self.writers = {}
        self.counts = {}
        (out_dir / "data").mkdir(parents=True, exist_ok=True)
        for old in (out_dir / "data").glob("*.parquet"):
            old.unlink()

    def write(self, split: str, table) -> None:
        import pyarrow.parquet as pq

        if table.num_rows == 0:
            return
        if split not in self.writers:
            path = self.out_dir / SPLIT_FILE.format(split=split)
            self.writers[split] = pq.ParquetWriter(str(path) + ".tmp", table.schema)
            self.counts[split] = 0
        self.writers[split].write_table(table)
        self.counts[split] += table.num_rows

    def close(self) -> dict:
        for split, w in self.writers.items():
            w.close()
            path = self.out_dir / SPLIT_FILE.format(split=split)
            os.replace(str(path) + ".tmp", path)
        return dict(self.counts)


class ExcludedWriter:
    """Every dropped row, with its stage and reason, in excluded/<stage>.parquet."""

    def __init__(self, out_dir: Path):
        self.dir = out_dir / "excluded"
        self.dir.mkdir(parents=True, exist_ok=True)
        for old in self.dir.glob("*.parquet"):
            old.unlink()
        self.writers = {}

    def add(self, stage: str, dropped, stats) -> None:
        """dropped: an Arrow table with `reason` and, where known, id / source_index."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from ..data.schemas import excluded_schema

        if dropped is None or dropped.num_rows == 0:
            return
        reasons = dropped["reason"].to_pylist()
        for r in set(reasons):
            stats.drop(stage, r, reasons.count(r))
        n = dropped.num_rows
        names = dropped.column_names
        detail_cols = [c for c in names if c not in ("reason", "id", "source_index")]
        details = [json.dumps(row, ensure_ascii=False, default=str)[:4000] for row in dropped.select(detail_cols).to_pylist()]
        t = pa.table({
            "stage": pa.array([stage] * n, pa.string()),
            "reason": dropped["reason"],
            "id": dropped["id"] if "id" in names else pa.nulls(n, pa.string()),
            "source_index": dropped["source_index"] if "source_index" in names else pa.nulls(n, pa.int64()),
            "detail": pa.array(details, pa.string()),
        }, schema=excluded_schema())
        if stage not in self.writers:
            self.writers[stage] = pq.ParquetWriter(str(self.dir / f"{stage}.parquet"), excluded_schema())
        self.writers[stage].write_table(t)

    def close(self) -> None:
        for w in self.writers.values():
            w.close()

