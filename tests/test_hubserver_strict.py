"""The local Hub checks card metadata the way the real Hub does (tests/hubserver.py, `check_card`).

Errors (the Hub refuses the card): YAML that does not parse or is not a mapping, a license that is not
one of the Hub's ids, a language that is not an ISO 639 code, a `configs` block of the wrong shape.
Warnings (the Hub accepts the card and says so): no metadata, `license: other` without license_name /
license_link, task or size categories outside the official lists, a dataset_info `datasets` cannot read.

Through the real clients: `HfApi.create_commit` asks validate-yaml first (ValueError "Invalid metadata in
README.md", warnings as UserWarning), `DatasetCard.validate` asks it with Accept: text/plain ("- Error: ...");
a client that skips that step meets the same check on the commit endpoint (400, nothing committed).
"""

import base64
import json
import urllib.error
import urllib.request
import uuid
import warnings

import pytest
from click.testing import CliRunner
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, DatasetCard, HfApi

from conftest import ALICE, REPO, tiny_recipe

VALID = """---
license: cc-by-4.0
language:
- en
pretty_name: Demo preference pairs
size_categories:
- n<1K
task_categories:
- text-generation
tags:
- dpo
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*
  - split: test
    path: data/test-*
dataset_info:
  features:
  - name: prompt
    dtype: string
  splits:
  - name: train
    num_bytes: 1000
    num_examples: 8
  - name: test
    num_bytes: 200
    num_examples: 2
  download_size: 1200
  dataset_size: 1200
---

# Demo
"""


def card(**changes) -> str:
    """VALID with some top-level keys replaced (value None drops the key), as YAML text."""
    import yaml

    meta = yaml.safe_load(VALID.split("---")[1])
    for k, v in changes.items():
        if v is None:
            meta.pop(k, None)
        else:
            meta[k] = v
    return f"---\n{yaml.safe_dump(meta, sort_keys=False)}---\n\n# Demo\n"


def validate(hub, content: str, repo_type: str = "dataset", accept: str | None = None):
    """(status, body) of POST /api/validate-yaml, as the clients send it."""
    headers = {"Content-Type": "application/json"}
    if accept:
        headers["Accept"] = accept
    req = urllib.request.Request(f"{hub.url}/api/validate-yaml", method="POST", headers=headers,
                                 data=json.dumps({"content": content, "repoType": repo_type}).encode())
    try:
        with urllib.request.urlopen(req) as r:
            status, raw, ctype = r.status, r.read(), r.headers["Content-Type"]
    except urllib.error.HTTPError as e:
        status, raw, ctype = e.code, e.read(), e.headers["Content-Type"]
    return status, (json.loads(raw) if "json" in ctype else raw.decode())


def messages(body, kind="errors"):
    return [m["message"] for m in body[kind]]


@pytest.fixture
def strict_hub(hub):
    hub.state.validate_cards, hub.state.card_warnings_are_errors = True, False
    yield hub
    hub.state.validate_cards, hub.state.card_warnings_are_errors = True, False


def new_repo(kind="dataset") -> str:
    repo = f"alice/strict-{uuid.uuid4().hex[:8]}"
    HfApi(token=ALICE).create_repo(repo, repo_type=kind)
    return repo


# ------------------------------------------------------------------ validate-yaml: the rules


def test_a_valid_dataset_card_has_no_errors_and_no_warnings(strict_hub):
    assert validate(strict_hub, VALID) == (200, {"errors": [], "warnings": []})


@pytest.mark.parametrize("content, expected", [
    (card(license="apache-2"), '"license" must be one of [apache-2.0, mit, '),
    (card(license="MIT"), '"license" must be one of ['),
    (card(license=["mit", "gpl-2.0-or-later"]), '"license[1]" must be one of [apache-2.0'),
    (card(language=["English"]), '"language[0]" with value "English" is not valid. It must be an ISO 639-1, 639-2'),
    (card(language="en-US"), '"language" with value "en-US" is not valid'),
    (card(language=["en", "e"]), '"language[1]" with value "e" is not valid'),
    (card(configs={"config_name": "default"}), '"configs" must be an array'),
    (card(configs=[{"data_files": "data/*.parquet"}]), '"configs[0].config_name" is required'),
    (card(configs=[{"config_name": "default", "data_files": {"train": "a"}}]),
     '"configs[0].data_files" must be one of [string, array]'),
    (card(configs=[{"config_name": "default", "data_files": [{"path": "data/train-*"}]}]),
     '"configs[0].data_files[0].split" is required'),
    (card(configs=[{"config_name": "default", "data_files": [{"split": "train"}]}]),
     '"configs[0].data_files[0].path" is required'),
    (card(configs=[{"config_name": "default", "data_files": [{"split": "dev-set", "path": "a"}]}]),
     '"configs[0].data_files[0].split" with value "dev-set" fails to match the required pattern'),
    ("---\nlicense: mit\nlicense: apache-2.0\n---\n", "Invalid YAML in README.md: Map keys must be unique"),
    ("---\nlicense: [mit\n---\n", "Invalid YAML in README.md: "),
    ("---\nfeatures: !!python/tuple [a, b]\n---\n", "Invalid YAML in README.md: "),
    ("---\n- license: mit\n---\n", '"value" must be of type object'),
])
def test_the_hub_refuses(strict_hub, content, expected):
    status, body = validate(strict_hub, content)
    assert status == 400, body
    assert any(m.startswith(expected) for m in messages(body)), messages(body)


