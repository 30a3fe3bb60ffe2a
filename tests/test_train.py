"""train-ipo: a tiny random model trained ~30 IPO steps on a set built by pairforge, pushed to
the local Hub and loaded back by repo id. Loss falls and reward margins rise."""

import json
import uuid

import pytest
from click.testing import CliRunner

from conftest import ALICE, REPO, tiny_recipe
from pairforge.pipeline.build import run_build
from pairforge.cli import cli
from pairforge.recipe import recipe_from_dict

DEMO = str(REPO / "pairforge" / "demo" / "sft.jsonl")


@pytest.fixture(scope="module")
def pushed(tiny_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "pairs"
    run_build(recipe_from_dict(tiny_recipe(tiny_model, {"path": DEMO}, out, split={"test_size": 0.2})), quiet=True)
    repo = f"alice/ipo-{uuid.uuid4().hex[:6]}"
    res = CliRunner().invoke(cli, ["push", str(out), "--repo", repo, "--token", ALICE])
    assert res.exit_code == 0, res.output
    return repo, out


def train(args):
    res = CliRunner().invoke(cli, ["train-ipo", *args, "--token", ALICE, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def early_late(history, key):
    vals = [h[key] for h in history if key in h]
    assert len(vals) >= 20, history
    return sum(vals[:5]) / 5, sum(vals[-5:]) / 5


@pytest.mark.parametrize("lora", [False, True])
def test_ipo_loss_falls_and_margins_rise(hub, pushed, tiny_model, tmp_path, lora):
    repo, _ = pushed
    out = tmp_path / "model"
    sets = ["max_steps=30", "learning_rate=0.01" if lora else "learning_rate=0.002", "per_device_train_batch_size=4",
            "max_length=256", "beta=0.1", f"lora.enabled={str(lora).lower()}", "lora.r=8", "lora.lora_alpha=16"]
    s = train([str(REPO / "recipes" / "ipo.yaml"), "--dataset", repo, "--model", tiny_model,
               "--output-dir", str(out), *sum((["--set", x] for x in sets), [])])
    assert s["steps"] == 30 and s["dataset"] == repo
    history = json.loads((out / "log_history.json").read_text())
    loss0, loss1 = early_late(history, "loss")
    m0, m1 = early_late(history, "rewards/margins")
    assert loss1 < 0.9 * loss0, (loss0, loss1)
    assert m1 > m0 and m1 > 0, (m0, m1)
    # held-out preference accuracy, before and after
    pe = json.loads((out / "preference_eval.json").read_text())
    assert pe["before"]["reward_margin_mean"] == 0 and pe["after"]["reward_margin_mean"] > 0
    assert pe["after"]["reward_accuracy"] >= 0.8
    assert pe["after"]["logp_accuracy"] >= pe["before"]["logp_accuracy"]
    # the result is a plain model folder (LoRA merged) with its lineage
    assert (out / "config.json").is_file() and not (out / "adapter_config.json").exists()
    assert json.loads((out / "pairforge_lineage.json").read_text())["iteration"] == 1


def test_spin_iteration_lineage_in_the_card(hub, pushed, tiny_model, tmp_path):
    repo, _ = pushed
    model_dir = tmp_path / "it1"
    train(["--dataset", repo, "--model", tiny_model, "--output-dir", str(model_dir), "--set", "max_steps=2",
           "--set", "max_length=128", "--push-to-hub", "alice/ipo-model-it1"])
    out = tmp_path / "pairs-it1"
    s = run_build(recipe_from_dict(tiny_recipe(str(model_dir), {"path": DEMO, "limit": 8}, out)), quiet=True)
    assert s["lineage"] == {"iteration": 1, "parent_dataset": repo, "parent_model": tiny_model,
                            "weak_model_dir": str(model_dir)}
    card = (out / "README.md").read_text()
    assert "self-play iteration 1" in card.lower() and repo in card
    # the pushed model links the dataset
    from huggingface_hub import ModelCard

    mc = ModelCard.load("alice/ipo-model-it1", token=ALICE)
    assert mc.data.datasets == [repo] and "ipo" in mc.data.tags


@pytest.mark.parametrize("sets, message", [
    (["loss_type=ipoo"], "loss_type: unknown loss 'ipoo'"),
    (["beta=0"], "beta: must be > 0"),
    (["max_steps=0"], "max_steps: must be -1"),
    (["nonsense=1"], "nonsense: unknown key"),
])
def test_config_errors(sets, message, tmp_path):
    res = CliRunner().invoke(cli, ["train-ipo", "--dataset", str(tmp_path), "--model", "x",
                                   *sum((["--set", x] for x in sets), [])])
    assert res.exit_code == 2 and message in res.output


def test_missing_dataset_is_a_clean_error(tiny_model, tmp_path):
    res = CliRunner().invoke(cli, ["train-ipo", "--dataset", str(tmp_path / "nope"), "--model", tiny_model])
    assert res.exit_code == 1 and "dataset: cannot load" in res.output


def test_any_dpoconfig_field_typed_by_dpoconfig(pushed, tiny_model, tmp_path):
    """`--set learning_rate=1e-4` is a float (YAML 1.1 reads it as a string), `optim` is a
    DPOConfig field pairforge never listed: both reach TRL and the run trains."""
    _, folder = pushed
    out = tmp_path / "m"
    s = train(["--dataset", str(folder), "--model", tiny_model, "--output-dir", str(out), "--set", "max_steps=2",
               "--set", "learning_rate=1e-4", "--set", "optim=adamw_torch", "--set", "max_length=128",
               "--set", "weight_decay=0.01"])
    assert s["steps"] == 2
    assert s["config"]["learning_rate"] == 1e-4 and s["config"]["optim"] == "adamw_torch"
    assert s["config"]["weight_decay"] == 0.01


def test_dpoconfig_values_are_typed_and_checked(tmp_path):
    from pairforge.train.config import dpo_config, load_train_config

    cfg = load_train_config(None, ["learning_rate=1e-4", "optim=adamw_torch", "output_dir=2024",
                                   "report_to=none", "max_steps=5", "gradient_checkpointing=true"],
                            dataset=str(tmp_path), model="m")
    assert cfg.learning_rate == 1e-4 and isinstance(cfg.learning_rate, float)
    assert cfg.output_dir == "2024" and cfg.optim == "adamw_torch" and cfg.gradient_checkpointing is True
    args = dpo_config(cfg, use_cpu=True, bf16=False)
    assert args.learning_rate == 1e-4 and args.loss_type == ["ipo"] and args.output_dir == "2024"


@pytest.mark.parametrize("sets, message", [
    (["no_such_trl_field=3"], "Error: no_such_trl_field: unknown key"),
    (["learning_rate=fast"], "Error: learning_rate: must be a number, got 'fast'"),
    (["optim=sgd_but_wrong"], "Error: optim: must be"),
    (["loss_type=sigmoid"], "Error: loss_type: ['sigmoid'] is not IPO"),
])
def test_bad_dpoconfig_keys_are_one_line_errors(sets, message, tmp_path):
    res = CliRunner().invoke(cli, ["train-ipo", "--dataset", str(tmp_path), "--model", "x",
                                   *sum((["--set", x] for x in sets), [])])
    lines = res.output.strip().splitlines()
    assert res.exit_code == 2 and len(lines) == 1 and lines[0].startswith(message), res.output


def test_another_loss_needs_an_explicit_opt_in(tmp_path):
    from pairforge.train.config import load_train_config

    cfg = load_train_config(None, ["loss_type=sigmoid", "allow_other_loss=true"], dataset=str(tmp_path), model="m")
    assert cfg.loss_type == ["sigmoid"]
