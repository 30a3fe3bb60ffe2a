"""`pairforge inspect`: funnel, length stats and sample pairs side by side, for a quick look."""

from __future__ import annotations

import json
import os
from pathlib import Path

from .errors import PairforgeError


def load_for_inspect(target: str, n: int, split: str, token: str | None = None, revision: str | None = None):
    """(stats dict, first n rows of the split) from a build folder or a Hub repo id."""
    from .data.load import load_hub, load_local

    path = Path(target).expanduser()
    if looks_local(target):
        from .pipeline.publish import check_no_build_running, verify

        if not path.is_dir():
            raise PairforgeError(f"inspect: {target}: no such folder (a Hub repo id is user/name)")
        check_no_build_running(path)
        if not (path / "stats.json").is_file():
            raise PairforgeError(f"{target}: no stats.json; is it a pairforge build folder?")
        verify(path)
        stats = json.loads((path / "stats.json").read_text())
        ds = load_local(path, split, "inspect")
    else:
        from .hub.errors import hub_token

        check_hub_id(target)
        token = hub_token(token)  # --token, HF_TOKEN or the saved login, checked before any request
        stats = _hub_stats(target, token, revision)
        ds = load_hub(target, "inspect", split=split, revision=revision, token=token)
    check_stats(stats, target)
    return stats, ds.select(range(min(n, ds.num_rows))).to_list()


def check_stats(stats, target: str) -> None:
    """stats.json as inspect reads it: what pairforge writes (a dataset with a stats.json of its own is
    one line, not a traceback)."""
    def table(v, inner=dict):
        return isinstance(v, dict) and all(isinstance(x, inner) for x in v.values())

    ok = isinstance(stats, dict) and isinstance(stats.get("rows_read"), int)
    funnel = stats.get("funnel") if ok else None
    ok = ok and isinstance(funnel, list) and all(isinstance(f, dict) and {"stage", "rows"} <= set(f) for f in funnel)
    ok = ok and table(stats.get("drops", {})) and table(stats.get("lengths"))
    if not ok:
        raise PairforgeError(f"inspect: {target}: its stats.json is not one pairforge writes (a mapping with rows_read, "
                             "funnel, drops and lengths); was it pushed by pairforge?")


