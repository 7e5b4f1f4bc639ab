"""Speed of the LightGBM ranker: one-context latency, batch scoring, training.

Generates a synthetic world (``suggest.synth``, preset ``default``) into a
temporary directory, loads it with ``suggest.data.load``, sorts the requests
by time and fits ``RankerEngine(rules="rules/phone.yaml", explain=False)`` on
the first 80% (engagements of those requests only). Then measures in one run:

a. single-context latency: ``engine.suggest_one(context, k=5)`` over test
   contexts (plain dicts built from test requests: context columns,
   ``user_id``, ISO timestamp, ``timezone``), p50/p99 in ms, against
   ``engine.booster_.predict(X)`` on the same candidate feature matrix for
   each context (built beforehand, outside the clock, through
   ``candidates_.generate`` + ``features_.build`` on the same one-row frame
   ``suggest_one`` builds). The two calls alternate context by context, so
   both see the same machine load. Before timing, the single-context top-5
   lists are checked against one batch ``engine.suggest`` call on the same
   requests;
b. batch scoring during replay: ``engine.score(test_requests)`` (candidates,
   features, predict) in candidate rows/s, against ``booster_.predict`` on
   the same feature matrix (median of ``--repeat`` runs each), with the time
   split by stage;
c. training: ``RankerEngine.fit`` on the first requests of the training
   window, as many as give about 1M candidate rows (train + validation
   parts), against ``lightgbm.train`` alone with the same parameters and
   callbacks on the matrix ``fit`` prepares (rebuilt here through the same
   steps: ``_prepare``, ``_split``, ``candidates_.generate``,
   ``features_.build``, ``_labels``). Both models are checked to be the same
   (same trees kept, same scores).

It also splits the single-context call into its stages (timed without a
profiler), and with ``--profile`` prints a cProfile of the single-context
path (all test contexts) and of one batch ``score`` call.

Usage::

    python benchmarks/ranker_speed.py                     # ~100k requests, 300 contexts, ~1M training rows
    python benchmarks/ranker_speed.py --quick             # ~25k requests, 100 contexts, ~200k rows
    python benchmarks/ranker_speed.py --profile --out /tmp/ranker_speed.json

It prints a Markdown table; ``--out`` also writes the figures as JSON (to
that file, or to ``ranker_speed.json`` inside it when it is a directory).
"""

from __future__ import annotations

import argparse
import cProfile
import inspect
import io
import json
import os
import platform
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from suggest.data import load
from suggest.engines.base import suggestions_frame
from suggest.ranker import RankerEngine
from suggest.rules.explain import context_frame
from suggest.synth import generate, preset_config

TARGETS = {"p99_ms": 2.0, "vs_raw_latency": 2.0, "batch_share": 0.5, "train_vs_lightgbm": 2.0}
RULES = Path(__file__).resolve().parent.parent / "rules" / "phone.yaml"
NOT_CONTEXT = {"request_id", "user_id", "timestamp", "timezone", "hour", "minute", "weekday", "is_weekend"}


# -- data ----------------------------------------------------------------------------------

def make_world(users: int, days: int, seed: int, directory: str):
    summary = generate(preset_config("default", users=users, days=days, seed=seed), directory)
    return load(summary["paths"]["dataset"])


def split_by_time(requests: pd.DataFrame, truth: pd.DataFrame, share: float = 0.8):
    """First ``share`` of the requests by time (and their engagements), then the rest."""
    ordered = requests.sort_values("timestamp", kind="stable").reset_index(drop=True)
    cut = int(len(ordered) * share)
    train, test = ordered.iloc[:cut].reset_index(drop=True), ordered.iloc[cut:].reset_index(drop=True)
    return train, truth[truth["request_id"].isin(train["request_id"])].reset_index(drop=True), test


