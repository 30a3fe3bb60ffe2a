"""The post-generation stages over the stored shards, as `finish` runs them: the stages before a
judge are pure, so a shard's run on a thread (parallel.py) while earlier shards are recorded; the
judge and what follows it run here, a shard at a time, in order."""

from __future__ import annotations

from . import publish
from .parallel import apply_stages, ordered_map, record_applied
from .stage import record, run_stages


def run_post(store, n_shards: int, model: str, post: list, stats, excluded, scores):
    """(generated rows, rows left) of every shard in order, each recorded: 'generate' (the rows the
    weak model answered, and its drops), then each post stage. With a judge, its scores are collected
    right after it (every scored pair) and at the end (the pairs written)."""
    pure = post[: next((k for k, s in enumerate(post) if s.name == "judge"), len(post))]
    judged = post[len(pure) :]

    def read(i):
        kept, dropped = (publish.with_model_name(t, model) for t in store.read(i))  # older shards: a path
        return kept, dropped, *apply_stages(kept, pure)

    for kept, dropped, table, done in ordered_map(read, range(n_shards)):
        record("generate", kept, dropped, stats, excluded)
        record_applied(done, stats, excluded)
        if judged:
            table = run_stages(table, judged[:1], stats, excluded)
            scores.add("scored", table)
            table = run_stages(table, judged[1:], stats, excluded)
            scores.add("written", table)
        yield kept, table
