"""`pairforge build --dry-run`: the pre-generation funnel, what would be sent, tokens and a time
estimate, with nothing written."""

import json

from click.testing import CliRunner

from conftest import REPO, tiny_recipe, write_recipe
from pairforge.cli import cli
from pairforge.pipeline.build import run_build
from pairforge.pipeline.dry_run import run_dry_run
from pairforge.recipe import recipe_from_dict

DEMO = str(REPO / "pairforge" / "demo" / "sft.jsonl")


def _recipe(model, out, **weak):
    return tiny_recipe(model, {"path": DEMO}, out, weak_model=weak,
                       filters={"lengths": {"chosen": {"min_chars": 60}}})


def test_dry_run_counts_match_the_real_build_and_write_nothing(tiny_model, tmp_path):
    out = tmp_path / "dry" / "out"
    data = _recipe(tiny_model, out, max_prompt_tokens=40)
    report = run_dry_run(recipe_from_dict(data), sample=3, quiet=True)
    assert not out.exists() and not out.parent.exists()
    built = run_build(recipe_from_dict({**data, "output": {"dir": str(tmp_path / "real")}}), quiet=True)
    stages = [f["stage"] for f in built["funnel"]]
    pre = stages[: stages.index("generate")]
    assert report["funnel"] == built["funnel"][: len(pre)] and len(pre) >= 4
    assert report["rows_read"] == built["rows_read"] == 45
    assert report["drops"] == {k: v for k, v in built["drops"].items() if k in pre}
    assert sum(report["drops"].get(pre[1], {}).values())  # the chosen-length bound dropped rows before generation
    assert report["not_sent"]["prompt_too_long"] == built["drops"]["generate"]["prompt_too_long"] > 0
    assert report["prompts_to_send"] == built["generation"]["prompts_sent"]
    assert report["max_tokens_to_generate"] == report["prompts_to_send"] * 1 * 12
    assert report["prompt_tokens"] > report["prompts_to_send"]  # real counts from the chat template
    sample = report["estimate"]["sample"]
    assert sample["prompts"] == 3 and 0 < sample["tokens"] <= 3 * 12
    assert report["estimate"]["seconds"] > 0 and report["estimate"]["seconds_upper_bound"] > 0


def test_cli_dry_run_json_and_no_sample(tiny_model, tmp_path):
    out = tmp_path / "out"
    recipe = write_recipe(tmp_path / "r.yaml", _recipe(tiny_model, out))
    res = CliRunner().invoke(cli, ["build", str(recipe), "--dry-run", "--no-estimate", "--json", "-q"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["dry_run"] is True and report["estimate"] is None
    assert report["prompts_to_send"] == report["funnel"][-1]["rows"] > 0
    assert not out.exists()
    text = CliRunner().invoke(cli, ["build", str(recipe), "--dry-run", "--dry-run-sample", "2", "-q"])
    assert text.exit_code == 0, text.output
    assert "nothing written" in text.stdout and "Generation estimate: ~" in text.stdout
    assert f"Prompts to send: {report['prompts_to_send']}" in text.stdout
    assert not out.exists()
