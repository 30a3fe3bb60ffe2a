"""Keep credentials out of messages: URLs with `user:password@`, API keys, passwords.

Pure string functions that never raise, whatever they are given (an error path must not fail
while reporting an error)."""

from __future__ import annotations

import re
from urllib.parse import unquote

MASK = "***"

# scheme "://" authority, where the authority ends at the first / ? # (RFC 3986) and the userinfo
# runs to the authority's last "@" (a raw "@" in a password is not valid, but people write it).
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]{0,31}://)(?P<userinfo>[^/?#\s]*)@")
# a whole string that is meant to be a URL may also lack the scheme: //u:p@h, u:p@h:8000/v1
_LOOSE = re.compile(r"(?P<scheme>(?:[A-Za-z][A-Za-z0-9+.\-]{0,31}:)?//|)(?P<userinfo>[^/?#\s]*)@")


def _text(value) -> str:
    if isinstance(value, str):
        return value
    try:
        return str(value)
    except Exception:  # noqa: BLE001 — a broken __str__ must not hide the real error
        return f"<{type(value).__name__}>"


def redact_url(url) -> str:
    """`url` with its userinfo (user name and password) replaced by ***: http://***@host/v1.
    Anything without userinfo comes back unchanged; non-strings are str()-ed first."""
    url = _text(url)
    m = _LOOSE.match(url.lstrip())
    if not m:
        return url
    lead = url[: len(url) - len(url.lstrip())]
    return f"{lead}{m['scheme']}{MASK}@{url.lstrip()[m.end():]}"


def split_userinfo(url) -> tuple[str, tuple[str, str] | None]:
    """(url without userinfo, (user, password) percent-decoded, or None where the URL has none).
    `http://u:p%40ss@h/v1` -> (`http://h/v1`, ("u", "p@ss")); a user without a password gets ""."""
    url = _text(url).strip()
    m = _USERINFO.match(url)
    if not m:
        return url, None
    bare = m["scheme"] + url[m.end():]
    if not m["userinfo"]:
        return bare, None
    user, _, password = m["userinfo"].partition(":")
    return bare, (unquote(user), unquote(password))


def bare_url(url):
    """`url` without its userinfo (for what is written or hashed); None and "" come back as they are."""
    return split_userinfo(url)[0] if url else url


def redact_text(text, secrets) -> str:
    """`text` with every occurrence of each secret (empty ones skipped, longest first, so a secret
    inside another leaves nothing behind) replaced by ***, and any `scheme://user:pass@` in it
    masked as in redact_url."""
    text = _text(text)
    found = sorted({s for s in (secrets or ()) if isinstance(s, str) and s}, key=len, reverse=True)
    for s in found:
        text = text.replace(s, MASK)
    return _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)


SECRET_FIELDS = ("hub_token", "token", "api_key", "password")  # a setting by one of these names is a credential


def redact_setting(item) -> str:
    """A `--set key=value` as it may be written: a credential field's value masked, a URL's userinfo
    masked (`weak_model.openai.base_url=http://***@host/v1`), anything else as given."""
    key, sep, value = _text(item).partition("=")
    if not sep:
        return redact_text(key, ())
    leaf = key.strip().rsplit(".", 1)[-1].lower()
    if leaf in SECRET_FIELDS:
        return f"{key}={MASK}"
    return f"{key}={redact_url(value) if leaf == 'base_url' else redact_text(value, ())}"
