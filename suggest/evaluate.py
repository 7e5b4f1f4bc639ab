"""Metrics at k, fixed in one place (DESIGN section 6), vectorised over all requests.

Definitions (cross-checked against ranx and trec_eval via ir-measures in the tests):

* a run's list for a request is ordered by ``score`` descending, then
  ``item_id`` ascending (its ``rank`` column is ignored, as trec_eval does);
* an item is relevant when its truth ``relevance`` is > 0;
* ``precision@k`` divides by k even when fewer than k items were returned;
* ``recall@k`` divides by the number of relevant items R;
* ``hit_rate@k`` is 1 when a relevant item is in the top k;
* ``mrr@k`` is 1 / rank of the first relevant item within k (0 if none);
* ``map@k`` sums precision@i over relevant items at ranks i <= k and divides
  by R (trec_eval), not by min(R, k);
* ``ndcg@k``: gain = relevance (``gain="exp"``: 2^relevance - 1), discount
  1 / log2(rank + 1), ideal DCG over all relevant items of the request,
  returned or not;
* requests with no relevant item are left out of every mean and counted.

Metrics live in one registry (``METRICS``), named ``"ndcg@5"`` style.

>>> run = pd.DataFrame({"request_id": ["q1", "q1"], "item_id": ["a", "b"], "score": [2.0, 1.0]})
>>> truth = pd.DataFrame({"request_id": ["q1"], "item_id": ["b"], "relevance": [1.0]})
>>> evaluate(run, truth, ["mrr@5", "precision@1"]).means
{'mrr@5': 0.5, 'precision@1': 0.0}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from suggest.errors import SuggestError, did_you_mean, one_of

DEFAULT_KS = (1, 3, 5, 10)


@dataclass
class Ranked:
    """A run joined with truth, ordered, for the requests that have a relevant item."""

    request_ids: np.ndarray      # the evaluated requests (with >= 1 relevant item)
    code: np.ndarray             # per run row: index into request_ids
    rank: np.ndarray             # per run row: 1-based rank after re-ordering
    rel: np.ndarray              # per run row: the item's relevance (0 if not relevant)
    n_relevant: np.ndarray       # per request: R
    ideal_code: np.ndarray       # per relevant truth row: request index
    ideal_rank: np.ndarray       # its rank in the ideal ordering
    ideal_rel: np.ndarray        # its relevance


def _per_request(ranked: Ranked, values: np.ndarray | float, mask: np.ndarray) -> np.ndarray:
    """Sum of ``values`` over each request's rows where ``mask`` holds."""
    return np.bincount(ranked.code, weights=np.where(mask, values, 0.0),
                       minlength=len(ranked.request_ids))


def _hits(ranked: Ranked, k: int) -> np.ndarray:
    return (ranked.rel > 0) & (ranked.rank <= k)


def precision(ranked: Ranked, k: int, gain: str) -> np.ndarray:
    return _per_request(ranked, 1.0, _hits(ranked, k)) / k


def recall(ranked: Ranked, k: int, gain: str) -> np.ndarray:
    return precision(ranked, k, gain) * k / ranked.n_relevant


def hit_rate(ranked: Ranked, k: int, gain: str) -> np.ndarray:
    return (precision(ranked, k, gain) > 0).astype(float)


def mrr(ranked: Ranked, k: int, gain: str) -> np.ndarray:
    # rows come grouped by request in rank order: a request's first hit is its first hit row
    rows = np.flatnonzero(_hits(ranked, k))
    first = rows[group_starts(ranked.code[rows])]
    out = np.zeros(len(ranked.request_ids))
    out[ranked.code[first]] = 1.0 / ranked.rank[first]
    return out


def average_precision(ranked: Ranked, k: int, gain: str) -> np.ndarray:
    relevant = ranked.rel > 0
    # rows come grouped by request with ranks 1, 2, ...: the relevant rows so far within a
    # request are a running count less its value just before the request's first row
    running = np.cumsum(relevant)
    start = np.arange(len(relevant)) - ranked.rank.astype(np.int64) + 1
    so_far = running - np.r_[0, running][start]
    return _per_request(ranked, so_far / ranked.rank, relevant & (ranked.rank <= k)) / ranked.n_relevant


#: Above this relevance, 2^rel - 1 nears float64's largest number (2^1024 overflows).
EXP_SHIFTED = 512.0


