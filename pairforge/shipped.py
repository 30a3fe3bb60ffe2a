"""The recipes shipped inside the package (pairforge/demo/), found by name from any directory.

`pairforge build demo`, `pairforge train-ipo ipo`: a name that is not a file here is looked up among
the shipped recipes of that command; the repository's `recipes/demo.yaml` and `recipes/ipo.yaml` are
links to them, so the README's `recipes/ipo.yaml` also works where there is no such folder.
"""

from __future__ import annotations

from pathlib import Path

from .errors import RecipeError

HERE = Path(__file__).parent / "demo"
SHIPPED = {"build": {"demo": "recipe.yaml"}, "train-ipo": {"ipo": "ipo.yaml"}}
EXAMPLE = HERE / "example.yaml"  # `pairforge recipe`: an annotated recipe to start from


def shipped(command: str, name: str) -> Path:
    return HERE / SHIPPED[command][name]


def find_recipe(arg: str | Path, command: str) -> Path:
    """A recipe argument as a file: the path as given, else the shipped recipe it names (`ipo`,
    `ipo.yaml` or `recipes/ipo.yaml` where no such file exists)."""
    path = Path(arg).expanduser()
    if path.is_file():
        return path
    if path.exists():
        raise RecipeError(f"{arg}: not a file (give a recipe YAML file)")
    stem = path.name.removesuffix(".yaml")
    if stem in SHIPPED[command] and (path.parent == Path(".") or path.parent.name == "recipes"):
        return shipped(command, stem)
    names = ", ".join(SHIPPED[command])
    raise RecipeError(f"file not found: {arg} (give a YAML file, or the shipped {names!r} by name; "
                      "`pairforge recipe` prints an annotated build recipe to start from)")
