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
import types
import typing
from dataclasses import field
from pathlib import Path
from typing import Any, Literal

import yaml

from .errors import RecipeError


def ge(lo):
    return ("ge", lo)


def gt(lo):
    return ("gt", lo)


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


def _plain(value):
    return value.value if isinstance(value, Override) else value


def _number(value, tp, path):
    v = _plain(value)
    if isinstance(v, str):  # YAML 1.1 reads 1e-4 as a string; a number field takes it as a number
        try:
            v = int(v) if tp is int else float(v)
        except ValueError:
            pass
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (tp is int and not isinstance(v, int)):
        raise RecipeError(f"{path}: must be {type_name(tp)}, got {v!r}")
    if not math.isfinite(v):  # nan passes every `<`/`<=` check, inf overflows budgets: neither is a setting
        raise RecipeError(f"{path}: must be a finite number, got {v!r}")
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
    raise RecipeError(f"{path}: must be {type_name(tp)}, got {_plain(value)!r}")


def coerce(value, tp, path: str):
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return _union(value, tp, path)
    if origin is Literal:
        v = _plain(value)
        if v not in typing.get_args(tp):
            raise RecipeError(f"{path}: must be {type_name(tp)}, got {v!r}")
        return v
    if dataclasses.is_dataclass(tp):
        value = _plain(value)
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise RecipeError(f"{path}: must be a mapping, got {value!r}")
        return build(tp, value, path)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        v = str(value) if isinstance(value, Override) else value
        try:
            return tp(v).value
        except ValueError:
            raise RecipeError(f"{path}: must be {type_name(tp)}, got {v!r}") from None
    if tp in (list, dict) or origin in (list, dict):
        v = _plain(value)
        if not isinstance(v, origin or tp):
            raise RecipeError(f"{path}: must be {type_name(tp)}, got {v!r}")
        return type(v)(v)
    if tp is bool:
        v = _plain(value)
        if not isinstance(v, bool):
            raise RecipeError(f"{path}: must be true or false, got {v!r}")
        return v
    if tp in (int, float):
        return _number(value, tp, path)
    if tp is str:
        v = value
        if isinstance(value, Override):  # a number-looking --set value stays the text as typed
            v = value.value if isinstance(value.value, str) else str(value).strip()
        if not isinstance(v, str) or not v:
            raise RecipeError(f"{path}: must be a non-empty string, got {v!r}")
        return v
    if tp is Any or tp is object:
        return _plain(value)
    raise AssertionError(f"unsupported schema type {tp} at {path}")


def check(value, checks, path: str) -> None:
    if value is None:
        return
    for c in checks:
        kind = c[0]
        if kind == "ge" and not value >= c[1]:  # written so that a NaN fails too
            raise RecipeError(f"{path}: must be ≥ {c[1]}, got {value!r}")
        if kind == "gt" and not value > c[1]:
            raise RecipeError(f"{path}: must be > {c[1]}, got {value!r}")
        if kind == "range" and not (c[1] <= value <= c[2]):
            raise RecipeError(f"{path}: must be between {c[1]} and {c[2]}, got {value!r}")
        if kind == "range_open_lo" and not (c[1] < value <= c[2]):
            raise RecipeError(f"{path}: must be > {c[1]} and ≤ {c[2]}, got {value!r}")


def build(cls, data: dict, prefix: str = ""):
    """An instance of dataclass `cls` from plain data; errors name the field path."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in user_fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise RecipeError(
            f"{where}{unknown[0]}: unknown key (allowed in {prefix or 'the recipe'}: {', '.join(fields)})"
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
    except yaml.YAMLError:
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


def read_yaml_mapping(path: Path, hint: str) -> dict:
    """A YAML file that must hold a mapping; errors name the file (and line) and exit 2."""
    if not path.is_file():
        raise RecipeError(f"file not found: {path} ({hint})")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
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
