"""The build recipe: one schema, validated in one place.

Every section is a pydantic model (sections.py; the engine is config.py); `load_recipe` turns YAML (plus
`--set a.b=value` overrides) into a validated `Recipe` or raises a `RecipeError` naming the
field path. fingerprint.py hashes the fields that change the output (generation and finish apart).
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import PrivateAttr

from .config import Section, build, to_dict
from .chat_options import check_chat_options
from .errors import RecipeError
from .files import apply_overrides, read_yaml_mapping
from .fingerprint import dump_resolved, fingerprint, fingerprints  # noqa: F401  (the recipe's API)
from .output_section import Output, validate_output
from .sections import (  # noqa: F401  (the sections are part of the recipe's API)
    Bounds, Columns, DecontaminateConfig, Dedupe, EvalSet, Filters, Generation, JudgeConfig, JudgeLLM, JudgeSampling,
    Lengths, NearDedupeConfig, OpenAIOptions, RayOptions, Refusals, Repetition, Sampling, Source, Split, VLLMOptions,
    WeakModel, _f, _finish,
)


class Recipe(Section):
    source: Source = _f(Source)
    weak_model: WeakModel = _f(WeakModel)
    generation: Generation = _f(Generation)
    filters: Filters = _f(Filters)
    dedupe: Dedupe = _f(Dedupe)
    decontaminate: DecontaminateConfig = _f(DecontaminateConfig)
    judge: JudgeConfig = _finish(JudgeConfig)
    split: Split = _finish(Split)
    output: Output = _finish(Output)
    # Set by load_recipe, not by the user: where relative source paths are looked up.
    _base_dir: str = PrivateAttr(".")

    @property
    def base_dir(self) -> str:
        return self._base_dir

    @base_dir.setter
    def base_dir(self, value: str) -> None:
        self._base_dir = value

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
    mt = r.weak_model.sampling.max_tokens
    if mt != "auto" and mt <= 0:
        raise RecipeError(f"weak_model.sampling.max_tokens: must be > 0 or auto, got {mt!r}")
    if mt == "auto" and r.weak_model.backend == "openai":
        raise RecipeError("weak_model.sampling.max_tokens: auto sizes each answer from the chosen answer's tokens, and "
                          "the openai backend has no tokenizer to count them; set a number, e.g. --set "
                          "weak_model.sampling.max_tokens=512")
    check_end_nudge(r.weak_model, "weak_model")
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
        ev = build(EvalSet, {"path": item} if isinstance(item, str) else item, f"decontaminate.sets[{i}]")
        if bool(ev.path) == bool(ev.hub):
            raise RecipeError(f"decontaminate.sets[{i}]: give exactly one of path or hub")
        sets.append(ev)
    r.decontaminate.sets = sets
    _validate_judge(r)


def _validate_judge(r: Recipe) -> None:
    j = r.judge
    if j.kind == "none" and (r.filters.min_margin is not None or j.rejected != "all"):
        raise RecipeError("filters.min_margin and judge.rejected need scores: set judge.kind to reward_model, llm "
                          "or function")
    if j.kind == "function" and (problem := function_spec_problem(j.function)):
        raise RecipeError(f"judge.function: {problem}")
    if j.kind != "function" and j.function is not None:
        raise RecipeError(f"judge.function: only read with judge.kind: function (kind is {j.kind!r})")
    if j.kind == "reward_model" and not j.model:
        raise RecipeError("judge.model: required with judge.kind 'reward_model' (a local folder or Hub id)")
    if j.kind == "llm" and j.llm.sampling.n != 1:
        raise RecipeError(f"judge.llm.sampling.n: the judge answers once per order, must be 1, got {j.llm.sampling.n}")
    mt = j.llm.sampling.max_tokens
    if j.kind == "llm" and (mt == "auto" or mt <= 0):
        raise RecipeError(f"judge.llm.sampling.max_tokens: the judge needs a fixed budget for its reply (a number "
                          f"> 0, default 512; auto sizes a weak model's answer from the chosen one), got {mt!r}")
    if j.kind == "llm" and j.llm.backend == "openai" and not j.llm.openai.base_url:
        raise RecipeError("judge.llm.openai.base_url: required with backend 'openai'")
    if j.kind == "llm":
        check_end_nudge(j.llm, "judge.llm")
    validate_output(r.output, r.weak_model.backend, r.base_dir)


def check_end_nudge(wm: WeakModel, section: str) -> None:
    """sampling.end_nudge runs as a transformers logits processor: a server has none to give, and
    pairforge's vLLM backend has no per-row one (vLLM's own take a whole engine's state)."""
    if wm.sampling.end_nudge.enabled and wm.backend in ("vllm", "openai"):
        why = ("an OpenAI-compatible server exposes no logits processor" if wm.backend == "openai"
               else "pairforge's vLLM backend has no per-answer logits processor")
        raise RecipeError(f"{section}.sampling.end_nudge: runs on the transformers backend only ({why}); use --set "
                          f"{section}.backend=transformers or --set {section}.sampling.end_nudge.enabled=false")


def function_spec_problem(spec: str | None) -> str | None:
    """Why `spec` is not `module:function` or `path/to/file.py:function` (None when it is)."""
    if not spec:
        return "required with judge.kind 'function': `my_rewards.py:my_reward` or `package.module:my_reward`"
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name.isidentifier():
        return f"{spec!r} is not `path/to/file.py:function` or `module:function` (the function's name after a colon)"
    if not where.endswith(".py") and not all(part.isidentifier() for part in where.split(".")):
        return f"{where!r} is neither a .py file nor a dotted module name"
    return None


def load_recipe(path: str | Path | None, overrides: list[str] | None = None) -> Recipe:
    """Read, override and validate a recipe. path=None gives the built-in demo recipe."""
    from .shipped import find_recipe

    path = find_recipe(path, "build") if path is not None else demo_recipe_path()
    data = read_yaml_mapping(path)
    return recipe_from_dict(data, overrides, base_dir=path.resolve().parent)


def recipe_from_dict(data: dict, overrides: list[str] | None = None, base_dir: str | Path = ".") -> Recipe:
    recipe = build(Recipe, apply_overrides(data, overrides or []), "")
    recipe.base_dir = str(base_dir)
    _validate_cross(recipe)
    return recipe


def recipe_schema() -> dict:
    """The build recipe's JSON Schema (draft 2020-12), as `pairforge recipe --schema` prints it."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "pairforge build recipe",
            **{k: v for k, v in Recipe.model_json_schema().items() if k != "title"}}


def demo_recipe_path() -> Path:
    from .shipped import shipped

    return shipped("build", "demo")
