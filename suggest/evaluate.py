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


def _per_request(ranked: Ranked, values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.bincount(ranked.code[mask], weights=values[mask], minlength=len(ranked.request_ids))


def precision(ranked: Ranked, k: int, gain: str) -> np.ndarray:
    hits = (ranked.rel > 0) & (ranked.rank <= k)
    return _per_request(ranked, np.ones(len(hits)), hits) / k


def recall(ranked: Ranked, k: int, gain: str) -> np.ndarray:
    return precision(ranked, k, gain) * k / ranked.n_relevant


def hit_rate(ranked: Ranked, k: int, gain: str) -> np.ndarray:
    return (precision(ranked, k, gain) > 0).astype(float)


def mrr(ranked: Ranked, k: int, gain: str) -> np.ndarray:
    hits = (ranked.rel > 0) & (ranked.rank <= k)
    first = np.full(len(ranked.request_ids), np.inf)
    np.minimum.at(first, ranked.code[hits], ranked.rank[hits])
    return np.where(np.isfinite(first), 1.0 / first, 0.0)


def average_precision(ranked: Ranked, k: int, gain: str) -> np.ndarray:
    relevant = ranked.rel > 0
    # rows are sorted by (request, rank): hits so far within a request by a grouped cumsum
    cumulative = pd.Series(relevant.astype(float)).groupby(ranked.code).cumsum().to_numpy()
    mask = relevant & (ranked.rank <= k)
    return _per_request(ranked, cumulative / ranked.rank, mask) / ranked.n_relevant


def _gain(rel: np.ndarray, gain: str) -> np.ndarray:
    return np.power(2.0, rel) - 1.0 if gain == "exp" else rel


def ndcg(ranked: Ranked, k: int, gain: str) -> np.ndarray:
    top = ranked.rank <= k
    dcg = _per_request(ranked, _gain(ranked.rel, gain) / np.log2(ranked.rank + 1.0), top)
    ideal_top = ranked.ideal_rank <= k
    idcg = np.bincount(ranked.ideal_code[ideal_top],
                       weights=_gain(ranked.ideal_rel, gain)[ideal_top] /
                       np.log2(ranked.ideal_rank[ideal_top] + 1.0),
                       minlength=len(ranked.request_ids))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(idcg > 0, dcg / idcg, 0.0)


METRICS: dict[str, Callable[[Ranked, int, str], np.ndarray]] = {
    "precision": precision, "recall": recall, "hit_rate": hit_rate, "mrr": mrr,
    "map": average_precision, "ndcg": ndcg,
}


def parse_metric(name: str) -> tuple[str, int]:
    """``"ndcg@5"`` -> ``("ndcg", 5)``, with a clear error for anything else."""
    base, _, k = str(name).partition("@")
    if base not in METRICS:
        raise SuggestError(f"unknown metric '{name}'", hint=did_you_mean(base, METRICS)
                           or f"use {one_of(METRICS)} with @k, e.g. ndcg@5")
    if not k.isdigit() or int(k) < 1:
        raise SuggestError(f"metric '{name}' needs a cutoff k >= 1", hint=f"e.g. {base}@5")
    return base, int(k)


def metric_names(ks=DEFAULT_KS, metrics=tuple(METRICS)) -> list[str]:
    """Every metric at every k: ``["precision@1", ..., "ndcg@10"]``."""
    return [f"{m}@{k}" for m in metrics for k in ks]


def rank_run(run: pd.DataFrame, truth: pd.DataFrame, max_k: int) -> tuple[Ranked, int]:
    """Order the run, join it with truth and keep the requests with a relevant item.

    Returns the prepared run and the number of requests (in the run or the
    truth) left out because they have no relevant item.
    """
    positives = truth.loc[truth["relevance"] > 0, ["request_id", "item_id", "relevance"]]
    positives = positives.assign(request_id=positives["request_id"].astype(str),
                                 item_id=positives["item_id"].astype(str))
    positives = positives.groupby(["request_id", "item_id"], as_index=False, sort=False)["relevance"].max()
    request_ids = np.array(sorted(positives["request_id"].unique()), dtype=object)
    everyone = pd.concat([run["request_id"].astype(str), truth["request_id"].astype(str)],
                         ignore_index=True).nunique(dropna=False)
    without = everyone - len(request_ids)
    index = pd.Index(request_ids)
    rows = pd.DataFrame({"request_id": run["request_id"].astype(str).to_numpy(dtype=object),
                         "item_id": run["item_id"].astype(str).to_numpy(dtype=object),
                         "score": run["score"].to_numpy(dtype=float)})
    rows["code"] = index.get_indexer(rows["request_id"])
    rows = rows[rows["code"] >= 0]
    rows = rows.drop_duplicates(["code", "item_id"])  # an item counts once, at its best place
    rows = rows.sort_values(["code", "score", "item_id"], ascending=[True, False, True], kind="stable")
    rows["rank"] = rows.groupby("code", sort=False).cumcount() + 1
    rows = rows[rows["rank"] <= max_k]
    rel = positives.set_index(["request_id", "item_id"])["relevance"]
    joined = rel.reindex(pd.MultiIndex.from_frame(rows[["request_id", "item_id"]])).fillna(0.0)
    ideal = positives.assign(code=index.get_indexer(positives["request_id"]))
    ideal = ideal.sort_values(["code", "relevance"], ascending=[True, False], kind="stable")
    ideal_rank = ideal.groupby("code", sort=False).cumcount().to_numpy() + 1
    return Ranked(request_ids=request_ids, code=rows["code"].to_numpy(),
                  rank=rows["rank"].to_numpy(dtype=float), rel=joined.to_numpy(dtype=float),
                  n_relevant=np.bincount(ideal["code"].to_numpy(), minlength=len(request_ids)).astype(float),
                  ideal_code=ideal["code"].to_numpy(), ideal_rank=ideal_rank.astype(float),
                  ideal_rel=ideal["relevance"].to_numpy(dtype=float)), without


@dataclass
class Evaluation:
    """Per-request metric values and their means; ``to_dict()`` for JSON."""

    per_request: pd.DataFrame
    requests: int
    requests_without_positive: int
    means: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"metrics": self.means, "requests": self.requests,
                "requests_without_positive": self.requests_without_positive}


