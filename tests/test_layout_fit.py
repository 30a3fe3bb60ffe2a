"""Layout x source/turns combinations that cannot be written fail before any generation (build and
--dry-run alike) with one line naming the fields to change; every other combination builds."""

import json
import shutil

import pytest
from click.testing import CliRunner

from conftest import tiny_recipe
from pairforge.backends.transformers_backend import TransformersBackend
from pairforge.cli import cli
from pairforge.errors import RecipeError
from pairforge.pipeline.build import run_build
from pairforge.recipe import recipe_from_dict

# A ChatML template that refuses system turns, as Gemma's and Mistral's do
NO_SYSTEM = ("{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
             "{% endif %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
             "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")

SOURCES = {
    "alpaca": [{"instruction": f"Name a colour number {i}.", "input": "", "output": f"Blue, number {i}."}
               for i in range(6)],
    "system": [{"messages": [{"role": "system", "content": "Be brief."},
                             {"role": "user", "content": f"Say hello {i}."},
                             {"role": "assistant", "content": f"Hello {i}."}]} for i in range(6)],
    "multi": [{"messages": [{"role": "user", "content": f"Pick a number {i}."},
                            {"role": "assistant", "content": f"{i}."},
                            {"role": "user", "content": "Now double it."},
                            {"role": "assistant", "content": f"{2 * i}."}]} for i in range(6)],
}


@pytest.fixture
def generated(monkeypatch):
    """Counts the prompts the weak model is asked to answer."""
    calls = []
    real = TransformersBackend.generate

    def spy(self, prompts, *a, **kw):
        calls.append(len(prompts))
        return real(self, prompts, *a, **kw)

    monkeypatch.setattr(TransformersBackend, "generate", spy)
    return calls


def _recipe(tiny_model, tmp_path, source: str, turns: str, output: dict) -> dict:
    data = tmp_path / f"{source}.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in SOURCES[source]))
    return tiny_recipe(tiny_model, {"path": str(data), "turns": turns}, tmp_path / "out", output=output,
                       split={"test_size": 0.0})


INTEL, STANDARD_NO_SYSTEM = {"format": "intel"}, {"format": "standard", "chat_template": NO_SYSTEM}
REFUSED = [  # (source, turns, output, what the error line must say)
    ("multi", "last", INTEL, "output.format intel: row"),
    ("multi", "each", INTEL, "output.format intel: row"),
    ("system", "last", STANDARD_NO_SYSTEM, "output.format standard: row"),
]
BUILT = [
    ("multi", "last", {"format": "conversational"}), ("multi", "each", {"format": "messages"}),
    ("multi", "each", {"format": "standard"}), ("alpaca", "last", INTEL), ("system", "last", INTEL),
    ("alpaca", "last", STANDARD_NO_SYSTEM), ("multi", "each", STANDARD_NO_SYSTEM),
]


@pytest.mark.parametrize("source, turns, output, message", REFUSED)
def test_layout_that_cannot_hold_the_prompts_fails_before_generation(tiny_model, tmp_path, generated, source, turns,
                                                                      output, message):
    recipe = recipe_from_dict(_recipe(tiny_model, tmp_path, source, turns, output))
    with pytest.raises(RecipeError) as e:
        run_build(recipe, quiet=True)
    assert generated == [], "prompts were generated before the layout was found not to fit"
    assert str(e.value).startswith(message) and "output.format to conversational or messages" in str(e.value)
    assert "source row 0" in str(e.value)


@pytest.mark.parametrize("source, turns, output, message", REFUSED)
def test_dry_run_reports_it_as_one_line(tiny_model, tmp_path, generated, source, turns, output, message):
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(_recipe(tiny_model, tmp_path, source, turns, output)))
    res = CliRunner().invoke(cli, ["build", str(path), "--dry-run", "--dry-run-sample", "2", "-q"])
    lines = res.output.strip().splitlines()
    assert res.exit_code == 2 and len(lines) == 1 and lines[0].startswith(f"Error: {message}"), res.output
    assert generated == [] and not (tmp_path / "out").exists()


@pytest.mark.parametrize("source, turns, output", BUILT)
def test_every_other_combination_builds(tiny_model, tmp_path, generated, source, turns, output):
    summary = run_build(recipe_from_dict(_recipe(tiny_model, tmp_path, source, turns, output)), quiet=True)
    assert summary["rows_written"] > 0 and sum(generated) >= summary["rows_written"]


def test_standard_without_any_chat_template_fails_before_generation(tiny_model, tmp_path, generated):
    """The weak model renders with weak_model.chat_template, but its tokenizer has none for the
    standard layout's prompt column: found at plan time, not after generation."""
    from conftest import CHATML

    bare = tmp_path / "bare-model"
    shutil.copytree(tiny_model, bare)
    (bare / "chat_template.jinja").unlink(missing_ok=True)
    cfg = json.loads((bare / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (bare / "tokenizer_config.json").write_text(json.dumps(cfg))
    data = _recipe(str(bare), tmp_path, "alpaca", "last", {"format": "standard"})
    data["weak_model"]["chat_template"] = CHATML
    with pytest.raises(RecipeError, match="^output.format standard: the weak model's tokenizer has no chat template"):
        run_build(recipe_from_dict(data), quiet=True)
    assert generated == []
