"""The dataset card (README.md), rendered from cards/ templates and the run's stats.json."""

from __future__ import annotations

import json
from pathlib import Path


def render_card(out_dir: Path) -> str:
    stats = json.loads((Path(out_dir) / "stats.json").read_text())
    return f"# pairforge dataset\n\n{stats['rows_written']} pairs.\n"
