import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from conftest import REPO, tiny_recipe, write_recipe
from pairforge.cli import cli

DEMO = str(REPO / "pairforge" / "demo" / "sft.jsonl")


def test_help_does_not_import_heavy_libraries():
    code = ("import sys; from click.testing import CliRunner; from pairforge.cli import cli; "
            "r = CliRunner().invoke(cli, ['--help']); assert r.exit_code == 0, r.output; "
            "heavy = [m for m in ('torch', 'transformers', 'trl', 'datasets', 'pyarrow', 'vllm') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def run(args):
    return CliRunner().invoke(cli, args)


@pytest.mark.parametrize("source, expected", [
    ({"path": "missing.jsonl"}, "source.path: missing.jsonl: no such file or folder"),
    ({"path": "__FILE__.txt"}, "unknown file type '.txt'"),
    ({"path": DEMO, "format": "plain", "columns": {"prompt": "question", "response": "messages"}},
     "source.columns.prompt: column 'question' is not in the data"),
    ({"path": DEMO, "format": "alpaca"}, "source.format: alpaca needs column(s) instruction, output"),
])
def test_bad_input_is_one_clear_line(tiny_model, tmp_path, source, expected):
    if source["path"] == "__FILE__.txt":
        (tmp_path / "data.txt").write_text("hello")
        source = {"path": str(tmp_path / "data.txt")}
    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe(tiny_model, source, tmp_path / "out"))
    res = run(["build", str(recipe), "-q"])
    assert res.exit_code == 1
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and expected in lines[0], res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)


def test_unrecognised_columns(tiny_model, tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"foo": "a", "bar": "b"}\n')
    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe(tiny_model, {"path": str(data)}, tmp_path / "out"))
    res = run(["build", str(recipe)])
    assert res.exit_code == 1 and "cannot recognise the format" in res.output and "source.columns" in res.output


def test_bad_rows_are_counted_and_the_run_goes_on(tiny_model, tmp_path):
    data = tmp_path / "d.jsonl"
    good = [{"prompt": f"question {i}?", "response": f"answer {i}"} for i in range(6)]
    bad = [{"prompt": None, "response": "x"}, {"prompt": "q", "response": ""}, {"prompt": "q2", "response": "   "}]
    data.write_text("\n".join(json.dumps(r) for r in good + bad) + "\n")
    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe(tiny_model, {"path": str(data)}, tmp_path / "out"))
    res = run(["build", str(recipe), "--json", "-q"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["drops"]["normalise"] == {"null_prompt": 1, "empty_chosen": 2}
    assert summary["rows_read"] == 9
    import pyarrow.parquet as pq

    ex = pq.read_table(tmp_path / "out" / "excluded" / "normalise.parquet").to_pylist()
    assert sorted(r["source_index"] for r in ex) == [6, 7, 8]


def test_human_summary_and_set_override(tiny_model, tmp_path):
    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe(tiny_model, {"path": DEMO}, tmp_path / "out"))
    res = run(["build", str(recipe), "-q", "--set", "source.limit=5", "--set", f"output.dir={tmp_path / 'o2'}"])
    assert res.exit_code == 0, res.output
    assert "Read 5 rows" in res.output and str(tmp_path / "o2") in res.output
