"""Generation progress on stderr: prompts, tokens/s and an ETA (tqdm; off with --quiet)."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int, quiet: bool):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, unit="prompt", desc="generate", file=sys.stderr, disable=quiet,
                        dynamic_ncols=True, mininterval=1.0)
        self.tokens = 0
        self.t0 = time.perf_counter()

    def batch(self, prompts: int, tokens: int) -> None:
        self.tokens += tokens
        rate = self.tokens / max(1e-9, time.perf_counter() - self.t0)
        self.bar.set_postfix_str(f"{rate:.0f} tok/s", refresh=False)
        self.bar.update(prompts)

    def close(self) -> None:
        self.bar.close()