def contexts_from(requests: pd.DataFrame, columns: list[str]) -> list[dict]:
    """Plain dicts as a caller of ``suggest_one`` would send them (missing values are None)."""
    out = []
    for rec in requests.to_dict("records"):
        ctx = {"request_id": str(rec["request_id"]), "user_id": str(rec["user_id"]),
               "timestamp": rec["timestamp"].isoformat(), "timezone": str(rec["timezone"])}
        for col in columns:
            value = rec[col]
            if value is None or value is pd.NA or (isinstance(value, float) and value != value):
                ctx[col] = None
            elif isinstance(value, (bool, np.bool_)):
                ctx[col] = bool(value)
            elif isinstance(value, (np.integer, np.floating)):
                ctx[col] = value.item()
            else:
                ctx[col] = value
        out.append(ctx)
    return out


def top_lists(suggestions: pd.DataFrame) -> dict[str, list[str]]:
    ordered = suggestions.sort_values(["request_id", "rank"])
    return {str(r): [str(i) for i in g["item_id"]] for r, g in ordered.groupby("request_id", sort=False)}


def percentiles(ms: list[float]) -> dict:
    a = np.asarray(ms)
    return {"p50_ms": float(np.percentile(a, 50)), "p90_ms": float(np.percentile(a, 90)),
            "p99_ms": float(np.percentile(a, 99)), "mean_ms": float(a.mean()), "max_ms": float(a.max()),
            "n": int(len(a))}


# -- (a) single context --------------------------------------------------------------------

def measure_single(engine: RankerEngine, contexts: list[dict], k: int, passes: int) -> dict:
    threads = engine.n_jobs
    matrices = []
    for ctx in contexts:  # the exact matrix suggest_one scores, built outside the clock
        frame = context_frame(ctx)
        cand = engine.candidates_.generate(frame)
        matrices.append(np.ascontiguousarray(engine.features_.build(frame, cand).to_numpy()))
    for ctx, X in zip(contexts[:20], matrices[:20]):  # warm caches and lazy imports
        engine.suggest_one(ctx, k)
        engine.booster_.predict(X, num_threads=threads)
    clock = time.perf_counter_ns
    ours, raw = [], []
    for _ in range(passes):
        for ctx, X in zip(contexts, matrices):
            start = clock()
            engine.suggest_one(ctx, k)
            ours.append((clock() - start) / 1e6)
            start = clock()
            engine.booster_.predict(X, num_threads=threads)
            raw.append((clock() - start) / 1e6)
    warm = []  # predict alone, context after context: the model stays in the CPU caches
    for _ in range(passes):
        for X in matrices:
            start = clock()
            engine.booster_.predict(X, num_threads=threads)
            warm.append((clock() - start) / 1e6)
    rows = [len(X) for X in matrices]
    return {"contexts": len(contexts), "passes": passes, "raw_predict_back_to_back": percentiles(warm),
            "ratio_p99_back_to_back": float(np.percentile(ours, 99) / np.percentile(warm, 99)),
            "candidates_per_context": {"mean": float(np.mean(rows)), "min": int(min(rows)),
                                       "max": int(max(rows))},
            "features": int(matrices[0].shape[1]),
            "suggest_one": percentiles(ours), "raw_predict": percentiles(raw),
            "ratio_p50": statistics.median(ours) / statistics.median(raw),
            "ratio_p99": float(np.percentile(ours, 99) / np.percentile(raw, 99))}


