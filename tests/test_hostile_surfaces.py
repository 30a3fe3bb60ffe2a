"""Hostile values on the surfaces added last: YAML aliases, chat templates, a Hub dataset's
stats.json, a corrupt Parquet file whose manifest matches, the lock, spin's folder and state, and
train-ipo values TRL would refuse only after the model loaded. Each is one `Error:` line through
the real CLI, never a traceback."""

import json
import shutil
import uuid

import pytest

from conftest import ALICE, CHATML, HUB, REPO, tiny_recipe, write_recipe
from test_hostile_cli import assert_one_error, pf

DEMO = str(REPO / "pairforge" / "demo" / "sft.jsonl")
BOMB = "".join([f'a0: &a0 ["{"x" * 8}"]\n'] + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)])


@pytest.fixture(scope="module")
def built(tiny_model, tmp_path_factory):
    from pairforge.pipeline.build import run_build
    from pairforge.recipe import recipe_from_dict

    out = tmp_path_factory.mktemp("hostile-surfaces") / "out"
    run_build(recipe_from_dict(tiny_recipe(tiny_model, {"path": DEMO, "limit": 16}, out)), quiet=True)
    return out


def _recipe(tmp_path, tiny_model, **sections):
    return write_recipe(tmp_path / "r.yaml", tiny_recipe(tiny_model, {"path": DEMO, "limit": 8}, tmp_path / "o",
                                                         **sections))


def case_recipe_alias_bomb(tmp_path, tiny_model, built):
    recipe = _recipe(tmp_path, tiny_model)
    recipe.write_text(recipe.read_text() + "x_bomb:\n" + "".join(f"  {line}\n" for line in BOMB.splitlines()))
    return ["build", recipe], "alias bomb"


def case_recipe_self_referencing_alias(tmp_path, tiny_model, built):
    recipe = _recipe(tmp_path, tiny_model)
    recipe.write_text(recipe.read_text() + "x_loop: &loop [1, *loop]\n")
    return ["build", recipe], "self-referencing alias"


def case_train_config_alias_bomb(tmp_path, tiny_model, built):
    (tmp_path / "ipo.yaml").write_text(BOMB)
    return ["train-ipo", tmp_path / "ipo.yaml", "--dataset", built, "--model", tiny_model], "alias bomb"


def case_output_chat_template_any_file(tmp_path, tiny_model, built):
    (tmp_path / "notes.txt").write_text("my private notes, not a template\n")
    recipe = _recipe(tmp_path, tiny_model, output={"format": "standard", "chat_template": str(tmp_path / "notes.txt")})
    return ["build", recipe], "notes.txt is not a chat template"


def case_output_chat_template_sandbox(tmp_path, tiny_model, built):
    recipe = _recipe(tmp_path, tiny_model, output={"format": "standard",
                                                   "chat_template": "{{ messages.__class__.__mro__ }}" + CHATML})
    return ["build", recipe], "SecurityError"


def case_weak_model_chat_template_sandbox(tmp_path, tiny_model, built):
    recipe = _recipe(tmp_path, tiny_model, weak_model={"chat_template": "{{ cycler.__init__.__globals__ }}" + CHATML})
    return ["build", recipe], "SecurityError"


def _hub_dataset(built, stats: bytes) -> str:
    from huggingface_hub import CommitOperationAdd, HfApi

    repo = f"alice/odd-stats-{uuid.uuid4().hex[:8]}"
    api = HfApi(endpoint=HUB.url, token=ALICE)
    api.create_repo(repo, repo_type="dataset")
    data = next((built / "data").glob("train-*.parquet"))
    api.create_commit(repo, [CommitOperationAdd("data/train-00000-of-00001.parquet", str(data)),
                             CommitOperationAdd("stats.json", stats)], repo_type="dataset", commit_message="odd")
    return repo


def case_inspect_hub_stats_a_list(tmp_path, tiny_model, built):
    return ["inspect", _hub_dataset(built, b"[1, 2, 3]"), "--token", ALICE], "not one pairforge writes"


