"""A small Hugging Face Hub-compatible HTTP server for the tests (127.0.0.1, free port).

It speaks the part of the Hub API that the real `huggingface_hub` (2.4) and `datasets` (5.2)
clients use to create a repo, upload in one commit (preupload, LFS batch + PUT, NDJSON commit),
read repo info, trees and paths-info, branches and PR refs, and download files (resolve, with
Range and the X-Repo-Commit / ETag headers). Tokens map to users; a wrong token gets 401,
private repos are invisible (404) to others, writing to another user's repo gets 403, and
errors carry `X-Error-Code`. Everything is in memory.

Fault injection for tests: `server.state.fail_lfs_upload = True` makes LFS uploads fail (403),
so a push can be shown to leave the repo as it was.

Card metadata is checked like the Hub checks it (see `check_card` and the rule lists below):
`POST /api/validate-yaml` answers errors and warnings, and a commit that adds or changes the
root README.md with metadata the Hub rejects gets a 400 and commits nothing. Every check is
logged in `state.card_checks`. `state.validate_cards = False` turns the checks off (to seed a
repo with a card the Hub would refuse); `state.card_warnings_are_errors = True` makes the
warnings fail too (a lint mode: the real Hub accepts cards with warnings).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

PREFIX = {"dataset": "datasets/", "model": "", "space": "spaces/"}
TYPES = {"datasets": "dataset", "models": "model", "spaces": "space"}
LFS_SUFFIXES = (".parquet", ".arrow", ".safetensors", ".bin", ".gguf", ".pt", ".zip", ".gz")


def git_blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


@dataclass
class Blob:
    data: bytes
    lfs: bool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def oid(self) -> str:
        return git_blob_oid(lfs_pointer(self.sha256, len(self.data)) if self.lfs else self.data)


@dataclass
class Commit:
    oid: str
    parent: str | None
    files: dict  # path -> Blob
    title: str
    date: str


@dataclass
class Repo:
    type: str
    id: str
    owner: str
    private: bool
    commits: dict = field(default_factory=dict)
    refs: dict = field(default_factory=dict)  # "main", other branches, "refs/pr/N" -> commit oid
    prs: int = 0

    def resolve(self, rev: str) -> Commit | None:
        rev = unquote(rev)
        if rev in self.refs:
            return self.commits[self.refs[rev]]
        if rev in self.commits:
            return self.commits[rev]
        return None


class HubState:
    def __init__(self, users: dict[str, str]):
        self.users = dict(users)  # token -> user name
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs: dict[str, bytes] = {}
        self.lock = threading.RLock()
        self.fail_lfs_upload = False
        self.drop_commit = None  # "before": drop the connection, commit nothing; "after": commit, then drop
        self.requests: list[str] = []  # "METHOD path" log, for contract tests
        self.unrouted: list[str] = []  # requests no route matched: a client speaking a protocol we don't
        self.validate_cards = True  # check README.md metadata on validate-yaml and on commit, as the Hub does
        self.card_warnings_are_errors = False  # lint mode: the Hub's warnings reject too (the Hub itself accepts them)
        self.card_checks: list[dict] = []  # {"via", "repo_type", "repo_id", "errors", "warnings"} per check


class HubError(Exception):
    def __init__(self, status: int, code: str, message: str):
        self.status, self.code, self.message = status, code, message


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


class Handler(BaseHTTPRequestHandler):
    server_version = "pairforge-test-hub/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    @property
    def state(self) -> HubState:
        return self.server.state

    # ------------------------------------------------------------------ plumbing

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None, ctype="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, obj, status: int = 200, headers: dict | None = None):
        self._send(status, json.dumps(obj).encode(), headers)

    def _user(self, required: bool = False) -> str | None:
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            if required:
                raise HubError(401, "Unauthorized", "You must be authenticated to do this")
            return None
        token = auth[7:].strip()
        user = self.state.users.get(token)
        if user is None:
            raise HubError(401, "Unauthorized", "Invalid credentials in Authorization header")
        return user

    def _repo(self, rtype: str, repo_id: str, write: bool = False) -> Repo:
        user = self._user(required=write)
        repo = self.state.repos.get((rtype, repo_id))
        if repo is None or (repo.private and user != repo.owner):
            raise HubError(404, "RepoNotFound", f"Repository Not Found for url: {self.path}")
        if write and user != repo.owner:
            raise HubError(403, "Forbidden", f"You don't have the rights to write to {repo_id}")
        return repo

    def _commit(self, repo: Repo, rev: str) -> Commit:
        c = repo.resolve(rev)
        if c is None:
            raise HubError(404, "RevisionNotFound", f"Invalid rev id: {unquote(rev)}")
        return c

    def _dispatch(self):
        url = urlparse(self.path)
        self.state.requests.append(f"{self.command} {url.path}")
        for method, pattern, fn in ROUTES:
            if method != self.command and not (method == "GET" and self.command == "HEAD"):
                continue
            m = re.fullmatch(pattern, url.path)
            if m:
                try:
                    with self.state.lock:
                        return fn(self, parse_qs(url.query), **m.groupdict())
                except HubError as e:
                    header = e.message.splitlines()[0] if e.message else ""
                    header = header.encode("ascii", "backslashreplace").decode()  # headers are latin-1, one line
                    return self._json({"error": e.message}, e.status,
                                      {"X-Error-Code": e.code, "X-Error-Message": header})
        self.state.unrouted.append(f"{self.command} {url.path}")
        self._json({"error": f"no route for {self.command} {url.path}"}, 404, {"X-Error-Code": "EntryNotFound"})

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _dispatch

    # ------------------------------------------------------------------ endpoints

    def whoami(self, q):
        user = self._user(required=True)
        self._json({"type": "user", "name": user, "fullname": user, "orgs": [],
                    "auth": {"type": "access_token", "accessToken": {"displayName": "test", "role": "write"}}})

    def create_repo(self, q):
        user = self._user(required=True)
        body = json.loads(self._body() or b"{}")
        rtype = body.get("type") or "model"
        ns = body.get("organization") or user
        if ns != user:
            raise HubError(403, "Forbidden", f"You cannot create repos in {ns}")
        repo_id = f"{ns}/{body['name']}"
        url = f"http://{self.headers['Host']}/{PREFIX[rtype]}{repo_id}"
        if (rtype, repo_id) in self.state.repos:
            raise HubError(409, "RepoExists", "You already created this repo")
        repo = Repo(rtype, repo_id, user, bool(body.get("private")) or body.get("visibility") == "private")
        init = Commit(uuid.uuid4().hex + uuid.uuid4().hex[:8], None,
                      {".gitattributes": Blob(b"*.parquet filter=lfs diff=lfs merge=lfs -text\n", False)},
                      "initial commit", _now())
        repo.commits[init.oid] = init
        repo.refs["main"] = init.oid
        self.state.repos[(rtype, repo_id)] = repo
        self._json({"url": url, "name": repo_id, "id": uuid.uuid4().hex})

    def validate_yaml(self, q):
        """The Hub's card check, as `HfApi._validate_yaml` (JSON: {"errors": [{"message"}], "warnings": [...]},
        400 when there are errors) and `RepoCard.validate` (Accept: text/plain: "- Error: ..." lines) call it.
        No token needed: RepoCard.validate sends none."""
        self._user()  # a wrong token is still a 401
        try:
            body = json.loads(self._body() or b"{}")
        except ValueError:
            raise HubError(400, "BadRequest", "The request body must be JSON") from None
        content, repo_type = body.get("content"), body.get("repoType") or "model"
        if not isinstance(content, str):
            raise HubError(400, "BadRequest", '"content" is required and must be a string')
        if repo_type not in PREFIX:
            raise HubError(400, "BadRequest", f'"repoType" must be one of [{", ".join(PREFIX)}]')
        errors, warnings = self._check_card(content, repo_type, None, "validate-yaml")
        status = 400 if errors else 200
        accept = self.headers.get("Accept", "")
        if "text/plain" in accept and "json" not in accept:
            lines = [f"- Error: {m}" for m in errors] + [f"- Warning: {m}" for m in warnings]
            return self._send(status, "\n".join(lines).encode(), ctype="text/plain; charset=utf-8")
        self._json({"errors": [{"message": m} for m in errors], "warnings": [{"message": m} for m in warnings]},
                   status)

    def _check_card(self, content: str, repo_type: str, repo_id: str | None, via: str) -> tuple[list, list]:
        if not self.state.validate_cards:
            return [], []
        errors, warnings = check_card(content, repo_type)
        if self.state.card_warnings_are_errors:
            errors, warnings = errors + warnings, []
        self.state.card_checks.append({"via": via, "repo_type": repo_type, "repo_id": repo_id,
                                       "errors": list(errors), "warnings": list(warnings)})
        return errors, warnings

    def repo_info(self, q, rtype, repo_id, rev="main"):
        repo = self._repo(TYPES[rtype], repo_id)
        c = self._commit(repo, rev)
        card = c.files.get("README.md")
        card_data = _front_matter(card.data.decode()) if card else None
        info = {"_id": repo_id, "id": repo_id, "author": repo.owner, "sha": c.oid, "private": repo.private,
                "disabled": False, "gated": False, "downloads": 0, "likes": 0, "tags": [],
                "lastModified": c.date, "createdAt": c.date,
                "siblings": [{"rfilename": p} for p in sorted(c.files)]}
        if card_data is not None:
            info["cardData"] = card_data
        self._json(info)

    def refs(self, q, rtype, repo_id):
        repo = self._repo(TYPES[rtype], repo_id)
        branches = [{"name": n, "ref": f"refs/heads/{n}", "targetCommit": o} for n, o in repo.refs.items()
                    if not n.startswith("refs/")]
        prs = [{"name": n, "ref": n, "targetCommit": o} for n, o in repo.refs.items() if n.startswith("refs/pr/")]
        self._json({"branches": branches, "tags": [], "converts": [], **({"pullRequests": prs} if "include_prs" in q else {})})

    def create_branch(self, q, rtype, repo_id, branch):
        repo = self._repo(TYPES[rtype], repo_id, write=True)
        body = json.loads(self._body() or b"{}")
        branch = unquote(branch)
        if branch in repo.refs:
            raise HubError(409, "BranchExists", f"Reference already exists: refs/heads/{branch}")
        start = self._commit(repo, body.get("startingPoint") or "main")
        repo.refs[branch] = start.oid
        self._json({})

    def preupload(self, q, rtype, repo_id, rev):
        repo = self._repo(TYPES[rtype], repo_id, write=True)
        body = json.loads(self._body())
        c = repo.resolve(rev)
        files = []
        for f in body["files"]:
            lfs = f["path"].endswith(LFS_SUFFIXES) or f["size"] > 10_000_000
            entry = {"path": f["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False}
            if c is not None and f["path"] in c.files:
                entry["oid"] = c.files[f["path"]].oid
            files.append(entry)
        self._json({"files": files, "commitOid": c.oid if c else None})

    def lfs_batch(self, q, prefix, repo_id):
        rtype = {"datasets/": "dataset", "spaces/": "space", "": "model"}[prefix or ""]
        self._repo(rtype, repo_id, write=True)
        body = json.loads(self._body())
        host = self.headers["Host"]
        objects = []
        for o in body["objects"]:
            obj = {"oid": o["oid"], "size": o["size"], "authenticated": True}
            if o["oid"] not in self.state.lfs:
                obj["actions"] = {"upload": {"href": f"http://{host}/lfs-upload/{o['oid']}", "header": {}}}
            objects.append(obj)
        self._json({"transfer": "basic", "objects": objects, "hash_algo": "sha256"}, headers={})

    def lfs_upload(self, q, oid):
        data = self._body()
        if self.state.fail_lfs_upload:
            raise HubError(403, "Forbidden", "LFS upload refused (test fault injection)")
        if hashlib.sha256(data).hexdigest() != oid:
            raise HubError(400, "BadRequest", "sha256 mismatch")
        self.state.lfs[oid] = data
        self._send(200, b"")

    def commit(self, q, rtype, repo_id, rev):
        repo = self._repo(TYPES[rtype], repo_id, write=True)
        rev = unquote(rev)
        lines = [json.loads(line) for line in self._body().decode().splitlines() if line.strip()]
        header = next(l["value"] for l in lines if l["key"] == "header")
        if self.state.drop_commit == "before":
            return self._drop()
        create_pr = q.get("create_pr", ["0"])[0] in ("1", "true", "True")
        base = self._commit(repo, rev)
        parent = header.get("parentCommit")
        if parent and parent != base.oid:
            raise HubError(412, "PreconditionFailed", f"A commit has happened since {parent}; pull and retry")
        files = dict(base.files)
        for l in lines:
            key, v = l["key"], l["value"]
            if key == "file":
                files[v["path"]] = Blob(base64.b64decode(v["content"]), False)
            elif key == "lfsFile":
                data = self.state.lfs.get(v["oid"])
                if data is None:
                    raise HubError(422, "LfsObjectMissing", f"LFS object {v['oid']} for {v['path']} was never uploaded")
                files[v["path"]] = Blob(data, True)
            elif key == "deletedFile":
                if v["path"] not in files:
                    raise HubError(404, "EntryNotFound", f"{v['path']} does not exist")
                files.pop(v["path"])
            elif key == "deletedFolder":
                files = {p: b for p, b in files.items() if not p.startswith(v["path"].rstrip("/") + "/")}
        readme = files.get("README.md")
        if readme is not None and readme is not base.files.get("README.md"):  # added or changed in this commit
            try:
                text = readme.data.decode("utf-8-sig")
            except UnicodeDecodeError:
                raise HubError(400, "BadRequest", "README.md must be UTF-8 text") from None
            errors, _ = self._check_card(text, repo.type, repo_id, "commit")
            if errors:  # the Hub refuses the whole commit: nothing of it lands
                raise HubError(400, "BadRequest", "\n".join(errors))
        oid = hashlib.sha1(f"{base.oid}{time.time_ns()}{uuid.uuid4()}".encode()).hexdigest()
        repo.commits[oid] = Commit(oid, base.oid, files, header.get("summary") or "", _now())
        host = self.headers["Host"]
        result = {"commitOid": oid, "commitUrl": f"http://{host}/{PREFIX[repo.type]}{repo_id}/commit/{oid}",
                  "pullRequestUrl": None}
        if create_pr:
            repo.prs += 1
            repo.refs[f"refs/pr/{repo.prs}"] = oid
            result["pullRequestUrl"] = f"http://{host}/{PREFIX[repo.type]}{repo_id}/discussions/{repo.prs}"
        else:
            repo.refs[rev if not rev.startswith("refs/heads/") else rev[11:]] = oid
        if self.state.drop_commit == "after":
            return self._drop()
        self._json(result)

    def _drop(self):
        """Close the connection without an answer (fault injection: state.drop_commit)."""
        import socket

        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def _entry(self, c: Commit, path: str) -> dict | None:
        if path in c.files:
            b = c.files[path]
            e = {"type": "file", "oid": b.oid, "size": len(b.data), "path": path}
            if b.lfs:
                e["lfs"] = {"oid": b.sha256, "size": len(b.data), "pointerSize": len(lfs_pointer(b.sha256, len(b.data)))}
            return e
        if any(p.startswith(path.rstrip("/") + "/") for p in c.files) or path in ("", "/"):
            return {"type": "directory", "oid": git_blob_oid(path.encode()), "size": 0, "path": path.rstrip("/")}
        return None

    def tree(self, q, rtype, repo_id, rev, path=""):
        repo = self._repo(TYPES[rtype], repo_id)
        c = self._commit(repo, rev)
        path = unquote(path or "").strip("/")
        recursive = q.get("recursive", ["false"])[0].lower() in ("1", "true")
        if path and self._entry(c, path) is None:
            raise HubError(404, "EntryNotFound", f"{path} does not exist on {rev}")
        if path and path in c.files:
            raise HubError(400, "BadRequest", f"{path} is a file")
        prefix = path + "/" if path else ""
        out, dirs = [], set()
        for p in sorted(c.files):
            if not p.startswith(prefix):
                continue
            rest = p[len(prefix):]
            if "/" in rest:
                parts = rest.split("/")
                for i in range(1, len(parts) if recursive else 2):
                    d = prefix + "/".join(parts[:i])
                    if d not in dirs:
                        dirs.add(d)
                        out.append(self._entry(c, d))
                if not recursive:
                    continue
            out.append(self._entry(c, p))
        self._json(out)

    def paths_info(self, q, rtype, repo_id, rev):
        repo = self._repo(TYPES[rtype], repo_id)
        c = self._commit(repo, rev)
        raw = self._body().decode()
        ctype = self.headers.get("Content-Type", "")
        if "json" in ctype:
            paths = json.loads(raw).get("paths", [])
        else:
            paths = parse_qs(raw).get("paths", [])
        self._json([e for e in (self._entry(c, unquote(p).strip("/")) for p in paths) if e is not None])

    def resolve(self, q, prefix, repo_id, rev, path):
        rtype = {"datasets/": "dataset", "spaces/": "space", "": "model"}[prefix or ""]
        repo = self._repo(rtype, repo_id)
        c = self._commit(repo, rev)
        path = unquote(path)
        b = c.files.get(path)
        if b is None:
            raise HubError(404, "EntryNotFound", f"{path} does not exist on {unquote(rev)}")
        headers = {"X-Repo-Commit": c.oid, "ETag": f'"{b.oid}"', "Accept-Ranges": "bytes"}
        if b.lfs:
            headers.update({"X-Linked-Etag": f'"{b.sha256}"', "X-Linked-Size": len(b.data)})
        data, status = b.data, 200
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            start_s, _, end_s = rng[6:].partition("-")
            if start_s == "":
                start, end = max(0, len(data) - int(end_s)), len(data) - 1
            else:
                start, end = int(start_s), min(int(end_s) if end_s else len(data) - 1, len(data) - 1)
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            data, status = data[start : end + 1], 206
        self._send(status, data, headers, ctype="application/octet-stream")


# ---------------------------------------------------------------------------- card metadata, as the Hub checks it
#
# Sources (read when this was written, 2026-08):
# - YAML block: the regex huggingface_hub keeps "in sync with the Hub server" (repocard.REGEX_YAML_BLOCK).
#   The Hub parses it as YAML 1.2 (its parse errors have the JavaScript `yaml` package's form, huggingface_hub
#   issue #1950: "Invalid YAML in README.md: unknown tag ... (33:3)"): `no`/`yes`/`on` are strings, and
#   duplicate keys and unknown tags such as !!python/tuple are errors.
# - Messages: Joi-style, as the Hub answers them: '"license" must be one of [...]' (huggingface_hub
#   tests/test_repocard.py::test_validate_repocard, issue #4218), '"language[0]" with value "python" is not
#   valid. It must be an ISO 639-1, 639-2 or 639-3 code ...', '"configs" must be an array' (datasets PR #5331).
#   Warnings: "empty or missing yaml metadata in repo card" (huggingface_hub test_commit_modelcard_empty_metadata),
#   'The task_categories "x" is not in the official list: ...'.
# - Lists: licenses from hub-docs docs/hub/repositories-licenses.md; task categories from huggingface.js
#   packages/tasks/src/pipelines.ts (PIPELINE_DATA); size categories from datasets
#   utils/resources/size_categories.json plus "other" (huggingface_hub DatasetCardData); ISO 639-1 codes from
#   huggingface.js packages/languages/src/languages_iso_639_1.ts (639-2/639-3 codes are checked by shape only:
#   three lowercase letters; the Hub checks them against the full ISO 639-3 list).
# - configs: huggingface.js ApiDatasetMetadata (config_name: string; data_files: string | string[] |
#   {split, path: string | string[]}[]; data_dir: string) and datasets' MetadataConfigs check (split names
#   match ^\w+(\.\w+)*$).
# - Error or warning: errors where the Hub is known to refuse (license id, language code, YAML, `configs` not a
#   list), and for the shape of a config entry (the Hub's API type; `datasets` refuses the rest too).
#   Warnings where it is known to accept: `license: other` without license_name / license_link (hub-docs asks
#   for them, yet the Hub holds many such cards: hub-docs hacktoberfest_challenges/model_license_other.md), and
#   task_categories off the list. size_categories off the list is a warning by analogy with task_categories
#   (no source shows the Hub refusing it). dataset_info shape is a warning: the Hub stores malformed ones
#   (datasets PR #8462 handles them), but `datasets` may fail to load such a set.

from pairforge.hub.licenses import HUB_LICENSES  # noqa: E402  (the canonical list lives in the package)
SIZE_CATEGORIES = (
    "unknown", "n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M", "10M<n<100M", "100M<n<1B", "1B<n<10B",
    "10B<n<100B", "100B<n<1T", "n>1T", "other",
)
TASK_CATEGORIES = (
    "text-classification", "token-classification", "table-question-answering", "question-answering",
    "zero-shot-classification", "translation", "summarization", "feature-extraction", "text-generation", "fill-mask",
    "sentence-similarity", "text-to-speech", "text-to-audio", "automatic-speech-recognition", "audio-to-audio",
    "audio-classification", "audio-text-to-text", "voice-activity-detection", "depth-estimation",
    "image-classification", "object-detection", "image-segmentation", "text-to-image", "image-to-text",
    "image-to-image", "image-to-video", "unconditional-image-generation", "video-classification",
    "reinforcement-learning", "robotics", "tabular-classification", "tabular-regression", "tabular-to-text",
    "table-to-text", "multiple-choice", "text-ranking", "text-retrieval", "time-series-forecasting", "text-to-video",
    "image-text-to-text", "image-text-to-image", "image-text-to-video", "visual-question-answering",
    "document-question-answering", "zero-shot-image-classification", "graph-ml", "mask-generation",
    "zero-shot-object-detection", "text-to-3d", "image-to-3d", "image-feature-extraction", "video-text-to-text",
    "keypoint-detection", "visual-document-retrieval", "any-to-any", "video-to-video", "other",
)
ISO_639_1 = frozenset("""
aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv dz ee el en eo
es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki
kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr
nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv sw ta te tg th
ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu
""".split())
LANGUAGE_SPECIAL = ("code", "multilingual")
SPLIT_NAME = re.compile(r"^\w+(\.\w+)*$")
YAML_BLOCK = re.compile(r"^(\s*---(?:\r\n|\r|\n))([\S\s]*?)((?:\r\n|\r|\n)---[ \t]*(\r\n|\n|$))")
NO_METADATA = "empty or missing yaml metadata in repo card"


def _hub_yaml_loader():
    """A PyYAML SafeLoader that reads like the Hub's YAML 1.2 parser where it matters for cards: only
    true/false are booleans (so `language: no` is Norwegian), and a repeated key is an error."""
    import yaml

    class HubYamlLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value != "<<":
                    if key_node.value in seen:
                        raise yaml.constructor.ConstructorError(None, None, "Map keys must be unique",
                                                                key_node.start_mark)
                    seen.add(key_node.value)
            return super().construct_mapping(node, deep=deep)

    HubYamlLoader.yaml_implicit_resolvers = {
        ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
        for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    HubYamlLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                        list("tTfF"))
    return HubYamlLoader


_LOADER = None


def parse_card(text: str):
    """(metadata, yaml_error) of a README: metadata is None when there is no YAML block, else what the block
    holds (any YAML value; {} for an empty block); yaml_error is the Hub-style message when it does not parse."""
    import yaml

    global _LOADER
    _LOADER = _LOADER or _hub_yaml_loader()
    m = YAML_BLOCK.search(text)
    if not m:
        return None, None
    try:
        data = yaml.load(m.group(2), Loader=_LOADER)
    except yaml.YAMLError as e:
        problem = getattr(e, "problem", None) or getattr(e, "context", None) or str(e).splitlines()[0]
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        first = text[: m.start(2)].count("\n") + 1  # README line of the block's first line
        where = f" ({mark.line + first}:{mark.column + 1})" if mark is not None else ""
        return None, f"Invalid YAML in README.md: {problem}{where}"
    return ({} if data is None else data), None


def _front_matter(text: str):
    """The card's metadata as repo info's cardData gives it (None without a valid YAML mapping)."""
    data, err = parse_card(text)
    return data if err is None and isinstance(data, dict) else None


def _items(meta: dict, key: str):
    """(label, value) for a key that takes a value or a list of values: ("language", v) or ("language[i]", v)."""
    v = meta[key]
    return [(f"{key}[{i}]", x) for i, x in enumerate(v)] if isinstance(v, list) else [(key, v)]


def _show(v) -> str:
    return json.dumps(v) if isinstance(v, (str, int, float, bool)) or v is None else json.dumps(str(v))


def check_card(text: str, repo_type: str) -> tuple[list[str], list[str]]:
    """(errors, warnings) of a README.md for a repo of `repo_type`, in the Hub's words. An error means the
    Hub refuses the card (validate-yaml answers 400, a commit with it is refused); a warning is reported and
    the card accepted."""
    meta, yaml_error = parse_card(text)
    if yaml_error:
        return [yaml_error], []
    if meta is None or meta == {}:
        return [], [NO_METADATA]
    if not isinstance(meta, dict):
        return ['"value" must be of type object (the YAML metadata must be a mapping of keys to values)'], []
    errors, warnings = [], []

    if "license" in meta:
        for label, v in _items(meta, "license"):
            if not isinstance(v, str) or v not in HUB_LICENSES:
                allowed = ", ".join(HUB_LICENSES) + (", array" if label == "license" else "")
                errors.append(f'"{label}" must be one of [{allowed}]')
        licenses = meta["license"] if isinstance(meta["license"], list) else [meta["license"]]
        if "other" in licenses:
            # hub-docs repositories-licenses.md: with `other`, name the license in license_name and link its text
            # (license_link: a URL, or LICENSE / LICENSE.md in the repo). The Hub still accepts the card without.
            if not isinstance(meta.get("license_name"), str) or not meta["license_name"].strip():
                warnings.append('"license" is "other" but "license_name" is not set: give the license a short '
                                'lowercase id without spaces (such as my-license-1.0) in license_name')
            elif not re.fullmatch(r"[a-z0-9][a-z0-9._+-]*", meta["license_name"]):
                warnings.append(f'"license_name" with value {_show(meta["license_name"])} should be a short '
                                'lowercase id without spaces (such as my-license-1.0)')
            if not isinstance(meta.get("license_link"), str) or not meta["license_link"].strip():
                warnings.append('"license" is "other" but "license_link" is not set: link the license text '
                                '(a URL, or LICENSE / LICENSE.md in the repo) in license_link')

    if "language" in meta:
        for label, v in _items(meta, "language"):
            if not (isinstance(v, str) and (v in ISO_639_1 or re.fullmatch(r"[a-z]{3}", v) or v in LANGUAGE_SPECIAL)):
                errors.append(f'"{label}" with value {_show(v)} is not valid. It must be an ISO 639-1, 639-2 or '
                              f'639-3 code (two/three letters), or a special value like "code", "multilingual".')

    if repo_type == "dataset":
        for key, allowed in (("task_categories", TASK_CATEGORIES), ("size_categories", SIZE_CATEGORIES)):
            if key in meta and meta[key] is not None:
                for label, v in _items(meta, key):
                    if v not in allowed:
                        warnings.append(f'The {key} {_show(v)} is not in the official list: {", ".join(allowed)}')
        if "configs" in meta:
            errors += _check_configs(meta["configs"])
        if "dataset_info" in meta:
            warnings += _check_dataset_info(meta["dataset_info"])
    return errors, warnings


def _check_configs(configs) -> list[str]:
    if not isinstance(configs, list):
        return ['"configs" must be an array']
    errors = []
    for i, c in enumerate(configs):
        at = f"configs[{i}]"
        if not isinstance(c, dict):
            errors.append(f'"{at}" must be of type object')
            continue
        if "config_name" not in c:
            errors.append(f'"{at}.config_name" is required')
        elif not isinstance(c["config_name"], str):
            errors.append(f'"{at}.config_name" must be a string')
        if "data_dir" in c and not isinstance(c["data_dir"], str):
            errors.append(f'"{at}.data_dir" must be a string')
        files = c.get("data_files")
        if files is None or isinstance(files, str):
            continue
        if not isinstance(files, list):
            errors.append(f'"{at}.data_files" must be one of [string, array]')
            continue
        for j, f in enumerate(files):
            fat = f"{at}.data_files[{j}]"
            if isinstance(f, str):
                continue
            if not isinstance(f, dict):
                errors.append(f'"{fat}" must be one of [string, object]')
                continue
            for k in f:
                if k not in ("split", "path"):
                    errors.append(f'"{fat}.{k}" is not allowed')
            if "split" not in f:
                errors.append(f'"{fat}.split" is required')
            elif not isinstance(f["split"], str) or not SPLIT_NAME.match(f["split"]):
                errors.append(f'"{fat}.split" with value {_show(f["split"])} fails to match the required pattern: '
                              f'{SPLIT_NAME.pattern}')
            path = f.get("path")
            if "path" not in f:
                errors.append(f'"{fat}.path" is required')
            elif not (isinstance(path, str)
                      or (isinstance(path, list) and path and all(isinstance(x, str) for x in path))):
                errors.append(f'"{fat}.path" must be one of [string, array of strings]')
    return errors


def _check_dataset_info(info) -> list[str]:
    """dataset_info as `datasets` writes and reads it. The Hub stores a malformed one (datasets PR #8462 exists
    because such cards are on the Hub), but `datasets` may then fail to load the set: reported as warnings."""
    infos = info if isinstance(info, list) else [info]
    out = []
    for i, d in enumerate(infos):
        at = f"dataset_info[{i}]" if isinstance(info, list) else "dataset_info"
        if not isinstance(d, dict):
            out.append(f'"{at}" must be of type object')
            continue
        if isinstance(info, list) and len(info) > 1 and not isinstance(d.get("config_name"), str):
            out.append(f'"{at}.config_name" is required when dataset_info lists several configs')
        if "features" in d and not isinstance(d["features"], (list, dict)):
            out.append(f'"{at}.features" must be an array')
        for k in ("download_size", "dataset_size"):
            if k in d and not (isinstance(d[k], int) and not isinstance(d[k], bool) and d[k] >= 0):
                out.append(f'"{at}.{k}" must be a non-negative integer')
        splits = d.get("splits")
        if splits is None:
            continue
        if not isinstance(splits, list):
            out.append(f'"{at}.splits" must be an array')
            continue
        names = []
        for j, sp in enumerate(splits):
            sat = f"{at}.splits[{j}]"
            if not isinstance(sp, dict):
                out.append(f'"{sat}" must be of type object')
                continue
            if not isinstance(sp.get("name"), str):
                out.append(f'"{sat}.name" is required and must be a string')
            else:
                names.append(sp["name"])
            for k in ("num_bytes", "num_examples"):
                if k in sp and not (isinstance(sp[k], int) and not isinstance(sp[k], bool) and sp[k] >= 0):
                    out.append(f'"{sat}.{k}" must be a non-negative integer')
        for n in sorted({n for n in names if names.count(n) > 1}):
            out.append(f'"{at}.splits" names the split {_show(n)} more than once')
    return out


_REPO = r"(?P<repo_id>[\w.-]+/[\w.-]+)"
ROUTES = [
    ("GET", r"/api/whoami-v2", Handler.whoami),
    ("POST", r"/api/repos/create", Handler.create_repo),
    ("POST", r"/api/validate-yaml", Handler.validate_yaml),
    ("GET", rf"/api/(?P<rtype>datasets|models|spaces)/{_REPO}", Handler.repo_info),
    ("GET", rf"/api/(?P<rtype>datasets|models|spaces)/{_REPO}/revision/(?P<rev>.+)", Handler.repo_info),
    ("GET", rf"/api/(?P<rtype>datasets|models|spaces)/{_REPO}/refs", Handler.refs),
    ("POST", rf"/api/(?P<rtype>datasets|models|spaces)/{_REPO}/branch/(?P<branch>.+)", Handler.create_branch),
    ("POST", rf"/api/(?P<rtype>datasets|models|spaces)/{_REPO}/preupload/(?P<rev>.+)", Handler.preupload),
    ("POST", rf"/api/(?P<rtype>datasets|models|spaces)/{_REPO}/commit/(?P<rev>.+)", Handler.commit),
    ("GET", rf"/api/(?P<rtype>datasets|models|spaces)/{_REPO}/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?", Handler.tree),
    ("POST", rf"/api/(?P<rtype>datasets|models|spaces)/{_REPO}/paths-info/(?P<rev>.+)", Handler.paths_info),
    ("POST", rf"/(?P<prefix>datasets/|spaces/)?{_REPO}\.git/info/lfs/objects/batch", Handler.lfs_batch),
    ("PUT", r"/lfs-upload/(?P<oid>[0-9a-f]{64})", Handler.lfs_upload),
    ("GET", rf"/(?P<prefix>datasets/|spaces/)?{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)", Handler.resolve),
]


class HubServer:
    """Start with `HubServer(users).start()`; `.url` is the endpoint for HF_ENDPOINT."""

    def __init__(self, users: dict[str, str], port: int = 0):
        self.state = HubState(users)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.state = self.state
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> "HubServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def main(argv=None) -> None:
    """`python tests/hubserver.py [--port N] [--user NAME=TOKEN ...]`: serve until Ctrl-C, and print the
    environment a shell needs to push to it and load from it."""
    import argparse

    ap = argparse.ArgumentParser(description="A local Hub-compatible server (in memory) for trying push and load.")
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    ap.add_argument("--user", action="append", default=[], metavar="NAME=TOKEN",
                    help="a user and their token (default: newcomer=hf_newcomer_token)")
    args = ap.parse_args(argv)
    users = dict(u.split("=", 1) for u in args.user) or {"newcomer": "hf_newcomer_token"}
    server = HubServer({token: name for name, token in users.items()}, args.port)
    token = next(iter(users.values()))
    print(f"export HF_ENDPOINT={server.url} HF_HUB_DISABLE_XET=1 HF_TOKEN={token}", flush=True)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        server.httpd.server_close()


if __name__ == "__main__":
    main()