def single_stages(engine: RankerEngine, contexts: list[dict], k: int) -> dict:
    """Median ms per call of each stage of ``suggest_one``, timed without a profiler.

    The stages replay what ``suggest_one`` does: the one-row frame, each
    candidate source, the rules' block list, the rest of ``generate`` (union,
    cap, flags), ``features_.build``, ``to_numpy`` + ``predict``, ``_top``
    (sort, Suggestions frame).
    """
    clock = time.perf_counter_ns
    names = ["context_frame", *[f"source:{s}" for s in engine.candidates_.sources_],
             "rules.blocked", "generate (total)", "features.build", "to_numpy", "booster.predict",
             "_top (ranks + frame)", "suggest_one (total)", "of _top: suggestions_frame alone"]
    times: dict[str, list[float]] = {n: [] for n in names}
    quotas = engine.candidates_.quotas
    for ctx in contexts:
        t0 = clock()
        frame = context_frame(ctx)
        times["context_frame"].append((clock() - t0) / 1e6)
        for source, eng in engine.candidates_.sources_.items():
            t0 = clock()
            eng.suggest(frame, quotas.get(source, 0))
            times[f"source:{source}"].append((clock() - t0) / 1e6)
        if "rules" in engine.candidates_.sources_:
            t0 = clock()
            engine.candidates_.sources_["rules"].blocked(frame)
            times["rules.blocked"].append((clock() - t0) / 1e6)
        t0 = clock()
        cand = engine.candidates_.generate(frame)
        times["generate (total)"].append((clock() - t0) / 1e6)
        t0 = clock()
        X = engine.features_.build(frame, cand)
        times["features.build"].append((clock() - t0) / 1e6)
        t0 = clock()
        values = X.to_numpy()
        times["to_numpy"].append((clock() - t0) / 1e6)
        t0 = clock()
        scores = engine.booster_.predict(values, num_threads=engine.n_jobs)
        times["booster.predict"].append((clock() - t0) / 1e6)
        t0 = clock()
        engine._top(frame, cand, X, scores, k)
        times["_top (ranks + frame)"].append((clock() - t0) / 1e6)
        t0 = clock()
        engine.suggest_one(ctx, k)
        times["suggest_one (total)"].append((clock() - t0) / 1e6)
        n = min(k, len(cand))  # the output frame alone: the floor of any path returning a DataFrame
        t0 = clock()
        suggestions_frame(frame["request_id"], np.zeros(n, np.int64), np.arange(1, n + 1),
                          np.arange(n), np.sort(cand["item_id"].to_numpy()[:n]), np.ones(n),
                          np.zeros(n, np.int64), ["ranker"], engine.name)
        times["of _top: suggestions_frame alone"].append((clock() - t0) / 1e6)
    out = {n: statistics.median(v) for n, v in times.items() if v}
    sources = sum(v for n, v in out.items() if n.startswith("source:")) + out.get("rules.blocked", 0.0)
    out["generate: union, cap, flags (rest)"] = out["generate (total)"] - sources
    return out


# -- (b) batch -----------------------------------------------------------------------------

def measure_batch(engine: RankerEngine, test: pd.DataFrame, repeat: int) -> dict:
    threads = engine.n_jobs
    score_s, raw_s, stages = [], [], {"generate": [], "build": [], "to_numpy": [], "predict": []}
    cand, X, _ = engine.score(test)  # warm-up; also gives the matrix for the raw call
    values = np.ascontiguousarray(X.to_numpy())
    del X
    for _ in range(repeat):
        start = time.perf_counter()
        engine.score(test)
        score_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        engine.booster_.predict(values, num_threads=threads)
        raw_s.append(time.perf_counter() - start)
    # one more run split by stage (the same calls score makes)
    t0 = time.perf_counter()
    c = engine.candidates_.generate(test)
    t1 = time.perf_counter()
    Xs = engine.features_.build(test, c)
    t2 = time.perf_counter()
    v = Xs.to_numpy()
    t3 = time.perf_counter()
    engine.booster_.predict(v, num_threads=threads)
    t4 = time.perf_counter()
    stages = {"candidates.generate": t1 - t0, "features.build": t2 - t1, "to_numpy": t3 - t2,
              "booster.predict": t4 - t3}
    rows = len(cand)
    s, r = statistics.median(score_s), statistics.median(raw_s)
    return {"requests": len(test), "rows": rows, "repeat": repeat, "score_seconds": s,
            "score_seconds_all": score_s, "raw_seconds": r, "raw_seconds_all": raw_s,
            "score_rows_per_s": rows / s, "raw_rows_per_s": rows / r, "share_of_raw": r / s,
            "stages_seconds": stages}


# -- (c) training --------------------------------------------------------------------------

