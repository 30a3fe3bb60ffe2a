"""`pairforge push`: publish a build folder to the Hugging Face Hub in one commit.

The Parquet data, the card (README.md, re-rendered over the remote card so the owner's metadata
and prose survive), recipe.yaml and stats.json go up in a single `create_commit`, with the
remote head as parent commit: it lands whole or not at all. A push whose files equal the
remote's makes no commit. The token is passed to huggingface_hub and never printed or written.

Only a finished build is pushed: the folder must match its pairforge.manifest.json. The push
carries a manifest of what it uploads. It deletes a remote file only where the remote's previous
pairforge manifest listed it and the new one does not: a file pairforge did not put there (the
owner's, or an older pairforge's) is never deleted. Stale splits do not load anyway: the card's
`configs` name the splits of this push.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PairforgeError
from ..pipeline.publish import MANIFEST
from ..redact import redact_url
from .errors import hub_error


@dataclass
class PushPlan:
    repo_id: str
    revision: str
    files: dict  # path in repo -> bytes
    offline: str | None = None  # dry run only: why the remote was not read
    deletions: list = field(default_factory=list)
    unchanged: list = field(default_factory=list)
    repo_exists: bool = False
    parent: str | None = None


def network_errors() -> tuple:
    """The transport errors huggingface_hub lets through (it speaks httpx2; httpx where that is used)."""
    found = [OSError]
    for name in ("httpx2", "httpx"):
        try:
            found.append(__import__(name).TransportError)
        except (ImportError, AttributeError):
            pass
    return tuple(found)


def unreachable(e, repo_id: str) -> PairforgeError:
    from huggingface_hub import constants

    return PairforgeError(f"cannot reach the Hub at {redact_url(constants.ENDPOINT)} for {repo_id} "
                          f"({type(e).__name__}: {redact_url(str(e).splitlines()[0] if str(e) else '')}); "
                          "check the network and HF_ENDPOINT, then run the push again")


def _git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _local_files(out_dir: Path) -> dict:
    from ..pipeline.publish import verify

    if not (out_dir / "stats.json").is_file() and not (out_dir / MANIFEST).is_file():
        raise PairforgeError(
            f"{out_dir} is not a pairforge build folder (no data/*.parquet or stats.json); run: pairforge build RECIPE"
        )
    listed = verify(out_dir)["files"]
    files = {p: (out_dir / p).read_bytes() for p in sorted(listed) if p.startswith(("data/", "images/"))}
    for name in ("recipe.yaml", "stats.json"):
        files[name] = (out_dir / name).read_bytes()
    return files


def _manifest_bytes(files: dict, out_dir: Path) -> bytes:
    """The pushed manifest: the build's fingerprint and version, and every file this push holds."""
    local = json.loads((out_dir / MANIFEST).read_text())
    entries = {p: {"size": len(d), "sha256": hashlib.sha256(d).hexdigest()} for p, d in sorted(files.items())}
    return (json.dumps({**local, "files": entries}, indent=2) + "\n").encode()


def _remote_listed(api, repo_id: str, revision: str, remote: dict) -> set:
    """Files the remote's previous pairforge manifest listed (none where it has no manifest)."""
    if MANIFEST not in remote:
        return set()
    from huggingface_hub import hf_hub_download

    path = hf_hub_download(repo_id, MANIFEST, repo_type="dataset", revision=revision, token=api.token)
    try:
        return set(json.loads(Path(path).read_text())["files"])
    except (ValueError, KeyError, TypeError):
        return set()  # unreadable: delete nothing


def plan_push(out_dir: Path, repo_id: str, token: str | None, revision: str | None,
              offline_ok: bool = False) -> PushPlan:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    from .card import render_card

    api = HfApi(token=token)
    revision = revision or "main"
    files = _local_files(out_dir)
    remote, listed = {}, set()
    existing_card = None
    plan = PushPlan(repo_id, revision, files)
    try:
        info = api.dataset_info(repo_id, revision=revision, files_metadata=False)
        plan.repo_exists, plan.parent = True, info.sha
        tree = list(api.list_repo_tree(repo_id, repo_type="dataset", revision=revision, recursive=True))
        for entry in tree:
            if getattr(entry, "blob_id", None) is not None:
                remote[entry.path] = entry
        listed = _remote_listed(api, repo_id, revision, remote)
        if "README.md" in remote:
            from huggingface_hub import hf_hub_download

            existing_card = Path(hf_hub_download(repo_id, "README.md", repo_type="dataset", revision=revision,
                                                 token=token)).read_text()
    except RevisionNotFoundError:
        plan.repo_exists = True  # the branch is created from main at push time
    except RepositoryNotFoundError:
        pass
    except HfHubHTTPError as e:
        raise hub_error(e, repo_id, "read") from None
    except network_errors() as e:  # the Hub cannot be reached
        if not offline_ok:
            raise unreachable(e, repo_id) from None
        plan.offline = f"could not read the remote ({type(e).__name__}): card rendered without it"
    files["README.md"] = render_card(out_dir, repo_id=repo_id, existing=existing_card).encode()
    files[MANIFEST] = _manifest_bytes(files, out_dir)
    for path, data in list(files.items()):
        entry = remote.get(path)
        if entry is None:
            continue
        same = (entry.lfs.sha256 == hashlib.sha256(data).hexdigest()) if entry.lfs else entry.blob_id == _git_oid(data)
        if same:
            plan.unchanged.append(path)
    plan.deletions = sorted(p for p in remote if p in listed and p not in files)
    return plan


