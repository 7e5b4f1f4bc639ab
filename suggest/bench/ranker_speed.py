"""Speed of the LightGBM ranker: one-context latency, batch scoring, training.

:func:`measure` generates a synthetic world (``suggest.synth``, preset
``default``) into a temporary folder, loads it, sorts the requests by time
and fits ``RankerEngine(rules=..., explain=False)`` on the first 80%
(engagements of those requests only). Then it measures in one run:

a. single-context latency: ``engine.suggest_one(context, k)`` over test
   contexts (plain dicts built from test requests: context columns,
   ``user_id``, ISO timestamp, ``timezone``), p50/p99 in ms, against
   ``engine.booster_.predict(X)`` on the same candidate feature matrix for
   each context (built beforehand, outside the clock, through
   ``candidates_.generate`` + ``features_.build`` on the same one-row frame
   ``suggest_one`` builds). The two calls alternate context by context, so
   both see the same machine load. Before timing, the single-context top-k
   lists are checked against one batch ``engine.suggest`` call on the same
   requests;
b. batch scoring during replay: ``engine.score(test_requests)`` (candidates,
   features, predict) in candidate rows/s, against ``booster_.predict`` on
   the same feature matrix (median of ``repeat`` runs each), with the time
   split by stage;
c. training: ``RankerEngine.fit`` on the first requests of the training
   window, as many as give about ``train_rows`` candidate rows, against
   ``lightgbm.train`` alone with the same parameters and callbacks (once per
   objective ``fit`` tries: two with ``objective="auto"``) on the
   matrix ``fit`` prepares (rebuilt through the same steps). Both models are
   checked to be the same (same trees kept, same scores).

It also splits the single-context call into its stages (timed without a
profiler). ``benchmarks/ranker_speed.py --profile`` adds cProfile reports.
"""

from __future__ import annotations

import inspect
import statistics
import tempfile
import time

import numpy as np
import pandas as pd

from suggest.data import load
from suggest.data.timefields import ID_COLUMNS, TIME_FIELDS
from suggest.engines.base import suggestions_frame
from suggest.ids import isin
from suggest.ranker import RankerEngine
from suggest.ranker.model import OBJECTIVES
from suggest.contexts import context_frame
from suggest.splits import latest
from suggest.synth import generate, preset_config

TARGETS = {"p99_ms": 2.0, "vs_raw_latency": 2.0, "batch_share": 0.5, "train_vs_lightgbm": 2.0}
NOT_CONTEXT = {*ID_COLUMNS, *TIME_FIELDS}


# -- data ----------------------------------------------------------------------------------

def make_world(users: int, days: int, seed: int, directory: str):
    summary = generate(preset_config("default", users=users, days=days, seed=seed), directory)
    return load(summary["paths"]["dataset"])


def split_by_time(requests: pd.DataFrame, truth: pd.DataFrame, share: float = 0.8):
    """First ``share`` of the requests by time (and their engagements), then the rest."""
    ordered = requests.sort_values("timestamp", kind="stable").reset_index(drop=True)
    held = latest(ordered["timestamp"], len(ordered) - int(len(ordered) * share))
    train, test = ordered[~held].reset_index(drop=True), ordered[held].reset_index(drop=True)
    return train, truth[isin(truth["request_id"], train["request_id"])].reset_index(drop=True), test


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

def _first_of_their_user(contexts: list[dict]) -> float:
    """Share of the contexts after the first that are the first of their user."""
    seen, fresh = set(), []
    for ctx in contexts:
        fresh.append(ctx.get("user_id") not in seen)
        seen.add(ctx.get("user_id"))
    return float(np.mean(fresh[1:])) if len(fresh) > 1 else float("nan")