def _hub_stats(target: str, token: str | None, revision: str | None) -> dict:
    """stats.json of a Hub dataset. The repo is looked up first (one request, no retries): an
    unreachable Hub fails at once instead of after hf_hub_download's retries."""
    from huggingface_hub import HfApi, constants, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError

    from .hub.errors import hub_error, network_errors, unreachable

    hint = f"inspect: no folder {target} here, and "
    retry = "run inspect again (or set HF_HUB_OFFLINE=1 to read the local cache)"
    try:
        if not constants.is_offline_mode():
            HfApi(token=token).dataset_info(target, revision=revision, files_metadata=False)
        return json.loads(Path(hf_hub_download(target, "stats.json", repo_type="dataset", token=token,
                                               revision=revision)).read_text())
    except LocalEntryNotFoundError as e:
        if constants.is_offline_mode():
            raise PairforgeError(f"inspect: {target}: HF_HUB_OFFLINE is set and its stats.json is not in the local "
                                 f"cache (and no folder {target} exists here); unset HF_HUB_OFFLINE, or give a "
                                 "build folder") from None
        raise unreachable(e.__cause__ or e, target, retry, secrets=(token,)) from None
    except EntryNotFoundError:
        raise PairforgeError(f"inspect: {target} has no stats.json; is it a dataset pushed by pairforge?") from None
    except HfHubHTTPError as e:
        err = hub_error(e, target, "read", secrets=(token,))
        raise PairforgeError(f"{hint}{err}" if getattr(e.response, "status_code", None) == 404 else str(err)) from None
    except network_errors() as e:
        raise PairforgeError(f"{hint}{unreachable(e, target, retry, (token,))}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:  # stats.json that is not JSON
        raise PairforgeError(f"inspect: {target}: stats.json is unreadable ({e})") from None


def check_hub_id(target: str) -> None:
    """Neither a folder here nor a valid Hub repo id: one line, before any request."""
    from .hub.errors import repo_id_problem

    if problem := repo_id_problem(target):
        raise PairforgeError(f"inspect: no folder {target!r} here, and {problem}")


def looks_local(target: str) -> bool:
    """A path, not a Hub id: it exists, is absolute, starts with . or ~, has a backslash or more
    than one / (a Hub id is user/name), or its first part exists here. `user/name` that is none of
    these is tried on the Hub; its errors say no such folder exists either."""
    p = Path(target).expanduser()
    other_seps = {"\\", os.sep, os.altsep} - {"/", None}
    return (p.exists() or p.is_absolute() or target.startswith((".", "~")) or target.count("/") > 1
            or any(s in target for s in other_seps) or Path(target.split("/")[0]).exists())


def inspect_json(target: str, split: str, stats: dict, rows: list[dict]) -> dict:
    """What `inspect` shows, as one JSON-ready dict."""
    keys = ("rows_read", "rows_written", "splits", "funnel", "drops", "drops_total", "lengths")
    return {"target": target, "split": split, **{k: stats.get(k) for k in keys}, "samples": rows}


def _text(v) -> str:
    if isinstance(v, list):
        return "\n".join(f"[{m.get('role')}] {m.get('content')}" if isinstance(m, dict) else str(m) for m in v)
    return "" if v is None else str(v)


def pair_texts(row: dict) -> tuple[str, str, str]:
    """(prompt, chosen, rejected) of a row in any output layout: conversational and standard have
    the three columns; messages holds the prompt in both conversations (all but their last turn);
    intel has system and question."""
    if "question" in row and "prompt" not in row:  # intel
        system = row.get("system")
        prompt = (f"[system] {system}\n" if system else "") + f"[user] {_text(row['question'])}"
        return prompt, _text(row.get("chosen")), _text(row.get("rejected"))
    chosen, rejected = row.get("chosen"), row.get("rejected")
    if "prompt" not in row and isinstance(chosen, list) and isinstance(rejected, list):  # messages
        return _text(chosen[:-1]), _text(chosen[-1:]), _text(rejected[-1:])
    return _text(row.get("prompt")), _text(chosen), _text(rejected)


def render(stats: dict, rows: list[dict], console) -> None:
    from rich.table import Table
    from rich.text import Text  # the data's own text, never read as rich markup ("[user]", "[/]")

    funnel = Table(title="Funnel", show_header=True)
    funnel.add_column("stage")
    funnel.add_column("rows", justify="right")
    funnel.add_row("read", str(stats["rows_read"]))
    for f in stats["funnel"]:
        funnel.add_row(f["stage"], str(f["rows"]))
    console.print(funnel)
    if stats.get("drops_total"):
        drops = Table(title=f"Drops ({stats['drops_total']})")
        for c in ("stage", "reason", "rows"):
            drops.add_column(c, justify="right" if c == "rows" else "left")
        for stage, reasons in stats["drops"].items():
            for reason, count in reasons.items():
                drops.add_row(stage, reason, str(count))
        console.print(drops)
    lengths = Table(title="Lengths (tokens)")
    for c in ("", "mean", "p50", "p90", "max"):
        lengths.add_column(c, justify="right" if c else "left")
    for name, l in stats["lengths"].items():
        lengths.add_row(name, *(str(l.get(k, "-")) for k in ("mean", "p50", "p90", "max")))
    console.print(lengths)
    for i, row in enumerate(rows):
        t = Table(title=Text(f"Pair {i + 1}: {row.get('id')}"), show_lines=True, expand=True)
        t.add_column("prompt", ratio=1)
        t.add_column("chosen", ratio=1, style="green")
        t.add_column(f"rejected ({row.get('rejected_finish_reason')})", ratio=1, style="red")
        t.add_row(*map(Text, pair_texts(row)))
        console.print(t)
