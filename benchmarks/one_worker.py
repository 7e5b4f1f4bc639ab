"""What the one worker of ``suggest train --dask`` holds, against what the workers share.

``train --dask`` brings the training part's Requests and Truth frames to one worker, which
prepares the ranker (candidate sources, point-in-time statistics); each bucket then builds
its own share of the training matrix with the prepared engine, shipped to every worker.
This measures, in one process on a log that ``benchmarks/loading.py --prepare`` writes:

* the training part's frames (what the one worker gathers), deep memory;
* preparing the ranker on them: its wall time and the growth of the process's peak
  resident memory (what the one worker needs beyond the frames);
* the prepared engine's pickled size (what every worker receives);
* the training matrix per 1,000 requests, built as training builds it, on the latest
  ``--matrix-requests`` training requests (what the workers share).

Usage::

    python benchmarks/loading.py --prepare --users 6000 --rows 1000000   # the log, ~2 min
    python benchmarks/one_worker.py --log /tmp/suggest-loading/log-1000000/parquet.yaml
"""

from __future__ import annotations

import argparse
import gc
import json
import pickle
import resource
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--log", required=True, help="a dataset description (YAML)")
    parser.add_argument("--rules", default=str(ROOT / "rules" / "phone.yaml"))
    parser.add_argument("--matrix-requests", type=int, default=20_000)
    args = parser.parse_args()

    from suggest.data import load
    from suggest.ranker.model import RankerEngine
    from suggest.splits import split

    log = load(args.log)
    part = split(log.requests, log.truth, 0.2, 0)
    requests, truth, catalog = part.train, part.train_truth, log.catalog
    del log, part
    gc.collect()
    frames = sum(f.memory_usage(deep=True).sum() for f in (requests, truth)) / 2**20
    before = peak_mib()
    engine = RankerEngine(rules=args.rules)
    start = time.perf_counter()
    engine.prepare(requests, truth, catalog)
    seconds = time.perf_counter() - start
    grown = peak_mib() - before
    shipped = len(pickle.dumps(engine)) / 2**20
    sample = requests.iloc[-args.matrix_requests:]
    cand = engine.candidates_.generate(sample, training=True)
    X = engine.features_.build(sample, cand, training=True)
    per_1k = X.memory_usage(deep=True).sum() / 2**20 / len(sample) * 1000
    print(json.dumps({
        "log": str(Path(args.log)), "training_requests": len(requests), "engagements": len(truth),
        "frames_mib": round(frames, 1), "prepare_s": round(seconds, 1),
        "prepare_peak_growth_mib": round(grown, 0), "prepared_engine_mib": round(shipped, 1),
        "matrix_rows_per_request": round(len(X) / len(sample), 1),
        "matrix_mib_per_1k_requests": round(per_1k, 2),
        "matrix_mib_whole_training_part": round(per_1k * len(requests) / 1000, 0)}, indent=1))


if __name__ == "__main__":
    main()
