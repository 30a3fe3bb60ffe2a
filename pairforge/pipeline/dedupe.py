"""Dedupe stages: exact (normalised prompt) and near-duplicate (MinHash + banded LSH) prompts.
Both are global over the run: the first row seen stays, later copies are dropped. Both compare
the text `dedupe.key` names (text.dedupe_texts): by default the user messages only, so distinct
questions under one shared system prompt are not duplicates."""

from __future__ import annotations

from ..recipe import NearDedupeConfig
from .stage import split_by_reason
from .text import dedupe_texts, normalised, shingles

class ExactDedupe:
    """Drop a row whose normalised prompt was seen before; the first in source order stays.

    Seen prompts are kept as their 64-bit Python hash in sorted NumPy segments, merged as they
    accumulate (8 bytes per distinct prompt, no Python set); a batch is checked in NumPy."""

    name = "dedupe_exact"

    def __init__(self, key: str = "user_turns"):
        self.key = key
        self.segments: list = []  # sorted int64 hashes, each segment at most half the one before

    def _seen(self, hashes):
        import numpy as np

        seen = np.zeros(len(hashes), dtype=bool)
        for seg in self.segments:
            pos = np.minimum(np.searchsorted(seg, hashes), len(seg) - 1)
            seen |= seg[pos] == hashes
        return seen

    def _add(self, new) -> None:
        import numpy as np

        self.segments.append(new)
        while len(self.segments) > 1 and len(self.segments[-1]) * 2 >= len(self.segments[-2]):
            b, a = self.segments.pop(), self.segments.pop()
            self.segments.append(np.sort(np.concatenate([a, b]), kind="stable"))  # two sorted runs: a merge

    def __call__(self, table):
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        texts = normalised(dedupe_texts(table, self.key)).to_pylist()
        hashes = np.fromiter((hash(t) for t in texts), dtype=np.int64, count=len(texts))
        order = np.argsort(hashes, kind="stable")  # equal hashes: the earliest row first
        ordered = hashes[order]
        first = np.ones(len(hashes), dtype=bool)
        first[1:] = ordered[1:] != ordered[:-1]
        dup = np.ones(len(hashes), dtype=bool)
        dup[order[first]] = False
        dup |= self._seen(hashes)
        new = ordered[first & ~dup[order]]
        if len(new):
            self._add(new)
        reasons = pc.if_else(pa.array(dup), pa.scalar("duplicate_prompt"), pa.scalar(None, pa.string()))
        return split_by_reason(table, reasons)


class NearDedupe:
    """MinHash (rensa) + banded LSH over word shingles of the normalised prompt; the first seen stays.

    A whole-source stage (spill.run_two_pass): `observe` signs every row and spills, per row and
    band, a (band key, row) record to disk buckets (spill.Buckets, datatrove's layout) and a
    1-byte-per-permutation copy of the signature (b-bit minwise hashing) to a file; `resolve` reads
    one bucket at a time, pairs the rows that share a band key, verifies each pair against the
    threshold (band matches only propose candidates, so a loose band setting keeps recall high
    without false drops) and drops, in row order, a row similar to an earlier row that was kept;
    `__call__` then hands back the observed rows in order, each with its decision. Memory is one
    bucket and the similar pairs, not the index: the same removals as an in-memory index (the first
    row of a group stays, a row near only a dropped row stays), at any number of rows.
    Called on a table it has not observed, it observes and resolves that table first (a one-off call).
    """

    name = "dedupe_near"

    def __init__(self, cfg: NearDedupeConfig, key: str = "user_turns"):
        import numpy as np

        self.key = key
        self.threshold, self.num_perm, self.bands = cfg.threshold, cfg.num_perm, cfg.bands
        self.shingle, self.seed = cfg.shingle, cfg.seed
        self.rows_per_band = self.num_perm // self.bands
        self.spill_dir, self._tmp, self._buckets, self._sigs = None, None, None, None
        self.n = self.served = self.resolved = 0  # rows observed, handed back, decided
        self.drops = np.zeros(0, dtype=np.int64)  # observed rows it drops, ascending

    # -------------------------------------------------------------- first pass
    def _band_keys(self, digests):
        import numpy as np

        d = digests.reshape(len(digests), self.bands, self.rows_per_band).astype(np.uint64)
        h = np.broadcast_to(np.arange(self.bands, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15),
                            d.shape[:2]).copy()
        with np.errstate(over="ignore"):
            for j in range(self.rows_per_band):
                h = (h ^ d[:, :, j]) * np.uint64(0x100000001B3)
        return h  # (rows, bands)

    def _digests(self, texts):
        import numpy as np
        from rensa import RMinHash

        digests = np.empty((len(texts), self.num_perm), dtype=np.uint32)
        for i, text in enumerate(texts):
            mh = RMinHash(self.num_perm, self.seed)
            mh.update(shingles(text, self.shingle))
            digests[i] = mh.digest()
        return digests

    def _open(self) -> None:
        import tempfile
        from pathlib import Path

        from .spill import Buckets

        if self._buckets is None:
            if self.spill_dir is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="pairforge-neardup-")
            folder = Path(self.spill_dir or self._tmp.name) / "neardup"
            self._buckets = Buckets(folder / "buckets")
            self._sigs = open(folder / "sigs.bin", "wb")

    def observe(self, table) -> None:
        """First pass: sign the next rows and spill their band keys and signatures."""
        import numpy as np

        self._open()
        if not table.num_rows:
            return
        if self.n + table.num_rows > 2**32:
            raise ValueError("near-dedupe holds at most 2**32 rows")
        digests = self._digests(normalised(dedupe_texts(table, self.key)).to_pylist())
        rows = np.arange(self.n, self.n + len(digests), dtype=np.uint32)
        self._buckets.add(self._band_keys(digests).reshape(-1), np.repeat(rows, self.bands))
        self._sigs.write(digests.astype(np.uint8).tobytes())
        self.n += len(digests)

    # -------------------------------------------------------------- decisions
    def resolve(self) -> None:
        """Decide every row observed so far (rows decided before get the same decisions again)."""
        from .neardup_pairs import candidate_pairs, keep_first, similar_pairs

        self._open()
        self._sigs.flush()
        pairs = candidate_pairs(self._buckets)
        similar = similar_pairs(pairs, self._sigs.name, self.num_perm, self.threshold)
        self.drops, self.resolved = keep_first(similar), self.n

    def __call__(self, table):
        import numpy as np

        if self.served == self.n:  # nothing observed waits: a one-off call on this table
            self.observe(table)
            self.resolve()
        if self.served + table.num_rows > self.resolved:
            raise ValueError(f"{self.name}: {table.num_rows} rows handed in, {self.resolved - self.served} observed")
        ids = np.arange(self.served, self.served + table.num_rows)
        pos = np.minimum(np.searchsorted(self.drops, ids), max(len(self.drops) - 1, 0))
        drop = self.drops[pos] == ids if len(self.drops) else np.zeros(len(ids), dtype=bool)
        self.served += table.num_rows
        return split_by_reason(table, [("near_duplicate_prompt" if d else None) for d in drop.tolist()])
