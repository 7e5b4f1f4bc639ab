"""Speed of ``suggest.evaluate`` against ranx and ir-measures (trec_eval), same values.

:func:`measure` builds a run of ``requests`` requests x ``list_length``
suggestions (scores strictly decreasing down each list, so every library
sees the same order) and a truth of 1-3 graded relevant items per request,
about a third of them inside the list, then scores five metrics
(``ndcg@10 precision@5 recall@10 mrr@10 map@10``) with

* ``suggest.evaluate.evaluate`` (calls on the two DataFrames after a
  warm-up on a slice; the figure is the median of ``repeats`` calls);
* ranx: ``Qrels.from_df`` + ``Run.from_df`` (timed apart: with pandas 3 the
  id columns must first become ``object``), then ``ranx.evaluate``: the
  first call compiles ranx's numba kernels, the median of the ``repeats``
  calls after it is the warm figure every ratio is taken against;
* ir-measures (``calc_aggregate`` over the DataFrames, pytrec_eval inside).

Means must agree to 1e-9 on the whole run and per-request values on the
first 2,000 requests; a comparator that is not installed is reported as
such.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd

from suggest.bench.machine import package_version
from suggest.evaluate import evaluate
from suggest.ids import isin

METRICS = ("ndcg@10", "precision@5", "recall@10", "mrr@10", "map@10")
IR_MEASURES = {"ndcg": "nDCG", "precision": "P", "recall": "R", "mrr": "RR", "map": "AP"}
ITEMS = 1000
CHECKED = 2000


def make_run(requests: int, list_length: int = 20, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A tie-free run and a graded truth (every request has a relevant item)."""
    rng = np.random.default_rng(seed)
    items = np.array([f"i{j:04d}" for j in range(ITEMS)], dtype=object)
    ids = np.array([f"q{i:07d}" for i in range(requests)], dtype=object)
    first = rng.integers(0, ITEMS, requests)
    codes = (first[:, None] + np.arange(list_length) * 37) % ITEMS  # distinct items down a list
    run = pd.DataFrame({"request_id": np.repeat(ids, list_length), "item_id": items[codes.ravel()],
                        "score": np.tile(np.arange(list_length, 0, -1, dtype=float), requests)})
    n_rel = rng.integers(1, 4, requests)
    step = rng.integers(0, 3 * list_length, n_rel.sum())  # a third of the steps fall inside the list
    truth = pd.DataFrame({"request_id": np.repeat(ids, n_rel),
                          "item_id": items[(np.repeat(first, n_rel) + step * 37) % ITEMS],
                          "relevance": rng.integers(1, 4, n_rel.sum()).astype(float)})
    return run, truth.drop_duplicates(["request_id", "item_id"]).reset_index(drop=True)


