"""The dataclass-from-YAML engine shared by the build recipe and the train-ipo config.

A config is a tree of dataclasses. `field_(default, *checks, help=...)` declares a field with
its constraints; `build(cls, mapping, prefix)` turns plain YAML data into instances, coercing
by the fields' type hints and raising `RecipeError` that names the field path. Unknown keys and
wrong types are errors. `apply_overrides` applies `--set a.b=value` on the raw data first.
`describe` prints a config class as YAML with every default and its help as comments.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import re
import types
import typing
from dataclasses import field
from pathlib import Path
from typing import Any, Literal

import yaml

from .errors import RecipeError


# Field checks (see `check`): ge/gt/lt a bound, between lo and hi inclusive, matches a pattern whole
# (`forms` lists the accepted forms for the error line).
def ge(lo): return ("ge", lo)  # noqa: E704
def gt(lo): return ("gt", lo)  # noqa: E704
def lt(hi): return ("lt", hi)  # noqa: E704
def between(lo, hi): return ("range", lo, hi)  # noqa: E704
def matches(pattern: str, forms: str): return ("match", pattern, forms)  # noqa: E704


SEED = between(0, 2**32 - 1)  # what numpy, torch and TRL accept as a seed
INT64 = 2**63 - 1  # no integer setting is larger (torch, numpy and tokenizers store them in 64 bits)


def field_(default, *checks, fp: bool = True, help: str = ""):
    """A field with constraints. fp=False: the field does not change the output (fingerprint)."""
    meta = {"checks": checks, "fp": fp, "help": help}
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    if dataclasses.is_dataclass(default) and isinstance(default, type):
        return field(default_factory=default, metadata=meta)
    return field(default=default, metadata=meta)


def user_fields(cls) -> list:
    return [f for f in dataclasses.fields(cls) if not f.metadata.get("internal")]


def to_dict(obj) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in user_fields(obj)}
    if isinstance(obj, list):
        return [to_dict(x) for x in obj]
    return obj


# --------------------------------------------------------------------------------- coercion


class Override(str):
    """A `--set` value: the raw text, with its YAML reading in `.value`. String fields keep the
    text as typed (`--set output.dir=2024` is the string '2024'); other fields get the value."""

    value: Any

    def __new__(cls, raw: str, value: Any):
        obj = super().__new__(cls, raw)
        obj.value = value
        return obj


def type_name(tp) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return " or ".join(type_name(a) for a in args) + (" or null" if len(args) < len(typing.get_args(tp)) else "")
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "one of " + ", ".join(repr(m.value) for m in tp)
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list",
             dict: "a mapping"}
    return names.get(tp, names.get(origin, str(tp)))


def show(value, plain: bool = False) -> str:
    """repr (plain: str) of a value for an error line, shortened (a 400-digit number must not flood it)."""
    text = str(value) if plain else repr(value)
    return text if len(text) <= 60 else f"{text[:24]}...{text[-8:]} ({len(text)} characters)"


def _plain(value):
    return value.value if isinstance(value, Override) else value


def _number(value, tp, path):
    v = _plain(value)
    if isinstance(v, str):  # YAML 1.1 reads 1e-4 as a string; a number field takes it as a number
        try:
            v = int(v) if tp is int else float(v)
        except ValueError:  # an integer of over 4300 digits (int() refuses it) is far out of any range
            if re.fullmatch(r"[-+]?[0-9]+", v.strip()):
                raise RecipeError(f"{path}: must be between {-INT64 - 1} and {INT64}, got a {len(v)}-digit number") from None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (tp is int and not isinstance(v, int)):
        raise RecipeError(f"{path}: must be {type_name(tp)}, got {show(v)}")
    if isinstance(v, int):  # an integer check() bounds; a float field takes it only if it fits a float
        if tp is int:
            return v
        try:
            v = float(v)
        except OverflowError:
            raise RecipeError(f"{path}: must be a finite number, got {show(v)} (too large)") from None
    if not math.isfinite(v):  # nan passes every `<`/`<=` check, inf overflows budgets: neither is a setting
        raise RecipeError(f"{path}: must be a finite number, got {show(v)}")
    return float(v) if tp is float else v


def _union(value, tp, path):
    args = typing.get_args(tp)
    if _plain(value) is None and type(None) in args:
        return None
    inner = [a for a in args if a is not type(None)]
    if str in inner and any(isinstance(a, type) and issubclass(a, enum.Enum) for a in inner):
        inner.remove(str)  # `Enum | str` takes the enum's values (as transformers' HfArgumentParser does)
    if len(inner) == 1:
        return coerce(value, inner[0], path)
    for a in sorted(inner, key=lambda a: a is str):  # the string reading last
        try:
            return coerce(value, a, path)
        except RecipeError:
            continue
    raise RecipeError(f"{path}: must be {type_name(tp)}, got {show(_plain(value))}")


def coerce(value, tp, path: str):
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return _union(value, tp, path)
    if origin is Literal:
        v = _plain(value)
        if v not in typing.get_args(tp):
            raise RecipeError(f"{path}: must be {type_name(tp)}, got {show(v)}")
        return v
    if dataclasses.is_dataclass(tp):
        value = _plain(value)
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise RecipeError(f"{path}: must be a mapping, got {show(value)}")
        return build(tp, value, path)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        v = str(value) if isinstance(value, Override) else value
        try:
            return tp(v).value
        except ValueError:
            raise RecipeError(f"{path}: must be {type_name(tp)}, got {show(v)}") from None
    if tp in (list, dict) or origin in (list, dict):
        v = _plain(value)
        if not isinstance(v, origin or tp):
            raise RecipeError(f"{path}: must be {type_name(tp)}, got {show(v)}")
        return type(v)(v)
    if tp is bool:
        v = _plain(value)
        if not isinstance(v, bool):
            raise RecipeError(f"{path}: must be true or false, got {show(v)}")
        return v
    if tp in (int, float):
        return _number(value, tp, path)
    if tp is str:
        v = value
        if isinstance(value, Override):  # a number-looking --set value stays the text as typed
            v = value.value if isinstance(value.value, str) else str(value).strip()
        if not isinstance(v, str) or not v:
            raise RecipeError(f"{path}: must be a non-empty string, got {show(v)}")
        return v
    if tp is Any or tp is object:
        return _plain(value)
    raise AssertionError(f"unsupported schema type {tp} at {path}")


_CHECKS = {  # kind: (passes, what the error says); written so that a NaN fails every one
    "ge": (lambda v, c: v >= c[1], lambda c: f"≥ {c[1]}"), "gt": (lambda v, c: v > c[1], lambda c: f"> {c[1]}"),
    "lt": (lambda v, c: v < c[1], lambda c: f"< {c[1]}"), "le": (lambda v, c: v <= c[1], lambda c: f"≤ {c[1]}"),
    "range": (lambda v, c: c[1] <= v <= c[2], lambda c: f"between {c[1]} and {c[2]}"),
    "range_open_lo": (lambda v, c: c[1] < v <= c[2], lambda c: f"> {c[1]} and ≤ {c[2]}"),
    "match": (lambda v, c: isinstance(v, str) and re.fullmatch(c[1], v), lambda c: c[2]),
}


def check(value, checks, path: str) -> None:
    if value is None:
        return
    for c in (*checks, ("ge", -INT64 - 1), ("le", INT64)) if isinstance(value, int) else checks:
        passes, says = _CHECKS[c[0]]
        if not passes(value, c):
            raise RecipeError(f"{path}: must be {says(c)}, got {show(value)}")


def build(cls, data: dict, prefix: str = ""):
    """An instance of dataclass `cls` from plain data; errors name the field path."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in user_fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise RecipeError(
            f"{where}{show(unknown[0], plain=True)}: unknown key (allowed in {prefix or 'the recipe'}: {', '.join(fields)})"
        )
    kwargs = {}
    for name, f in fields.items():
        path = f"{prefix}.{name}" if prefix else name
        if name in data:
            value = coerce(data[name], hints[name], path)
            check(value, f.metadata.get("checks", ()), path)
            kwargs[name] = value
    return cls(**kwargs)


