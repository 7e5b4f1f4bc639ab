"""Speed of the YAML rules engine against a per-row loop and the `rule-engine` package.

A thin script over ``suggest.bench.rules_speed`` (its docstring says what is
measured and how); ``suggest bench --suite speed`` runs the same measurement.

Usage::

    python benchmarks/rules_speed.py                      # 1M requests x 50 rules
    python benchmarks/rules_speed.py --quick              # 100k requests, smaller samples
    python benchmarks/rules_speed.py --requests 2000000 --rules 100 --out /tmp/speed.json
    python benchmarks/rules_speed.py --profile            # also cProfile one suggest call

It prints a Markdown table; ``--out`` also writes the figures as JSON (to
that file, or to ``rules_speed.json`` inside it when it is a directory).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
from pathlib import Path

from suggest.bench.machine import describe, write_json
from suggest.bench.rules_speed import markdown, measure


def profile(fresh_engine, requests, k: int) -> str:
    engine = fresh_engine()
    prof = cProfile.Profile()
    prof.enable()
    engine.suggest(requests, k)
    prof.disable()
    text = io.StringIO()
    pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(25)
    return text.getvalue().strip()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=None, help="requests (default 1,000,000)")
    parser.add_argument("--rules", type=int, default=50, help="rules (default 50)")
    parser.add_argument("--k", type=int, default=5, help="suggestions per request (default 5)")
    parser.add_argument("--loop-sample", type=int, default=None, help="rows for the per-row loop (20,000)")
    parser.add_argument("--rule-engine-sample", type=int, default=None, help="rows for rule-engine (2,000)")
    parser.add_argument("--repeat", type=int, default=None, help="timed suggest runs, median (default 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="100k requests, small samples, 3 runs")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one suggest call")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here (file or directory)")
    args = parser.parse_args(argv)
    quick = args.quick
    n = args.requests or (100_000 if quick else 1_000_000)
    hook = (lambda fresh, requests: profile(fresh, requests, args.k)) if args.profile else None
    result = measure(requests=n, rules=args.rules, k=args.k,
                     loop_sample=args.loop_sample or (5_000 if quick else 20_000),
                     rule_engine_sample=args.rule_engine_sample or (500 if quick else 2_000),
                     repeat=args.repeat or (3 if quick else 5), seed=args.seed,
                     log=lambda line: print(line, file=sys.stderr), hook=hook)
    result["environment"] = describe()
    result["command"] = "python benchmarks/rules_speed.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    print(markdown(result))
    if args.profile:
        print("\n```\n" + result.pop("hook") + "\n```")
    if args.out:
        write_json(result, args.out, "rules_speed.json")
    return result


if __name__ == "__main__":
    main()
