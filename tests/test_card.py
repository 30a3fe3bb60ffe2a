"""The dataset card: valid Hub metadata, no local paths, every number from the run's files."""

from __future__ import annotations

import json
import re

import pyarrow.parquet as pq
import pytest
import yaml

from conftest import REPO, tiny_recipe
from hubserver import check_card


@pytest.fixture(scope="module")
def built(tiny_model, tmp_path_factory):
    from pairforge.pipeline.build import run_build
    from pairforge.recipe import recipe_from_dict

    out = tmp_path_factory.mktemp("card") / "out"
    src = {"path": str(REPO / "pairforge" / "demo" / "sft.jsonl")}
    run_build(recipe_from_dict(tiny_recipe(tiny_model, src, out, filters={"max_similarity": 0.85},
                                           decontaminate={"sets": [str(REPO / "pairforge" / "demo" / "sft.jsonl")]})),
              quiet=True)
    return out


def card_parts(out):
    text = (out / "README.md").read_text()
    _, front, body = text.split("---", 2)
    return yaml.safe_load(front), body


def test_card_passes_the_strict_hub_without_warnings(built):
    errors, warnings = check_card((built / "README.md").read_text(), "dataset")
    assert errors == [] and warnings == [], (errors, warnings)
    meta, _ = card_parts(built)
    assert meta["license"] == "unknown"


def test_no_local_path_in_the_card(built, tiny_model):
    text = (built / "README.md").read_text()
    for path in (str(built), str(built.parent), tiny_model, str(REPO)):
        assert path not in text, path
    assert "tiny-model" in text  # the model folder's name stands in for its path


def test_every_number_in_the_card_is_in_the_runs_files(built):
    _, body = card_parts(built)
    prose = re.sub(r"```.*?```", "", body, flags=re.S)  # snippets and citations
    prose = re.sub(r"## Example pair.*?(?=\n## )", "", prose, flags=re.S)  # the data's own text
    numbers = set(re.findall(r"(?<![\w.`-])\d+(?:\.\d+)?(?![\w.`-])", prose))
    known = (built / "stats.json").read_text() + (built / "recipe.yaml").read_text()
    allowed = set(re.findall(r"\d+(?:\.\d+)?", known))
    assert numbers and numbers <= allowed, numbers - allowed
    stats = json.loads((built / "stats.json").read_text())
    assert f"| {stats['rows_read']} |" in body and str(stats["rows_written"]) in body


def test_num_bytes_is_arrow_bytes_as_datasets_reports(built, tmp_path):
    import datasets

    meta, _ = card_parts(built)
    for split in meta["dataset_info"]["splits"]:
        f = built / "data" / f"{split['name']}-00000-of-00001.parquet"
        assert split["num_bytes"] == pq.read_table(str(f)).nbytes != f.stat().st_size
        ds = datasets.load_dataset("parquet", data_files=str(f), split="train", cache_dir=str(tmp_path))
        assert split["num_bytes"] == ds.info.splits["train"].num_bytes
    assert meta["dataset_info"]["dataset_size"] == sum(s["num_bytes"] for s in meta["dataset_info"]["splits"])


def test_card_has_settings_limitations_license_and_plot(built):
    from PIL import Image

    _, body = card_parts(built)
    recipe = yaml.safe_load((built / "recipe.yaml").read_text())
    assert "| `filters.max_similarity` | `0.85` |" in body
    assert f"| `dedupe.near.threshold` | `{recipe['dedupe']['near']['threshold']}` |" in body
    assert "| `decontaminate.sets` | `sft.jsonl` |" in body and "| `decontaminate.ngram` |" in body
    assert "## Limitations" in body and "No human labels" in body
    assert "](images/lengths.png)" in body
    with Image.open(built / "images" / "lengths.png") as im:
        assert im.format == "PNG" and im.size[0] > 100


def test_builtin_weak_model_license_is_carried():
    from pairforge.hub.card_facts import weak_model_facts

    facts = weak_model_facts({"weak_model": {"name": "smollm2-135m-instruct", "digest": "smollm2-135m-instruct:ab12"}})
    assert facts["license"] == "apache-2.0" and "HuggingFaceTB/SmolLM2-135M-Instruct" in facts["shown"]
    hub = weak_model_facts({"weak_model": {"name": "org/m", "digest": "hub:org/m@main:None", "license": "mit"}})
    assert hub["license"] == "mit"  # a Hub model's license, where the build recorded it
    assert weak_model_facts({"weak_model": {"name": "org/m", "digest": "hub:org/m@main:None"}})["license"] is None


def test_recorded_source_license_reaches_the_card(built, tmp_path):
    import shutil

    from pairforge.hub.card import render_card

    _, body = card_parts(built)
    assert "| Source license | not recorded: see the source's own card |" in body
    out = tmp_path / "b"
    shutil.copytree(built, out, ignore=shutil.ignore_patterns(".pairforge_work", "excluded"))
    stats = json.loads((out / "stats.json").read_text())
    stats["source"]["license"] = "cc-by-4.0"
    (out / "stats.json").write_text(json.dumps(stats))
    card = render_card(out)
    assert "| Source license | cc-by-4.0 |" in card and "(sft.jsonl, cc-by-4.0)" in card


@pytest.mark.parametrize("n,label", [(999, "n<1K"), (9_999_999, "1M<n<10M"), (10_000_000, "10M<n<100M"),
                                     (250_000_000, "100M<n<1B"), (10**13, "n>1T")])
def test_size_categories(n, label):
    from pairforge.hub.card_facts import size_category

    assert size_category(n) == label