def case_inspect_hub_stats_missing_keys(tmp_path, tiny_model, built):
    stats = json.dumps({"rows_read": 3, "funnel": [{"stage": "x"}]}).encode()
    return ["inspect", _hub_dataset(built, stats), "--token", ALICE], "not one pairforge writes"


def case_push_dry_run_corrupt_parquet_manifest_matches(tmp_path, tiny_model, built):
    from pairforge.pipeline.publish import MANIFEST, PUBLISHED, file_entries

    copy = tmp_path / "copy"
    shutil.copytree(built, copy)
    next((copy / "data").glob("train-*.parquet")).write_bytes(b"PAR1 not really parquet PAR1")
    manifest = json.loads((copy / MANIFEST).read_text())
    (copy / MANIFEST).write_text(json.dumps({**manifest, "files": file_entries(copy, PUBLISHED)}))
    return ["push", copy, "--repo", "alice/corrupt", "--dry-run"], "not a readable Parquet file"


def case_lock_path_is_a_folder(tmp_path, tiny_model, built):
    (tmp_path / "o" / ".pairforge.lock").mkdir(parents=True)
    return ["build", _recipe(tmp_path, tiny_model)], "cannot open its lock file"


def case_spin_output_dir_is_a_file(tmp_path, tiny_model, built):
    (tmp_path / "f").write_text("x")
    return ["spin", _recipe(tmp_path, tiny_model), "--model", tiny_model, "--output-dir", tmp_path / "f"], "is a file"


def case_spin_state_not_json(tmp_path, tiny_model, built):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "spin.json").write_text('{"model": ')
    return ["spin", _recipe(tmp_path, tiny_model), "--model", tiny_model, "--output-dir", tmp_path / "s"], \
        "cannot read the loop's state"


def case_spin_state_a_list(tmp_path, tiny_model, built):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "spin.json").write_text("[1, 2]")
    return ["spin", _recipe(tmp_path, tiny_model), "--model", tiny_model, "--output-dir", tmp_path / "s"], \
        "not a pairforge spin state"


def _train(tmp_path, tiny_model, built, *sets, out=None):
    return ["train-ipo", "--dataset", built, "--model", tiny_model, "--output-dir", out or tmp_path / "ipo",
            *sum((["--set", s] for s in sets), [])]


def case_train_report_to_absent_integration(tmp_path, tiny_model, built):
    return _train(tmp_path, tiny_model, built, "report_to=wandb"), "report_to: 'wandb' is not installed"


def case_train_eval_strategy_with_nothing_to_evaluate(tmp_path, tiny_model, built):
    return _train(tmp_path, tiny_model, built, "eval_strategy=steps", "eval_steps=1", "eval_split=validation"), \
        "eval_strategy: 'steps' evaluates on the eval_split"


def case_train_missing_deepspeed_file(tmp_path, tiny_model, built):
    return _train(tmp_path, tiny_model, built, f"deepspeed={tmp_path / 'ds.json'}"), "deepspeed: no such file"


def case_train_output_dir_unwritable(tmp_path, tiny_model, built):
    (tmp_path / "f").write_text("x")
    return _train(tmp_path, tiny_model, built, out=tmp_path / "f" / "ipo"), "output_dir: cannot write"


def case_train_lora_targets_match_nothing(tmp_path, tiny_model, built):
    return _train(tmp_path, tiny_model, built, "lora.enabled=true", "lora.target_modules=q_proj,no_such_proj"), \
        "lora.target_modules: no_such_proj matches no module"


def case_csv_with_a_column_named_twice(tmp_path, tiny_model, built):
    (tmp_path / "sft.csv").write_text("prompt,response,prompt\nWhat is 2+2?,4,ignored\n")
    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe(tiny_model, {"path": str(tmp_path / "sft.csv")}, tmp_path / "o"))
    return ["build", recipe], "names column 'prompt' more than once"


CASES = [v for k, v in dict(globals()).items() if k.startswith("case_")]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__[5:] for c in CASES])
def test_hostile_value_is_one_error_line(case, tmp_path, tiny_model, built):
    args, expected = case(tmp_path, tiny_model, built)
    text = assert_one_error(pf(*args, cwd=tmp_path))
    assert expected in text, text
    assert not (tmp_path / "ipo").exists()  # train-ipo refused before it wrote anything
