"""The judge stage: a score for the chosen and the rejected answer of every pair.

A scorer (judge_rm.py: a reward model; judge_llm.py: an LLM judge asked in both orders;
judge_fn.py: a function) turns rows into `(chosen_score, rejected_score, truncated, reason)`, with
the judge's reply as a fifth element where it explains a reason; a row with a reason (an
unparseable verdict, a non-finite score) is dropped with it, never kept with a made-up score, and
its reply goes to excluded/ as the first key of the row's detail (`judge_reply`).
Kept rows gain `chosen_score`, `rejected_score`, `score_margin` (chosen minus rejected) and
`judge_truncated`. Selection and the margin filter are their own stages (select.py).

Scoring is resumable: each scored table is stored under `.pairforge_work/judged/<key>` (kept, dropped,
then a completion marker), where the key digests the judge settings, the judge model's content
and the rows themselves, so a rerun skips what was scored and never reuses a stale score.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

from ..data.schemas import SOURCE_COLUMNS
from ..errors import PairforgeError
from ..fingerprint import fp_view, strip_credentials
from ..io import atomic_write_parquet, atomic_write_text
from ..lineage import label
from ..recipe import JudgeConfig
from .stage import split_by_reason

SCORE_COLUMNS = ("chosen_score", "rejected_score", "score_margin", "judge_truncated")
KEY_COLUMNS = ("id", "sample_index", "prompt", "chosen", "rejected")
# What picks the rejected sample among scored ones, not what scores it: no part of the cache key.
NOT_SCORING = ("rejected", "seed")


def judge_model_digest(cfg: JudgeConfig, function=None) -> str:
    """What identifies the judge's weights (content of a local folder, or Hub id and revision), or
    a function judge's code (its file's content)."""
    from ..weights import resolve_model, resolve_weak_model

    if function is not None:
        return f"function:{function.digest}"
    try:
        if cfg.kind == "llm":
            return resolve_weak_model(cfg.llm).digest
        return resolve_model(cfg.model, cfg.revision).digest
    except PairforgeError as e:
        raise PairforgeError(str(e).replace("weak_model.", "judge.llm." if cfg.kind == "llm" else "judge.", 1)) from None


def make_scorer(cfg: JudgeConfig, function=None):
    if function is not None:
        from .judge_fn import FunctionScorer

        return FunctionScorer(function, cfg.function_format)
    if cfg.kind == "reward_model":
        from .judge_rm import RewardModelScorer

        return RewardModelScorer(cfg)
    from .judge_llm import LLMJudgeScorer

    return LLMJudgeScorer(cfg)


class JudgedStore:
    """Scored tables under `.pairforge_work/judged/`: kept and dropped rows, then a `.done` marker."""

    def __init__(self, work_dir: Path):
        self.dir = Path(work_dir) / "judged"
        self.dir.mkdir(parents=True, exist_ok=True)
        for stale in self.dir.glob(".*.tmp-*"):  # left by a killed run
            stale.unlink()

    def _file(self, key: str, suffix: str) -> Path:
        return self.dir / f"{key}{suffix}"

    def read(self, key: str):
        import pyarrow.parquet as pq

        if not self._file(key, ".done").exists():
            return None
        return pq.read_table(self._file(key, ".parquet")), pq.read_table(self._file(key, ".dropped.parquet"))

    def write(self, key: str, kept, dropped) -> None:
        atomic_write_parquet(self._file(key, ".parquet"), kept)
        atomic_write_parquet(self._file(key, ".dropped.parquet"), dropped)
        atomic_write_text(self._file(key, ".done"), json.dumps({"rows": kept.num_rows + dropped.num_rows}))


def with_scores(table, scores: list[tuple]):
    """`table` plus the score columns from (chosen, rejected, truncated, reason) per row."""
    import pyarrow as pa

    c = [s[0] for s in scores]
    r = [s[1] for s in scores]
    margin = [None if a is None or b is None else a - b for a, b in zip(c, r)]
    cols = {"chosen_score": pa.array(c, pa.float64()), "rejected_score": pa.array(r, pa.float64()),
            "score_margin": pa.array(margin, pa.float64()),
            "judge_truncated": pa.array([bool(s[2]) for s in scores], pa.bool_())}
    for name in SCORE_COLUMNS:
        table = table.append_column(name, cols[name])
    return table


def _reason(score: tuple) -> str | None:
    c, r, _, reason = score[:4]
    if reason:
        return reason
    if c is None or r is None or not (math.isfinite(c) and math.isfinite(r) and math.isfinite(c - r)):
        return "judge_score_not_finite"  # c - r: two finite scores whose margin overflows (1e308 - -1e308)
    return None


class Judge:
    """Scores a table of pairs; the scorer (a model) is loaded on the first table not yet scored."""

    name = "judge"

    def __init__(self, cfg: JudgeConfig, work_dir: Path | None = None, scorer=None, function=None):
        self.cfg = cfg
        self._scorer = scorer
        self.function = function  # judge_fn.LoadedFunction, for kind: function
        self.store = JudgedStore(work_dir) if work_dir is not None else None
        self._settings = None
        self.tables_scored = self.tables_resumed = 0

    @property
    def scorer(self):
        if self._scorer is None:
            self._scorer = make_scorer(self.cfg, self.function)
        return self._scorer

    def settings_digest(self) -> str:
        if self._settings is None:
            self._model_digest = judge_model_digest(self.cfg, self.function)
            # a base_url's password is no setting: it changes neither the key nor stats.json's digest
            view = {k: v for k, v in strip_credentials(fp_view(self.cfg)).items() if k not in NOT_SCORING}
            view = {"judge": view, "model": self._model_digest}
            self._settings = hashlib.sha256(json.dumps(view, sort_keys=True).encode()).hexdigest()
        return self._settings

    def model_name(self) -> str:
        """The judge model as stats.json and the card name it: a Hub id or built-in name as given, a
        local folder as lineage.label names it (its name and weights digest), never its path."""
        if self.function is not None:
            return self.function.name
        model = self.cfg.llm.model if self.cfg.kind == "llm" else self.cfg.model
        self.settings_digest()
        kind, _, digest = self._model_digest.partition(":")
        if kind != "local":
            return model
        return label(model, digest)

    def key(self, table) -> str:
        h = hashlib.sha256(self.settings_digest().encode())
        columns = list(KEY_COLUMNS) + [SOURCE_COLUMNS] * (SOURCE_COLUMNS in table.column_names)
        h.update(json.dumps(table.select(columns).to_pylist(), sort_keys=True).encode())
        return h.hexdigest()[:32]

    def __call__(self, table):
        import pyarrow as pa

        if table.num_rows == 0:
            return split_by_reason(with_scores(table, []), [])
        key = self.key(table) if self.store else None
        cached = self.store.read(key) if self.store else None
        if cached is not None:
            self.tables_resumed += 1
            return cached
        scores = self.scorer.score(table.to_pylist())
        if len(scores) != table.num_rows:
            raise AssertionError(f"scorer returned {len(scores)} scores for {table.num_rows} rows")
        reasons = [_reason(s) for s in scores]
        kept, dropped = split_by_reason(with_scores(table, scores), reasons)
        replies = [s[4] if len(s) > 4 else None for s, r in zip(scores, reasons) if r]
        dropped = dropped.add_column(0, "judge_reply", pa.array(replies, pa.string()))
        if self.store:
            self.store.write(key, kept, dropped)
        self.tables_scored += 1
        return kept, dropped

    def describe(self) -> dict:
        cfg = self.cfg
        return {"kind": cfg.kind, "model": self.model_name(), "backend": cfg.llm.backend if cfg.kind == "llm" else None,
                "digest": self.settings_digest()[:16], "rejected": cfg.rejected,
                "tables_scored": self.tables_scored, "tables_resumed": self.tables_resumed}


def judge_function(recipe):
    """A function judge's loaded function (None for the other kinds); a bad one is one error line."""
    if recipe.judge.kind != "function":
        return None
    from .judge_fn import load_function

    return load_function(recipe.judge.function, recipe.resolve_path, recipe.base_dir)


def judge_stages(recipe, work_dir: Path | None) -> list:
    """The judge, then (where asked) the choice of rejected sample, then the margin filter."""
    from .select import MinMargin, SelectRejected

    stages = [Judge(recipe.judge, work_dir, function=judge_function(recipe))]
    if recipe.judge.rejected != "all":
        stages.append(SelectRejected(recipe.judge.rejected, recipe.judge.seed))
    if recipe.filters.min_margin is not None:
        stages.append(MinMargin(recipe.filters.min_margin))
    return stages
