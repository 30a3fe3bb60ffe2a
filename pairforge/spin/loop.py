"""`pairforge spin`: the self-play loop (SPIN-style) as one command.

Iteration i builds a preference set whose rejected answers come from the current model, then
trains the current model on it with IPO; the trained model is the next iteration's weak model
and starting point. Each iteration lives in its own folders (`iter-<i>/pairs`, `iter-<i>/model`)
with lineage (lineage.py). A state file records each finished step, written atomically after
the step's own outputs: a killed loop rerun resumes at the step it was in (a half-built set
resumes from its shards; a half-trained model is trained again).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PairforgeError
from ..io import atomic_write_json
from ..redact import redact_setting

STATE = "spin.json"


@dataclass
class SpinPlan:
    recipe: str | None  # build recipe file (None: the demo recipe)
    model: str  # the starting model (built-in name, folder or Hub id)
    iterations: int
    out: Path
    build_overrides: list[str] = field(default_factory=list)
    train_config: str | None = None
    train_overrides: list[str] = field(default_factory=list)


def _settings(plan: SpinPlan) -> dict:
    """What a finished step depends on, besides the model: a rerun that changes any of it would mix
    iterations made under different settings (--iterations may grow: that only adds iterations)."""
    import hashlib

    def digest(path):
        f = Path(path) if path else None
        return hashlib.sha256(f.read_bytes()).hexdigest()[:16] if f and f.is_file() else None

    # spin.json never holds a credential: a password in a base_url or a token is no setting (it changes no result)
    return {"recipe_sha256": digest(plan.recipe), "build_overrides": [redact_setting(o) for o in plan.build_overrides],
            "train_config": plan.train_config, "train_config_sha256": digest(plan.train_config),
            "train_overrides": [redact_setting(o) for o in plan.train_overrides]}


def _state(plan: SpinPlan) -> dict:
    f = plan.out / STATE
    if not f.is_file():
        return {"model": plan.model, "recipe": plan.recipe, "settings": _settings(plan), "done": []}
    try:
        state = json.loads(f.read_text())
    except (OSError, ValueError) as e:  # ValueError: not JSON, not UTF-8
        raise PairforgeError(f"{f}: cannot read the loop's state ({type(e).__name__}); remove it to start the loop "
                             "over, or use another --output-dir") from None
    if not isinstance(state, dict) or not isinstance(state.get("done"), list) or \
            not all(isinstance(d, str) for d in state["done"]):
        raise PairforgeError(f"{f} is not a pairforge spin state (an object with a 'done' list); remove it to start "
                             "the loop over, or use another --output-dir")
    if state.get("model") != plan.model or state.get("recipe") != plan.recipe:
        raise PairforgeError(f"{plan.out} holds a spin loop from model {state.get('model')!r} and recipe "
                             f"{state.get('recipe')!r}; use another --output-dir")
    now = _settings(plan)
    changed = [k for k, v in state.get("settings", now).items() if now.get(k) != v]
    if changed:
        raise PairforgeError(f"{plan.out} holds a spin loop made with other settings ({', '.join(changed)} "
                             "changed since its first step); rerun it with the same ones, or use another --output-dir")
    return state


def _mark(plan: SpinPlan, state: dict, step: str) -> None:
    state["done"].append(step)
    atomic_write_json(plan.out / STATE, state)


def _build(plan: SpinPlan, weak_model: str, pairs: Path) -> dict:
    from ..pipeline.build import run_build
    from ..recipe import load_recipe

    recipe = load_recipe(plan.recipe, [*plan.build_overrides, f"weak_model.model={weak_model}",
                                       f"output.dir={pairs}"])
    return run_build(recipe, quiet=True)


def _train(plan: SpinPlan, model: str, pairs: Path, out: Path, quiet: bool = False) -> dict:
    from ..train.config import load_train_config
    from ..train.ipo import run_train

    cfg = load_train_config(plan.train_config, list(plan.train_overrides), dataset=str(pairs), model=model,
                            output_dir=str(out))
    return run_train(cfg, quiet=quiet)


def run_spin(plan: SpinPlan, on_step=None, quiet: bool = False) -> list[dict]:
    """Run (or resume) the loop; returns one summary per iteration. quiet: no training progress."""
    if plan.out.exists() and not plan.out.is_dir():
        raise PairforgeError(f"--output-dir {plan.out} is a file; give a folder (one folder per iteration goes there)")
    try:
        plan.out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PairforgeError(f"--output-dir {plan.out}: cannot create the folder ({e.strerror})") from None
    state = _state(plan)
    model, rows = plan.model, []
    for i in range(1, plan.iterations + 1):
        it = plan.out / f"iter-{i}"
        pairs, trained = it / "pairs", it / "model"
        _forget_lost_steps(plan, state, i, pairs, trained)
        if f"build:{i}" not in state["done"]:
            _build(plan, model, pairs)
            _mark(plan, state, f"build:{i}")
        if on_step:
            on_step(f"iteration {i}: built {pairs}")
        if f"train:{i}" not in state["done"]:
            _train(plan, model, pairs, trained, quiet)
            _mark(plan, state, f"train:{i}")
        if on_step:
            on_step(f"iteration {i}: trained {trained}")
        rows.append(iteration_row(i, pairs, trained))
        model = str(trained)
    return rows


def _forget_lost_steps(plan: SpinPlan, state: dict, i: int, pairs: Path, trained: Path) -> None:
    """A step recorded as done whose outputs are gone (a folder deleted by hand) is done again, and so
    is every step after it: they were made from what it wrote."""
    lost = None
    if f"build:{i}" in state["done"] and not (pairs / "stats.json").is_file():
        lost = f"build:{i}"
    elif f"train:{i}" in state["done"] and not (trained / "train_summary.json").is_file():
        lost = f"train:{i}"
    if lost is not None:
        state["done"] = state["done"][: state["done"].index(lost)]
        atomic_write_json(plan.out / STATE, state)


def iteration_row(i: int, pairs: Path, trained: Path) -> dict:
    """One iteration's figures, read from the files its steps wrote."""
    stats = json.loads((pairs / "stats.json").read_text())
    summary = json.loads((trained / "train_summary.json").read_text())
    before, after = summary.get("preference_before") or {}, summary.get("preference_after") or {}
    return {"iteration": i, "pairs": stats["rows_written"], "steps": summary["steps"],
            "train_loss": summary["train_loss"], "lineage": summary["lineage"],
            "reward_accuracy": after.get("reward_accuracy"), "reward_margin": after.get("reward_margin_mean"),
            "logp_accuracy_before": before.get("logp_accuracy"), "logp_accuracy_after": after.get("logp_accuracy")}
