"""The recipe's sections: one pydantic model per part of the build (the engine is config.py).
recipe.py assembles them into `Recipe` and validates across sections."""

from __future__ import annotations

import math
from typing import ClassVar, Literal, Optional

from .config import SEED, Section, between, field_ as _f, ge as _ge, gt as _gt, matches

# torch device strings a backend (transformers, a reward model) takes; anything else fails only when the model loads
DEVICE = matches(r"auto|cpu|mps|cuda(:[0-9]+)?", "one of auto, cpu, cuda, cuda:N (N a GPU index) or mps")


def _finish(default, *checks, **kw):
    """A field read only after generation (post filters, judge, split, output): changing it
    re-finishes the build from the generated shards, it sends no prompt. Every other field is a
    generation field."""
    return _f(default, *checks, stage="finish", **kw)


class Columns(Section):
    prompt: Optional[str] = _f(None, help="column (or dotted path) holding the user prompt")
    response: Optional[str] = _f(None, help="column (or dotted path) holding the answer")
    system: Optional[str] = _f(None, help="column holding a system prompt")
    input: Optional[str] = _f(None, help="column appended to the prompt (Alpaca-style context)")


class Source(Section):
    path: Optional[str] = _f(None, help="local .json/.jsonl/.csv/.parquet/.arrow file or save_to_disk folder")
    hub: Optional[str] = _f(None, help="Hub dataset id, e.g. org/name")
    config: Optional[str] = _f(None, help="dataset config name (Hub)")
    split: str = _f("train")
    revision: Optional[str] = _f(None)
    format: Literal["auto", "plain", "alpaca", "sharegpt", "messages"] = _f("auto")
    columns: Columns = _f(Columns)
    turns: Literal["last", "each"] = _f("last", help="last: one pair per conversation; each: one per assistant turn")
    limit: Optional[int] = _f(None, _gt(0))
    shuffle: bool = _f(False)
    seed: int = _f(0, SEED)
    on_bad_lines: Literal["error", "skip"] = _f("error", fp=False, help="JSON Lines: a line that is not JSON or not UTF-8 fails the build, or is dropped (excluded/)")
    streaming: Optional[bool] = _f(None, fp=False, help="read rows as needed (no shuffle); null: for local files over 64 MiB with a limit")


class EndNudge(Section):
    """Length-controlled sampling: an answer's odds of ending grow once it is past `start` of its budget."""

    enabled: bool = _f(False, help="raise the end-of-answer token's logit once an answer is past `start` of its "
                       "max_tokens, so it ends where ending is plausible instead of being cut (transformers only)")
    start: float = _f(0.5, between(0, 1), help="the nudge begins after ceil(start x max_tokens) new tokens")
    factor: float = _f(1.3, ("range_open_lo", 1, 10), help="past the start, the odds of ending grow by this factor "
                       "a token (each end token's logit gains k x ln(factor), k tokens past the start)")

    def start_at(self, budget: int) -> int:
        """New tokens an answer of this budget writes before its nudge begins."""
        return math.ceil(self.start * budget)

    def ended_after(self, tokens: int, budget: int) -> bool:
        """Whether an answer that ended (its end token counted in `tokens`) chose that token nudged."""
        return tokens - 1 > self.start_at(budget)


class Sampling(Section):
    temperature: float = _f(0.8, _ge(0))
    top_p: float = _f(0.95, ("range_open_lo", 0, 1))
    max_tokens: int | Literal["auto"] = _f(
        "auto", help="tokens per answer; auto: sized per prompt from its chosen answer (auto_factor, auto_min)")
    auto_factor: float = _f(1.5, _gt(0), help="auto: budget = max(auto_min, ceil(auto_factor * chosen tokens) + 16)")
    auto_min: int = _f(64, _gt(0), help="auto: the smallest budget a prompt gets")
    n: int = _f(1, _gt(0))
    seed: int = _f(0, SEED)
    end_nudge: EndNudge = _f(EndNudge)

    def budget(self, chosen_tokens: int, room: int | None) -> int:
        """A prompt's max_tokens. auto: the weak model gets room for an answer half again as long as the
        reference (small models ramble; 1.5x lets most finish, so a truncated rejected is rare and truly
        overlong), +16 for closing words, at least auto_min (a one-word reference still leaves room for
        a sentence); never more than the context leaves (room)."""
        if self.max_tokens != "auto":
            return self.max_tokens
        want = max(self.auto_min, math.ceil(self.auto_factor * chosen_tokens) + 16)
        return want if room is None else min(room, want)


