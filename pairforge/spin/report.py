"""`pairforge spin --eval`: the per-iteration table (Markdown + JSON) and a plot (PNG, Pillow)."""

from __future__ import annotations

from pathlib import Path

from ..io import atomic_write_json, atomic_write_text

COLUMNS = [("iteration", "iteration"), ("pairs", "pairs"), ("steps", "steps"), ("train_loss", "final loss"),
           ("reward_accuracy", "held-out reward acc."), ("reward_margin", "mean margin"),
           ("logp_accuracy_before", "log-prob acc. before"), ("logp_accuracy_after", "log-prob acc. after")]


def table_markdown(rows: list[dict]) -> str:
    head = "| " + " | ".join(t for _, t in COLUMNS) + " |"
    rule = "|" + "---|" * len(COLUMNS)
    body = ["| " + " | ".join("-" if r.get(k) is None else str(r[k]) for k, _ in COLUMNS) + " |" for r in rows]
    return "\n".join([head, rule, *body]) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    """Held-out accuracies per iteration as a small line chart."""
    from PIL import Image, ImageDraw

    w, h, pad = 480, 300, 40
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    d.rectangle([pad, pad, w - pad, h - pad], outline="black")
    series = [("reward_accuracy", "blue"), ("logp_accuracy_after", "green")]
    n = max(1, len(rows) - 1)
    for key, colour in series:
        pts = [(pad + (w - 2 * pad) * j / n, h - pad - (h - 2 * pad) * float(r[key]))
               for j, r in enumerate(rows) if r.get(key) is not None]
        if len(pts) > 1:
            d.line(pts, fill=colour, width=2)
        for x, y in pts:
            d.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colour)
    d.text((pad, 10), "held-out accuracy per iteration (blue: implicit reward, green: log-prob)", fill="black")
    for v in (0.0, 0.5, 1.0):
        d.text((8, h - pad - (h - 2 * pad) * v - 6), f"{v:.1f}", fill="black")
    for j, r in enumerate(rows):
        d.text((pad + (w - 2 * pad) * j / n - 3, h - pad + 8), str(r["iteration"]), fill="black")
    d.text((w // 2 - 25, h - 18), "iteration", fill="black")
    img.save(path, format="PNG")


def write_report(rows: list[dict], out: Path) -> dict:
    atomic_write_json(out / "spin_eval.json", rows)
    atomic_write_text(out / "spin_eval.md", table_markdown(rows))
    plot(rows, out / "spin_eval.png")
    return {"table": str(out / "spin_eval.md"), "json": str(out / "spin_eval.json"), "plot": str(out / "spin_eval.png")}

