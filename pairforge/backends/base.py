"""What every generation backend gives the pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..recipe import WeakModel


@dataclass
class Completion:
    text: str
    finish_reason: str  # "stop" (the model ended its answer) or "length" (cut at max_tokens)
    tokens: int  # generated tokens


class Backend(Protocol):
    name: str
    model_name: str  # recorded in rejected_model
    context_length: int | None

    def prompt_token_counts(self, prompts: list[list[dict]]) -> list[int]:
        """Tokens of each prompt after the model's chat template (generation prompt included)."""

    def token_counts(self, texts: list[str]) -> list[int]:
        """Tokens of plain texts (no special tokens)."""

    def generate(self, prompts: list[list[dict]], seed: int) -> list[list[Completion]]:
        """n completions for each prompt; the same prompts and seed give the same completions."""


def make_backend(cfg: WeakModel) -> Backend:
    from ..models import resolve_model

    ref = resolve_model(cfg.model, cfg.revision, cfg.gguf_file)
    if cfg.backend == "transformers":
        from .transformers_backend import TransformersBackend

        return TransformersBackend(cfg, ref)
    raise AssertionError(f"unknown backend {cfg.backend}")  # the recipe schema forbids it
