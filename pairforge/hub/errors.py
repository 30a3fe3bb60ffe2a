"""Hub errors a user can act on, as one line each (push, train-ipo --push-to-hub, inspect)."""

from __future__ import annotations

from ..errors import PairforgeError


def hub_error(e, repo_id: str, action: str) -> PairforgeError:
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
    first = str(e).splitlines()[0] if str(e) else type(e).__name__
    return PairforgeError(f"could not {action} {repo_id}: {first}")
