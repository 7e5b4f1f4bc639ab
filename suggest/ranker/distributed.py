"""Training the ranker on a log the workers of a Dask cluster hold (DESIGN section 7).

The client never holds the log (``suggest train --dask``):

1. the workers read and check it (:func:`suggest.data.dasklog.load_on_dask`) and
   hold out the test part as one machine would (:func:`suggest.dasksplit.split_on_dask`);
2. the training part's requests and engagements are brought together, in the log's
   order, on **one worker**, which prepares the :class:`~suggest.ranker.RankerEngine`
   exactly as local training does (candidate sources, point-in-time statistics,
   category encodings, the train / validation split by time) and, when the number of
   trees is not given, runs the local validation run below. Point-in-time statistics
   keep every engagement with its time (a count *before* each moment cannot be summed
   ahead), so they are as large as the engagements; that worker holds them, as every
   worker must to build features, and as the model folder does;
3. each bucket of the log builds the candidates, features and labels of its own
   training requests on the worker that holds it, with the prepared engine's code: the
   training matrix (up to ``cap`` candidate rows a request, most of the memory
   training takes) is never in one process; every request's candidates stay in one
   partition (LightGBM's query groups);
4. LightGBM trains data-parallel across the workers (``DaskLGBMRanker``); the
   booster comes to the client (trees, not data), is set on the prepared engine on its
   worker, and that worker scores the validation part as replay does and writes the
   model folder, through the same artifact code as local training. The folder is
   written by a worker: on a cluster of several machines, ``-o`` must be on storage
   they share (as the rejects are).

The Dask ranker has no early stopping, so the number of trees is either given
(``n_estimators``) or found by a *local validation run*: the local ranker with
early stopping, fitted on the latest ``sample`` training requests (all of
them when there are fewer), and its best iteration is used.

The training data is the local path's (same requests and engagements, same
fingerprint in the manifest); distributed histograms are built from each worker's
share of the rows, so the model is close to the local one but not bit-identical;
the tests hold its validation NDCG within 0.03 of the local model's on the same data
and trees.

>>> log = load_on_dask(described("world/dataset.yaml"), client, "model.rejects")  # doctest: +SKIP
>>> trained = fit_dask(RankerEngine(rules="rules/phone.yaml"), log)              # doctest: +SKIP
>>> trained.save("models/world")                                                  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import operator
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import lightgbm
import numpy as np
import pandas as pd

from suggest.daskfit import train_mask, training_frames
from suggest.errors import SuggestError
from suggest.ids import isin
from suggest.splits import latest

LABEL, GROUP = "__label", "__request"


@dataclass
class TrainedOnDask:
    """A ranker trained by :func:`fit_dask`. ``engine``: a future of the fitted engine, on
    the worker that holds the training part (``frames``, a future); ``summary``: what the
    engine says of itself (``validation``, ``candidate_recall``, ``candidate_cap``,
    ``eval_at``, ``top_features``) and the training part's ``requests`` and
    ``engagements``."""

    client: object
    engine: object
    frames: object
    catalog: pd.DataFrame | None
    summary: dict

    def save(self, directory, dataset: dict | None = None) -> Path:
        """Write the model folder (:meth:`RankerEngine.save`) from the worker that holds it."""
        # absolute: a worker's current folder is not the client's
        return Path(self.client.submit(_save, self.engine, self.frames,
                                       str(Path(directory).absolute()), self.catalog, dataset,
                                       pure=False).result())


def fit_dask(engine, log, part=None, *, n_estimators: int | None = None, sample: int = 50_000,
             progress: bool = False) -> TrainedOnDask:
    """Fit ``engine`` (an unfitted RankerEngine or HybridEngine; it is not changed) on the
    training requests of ``log`` (a :class:`~suggest.data.dasklog.DaskLog`): all of them,
    or those of ``part`` (a :class:`~suggest.dasksplit.DaskSplit`).

    Parameters
    ----------
    n_estimators : int, optional
        Trees to grow. Default: the best iteration of a local validation run
        on the latest ``sample`` training requests.
    """
    import lightgbm.dask as lgb_dask
    from tqdm.auto import tqdm

    if n_estimators is not None and n_estimators < 1:
        raise SuggestError(f"the number of trees must be at least 1, not {n_estimators}")
    client = log.client
    masks = part.masks if part is not None else [None] * len(log.buckets)
    bar = tqdm(total=4, desc="training ranker on Dask", unit="step",
               disable=None if progress else True, leave=False)
    bar.set_postfix_str("the training part on one worker"
                        + ("" if n_estimators else "; local validation run for the number of trees"))
    frames = training_frames(log, part)
    prepared = client.submit(_prepared, engine, frames, n_estimators, sample, log.catalog,
                             pure=False)
    settings = client.submit(_settings, prepared, pure=False).result()
    bar.update(1)
    bar.set_postfix_str("candidates and features on the workers")
    shipped = client.submit(operator.itemgetter("engine"), prepared, pure=False)
    valid_at = client.submit(operator.itemgetter("valid_positions"), prepared, pure=False)
    sets, recall = {}, {}
    for which in ("train", "valid"):
        sets[which], recall[which] = _table(client, [
            client.submit(_bucket_matrix, shipped, b, m, valid_at, which == "valid", pure=False)
            for b, m in zip(log.buckets, masks)])
    if sets["train"] is None:
        raise SuggestError("no training request has an engaged item among its candidates",
                           hint="check the log's positives (positive_min) and its size")
    bar.update(1)
    trees = settings["params"]["n_estimators"]
    bar.set_postfix_str(f"boosting {trees} trees")
    model = lgb_dask.DaskLGBMRanker(client=client, time_out=NETWORK_MINUTES, **settings["params"])
    train_x, train_y, train_g, _ = sets["train"]
    with warnings.catch_warnings(), _lightgbm_says_to_stderr(), \
            _lost_workers_stop(client, train_x):
        # lightgbm.dask names the settings Dask decides for itself
        warnings.filterwarnings("ignore", "Parameter .* will be ignored", UserWarning)
        # what DaskLGBMRanker.fit does, with the quiet ranker on the workers (a LightGBM
        # without this private method trains as its fit does, and may print its setup)
        quiet = getattr(model, "_lgb_dask_fit", None)
        if quiet is None:
            model.fit(train_x, train_y, group=train_g, categorical_feature=settings["categorical"])
        else:
            quiet(model_factory=_QuietRanker, X=train_x, y=train_y, group=train_g,
                  categorical_feature=settings["categorical"], eval_at=(1, 2, 3, 4, 5))
    booster = model.to_local().booster_
    rows = {which: s[3] if s is not None else 0 for which, s in sets.items()}
    partitions = sets["train"][0].npartitions
    del model, shipped, sets["train"], train_x, train_y, train_g
    bar.update(1)
    bar.set_postfix_str("validation")
    # Validation NDCG from the final booster on the workers' validation partitions:
    # LightGBM's own eval set on Dask is evaluated on one worker's share only.
    ndcg = _ndcg(client, booster, sets["valid"], settings["eval_at"])
    workers = max(1, len(client.scheduler_info()["workers"]))
    extra = {f"ndcg@{settings['eval_at']}_candidates": ndcg, "best_iteration": int(trees),
             "train_rows": rows["train"], "valid_rows": rows["valid"],
             "dask": {"workers": workers, "partitions": partitions,
                      "trees_from": settings["trees_from"]}}
    fitted = client.submit(_finished, prepared, frames, booster, recall, extra, log.catalog,
                           pure=False)
    summary = client.submit(_summary, fitted, frames, pure=False).result()
    bar.update(1)
    bar.close()
    return TrainedOnDask(client, fitted, frames, log.catalog, summary)


class _QuietRanker(lightgbm.LGBMRanker):
    """LightGBM's ranker, quiet in the thread that trains it: LightGBM's log level belongs to
    the thread, and its network setup (each worker's ports and rank, "[LightGBM] [Info]")
    runs before the training settings set it, so a worker thread that had not trained yet
    printed it whatever the verbosity. Reading settings of ``verbosity=-1`` first (a
    dataset of two rows) sets that thread's level; the training is the same. The thread
    LightGBM starts to listen for the other workers has a level of its own, which nothing
    sets: its one line a worker ("[LightGBM] [Info] Listening...") still shows."""

    def fit(self, *args, **kwargs):
        lightgbm.Dataset(np.zeros((2, 1)), label=np.zeros(2), params={"verbosity": -1}).construct()
        return super().fit(*args, **kwargs)


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
    """LightGBM's warnings on standard error. Its info (the workers' ports and ranks, which
    LightGBM's network setup prints whatever the verbosity) is dropped, and so are the
    settings lightgbm.dask decides for itself ("Parameter n_jobs will be ignored")."""

    def info(self, message: str) -> None:
        if "[Warning]" in message or "[Fatal]" in message:  # the library's own, through info
            self.warning(message)

    def warning(self, message: str) -> None:
        if not _IGNORED.search(message):
            print(message.rstrip("\n"), file=sys.stderr)


_IGNORED = re.compile(r"Parameter \S+ will be ignored")


#: LightGBM's socket time-out on the workers, in minutes (its default is 120): a worker
#: whose peer died waits this long inside LightGBM's network setup, which no cancel reaches.
NETWORK_MINUTES = 15


@contextlib.contextmanager
def _lost_workers_stop(client, data, every: float = 2.0):
    """While LightGBM trains across the workers that hold ``data`` (the training matrix):
    when one of them leaves (killed, out of memory), this fit's training tasks are cancelled,
    the other workers of the fit (held in LightGBM's network setup, which no cancel reaches)
    are restarted and a :class:`ClusterError` raised, instead of waiting for ever on a task
    bound to a worker that is gone. A LightGBM error with none of them gone is a
    :class:`ClusterError` too (a runtime failure, one sentence), and nothing is restarted."""
    import threading

    from distributed import futures_of

    from suggest.errors import ClusterError

    held = client.who_has(futures_of(data))
    mine = set().union(*map(set, held.values())) or set(client.scheduler_info()["workers"])
    before = set(client.futures)  # this fit's training tasks are the ones made from here on
    lost: set[str] = set()
    done = threading.Event()

    def gone() -> set[str]:
        return mine - set(client.scheduler_info()["workers"])

    def ours() -> list:
        from distributed import Future

        for _ in range(3):  # the client's own thread may change the dict meanwhile
            try:
                keys = list(client.futures)
                break
            except RuntimeError:
                continue
        else:
            return []
        return [Future(k, client) for k in keys if k not in before and "train_part" in str(k)]

    def watch() -> None:
        while not done.wait(every):
            try:
                left = gone()
            except Exception:  # a passing hiccup of the scheduler: ask again
                continue
            if left:
                lost.update(left)
                client.cancel(ours(), force=True)
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    except Exception as exc:
        from concurrent.futures import CancelledError

        done.set()
        watcher.join()
        if not isinstance(exc, (CancelledError, lightgbm.basic.LightGBMError)):
            raise
        try:
            lost.update(gone())
        except Exception:
            pass
        if not lost:
            raise ClusterError(f"LightGBM failed while training across the workers: "
                               f"{type(exc).__name__}: {str(exc)[:300]}",
                               hint="look at the workers' logs, then run the same command "
                                    "again") from None
        restarted = _restart(client, mine - lost)
        raise ClusterError(
            f"a Dask worker was lost while LightGBM trained across the workers: "
            f"{', '.join(sorted(lost))} left",
            hint="run the same command again; look at the workers' logs (memory limits?). "
                 + ("The other workers of the training, held in LightGBM's network setup, "
                    "were restarted" if restarted else
                    f"A worker left waiting in LightGBM's network setup frees itself after "
                    f"{NETWORK_MINUTES} minutes, or restart it")) from None
    finally:
        done.set()
        watcher.join()


def _restart(client, workers: set) -> bool:
    """Restart ``workers`` (through their nannies): a LightGBM task waiting for a lost peer
    holds its worker in C code that no cancel reaches. False when they cannot be (no nanny)."""
    if not workers:
        return False
    try:
        client.restart_workers(sorted(workers), timeout=60)
        return True
    except Exception:
        return False


def _trees_from_local_run(engine, requests, truth, catalog, sample: int) -> tuple[int, str]:
    """Best iteration of the local ranker (early stopping) on the latest ``sample`` requests."""
    if len(requests) > sample:
        if "timestamp" in requests.columns:
            kept = latest(requests["timestamp"], sample)
        else:
            kept = np.zeros(len(requests), bool)
            kept[np.random.default_rng(engine.seed).permutation(len(requests))[-sample:]] = True
        requests = requests[kept].reset_index(drop=True)
        truth = truth[isin(truth["request_id"], requests["request_id"])]
    probe = type(engine)(**engine.get_params()).fit(requests, truth, catalog)
    best = probe.validation_["best_iteration"]
    engine.objective_ = probe.objective_  # objective "auto": the one the local run kept
    return int(best), (f"local validation run on {len(requests):,} requests: best iteration {best}"
                       + (f", objective {probe.objective_}" if engine.objective == "auto" else ""))


def _prepared(engine, frames: dict, trees: int | None, sample: int, catalog) -> dict:
    """On that worker: a copy of ``engine`` prepared as local training prepares it, the number
    of trees (given, or from a local validation run), and the train / validation split."""
    engine = type(engine)(**engine.get_params())
    requests, truth = frames["requests"], frames["truth"]
    trees_from = "given"
    if trees is None:
        trees, trees_from = _trees_from_local_run(engine, requests, truth, catalog, sample)
    engine.prepare(requests, truth, catalog)
    held = engine.validation_mask(requests)
    engine._train_requests = int((~held).sum())
    # the validation mask, not copies of the two parts (as large as the requests): the
    # validation score slices them from the frames when the trees are grown
    return {"engine": engine, "trees": trees, "trees_from": trees_from, "held": held,
            "valid_positions": np.sort(frames["positions"][held])}


def _settings(prepared: dict) -> dict:
    """The DaskLGBMRanker's settings from the prepared engine (the local ones)."""
    from suggest.ranker.model import MAX_LABEL

    engine = prepared["engine"]
    names = engine.features_.lightgbm_names_
    extra = ({} if engine.truncation_level is None
             else {"lambdarank_truncation_level": engine.truncation_level})
    params = dict(n_estimators=prepared["trees"], learning_rate=engine.learning_rate,
                  objective=engine.lightgbm_params()["objective"],
                  colsample_bytree=engine.feature_fraction,
                  num_leaves=engine.leaves_for(engine._train_requests),
                  min_child_samples=engine.min_child_samples, random_state=engine.seed,
                  deterministic=True, force_row_wise=True, verbosity=-1,
                  label_gain=[float(2 ** g - 1) for g in range(MAX_LABEL + 1)], **extra)
    return {"params": params, "trees_from": prepared["trees_from"], "eval_at": engine.eval_at,
            "categorical": [names[engine.features_.names_.index(c)]
                            for c in engine.categorical_features()]}


def _bucket_matrix(engine, bucket: dict | None, masks, valid_positions: np.ndarray, valid: bool):
    """On the worker that holds a bucket: the matrix of its training (``valid`` False) or
    validation requests, as :func:`_partition_matrix` builds it."""
    if bucket is None:
        return None
    keep = train_mask(bucket, masks) & (np.isin(bucket["position"], valid_positions) == valid)
    requests = bucket["requests"][keep].reset_index(drop=True)
    if len(requests) == 0:
        return None
    if valid:
        requests = engine.validation_requests(requests)
    truth = bucket["truth"]
    return _partition_matrix(engine, requests, truth[isin(truth["request_id"], requests["request_id"])])


def _table(client, futures: list):
    """The partitions' matrices (futures of :func:`_partition_matrix`'s results, or None)
    as Dask collections ``((X, y, group sizes, rows) or None, candidate recall)``."""
    import dask.dataframe as dd

    stats = client.gather([client.submit(_stats, f, pure=False) for f in futures])
    hits, wanted = sum(s[0] for s in stats), sum(s[1] for s in stats)
    recall = float(hits / wanted) if wanted else float("nan")
    frames = [client.submit(operator.itemgetter(0), f, pure=False)
              for f, s in zip(futures, stats) if s[2]]  # LightGBM wants no empty partition
    rows = sum(s[2] for s in stats)
    del futures
    if not frames:
        return None, recall
    meta = client.submit(_empty, frames[0], pure=False).result()
    table = dd.from_delayed(frames, meta=meta, verify_meta=False)
    features = [c for c in meta.columns if c not in (LABEL, GROUP)]
    groups = table[GROUP].map_partitions(_group_sizes, meta=(GROUP, "int64"))
    return (table[features], table[LABEL], groups, int(rows)), recall


def _stats(built) -> tuple[int, int, int]:
    """(engaged pairs among the candidates, engaged pairs, matrix rows) of a partition."""
    return (0, 0, 0) if built is None else (built[1], built[2], len(built[0]))


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


def _finished(prepared: dict, frames: dict, booster, recall: dict, extra: dict, catalog):
    """On the engine's worker: the prepared engine with its booster, its validation scored
    as replay scores it and with the simple baselines (:meth:`RankerEngine.replay_score`)."""
    from suggest.ranker.model import held_part, scored_sample

    engine = prepared["engine"]
    engine.booster_, engine.candidate_recall_ = booster, recall
    requests, held = frames["requests"], prepared["held"]
    train = requests[~held].reset_index(drop=True)
    valid = engine.validation_requests(requests[held].reset_index(drop=True))
    # ranked as training built them, as local training ranks them: served afresh, a request
    # inside the fitted window would see its own engagements without time (every fold's
    # count), and take candidates from sources fitted on the whole window
    built = held_part(engine, scored_sample(valid)) if len(valid) else None
    engine.validation_ = {**engine.replay_score(valid, frames["truth"], train, catalog, built),
                          **extra,
                          "train_requests": int(len(train)), "valid_requests": int(len(valid)),
                          "split": engine.validation_how(train)}
    return engine


def _summary(engine, frames: dict) -> dict:
    return {"validation": engine.validation_, "candidate_recall": engine.candidate_recall_,
            "candidate_cap": engine.cap, "eval_at": engine.eval_at,
            "top_features": list(engine.manifest_importance(5)),
            "requests": len(frames["requests"]), "engagements": len(frames["truth"])}


def _save(engine, frames: dict, directory: str, catalog, dataset: dict | None) -> str:
    return str(engine.save(directory, frames["requests"], frames["truth"], catalog, dataset))


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
