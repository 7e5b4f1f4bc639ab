"""The ranker against the best simple baseline, over ten seeded splits of every log.

For each real log in ``../shared/data`` (no time: a seeded 20% of requests is
held out, seed 0..N-1) and each of the five synthetic worlds of ``suggest
bench`` (a world generated with seed 0..N-1, 150 users over 28 days, the last
20% of the time held out), the ranker (with the log's rule set) and the three
baselines (``popular``, ``context-popular``, ``user-history``) are fitted on the
training part and scored on the held-out part, NDCG@5 as replay computes it.

The *best baseline* of a log is the one with the highest mean over its splits;
the table gives the ranker minus it: the mean over splits, a 95% t interval
over splits (the splits are independent draws, so the interval is about the
ranker as a method on this kind of log, not about one split), and the splits
the ranker wins.

    python benchmarks/real_log_splits.py --out splits.json   # about 10 minutes on 2 cores
    python benchmarks/real_log_splits.py --logs depaulmovie incarmusic --splits 20
    python benchmarks/real_log_splits.py --set num_leaves=7    # another setting than the default
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import yaml
from scipy import stats

from suggest import synth
from suggest.bench.machine import write_json
from suggest.bench.precision import WORLDS
from suggest.data import load
from suggest.engines.baselines import ContextPopular, Popular, UserHistory
from suggest.evaluate import evaluate
from suggest.ranker.model import RankerEngine
from suggest.splits import split

ROOT = Path(__file__).resolve().parents[1]
REAL = ("depaulmovie", "incarmusic")
BASELINES = {"popular": Popular, "context-popular": ContextPopular, "user-history": UserHistory}


def _log(name: str, seed: int, folder: Path):
    """(Log, rule file) of a real log or of a synthetic world drawn with ``seed``."""
    if name in REAL:
        return load(ROOT / "data" / "datasets" / f"{name}.yaml"), ROOT / "rules" / f"{name}.yaml"
    world = next(w for w in WORLDS if w.name == name)
    out = folder / f"{name}-{seed}"
    synth.generate(synth.preset_config(world.preset, users=150, days=28, seed=seed), out)
    return load(out / "dataset.yaml"), ROOT / "rules" / world.rules


def measure(name: str, splits: int, metric: str = "ndcg@5", **ranker) -> dict:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(splits):
            log, rules = _log(name, seed, Path(tmp))
            part = split(log.requests, log.truth, 0.2, seed)
            engines = {"ranker": RankerEngine(rules=str(rules), explain=False, seed=seed, **ranker),
                       **{n: make() for n, make in BASELINES.items()}}
            row = {"seed": seed}
            for engine_name, engine in engines.items():
                engine.fit(part.train, part.train_truth, log.catalog)
                row[engine_name] = evaluate(engine.suggest(part.test, 5), part.test_truth,
                                            [metric]).means[metric]
            rows.append(row)
    means = {n: float(np.mean([r[n] for r in rows])) for n in ("ranker", *BASELINES)}
    best = max(BASELINES, key=lambda n: means[n])
    diff = np.array([r["ranker"] - r[best] for r in rows])
    se = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else float("nan")
    half = float(stats.t.ppf(0.975, len(diff) - 1) * se) if len(diff) > 1 else float("nan")
    return {"log": name, "metric": metric, "splits": rows, "means": means, "best_baseline": best,
            "diff": float(diff.mean()), "se": se, "ci": [float(diff.mean()) - half, float(diff.mean()) + half],
            "ranker_wins": int((diff > 0).sum())}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--logs", nargs="+", default=[*REAL, *(w.name for w in WORLDS)],
                        help="real logs and synthetic worlds to measure (default: all)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a RankerEngine setting to measure instead of its default "
                             "(e.g. --set num_leaves=7 --set objective=rank_xendcg)")
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args(argv)
    settings = {}
    for pair in args.set:
        name, _, value = pair.partition("=")
        settings[name] = yaml.safe_load(value)  # numbers as numbers, text as text
    warnings.filterwarnings("ignore", category=UserWarning)
    results = []
    print("| log | splits | ranker | popular | context-popular | user-history | "
          "ranker - best baseline [95% CI] | ranker wins |")
    print("|---|---:|---:|---:|---:|---:|---|---:|")
    for name in args.logs:
        try:
            r = measure(name, args.splits, **settings)
        except Exception as exc:  # a missing ../shared/data is reported, not fatal
            print(f"| {name} | skipped: {exc} |||||||", file=sys.stdout)
            continue
        results.append(r)
        m = r["means"]
        print(f"| {name} | {args.splits} | {m['ranker']:.3f} | {m['popular']:.3f} | "
              f"{m['context-popular']:.3f} | {m['user-history']:.3f} | {r['diff']:+.3f} vs "
              f"{r['best_baseline']} [{r['ci'][0]:+.3f}, {r['ci'][1]:+.3f}] | "
              f"{r['ranker_wins']}/{args.splits} |", flush=True)
    if args.out:
        write_json(results, Path(args.out), "real_log_splits.json")
    return results


if __name__ == "__main__":
    main()
