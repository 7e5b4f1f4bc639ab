"""The ``suggest`` command line: thin click commands over library calls.

Each command parses its options, makes one library call and prints the
result. A :class:`~suggest.errors.SuggestError` becomes one clear paragraph on
stderr and exit code 2; nothing else here computes.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from suggest import __version__
from suggest.errors import SuggestError, counted
from suggest.files import json_text, write_atomic
from suggest.workflow import DEFAULT_ENGINES, N_ESTIMATORS

MIN_SEGMENT_DEFAULT = 30  # suggest.segments.MIN_SEGMENT, without importing pandas at start-up
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class SuggestGroup(click.Group):
    """A click group that turns user errors into a message and exit code 2."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # A command run with --json reports its error as JSON on stdout too.
        ctx.meta.setdefault("suggest.json", "--json" in args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):
        import suggest

        suggest.command_line = True  # a Ctrl-C ends the process (suggest.parallel reads it)
        try:
            return super().invoke(ctx)
        except SuggestError as exc:
            self._fail(ctx, exc)
        except BrokenPipeError:  # `suggest ... | head`: the reader left; stop quietly, as `yes` does
            _quiet_stdout()
            ctx.exit(141)
        except OSError as exc:  # a path the user gave that cannot be written or read
            name = f" {exc.filename}" if exc.filename else ""
            self._fail(ctx, SuggestError(f"cannot use{name}: {exc.strerror or exc}",
                                         hint="check the path and its folders"))
        except MemoryError:
            click.echo("error: out of memory; try a smaller input or fewer users/days", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            click.echo("interrupted" + (": run the same command again and it resumes from its "
                                        "finished chunks" if ctx.invoked_subcommand == "replay"
                                        else ""), err=True)
            ctx.exit(130)


    @staticmethod
    def _fail(ctx: click.Context, exc: SuggestError) -> None:
        """One paragraph on stderr; with --json also ``{"error": {...}}`` on stdout."""
        click.secho("error: ", fg="red", err=True, nl=False)
        click.echo(exc.format(), err=True)
        if ctx.meta.get("suggest.json"):
            _print_json({"error": exc.to_dict()})
        ctx.exit(exc.exit_code)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so that flushing it at exit raises nothing more."""
    import os
    import sys

    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # not a real file (a test runner's buffer)
        pass


def split_options(command):
    """``--split`` and ``--gap``: how the held-out requests are chosen (suggest.splits)."""
    command = click.option("--gap", default=None, metavar="DURATION",
                           help="With a split by time: leave out the test requests within this "
                                "long after the cut (e.g. 1h), so no session straddles it.")(command)
    return click.option("--split", "split_by", default="auto", show_default=True,
                        metavar="time|request|user|group|group:COLUMN",
                        help="How to hold out requests: the latest by time, a seeded share of "
                             "requests, of users, of the groups of the description's group column "
                             "(`columns: group:`, a session id), or of a context column's values "
                             "(auto: time when the log has time, else request).")(command)


def log_and_dataset(command):
    """The ``[LOG]`` argument and the ``--dataset`` option of every command that reads a log."""
    command = click.option("--dataset", type=click.Path(path_type=Path), required=True,
                           help="Dataset description saying how to read LOG (and whose log is "
                                "the default).")(command)
    return click.argument("log_file", metavar="[LOG]", type=click.Path(path_type=Path),
                          required=False)(command)


def _print_json(value: dict) -> None:
    """JSON for machines: a missing number (NaN) is null, never the invalid token NaN."""
    click.echo(json_text(value, indent=2, sort_keys=True))


@click.group(cls=SuggestGroup, context_settings=CONTEXT, invoke_without_command=True)
@click.version_option(__version__, "--version", prog_name="suggest")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Contextual suggestions: read logs, write and check rule sets, compare them.

    \b
    Start with:
      suggest demo                          a synthetic world, end to end
      suggest data check D.yaml             does my log read the way I think?
      suggest rules explain R.yaml --dataset D.yaml --context '{"location": "home"}'
    Every command has --help with an example.
    """
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


@main.command(epilog="""\b
Examples:
  suggest generate --users 200 --days 28 --seed 1 -o data/synth
  suggest generate --preset personal --users 1000 -o worlds/personal
  suggest generate --extra-items 100 -o worlds/long-catalog     # 133 items
  # a log of what a service showed: the rules' 5 items, 10% of requests exploring
  suggest generate --logging-policy rules --epsilon 0.1 --shown 5 -o worlds/shown
""")
@click.option("--users", type=int, default=None, help="Number of users.  [default: preset's, 200]")
@click.option("--days", type=int, default=None, help="Days of log.  [default: preset's, 28]")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed; same seed, same bytes.")
@click.option("--preset", default="default", show_default=True,
              help="World: default, context, personal, drift or sparse.")
@click.option("--requests-per-day", type=float, default=None,
              help="Mean requests per user per day.  [default: preset's, 6]")
@click.option("--extra-items", type=int, default=None,
              help="Long-tail items (app_0001, ...) added to the 33 named ones, for a longer "
                   "catalog.  [default: 0]")
@click.option("--logging-policy", type=click.Choice(["rules", "popular", "random"]), default=None,
              help="Log what a service showed instead of what people picked: each request shows "
                   "--shown items chosen by this policy (rules: --rules' top items; popular; random), "
                   "exploring with --epsilon, with the exact propensities, position-biased "
                   "engagement, and the truth to check estimates against.")
@click.option("--rules", "rules_path", type=click.Path(path_type=Path), default=None,
              help="Rule file of --logging-policy rules.  [default: the packaged phone rules]")
@click.option("--epsilon", type=float, default=None,
              help="Share of requests that show a uniformly random list instead.  [default: 0.1]")
@click.option("--shown", type=int, default=5, show_default=True,
              help="Items shown per request, with --logging-policy.")
@click.option("-o", "--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write log.csv, catalog.csv, dataset.yaml, truth_model.json (and "
                   "truth_attraction.parquet with --logging-policy).")
@click.option("--force", is_flag=True, help="Replace the world a folder already holds.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_context
def generate(ctx, users, days, seed, preset, requests_per_day, extra_items, logging_policy,
             rules_path, epsilon, shown, out, force, as_json):
    """Generate a synthetic phone-assistant world whose true preferences are known."""
    from suggest import simulate, synth

    if out.exists() and not out.is_dir():
        raise SuggestError(f"-o {out} is a file: a world is a folder", hint="name a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise SuggestError(f"{out} already exists and is not empty",
                           hint="pass --force to replace the world there (a log suggest did not "
                                "generate is never replaced), or choose another -o folder")

    overrides = {"users": users, "days": days, "requests_per_day": requests_per_day,
                 "extra_items": extra_items}
    config = synth.preset_config(preset, seed=seed,
                                      **{k: v for k, v in overrides.items() if v is not None})
    if logging_policy is None:
        given = [f"--{name.replace('_path', '')}" for name in ("rules_path", "epsilon", "shown")
                 if ctx.get_parameter_source(name).name != "DEFAULT"]
        if given:
            raise SuggestError(f"{', '.join(given)} without --logging-policy",
                               hint="they describe the service a --logging-policy world simulates; "
                                    "add --logging-policy rules, popular or random")
        summary = synth.generate(config, out, progress=not as_json, name=f"synth-{preset}")
    else:
        summary = simulate.generate(config, out, policy=logging_policy, epsilon=epsilon,
                                    shown=shown, rules=rules_path, progress=not as_json,
                                    name=f"synth-{preset}-{logging_policy}")
    if as_json:
        _print_json(summary)
        return
    click.echo(f"wrote {summary['requests']:,} requests ({summary['rows']:,} log rows, "
               f"{summary['users']:,} users, {summary['items']} items) to {out}/")
    if logging_policy is not None:
        service = summary["service"]
        own = (f"; the policy's own lists {service['logging_value']:.4f}"
               if service["logging_value"] is not None else "")
        explored = (f"{service['explored_share']:.1%} of requests explored (epsilon "
                    f"{service['epsilon']:g}: {counted(service['shown'], 'random item')} instead)"
                    if service["epsilon"] > 0 else "no request explored (epsilon 0)")
        click.echo(f"service: {service['logging_policy']} showed up to "
                   f"{counted(service['shown'], 'item')} a request; {explored}; "
                   f"{service['nothing_shown']:,} requests showed nothing; "
                   f"{service['engagements']:,} engagements")
        click.echo(f"true engagements per request: what was shown {service['shown_value']:.4f}{own} "
                   f"(truth_model.json, truth_attraction.parquet)")
    click.echo(f"next: suggest data check {out}/dataset.yaml")



def _dask_address(ctx, param, value):
    """``--dask``'s value: a file the command line meant as its argument (``--dask D.yaml``
    reads D.yaml as the address) is named, with how to write it."""
    if value and value != "local" and "://" not in value and (
            Path(value).exists() or Path(value).suffix.lower() in (".yaml", ".yml", ".csv",
                                                                    ".parquet", ".tsv", ".jsonl")):
        raise click.BadParameter(
            f"'{value}' was taken as the scheduler address: --dask takes an optional address, so "
            f"write the file before it ({value} --dask), or give --dask an address "
            "(tcp://HOST:8786) or `local`", param_hint="--dask")
    return value


def _parallel_options(what: str, joblib: bool = True, workers: str = ""):
    """``--jobs`` and ``--dask [ADDRESS]``, shared by data check, replay and train;
    ``workers`` says what the workers do."""
    jobs_help = (f"Worker processes for {what} (joblib); with --dask and no address, the local "
                 "cluster's workers.  [default: 1; with --dask: one per core]" if joblib else
                 "With --dask and no address: the local cluster's workers.  [default: one per core]")

    def decorate(command):
        command = click.option(
            "--dask", "dask_address", is_flag=False, flag_value="local", default=None,
            callback=_dask_address,
            metavar="[ADDRESS]", help=f"Run {what} on Dask: a scheduler address "
            "(tcp://HOST:8786), or no value for a local cluster started and closed here."
            + (f" {workers}" if workers else ""))(command)
        return click.option("--jobs", type=int, default=None, help=jobs_help)(command)
    return decorate


@main.group(context_settings=CONTEXT, epilog="""\b
Example:
  suggest data check data/sample/dataset.yaml
""")
def data() -> None:
    """Check how a log reads against its dataset description."""


@data.command("check", epilog="""\b
Examples:
  suggest data check data/sample/dataset.yaml
  suggest data check my_log.yaml --rejects rejects.csv --json
  # the workers of a cluster read and check the log's files (rejects: a folder)
  suggest data check big_log.yaml --dask tcp://10.0.0.5:8786 --rejects big.rejects
""")
@click.argument("dataset", type=click.Path(path_type=Path))
@click.option("--rejects", "rejects_path", type=click.Path(path_type=Path),
              default=None, help="Where to write rejected rows, when there are any (a file left "
              "there by an earlier run is removed when there are none; at the default path, shared by "
              "every dataset.yaml, only this log's); with --dask a folder of "
              "one CSV per piece of the log.  [default: ./STEM.rejects.csv, STEM the "
              "description file's name without .yaml; with --dask ./STEM.rejects/]")
@_parallel_options("the check", joblib=False)
@click.option("--json", "as_json", is_flag=True, help="Print the load report as JSON.")
def data_check(dataset, rejects_path, jobs, dask_address, as_json):
    """Load DATASET (a dataset description YAML): schema, counts and rejected rows.

    Every rejected row goes to the rejects file with its line number and
    reason; rows read = rows ok + rows rejected, always. With no rejected row
    no file is written. With --dask the workers read the log's files (or a
    Parquet file's row groups) themselves and the client holds counts only.
    """
    from suggest.workflow import check_data

    report, written = check_data(dataset, rejects_path, dask=dask_address, jobs=jobs,
                                 progress=not as_json)
    if as_json:
        _print_json({**report.to_dict(), "rejects_file": str(written) if written else None})
        return
    click.echo(report.to_text())
    click.echo(f"  rejected rows: {written}" if written else "  no rejected rows")


@main.group(context_settings=CONTEXT, epilog="""\b
Examples:
  suggest rules check rules/phone.yaml --dataset data/sample/dataset.yaml
  suggest rules coverage rules/phone.yaml --dataset data/sample/dataset.yaml
""")
def rules() -> None:
    """Check, test, explain and measure YAML rule sets."""


@rules.command("check", epilog="""\b
Examples:
  suggest rules check rules/phone.yaml
  suggest rules check rules/phone.yaml --dataset data/sample/dataset.yaml
""")
@click.argument("rules_file", metavar="RULES", type=click.Path(path_type=Path))
@click.option("--dataset", type=click.Path(path_type=Path), default=None,
              help="Also check fields, types, values and items against this dataset description.")
@click.option("--json", "as_json", is_flag=True, help="Print errors and warnings as JSON.")
def rules_check(rules_file, dataset, as_json):
    """Check a rule file: every error at once, then lint warnings.

    Warnings name rules that can never fire (contradicting conditions) and rules
    always shadowed by an earlier one; with --dataset, also rules shadowed wherever
    they fire on its log. Exit code 2 when there are errors.
    """
    from suggest.errors import ErrorList
    from suggest.workflow import check_rules

    try:
        found = check_rules(rules_file, dataset)
    except SuggestError as problem:
        if not as_json:
            raise
        # one shape for a program, whether the file does not read or does not fit the log
        listed = problem.errors if isinstance(problem, ErrorList) else [problem]
        found = {"rules": None, "tests": None, "errors": [e.format() for e in listed],
                 "warnings": []}
    errors, warnings = found["errors"], found["warnings"]
    if as_json:
        _print_json(found)
    else:
        for line in errors:
            click.echo(f"error: {line}", err=True)
        for line in warnings:
            click.echo(f"warning: {line}")
        verdict = f"{len(errors)} error(s)" if errors else "ok"
        click.echo(f"{rules_file}: {found['rules']} rules, {found['tests']} tests: {verdict}"
                   + (f", {len(warnings)} warning(s)" if warnings else ""))
    if errors:
        raise SystemExit(2)


@rules.command("test", epilog="""\b
Examples:
  suggest rules test rules/phone.yaml --dataset data/sample/dataset.yaml
  suggest rules test rules/incarmusic.yaml --dataset data/datasets/incarmusic.yaml
""")
@click.argument("rules_file", metavar="RULES", type=click.Path(path_type=Path))
@click.option("--dataset", type=click.Path(path_type=Path), default=None,
              help="Dataset description: its catalog fills slices and its types read contexts.")
def rules_test(rules_file, dataset):
    """Run the `tests:` section of a rule file. Exit code 1 when a test fails."""
    from suggest.report.terminal import rule_tests_text
    from suggest.workflow import run_rule_tests

    results = run_rule_tests(rules_file, dataset)
    click.echo(rule_tests_text(results))
    failed = sum(not r["passed"] for r in results)
    if failed:
        raise SystemExit(1)


@rules.command("explain", epilog="""\b
Examples:
  suggest rules explain rules/phone.yaml --dataset data/sample/dataset.yaml \\
      --context '{"location": "commute", "battery": 18, "timestamp": "2026-03-03T08:10:00+01:00"}'
  suggest rules explain rules/phone.yaml --dataset data/sample/dataset.yaml --context @ctx.json --json
""")
@click.argument("rules_file", metavar="RULES", type=click.Path(path_type=Path))
@click.option("--context", "context_text", required=True,
              help="The context as a JSON object, or @FILE to read it from a file.")
@click.option("--dataset", type=click.Path(path_type=Path), default=None,
              help="Dataset description: its catalog fills slices and its types read the context.")
@click.option("-k", type=int, default=None, help="How many suggestions.  [default: max_suggestions]")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def rules_explain(rules_file, context_text, dataset, k, as_json):
    """Explain one context: suggestions, blocks, and why each rule fired or not.

    A context key that neither the rule set nor (with --dataset) the dataset knows
    is an error with a did-you-mean; a value the dataset's log never holds is a
    warning.
    """
    from suggest.rules.explain import check_context_keys, explain, explain_text
    from suggest.workflow import rules_engine

    context = _json_argument(context_text, "--context")
    engine, log = rules_engine(rules_file, dataset)
    warnings = check_context_keys(engine, context, log)
    result = explain(engine, context, k, log.context if log else None)
    if as_json:
        _print_json({**result, "warnings": warnings})
    else:
        for warning in warnings:
            click.echo(f"warning: {warning}", err=True)
        click.echo(explain_text(result))


@rules.command("coverage", epilog="""\b
Examples:
  suggest rules coverage rules/phone.yaml --dataset data/sample/dataset.yaml
  suggest rules coverage rules/phone.yaml other_week.csv --dataset data/sample/dataset.yaml --json
""")
@click.argument("rules_file", metavar="RULES", type=click.Path(path_type=Path))
@log_and_dataset
@click.option("--json", "as_json", is_flag=True, help="Print the coverage as JSON.")
def rules_coverage(rules_file, log_file, dataset, as_json):
    """How often each rule fires on a log, is shadowed, or misses by one condition.

    LOG defaults to the dataset description's own log.
    """
    from suggest.rules.coverage import coverage
    from suggest.workflow import rules_engine

    engine, log = rules_engine(rules_file, dataset, log_file)
    report = coverage(engine, log.requests)
    rows = log.report
    if as_json:
        _print_json({**report.to_dict(), "rows_in": rows.rows_in,
                     "rows_rejected": rows.rows_rejected})
    else:
        click.echo(report.to_table() + _rejected_note(rows.rows_rejected, rows.rows_in, "counted"))


def _rejected_note(rejected: int, rows_in: int, what: str) -> str:
    """A closing line on the log's rejected rows, for commands that write no rejects file."""
    if not rejected:
        return ""
    return (f"\n\nnote: {rejected:,} of the log's {rows_in:,} rows "
            f"{'was' if rejected == 1 else 'were'} rejected and not {what} "
            "(`suggest data check` writes them out with their reasons)")


@rules.command("mine", epilog="""\b
Examples:
  suggest rules mine --dataset data/sample/dataset.yaml -o mined.yaml
  suggest rules mine LOG.parquet --dataset D.yaml -o mined.yaml --max-rules 20 --min-support 50 --json
  # then replay it beside the team's rules:
  suggest replay --dataset D.yaml --rules hand=rules/phone.yaml --rules mined=mined.yaml -o runs/mined
""")
@log_and_dataset
@click.option("-o", "--out", type=click.Path(path_type=Path), required=True,
              help="Rule file to write (YAML, with a comment on each rule).")
@click.option("--max-rules", type=int, default=30, show_default=True,
              help="Most rules to write (those with the highest held-out precision).")
@click.option("--min-support", type=int, default=20, show_default=True,
              help="Fewest training requests a condition must hold on to be tried.")
@click.option("--k", "k", type=int, default=5, show_default=True,
              help="Most suggestions a rule makes (and the file's max_suggestions).")
@click.option("--alpha", type=float, default=0.05, show_default=True,
              help="False discovery rate of the tests (Benjamini-Hochberg over every condition x item).")
@click.option("--min-lift", type=float, default=1.0, show_default=True,
              help="Smallest lift proposed: how many times more often than the same users "
                   "choose the item elsewhere (e.g. 1.5 for strong effects only).")
@click.option("--test-share", type=float, default=0.2, show_default=True,
              help="The share `suggest replay --test-share` holds out: never read here.")
@split_options
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split.")
@click.option("--force", is_flag=True, help="Replace an existing -o file.")
@click.option("--json", "as_json", is_flag=True, help="Print what was mined as JSON.")
def rules_mine(log_file, dataset, out, max_rules, min_support, k, alpha, min_lift, test_share,
               split_by, gap, seed, force, as_json):
    """Propose rules from the log: context conditions under which an item or a catalog
    slice is chosen clearly more often, tested within users.

    Only the training part of the replay's split is read (the same --test-share, --split
    and --seed as replay): conditions are tested on its earlier 80% and each rule is
    checked on its later 20%, whose precision sets the rule's priority. The file is
    written for a person to read and edit: a comment on each rule gives its support,
    lift and held-out precision.
    """
    from suggest.workflow import mine_rules

    found = mine_rules(dataset, out, log=log_file, force=force, max_rules=max_rules,
                       min_support=min_support, k=k, alpha=alpha, min_lift=min_lift,
                       test_share=test_share,
                       split_by=split_by, gap=gap, seed=seed)
    if as_json:
        _print_json(found)
        return
    click.echo(mined_text(found, out, dataset))


@rules.command("distil", epilog="""\b
Examples:
  suggest train --dataset D.yaml --rules rules/phone.yaml --test-share 0.2 -o models/w
  suggest rules distil models/w --dataset D.yaml -o distilled.yaml --max-rules 30
  suggest replay --dataset D.yaml --rules rules/phone.yaml --rules distilled=distilled.yaml \\
      --model models/w -o runs/distilled
""")
@click.argument("model_dir", metavar="MODEL", type=click.Path(file_okay=False, path_type=Path))
@click.option("--dataset", type=click.Path(path_type=Path), required=True,
              help="Dataset description of the log the model was trained on.")
@click.option("-o", "--out", type=click.Path(path_type=Path), required=True,
              help="Rule file to write (YAML, with a comment on each rule).")
@click.option("--max-rules", type=int, default=30, show_default=True,
              help="Most rules, the default rule included.")
@click.option("--min-support", type=int, default=20, show_default=True,
              help="Fewest training contexts a condition must hold on to be tried.")
@click.option("--k", "k", type=int, default=5, show_default=True,
              help="The ranker's top k to imitate (and the file's max_suggestions).")
@click.option("--force", is_flag=True, help="Replace an existing -o file.")
@click.option("--json", "as_json", is_flag=True, help="Print what was distilled as JSON.")
def rules_distil(model_dir, dataset, out, max_rules, min_support, k, force, as_json):
    """Distil a trained ranker into a short rule list that imitates its top choices.

    The rules are a decision list over context conditions (the first rule that fires
    gives the list; the last is the default, so --max-rules is at least 2), grown
    greedily on the contexts the model was trained on. Train the model with
    --test-share (as the example) so that a replay of the rules is fair. Printed and in
    the file's header: the fidelity (share of the ranker's top k the rules reproduce
    there) and the ceiling (the most any rules over these conditions could reproduce:
    the rest of the ranker's choices differ between requests in the same context).
    """
    from suggest.workflow import distil_rules

    found = distil_rules(model_dir, dataset, out, force=force, k=k, max_rules=max_rules,
                         min_support=min_support)
    if as_json:
        _print_json(found)
        return
    click.echo(distilled_text(found, out, dataset))


def distilled_text(found: dict, out: Path, dataset) -> str:
    """What `rules distil` prints: size, fidelity, ceiling, the largest rules, what to run next."""
    k, curve = found["k"], found["curve"]
    steps = [n for n in curve if n < max(curve)]
    lines = [f"{found['file']}: {found['rules']} rules (the last is the default) imitate the "
             f"ranker's top {k} on {found['requests']:,} of the contexts it was trained and "
             "validated on.",
             f"  fidelity {found['fidelity']:.2f}: the share of the ranker's top {k} the rules "
             "reproduce there" + (" (" + ", ".join(f"{curve[n]:.2f} with {n}" for n in steps)
                                  + " rules, the default among them)" if steps else "")]
    if found["conditions"]:
        lines.append(f"  ceiling {found['ceiling']:.2f}: the most any rules over these conditions "
                     f"could reproduce; the other {1 - found['ceiling']:.2f} of its choices differ "
                     "between requests in the same context (each user's own history, or finer "
                     "context than the conditions read)")
    else:
        lines.append(f"  no condition holds on --min-support {found['min_support']:,} contexts: "
                     "only the default rule could be written; lower --min-support")
    if found.get("warning"):
        lines.append(f"  warning: {found['warning']}")
    lines.append("  largest rules (contexts where each is the first to fire):")
    for r in sorted(found["rules_found"], key=lambda r: -r["requests"])[:8]:
        lines.append(f"    {r['id']}: when {r['when']} -> {', '.join(r['suggest'])} "
                     f"({r['requests']:,} contexts; its list holds {r['agreement']:.0%} of the "
                     f"ranker's top {k} there)")
    lines.append("  a condition can stand for the users who have it (a device some households "
                 "own): the ranker learnt their taste, not the context's effect; replay the file "
                 "with --split user, or mine the log (`suggest rules mine` compares each user "
                 "with themselves), before reading a rule as a product fact")
    if found.get("warning"):
        lines.append(f"Next: suggest train --dataset {dataset} --test-share 0.2 -o models/NAME, "
                     f"then distil that model")
    else:
        log = f"{found['log']} " if found.get("log") else ""  # the log it was trained on
        lines.append(f"Next: suggest replay {log}--dataset {dataset} {found['replay_options']} "
                     f"--rules {found.get('rules_file') or 'YOUR_RULES.yaml'} --rules distilled={out} "
                     f"--model {found['model']} "
                     "-o runs/distilled")
    return "\n".join(lines)


def mined_text(found: dict, out: Path, dataset) -> str:
    """What `rules mine` prints: what was tested, what held, the top rules, what to run next."""
    tested = (f"{counted(found['conditions'], 'condition')} x {found['targets']:,} items and "
              f"slices ({counted(found['tests'], 'test')}, false discovery rate {found['alpha']})")
    if not found["file"]:
        if not found["conditions"]:
            why = (f"no condition holds on --min-support {found['min_support']:,} of the "
                   f"{found['fitting_requests']:,} requests mined; lower it")
        else:
            floor = f"lift {found['min_lift']:g} or more, " if found["min_lift"] > 1 else ""
            why = (f"no item or slice is chosen clearly more often ({floor}within users) under "
                   f"any of {tested}"
                   + (f"; {found['did_not_hold']} candidate(s) did not hold on the later part"
                      if found["did_not_hold"] else "")
                   + (f". With {found['engaged_fitting_requests']:,} engaged requests to test on, "
                      "only large effects can show: a longer log"
                      + (", or --alpha 0.2 for leads to check by hand," if found["alpha"] < 0.2
                         else "")
                      + " may find some" if found["engaged_fitting_requests"] < 5000 else ""))
        return (f"No rule to write: in the training part ({found['training_requests']:,} requests) "
                f"{why}. {out} was not written"
                + (" (the file already there is left as it was)." if Path(out).exists() else ".")
                + _rejected_note(found.get("rows_rejected", 0), found.get("rows_in", 0), "mined"))
    lines = [f"{found['file']}: {found['rules']} rules mined from the {found['training_requests']:,} "
             f"training requests (the replay holds out the rest, never read here: {found['split']}).",
             f"  tested {tested}: {found['significant_pairs']:,} significant, "
             f"{found['candidate_rules']:,} candidate rules",
             f"  {found['did_not_hold']} did not hold on the later {found['check_requests']:,} "
             "training requests" + (f"; {found['not_checked']} never fired there (kept, priority 0)"
                                    if found["not_checked"] else "")
             + (f"; {found['left_out_by_max_rules']} more held but --max-rules left them out"
                if found["left_out_by_max_rules"] else ""),
             "  top rules (how often their first suggestion was engaged where they fired in the "
             "later part, ranked by the low end of its 95% interval; these figures chose the "
             "rules kept, so a replay on held-out requests reads lower):"]
    if found.get("shown_log"):
        lines.insert(1, f"  caution: {found['shown_log']}")
    width = max(len(r["id"]) for r in found["rules_found"][:10])
    for r in found["rules_found"][:10]:
        held = r["held_out"]["first"]
        lines.append(f"    {r['id']:<{width}}  {'  -  ' if held is None else f'{held:4.0%} '}"
                     f" when {r['when']}: {', '.join(map(_pick_text, r['suggest']))}")
    lines.append(f"Next: suggest rules check {out} --dataset {dataset}\n"
                 f"      suggest replay --dataset {dataset} {found['replay_options']} "
                 f"--rules hand=YOUR_RULES.yaml --rules mined={out} -o runs/mined")
    return "\n".join(lines) + _rejected_note(found.get("rows_rejected", 0), found.get("rows_in", 0),
                                             "mined")


def _pick_text(pick) -> str:
    if isinstance(pick, dict):
        (attr, value), = [(a, v) for a, v in pick.items() if a != "top"]
        return f"{attr}={value} (top {pick['top']})"
    return str(pick)


def _json_argument(text: str, option: str) -> dict:
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise SuggestError(f"{option}: cannot read {text[1:]}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise SuggestError(f"{option}: {text[1:]} is not valid UTF-8 (byte {exc.start})",
                               hint="save the file as UTF-8; JSON files are UTF-8") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SuggestError(f"{option} is not valid JSON: {exc.msg} at column {exc.colno}",
                           hint="""write it in single quotes: '{"location": "home"}'""") from None
    from suggest.data.readers import has_lone_surrogate

    if has_lone_surrogate(value):  # "\ud800": half a character, no column or item holds it
        raise SuggestError(f"{option} holds a \\u escape of a lone surrogate (\\uD800-\\uDFFF), "
                           "half a character, not text",
                           hint="write the character itself, or both halves of its pair")
    return value


@main.command(epilog="""\b
Examples:
  suggest train --dataset data/sample/dataset.yaml --rules rules/phone.yaml -o models/sample
  suggest train --dataset data/datasets/incarmusic.yaml --rules rules/incarmusic.yaml -o models/incar --json
  # train on what `suggest replay --test-share 0.2 --seed 0` keeps for training, then replay it:
  suggest train --dataset data/sample/dataset.yaml --rules rules/phone.yaml --test-share 0.2 -o models/s80
  suggest train --dataset data/sample/dataset.yaml --rules rules/phone.yaml --tune 60 --ablation -o models/t
  suggest replay --dataset data/sample/dataset.yaml --rules rules/phone.yaml --model models/s80 -o runs/s80
  suggest train --dataset D.yaml --rules R.yaml -o models/big --dask tcp://10.0.0.5:8786
""")
@log_and_dataset
@click.option("--rules", "rules_file", type=click.Path(path_type=Path), default=None,
              help="A rule file: its suggestions join the candidates, its firing becomes features.")
@click.option("-o", "--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Model folder to write (models/NAME).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed for LightGBM and splits (with --dask the trees also depend on which "
                   "worker holds which rows: two runs are close, not identical).")
@click.option("--n-estimators", type=int, default=None,
              help="Most trees; early stopping on validation NDCG@5 usually stops sooner. With "
                   "--dask: exactly this many when given, else as many as a local validation run "
                   "on the latest 50,000 requests found best (the Dask ranker cannot stop "
                   f"early).  [default: {N_ESTIMATORS}]")
@click.option("--test-share", type=float, default=0.0, show_default=True,
              help="Leave out the part `suggest replay --test-share X --seed S` holds out, so the "
                   "model can be replayed with --model. 0 trains on the whole log.")
@split_options
@click.option("--tune", "tune_seconds", type=float, default=None, metavar="SECONDS",
              help="Search LightGBM's settings for this long (seeded) on the same validation "
                   "part and keep the best; the search goes into the manifest.")
@click.option("--ablation", is_flag=True,
              help="Also train with each feature group left out and report the validation "
                   "score of each (printed and in the manifest).")
@click.option("--force", is_flag=True, help="Replace the model folder if it exists.")
@_parallel_options("training", joblib=False, workers=(
    "The workers read the log, build the training matrix and write the model folder "
    "(-o on storage they share)."))
@click.option("--json", "as_json", is_flag=True, help="Print the training summary as JSON.")
def train(log_file, dataset, rules_file, out, seed, n_estimators, test_share, split_by, gap,
          tune_seconds, ablation, force, jobs, dask_address, as_json):
    """Train the LightGBM ranker on a log and write a model folder.

    Of the requests trained on, the latest 20% by time (a seeded 20% without
    time) are held out for early stopping. The folder holds LightGBM's text
    model, a manifest.json and the statistics fitted on the log as Parquet;
    loading reads them back and never unpickles. Rejected log rows are counted and written to the folder's
    rejects.csv; a rule file is first checked against the dataset.

    With --dask, LightGBM trains data-parallel across the workers: its bins and histograms
    depend on which worker holds which rows, so two runs give close models, not the same
    bytes (local training with the same seed does). A worker lost while it trains stops
    the command with exit code 1.
    """
    from suggest.report.terminal import train_text, train_warning
    from suggest.workflow import train_model

    summary = train_model(dataset, out, log=log_file, rules=rules_file, seed=seed,
                          n_estimators=n_estimators, test_share=test_share, split_by=split_by,
                          gap=gap, tune_seconds=tune_seconds, ablation=ablation, force=force,
                          jobs=jobs, dask=dask_address, progress=not as_json)
    if as_json:
        _print_json(summary)
        return
    warning = train_warning(summary)  # first, before anyone ships it
    if warning:
        click.echo(warning, err=True)
    click.echo(train_text(summary))


@main.command(epilog="""\b
Examples:
  suggest replay --dataset data/sample/dataset.yaml --rules rules/phone.yaml -o runs/sample
  suggest replay LOG.csv --dataset D.yaml --rules R.yaml --engines rules,ranker,popular -o runs/x --json
  suggest replay --dataset D.yaml --rules R.yaml -o runs/x --jobs 2          # chunks over 2 processes
  suggest replay --dataset D.yaml --rules R.yaml -o runs/x --metric precision@5 --min-segment 50
  suggest replay --dataset D.yaml --rules R.yaml -o runs/x --split user          # users unseen in training
  suggest replay --dataset D.yaml --rules R.yaml -o runs/x --split time --gap 1h
  suggest replay --dataset D.yaml --rules hand=R.yaml --rules mined=mined.yaml -o runs/x
  suggest replay --dataset D.yaml --rules R.yaml -o runs/x --dask tcp://10.0.0.5:8786
""")
@log_and_dataset
@click.option("--rules", "rules_file", multiple=True, metavar="[NAME=]RULES.yaml",
              help="The rule set to replay (needed by the rules and hybrid engines). Repeat it "
                   "to replay more side by side: the first is the team's rules (engine `rules`, "
                   "also the hybrid's and the ranker's), each other one NAME=FILE an engine NAME.")
@click.option("--model", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="A trained model folder to use as the ranker instead of training one.")
@click.option("--engines", default=DEFAULT_ENGINES, show_default=True,
              help="Comma-separated engines to compare (a rule set named with --rules "
                   "NAME=FILE is replayed whether or not it is listed).")
@click.option("--k", "ks", default="1,3,5,10", show_default=True, help="Cutoffs for the metrics.")
@click.option("--test-share", type=float, default=0.2, show_default=True,
              help="Share of requests held out (the latest by time when the log has time).")
@split_options
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the split, the random engine, training, the tests' resamples and the "
                   "counterfactual bootstrap; same seed, same files.")
@click.option("--chunk-size", type=int, default=20_000, show_default=True,
              help="Requests per chunk; an interrupted replay resumes after the last full chunk.")
@click.option("--metric", default=None,
              help="The verdict's primary metric; its cutoff must be one of --k.  [default: "
                   "ndcg@5, or ndcg at the largest cutoff when --k leaves out 5, which the "
                   "output then says]")
@click.option("--min-segment", type=int, default=MIN_SEGMENT_DEFAULT, show_default=True,
              help="Segments with fewer requests pool into 'other'.")
@click.option("-o", "--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Run folder for suggestions.parquet, results.parquet, truth.parquet, summary.json.")
@_parallel_options("the replay", workers=(
    "The workers read and hold the log, fit the engines and score the chunks; this process "
    "never holds the log."))
@click.option("--gain", type=click.Choice(["linear", "exp"]), default="linear", show_default=True,
              help="NDCG's gain: the relevance, or 2^relevance - 1 (graded logs: a purchase "
                   "graded 3 then weighs 7 clicks, not 3); every NDCG the run prints uses it.")
@click.option("--clip", type=float, default=None,
              help="On a log of what was shown: cap the counterfactual estimators' weights "
                   "(1 / propensity) at this value; less variance, leaning low.  [default: no cap]")
@click.option("--force", is_flag=True,
              help="Replace a finished replay of other settings in -o (the same settings resume "
                   "or keep it).")
@click.option("--json", "as_json", is_flag=True, help="Print summary.json instead of the table.")
def replay(log_file, dataset, rules_file, model, engines, ks, test_share, split_by, gap, seed,
           chunk_size, metric, min_segment, out, jobs, dask_address, gain, clip, force, as_json):
    """Replay the held-out part of a log through every engine, side by side.

    Every engine is fitted on the training part only; the test part streams
    through all of them in chunks. Prints the verdict first: the best engine,
    the ranker against the rules and against the best baseline (difference,
    95% interval, corrected p, or the minimum detectable effect; without a
    learned engine, the rules against the best baseline), the cost and
    where the ranker loses. Writes suggestions.parquet, results.parquet (per
    request and engine: every metric, latency, context, hour and weekday),
    truth.parquet (the held-out engagements) and summary.json (means, answered
    rate, coverage, latency, paired tests, segments, verdict, ranker and data
    cards). With --jobs or --dask the chunks run elsewhere; the files are the same.
    With --dask the workers also read and hold the log and fit the engines
    (user-history and the ranker on one worker), and the rejected rows go to
    RUN/rejects/, one file per piece of the log.

    On a log of what was shown (position and propensity columns) it also
    estimates what each engine would have earned had it been serving (IPS,
    SNIPS, DR with intervals, support and effective sample size) and says
    which number to trust; on a world made by `generate --logging-policy`
    it prints the true values beside them.
    """
    from suggest.report.terminal import rejects_line, summary_text
    from suggest.workflow import replay_log

    if not rules_file and model is None and "ranker" in engines.split(",") and not as_json:
        click.echo("note: no --rules: the ranker trains without rule candidates and rule features",
                   err=True)
    summary = replay_log(dataset, out, log=log_file, rules=list(rules_file) or None, model=model,
                         engines=engines, ks=_cutoffs(ks), test_share=test_share,
                         split_by=split_by, gap=gap, seed=seed, chunk_size=chunk_size,
                         metric=metric, min_segment=min_segment, jobs=jobs, dask=dask_address,
                         progress=not as_json, clip=clip, force=force, gain=gain)
    if as_json:
        _print_json(summary)
    else:
        click.echo(summary_text(summary))
        click.echo("\n" + rejects_line(summary, warnings=False))  # summary_text printed them
        click.echo(f"written to {out}/ (summary.json, results.parquet, suggestions.parquet)")


def _cutoffs(text: str) -> list[int]:
    try:
        values = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise SuggestError(f"--k takes whole numbers separated by commas, not {text!r}",
                           hint="e.g. --k 1,3,5,10") from None
    if not values or values[0] < 1:
        raise SuggestError(f"--k needs cutoffs >= 1, not {text!r}")
    return values


@main.command("evaluate", epilog="""\b
Examples:
  suggest evaluate --run runs/sample/suggestions.parquet --truth runs/sample/truth.parquet
  suggest evaluate --run my.run --truth my.qrels --k 5,10 --json
""")
@click.option("--run", "run_file", type=click.Path(path_type=Path), required=True,
              help="Suggestions table (CSV/Parquet: request_id, item_id, score[, engine]) or TREC run.")
@click.option("--truth", "truth_file", type=click.Path(path_type=Path), required=True,
              help="Truth table (request_id, item_id, relevance) or TREC qrels.")
@click.option("--k", "ks", default="1,3,5,10", show_default=True, help="Cutoffs.")
@click.option("--gain", type=click.Choice(["linear", "exp"]), default="linear", show_default=True,
              help="NDCG gain: relevance, or 2^relevance - 1.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
def evaluate_command(run_file, truth_file, ks, gain, as_json):
    """Score any run against any truth with the metrics of trec_eval and ranx.

    Lists are ordered by score, then item id ascending (trec_eval orders tied
    scores by document id descending and ranx keeps the file's order, so on
    ties they can differ); an item is relevant when its relevance is above 0
    (trec_eval and ranx need 1: fractional grades differ); requests without a
    relevant item are left out of the means and counted; a request of the
    truth that the run never answered counts as 0 (give a truth of the run's
    requests only, e.g. a replay's held-out part, to score answered requests
    alone). A TREC run's tag (its sixth field) or a table's engine column
    names the engine: several names are several engines, each scored alone.
    """
    from suggest.report.terminal import metrics_table
    from suggest.workflow import evaluate_files

    notes: list[str] = []
    results = evaluate_files(run_file, truth_file, _cutoffs(ks), gain=gain, notes=notes)
    for note in notes:  # standard error: --json owns standard output
        click.echo(f"note: {note}", err=True)
    if as_json and len(results) == 1:
        _print_json(next(iter(results.values())).to_dict())
    elif as_json:
        _print_json({engine: r.to_dict() for engine, r in results.items()})
    else:
        click.echo(metrics_table(results))


@main.command("compare", epilog="""\b
Examples:
  suggest compare runs/sample                      # rules vs ranker, significant segments only
  suggest compare runs/sample --a user-history --b ranker --by location --by hour
  suggest compare runs/sample --metric precision@5 --min-segment 100 --json
""")
@click.argument("run_dir", metavar="RUN", type=click.Path(file_okay=False, path_type=Path))
@click.option("--a", "a", default=None, help="The engine to compare against.  [default: rules]")
@click.option("--b", "b", default=None, help="The engine compared.  [default: ranker; without a "
              "learned engine, the best baseline]")
@click.option("--by", "by", multiple=True,
              help="A context column (or hour, weekday) to show segment by segment (repeat). "
                   "Without it every column is tested and only significant segments are shown.")
@click.option("--metric", default=None, help="Primary metric; its cutoff is the k of the overall "
              "metrics.  [default: the replay's primary metric, ndcg@5 unless it chose another]")
@click.option("--k", "k", type=int, default=None,
              help="Compare ndcg at this cutoff instead (when --metric is not given).")
@click.option("--min-segment", type=int, default=None,
              help="Segments with fewer requests pool into 'other'.  [default: the replay's "
                   f"--min-segment, {MIN_SEGMENT_DEFAULT} unless it chose another]")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the sampled examples (and of sign flips when they are drawn).")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def compare_command(run_dir, a, b, by, metric, k, min_segment, seed, as_json):
    """Who wins, where and why: paired tests, segments, per-rule results, disagreements.

    Overall: the replay's own tests of the pair when it made them (Holm within
    its families, as its verdict says them: the headline tests, each learned
    engine against the rules and every baseline on the primary metric, and the
    other overall tests), else every metric at the cutoff as one Holm family.
    Segments: each column
    its own Holm family (so asking for another column never changes these
    p-values). A difference that is not significant comes with its minimum
    detectable effect at 80% power.
    """
    from suggest.workflow import compare_run

    report = compare_run(run_dir, a, b, by=by, metric=metric, k=k, min_segment=min_segment,
                         seed=seed)
    if as_json:
        _print_json(report.to_dict())
    else:
        click.echo(_verdict_first(run_dir, report.a, report.b) + report.to_table(every_segment=bool(by)))


def _verdict_first(run_dir: Path, a: str, b: str) -> str:
    """The run's own answer to "worth it over the rules and the best baseline?", before a
    comparison of one pair, with the command for the pair it did not ask for."""
    from suggest.data.runs import read_summary
    from suggest.verdict import caution_sentences

    summary = read_summary(run_dir)
    verdict = summary.get("verdict") or {}
    # what the comparison is (a model trained with other rules), as the verdict says it
    said = caution_sentences(summary)
    cautions = "".join(f"{c}\n" for c in said)
    headline = verdict.get("headline") or next(
        (s for s in verdict.get("sentences") or [] if s not in said), None)
    baseline = verdict.get("best_baseline")
    if not headline:
        return ""
    hint = (f" (`suggest compare {run_dir} --a {baseline} --b {b}` compares {b} with it)"
            if baseline and baseline not in (a, b) else "")
    best = f"Best baseline: {baseline}{hint}\n" if baseline else ""
    return f"The run's verdict: {headline}\n{cautions}{best}\n"


@main.command("report", epilog="""\b
Examples:
  suggest report runs/sample -o report.html
  suggest report runs/sample --format md -o report.md          # for a pull request or a wiki
  suggest report runs/sample -o report.html --a rules --b hybrid --metric precision@5
""")
@click.argument("run_dir", metavar="RUN", type=click.Path(file_okay=False, path_type=Path))
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The file to write.")
@click.option("--format", "fmt", type=click.Choice(["html", "md"]), default=None,
              help="One self-contained HTML page, or Markdown (charts left out).  [default: "
                   "from the -o file's extension, .html or .md]")
@click.option("--a", "a", default=None, help="Engine compared against.  [default: rules]")
@click.option("--b", "b", default=None, help="Engine compared.  [default: ranker; without a "
              "learned engine, the best baseline]")
@click.option("--metric", default=None, help="Primary metric.  [default: the replay's, ndcg@5]")
@click.option("--min-segment", type=int, default=None,
              help="Segments with fewer requests pool into 'other'.  [default: the replay's "
                   f"--min-segment, {MIN_SEGMENT_DEFAULT} unless it chose another]")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sampled examples.")
def report_command(run_dir, out, fmt, a, b, metric, min_segment, seed):
    """Write the report of a replay run: the verdict first, then engines, segments, rules,
    failures, the ranker and data cards, charts. HTML is self-contained (no network)."""
    from suggest.report import render_run

    named = REPORT_SUFFIXES.get(out.suffix.lower())
    if fmt and named and fmt != named:
        raise SuggestError(f"--format {fmt} does not match -o {out}",
                           hint=f"name the file .{'md' if fmt == 'md' else 'html'}, or drop --format")
    fmt = fmt or _report_format(out)
    page = render_run(run_dir, fmt, a=a, b=b, metric=metric, min_segment=min_segment, seed=seed)
    write_atomic(out, page)
    click.echo(f"wrote {out} ({len(page.encode()) // 1024:,} KiB)")


#: A report's format by the -o file's extension.
REPORT_SUFFIXES = {".html": "html", ".htm": "html", ".md": "md", ".markdown": "md"}


def _report_format(out: Path) -> str:
    """The report's format from the file's extension: .html or .htm, .md or .markdown."""
    suffix = out.suffix.lower()
    if suffix in REPORT_SUFFIXES or suffix == "":
        return REPORT_SUFFIXES.get(suffix, "html")
    raise SuggestError(f"cannot tell the report's format from '{out.name}'",
                       hint="name it .html or .md, or pass --format html or md (for a PDF, "
                            "print the HTML page from a browser)")


@main.command(epilog="""\b
Examples:
  suggest bench --quick -o bench-quick                 # both suites, under two minutes
  suggest bench --suite precision --data ../shared/data -o bench-precision
  suggest bench -o bench-full                          # the full run behind benchmarks/RESULTS.md
""")
@click.option("--suite", type=click.Choice(["precision", "speed", "all"]), default="all", show_default=True,
              help="Which suite to run.")
@click.option("--quick", is_flag=True, help="Small worlds and sizes: under two minutes on 2 cores.")
@click.option("--data", type=click.Path(path_type=Path), default=None,
              help="Folder with the real logs described in data/datasets/.  "
                   "[default: where the descriptions point, ../shared/data]")
@click.option("-o", "--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for results.json, results.md and the worlds and runs behind them.")
@click.option("--json", "as_json", is_flag=True, help="Print results.json instead of the summary.")
def bench(suite, quick, data, out, as_json):
    """Benchmark precision (every engine on synthetic worlds and real logs) and speed.

    Precision: every engine replayed on five synthetic worlds with different
    truths and on each real log under --data, with 95% intervals and the
    paired test of the ranker against the rules. Speed: rules, ranker,
    metrics and replay, each as a ratio against what a user would otherwise
    use, measured in the same run. Writes OUT/results.json (with the machine)
    and OUT/results.md; run it from the project folder.
    """
    from suggest.bench import FULL, QUICK, run_bench
    from suggest.bench.machine import say
    from suggest.bench.run import suites_from
    from suggest.bench.tables import terminal

    command = f"suggest bench --suite {suite}" + (" --quick" if quick else "") \
        + (f" --data {data}" if data else "") + f" -o {out}"
    result = run_bench(out, suites=suites_from(suite), plan=QUICK if quick else FULL, data=data,
                       command=command, log=None if as_json else say, progress=not as_json)
    if as_json:
        _print_json(result)
        return
    click.echo(terminal(result))
    click.echo(f"\nwritten to {out}/results.md and {out}/results.json ({result['seconds']:.0f} s)")


@main.command(epilog="""\b
Examples:
  suggest demo
  suggest demo -o /tmp/demo --users 100 --seed 3
""")
@click.option("-o", "--out", "out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("suggest-demo"), show_default=True, help="Folder for the demo's files.")
@click.option("--users", type=int, default=150, show_default=True, help="Users in the synthetic world.")
@click.option("--days", type=int, default=28, show_default=True, help="Days of log.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
def demo(out, users, days, seed):
    """The whole job on a synthetic world: generate it, read it back, replay every engine.

    Writes the world to OUT/world, its rule set to OUT/rules.yaml (edit it and
    replay), the replay to OUT/run and the report to OUT/report.html, and
    prints who wins, by how much and with what confidence. Works from any
    folder: everything it needs ships with the package.
    """
    from suggest.report.terminal import summary_text
    from suggest.workflow import demo as run_demo

    summary = run_demo(out, users=users, days=days, seed=seed, say=click.echo)
    click.echo("\n" + summary_text(summary))
    click.echo(f"\nrun written to {out / 'run'}/, report to {out / 'report.html'}")
    click.echo(f"next: suggest compare {out / 'run'} --by location")


if __name__ == "__main__":  # pragma: no cover
    main()
