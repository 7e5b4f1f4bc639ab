"""Ranker vs user history on the real logs, over many seeded splits.

The two real logs in ``../shared/data`` have no time, so a replay holds out a
seeded 20% of requests; with 100-160 held-out requests one split's difference
moves by several points from seed to seed. This script repeats the split
(seeds 0..N-1), fits the ranker (with the log's rule set) and ``user-history``
on each training part and reports NDCG@5 per split, the mean difference, its
standard error over splits and how many splits the ranker wins.

    python benchmarks/real_log_splits.py                 # 10 splits, both logs, about a minute
    python benchmarks/real_log_splits.py --splits 20 --out splits.json
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

from suggest.bench.machine import write_json
from suggest.data import load
from suggest.engines.baselines import UserHistory
from suggest.evaluate import evaluate
from suggest.ranker.model import RankerEngine
from suggest.replay import split

ROOT = Path(__file__).resolve().parents[1]
LOGS = ("depaulmovie", "incarmusic")


def measure(name: str, splits: int, metric: str = "ndcg@5") -> dict:
    log = load(ROOT / "data" / "datasets" / f"{name}.yaml")
    rows = []
    for seed in range(splits):
        part = split(log.requests, log.truth, 0.2, seed)
        engines = {"ranker": RankerEngine(rules=str(ROOT / "rules" / f"{name}.yaml"), explain=False,
                                          seed=seed),
                   "user-history": UserHistory()}
        row = {"seed": seed}
        for engine_name, engine in engines.items():
            engine.fit(part.train, part.train_truth, log.catalog)
            row[engine_name] = evaluate(engine.suggest(part.test, 5), part.test_truth,
                                        [metric]).means[metric]
        rows.append(row)
    diff = np.array([r["ranker"] - r["user-history"] for r in rows])
    return {"log": name, "metric": metric, "splits": rows,
            "ranker": float(np.mean([r["ranker"] for r in rows])),
            "user-history": float(np.mean([r["user-history"] for r in rows])),
            "diff": float(diff.mean()), "se": float(diff.std(ddof=1) / np.sqrt(len(diff))),
            "ranker_wins": int((diff > 0).sum())}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=UserWarning)
    results = []
    print("| log | splits | ranker NDCG@5 | user-history NDCG@5 | mean diff (SE) | ranker wins |")
    print("|---|---:|---:|---:|---|---:|")
    for name in LOGS:
        try:
            r = measure(name, args.splits)
        except Exception as exc:  # a missing ../shared/data is reported, not fatal
            print(f"| {name} | skipped: {exc} |||||", file=sys.stdout)
            continue
        results.append(r)
        print(f"| {name} | {args.splits} | {r['ranker']:.3f} | {r['user-history']:.3f} | "
              f"{r['diff']:+.3f} ({r['se']:.3f}) | {r['ranker_wins']}/{args.splits} |")
    if args.out:
        write_json(results, Path(args.out), "real_log_splits.json")
    return results


if __name__ == "__main__":
    main()
