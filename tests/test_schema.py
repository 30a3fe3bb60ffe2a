"""`pairforge recipe --schema`: the build recipe's JSON Schema, as an editor's YAML extension uses it.
It must agree with pairforge's own validation: the shipped recipes pass, a typo or a wrong type fails."""

import json
import re

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from conftest import REPO
from pairforge.cli import cli
from pairforge.errors import RecipeError
from pairforge.recipe import recipe_from_dict
from pairforge.shipped import EXAMPLE, shipped


@pytest.fixture(scope="module")
def validator():
    res = CliRunner().invoke(cli, ["recipe", "--schema"])
    assert res.exit_code == 0, res.output
    schema = json.loads(res.output)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def readme_recipes() -> list[dict]:
    """The README's YAML blocks that are build recipes (they have a `source:` section)."""
    blocks = re.findall(r"```yaml\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    return [d for d in map(yaml.safe_load, blocks) if isinstance(d, dict) and "source" in d]


def test_shipped_and_documented_recipes_pass_the_schema(validator):
    recipes = [yaml.safe_load(shipped("build", "demo").read_text()), yaml.safe_load(EXAMPLE.read_text()),
               *readme_recipes()]
    assert len(recipes) >= 3
    for data in recipes:
        assert list(validator.iter_errors(data)) == [], data
        recipe_from_dict(data)  # and pairforge itself takes them


@pytest.mark.parametrize("edit, field", [
    (lambda d: d["source"].update(shufle=True), "shufle"),  # a typo
    (lambda d: d["weak_model"]["sampling"].update(temperature="hot"), "temperature"),
    (lambda d: d["output"].update(format="jsonl"), "format"),
    (lambda d: d["split"].update(test_size=2), "test_size"),
    (lambda d: d["weak_model"].update(device="gpu"), "device"),
    (lambda d: d.update(sourcee={"path": "x"}), "sourcee"),
])
def test_a_typo_or_a_wrong_value_fails_the_schema_and_pairforge_alike(validator, edit, field):
    data = yaml.safe_load(EXAMPLE.read_text())
    edit(data)
    errors = list(validator.iter_errors(data))
    assert errors and any(field in (str(e.path) + e.message) for e in errors), errors
    with pytest.raises(RecipeError, match=field):
        recipe_from_dict(data)


def test_the_schema_carries_defaults_and_help(validator):
    props = validator.schema["$defs"]["Sampling"]["properties"]
    assert props["temperature"]["default"] == 0.8 and props["temperature"]["minimum"] == 0
    source = validator.schema["$defs"]["Source"]["properties"]
    assert "Hub dataset id" in source["hub"]["description"]
    assert source["format"]["enum"] == ["auto", "plain", "alpaca", "sharegpt", "messages"]
    assert validator.schema["additionalProperties"] is False