# --------------------------------------------------------------------------------- files and --set


def parse_override(text: str) -> tuple[list[str], Override]:
    """`a.b=value` -> (['a', 'b'], value); the value is read as YAML (numbers, true, null, lists)."""
    if "=" not in text:
        raise RecipeError(f"--set {text!r}: expected KEY=VALUE, e.g. --set weak_model.sampling.temperature=0.7")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise RecipeError(f"--set {text!r}: empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except (yaml.YAMLError, ValueError):  # ValueError: an integer of over 4300 digits
        value = raw
    return key.split("."), Override(raw, value)


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    data = json.loads(json.dumps(data))  # deep copy of plain YAML data
    for text in overrides:
        keys, value = parse_override(text)
        node = data
        for i, k in enumerate(keys[:-1]):
            nxt = node.get(k)
            if nxt is None:
                nxt = node[k] = {}
            if not isinstance(nxt, dict):
                raise RecipeError(f"--set {text}: {'.'.join(keys[: i + 1])} is not a mapping")
            node = nxt
        node[keys[-1]] = value
    return data


def read_yaml_mapping(path: Path, hint: str = "") -> dict:
    """A YAML file that must hold a mapping; errors name the file (and line) and exit 2."""
    if not path.is_file():
        raise RecipeError(f"file not found: {path}" + (f" ({hint})" if hint else ""))
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except ValueError as e:  # UnicodeDecodeError, or an integer of over 4300 digits (int() refuses it)
        raise RecipeError(f"{path}: not valid YAML ({str(e).split(':')[0]})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise RecipeError(f"{path}{where}: not valid YAML ({getattr(e, 'problem', None) or e})") from None
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: must be a YAML mapping of fields")
    return data


# --------------------------------------------------------------------------------- describe


def describe(cls, indent: int = 0) -> str:
    """Every field of a config class as YAML, with its default, type and help as comments."""
    hints = typing.get_type_hints(cls)
    lines = []
    pad = "  " * indent
    for f in user_fields(cls):
        tp = hints[f.name]
        help_text = f.metadata.get("help", "")
        note = "  # " + "; ".join(x for x in (help_text, type_name(tp)) if x)
        if dataclasses.is_dataclass(tp):
            lines.append(f"{pad}{f.name}:{note if help_text else ''}")
            lines.append(describe(tp, indent + 1))
            continue
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        value = yaml.safe_dump(default, default_flow_style=True, width=1000).strip()
        value = value.removesuffix("\n...").removesuffix("...").strip()
        lines.append(f"{pad}{f.name}: {value}{note}")
    return "\n".join(lines)
