"""Hostile inputs through the real CLI in a subprocess: each one is exactly one `Error:` line and a
non-zero exit, never a traceback."""

import os
import subprocess
import sys
import uuid

import pytest
from click.testing import CliRunner

from conftest import ALICE, REPO, tiny_recipe, write_recipe
from pairforge.cli import cli
from pairforge.pipeline.build import run_build
from pairforge.recipe import recipe_from_dict

DEMO = str(REPO / "pairforge" / "demo" / "sft.jsonl")


CLOSED_HUB = {"HF_ENDPOINT": "http://127.0.0.1:9"}  # nothing listens there: connection refused


def pf(*args, env=None, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "pairforge.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, **(env or {})}, timeout=300)


def assert_one_error(res):
    text = res.stdout + res.stderr
    assert res.returncode != 0, text
    assert "Traceback" not in text, text
    assert sum(line.startswith("Error:") for line in text.splitlines()) == 1, text
    return text


@pytest.fixture(scope="module")
def built(tiny_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile") / "out"
    run_build(recipe_from_dict(tiny_recipe(tiny_model, {"path": DEMO}, out)), quiet=True)
    return out


def _recipe(tmp_path, tiny_model, out, **sections):
    return write_recipe(tmp_path / "r.yaml", tiny_recipe(tiny_model, {"path": DEMO}, out, **sections))


def case_output_is_a_file(tmp_path, tiny_model, built):
    (tmp_path / "f").write_text("x")
    return ["build", _recipe(tmp_path, tiny_model, tmp_path / "f")], "is a file"


def case_output_under_a_file(tmp_path, tiny_model, built):  # unwritable even for root
    (tmp_path / "f").write_text("x")
    return ["build", _recipe(tmp_path, tiny_model, tmp_path / "f" / "out")], "cannot write there"


def case_output_inside_source_folder(tmp_path, tiny_model, built):
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.jsonl").write_text((REPO / "pairforge" / "demo" / "sft.jsonl").read_text())
    r = tiny_recipe(tiny_model, {"path": str(src)}, src / "out")
    return ["build", write_recipe(tmp_path / "r.yaml", r)], "inside the source folder"


def case_greedy_with_n_samples(tmp_path, tiny_model, built):
    return ["build", _recipe(tmp_path, tiny_model, tmp_path / "o"), "--set", "weak_model.sampling.temperature=0",
            "--set", "weak_model.sampling.n=3"], "temperature 0"


def case_invalid_repo_id(tmp_path, tiny_model, built):
    return ["push", built, "--repo", "bad id!", "--token", ALICE], "not a valid Hub repo id"


def case_train_missing_model(tmp_path, tiny_model, built):
    return ["train-ipo", "--dataset", built, "--model", tmp_path / "no-such-model", "--output-dir",
            tmp_path / "ipo"], "no such folder"


def case_train_incomplete_folder(tmp_path, tiny_model, built):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(built, copy)
    (copy / "pairforge.manifest.json").unlink()
    return ["train-ipo", "--dataset", copy, "--model", tiny_model, "--output-dir", tmp_path / "ipo"], "pairforge build"


def case_inspect_wrong_split(tmp_path, tiny_model, built):
    return ["inspect", built, "--split", "nope"], "split 'nope'"


def case_inspect_missing_local_folder(tmp_path, tiny_model, built):
    return ["inspect", tmp_path / "no" / "such" / "folder"], "no such folder"


def case_inspect_relative_missing_folder(tmp_path, tiny_model, built):
    return ["inspect", "./out/never-built"], "no such folder"


def case_inspect_invalid_repo_id(tmp_path, tiny_model, built):
    return ["inspect", "bad id!"], "here, and 'bad id!' is not a valid Hub repo id"


def case_inspect_backslash_path(tmp_path, tiny_model, built):
    return ["inspect", "out\\never-built"], "no such folder", CLOSED_HUB


def case_inspect_bare_name_hub_unreachable(tmp_path, tiny_model, built):
    return ["inspect", "nonexistent"], "no folder nonexistent here, and cannot reach the Hub", CLOSED_HUB


def case_inspect_missing_parent_hub_unreachable(tmp_path, tiny_model, built):
    return ["inspect", "out/never-built"], "no folder out/never-built here, and cannot reach the Hub", CLOSED_HUB


def case_inspect_hub_offline_not_cached(tmp_path, tiny_model, built):
    return ["inspect", "alice/never-cached"], "HF_HUB_OFFLINE is set", {"HF_HUB_OFFLINE": "1"}


def _edited_recipe(tmp_path, built, text, manifest_too):
    """A copy of the build whose recipe.yaml is `text`; manifest_too: the manifest is rewritten to match."""
    import json
    import shutil

    from pairforge.pipeline.publish import MANIFEST, PUBLISHED, file_entries

    copy = tmp_path / "copy"
    shutil.copytree(built, copy)
    (copy / "recipe.yaml").write_text(text)
    if manifest_too:
        manifest = json.loads((copy / MANIFEST).read_text())
        (copy / MANIFEST).write_text(json.dumps({**manifest, "files": file_entries(copy, PUBLISHED)}))
    return copy


def case_push_recipe_edited_after_build(tmp_path, tiny_model, built):  # the manifest check comes first
    return ["push", _edited_recipe(tmp_path, built, "output: {repo: [unclosed\n", False)], "recipe.yaml changed"


def case_push_recipe_not_yaml(tmp_path, tiny_model, built):
    return ["push", _edited_recipe(tmp_path, built, "output: {repo: [unclosed\n", True)], "not valid YAML"


def case_push_recipe_a_list(tmp_path, tiny_model, built):
    return ["push", _edited_recipe(tmp_path, built, "- output\n- repo\n", True)], "is not a pairforge recipe"


def case_push_recipe_output_a_string(tmp_path, tiny_model, built):
    return ["push", _edited_recipe(tmp_path, built, "output: alice/x\n", True)], "is not a pairforge recipe"


CASES = [case_output_is_a_file, case_output_under_a_file, case_output_inside_source_folder, case_greedy_with_n_samples,
         case_invalid_repo_id, case_train_missing_model, case_train_incomplete_folder, case_inspect_wrong_split,
         case_inspect_missing_local_folder, case_inspect_relative_missing_folder, case_inspect_invalid_repo_id,
         case_inspect_backslash_path, case_inspect_bare_name_hub_unreachable,
         case_inspect_missing_parent_hub_unreachable, case_inspect_hub_offline_not_cached,
         case_push_recipe_edited_after_build, case_push_recipe_not_yaml, case_push_recipe_a_list,
         case_push_recipe_output_a_string]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__[5:] for c in CASES])
