"""The library's checkers, offline: IFEval's and IFBench's registries from `if-verifiable`.

Some checkers need NLTK data that nltk downloads on first use, and if-verifiable's IFBench module
calls `nltk.download` at import. There is no route to nltk's data server here, so:

* punkt_tab and stopwords come from the copies that `llama-index-core` ships (installed with
  --no-deps, never imported: only its `_static/nltk_cache` folder is put on nltk's path), or from
  any folder named by NLTK_DATA;
* `nltk.download` is replaced by a no-op while if-verifiable's modules import, so nothing tries
  the network;
* averaged_perceptron_tagger_eng is shipped by no trusted PyPI package: IFBench's
  `words:start_verb` (nltk.pos_tag) cannot be scored without it. `unscorable_ids()` names it when
  it is missing, and the evaluator leaves those prompts out and counts them.

Checkers that read NLTK data: IFEval `length_constraints:number_sentences`,
`change_case:capital_word_frequency` (punkt_tab); IFBench `ratio:stop_words` (stopwords),
`words:keywords_specific_position`, `words:words_position`, `format:title_case` (punkt_tab),
`words:start_verb` (punkt_tab + the tagger).
"""

from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path

# resource path -> the checkers that need it (IFEval / IFBench instruction ids)
NLTK_NEEDS = {
    "tokenizers/punkt_tab": ["length_constraints:number_sentences", "change_case:capital_word_frequency",
                             "words:keywords_specific_position", "words:words_position", "format:title_case",
                             "words:start_verb"],
    "corpora/stopwords": ["ratio:stop_words"],
    "taggers/averaged_perceptron_tagger_eng": ["words:start_verb"],
}


def nltk_data_dirs() -> list[str]:
    """Offline NLTK data folders: NLTK_DATA entries, then llama-index-core's bundled cache."""
    dirs = [d for d in os.environ.get("NLTK_DATA", "").split(os.pathsep) if d]
    spec = importlib.util.find_spec("llama_index")  # a namespace package: nothing is imported
    for root in (spec.submodule_search_locations or []) if spec else []:
        cache = Path(root) / "core" / "_static" / "nltk_cache"
        if cache.is_dir():
            dirs.append(str(cache))
    return dirs


@functools.cache
def _setup() -> dict:
    import langdetect
    import nltk

    langdetect.DetectorFactory.seed = 0  # langdetect is random unless seeded (the lowercase/capital checkers use it)
    for d in reversed(nltk_data_dirs()):
        if d not in nltk.data.path:
            nltk.data.path.insert(0, d)
    real, nltk.download = nltk.download, (lambda *a, **k: False)
    try:
        from if_verifiable.ifbench.instructions_registry import INSTRUCTION_DICT as ifbench
        from if_verifiable.ifeval.instructions_registry import INSTRUCTION_DICT as ifeval
    finally:
        nltk.download = real
    missing = []
    for res in NLTK_NEEDS:
        try:
            nltk.data.find(res)
        except LookupError:
            missing.append(res)
    return {"ifeval": ifeval, "ifbench": ifbench, "missing": missing}


def registry(benchmark: str = "ifeval") -> dict:
    return _setup()[benchmark]


def missing_nltk_data() -> list[str]:
    return list(_setup()["missing"])


def unscorable_ids() -> set[str]:
    """Instruction ids whose checker cannot run here (its NLTK data is missing)."""
    return {i for res in missing_nltk_data() for i in NLTK_NEEDS[res]}


def checker(instruction_id: str, kwargs: dict, benchmark: str = "ifeval"):
    c = registry(benchmark)[instruction_id](instruction_id)
    c.build_description(**{k: v for k, v in kwargs.items() if v is not None})
    return c


def describe(instruction_id: str, kwargs: dict) -> str:
    """IFEval's own wording of the instruction (the checker's description with these kwargs)."""
    return checker(instruction_id, kwargs).build_description(**kwargs).strip()


def verify(answer: str, specs: list[dict]) -> list[bool]:
    """Strict check of each constraint spec ({"id", "kwargs"}) with the library's checker."""
    return [bool(answer.strip()) and bool(checker(s["id"], s["kwargs"]).check_following(answer)) for s in specs]


def score(benchmark: str, prompt: str, response: str, ids: list[str], kwargs: list[dict]) -> dict:
    """if-verifiable's own scoring (strict and loose, prompt- and instruction-level)."""
    from if_verifiable.common import evaluate_instructions

    results, s = evaluate_instructions(response=response, instruction_id_list=ids, kwargs_list=kwargs,
                                       prompt=prompt, instruction_registry=registry(benchmark))
    return {"prompt_strict": s.binary_strict == 1.0, "prompt_loose": s.binary_loose == 1.0,
            "inst_strict": [r.strict_pass for r in results], "inst_loose": [r.loose_pass for r in results]}
