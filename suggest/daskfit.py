"""Engines fitted on the training part of a log held by Dask workers.

An engine that learns from counts (:meth:`suggest.engines.base.BaseEngine.counts`:
popular, context-popular, random, the rules engine) is fitted without any
process holding the log: each bucket counts its training requests' engagements,
one worker adds the buckets' counts up (:func:`~suggest.engines.base.add_counts`),
and the client fits the engine from the sum, which is as large as the catalog (or
the context slices times the items), not as the log. The engine is the one
``fit`` gives on the same training part on one machine.

>>> from suggest.engines.baselines import Popular
>>> fitted = fit_on_dask(Popular(), log, part)       # doctest: +SKIP
"""

from __future__ import annotations

import pandas as pd

from suggest.engines.base import add_counts, learns_from_counts
from suggest.errors import SuggestError


def fit_on_dask(engine, log, part):
    """Fit ``engine`` on the training requests of ``part`` (a :class:`~suggest.dasksplit.DaskSplit`
    of the DaskLog ``log``) from counts added up on the workers.

    Raises
    ------
    SuggestError
        For an engine that learns from whole frames (the ranker, user history).
    """
    client = log.client
    if not learns_from_counts(engine):
        raise SuggestError(f"the {engine.name} engine learns from whole frames, not counts: it "
                           "cannot be fitted on a log the workers hold yet")
    counts = [client.submit(_counts, engine, b, m, pure=False)
              for b, m in zip(log.buckets, part.masks)]
    total = client.submit(_added, *counts, pure=False).result()
    empty = next(f for f in client.gather([client.submit(_no_rows, b, pure=False)
                                           for b in log.buckets]) if f is not None)
    return engine.fit_counts(total, empty, log.catalog)


def _no_rows(bucket: dict | None) -> pd.DataFrame | None:
    return bucket["requests"].iloc[:0] if bucket else None


def _counts(engine, bucket: dict | None, masks) -> pd.Series | None:
    if bucket is None:
        return None
    train = bucket["requests"][masks[0]]
    truth = bucket["truth"][bucket["truth"]["request_id"].isin(train["request_id"])]
    return engine.counts(train, truth)


def _added(*counts: pd.Series | None) -> pd.Series:
    return add_counts([c for c in counts if c is not None])
