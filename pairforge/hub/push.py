"""`pairforge push`: publish a build folder to the Hugging Face Hub in one commit.

The Parquet data, the card (README.md, re-rendered over the remote card so the owner's metadata
and prose survive), recipe.yaml and stats.json go up in a single `create_commit`, with the
remote head as parent commit: it lands whole or not at all. A push whose files equal the
remote's makes no commit. The token is passed to huggingface_hub and never printed or written.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PairforgeError
from .errors import hub_error


@dataclass
class PushPlan:
    repo_id: str
    revision: str
    files: dict  # path in repo -> bytes
    deletions: list = field(default_factory=list)
    unchanged: list = field(default_factory=list)
    repo_exists: bool = False
    parent: str | None = None


def _git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _local_files(out_dir: Path) -> dict:
    data = sorted((out_dir / "data").glob("*.parquet"))
    if not data or not (out_dir / "stats.json").is_file():
        raise PairforgeError(
            f"{out_dir} is not a pairforge build folder (no data/*.parquet or stats.json); run: pairforge build RECIPE"
        )
    files = {f"data/{p.name}": p.read_bytes() for p in data}
    for name in ("recipe.yaml", "stats.json"):
        files[name] = (out_dir / name).read_bytes()
    return files


def plan_push(out_dir: Path, repo_id: str, token: str | None, revision: str | None) -> PushPlan:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    from .card import render_card

    api = HfApi(token=token)
    revision = revision or "main"
    files = _local_files(out_dir)
    remote = {}
    existing_card = None
    plan = PushPlan(repo_id, revision, files)
    try:
        info = api.dataset_info(repo_id, revision=revision, files_metadata=False)
        plan.repo_exists, plan.parent = True, info.sha
        tree = list(api.list_repo_tree(repo_id, repo_type="dataset", revision=revision, recursive=True))
        for entry in tree:
            if getattr(entry, "blob_id", None) is not None:
                remote[entry.path] = entry
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
    files["README.md"] = render_card(out_dir, repo_id=repo_id, existing=existing_card).encode()
    for path, data in list(files.items()):
        entry = remote.get(path)
        if entry is None:
            continue
        same = (entry.lfs.sha256 == hashlib.sha256(data).hexdigest()) if entry.lfs else entry.blob_id == _git_oid(data)
        if same:
            plan.unchanged.append(path)
    plan.deletions = sorted(p for p in remote if p.startswith("data/") and p not in files)
    return plan


def run_push(out_dir, repo_id: str, token: str | None = None, private: bool = False, revision: str | None = None,
             create_pr: bool = False, message: str | None = None, dry_run: bool = False) -> dict:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi, get_token
    from huggingface_hub.errors import HfHubHTTPError

    out_dir = Path(out_dir)
    token = token or get_token()
    plan = plan_push(out_dir, repo_id, token, revision)
    changed = [p for p in sorted(plan.files) if p not in plan.unchanged]
    summary = {"repo_id": repo_id, "revision": plan.revision, "upload": changed, "unchanged": plan.unchanged,
               "delete": plan.deletions, "dry_run": dry_run, "commit": None, "pr_url": None}
    if dry_run:
        summary["card"] = plan.files["README.md"].decode()
        return summary
    if not changed and not plan.deletions:
        return summary  # a re-push of the same data changes nothing
    if token is None:
        raise PairforgeError("no Hugging Face token: set HF_TOKEN, run `hf auth login`, or pass --token")
    api = HfApi(token=token)
    try:
        if not plan.repo_exists:
            api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        if plan.revision != "main" and plan.parent is None:
            api.create_branch(repo_id, repo_type="dataset", branch=plan.revision, exist_ok=True)
        ops = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=plan.files[p]) for p in changed]
        ops += [CommitOperationDelete(path_in_repo=p) for p in plan.deletions]
        info = api.create_commit(
            repo_id, ops, repo_type="dataset", revision=plan.revision, create_pr=create_pr,
            commit_message=message or f"pairforge: {len(changed)} file(s) from {out_dir.name}",
            parent_commit=plan.parent,
        )
    except HfHubHTTPError as e:
        raise hub_error(e, repo_id, "push to") from None
    except RuntimeError as e:  # huggingface_hub wraps failed LFS uploads
        cause = e.__cause__
        if isinstance(cause, HfHubHTTPError):
            raise hub_error(cause, repo_id, "upload to") from None
        raise PairforgeError(f"upload to {repo_id} failed ({e}); nothing was committed, run the push again") from None
    summary["commit"] = info.oid
    summary["pr_url"] = info.pr_url
    return summary
