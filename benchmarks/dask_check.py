"""A log larger than the client: `suggest data check --dask` on an external cluster, with the
client's peak memory measured alone, against the local check, at 1M, 5M and 10M rows.

The log is the typed Parquet log of ``benchmarks/loading.py`` (a synthetic world cut to
``--rows`` rows) copied ``m`` times into a folder of ``m`` Parquet files, each copy with
its own users and requests (``-k`` appended to their ids), so a log of ``m`` copies has
``m`` times the rows, users and requests.

For each size a fresh cluster is started from the command line, as a team would start
one (``dask scheduler``, then two ``dask worker --nthreads 1`` processes), and the
command ``python -m suggest data check D.yaml --dask ADDRESS --json`` runs as its own
process: its wall time and peak resident memory (``wait4``) are the client's alone. The
workers' peak resident memory is read from each worker process afterwards
(``getrusage``). The local check (``python -m suggest data check D.yaml --json``) runs
on the same files, up to ``--local-up-to`` copies, and both reports must be equal
(the rejects file aside).

Usage::

    pip install '.[dask]'
    python benchmarks/dask_check.py --users 6000 --rows 1000000 --sizes 1,5,10 --out dask_check.json
    python benchmarks/dask_check.py --users 600 --rows 100000 --sizes 1,3   # a quick look
    python benchmarks/dask_check.py --sizes 1,5,10 --replay --local-up-to 10 --out replay.json

With ``--steps`` the same cluster also runs, as another client process, the steps a
replay on the workers starts with (:mod:`suggest.data.dasklog`, :mod:`suggest.dasksplit`,
:mod:`suggest.daskfit`): the log read and held by the workers, the time split (its leakage
figures too) and the popular and context-popular baselines fitted from counts; the
workers' peaks are then those of both clients' work.

With ``--replay`` the same cluster also runs ``suggest replay`` with the rules, popular and
context-popular (engines that learn from counts, so the workers hold the log) as its own
client process, and the same replay runs in one process and with ``--jobs 2`` (the
peak there is the command's own process; its joblib workers are other processes); every
run's files must be the Dask run's (what measures time aside).

With ``--train`` the same cluster also runs ``suggest train --dask`` (the workers read and
hold the log, one worker prepares the ranker's statistics, each bucket builds its own
training matrix, ``DaskLGBMRanker`` trains) with ``--n-estimators`` trees, as its own client
process, and the same training in one process up to ``--local-up-to``; the two model
folders must hold the same training files and features (the trees may differ)::

    python benchmarks/dask_check.py --rows 250000 --sizes 1,2,4 --train --out train.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loading import RULES, prepare, timed  # noqa: E402


def copies(base: dict[str, Path], m: int, work: Path, files: int = 1) -> Path:
    """A folder of ``m`` copies of the typed log, each with its own users and requests and
    cut into ``files`` Parquet files of consecutive rows (the log is in time order, so
    they are like a day's or an hour's files), and its description; the description's path."""
    import numpy as np
    import pandas as pd
    import yaml

    name = f"copies-{m}" if files == 1 else f"copies-{m}-f{files}"
    folder = work / name
    description = work / f"{name}.yaml"
    if description.exists():
        return description
    folder.mkdir(parents=True, exist_ok=True)
    log = pd.read_parquet(base["log.parquet"])
    cuts = np.linspace(0, len(log), files + 1).astype(int)
    for k in range(m):
        part = log.copy()
        for col in ("user", "request_id"):
            part[col] = part[col].astype(str) + f"-{k}"
        for j in range(files):
            end = "" if files == 1 else f"-{j:04d}"
            part.iloc[cuts[j]:cuts[j + 1]].to_parquet(folder / f"part-{k:03d}{end}.parquet",
                                                      index=False)
    spec = yaml.safe_load(base["parquet"].read_text(encoding="utf-8"))
    spec.update(log=str(folder), name=name)
    description.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return description


def cluster(work: Path, workers: int, memory: str):
    """A scheduler and ``workers`` single-threaded workers started with Dask's command
    line; ``(address, processes)``."""
    dask = str(Path(sys.executable).with_name("dask"))
    info = work / "scheduler.json"
    info.unlink(missing_ok=True)
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    processes = [subprocess.Popen([dask, "scheduler", "--scheduler-file", str(info),
                                   "--no-dashboard"], **quiet)]
    while not info.exists():
        time.sleep(0.1)
    for _ in range(workers):
        processes.append(subprocess.Popen([dask, "worker", "--scheduler-file", str(info),
                                           "--nthreads", "1", "--memory-limit", memory,
                                           "--no-dashboard"], **quiet))
    wait = ("from distributed import Client; c = Client(scheduler_file=%r); "
            "c.wait_for_workers(%d, timeout=60); print(c.scheduler.address)" % (str(info), workers))
    out = subprocess.run([sys.executable, "-c", wait], check=True, capture_output=True, text=True)
    return out.stdout.strip(), processes


