"""One context through an engine's own path: ``suggest_one`` against the one-row batch.

The rules engine and the ``popular``, ``context-popular`` and ``user-history``
baselines answer ``suggest_one`` on their own paths (:mod:`suggest.rules.one`,
:mod:`suggest.engines.baselines`); the reference is what they did before, and
what ``random`` still does: the batch ``suggest`` on a one-row frame
(``BaseEngine.suggest_one``). Both run on the same contexts, a seeded sample of
a log's requests, and must give the same rows (checked first). Printed per
engine: p50 / p99 of each, for the first sight of each context (a fresh
engine) and for contexts seen before. (The ranker has its own benchmark: the
speed suite and ``single_context_models.py``.)

    python benchmarks/one_context.py                       # the sample log, every engine, about 30 s
    python benchmarks/one_context.py --engine rules --contexts 500 --dataset data/datasets/incarmusic.yaml --rules rules/incarmusic.yaml
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from suggest.data import load
from suggest.engines import get_engine
from suggest.engines.base import BaseEngine
from suggest.errors import SuggestError

ENGINES = ("rules", "popular", "context-popular", "user-history")

ROOT = Path(__file__).resolve().parents[1]


def _contexts(requests: pd.DataFrame, n: int, seed: int) -> list[dict]:
    """Held-out-like contexts: a seeded sample of requests as the dicts a caller sends."""
    rows = requests.iloc[np.sort(np.random.default_rng(seed).choice(len(requests), min(n, len(requests)),
                                                                   replace=False))]
    out = []
    for row in rows.to_dict("records"):
        context = {}
        for key, value in row.items():
            if key in ("hour", "minute", "weekday", "is_weekend") or value is None or value is pd.NA \
                    or (isinstance(value, float) and value != value):
                continue
            context[key] = value.isoformat() if isinstance(value, pd.Timestamp) else \
                value.item() if hasattr(value, "item") else value
        out.append(context)
    return out


def _percentiles(ms: list[float]) -> str:
    return f"p50 {np.percentile(ms, 50):.3f} ms, p99 {np.percentile(ms, 99):.3f} ms"


def _time(call, contexts: list[dict]) -> list[float]:
    out = []
    for context in contexts:
        start = time.perf_counter()
        call(context, 5)
        out.append((time.perf_counter() - start) * 1e3)
    return out


def measure(name: str, make, contexts: list[dict]) -> dict:
    """Check ``make()``'s suggest_one against its one-row batch, then time both (ms lists)."""
    engine = make()
    for context in contexts:  # the same rows both ways
        ours, batch = engine.suggest_one(context, 5), BaseEngine.suggest_one(engine, context, 5)
        for column in ("item_id", "reason", "score"):
            if ours[column].astype(str).tolist() != batch[column].astype(str).tolist():
                raise SystemExit(f"{name}: suggest_one and the batch differ on {context}")
    fresh = make()
    fresh.suggest_one(contexts[0], 5)  # builds the lookups
    return {"first": _time(fresh.suggest_one, contexts[1:]), "again": _time(fresh.suggest_one, contexts),
            "batch": _time(lambda c, k: BaseEngine.suggest_one(fresh, c, k), contexts)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="examples:\n" + __doc__.split("\n\n")[-1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default=str(ROOT / "data" / "sample" / "dataset.yaml"))
    parser.add_argument("--rules", default=str(ROOT / "rules" / "phone.yaml"))
    parser.add_argument("--engine", action="append", choices=ENGINES,
                        help="an engine to time (repeat for several; default: all four)")
    parser.add_argument("--contexts", type=int, default=300, help="contexts to time (default 300)")
    args = parser.parse_args()
    if args.contexts < 2:
        parser.error("--contexts must be at least 2")
    try:
        log = load(args.dataset)
        get_engine("rules", rules=args.rules).fit(log.requests, log.truth, log.catalog)  # the rule file reads
    except SuggestError as error:
        parser.exit(2, f"error: {error}\n")
    contexts = _contexts(log.requests, args.contexts, seed=0)
    print(f"{len(contexts)} contexts of {args.dataset}; suggest_one and the one-row batch give the same "
          "rows on each")
    for name in args.engine or ENGINES:
        params = {"rules": args.rules} if name == "rules" else {}
        got = measure(name, lambda: get_engine(name, **params).fit(log.requests, log.truth, log.catalog),
                      contexts)
        ratio = np.percentile(got["batch"], 50) / np.percentile(got["first"], 50)
        print(f"{name}:\n  suggest_one, first sight of each context: {_percentiles(got['first'])}\n"
              f"  suggest_one, contexts seen before:        {_percentiles(got['again'])}\n"
              f"  one-row batch (the reference):            {_percentiles(got['batch'])}\n"
              f"  p50, first sight: {ratio:.0f}x faster")


if __name__ == "__main__":
    main()
