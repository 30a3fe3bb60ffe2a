"""The config engine shared by the build recipe and the train-ipo config, on pydantic v2.

A config is a tree of pydantic models (`Section`: unknown keys forbidden, strict types, no NaN or
inf). `field_(default, *checks, help=...)` declares a field with its constraints: pydantic checks
them and writes them into the JSON Schema (`schema`). What pydantic does not know is done here:
`--set` values (`Override`: a string field keeps the text as typed, others get its YAML reading),
numbers YAML 1.1 reads as strings (`1e-4`), integers beyond 64 bits, and the error line: one
`RecipeError` naming the field path in pairforge's words (`source.limit: must be > 0, got 0`).
files.py reads YAML files, applies `--set` and prints `describe`.
"""

from __future__ import annotations

import enum
import math
import re
import types
import typing
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import RecipeError


# Field checks: ge/gt/lt a bound, between lo and hi inclusive, matches a pattern whole (`forms`
# lists the accepted forms for the error line). pydantic enforces them; `check` words the error.
def ge(lo): return ("ge", lo)  # noqa: E704
def gt(lo): return ("gt", lo)  # noqa: E704
def lt(hi): return ("lt", hi)  # noqa: E704
def between(lo, hi): return ("range", lo, hi)  # noqa: E704
def matches(pattern: str, forms: str): return ("match", pattern, forms)  # noqa: E704


SEED = between(0, 2**32 - 1)  # what numpy, torch and TRL accept as a seed
INT64 = 2**63 - 1  # no integer setting is larger (torch, numpy and tokenizers store them in 64 bits)
_BOUNDS = {"ge": ("ge",), "gt": ("gt",), "lt": ("lt",), "le": ("le",), "range": ("ge", "le"),
           "range_open_lo": ("gt", "le")}


class Meta:
    """pairforge's own facts about a field: its checks (for the error's words), whether it changes
    the output (fingerprint), and its stage ('finish': read only after generation)."""

    def __init__(self, checks: tuple, fp: bool, stage: str | None = None):
        self.checks, self.fp, self.stage = checks, fp, stage


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


def field_(default, *checks, fp: bool = True, help: str = "", stage: str | None = None):
    """A field with constraints. fp=False: the field does not change the output (fingerprint)."""
    kwargs = {}
    for c in checks:
        if c[0] == "match":
            kwargs["pattern"] = f"^(?:{c[1]})$"
        else:
            kwargs.update(zip(_BOUNDS[c[0]], c[1:]))
    if isinstance(default, (dict, list)):
        kwargs["default_factory"] = lambda: type(default)(default)
    elif isinstance(default, type) and issubclass(default, BaseModel):
        kwargs["default_factory"] = default
    else:
        kwargs["default"] = default
    info = Field(description=help or None, **kwargs)
    info.metadata.append(Meta(checks, fp, stage))
    return info


def meta(info) -> Meta:
    return next((m for m in info.metadata if isinstance(m, Meta)), Meta((), True))


def section_type(tp):
    """The Section class a field holds (also through Optional), else None."""
    for a in (tp, *typing.get_args(tp)):
        if isinstance(a, type) and issubclass(a, BaseModel):
            return a
    return None


def to_dict(obj) -> Any:
    return obj.model_dump() if isinstance(obj, BaseModel) else obj


# --------------------------------------------------------------------------------- --set values


class Override(str):
    """A `--set` value: the raw text, with its YAML reading in `.value`. String fields keep the
    text as typed (`--set output.dir=2024` is the string '2024'); other fields get the value."""

    value: Any

    def __new__(cls, raw: str, value: Any):
        obj = super().__new__(cls, raw)
        obj.value = value
        return obj


