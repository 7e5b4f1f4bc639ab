"""The ``suggest`` command line: thin click commands over library calls.

Each command parses its options, makes one library call and prints the
result. A :class:`~suggest.errors.SuggestError` becomes one clear paragraph on
stderr and exit code 2; nothing else here computes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from suggest import __version__
from suggest.errors import SuggestError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class SuggestGroup(click.Group):
    """A click group that turns user errors into a message and exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SuggestError as exc:
            click.secho("error: ", fg="red", err=True, nl=False)
            click.echo(exc.format(), err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


def _print_json(value: dict) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True, default=str))


@click.group(cls=SuggestGroup, context_settings=CONTEXT)
@click.version_option(__version__, "--version", prog_name="suggest")
def main() -> None:
    """Replay logged contexts through rules, a learned ranker and baselines; compare them.

    \b
    Start with:
      suggest demo                 a synthetic world, end to end
      suggest data check D.yaml    does my log read the way I think?
    Every command has --help with an example.
    """


@main.command(epilog="""\b
Examples:
  suggest generate --users 200 --days 28 --seed 1 -o data/synth
  suggest generate --preset personal --users 1000 -o worlds/personal
""")
@click.option("--users", type=int, default=None, help="Number of users.  [default: preset's, 200]")
@click.option("--days", type=int, default=None, help="Days of log.  [default: preset's, 28]")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed; same seed, same bytes.")
@click.option("--preset", default="default", show_default=True,
              help="World: default, context, personal, drift or sparse.")
@click.option("--requests-per-day", type=float, default=None,
              help="Mean requests per user per day.  [default: preset's, 6]")
@click.option("-o", "--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write log.csv, catalog.csv, dataset.yaml, truth_model.json.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def generate(users, days, seed, preset, requests_per_day, out, as_json):
    """Generate a synthetic phone-assistant world whose true preferences are known."""
    from suggest import synth

    overrides = {"users": users, "days": days, "requests_per_day": requests_per_day}
    config = synth.preset_config(preset, seed=seed,
                                      **{k: v for k, v in overrides.items() if v is not None})
    summary = synth.generate(config, out, progress=not as_json, name=f"synth-{preset}")
    if as_json:
        _print_json(summary)
    else:
        click.echo(f"wrote {summary['requests']:,} requests ({summary['rows']:,} log rows, "
                   f"{summary['users']:,} users, {summary['items']} items) to {out}/")
        click.echo(f"next: suggest data check {out}/dataset.yaml")


@main.group(context_settings=CONTEXT)
def data() -> None:
    """Check how a log reads against its dataset description."""


@data.command("check", epilog="""\b
Examples:
  suggest data check data/sample/dataset.yaml
  suggest data check my_log.yaml --rejects rejects.csv --json
""")
@click.argument("dataset", type=click.Path(path_type=Path))
@click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Where to write rejected rows.  [default: ./NAME.rejects.csv]")
@click.option("--json", "as_json", is_flag=True, help="Print the load report as JSON.")
def data_check(dataset, rejects_path, as_json):
    """Load DATASET (a dataset description YAML): schema, counts and rejected rows.

    Every rejected row goes to the rejects file with its line number and
    reason; rows read = rows ok + rows rejected, always.
    """
    from suggest.data import load, write_rejects

    log = load(dataset)
    report = log.report
    written = None
    if len(log.rejects):
        written = write_rejects(log.rejects, rejects_path or Path(f"{log.dataset.name}.rejects.csv"))
    if as_json:
        _print_json({**report.to_dict(), "rejects_file": str(written) if written else None})
        return
    click.echo(report.to_text())
    if written:
        click.echo(f"  rejected rows written to {written}")


@main.command(epilog="""\b
Examples:
  suggest demo
  suggest demo -o /tmp/demo --users 100 --seed 3
""")
@click.option("-o", "--out", "out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("suggest-demo"), show_default=True, help="Folder for the demo's files.")
@click.option("--users", type=int, default=200, show_default=True, help="Users in the synthetic world.")
@click.option("--days", type=int, default=28, show_default=True, help="Days of log.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
def demo(out, users, days, seed):
    """Run the whole job on a synthetic world: generate it, read it back, report.

    Engines, training and replay join the demo as they land (see the README).
    """
    from suggest import synth
    from suggest.data import load

    click.echo(f"1/2 generating a synthetic world ({users} users, {days} days, seed {seed}) in {out}/")
    summary = synth.generate(synth.preset_config("default", users=users, days=days, seed=seed),
                             out / "world", progress=True)
    click.echo(f"    {summary['requests']:,} requests, {summary['rows']:,} log rows")
    click.echo("2/2 reading the log back through its dataset description")
    log = load(out / "world" / "dataset.yaml")
    click.echo(log.report.to_text())


if __name__ == "__main__":  # pragma: no cover
    main()