def _timed(call, repeats: int) -> tuple[object, list[float]]:
    """The result of ``call()`` and the seconds each of ``repeats`` calls took."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        seconds.append(time.perf_counter() - start)
    return result, seconds


def measure(requests: int = 100_000, list_length: int = 20, seed: int = 0, log=None,
            repeats: int = 5) -> dict:
    """Time the three libraries on the same run; check they give the same values.

    Ours and ranx's warm ``evaluate`` are each the median of ``repeats`` calls
    (every call is listed in the result); ir-measures is timed once.
    """
    say = log or (lambda line: None)
    run, truth = make_run(requests, list_length, seed)
    names = list(METRICS)
    evaluate(run.iloc[: list_length * 100], truth, names)  # warm-up: imports, pandas code paths
    ours, times = _timed(lambda: evaluate(run, truth, names), repeats)
    ours_s = float(np.median(times))
    say(f"metrics: ours {ours_s:.2f} s for {requests:,} requests x {list_length}; now ranx")
    per_request = ours.per_request.set_index("request_id")
    checked = sorted(per_request.index)[:CHECKED]
    result = {"config": {"requests": requests, "list_length": list_length, "run_rows": len(run),
                         "truth_rows": len(truth), "metrics": names, "seed": seed,
                         "repeats": repeats},
              "ours": {"seconds": ours_s, "calls_seconds": times, "requests_per_s": requests / ours_s,
                       "means": ours.means}}
    result["ranx"] = _ranx(run, truth, names, ours.means, per_request.loc[checked], ours_s, repeats)
    say("metrics: now ir-measures")
    result["ir_measures"] = _ir_measures(run, truth, names, ours.means, per_request.loc[checked], ours_s)
    return result


def _agree(means: dict, ours: dict, values: dict[str, np.ndarray], mine: pd.DataFrame) -> bool:
    same_means = all(abs(means[n] - ours[n]) <= 1e-9 for n in ours)
    same_values = all(np.allclose(values[n], mine[n].to_numpy(), rtol=0, atol=1e-9) for n in ours)
    return bool(same_means and same_values)


def _ranx(run, truth, names, ours_means, mine, ours_s, repeats) -> dict:
    try:
        import ranx
    except ImportError:
        return {"available": False}
    as_object = {"request_id": object, "item_id": object}  # ranx wants object ids; pandas 3 gives str
    start = time.perf_counter()
    qrels = ranx.Qrels.from_df(truth.astype(as_object).assign(relevance=truth["relevance"].astype(int)),
                               q_id_col="request_id", doc_id_col="item_id", score_col="relevance")
    ranx_run = ranx.Run.from_df(run.astype(as_object), q_id_col="request_id", doc_id_col="item_id",
                                score_col="score")
    build_s = time.perf_counter() - start
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # the first call compiles the numba kernels
        means, times = _timed(lambda: ranx.evaluate(qrels, ranx_run, names, return_mean=True,
                                                    make_comparable=True), 1 + repeats)
        ids = list(mine.index)
        sub_q = ranx.Qrels({q: qrels.qrels[q] for q in ids})
        sub_r = ranx.Run({q: ranx_run.run[q] for q in ids})
        values = ranx.evaluate(sub_q, sub_r, names, return_mean=False, make_comparable=True)
    warm = float(np.median(times[1:]))
    order = sorted(sub_q.keys())
    values = {n: pd.Series(np.atleast_1d(values[n]), index=order).reindex(ids).to_numpy() for n in names}
    means = {n: float(v) for n, v in means.items()}
    return {"available": True, "version": package_version("ranx"),
            "build_seconds": build_s, "evaluate_cold_seconds": times[0],
            "evaluate_warm_seconds": warm, "evaluate_warm_calls_seconds": times[1:],
            "ratio_to_warm_evaluate": ours_s / warm,
            "ratio_to_build_and_warm_evaluate": ours_s / (build_s + warm),
            "agrees": _agree(means, ours_means, values, mine), "means": means}


def _ir_measures(run, truth, names, ours_means, mine, ours_s) -> dict:
    try:
        import ir_measures
    except ImportError:
        return {"available": False}
    measures = {n: ir_measures.parse_measure(f"{IR_MEASURES[n.split('@')[0]]}@{n.split('@')[1]}")
                for n in names}
    qrels = truth.rename(columns={"request_id": "query_id", "item_id": "doc_id"}).assign(
        relevance=truth["relevance"].astype(int))
    scored = run.rename(columns={"request_id": "query_id", "item_id": "doc_id"})
    start = time.perf_counter()
    aggregate = ir_measures.calc_aggregate(list(measures.values()), qrels, scored)
    seconds = time.perf_counter() - start
    means = {n: float(aggregate[m]) for n, m in measures.items()}
    ids = set(mine.index)
    values = {n: {} for n in names}
    back = {m: n for n, m in measures.items()}
    for m in ir_measures.iter_calc(list(measures.values()), qrels[isin(qrels["query_id"], ids)],
                                   scored[isin(scored["query_id"], ids)]):
        values[back[m.measure]][m.query_id] = m.value
    values = {n: np.array([v.get(q, 0.0) for q in mine.index]) for n, v in values.items()}
    return {"available": True, "version": package_version("ir-measures"), "seconds": seconds,
            "ratio": ours_s / seconds, "agrees": _agree(means, ours_means, values, mine), "means": means}


def markdown(r: dict) -> str:
    """The figures of :func:`measure` as a Markdown table."""
    c, ours = r["config"], r["ours"]
    size = f"{c['requests']:,} x {c['list_length']}"
    rows = ["| library | size | seconds | ours / it | same values |", "|---|---:|---:|---:|---|",
            f"| `suggest.evaluate` (5 metrics), median of {c['repeats']} calls | {size} | "
            f"{ours['seconds']:.2f} | 1.00 | |"]
    rx, irm = r["ranx"], r["ir_measures"]
    if rx["available"]:
        same = "yes" if rx["agrees"] else "**no**"
        rows += [f"| ranx {rx['version']} `evaluate`, warm (median of the {c['repeats']} calls after "
                 f"the one that compiles) | {size} | "
                 f"{rx['evaluate_warm_seconds']:.2f} | {rx['ratio_to_warm_evaluate']:.2f} | {same} |",
                 f"| &nbsp;&nbsp; its first call (compiles) | {size} | {rx['evaluate_cold_seconds']:.2f} | | |",
                 f"| &nbsp;&nbsp; `Qrels.from_df` + `Run.from_df` + warm `evaluate` | {size} | "
                 f"{rx['build_seconds'] + rx['evaluate_warm_seconds']:.2f} | "
                 f"{rx['ratio_to_build_and_warm_evaluate']:.2f} | |"]
    else:
        rows.append("| ranx | not installed | | | |")
    if irm["available"]:
        rows.append(f"| ir-measures {irm['version']} `calc_aggregate` (trec_eval) | {size} | "
                    f"{irm['seconds']:.2f} | {irm['ratio']:.2f} | {'yes' if irm['agrees'] else '**no**'} |")
    else:
        rows.append("| ir-measures | not installed | | | |")
    rows += ["", "ours / it below 1 means `suggest.evaluate` is faster. Metrics: "
             + ", ".join(c["metrics"]) + "; values compared to 1e-9 (means on the whole run, "
             f"per request on the first {CHECKED:,} requests)."]
    return "\n".join(rows)