def _inner(tp) -> list:
    """The types a field takes, None left out."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(tp) if a is not type(None)]
    return [tp]


def prepare(value, tp, path: str, checks: tuple = ()):
    """A raw value made ready for pydantic's strict check: an Override resolved, a number YAML
    read as text converted, and integers beyond 64 bits or floats beyond float refused here."""
    inner = _inner(tp)
    if isinstance(value, Override):
        value = (value.value if isinstance(value.value, str) else str(value).strip()) if inner == [str] else value.value
    if any(isinstance(v, str) and "\x00" in v for v in (value if isinstance(value, list) else [value])):
        raise RecipeError(f"{path}: contains a NUL character (\\0), which no path, name or text here may hold; "
                          "remove it")
    if isinstance(value, str) and (int in inner or float in inner):
        try:
            value = int(value) if int in inner else float(value)
        except ValueError:  # an integer of over 4300 digits (int() refuses it) is far out of any range
            if re.fullmatch(r"[-+]?[0-9]+", value.strip()):
                raise RecipeError(f"{path}: must be between {-INT64 - 1} and {INT64}, got a {len(value)}-digit "
                                  "number") from None
    if isinstance(value, int) and not isinstance(value, bool):
        if int in inner:
            check(value, checks, path)
        elif float in inner:
            try:
                float(value)
            except OverflowError:
                raise RecipeError(f"{path}: must be a finite number, got {show(value)} (too large)") from None
    return value


def prepare_section(cls, data, prefix: str):
    """`prepare` over a mapping for `cls`, nested sections included (paths known here)."""
    if not isinstance(data, dict):
        return data
    out = {}
    for key, value in data.items():
        info = cls.model_fields.get(key)
        if info is None:
            out[key] = value.value if isinstance(value, Override) else value  # pydantic names the unknown key
            continue
        path = f"{prefix}.{key}" if prefix else key
        sub = section_type(info.annotation)
        if sub is not None:
            value = value.value if isinstance(value, Override) else value
            out[key] = prepare_section(sub, {} if value is None else value, path)
        else:
            out[key] = prepare(value, info.annotation, path, meta(info).checks)
    return out


# --------------------------------------------------------------------------------- errors


def type_name(tp) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        args = _inner(tp)
        if len(args) == 1:
            return type_name(args[0])
        return " or ".join(type_name(a) for a in args) + (" or null" if len(args) < len(typing.get_args(tp)) else "")
    if section_type(tp) is not None:
        return "a mapping"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "one of " + ", ".join(repr(m.value) for m in tp)
    names = {str: "a non-empty string", int: "an integer", float: "a number", bool: "true or false",
             list: "a list", dict: "a mapping"}
    return names.get(tp, names.get(origin, str(tp)))


def show(value, plain: bool = False) -> str:
    """repr (plain: str) of a value for an error line, shortened (a 400-digit number must not flood it)."""
    text = str(value) if plain else repr(value)
    return text if len(text) <= 60 else f"{text[:24]}...{text[-8:]} ({len(text)} characters)"


_CHECKS = {  # kind: (passes, what the error says); written so that a NaN fails every one
    "ge": (lambda v, c: v >= c[1], lambda c: f"≥ {c[1]}"), "gt": (lambda v, c: v > c[1], lambda c: f"> {c[1]}"),
    "lt": (lambda v, c: v < c[1], lambda c: f"< {c[1]}"), "le": (lambda v, c: v <= c[1], lambda c: f"≤ {c[1]}"),
    "range": (lambda v, c: c[1] <= v <= c[2], lambda c: f"between {c[1]} and {c[2]}"),
    "range_open_lo": (lambda v, c: c[1] < v <= c[2], lambda c: f"> {c[1]} and ≤ {c[2]}"),
    "match": (lambda v, c: isinstance(v, str) and re.fullmatch(c[1], v), lambda c: c[2]),
}


def check(value, checks, path: str) -> None:
    """Raise the RecipeError of the first check `value` fails (integers: also 64 bits)."""
    if value is None:
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise RecipeError(f"{path}: must be a finite number, got {show(value)}")
    for c in (*checks, ("ge", -INT64 - 1), ("le", INT64)) if isinstance(value, int) else checks:
        passes, says = _CHECKS[c[0]]
        if not passes(value, c):
            raise RecipeError(f"{path}: must be {says(c)}, got {show(value)}")


def _locate(cls, loc: tuple, prefix: str):
    """(path, field info or None, the section the last named field sits in) of an error location;
    union members pydantic adds to the location (`int`, `literal['auto']`) are not fields."""
    path, info, parent, current = prefix, None, cls, cls
    for item in loc:
        if isinstance(item, int):
            path += f"[{item}]"
            continue
        if current is None:  # past a leaf field: a union member
            break
        if item not in current.model_fields:
            return (f"{path}.{item}" if path else str(item)), info, current, item
        fields = current.model_fields
        parent, info = current, fields[item]
        path = f"{path}.{item}" if path else item
        current = section_type(info.annotation)
    return path, info, parent, None


def explain(error: ValidationError, cls, prefix: str = "") -> RecipeError:
    """pydantic's first error as one line naming the field path, in pairforge's words."""
    err = error.errors()[0]
    path, info, parent, unknown = _locate(cls, err["loc"], prefix)
    if err["type"] == "extra_forbidden":
        where = path[: -len(str(unknown))].rstrip(".")
        return RecipeError(f"{(where + '.') if where else ''}{show(unknown, plain=True)}: unknown key (allowed in "
                           f"{where or 'the recipe'}: {', '.join(parent.model_fields)})")
    return explain_value(err, info.annotation if info is not None else Any, path, meta(info).checks if info else ())


def explain_value(err: dict, tp, path: str, checks: tuple = ()) -> RecipeError:
    """One pydantic error about a value of type `tp` (declared `checks`) as pairforge's line."""
    value = err["input"]
    if err["type"] == "finite_number":
        return RecipeError(f"{path}: must be a finite number, got {show(value)}")
    if err["type"] in ("greater_than", "greater_than_equal", "less_than", "less_than_equal",
                       "string_pattern_mismatch"):
        try:
            check(value, checks, path)
        except RecipeError as e:
            return e
    if err["type"].endswith(("_type", "_parsing", "literal_error", "_too_short")) or err["type"] == "enum":
        return RecipeError(f"{path}: must be {type_name(tp)}, got {show(value)}")
    return RecipeError(f"{path}: {err['msg']}")


def build(cls, data, prefix: str = ""):
    """An instance of `cls` from plain data (None: the defaults); errors name the field path."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecipeError(f"{prefix}: must be a mapping, got {show(data)}")
    try:
        return cls.model_validate(prepare_section(cls, data, prefix))
    except ValidationError as e:
        raise explain(e, cls, prefix) from None


def schema(cls) -> dict:
    """The JSON Schema of a config class (for an editor's YAML extension)."""
    return cls.model_json_schema()