def workers_peak_mib(address: str) -> list[float]:
    """Each worker process's peak resident MiB (asked from another process: this one stays
    small, see :func:`main`)."""
    ask = ("import json, resource; from distributed import Client; c = Client(%r); "
           "print(json.dumps(list(c.run(lambda: resource.getrusage(resource.RUSAGE_SELF)"
           ".ru_maxrss / 1024).values())))" % address)
    out = subprocess.run([sys.executable, "-c", ask], check=True, capture_output=True, text=True)
    return [round(v, 1) for v in json.loads(out.stdout)]


def client_steps(description: str, address: str, out: str) -> None:
    """The client of the steps a replay on the workers starts with: the log read, checked
    and held by the workers (its frames kept there), the time split, and the popular and
    context-popular baselines fitted from counts added up on the workers; prints their
    figures as JSON."""
    from suggest.dasksplit import split_on_dask
    from suggest.daskfit import fit_on_dask
    from suggest.data import Dataset
    from suggest.data.dasklog import load_on_dask
    from suggest.engines.baselines import ContextPopular, Popular
    from suggest.parallel import dask_client

    seconds = {}
    started = time.perf_counter()
    with dask_client(address) as client:
        log = load_on_dask(Dataset.from_yaml(description), client, out)
        seconds["load"] = round(time.perf_counter() - started, 2)
        part = split_on_dask(log, 0.2, 0)
        seconds["split"] = round(time.perf_counter() - started - seconds["load"], 2)
        popular = fit_on_dask(Popular(), log, part)
        fit_on_dask(ContextPopular(), log, part)
        seconds["fit"] = round(time.perf_counter() - started - seconds["load"] - seconds["split"], 2)
    print(json.dumps({"requests": log.requests, "train": part.train, "test": part.test,
                      "split": part.how, "leakage": part.leakage, "seconds": seconds,
                      "top_item": str(popular.ranking_[0])}))


def same_run(a: Path, b: Path) -> bool:
    """Whether two replay folders hold the same suggestions, results and summary (what
    measures time aside), checked in another process (this one stays small)."""
    check = ("import json, sys, pandas as pd; from pathlib import Path; a, b = map(Path, sys.argv[1:]);"
             "t = lambda v: {k: t(x) for k, x in v.items() if not any(w in k for w in "
             "('latency', '_us', 'seconds', 'settings'))} if isinstance(v, dict) else "
             "[t(x) for x in v] if isinstance(v, list) else v;"
             "same = all(pd.read_parquet(a / n).drop(columns='latency_us', errors='ignore').equals("
             "pd.read_parquet(b / n).drop(columns='latency_us', errors='ignore')) for n in "
             "('suggestions.parquet', 'results.parquet', 'truth.parquet'));"
             "same = same and t(json.loads((a / 'summary.json').read_text())) == "
             "t(json.loads((b / 'summary.json').read_text())); print(same)")
    out = subprocess.run([sys.executable, "-c", check, str(a), str(b)], check=True,
                         capture_output=True, text=True)
    return out.stdout.strip() == "True"


def same_model_data(a: Path, b: Path) -> bool:
    """Whether two model folders were trained on the same data with the same features: the
    manifests' training records, feature descriptions and the checksums of every file but
    the trees (the fitted statistics, the training ids, the catalog)."""
    manifests = [json.loads((m / "manifest.json").read_text()) for m in (a, b)]
    files = [{k: v for k, v in m["files"].items() if k != "model.txt"} for m in manifests]
    return all(manifests[0][key] == manifests[1][key] for key in ("training", "features")) and \
        files[0] == files[1]


