"""What sets the ratio of ``suggest_one`` to raw ``Booster.predict``: model size, not candidates.

The speed suite measures one context on the default synthetic world (33 items,
about 30 candidates a context). This script measures the same pair of calls,
with the speed suite's own :func:`suggest.bench.ranker_speed.measure_single`,
on models of other sizes:

* synthetic worlds with ``extra_items`` long-tail items (longer catalogs,
  contexts closer to the candidate cap of 50);
* the two real logs in ``../shared/data`` (no time: a seeded 20% split), when
  present.

For each it prints the candidates per context, the model's trees and the p50 /
p99 of both calls with their ratio.

    python benchmarks/single_context_models.py                  # about 2 minutes
    python benchmarks/single_context_models.py --extra 0 40 200 --out models.json
    python benchmarks/single_context_models.py --extra 200 --trees 180 --no-real   # 50 candidates, bigger model
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from pathlib import Path

from suggest.bench.machine import write_json
from suggest.bench.ranker_speed import NOT_CONTEXT, contexts_from, measure_single, split_by_time
from suggest.data import load
from suggest.errors import SuggestError
from suggest.ranker.model import RankerEngine
from suggest.replay import split
from suggest.synth import generate, preset_config

ROOT = Path(__file__).resolve().parents[1]
LOGS = ("depaulmovie", "incarmusic")


def _plain(value):
    if value is None or (isinstance(value, float) and value != value):
        return None
    return value.item() if hasattr(value, "item") else value


def _row(name: str, engine: RankerEngine, contexts: list[dict], passes: int) -> dict:
    r = measure_single(engine, contexts, 5, passes)
    return {"model": name, "trees": int(engine.booster_.num_trees()),
            "candidates_mean": r["candidates_per_context"]["mean"],
            "candidates_max": r["candidates_per_context"]["max"],
            "suggest_one_p50_ms": r["suggest_one"]["p50_ms"], "suggest_one_p99_ms": r["suggest_one"]["p99_ms"],
            "raw_p50_ms": r["raw_predict"]["p50_ms"], "raw_p99_ms": r["raw_predict"]["p99_ms"],
            "ratio_p50": r["ratio_p50"], "ratio_p99": r["ratio_p99"]}


def synthetic(extra: int, users: int, contexts: int, passes: int, trees: int | None = None) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        summary = generate(preset_config("default", users=users, days=28, seed=1, extra_items=extra), folder)
        world = load(summary["paths"]["dataset"])
    train, truth, test = split_by_time(world.requests, world.truth)
    size = {} if trees is None else {"n_estimators": trees, "validation_share": 0.0}  # no early stop
    engine = RankerEngine(rules=str(ROOT / "rules" / "phone.yaml"), explain=False, **size)
    engine.fit(train, truth, world.catalog)
    columns = [c for c in world.context if c not in NOT_CONTEXT]
    picked = test.sample(n=min(contexts, len(test)), random_state=1).sort_values("timestamp")
    return _row(f"synthetic, {users} users, {summary['items']} items"
                + ("" if trees is None else f", {trees} trees asked"), engine,
                contexts_from(picked, columns), passes)


def real(name: str, contexts: int, passes: int) -> dict | None:
    dataset = ROOT / "data" / "datasets" / f"{name}.yaml"
    try:
        log = load(dataset)
    except SuggestError as exc:  # the log lives outside the project and may be absent
        print(f"{name}: skipped ({exc})")
        return None
    part = split(log.requests, log.truth, 0.2, 0)
    engine = RankerEngine(rules=str(ROOT / "rules" / f"{name}.yaml"), explain=False)
    engine.fit(part.train, part.train_truth, log.catalog)
    columns = [c for c in log.context if c not in NOT_CONTEXT]
    dicts = [{"request_id": str(rec["request_id"]), "user_id": str(rec["user_id"]),
              **{c: _plain(rec[c]) for c in columns}}
             for rec in part.test.head(contexts).to_dict("records")]
    return _row(name, engine, dicts, passes)


def _at_least(low: int):
    def read(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} is below {low}")
        return value
    return read


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  python benchmarks/single_context_models.py                  # about 2 minutes\n"
               "  python benchmarks/single_context_models.py --extra 0 200 --trees 180\n"
               "  python benchmarks/single_context_models.py --extra 200 --users 600 --no-real")
    parser.add_argument("--extra", type=_at_least(0), nargs="*", default=[0, 200],
                        help="extra_items of each synthetic world (default: 0 200)")
    parser.add_argument("--trees", type=_at_least(1), nargs="*", default=[],
                        help="also train each synthetic world with this many trees (no early stopping)")
    parser.add_argument("--users", type=_at_least(1), default=150, help="users of each synthetic world")
    parser.add_argument("--no-real", action="store_true", help="leave out the real logs")
    parser.add_argument("--contexts", type=_at_least(1), default=300, help="contexts measured per model")
    parser.add_argument("--passes", type=_at_least(1), default=5, help="passes over the contexts")
    parser.add_argument("--out", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    rows = [synthetic(extra, args.users, args.contexts, args.passes, trees)
            for extra in args.extra for trees in [None, *args.trees]]
    if not args.no_real:
        rows += [r for r in (real(name, args.contexts, args.passes) for name in LOGS) if r]
    print("| model | trees | candidates (mean / max) | suggest_one p50 / p99 ms | raw predict p50 / p99 ms "
          "| ratio p50 / p99 |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['trees']} | {r['candidates_mean']:.1f} / {r['candidates_max']} | "
              f"{r['suggest_one_p50_ms']:.3f} / {r['suggest_one_p99_ms']:.3f} | "
              f"{r['raw_p50_ms']:.3f} / {r['raw_p99_ms']:.3f} | {r['ratio_p50']:.2f} / {r['ratio_p99']:.2f} |")
    if args.out:
        write_json({"rows": rows}, args.out, "single_context_models.json")


if __name__ == "__main__":
    main()
