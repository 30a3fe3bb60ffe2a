"""Generation progress on stderr: prompts, tokens/s and an ETA. A tqdm bar on a terminal; where
stderr is not a terminal (a log file, CI), a plain line at most every `interval` seconds and one
at the end, never `\\r` frames. Nothing with --quiet."""

from __future__ import annotations

import sys
import time

LOG_INTERVAL_S = 30.0


class Progress:
    def __init__(self, total: int, quiet: bool, stream=None, interval: float = LOG_INTERVAL_S):
        self.stream = stream or sys.stderr
        self.total, self.quiet, self.interval = total, quiet, interval
        self.done = self.tokens = 0
        self.t0 = self.last = time.perf_counter()
        isatty = getattr(self.stream, "isatty", None)
        self.bar = None
        if not quiet and isatty is not None and isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, unit="prompt", desc="generate", file=self.stream,
                            dynamic_ncols=True, mininterval=1.0)
        elif not quiet and total:  # a log: say at once that generation started (the first batch may take minutes)
            print(f"generate: 0/{total} prompts sent for answers; a line as batches finish, at most every "
                  f"{interval:.0f}s", file=self.stream, flush=True)

    def _rate(self) -> float:
        return self.tokens / max(1e-9, time.perf_counter() - self.t0)

    def _line(self) -> None:
        elapsed = time.perf_counter() - self.t0
        eta = elapsed / self.done * (self.total - self.done) if self.done else None
        print(f"generate: {self.done}/{self.total} prompts, {self.tokens} tokens, {self._rate():.0f} tok/s, "
              f"{elapsed:.0f}s elapsed" + (f", ETA {eta:.0f}s" if eta is not None else ""),
              file=self.stream, flush=True)
        self.last = time.perf_counter()

    def batch(self, prompts: int, tokens: int) -> None:
        self.tokens += tokens
        self.done += prompts
        if self.bar is not None:
            self.bar.set_postfix_str(f"{self._rate():.0f} tok/s", refresh=False)
            self.bar.update(prompts)
        elif not self.quiet and time.perf_counter() - self.last >= self.interval:
            self._line()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif not self.quiet and self.done:
            self._line()
