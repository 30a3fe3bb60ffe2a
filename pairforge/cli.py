"""The `pairforge` command line. Heavy libraries are imported inside the commands."""

from __future__ import annotations

import json
import sys

import click

from . import __version__
from .errors import PairforgeError

SET_HELP = "Override a recipe field, e.g. --set weak_model.sampling.temperature=0.7 (repeatable)."
QUIET_HELP = "No progress bars or info messages (stderr); the result, warnings and errors still print."


def _quiet_option(f):
    return click.option("--quiet", "-q", is_flag=True, help=QUIET_HELP)(f)


def _json_option(what: str):
    return click.option("--json", "as_json", is_flag=True,
                        help=f"Print {what} as one JSON object on stdout (progress and messages on stderr).")


def _start(quiet: bool):
    """Every command's work runs under this: Arrow's memory pool the lean one, -q silences the
    libraries; stdout is kept for the result."""
    from .pipeline.process_memory import arrow_lean_pool
    from .quiet import quiet_libraries, result_only_on_stdout

    arrow_lean_pool()
    if quiet:
        quiet_libraries()
    return result_only_on_stdout()


def _echo_json(obj) -> None:
    click.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except PairforgeError as e:
            click.echo(f"Error: {e}", err=True)
            sys.exit(e.exit_code)


@click.group(cls=_Group, context_settings=dict(help_option_names=["-h", "--help"]))
@click.version_option(__version__, prog_name="pairforge")
def cli():
    """Turn an SFT dataset into a preference dataset (chosen = the data's own answer,
    rejected = a weak model's answer) and train on it with IPO."""


@cli.command()
@click.argument("recipe", required=False, type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=SET_HELP)
@click.option("--fresh", is_flag=True, help="Delete finished shards of an earlier run in output.dir and start over.")
@_json_option("the summary (with --dry-run: the report)")
@_quiet_option
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Run generation here, or on Ray Data workers (pip install 'pairforge[ray]').")
@click.option("--ray-address", help="Ray cluster address (default: start or join a local Ray).")
@click.option("--dry-run", is_flag=True, help="Run every stage up to generation, report counts, tokens and an "
              "estimate of generation time; write nothing.")
@click.option("--dry-run-sample", type=click.IntRange(min=0), default=0, show_default=True,
              help="Prompts the dry run also answers in full to measure how many answers are cut (each costs "
              "about a batch's decode steps); the estimate always times the first batch for a few tokens.")
@click.option("--no-estimate", is_flag=True, help="Dry run: no timed sample, no time estimate.")
def build(recipe, overrides, fresh, as_json, quiet, executor, ray_address, dry_run, dry_run_sample, no_estimate):
    """Build a preference dataset from RECIPE (default, or `demo`: the built-in demo recipe).

    A rerun of the same recipe resumes: finished generation shards are kept.
    """
    from .pipeline.build import run_build
    from .recipe import load_recipe

    with _start(quiet):
        r = load_recipe(recipe, list(overrides))
        if dry_run:
            from .pipeline.dry_run import format_dry_run, run_dry_run

            report = run_dry_run(r, sample=None if no_estimate else dry_run_sample, quiet=quiet)
        else:
            summary = run_build(r, fresh=fresh, quiet=quiet, executor=executor, ray_address=ray_address)
    if dry_run:
        _echo_json(report) if as_json else click.echo(format_dry_run(report))
    else:
        _echo_json(summary) if as_json else click.echo(format_summary(summary))


@cli.command()
@click.argument("output_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--repo", help="Hub dataset repo, user/name (default: output.repo of the build's recipe).")
@click.option("--private", is_flag=True, help="Create the repo as private.")
@click.option("--revision", help="Branch to push to (created from main if missing).")
@click.option("--create-pr", is_flag=True, help="Open a pull request instead of committing to the branch.")
@click.option("--message", "-m", help="Commit message.")
@click.option("--token", help="Hub token (default: HF_TOKEN or the token saved by `hf auth login`).")
@click.option("--dry-run", is_flag=True, help="Render the card and list what would be uploaded; touch nothing.")
@_json_option("the result (the card left out)")
@_quiet_option
def push(output_dir, repo, private, revision, create_pr, message, token, dry_run, as_json, quiet):
    """Publish OUTPUT_DIR (a build folder) to the Hugging Face Hub in one commit."""
    from .hub.push import run_push

    with _start(quiet):
        result = run_push(output_dir, repo, token=token, private=private, revision=revision, create_pr=create_pr,
                          message=message, dry_run=dry_run)
    repo = result["repo_id"]
    if as_json:
        _echo_json({k: v for k, v in result.items() if k != "card"})
        return
    if dry_run:
        click.echo(result["card"])
        if result.get("offline"):
            click.echo(f"Note: {result['offline']}", err=True)
        click.echo(f"Would upload to {repo}@{result['revision']}: {', '.join(result['upload']) or 'nothing'}"
                   + (f"; delete: {', '.join(result['delete'])}" if result["delete"] else ""), err=True)
    elif result["commit"] is None:
        click.echo(f"{repo}@{result['revision']} is already up to date; nothing pushed.")
    else:
        where = result["pr_url"] or f"{repo}@{result['revision']}"
        click.echo(f"Pushed {len(result['upload'])} file(s) to {where} (commit {result['commit'][:12]}).")
        load_rev = result["load_revision"]
        click.echo(f"Load it: datasets.load_dataset({repo!r}" + (f", revision={load_rev!r})" if load_rev != "main" else ")"))


