"""Speed of the LightGBM ranker: one-context latency, batch scoring, training.

A thin script over ``suggest.bench.ranker_speed`` (its docstring says what is
measured and how); ``suggest bench --suite speed`` runs (a) and (b) the same
way. With ``--profile`` it also prints cProfile reports of the
single-context path and of one batch ``score`` call.

Usage::

    python benchmarks/ranker_speed.py                     # ~100k requests, 300 contexts, ~1M training rows
    python benchmarks/ranker_speed.py --quick             # ~25k requests, 100 contexts, ~200k rows
    python benchmarks/ranker_speed.py --profile --out /tmp/ranker_speed.json

It prints a Markdown table; ``--out`` also writes the figures as JSON (to
that file, or to ``ranker_speed.json`` inside it when it is a directory).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
from pathlib import Path

from suggest.bench.machine import describe, write_json
from suggest.bench.ranker_speed import markdown, measure

RULES = Path(__file__).resolve().parent.parent / "rules" / "phone.yaml"


def profile(call, per: int, top: int = 30) -> tuple[str, dict]:
    """cProfile ``call``: the text report, and per ``per`` calls (ms) the package's own
    functions by cumulative time and every function by own time."""
    prof = cProfile.Profile()
    prof.enable()
    call()
    prof.disable()
    stats = pstats.Stats(prof)
    entries = []
    for (path, line, func), (cc, nc, tt, ct, _) in stats.stats.items():
        short = path.split("site-packages/")[-1].split("/work/main/")[-1]
        short = short.split(os.sep + "suggest" + os.sep, 1)[-1] if "suggest" + os.sep in short else short
        entries.append({"function": f"{short}:{line}({func})", "ours": f"{os.sep}suggest{os.sep}" in path,
                        "calls": nc / per, "tottime_ms": tt * 1e3 / per, "cumtime_ms": ct * 1e3 / per})
    text = io.StringIO()
    stats.stream = text
    stats.sort_stats("tottime").print_stats(top)
    return text.getvalue(), {
        "ours_by_cumulative": sorted((e for e in entries if e["ours"]), key=lambda e: -e["cumtime_ms"])[:top],
        "all_by_own_time": sorted(entries, key=lambda e: -e["tottime_ms"])[:top]}


def profile_table(entries: list[dict], unit: str, n: int = 25) -> str:
    lines = [f"| function | calls/{unit} | own ms/{unit} | cumulative ms/{unit} |", "|---|---:|---:|---:|"]
    for e in entries[:n]:
        lines.append(f"| `{e['function']}` | {e['calls']:.1f} | {e['tottime_ms']:.3f} | "
                     f"{e['cumtime_ms']:.3f} |")
    return "\n".join(lines)


def profiles(engine, contexts: list[dict], test, k: int) -> dict:
    few = contexts[:100]
    text, top = profile(lambda: [engine.suggest_one(c, k) for c in few], per=len(few))
    btext, btop = profile(lambda: engine.score(test), per=1)
    return {"single": top, "batch": btop, "single_text": text, "batch_text": btext,
            "contexts": len(few), "batch_requests": len(test)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=None, help="world users (default 600: ~100k requests)")
    parser.add_argument("--days", type=int, default=28, help="world days (default 28)")
    parser.add_argument("--contexts", type=int, default=None, help="test contexts for (a) (default 300)")
    parser.add_argument("--passes", type=int, default=1, help="timed passes over the contexts (default 1)")
    parser.add_argument("--repeat", type=int, default=None, help="timed batch runs, median (default 3)")
    parser.add_argument("--train-rows", type=int, default=None,
                        help="candidate rows for (c) (default 1,000,000)")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true",
                        help="~25k requests, 100 contexts, ~200k training rows, 2 batch runs")
    parser.add_argument("--profile", action="store_true",
                        help="also cProfile the single-context path and one batch score call")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here (file or directory)")
    args = parser.parse_args(argv)
    quick = args.quick
    hook = (lambda engine, contexts, test: profiles(engine, contexts, test, args.k)) if args.profile else None
    result = measure(str(RULES), users=args.users or (150 if quick else 600), days=args.days,
                     contexts=args.contexts or (100 if quick else 300), passes=args.passes,
                     repeat=args.repeat or (2 if quick else 3),
                     train_rows=args.train_rows or (200_000 if quick else 1_000_000), k=args.k,
                     seed=args.seed, log=lambda line: print(line, file=sys.stderr), hook=hook)
    result["environment"] = describe()
    result["command"] = "python benchmarks/ranker_speed.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    print(markdown(result))
    if args.profile:
        p = result.pop("hook")
        for title, key in (("the package's functions by cumulative time", "ours_by_cumulative"),
                           ("all functions by own time", "all_by_own_time")):
            print(f"\n### cProfile `suggest_one`, {title} (per call, mean of {p['contexts']} contexts)\n")
            print(profile_table(p["single"][key], "call"))
        for title, key in (("the package's functions by cumulative time", "ours_by_cumulative"),
                           ("all functions by own time", "all_by_own_time")):
            print(f"\n### cProfile one `score` call ({p['batch_requests']:,} requests), {title}\n")
            print(profile_table(p["batch"][key], "run"))
        print("\n```\n" + p["single_text"].strip() + "\n```\n\n```\n" + p["batch_text"].strip() + "\n```")
        result["profile_single"], result["profile_batch"] = p["single"], p["batch"]
    if args.out:
        write_json(result, args.out, "ranker_speed.json")
    return result


if __name__ == "__main__":
    main()
