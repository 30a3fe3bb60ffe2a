"""Small CLI behaviours: -h everywhere, inspect --json, progress in log files, the PR revision
after push --create-pr, recipe --defaults."""

import io
import json
import uuid

import datasets
import pytest
from click.testing import CliRunner

from conftest import ALICE, REPO, tiny_recipe
from pairforge.cli import cli
from pairforge.hub.push import pr_revision
from pairforge.pipeline.build import run_build
from pairforge.pipeline.progress import Progress
from pairforge.recipe import recipe_from_dict

DEMO = str(REPO / "pairforge" / "demo" / "sft.jsonl")


@pytest.fixture(scope="module")
def built(tiny_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("small") / "out"
    run_build(recipe_from_dict(tiny_recipe(tiny_model, {"path": DEMO, "limit": 12}, out, split={"test_size": 0.0})),
              quiet=True)
    return out


@pytest.mark.parametrize("command", [[], *([c] for c in ["build", "push", "inspect", "train-ipo", "recipe", "spin"])])
def test_short_help_on_every_command(command):
    assert set(cli.commands) == {"build", "push", "inspect", "train-ipo", "recipe", "spin"}
    short, long = CliRunner().invoke(cli, [*command, "-h"]), CliRunner().invoke(cli, [*command, "--help"])
    assert short.exit_code == 0 and short.output.startswith("Usage:") and short.output == long.output


def test_inspect_json(built):
    res = CliRunner().invoke(cli, ["inspect", str(built), "--json", "-n", "2"])
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)
    stats = json.loads((built / "stats.json").read_text())
    assert got["funnel"] == stats["funnel"] and got["drops"] == stats["drops"] and got["lengths"] == stats["lengths"]
    assert len(got["samples"]) == 2 and got["samples"][0]["rejected"][0]["role"] == "assistant"


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_writes_plain_lines_when_not_a_terminal():
    log = io.StringIO()
    p = Progress(total=10, quiet=False, stream=log, interval=0)
    p.batch(4, 40)
    p.batch(6, 60)
    p.close()
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("generate: 0/10 prompts sent")  # at once: a log shows that generation started
    assert "\r" not in log.getvalue() and lines[1].startswith("generate: 4/10 prompts, 40 tokens")
    assert lines[-1].startswith("generate: 10/10 prompts, 100 tokens")
    quiet = io.StringIO()
    q = Progress(total=10, quiet=True, stream=quiet, interval=0)
    q.batch(10, 5)
    q.close()
    assert quiet.getvalue() == ""
    tty = _Tty()
    t = Progress(total=10, quiet=False, stream=tty)
    t.batch(10, 5)
    t.close()
    assert "\r" in tty.getvalue() and "10/10" in tty.getvalue()  # a tqdm bar on a terminal


def test_push_create_pr_names_the_pr_revision(hub, built):
    assert pr_revision("http://hub/datasets/a/b/discussions/12") == "refs/pr/12" and pr_revision(None) is None
    repo = f"alice/small-{uuid.uuid4().hex[:6]}"
    assert CliRunner().invoke(cli, ["push", str(built), "--repo", repo, "--token", ALICE, "--revision", "v1"]).exit_code == 0
    res = CliRunner().invoke(cli, ["push", str(built), "--repo", repo, "--token", ALICE, "--create-pr"])
    assert res.exit_code == 0, res.output
    assert f"Load it: datasets.load_dataset('{repo}', revision='refs/pr/1')" in res.output
    rows = datasets.load_dataset(repo, split="train", revision="refs/pr/1", token=ALICE)
    assert rows.num_rows == json.loads((built / "stats.json").read_text())["rows_written"]


def test_recipe_defaults_is_a_valid_commented_recipe(tmp_path):
    """`pairforge recipe --defaults` is YAML with every section and help comments; with a source
    filled in it loads to exactly the default recipe."""
    import yaml

    from pairforge.recipe import Recipe, load_recipe

    res = CliRunner().invoke(cli, ["recipe", "--defaults"])
    assert res.exit_code == 0, res.output
    data = yaml.safe_load(res.output)
    assert list(data) == list(Recipe.model_fields)  # every top-level section, in order
    assert all(isinstance(data[s], dict) and data[s] for s in data)
    commented = [line for line in res.output.splitlines() if "  # " in line]
    assert len(commented) > 40 and any("Hub dataset id" in line for line in commented)
    data["source"]["path"] = DEMO
    path = tmp_path / "defaults.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    expected = Recipe()
    expected.source = expected.source.model_copy(update={"path": DEMO})
    assert load_recipe(path).to_dict() == expected.to_dict()
    commented_file = tmp_path / "commented.yaml"  # the printed text itself, comments and all
    commented_file.write_text(res.output.replace("path: null  #", f"path: {DEMO}  #", 1))
    assert load_recipe(commented_file).to_dict() == expected.to_dict()


@pytest.fixture(scope="module")
def layout_builds(tiny_model, tmp_path_factory):
    from pairforge.pipeline.output_layouts import LAYOUTS

    outs = {}
    for fmt in LAYOUTS:
        out = tmp_path_factory.mktemp(f"inspect-{fmt}") / "out"
        run_build(recipe_from_dict(tiny_recipe(tiny_model, {"path": DEMO, "limit": 4}, out, split={"test_size": 0.0},
                                               output={"format": fmt})), quiet=True)
        outs[fmt] = out
    return outs


def test_inspect_shows_the_pairs_of_every_layout(layout_builds):
    """Each layout's prompt, chosen and rejected, as the conversational build of the same data shows them."""
    import pyarrow.parquet as pq

    from pairforge.inspect_cmd import pair_texts

    def texts(fmt):
        rows = pq.read_table(str(layout_builds[fmt] / "data" / "train-00000-of-00001.parquet")).to_pylist()
        return {r["id"]: pair_texts(r) for r in rows}

    conv = texts("conversational")
    bare = {i: (p, c.removeprefix("[assistant] "), r.removeprefix("[assistant] ")) for i, (p, c, r) in conv.items()}
    assert conv and all(p.startswith("[user] ") and c.startswith("[assistant] ") for p, c, _ in conv.values())
    assert texts("messages") == conv
    assert texts("intel") == bare
    standard = texts("standard")
    assert {i: t[1:] for i, t in standard.items()} == {i: t[1:] for i, t in bare.items()}
    assert all(p.removeprefix("[user] ") in standard[i][0] for i, (p, _, _) in bare.items())  # the template applied
    for fmt, out in layout_builds.items():
        res = CliRunner().invoke(cli, ["inspect", str(out), "-n", "2"], env={"COLUMNS": "200"})
        assert res.exit_code == 0, (fmt, res.output)
        assert "Pair 2: " in res.output and ("[user]" in res.output) is (fmt != "standard"), (fmt, res.output)


def test_inspect_shows_data_text_not_rich_markup():
    from rich.console import Console

    from pairforge.inspect_cmd import render

    console = Console(width=200, record=True)
    stats = {"rows_read": 1, "funnel": [], "lengths": {}}
    row = {"id": "x[/]", "prompt": [{"role": "user", "content": "[bold]q[/]"}], "chosen": "a [/red]", "rejected": "b"}
    render(stats, [row], console)
    text = console.export_text()
    assert "[user] [bold]q[/]" in text and "a [/red]" in text and "Pair 1: x[/]" in text
