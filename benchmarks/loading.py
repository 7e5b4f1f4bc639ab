"""Loading a log at disk speed: `suggest data check` and `suggest rules coverage` against
what reading the same file costs, whole process, on a typed Parquet log and its CSV twin.

The log is a synthetic world (``suggest generate``) cut to ``--rows`` rows and written
twice:

* ``log.parquet``, typed as a team's pipeline would write it: the timestamp as
  ``timestamp[ns, tz=UTC]``, text columns as dictionary (categorical) columns,
  ``headphones`` as booleans, numbers as float64, the zone as a dictionary column;
* ``log.csv``, the same rows as text (ISO times with their offset).

Each figure is a whole process (``python -m suggest ...`` or ``python -c ...``),
timed from start to exit, with its peak resident memory (``wait4``), over
``--runs`` interleaved rounds; the tables give medians and the ratio of
medians against the named reference measured in the same rounds:

* ``data check`` on Parquet against ``pandas.read_parquet`` (target: within 3x);
* ``data check`` on CSV against ``pandas.read_csv(engine="pyarrow")`` (within 3x);
* ``rules coverage`` against a per-row Python loop that computes the same report
  (target: at least 20x faster). The loop is spared what is not per row: it reads
  the Parquet file with pandas and computes the local hour, minute and weekday
  vectorised; then, request by request, it evaluates every rule (closures compiled
  once from the parsed rules, ``suggest.bench.rules_speed``), resolves the final
  list with and without each fired rule (shadowed) and evaluates the parts of each
  top-level ``all`` (near misses). Its counts are checked against coverage's.

Usage::

    python benchmarks/loading.py --users 6000 --rows 1000000 --runs 3 --out loading.json
    python benchmarks/loading.py --users 600 --rows 100000 --runs 2      # a quick look

The world and the files go to ``--work`` and are reused when they exist.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules" / "phone.yaml"
CATEGORICAL = ("location", "activity", "weather", "network", "tz")


def prepare(work: Path, users: int, rows: int, seed: int) -> dict[str, Path]:
    """The world, and its first ``rows`` log rows as typed Parquet and as CSV, each with
    its dataset description."""
    import pandas as pd
    import yaml

    world = work / f"world-{users}u-s{seed}"
    if not (world / "dataset.yaml").exists():
        subprocess.run([sys.executable, "-m", "suggest", "generate", "--users", str(users),
                        "--days", "28", "--seed", str(seed), "-o", str(world), "--json"],
                       check=True, stdout=subprocess.DEVNULL)
    cut = work / f"log-{rows}"
    files = {"parquet": cut / "parquet.yaml", "csv": cut / "csv.yaml",
             "log.parquet": cut / "log.parquet", "log.csv": cut / "log.csv"}
    if all(p.exists() for p in files.values()):
        return files
    cut.mkdir(parents=True, exist_ok=True)
    text = pd.read_csv(world / "log.csv", dtype=str, keep_default_na=False, nrows=rows)
    if len(text) < rows:
        raise SystemExit(f"the world has {len(text):,} rows, fewer than --rows {rows:,}: "
                         "give more --users")
    text.to_csv(files["log.csv"], index=False)
    typed = text.copy()
    typed["timestamp"] = pd.to_datetime(text["timestamp"], utc=True, format="ISO8601")
    for col in CATEGORICAL:
        typed[col] = text[col].astype("category")
    typed["headphones"] = text["headphones"].map({"true": True, "false": False}).astype(bool)
    for col in ("battery", "minutes_to_next_event"):
        typed[col] = pd.to_numeric(text[col])
    typed.to_parquet(files["log.parquet"], index=False)
    description = yaml.safe_load((world / "dataset.yaml").read_text(encoding="utf-8"))
    description["catalog"]["path"] = str(world / "catalog.csv")
    for name, log in (("parquet", "log.parquet"), ("csv", "log.csv")):
        described = {**description, "log": log, "name": f"loading-{name}"}
        files[name].write_text(yaml.safe_dump(described, sort_keys=False), encoding="utf-8")
    return files


def row_loop(dataset: str, rules: str) -> None:
    """The per-row reference: what `rules coverage` reports, computed request by request in
    Python. The log is read with pandas and the local time fields derived vectorised (the
    loop is spared both); then, for every request, every rule's condition is evaluated
    (three-valued: a missing field is unknown), the final list resolved with and without
    each fired rule (shadowed), and each part of a top-level ``all`` evaluated (near
    misses). Prints the report's counts as JSON."""
    import numpy as np
    import pandas as pd
    import yaml

    from suggest.bench.rules_speed import RowResolver, compile_row, row_dicts
    from suggest.data.timefields import local_fields
    from suggest.rules import RulesEngine, load_rules
    from suggest.rules.model import Group, leaves

    described = yaml.safe_load(Path(dataset).read_text(encoding="utf-8"))
    frame = pd.read_parquet(Path(dataset).parent / described["log"])
    truth = frame.loc[frame["item"].notna(), ["request_id", "item"]].rename(columns={"item": "item_id"})
    catalog = pd.read_csv(described["catalog"]["path"]).rename(columns={"item": "item_id"})
    frame = frame.drop_duplicates("request_id")
    frame = pd.concat([frame, local_fields(frame["timestamp"], frame["tz"].astype(str))], axis=1)
    rule_set = load_rules(rules)
    engine = RulesEngine(rule_set).fit(None, truth, catalog)  # catalog slices by popularity
    resolver, k = RowResolver(engine), rule_set.max_suggestions
    fields = sorted({leaf.field for r in rule_set.rules for leaf in leaves(r.when)} - {"time"}
                    | {"hour", "minute", "weekday"})
    conditions = [compile_row(r.when) for r in rule_set.rules]
    parts = [[compile_row(c) for c in r.when.children]
             if isinstance(r.when, Group) and r.when.kind == "all" and len(r.when.children) > 1
             else [] for r in rule_set.rules]
    n = len(conditions)
    fired, shadowed, near = np.zeros(n, int), np.zeros(n, int), np.zeros(n, int)
    answered = 0
    for row in row_dicts(frame, fields):
        on = [j for j, condition in enumerate(conditions) if condition(row) is True]
        top = resolver.top(on, k)
        answered += bool(top)
        for j in on:
            fired[j] += 1
            if engine.proposals_[j] and resolver.top([i for i in on if i != j], k) == top:
                shadowed[j] += 1
        for j, checks in enumerate(parts):
            if checks:
                values = [check(row) for check in checks]
                if values.count(True) == len(values) - 1:  # the other false or unknown
                    near[j] += 1
    print(json.dumps({"requests": len(frame), "answered": answered,
                      "rules": {r.id: [int(fired[j]), int(shadowed[j]), int(near[j])]
                                for j, r in enumerate(rule_set.rules)}}))


