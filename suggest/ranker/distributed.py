"""Training the ranker on a Dask cluster with ``lightgbm.dask.DaskLGBMRanker`` (DESIGN section 7).

The same :class:`~suggest.ranker.RankerEngine` is prepared here exactly as
for local training (candidate sources, point-in-time statistics, category
encodings, the train / validation split) and shipped to the workers once.
Each partition of the training requests then builds its candidates, features
and labels on a worker with the engine's own code, so every request's
candidates stay in one partition (LightGBM's query groups) and the feature
matrix is never gathered on this machine. LightGBM trains data-parallel
across the workers, and the booster it returns becomes the engine's, so the
model folder is written and loaded through the same artifact code.

The Dask ranker has no early stopping, so the number of trees is either given
(``n_estimators``) or found by a *local validation run*: the local ranker with
early stopping, fitted on the latest ``sample`` training requests (all of
them when there are fewer), and its best iteration is used.

Distributed histograms are built from each worker's share of the rows, so the
model is close to the local one but not bit-identical; the tests hold its
validation NDCG within 0.02 of the local model's on the same data and trees.

>>> engine = RankerEngine(rules="rules/phone.yaml")                       # doctest: +SKIP
>>> with dask_client("tcp://scheduler:8786") as client:                    # doctest: +SKIP
...     fit_dask(engine, log.requests, log.truth, log.catalog, client)
"""

from __future__ import annotations

import contextlib
import operator
import sys
import warnings

import numpy as np
import pandas as pd

from suggest.errors import SuggestError
from suggest.splits import latest

LABEL, GROUP = "__label", "__request"
#: Training requests per partition, at most (more partitions than workers balance load).
PARTITION_REQUESTS = 50_000


