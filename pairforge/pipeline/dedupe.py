"""Dedupe stages: exact (normalised prompt) and near-duplicate (MinHash + banded LSH) prompts.
Both are global over the run: the first row seen stays, later copies are dropped. Both compare
the text `dedupe.key` names (text.dedupe_texts): by default the user messages only, so distinct
questions under one shared system prompt are not duplicates."""

from __future__ import annotations

from ..recipe import NearDedupeConfig
from .spill import WholeSource
from .text import dedupe_texts, normalised, shingle_lists


class ExactDedupe(WholeSource):
    """Drop a row whose normalised prompt was seen before; the first in source order stays.

    A whole-source stage (spill.WholeSource): each row's 64-bit Python hash of its normalised
    prompt goes to disk buckets with its row number; a bucket at a time is sorted, and every row
    after the first of a hash is dropped. Memory is a bucket, not the seen hashes."""

    name, reason = "dedupe_exact", "duplicate_prompt"

    def __init__(self, key: str = "user_turns"):
        super().__init__()
        self.key, self._buckets = key, None

    def _sign(self, table):
        import numpy as np

        texts = normalised(dedupe_texts(table, self.key)).to_pylist()
        return np.fromiter((hash(t) for t in texts), dtype=np.int64, count=len(texts)).view(np.uint64)

    def _observe(self, hashes, first_row: int) -> None:
        import numpy as np

        from .buckets import Buckets

        self._buckets = self._buckets or Buckets(self.folder() / "buckets")
        self._buckets.add(hashes, np.arange(first_row, first_row + len(hashes), dtype=np.uint32))

    def _decide(self, absent):
        import numpy as np

        drops = [np.zeros(0, dtype=np.int64)]
        for rec in self._buckets or ():
            rec = rec[np.argsort(rec["key"], kind="stable")]  # stable: the first row of a hash first
            drops.append(rec["row"][1:][rec["key"][1:] == rec["key"][:-1]].astype(np.int64))
        return np.sort(np.concatenate(drops))


class NearDedupe(WholeSource):
    """MinHash (rensa) + banded LSH over word shingles of the normalised prompt; the first seen stays.

    A whole-source stage (spill.run_two_pass): `observe` signs every row and spills, per row and
    band, a (band key, row) record to disk buckets (buckets.Buckets, datatrove's layout) and a
    1-byte-per-permutation copy of the signature (b-bit minwise hashing) to a file; `resolve` reads
    one bucket at a time, pairs the rows that share a band key, verifies each pair against the
    threshold (band matches only propose candidates, so a loose band setting keeps recall high
    without false drops) and drops, in row order, a row similar to an earlier row that was kept;
    `__call__` then hands back the observed rows in order, each with its decision. Memory is one
    bucket and the similar pairs, not the index: the same removals as an in-memory index (the first
    row of a group stays, a row near only a dropped row stays), at any number of rows.
    Called on a table it has not observed, it observes and resolves that table first (a one-off call).
    """

    name, reason = "dedupe_near", "near_duplicate_prompt"

    def __init__(self, cfg: NearDedupeConfig, key: str = "user_turns"):
        super().__init__()
        self.key = key
        self.threshold, self.num_perm, self.bands = cfg.threshold, cfg.num_perm, cfg.bands
        self.shingle, self.seed = cfg.shingle, cfg.seed
        self.rows_per_band = self.num_perm // self.bands
        self._buckets, self._sigs = None, None

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
        """(rows, num_perm) uint32 MinHash digests of the word shingles of each text of an Arrow string
        array (text.shingle_lists). One RMinHash a row: rensa's batch calls return objects whose
        conversion to NumPy costs more than they save (measured: 0.25 s vs 0.15 s a 20k rows). The
        digests are gathered in an array.array (0.205 vs 0.233 s a 20k rows with a NumPy row each).
        Tried and dropped: shingles as byte slices of the Arrow data (the same hashes, but finding
        the word bounds cost more than joining saved); signing on worker processes (2 cores: the
        main process's own 1.5 CPU s plus the workers' start left 2.2 s against 2.0 in one thread)."""
        from array import array

        import numpy as np
        from rensa import RMinHash

        out = array("I")
        for tokens in shingle_lists(texts, self.shingle):
            mh = RMinHash(self.num_perm, self.seed)
            mh.update(tokens)
            out.extend(mh.digest())
        return np.frombuffer(out, dtype=np.uint32).reshape(len(texts), self.num_perm)

    def _sign(self, table):
        """A table's (MinHash digests, band keys)."""
        import pyarrow as pa

        digests = self._digests(dedupe_texts(table, self.key) if table.num_rows else pa.array([], pa.string()))
        return digests, self._band_keys(digests)

    def _observe(self, signed, first_row: int) -> None:
        """First pass: spill the rows' band keys and signatures."""
        import numpy as np

        from .buckets import Buckets

        if self._buckets is None:
            self._buckets = Buckets(self.folder() / "buckets")
            self._sigs = open(self.folder() / "sigs.bin", "wb")
        digests, keys = signed
        if not len(digests):
            return
        rows = np.arange(first_row, first_row + len(digests), dtype=np.uint32)
        self._buckets.add(keys.reshape(-1), np.repeat(rows, self.bands))
        self._sigs.write(digests.astype(np.uint8).tobytes())

    def _decide(self, absent):
        """Candidate pairs (sharing a band key; none with an absent row), verified, then keep-first."""
        import numpy as np

        from .neardup_pairs import candidate_pairs, keep_first, similar_pairs

        if self._buckets is None:
            return np.zeros(0, dtype=np.int64)
        self._sigs.flush()
        pairs = candidate_pairs(self._buckets)
        if len(absent):
            low, high = (pairs & np.uint64(2**32 - 1)).astype(np.int64), (pairs >> np.uint64(32)).astype(np.int64)
            pairs = pairs[~(np.isin(low, absent) | np.isin(high, absent))]
        return keep_first(similar_pairs(pairs, self._sigs.name, self.num_perm, self.threshold))
