"""What the dataset card states, gathered from the build folder's written files: split sizes and
Arrow bytes, an example pair, the weak model as a name (never a local path), its license, and the
quality stages' settings from recipe.yaml."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import PairforgeError

SIZE_LABELS = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
               (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"),
               (10_000_000_000, "1B<n<10B"), (100_000_000_000, "10B<n<100B"), (1_000_000_000_000, "100B<n<1T"))
SETTINGS_SECTIONS = ("filters", "dedupe", "decontaminate")


def size_category(n: int) -> str:
    """The Hub's size category of n rows (datasets' size_categories.json)."""
    for hi, label in SIZE_LABELS:
        if n < hi:
            return label
    return "n>1T"


def read_parquet(f: Path):
    """A data file of the build; one that is not Parquet (a corrupt copy whose manifest matches) is an error."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(str(f))
    except (pa.ArrowException, OSError) as e:
        raise PairforgeError(f"{f}: not a readable Parquet file ({str(e).splitlines()[0][:200] if str(e) else e}); "
                             "rebuild the folder with pairforge build") from None


def dataset_info(out_dir: Path) -> tuple[dict, list, dict]:
    """(dataset_info block, configs block, split sizes) from the Parquet files. num_bytes is the Arrow
    size (what `datasets` reports), download_size the Parquet files' size."""
    import datasets

    splits, features, data_files, sizes, download = [], None, [], {}, 0
    for f in sorted((out_dir / "data").glob("*.parquet")):
        split = f.name.split("-")[0]
        table = read_parquet(f)
        features = features or datasets.Features.from_arrow_schema(table.schema)
        splits.append({"name": split, "num_bytes": table.nbytes, "num_examples": table.num_rows})
        data_files.append({"split": split, "path": f"data/{split}-*"})
        sizes[split] = table.num_rows
        download += f.stat().st_size
    info = {"features": features._to_yaml_list() if features else [], "splits": splits,
            "download_size": download, "dataset_size": sum(s["num_bytes"] for s in splits)}
    return info, [{"config_name": "default", "data_files": data_files}], sizes


def example(out_dir: Path) -> dict:
    """The first training pair as {prompt: messages, chosen: text, rejected: text}, whatever the layout."""
    row = read_parquet(sorted((out_dir / "data").glob("train-*.parquet"))[0]).slice(0, 1).to_pylist()[0]

    def text(v):
        return v[-1]["content"] if isinstance(v, list) else v

    if "question" in row:  # intel
        prompt = ([{"role": "system", "content": row["system"]}] if row["system"] else []) + \
                 [{"role": "user", "content": row["question"]}]
    elif "prompt" not in row:  # messages: the prompt is the conversation before the answer
        prompt = row["chosen"][:-1]
    else:
        prompt = row["prompt"] if isinstance(row["prompt"], list) else [{"role": "user", "content": row["prompt"]}]
    return {"prompt": prompt, "chosen": text(row["chosen"]), "rejected": text(row["rejected"])}


def label_base(name: str) -> str:
    """The bare name of a published local label (`tiny (local folder, sha256 …)` -> `tiny`), or of a
    path written by an older pairforge (its last part)."""
    import re

    return re.sub(r" \(local (file|folder)(, sha256 [0-9a-f]+)?\)$", "", Path(name.rstrip("/")).name)


def weak_model_facts(stats: dict) -> dict:
    """The weak model as the card names it (Hub id, or a local folder's name and weights digest) and its license."""
    from ..weights import BUILTIN_MODELS

    wm = stats["weak_model"]
    name, digest = wm["name"], wm.get("digest") or ""
    builtin = BUILTIN_MODELS.get(name)
    folder = label_base(name)
    if builtin:
        shown = f"{builtin['upstream']} (pairforge built-in `{name}`, GGUF sha256 `{digest.rsplit(':', 1)[-1]}`)"
    elif digest.startswith("local:"):
        shown = f"`{folder}` (a local model folder, weights sha256 `{digest.split(':', 1)[1]}`)"
    elif digest.startswith("served:"):
        shown = f"`{name}` (served over an OpenAI-compatible API)"
    else:
        shown = f"[{name}](https://huggingface.co/{name})" + (f" (revision `{wm['revision']}`)" if wm.get("revision") else "")
    short = builtin["upstream"] if builtin else name
    if digest.startswith("local:"):
        short = f"{folder} {digest.split(':', 1)[1][:8]}"
    # a Hub model's own license, where the build recorded one (stats.json weak_model.license)
    return {"shown": shown, "short": short, "license": builtin["license"] if builtin else wm.get("license")}


def truncation_facts(stats: dict, recipe: dict) -> dict:
    """The card's truncation figures, each one stats.json's own: rows generated (the funnel's
    generate stage), the share of them cut at max_tokens before the filters (length_picture),
    rows dropped for it (drops.filter_post.rejected_truncated) and written pairs whose rejected
    answer was cut (rejected_finish_reason.length: 0 under filters.truncated drop)."""
    generated = next((f["rows"] for f in stats.get("funnel") or [] if f["stage"] == "generate"), None)
    gen = stats.get("generation") or {}
    nudge = ((recipe.get("weak_model") or {}).get("sampling") or {}).get("end_nudge")
    return {"mode": (recipe.get("filters") or {}).get("truncated", "drop"), "generated": generated,
            "share": (stats.get("length_picture") or {}).get("truncated_share_generated"),
            "dropped": ((stats.get("drops") or {}).get("filter_post") or {}).get("rejected_truncated", 0),
            "written": (stats.get("rejected_finish_reason") or {}).get("length", 0),
            # tokens the weak model generated (continuations included) vs those in the written pairs
            "tokens_generated": gen.get("tokens_generated"),
            "tokens_published": ((stats.get("lengths") or {}).get("rejected") or {}).get("total"),
            "continued": gen.get("continued", 0),
            "tokens_continued": gen.get("tokens_continued", 0),
            # length-controlled sampling: the setting from recipe.yaml (None: off, or a recipe from before
            # it), the count from stats.json
            "nudge": nudge if isinstance(nudge, dict) and nudge.get("enabled") else None,
            "ended_after_nudge": gen.get("ended_after_nudge", 0)}


def lineage_facts(lineage: dict | None) -> dict | None:
    """stats.json's lineage with every dataset and model named as lineage.public_name names them
    (a stats.json written before lineage named folders by label may hold local paths)."""
    from ..lineage import public_name

    if not lineage:
        return None
    return {k: public_name(v) if k in ("parent_dataset", "parent_model", "weak_model") else v
            for k, v in lineage.items() if k != "weak_model_dir"}


def stage_settings(recipe: dict) -> list[tuple[str, str]]:
    """Every filter / dedupe / decontamination setting from recipe.yaml as (dotted key, value) rows;
    an evaluation set shows its Hub id or file name, never a local path."""
    rows = []

    def walk(prefix, v):
        if isinstance(v, dict):
            for k, x in v.items():
                walk(f"{prefix}.{k}", x)
        elif prefix == "decontaminate.sets":
            names = [s.get("hub") or Path(s.get("path") or "").name for s in v]
            rows.append((prefix, ", ".join(names) or "none"))
        else:
            rows.append((prefix, json.dumps(v, ensure_ascii=False) if isinstance(v, (list, type(None), bool)) else str(v)))

    for section in SETTINGS_SECTIONS:
        walk(section, recipe.get(section) or {})
    return rows
