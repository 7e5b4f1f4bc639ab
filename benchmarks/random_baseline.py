"""The random baseline on a large catalog: one batch of requests against a catalog of many
items, timed in one process (the peak memory is the process's: run it under
``/usr/bin/time -v``).

    python benchmarks/random_baseline.py --requests 8000 --items 20000

The baseline draws a random key per (request, item) and keeps each request's k smallest;
what it costs grows with requests x items, so a chunk of a replay on a large catalog pays
it in full.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from suggest.engines import get_engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=8000)
    parser.add_argument("--items", type=int, default=20000)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()
    n, m = args.requests, args.items
    stamps = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(np.arange(n), "min")
    requests = pd.DataFrame({"request_id": [f"r{i}" for i in range(n)], "user_id": "u1",
                             "timestamp": stamps})
    truth = pd.DataFrame({"request_id": ["r0"], "item_id": ["i0"], "relevance": [1.0]})
    catalog = pd.DataFrame({"item_id": [f"i{j}" for j in range(m)]})
    engine = get_engine("random").fit(requests.iloc[:1], truth, catalog)
    started = time.perf_counter()
    out = engine.suggest(requests, k=args.k)
    print(f"{n:,} requests x {m:,} items, k {args.k}: {time.perf_counter() - started:.2f} s "
          f"in suggest, {len(out):,} rows")


if __name__ == "__main__":
    main()
