"""Per-table stages on threads, results in source order.

A stage is a pure function of its table (stage.py), and the filters' work is pyarrow.compute and
NumPy, which release the GIL: two threads run the post filter x1.7-2.1 faster than one on 2 cores
(measured on 1000-row tables of benchmarks/quality.py). So tables go to a thread pool, at most
`ahead` at a time (memory stays flat), and come back in the order they went in; what a stage did is
recorded afterwards in the calling thread (`record_applied`), so stats, the funnel and excluded/ see
exactly what a one-thread loop would. The threads are the standard library's ThreadPoolExecutor;
only the ordering and the bound on tables in flight are ours.
"""

from __future__ import annotations

import os
import time
from collections import deque

MAX_THREADS = 8


def threads() -> int:
    """Threads for the table stages: the CPUs this process may use, at most MAX_THREADS."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    return max(1, min(MAX_THREADS, n))


def ordered_map(fn, items, workers: int | None = None, ahead: int | None = None):
    """fn(item) for each of `items`, in order, computed on `workers` threads with at most `ahead`
    items in flight. `items` is read in the calling thread (a generator with side effects stays
    single-threaded). A worker's exception is raised here when its result is due; closing the
    generator cancels what has not started and waits for what has."""
    n = workers or threads()
    if n <= 1:
        yield from map(fn, items)
        return
    from concurrent.futures import ThreadPoolExecutor

    ahead, pending = ahead or 2 * n, deque()
    pool = ThreadPoolExecutor(n, thread_name_prefix="pairforge-stage")
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for f in pending:
            f.cancel()
        pool.shutdown(wait=True)


def prefetch(items, ahead: int = 4):
    """`items`, read on a thread of their own, up to `ahead` ahead of the caller: reading the source
    (Parquet decoding, a loader's parsing) overlaps the stages. An exception the source raises is
    raised here, in order; closing this generator stops the reader before its next item."""
    import queue
    import threading

    q, stop, end = queue.Queue(ahead), threading.Event(), object()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                q.put(entry, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def read():
        source = iter(items)
        try:
            for item in source:
                if not put((item, None)):
                    break
            else:
                put((end, None))
        except BaseException as e:  # noqa: BLE001 - handed to the caller, who raises it
            put((end, e))
        finally:
            close = getattr(source, "close", None)  # a generator's own cleanup runs here, in its thread
            if close is not None:
                close()

    reader = threading.Thread(target=read, name="pairforge-source", daemon=True)
    reader.start()
    try:
        while True:
            item, error = q.get()
            if item is end:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        reader.join()


def apply_stages(table, stages: list):
    """Run `stages` in order on `table`, recording nothing: (rows left, [(name, kept, dropped, seconds)])."""
    done = []
    for stage in stages:
        t0 = time.perf_counter()
        table, dropped = stage(table)
        done.append((stage.name, table, dropped, time.perf_counter() - t0))
    return table, done


def record_applied(done: list, stats, excluded) -> None:
    """What apply_stages did, recorded as run_stages records it (seconds are each stage's own, summed
    over threads)."""
    from .stage import record

    for name, kept, dropped, seconds in done:
        stats.seconds[name] += seconds
        record(name, kept, dropped, stats, excluded)


def run_stages_threaded(tables, stages: list, stats, excluded, workers: int | None = None):
    """run_stages over a stream of tables, `workers` at a time: the rows left of each, in order."""
    for table, done in ordered_map(lambda t: apply_stages(t, stages), tables, workers):
        record_applied(done, stats, excluded)
        yield table


class WriteBehind:
    """fn(item) for each item put, on one thread of its own, in the order put, at most `ahead`
    waiting (writing a spill file, compressed, overlaps the stages; pyarrow releases the GIL while
    it compresses and writes). An error fn raised is raised by the next put or by close."""

    def __init__(self, fn, ahead: int = 4):
        from concurrent.futures import ThreadPoolExecutor

        self.fn, self.ahead, self.pending = fn, ahead, deque()
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="pairforge-write")

    def put(self, item) -> None:
        self.pending.append(self.pool.submit(self.fn, item))
        while len(self.pending) > self.ahead or (self.pending and self.pending[0].done()):
            self.pending.popleft().result()

    def close(self) -> None:
        try:
            while self.pending:
                self.pending.popleft().result()
        finally:
            for f in self.pending:
                f.cancel()
            self.pool.shutdown(wait=True)