def measure_single(engine: RankerEngine, contexts: list[dict], k: int, passes: int) -> dict:
    threads = engine.n_jobs
    matrices = []
    for ctx in contexts:  # the exact matrix suggest_one scores, built outside the clock
        frame = context_frame(ctx)
        cand = engine.candidates_.generate(frame)
        matrices.append(np.ascontiguousarray(engine.features_.build(frame, cand).to_numpy()))
    clock = time.perf_counter_ns
    # first, as after loading a model: the first call builds the one-context lookups, and the
    # first context of each user and slice value builds its feature vectors (suggest.ranker.serving.ServingTable)
    engine._one = None  # the one-context lookups and memos
    engine.features_._late = None  # the kept feature vectors
    rules = engine.candidates_.sources_.get("rules")
    if rules is not None:
        rules._cache.clear()  # the rule lists by fired pattern, filled by the matrices above
    start = clock()
    engine.suggest_one(contexts[0], k)
    setup_ms = (clock() - start) / 1e6
    first = []
    for ctx, X in zip(contexts[1:], matrices[1:]):
        start = clock()
        engine.suggest_one(ctx, k)
        first.append((clock() - start) / 1e6)
        engine.booster_.predict(X, num_threads=threads)
    for ctx, X in zip(contexts[:20], matrices[:20]):  # warm caches and lazy imports
        engine.suggest_one(ctx, k)
        engine.booster_.predict(X, num_threads=threads)
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
            "first_call_ms": setup_ms, "suggest_one_first_of_each": percentiles(first) if first else None,
            "first_of_their_user": _first_of_their_user(contexts),
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
        engine.top(frame, cand, X, scores, k)
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
                     n_requests: int, rules: str, say=None) -> dict:
    import lightgbm as lgb

    reqs = train.iloc[:n_requests].reset_index(drop=True)
    tru = truth[isin(truth["request_id"], reqs["request_id"])].reset_index(drop=True)

    engine = RankerEngine(rules=rules, explain=False)
    start = time.perf_counter()
    engine.fit(reqs, tru, catalog)
    fit_s = time.perf_counter() - start

    # the matrix fit prepares, through the same steps (timed, to split fit's time)
    prep = RankerEngine(rules=rules, explain=False)
    steps = {}
    t0 = time.perf_counter()
    prep.prepare(reqs, tru, catalog)
    steps["_prepare (sources, statistics)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    parts = prep.validation_split(reqs)
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
        y = prep.labels(part, cand, tru)
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
    categorical = [lgb_names[names.index(c)] for c in engine.categorical_features()]
    train_X = sets["train"][0].set_axis(lgb_names, axis=1)
    valid_X = sets["valid"][0].set_axis(lgb_names, axis=1)
    # the same work as fit: with objective "auto", one model per objective (fit keeps one)
    objectives = OBJECTIVES if engine.objective == "auto" else (engine.objective,)
    start = time.perf_counter()  # Dataset construction (binning) is part of LightGBM's own time
    dtrain = lgb.Dataset(train_X, sets["train"][1], group=sets["train"][2],
                         categorical_feature=categorical, free_raw_data=False)
    dvalid = lgb.Dataset(valid_X, sets["valid"][1], group=sets["valid"][2], reference=dtrain,
                         categorical_feature=categorical)
    for objective in objectives:
        # the parameters fit used (leaves by the training part's size, the objective's own)
        params = engine.lightgbm_params(objective=objective)
        trained = lgb.train(params, dtrain, num_boost_round=prep.n_estimators, valid_sets=[dvalid],
                            valid_names=["valid"],
                            callbacks=[lgb.log_evaluation(0),
                                       lgb.early_stopping(prep.early_stopping_rounds, verbose=False)])
        if objective == engine.objective_:
            booster = trained
    lgb_s = time.perf_counter() - start
    sample = valid_X.to_numpy()[:20_000]
    same = (booster.best_iteration == engine.booster_.best_iteration and
            booster.num_trees() == engine.booster_.num_trees() and
            np.allclose(booster.predict(sample), engine.booster_.predict(sample), rtol=0, atol=1e-9))
    if not same and say:
        say("WARNING: lightgbm.train here and RankerEngine.fit made different models; "
            "the parameters in this benchmark no longer match fit's")
    return {"requests": len(reqs), "candidate_rows": generated,
            "lightgbm_rows": {"train": int(len(sets["train"][1])), "valid": int(len(sets["valid"][1]))},
            "features": len(names), "best_iteration": int(engine.booster_.best_iteration),
            "fit_seconds": fit_s, "lightgbm_seconds": lgb_s, "ratio": fit_s / lgb_s,
            "same_model": bool(same), "prepare_steps_seconds": steps}


def measure(rules: str, users: int = 600, days: int = 28, contexts: int = 300, passes: int = 1,
            repeat: int = 3, train_rows: int | None = 1_000_000, k: int = 5, seed: int = 1,
            stages: bool = True, log=None, hook=None) -> dict:
    """Fit the ranker on a synthetic world and time it against raw LightGBM (a, b, c above).

    ``rules`` is the rule file for the phone world (``rules/phone.yaml``);
    ``train_rows=None`` skips (c); ``log`` (a callable taking a line) is told
    what is being done; ``hook(engine, contexts, test_requests)``, when given,
    is called last and its return value kept as ``result["hook"]``.
    """
    say = log or (lambda line: None)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="suggest_ranker_speed_") as tmp:
        t0 = time.perf_counter()
        world = make_world(users, days, seed, tmp)
        world_s = time.perf_counter() - t0
    train, truth, test = split_by_time(world.requests, world.truth)
    columns = [c for c in world.context if c not in NOT_CONTEXT]
    say(f"ranker: world of {len(world.requests):,} requests, {world.catalog['item_id'].nunique()} items "
        f"({world_s:.1f} s); fitting on {len(train):,}")

    engine = RankerEngine(rules=rules, explain=False)
    t0 = time.perf_counter()
    engine.fit(train, truth, world.catalog)
    main_fit_s = time.perf_counter() - t0

    # (a) single context
    rng = np.random.default_rng(seed)
    picked = test.iloc[np.sort(rng.choice(len(test), size=min(contexts, len(test)), replace=False))]
    picked = picked.reset_index(drop=True)
    dicts = contexts_from(picked, columns)
    batch_lists = top_lists(engine.suggest(picked, k))
    one_lists = {c["request_id"]: top_lists(engine.suggest_one(c, k)).get(c["request_id"], [])
                 for c in dicts}
    agree = float(np.mean([one_lists[r] == batch_lists.get(r, []) for r in one_lists]))
    if agree < 1:
        say(f"WARNING: suggest_one agrees with the batch suggest on {agree:.1%} of contexts")
    single = measure_single(engine, dicts, k, passes)
    single["agrees_with_batch"] = agree
    if stages:
        single["stages_ms"] = single_stages(engine, dicts[:100], k)
    say(f"ranker: fitted in {main_fit_s:.1f} s; one context p99 {single['suggest_one']['p99_ms']:.2f} ms; "
        "now batch scoring")

    # (b) batch
    batch = measure_batch(engine, test, repeat)

    # (c) training on ~train_rows candidate rows
    training = None
    if train_rows:
        say("ranker: now fit against lightgbm.train")
        per_request = batch["rows"] / batch["requests"]
        n_train = min(len(train), int(round(train_rows / per_request)))
        training = measure_training(train, truth, world.catalog, n_train, rules, say)

    result = {
        "config": {"preset": "default", "users": users, "days": days, "seed": seed, "k": k,
                   "contexts": contexts, "passes": passes, "repeat": repeat,
                   "train_rows_target": train_rows, "rules": rules, "n_jobs": engine.n_jobs},
        "world": {"requests": len(world.requests), "train_requests": len(train), "test_requests": len(test),
                  "items": int(world.catalog["item_id"].nunique()), "seconds": world_s},
        "main_fit": {"seconds": main_fit_s, **engine.validation_},
        "single": single, "batch": batch, "training": training, "targets": TARGETS,
    }
    if hook is not None:
        result["hook"] = hook(engine, dicts, test)
    result["total_seconds"] = time.perf_counter() - began
    return result


