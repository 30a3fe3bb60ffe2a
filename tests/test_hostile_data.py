"""Hostile source files: mixed types, broken lines, bad bytes, empty and corrupt files, huge
files read with a limit, a Hub branch that moves, and the Dolly / Orca layouts."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st

from conftest import ALICE, tiny_recipe, write_recipe
from pairforge.cli import cli
from pairforge.data import jsonrows, sources
from pairforge.data.formats import Normalise
from pairforge.errors import DataError, PairforgeError, RecipeError
from pairforge.pipeline.build import run_build
from pairforge.recipe import recipe_from_dict


def normalised(path: Path, **source) -> tuple[list, list]:
    """(kept pairs without source_index, [(source_index, reason, detail)]) of the Normalise stage."""
    r = recipe_from_dict({"source": source if "hub" in source else {"path": str(path), **source}})
    loaded = sources.load_source(r)
    stage = Normalise.for_source(r.source, loaded.column_names)
    kept, dropped = [], []
    for batch in loaded.batches(7):
        k, d = stage(batch)
        kept += [{x: v for x, v in row.items() if x != "source_index"} for row in k.to_pylist()]
        dropped += [(row["source_index"], row["reason"], row["row"]) for row in d.to_pylist()]
    return kept, dropped


class Deep:
    """A row nested `depth` levels below its key (written by hand: json.dumps would recurse)."""

    def __init__(self, key: str, depth: int, **rest):
        self.key, self.depth, self.rest = key, depth, rest

    def __repr__(self):
        return f"Deep({self.key!r}, {self.depth})"

    def text(self) -> str:
        rest = "".join(f", {json.dumps(k)}: {json.dumps(v)}" for k, v in self.rest.items())
        return f'{{"{self.key}": {"[" * self.depth}"x"{"]" * self.depth}{rest}}}'


def row_text(row) -> str:
    return row.text() if isinstance(row, Deep) else json.dumps(row)


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(row_text(r) + "\n" for r in rows))
    return path


def write_array(path: Path, rows: list) -> Path:
    """A top-level JSON array (lone surrogates written as the escapes json.dumps gives)."""
    path.write_text("[" + ",\n ".join(map(row_text, rows)) + "]")
    return path


# ----------------------------------------------------------------------- mixed-type values

text = st.text(st.characters(), min_size=1, max_size=20).filter(str.strip)  # Cs: lone surrogates, bad rows
# (no Infinity: not JSON; JSON Lines take it as json.loads does, a JSON array is refused, one Error)
bad_value = st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.booleans(),
                      st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
good_alpaca = st.fixed_dictionaries({"instruction": text, "input": st.one_of(st.just(""), text), "output": text})
DEPTHS = st.sampled_from([jsonrows.MAX_DEPTH, 5000])  # the row itself is one level more
bad_alpaca = st.one_of(
    st.fixed_dictionaries({"instruction": text, "input": bad_value, "output": text}),
    st.fixed_dictionaries({"instruction": text, "input": text, "output": bad_value}),
    st.fixed_dictionaries({"instruction": bad_value, "input": text, "output": text}),
    st.just({"instruction": "bad \ud800 here", "input": "", "output": "ok answer text"}),
    st.builds(lambda d: Deep("instruction", d, input="", output="ok answer text"), DEPTHS),
)
good_chat = st.builds(lambda q, a: {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]},
                      text, text)
bad_chat = st.one_of(
    st.builds(lambda q, a: {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]},
              st.one_of(text, bad_value), bad_value),
    st.just({"messages": [{"role": "user", "content": "q \udc00"}, {"role": "assistant", "content": "a"}]}),
    st.builds(lambda d: Deep("messages", d), DEPTHS),
)
REASONS = {"non_string_input", "non_string_chosen", "non_string_prompt", "non_string_turn", "non_utf8_text",
           "too_deep"}


def utf8(row) -> bool:
    """Whether every text of the row can be written as UTF-8 (no lone surrogate)."""
    if isinstance(row, Deep):
        return True
    try:
        json.dumps(row, ensure_ascii=False).encode()
        return True
    except UnicodeEncodeError:
        return False


def write_folder(folder: Path, rows: list, ext: str = "jsonl") -> Path:
    """A Hub-style folder: the rows over two files (JSON Lines, or JSON arrays) of the train split,
    and a test split."""
    (folder / "data").mkdir(parents=True)
    half, write = len(rows) // 2, write_jsonl if ext == "jsonl" else write_array
    write(folder / "data" / f"train-00000-of-00002.{ext}", rows[:half])
    write(folder / "data" / f"train-00001-of-00002.{ext}", rows[half:])
    write(folder / "data" / f"test-00000-of-00001.{ext}", [{"instruction": 1, "output": 2, "messages": 3}])
    return folder


def reasons(dropped: list) -> list:
    return [(i, r) for i, r, _ in dropped]


@st.composite
def mixed(draw, good, bad):
    goods = draw(st.lists(good, min_size=1, max_size=8))
    bads = draw(st.lists(bad, min_size=1, max_size=4))
    slots = draw(st.permutations(["g"] * len(goods) + ["b"] * len(bads)))
    g, b = iter(goods), iter(bads)
    return goods, [next(g) if s == "g" else next(b) for s in slots]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=st.one_of(mixed(good_alpaca, bad_alpaca), mixed(good_chat, bad_chat)))
def test_good_rows_are_identical_whatever_bad_rows_sit_beside_them(tmp_path, case):
    goods, rows = case
    alone, _ = normalised(write_jsonl(tmp_path / "good.jsonl", goods))
    both, dropped = normalised(write_jsonl(tmp_path / "mixed.jsonl", rows))
    assert both == alone and len(alone) == sum(map(utf8, goods))
    assert len(dropped) == len(rows) - len(alone) and {r for _, r, _ in dropped} <= REASONS
    assert any(isinstance(r, Deep) for r in rows) <= ("too_deep" in {r for _, r, _ in dropped})
    import uuid

    folder = write_folder(tmp_path / uuid.uuid4().hex, rows)  # a folder goes through the same reader
    assert normalised(folder) == normalised(None, hub=str(folder))
    kept, in_folder = normalised(folder)  # a reader's detail says the line in its own file
    assert kept == both and reasons(in_folder) == reasons(dropped)
    # the same rows as one top-level JSON array, and over a folder's arrays: the same rows kept and
    # dropped for the same reasons (the detail says "item" where JSON Lines say "line")
    array_alone, _ = normalised(write_array(tmp_path / "good.json", goods))
    array_both, array_dropped = normalised(write_array(tmp_path / "mixed.json", rows))
    assert array_alone == alone and array_both == both and reasons(array_dropped) == reasons(dropped)
    kept, dropped = normalised(write_folder(tmp_path / uuid.uuid4().hex, rows, "json"))
    assert kept == both and reasons(dropped) == reasons(array_dropped)


def test_the_reported_case_gives_the_exact_prompt_and_drops_the_empty_answer(hub, tmp_path):
    rows = [{"instruction": "Name a colour of the sky.", "input": "", "output": "Blue."},
            {"instruction": "Add these", "input": 5, "output": "7"},
            {"instruction": "Say nothing", "input": "", "output": ""}]
    (tmp_path / "a.json").write_text(json.dumps(rows, indent=2))
    (tmp_path / "folder").mkdir()
    write_jsonl(tmp_path / "folder" / "train.jsonl", rows)
    from huggingface_hub import HfApi

    repo = f"alice/reported-{tmp_path.name[-12:]}"
    HfApi(token=ALICE).create_repo(repo, repo_type="dataset")
    HfApi(token=ALICE).upload_file(path_or_fileobj=(tmp_path / "a.json").read_bytes(), path_in_repo="train.json",
                                   repo_id=repo, repo_type="dataset")
    for source in ({"path": write_jsonl(tmp_path / "a.jsonl", rows)}, {"path": tmp_path / "a.json"},
                   {"path": tmp_path / "folder"}, {"hub": str(tmp_path / "folder")}, {"hub": repo},
                   {"hub": repo, "limit": 3}):
        kept, dropped = normalised(source.get("path"), **{k: v for k, v in source.items() if k != "path"})
        assert [k["prompt"] for k in kept] == [[{"role": "user", "content": "Name a colour of the sky."}]]
        assert [k["chosen"] for k in kept] == ["Blue."]
        assert [(i, r) for i, r, _ in dropped] == [(1, "non_string_input"), (2, "empty_chosen")]


def test_non_object_rows_and_list_contents_are_dropped_with_a_reason(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_text('{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}\n'
                 '[1, 2]\n"text"\n'
                 '{"messages": [{"role": "user", "content": ["q"]}, {"role": "assistant", "content": "a"}]}\n')
    kept, dropped = normalised(p)
    assert len(kept) == 1 and kept[0]["chosen"] == "a"
    assert [(i, r) for i, r, _ in dropped] == [(1, "non_object_row"), (2, "non_object_row"), (3, "non_string_turn")]


def test_a_lone_surrogate_is_a_bad_row_not_a_crash(tmp_path):
    p = tmp_path / "s.jsonl"
    p.write_text('{"prompt": "bad \\ud800 x", "response": "y"}\n{"prompt": "ok", "response": "fine"}\n'
                 '{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "\\udfff"}]}\n')
    kept, dropped = normalised(p, format="plain", columns={"prompt": "prompt", "response": "response"})
    assert [k["chosen"] for k in kept] == ["fine"]
    assert [(i, r) for i, r, _ in dropped] == [(0, "non_utf8_text"), (2, "null_prompt")]
    assert "\\ud800" in dropped[0][2]  # the row as written, escaped
    kept, dropped = normalised(p, format="messages")
    assert [(i, r) for i, r, _ in dropped] == [(0, "empty_conversation"), (1, "empty_conversation"), (2, "non_utf8_text")]


GOOD = [{"prompt": f"Question {i}?", "response": f"Answer {i}."} for i in range(3)]


@pytest.mark.parametrize("bad, reason", [
    ({"prompt": "bad \ud800 here", "response": "ok answer text"}, [(0, "non_utf8_text")]),
    ({"\udc00x": "v", "prompt": "k", "response": "ok answer text"}, []),  # a key no layout reads: kept, as in JSON Lines
])
def test_a_lone_surrogate_in_a_json_array_is_what_it_is_in_json_lines(tmp_path, bad, reason):
    rows = [bad] + GOOD
    (tmp_path / "f").mkdir()
    lines = normalised(write_jsonl(tmp_path / "a.jsonl", rows))
    assert reasons(lines[1]) == reason and len(lines[0]) == 4 - len(reason)
    assert [k["prompt"][0]["content"] for k in lines[0]] == [r["prompt"] for r in rows[len(reason):]]  # no "bad ? here"
    for source in (write_array(tmp_path / "a.json", rows), write_array(tmp_path / "f" / "train.json", rows)):
        assert normalised(source) == lines
        assert normalised(source, limit=2, streaming=True) == normalised(tmp_path / "a.jsonl", limit=2, streaming=True)


def test_surrogate_escapes_cut_by_any_read_are_told_apart(tmp_path, monkeypatch):
    """Pairs (an emoji), a written backslash before "ud800" and other escapes are text; only the lone
    one drops its row, wherever the reads cut the escapes; each byte is read (and hashed) once."""
    import hashlib

    texts = ["smile \U0001F600 caf\u00e9", "a backslash: \\ud800 \\\\udc00", "tab\t quote\" \u2028",
             "lone \udbff end", "low \udc00\U0001F600 first", "pair \U0001F600\ud83d"]  # written as \ud83d\ude00
    rows = [{"prompt": t, "response": "answer"} for t in texts] + GOOD
    expect = normalised(write_jsonl(tmp_path / "a.jsonl", rows))
    assert reasons(expect[1]) == [(3, "non_utf8_text"), (4, "non_utf8_text"), (5, "non_utf8_text")]
    assert [k["prompt"][0]["content"] for k in expect[0][:3]] == texts[:3]
    array = write_array(tmp_path / "a.json", rows)
    for chunk in (1, 2, 3, 5, 7, 11, 64):
        monkeypatch.setattr(jsonrows, "CHUNK", chunk)
        assert normalised(array) == expect, chunk
        counter = jsonrows.Counter(None, hashlib.sha256())
        assert len(list(jsonrows.read_records(array, "error", "x", counter))) == len(rows)
        assert counter.digest.hexdigest() == hashlib.sha256(array.read_bytes()).hexdigest()
        assert array.stat().st_size - chunk <= counter.bytes_read <= array.stat().st_size  # up to the last item


def test_deeply_nested_rows_are_dropped_as_too_deep(tmp_path):
    limit = jsonrows.MAX_DEPTH
    rows = [GOOD[0], Deep("prompt", 5000, response="r"), GOOD[1], Deep("prompt", limit, response="r"),
            Deep("meta", limit - 1, prompt="Deep but within.", response="kept"), GOOD[2]]
    for path in (write_jsonl(tmp_path / "d.jsonl", rows), write_array(tmp_path / "d.json", rows)):
        for on_bad_lines in ("error", "skip"):  # valid JSON: a row drop, not a broken line
            kept, dropped = normalised(path, on_bad_lines=on_bad_lines)
            assert [k["chosen"] for k in kept] == ["Answer 0.", "Answer 1.", "kept", "Answer 2."]
            assert reasons(dropped) == [(1, "too_deep"), (3, "too_deep")]
            where = "line" if path.suffix == ".jsonl" else "item"
            assert [d for _, _, d in dropped] == [f'"{where} {n}: nested deeper than {limit} levels"' for n in (2, 4)]


def test_a_very_deep_array_item_is_not_built(tmp_path):
    p = tmp_path / "d.json"
    p.write_bytes(b'[{"prompt": ' + b"[" * 20_000 + b"1" + b"]" * 20_000 + b', "response": "r"},'
                  + json.dumps(GOOD[0]).encode() + b"]")
    tracemalloc.start()
    kept, dropped = normalised(p)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert [k["chosen"] for k in kept] == ["Answer 0."] and reasons(dropped) == [(0, "too_deep")]
    assert peak < 64 << 20  # ijson's own items() took gigabytes (a path string per level)


def test_a_broken_array_with_a_deep_item_is_one_error(tmp_path):
    p = tmp_path / "b.json"
    p.write_text('[{"prompt": ' + "[" * 5000 + '"x"' + "]" * 5000 + '}, {"prompt" "q"}]')
    with pytest.raises(DataError, match=rf"{p}: not valid JSON at or before byte"):
        normalised(p)


def test_numbers_in_a_json_array_are_read_as_in_json_lines(tmp_path):
    text = '{"prompt": "q", "response": "a", "n": [9223372036854775808, 1e400, 1.1, -0.0, 5, 1E5, 2.5e-300]}'
    (tmp_path / "a.jsonl").write_text(f"{text}\n{text.replace('a', 'b')}\n")  # an int past int64 overflowed
    (tmp_path / "a.json").write_text(f"[{text}, {text.replace('a', 'b')}]")
    lines, array = (list(jsonrows.read_records(tmp_path / name, "error", "x", jsonrows.Counter(None)))
                    for name in ("a.jsonl", "a.json"))
    assert [json.loads(t) for t, _, _ in array] == [json.loads(t) for t, _, _ in lines]
    assert [type(v) for v in json.loads(array[0][0])["n"]] == [int, float, float, float, int, float, float]
    assert normalised(tmp_path / "a.json") == normalised(tmp_path / "a.jsonl")


def test_a_json_array_with_a_utf8_bom_is_read(tmp_path):
    plain = write_array(tmp_path / "a.json", GOOD + [{"prompt": "caf\u00e9 \ud800", "response": "x"}])
    (tmp_path / "bom.json").write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    assert normalised(tmp_path / "bom.json") == normalised(plain)
    assert len(normalised(plain)[0]) == 3


def test_a_folder_of_non_utf8_json_lines_names_the_file_and_line(tmp_path):
    (tmp_path / "f").mkdir()
    p = tmp_path / "f" / "train.jsonl"
    p.write_bytes(b'{"prompt": "q", "response": "a"}\n{"prompt": "caf\xe9", "response": "b"}\n')
    with pytest.raises(DataError, match=rf"{p}: line 2 \(byte 48\): not UTF-8"):
        normalised(tmp_path / "f")
    kept, dropped = normalised(tmp_path / "f", on_bad_lines="skip")
    assert [k["chosen"] for k in kept] == ["a"] and [(i, r) for i, r, _ in dropped] == [(1, "bad_utf8")]


def test_csv_columns_are_read_as_the_text_written(tmp_path):
    p = tmp_path / "n.csv"
    p.write_text("prompt,response\nWhat is 6 times 7?,42\nNA,007\nHalf of 3?,1.50\n,empty prompt\n")
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "train.csv").write_bytes(p.read_bytes())
    for source in (p, tmp_path / "f"):
        for streaming in (False, True):
            kept, dropped = normalised(source, streaming=streaming)
            assert [(k["prompt"][0]["content"], k["chosen"]) for k in kept] == [
                ("What is 6 times 7?", "42"), ("NA", "007"), ("Half of 3?", "1.50")]
            assert [(i, r) for i, r, _ in dropped] == [(3, "empty_prompt")]


NO_POST_FILTERS = {"empty": False, "identical": False, "max_similarity": None,
                   "refusals": {"enabled": False}, "repetition": {"enabled": False}}


def test_end_to_end_build_keeps_good_rows_identical_and_records_bad_ones(tiny_model, tmp_path, capsys):
    goods = [{"instruction": f"Write the word number {i} in letters.", "input": "", "output": f"Word {i}.",
              "context": "unused"} for i in range(6)]
    bads = [{"instruction": "Broken", "input": ["a list"], "output": "x", "context": "c"},
            {"instruction": "Broken too", "input": "", "output": {"a": 1}, "context": "c"},
            {"instruction": "Broken three", "input": "", "output": "x", "context": "c", "system": 5}]
    mixed_rows = goods[:2] + bads[:1] + goods[2:5] + bads[1:] + goods[5:]

    def build(rows, name):
        data = write_jsonl(tmp_path / f"{name}.jsonl", rows)
        stats = run_build(recipe_from_dict(tiny_recipe(tiny_model, {"path": str(data)}, tmp_path / name,
                                                       filters=NO_POST_FILTERS)), quiet=False)
        out = sorted((r["id"], json.dumps(r["prompt"]), r["chosen"]) for split in ("train", "test")
                     for f in (tmp_path / name / "data").glob(f"{split}-*.parquet") for r in pq.read_table(f).to_pylist())
        return stats, out

    s_good, alone = build(goods, "good")
    s_mixed, both = build(mixed_rows, "mixed")
    assert both == alone and len(alone) == 6 == s_good["rows_written"] == s_mixed["rows_written"]
    assert s_mixed["source"]["unused_columns"] == ["context"]
    assert "source columns context are not used" in capsys.readouterr().err
    excl = pq.read_table(tmp_path / "mixed" / "excluded" / "normalise.parquet").to_pylist()
    assert sorted((r["source_index"], r["reason"]) for r in excl) == [(2, "non_string_input"), (6, "non_string_chosen"),
                                                                      (7, "non_string_system")]


# ----------------------------------------------------------------------- broken files


def test_broken_jsonl_line_names_file_and_line_and_skip_records_it(tmp_path):
    p = tmp_path / "b.jsonl"
    p.write_bytes(b'{"prompt": "q1", "response": "a1"}\n{"prompt": "q2", "resp\n'
                  b'{"prompt": "q3", "response": "a3"}\n{"prompt": "\xff\xfe", "response": "a4"}\n')
    with pytest.raises(DataError, match=rf"{p}: line 2: not JSON .*on_bad_lines: skip"):
        normalised(p)
    kept, dropped = normalised(p, on_bad_lines="skip")
    assert [k["chosen"] for k in kept] == ["a1", "a3"]
    assert [(i, r) for i, r, _ in dropped] == [(1, "bad_json_line"), (3, "bad_utf8")]
    assert "line 2" in dropped[0][2] and "line 4 (byte 105)" in dropped[1][2]


def test_non_utf8_jsonl_names_line_and_byte(tmp_path):
    p = tmp_path / "u.jsonl"
    p.write_bytes(b'{"prompt": "q", "response": "a"}\n{"prompt": "caf\xe9", "response": "a"}\n')
    with pytest.raises(DataError, match=rf"{p}: line 2 \(byte 48\): not UTF-8"):
        normalised(p)


@pytest.mark.parametrize("content, where", [
    (b'[{"prompt": "q", "response": "a"}, {"prompt": "q2", "resp', "byte 52 (line 1, column 53)"),
    (b'[{"prompt": "q", "response": "a", "n": Infinity}]', "or before byte"),
    (b'[{"prompt": "q", "response": "a"}, {"prompt": "caf\xe9", "response": "b"}]', "byte 50 (not UTF-8)"),
    (b'[{"prompt": "q", "response": "a"},\n {"prompt" "q2"}]', "byte 46 (line 2, column 12)"),
])
def test_broken_json_array_names_file_and_byte(tmp_path, content, where):
    p = tmp_path / "t.json"
    p.write_bytes(content)
    with pytest.raises(DataError, match=rf"{p}: not valid JSON at {where.replace('(', '.').replace(')', '.')}"):
        normalised(p)


@pytest.mark.parametrize("name, content", [("e.jsonl", b""), ("w.jsonl", b"\n  \n"), ("e.json", b"[]"),
                                           ("e.csv", b"prompt,response\n"), ("bom.jsonl", b"\xef\xbb\xbf\n")])
def test_empty_source_says_it_has_no_rows(tmp_path, name, content):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(DataError, match=r"has no rows"):
        normalised(p)


@pytest.mark.parametrize("name, content", [("c.parquet", b"PAR1 not really parquet"), ("c.arrow", b"\x00" * 64),
                                           ("c.csv", b'prompt,response\n"unclosed,quote\n')])
def test_corrupt_files_give_one_error_line_naming_the_file(tiny_model, tmp_path, name, content):
    p = tmp_path / name
    p.write_bytes(content)
    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe(tiny_model, {"path": str(p)}, tmp_path / "out"))
    res = CliRunner().invoke(cli, ["build", str(recipe)])
    lines = res.output.strip().splitlines()
    assert res.exit_code == 1 and len(lines) == 1 and lines[0].startswith("Error: ") and str(p) in lines[0], res.output
    assert "Traceback" not in res.output and "error occurred while generating" not in res.output


# ----------------------------------------------------------------------- streaming


@pytest.fixture(scope="module")
def big_jsonl(tmp_path_factory) -> Path:
    """~200k rows (~50 MB); a broken line far down that only a whole-file read would meet."""
    p = tmp_path_factory.mktemp("big") / "big.jsonl"
    row = '{"prompt": "Question number %d: what comes next in the sequence?", "response": "%s"}\n'
    with open(p, "w") as fh:
        for i in range(200_000):
            fh.write('{"prompt": "broken\n' if i == 150_000 else row % (i, "x" * 180))
    return p


def test_streaming_limit_reads_only_the_first_rows(big_jsonl, monkeypatch, tmp_path):
    normalised(write_jsonl(tmp_path / "warm.jsonl", [{"prompt": "q", "response": "a"}]), streaming=True)  # imports
    monkeypatch.setattr(sources, "_digest_path", lambda p: pytest.fail("the whole file was read for its digest"))
    r = recipe_from_dict({"source": {"path": str(big_jsonl), "limit": 10, "streaming": True}})
    tracemalloc.start()
    loaded = sources.load_source(r)
    rows = [row for b in loaded.batches(4) for row in b.to_pylist()]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert [row["__pairforge_source_index"] for row in rows] == list(range(10))
    assert loaded.stats() == {"streaming": True, "bytes_read": 10 * len(big_jsonl.open().readline().encode())}
    assert peak < 5 << 20  # the file is ~50 MB


def test_limit_on_a_large_file_streams_automatically(big_jsonl, monkeypatch):
    monkeypatch.setattr(sources, "AUTO_STREAM_BYTES", 1 << 20)
    kept, _ = normalised(big_jsonl, limit=3)
    assert [k["chosen"] for k in kept] == ["x" * 180] * 3
    with pytest.raises(DataError, match="line 150001: not JSON"):  # no limit: the whole file is read
        normalised(big_jsonl, limit=3, shuffle=True)


def test_streamed_rows_equal_read_rows(tmp_path):
    rows = [{"prompt": f"q{i}", "response": f"a{i}"} for i in range(25)] + [{"prompt": 1, "response": "x"}]
    p = write_jsonl(tmp_path / "s.jsonl", rows)
    assert normalised(p, limit=26, streaming=True) == normalised(p, limit=26, streaming=False)
    csv = tmp_path / "s.csv"
    csv.write_text("prompt,response\n" + "".join(f"q{i},a{i}\n" for i in range(25)))
    assert normalised(csv, limit=5, streaming=True) == normalised(csv, limit=5)


def test_streaming_with_shuffle_is_refused():
    with pytest.raises(RecipeError, match="source.shuffle: a streamed source is read in order"):
        recipe_from_dict({"source": {"path": "x.jsonl", "streaming": True, "shuffle": True}})


# ----------------------------------------------------------------------- Hub revision


def test_a_moved_hub_branch_is_another_fingerprint(hub, tiny_model, tmp_path):
    from huggingface_hub import HfApi

    api, repo = HfApi(token=ALICE), f"alice/moving-{tmp_path.name[-12:]}"
    api.create_repo(repo, repo_type="dataset")

    def publish(answer):
        rows = "".join(json.dumps({"prompt": f"Question {i}?", "response": f"{answer} {i}."}) + "\n" for i in range(4))
        return api.upload_file(path_or_fileobj=rows.encode(), path_in_repo="data/train.jsonl", repo_id=repo,
                               repo_type="dataset").oid

    v1 = publish("First")
    recipe = tiny_recipe(tiny_model, {"hub": repo}, tmp_path / "out")
    stats = run_build(recipe_from_dict(recipe), quiet=True)
    assert stats["source"]["commit"] == v1 == api.dataset_info(repo).sha
    v2 = publish("Second")
    assert v2 != v1
    with pytest.raises(PairforgeError, match="holds shards of another recipe"):
        run_build(recipe_from_dict(recipe), quiet=True)
    again = run_build(recipe_from_dict(recipe), fresh=True, quiet=True)
    assert again["source"]["commit"] == v2 and again["fingerprint"] != stats["fingerprint"]
    assert f"commit `{v2}`" in (tmp_path / "out" / "README.md").read_text()  # the card shows it
    chosen = {r["chosen"][-1]["content"] for f in (tmp_path / "out" / "data").glob("*.parquet") for r in pq.read_table(f).to_pylist()}
    assert chosen and all(c.startswith("Second") for c in chosen)


@pytest.mark.parametrize("ext", ["jsonl", "csv"])  # read by jsonrows; by the datasets loader
def test_a_limited_hub_source_streams_and_fetches_only_the_files_it_needs(hub, tmp_path, ext):
    from huggingface_hub import HfApi

    api, repo = HfApi(token=ALICE), f"alice/stream-{ext}-{tmp_path.name[-12:]}"
    api.create_repo(repo, repo_type="dataset")
    for part in range(2):
        pairs = [(f"Question {part}.{i}?", f"Answer {part}.{i}.") for i in range(50)]
        rows = ("".join(json.dumps({"prompt": q, "response": a}) + "\n" for q, a in pairs) if ext == "jsonl" else
                "prompt,response\n" + "".join(f"{q},{a}\n" for q, a in pairs))
        api.upload_file(path_or_fileobj=rows.encode(), path_in_repo=f"data/train-0000{part}-of-00002.{ext}",
                        repo_id=repo, repo_type="dataset")

    def read(**source):
        start = len(hub.state.requests)
        r = recipe_from_dict({"source": {"hub": repo, **source}})
        loaded = sources.load_source(r)
        stage = Normalise.for_source(r.source, loaded.column_names)
        rows = [(k["source_index"], k["prompt"][0]["content"]) for b in loaded.batches(3) for k in stage(b)[0].to_pylist()]
        got = [r for r in hub.state.requests[start:] if "/resolve/" in r and "/data/train-" in r]
        return loaded.stats()["streaming"], rows, got

    streamed, rows, fetched = read(limit=4)
    assert streamed and rows == [(i, f"Question 0.{i}?") for i in range(4)]
    assert fetched and all("train-00000-of-00002" in r for r in fetched), fetched
    whole, rows_whole, fetched_whole = read(limit=4, streaming=False)
    assert not whole and rows_whole == rows and any("train-00001-of-00002" in r for r in fetched_whole)
    assert read(limit=4, shuffle=True)[0] is False


# ----------------------------------------------------------------------- layouts


@pytest.mark.parametrize("row, prompt, system", [
    ({"instruction": "Summarise", "context": "Long text.", "response": "Short.", "category": "summarization"},
     "Summarise\n\nLong text.", None),
    ({"system": "Be brief.", "question": "Why?", "response": "Because."}, "Why?", "Be brief."),
    ({"id": "x", "system_prompt": "You are kind.", "question": "Hi?", "response": "Hello."}, "Hi?", "You are kind."),
])
def test_dolly_and_orca_layouts(tmp_path, row, prompt, system):
    kept, dropped = normalised(write_jsonl(tmp_path / "d.jsonl", [row]))
    expect = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    assert not dropped and kept[0]["prompt"] == expect and kept[0]["chosen"] == row["response"]


def test_a_mapping_that_leaves_context_columns_unused_is_reported(tmp_path):
    cols = ["system_prompt", "question", "response", "input"]
    r = recipe_from_dict({"source": {"path": "x.jsonl", "columns": {"prompt": "question", "response": "response"}}})
    assert Normalise.for_source(r.source, cols).unused == ["system_prompt", "input"]
    r = recipe_from_dict({"source": {"path": "x.jsonl"}})
    assert Normalise.for_source(r.source, cols).unused == ["input"]
    assert Normalise.for_source(r.source, ["messages", "system"]).unused == ["system"]
