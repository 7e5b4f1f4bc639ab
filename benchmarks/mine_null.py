"""How often does `rules mine` propose a rule on a log without context effects? (issue 22)

Generates seeded synthetic worlds, and in each moves every user's engagements to other
requests of the same user at random: users keep their tastes and their contexts, items
lose any tie to context. ``rules mine`` at ``--alpha`` should then propose a rule in at
most about ``alpha`` of the logs (the false discovery rate is the chance of any discovery
when nothing is there). Prints that share with its exact binomial interval.

    python benchmarks/mine_null.py --worlds 100 --users 120 --days 21 --out /tmp/mine-null
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
from scipy import stats

from suggest import synth
from suggest.rules.mine import mine, shuffled_within_users
from suggest.workflow import load_log


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worlds", type=int, default=100)
    parser.add_argument("--users", type=int, default=120)
    parser.add_argument("--days", type=int, default=21)
    parser.add_argument("--preset", default="context")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--out", type=Path, default=Path("mine-null"))
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    rows = []
    for seed in range(args.worlds):
        world = args.out / "world"
        synth.generate(synth.preset_config(args.preset, users=args.users, days=args.days, seed=seed), world)
        found = mine(shuffled_within_users(load_log(world / "dataset.yaml"), seed), alpha=args.alpha)
        rows.append({"seed": seed, "tests": found.summary["tests"],
                     "significant": found.summary["significant_pairs"], "rules": len(found.rules)})
        shutil.rmtree(world)
    with_any = sum(r["significant"] > 0 for r in rows)
    low, high = stats.binomtest(with_any, len(rows)).proportion_ci(0.95, method="exact")
    (args.out / "RESULT.json").write_text(json.dumps(rows, indent=2))
    print(f"{with_any} of {len(rows)} logs without context effects gave a significant pair "
          f"({with_any / len(rows):.1%}, 95% interval [{low:.1%}, {high:.1%}]; alpha {args.alpha}); "
          f"rules written in {sum(r['rules'] > 0 for r in rows)}; "
          f"tests per log {np.median([r['tests'] for r in rows]):,.0f} (median)")


if __name__ == "__main__":
    main()
