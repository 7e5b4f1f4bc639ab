"""Replay at scale: one process vs ``--jobs 2`` vs ``--dask`` with two workers.

A synthetic world (``suggest generate``) is replayed through rules + popular +
the ranker with the real command, ``suggest replay``, once per mode:

* ``local``: the chunks one after the other in one process;
* ``jobs2``: ``--jobs 2``, chunks over two joblib worker processes;
* ``dask2``: ``--dask --jobs 2``, a local Dask cluster of two single-threaded
  worker processes, started and closed by the command.

The ranker is trained once beforehand (``--model``) on the latest
``--train-requests`` requests of the replay's training part, so every mode
scores with the same model and the figures are about replay, not training.
Each mode's wall time and the peak of the *summed* resident memory of its
whole process tree (the command and every worker it starts, sampled every
0.1 s with psutil) are recorded, and every mode's suggestions and results
are checked to be the same as the first mode's (latency aside).

Usage::

    pip install '.[dask,bench]'
    python benchmarks/scale.py --users 6000 --out scale.json         # ~1M requests in the log
    python benchmarks/scale.py --users 30000 --out scale.json        # ~5M (the issue's size)
    python benchmarks/scale.py --users 600 --modes local,jobs2       # quick look

Requests in the log are about 168 per user (28 days); the latest 20% are
replayed. The world, the model and the runs go to ``--work`` (kept for a
rerun: an existing world and model of the same size are reused).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules" / "phone.yaml"
MODES = {"local": [], "jobs2": ["--jobs", "2"], "dask2": ["--dask", "--jobs", "2"]}


def world(work: Path, users: int, seed: int) -> Path:
    folder = work / f"world-{users}u-s{seed}"
    if not (folder / "dataset.yaml").exists():
        subprocess.run([sys.executable, "-m", "suggest", "generate", "--users", str(users),
                        "--days", "28", "--seed", str(seed), "-o", str(folder), "--json"],
                       check=True, stdout=subprocess.DEVNULL)
    return folder / "dataset.yaml"


def model(work: Path, dataset: Path, train_requests: int) -> Path:
    """The ranker, trained on the latest ``train_requests`` of the replay's training part."""
    from suggest.data import load
    from suggest.errors import SuggestError
    from suggest.ranker import RankerEngine
    from suggest.replay import split

    folder = work / f"model-{dataset.parent.name}-{train_requests}"
    if (folder / "manifest.json").exists():
        try:
            RankerEngine.load(folder)  # a model from an older feature set is trained again
            return folder
        except SuggestError:
            pass

    log = load(dataset)
    part = split(log.requests, log.truth, 0.2, 0)
    train = part.train.iloc[-train_requests:].reset_index(drop=True)
    truth = part.train_truth[part.train_truth["request_id"].isin(train["request_id"])]
    engine = RankerEngine(rules=str(RULES), explain=False).fit(train, truth, log.catalog)
    engine.save(folder, train, truth, log.catalog)
    return folder


def measured(command: list[str]) -> dict:
    """Wall seconds and the peak summed RSS (MiB) of ``command``'s process tree."""
    import psutil

    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    watched, peak = psutil.Process(process.pid), 0
    while process.poll() is None:
        total = 0
        try:
            for p in [watched, *watched.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    pass
        except psutil.Error:
            pass
        peak = max(peak, total)
        time.sleep(0.1)
    seconds = time.perf_counter() - started
    if process.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{process.stderr.read()[-3000:]}")
    return {"seconds": round(seconds, 2), "peak_mib": round(peak / 2**20, 1)}


def free_cores(workers: int = 2) -> dict:
    """How many cores this machine gives us now: a fixed CPU-bound loop alone, then in
    ``workers`` processes at once. On an idle machine with enough cores the parallel
    wall time equals the single one (``cores`` = workers); when other jobs take the
    CPUs it grows, and no parallel mode can be faster than ``cores`` allows."""
    loop = "sum(i * i for i in range(10**7))"

    def wall(n: int) -> float:
        started = time.perf_counter()
        running = [subprocess.Popen([sys.executable, "-c", loop]) for _ in range(n)]
        for process in running:
            process.wait()
        return time.perf_counter() - started

    alone, together = wall(1), wall(workers)
    return {"alone_s": round(alone, 2), f"{workers}_at_once_s": round(together, 2),
            "cores": round(workers * alone / together, 2)}


def same_results(a: Path, b: Path) -> bool:
    import pandas as pd

    for name in ("suggestions.parquet", "results.parquet"):
        x, y = (pd.read_parquet(p / name).drop(columns="latency_us", errors="ignore") for p in (a, b))
        if not x.equals(y):
            return False
    return True


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=6000, help="users in the world (~168 requests each)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--modes", default=",".join(MODES), help=f"any of {', '.join(MODES)}")
    parser.add_argument("--rounds", type=int, default=2,
                        help="rounds of every mode, interleaved (the machine's load changes)")
    parser.add_argument("--train-requests", type=int, default=100_000,
                        help="requests the ranker is trained on")
    parser.add_argument("--chunk-size", type=int, default=20_000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/suggest-scale"))
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args(argv)
    import shutil

    from suggest.bench.machine import describe, write_json

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        parser.error(f"unknown mode(s) {', '.join(unknown)}; use {', '.join(MODES)}")
    args.work.mkdir(parents=True, exist_ok=True)
    dataset = world(args.work, args.users, args.seed)
    folder = model(args.work, dataset, args.train_requests)
    figures = {"machine": describe(), "users": args.users, "chunk_size": args.chunk_size,
               "train_requests": args.train_requests, "runs": [], "modes": {}}
    reference = None
    for round_ in range(args.rounds):
        for mode in modes:
            run = args.work / f"run-{dataset.parent.name}-{mode}"
            command = [sys.executable, "-m", "suggest", "replay", "--dataset", str(dataset),
                       "--rules", str(RULES), "--model", str(folder), "--engines",
                       "rules,popular,ranker", "--chunk-size", str(args.chunk_size), "-o", str(run),
                       "--json", *MODES[mode]]
            shutil.rmtree(run, ignore_errors=True)  # a finished run would only be resumed
            cores = free_cores()
            result = {"mode": mode, "round": round_, "free_cores": cores["cores"], **measured(command)}
            summary = json.loads((run / "summary.json").read_text())
            result.update(test_requests=summary["requests"], phases_s=summary.get("seconds"))
            if reference is None:
                reference = args.work / f"reference-{dataset.parent.name}"
                shutil.rmtree(reference, ignore_errors=True)
                shutil.copytree(run, reference)
            result["same_results_as_first_run"] = same_results(reference, run)
            figures["runs"].append(result)
            print(f"round {round_} {mode:6s} {result['seconds']:8.1f} s {result['peak_mib']:7.0f} MiB "
                  f"(free cores {cores['cores']}); inside replay: {result['phases_s']}", flush=True)
            figures["modes"][mode] = {
                "command": " ".join(["suggest", *command[3:]]),
                "test_requests": summary["requests"], "train_requests_in_log": summary["train_requests"]}
    for mode in modes:
        mine = [r for r in figures["runs"] if r["mode"] == mode]
        figures["modes"][mode].update(
            seconds_min=min(r["seconds"] for r in mine), seconds_max=max(r["seconds"] for r in mine),
            chunks_s_min=min(r["phases_s"]["chunks"] for r in mine),
            peak_mib_max=max(r["peak_mib"] for r in mine),
            same_results=all(r["same_results_as_first_run"] for r in mine))
    if args.out:
        write_json(figures, args.out, "scale.json")
    return figures


if __name__ == "__main__":
    main()
