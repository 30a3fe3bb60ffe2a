import pytest
from click.testing import CliRunner

from pairforge.cli import cli
from pairforge.errors import RecipeError
from pairforge.recipe import demo_recipe_path, fingerprint, load_recipe, recipe_from_dict

SRC = {"source": {"path": "data.jsonl"}}


def test_defaults_and_demo_recipe_validate():
    r = load_recipe(None)
    assert r.weak_model.model == "smollm2-135m-instruct"
    assert r.resolve_path(r.source.path).is_file()
    # recipes/demo.yaml is the same file as the built-in default
    from pathlib import Path

    repo_demo = Path(__file__).resolve().parent.parent / "recipes" / "demo.yaml"
    assert load_recipe(repo_demo).to_dict() == r.to_dict()
    assert repo_demo.resolve() == demo_recipe_path().resolve()


@pytest.mark.parametrize("override, message", [
    ("weak_model.sampling.temperature=-1", "weak_model.sampling.temperature: must be ≥ 0, got -1"),
    ("weak_model.sampling.top_p=0", "weak_model.sampling.top_p: must be > 0 and ≤ 1"),
    ("weak_model.sampling.n=two", "weak_model.sampling.n: must be an integer, got 'two'"),
    ("weak_model.sampling.colour=red", "weak_model.sampling.colour: unknown key"),
    ("sourcee.path=x", "sourcee: unknown key"),
    ("split.test_size=2", "split.test_size: must be between 0 and 0.9"),
    ("output.format=jsonl", "output.format: must be one of 'conversational', 'standard'"),
    ("source.shuffle=maybe", "source.shuffle: must be true or false"),
    ("weak_model=3", "weak_model: must be a mapping"),
    # NaN passes every < / <= check and inf overflows budgets: both are refused wherever a number goes
    ("weak_model.sampling.temperature=nan", "weak_model.sampling.temperature: must be a finite number, got nan"),
    ("weak_model.sampling.temperature=.inf", "weak_model.sampling.temperature: must be a finite number, got inf"),
    ("weak_model.sampling.top_p=.nan", "weak_model.sampling.top_p: must be a finite number"),
    ("weak_model.sampling.auto_factor=nan", "weak_model.sampling.auto_factor: must be a finite number"),
    ("split.test_size=-inf", "split.test_size: must be a finite number"),
])
def test_errors_name_the_field(override, message):
    with pytest.raises(RecipeError) as e:
        recipe_from_dict(SRC, [override])
    assert message in str(e.value)


def test_source_needs_exactly_one_of_path_and_hub():
    with pytest.raises(RecipeError, match="set source.path"):
        recipe_from_dict({})
    with pytest.raises(RecipeError, match="not both"):
        recipe_from_dict({"source": {"path": "a.json", "hub": "org/x"}})


def test_overrides_parse_yaml_values_and_create_sections():
    r = recipe_from_dict(SRC, ["weak_model.sampling.temperature=0.3", "source.limit=5", "source.shuffle=true",
                               "output.dir=elsewhere", "weak_model.sampling.n=2"])
    assert r.weak_model.sampling.temperature == 0.3
    assert r.source.limit == 5 and r.source.shuffle is True
    assert r.output.dir == "elsewhere" and r.weak_model.sampling.n == 2
    with pytest.raises(RecipeError, match="expected KEY=VALUE"):
        recipe_from_dict(SRC, ["weak_model.sampling.temperature"])


def test_fingerprint_tracks_output_relevant_fields_only():
    base = recipe_from_dict(SRC)
    fp = fingerprint(base, "data1", "model1")
    assert fingerprint(recipe_from_dict(SRC, ["output.dir=other"]), "data1", "model1") == fp
    assert fingerprint(recipe_from_dict(SRC, ["weak_model.device=cpu"]), "data1", "model1") == fp
    assert fingerprint(recipe_from_dict(SRC, ["weak_model.sampling.seed=1"]), "data1", "model1") != fp
    assert fingerprint(base, "data2", "model1") != fp
    assert fingerprint(base, "data1", "model2") != fp


def test_cli_recipe_errors_exit_2_with_one_line(tmp_path):
    bad = tmp_path / "r.yaml"
    bad.write_text("source: {path: x.jsonl}\nweak_model: {sampling: {temperature: -0.5}}\n")
    res = CliRunner().invoke(cli, ["build", str(bad)])
    assert res.exit_code == 2
    assert res.output.strip() == "Error: weak_model.sampling.temperature: must be ≥ 0, got -0.5"
    res = CliRunner().invoke(cli, ["build", str(bad), "--set", "weak_model.sampling.temperature=0.5",
                                   "--set", "nope=1"])
    assert res.exit_code == 2 and "nope: unknown key" in res.output
    bad.write_text("source: [unclosed\n")
    res = CliRunner().invoke(cli, ["build", str(bad)])
    assert res.exit_code == 2 and "not valid YAML" in res.output and "Traceback" not in res.output


@pytest.mark.parametrize("override", ["learning_rate=nan", "beta=inf", "max_grad_norm=-.inf"])
def test_train_config_refuses_non_finite_numbers(override):
    from pairforge.train.config import load_train_config

    with pytest.raises(RecipeError, match=f"{override.split('=')[0]}: must be a finite number"):
        load_train_config(None, [override])
