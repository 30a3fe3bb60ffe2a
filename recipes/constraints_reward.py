"""A verifier as pairforge's judge (and as a GRPO reward function): does an answer follow the
constraints written in its row's `constraints` column?

`constraints` holds a JSON list of IFEval instructions, `[{"id": "punctuation:no_comma",
"kwargs": {}}, ...]`, checked with IFEval's own checkers from the `if-verifiable` package
(`pip install if-verifiable`). The signature is TRL's reward-function signature, so the same
function works unchanged as `GRPOTrainer(reward_funcs=[constraints_followed])`:

    judge: {kind: function, function: constraints_reward.py:constraints_followed}

1.0: every constraint is followed; 0.0: one is not (or the answer is empty).
"""

from __future__ import annotations

import functools
import json


@functools.cache
def _registry() -> dict:
    import langdetect
    import nltk

    langdetect.DetectorFactory.seed = 0  # the case checkers use langdetect, which is random unless seeded
    # if-verifiable's package import also loads its IFBench module, which calls nltk.download at
    # import time; IFEval's checkers used here need no NLTK data, so nothing is fetched.
    real, nltk.download = nltk.download, (lambda *a, **k: False)
    try:
        from if_verifiable.ifeval.instructions_registry import INSTRUCTION_DICT
    finally:
        nltk.download = real
    return INSTRUCTION_DICT


def follows(text: str, specs: list[dict]) -> bool:
    if not text.strip():
        return False
    for spec in specs:
        checker = _registry()[spec["id"]](spec["id"])
        checker.build_description(**{k: v for k, v in spec.get("kwargs", {}).items() if v is not None})
        if not checker.check_following(text):
            return False
    return True


def constraints_followed(completions, constraints, **kwargs) -> list[float]:
    scores = []
    for completion, specs in zip(completions, constraints):
        text = completion[0]["content"] if isinstance(completion, list) else completion
        specs = json.loads(specs) if isinstance(specs, str) else specs
        scores.append(1.0 if follows(text, specs) else 0.0)
    return scores
