"""A small Hugging Face Hub-compatible HTTP server for the tests (127.0.0.1, free port).

It speaks the part of the Hub API that the real `huggingface_hub` (2.4) and `datasets` (5.2)
clients use to create a repo, upload in one commit (preupload, LFS batch + PUT, NDJSON commit),
read repo info, trees and paths-info, branches and PR refs, and download files (resolve, with
Range and the X-Repo-Commit / ETag headers). Tokens map to users; a wrong token gets 401,
private repos are invisible (404) to others, writing to another user's repo gets 403, and
errors carry `X-Error-Code`. Everything is in memory.

Fault injection for tests: `server.state.fail_lfs_upload = True` makes LFS uploads fail (403),
so a push can be shown to leave the repo as it was.
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
        self.requests: list[str] = []  # "METHOD path" log, for contract tests
        self.unrouted: list[str] = []  # requests no route matched: a client speaking a protocol we don't


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
                    return self._json({"error": e.message}, e.status, {"X-Error-Code": e.code, "X-Error-Message": e.message})
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
        self._body()
        self._json({"errors": [], "warnings": []})

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
        self._json(result)

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


def _front_matter(text: str):
    import yaml

    if not text.startswith("---"):
        return None
    end = text.find("\n---", 3)
    if end < 0:
        return None
    try:
        return yaml.safe_load(text[3:end]) or {}
    except yaml.YAMLError:
        return None


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

    def __init__(self, users: dict[str, str]):
        self.state = HubState(users)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
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
