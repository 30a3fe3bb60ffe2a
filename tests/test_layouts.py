"""Output layouts, proved with the consumers' own code.

- axolotl (0.19.0, the newest release that installs on Python 3.11: 0.20 and 0.21 need 3.12; installed with
  --no-deps, see Makefile): each layout's YAML as the
  card and README give it is loaded with axolotl's `prompt_strategies.dpo.load` and mapped over the
  written Parquet the way `axolotl/utils/data/rl.py:_load_split` / `_map_dataset` do.
- TRL: `trl.data_utils.maybe_extract_prompt` + `maybe_apply_chat_template`, what DPOTrainer runs first.
- alignment-handbook (not on PyPI): the requirements of `src/alignment/data.py:apply_chat_template`
  (task="dpo", commit a8dcde2, the last with that function) asserted on the written rows.
"""

from __future__ import annotations

import inspect
import re
from functools import partial
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from conftest import CHATML, REPO, tiny_recipe

LAYOUTS = ("conversational", "standard", "messages", "intel")
SYSTEM = "You are terse."


def shard_table():
    """Rows as the shards hold them, plus a score column another stage might add."""
    from pairforge.data.schemas import generated_schema

    rows = [
        {"prompt": [{"role": "user", "content": "Name a prime."}], "chosen": "7", "rejected": "8"},
        {"prompt": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Sky colour?"}],
         "chosen": "Blue.", "rejected": "Green."},
    ]
    for i, r in enumerate(rows):
        r.update(id=f"id{i}", source_index=i, turn_index=0, sample_index=0, rejected_model="weak",
                 rejected_finish_reason="stop", prompt_tokens=3, chosen_tokens=1, rejected_tokens=1)
    t = pa.Table.from_pylist(rows, generated_schema())
    return t.append_column("score_margin", pa.array([0.5, 0.25], pa.float64()))


@pytest.mark.parametrize("fmt", LAYOUTS)
def test_metadata_columns_pass_through_every_layout(fmt):
    from pairforge.pipeline.output_layouts import template_renderer, to_output_table

    t = shard_table()
    out = to_output_table(t, fmt, template_renderer(CHATML))
    for name in ("id", "source_index", "turn_index", "sample_index", "rejected_model", "rejected_finish_reason",
                 "prompt_tokens", "chosen_tokens", "rejected_tokens", "score_margin"):
        assert out[name].to_pylist() == t[name].to_pylist(), name
    assert out.num_rows == t.num_rows


def test_standard_prompt_is_the_chat_template_with_generation_prompt():
    from pairforge.pipeline.output_layouts import template_renderer, to_output_table

    out = to_output_table(shard_table(), "standard", template_renderer(CHATML)).to_pylist()
    assert out[1]["prompt"] == (f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\nSky colour?<|im_end|>\n"
                                "<|im_start|>assistant\n")
    assert (out[1]["chosen"], out[1]["rejected"]) == ("Blue.", "Green.")


def test_intel_layout_has_orca_dpo_pairs_columns_and_refuses_history():
    from pairforge.errors import PairforgeError
    from pairforge.pipeline.output_layouts import to_output_table

    out = to_output_table(shard_table(), "intel")
    assert out.column_names[:4] == ["system", "question", "chosen", "rejected"]
    assert out.to_pylist()[0]["system"] == "" and out.to_pylist()[1]["system"] == SYSTEM
    t = shard_table()
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
               {"role": "user", "content": "bye"}]
    t = t.set_column(t.column_names.index("prompt"), "prompt", pa.array([history, history], t.schema.field("prompt").type))
    with pytest.raises(PairforgeError, match="intel layout holds one system prompt and one question"):
        to_output_table(t, "intel")


# ------------------------------------------------------------------ real builds, read by the consumers


@pytest.fixture(scope="module")
def builds(tiny_model, tmp_path_factory):
    """One tiny build per layout; `standard` takes the tiny model's tokenizer's chat template."""
    from pairforge.pipeline.build import run_build
    from pairforge.recipe import recipe_from_dict

    src = {"path": str(REPO / "pairforge" / "demo" / "sft.jsonl"), "limit": 6}
    outs = {}
    for fmt in LAYOUTS:
        out = tmp_path_factory.mktemp(f"layout-{fmt}") / "out"
        run_build(recipe_from_dict(tiny_recipe(tiny_model, src, out, output={"format": fmt})), quiet=True)
        outs[fmt] = out
    return outs