def measure_training(train: pd.DataFrame, truth: pd.DataFrame, catalog: pd.DataFrame,
                     n_requests: int) -> dict:
    import lightgbm as lgb

    reqs = train.iloc[:n_requests].reset_index(drop=True)
    tru = truth[truth["request_id"].isin(reqs["request_id"])].reset_index(drop=True)

    engine = RankerEngine(rules=str(RULES), explain=False)
    start = time.perf_counter()
    engine.fit(reqs, tru, catalog)
    fit_s = time.perf_counter() - start

    # the matrix fit prepares, through the same steps (timed, to split fit's time)
    prep = RankerEngine(rules=str(RULES), explain=False)
    steps = {}
    t0 = time.perf_counter()
    prep._prepare(reqs, tru, catalog)
    steps["_prepare (sources, statistics)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    parts = prep._split(reqs)
    steps["_split"] = time.perf_counter() - t0
    sets, generated = {}, 0
    # fit generates training candidates with training=True (out-of-fold history without time)
    as_training = {"training": True} if "training" in inspect.signature(
        prep.candidates_.generate).parameters else {}
    steps.update({"candidates_.generate": 0.0, "features_.build": 0.0, "_labels": 0.0})
    for name, part in zip(("train", "valid"), parts):
        t0 = time.perf_counter()
        cand = prep.candidates_.generate(part, **as_training)
        t1 = time.perf_counter()
        X = prep.features_.build(part, cand, training=True)
        t2 = time.perf_counter()
        y = prep._labels(part, cand, tru)
        t3 = time.perf_counter()
        steps["candidates_.generate"] += t1 - t0
        steps["features_.build"] += t2 - t1
        steps["_labels"] += t3 - t2
        generated += len(cand)
        rows = cand["row"].to_numpy()
        keep = np.isin(rows, np.unique(rows[y > 0]))  # requests with a positive candidate
        sets[name] = (X[keep], y[keep], np.bincount(rows[keep])[np.unique(rows[keep])])
    names = prep.features_.names_
    lgb_names = prep.features_.lightgbm_names_
    categorical = [lgb_names[names.index(c)] for c in prep.features_.categorical_]
    params = {"objective": "lambdarank", "metric": "ndcg", "ndcg_eval_at": [prep.eval_at],
              "learning_rate": prep.learning_rate, "num_leaves": prep.num_leaves,
              "min_child_samples": prep.min_child_samples, "seed": prep.seed,
              "deterministic": True, "force_row_wise": True, "num_threads": prep.n_jobs,
              "verbosity": -1, "label_gain": [float(2 ** g - 1) for g in range(31)]}
    train_X = sets["train"][0].set_axis(lgb_names, axis=1)
    valid_X = sets["valid"][0].set_axis(lgb_names, axis=1)
    start = time.perf_counter()  # Dataset construction (binning) is part of LightGBM's own time
    dtrain = lgb.Dataset(train_X, sets["train"][1], group=sets["train"][2],
                         categorical_feature=categorical, free_raw_data=False)
    dvalid = lgb.Dataset(valid_X, sets["valid"][1], group=sets["valid"][2], reference=dtrain,
                         categorical_feature=categorical)
    booster = lgb.train(params, dtrain, num_boost_round=prep.n_estimators, valid_sets=[dvalid],
                        valid_names=["valid"],
                        callbacks=[lgb.log_evaluation(0),
                                   lgb.early_stopping(prep.early_stopping_rounds, verbose=False)])
    lgb_s = time.perf_counter() - start
    sample = valid_X.to_numpy()[:20_000]
    same = (booster.best_iteration == engine.booster_.best_iteration and
            booster.num_trees() == engine.booster_.num_trees() and
            np.allclose(booster.predict(sample), engine.booster_.predict(sample), rtol=0, atol=1e-9))
    if not same:
        print("WARNING: lightgbm.train here and RankerEngine.fit made different models; "
              "the parameters in this script no longer match fit's", file=sys.stderr)
    return {"requests": len(reqs), "candidate_rows": generated,
            "lightgbm_rows": {"train": int(len(sets["train"][1])), "valid": int(len(sets["valid"][1]))},
            "features": len(names), "best_iteration": int(engine.booster_.best_iteration),
            "fit_seconds": fit_s, "lightgbm_seconds": lgb_s, "ratio": fit_s / lgb_s,
            "same_model": bool(same), "prepare_steps_seconds": steps}


# -- profiles ------------------------------------------------------------------------------

def profile(call, per: int, top: int = 30) -> tuple[str, dict]:
    """cProfile ``call``: the text report, and per ``per`` calls (ms) the package's own
    functions by cumulative time and every function by own time."""
    prof = cProfile.Profile()
    prof.enable()
    call()
    prof.disable()
    stats = pstats.Stats(prof)
    entries = []
    for (path, line, func), (cc, nc, tt, ct, _) in stats.stats.items():
        short = path.split("site-packages/")[-1].split("/work/main/")[-1]
        short = short.split(os.sep + "suggest" + os.sep, 1)[-1] if "suggest" + os.sep in short else short
        entries.append({"function": f"{short}:{line}({func})", "ours": f"{os.sep}suggest{os.sep}" in path,
                        "calls": nc / per, "tottime_ms": tt * 1e3 / per, "cumtime_ms": ct * 1e3 / per})
    text = io.StringIO()
    stats.stream = text
    stats.sort_stats("tottime").print_stats(top)
    return text.getvalue(), {
        "ours_by_cumulative": sorted((e for e in entries if e["ours"]), key=lambda e: -e["cumtime_ms"])[:top],
        "all_by_own_time": sorted(entries, key=lambda e: -e["tottime_ms"])[:top]}


def profile_table(entries: list[dict], unit: str, n: int = 25) -> str:
    lines = [f"| function | calls/{unit} | own ms/{unit} | cumulative ms/{unit} |", "|---|---:|---:|---:|"]
    for e in entries[:n]:
        lines.append(f"| `{e['function']}` | {e['calls']:.1f} | {e['tottime_ms']:.3f} | "
                     f"{e['cumtime_ms']:.3f} |")
    return "\n".join(lines)


# -- main ----------------------------------------------------------------------------------

def environment() -> dict:
    import lightgbm

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    mem = None
    try:
        mem = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return {"python": platform.python_version(), "numpy": np.__version__, "pandas": pd.__version__,
            "lightgbm": lightgbm.__version__, "cpus": os.cpu_count(), "cpu": cpu, "memory_gib": mem,
            "machine": platform.machine(), "system": platform.system()}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=None, help="world users (default 600: ~100k requests)")
    parser.add_argument("--days", type=int, default=28, help="world days (default 28)")
    parser.add_argument("--contexts", type=int, default=None, help="test contexts for (a) (default 300)")
    parser.add_argument("--passes", type=int, default=1, help="timed passes over the contexts (default 1)")
    parser.add_argument("--repeat", type=int, default=None, help="timed batch runs, median (default 3)")
    parser.add_argument("--train-rows", type=int, default=None,
                        help="candidate rows for (c) (default 1,000,000)")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true",
                        help="~25k requests, 100 contexts, ~200k training rows, 2 batch runs")
    parser.add_argument("--profile", action="store_true",
                        help="also cProfile the single-context path and one batch score call")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here (file or directory)")
    args = parser.parse_args(argv)
    quick = args.quick
    users = args.users or (150 if quick else 600)
    n_contexts = args.contexts or (100 if quick else 300)
    repeat = args.repeat or (2 if quick else 3)
    train_rows = args.train_rows or (200_000 if quick else 1_000_000)
    k = args.k
    began = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="ranker_speed_") as tmp:
        t0 = time.perf_counter()
        log = make_world(users, args.days, args.seed, tmp)
        world_s = time.perf_counter() - t0
    train, truth, test = split_by_time(log.requests, log.truth)
    columns = [c for c in log.context if c not in NOT_CONTEXT]
    print(f"world: {len(log.requests):,} requests, {log.catalog['item_id'].nunique()} items "
          f"({world_s:.1f} s); fitting on {len(train):,}", file=sys.stderr)

    engine = RankerEngine(rules=str(RULES), explain=False)
    t0 = time.perf_counter()
    engine.fit(train, truth, log.catalog)
    main_fit_s = time.perf_counter() - t0
    print(f"fitted in {main_fit_s:.1f} s: {engine.validation_}", file=sys.stderr)

    # (a) single context
    rng = np.random.default_rng(args.seed)
    picked = test.iloc[np.sort(rng.choice(len(test), size=min(n_contexts, len(test)), replace=False))]
    picked = picked.reset_index(drop=True)
    contexts = contexts_from(picked, columns)
    batch_lists = top_lists(engine.suggest(picked, k))
    one_lists = {c["request_id"]: top_lists(engine.suggest_one(c, k)).get(c["request_id"], [])
                 for c in contexts}
    agree = float(np.mean([one_lists[r] == batch_lists.get(r, []) for r in one_lists]))
    if agree < 1:
        print(f"WARNING: suggest_one agrees with the batch suggest on {agree:.1%} of contexts",
              file=sys.stderr)
    single = measure_single(engine, contexts, k, args.passes)
    single["agrees_with_batch"] = agree
    single["stages_ms"] = single_stages(engine, contexts[:100], k)
    print("(a) done", file=sys.stderr)

    # (b) batch
    batch = measure_batch(engine, test, repeat)
    print("(b) done", file=sys.stderr)

    # (c) training on ~train_rows candidate rows
    per_request = batch["rows"] / batch["requests"]
    n_train = min(len(train), int(round(train_rows / per_request)))
    training = measure_training(train, truth, log.catalog, n_train)
    print("(c) done", file=sys.stderr)

    result = {
        "config": {"preset": "default", "users": users, "days": args.days, "seed": args.seed, "k": k,
                   "contexts": n_contexts, "passes": args.passes, "repeat": repeat,
                   "train_rows_target": train_rows, "quick": quick, "rules": "rules/phone.yaml",
                   "n_jobs": engine.n_jobs},
        "environment": environment(),
        "world": {"requests": len(log.requests), "train_requests": len(train), "test_requests": len(test),
                  "items": int(log.catalog["item_id"].nunique()), "seconds": world_s},
        "main_fit": {"seconds": main_fit_s, **engine.validation_},
        "single": single, "batch": batch, "training": training, "targets": TARGETS,
        "command": "python benchmarks/ranker_speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }

    if args.profile:
        few = contexts[:100]
        text, top = profile(lambda: [engine.suggest_one(c, k) for c in few], per=len(few))
        result["profile_single"] = top
        btext, btop = profile(lambda: engine.score(test), per=1)
        result["profile_batch"] = btop
    result["total_seconds"] = time.perf_counter() - began

    print(markdown(result))
    if args.profile:
        n_prof = min(100, len(contexts))
        for title, key in (("the package's functions by cumulative time", "ours_by_cumulative"),
                           ("all functions by own time", "all_by_own_time")):
            print(f"\n### cProfile `suggest_one`, {title} (per call, mean of {n_prof} contexts)\n")
            print(profile_table(result["profile_single"][key], "call"))
        for title, key in (("the package's functions by cumulative time", "ours_by_cumulative"),
                           ("all functions by own time", "all_by_own_time")):
            print(f"\n### cProfile one `score` call ({batch['requests']:,} requests, {batch['rows']:,} rows), "
                  f"{title}\n")
            print(profile_table(result["profile_batch"][key], "run"))
        print("\n```\n" + text.strip() + "\n```\n\n```\n" + btext.strip() + "\n```")

    if args.out:
        path = args.out / "ranker_speed.json" if args.out.is_dir() else args.out
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)
    return result