class VLLMOptions(Section):
    tensor_parallel_size: int = _f(1, _gt(0), fp=False)
    gpu_memory_utilization: float = _f(0.9, ("range_open_lo", 0, 1), fp=False)
    max_model_len: Optional[int] = _f(None, _gt(0), help="context length (default: the model's)")
    enforce_eager: Optional[bool] = _f(None, fp=False, help="default: true on CPU (required there), false on GPU")
    kv_cache_gib: int = _f(1, _gt(0), fp=False, help="CPU only: VLLM_CPU_KVCACHE_SPACE")


class OpenAIOptions(Section):
    base_url: Optional[str] = _f(None, help="e.g. http://127.0.0.1:8000/v1 (vLLM, TGI, llama.cpp, Ollama serve this)")
    api_key_env: Optional[str] = _f(None, fp=False, help="name of the environment variable holding the API key")
    concurrency: int = _f(8, between(1, 1024), fp=False, help="requests in flight at once")
    max_retries: int = _f(5, between(0, 100), fp=False)
    timeout_s: float = _f(120.0, ("range_open_lo", 0, 86400), fp=False, help="seconds per request (at most a day)")
    backoff_s: float = _f(1.0, between(0, 60), fp=False, help="first retry delay; doubles each retry (Retry-After wins); "
                          "no wait exceeds 60 s")


class Continuation(Section):
    rounds: int = _f(1, between(0, 8), help="a rejected answer cut at its max_tokens: auto budget is continued this many "
                     "times, so its tokens are not thrown away (0: off; an integer max_tokens is a cap, never "
                     "continued; a server backend never continues)")
    share: float = _f(0.5, ("range_open_lo", 0, 4), help="each continuation's budget: this share of the prompt's max_tokens "
                      "(sampling.end_nudge, when on, nudges a piece from `start` of its own budget)")


class WeakModel(Section):
    model: str = _f("smollm2-135m-instruct", help="built-in name, local folder or Hub id")
    revision: Optional[str] = _f(None)
    gguf_file: Optional[str] = _f(None, help="GGUF file inside the model folder")
    backend: Literal["transformers", "vllm", "openai", "auto"] = _f(
        "transformers", help="auto: vLLM when it is installed and usable, else transformers")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = _f("auto")
    device: str = _f("auto", DEVICE, fp=False, help="auto, cpu, cuda, cuda:N, mps")
    batch_size: int = _f(16, _gt(0))
    max_prompt_tokens: Optional[int] = _f(None, _gt(0), help="drop prompts longer than this (default: model context minus max_tokens)")
    system_prompt: Optional[str] = _f(None, help="weak model only: null keeps the conversation's (or the template's default); text replaces it; none drops both")
    chat_template: Optional[str] = _f(None, help="Jinja chat template or a file with one, instead of the model's (needed by base models)")
    sampling: Sampling = _f(Sampling)
    continuation: Continuation = _f(Continuation)
    vllm: VLLMOptions = _f(VLLMOptions)
    openai: OpenAIOptions = _f(OpenAIOptions)


class RayOptions(Section):
    concurrency: int = _f(2, _gt(0), fp=False, help="generation workers (actors), each loads the backend once")
    num_gpus_per_worker: float = _f(0, _ge(0), fp=False, help="GPUs per worker (vLLM tensor parallelism: set it to tensor_parallel_size)")
    num_cpus_per_worker: float = _f(1, _gt(0), fp=False)


class Generation(Section):
    shard_size: int = _f(64, _gt(0), help="prompts per crash-safe shard")
    ray: RayOptions = _f(RayOptions)


class Bounds(Section):
    min_chars: Optional[int] = _f(None, _ge(0))
    max_chars: Optional[int] = _f(None, _gt(0))
    min_tokens: Optional[int] = _f(None, _ge(0))
    max_tokens: Optional[int] = _f(None, _gt(0))


class Lengths(Section):
    prompt: Bounds = _f(Bounds)
    chosen: Bounds = _f(Bounds)
    rejected: Bounds = _finish(Bounds)


class Refusals(Section):
    enabled: bool = _f(True)
    default_patterns: bool = _f(True, help="use pairforge's built-in refusal/boilerplate list")
    patterns: list = _f([], help="extra regular expressions (case-insensitive) matched in the rejected answer")


class Repetition(Section):
    enabled: bool = _f(True)
    ngram: int = _f(3, _gt(0))
    max_ratio: float = _f(0.5, ("range", 0, 1), help="drop when this share of n-grams are repeats")


