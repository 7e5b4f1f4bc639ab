"""Do the counterfactual estimates cover the truth? (issue 21, item 5)

Over seeded simulated services (``suggest generate --logging-policy rules``, at each
``--epsilon``), replays every engine and compares each estimator's value and 95% interval
with the true expected engagements per request (``oracle``, from the simulated truth):
coverage (share of worlds whose interval holds the truth), bias (with its standard error
across worlds) and RMSE per engine, and
the plain replay's error beside them; and whether the recommended estimator orders the
engines as the truth does (every pair whose true values differ by more than ``--tie``).

    python benchmarks/counterfactual_check.py --worlds 20 --epsilons 0.1,0.3 \\
        --users 200 --days 28 --out /tmp/cf-check

Prints a Markdown table (and writes ``RESULT.json`` and the per-world rows to ``--out``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from suggest import simulate, synth
from suggest.counterfactual import MIN_SUPPORT, RECOMMENDED
from suggest.workflow import replay_log

ESTIMATORS = ("ips", "snips", "dr")


def one_world(seed: int, epsilon: float, args, out: Path) -> list[dict]:
    world = out / f"world-{epsilon:g}-{seed}"
    config = synth.preset_config(args.preset, seed=seed, users=args.users, days=args.days)
    simulate.generate(config, world, policy="rules", epsilon=epsilon, shown=args.shown)
    summary = replay_log(world / "dataset.yaml", out / f"run-{epsilon:g}-{seed}",
                         rules=args.rules, engines=args.engines, ks=(args.shown,), seed=seed)
    rows = []
    for engine, e in summary["counterfactual"].items():
        row = {"epsilon": epsilon, "seed": seed, "engine": engine, "oracle": e["oracle"],
               "replay": e["replay"], "support": e["support"], "ess": e["ess"],
               "matched": e["matched"], "requests": e["requests"]}
        for name in ESTIMATORS:
            row[name], row[f"{name}_low"], row[f"{name}_high"] = (
                e[name]["value"], e[name]["ci_low"], e[name]["ci_high"])
        rows.append(row)
    return rows


def ordered_like_truth(rows: pd.DataFrame, tie: float, estimator: str = RECOMMENDED) -> pd.Series:
    """Per world: the share of engine pairs (true values more than ``tie`` apart) that
    ``estimator`` orders as the truth does."""
    def share(world: pd.DataFrame) -> float:
        truth, est = world["oracle"].to_numpy(), world[estimator].to_numpy(dtype=float)
        pairs = [(i, j) for i in range(len(world)) for j in range(i + 1, len(world))
                 if abs(truth[i] - truth[j]) > tie]
        if not pairs:
            return float("nan")
        return float(np.mean([(truth[i] - truth[j]) * (est[i] - est[j]) > 0 for i, j in pairs]))
    return rows.groupby(["epsilon", "seed"]).apply(share, include_groups=False)


def table(rows: pd.DataFrame) -> pd.DataFrame:
    out = []
    for (epsilon, engine), g in rows.groupby(["epsilon", "engine"], sort=True):
        line = {"epsilon": epsilon, "engine": engine, "worlds": len(g),
                "truth (mean)": g["oracle"].mean(), "support": g["support"].mean(),
                "ess": g["ess"].median()}
        for name in ESTIMATORS:
            error = g[name] - g["oracle"]
            inside = (g[f"{name}_low"] <= g["oracle"]) & (g["oracle"] <= g[f"{name}_high"])
            line[f"{name} cover"] = inside.mean()
            line[f"{name} bias"] = error.mean()
            # across worlds: a bias is told from chance by |bias / se| (3 or more: systematic)
            line[f"{name} bias se"] = error.std(ddof=1) / np.sqrt(len(g)) if len(g) > 1 else np.nan
            line[f"{name} rmse"] = float(np.sqrt((error ** 2).mean()))
            line[f"{name} width"] = (g[f"{name}_high"] - g[f"{name}_low"]).median()
        line["replay bias"] = (g["replay"] - g["oracle"]).mean()
        line["replay rmse"] = float(np.sqrt(((g["replay"] - g["oracle"]) ** 2).mean()))
        out.append(line)
    return pd.DataFrame(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worlds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--epsilons", default="0.1,0.3")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--shown", type=int, default=5)
    parser.add_argument("--rules", default=str(Path(__file__).resolve().parents[1] / "rules" / "phone.yaml"))
    parser.add_argument("--engines", default="rules,popular,context-popular,random,ranker")
    parser.add_argument("--tie", type=float, default=0.01,
                        help="True values closer than this are a tie in the order check.")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--summarize", action="store_true",
                        help="Only summarise the worlds already in OUT/rows.csv.")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows, started = [], time.perf_counter()
    for epsilon in [] if args.summarize else [float(e) for e in args.epsilons.split(",")]:
        for seed in range(args.first_seed, args.first_seed + args.worlds):
            rows += one_world(seed, epsilon, args, args.out)
            print(f"epsilon {epsilon:g} seed {seed} done ({time.perf_counter() - started:.0f} s)",
                  file=sys.stderr)
            pd.DataFrame(rows).to_csv(args.out / "rows.csv", index=False)
            for folder in args.out.glob(f"*-{epsilon:g}-{seed}"):  # keep the figures only
                shutil.rmtree(folder)
    rows = pd.read_csv(args.out / "rows.csv") if args.summarize else pd.DataFrame(rows)
    result = table(rows)
    order = ordered_like_truth(rows, args.tie)
    supported = rows[rows["support"] > MIN_SUPPORT]
    inside = ((supported[f"{RECOMMENDED}_low"] <= supported["oracle"])
              & (supported["oracle"] <= supported[f"{RECOMMENDED}_high"]))
    verdict = {"recommended": RECOMMENDED,
               "coverage_by_engine": supported.assign(inside=inside).groupby(
                   ["epsilon", "engine"])["inside"].mean().round(3).to_dict(),
               "pairs_ordered_like_truth": round(float(order.mean()), 3),
               "worlds_fully_ordered_like_truth": round(float((order == 1).mean()), 3),
               "mean_estimates_order_like_mean_truth": {
                   str(eps): [list(g.groupby("engine")["oracle"].mean().sort_values().index),
                              list(g.groupby("engine")[RECOMMENDED].mean().sort_values().index)]
                   for eps, g in rows.groupby("epsilon")},
               "pairs_ordered_like_truth_by_estimator": {
                   name: round(float(ordered_like_truth(rows, args.tie, name).mean()), 3)
                   for name in (*ESTIMATORS, "replay")},
               "seconds": round(time.perf_counter() - started, 1)}
    verdict["coverage_by_engine"] = {f"{e:g} {n}": v for (e, n), v in verdict["coverage_by_engine"].items()}
    (args.out / "RESULT.json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                                      "verdict": verdict,
                                                      "table": result.to_dict("records")}, indent=1))
    print(result.to_markdown(index=False, floatfmt=".3f"))
    print(json.dumps(verdict, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
