"""Weak-model generation through an OpenAI-compatible server (`POST {base_url}/chat/completions`):
vLLM's server, TGI, llama.cpp's server, Ollama. Bounded concurrency, a per-request seed, retries
with exponential backoff on 429 / 5xx / timeouts / malformed answers (Retry-After honoured, every
wait capped at MAX_DELAY_S).

Credentials: the API key is read from the environment variable `api_key_env` names (sent as
`Authorization: Bearer`); a `user:password@` in base_url is taken out of the URL and sent as HTTP
Basic auth instead. One or the other: both at once is an error. Every message this backend
raises, logs or puts in a Completion goes through pairforge.redact: it never shows a password or
key (URLs in it show no userinfo). Redirects are never followed (urllib would send the
Authorization header on to another host): a 3xx is an error that names its Location.

Outcomes of a request, after retries: an answer; a Completion with `error` set (the row is dropped
as server_refused: a 4xx that concerns the prompt; or as malformed_response: an answer still not
a chat completion after the last try); or a PairforgeError that stops the build (the server
unreachable or failing, a redirect, or a 401 / 403 / 404 / 407, which concern every request) —
queued requests are then cancelled."""

# A hand-written stdlib HTTP client rather than the `openai` SDK: it measured 3x faster than the
# SDK, and it adds no dependency. Keep it unless a new measurement says otherwise.

from __future__ import annotations

import base64
import http.client
import json
import logging
import os
import threading
import urllib.error
import urllib.request
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit

from ..errors import PairforgeError
from ..weights import ModelRef
from ..recipe import WeakModel
from ..redact import redact_text, redact_url, split_userinfo
from .base import Completion
from .openai_reply import Malformed, one_line, parse_completion, parse_retry_after

log = logging.getLogger(__name__)

RETRY_STATUS = {408, 409, 425, 429}  # and every 5xx: the server's trouble, not the prompt's
FATAL_STATUS = {401, 403, 404, 407}  # wrong credentials, base_url or model: no prompt would get through
MAX_DELAY_S = 60.0  # the longest single wait between tries, whatever Retry-After asks (3600 is seen)


class _Cancelled(Exception):
    """Another request failed for good: this one stops without trying (again)."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A 3xx comes back as an HTTPError (from the default handler) instead of being followed; its
    Location is not even parsed here (urllib's own parsing raises ValueError on a broken one)."""

    def http_error_302(self, *args):
        return None

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


@dataclass
class _Retry:
    reason: str  # "HTTP 503", "URLError: ...", "malformed_response: no choices"
    detail: str = ""  # the server's own text
    malformed: bool = False
    retry_after: str | None = None


def _sleep(seconds: float, stop: threading.Event) -> bool:
    """Wait `seconds`, or less if `stop` is set meanwhile; True where it was. (Tests replace it.)"""
    return stop.wait(seconds)


