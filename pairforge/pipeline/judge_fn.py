"""A Python function as the judge: a verifier, or any reward function written for TRL's GRPOTrainer.

    judge: {kind: function, function: my_rewards.py:no_commas}    # or package.module:no_commas

The function is called the way GRPOTrainer calls its `reward_funcs`: keyword arguments `prompts`,
`completions` and every column of the source row (`constraints`, `answer`, ...), one list entry
per pair, and returns one float (or None: no score) per completion. It is called twice per table,
once on the chosen answers and once on the rejected ones. `judge.function_format` says what a
prompt and a completion are: `conversational` (message lists, as GRPOTrainer passes conversational
data) or `standard` (text). A function that raises, or returns anything but one number or None per
completion, stops the build with one line naming the function and the row.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import json
import math
import numbers
import sys
from collections.abc import Mapping, Set
from pathlib import Path
from typing import Callable

from ..data.schemas import SOURCE_COLUMNS
from ..errors import PairforgeError

RESERVED = ("prompts", "completions")


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:300]}" if text else type(e).__name__


def _load_file(path: Path, spec: str):
    if not path.is_file():
        raise PairforgeError(f"judge.function: {spec!r}: no file {path.name!r} beside the recipe or in the "
                             "working directory")
    name = "_pairforge_judge_" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    try:
        module_spec.loader.exec_module(module)
    except BaseException as e:  # noqa: BLE001 - the user's module may raise anything while it loads
        sys.modules.pop(name, None)
        if isinstance(e, KeyboardInterrupt):
            raise
        raise PairforgeError(f"judge.function: importing {path.name} failed ({_first_line(e)})") from None
    return module, path.read_bytes()


def _load_module(where: str, base_dir: str):
    sys.path.insert(0, str(base_dir))  # a module beside the recipe, as for a file
    try:
        module = importlib.import_module(where)
    except BaseException as e:  # noqa: BLE001
        if isinstance(e, KeyboardInterrupt):
            raise
        raise PairforgeError(f"judge.function: importing module {where!r} failed ({_first_line(e)})") from None
    finally:
        sys.path.remove(str(base_dir))
    origin = getattr(module, "__file__", None)
    return module, Path(origin).read_bytes() if origin and Path(origin).is_file() else where.encode()


class LoadedFunction:
    """The callable, the published name (`file.py:name` or `module:name`, never a path) and a
    digest of the code that holds it (its file's bytes), which keys the score cache."""

    def __init__(self, spec: str, resolve: Callable[[str], Path], base_dir: str):
        where, _, attr = spec.rpartition(":")
        if where.endswith(".py"):
            module, code = _load_file(resolve(where), spec)
            self.name = f"{Path(where).name}:{attr}"
        else:
            module, code = _load_module(where, base_dir)
            self.name = f"{where}:{attr}"
        fn = getattr(module, attr, None)
        if fn is None or not callable(fn):
            raise PairforgeError(f"judge.function: {self.name} is {'missing' if fn is None else 'not callable'}")
        self.fn = fn
        self.digest = hashlib.sha256(code).hexdigest()
        self._accepts = _accepted(fn)

    def kwargs(self, prompts, completions, columns: dict) -> dict:
        """Everything GRPOTrainer would pass, less what a function without **kwargs cannot take."""
        shadowed = [c for c in columns if c in RESERVED]
        if shadowed:
            raise PairforgeError(f"judge.function {self.name}: the source column {shadowed[0]!r} has the name of "
                                 "the argument the function gets the answers in; rename the column")
        full = {"prompts": prompts, "completions": completions, **columns}
        return full if self._accepts is None else {k: v for k, v in full.items() if k in self._accepts}


_LOADED: dict[tuple, LoadedFunction] = {}


def load_function(spec: str, resolve: Callable[[str], Path], base_dir: str) -> LoadedFunction:
    """The function named by `spec`, imported once per process and content of its file (the plan
    checks it before any generation; the judge stage then scores with the same object; an edited
    file is imported again)."""
    where = spec.rpartition(":")[0]
    path = resolve(where) if where.endswith(".py") else None
    code = path.read_bytes() if path is not None and path.is_file() else b""
    key = (spec, str(base_dir), str(path), hashlib.sha256(code).hexdigest())
    if key not in _LOADED:
        _LOADED[key] = LoadedFunction(spec, resolve, base_dir)
    return _LOADED[key]


def _accepted(fn) -> set | None:
    """The keyword names `fn` takes, or None when it takes **kwargs (or has no readable signature)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _prompt(messages: list[dict], fmt: str):
    if fmt == "conversational":
        return [dict(m) for m in messages]
    return next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")


def _completion(text: str, fmt: str):
    return [{"role": "assistant", "content": text}] if fmt == "conversational" else text


def _columns(rows: list[dict]) -> dict:
    """The source rows' columns as GRPOTrainer passes them: one list per column, None where a row lacks it."""
    parsed = [json.loads(r.get(SOURCE_COLUMNS) or "{}") for r in rows]
    names = list(dict.fromkeys(k for p in parsed for k in p))
    return {k: [p.get(k) for p in parsed] for k in names}


def _as_score(value):
    """A float, None (no score), or a marker that the value is not a score."""
    if value is None:
        return None
    if isinstance(value, numbers.Real) and not isinstance(value, str):
        try:
            return float(value)
        except OverflowError:  # an integer past float's range: no finite score (judge_score_not_finite)
            return math.inf if value > 0 else -math.inf
    return _NotAScore(value)


class _NotAScore:
    def __init__(self, value):
        self.value = value


class FunctionScorer:
    """Scores rows with a LoadedFunction: `(chosen, rejected, truncated=False, reason)` per row;
    a None score drops the row as `judge_no_score`, NaN/inf as `judge_score_not_finite`."""

    def __init__(self, loaded: LoadedFunction, fmt: str):
        self.loaded, self.fmt = loaded, fmt

    def score(self, rows: list[dict]) -> list[tuple]:
        if rows and SOURCE_COLUMNS not in rows[0]:
            raise PairforgeError("judge.function: these pairs were generated before judge.kind was function, so they "
                                 "lack the source's columns the function is given; rebuild with --fresh")
        chosen, rejected = (self._call(rows, side) for side in ("chosen", "rejected"))
        out = []
        for c, r in zip(chosen, rejected):
            reason = None
            if c is None or r is None:
                reason = "judge_no_score"
            elif not (math.isfinite(c) and math.isfinite(r)):
                reason = "judge_score_not_finite"
            out.append((c, r, False, reason))
        return out

    def _inputs(self, rows, side: str) -> tuple:
        """(prompts, completions, columns), built anew for each call: what the function does to them
        (append, edit) never reaches the other side's call."""
        return ([_prompt(r["prompt"], self.fmt) for r in rows], [_completion(r[side], self.fmt) for r in rows],
                _columns(rows))

    def _call(self, rows, side: str) -> list:
        name = self.loaded.name
        prompts, completions, columns = self._inputs(rows, side)
        try:
            result = self.loaded.fn(**self.loaded.kwargs(prompts, completions, columns))
        except PairforgeError:
            raise
        except (Exception, SystemExit) as e:  # noqa: BLE001 - the user's code may raise anything, exit() too
            i = self._failing_row(rows, side)
            where = f" on row {_row(rows[i])}" if i is not None else f" on a batch of {len(rows)} rows"
            raise PairforgeError(f"judge.function {name} raised {_first_line(e)}{where} ({side} answer)") from None
        try:
            if isinstance(result, (Mapping, Set, str, bytes)):  # list() of these is keys or characters
                raise TypeError
            values = list(result)
        except TypeError:
            raise PairforgeError(f"judge.function {name} returned {type(result).__name__}, not a list of "
                                 f"{len(rows)} scores ({side} answers)") from None
        except (Exception, SystemExit) as e:  # noqa: BLE001 - a generator it returned raised
            raise PairforgeError(f"judge.function {name} returned {type(result).__name__}, but its result could "
                                 f"not be read: {_first_line(e)} ({side} answers)") from None
        if len(values) != len(rows):
            raise PairforgeError(f"judge.function {name} returned {len(values)} scores for {len(rows)} "
                                 f"completions ({side} answers); it must return one float or None per completion")
        scores = [_as_score(v) for v in values]
        for i, s in enumerate(scores):
            if isinstance(s, _NotAScore):
                raise PairforgeError(f"judge.function {name} returned {type(s.value).__name__} {str(s.value)[:60]!r} "
                                     f"for row {_row(rows[i])} ({side} answer); a score is a number or None")
        return scores

    def _failing_row(self, rows, side: str) -> int | None:
        """The first row the function raises on when called alone (None if none does)."""
        for i in range(len(rows)):
            prompts, completions, columns = self._inputs(rows[i : i + 1], side)
            try:
                self.loaded.fn(**self.loaded.kwargs(prompts, completions, columns))
            except (Exception, SystemExit):  # noqa: BLE001
                return i
        return None


def _row(row: dict) -> str:
    return f"id {row.get('id')} (source row {row.get('source_index')})"
