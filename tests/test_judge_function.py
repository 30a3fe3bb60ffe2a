"""A Python function as the judge (judge.kind: function): TRL's reward-function signature, the
source's columns as keyword arguments, min_margin and rejected: lowest on its scores, one error
line for a bad function, resumable scores."""

import json
import subprocess
import sys

import datasets
import pyarrow.parquet as pq
import pytest

from conftest import REPO, tiny_recipe, write_recipe
from pairforge.errors import PairforgeError, RecipeError
from pairforge.pipeline.build import run_build
from pairforge.recipe import recipe_from_dict

# Passes an answer equal to the row's `reference` column, and (a cheap stand-in for a verifier
# that a sample sometimes satisfies) any answer whose digest is even; a row marked `chosen_fails`
# fails its chosen answer. Every call is logged, with the keyword names and the first prompt.
REWARDS = '''
import hashlib, json, os

def _text(c):
    return c[0]["content"] if isinstance(c, list) else c

def passes(prompts, completions, reference, chosen_fails, **kwargs):
    with open(os.environ["PF_CALLS"], "a") as fh:
        fh.write(json.dumps({"n": len(completions), "keys": sorted(kwargs), "prompt": prompts[0],
                             "completion": completions[0]}) + "\\n")
    out = []
    for c, ref, bad in zip(completions, reference, chosen_fails):
        t = _text(c)
        if t == ref:
            out.append(0.0 if bad else 1.0)
        else:
            out.append(float(hashlib.sha256(t.encode()).digest()[0] % 2 == 0))
    return out

def strict(completions, reference):
    return [1.0 if _text(c) == r else 0.0 for c, r in zip(completions, reference)]

def raises_on_ten(completions, reference, **kw):
    if any("row 10" in r for r in reference):
        raise ValueError("cannot score this one")
    return [1.0] * len(completions)

def too_few(completions, **kw):
    return [1.0] * (len(completions) - 1)

def words(completions, **kw):
    return ["yes"] * len(completions)

def nan(completions, reference, **kw):
    return [float("nan") if "row 3" in r else None if "row 4" in r else 1 for r in reference]

def exits(completions, **kw):
    raise SystemExit(3)

def breaks_midway(completions, **kw):
    def scores():
        yield 1.0
        raise RuntimeError("broken iterator")
    return scores()

def huge(completions, **kw):
    return [10 ** 400] * len(completions)

def as_dict(completions, **kw):
    return {i: 1.0 for i in range(len(completions))}

def extremes(completions, reference, **kw):
    return [1.7e308 if _text(c) == r else -1.7e308 for c, r in zip(completions, reference)]

def appends(prompts, completions, reference, **kw):
    prompts.append(None)  # a function that edits what it is given
    reference.append(None)
    return [float(len(prompts))] * len(completions)

print("HELLO FROM IMPORT")

def chatty(completions, **kw):
    print("HELLO FROM A CALL")
    return [1.0] * len(completions)

not_a_function = 3
'''


def _source(tmp_path, n=24):
    rows = [{"messages": [{"role": "user", "content": f"Question {i}: say something about item {i}."},
                          {"role": "assistant", "content": f"Here is row {i}, answered."}],
             "reference": f"Here is row {i}, answered.", "chosen_fails": i == 5} for i in range(n)]
    path = tmp_path / "sft.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def calls(tmp_path, monkeypatch):
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("PF_CALLS", str(log))
    return log


def _recipe(tiny_model, tmp_path, fn="passes", n=2, **judge):
    (tmp_path / "rewards.py").write_text(REWARDS)
    r = tiny_recipe(tiny_model, {"path": str(_source(tmp_path))}, tmp_path / "out",
                    judge={"kind": "function", "function": f"rewards.py:{fn}", **judge})
    r["weak_model"]["sampling"]["n"] = n
    return r


def _build(r, tmp_path):
    return run_build(recipe_from_dict(r, base_dir=tmp_path), quiet=True)


def _rows(out):
    dd = datasets.load_dataset(str(out))
    return [row for split in dd for row in dd[split]]


