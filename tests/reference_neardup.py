"""The in-memory near-dedupe that pairforge.pipeline.dedupe.NearDedupe replaced (its index now spills
to disk); tests/test_neardup_spill.py checks that both drop the same rows."""

from __future__ import annotations

from pairforge.pipeline.dedupe import NearDedupe
from pairforge.pipeline.stage import split_by_reason
from pairforge.pipeline.text import dedupe_texts, normalised, shingles

_ROW_BITS = 2**32 - 1  # the index: the low 32 bits of an entry are the row id
_KEY_BITS = 2**64 - 2**32  # and the high 32 bits the band key's


class ReferenceNearDedupe:
    """NearDedupe as it was before its index went to disk (kept here as the reference): an in-memory
    index of the kept rows' band keys, queried batch by batch; one fix, marked in _batch_candidates.

    The LSH index is compact: per kept row and band, one uint64 holding the band key's high 32
    bits and the row id, in sorted NumPy segments (merged as they accumulate), plus a 1-byte-per-permutation copy of the
    signature (b-bit minwise hashing) to verify candidates against the threshold. Band matches
    only propose candidates, so a loose band setting keeps recall high without false drops.
    Queries are vectorised per batch; Python only loops over rows that have candidates.
    """

    name = "dedupe_near"

    def __init__(self, cfg, key: str = "user_turns"):
        import numpy as np

        self.key = key
        self.threshold, self.num_perm, self.bands = cfg.threshold, cfg.num_perm, cfg.bands
        self.shingle, self.seed = cfg.shingle, cfg.seed
        self.rows_per_band = self.num_perm // self.bands
        self.sigs = np.zeros((1024, self.num_perm), dtype=np.uint8)
        self.n = 0
        self.segments: list = []  # sorted uint64: band key's high 32 bits | row id

    # -------------------------------------------------------------- index
    # the band keys are the new stage's own (unchanged); the signing is the old per-row one (a Python
    # str.split and join per shingle), so the vectorised shingles are checked against it
    _band_keys = NearDedupe._band_keys

    def _digests(self, texts):
        import numpy as np
        from rensa import RMinHash

        out = []
        for text in texts:
            mh = RMinHash(self.num_perm, self.seed)
            mh.update(shingles(text, self.shingle))
            out.append(mh.digest())
        return np.array(out, dtype=np.uint32).reshape(len(texts), self.num_perm)

    def _add_segment(self, keys, rows) -> None:
        """One sorted uint64 per (band key, row): the key's high 32 bits and the row id below."""
        import numpy as np

        if self.n >= 2**32:
            raise ValueError("near-dedupe index holds at most 2**32 rows")
        self.segments.append(np.sort((keys & np.uint64(_KEY_BITS)) | rows.astype(np.uint64)))
        while len(self.segments) > 1 and len(self.segments[-1]) * 2 >= len(self.segments[-2]):
            b, a = self.segments.pop(), self.segments.pop()
            self.segments.append(np.sort(np.concatenate([a, b]), kind="stable"))  # two sorted runs: a merge

    def _existing_candidates(self, keys):
        """{batch row: set of kept row ids sharing a band key's high 32 bits} from the index (a
        wider net than the whole key: candidates are verified against the threshold)."""
        import numpy as np

        flat = keys.reshape(-1) & np.uint64(_KEY_BITS)
        owner = np.repeat(np.arange(len(keys)), self.bands)
        found: dict[int, set] = {}
        for seg in self.segments:
            pos = np.minimum(np.searchsorted(seg, flat), len(seg) - 1)  # the lowest row id first
            hit = (seg[pos] & np.uint64(_KEY_BITS)) == flat
            rows = (seg[pos[hit]] & np.uint64(_ROW_BITS)).astype(np.int64)
            for o, r in zip(owner[hit].tolist(), rows.tolist()):
                found.setdefault(o, set()).add(r)
        return found

    def _similar(self, digest, candidates) -> bool:
        import numpy as np

        match = (self.sigs[np.fromiter(candidates, dtype=np.int64)] == digest).mean(axis=1)
        jaccard = (match - 1 / 256) / (1 - 1 / 256)  # bytes match by chance 1 time in 256
        return bool((jaccard >= self.threshold).any())

    def _batch_candidates(self, keys):
        """{batch row: set of earlier batch rows sharing a band key}."""
        import numpy as np

        in_batch: dict[int, set] = {}
        flat = keys.reshape(-1)
        order = np.argsort(flat, kind="stable")
        sorted_keys = flat[order]
        dup = np.flatnonzero(sorted_keys[1:] == sorted_keys[:-1]) + 1
        for pos in dup.tolist():
            first = pos
            while first > 0 and sorted_keys[first - 1] == sorted_keys[pos]:
                first -= 1
                # every earlier member, not only the first (pairforge <= e9c45b0 stopped at the first:
                # when that one was dropped, a later row missed a kept one in the same batch)
                later, earlier = int(order[pos]) // self.bands, int(order[first]) // self.bands
                if later != earlier:
                    in_batch.setdefault(later, set()).add(earlier)
        return in_batch

    def _reserve(self, rows: int) -> None:
        import numpy as np

        need = max(self.n + rows, 1)
        if need > len(self.sigs):
            grown = np.zeros((max(need, 2 * len(self.sigs)), self.num_perm), dtype=np.uint8)
            grown[: self.n] = self.sigs[: self.n]
            self.sigs = grown

    def __call__(self, table):
        import numpy as np

        texts = normalised(dedupe_texts(table, self.key)).to_pylist()
        digests = self._digests(texts)
        keys = self._band_keys(digests)
        small = digests.astype(np.uint8)
        found = self._existing_candidates(keys)
        in_batch = self._batch_candidates(keys)
        self._reserve(len(texts))
        kept_rows, kept_ids, reasons, batch_id = [], [], [], {}
        for i in range(len(texts)):
            cands = set(found.get(i, ()))
            cands.update(batch_id[j] for j in in_batch.get(i, ()) if j in batch_id)
            if cands and self._similar(small[i], cands):
                reasons.append("near_duplicate_prompt")
                continue
            reasons.append(None)
            batch_id[i] = self.n
            self.sigs[self.n] = small[i]
            kept_rows.append(i)
            kept_ids.append(self.n)
            self.n += 1
        if kept_rows:
            self._add_segment(keys[kept_rows].reshape(-1), np.repeat(np.asarray(kept_ids, dtype=np.int64), self.bands))
        return split_by_reason(table, reasons)
