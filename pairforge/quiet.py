"""The command line's output conventions, shared by every command.

stdout carries the command's result only (text, or with `--json` one JSON object); progress, notes
and warnings go to stderr. `-q` turns progress bars and info messages off, in pairforge and in the
libraries it drives (huggingface_hub, datasets, transformers); warnings and errors still print.
"""

from __future__ import annotations

import contextlib
import os
import sys


def quiet_libraries() -> None:
    """Progress bars off: by environment for the libraries not imported yet (and child processes),
    by their own switches for those already imported (transformers follows huggingface_hub's)."""
    os.environ.update(HF_HUB_DISABLE_PROGRESS_BARS="1", HF_DATASETS_DISABLE_PROGRESS_BARS="1",
                      TQDM_DISABLE="1")  # tqdm's default, which TRL also reads at run time
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    if "datasets" in sys.modules:
        sys.modules["datasets"].disable_progress_bars()
    if "transformers" in sys.modules:
        from transformers.utils import logging

        logging.disable_progress_bar()


@contextlib.contextmanager
def result_only_on_stdout():
    """While a command works, what a library prints (TRL's log lines, a model loader's notes) goes to
    stderr: stdout is kept for the result, so `--json` output is one JSON object."""
    with contextlib.redirect_stdout(sys.stderr):
        yield
