"""Replay: every engine on the same logged requests, side by side (DESIGN section 6).

:func:`split` holds out the latest ``test_share`` of requests by time (a
seeded share of requests without time). :func:`replay` fits every engine on
the training part only, then streams the test part in chunks through all
engines, writing per chunk the Suggestions and the Results (per request and
engine: every metric, ``latency_us`` and the request's context columns)
as Parquet under ``RUN/chunks/``. A ``state.json`` records the completed
chunks and a fingerprint of the settings; a replay started again with the
same settings resumes after the last completed chunk, with identical final
results. Only when every chunk is done are ``suggestions.parquet``,
``results.parquet`` and ``summary.json`` written (each beside its name, then
moved in place), so an interrupted run never looks complete.

``latency_us`` is the engine's time for its chunk divided by the chunk's
requests (amortised batch latency); ``summary.json`` also gives
single-context latency percentiles measured with ``suggest_one`` on a sample.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from suggest.errors import SuggestError
from suggest.evaluate import compare_engines, evaluate, metric_names

SPLIT_SEED_NOTE = "seeded split by request (the log has no time)"
RESAMPLES = 5000


@dataclass
class Split:
    train: pd.DataFrame
    test: pd.DataFrame
    train_truth: pd.DataFrame
    test_truth: pd.DataFrame
    how: str


def split(requests: pd.DataFrame, truth: pd.DataFrame, test_share: float = 0.2,
          seed: int = 0) -> Split:
    """Train/test split: by time when there is time, else seeded by request."""
    if not 0 < test_share < 1:
        raise SuggestError(f"test share must be between 0 and 1, not {test_share}")
    n_test = max(1, int(round(len(requests) * test_share)))
    if "timestamp" in requests.columns:
        order = np.argsort(requests["timestamp"].to_numpy(), kind="stable")
        how = f"by time: the latest {test_share:.0%} of requests"
    else:
        order = np.random.default_rng(seed).permutation(len(requests))
        how = f"{SPLIT_SEED_NOTE}, {test_share:.0%} held out, seed {seed}"
    test_rows = np.sort(order[len(requests) - n_test:])
    is_test = np.zeros(len(requests), bool)
    is_test[test_rows] = True
    train, test = requests[~is_test].reset_index(drop=True), requests[is_test].reset_index(drop=True)
    in_test = truth["request_id"].isin(test["request_id"])
    return Split(train, test, truth[~in_test].reset_index(drop=True),
                 truth[in_test].reset_index(drop=True), how)


def _fingerprint(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _write_atomic(frame_or_text, path: Path) -> None:
    partial = path.with_name(path.name + ".partial")
    if isinstance(frame_or_text, pd.DataFrame):
        frame_or_text.to_parquet(partial, index=False)
    else:
        partial.write_text(frame_or_text, encoding="utf-8")
    os.replace(partial, path)


def replay(log, engines: dict, out: str | Path, *, ks=(1, 3, 5, 10), test_share: float = 0.2,
           seed: int = 0, chunk_size: int = 20_000, progress: bool = False,
           latency_sample: int = 200, compare: list[tuple[str, str]] | None = None,
           settings: dict | None = None) -> dict:
    """Fit ``engines`` (name -> unfitted engine) on the training part of ``log`` and replay
    the test part through all of them into the folder ``out``; return the summary."""
    from tqdm.auto import tqdm

    out = Path(out)
    chunks_dir = out / "chunks"
    chunks_dir.mkdir(parents=True, exist_ok=True)
    parts = split(log.requests, log.truth, test_share, seed)
    names = metric_names(ks)
    k = max(ks)
    settings = {"engines": {n: e.get_params() for n, e in engines.items()}, "ks": list(ks),
                "test_share": test_share, "seed": seed, "chunk_size": chunk_size,
                "requests": len(log.requests), "truth": len(log.truth), **(settings or {})}
    fingerprint = _fingerprint(settings)
    state_path = out / "state.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    if state.get("fingerprint") != fingerprint:
        for stale in chunks_dir.glob("*.parquet"):
            stale.unlink()
        for stale in ("summary.json", "suggestions.parquet", "results.parquet"):
            (out / stale).unlink(missing_ok=True)
        state = {"fingerprint": fingerprint, "done": []}
    test_ids = set(parts.test["request_id"].astype(str))
    for name, engine in engines.items():
        seen = getattr(getattr(engine, "engine", engine), "trained_on_", None)
        overlap = len(test_ids & seen) if seen else 0
        if overlap:
            raise SuggestError(f"engine '{name}' was trained on {overlap:,} of the {len(test_ids):,} "
                               "held-out requests: its scores would include its own training data",
                               hint="let replay train it (drop --model), or train the model on the "
                                    "training part only")
    done = len(state["done"])
    if done and progress:
        print(f"resuming: {done} of {max(1, -(-len(parts.test) // chunk_size))} chunks already done",
              file=__import__("sys").stderr)
    fitted = {}
    for name, engine in tqdm(engines.items(), desc="fitting", disable=None if progress else True,
                             leave=False):
        fitted[name] = engine.fit(parts.train, parts.train_truth, log.catalog)
    test = parts.test
    n_chunks = max(1, -(-len(test) // chunk_size))
    context = list(log.context)
    bar = tqdm(total=n_chunks, desc="replaying", unit="chunk", disable=None if progress else True,
               leave=False)
    for c in range(n_chunks):
        if c in state["done"]:
            bar.update(1)
            continue
        chunk = test.iloc[c * chunk_size:(c + 1) * chunk_size].reset_index(drop=True)
        truth = parts.test_truth[parts.test_truth["request_id"].isin(chunk["request_id"])]
        suggestions, results = [], []
        for name, engine in fitted.items():
            started = time.perf_counter()
            out_frame = engine.suggest(chunk, k)
            per_request_us = (time.perf_counter() - started) * 1e6 / max(len(chunk), 1)
            out_frame = out_frame.assign(engine=name)
            suggestions.append(out_frame)
            scored = evaluate(out_frame, truth, names).per_request
            rows = chunk[["request_id", *context]].merge(scored, on="request_id", how="left")
            rows.insert(1, "engine", name)
            rows["has_positive"] = rows["request_id"].isin(scored["request_id"])
            rows["answered"] = rows["request_id"].isin(out_frame["request_id"])
            rows["latency_us"] = per_request_us
            results.append(rows)
        _write_atomic(_plain(pd.concat(suggestions, ignore_index=True)),
                      chunks_dir / f"suggestions-{c:05d}.parquet")
        _write_atomic(_plain(pd.concat(results, ignore_index=True)),
                      chunks_dir / f"results-{c:05d}.parquet")
        state["done"].append(c)
        _write_atomic(json.dumps(state), state_path)
        bar.update(1)
    bar.close()
    # The final files are streamed chunk by chunk; the summary reads back only the
    # columns it needs, so no step holds two copies of the whole run.
    for kind in ("suggestions", "results"):
        _concatenate([chunks_dir / f"{kind}-{c:05d}.parquet" for c in range(n_chunks)],
                     out / f"{kind}.parquet.partial")
    suggestions = pd.read_parquet(out / "suggestions.parquet.partial",
                                  columns=["request_id", "engine", "rank", "item_id"])
    results = pd.read_parquet(out / "results.parquet.partial")
    summary = _summary(results, suggestions, parts, fitted, names, k, log, compare,
                       latency_sample, seed)
    summary["settings"] = settings
    del results, suggestions
    for kind in ("suggestions", "results"):
        os.replace(out / f"{kind}.parquet.partial", out / f"{kind}.parquet")
    _write_atomic(json.dumps(summary, indent=1, default=str) + "\n", out / "summary.json")
    return summary


def _concatenate(paths: list[Path], target: Path) -> None:
    """Append Parquet files into one, one file at a time (same columns, unified types)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.unify_schemas([pq.read_schema(p) for p in paths], promote_options="permissive")
    with pq.ParquetWriter(target, schema) as writer:
        for path in paths:
            table = pq.read_table(path)
            writer.write_table(table.select(schema.names).cast(schema))


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Categoricals as text so chunks concatenate with the same columns and types."""
    return frame.astype({c: str for c in frame.columns
                         if isinstance(frame[c].dtype, pd.CategoricalDtype)})


def _summary(results, suggestions, parts, fitted, names, k, log, compare, latency_sample, seed):
    scored = results[results["has_positive"]]
    popularity = parts.train_truth["item_id"].astype(str).value_counts()
    pop_rank = pd.Series(np.arange(1, len(popularity) + 1), index=popularity.index)
    catalog_size = max(len(log.catalog), 1)
    engines = {}
    for name in fitted:
        mine = scored[scored["engine"] == name]
        every = results[results["engine"] == name]
        shown = suggestions[suggestions["engine"] == name]
        answered = mine[mine["answered"]]
        entry = {m: float(mine[m].mean()) for m in names}
        entry["answered_rate"] = float(every["answered"].mean())
        for m in names:
            if m.startswith("precision@"):
                entry[f"{m}_answered"] = float(answered[m].mean()) if len(answered) else float("nan")
        for cut in sorted({int(m.split("@")[1]) for m in names}):
            top = shown[shown["rank"] <= cut]
            entry[f"catalog_coverage@{cut}"] = float(top["item_id"].nunique() / catalog_size)
        entry["popularity_rank_mean"] = float(pop_rank.reindex(shown["item_id"].astype(str))
                                              .fillna(len(pop_rank) + 1).mean()) if len(shown) else None
        latency = every["latency_us"].to_numpy()
        entry.update({f"latency_us_p{q}": float(np.percentile(latency, q)) for q in (50, 95, 99)})
        entry.update(_one_context_latency(fitted[name], parts.test, log, latency_sample, k))
        engines[name] = entry
    per_request = {n: scored[scored["engine"] == n][["request_id", *names]] for n in fitted}
    pairs = compare if compare is not None else _default_pairs(list(fitted))
    focus = [m for m in names if m.endswith(f"@{min(5, k)}")] or names[:1]
    comparisons = [c.to_dict() for c in compare_engines(per_request, focus, pairs, seed=seed,
                                                        resamples=RESAMPLES)]
    return {"engines": engines, "comparisons": comparisons, "split": parts.how,
            "rules": _rule_counts(fitted, parts.test),
            "requests": int(parts.test["request_id"].nunique()),
            "requests_without_positive": int(len(parts.test) - scored["request_id"].nunique()),
            "requests_scored": int(scored["request_id"].nunique()),
            "tests": {"resamples": RESAMPLES, "holm_group": len(comparisons),
                      "note": "p is a paired randomisation test (two-sided, floor "
                              f"1/{RESAMPLES + 1}) Holm-corrected over every pair and metric; "
                              "the 95% bootstrap intervals are not corrected"},
            "train_requests": len(parts.train), "metrics": names}


def _rule_counts(fitted: dict, test: pd.DataFrame) -> dict:
    """How often each rule fired, and each block rule blocked, on the test requests."""
    engine = fitted.get("rules")
    if engine is None or not hasattr(engine, "fired"):
        return {}
    fired = engine.fired(test).sum(axis=0)
    ids = [r.id for r in engine.rule_set_.rules]
    blocks = {r.id: int(n) for r, n in zip(engine.rule_set_.rules, fired) if r.block}
    return {"fired": {i: int(n) for i, n in zip(ids, fired)}, "blocked": blocks,
            "requests": len(test)}


def _default_pairs(names: list[str]) -> list[tuple[str, str]]:
    base = "rules" if "rules" in names else names[0]
    return [(base, n) for n in names if n != base]


def _one_context_latency(engine, test: pd.DataFrame, log, sample: int, k: int) -> dict:
    """p50/p95/p99 of ``suggest_one`` on up to ``sample`` test requests, in microseconds."""
    if sample <= 0 or len(test) == 0:
        return {}
    rows = test.iloc[np.linspace(0, len(test) - 1, min(sample, len(test))).astype(int)]
    times = []
    for record in rows.to_dict("records"):
        context = {key: (value.isoformat() if key == "timestamp" else value)
                   for key, value in record.items() if not _missing(value)
                   and key not in ("hour", "minute", "weekday", "is_weekend")}
        started = time.perf_counter()
        engine.suggest_one(context, k)
        times.append((time.perf_counter() - started) * 1e6)
    return {f"one_context_us_p{q}": float(np.percentile(times, q)) for q in (50, 95, 99)}


def _missing(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
