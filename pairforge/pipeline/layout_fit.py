"""Does every prompt fit the output layout? Checked on the normalised rows, before any generation.

`intel` holds one optional system prompt and one question, so a prompt with earlier turns (a
multi-turn source, with `source.turns: last` or `each`) cannot be written; `standard` renders each
prompt with a chat template, which may refuse a conversation's roles (a template that rejects system
turns, or requires user/assistant to alternate). Without this check either failed only when the
pairs were written, after every answer had been generated. plan_build hands the check to the
Normalise stage, so the build and `--dry-run` both stop at the first row that does not fit, with one
line naming the fields to change. Rows are checked once per shape (the sequence of roles): what
decides whether a layout can hold a prompt.
"""

from __future__ import annotations

from typing import Callable

from ..errors import RecipeError
from .output_layouts import intel_problem, prompt_renderer

MULTI_TURN_FIX = ("set output.format to conversational or messages (they hold the whole conversation), "
                  "or use single-turn source data")


class LayoutFit:
    """Called by Normalise on the records it keeps; raises a RecipeError at the first that does not fit."""

    def __init__(self, fmt: str, problem: Callable[[list], str | None], fix: str):
        self.fmt, self.problem, self.fix = fmt, problem, fix
        self.fitting: set[tuple] = set()  # role sequences already seen to fit

    def __call__(self, records: list[dict]) -> None:
        for r in records:
            shape = tuple(m["role"] for m in r["prompt"])
            if shape in self.fitting:
                continue
            why = self.problem(r["prompt"])
            if why:
                raise RecipeError(f"output.format {self.fmt}: row {r['id']} (source row {r['source_index']}, "
                                  f"turn {r['turn_index']}) {why}: {self.fix}")
            self.fitting.add(shape)


def layout_check(output, model_ref) -> LayoutFit | None:
    """The check for `output.format` (None for the layouts that hold any conversation)."""
    if output.format == "intel":
        return LayoutFit("intel", intel_problem, MULTI_TURN_FIX)
    if output.format != "standard":
        return None
    render = prompt_renderer(output, model_ref)  # a weak model without a chat template fails here, not at the write

    def problem(prompt: list) -> str | None:
        try:
            render(prompt)
        except RecipeError as e:
            return f"cannot be rendered ({e})"
        return None

    return LayoutFit("standard", problem, "give output.chat_template a template that renders it, or set "
                     "output.format to conversational or messages")