@pytest.mark.parametrize("output,match", [
    ({"license": "apache"}, "not a Hub license id"),
    ({"license": "other"}, "license_name"),
    ({"license": "other", "license_name": "My License"}, "license_name"),
    ({"license": "other", "license_name": "my-license-1.0"}, "license_link"),
    ({"license": "mit", "license_name": "x"}, "only with output.license 'other'"),
    ({"format": "conversational", "chat_template": "{{ x }}"}, "only the 'standard' layout"),
    ({"format": "standard", "chat_template": "no/such/file.jinja"}, "neither a Jinja template nor a file"),
])
def test_output_section_is_checked_at_load(output, match):
    from pairforge.errors import RecipeError
    from pairforge.recipe import recipe_from_dict

    with pytest.raises(RecipeError, match=match):
        recipe_from_dict({"source": {"path": "x.jsonl"}, "output": output})


def test_license_other_with_name_and_link_is_a_valid_card(built, tmp_path):
    import shutil

    from pairforge.hub.card import render_card

    out = tmp_path / "b"
    shutil.copytree(built, out, ignore=shutil.ignore_patterns(".pairforge_work", "excluded"))
    recipe = yaml.safe_load((out / "recipe.yaml").read_text())
    recipe["output"].update(license="other", license_name="my-license-1.0", license_link="LICENSE")
    (out / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    card = render_card(out)
    assert check_card(card, "dataset") == ([], [])
    meta = yaml.safe_load(card.split("---", 2)[1])
    assert (meta["license"], meta["license_name"], meta["license_link"]) == ("other", "my-license-1.0", "LICENSE")


# ------------------------------------------------------------------ truncation under the default `drop`


@pytest.fixture(scope="module")
def cut_mix(tiny_model, tmp_path_factory):
    """A build under the default filters.truncated (drop) whose weak model ends some answers within
    max_tokens and is cut on the others: the tiny model, stopping at any of 40 more tokens."""
    import shutil

    from pairforge.pipeline.build import run_build
    from pairforge.recipe import recipe_from_dict

    root = tmp_path_factory.mktemp("cut-mix")
    model = root / "stopper"
    shutil.copytree(tiny_model, model)
    gc = json.loads((model / "generation_config.json").read_text())
    gc["eos_token_id"] = [gc["eos_token_id"], *range(3, 43)]
    (model / "generation_config.json").write_text(json.dumps(gc))
    r = tiny_recipe(str(model), {"path": str(REPO / "pairforge" / "demo" / "sft.jsonl")}, root / "out",
                    filters={"truncated": "drop"})
    return root / "out", run_build(recipe_from_dict(r), quiet=True)


def test_truncation_figures_in_the_card_are_their_own_stats(cut_mix):
    from pairforge.cli import format_summary

    out, summary = cut_mix
    stats = json.loads((out / "stats.json").read_text())
    written = [r for f in sorted((out / "data").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    assert written and all(r["rejected_finish_reason"] == "stop" for r in written)  # no cut answer in data/
    dropped = stats["drops"]["filter_post"]["rejected_truncated"]
    generated = next(f["rows"] for f in stats["funnel"] if f["stage"] == "generate")
    share = stats["length_picture"]["truncated_share_generated"]
    assert 0 < dropped < generated and 0 < share < 1  # a mix: some cut, some finished
    assert summary["drops"]["filter_post"]["rejected_truncated"] == dropped
    assert f"rejected_truncated: {dropped}" in format_summary({**summary, "output_dir": str(out)})
    _, body = card_parts(out)
    assert f"| filter_post | rejected_truncated | {dropped} |" in body
    assert (f"Rejected answers cut at `max_tokens`, before the filters: a share of {share} of the {generated} "
            f"generated. `filters.truncated: drop` dropped {dropped} of them (reason `rejected_truncated`); "
            "no written pair has a cut rejected answer.") in body
    assert f"| Share of rejected answers cut at their budget, before the filter | {share} (filters.truncated: drop) |" in body
    assert f"{dropped} cut answers were dropped (`filters.truncated: drop`)" in body
    assert not re.search(r"(?<![\d.])0 of \d", body)  # the old figure: cut answers among the written rows, 0 here


def test_truncation_under_keep_counts_the_written_cut_answers(built):
    stats = json.loads((built / "stats.json").read_text())
    cut = stats["rejected_finish_reason"]["length"]
    assert cut > 0 and "rejected_truncated" not in stats["drops"].get("filter_post", {})
    _, body = card_parts(built)
    assert (f"`filters.truncated: keep` kept them: {cut} of the {stats['rows_written']} written pairs have a cut "
            "rejected answer.") in body
    assert f"{cut} of the {stats['rows_written']} written\n  pairs keep a cut rejected answer" in body


def test_a_local_weak_model_and_source_are_named_once_by_their_labels():
    """stats.json names local folders/files by label (name + digest); the card shows the bare name once."""
    from pairforge.hub.card_facts import label_base, weak_model_facts

    stats = {"weak_model": {"name": "tiny (local folder, sha256 0123456789abcdef)", "digest": "local:0123456789abcdef"}}
    facts = weak_model_facts(stats)
    assert facts["shown"] == "`tiny` (a local model folder, weights sha256 `0123456789abcdef`)"
    assert facts["short"] == "tiny 01234567"
    assert label_base("sft.jsonl (local file, sha256 00ff)") == "sft.jsonl"
    assert label_base("/old/style/path/tiny/") == "tiny"  # stats.json written before labels
