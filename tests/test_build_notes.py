"""What a build tells its user, whatever -q says: the unused-column warning (stderr, and the summary)."""

import json

from click.testing import CliRunner

from conftest import tiny_recipe, write_recipe
from pairforge.cli import cli


def test_quiet_build_still_warns_of_unused_columns_and_the_summary_names_them(tiny_model, tmp_path):
    rows = [{"instruction": f"Spell the number {i}.", "input": "", "output": f"Number {i}.", "context": f"notes {i}"}
            for i in range(8)]
    src = tmp_path / "sft.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe(tiny_model, {"path": str(src)}, tmp_path / "out"))
    res = CliRunner().invoke(cli, ["build", str(recipe), "-q"])
    assert res.exit_code == 0, res.output
    assert "warning: source columns context are not used" in res.stderr
    assert "Note: source columns context are not used" in res.stdout
