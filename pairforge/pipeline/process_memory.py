"""Process-wide memory settings. The CLI makes them (its process is its own): glibc's arenas capped at
start, Arrow's pool chosen when a command starts its work; a library caller decides for theirs.
Each leaves a setting the user already made alone."""

from __future__ import annotations

import os


def cap_malloc_arenas(n: int = 2) -> bool:
    """Cap glibc malloc's arenas at `n` for this process (what MALLOC_ARENA_MAX=n does at start-up).
    glibc gives each thread that allocates an arena of its own (up to 8 per CPU) and keeps what each
    grew to: with the stage threads, rows streamed through every pre-generation stage peaked at 429 MiB
    for 3M rows (523 MiB for 10M) against 367 MiB with one thread; with 2 arenas, 380 MiB (measured;
    malloc_trim did not help: 450). Process-wide, so the CLI calls it (its process is its own) and a
    library caller decides for theirs; a MALLOC_ARENA_MAX already set wins. False where there is no
    glibc mallopt (macOS, musl)."""
    import ctypes

    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    m_arena_max = -8  # glibc's M_ARENA_MAX
    return bool(mallopt(m_arena_max, n))


def arrow_lean_pool() -> str | None:
    """Arrow's buffers from jemalloc where this pyarrow has it, else from the system allocator; not
    from the mimalloc pool pyarrow's wheels default to, which held the most resident memory for the
    same work. Measured: near-dedupe of 100k rows peaked at 240-245 MiB with mimalloc against 174-190
    with jemalloc and 176-178 with the system pool; 3M rows streamed through every pre-generation
    stage peaked at 289 MiB (mimalloc), 280 (system) and 248 (jemalloc), one run each, side by side;
    filters + exact dedupe of 200k rows took 3.17 s (mimalloc), 2.53 (jemalloc) and 2.42 (system),
    medians of 4 interleaved runs on a drifting box (benchmarks/quality.py). The processes this one
    starts (Ray workers, generation workers) inherit the choice through ARROW_DEFAULT_MEMORY_POOL.
    Imports pyarrow, so the commands that work with data call it, not `pairforge --help`. Returns the
    pool's name, or None where ARROW_DEFAULT_MEMORY_POOL is already set (the user's choice stands)."""
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return None
    import pyarrow as pa

    try:
        pool, name = pa.jemalloc_memory_pool(), "jemalloc"
    except NotImplementedError:  # a pyarrow built without jemalloc (e.g. Windows wheels)
        pool, name = pa.system_memory_pool(), "system"
    pa.set_memory_pool(pool)
    os.environ["ARROW_DEFAULT_MEMORY_POOL"] = name
    return name