def _gain(rel: np.ndarray, gain: str, shift: np.ndarray | float = 0.0) -> np.ndarray:
    """The gain of each relevance; ``exp`` (2^rel - 1) divided by 2^``shift`` (per row: its
    request's), which leaves every request's NDCG as it is and keeps grades past 1023 finite
    (they gave NaN, which a mean then skipped)."""
    if gain != "exp":
        return rel
    return np.power(2.0, rel - shift) - np.power(2.0, -shift)


def ndcg(ranked: Ranked, k: int, gain: str) -> np.ndarray:
    top = ranked.rank <= k
    # a request whose grades pass EXP_SHIFTED has its gains divided by 2^(its largest grade)
    largest = np.zeros(len(ranked.request_ids))
    np.maximum.at(largest, ranked.ideal_code, ranked.ideal_rel)
    shift = np.where(largest > EXP_SHIFTED, largest, 0.0)
    dcg = _per_request(ranked, _gain(ranked.rel, gain, shift[ranked.code]) /
                       np.log2(ranked.rank + 1.0), top)
    ideal_top = ranked.ideal_rank <= k
    idcg = np.bincount(ranked.ideal_code[ideal_top],
                       weights=_gain(ranked.ideal_rel, gain, shift[ranked.ideal_code])[ideal_top] /
                       np.log2(ranked.ideal_rank[ideal_top] + 1.0),
                       minlength=len(ranked.request_ids))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(idcg > 0, dcg / idcg, 0.0)


METRICS: dict[str, Callable[[Ranked, int, str], np.ndarray]] = {
    "precision": precision, "recall": recall, "hit_rate": hit_rate, "mrr": mrr,
    "map": average_precision, "ndcg": ndcg,
}


def metric_name(name: str) -> str:
    """A metric as the tool spells it: ``" NDCG@5"`` -> ``"ndcg@5"``."""
    return str(name).strip().lower()


def parse_metric(name: str) -> tuple[str, int]:
    """``"ndcg@5"`` (or ``"NDCG@5"``) -> ``("ndcg", 5)``, with a clear error for anything else."""
    base, _, k = metric_name(name).partition("@")
    if base not in METRICS:
        raise SuggestError(f"unknown metric '{name}'", hint=did_you_mean(base, METRICS)
                           or f"use {one_of(METRICS)} with @k, e.g. ndcg@5")
    if not k.isdigit() or int(k) < 1:
        raise SuggestError(f"metric '{name}' needs a cutoff k >= 1", hint=f"e.g. {base}@5")
    return base, int(k)


def metric_names(ks=DEFAULT_KS, metrics=tuple(METRICS)) -> list[str]:
    """Every metric at every k: ``["precision@1", ..., "ndcg@10"]``."""
    return [f"{m}@{k}" for m in metrics for k in ks]