def test_function_judge_scores_both_sides_with_the_source_columns(tiny_model, tmp_path, calls):
    r = _recipe(tiny_model, tmp_path, rejected="lowest")
    r["filters"]["min_margin"] = 1
    _build(r, tmp_path)
    out = tmp_path / "out"
    rows = _rows(out)
    log = [json.loads(x) for x in calls.read_text().splitlines()]
    assert log and all(c["keys"] == ["messages"] for c in log)  # every other source column, as GRPOTrainer passes them
    assert isinstance(log[0]["prompt"], list) and log[0]["completion"][0]["role"] == "assistant"  # conversational
    assert rows and all(x["chosen_score"] == 1.0 and x["rejected_score"] == 0.0 and x["score_margin"] == 1.0
                        for x in rows)
    assert "source_columns" not in rows[0] and "reference" not in rows[0]  # the source row is not published
    margin = pq.read_table(out / "excluded" / "filter_margin.parquet").to_pylist()
    assert {m["reason"] for m in margin} == {"score_margin_below_min"}
    # row 5's chosen answer fails its own check: never written; a row whose every sample passed: dropped too
    assert not any("row 5," in x["chosen"][0]["content"] for x in rows)
    assert len(margin) >= 2
    stats = json.loads((out / "stats.json").read_text())
    assert stats["judge"]["kind"] == "function" and stats["judge"]["model"] == "rewards.py:passes"
    card = (out / "README.md").read_text()
    assert "the function\n**rewards.py:passes**" in card and str(tmp_path) not in card
    assert str(tmp_path) not in json.dumps(stats)


def test_lowest_picks_a_failing_sample_where_one_exists(tiny_model, tmp_path, calls):
    """n samples per prompt: `rejected: lowest` turns "the weak model sometimes fails" into a pair."""
    r = _recipe(tiny_model, tmp_path, n=4, rejected="lowest")
    r["filters"]["min_margin"] = 1
    _build(r, tmp_path)
    kept = len(_rows(tmp_path / "out"))
    r2 = _recipe(tiny_model, tmp_path, n=1)
    r2["filters"]["min_margin"] = 1
    r2["output"]["dir"] = str(tmp_path / "one")
    _build(r2, tmp_path)
    assert kept > len(_rows(tmp_path / "one"))  # more prompts yield a clean pair from 4 samples than from 1


def test_standard_format_passes_text(tiny_model, tmp_path, calls):
    _build(_recipe(tiny_model, tmp_path, function_format="standard"), tmp_path)
    first = json.loads(calls.read_text().splitlines()[0])
    assert first["prompt"].startswith("Question ") and isinstance(first["completion"], str)


def test_rerun_and_a_change_of_selection_only_score_nothing_again(tiny_model, tmp_path, calls):
    r = _recipe(tiny_model, tmp_path, n=2)
    _build(r, tmp_path)
    n_calls = len(calls.read_text().splitlines())
    r["judge"]["rejected"] = "lowest"  # picks among scores; the scores do not change
    _build(r, tmp_path)
    assert len(calls.read_text().splitlines()) == n_calls
    (tmp_path / "rewards.py").write_text(REWARDS + "\n# edited\n")  # new code: new scores
    _build(r, tmp_path)
    assert len(calls.read_text().splitlines()) > n_calls


