"""Engines fitted on the training part of a log held by Dask workers.

An engine that learns from whole frames (the ranker, the hybrid) is fitted by
:func:`fit_on_worker`: the training part's requests and engagements are
brought together, in the log's order, on one worker (:func:`training_frames`), which
fits the engine with its own ``fit``, so it is the engine local fitting gives. It
stays on that worker: the client holds a :class:`RemoteEngine`, which the replay's
chunks resolve to the engine on their workers, and which answers the few questions a
replay asks the client (a sample's suggestions and explanations, one-context latency,
the ranker's card) by a task on the engine's worker.

An engine that learns from counts (:meth:`suggest.engines.base.BaseEngine.counts`:
popular, context-popular, random, the rules engine) is fitted without any
process holding the log: each bucket counts its training requests' engagements,
one worker adds the buckets' counts up (:func:`~suggest.engines.base.add_counts`),
and the client fits the engine from the sum, which is as large as the catalog (or
the context slices times the items), not as the log. The engine is the one
``fit`` gives on the same training part on one machine; so is its zone (the one every
training request is in, read by one-context suggestions), from the buckets' zones.

User history learns from its engagements alone (user, item and time:
:meth:`UserHistory.events <suggest.engines.baselines.UserHistory.events>`, which are its
state): each bucket sends those three columns of its training engagements, and one
worker puts them in the log's order and fits the engine there, without the training
frames (a RemoteEngine, as above).

>>> from suggest.engines.baselines import Popular
>>> fitted = fit_on_dask(Popular(), log, part)       # doctest: +SKIP
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd

from suggest.engines.base import (add_counts, adopt_fitted, learns_from_counts, learns_from_events,
                                  single_zone)
from suggest.errors import SuggestError
from suggest.ids import isin


def fit_on_dask(engine, log, part):
    """Fit ``engine`` on the training requests of ``part`` (a :class:`~suggest.dasksplit.DaskSplit`
    of the DaskLog ``log``) from what the workers send: the counts of an engine that learns
    from counts, added up (the engine is the client's); the engagements of user history,
    put in the log's order on one worker, which fits the engine and keeps it (a
    :class:`RemoteEngine`).

    Raises
    ------
    SuggestError
        For an engine that learns from whole frames (the ranker): see :func:`fit_on_worker`.
    """
    client = log.client
    zone = client.submit(_one_zone, *[client.submit(_zones, b, m, pure=False)
                                      for b, m in zip(log.buckets, part.masks)], pure=False)
    if learns_from_events(engine):
        events = [client.submit(_events, engine, b, m, pure=False)
                  for b, m in zip(log.buckets, part.masks)]
        return RemoteEngine(client, _waited(client.submit(
            _from_events, engine, log.empty_requests(), zone, *events, pure=False)), engine)
    if not learns_from_counts(engine):
        raise SuggestError(f"the {engine.name} engine learns from whole frames, not counts: "
                           "fit it with fit_on_worker")
    counts = [client.submit(_counts, engine, b, m, pure=False)
              for b, m in zip(log.buckets, part.masks)]
    total = client.submit(_added, *counts, pure=False).result()
    fitted = engine.fit_counts(total, log.empty_requests(), log.catalog)
    fitted.zone_ = zone.result()  # as a local fit finds it on the training requests
    return fitted


def _training_part(bucket: dict, masks) -> tuple[pd.DataFrame, np.ndarray]:
    """A bucket's training requests, and which of its Truth rows are theirs."""
    train = bucket["requests"][masks[0]]
    return train, isin(bucket["truth"]["request_id"], train["request_id"])


def _counts(engine, bucket: dict | None, masks) -> pd.Series | None:
    if bucket is None:
        return None
    train, theirs = _training_part(bucket, masks)
    return engine.counts(train, bucket["truth"][theirs])


def _zones(bucket: dict | None, masks) -> set:
    if bucket is None or "timezone" not in bucket["requests"].columns:
        return set()
    return set(bucket["requests"]["timezone"][masks[0]].dropna().astype(str).unique())


def _one_zone(*zones: set) -> str | None:
    """The one zone every training request is in (:func:`~suggest.engines.base.single_zone`
    of the buckets' distinct zones), or None."""
    return single_zone(pd.DataFrame({"timezone": sorted(set().union(*zones))}))


def _events(engine, bucket: dict | None, masks) -> pd.DataFrame | None:
    """A bucket's training engagements as ``engine.events`` gives them, with ``_order``,
    their row in the local Truth frame."""
    if bucket is None:
        return None
    train, theirs = _training_part(bucket, masks)
    truth = bucket["truth"][theirs]
    events = engine.events(train, truth)
    if len(events) != len(truth):  # events are one a Truth row, in its order
        raise RuntimeError(f"{type(engine).__name__}.events gave {len(events)} rows for "
                           f"{len(truth)} engagements")
    return events.assign(_order=bucket["order"]["truth"][theirs])


def _from_events(engine, requests: pd.DataFrame, zone: str | None, *pieces):
    """On one worker: ``engine`` fitted from the buckets' events in the log's order."""
    from suggest.data.dasklog import in_order

    fitted = copy.deepcopy(engine).fit_events(in_order(list(pieces), "_order"), requests)
    fitted.zone_ = zone
    return fitted


def _added(*counts: pd.Series | None) -> pd.Series:
    return add_counts([c for c in counts if c is not None])


def training_frames(log, part=None):
    """A future of the training part of ``log`` (a DaskLog; all its requests, or those
    ``part``, a DaskSplit, trains on) brought together on one worker:
    ``{"requests", "truth", "positions"}``, the frames the local split's training part
    holds, in the same order, and each request's row in the log's Requests frame."""
    client = log.client
    masks = part.masks if part is not None else [None] * len(log.buckets)
    return client.submit(_training_frames, *[client.submit(_training_piece, b, m, pure=False)
                                             for b, m in zip(log.buckets, masks)], pure=False)