def _codes(values: pd.Series, grouped: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes and their distinct values as text, looking at each distinct value once
    (ids compare as text, so 7 and "7" are one request).

    With ``grouped`` (request ids, which come in runs of equal values), only the
    first value of each run is hashed: the runs are found by comparing each
    value with the one before, which is several times cheaper than hashing.
    The codes are the same either way.
    """
    starts = _run_starts(values) if grouped else None
    head = values if starts is None or 5 * len(starts) > 4 * len(values) else values.iloc[starts]
    codes, uniques = pd.factorize(head, use_na_sentinel=False)
    distinct = pd.Index(uniques).astype(str).to_numpy(dtype=object)
    if pd.api.types.infer_dtype(uniques, skipna=False) != "string":  # 7 and "7": one id
        again, distinct = pd.factorize(distinct)
        codes = again[codes]
    codes = codes.astype(np.int64, copy=False)
    if len(head) < len(values):
        codes = np.repeat(codes, np.diff(np.r_[starts, len(values)]))
    return codes, np.asarray(distinct, dtype=object)


def _run_starts(values: pd.Series) -> np.ndarray:
    """Positions where a run of equal consecutive values starts (a missing value starts one)."""
    array = values.array
    if len(array) < 2:
        return np.arange(len(array))
    changed = pd.array(array[1:] != array[:-1], dtype="boolean").to_numpy(dtype=bool, na_value=True)
    return np.flatnonzero(np.r_[True, changed])


def _union(names: np.ndarray, more: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``names`` followed by those of ``more`` it lacks, and each of ``more``'s position there."""
    if len(names) == len(more) and (names == more).all():  # a truth for the run's requests
        return names, np.arange(len(more))
    at = pd.Index(names).get_indexer(more)
    missing = at < 0
    at[missing] = len(names) + np.arange(missing.sum())
    return np.concatenate([names, more[missing]]), at


def _best_relevance(key: np.ndarray, rel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct keys in increasing order, each with its highest relevance."""
    if len(key) < 2:
        return key, rel
    if not (key[1:] > key[:-1]).all():
        order = np.argsort(key, kind="stable")
        key, rel = key[order], rel[order]
    starts = group_starts(key)
    if len(starts) < len(key):
        return key[starts], np.maximum.reduceat(rel, starts)
    return key, rel


def _in_order(group: np.ndarray, score: np.ndarray, item_rank: np.ndarray, item: np.ndarray) -> bool:
    """Rows already grouped by request (codes by first appearance never decrease) and, within
    each group, by score descending then item ascending (``item_rank``: the items' order)."""
    if len(group) < 2:
        return True
    step, down = np.diff(group), np.diff(score)
    same = step == 0
    if not ((step >= 0).all() and (down[same] <= 0).all()):
        return False
    tied = np.flatnonzero(same & (down == 0))  # look at the items only where scores tie
    return bool((item_rank[item[tied + 1]] > item_rank[item[tied]]).all())


def rank_run(run: pd.DataFrame, truth: pd.DataFrame, max_k: int) -> tuple[Ranked, int]:
    """Order the run, join it with truth and keep the requests with a relevant item.

    Returns the prepared run and the number of requests (in the run or the
    truth) left out because they have no relevant item. Everything after
    reading the ids works on integer codes: the text of an id is looked at
    once per distinct id, never per row.
    """
    run_req, req_names = _codes(run["request_id"], grouped=True)
    run_item, item_names = _codes(run["item_id"])
    truth_req_raw, truth_req_names = _codes(truth["request_id"], grouped=True)
    truth_item_raw, truth_item_names = _codes(truth["item_id"])
    # one code space for requests and items of both frames
    req_names, truth_req = _union(req_names, truth_req_names)
    truth_req = truth_req[truth_req_raw]
    item_names, truth_item = _union(item_names, truth_item_names)
    truth_item = truth_item[truth_item_raw]
    n_items = max(len(item_names), 1)

    relevance = truth["relevance"].to_numpy(dtype=float)
    positive = relevance > 0
    pos_key, pos_rel = _best_relevance(truth_req[positive] * n_items + truth_item[positive],
                                       relevance[positive])
    pos_req = pos_key // n_items  # sorted, as the keys are
    with_positive = pos_req[group_starts(pos_req)]
    # evaluated requests in id order: position of each request code among them
    order = np.argsort(req_names[with_positive].astype(str), kind="stable")
    request_ids = req_names[with_positive][order].astype(object)
    position = np.full(len(req_names), -1, dtype=np.int64)
    position[with_positive[order]] = np.arange(len(with_positive))
    without = len(req_names) - len(with_positive)

    code, item, score = position[run_req], run_item, run["score"].to_numpy(dtype=float)
    req_code = run_req
    keep = code >= 0
    if not keep.all():
        code, item, score, req_code = code[keep], item[keep], score[keep], req_code[keep]
    # score descending, then item id ascending: the items' text order, computed on the distinct items
    item_rank = np.empty(len(item_names), dtype=np.int64)
    item_rank[np.argsort(item_names.astype(str), kind="stable")] = np.arange(len(item_names))
    if not _in_order(req_code, score, item_rank, item):  # engines write lists in order: no sort
        by = np.lexsort((item_rank[item], -score, req_code))
        code, item, score, req_code = code[by], item[by], score[by], req_code[by]
    rank = _rank_in_groups(req_code)
    shown = np.flatnonzero(rank <= max_k)
    if _repeats(code[shown], rank[shown], item[shown], len(request_ids), max_k):
        # an item counts once, at its best place: drop the later copies, then rank again
        first = np.flatnonzero(~pd.Series(req_code * n_items + item).duplicated().to_numpy())
        code, item, req_code = code[first], item[first], req_code[first]
        rank = _rank_in_groups(req_code)
        shown = np.flatnonzero(rank <= max_k)
    code, rank = code[shown], rank[shown]
    key = req_code[shown] * n_items + item[shown]
    at = pd.Index(pos_key).get_indexer(key)  # the truth's keys are distinct
    rel = np.where(at >= 0, pos_rel[at], 0.0)
    ideal_code = position[pos_req]
    ideal = np.lexsort((-pos_rel, ideal_code))
    ideal_code, ideal_rel = ideal_code[ideal], pos_rel[ideal]
    return Ranked(request_ids=request_ids, code=code, rank=rank, rel=rel,
                  n_relevant=np.bincount(ideal_code, minlength=len(request_ids)).astype(float),
                  ideal_code=ideal_code, ideal_rank=_rank_in_groups(ideal_code),
                  ideal_rel=ideal_rel), without


def _repeats(code: np.ndarray, rank: np.ndarray, item: np.ndarray, n: int, max_k: int) -> bool:
    """Whether an item appears twice in the top ``max_k`` of a request's list.

    Copies further down a list do not move anything above them, so when the top
    ``max_k`` rows of every list are distinct they are the ranked list as is.
    The check lays the top rows out as a requests x ``max_k`` table (empty
    places hold distinct negative numbers) and sorts each row.
    """
    if n * max_k > max(4 * len(code), 1 << 20):  # very long cut-offs on few rows: hash instead
        return bool(pd.Series(code * (item.max(initial=0) + 1) + item).duplicated().any())
    table = np.broadcast_to(-np.arange(1, max_k + 1), (n, max_k)).copy()
    table[code, rank.astype(np.int64) - 1] = item
    table.sort(axis=1)
    return bool((table[:, 1:] == table[:, :-1]).any())


def group_starts(group: np.ndarray) -> np.ndarray:
    """Positions where a run of equal consecutive ``group`` values starts."""
    if not len(group):
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.r_[True, group[1:] != group[:-1]])


def _rank_in_groups(group: np.ndarray) -> np.ndarray:
    """1-based position of each row within its run of equal ``group`` values (rows grouped)."""
    starts = group_starts(group)
    return (np.arange(len(group)) - np.repeat(starts, np.diff(np.r_[starts, len(group)])) + 1.0)


@dataclass
class Evaluation:
    """Per-request metric values and their means; ``to_dict()`` for JSON.

    ``requests`` counts the requests scored: those with a positive in the truth (a request
    of the truth the run has no row for scores 0). ``requests_without_positive`` counts the
    run's requests with none, left out of every mean; a request in neither the run nor the
    truth is unknown here, so two runs of one test set may count it differently (a replay's
    summary counts the test set's own)."""

    per_request: pd.DataFrame
    requests: int
    requests_without_positive: int
    means: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"metrics": self.means, "requests": self.requests,
                "requests_without_positive": self.requests_without_positive}


#: NDCG's gains: the relevance itself, or 2^relevance - 1.
GAINS = ("linear", "exp")


def check_gain(gain: str) -> str:
    if gain not in GAINS:
        raise SuggestError(f"unknown gain '{gain}'", hint="use linear or exp")
    return gain


def evaluate(run: pd.DataFrame, truth: pd.DataFrame, metrics: list[str] | None = None,
             gain: str = "linear") -> Evaluation:
    """Score a run (``request_id, item_id, score``) against truth (``request_id, item_id,
    relevance``). ``metrics`` are names like ``"ndcg@5"``, or one name (default: every metric
    at 1, 3, 5, 10). A missing column is a :class:`SuggestError` naming it.

    The frames are taken as they are, where ``suggest evaluate`` checks its files first: a
    NaN score ranks last, an item graded twice for a request counts at its highest grade,
    and a truth without a relevant item gives NaN means (the command refuses all three).
    """
    check_gain(gain)
    from suggest.engines.base import TRUTH_COLUMNS, check_frame

    check_frame(run, ("request_id", "item_id", "score"), "run")
    check_frame(truth, TRUTH_COLUMNS, "truth")
    names = [metrics] if isinstance(metrics, str) else list(metrics) if metrics else metric_names()
    parsed = [parse_metric(n) for n in names]
    ranked, without = rank_run(run, truth, max(k for _, k in parsed))
    table = pd.DataFrame({"request_id": ranked.request_ids})
    for name, (base, k) in zip(names, parsed):
        table[name] = METRICS[base](ranked, k, gain)
    means = {n: float(table[n].mean()) if len(table) else float("nan") for n in names}
    return Evaluation(table, len(table), without, means)