def markdown(r: dict) -> str:
    """The figures of :func:`measure` as a Markdown table and notes."""
    s, b, c, t = r["single"], r["batch"], r["training"], r["targets"]
    ok = lambda good: "yes" if good else "**no**"  # noqa: E731
    one, raw, warm = s["suggest_one"], s["raw_predict"], s["raw_predict_back_to_back"]
    first = s.get("suggest_one_first_of_each")
    cands = s["candidates_per_context"]
    k = r["config"]["k"]
    rows = [
        "| measure | size | figure | raw LightGBM | ratio | target | met |",
        "|---|---:|---:|---:|---:|---|---|",
        f"| (a) `suggest_one(context, k={k})`, p50 | {s['contexts']} contexts, "
        f"{cands['mean']:.0f} cand. | {one['p50_ms']:.2f} ms | {raw['p50_ms']:.3f} ms | "
        f"{s['ratio_p50']:.1f}x | <= {t['vs_raw_latency']}x raw | {ok(s['ratio_p50'] <= t['vs_raw_latency'])} |",
        f"| (a) `suggest_one(context, k={k})`, p99 | {s['contexts']} contexts | "
        f"{one['p99_ms']:.2f} ms | {raw['p99_ms']:.3f} ms | {s['ratio_p99']:.1f}x | "
        f"p99 < {t['p99_ms']} ms, <= {t['vs_raw_latency']}x raw | "
        f"{ok(one['p99_ms'] < t['p99_ms'])} / {ok(s['ratio_p99'] <= t['vs_raw_latency'])} |",
        f"| &nbsp;&nbsp; same, raw `predict` called back to back (warm caches), p50 / p99 | "
        f"{s['contexts']} contexts | {one['p50_ms']:.2f} / {one['p99_ms']:.2f} ms | "
        f"{warm['p50_ms']:.3f} / {warm['p99_ms']:.3f} ms | "
        f"{one['p50_ms'] / warm['p50_ms']:.1f}x / {s['ratio_p99_back_to_back']:.1f}x | "
        f"<= {t['vs_raw_latency']}x raw | {ok(s['ratio_p99_back_to_back'] <= t['vs_raw_latency'])} |",
    ]
    if first:
        rows.append(
            f"| &nbsp;&nbsp; same, each context the first time (as after loading), p50 / p99 | "
            f"{s['contexts'] - 1} contexts | {first['p50_ms']:.2f} / {first['p99_ms']:.2f} ms | "
            f"{raw['p50_ms']:.3f} / {raw['p99_ms']:.3f} ms | "
            f"{first['p50_ms'] / raw['p50_ms']:.1f}x / {first['p99_ms'] / raw['p99_ms']:.1f}x | | |")
    rows += [
        f"| (b) `score(test requests)` (median of {b['repeat']}) | {b['requests']:,} req, {b['rows']:,} rows | "
        f"{b['score_rows_per_s']:,.0f} rows/s | {b['raw_rows_per_s']:,.0f} rows/s | "
        f"{b['share_of_raw']:.0%} of raw | >= {t['batch_share']:.0%} of raw | "
        f"{ok(b['share_of_raw'] >= t['batch_share'])} |",
    ]
    if c:
        rows.append(f"| (c) `RankerEngine.fit` vs `lightgbm.train` | {c['requests']:,} req, "
                    f"{c['candidate_rows']:,} rows | {c['fit_seconds']:.1f} s | {c['lightgbm_seconds']:.1f} s | "
                    f"{c['ratio']:.1f}x | <= {t['train_vs_lightgbm']}x | {ok(c['ratio'] <= t['train_vs_lightgbm'])} |")
    rows += [
        "",
        f"(a) alternates `suggest_one` and raw `predict` context by context; each context has "
        f"{cands['min']}-{cands['max']} candidates (mean {cands['mean']:.1f}) of the world's "
        f"{r['world']['items']} items. Raw `predict` uses `num_threads={r['config']['n_jobs']}` like the engine."
        + (f" The first pass runs each context once on a model whose one-context lookups, kept feature "
           f"vectors and rule lists were dropped: its first call took {s['first_call_ms']:.0f} ms (it builds "
           f"the lookups), and {s['first_of_their_user']:.0%} of the later contexts were their user's first. "
           f"The p50 / p99 rows run every context {s['passes']} more time(s) after that, as serving a "
           "returning user does." if first else ""),
    ]
    if s.get("stages_ms"):
        rows += ["", "Single-context stages (median ms per call, no profiler):", "",
                 "| stage | ms |", "|---|---:|", *[f"| {n} | {v:.3f} |" for n, v in s["stages_ms"].items()]]
    notes = "Batch stages (one run, seconds): " + ", ".join(
        f"{n} {v:.2f}" for n, v in b["stages_seconds"].items()) + "."
    if c:
        notes += (" Training, the steps of `fit` before LightGBM (seconds): "
                  + ", ".join(f"{n} {v:.2f}" for n, v in c["prepare_steps_seconds"].items())
                  + f"; LightGBM {c['lightgbm_seconds']:.2f} (Dataset + train, {c['best_iteration']} trees kept, "
                  f"{c['lightgbm_rows']['train']:,} + {c['lightgbm_rows']['valid']:,} rows, same model as fit: "
                  f"{'yes' if c['same_model'] else 'NO'}).")
    w, fit = r["world"], r["main_fit"]
    ndcg = fit.get("ndcg@5")
    rows += ["", notes, "",
             f"World: preset default, {w['requests']:,} requests ({w['train_requests']:,} train / "
             f"{w['test_requests']:,} test by time), {w['items']} items, {s['features']} features; "
             f"main fit {fit['seconds']:.1f} s ({fit['best_iteration']} trees, validation NDCG@5 "
             + (f"{ndcg:.3f}" if ndcg is not None else "n/a")
             + f"); suggest_one agrees with batch suggest on {s['agrees_with_batch']:.0%} of contexts; "
             f"n_jobs={r['config']['n_jobs']}; whole run {r['total_seconds']:.0f} s."]
    return "\n".join(rows)
