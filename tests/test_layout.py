"""The house rules of the package, checked: small modules and functions, no import cycles."""

import ast
from pathlib import Path

from conftest import REPO

PKG = REPO / "pairforge"
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 300, 60


def modules():
    return sorted(p for p in PKG.rglob("*.py"))


def test_no_module_over_300_lines():
    long = {str(p.relative_to(REPO)): n for p in modules() if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, long


def test_no_function_over_60_lines():
    long = {}
    for p in modules():
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long[f"{p.relative_to(REPO)}:{node.name}"] = n
    assert not long, long


def _module_name(p: Path) -> str:
    parts = list(p.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(p: Path) -> set[str]:
    """pairforge modules that `p` imports, at module level or inside functions."""
    name = _module_name(p)
    package = name if p.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(p.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        found.update(t for t in targets if t.startswith("pairforge"))
    return found


def test_no_import_cycle():
    names = {_module_name(p): p for p in modules()}
    graph = {n: {t for t in _imports(p) if t in names and t != n} for n, p in names.items()}
    # importing pairforge.a.b runs pairforge/a/__init__.py first: an edge to each package above the
    # target that is not already above the importer (those are running by the time it imports)
    for n in graph:
        above_n = {".".join(n.split(".")[:i]) for i in range(1, n.count(".") + 1)}
        graph[n] |= {a for t in list(graph[n]) for i in range(1, t.count(".") + 1)
                     if (a := ".".join(t.split(".")[:i])) in names and a not in above_n and a != n}
    # a package's __init__ is imported before its submodules: an edge package -> own submodule is fine
    graph = {n: {t for t in ts if not t.startswith(n + ".")} for n, ts in graph.items()}
    state, cycle = {}, []

    def visit(n, path):
        state[n] = 1
        for t in sorted(graph[n]):
            if state.get(t) == 1:
                cycle.append(path[path.index(t):] + [t] if t in path else path + [t])
            elif not state.get(t):
                visit(t, path + [t])
        state[n] = 2

    for n in sorted(graph):
        if not state.get(n):
            visit(n, [n])
    assert not cycle, cycle[:3]