def stop(processes) -> None:
    for process in reversed(processes):
        process.terminate()
    for process in processes:
        process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=6000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sizes", default="1,5,10", help="copies of the log, comma-separated")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="10GiB", help="each worker's")
    parser.add_argument("--local-up-to", type=int, default=10,
                        help="run the local check on logs of at most this many copies")
    parser.add_argument("--files-per-copy", type=int, default=1,
                        help="cut each copy into this many Parquet files (many small files: "
                             "the loader's peer-to-peer shuffle)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/suggest-loading"))
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--steps", action="store_true",
                        help="also time the first steps of a replay on the workers: the log "
                             "held by them, the split, two baselines fitted from counts")
    parser.add_argument("--client-steps", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--replay", action="store_true",
                        help="time `suggest replay` (rules, popular, context-popular) with "
                             "--dask on the cluster, and in one process up to --local-up-to")
    parser.add_argument("--train", action="store_true",
                        help="time `suggest train --dask` on the cluster, and in one process "
                             "up to --local-up-to")
    parser.add_argument("--n-estimators", type=int, default=50, help="trees for --train")
    args = parser.parse_args()
    if args.client_steps:
        client_steps(*args.client_steps)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.prepare:
        base = prepare(args.work, args.users, args.rows, args.seed)
        for m in sizes:
            copies(base, m, args.work, args.files_per_copy)
        return
    # The files are made by another process, and every question to the cluster is asked
    # from one: a child's peak resident memory (wait4) counts the pages it shared with this
    # process when it was forked, so this one must stay small for the client's figure to
    # be the client's alone.
    subprocess.run([sys.executable, __file__, "--prepare", *sys.argv[1:]], check=True)
    suggest = [sys.executable, "-m", "suggest", "data", "check"]
    replay = [sys.executable, "-m", "suggest", "replay", "--rules", str(RULES), "--engines",
              "rules,popular,context-popular", "--json", "--dataset"]
    train = [sys.executable, "-m", "suggest", "train", "--rules", str(RULES), "--json", "--force",
             "--n-estimators", str(args.n_estimators), "--dataset"]
    rows = []
    for m in sizes:
        description = args.work / (f"copies-{m}.yaml" if args.files_per_copy == 1
                                   else f"copies-{m}-f{args.files_per_copy}.yaml")
        address, processes = cluster(args.work, args.workers, args.memory_limit)
        try:
            rejects = args.work / f"rejects-{m}"
            seconds, peak, out = timed([*suggest, str(description), "--json", "--dask", address,
                                        "--rejects", str(rejects)])
            workers = workers_peak_mib(address)
            if args.steps:
                steps = timed([sys.executable, __file__, "--client-steps", str(description),
                               address, str(rejects)])
                steps_workers = workers_peak_mib(address)
            if args.replay:
                shutil.rmtree(args.work / f"run-dask-{m}", ignore_errors=True)  # else resumed
                replayed = timed([*replay, str(description), "-o", str(args.work / f"run-dask-{m}"),
                                  "--dask", address])
                replay_workers = workers_peak_mib(address)
            if args.train:
                trained = timed([*train, str(description), "-o", str(args.work / f"model-dask-{m}"),
                                 "--dask", address])
                train_workers = workers_peak_mib(address)
        finally:
            stop(processes)
        remote = json.loads(out)
        row = {"copies": m, "files": m * args.files_per_copy, "rows": remote["rows_in"],
               "requests": remote["requests"],
               "dask": {"client_seconds": round(seconds, 2), "client_peak_mib": round(peak, 1),
                        "workers_peak_mib": workers}}
        if args.steps:
            row["steps"] = {"client_seconds": round(steps[0], 2),
                            "client_peak_mib": round(steps[1], 1),
                            "workers_peak_mib": steps_workers, **json.loads(steps[2])}
        if args.replay:
            row["replay_dask"] = {"client_seconds": round(replayed[0], 2),
                                  "client_peak_mib": round(replayed[1], 1),
                                  "workers_peak_mib": replay_workers,
                                  "test_requests": json.loads(replayed[2])["requests"]}
            if m <= args.local_up_to:
                for mode, extra in (("local", []), ("jobs2", ["--jobs", "2"])):
                    shutil.rmtree(args.work / f"run-{mode}-{m}", ignore_errors=True)
                    seconds, peak, _ = timed([*replay, str(description), "-o",
                                              str(args.work / f"run-{mode}-{m}"), *extra])
                    row[f"replay_{mode}"] = {
                        "seconds": round(seconds, 2), "peak_mib": round(peak, 1),
                        "same_files": same_run(args.work / f"run-{mode}-{m}",
                                               args.work / f"run-dask-{m}")}
        if args.train:
            summary = json.loads(trained[2])
            row["train_dask"] = {"client_seconds": round(trained[0], 2),
                                 "client_peak_mib": round(trained[1], 1),
                                 "workers_peak_mib": train_workers,
                                 "train_requests": summary["validation"]["train_requests"],
                                 "train_rows": summary["validation"]["train_rows"],
                                 "ndcg@5": summary["validation"]["ndcg@5"]}
            if m <= args.local_up_to:
                seconds, peak, out = timed([*train, str(description), "-o",
                                            str(args.work / f"model-local-{m}")])
                row["train_local"] = {"seconds": round(seconds, 2), "peak_mib": round(peak, 1),
                                      "ndcg@5": json.loads(out)["validation"]["ndcg@5"],
                                      "same_training": same_model_data(
                                          args.work / f"model-local-{m}",
                                          args.work / f"model-dask-{m}")}
        if m <= args.local_up_to:
            seconds, peak, out = timed([*suggest, str(description), "--json",
                                        "--rejects", str(args.work / f"rejects-{m}.csv")])
            local = json.loads(out)
            row["local"] = {"seconds": round(seconds, 2), "peak_mib": round(peak, 1)}
            remote.pop("rejects_file"), local.pop("rejects_file")
            row["same_report"] = remote == local
            if remote != local:  # which fields, to look into
                row["report_differs"] = {k: [local.get(k), remote.get(k)] for k in local
                                         if local.get(k) != remote.get(k)}
        shutil.rmtree(rejects, ignore_errors=True)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    first, last = rows[0]["dask"]["client_peak_mib"], rows[-1]["dask"]["client_peak_mib"]
    result = {"users": args.users, "rows_per_copy": args.rows, "workers": args.workers,
              "this_process_peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                             / 1024, 1),
              "sizes": rows, "client_peak_ratio_last_to_first": round(last / first, 2),
              "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    text = json.dumps(result, indent=1)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