def evaluate(run: pd.DataFrame, truth: pd.DataFrame, metrics: list[str] | None = None,
             gain: str = "linear") -> Evaluation:
    """Score a run (``request_id, item_id, score``) against truth (``request_id, item_id,
    relevance``). ``metrics`` are names like ``"ndcg@5"`` (default: every metric at 1, 3, 5, 10).
    """
    if gain not in ("linear", "exp"):
        raise SuggestError(f"unknown gain '{gain}'", hint="use linear or exp")
    names = list(metrics) if metrics else metric_names()
    parsed = [parse_metric(n) for n in names]
    ranked, without = rank_run(run, truth, max(k for _, k in parsed))
    table = pd.DataFrame({"request_id": ranked.request_ids})
    for name, (base, k) in zip(names, parsed):
        table[name] = METRICS[base](ranked, k, gain)
    means = {n: float(table[n].mean()) if len(table) else float("nan") for n in names}
    return Evaluation(table, len(table), without, means)


# -- paired comparison ---------------------------------------------------------------------

@dataclass
class Paired:
    """A paired comparison of two engines on one metric over the same requests."""

    a: str
    b: str
    metric: str
    requests: int
    mean_a: float
    mean_b: float
    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    p_holm: float | None = None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def paired_test(a: np.ndarray, b: np.ndarray, *, resamples: int = 2000, seed: int = 0,
                confidence: float = 0.95, chunk: int = 200) -> tuple[float, float, float, float]:
    """Mean of ``b - a`` per request, its bootstrap CI and a paired randomisation p-value.

    The bootstrap resamples requests with replacement; the randomisation test
    flips the sign of each request's difference at random (two-sided, with the
    +1 correction so p is never 0). Both are seeded and done in chunks of
    ``chunk`` resamples (fewer for very many requests), so memory stays small.

    Per-request differences of ranking metrics take few distinct values (a hit
    or not, the rank of the first hit). When there are at most a quarter as
    many distinct values as requests, both are drawn per distinct value
    instead of per request, which is the same distribution at a cost that does
    not grow with the number of requests: a bootstrap resample is a
    multinomial count of each value, a sign flip of the ``m`` requests sharing
    a value sums to ``(2 * Binomial(m, 1/2) - m) * value``.

    >>> paired_test(np.zeros(50), np.ones(50))[0]
    1.0
    """
    diff = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    n = len(diff)
    if n == 0:
        return float("nan"), float("nan"), float("nan"), float("nan")
    observed = float(diff.mean())
    rng = np.random.default_rng(seed)
    values, counts = np.unique(diff, return_counts=True)
    grouped = len(values) * 4 <= n
    # rows of (resamples x requests) arrays per step: the same chunks as ever up to
    # ~20k requests, fewer above so that no temporary passes ~32 MiB
    width = len(values) if grouped else n
    step = max(1, min(chunk, (1 << 22) // width))
    boot, extreme = [], 0
    for start in range(0, resamples, step):
        size = min(step, resamples - start)
        if grouped:
            boot.append(rng.multinomial(n, counts / n, size=size) @ values / n)
            heads = rng.binomial(counts, 0.5, size=(size, len(values)))
            flipped = (2 * heads - counts) @ values / n
        else:
            boot.append(diff[rng.integers(0, n, size=(size, n))].mean(axis=1))
            signs = rng.integers(0, 2, size=(size, n)) * 2 - 1
            flipped = (signs * diff).mean(axis=1)
        extreme += int((np.abs(flipped) >= abs(observed) - 1e-12).sum())
    boot = np.concatenate(boot)
    tail = (1 - confidence) / 2
    low, high = np.quantile(boot, [tail, 1 - tail])
    return observed, float(low), float(high), (extreme + 1) / (resamples + 1)


def holm(p_values: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the order given.

    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p, kind="stable")
    adjusted = np.maximum.accumulate((len(p) - np.arange(len(p))) * p[order])
    out = np.empty(len(p))
    out[order] = np.minimum(adjusted, 1.0)
    return [round(float(v), 12) for v in out]


def compare_engines(per_request: dict[str, pd.DataFrame], metrics: list[str],
                    pairs: list[tuple[str, str]], *, resamples: int = 2000,
                    seed: int = 0) -> list[Paired]:
    """Paired tests of ``b`` against ``a`` for each pair and metric, Holm-corrected
    across all of them. ``per_request`` maps engine -> its Evaluation.per_request."""
    results = []
    for a, b in pairs:
        joined = per_request[a].merge(per_request[b], on="request_id", suffixes=("_a", "_b"))
        for metric in metrics:
            x, y = joined[f"{metric}_a"].to_numpy(), joined[f"{metric}_b"].to_numpy()
            diff, low, high, p = paired_test(x, y, resamples=resamples, seed=seed)
            results.append(Paired(a, b, metric, len(joined), float(x.mean()) if len(x) else float("nan"),
                                  float(y.mean()) if len(y) else float("nan"), diff, low, high, p))
    for result, adjusted in zip(results, holm([r.p_value for r in results])):
        result.p_holm = adjusted
    return results
