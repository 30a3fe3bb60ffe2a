"""The published copy of a build's recipe.yaml: local things named as the other published files name
them (a file or folder by its name and content digest, a served model's address by a digest), never
by path or address. The local recipe.yaml stays as resolved (a rerun needs its paths)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..errors import PairforgeError
from ..lineage import is_hub_id, public_name


def _server(url: str) -> str:
    from ..redact import bare_url

    return f"an OpenAI-compatible server, address sha256 {hashlib.sha256(bare_url(url).encode()).hexdigest()[:16]}"


def _local(value: str) -> str:
    """A local file or folder by name and digest (a path that is gone here: by its name alone)."""
    from ..lineage import folder_digest

    p = Path(value).expanduser()
    if p.is_file():
        return f"{p.resolve().name} (local file, sha256 {folder_digest(p)})"
    return public_name(value) if p.is_dir() else f"{p.name or 'unnamed'} (local path)"


def _model(value):
    """A weak model, judge or reward model: a Hub id or built-in name as given, a folder by label."""
    if not isinstance(value, str) or not value:
        return value
    local = Path(value).expanduser().exists() or value.startswith((".", "~", "/")) or not is_hub_id(value)
    return _local(value) if local else value


def _walk(node, key: str | None = None):
    if isinstance(node, dict):
        return {k: _walk(v, k) for k, v in node.items()}
    if isinstance(node, list):
        return [_walk(v) for v in node]
    if not isinstance(node, str) or not node:
        return node
    if key == "base_url":
        return _server(node)
    if key == "path" or (key == "hub" and not is_hub_id(node)):
        return _local(node)
    return node


def public_recipe(text: bytes, stats: bytes) -> bytes:
    """recipe.yaml as pushed: the source by stats.json's description, the weak model by its published
    name, the output folder by its name, every other path by name and digest, every server by a digest."""
    import yaml

    from ..yaml_safe import load_yaml

    try:
        head = [line for line in text.decode().splitlines() if line.startswith("#")][:1]
        data, facts = load_yaml(text.decode()), json.loads(stats)
    except (ValueError, yaml.YAMLError) as e:  # verified against the manifest: only a hand-made folder gets here
        raise PairforgeError(f"recipe.yaml or stats.json of this build cannot be read ({type(e).__name__}); "
                             "rebuild it with pairforge build") from None
    if not isinstance(data, dict) or not isinstance(facts, dict):
        raise PairforgeError("recipe.yaml or stats.json of this build is not what pairforge writes; rebuild it")
    data = _walk(data)
    source, wm, out = (data.get(k) if isinstance(data.get(k), dict) else {} for k in ("source", "weak_model", "output"))
    described = (facts.get("source") or {}).get("description")
    if described and (source.get("path") or (source.get("hub") and not (facts.get("source") or {}).get("hub"))):
        source["path" if source.get("path") else "hub"] = described
    if wm.get("model") and wm.get("backend") != "openai":
        wm["model"] = (facts.get("weak_model") or {}).get("name") or _model(wm["model"])
    if out.get("dir"):
        out["dir"] = Path(out["dir"]).name
    judge = data.get("judge") if isinstance(data.get("judge"), dict) else {}
    if judge.get("model"):
        judge["model"] = _model(judge["model"])
    if isinstance(judge.get("llm"), dict) and judge["llm"].get("model") and judge["llm"].get("backend") != "openai":
        judge["llm"]["model"] = _model(judge["llm"]["model"])
    if isinstance(judge.get("function"), str):  # `file.py:name` as stats.json names it, never its path
        where, _, name = judge["function"].rpartition(":")
        judge["function"] = (facts.get("judge") or {}).get("model") or f"{Path(where).name}:{name}"
    return ("\n".join(head) + "\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)).encode()