def rows(out: Path) -> list[dict]:
    return pq.read_table(str(out / "data" / "train-00000-of-00001.parquet")).to_pylist()


def documented_axolotl_yaml(fmt: str, path: str) -> dict:
    """The axolotl config exactly as the card (and README) print it for this layout."""
    from pairforge.hub.card import jinja_env

    text = jinja_env().get_template("layout_usage.md.j2").render(layout=fmt, repo_id=path)
    return yaml.safe_load(re.search(r"```yaml\n(.*?)```", text, re.S).group(1))


def run_axolotl(cfg: dict, tokenizer):
    """axolotl/utils/data/rl.py:_load_split + _map_dataset, for one local dataset."""
    import datasets
    from axolotl.prompt_strategies.dpo import load as load_dpo

    ds_cfg = cfg["datasets"][0]
    ds = datasets.load_dataset(ds_cfg["path"], split=ds_cfg["split"])
    fn = load_dpo(ds_cfg["type"], cfg, dataset_idx=0)
    assert fn is not None, f"axolotl could not load strategy {ds_cfg['type']}"
    fn, kwargs = fn if isinstance(fn, tuple) else (fn, {})
    if "tokenizer" in inspect.signature(fn).parameters:
        fn = partial(fn, tokenizer=tokenizer)
    kwargs["remove_columns"] = [c for c in kwargs.get("remove_columns", []) if c in ds.column_names]
    return ds.map(fn, **kwargs)


@pytest.mark.parametrize("fmt", LAYOUTS)
def test_axolotl_trains_on_each_layout_with_the_documented_yaml(builds, tiny_model, fmt):
    pytest.importorskip("axolotl.prompt_strategies.dpo")
    from transformers import AutoTokenizer

    out = builds[fmt]
    cfg = documented_axolotl_yaml(fmt, str(out))
    mapped = run_axolotl(cfg, AutoTokenizer.from_pretrained(tiny_model))
    source = rows(out)
    assert mapped.num_rows == len(source)
    for got, row in zip(mapped, source):
        question = row["question"] if fmt == "intel" else None
        for text in (got["prompt"], got["chosen"], got["rejected"]):
            assert isinstance(text, str) and "{'role'" not in text and "'content'" not in text
        assert got["prompt"].endswith("<|im_start|>assistant\n"), got["prompt"]
        if question is not None:
            assert f"<|im_start|>user\n{question}<|im_end|>" in got["prompt"]
        last = lambda v: v[-1]["content"] if isinstance(v, list) else v  # noqa: E731
        assert got["chosen"].startswith(last(row["chosen"])) and got["rejected"].startswith(last(row["rejected"]))


@pytest.mark.parametrize("fmt", ["conversational", "standard", "messages"])
def test_trl_reads_each_layout(builds, tiny_model, fmt):
    from transformers import AutoTokenizer
    from trl.data_utils import maybe_apply_chat_template, maybe_extract_prompt

    tok = AutoTokenizer.from_pretrained(tiny_model)
    for row in rows(builds[fmt]):
        ex = maybe_apply_chat_template(maybe_extract_prompt({k: row[k] for k in ("prompt", "chosen", "rejected") if k in row}), tok)
        assert ex["prompt"].endswith("<|im_start|>assistant\n") and ex["prompt"].count("<|im_start|>assistant\n") == 1 + \
            sum(m["role"] == "assistant" for m in (row.get("prompt") if isinstance(row.get("prompt"), list) else []))
        chosen = row["chosen"][-1]["content"] if isinstance(row["chosen"], list) else row["chosen"]
        assert ex["chosen"].startswith(chosen)


def is_openai_format(v) -> bool:
    return isinstance(v, list) and all(isinstance(m, dict) and "role" in m and "content" in m for m in v)


