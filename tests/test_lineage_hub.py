"""Self-play lineage through the Hub: a model pushed by train-ipo names a Hub base model (never a
local path), carries pairforge_lineage.json, and a build whose weak model is that Hub id loads it
from the Hub and records the lineage."""

import json
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import ALICE, REPO, tiny_recipe
from pairforge.cli import cli
from pairforge.lineage import hub_base_model, local_label, public_name
from pairforge.pipeline.build import run_build
from pairforge.recipe import recipe_from_dict

DEMO = str(REPO / "pairforge" / "demo" / "sft.jsonl")


def _card(repo):
    from huggingface_hub import ModelCard

    return ModelCard.load(repo, token=ALICE)


def test_hub_base_model_policy(tiny_model, tmp_path):
    assert hub_base_model("smollm2-135m-instruct") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert hub_base_model("org/some-model") == "org/some-model"
    assert hub_base_model(tiny_model) is None  # a local folder never pushed: no base_model
    (tmp_path / "pairforge_lineage.json").write_text(json.dumps({"iteration": 1, "hub_id": "alice/it1"}))
    assert hub_base_model(str(tmp_path)) == "alice/it1"


def test_public_name_never_gives_a_path(tiny_model, tmp_path):
    label = local_label(tiny_model)
    assert label == f"{Path(tiny_model).name} (local folder, sha256 {label.rsplit(' ', 1)[1][:-1]})"
    assert public_name(tiny_model) == label and public_name(label) == label  # a label stays as it is
    assert public_name("org/pairs") == "org/pairs" and public_name("smollm2-135m-instruct") == "smollm2-135m-instruct"
    assert public_name(str(tmp_path / "gone" / "it1")) == "it1 (local folder)"  # a path no longer here
    assert public_name("./rel/it2") == "it2 (local folder)" and public_name(None) is None
    data = tmp_path / "set"
    data.mkdir()
    (data / "train.jsonl").write_text("{}\n")
    before = public_name(str(data))
    (data / "train.jsonl").write_text("{}\n{}\n")
    assert before != public_name(str(data)) and before.startswith("set (local folder, sha256 ")  # content, not path


@pytest.fixture(scope="module")
def pairs(tiny_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("lineage") / "pairs"
    run_build(recipe_from_dict(tiny_recipe(tiny_model, {"path": DEMO, "limit": 16}, out, split={"test_size": 0.0})),
              quiet=True)
    return out


def _train(pairs, model, out, repo, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", ALICE)  # the build downloads the pushed model like any Hub model
    res = CliRunner().invoke(cli, ["train-ipo", "--dataset", str(pairs), "--model", model, "--output-dir", str(out),
                                   "--set", "max_steps=2", "--set", "max_length=128", "--push-to-hub", repo,
                                   "--token", ALICE, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_pushed_model_lineage_and_build_from_its_hub_id(hub, pairs, tiny_model, tmp_path, monkeypatch):
    repo = f"alice/it1-{uuid.uuid4().hex[:6]}"
    model_dir = tmp_path / "it1"
    _train(pairs, tiny_model, model_dir, repo, monkeypatch)
    card = _card(repo)
    assert card.data.base_model is None and tiny_model not in card.text  # no local path published
    assert json.loads((model_dir / "pairforge_lineage.json").read_text())["hub_id"] == repo

    from huggingface_hub import metadata_update

    metadata_update(repo, {"license": "mit"}, token=ALICE)  # the model owner declares a license on its card
    out = tmp_path / "pairs-it1"
    s = run_build(recipe_from_dict(tiny_recipe(repo, {"path": DEMO, "limit": 8}, out)), quiet=True)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["lineage"] == s["lineage"] == {"iteration": 1, "parent_dataset": local_label(pairs),
                                                "parent_model": local_label(tiny_model), "weak_model_hub": repo,
                                                "weak_model_revision": None}
    assert local_label(pairs).startswith("pairs (local folder, sha256 ")
    assert stats["weak_model"]["name"] == repo and stats["rows_written"] > 0
    assert stats["weak_model"]["license"] == "mit"  # the Hub model's own card license, recorded for the card
    # what went to the Hub (the model's lineage file and card) and the new set's card name no local path
    from huggingface_hub import hf_hub_download

    pushed = Path(hf_hub_download(repo, "pairforge_lineage.json", token=ALICE)).read_text()
    assert json.loads(pushed)["dataset"] == local_label(pairs) and json.loads(pushed)["base_model"] == local_label(tiny_model)
    readme = (out / "README.md").read_text()
    assert f"| Parent dataset | {local_label(pairs)} |" in readme
    for text in (pushed, card.text, readme, json.dumps(stats["lineage"])):
        for path in (str(tmp_path), str(pairs), tiny_model, str(Path(tiny_model).parent)):
            assert path not in text, path

    # the next round from the local folder that was pushed names its Hub id as the base model
    repo2 = f"alice/it2-{uuid.uuid4().hex[:6]}"
    s2 = _train(out, str(model_dir), tmp_path / "it2", repo2, monkeypatch)
    assert s2["lineage"]["iteration"] == 2 and s2["lineage"]["base_model_hub"] == repo
    assert _card(repo2).data.base_model == repo