def check_repo_id(repo_id: str) -> None:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        raise PairforgeError(f"--repo {repo_id!r} is not a valid Hub repo id: use user/name (letters, digits, "
                             "'-', '_', '.'; at most 96 characters)") from None


def run_push(out_dir, repo_id: str, token: str | None = None, private: bool = False, revision: str | None = None,
             create_pr: bool = False, message: str | None = None, dry_run: bool = False) -> dict:
    from huggingface_hub import get_token

    check_repo_id(repo_id)
    out_dir = Path(out_dir)
    token = token or get_token()
    plan = plan_push(out_dir, repo_id, token, revision, offline_ok=dry_run)
    changed = [p for p in sorted(plan.files) if p not in plan.unchanged]
    summary = {"repo_id": repo_id, "revision": plan.revision, "upload": changed, "unchanged": plan.unchanged,
               "delete": plan.deletions, "dry_run": dry_run, "commit": None, "pr_url": None}
    if dry_run:
        summary["card"] = plan.files["README.md"].decode()
        summary["offline"] = plan.offline
        return summary
    if not changed and not plan.deletions:
        return summary  # a re-push of the same data changes nothing
    if token is None:
        raise PairforgeError("no Hugging Face token: set HF_TOKEN, run `hf auth login`, or pass --token")
    info = _commit(plan, changed, token, private, create_pr, message or f"pairforge: {len(changed)} file(s) from "
                   f"{out_dir.name}")
    summary["commit"] = info.oid
    summary["pr_url"] = info.pr_url
    return summary


def _commit(plan: PushPlan, changed: list, token: str, private: bool, create_pr: bool, message: str):
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api, repo_id, head = HfApi(token=token), plan.repo_id, plan.parent
    try:
        if not plan.repo_exists:
            api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        if plan.revision != "main" and plan.parent is None:
            api.create_branch(repo_id, repo_type="dataset", branch=plan.revision, exist_ok=True)
        head = head or _head(api, repo_id, plan.revision)
        ops = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=plan.files[p]) for p in changed]
        ops += [CommitOperationDelete(path_in_repo=p) for p in plan.deletions]
        return api.create_commit(repo_id, ops, repo_type="dataset", revision=plan.revision, create_pr=create_pr,
                                 commit_message=message, parent_commit=plan.parent)
    except HfHubHTTPError as e:
        raise hub_error(e, repo_id, "push to") from None
    except network_errors() as e:
        raise _dropped(e, api, plan, head, create_pr) from None
    except RuntimeError as e:  # huggingface_hub wraps failed LFS uploads
        cause = e.__cause__
        if isinstance(cause, HfHubHTTPError):
            raise hub_error(cause, repo_id, "upload to") from None
        if isinstance(cause, network_errors()):
            raise _dropped(cause, api, plan, head, create_pr) from None
        raise PairforgeError(f"upload to {repo_id} failed ({e}); nothing was committed, run the push again") from None


def _head(api, repo_id: str, revision: str) -> str | None:
    try:
        return api.dataset_info(repo_id, revision=revision, files_metadata=False).sha
    except Exception:  # noqa: BLE001 — unknown: the caller says so
        return None


def _dropped(e, api, plan: PushPlan, before: str | None, create_pr: bool) -> PairforgeError:
    """The connection failed during the push: read the remote head to say whether the commit landed."""
    what = f"{type(e).__name__}"
    now = _head(api, plan.repo_id, plan.revision)
    if create_pr:
        state = "a pull request may or may not have been opened: look at the repo's discussions before pushing again"
    elif now is None:
        state = "the Hub cannot be reached now to check whether the commit landed; look at the repo's history"
    elif now != before:
        state = f"the commit landed anyway ({plan.repo_id}@{plan.revision} is now at {now[:12]}); nothing to redo"
    else:
        state = f"nothing was committed ({plan.repo_id}@{plan.revision} is still at {str(before)[:12]}); run the push again"
    return PairforgeError(f"the connection to the Hub dropped during the push ({what}): {state}")