@pytest.mark.parametrize("content", [
    card(license=["mit", "cc-by-4.0"]),
    card(language="no"),  # YAML 1.2, as the Hub reads it: Norwegian, not False
    card(language=["en", "fra", "code", "multilingual"]),
    card(configs=[{"config_name": "default", "data_files": "data/*.parquet"},
                  {"config_name": "b", "data_dir": "b", "data_files": ["x/*", "y/*"], "default": True},
                  {"config_name": "c", "data_files": [{"split": "train", "path": ["c/1-*", "c/2-*"]}]}]),
    card(license="other", license_name="my-license-1.0", license_link="LICENSE"),
])
def test_the_hub_accepts(strict_hub, content):
    assert validate(strict_hub, content) == (200, {"errors": [], "warnings": []})


@pytest.mark.parametrize("content, repo_type, expected", [
    ("# just prose\n", "dataset", "empty or missing yaml metadata in repo card"),
    ("---\n---\n# empty block\n", "model", "empty or missing yaml metadata in repo card"),
    (card(license="other"), "dataset", '"license" is "other" but "license_name" is not set'),
    (card(license="other", license_name="my-license"), "dataset", '"license" is "other" but "license_link" is not set'),
    (card(license="other", license_name="My License", license_link="LICENSE"), "dataset",
     '"license_name" with value "My License" should be a short lowercase id'),
    (card(task_categories=["conversational"]), "dataset",
     'The task_categories "conversational" is not in the official list: text-classification, '),
    (card(size_categories=["n>10M"]), "dataset", 'The size_categories "n>10M" is not in the official list: '),
    (card(dataset_info={"splits": ["train", "test"]}), "dataset", '"dataset_info.splits[0]" must be of type object'),
    (card(dataset_info={"splits": [{"name": "train", "num_examples": 2}, {"name": "train", "num_examples": 3}]}),
     "dataset", '"dataset_info.splits" names the split "train" more than once'),
])
def test_the_hub_warns_but_accepts(strict_hub, content, repo_type, expected):
    status, body = validate(strict_hub, content, repo_type)
    assert status == 200 and body["errors"] == [], body
    assert any(m.startswith(expected) for m in messages(body, "warnings")), messages(body, "warnings")


def test_dataset_only_keys_are_not_checked_on_a_model_card(strict_hub):
    content = card(configs="not a list", task_categories=["nope"], size_categories=["huge"])
    assert validate(strict_hub, content, "model") == (200, {"errors": [], "warnings": []})
    assert validate(strict_hub, content, "dataset")[0] == 400


def test_text_plain_answer_for_repocard_validate(strict_hub):
    status, text = validate(strict_hub, card(license="nope", task_categories=["x"]), accept="text/plain")
    assert status == 400
    assert text.splitlines()[0].startswith('- Error: "license" must be one of [')
    assert text.splitlines()[1].startswith('- Warning: The task_categories "x" is not in the official list')


