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
HINTS = {"build": "give a build recipe YAML file, or the shipped 'demo' by name; `pairforge recipe > my_recipe.yaml` "
                  "writes an annotated one to start from",
         "train-ipo": "give a YAML file of DPOConfig keys, or the shipped 'ipo' by name (pairforge train-ipo ipo "
                      "--dataset ... --model ...)"}


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
    import difflib

    stem = path.name.removesuffix(".yaml").removesuffix(".yml")
    where_shipped = path.parent == Path(".") or path.parent.name == "recipes"
    if stem in SHIPPED[command] and where_shipped:
        return shipped(command, stem)
    other = next((c for c in SHIPPED if c != command and stem in SHIPPED[c]), None)
    if other and where_shipped:  # `pairforge build ipo`: the name of another command's recipe
        raise RecipeError(f"{arg}: no such file, and {stem!r} is the shipped {other} recipe, not a {command} one "
                          f"(pairforge {other} {stem}); {HINTS[command]}")
    close = difflib.get_close_matches(stem, list(SHIPPED[command]), n=1, cutoff=0.6)
    guess = f"did you mean {close[0]!r}? " if close and where_shipped else ""
    raise RecipeError(f"file not found: {arg} ({guess}{HINTS[command]})")