@pytest.mark.parametrize("fmt", LAYOUTS)
def test_alignment_handbook_dpo_requirements(builds, fmt):
    """alignment-handbook src/alignment/data.py:apply_chat_template(task="dpo"): chosen and rejected must be
    OpenAI-format message lists; a `prompt` in OpenAI format is the prompt and chosen/rejected are used whole,
    else the prompt is chosen[:-1] and the answers are the last turn of chosen / rejected."""
    for row in rows(builds[fmt]):
        takes = is_openai_format(row["chosen"]) and is_openai_format(row["rejected"])
        assert takes == (fmt in ("conversational", "messages"))
        if fmt == "conversational":
            assert is_openai_format(row["prompt"]) and [m["role"] for m in row["chosen"]] == ["assistant"]
        if fmt == "messages":
            assert "prompt" not in row and row["chosen"][:-1] == row["rejected"][:-1]
            assert row["chosen"][-1]["role"] == "assistant" and row["chosen"][-2]["role"] == "user"


@pytest.mark.parametrize("fmt", LAYOUTS)
def test_readme_and_card_give_the_same_axolotl_yaml(builds, fmt):
    card = (builds[fmt] / "README.md").read_text()
    readme = (REPO / "README.md").read_text()
    for line in ("type: " + documented_axolotl_yaml(fmt, "x")["datasets"][0]["type"],
                 *(f"{k}: {v}" for k, v in documented_axolotl_yaml(fmt, "x")["datasets"][0].items()
                   if k.startswith("field_"))):
        assert line in card and line in readme, line
    assert card.count("\n    type: ") == 1  # the card shows its own layout's axolotl config only


# ------------------------------------------------------------------ chosen and rejected in the right columns


def _answers(fmt: str, row: dict) -> tuple[str, str]:
    pick = lambda v: v[-1]["content"] if isinstance(v, list) else v  # noqa: E731
    return pick(row["chosen"]), pick(row["rejected"])


@pytest.mark.parametrize("fmt", LAYOUTS)
def test_chosen_and_rejected_land_in_their_own_columns(fmt):
    """The shard's chosen answer is published as chosen, its rejected one as rejected, in every layout."""
    from pairforge.pipeline.output_layouts import template_renderer, to_output_table

    t = shard_table()
    out = to_output_table(t, fmt, template_renderer(CHATML)).to_pylist()
    assert [_answers(fmt, r) for r in out] == list(zip(t["chosen"].to_pylist(), t["rejected"].to_pylist()))


@pytest.mark.parametrize("fmt", LAYOUTS)
def test_a_build_publishes_the_sft_answer_as_chosen(builds, fmt):
    """In a real build, each row's chosen answer is the SFT data's answer at its source_index, and the
    rejected one is not (it is the weak model's): a swap anywhere on the way fails here."""
    import json

    sft = [json.loads(line) for line in (REPO / "pairforge" / "demo" / "sft.jsonl").read_text().splitlines()]
    published = rows(builds[fmt])
    assert published
    for row in published:
        chosen, rejected = _answers(fmt, row)
        assert chosen == sft[row["source_index"]]["messages"][-1]["content"], row["source_index"]
        assert rejected != chosen and row["rejected_model"]


def test_standard_prompt_has_one_bos_where_the_tokenizer_adds_it(tiny_model, tmp_path):
    """A tokenizer that adds BOS by itself (Llama's) and a template that writes {{ bos_token }}: TRL
    tokenises the standard prompt with special tokens, so the published prompt leaves the BOS out."""
    import shutil

    from tokenizers import processors
    from transformers import AutoTokenizer
    from trl.data_utils import _tokenize

    from pairforge.output_section import Output
    from pairforge.pipeline.output_layouts import prompt_renderer
    from pairforge.weights import resolve_model

    folder = tmp_path / "bos-model"
    shutil.copytree(tiny_model, folder)
    tok = AutoTokenizer.from_pretrained(folder)
    tok.add_special_tokens({"bos_token": "<s>"})
    tok._tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{tok.bos_token} $A", special_tokens=[(tok.bos_token, tok.bos_token_id)])
    tok.chat_template = "{{ bos_token }}" + CHATML
    tok.save_pretrained(folder)
    tok = AutoTokenizer.from_pretrained(folder)
    assert tok("x").input_ids[0] == tok.bos_token_id  # it adds BOS itself
    render = prompt_renderer(Output(format="standard"), resolve_model(str(folder)))
    prompt = render([{"role": "user", "content": "Sky colour?"}])
    ids = _tokenize(tok, prompt)["input_ids"]  # what DPOTrainer does with a standard prompt
    assert ids.count(tok.bos_token_id) == 1 and ids[0] == tok.bos_token_id, prompt