@cli.command()
@click.argument("target")
@click.option("-n", "--samples", default=3, show_default=True, help="Sample pairs to show.")
@click.option("--split", default="train", show_default=True)
@click.option("--revision", help="Hub revision (for a repo id).")
@click.option("--token", help="Hub token for a private repo.")
@_json_option("the funnel, drops, lengths and the sample pairs")
@_quiet_option
def inspect(target, samples, split, revision, token, as_json, quiet):
    """Show the funnel, length stats and sample pairs of TARGET (a build folder or a Hub repo id)."""
    from .inspect_cmd import inspect_json, load_for_inspect, render

    with _start(quiet):
        stats, rows = load_for_inspect(target, samples, split, token=token, revision=revision)
    if as_json:
        _echo_json(inspect_json(target, split, stats, rows))
        return
    from rich.console import Console

    render(stats, rows, Console())


@cli.command("train-ipo")
@click.argument("config", required=False, type=click.Path(dir_okay=False))
@click.option("--dataset", help="A build folder or a Hub dataset id.")
@click.option("--model", help="Model to train: a local folder, a Hub id or smollm2-135m-instruct.")
@click.option("--output-dir", help="Where the trained model goes (default: out/ipo).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a config field with TRL's names, e.g. --set max_steps=6 (repeatable).")
@click.option("--push-to-hub", help="Upload the trained model to this Hub model repo.")
@click.option("--token", help="Hub token (default: HF_TOKEN or the saved login).")
@_json_option("the summary")
@_quiet_option
def train_ipo(config, dataset, model, output_dir, overrides, push_to_hub, token, as_json, quiet):
    """Train MODEL with IPO on a pairforge preference dataset (TRL DPOTrainer, loss_type=ipo).

    CONFIG is a YAML file of DPOConfig-style keys, or `ipo`: the shipped IPO recipe.
    """
    from .train.config import load_train_config
    from .train.ipo import run_train

    with _start(quiet):
        cfg = load_train_config(config, list(overrides), dataset=dataset, model=model, output_dir=output_dir,
                                push_to_hub=push_to_hub)
        token = token or cfg.dpo.get("hub_token")  # --set hub_token=... (TRL's name) works as --token
        if cfg.push_to_hub or token:  # a token HTTP cannot carry fails now, not after the training
            from .hub.errors import hub_token

            token = hub_token(token)
        s = run_train(cfg, token=token, quiet=quiet)
    if as_json:
        _echo_json(s)
        return
    click.echo(f"Trained {s['steps']} steps on {s['train_pairs']} pairs in {s['train_seconds']:.1f}s "
               f"(final loss {s['train_loss']:.4f}); saved to {s['output_dir']}")
    b, a = s["preference_before"], s["preference_after"]
    if a:
        click.echo(f"Held-out preference ({s['eval_pairs']} pairs): implicit-reward accuracy {a['reward_accuracy']:.3f} "
                   f"(mean margin {a['reward_margin_mean']:.4f}); chosen preferred by log-prob "
                   f"{b['logp_accuracy']:.3f} before -> {a['logp_accuracy']:.3f} after")
    if not quiet:
        click.echo(f"Next self-play round: pairforge build RECIPE --set weak_model.model={s['output_dir']}", err=True)


@cli.command()
@click.argument("recipe", required=False, type=click.Path(dir_okay=False))
@click.option("--model", required=True, help="Starting model: built-in name, local folder or Hub id.")
@click.option("--iterations", "-k", default=2, show_default=True, type=click.IntRange(1, 100))
@click.option("--output-dir", default="out/spin", show_default=True, help="One folder per iteration goes here.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Build recipe override (repeatable).")
@click.option("--train-config", type=click.Path(dir_okay=False), help="train-ipo YAML, or `ipo` (the shipped one).")
@click.option("--train-set", "train_overrides", multiple=True, metavar="KEY=VALUE",
              help="train-ipo override, e.g. --train-set max_steps=50 (repeatable).")