def test_validate_yaml_rejects_a_malformed_request(strict_hub):
    assert validate(strict_hub, VALID, repo_type="notebook")[0] == 400
    req = urllib.request.Request(f"{strict_hub.url}/api/validate-yaml", method="POST", data=b'{"repoType": "model"}',
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 400


# ------------------------------------------------------------------ through the real clients


def test_repocard_validate_raises_like_against_the_hub(strict_hub):
    DatasetCard(VALID).validate()
    bad = DatasetCard(VALID)
    bad.data.license = "asdf"
    with pytest.raises(ValueError, match='- Error: "license" must be one of'):
        bad.validate()


def test_create_commit_with_invalid_card_fails_early_and_commits_nothing(strict_hub):
    repo = new_repo()
    state = strict_hub.state.repos[("dataset", repo)]
    before = (dict(state.refs), len(state.commits), len(strict_hub.state.lfs))
    ops = [CommitOperationAdd("README.md", card(license="apache").encode()),
           CommitOperationAdd(f"data/train-{uuid.uuid4().hex}.parquet", uuid.uuid4().bytes)]
    with pytest.raises(ValueError, match=r'Invalid metadata in README.md.\n- "license" must be one of \['):
        HfApi(token=ALICE).create_commit(repo, ops, repo_type="dataset", commit_message="bad card")
    assert (dict(state.refs), len(state.commits), len(strict_hub.state.lfs)) == before  # not even the LFS upload


def test_create_commit_with_warnings_warns_and_commits(strict_hub):
    repo = new_repo()
    with pytest.warns(UserWarning, match='Warnings while validating metadata in README.md:\n- "license" is "other"'):
        HfApi(token=ALICE).create_commit(repo, [CommitOperationAdd("README.md", card(license="other").encode())],
                                         repo_type="dataset", commit_message="card")
    assert "README.md" in HfApi(token=ALICE).list_repo_files(repo, repo_type="dataset")


def test_card_push_to_hub_checks_the_card(strict_hub):
    repo = new_repo()
    bad = DatasetCard(card(language=["english"]))
    with pytest.raises(ValueError, match='"language\\[0\\]" with value "english" is not valid'):
        bad.push_to_hub(repo, repo_type="dataset", token=ALICE)
    DatasetCard(VALID).push_to_hub(repo, repo_type="dataset", token=ALICE)
    assert DatasetCard.load(repo, repo_type="dataset", token=ALICE).data.license == "cc-by-4.0"


# ------------------------------------------------------------------ the commit endpoint itself


def raw_commit(hub, repo: str, files: dict[str, bytes], deleted=(), kind="datasets"):
    """POST an NDJSON commit straight to the endpoint (no validate-yaml first, as an old client would)."""
    lines = [{"key": "header", "value": {"summary": "raw", "description": ""}}]
    lines += [{"key": "file", "value": {"path": p, "content": base64.b64encode(d).decode(), "encoding": "base64"}}
              for p, d in files.items()]
    lines += [{"key": "deletedFile", "value": {"path": p}} for p in deleted]
    req = urllib.request.Request(f"{hub.url}/api/{kind}/{repo}/commit/main", method="POST",
                                 data="\n".join(json.dumps(x) for x in lines).encode(),
                                 headers={"Authorization": f"Bearer {ALICE}", "Content-Type": "application/x-ndjson"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read()), r.headers
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), e.headers


def test_commit_endpoint_refuses_invalid_metadata_and_commits_nothing(strict_hub):
    repo = new_repo()
    state = strict_hub.state.repos[("dataset", repo)]
    before = (dict(state.refs), len(state.commits))
    status, body, headers = raw_commit(strict_hub, repo, {"README.md": card(license="apache").encode(),
                                                          "stats.json": b"{}"})
    assert status == 400
    assert body["error"].startswith('"license" must be one of [apache-2.0, mit')
    assert headers["X-Error-Message"].startswith('"license" must be one of')
    assert (dict(state.refs), len(state.commits)) == before  # stats.json did not land either

    status, body, _ = raw_commit(strict_hub, repo, {"README.md": b"---\nlicense: [mit\n---\n"})
    assert status == 400 and body["error"].startswith("Invalid YAML in README.md: ")
    assert (dict(state.refs), len(state.commits)) == before


def test_commit_endpoint_error_reads_well_through_the_client(strict_hub):
    """huggingface_hub formats the endpoint's 400 as BadRequestError with the Hub's message."""
    from huggingface_hub.errors import BadRequestError
    from huggingface_hub.utils import get_session, hf_raise_for_status

    repo = new_repo()
    lines = [{"key": "header", "value": {"summary": "raw", "description": ""}},
             {"key": "file", "value": {"path": "README.md", "encoding": "base64",
                                       "content": base64.b64encode(card(language=["Klingon"]).encode()).decode()}}]
    r = get_session().post(f"{strict_hub.url}/api/datasets/{repo}/commit/main",
                           content="\n".join(json.dumps(x) for x in lines).encode(),
                           headers={"Authorization": f"Bearer {ALICE}", "Content-Type": "application/x-ndjson"})
    with pytest.raises(BadRequestError, match='"language\\[0\\]" with value "Klingon" is not valid'):
        hf_raise_for_status(r, endpoint_name="commit")


def test_commit_checks_only_a_readme_it_adds_or_changes(strict_hub):
    repo = new_repo()
    strict_hub.state.validate_cards = False  # seed the repo with a card the Hub would refuse
    assert raw_commit(strict_hub, repo, {"README.md": card(license="apache").encode()})[0] == 200
    strict_hub.state.validate_cards = True
    assert raw_commit(strict_hub, repo, {"stats.json": b"{}"})[0] == 200  # README.md untouched
    assert raw_commit(strict_hub, repo, {"docs/README.md": b"---\nlicense: nope\n---\n"})[0] == 200  # not the card
    assert raw_commit(strict_hub, repo, {"README.md": card(license="apache-2").encode()})[0] == 400
    assert raw_commit(strict_hub, repo, {}, deleted=["README.md"])[0] == 200  # deleting it is fine
    assert raw_commit(strict_hub, repo, {"README.md": VALID.encode()})[0] == 200


def test_model_repos_get_the_common_rules(strict_hub):
    repo = new_repo("model")
    status, body, _ = raw_commit(strict_hub, repo, {"README.md": b"---\nlicense: apache\n---\n"}, kind="models")
    assert status == 400 and body["error"].startswith('"license" must be one of')
    assert raw_commit(strict_hub, repo, {"README.md": b"---\nlicense: apache-2.0\nlanguage: en\n---\n"},
                      kind="models")[0] == 200


def test_lint_mode_turns_warnings_into_errors(strict_hub):
    strict_hub.state.card_warnings_are_errors = True
    status, body = validate(strict_hub, card(license="other"))
    assert status == 400 and body["warnings"] == []
    assert messages(body)[0].startswith('"license" is "other" but "license_name" is not set')
    repo = new_repo()
    assert raw_commit(strict_hub, repo, {"README.md": card(license="other").encode()})[0] == 400
    assert raw_commit(strict_hub, repo, {"README.md": VALID.encode()})[0] == 200


def test_checks_are_logged(strict_hub):
    repo = new_repo()
    start = len(strict_hub.state.card_checks)
    raw_commit(strict_hub, repo, {"README.md": card(license="apache").encode()})
    [check] = strict_hub.state.card_checks[start:]
    assert check["via"] == "commit" and check["repo_id"] == repo and check["repo_type"] == "dataset"
    assert check["errors"] and check["errors"][0].startswith('"license" must be one of')


def test_repo_info_card_data_reads_yaml_like_the_hub(strict_hub):
    repo = new_repo()
    assert raw_commit(strict_hub, repo, {"README.md": card(language="no").encode()})[0] == 200
    assert HfApi(token=ALICE).dataset_info(repo).card_data.language == "no"


# ------------------------------------------------------------------ the card pairforge renders


@pytest.fixture(scope="module")
def built(tiny_model, tmp_path_factory):
    from pairforge.pipeline.build import run_build
    from pairforge.recipe import recipe_from_dict

    out = tmp_path_factory.mktemp("strict") / "out"
    run_build(recipe_from_dict(tiny_recipe(tiny_model, {"path": str(REPO / "pairforge" / "demo" / "sft.jsonl")}, out)),
              quiet=True)
    return out


def push_and_check(hub, built):
    from pairforge.cli import cli

    repo = f"alice/strict-pairs-{uuid.uuid4().hex[:8]}"
    start = len(hub.state.card_checks)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the Hub's warnings, inspected below
        res = CliRunner().invoke(cli, ["push", str(built), "--repo", repo, "--token", ALICE])
    checks = [c for c in hub.state.card_checks[start:] if c["repo_type"] == "dataset"]
    return res, checks


def test_pairforge_card_is_accepted_by_the_strict_hub(strict_hub, built):
    res, checks = push_and_check(strict_hub, built)
    assert res.exit_code == 0, res.output
    assert checks and all(c["errors"] == [] for c in checks), checks


def test_pairforge_card_draws_no_hub_warnings(strict_hub, built):
    res, checks = push_and_check(strict_hub, built)
    assert res.exit_code == 0, res.output
    assert checks and all(c["warnings"] == [] for c in checks), [c["warnings"] for c in checks]


def test_the_server_runs_on_its_own_for_a_user_to_try_push():
    """`python tests/hubserver.py` (the README's way to try push and load offline) prints the environment
    to export and answers as the Hub does for that token."""
    import subprocess
    import sys

    from huggingface_hub import HfApi

    from conftest import REPO

    proc = subprocess.Popen([sys.executable, str(REPO / "tests" / "hubserver.py"), "--user", "carol=hf_carol_tok"],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().split()
        env = dict(kv.split("=", 1) for kv in line[1:])
        assert line[0] == "export" and env["HF_TOKEN"] == "hf_carol_tok" and env["HF_HUB_DISABLE_XET"] == "1"
        assert HfApi(endpoint=env["HF_ENDPOINT"], token=env["HF_TOKEN"]).whoami()["name"] == "carol"
    finally:
        proc.terminate()
        proc.wait(10)
