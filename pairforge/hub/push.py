"""`pairforge push`: publish a build folder to the Hugging Face Hub in one commit.

The Parquet data, the card (README.md, re-rendered over the remote card so the owner's metadata
and prose survive), recipe.yaml and stats.json go up in a single `create_commit`, with the
remote head as parent commit: it lands whole or not at all. A push whose files equal the
remote's makes no commit. The token is checked first (errors.hub_token), passed to
huggingface_hub and never printed or written.

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
from .errors import (first_line, hub_error, hub_token, network_errors, repo_id_problem, unreachable,  # noqa: F401
                     xet_missing)


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


def _git_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _local_files(out_dir: Path) -> tuple[dict, dict]:
    """(the files to push, read once, and the build's manifest). The bytes that go up are the bytes
    hashed here: each must equal its manifest entry, so a file changed after verify() is refused."""
    from ..pipeline.publish import check_no_build_running, verify

    check_no_build_running(out_dir)
    if not (out_dir / "stats.json").is_file() and not (out_dir / MANIFEST).is_file():
        raise PairforgeError(
            f"{out_dir} is not a pairforge build folder (no data/*.parquet or stats.json); run: pairforge build RECIPE"
        )
    manifest = verify(out_dir)
    listed = manifest["files"]
    files = {}
    for p in [*(p for p in sorted(listed) if p.startswith(("data/", "images/"))), "recipe.yaml", "stats.json"]:
        try:
            data = (out_dir / p).read_bytes()
        except OSError:
            data = None
        entry = listed.get(p) or {}
        if data is None or hashlib.sha256(data).hexdigest() != entry.get("sha256") or len(data) != entry.get("size"):
            raise PairforgeError(f"{out_dir}/{p} does not match {MANIFEST} as read for the upload (it changed after "
                                 "the check, or is missing); nothing was pushed: let whatever writes the folder "
                                 "finish (or rerun `pairforge build`), then push again")
        files[p] = data
    return files, manifest


def repo_from_recipe(recipe_yaml: bytes, out_dir: Path) -> str:
    """output.repo of a build's recipe.yaml: the push's repo when --repo is not given."""
    import yaml

    from ..yaml_safe import load_yaml

    where = f"{out_dir}/recipe.yaml"
    try:
        data = load_yaml(recipe_yaml.decode())
    except (yaml.YAMLError, ValueError) as e:  # ValueError: undecodable bytes, an over-long integer
        mark = getattr(e, "problem_mark", None)
        raise PairforgeError(f"{where}{f' line {mark.line + 1}' if mark else ''}: not valid YAML "
                             f"({getattr(e, 'problem', None) or first_line(e)}); pass --repo user/name") from None
    if not isinstance(data, dict) or not isinstance(data.get("output") or {}, dict):
        raise PairforgeError(f"{where} is not a pairforge recipe (a YAML mapping with an output section); "
                             "pass --repo user/name")
    repo = (data.get("output") or {}).get("repo")
    if not repo:
        raise PairforgeError("no repo: pass --repo user/name or set output.repo in the recipe")
    if not isinstance(repo, str):
        raise PairforgeError(f"{where}: output.repo must be a Hub repo id (user/name), got {repo!r}; pass --repo")
    return repo


def pr_revision(pr_url: str | None) -> str | None:
    """The revision that loads a pull request's files: refs/pr/N for .../discussions/N."""
    import re

    m = re.search(r"/discussions/(\d+)", pr_url or "")
    return f"refs/pr/{m.group(1)}" if m else None


def _manifest_bytes(files: dict, manifest: dict) -> bytes:
    """The pushed manifest: the build's fingerprint and version, and every file this push holds."""
    entries = {p: {"size": len(d), "sha256": hashlib.sha256(d).hexdigest()} for p, d in sorted(files.items())}
    return (json.dumps({**manifest, "files": entries}, indent=2) + "\n").encode()


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


def plan_push(out_dir: Path, local: tuple, repo_id: str, token: str | None, revision: str | None,
              offline_ok: bool = False) -> PushPlan:
    """What the push changes: `local` is (files, manifest) from _local_files, compared with the remote."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    from .card import render_card

    api = HfApi(token=token)
    revision = revision or "main"
    files, manifest = dict(local[0]), local[1]
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
        raise hub_error(e, repo_id, "read", secrets=(token,)) from None
    except network_errors() as e:  # the Hub cannot be reached
        if not offline_ok:
            raise unreachable(e, repo_id, secrets=(token,)) from None
        plan.offline = f"could not read the remote ({type(e).__name__}): card rendered without it"
    files["README.md"] = render_card(out_dir, repo_id=repo_id, existing=existing_card).encode()
    files[MANIFEST] = _manifest_bytes(files, manifest)
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
    if problem := repo_id_problem(repo_id):
        raise PairforgeError(f"--repo {problem}")


def run_push(out_dir, repo_id: str | None = None, token: str | None = None, private: bool = False,
             revision: str | None = None, create_pr: bool = False, message: str | None = None, dry_run: bool = False) -> dict:
    """Push a build folder; repo_id None: output.repo of its recipe.yaml."""
    out_dir = Path(out_dir)
    local = _local_files(out_dir)  # the folder is a finished build before its recipe is read
    repo_id = repo_id or repo_from_recipe(local[0]["recipe.yaml"], out_dir)
    from .published import public_recipe

    local[0]["recipe.yaml"] = public_recipe(local[0]["recipe.yaml"], local[0]["stats.json"])  # no path goes up
    check_repo_id(repo_id)
    token = hub_token(token)  # --token, HF_TOKEN or the saved login, checked before any request
    plan = plan_push(out_dir, local, repo_id, token, revision, offline_ok=dry_run)
    changed = [p for p in sorted(plan.files) if p not in plan.unchanged]
    summary = {"repo_id": repo_id, "revision": plan.revision, "upload": changed, "unchanged": plan.unchanged,
               "delete": plan.deletions, "dry_run": dry_run, "commit": None, "pr_url": None,
               "load_revision": plan.revision}
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
    summary["load_revision"] = pr_revision(info.pr_url) or plan.revision
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
        raise hub_error(e, repo_id, "push to", secrets=(token,)) from None
    except (RuntimeError, *network_errors()) as e:  # huggingface_hub wraps failed LFS uploads in RuntimeError
        raise xet_missing(repo_id, "dataset", plan.revision, token) or \
            _upload_failed(e, api, plan, head, create_pr, token) from None


def _upload_failed(e, api, plan: PushPlan, head, create_pr: bool, token: str) -> PairforgeError:
    from huggingface_hub.errors import HfHubHTTPError

    repo_id = plan.repo_id
    if isinstance(e, network_errors()):
        return _dropped(e, api, plan, head, create_pr)
    cause = e.__cause__
    if isinstance(cause, HfHubHTTPError):
        return hub_error(cause, repo_id, "upload to", secrets=(token,))
    if isinstance(cause, network_errors()):
        return _dropped(cause, api, plan, head, create_pr)
    return PairforgeError(f"upload to {repo_id} failed ({first_line(e, (token,))}); nothing was committed, "
                          "run the push again")


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
    return PairforgeError(f"the connection to the Hub dropped during the push to {plan.repo_id} ({what}): {state}")
