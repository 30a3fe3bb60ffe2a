"""No password, API key or Hub token in any written file, pushed file, output, log or error message."""

import logging
import uuid

from click.testing import CliRunner

from conftest import ALICE, REPO, tiny_recipe, write_recipe
from fakeopenai import FakeOpenAI
from pairforge.cli import cli

DEMO = str(REPO / "pairforge" / "demo" / "sft.jsonl")
PASSWORD, KEY = "s3cr3t-pa55word-xyz", "sk-test-key-0987654321"


def test_no_secret_anywhere(hub, tiny_model, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("PF_TEST_KEY", KEY)
    server = FakeOpenAI(basic_auth=("bob", PASSWORD))
    out = tmp_path / "out"
    try:
        r = tiny_recipe(tiny_model, {"path": DEMO}, out, weak_model={
            "model": "served", "backend": "openai",
            "openai": {"base_url": server.url_with("bob", PASSWORD), "max_retries": 0}})
        recipe = write_recipe(tmp_path / "r.yaml", r)
        outputs = [CliRunner().invoke(cli, ["build", str(recipe), "-q", "--json"])]
        assert outputs[0].exit_code == 0, outputs[0].output
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
    repo = f"alice/secrets-{uuid.uuid4().hex[:8]}"
    outputs.append(CliRunner().invoke(cli, ["push", str(out), "--repo", repo, "--token", ALICE]))
    assert outputs[-1].exit_code == 0, outputs[-1].output
    outputs.append(CliRunner().invoke(cli, ["push", str(out), "--repo", "bob/not-yours", "--token", ALICE + "x"]))
    assert outputs[-1].exit_code == 1  # a failing push: its message is checked too
    blobs = {str(f): f.read_bytes() for f in out.rglob("*") if f.is_file()}
    state = hub.state.repos[("dataset", repo)]
    blobs.update({f"hub:{p}": b.data for p, b in state.commits[state.refs["main"]].files.items()})
    assert any(p.endswith("recipe.yaml") for p in blobs) and "hub:stats.json" in blobs
    texts = [o.output for o in outputs] + [caplog.text]
    for secret in (PASSWORD, KEY, ALICE):
        for where, data in blobs.items():
            assert secret.encode() not in data, (secret, where)
        for t in texts:
            assert secret not in t
    stats = blobs["hub:stats.json"].decode()
    assert server.url.split("//")[1] in stats  # the server is still named, without its credentials