class Filters(Section):
    empty: bool = _finish(True, help="empty or whitespace-only chosen/rejected")
    identical: bool = _finish(True, help="rejected equal to chosen after normalising whitespace and case")
    max_similarity: Optional[float] = _finish(0.9, ("range", 0, 1), help="Jaccard of rejected's and chosen's word sets")
    truncated: Literal["drop", "keep"] = _finish(
        "drop", help="rejected answers cut at max_tokens (keep teaches 'unfinished = bad')")
    min_chosen_chars: int = _f(1, _ge(0))
    lengths: Lengths = _f(Lengths)
    refusals: Refusals = _finish(Refusals)
    repetition: Repetition = _finish(Repetition)
    min_margin: Optional[float] = _finish(None, help="needs judge: drop pairs whose score_margin is below this (0: inverted ones)")
    longer_wins_warn: float = _finish(0.8, ("range", 0, 1), fp=False, help="warn when 'the longer answer is chosen' "
                                      "separates more than this share of the written pairs")


class NearDedupeConfig(Section):
    enabled: bool = _f(True)
    threshold: float = _f(0.6, ("range_open_lo", 0, 1), help="estimated Jaccard of prompt shingles")
    num_perm: int = _f(128, between(1, 4096), help="MinHash permutations (memory: a byte per kept prompt each)")
    bands: int = _f(32, _gt(0), help="LSH bands (candidates are verified); must divide num_perm")
    shingle: int = _f(2, _gt(0), help="words per shingle")
    seed: int = _f(42, SEED)


class Dedupe(Section):
    key: Literal["user_turns", "prompt", "prompt_and_chosen"] = _f(
        "user_turns", help="what exact and near dedupe compare: the user messages only (a shared system "
        "prompt does not make questions duplicates), every prompt message, or the prompt and the chosen answer")
    exact: bool = _f(True, help="drop repeated prompts (normalised whitespace and case), keep the first")
    near: NearDedupeConfig = _f(NearDedupeConfig)


class EvalSet(Section):
    path: Optional[str] = _f(None)
    hub: Optional[str] = _f(None)
    config: Optional[str] = _f(None)
    split: str = _f("test")
    columns: list = _f([], help="text columns to read (default: every string column)")


class DecontaminateConfig(Section):
    ngram: int = _f(13, _gt(0), help="words in the shared n-gram that marks a leak")
    sets: list = _f([], help="evaluation sets: [{path: ...} or {hub: ..., split: ...}]")


class JudgeSampling(Sampling):
    """The judge's own generation defaults: greedy (the same verdict every run) and a fixed budget."""

    temperature: float = _f(0.0, _ge(0), help="0: greedy, the same verdict on every run")
    max_tokens: int | Literal["auto"] = _f(
        512, help="tokens per verdict reply (reasoning, then the verdict line); a reply cut here has no verdict. "
        "auto is refused: it sizes a weak model's answer from the chosen one")


class JudgeLLM(WeakModel):
    SECTION: ClassVar[str] = "judge.llm"  # not a field: what a backend's errors call this section
    sampling: JudgeSampling = _f(JudgeSampling)


class JudgeConfig(Section):
    kind: Literal["none", "reward_model", "llm", "function"] = _f(
        "none", help="score every pair: a reward model, an LLM judge asked in both orders, or a Python function")
    function: Optional[str] = _f(None, help="function: `module:function` or `path/to/file.py:function` (relative to "
                                 "the recipe) with TRL's reward-function signature (prompts, completions, the "
                                 "source's columns as keyword arguments; one float or None per completion)")
    function_format: Literal["conversational", "standard"] = _f(
        "conversational", help="function: conversational passes prompts as message lists and completions as "
        "[{role: assistant, content}] (as GRPOTrainer does for conversational data); standard passes the last user "
        "turn's text and the answer's text")
    model: Optional[str] = _f(None, help="reward_model: local folder or Hub id (AutoModelForSequenceClassification, one label)")
    revision: Optional[str] = _f(None)
    chat_template: Optional[str] = _f(None, help="reward_model: Jinja chat template, for a tokenizer that has none")
    device: str = _f("auto", DEVICE, fp=False, help="reward_model: auto, cpu, cuda, cuda:N, mps")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = _f("auto", help="reward_model: auto is float32 on CPU, bfloat16 on GPU")
    batch_size: int = _f(8, _gt(0), fp=False, help="reward_model: conversations per forward pass")
    max_length: int = _f(4096, _gt(0), help="reward_model: tokens per conversation; longer ones lose their start (judge_truncated)")
    rejected: Literal["all", "lowest", "random"] = _f("all", help="with n > 1: every sample, the lowest-scored or a seeded random one per prompt")
    seed: int = _f(0, SEED, help="rejected: random")
    llm: JudgeLLM = _f(JudgeLLM, help="llm: the judge model and its backend, as weak_model (but sampling defaults to "
                       "temperature 0, max_tokens 512, n 1)")


class Split(Section):
    test_size: float = _f(0.05, ("range", 0, 0.9))
    seed: int = _f(0, SEED)
