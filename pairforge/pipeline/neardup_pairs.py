"""Near-dedupe's decisions from its spilled index (dedupe.NearDedupe.resolve): candidate pairs from
the band-key buckets, their verification against the threshold, and the keep-first pass.

A pair (i, j), i < j, is one uint64: j in the high 32 bits and i in the low ones, so sorted pairs run
in the order the rows came (j), and each row's earlier partners in order (i)."""

from __future__ import annotations

# The resolve step's working memory is set by these three, not by the rows. At 1 << 22 pairs a
# compaction held ~100 MB for a moment: 10M streamed rows peaked at 410 MiB against 333 at 1M, the
# near resolve adding 36 MiB at 3M rows; at 1 << 20 it adds 16 (benchmarks/quality.py --streamed-only).
PAIR_LIMIT = 1 << 20  # pairs made at once from one bucket (a huge group is cut into pieces)
COMPACT = 1 << 20  # raw pairs gathered before duplicates (one pair, several bands) are removed
VERIFY_CHUNK = 1 << 15  # pairs verified at once (two signatures each)
_LOW = 2**32 - 1


def _group_pairs(keys, rows):
    """Every (earlier, later) pair of rows sharing a key, from records sorted by key (rows ascending
    within a key): a list of uint64 pair arrays."""
    import numpy as np

    same = keys[1:] == keys[:-1]
    if not same.any():
        return []
    member = np.zeros(len(keys), dtype=bool)
    member[1:] |= same
    member[:-1] |= same
    keys, rows = keys[member], rows[member].astype(np.uint64)
    pos = np.arange(len(keys))
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    start = np.maximum.accumulate(np.where(first, pos, 0))
    before = pos - start  # earlier members of the key's group
    cum = np.cumsum(before)
    out, lo = [], 0
    while lo < len(keys):  # positions in pieces of at most PAIR_LIMIT pairs (at least one position)
        hi = max(lo + 1, int(np.searchsorted(cum, (cum[lo - 1] if lo else 0) + PAIR_LIMIT, side="right")))
        b = before[lo:hi]
        offs = np.arange(b.sum()) - np.repeat(np.cumsum(b) - b, b)
        i = rows[np.repeat(start[lo:hi], b) + offs]
        j = np.repeat(rows[lo:hi], b)
        keep = i < j  # a row sharing a key with itself (two of its bands) is no pair
        out.append((j[keep] << np.uint64(32)) | i[keep])
        lo = hi
    return out


def _repeated(rec):
    """The records whose key occurs more than once (the others make no pair), in their order. The
    keys' low bits are counted first: a key whose low bits occur once occurs once, so only the rest
    are sorted (0.06 against 0.16 s for the near-dup benchmark's 100k rows; the count table is at
    most 1 << 20 entries, 8 MiB, however big the bucket)."""
    import numpy as np

    keys = rec["key"]
    size = 1 << min(20, max(4, (4 * len(keys) - 1).bit_length()))
    low = (keys & np.uint64(size - 1)).astype(np.intp)
    return rec[np.bincount(low, minlength=size)[low] > 1]


def candidate_pairs(buckets):
    """The sorted, distinct pairs of rows that share a band key, one bucket in memory at a time."""
    import numpy as np

    done, raw, size = np.zeros(0, dtype=np.uint64), [], 0
    for rec in buckets:
        rec = _repeated(rec)
        order = np.argsort(rec["key"], kind="stable")  # stable: rows stay ascending within a key
        for p in _group_pairs(rec["key"][order], rec["row"][order]):
            raw.append(p)
            size += len(p)
        if size >= COMPACT:
            done, raw, size = np.unique(np.concatenate([done, *raw])), [], 0
    return np.unique(np.concatenate([done, *raw]))


def similar_pairs(pairs, sig_path, width: int, threshold: float):
    """The pairs whose 1-byte signatures estimate a Jaccard of at least `threshold` (bytes match by
    chance 1 time in 256, so the match rate is corrected for it), in the same order."""
    import numpy as np

    from .buckets import read_rows

    out = [np.zeros(0, dtype=np.uint64)]
    for lo in range(0, len(pairs), VERIFY_CHUNK):
        p = pairs[lo : lo + VERIFY_CHUNK]
        i, j = (p & np.uint64(_LOW)).astype(np.int64), (p >> np.uint64(32)).astype(np.int64)
        need = np.unique(np.concatenate([i, j]))
        sig = read_rows(sig_path, need, width)
        match = (sig[np.searchsorted(need, i)] == sig[np.searchsorted(need, j)]).mean(axis=1)
        jaccard = (match - 1 / 256) / (1 - 1 / 256)
        out.append(p[jaccard >= threshold])
    return np.concatenate(out)


def keep_first(similar):
    """The rows to drop (ascending): in row order, a row similar to an earlier row that is kept.
    A row similar only to dropped rows stays, as it would with an index of the kept rows."""
    import numpy as np

    if not len(similar):
        return np.zeros(0, dtype=np.int64)
    i, j = (similar & np.uint64(_LOW)).astype(np.int64), (similar >> np.uint64(32)).astype(np.int64)
    rows = np.unique(np.concatenate([i, j]))
    dropped = bytearray(len(rows))
    for a, b in zip(np.searchsorted(rows, i).tolist(), np.searchsorted(rows, j).tolist()):
        if not dropped[a]:  # pairs come in order of j: every earlier row is already decided
            dropped[b] = 1
    return rows[np.frombuffer(bytes(dropped), dtype=np.uint8).astype(bool)]
