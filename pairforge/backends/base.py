"""What every generation backend gives the pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass
class Completion:
    text: str | None
    finish_reason: str  # "stop" (the model ended its answer) or "length" (cut at max_tokens)
    tokens: int  # generated tokens
    prompt_tokens: int | None = None  # where the backend only learns it from the server
    error: str | None = None  # why there is no answer (the server's text): the row is dropped ...
    drop_reason: str = "server_refused"  # ... with this reason (or "malformed_response"), `error` in its detail


class Backend(Protocol):
    name: str
    model_name: str  # recorded in rejected_model
    context_length: int | None
    schedules_itself: bool  # True: it batches on its own, so it is given a whole shard per call

    def prompt_token_counts(self, prompts: list[list[dict]]) -> list[int]:
        """Tokens of each prompt after the model's chat template (generation prompt included)."""

    def token_counts(self, texts: list[str]) -> list[int]:
        """Tokens of plain texts (no special tokens)."""

    def generate(self, prompts: list[list[dict]], seeds: list[int],
                 max_tokens: list[int] | None = None) -> list[list[Completion]]:
        """n completions for each prompt, seeded with the prompt's own seed where the backend can
        (else with one seed derived from the batch's): same prompts, same seeds, same completions.
        max_tokens: each prompt's own budget (None: sampling.max_tokens for all); an answer cut at
        its budget has finish_reason 'length'."""

    # Optional: continue_answers(prompts, answers, seeds, max_tokens) -> list[Completion], one more
    # piece of each cut answer (the prompt and the answer so far are read, up to max_tokens written);
    # a backend without it (the openai one) leaves cut answers as they are (weak_model.continuation).
