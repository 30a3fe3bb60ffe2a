"""The build recipe: one schema, validated in one place.

Every section is a dataclass (the engine is config.py); `load_recipe` turns YAML (plus
`--set a.b=value` overrides) into a validated `Recipe` or raises a `RecipeError` naming the
field path. `fingerprint` hashes every field that changes the output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

from .config import apply_overrides, build, coerce, field_ as _f, ge as _ge, gt as _gt, read_yaml_mapping, to_dict
from .chat_options import check_chat_options
from .errors import RecipeError
from .fingerprint import dump_resolved, fingerprint  # noqa: F401  (the recipe's API)
from .output_section import Output, validate_output


@dataclass
class Columns:
    prompt: Optional[str] = _f(None, help="column (or dotted path) holding the user prompt")
    response: Optional[str] = _f(None, help="column (or dotted path) holding the answer")
    system: Optional[str] = _f(None, help="column holding a system prompt")
    input: Optional[str] = _f(None, help="column appended to the prompt (Alpaca-style context)")


@dataclass
class Source:
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
    seed: int = _f(0, _ge(0))
    on_bad_lines: Literal["error", "skip"] = _f("error", fp=False, help="JSON Lines: a line that is not JSON or not UTF-8 fails the build, or is dropped (excluded/)")
    streaming: Optional[bool] = _f(None, fp=False, help="read rows as needed (no shuffle); null: for local files over 64 MiB with a limit")


@dataclass
class Sampling:
    temperature: float = _f(0.8, _ge(0))
    top_p: float = _f(0.95, ("range_open_lo", 0, 1))
    max_tokens: int = _f(256, _gt(0))
    n: int = _f(1, _gt(0))
    seed: int = _f(0, _ge(0))


@dataclass
class VLLMOptions:
    tensor_parallel_size: int = _f(1, _gt(0), fp=False)
    gpu_memory_utilization: float = _f(0.9, ("range_open_lo", 0, 1), fp=False)
    max_model_len: Optional[int] = _f(None, _gt(0), help="context length (default: the model's)")
    enforce_eager: Optional[bool] = _f(None, fp=False, help="default: true on CPU (required there), false on GPU")
    kv_cache_gib: int = _f(1, _gt(0), fp=False, help="CPU only: VLLM_CPU_KVCACHE_SPACE")


@dataclass
class OpenAIOptions:
    base_url: Optional[str] = _f(None, help="e.g. http://127.0.0.1:8000/v1 (vLLM, TGI, llama.cpp, Ollama serve this)")
    api_key_env: Optional[str] = _f(None, fp=False, help="name of the environment variable holding the API key")
    concurrency: int = _f(8, _gt(0), fp=False)
    max_retries: int = _f(5, _ge(0), fp=False)
    timeout_s: float = _f(120.0, _gt(0), fp=False)
    backoff_s: float = _f(1.0, _ge(0), fp=False, help="first retry delay; doubles each retry (Retry-After wins)")


@dataclass
class WeakModel:
    model: str = _f("smollm2-135m-instruct", help="built-in name, local folder or Hub id")
    revision: Optional[str] = _f(None)
    gguf_file: Optional[str] = _f(None, help="GGUF file inside the model folder")
    backend: Literal["transformers", "vllm", "openai", "auto"] = _f(
        "transformers", help="auto: vLLM when it is installed and usable, else transformers")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = _f("auto")
    device: str = _f("auto", fp=False, help="auto, cpu, cuda, cuda:N")
    batch_size: int = _f(16, _gt(0))
    max_prompt_tokens: Optional[int] = _f(None, _gt(0), help="drop prompts longer than this (default: model context minus max_tokens)")
    system_prompt: Optional[str] = _f(None, help="weak model only: null keeps the conversation's (or the template's default); text replaces it; none drops both")
    chat_template: Optional[str] = _f(None, help="Jinja chat template or a file with one, instead of the model's (needed by base models)")
    sampling: Sampling = _f(Sampling)
    vllm: VLLMOptions = _f(VLLMOptions)
    openai: OpenAIOptions = _f(OpenAIOptions)


@dataclass
class RayOptions:
    concurrency: int = _f(2, _gt(0), fp=False, help="generation workers (actors), each loads the backend once")
    num_gpus_per_worker: float = _f(0, _ge(0), fp=False, help="GPUs per worker (vLLM tensor parallelism: set it to tensor_parallel_size)")
    num_cpus_per_worker: float = _f(1, _gt(0), fp=False)


@dataclass
class Generation:
    shard_size: int = _f(64, _gt(0), help="prompts per crash-safe shard")
    ray: RayOptions = _f(RayOptions)


@dataclass
class Bounds:
    min_chars: Optional[int] = _f(None, _ge(0))
    max_chars: Optional[int] = _f(None, _gt(0))
    min_tokens: Optional[int] = _f(None, _ge(0))
    max_tokens: Optional[int] = _f(None, _gt(0))


@dataclass
class Lengths:
    prompt: Bounds = _f(Bounds)
    chosen: Bounds = _f(Bounds)
    rejected: Bounds = _f(Bounds)


@dataclass
class Refusals:
    enabled: bool = _f(True)
    default_patterns: bool = _f(True, help="use pairforge's built-in refusal/boilerplate list")
    patterns: list = _f([], help="extra regular expressions (case-insensitive) matched in the rejected answer")


@dataclass
class Repetition:
    enabled: bool = _f(True)
    ngram: int = _f(3, _gt(0))
    max_ratio: float = _f(0.5, ("range", 0, 1), help="drop when this share of n-grams are repeats")


@dataclass
class Filters:
    empty: bool = _f(True, help="empty or whitespace-only chosen/rejected")
    identical: bool = _f(True, help="rejected equal to chosen after normalising whitespace and case")
    max_similarity: Optional[float] = _f(0.9, ("range", 0, 1), help="Jaccard of rejected's and chosen's word sets")
    truncated: Literal["drop", "keep"] = _f("keep", help="rejected answers cut at max_tokens")
    min_chosen_chars: int = _f(1, _ge(0))
    lengths: Lengths = _f(Lengths)
    refusals: Refusals = _f(Refusals)
    repetition: Repetition = _f(Repetition)
    min_margin: Optional[float] = _f(None, help="needs judge: drop pairs whose score_margin is below this (0: inverted ones)")


@dataclass
class NearDedupeConfig:
    enabled: bool = _f(True)
    threshold: float = _f(0.6, ("range_open_lo", 0, 1), help="estimated Jaccard of prompt shingles")
    num_perm: int = _f(128, _gt(0))
    bands: int = _f(32, _gt(0), help="LSH bands (candidates are verified); must divide num_perm")
    shingle: int = _f(2, _gt(0), help="words per shingle")
    seed: int = _f(42, _ge(0))


@dataclass
class Dedupe:
    exact: bool = _f(True, help="drop repeated prompts (normalised whitespace and case), keep the first")
    near: NearDedupeConfig = _f(NearDedupeConfig)


@dataclass
class EvalSet:
    path: Optional[str] = _f(None)
    hub: Optional[str] = _f(None)
    config: Optional[str] = _f(None)
    split: str = _f("test")
    columns: list = _f([], help="text columns to read (default: every string column)")


@dataclass
class DecontaminateConfig:
    ngram: int = _f(13, _gt(0), help="words in the shared n-gram that marks a leak")
    sets: list = _f([], help="evaluation sets: [{path: ...} or {hub: ..., split: ...}]")


@dataclass
class Judge:
    kind: Literal["none", "reward_model", "llm"] = _f("none", help="score every pair: a reward model, or an LLM judge asked in both orders")
    model: Optional[str] = _f(None, help="reward_model: local folder or Hub id (AutoModelForSequenceClassification, one label)")
    revision: Optional[str] = _f(None)
    chat_template: Optional[str] = _f(None, help="reward_model: Jinja chat template, for a tokenizer that has none")
    device: str = _f("auto", fp=False, help="reward_model: auto, cpu, cuda, cuda:N")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = _f("auto", help="reward_model: auto is float32 on CPU, bfloat16 on GPU")
    batch_size: int = _f(8, _gt(0), fp=False, help="reward_model: conversations per forward pass")
    max_length: int = _f(4096, _gt(0), help="reward_model: tokens per conversation; longer ones lose their start (judge_truncated)")
    rejected: Literal["all", "lowest", "random"] = _f("all", help="with n > 1: every sample, the lowest-scored or a seeded random one per prompt")
    seed: int = _f(0, _ge(0), help="rejected: random")
    llm: WeakModel = _f(WeakModel, help="llm: the judge model and its backend (sampling.temperature 0: greedy verdicts)")


@dataclass
class Split:
    test_size: float = _f(0.05, ("range", 0, 0.9))
    seed: int = _f(0, _ge(0))


@dataclass
class Recipe:
    source: Source = _f(Source)
    weak_model: WeakModel = _f(WeakModel)
    generation: Generation = _f(Generation)
    filters: Filters = _f(Filters)
    dedupe: Dedupe = _f(Dedupe)
    decontaminate: DecontaminateConfig = _f(DecontaminateConfig)
    judge: Judge = _f(Judge)
    split: Split = _f(Split)
    output: Output = _f(Output)
    # Set by load_recipe, not by the user: where relative source paths are looked up.
    base_dir: str = field(default=".", metadata={"internal": True, "fp": False})

    def to_dict(self) -> dict:
        return to_dict(self)

    def resolve_path(self, p: str) -> Path:
        """A relative path is looked up next to the recipe first, then in the working directory."""
        path = Path(p).expanduser()
        if path.is_absolute():
            return path
        beside = Path(self.base_dir) / path
        return beside if beside.exists() else path


def _validate_cross(r: Recipe) -> None:
    s = r.source
    if s.path and s.hub:
        raise RecipeError("source: give either source.path or source.hub, not both")
    if not s.path and not s.hub:
        raise RecipeError("source: set source.path (a local file or folder) or source.hub (a Hub dataset id)")
    if s.streaming and s.shuffle:
        raise RecipeError("source.shuffle: a streamed source is read in order; shuffle a copy first "
                          "(e.g. shuf data.jsonl > shuffled.jsonl) or set source.streaming: false")
    if s.format == "plain" and not (s.columns.prompt and s.columns.response):
        raise RecipeError("source.columns: format 'plain' needs columns.prompt and columns.response")
    if r.weak_model.sampling.temperature == 0 and r.weak_model.sampling.n > 1:
        raise RecipeError("weak_model.sampling.n: samples at temperature 0 are identical (greedy); set n: 1 or a temperature above 0")
    if r.weak_model.backend == "openai" and not r.weak_model.openai.base_url:
        raise RecipeError("weak_model.openai.base_url: required with backend 'openai' (e.g. http://127.0.0.1:8000/v1)")
    check_chat_options(r)
    near = r.dedupe.near
    if near.num_perm % near.bands:
        raise RecipeError(f"dedupe.near.bands: must divide dedupe.near.num_perm ({near.num_perm}), got {near.bands}")
    for i, pat in enumerate(r.filters.refusals.patterns):
        try:
            re.compile(pat)
        except (re.error, TypeError) as e:
            raise RecipeError(f"filters.refusals.patterns[{i}]: not a valid regular expression ({e})") from None
    sets = []
    for i, item in enumerate(r.decontaminate.sets):
        ev = coerce({"path": item} if isinstance(item, str) else item, EvalSet, f"decontaminate.sets[{i}]")
        if bool(ev.path) == bool(ev.hub):
            raise RecipeError(f"decontaminate.sets[{i}]: give exactly one of path or hub")
        sets.append(ev)
    r.decontaminate.sets = sets
    _validate_judge(r)


def _validate_judge(r: Recipe) -> None:
    j = r.judge
    if j.kind == "none" and (r.filters.min_margin is not None or j.rejected != "all"):
        raise RecipeError("filters.min_margin and judge.rejected need scores: set judge.kind to reward_model or llm")
    if j.kind == "reward_model" and not j.model:
        raise RecipeError("judge.model: required with judge.kind 'reward_model' (a local folder or Hub id)")
    if j.kind == "llm" and j.llm.sampling.n != 1:
        raise RecipeError(f"judge.llm.sampling.n: the judge answers once per order, must be 1, got {j.llm.sampling.n}")
    if j.kind == "llm" and j.llm.backend == "openai" and not j.llm.openai.base_url:
        raise RecipeError("judge.llm.openai.base_url: required with backend 'openai'")
    validate_output(r.output, r.weak_model.backend, r.base_dir)


def load_recipe(path: str | Path | None, overrides: list[str] | None = None) -> Recipe:
    """Read, override and validate a recipe. path=None gives the built-in demo recipe."""
    path = Path(path) if path is not None else demo_recipe_path()
    data = read_yaml_mapping(path, "try: pairforge build recipes/demo.yaml")
    return recipe_from_dict(data, overrides, base_dir=path.resolve().parent)


def recipe_from_dict(data: dict, overrides: list[str] | None = None, base_dir: str | Path = ".") -> Recipe:
    recipe = build(Recipe, apply_overrides(data, overrides or []), "")
    recipe.base_dir = str(base_dir)
    _validate_cross(recipe)
    return recipe


def demo_recipe_path() -> Path:
    return Path(__file__).parent / "demo" / "recipe.yaml"
