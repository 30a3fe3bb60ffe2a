"""YAML as pairforge reads it (recipes, train configs, --set values, a build's recipe.yaml): safe
tags only, and no alias that refers to itself or expands to more values than any recipe holds
(an "alias bomb": nine aliases of nine aliases is 9**9 values once walked), no nesting deeper than
any recipe (a deep one would overflow Python's stack), no key given twice in one mapping (YAML
says keys are unique; PyYAML silently keeps the last). A date is read as the text written
(`revision: 2024-05-01` is a string, as every field that takes one expects), and `!!binary` is
refused: a recipe holds no bytes."""

from __future__ import annotations

import yaml

MAX_VALUES = 100_000  # a recipe holds a few hundred; a real list of evaluation sets a few thousand
MAX_DEPTH = 64  # a recipe nests 4 deep; a value (a chat template's kwargs, a scheduler's) a few more


class YamlLimit(yaml.YAMLError):
    """An alias that refers to itself, or a document that expands past MAX_VALUES."""


def _expanded_size(root) -> int:
    """How many values the document holds with every alias expanded (each node counted once per
    use, computed once per node); a node reached again while it is being walked is a cycle."""
    sizes, open_ = {}, set()
    stack = [(root, False, 1)]
    while stack:
        node, done, depth = stack.pop()
        key = id(node)
        if depth > MAX_DEPTH:
            raise YamlLimit(f"line {node.start_mark.line + 1}: nested more than {MAX_DEPTH} levels deep")
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
        stack.append((node, True, depth))
        stack.extend((k, False, depth + 1) for k in _children(node) if id(k) not in sizes)
    return sizes[id(root)]


def _children(node) -> list:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


class _Loader(yaml.SafeLoader):
    """SafeLoader without timestamps (a date stays the text written) or !!binary, refusing a key
    written twice in one mapping."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_binary(self, node):
        raise YamlLimit(f"line {node.start_mark.line + 1}: !!binary values are not read (a recipe holds text)")

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:  # the mapping as written, before merge keys (<<) add theirs
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                first = seen.setdefault((key_node.tag, key_node.value), key_node)
                if first is not key_node:
                    raise YamlLimit(f"line {key_node.start_mark.line + 1}: key {key_node.value!r} is given twice "
                                    f"in one mapping (first on line {first.start_mark.line + 1}); keep one")
        return super().construct_mapping(node, deep)


_Loader.add_constructor("tag:yaml.org,2002:binary", _Loader.construct_binary)


def load_yaml(text):
    """yaml.safe_load, refusing self-referencing aliases, alias bombs, deep nesting, repeated keys and
    !!binary (YamlLimit, a YAMLError); dates stay text."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node)
        return loader.construct_document(node)
    except RecursionError:  # the composer recurses per level, before _expanded_size can count them
        raise YamlLimit(f"nested more than {MAX_DEPTH} levels deep") from None
    finally:
        loader.dispose()
