"""Loading a model folder: reading its stored statistics against counting them again.

A model folder stores the statistics the ranker fitted (format 3). Before, it
stored the training requests and engagements, and loading counted every
statistic again with ``RankerEngine.prepare``. This script times both in
fresh processes, on the same model:

    python benchmarks/model_load.py --make /tmp/model-load          # a world and a model (about 3 min)
    python benchmarks/model_load.py --load /tmp/model-load          # RankerEngine.load of the folder
    python benchmarks/model_load.py --rebuild /tmp/model-load       # what format 2's load did

``--make`` generates a synthetic world (``--users``, 28 days, 300 long-tail
items), trains a ranker on 80% of it with the phone rules, and writes beside
the model folder the training requests and engagements as Parquet, as a
format 2 folder held them. ``--rebuild`` reads those and runs ``prepare``
with the model's settings: the work format 2's load did after its checks.
Time the two whole processes against each other, several runs each.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make(folder: Path, users: int) -> None:
    from suggest.data import load
    from suggest.ranker.artifact import load as load_model

    world = folder / "world"
    subprocess.run([sys.executable, "-m", "suggest", "generate", "--users", str(users), "--days", "28",
                    "--extra-items", "300", "-o", str(world), "--force"], check=True)
    subprocess.run([sys.executable, "-m", "suggest", "train", "--dataset", str(world / "dataset.yaml"),
                    "--rules", str(ROOT / "rules" / "phone.yaml"), "--test-share", "0.2",
                    "--n-estimators", "30", "-o", str(folder / "model"), "--force"], check=True)
    log = load(world / "dataset.yaml")
    trained = load_model(folder / "model").trained_on_
    requests = log.requests[log.requests["request_id"].astype(str).isin(trained)]
    truth = log.truth[log.truth["request_id"].astype(str).isin(trained)]
    assert len(requests) == len(trained), (len(requests), len(trained))
    requests.reset_index(drop=True).to_parquet(folder / "requests.parquet")
    truth.reset_index(drop=True).to_parquet(folder / "truth.parquet")
    print(json.dumps({"training_requests": len(requests), "engagements": len(truth),
                      "folder_bytes": sum(p.stat().st_size for p in (folder / "model").rglob("*")
                                          if p.is_file())}))


def load_folder(folder: Path) -> None:
    from suggest.ranker import RankerEngine

    started = time.perf_counter()
    model = RankerEngine.load(folder / "model")
    print(json.dumps({"load_s": round(time.perf_counter() - started, 3),
                      "features": len(model.features_.names_)}))


def rebuild(folder: Path) -> None:
    import pandas as pd

    from suggest.files import read_json
    from suggest.ranker import RankerEngine

    started = time.perf_counter()
    manifest = read_json(folder / "model" / "manifest.json", missing="no model", hint="run --make")
    params = dict(manifest["params"], rules=str(folder / "model" / "rules.yaml"))
    requests = pd.read_parquet(folder / "requests.parquet")
    truth = pd.read_parquet(folder / "truth.parquet")
    catalog = pd.read_parquet(folder / "model" / "catalog.parquet")
    engine = RankerEngine(**params)
    engine.prepare(requests, truth, catalog)
    assert engine.features_.names_ == manifest["features"]["names"]
    print(json.dumps({"rebuild_s": round(time.perf_counter() - started, 3),
                      "features": len(engine.features_.names_)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--make", type=Path, metavar="DIR")
    what.add_argument("--load", type=Path, metavar="DIR")
    what.add_argument("--rebuild", type=Path, metavar="DIR")
    parser.add_argument("--users", type=int, default=2000)
    args = parser.parse_args()
    if args.make:
        make(args.make, args.users)
    elif args.load:
        load_folder(args.load)
    else:
        rebuild(args.rebuild)


if __name__ == "__main__":
    main()