@click.option("--eval", "with_eval", is_flag=True, help="Write a per-iteration table and plot to the output folder.")
@_json_option("the iterations (and the report's files)")
@_quiet_option
def spin(recipe, model, iterations, output_dir, overrides, train_config, train_overrides, with_eval, as_json, quiet):
    """Self-play loop: build with MODEL as the weak model, train-ipo, build again with the trained
    model, and so on. A killed loop rerun resumes at the step it was in."""
    from pathlib import Path

    from .spin.loop import SpinPlan, run_spin
    from .spin.report import table_markdown, write_report

    plan = SpinPlan(recipe, model, iterations, Path(output_dir), list(overrides), train_config, list(train_overrides))
    with _start(quiet):
        rows = run_spin(plan, on_step=None if quiet else lambda msg: click.echo(msg, err=True), quiet=quiet)
        files = write_report(rows, Path(output_dir)) if with_eval else None
    if as_json:
        _echo_json({"output_dir": str(output_dir), "iterations": rows, "report": files})
        return
    click.echo(table_markdown(rows))
    if files:
        click.echo(f"Wrote {files['table']}, {files['json']} and {files['plot']}")


@cli.command()
@click.option("--defaults", is_flag=True, help="Print every recipe field with its default and help.")
@click.option("--schema", is_flag=True, help="Print the recipe's JSON Schema (for an editor's YAML extension).")
def recipe(defaults, schema):
    """Print an annotated build recipe to start from (pairforge recipe > my_recipe.yaml).

    --defaults: every field of the build recipe instead, with its default and what it does."""
    if defaults and schema:
        raise click.UsageError("give one of --defaults and --schema")
    if schema:
        from .recipe import recipe_schema

        click.echo(json.dumps(recipe_schema(), indent=2, ensure_ascii=False))
    elif defaults:
        from .files import describe
        from .recipe import Recipe

        click.echo("# pairforge build recipe: every field with its default. Unknown keys are errors.\n"
                   + describe(Recipe))
    else:
        from .shipped import EXAMPLE

        click.echo(EXAMPLE.read_text(), nl=False)


def format_summary(s: dict) -> str:
    g, lp = s["generation"], s.get("length_picture") or {}
    lines = [
        f"Wrote {s['rows_written']} pairs ({', '.join(f'{k}: {v}' for k, v in s['splits'].items())}) "
        f"to {s['output_dir']}",
        f"Read {s['rows_read']} rows; dropped {s['drops_total']}"
        + (f" ({', '.join(f'{r}: {n}' for st in s['drops'].values() for r, n in st.items())})" if s["drops_total"] else ""),
        "Funnel: " + " -> ".join(f"{f['stage']} {f['rows']}" for f in s["funnel"]),
        (f"Re-finished from {g['shards']} finished shards; 0 prompts sent" if g["shards"] and g["shards_resumed"] == g["shards"]
         else f"Generated {g['tokens_generated']} tokens ({((s.get('lengths') or {}).get('rejected') or {}).get('total', 0)} in the "
              f"written pairs; {g.get('continued', 0)} cut answers continued) in {s['seconds'].get('generate', 0):.1f}s "
              f"({g['shards_resumed']} of {g['shards']} shards resumed; {g['prompts_sent']} prompts sent)")
        + f"; total {s['seconds']['total']:.1f}s; fingerprint {s['fingerprint']}",
        f"Load it: datasets.load_dataset({s['output_dir']!r})",
    ]
    if lp.get("pairs"):
        lines.insert(3, f"Lengths ({lp['unit']}): chosen {lp['chosen_mean']} vs rejected {lp['rejected_mean']} on "
                        f"average; chosen longer in {lp['chosen_longer_share']:.0%} of pairs; 'longer is chosen' "
                        f"is right {lp['longer_is_chosen_accuracy']:.0%}; truncated before the filter "
                        f"{lp['truncated_share_generated'] or 0:.0%}")
    if lp.get("warning"):
        lines.insert(4, f"WARNING: {lp['warning']}")
    if (s.get("source") or {}).get("unused_columns"):
        lines.insert(-1, f"Note: source columns {', '.join(s['source']['unused_columns'])} are not used (their text is "
                         "not in the prompts); map them with source.columns")
    return "\n".join(lines)


def main():
    from .pipeline.process_memory import cap_malloc_arenas

    cap_malloc_arenas()  # the stage threads' memory stays flat (process_memory.py)
    cli(prog_name="pairforge")


if __name__ == "__main__":
    main()
