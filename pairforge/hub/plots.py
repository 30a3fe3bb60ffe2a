"""The card's length histogram: chosen vs rejected tokens per pair, from the written Parquet files."""

from __future__ import annotations

from pathlib import Path

LENGTHS_PNG = "images/lengths.png"


def write_length_plot(out_dir) -> str | None:
    """Draw images/lengths.png in the build folder; returns its relative path (None: no rows)."""
    import pyarrow.parquet as pq

    out_dir = Path(out_dir)
    chosen, rejected = [], []
    for f in sorted((out_dir / "data").glob("*.parquet")):
        t = pq.read_table(str(f), columns=["chosen_tokens", "rejected_tokens"])
        chosen += [v for v in t["chosen_tokens"].to_pylist() if v is not None]
        rejected += [v for v in t["rejected_tokens"].to_pylist() if v is not None]
    target = out_dir / LENGTHS_PNG
    if not chosen and not rejected:
        target.unlink(missing_ok=True)
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    _draw(chosen, rejected, target)
    return LENGTHS_PNG


def _draw(chosen: list[int], rejected: list[int], target: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    top = max(chosen + rejected) + 1
    bins = list(range(0, top + 1, max(1, top // 40 or 1)))
    ax.hist([chosen, rejected], bins=bins, label=[f"chosen ({len(chosen)})", f"rejected ({len(rejected)})"],
            color=["#2a9d8f", "#e76f51"], alpha=0.85)
    ax.set_xlabel("tokens (weak model's tokenizer)")
    ax.set_ylabel("pairs")
    ax.set_title("Answer lengths: chosen vs rejected")
    ax.legend()
    fig.tight_layout()
    tmp = target.with_suffix(".png.tmp")
    fig.savefig(str(tmp), format="png", metadata={"Software": None})  # no version stamp: same data, same bytes
    tmp.replace(target)