def fit_dask(engine, requests: pd.DataFrame, truth: pd.DataFrame, catalog: pd.DataFrame | None,
             client, *, n_estimators: int | None = None, sample: int = 50_000,
             partitions: int | None = None, progress: bool = False):
    """Fit ``engine`` (an unfitted RankerEngine or HybridEngine) with LightGBM on Dask.

    Parameters
    ----------
    n_estimators : int, optional
        Trees to grow. Default: the best iteration of a local validation run
        on the latest ``sample`` training requests.
    partitions : int, optional
        Partitions of the training requests. Default: enough for at most
        50,000 requests each, and at least two per worker.

    Returns the engine, fitted; ``engine.validation_["dask"]`` records how.
    """
    import lightgbm.dask as lgb_dask
    from tqdm.auto import tqdm

    from suggest.ranker.model import MAX_LABEL

    bar = tqdm(total=4, desc="training ranker on Dask", unit="step",
               disable=None if progress else True, leave=False)
    trees, trees_from = n_estimators, "given"
    if trees is None:
        bar.set_postfix_str("local validation run for the number of trees")
        trees, trees_from = _trees_from_local_run(engine, requests, truth, catalog, sample)
    if trees < 1:
        raise SuggestError(f"the number of trees must be at least 1, not {trees}")
    bar.update(1)
    bar.set_postfix_str("candidate sources and statistics")
    engine.prepare(requests, truth, catalog)
    train, valid = engine.validation_split(requests)
    workers = max(1, len(client.scheduler_info()["workers"]))
    n_parts = partitions or max(2 * workers, -(-len(train) // PARTITION_REQUESTS))
    shipped = client.scatter(engine, broadcast=True, hash=False)
    bar.update(1)
    bar.set_postfix_str("candidates and features on the workers")
    sets, recall = {}, {}
    for part, reqs in (("train", train), ("valid", valid)):
        sets[part], recall[part] = _matrices(client, shipped, reqs, truth, n_parts if part == "train"
                                             else max(1, min(n_parts, -(-len(reqs) // PARTITION_REQUESTS))))
    if sets["train"] is None:
        raise SuggestError("no training request has an engaged item among its candidates",
                           hint="check the log's positives (positive_min) and its size")
    bar.update(1)
    bar.set_postfix_str(f"boosting {trees} trees")
    names = engine.features_.lightgbm_names_
    categorical = [names[engine.features_.names_.index(c)] for c in engine.categorical_features()]
    extra = ({} if engine.truncation_level is None
             else {"lambdarank_truncation_level": engine.truncation_level})
    model = lgb_dask.DaskLGBMRanker(
        client=client, n_estimators=trees, learning_rate=engine.learning_rate,
        objective=engine.lightgbm_params()["objective"], colsample_bytree=engine.feature_fraction, **extra,
        num_leaves=engine.leaves_for(len(train)), min_child_samples=engine.min_child_samples,
        random_state=engine.seed, deterministic=True, force_row_wise=True, verbosity=-1,
        label_gain=[float(2 ** g - 1) for g in range(MAX_LABEL + 1)])
    train_x, train_y, train_g, _ = sets["train"]
    with warnings.catch_warnings(), _lightgbm_says_to_stderr():
        # lightgbm.dask names the settings Dask decides for itself
        warnings.filterwarnings("ignore", "Parameter .* will be ignored", UserWarning)
        model.fit(train_x, train_y, group=train_g, categorical_feature=categorical)
    engine.booster_ = model.to_local().booster_
    # Validation NDCG from the final booster on the workers' validation partitions:
    # LightGBM's own eval set on Dask is evaluated on one worker's share only.
    ndcg = _ndcg(client, engine.booster_, sets["valid"], engine.eval_at)
    rows = {part: s[3] if s is not None else 0 for part, s in sets.items()}
    engine.candidate_recall_ = recall
    engine.validation_ = {**engine.replay_score(valid, truth, train, catalog),
                          f"ndcg@{engine.eval_at}_candidates": ndcg,
                          "best_iteration": int(trees), "train_rows": rows["train"],
                          "valid_rows": rows["valid"], "train_requests": int(len(train)),
                          "valid_requests": int(len(valid)),
                          "split": "by time" if "timestamp" in requests.columns else "seeded",
                          "dask": {"workers": workers, "partitions": n_parts,
                                   "trees_from": trees_from}}
    bar.update(1)
    bar.close()
    return engine


@contextlib.contextmanager
def _lightgbm_says_to_stderr():
    """LightGBM prints its messages on standard output; --json owns that here. The logger
    in place is read from LightGBM's private names; a LightGBM without them keeps its own
    (its messages may then reach standard output; training is the same)."""
    import lightgbm.basic

    try:
        previous = (lightgbm.basic._LOGGER, lightgbm.basic._INFO_METHOD_NAME,
                    lightgbm.basic._WARNING_METHOD_NAME)
    except AttributeError:
        yield
        return
    lightgbm.basic.register_logger(_StderrLogger())
    try:
        yield
    finally:
        lightgbm.basic.register_logger(*previous)


class _StderrLogger:
    def info(self, message: str) -> None:
        print(message, file=sys.stderr)

    warning = info


def _trees_from_local_run(engine, requests, truth, catalog, sample: int) -> tuple[int, str]:
    """Best iteration of the local ranker (early stopping) on the latest ``sample`` requests."""
    if len(requests) > sample:
        if "timestamp" in requests.columns:
            kept = latest(requests["timestamp"], sample)
        else:
            kept = np.zeros(len(requests), bool)
            kept[np.random.default_rng(engine.seed).permutation(len(requests))[-sample:]] = True
        requests = requests[kept].reset_index(drop=True)
        truth = truth[truth["request_id"].isin(requests["request_id"])]
    probe = type(engine)(**engine.get_params()).fit(requests, truth, catalog)
    best = probe.validation_["best_iteration"]
    engine.objective_ = probe.objective_  # objective "auto": the one the local run kept
    return int(best), (f"local validation run on {len(requests):,} requests: best iteration {best}"
                       + (f", objective {probe.objective_}" if engine.objective == "auto" else ""))


def _matrices(client, shipped, requests: pd.DataFrame, truth: pd.DataFrame, n_parts: int):
    """Features, labels and query groups of ``requests``, built partition by partition on
    the workers: ``((X, y, group) as Dask collections or None, candidate recall)``."""
    import dask
    import dask.dataframe as dd

    if len(requests) == 0:
        return None, float("nan")
    size = -(-len(requests) // n_parts)
    where = pd.Index(requests["request_id"]).get_indexer(truth["request_id"])
    truth_part = np.where(where >= 0, where // size, -1)
    build = dask.delayed(_partition_matrix, pure=False)
    futures = client.compute([build(shipped, requests.iloc[lo:lo + size].reset_index(drop=True),
                                    truth[truth_part == p])
                              for p, lo in enumerate(range(0, len(requests), size))])
    stats = client.gather([client.submit(operator.itemgetter(1, 2), f, pure=False) for f in futures])
    hits, wanted = sum(s[0] for s in stats), sum(s[1] for s in stats)
    recall = float(hits / wanted) if wanted else float("nan")
    frames = [client.submit(operator.itemgetter(0), f, pure=False) for f in futures]
    lengths = client.gather([client.submit(len, f, pure=False) for f in frames])
    frames = [f for f, n in zip(frames, lengths) if n]  # LightGBM wants no empty partition
    del futures
    if not frames:
        return None, recall
    meta = client.submit(_empty, frames[0], pure=False).result()
    table = dd.from_delayed(frames, meta=meta, verify_meta=False)
    features = [c for c in meta.columns if c not in (LABEL, GROUP)]
    groups = table[GROUP].map_partitions(_group_sizes, meta=(GROUP, "int64"))
    return (table[features], table[LABEL], groups, int(sum(lengths))), recall


def _partition_matrix(engine, requests: pd.DataFrame, truth: pd.DataFrame):
    """On a worker: one partition's matrix (LightGBM column names, label, request row),
    keeping requests with a positive among their candidates as local training does;
    and the partition's (engaged pairs among the candidates, engaged pairs)."""
    from suggest.ranker.model import useful_groups

    cand = engine.candidates_.generate(requests, training=True)
    rows = pd.Index(requests["request_id"]).get_indexer(truth["request_id"])
    wanted = pd.MultiIndex.from_arrays([rows, truth["item_id"].astype(str)])[rows >= 0]
    hits = int(wanted.isin(pd.MultiIndex.from_frame(cand[["row", "item_id"]])).sum())
    X = engine.features_.build(requests, cand, training=True)
    y = engine.labels(requests, cand, truth)
    row = cand["row"].to_numpy()
    keep = useful_groups(row, y)
    X = X[keep].set_axis(engine.features_.lightgbm_names_, axis=1).reset_index(drop=True)
    X[LABEL] = y[keep]
    X[GROUP] = row[keep]
    return X, hits, len(wanted)


def _ndcg(client, booster, valid, k: int) -> float | None:
    """Mean NDCG@k over the validation queries with a positive (:func:`evaluate`'s, with
    LightGBM's gains 2^label - 1)."""
    if valid is None:
        return None
    x, y, groups, _ = valid
    shipped = client.scatter(booster, broadcast=True, hash=False)
    parts = zip(x.to_delayed(), y.to_delayed(), groups.to_delayed())
    import dask

    sums = client.gather(client.compute([dask.delayed(_ndcg_sum)(shipped, a, b, c, k)
                                         for a, b, c in parts]))
    total, count = map(sum, zip(*sums))
    return float(total / count) if count else None


def _ndcg_sum(booster, X: pd.DataFrame, labels: pd.Series, sizes: pd.Series, k: int):
    """(sum of NDCG@k, queries with a positive) of one partition, by :func:`evaluate` with
    LightGBM's gains (2^label - 1); a query without a positive is left out, as replay does."""
    from suggest.evaluate import evaluate

    scores = booster.predict(X.to_numpy())
    query = np.repeat(np.arange(len(sizes)), sizes.to_numpy())
    run = pd.DataFrame({"request_id": query, "item_id": np.arange(len(query)), "score": scores})
    truth = run[["request_id", "item_id"]].assign(relevance=labels.to_numpy(dtype=float))
    table = evaluate(run, truth, [f"ndcg@{k}"], gain="exp").per_request
    return float(table[f"ndcg@{k}"].sum()), len(table)


def _empty(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.iloc[:0]


def _group_sizes(request_rows: pd.Series) -> pd.Series:
    """Query group sizes of a partition whose rows come request by request."""
    from suggest.evaluate import group_starts

    values = request_rows.to_numpy()
    starts = group_starts(values)
    return pd.Series(np.diff(np.r_[starts, len(values)]), name=GROUP, dtype="int64")
