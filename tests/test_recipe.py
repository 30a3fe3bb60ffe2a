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
    # a huge integer: no OverflowError from float() or numpy later, one line naming the field
    (f"source.limit=1{'0' * 400}", "source.limit: must be ≤ 9223372036854775807, got 1000"),
    (f"weak_model.sampling.temperature=1{'0' * 400}", "weak_model.sampling.temperature: must be a finite number"),
    (f"split.test_size=1{'0' * 400}", "split.test_size: must be a finite number"),
    (f"weak_model.sampling.max_tokens=1{'0' * 400}", "weak_model.sampling.max_tokens: must be ≤ 9223372036854775807"),
    (f"weak_model.batch_size={'7' * 5000}", "weak_model.batch_size: must be between -9223372036854775808 and "
                                            "9223372036854775807, got a 5000-digit number"),
    ("dedupe.near.seed=99999999999999999999", "dedupe.near.seed: must be between 0 and 4294967295"),
    ("source.seed=4294967296", "source.seed: must be between 0 and 4294967295, got 4294967296"),
    ("weak_model.sampling.seed=-1", "weak_model.sampling.seed: must be between 0 and 4294967295"),
    ("split.seed=4294967296", "split.seed: must be between 0 and 4294967295"),
    ("judge.seed=-3", "judge.seed: must be between 0 and 4294967295"),
    # values that used to crash later (socket.settimeout, torch.device, numpy allocations)
    ("weak_model.openai.timeout_s=1e300", "weak_model.openai.timeout_s: must be > 0 and ≤ 86400, got 1e+300"),
    ("weak_model.openai.timeout_s=0", "weak_model.openai.timeout_s: must be > 0 and ≤ 86400"),
    ("weak_model.openai.concurrency=100000", "weak_model.openai.concurrency: must be between 1 and 1024"),
    ("weak_model.openai.max_retries=1000000", "weak_model.openai.max_retries: must be between 0 and 100"),
    ("weak_model.openai.backoff_s=1e300", "weak_model.openai.backoff_s: must be between 0 and 60"),
    ("weak_model.device=banana", "weak_model.device: must be one of auto, cpu, cuda, cuda:N (N a GPU index) or mps, "
                                 "got 'banana'"),
    ("weak_model.device=cuda:x", "weak_model.device: must be one of auto, cpu, cuda, cuda:N"),
    ("judge.device=gpu", "judge.device: must be one of auto, cpu, cuda, cuda:N"),
    ("judge.llm.device=banana", "judge.llm.device: must be one of auto, cpu, cuda, cuda:N"),
    ("dedupe.near.num_perm=100000000", "dedupe.near.num_perm: must be between 1 and 4096"),
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


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:0", "cuda:12", "mps"])
def test_device_forms_accepted(device):
    r = recipe_from_dict(SRC, [f"weak_model.device={device}", f"judge.device={device}"])
    assert r.weak_model.device == device and r.judge.device == device


def test_seed_bounds_are_inclusive():
    r = recipe_from_dict(SRC, ["source.seed=4294967295", "dedupe.near.seed=0", "split.seed=4294967295"])
    assert r.source.seed == 2**32 - 1 and r.dedupe.near.seed == 0 and r.split.seed == 2**32 - 1


def test_huge_numbers_in_a_file_and_on_the_cli_are_one_short_line(tmp_path):
    bad = tmp_path / "r.yaml"
    bad.write_text(f"source: {{path: x.jsonl, limit: {'9' * 5000}}}\n")  # over int()'s 4300 digits: a ValueError
    res = CliRunner().invoke(cli, ["build", str(bad)])
    assert res.exit_code == 2 and res.output.startswith(f"Error: {bad}: not valid YAML"), res.output
    assert "Traceback" not in res.output and len(res.output) < 300
    bad.write_text("source: {path: x.jsonl}\n")
    res = CliRunner().invoke(cli, ["build", str(bad), "--set", f"weak_model.sampling.temperature=1{'0' * 400}"])
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1 and len(res.output) < 200, res.output
    assert res.output.startswith("Error: weak_model.sampling.temperature: must be a finite number")
    res = CliRunner().invoke(cli, ["build", str(bad), "--set", f"{'k' * 5000}=1"])
    assert res.exit_code == 2 and "unknown key" in res.output and len(res.output) < 400, res.output


@pytest.mark.parametrize("text, expect", [
    ("source: {path: x.jsonl, limit: 10}\nsource: {path: y.jsonl}\n", "line 2: key 'source' is given twice in one mapping (first on line 1)"),
    ("source: {path: x.jsonl, limit: 1, limit: 2}\n", "key 'limit' is given twice"),
    ("source: {path: x.jsonl, limit: 2001-12-14}\n", "source.limit: must be an integer"),
    ("source: {path: !!binary aGVsbG8=}\n", "!!binary values are not read"),
    ("source: {path: x.jsonl}\nextra: " + "[" * 5000 + "]" * 5000 + "\n", "nested more than 64 levels deep"),
    ("source: {path: x.jsonl}\nextra: " + "{a: " * 100 + "1" + "}" * 100 + "\n", "nested more than 64 levels deep"),
    ('source: {path: "x\\0.jsonl"}\n', "source.path: contains a NUL character"),
    ('source: {path: x.jsonl}\noutput: {dir: "o\\0x"}\n', "output.dir: contains a NUL character"),
])
def test_hostile_yaml_is_one_error_line(tmp_path, text, expect):
    """Repeated keys (PyYAML keeps the last silently), dates and !!binary (they crashed the copy made for
    --set), nesting past Python's stack, NUL in a path: each one Error line, exit 2."""
    bad = tmp_path / "r.yaml"
    bad.write_text(text)
    res = CliRunner().invoke(cli, ["build", str(bad)])
    lines = res.output.strip().splitlines()
    assert res.exit_code == 2 and len(lines) == 1 and lines[0].startswith("Error: "), res.output
    assert expect in lines[0] and "Traceback" not in res.output, lines[0]


def test_a_date_is_read_as_the_text_written(tmp_path):
    """`revision: 2024-05-01` is a git revision (a branch or tag name), not a date."""
    path = tmp_path / "r.yaml"
    path.write_text("source: {hub: org/data, revision: 2024-05-01}\n")
    assert load_recipe(str(path)).source.revision == "2024-05-01"
    deep = "train: {lr_scheduler_kwargs: " + "[" * 3000 + "]" * 3000 + "}"
    res = CliRunner().invoke(cli, ["build", str(path), "--set", deep])
    assert res.exit_code == 2 and "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1, res.output
