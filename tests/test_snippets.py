"""Every snippet a user copies runs as written: the README's and a pushed card's Python (TRL on each
layout, against the test Hub, with the tiny model in place of SmolLM2), and every `pairforge` command
line of the README's shell blocks parses (its options exist). The README's recipes are checked by
test_schema.py, the axolotl YAML by test_layouts.py."""

import re
import shlex
import uuid

import pytest
from click.testing import CliRunner
from huggingface_hub import DatasetCard

from conftest import ALICE, REPO
from pairforge.cli import cli
from test_layouts import LAYOUTS, builds  # noqa: F401  (the fixture: one tiny build per layout)

TRL_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"  # what the snippets train; the tiny model stands in
README = (REPO / "README.md").read_text()


def blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


def readme_section(layout: str) -> str:
    start = README.index(f"### `{layout}`")
    return README[start:README.index("\n##", start + 4)]


@pytest.fixture(scope="module")
def pushed(builds):
    """test_layouts.py's tiny build per layout, pushed to the test Hub: {layout: repo id}."""
    repos = {}
    for fmt, out in builds.items():
        repos[fmt] = f"alice/snippets-{fmt}-{uuid.uuid4().hex[:8]}"
        res = CliRunner().invoke(cli, ["push", str(out), "--repo", repos[fmt], "--token", ALICE])
        assert res.exit_code == 0, res.output
    return repos


@pytest.mark.parametrize("layout", LAYOUTS)
def test_trl_snippets_of_readme_and_card_run_as_written(layout, pushed, tiny_model, tmp_path, monkeypatch):
    repo = pushed[layout]
    (readme,) = blocks(readme_section(layout), "python")
    card = DatasetCard.load(repo, repo_type="dataset").text
    python = blocks(card, "python")
    (from_card,) = [b for b in python if "DPOTrainer" in b]
    assert from_card == readme.replace("you/my-pairs", repo)  # the card shows the README's snippet for its repo
    assert TRL_MODEL in from_card and len(python) == 2
    monkeypatch.chdir(tmp_path)  # the snippet writes out/ipo
    scope = {"__name__": "__snippet__"}
    for i, code in enumerate(python):  # in order: "Use it" (load), then the training
        exec(compile(code.replace(TRL_MODEL, tiny_model), f"card-{layout}-{i}", "exec"), scope)
    assert scope["trainer"].state.global_step > 0 and (tmp_path / "out" / "ipo").is_dir()
    for words in commands(card):  # the card's pairforge line (conversational) parses too
        parse(words)


def commands(text: str) -> list[list[str]]:
    """Every `pairforge ...` line of the bash blocks (continuations joined, comments cut)."""
    found = []
    for block in blocks(text, "bash"):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            words = words[:next((i for i, w in enumerate(words) if w in (">", "|", "&&")), len(words))]  # the shell's
            if words and words[0] == "pairforge":
                found.append(words[1:])
    return found


def parse(words: list[str]) -> None:
    """click parses the command line as `pairforge` would: an unknown option or a bad value raises."""
    sub = cli.get_command(cli.make_context("pairforge", list(words)), words[0])
    assert sub is not None, words
    sub.make_context(words[0], list(words[1:]))


def test_every_readme_command_line_parses(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out" / "demo").mkdir(parents=True)  # the folder the README's push and inspect lines name
    found = commands(README)
    assert {c[0] for c in found} >= {"build", "push", "inspect", "train-ipo", "spin", "recipe"}
    for words in found:
        parse(words)


@pytest.mark.parametrize("words", [["recipe"], ["recipe", "--defaults"], ["recipe", "--schema"]])
def test_readme_recipe_commands_run(words):
    res = CliRunner().invoke(cli, words)
    assert res.exit_code == 0 and res.output.strip(), res.output
