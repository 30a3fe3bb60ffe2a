"""Recognising an SFT source's layout from its columns: the format, the plain column mapping,
and the context-like columns a layout leaves unused (worth a warning: their text is lost)."""

from __future__ import annotations

from ..errors import DataError
from ..recipe import Source

# (prompt, response) pairs recognised as the plain format, in order: plain, Dolly, Orca.
PLAIN_PAIRS = (("prompt", "response"), ("prompt", "completion"), ("question", "answer"),
               ("instruction", "response"), ("question", "response"))
CONTEXT_LIKE = ("context", "input", "system", "system_prompt")  # text a prompt may need
SYSTEM_COLUMNS = ("system", "system_prompt")  # Orca / OpenOrca
INPUT_COLUMNS = ("context",)  # Dolly: appended to the prompt like Alpaca's input


def detect_format(column_names: list[str], source: Source) -> str:
    """The source's format: explicit, implied by a column mapping, or recognised from its columns."""
    if source.format != "auto":
        return source.format
    c = source.columns
    if c.prompt or c.response:
        return "plain"
    cols = set(column_names)
    if "messages" in cols:
        return "messages"
    if "conversations" in cols:
        return "sharegpt"
    if {"instruction", "output"} <= cols:
        return "alpaca"
    for p, r in PLAIN_PAIRS:
        if {p, r} <= cols:
            return "plain"
    raise DataError(
        f"source.format: cannot recognise the format from the columns {sorted(cols)}; set source.format "
        "(alpaca, sharegpt, messages) or map columns with source.columns.prompt / source.columns.response"
    )


def plain_columns(column_names: list[str], source: Source) -> dict:
    """The column mapping for the plain format (explicit or guessed), checked against the data.
    A guessed layout also takes a system column (system, system_prompt) and a context column
    (context) when the data has one: Dolly's context is appended like Alpaca's input."""
    c = source.columns
    mapping = {"prompt": c.prompt, "response": c.response, "system": c.system, "input": c.input}
    cols = set(column_names)
    if not c.prompt and not c.response:
        for p, r in PLAIN_PAIRS:
            if {p, r} <= cols:
                mapping.update(prompt=p, response=r)
                break
        if not c.system:
            mapping["system"] = next((s for s in SYSTEM_COLUMNS if s in cols), None)
        if not c.input:
            mapping["input"] = next((s for s in INPUT_COLUMNS if s in cols and s not in mapping.values()), None)
    for key, col in mapping.items():
        if col and col.split(".")[0] not in cols:
            raise DataError(
                f"source.columns.{key}: column {col.split('.')[0]!r} is not in the data (columns: {', '.join(sorted(cols))})"
            )
    return mapping


def check_columns(fmt: str, column_names: list[str], source: Source) -> None:
    cols = set(column_names)
    need = {"alpaca": ["instruction", "output"], "sharegpt": ["conversations"], "messages": ["messages"]}.get(fmt, [])
    missing = [c for c in need if c not in cols]
    if missing:
        raise DataError(
            f"source.format: {fmt} needs column(s) {', '.join(missing)}, not in the data "
            f"(columns: {', '.join(sorted(cols))}); set source.format or source.columns"
        )
    if fmt == "plain":
        plain_columns(column_names, source)


def unused_columns(fmt: str, column_names: list[str], mapping: dict | None) -> list[str]:
    """Context-like columns the format or mapping does not read."""
    used = {"alpaca": {"instruction", "input", "output", "system"}, "sharegpt": {"conversations"},
            "messages": {"messages"}}.get(fmt)
    if used is None:
        used = {v.split(".")[0] for v in (mapping or {}).values() if v}
    return [c for c in column_names if c in CONTEXT_LIKE and c not in used]
