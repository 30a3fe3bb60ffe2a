"""YAML as pairforge reads it (recipes, train configs, --set values, a build's recipe.yaml): safe
tags only, and no alias that refers to itself or expands to more values than any recipe holds
(an "alias bomb": nine aliases of nine aliases is 9**9 values once walked)."""

from __future__ import annotations

import yaml

MAX_VALUES = 100_000  # a recipe holds a few hundred; a real list of evaluation sets a few thousand


class YamlLimit(yaml.YAMLError):
    """An alias that refers to itself, or a document that expands past MAX_VALUES."""


def _expanded_size(root) -> int:
    """How many values the document holds with every alias expanded (each node counted once per
    use, computed once per node); a node reached again while it is being walked is a cycle."""
    sizes, open_ = {}, set()
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            open_.discard(key)
            kids = _children(node)
            sizes[key] = 1 + sum(sizes[id(k)] for k in kids)
            if sizes[key] > MAX_VALUES:
                raise YamlLimit(f"it expands to more than {MAX_VALUES} values through its aliases (an alias bomb?)")
            continue
        if key in sizes:
            continue
        if key in open_:
            raise YamlLimit("an alias refers to a node that holds it (a self-referencing alias)")
        open_.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in _children(node) if id(k) not in sizes)
    return sizes[id(root)]


def _children(node) -> list:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def load_yaml(text):
    """yaml.safe_load, refusing self-referencing aliases and alias bombs (YamlLimit, a YAMLError)."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()