def markdown(r: dict) -> str:
    s, b, c, t, env = r["single"], r["batch"], r["training"], r["targets"], r["environment"]
    ok = lambda good: "yes" if good else "**no**"  # noqa: E731
    one, raw, warm = s["suggest_one"], s["raw_predict"], s["raw_predict_back_to_back"]
    cands = s["candidates_per_context"]
    rows = [
        "| measure | size | figure | raw LightGBM | ratio | target | met |",
        "|---|---:|---:|---:|---:|---|---|",
        f"| (a) `suggest_one(context, k={r['config']['k']})`, p50 | {s['contexts']} contexts, "
        f"{s['candidates_per_context']['mean']:.0f} cand. | {one['p50_ms']:.2f} ms | {raw['p50_ms']:.3f} ms | "
        f"{s['ratio_p50']:.1f}x | | |",
        f"| (a) `suggest_one(context, k={r['config']['k']})`, p99 | {s['contexts']} contexts | "
        f"{one['p99_ms']:.2f} ms | {raw['p99_ms']:.3f} ms | {s['ratio_p99']:.1f}x | "
        f"p99 < {t['p99_ms']} ms, <= {t['vs_raw_latency']}x raw | "
        f"{ok(one['p99_ms'] < t['p99_ms'])} / {ok(s['ratio_p99'] <= t['vs_raw_latency'])} |",
        f"| &nbsp;&nbsp; same, raw `predict` called back to back (warm caches), p50 / p99 | {s['contexts']} contexts | "
        f"{one['p50_ms']:.2f} / {one['p99_ms']:.2f} ms | {warm['p50_ms']:.3f} / {warm['p99_ms']:.3f} ms | "
        f"{one['p50_ms'] / warm['p50_ms']:.1f}x / {s['ratio_p99_back_to_back']:.1f}x | "
        f"<= {t['vs_raw_latency']}x raw | {ok(s['ratio_p99_back_to_back'] <= t['vs_raw_latency'])} |",
        f"| (b) `score(test requests)` (median of {b['repeat']}) | {b['requests']:,} req, {b['rows']:,} rows | "
        f"{b['score_rows_per_s']:,.0f} rows/s | {b['raw_rows_per_s']:,.0f} rows/s | "
        f"{b['share_of_raw']:.0%} of raw | >= {t['batch_share']:.0%} of raw | "
        f"{ok(b['share_of_raw'] >= t['batch_share'])} |",
        f"| (c) `RankerEngine.fit` vs `lightgbm.train` | {c['requests']:,} req, {c['candidate_rows']:,} rows | "
        f"{c['fit_seconds']:.1f} s | {c['lightgbm_seconds']:.1f} s | {c['ratio']:.1f}x | "
        f"<= {t['train_vs_lightgbm']}x | {ok(c['ratio'] <= t['train_vs_lightgbm'])} |",
        "",
        f"(a) alternates `suggest_one` and raw `predict` context by context; each context has "
        f"{cands['min']}-{cands['max']} candidates (mean {cands['mean']:.1f}): the world has "
        f"{r['world']['items']} items, so the cap of 50 is never reached. Raw `predict` uses "
        f"`num_threads={r['config']['n_jobs']}` like the engine.",
        "",
        "Single-context stages (median ms per call, no profiler):",
        "",
        "| stage | ms |", "|---|---:|",
        *[f"| {n} | {v:.3f} |" for n, v in s["stages_ms"].items()],
        "",
        "Batch stages (one run, seconds): " + ", ".join(f"{n} {v:.2f}" for n, v in b["stages_seconds"].items())
        + f". Training, the steps of `fit` before LightGBM (seconds): "
        + ", ".join(f"{n} {v:.2f}" for n, v in c["prepare_steps_seconds"].items())
        + f"; LightGBM {c['lightgbm_seconds']:.2f} (Dataset + train, {c['best_iteration']} trees kept, "
        f"{c['lightgbm_rows']['train']:,} + {c['lightgbm_rows']['valid']:,} rows, same model as fit: "
        f"{'yes' if c['same_model'] else 'NO'}).",
        "",
        f"World: preset default, {r['world']['requests']:,} requests ({r['world']['train_requests']:,} train / "
        f"{r['world']['test_requests']:,} test by time), {r['world']['items']} items, {s['features']} features; "
        f"main fit {r['main_fit']['seconds']:.1f} s ({r['main_fit']['best_iteration']} trees, validation "
        f"NDCG@5 {r['main_fit'].get('ndcg@5') or float('nan'):.3f}); suggest_one agrees with batch suggest on "
        f"{s['agrees_with_batch']:.0%} of contexts. {env['cpu']}, {env['cpus']} CPUs, {env['memory_gib']} GiB; "
        f"Python {env['python']}, numpy {env['numpy']}, pandas {env['pandas']}, LightGBM {env['lightgbm']}; "
        f"n_jobs={r['config']['n_jobs']}; whole run {r['total_seconds']:.0f} s.",
    ]
    return "\n".join(rows)


if __name__ == "__main__":
    main()