def timed(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak resident MiB and stdout of one whole process."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True)
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"failed ({code}): {' '.join(command)}")
    return seconds, usage.ru_maxrss / 1024, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=6000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("/tmp/suggest-loading"))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--row-loop", nargs=2, metavar=("DATASET", "RULES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.row_loop:
        row_loop(*args.row_loop)
        return
    if args.prepare:
        prepare(args.work, args.users, args.rows, args.seed)
        return
    # The files are made by another process: a child's peak resident memory (wait4) counts
    # the pages it shared with this one when it was forked, so this one stays small.
    subprocess.run([sys.executable, __file__, "--prepare", *sys.argv[1:]], check=True)
    files = prepare(args.work, args.users, args.rows, args.seed)  # the paths: made above
    py, suggest = sys.executable, [sys.executable, "-m", "suggest"]
    commands = {
        "pandas.read_parquet": [py, "-c", f"import pandas; pandas.read_parquet({str(files['log.parquet'])!r})"],
        "data check (Parquet)": [*suggest, "data", "check", str(files["parquet"]), "--json",
                                 "--rejects", str(args.work / "rejects.csv")],
        "pandas.read_csv(engine='pyarrow')": [py, "-c", "import pandas; pandas.read_csv("
                                              f"{str(files['log.csv'])!r}, engine='pyarrow')"],
        "data check (CSV)": [*suggest, "data", "check", str(files["csv"]), "--json",
                             "--rejects", str(args.work / "rejects.csv")],
        "per-row loop over the rules": [py, __file__, "--row-loop", str(files["parquet"]), str(RULES)],
        "rules coverage (Parquet)": [*suggest, "rules", "coverage", str(RULES), "--dataset",
                                     str(files["parquet"]), "--json"],
    }
    figures = {name: {"seconds": [], "peak_mib": []} for name in commands}
    outputs = {}
    for round_ in range(args.runs):
        for name, command in commands.items():
            seconds, peak, out = timed(command)
            figures[name]["seconds"].append(round(seconds, 3))
            figures[name]["peak_mib"].append(round(peak, 1))
            outputs[name] = out
            print(f"round {round_ + 1}: {name}: {seconds:.2f} s, {peak:,.0f} MiB", file=sys.stderr)
    for entry in figures.values():
        entry["median_s"] = statistics.median(entry["seconds"])
        entry["median_peak_mib"] = statistics.median(entry["peak_mib"])
    loop = json.loads(outputs["per-row loop over the rules"])
    report = json.loads(outputs["rules coverage (Parquet)"])
    coverage = {"requests": report["requests"], "answered": report["answered"],
                "rules": {r["id"]: [r["fired"], r["shadowed"], r["near_misses"]]
                          for r in report["rules"]}}
    checked = json.loads(outputs["data check (Parquet)"])
    med = {name: entry["median_s"] for name, entry in figures.items()}
    result = {
        "rows": args.rows, "users": args.users, "seed": args.seed, "runs": args.runs,
        "rows_ok": checked["rows_ok"], "rows_rejected": checked["rows_rejected"],
        "figures": figures,
        "ratios": {
            "data check (Parquet) / pandas.read_parquet": med["data check (Parquet)"] / med["pandas.read_parquet"],
            "data check (CSV) / pandas.read_csv(engine='pyarrow')":
                med["data check (CSV)"] / med["pandas.read_csv(engine='pyarrow')"],
            "per-row loop / rules coverage": med["per-row loop over the rules"] / med["rules coverage (Parquet)"],
        },
        "coverage_agrees_with_loop": loop == coverage,
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
    }
    text = json.dumps(result, indent=1)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    if not result["coverage_agrees_with_loop"]:
        print(f"WARNING: coverage {coverage} differs from the loop {loop}", file=sys.stderr)


if __name__ == "__main__":
    main()
