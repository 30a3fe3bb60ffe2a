"""The `pairforge` command line. Heavy libraries are imported inside the commands."""

from __future__ import annotations

import json
import sys

import click

from . import __version__
from .errors import PairforgeError

SET_HELP = "Override a recipe field, e.g. --set weak_model.sampling.temperature=0.7 (repeatable)."


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except PairforgeError as e:
            click.echo(f"Error: {e}", err=True)
            sys.exit(e.exit_code)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="pairforge")
def cli():
    """Turn an SFT dataset into a preference dataset (chosen = the data's own answer,
    rejected = a weak model's answer) and train on it with IPO."""


@cli.command()
@click.argument("recipe", required=False, type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=SET_HELP)
@click.option("--fresh", is_flag=True, help="Delete finished shards of an earlier run in output.dir and start over.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def build(recipe, overrides, fresh, as_json, quiet):
    """Build a preference dataset from RECIPE (default: the built-in demo recipe).

    A rerun of the same recipe resumes: finished generation shards are kept.
    """
    from .build import run_build
    from .recipe import load_recipe

    r = load_recipe(recipe, list(overrides))
    summary = run_build(r, fresh=fresh, quiet=quiet)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        click.echo(format_summary(summary))


def format_summary(s: dict) -> str:
    lines = [
        f"Wrote {s['rows_written']} pairs ({', '.join(f'{k}: {v}' for k, v in s['splits'].items())}) "
        f"to {s['output_dir']}",
        f"Read {s['rows_read']} rows; dropped {s['drops_total']}"
        + (f" ({', '.join(f'{r}: {n}' for st in s['drops'].values() for r, n in st.items())})" if s["drops_total"] else ""),
        "Funnel: " + " -> ".join(f"{f['stage']} {f['rows']}" for f in s["funnel"]),
        f"Generated {s['generation']['tokens_generated']} tokens in {s['seconds'].get('generate', 0):.1f}s "
        f"({s['generation']['shards_resumed']} of {s['generation']['shards']} shards resumed); "
        f"total {s['seconds']['total']:.1f}s; fingerprint {s['fingerprint']}",
        f"Load it: datasets.load_dataset({s['output_dir']!r})",
    ]
    return "\n".join(lines)


def main():
    cli(prog_name="pairforge")


if __name__ == "__main__":
    main()
