"""Turn SFT rows of any supported format into (prompt messages, chosen answer) records.

Formats: plain columns (also Dolly and Orca layouts; see recognise.py), Alpaca (instruction/input/output), ShareGPT (conversations with
from/value), OpenAI messages (messages with role/content). `Normalise` is the first stage: a raw
SFT batch in, pair rows kept and unusable rows dropped, each with a reason.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from ..recipe import Source
from .recognise import check_columns, detect_format, plain_columns, unused_columns
from .schemas import ROW_BAD, ROW_DETAIL, ROW_JSON, SOURCE_COLUMNS, SOURCE_INDEX, pair_schema

__all__ = ["Normalise", "RowDrop", "check_columns", "detect_format", "plain_columns", "row_to_messages"]

_SHAREGPT_ROLES = {
    "human": "user", "user": "user",
    "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant", "bard": "assistant",
    "bing": "assistant", "model": "assistant",
    "system": "system",
}
_MESSAGE_ROLES = {"user", "assistant", "system"}


class RowDrop(Exception):
    """A row that cannot become a pair; the message is the recorded reason."""


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
    unused: list = field(default_factory=list)  # context-like columns this layout does not read
    keep_source: bool = False  # carry each source row as JSON (SOURCE_COLUMNS), for a function judge
    check: object = None  # called on the kept records; raises for one the output layout cannot hold (layout_fit.py)

    @classmethod
    def for_source(cls, source: Source, column_names: list[str], keep_source: bool = False) -> "Normalise":
        fmt = detect_format(column_names, source)
        check_columns(fmt, column_names, source)
        mapping = plain_columns(column_names, source) if fmt == "plain" else None
        return cls(fmt, source.turns, mapping, unused=unused_columns(fmt, column_names, mapping),
                   keep_source=keep_source)

    def __call__(self, table):
        import pyarrow as pa

        records, dropped = [], []
        sources = table[SOURCE_INDEX].to_pylist()
        for row, src in zip(_rows(table), sources):
            try:
                if isinstance(row, _Unread):
                    row, reason = row.detail, row.reason
                    raise RowDrop(reason)
                if not isinstance(row, dict):
                    raise RowDrop("non_object_row")
                msgs = row_to_messages(row, self.fmt, self.mapping)
                extra = {SOURCE_COLUMNS: _source_json(row)} if self.keep_source else {}
                records += [{"id": _checked_id(prompt, chosen), "source_index": src, "turn_index": turn,
                             "prompt": prompt, "chosen": chosen, **extra}
                            for turn, prompt, chosen in conversation_pairs(msgs, self.turns)]
            except RowDrop as drop:
                dropped.append({"source_index": src, "reason": str(drop), "row": _shown(row)})
        if self.check is not None:
            self.check(records)
        dropped_t = pa.Table.from_pylist(dropped, schema=pa.schema(
            [("source_index", pa.int64()), ("reason", pa.string()), ("row", pa.string())]))
        return pa.Table.from_pylist(records, schema=pair_schema(self.keep_source)), dropped_t


def _checked_id(prompt: list[dict], chosen: str) -> str:
    """pair_id, or a drop for text that cannot be written as UTF-8 (a lone surrogate such as a JSON
    "\\ud800"): every text a pair carries goes through this blob."""
    try:
        return pair_id(prompt, chosen)
    except UnicodeEncodeError:
        raise RowDrop("non_utf8_text") from None


def _source_json(row) -> str:
    """The source row as the function judge gets it (values JSON cannot hold, such as dates, as text;
    text UTF-8 cannot carry, a lone surrogate, escaped)."""
    text = json.dumps(row, ensure_ascii=False, default=str)
    try:
        text.encode()
    except UnicodeEncodeError:
        text = json.dumps(row, default=str)
    return text


def _shown(row) -> str:
    """A dropped row as JSON text for excluded/ (escaped where it holds text UTF-8 cannot carry)."""
    return _source_json(row)[:2000]


@dataclass
class _Unread:
    """A line of a JSON source that could not be read (kept with on_bad_lines: skip)."""

    reason: str
    detail: str


def _rows(table) -> list:
    """The batch's rows as Python values: a JSON source's rows with their own types."""
    import json

    if ROW_JSON not in table.column_names:
        return table.drop_columns([SOURCE_INDEX]).to_pylist()
    texts, bad, detail = (table[c].to_pylist() for c in (ROW_JSON, ROW_BAD, ROW_DETAIL))
    return [json.loads(t) if t is not None else _Unread(b, d) for t, b, d in zip(texts, bad, detail)]
