"""Reading an OpenAI-compatible server's reply: a chat completion's JSON body (parse_completion)
and a Retry-After header. Pure functions: whatever the server sends, they return a value or raise
Malformed, never anything else."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from .base import Completion

ERROR_TEXT_CHARS = 300  # how much of a server's error text is kept
MAX_COUNT = 2**31 - 1  # token counts are int32 columns
# finish_reason -> ours; any other value (content_filter, abort, tool_calls, ...) is a malformed answer
FINISH = {None: "stop", "stop": "stop", "eos": "stop", "eos_token": "stop", "stop_sequence": "stop",
          "length": "length", "max_tokens": "length"}


class Malformed(Exception):
    """An answer that is not a chat completion; the message says what is wrong with it."""


def one_line(raw, limit: int = ERROR_TEXT_CHARS) -> str:
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
    return " ".join(text.split())[:limit]


def show(value) -> str:
    """A parsed JSON value on one line (ASCII: a lone surrogate in it is escaped)."""
    try:
        return one_line(json.dumps(value))
    except (ValueError, TypeError, RecursionError):
        return f"<{type(value).__name__}>"


def parse_retry_after(value, now: datetime | None = None) -> float | None:
    """Seconds a Retry-After header asks for (delta-seconds or an HTTP-date; a date already past
    gives 0); None where it is absent or garbage. Not capped: the caller caps."""
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _count(value) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT)


def parse_completion(raw: bytes) -> Completion:
    """The first choice of a chat completion's JSON body; Malformed where it is not one."""
    try:
        out = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        raise Malformed(f"invalid JSON: {one_line(raw)}") from None
    if not isinstance(out, dict):
        raise Malformed(f"not a JSON object: {one_line(raw)}")
    said = f" (server said: {show(out['error'])})" if "error" in out else ""
    choices = out.get("choices")
    if not isinstance(choices, list) or not choices:
        raise Malformed(("no choices" if not choices else "choices is not a list") + said)
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message")
    if not isinstance(message, dict):
        raise Malformed("a choice without message" + said)
    text = message.get("content")
    if not isinstance(text, str):
        raise Malformed(f"message.content is {type(text).__name__}, not a string" + said)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:  # JSON can spell an unpaired surrogate (\ud83d); Arrow cannot store it
        raise Malformed(f"message.content is not UTF-8 text (a lone surrogate at character {e.start})" + said) from None
    reason = choice.get("finish_reason")
    finish = FINISH.get(reason) if reason is None or isinstance(reason, str) else None
    if finish is None:
        raise Malformed(f"finish_reason {show(reason)} is neither a stop nor a length" + said)
    usage = {} if out.get("usage") is None else out["usage"]
    if not (isinstance(usage, dict) and _count(usage.get("completion_tokens")) and _count(usage.get("prompt_tokens"))):
        raise Malformed(f"usage malformed: {show(usage)}")
    return Completion(text=text, finish_reason=finish, tokens=usage.get("completion_tokens") or 0,
                      prompt_tokens=usage.get("prompt_tokens"))
