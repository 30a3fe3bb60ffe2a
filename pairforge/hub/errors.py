"""Hub errors a user can act on, as one line each (push, train-ipo --push-to-hub, inspect).

Every text that comes from the Hub or the network passes through redact.py first: an error's
message may carry a URL with `user:password@` (HF_ENDPOINT, a proxy) or a token."""

from __future__ import annotations

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


def first_line(e, secrets=()) -> str:
    """The first line of an error's message, credentials masked (its type name when it has none)."""
    text = str(e).strip()
    return redact_text(text.splitlines()[0], secrets) if text else type(e).__name__


def hub_error(e, repo_id: str, action: str, secrets=()) -> PairforgeError:
    """One line that says what to do, for the Hub errors a user can act on."""
    status = getattr(getattr(e, "response", None), "status_code", None)
    if status == 401:
        return PairforgeError(
            f"the Hub rejected the token while trying to {action} (401): set HF_TOKEN, run `hf auth login`, or pass --token")
    if status == 403:
        return PairforgeError(
            f"no write access to {repo_id} (403): use a token with the write role for that namespace, or push to your own")
    if status == 404:
        return PairforgeError(
            f"{repo_id} or its revision was not found (404) while trying to {action}: check --repo and --revision, "
            "and that your token can see the repo")
    if status == 412:
        return PairforgeError(f"{repo_id} changed while pushing (412): run the push again")
    if status and status >= 500:
        return PairforgeError(f"the Hub answered {status} while trying to {action}: retry later")
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


def unreachable(e, repo_id: str, then: str = "run the push again") -> PairforgeError:
    """The Hub cannot be reached: one line naming the endpoint (without credentials) and the cause."""
    from huggingface_hub import constants

    return PairforgeError(f"cannot reach the Hub at {redact_url(constants.ENDPOINT)} for {repo_id} "
                          f"({type(e).__name__}: {first_line(e) if str(e).strip() else ''}); "
                          f"check the network and HF_ENDPOINT, then {then}")
