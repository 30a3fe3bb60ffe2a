"""Hub errors a user can act on, as one line each (push, train-ipo --push-to-hub, inspect).

Every text that comes from the Hub or the network passes through redact.py first: an error's
message may carry a URL with `user:password@` (HF_ENDPOINT, a proxy) or a token. A token is checked
once, before any request (hub_token): one HTTP headers cannot carry is an error line that never shows it."""

from __future__ import annotations

import os

from ..errors import PairforgeError
from ..redact import redact_text, redact_url


def repo_id_problem(repo_id: str) -> str | None:
    """None for a valid Hub repo id; else why not, for an error line that names where it came from."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
        return None
    except HFValidationError:
        return (f"{repo_id!r} is not a valid Hub repo id: use user/name (letters, digits, '-', '_', '.'; "
                "at most 96 characters)")


def _token_source(token: str | None) -> tuple[str | None, str]:
    """(the token pairforge sends, where it came from): --token, else the environment, else the saved login."""
    if token:
        return token, "--token"
    from huggingface_hub import get_token

    env = next((v for v in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN") if os.environ.get(v)), None)
    return get_token(), env or "the saved login (`hf auth login`)"


def _bad_char(token: str) -> str | None:
    for i, c in enumerate(token):
        if not 33 <= ord(c) <= 126:  # printable ASCII, no space: what an Authorization header carries
            kind = ("a newline" if c in "\r\n" else "a space" if c == " " else "a tab" if c == "\t"
                    else "a non-ASCII character" if ord(c) > 127 else "a control character")
            return f"{kind} at position {i + 1} of {len(token)}"
    return None


def hub_token(token: str | None) -> str | None:
    """The Hub token to send (None: none is set), checked before any request: a token with whitespace,
    a control or a non-ASCII character is one error line that says where it came from, never the token."""
    token, where = _token_source(token)
    if isinstance(token, str) and (bad := _bad_char(token)):
        raise PairforgeError(f"the Hub token from {where} holds a character HTTP headers cannot carry ({bad}); "
                             "copy the token again (https://huggingface.co/settings/tokens), without spaces or "
                             "line breaks")
    return token


def _secret_forms(secrets) -> list:
    """Each secret as given and as an error message may quote it (repr-escaped text or bytes)."""
    forms = []
    for s in secrets or ():
        if isinstance(s, str) and s:
            forms += [s, s.strip(), repr(s)[1:-1], repr(s.encode("utf-8", "replace"))[2:-1]]
    return [f for f in forms if len(f) >= 4]


def first_line(e, secrets=()) -> str:
    """The first line of an error's message, credentials masked (its type name when it has none)."""
    text = str(e).strip()
    return redact_text(text.splitlines()[0], _secret_forms(secrets)) if text else type(e).__name__


def hub_error(e, repo_id: str, action: str, secrets=()) -> PairforgeError:
    """One line that says what to do, for the Hub errors a user can act on."""
    status = getattr(getattr(e, "response", None), "status_code", None)
    if status == 401:
        return PairforgeError(
            f"the Hub rejected the token while trying to {action} {repo_id} (401): set HF_TOKEN, run `hf auth login`, "
            "or pass --token")
    if status == 403:
        return PairforgeError(
            f"no write access to {repo_id} (403): use a token with the write role for that namespace, or push to your own")
    if status == 404:
        return PairforgeError(
            f"{repo_id} or its revision was not found (404) while trying to {action}: check the repo id and the "
            "revision, and that your token can see the repo")
    if status == 412:
        return PairforgeError(f"{repo_id} changed while pushing (412): run the push again")
    if status and status >= 500:
        return PairforgeError(f"the Hub answered {status} while trying to {action} {repo_id}: retry later")
    return PairforgeError(f"could not {action} {repo_id}: {first_line(e, secrets)}")


def network_errors() -> tuple:
    """The transport errors huggingface_hub lets through (it speaks httpx2; httpx where that is used)."""
    found = [OSError]
    for name in ("httpx2", "httpx"):
        try:
            found.append(__import__(name).TransportError)
        except (ImportError, AttributeError):
            pass
    return tuple(found)


def unreachable(e, repo_id: str, then: str = "run the push again", secrets=()) -> PairforgeError:
    """The Hub cannot be reached: one line naming the endpoint (without credentials) and the cause."""
    from huggingface_hub import constants

    return PairforgeError(f"cannot reach the Hub at {redact_url(constants.ENDPOINT)} for {repo_id} "
                          f"({type(e).__name__}: {first_line(e, secrets) if str(e).strip() else ''}); "
                          f"check the network and HF_ENDPOINT, then {then}")


def xet_missing(repo_id: str, repo_type: str, revision: str, token: str | None, secrets=()) -> PairforgeError | None:
    """After a failed upload: when huggingface_hub uploaded through Xet storage (hf_xet installed) and
    this Hub has no Xet endpoint (a self-hosted or older Hub-compatible server), the failure shows as
    a dropped connection; the real cause, and its fix, is one line. None where that is not the cause."""
    import importlib.util
    from urllib.parse import quote

    from huggingface_hub import constants
    from huggingface_hub.utils import build_hf_headers, get_session

    if constants.HF_HUB_DISABLE_XET or importlib.util.find_spec("hf_xet") is None:
        return None
    url = f"{constants.ENDPOINT}/api/{repo_type}s/{repo_id}/xet-write-token/{quote(revision, safe='')}"
    try:
        status = get_session().get(url, headers=build_hf_headers(token=token), timeout=10).status_code
    except Exception:  # noqa: BLE001 — the Hub cannot be reached now: the caller's own message stands
        return None
    if status not in (404, 405, 501):
        return None
    return PairforgeError(f"the Hub at {redact_url(constants.ENDPOINT)} has no Xet storage endpoint (its xet-write-token "
                          f"request answered {status}), and huggingface_hub uploads through Xet when hf_xet is "
                          f"installed; nothing was uploaded to {repo_id}: set HF_HUB_DISABLE_XET=1 to upload over "
                          "LFS, then run the push again")
