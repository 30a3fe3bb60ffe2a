"""The dataset card (README.md): YAML metadata the Hub understands plus a generated body, both
rendered from the run's stats.json and recipe.yaml through the Jinja templates in cards/
(shipped in the package as pairforge/hub/templates, a link to cards/).

A re-render keeps what the owner added by hand: metadata keys pairforge does not generate (and
owner-chosen license / language / pretty_name), extra tags, and prose outside the
`<!-- pairforge:begin -->` ... `<!-- pairforge:end -->` markers.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

BEGIN, END = "<!-- pairforge:begin -->", "<!-- pairforge:end -->"
GENERATED_KEYS = ("configs", "dataset_info", "size_categories", "task_categories", "source_datasets")
OWNER_DEFAULTS = {"license": "other", "language": ["en"]}
BASE_TAGS = ["dpo", "ipo", "preference", "synthetic", "pairforge"]


def size_category(n: int) -> str:
    for hi, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                      (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")):
        if n < hi:
            return label
    return "n>10M"


def split_front_matter(text: str) -> tuple[dict, str]:
    if text.startswith("---"):
        end = text.find("\n---", 3)
        if end >= 0:
            meta = yaml.safe_load(text[3:end]) or {}
            return (meta if isinstance(meta, dict) else {}), text[end + 4 :].lstrip("\n")
    return {}, text


def _dataset_info(out_dir: Path) -> tuple[dict, list, dict]:
    """(dataset_info block, configs block, split sizes) from the Parquet files."""
    import datasets
    import pyarrow.parquet as pq

    splits, features, data_files = [], None, []
    sizes = {}
    for f in sorted((out_dir / "data").glob("*.parquet")):
        split = f.name.split("-")[0]
        meta = pq.ParquetFile(str(f)).metadata
        features = features or datasets.Features.from_arrow_schema(pq.read_schema(str(f)))
        splits.append({"name": split, "num_bytes": f.stat().st_size, "num_examples": meta.num_rows})
        data_files.append({"split": split, "path": f"data/{split}-*"})
        sizes[split] = meta.num_rows
    total = sum(s["num_bytes"] for s in splits)
    info = {"features": features._to_yaml_list() if features else [], "splits": splits,
            "download_size": total, "dataset_size": total}
    return info, [{"config_name": "default", "data_files": data_files}], sizes


def _example(out_dir: Path) -> dict:
    import pyarrow.parquet as pq

    row = pq.read_table(str(sorted((out_dir / "data").glob("train-*.parquet"))[0])).slice(0, 1).to_pylist()[0]

    def text(v):
        return v[0]["content"] if isinstance(v, list) else v

    prompt = row["prompt"] if isinstance(row["prompt"], list) else [{"role": "user", "content": row["prompt"]}]
    return {"prompt": prompt, "chosen": text(row["chosen"]), "rejected": text(row["rejected"])}


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
    recipe = yaml.safe_load((out_dir / "recipe.yaml").read_text())
    info, configs, sizes = _dataset_info(out_dir)
    source_name = stats["source"]["hub"] or Path(stats["source"]["description"]).name
    lineage = stats.get("lineage")

    pretty = recipe.get("output", {}).get("pretty_name") or f"{source_name} preference pairs ({stats['weak_model']['name']} rejections)"
    body = jinja_env().get_template("dataset_card.md.j2").render(
        s=stats, r=_Attr(recipe), repo_id=repo_id or str(out_dir), pretty_name=pretty, source_name=source_name,
        weak_name=stats["weak_model"]["name"], example=_example(out_dir), lineage=lineage and _Attr(lineage))

    old_meta, old_body = split_front_matter(existing or "")
    meta = {
        "license": recipe.get("output", {}).get("license") or OWNER_DEFAULTS["license"],
        "language": recipe.get("output", {}).get("language") or OWNER_DEFAULTS["language"],
        "pretty_name": pretty,
        "size_categories": [size_category(sum(sizes.values()))],
        "task_categories": ["text-generation"],
        "tags": list(BASE_TAGS),
    }
    if stats["source"]["hub"]:
        meta["source_datasets"] = [stats["source"]["hub"]]
    meta["configs"] = configs
    meta["dataset_info"] = info
    for k, v in old_meta.items():
        if k == "tags":
            meta["tags"] = meta["tags"] + [t for t in (v or []) if t not in meta["tags"]]
        elif k not in GENERATED_KEYS:
            meta[k] = v  # the owner's metadata (and owner-edited license, language, name) wins
    block = f"{BEGIN}\n{body.strip()}\n{END}"
    if BEGIN in old_body and END in old_body:
        before, rest = old_body.split(BEGIN, 1)
        after = rest.split(END, 1)[1]
        new_body = f"{before}{block}{after}"
    elif old_body.strip():
        new_body = f"{old_body.rstrip()}\n\n{block}\n"
    else:
        new_body = f"{block}\n"
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
    return f"---\n{front}---\n\n{new_body.lstrip()}"


class _Attr(dict):
    """dict with attribute access for the template (r.weak_model.sampling.seed)."""

    def __getattr__(self, k):
        v = self[k]
        return _Attr(v) if isinstance(v, dict) else v