def test_hostile_input_is_one_error_line(case, tmp_path, tiny_model, built):
    args, expected, *env = case(tmp_path, tiny_model, built)
    # from an empty folder: a relative name's first part exists nowhere, as for a user in a fresh checkout
    text = assert_one_error(pf(*args, env=env[0] if env else None, cwd=tmp_path))
    assert expected in text


def test_inspect_with_the_hub_unreachable_fails_at_once(tmp_path):
    """hf_hub_download retries a refused connection for ~24 s; inspect asks once and says so."""
    import time

    t0 = time.perf_counter()
    assert "cannot reach the Hub" in assert_one_error(pf("inspect", "alice/pairs", env=CLOSED_HUB, cwd=tmp_path))
    assert time.perf_counter() - t0 < 15


@pytest.mark.parametrize("when,landed", [("before", False), ("after", True)])
def test_connection_drop_during_commit_says_whether_it_landed(hub, built, when, landed):
    repo = f"alice/drop-{uuid.uuid4().hex[:8]}"
    hub.state.drop_commit = when
    res = CliRunner().invoke(cli, ["push", str(built), "--repo", repo, "--token", ALICE])
    hub.state.drop_commit = None
    assert res.exit_code == 1 and "Traceback" not in res.output
    lines = [l for l in res.output.splitlines() if l.startswith("Error:")]
    assert len(lines) == 1 and "connection to the Hub dropped" in lines[0], res.output
    state = hub.state.repos[("dataset", repo)]
    assert (len(state.commits) == 2) is landed  # the repo's initial commit, plus ours if it landed
    assert ("landed anyway" in lines[0]) is landed and ("nothing was committed" in lines[0]) is not landed
    if not landed:  # the fix the message names works
        assert CliRunner().invoke(cli, ["push", str(built), "--repo", repo, "--token", ALICE]).exit_code == 0


def test_dry_run_offline_touches_nothing_and_still_renders(built):
    res = pf("push", built, "--repo", "alice/offline", "--dry-run", env={"HF_ENDPOINT": "http://127.0.0.1:9"})
    assert res.returncode == 0, res.stderr
    assert "<!-- pairforge:begin -->" in res.stdout and "could not read the remote" in res.stderr
    res = pf("push", built, "--repo", "alice/offline", "--token", ALICE, env={"HF_ENDPOINT": "http://127.0.0.1:9"})
    assert "cannot reach the Hub" in assert_one_error(res)


BAD_TOKENS = {"newline": ALICE + "\n", "non_ascii": "hf_alicé_token_0123456789"}


@pytest.mark.parametrize("how", ["push", "inspect"])
@pytest.mark.parametrize("kind", list(BAD_TOKENS))
def test_token_headers_cannot_carry_is_one_line_that_never_shows_it(hub, built, tmp_path, how, kind):
    token = BAD_TOKENS[kind]
    target = [built, "--repo", "carol/bad-token"] if how == "push" else ["carol/bad-token"]
    text = assert_one_error(pf(how, *target, "--token", token, cwd=tmp_path))
    assert "--token" in text and "HTTP headers cannot carry" in text, text
    assert token.strip() not in text and "alic" not in text, text
    assert ("dataset", "carol/bad-token") not in hub.state.repos


def test_bad_token_from_the_environment_names_hf_token(built, tmp_path):
    token = BAD_TOKENS["non_ascii"]
    for args in (["push", built, "--repo", "carol/bad-token"], ["inspect", "carol/bad-token"]):
        text = assert_one_error(pf(*args, env={"HF_TOKEN": token}, cwd=tmp_path))
        assert "from HF_TOKEN" in text and token not in text and "alic" not in text, text


def test_a_hub_source_checks_the_token_before_any_request(tiny_model, tmp_path):
    token = BAD_TOKENS["non_ascii"]
    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe(tiny_model, {"hub": "carol/sft", "split": "train"},
                                                           tmp_path / "out"))
    text = assert_one_error(pf("build", recipe, env={"HF_TOKEN": token}, cwd=tmp_path))
    assert "from HF_TOKEN" in text and token not in text and "alic" not in text, text


def test_train_ipo_push_checks_the_token_before_training(built, tiny_model, tmp_path):
    token = BAD_TOKENS["newline"]
    text = assert_one_error(pf("train-ipo", "--dataset", built, "--model", tiny_model, "--output-dir", tmp_path / "ipo",
                               "--push-to-hub", "carol/model", "--token", token, cwd=tmp_path))
    assert "from --token" in text and token.strip() not in text
    assert not (tmp_path / "ipo").exists()  # refused before any training
