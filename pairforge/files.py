"""Config files and the command line: YAML files that must hold a mapping, `--set a.b=value`
overrides (applied to the raw data before validation), and `describe`: a config class printed as
YAML with every default and its help as comments (`pairforge recipe --defaults`)."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from .config import Override, section_type, type_name
from .errors import RecipeError
from .yaml_safe import load_yaml


def parse_override(text: str) -> tuple[list[str], Override]:
    """`a.b=value` -> (['a', 'b'], value); the value is read as YAML (numbers, true, null, lists)."""
    if "=" not in text:
        raise RecipeError(f"--set {text!r}: expected KEY=VALUE, e.g. --set weak_model.sampling.temperature=0.7")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise RecipeError(f"--set {text!r}: empty key")
    try:
        value = load_yaml(raw) if raw.strip() else ""
    except (yaml.YAMLError, ValueError):  # ValueError: an integer of over 4300 digits
        value = raw
    return key.split("."), Override(raw, value)


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    data = copy.deepcopy(data)
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
        data = load_yaml(path.read_text()) or {}
    except ValueError as e:  # UnicodeDecodeError, or an integer of over 4300 digits (int() refuses it)
        raise RecipeError(f"{path}: not valid YAML ({str(e).split(':')[0]})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise RecipeError(f"{path}{where}: not valid YAML ({getattr(e, 'problem', None) or e})") from None
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: must be a YAML mapping of fields")
    return data


def describe(cls, indent: int = 0) -> str:
    """Every field of a config class as YAML, with its default, type and help as comments."""
    lines = []
    pad = "  " * indent
    for name, info in cls.model_fields.items():
        help_text = info.description or ""
        note = "  # " + "; ".join(x for x in (help_text, type_name(info.annotation)) if x)
        sub = section_type(info.annotation)
        if sub is not None:
            lines.append(f"{pad}{name}:{note if help_text else ''}")
            lines.append(describe(sub, indent + 1))
            continue
        default = info.get_default(call_default_factory=True)
        value = yaml.safe_dump(default, default_flow_style=True, width=1000).strip()
        value = value.removesuffix("\n...").removesuffix("...").strip()
        lines.append(f"{pad}{name}: {value}{note}")
    return "\n".join(lines)
