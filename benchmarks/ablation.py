"""What each feature group buys: the ranker's ablation on the synthetic worlds and the real logs.

For each of the five synthetic worlds of ``suggest bench`` (150 users, 28 days, seed 0)
and each real log in ``../shared/data``, the ranker is trained with its rule set and
``RankerEngine.ablation`` retrains it with each feature group left out; the table gives
the validation NDCG@5 (as replay computes it) of the full model and the change without
each group, and the best simple baseline on the same validation requests.

    python benchmarks/ablation.py --out ablation.json     # about 8 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

from suggest import synth
from suggest.bench.machine import write_json
from suggest.bench.precision import WORLDS
from suggest.data import load
from suggest.ranker.model import RankerEngine

ROOT = Path(__file__).resolve().parents[1]
LOGS = ("depaulmovie", "incarmusic")


def logs(folder: Path):
    """(name, Log, rule file) for every synthetic world and real log."""
    for world in WORLDS:
        synth.generate(synth.preset_config(world.preset, users=150, days=28, seed=0),
                       folder / world.name)
        yield world.name, load(folder / world.name / "dataset.yaml"), ROOT / "rules" / world.rules
    for name in LOGS:
        description = ROOT / "data" / "datasets" / f"{name}.yaml"
        try:
            yield name, load(description), ROOT / "rules" / f"{name}.yaml"
        except Exception as error:  # the real logs live beside the project
            print(f"skipping {name}: {error}", file=sys.stderr)


def measure(name: str, log, rules: Path) -> dict:
    engine = RankerEngine(rules=str(rules), explain=False, seed=0)
    engine.fit(log.requests, log.truth, log.catalog)
    rows = engine.ablation(log.requests, log.truth)
    v = engine.validation_
    return {"log": name, "full": rows[0]["score"],
            "without": {r["left_out"]: r["change"] for r in rows[1:]},
            "best_baseline": v.get("best_baseline"),
            "baseline_score": (v.get("baselines") or {}).get(v.get("best_baseline"))}


def table(results: list[dict]) -> str:
    groups = list(dict.fromkeys(g for r in results for g in r["without"]))
    head = "| log | full | " + " | ".join(f"without {g}" for g in groups) + " | best baseline |"
    lines = [head, "|---|---:|" + "---:|" * len(groups) + "---|"]
    for r in results:
        cells = [f"{r['without'][g]:+.3f}" if r["without"].get(g) is not None else "-"
                 for g in groups]
        base = f"{r['best_baseline']} {r['baseline_score']:.3f}" if r["best_baseline"] else "-"
        lines.append(f"| {r['log']} | {r['full']:.3f} | " + " | ".join(cells) + f" | {base} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    with tempfile.TemporaryDirectory() as folder:
        results = [measure(*entry) for entry in logs(Path(folder))]
    print(table(results))
    if args.out:
        write_json(results, Path(args.out), "ablation.json")
    return results


if __name__ == "__main__":
    main()
