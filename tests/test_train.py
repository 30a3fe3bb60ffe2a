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
    trained = train(["--dataset", repo, "--model", tiny_model, "--output-dir", str(model_dir), "--set", "max_steps=2",
           "--set", "max_length=128", "--push-to-hub", "alice/ipo-model-it1"])
    from huggingface_hub import HfApi

    commit = HfApi(token=ALICE).dataset_info(repo).sha  # the lineage names the commit trained on, not a branch
    assert trained["lineage"]["dataset_revision"] == commit and len(commit) == 40
    out = tmp_path / "pairs-it1"
    s = run_build(recipe_from_dict(tiny_recipe(str(model_dir), {"path": DEMO, "limit": 8}, out)), quiet=True)
    from pairforge.lineage import local_label

    # local folders are named by folder name + content digest, never by path (they are published)
    assert s["lineage"] == {"iteration": 1, "parent_dataset": repo, "parent_model": local_label(tiny_model),
                            "weak_model": local_label(str(model_dir))}
    assert str(tmp_path) not in json.dumps(s["lineage"])
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
    args = dpo_config(cfg, use_cpu=True, bf16=False, precompute=True)
    assert args.learning_rate == 1e-4 and args.loss_type == ["ipo"] and args.output_dir == "2024"


@pytest.mark.parametrize("sets, message", [
    (["no_such_trl_field=3"], "Error: no_such_trl_field: unknown key"),
    (["learning_rate=fast"], "Error: learning_rate: must be a number, got 'fast'"),
    (["optim=sgd_but_wrong"], "Error: optim: must be"),
    (["loss_type=sigmoid"], "Error: loss_type: ['sigmoid'] is not IPO"),
    # values DPOConfig accepts and TRL refuses only mid-run, with a traceback
    (["max_length=0"], "Error: max_length: must be > 0, got 0"),
    (["per_device_train_batch_size=0"], "Error: per_device_train_batch_size: must be > 0"),
    (["per_device_eval_batch_size=-1"], "Error: per_device_eval_batch_size: must be > 0"),
    (["gradient_accumulation_steps=0"], "Error: gradient_accumulation_steps: must be > 0"),
    (["seed=99999999999999999999999"], "Error: seed: must be between 0 and 4294967295"),
    (["seed=-1"], "Error: seed: must be between 0 and 4294967295"),
    (["data_seed=4294967296"], "Error: data_seed: must be between 0 and 4294967295"),
    (["num_train_epochs=0"], "Error: num_train_epochs: must be > 0"),
    (["max_steps=-5"], "Error: max_steps: must be -1"),
    (["adam_beta1=1"], "Error: adam_beta1: must be < 1"),
    (["dataloader_num_workers=-1"], "Error: dataloader_num_workers: must be ≥ 0"),
    ([f"learning_rate=1{'0' * 400}"], "Error: learning_rate: must be a finite number"),
    (["ddp_timeout=99999999999999999999"], "Error: ddp_timeout: must be ≤ 9223372036854775807"),
    # DPOConfig's own __post_init__ errors name the field
    (["torch_empty_cache_steps=0"], "Error: torch_empty_cache_steps: "),
    (["dataloader_prefetch_factor=2"], "Error: dataloader_prefetch_factor: "),
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


@pytest.mark.parametrize("args, message", [
    (["--set", "push_to_hub=true"], "push_to_hub: takes the Hub model repo id"),
    (["--set", "push_to_hub=yes"], "push_to_hub: takes the Hub model repo id"),  # YAML 1.1 reads yes as true
    (["--push-to-hub", "false"], "push_to_hub: takes the Hub model repo id"),
    (["--push-to-hub", "bad id!"], "push_to_hub: 'bad id!' is not a valid Hub repo id"),
])
def test_push_to_hub_takes_a_repo_id(args, message, tmp_path):
    res = CliRunner().invoke(cli, ["train-ipo", "--dataset", str(tmp_path), "--model", "x", *args])
    lines = res.output.strip().splitlines()
    assert res.exit_code == 2 and len(lines) == 1 and lines[0].startswith(f"Error: {message}"), res.output


@pytest.mark.parametrize("sets, expected", [
    ([], True),  # full fine-tuning: the reference is a second model, precomputing frees it from the steps
    (["lora.enabled=true"], False),  # LoRA: the reference is the adapter-off base model, nothing to save
    (["lora.enabled=true", "precompute_ref_log_probs=true"], True),  # the user's value wins
    (["precompute_ref_log_probs=false"], False),
])
def test_precompute_ref_log_probs_resolution(sets, expected, tmp_path):
    from pairforge.train.config import DPO_DEFAULTS, dpo_config, load_train_config
    from pairforge.train.ipo import precompute_ref

    assert DPO_DEFAULTS["precompute_ref_log_probs"] is None  # decided at run time
    cfg = load_train_config(None, sets, dataset=str(tmp_path), model="m")
    assert precompute_ref(cfg) is expected
    assert dpo_config(cfg, True, False, precompute_ref(cfg)).precompute_ref_log_probs is expected


def test_manifest_checked_without_stats_or_work(pushed, tmp_path):
    """A folder with pairforge.manifest.json is a build, checked, even without stats.json or _work."""
    import shutil

    from pairforge.errors import PairforgeError
    from pairforge.train.ipo import load_preference_dataset

    copy = tmp_path / "copy"
    shutil.copytree(pushed[1], copy, ignore=shutil.ignore_patterns(".pairforge_work", "stats.json"))
    with pytest.raises(PairforgeError, match="stats.json is missing"):
        load_preference_dataset(str(copy))


def _fake_run(tmp_path, tiny_model, out):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from pairforge.train.config import load_train_config

    cfg = load_train_config(None, [], dataset=str(tmp_path), model=tiny_model, output_dir=str(out))
    summary = {"lineage": {"iteration": 1}, "preference_before": None, "preference_after": None, "eval_pairs": 0}
    return AutoModelForCausalLM.from_pretrained(tiny_model), AutoTokenizer.from_pretrained(tiny_model), cfg, summary


def test_save_interrupted_leaves_no_half_model(tiny_model, tmp_path, monkeypatch):
    import pairforge.train.ipo as ipo
    from pairforge.errors import PairforgeError
    from pairforge.weights import resolve_model

    out = tmp_path / "runs" / "ipo"
    model, tok, cfg, summary = _fake_run(tmp_path, tiny_model, out)
    real = ipo.write_model_lineage

    def killed(*a, **kw):  # after the weights are written, before the run's files are
        raise KeyboardInterrupt("killed while saving")

    monkeypatch.setattr(ipo, "write_model_lineage", killed)
    with pytest.raises(KeyboardInterrupt):
        ipo._save(model, tok, [], dict(summary), cfg)
    assert not out.exists() and list(out.parent.iterdir()) == []  # no half folder, no staging left
    with pytest.raises(PairforgeError):
        resolve_model(str(out))
    monkeypatch.setattr(ipo, "write_model_lineage", real)
    ipo._save(model, tok, [{"run": 1}], dict(summary), cfg)  # an earlier complete run
    (out / "stale.txt").write_text("from run 1")
    monkeypatch.setattr(ipo, "write_model_lineage", killed)
    with pytest.raises(KeyboardInterrupt):
        ipo._save(model, tok, [{"run": 2}], dict(summary), cfg)
    assert json.loads((out / "log_history.json").read_text()) == [{"run": 1}]  # the earlier run, untouched
    assert resolve_model(str(out)).path == str(out) and list(out.parent.iterdir()) == [out]
    monkeypatch.setattr(ipo, "write_model_lineage", real)
    ipo._save(model, tok, [{"run": 3}], dict(summary), cfg)  # complete: replaces the earlier run whole
    assert json.loads((out / "log_history.json").read_text()) == [{"run": 3}] and not (out / "stale.txt").exists()
    assert (out / "train_summary.json").is_file() and list(out.parent.iterdir()) == [out]
    # the final rename fails (after the earlier run stepped aside): the earlier run goes back, one error line
    real_replace, calls = ipo.os.replace, []

    def second_fails(src, dst):
        calls.append(src)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(ipo.os, "replace", second_fails)
    with pytest.raises(PairforgeError, match="cannot move the trained model into"):
        ipo._save(model, tok, [{"run": 4}], dict(summary), cfg)
    monkeypatch.setattr(ipo.os, "replace", real_replace)
    assert json.loads((out / "log_history.json").read_text()) == [{"run": 3}] and list(out.parent.iterdir()) == [out]


def test_output_dir_that_is_not_a_run_is_refused(tmp_path):
    from pairforge.errors import PairforgeError
    from pairforge.train.ipo import check_output_dir

    mine = tmp_path / "mine"
    mine.mkdir()
    check_output_dir(mine)  # empty: fine
    (mine / "notes.txt").write_text("not a model")
    with pytest.raises(PairforgeError, match="not an earlier train-ipo result"):
        check_output_dir(mine)
    (mine / "train_summary.json").write_text("{}")
    check_output_dir(mine)


def test_dpoconfig_error_blames_the_field_it_does_not_name(tmp_path, monkeypatch):
    """A DPOConfig error that names no field is put on the one set value DPOConfig refuses."""
    import trl

    from pairforge.train import config as tc

    real = trl.DPOConfig

    def picky(**kw):
        if kw.get("warmup_steps") == 7:
            raise ValueError("this value is not supported")
        return real(**kw)

    cfg = tc.load_train_config(None, ["warmup_steps=7", "weight_decay=0.5"], dataset=str(tmp_path), model="m")
    monkeypatch.setattr(trl, "DPOConfig", picky)
    with pytest.raises(tc.RecipeError, match=r"^warmup_steps: this value is not supported$"):
        tc.dpo_config(cfg, use_cpu=True, bf16=False, precompute=False)


def test_layout_without_prompt_names_the_fix():
    from pairforge.errors import PairforgeError
    from pairforge.train.ipo import _check_layout

    with pytest.raises(PairforgeError) as e:
        _check_layout("out/x", {"system", "question", "chosen", "rejected"})
    assert "in the 'intel' layout" in str(e.value) and "output.format: conversational" in str(e.value)
    assert "build it with pairforge build" not in str(e.value)
    _check_layout("out/x", {"prompt", "chosen", "rejected", "id"})  # the conversational / standard layout
    with pytest.raises(PairforgeError, match="lacks rejected"):
        _check_layout("out/x", {"prompt", "chosen"})
    with pytest.raises(PairforgeError, match="lacks train split"):
        _check_layout("out/x", None)


def test_messages_layout_trains_with_chosen_and_rejected_in_place(pushed, tiny_model, tmp_path):
    """The messages layout (whole conversations, as `trl dpo` reads them): train-ipo takes the shared
    prompt out as TRL does, so it sees exactly the conversational build's pairs, and trains towards chosen."""
    from pairforge.train.ipo import load_preference_dataset

    out = tmp_path / "messages"
    run_build(recipe_from_dict(tiny_recipe(tiny_model, {"path": DEMO}, out, split={"test_size": 0.2},
                                           output={"format": "messages"})), quiet=True)
    conversational, _, _ = load_preference_dataset(str(pushed[1]))
    messages, _, _ = load_preference_dataset(str(out))
    for split in ("train", "test"):
        want = {r["id"]: (r["prompt"], r["chosen"], r["rejected"]) for r in conversational[split]}
        got = {r["id"]: (r["prompt"], r["chosen"], r["rejected"]) for r in messages[split]}
        assert got == want and len(got) > 4
    model = tmp_path / "model"
    sets = ["max_steps=30", "learning_rate=0.002", "per_device_train_batch_size=4", "max_length=256", "beta=0.1",
            "lora.enabled=false"]
    s = train([str(REPO / "recipes" / "ipo.yaml"), "--dataset", str(out), "--model", tiny_model,
               "--output-dir", str(model), *sum((["--set", x] for x in sets), [])])
    assert s["steps"] == 30 and s["train_pairs"] == messages["train"].num_rows
    # swapped pairs would teach the rejected answers: the held-out implicit reward would prefer them
    assert s["preference_after"]["reward_accuracy"] >= 0.8 and s["preference_after"]["reward_margin_mean"] > 0


def test_rows_that_are_no_conversations_are_one_line(tmp_path):
    import datasets

    from pairforge.errors import PairforgeError
    from pairforge.train.ipo import _extract_prompt

    dd = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"chosen": [[]], "rejected": [[]]})})
    with pytest.raises(PairforgeError, match="the shared prompt cannot be taken out"):
        _extract_prompt("x", dd)


def test_a_run_killed_while_saving_leaves_nothing_for_the_next(tmp_path):
    """A kill between the save's steps leaves a partial copy (and maybe the earlier run stepped aside)
    beside output_dir; the next run's check removes the copy and puts the earlier run back."""
    from pairforge.train.ipo import check_output_dir

    out = tmp_path / "model"
    partial, aside = tmp_path / ".model.partial-abc123", tmp_path / ".model.replaced-abc123"
    for folder, name in ((partial, "model.safetensors"), (aside, "train_summary.json")):
        folder.mkdir()
        (folder / name).write_text("x")
    (tmp_path / ".other.partial-1").mkdir()  # another output's: not ours to touch
    check_output_dir(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.partial-1", "model"]
    assert (out / "train_summary.json").read_text() == "x"  # the earlier run is back
