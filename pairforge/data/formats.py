"""Turn SFT rows of any supported format into (prompt messages, chosen answer) records.

Formats: plain columns, Alpaca (instruction/input/output), ShareGPT (conversations with
from/value), OpenAI messages (messages with role/content). `Normalise` is the first stage: a raw
SFT batch in, pair rows kept and unusable rows dropped, each with a reason.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from ..errors import DataError
from ..recipe import Source
from .schemas import SOURCE_INDEX, pair_schema

_SHAREGPT_ROLES = {
    "human": "user", "user": "user",
    "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant", "bard": "assistant",
    "bing": "assistant", "model": "assistant",
    "system": "system",
}
_MESSAGE_ROLES = {"user", "assistant", "system"}


class RowDrop(Exception):
    """A row that cannot become a pair; the message is the recorded reason."""


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
    for p, r in (("prompt", "response"), ("prompt", "completion"), ("question", "answer")):
        if {p, r} <= cols:
            return "plain"
    raise DataError(
        f"source.format: cannot recognise the format from the columns {sorted(cols)}; set source.format "
        "(alpaca, sharegpt, messages) or map columns with source.columns.prompt / source.columns.response"
    )


def plain_columns(column_names: list[str], source: Source) -> dict:
    """The column mapping for the plain format (explicit or guessed), checked against the data."""
    c = source.columns
    mapping = {"prompt": c.prompt, "response": c.response, "system": c.system, "input": c.input}
    cols = set(column_names)
    if not c.prompt and not c.response:
        for p, r in (("prompt", "response"), ("prompt", "completion"), ("question", "answer")):
            if {p, r} <= cols:
                mapping.update(prompt=p, response=r)
                break
        if "system" in cols and not c.system:
            mapping["system"] = "system"
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


# --------------------------------------------------------------------------------- per row


def _text(value, what: str, allow_empty: bool = False) -> str:
    if value is None:
        raise RowDrop(f"null_{what}")
    if not isinstance(value, str):
        raise RowDrop(f"non_string_{what}")
    if not allow_empty and not value.strip():
        raise RowDrop(f"empty_{what}")
    return value


def _get_path(row: dict, path: str):
    value = row
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit():
            i = int(part)
            value = value[i] if i < len(value) else None
        else:
            return None
    return value


def _single_turn(system, user, answer) -> list[dict]:
    msgs = []
    if system is not None and not isinstance(system, str):
        raise RowDrop("non_string_system")
    if system and system.strip():
        msgs.append({"role": "system", "content": system})
    msgs.append({"role": "user", "content": _text(user, "prompt")})
    msgs.append({"role": "assistant", "content": _text(answer, "chosen")})
    return msgs


def _join_input(instruction, extra) -> str:
    instruction = _text(instruction, "prompt")
    if extra is None or (isinstance(extra, str) and not extra.strip()):
        return instruction
    if not isinstance(extra, str):
        raise RowDrop("non_string_input")
    return f"{instruction}\n\n{extra}"


def row_to_messages(row: dict, fmt: str, mapping: dict | None = None) -> list[dict]:
    """The conversation of one SFT row as OpenAI-style messages."""
    if fmt == "alpaca":
        return _single_turn(row.get("system"), _join_input(row.get("instruction"), row.get("input")), row.get("output"))
    if fmt == "plain":
        user = _get_path(row, mapping["prompt"])
        if mapping.get("input"):
            user = _join_input(user, _get_path(row, mapping["input"]))
        system = _get_path(row, mapping["system"]) if mapping.get("system") else None
        return _single_turn(system, user, _get_path(row, mapping["response"]))
    if fmt == "sharegpt":
        turns = row.get("conversations")
        key_role, key_text, roles = "from", "value", _SHAREGPT_ROLES
    else:
        turns = row.get("messages")
        key_role, key_text, roles = "role", "content", {r: r for r in _MESSAGE_ROLES}
    if not isinstance(turns, list) or not turns:
        raise RowDrop("empty_conversation")
    msgs = []
    for t in turns:
        if not isinstance(t, dict):
            raise RowDrop("malformed_turn")
        role = roles.get(str(t.get(key_role)).lower())
        if role is None:
            raise RowDrop(f"unsupported_role_{t.get(key_role)}")
        msgs.append({"role": role, "content": _text(t.get(key_text), "turn", allow_empty=True)})
    return msgs


def conversation_pairs(msgs: list[dict], turns: str) -> list[tuple[int, list[dict], str]]:
    """(turn index, prompt messages, chosen) for the last assistant turn, or for each one."""
    idx = [i for i, m in enumerate(msgs) if m["role"] == "assistant"]
    if not idx:
        raise RowDrop("no_assistant_turn")
    numbered = list(enumerate(idx))
    if turns == "last":
        numbered = numbered[-1:]
    out = []
    for n, i in numbered:
        prompt = msgs[:i]
        if not prompt or prompt[-1]["role"] != "user":
            if turns == "last":
                raise RowDrop("assistant_turn_not_after_user")
            continue
        if not prompt[-1]["content"].strip():
            raise RowDrop("empty_prompt")
        chosen = msgs[i]["content"]
        if not chosen.strip():
            if turns == "last":
                raise RowDrop("empty_chosen")
            continue
        if any(m["role"] == "system" for m in prompt[1:]):
            raise RowDrop("system_turn_not_first")
        out.append((n, prompt, chosen))
    if not out:
        raise RowDrop("no_usable_assistant_turn")
    return out


def pair_id(prompt: list[dict], chosen: str) -> str:
    blob = json.dumps([prompt, chosen], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


@dataclass
class Normalise:
    """Stage: a raw SFT batch (with SOURCE_INDEX) -> pair rows {id, source_index, turn_index,
    prompt, chosen}; rows that cannot become a pair are dropped with the reason."""

    fmt: str
    turns: str
    mapping: dict | None = None
    name: str = "normalise"

    @classmethod
    def for_source(cls, source: Source, column_names: list[str]) -> "Normalise":
        fmt = detect_format(column_names, source)
        check_columns(fmt, column_names, source)
        return cls(fmt, source.turns, plain_columns(column_names, source) if fmt == "plain" else None)

    def __call__(self, table):
        import pyarrow as pa

        records, dropped = [], []
        sources = table[SOURCE_INDEX].to_pylist()
        for row, src in zip(table.drop_columns([SOURCE_INDEX]).to_pylist(), sources):
            try:
                msgs = row_to_messages(row, self.fmt, self.mapping)
                for turn, prompt, chosen in conversation_pairs(msgs, self.turns):
                    records.append({"id": pair_id(prompt, chosen), "source_index": src, "turn_index": turn,
                                    "prompt": prompt, "chosen": chosen})
            except RowDrop as drop:
                dropped.append({"source_index": src, "reason": str(drop),
                                "row": json.dumps(row, ensure_ascii=False, default=str)[:2000]})
        dropped_t = pa.Table.from_pylist(dropped, schema=pa.schema(
            [("source_index", pa.int64()), ("reason", pa.string()), ("row", pa.string())]))
        return pa.Table.from_pylist(records, schema=pair_schema()), dropped_t