class OpenAIBackend:
    name = "openai"
    context_length = None  # unknown: the server refuses prompts that are too long
    schedules_itself = True  # the pool keeps `concurrency` requests in flight across the whole shard

    def __init__(self, cfg: WeakModel, ref: ModelRef):
        self.cfg = cfg
        self.where = getattr(cfg, "SECTION", "weak_model")  # the recipe section errors name (judge.llm for the judge)
        self.opts = cfg.openai
        self.model_name = ref.name
        base, userinfo = split_userinfo(self.opts.base_url)
        self.url = base.rstrip("/") + "/chat/completions"
        self.secrets: list[str] = []
        self.headers = {"Content-Type": "application/json", **self._auth_header(userinfo)}
        self._check_url(base)
        self._opener = urllib.request.build_opener(_NoRedirect)  # and the environment's proxies, as urlopen
        self.pool = ThreadPoolExecutor(max_workers=self.opts.concurrency)
        self.retries = 0  # how many retries the last run needed (for stats and tests)
        self._lock = threading.Lock()

    def _auth_header(self, userinfo: tuple[str, str] | None) -> dict:
        """One rule: api_key_env -> Bearer; user:password in base_url -> Basic; both -> an error."""
        env = self.opts.api_key_env
        if userinfo:
            user, password = userinfo
            self.secrets += [password, quote(password, safe=""), quote(password)]
            if env:
                raise PairforgeError(
                    f"{self.where}.openai.api_key_env ({env}) is set and {self.where}.openai.base_url "
                    f"({redact_url(self.opts.base_url)}) carries a user:password too; use one of them")
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            self.secrets.append(token)
            return {"Authorization": f"Basic {token}"}
        if not env:
            return {}
        key = os.environ.get(env)
        if not key:
            raise PairforgeError(f"{self.where}.openai.api_key_env: the environment variable {env} is not set")
        if " " in key or not (key.isascii() and key.isprintable()):  # http.client would echo it in a ValueError
            raise PairforgeError(f"{self.where}.openai.api_key_env: the environment variable {env} holds a space, a "
                                 "newline, a control or a non-ASCII character; set it to the key alone")
        self.secrets.append(key)
        return {"Authorization": f"Bearer {key}"}

    def _check_url(self, base: str) -> None:
        try:
            parts = urlsplit(base)
            ok = parts.scheme in ("http", "https") and bool(parts.hostname) and not any(
                c <= " " or c == "\x7f" for c in base) and (parts.path + parts.query).isascii()  # as http.client
            parts.port  # noqa: B018 — raises ValueError on a port that is not a number
        except ValueError:
            ok = False
        if not ok:  # a URL with an @ left in it is not echoed: it may be a password with a raw '/'
            shown = "" if "@" in base else f" {base}"
            raise PairforgeError(f"{self.where}.openai.base_url:{shown} is not an http(s) URL like "
                                 "http://127.0.0.1:8000/v1 (percent-encode ':', '@', '/' in a user name or password, "
                                 "and any non-ASCII character in the path)")

    def _redact(self, text) -> str:
        return redact_text(text, self.secrets)

    def prompt_token_counts(self, prompts):
        return [None] * len(prompts)  # the server counts; filled in from its usage reports

    def token_counts(self, texts):
        return [None] * len(texts)

    def _attempt(self, data: bytes) -> Completion | _Retry:
        """One POST: a final Completion (an answer, or a refusal), or why to try again."""
        try:
            req = urllib.request.Request(self.url, data=data, headers=self.headers, method="POST")
            with self._opener.open(req, timeout=self.opts.timeout_s) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            return self._http_error(e)
        except (OSError, http.client.HTTPException) as e:  # refused, reset, timeout, bad status line
            return _Retry(f"{type(e).__name__}: {getattr(e, 'reason', e)}")
        try:
            return parse_completion(raw)
        except Malformed as e:
            return _Retry(f"malformed_response: {e}", malformed=True)

    def _http_error(self, e: urllib.error.HTTPError) -> Completion | _Retry:
        try:
            detail = one_line(e.read(1 << 16))
        except (OSError, ValueError, http.client.HTTPException):
            detail = ""
        if 300 <= e.code < 400:
            raise self._redirected(e)
        if e.code in RETRY_STATUS or e.code >= 500:
            return _Retry(f"HTTP {e.code}", detail, retry_after=e.headers.get("Retry-After"))
        if e.code in FATAL_STATUS:
            raise PairforgeError(self._redact(
                f"{self.where}.openai: {self.url} answered HTTP {e.code}: {detail} (check {self.where}.openai.base_url, "
                f"{self.where}.model, and the credentials: api_key_env or user:password in base_url)"))
        return Completion(text=None, finish_reason="error", tokens=0, error=self._redact(f"HTTP {e.code}: {detail}"))

    def _redirected(self, e: urllib.error.HTTPError) -> PairforgeError:
        """Following would send the credentials to the Location (and the POST as a GET): the user decides."""
        where = one_line((e.headers.get("Location") if e.headers else None) or "")
        try:
            where = urljoin(self.url, where) if where else ""
            usable = urlsplit(where).scheme in ("http", "https")
        except ValueError:  # e.g. a broken IPv6 address: shown as it came
            usable = False
        to = f" to {redact_url(where)}" if where else " without a Location"
        fix = (f"set {self.where}.openai.base_url to {redact_url(where.rstrip('/').removesuffix('/chat/completions'))}"
               if usable else f"check {self.where}.openai.base_url")
        return PairforgeError(self._redact(f"{self.where}.openai: {self.url} redirects (HTTP {e.code}){to}; redirects "
                                           f"are not followed (they would take the credentials along): {fix}"))

    def _request(self, body: dict, stop: threading.Event) -> Completion:
        data = json.dumps(body).encode()
        delay = self.opts.backoff_s
        tries = self.opts.max_retries + 1
        for attempt in range(tries):
            if stop.is_set():
                raise _Cancelled
            out = self._attempt(data)
            if isinstance(out, Completion):
                if out.error:
                    log.info("request refused: %s", out.error)
                return out
            if attempt + 1 == tries:
                break
            asked = parse_retry_after(out.retry_after)
            pause = min(MAX_DELAY_S, delay if asked is None else asked)
            log.info("%s (try %d of %d); retrying in %.2f s", self._redact(f"{out.reason} {out.detail}".strip()),
                     attempt + 1, tries, pause)
            with self._lock:
                self.retries += 1
            if _sleep(pause, stop):
                raise _Cancelled
            delay *= 2
        return self._give_up(out, tries)

    def _give_up(self, out: _Retry, tries: int) -> Completion:
        said = f"; server said: {out.detail}" if out.detail else ""
        if out.malformed:  # the server is up and answering: drop this row, keep going
            error = self._redact(f"{out.reason} (after {tries} tries)")
            log.warning("dropping a row: %s", error)
            return Completion(text=None, finish_reason="error", tokens=0, error=error, drop_reason="malformed_response")
        raise PairforgeError(self._redact(
            f"{self.where}.openai: {self.url} failed after {tries} tries ({out.reason}){said}; "
            "is the server up? rerun the build to resume"))

    def _one(self, messages, seed: int, budget: int, stop: threading.Event, errors: list) -> Completion:
        s = self.cfg.sampling
        body = {"model": self.model_name, "messages": messages, "max_tokens": budget, "n": 1, "seed": seed,
                "temperature": s.temperature}
        if s.temperature > 0:
            body["top_p"] = s.top_p
        try:
            return self._request(body, stop)
        except _Cancelled:
            raise
        except BaseException as e:
            errors.append(e)  # before this future completes: the first error is the one raised,
            stop.set()  # and no worker starts another try
            raise

    def generate(self, prompts, seeds: list[int], max_tokens: list[int] | None = None):
        """n requests of one sample each per prompt (seeds seed..seed+n-1: exact token counts). The
        first request that fails for good cancels the queued ones and stops the running ones at
        their next try or wait; its error is raised."""
        n = self.cfg.sampling.n
        budgets = max_tokens or [self.cfg.sampling.max_tokens] * len(prompts)
        stop, errors = threading.Event(), []  # per call: a later call is not stopped by an earlier failure
        jobs = [[self.pool.submit(self._one, p, (seed + j) % (2**31), budget, stop, errors) for j in range(n)]
                for p, seed, budget in zip(prompts, seeds, budgets)]
        _, pending = wait([f for row in jobs for f in row], return_when=FIRST_EXCEPTION)
        if errors:  # a _Cancelled only follows a recorded error
            stop.set()
            for f in pending:
                f.cancel()
            raise errors[0]
        return [[f.result() for f in row] for row in jobs]
