"""The dataset card (README.md): YAML metadata the Hub understands plus a generated body, both
rendered from the run's stats.json and recipe.yaml through the Jinja templates in cards/
(shipped in the package as pairforge/hub/templates, a link to cards/).

A re-render keeps what the owner added by hand: metadata keys pairforge does not generate (and
owner-chosen license / language / pretty_name), extra tags, and prose outside the
`<!-- pairforge:begin -->` ... `<!-- pairforge:end -->` markers. The metadata is merged first and the
body rendered from the merged values, so the body never names another license than the metadata.
Front matter is read and written with huggingface_hub's `DatasetCard` / `DatasetCardData`.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from ..errors import PairforgeError
from ..yaml_safe import load_yaml
from .card_facts import (dataset_info, example, label_base, lineage_facts, size_category, stage_settings, truncation_facts,
                         weak_model_facts)
from .plots import LENGTHS_PNG

BEGIN, END = "<!-- pairforge:begin -->", "<!-- pairforge:end -->"
GENERATED_KEYS = ("configs", "dataset_info", "size_categories", "task_categories", "source_datasets")
OWNER_DEFAULTS = {"license": "unknown", "language": ["en"]}
BASE_TAGS = ["dpo", "ipo", "preference", "synthetic", "pairforge"]


def split_front_matter(text: str) -> tuple[dict, str]:
    """(metadata, body) of a card, read by huggingface_hub's DatasetCard; its YAML is first read by
    load_yaml, which refuses alias bombs (DatasetCard's own yaml.safe_load would expand them)."""
    if not text.startswith("---"):
        return {}, text
    from huggingface_hub import DatasetCard

    try:
        end = text.find("\n---", 3)
        if end >= 0:
            load_yaml(text[3:end])
        card = DatasetCard(text)
    except (yaml.YAMLError, ValueError) as e:  # the remote card's metadata: not ours to repair
        raise PairforgeError(f"README.md: its metadata (the YAML between the --- lines) cannot be read "
                             f"({getattr(e, 'problem', None) or str(e).splitlines()[0]}); fix or remove it on the Hub, "
                             "then push again") from None
    return card.data.to_dict(), card.text.lstrip("\n")


def jinja_env():
    """The one Jinja environment for every card: strict (an unknown name is an error)."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(loader=FileSystemLoader(str(Path(__file__).parent / "templates")), undefined=StrictUndefined,
                      keep_trailing_newline=True)
    env.filters["quote_block"] = lambda t: (t or "").strip().replace("\n", "\n> ")
    return env


def render_card(out_dir, repo_id: str | None = None, existing: str | None = None) -> str:
    out_dir = Path(out_dir)
    stats = json.loads((out_dir / "stats.json").read_text())
    try:
        recipe = load_yaml((out_dir / "recipe.yaml").read_text())
    except (yaml.YAMLError, ValueError) as e:
        raise PairforgeError(f"{out_dir}/recipe.yaml: not a recipe pairforge wrote ({getattr(e, 'problem', None) or e})"
                             "; rebuild the folder with pairforge build") from None
    info, configs, sizes = dataset_info(out_dir)
    source_name = stats["source"]["hub"] or label_base(stats["source"]["description"])
    output = recipe.get("output", {})
    weak = weak_model_facts(stats)
    lineage = lineage_facts(stats.get("lineage"))

    pretty = output.get("pretty_name") or f"{source_name} preference pairs ({weak['short']} rejections)"
    old_meta, old_body = split_front_matter(existing or "")
    meta = _merge_meta(_metadata(stats, output, pretty, sizes, configs, info), old_meta)
    plot = LENGTHS_PNG if (out_dir / LENGTHS_PNG).is_file() else None
    body = jinja_env().get_template("dataset_card.md.j2").render(  # from the merged metadata: never contradicts it
        s=stats, r=_Attr(recipe), repo_id=repo_id or f"path/to/{out_dir.name}", pretty_name=meta["pretty_name"],
        source_name=source_name, weak=weak, weak_name=weak["short"], example=example(out_dir),
        lineage=lineage and _Attr(lineage), layout=output.get("format", "conversational"),
        settings=stage_settings(recipe), plot=plot, extra_columns=_extra_columns(info, output),
        license=meta["license"], cut=truncation_facts(stats, recipe))
    return _assemble(meta, body, old_body)


def _extra_columns(info: dict, output: dict) -> list[str]:
    from ..pipeline.output_layouts import layout_columns

    own = layout_columns(output.get("format", "conversational"))
    return [f["name"] for f in info["features"] if f["name"] not in own]


def _metadata(stats: dict, output: dict, pretty: str, sizes: dict, configs: list, info: dict) -> dict:
    meta = {"license": output.get("license") or OWNER_DEFAULTS["license"]}
    if meta["license"] == "other":
        meta["license_name"], meta["license_link"] = output.get("license_name"), output.get("license_link")
    meta.update({
        "language": output.get("language") or OWNER_DEFAULTS["language"],
        "pretty_name": pretty,
        "size_categories": [size_category(sum(sizes.values()))],
        "task_categories": ["text-generation"],
        "tags": list(BASE_TAGS),
    })
    if stats["source"]["hub"]:
        meta["source_datasets"] = [stats["source"]["hub"]]
    meta["configs"] = configs
    meta["dataset_info"] = info
    return meta


def _merge_meta(meta: dict, old_meta: dict) -> dict:
    """The generated metadata with the owner's kept: their keys, extra tags, and owner-edited license,
    language and name win over the recipe's."""
    for k, v in old_meta.items():
        if k == "tags":
            meta["tags"] = meta["tags"] + [t for t in (v or []) if t not in meta["tags"]]
        elif k not in GENERATED_KEYS:
            meta[k] = v
    if meta.get("license") != "other":  # license_name/link belong to 'other' only
        meta.pop("license_name", None), meta.pop("license_link", None)
    return meta


def _assemble(meta: dict, body: str, old_body: str) -> str:
    """The card: metadata (written by DatasetCardData), then the owner's prose around the generated block."""
    from huggingface_hub import DatasetCard, DatasetCardData

    block = f"{BEGIN}\n{body.strip()}\n{END}"
    if BEGIN in old_body and END in old_body:
        before, rest = old_body.split(BEGIN, 1)
        after = rest.split(END, 1)[1]
        new_body = f"{before}{block}{after}"
    elif old_body.strip():
        new_body = f"{old_body.rstrip()}\n\n{block}\n"
    else:
        new_body = f"{block}\n"
    return str(DatasetCard(f"---\n{DatasetCardData(**meta).to_yaml()}\n---\n\n{new_body.lstrip()}"))


class _Attr(dict):
    """dict with attribute access for the template (r.weak_model.sampling.seed)."""

    def __getattr__(self, k):
        v = self[k]
        return _Attr(v) if isinstance(v, dict) else v
