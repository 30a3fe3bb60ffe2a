"""No password, API key or Hub token in any written file, pushed file, output, log or error message."""

import json
import logging
import uuid

import pyarrow.parquet as pq
import yaml

from pathlib import Path

from click.testing import CliRunner

from conftest import ALICE, REPO, tiny_recipe, write_recipe
from fakeopenai import FakeOpenAI
from pairforge.cli import cli

DEMO = str(REPO / "pairforge" / "demo" / "sft.jsonl")
PASSWORD, KEY = "s3cr3t-pa55word-xyz", "sk-test-key-0987654321"
REDIRECT = f"http://bob:{PASSWORD}@127.0.0.1:9/v1"  # a URL with the password in a server's reply


def test_no_secret_anywhere(hub, tiny_model, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("PF_TEST_KEY", KEY)
    # a server that echoes what it was sent into an error (some do): the excluded row's detail must not show it
    server = FakeOpenAI(script=[(400, {"error": f"bad request from bob:{PASSWORD} at {REDIRECT}"})],
                        basic_auth=("bob", PASSWORD))
    keyed_server = FakeOpenAI(script=[(400, {"error": f"key {KEY} refused"})], api_key=KEY)
    out = tmp_path / "out"
    try:
        r = tiny_recipe(tiny_model, {"path": DEMO}, out, weak_model={
            "model": "served", "backend": "openai",
            "openai": {"base_url": server.url_with("bob", PASSWORD), "max_retries": 0}})
        recipe = write_recipe(tmp_path / "r.yaml", r)
        outputs = [CliRunner().invoke(cli, ["build", str(recipe), "-q", "--json"])]
        assert outputs[0].exit_code == 0, outputs[0].output
        # the API key, from the environment: one row refused by a server that echoes the key
        echoed = tiny_recipe(tiny_model, {"path": DEMO}, tmp_path / "echoed", weak_model={
            "model": "served", "backend": "openai",
            "openai": {"base_url": keyed_server.url, "api_key_env": "PF_TEST_KEY", "max_retries": 0}})
        outputs.append(CliRunner().invoke(cli, ["build", str(write_recipe(tmp_path / "e.yaml", echoed)), "-q"]))
        assert outputs[-1].exit_code == 0, outputs[-1].output
        # the API key: sent to a server that wants the password, the build fails; its message is checked
        keyed = tiny_recipe(tiny_model, {"path": DEMO}, tmp_path / "keyed", weak_model={
            "model": "served", "backend": "openai",
            "openai": {"base_url": server.url, "api_key_env": "PF_TEST_KEY", "max_retries": 0}})
        outputs.append(CliRunner().invoke(cli, ["build", str(write_recipe(tmp_path / "k.yaml", keyed)), "-q"]))
        assert outputs[-1].exit_code == 1 and "401" in outputs[-1].output, outputs[-1].output
        assert server.calls and server.seen_auth[0].startswith("Basic ")  # the password was used...
        fp = __import__("json").loads(outputs[0].stdout)["fingerprint"]
        other = tiny_recipe(tiny_model, {"path": DEMO}, tmp_path / "out2", weak_model=r["weak_model"])
        other["weak_model"]["openai"]["base_url"] = server.url_with("bob", "another-password")
        from pairforge.pipeline.build import plan_build
        from pairforge.recipe import recipe_from_dict

        assert plan_build(recipe_from_dict(other), quiet=True).fingerprint == fp  # ...but is not hashed
    finally:
        server.stop()
        keyed_server.stop()
    refused = [pq.read_table(tmp_path / d / "excluded" / "generate.parquet").to_pylist() for d in ("out", "echoed")]
    assert [[r["reason"] for r in rows] for rows in refused] == [["server_refused"], ["server_refused"]]
    assert "bob:*** at http://***@127.0.0.1:9" in refused[0][0]["detail"] and "key *** refused" in refused[1][0]["detail"]  # the rest is kept
    repo = f"alice/secrets-{uuid.uuid4().hex[:8]}"
    outputs.append(CliRunner().invoke(cli, ["push", str(out), "--repo", repo, "--token", ALICE]))
    assert outputs[-1].exit_code == 0, outputs[-1].output
    outputs.append(CliRunner().invoke(cli, ["push", str(out), "--repo", "bob/not-yours", "--token", ALICE + "x"]))
    assert outputs[-1].exit_code == 1  # a failing push: its message is checked too, and names the repo
    assert "rejected the token" in outputs[-1].output and "bob/not-yours" in outputs[-1].output, outputs[-1].output
    blobs = {str(f): f.read_bytes() for d in ("out", "echoed") for f in (tmp_path / d).rglob("*") if f.is_file()}
    state = hub.state.repos[("dataset", repo)]
    blobs.update({f"hub:{p}": b.data for p, b in state.commits[state.refs["main"]].files.items()})
    assert any(p.endswith("recipe.yaml") for p in blobs) and "hub:stats.json" in blobs
    texts = [o.output for o in outputs] + [caplog.text]
    for secret in (PASSWORD, KEY, ALICE):
        for where, data in blobs.items():
            assert secret.encode() not in data, (secret, where)
        for t in texts:
            assert secret not in t
    for where, data in blobs.items():  # published files name no local path and no server address
        if where.startswith("hub:"):
            assert str(tmp_path).encode() not in data and server.url.split("//")[1].encode() not in data, where
    public = yaml.safe_load(blobs["hub:recipe.yaml"])
    assert public["source"]["path"].startswith("sft.jsonl (local file, sha256 ") and public["output"]["dir"] == "out"
    assert public["weak_model"]["openai"]["base_url"].startswith("an OpenAI-compatible server, address sha256 ")
    assert yaml.safe_load((out / "recipe.yaml").read_text())["source"]["path"] == DEMO  # the local one: as resolved


def _no_secret(secrets, files, texts, local_paths=(), published=()):
    """No secret in any file or text; no local path in a published file."""
    for where, data in files.items():
        for secret in secrets:
            assert secret.encode() not in data, (secret, where)
    for t in texts:
        for secret in secrets:
            assert secret not in t, secret
    for where in published:
        for path in local_paths:
            assert str(path).encode() not in files[where], (path, where)


def _files(*folders):
    return {str(f): f.read_bytes() for d in folders for f in Path(d).rglob("*") if f.is_file()}


def test_train_ipo_writes_and_pushes_no_token_and_no_path(hub, tiny_model, tmp_path, monkeypatch, caplog):
    """A token given with --set hub_token=..., or in HF_TOKEN: never in train_summary.json, the
    summary printed, the logs or the pushed files; the pushed files name the dataset and models by
    name and digest, never by path."""
    from pairforge.pipeline.build import run_build
    from pairforge.recipe import recipe_from_dict

    caplog.set_level(logging.DEBUG)
    pairs = tmp_path / "pairs"
    run_build(recipe_from_dict(tiny_recipe(tiny_model, {"path": DEMO, "limit": 16}, pairs)), quiet=True)
    outputs, repos = [], [f"alice/ipo-secret-{uuid.uuid4().hex[:6]}" for _ in range(2)]
    common = ["train-ipo", "--dataset", str(pairs), "--model", tiny_model, "--set", "max_steps=1",
              "--set", "max_length=64", "--json"]
    outputs.append(CliRunner().invoke(cli, [*common, "--output-dir", str(tmp_path / "m1"), "--set",
                                            f"hub_token={ALICE}", "--push-to-hub", repos[0]]))
    monkeypatch.setenv("HF_TOKEN", ALICE)
    outputs.append(CliRunner().invoke(cli, [*common, "--output-dir", str(tmp_path / "m2"), "--push-to-hub", repos[1]]))
    for res in outputs:
        assert res.exit_code == 0, res.output
    summary = json.loads(outputs[0].stdout)
    assert summary["config"]["hub_token"] == "***" and summary["hub"]  # given, used for the push, never shown
    files = _files(tmp_path / "m1", tmp_path / "m2")
    for repo in repos:
        state = hub.state.repos[("model", repo)]
        files.update({f"hub:{repo}:{p}": b.data for p, b in state.commits[state.refs["main"]].files.items()})
    pushed = [w for w in files if w.startswith("hub:")]
    assert any(w.endswith("train_summary.json") for w in pushed)
    _no_secret([ALICE], files, [o.output for o in outputs] + [caplog.text], [tmp_path, tiny_model], pushed)
    written = json.loads(files[str(tmp_path / "m1" / "train_summary.json")])
    assert written["dataset"].startswith("pairs (local folder, sha256 ") and written["output_dir"] == "m1 (local path)"


def test_spin_writes_no_password_and_no_token(tiny_model, tmp_path, monkeypatch, caplog):
    """spin with a base_url password given with --set and a token with --train-set: neither in
    spin.json, any iteration's files, the output or the logs."""
    caplog.set_level(logging.DEBUG)
    server = FakeOpenAI(basic_auth=("bob", PASSWORD))
    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe(tiny_model, {"path": DEMO, "limit": 12}, tmp_path / "x"))
    out = tmp_path / "spin"
    try:
        res = CliRunner().invoke(cli, [
            "spin", str(recipe), "--model", tiny_model, "-k", "1", "--output-dir", str(out),
            "--set", "weak_model.backend=openai", "--set", f"weak_model.openai.base_url={server.url_with('bob', PASSWORD)}",
            "--set", "weak_model.openai.max_retries=0", "--set", "weak_model.sampling.max_tokens=12",
            "--train-set", f"hub_token={ALICE}", "--train-set", "max_steps=1", "--train-set", "max_length=64"])
    finally:
        server.stop()
    assert res.exit_code == 0, res.output
    assert server.calls and server.seen_auth[-1].startswith("Basic ")  # the password was used
    files = _files(out)
    state = json.loads(files[str(out / "spin.json")])
    assert "train_overrides" in state["settings"] and "hub_token=***" in state["settings"]["train_overrides"]
    _no_secret([PASSWORD, ALICE], files, [res.output, caplog.text])