def fit_on_worker(engine, log, part=None) -> "RemoteEngine":
    """Fit ``engine`` (it is not changed) with its own ``fit`` on the training part of
    ``log``, on the worker that :func:`training_frames` brings it to; the engine local
    fitting gives, held there."""
    frames = training_frames(log, part)
    fitted = _waited(log.client.submit(_fitted, engine, frames, log.catalog, pure=False))
    return RemoteEngine(log.client, fitted, engine)


def _waited(future):
    """``future`` once its task has run (its result left on the worker); its error raised."""
    from distributed import wait

    wait(future)
    if future.status == "error":
        future.result()  # raises the task's error here
    return future


def load_on_worker(client, directory, explain: bool | None = None) -> "RemoteEngine":
    """A trained model folder loaded on a worker (:meth:`RankerEngine.load
    <suggest.ranker.RankerEngine.load>`, which reads the statistics the folder stores)
    and left there, its ``explain`` set when given; its manifest,
    settings and the ids of the requests it was trained on (a future, for replay's check)
    are the client's."""
    # absolute: the worker reads the folder, and its current folder is not the client's
    model = _waited(client.submit(_loaded, str(Path(directory).absolute()), explain, pure=False))
    remote = RemoteEngine(client, model, client.submit(_unfitted, model, pure=False).result())
    remote.manifest_ = remote.ask(getattr, "manifest_")
    remote.trained_on_ = client.submit(getattr, model, "trained_on_", pure=False)
    return remote


def hybrid_on_worker(remote: "RemoteEngine", source: str) -> "RemoteEngine":
    """The hybrid of the model ``remote`` holds (:meth:`HybridEngine.of
    <suggest.ranker.HybridEngine.of>`), made on its worker from the loaded model, not
    loaded again."""
    from suggest.ranker.model import HybridEngine

    client = remote.client
    model = _waited(client.submit(HybridEngine.of, remote.future, source, pure=False))
    hybrid = RemoteEngine(client, model, client.submit(_unfitted, model, pure=False).result())
    hybrid.manifest_, hybrid.trained_on_ = remote.manifest_, remote.trained_on_
    hybrid.explain = remote.explain
    return hybrid


class RemoteEngine:
    """A fitted engine held by a Dask worker (see the module docstring). ``future`` is the
    engine; ``template`` the unfitted engine it was fitted from (its name and settings);
    ``explain`` is passed to the engine for :meth:`suggest`."""

    def __init__(self, client, future, template):
        self.client, self.future, self.template = client, future, template
        self.name = template.name
        self.explain = getattr(template, "explain", None)

    def get_params(self) -> dict:
        return self.template.get_params()

    def suggest(self, requests: pd.DataFrame, k: int) -> pd.DataFrame:
        """The engine's suggestions for a few ``requests`` (sent to its worker)."""
        return self.client.submit(_suggested, self.future, requests, k, self.explain,
                                  pure=False).result()

    def ask(self, fn, *args):
        """``fn(engine, *args)`` on the engine's worker."""
        return self.client.submit(fn, self.future, *args, pure=False).result()

    def twin(self, engine) -> "RemoteEngine":
        """``engine`` (another class with the same settings, e.g. the hybrid of this
        ranker) with this engine's fitted state, made on its worker."""
        return RemoteEngine(self.client, self.client.submit(_twin, self.future, engine,
                                                            pure=False), engine)


def train_mask(bucket: dict, masks) -> np.ndarray:
    """A bucket's training requests: the split's train mask, or all when ``masks`` is None."""
    return masks[0] if masks is not None else np.ones(len(bucket["requests"]), bool)


def _training_piece(bucket: dict | None, masks):
    """On a worker: a bucket's training requests (with ``_position``, their row in the
    local Requests frame) and their engagements (with ``_order``, their row in the local
    Truth frame); all the bucket's requests when ``masks`` is None."""
    if bucket is None:
        return None
    keep = train_mask(bucket, masks)
    rows = bucket["requests"][keep].assign(_position=bucket["position"][keep])
    truth = bucket["truth"].assign(_order=bucket["order"]["truth"])
    return rows, truth[isin(truth["request_id"], rows["request_id"])]


def _training_frames(*pieces) -> dict:
    """On one worker: the training part's Requests and Truth frames in the log's order (the
    local training part's) and each request's position."""
    from suggest.data.dasklog import in_order

    pieces = [p for p in pieces if p is not None]
    requests = pd.concat([p[0] for p in pieces], ignore_index=True)
    requests = requests.sort_values("_position", kind="stable").reset_index(drop=True)
    positions = requests.pop("_position").to_numpy(dtype=np.int64)
    return {"requests": requests, "truth": in_order([p[1] for p in pieces], "_order"),
            "positions": positions}


def _loaded(directory: str, explain: bool | None):
    from suggest.ranker.artifact import load

    model = load(directory)
    if explain is not None:
        model.explain = explain
    return model


def _unfitted(engine):
    return type(engine)(**engine.get_params())


def _fitted(engine, frames: dict, catalog):
    return copy.deepcopy(engine).fit(frames["requests"], frames["truth"], catalog)


def _suggested(engine, requests: pd.DataFrame, k: int, explain):
    if explain is not None and getattr(engine, "explain", None) != explain:
        engine = copy.copy(engine)  # the worker's engine serves the chunks as it is
        engine.explain = explain
    return engine.suggest(requests, k)


def _twin(fitted, engine):
    return adopt_fitted(copy.deepcopy(engine), fitted)