@pytest.mark.parametrize("fn, words", [
    ("raises_on_ten", ["rewards.py:raises_on_ten", "ValueError: cannot score this one", "(source row 10)"]),
    ("too_few", ["rewards.py:too_few", "returned 31 scores for 32 completions"]),
    ("words", ["rewards.py:words", "returned str 'yes'", "a score is a number or None"]),
    ("not_a_function", ["rewards.py:not_a_function is not callable"]),
    ("exits", ["rewards.py:exits raised SystemExit: 3", "(source row "]),
    ("as_dict", ["rewards.py:as_dict returned dict, not a list of"]),
    ("breaks_midway", ["rewards.py:breaks_midway", "its result could not be read: RuntimeError: broken iterator"]),
    ("missing", ["rewards.py:missing is missing"]),
])
def test_a_bad_function_is_one_error_naming_it_and_the_row(tiny_model, tmp_path, calls, fn, words):
    with pytest.raises(PairforgeError) as e:
        _build(_recipe(tiny_model, tmp_path, fn=fn), tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


def test_nan_and_none_scores_drop_their_rows_with_a_reason(tiny_model, tmp_path, calls):
    _build(_recipe(tiny_model, tmp_path, fn="nan", n=1), tmp_path)
    judged = pq.read_table(tmp_path / "out" / "excluded" / "judge.parquet").to_pylist()
    assert sorted(j["reason"] for j in judged) == ["judge_no_score", "judge_score_not_finite"]
    assert len(_rows(tmp_path / "out")) == 22


def test_import_failures_stop_before_generation(tiny_model, tmp_path, calls):
    r = _recipe(tiny_model, tmp_path)
    (tmp_path / "rewards.py").write_text("def passes(:\n")
    with pytest.raises(PairforgeError, match=r"importing rewards.py failed \(SyntaxError"):
        _build(r, tmp_path)
    assert not (tmp_path / "out" / ".pairforge_work" / "shards").exists() or not any((tmp_path / "out" / ".pairforge_work" / "shards").iterdir())
    r["judge"]["function"] = "nowhere.py:passes"
    with pytest.raises(PairforgeError, match="no file 'nowhere.py'"):
        _build(r, tmp_path)
    r["judge"]["function"] = "no_such_module_xyz:passes"
    with pytest.raises(PairforgeError, match="importing module 'no_such_module_xyz' failed"):
        _build(r, tmp_path)


def test_module_form_is_looked_up_beside_the_recipe(tiny_model, tmp_path, calls):
    r = _recipe(tiny_model, tmp_path)
    r["judge"]["function"] = "rewards:strict"
    _build(r, tmp_path)
    assert json.loads((tmp_path / "out" / "stats.json").read_text())["judge"]["model"] == "rewards:strict"


@pytest.mark.parametrize("judge, words", [
    ({"kind": "function"}, "judge.function: required with judge.kind 'function'"),
    ({"kind": "function", "function": "rewards.py"}, "is not `path/to/file.py:function`"),
    ({"kind": "function", "function": "rewards.py:no-dash"}, "is not `path/to/file.py:function`"),
    ({"kind": "function", "function": "bad module:f"}, "neither a .py file nor a dotted module name"),
    ({"kind": "reward_model", "model": "x", "function": "r.py:f"}, "only read with judge.kind: function"),
])
def test_recipe_checks_the_function_spec(tmp_path, judge, words):
    r = tiny_recipe("m", {"path": "x.jsonl"}, tmp_path / "out", judge=judge)
    with pytest.raises(RecipeError, match=words.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        recipe_from_dict(r)


def test_cli_error_is_one_line(tiny_model, tmp_path, calls):
    r = _recipe(tiny_model, tmp_path, fn="raises_on_ten")
    path = write_recipe(tmp_path / "recipe.yaml", r)
    p = subprocess.run([sys.executable, "-m", "pairforge.cli", "build", str(path), "-q"], cwd=REPO,
                       capture_output=True, text=True)
    assert p.returncode == 1
    lines = [x for x in p.stderr.splitlines() if x.strip()]
    assert lines[-1].startswith("Error: judge.function rewards.py:raises_on_ten raised ValueError")
    assert "Traceback" not in p.stderr


def test_published_recipe_names_the_function_without_its_path(tiny_model, tmp_path, calls):
    from pairforge.hub.published import public_recipe

    r = _recipe(tiny_model, tmp_path)
    r["judge"]["function"] = f"{tmp_path / 'rewards.py'}:passes"  # an absolute path, as a user may give it
    _build(r, tmp_path)
    out = tmp_path / "out"
    assert str(tmp_path) in (out / "recipe.yaml").read_text()  # the local copy stays as resolved
    pushed = public_recipe((out / "recipe.yaml").read_bytes(), (out / "stats.json").read_bytes()).decode()
    assert "function: rewards.py:passes" in pushed and str(tmp_path) not in pushed


def test_scores_past_float_range_drop_their_rows_with_a_reason(tiny_model, tmp_path, calls):
    """10**400 is no finite score, and 1.7e308 - -1.7e308 is no finite margin: dropped, not kept as inf."""
    for fn in ("huge", "extremes"):
        r = _recipe(tiny_model, tmp_path, fn=fn, n=1)
        r["output"]["dir"] = str(tmp_path / fn)
        with pytest.raises(PairforgeError, match="no pairs"):
            _build(r, tmp_path)
        ex = pq.read_table(next((tmp_path / fn / ".pairforge_work" / "judged").glob("*.dropped.parquet")))
        assert set(ex["reason"].to_pylist()) == {"judge_score_not_finite"}, fn


def test_what_the_function_does_to_its_arguments_never_reaches_the_other_side(tiny_model, tmp_path, calls):
    """The chosen and the rejected call get inputs of their own: a function that appends to them scores
    both sides alike (margin 0), not the second call one higher."""
    _build(_recipe(tiny_model, tmp_path, fn="appends", n=1), tmp_path)
    rows = _rows(tmp_path / "out")
    assert rows and {r["score_margin"] for r in rows} == {0.0}


def test_what_the_function_prints_never_reaches_json_stdout(tiny_model, tmp_path, calls):
    path = write_recipe(tmp_path / "recipe.yaml", _recipe(tiny_model, tmp_path, fn="chatty", n=1))
    p = subprocess.run([sys.executable, "-m", "pairforge.cli", "build", str(path), "--json"], cwd=REPO,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["rows_written"] > 0
    assert "HELLO FROM IMPORT" in p.stderr and "HELLO FROM A CALL" in p.stderr
