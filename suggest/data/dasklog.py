"""A loaded log held by the workers of a Dask cluster (``replay`` and ``train`` with ``--dask``).

:func:`load_on_dask` reads and checks the log as ``data check --dask`` does
(:mod:`suggest.data.distributed`), and keeps, on the workers, each bucket's
Requests, Truth and Events frames: the frames of a local load
(:func:`suggest.data.load.load`), with the same request ids, cut by request key.
Each request also gets its place in the log (``position``: 0 to requests - 1, its
row in the local Requests frame), computed without the client ever holding the
requests (:func:`rank_across`):

1. each bucket cuts its requests' places (piece and line of a request's first
   row; the bucket holds them sorted) into ranges of pieces;
2. one task per range ranks the places of every bucket in that range;
3. each bucket adds the ranges' offsets (the client sums one count per range).

Without a request column a request is named by its position, as a local load
names it (``r`` and the number, zero-padded to the width of the count).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from suggest.data.description import Dataset
from suggest.data.distributed import SPAN, load_buckets
from suggest.data.load import LoadReport, attribute_columns, catalog_of


@dataclass
class DaskLog:
    """A log on the workers: per bucket, a future of ``{"requests", "truth", "events",
    "position", "order"}`` (``position``: each request's row in the local Requests frame;
    ``order``: for each frame, the place in the log of the row each of its rows comes
    from, which orders the local frame); ``columns``: the Requests frame's columns."""

    dataset: Dataset
    client: object
    buckets: list
    report: LoadReport
    catalog: pd.DataFrame
    context: dict[str, str]
    rejects: Path | None
    requests: int
    columns: list[str]

    @property
    def has_time(self) -> bool:
        return bool(self.dataset.time)

    def categorical_values(self) -> dict[str, set[str]]:
        """The values of each categorical context column, as text (as ``Log``'s)."""
        columns = [c for c, kind in self.context.items() if kind == "categorical"]
        parts = self.client.gather([self.client.submit(_values, b, columns, pure=False)
                                    for b in self.buckets])
        return {c: set().union(*(p[c] for p in parts if p)) for c in columns}

    def empty_requests(self) -> pd.DataFrame:
        """The Requests frame's columns and types, without rows."""
        return next(f for f in self.client.gather([self.client.submit(_no_rows, b, pure=False)
                                                   for b in self.buckets]) if f is not None)

    def gathered(self, name: str) -> pd.DataFrame:
        """One frame of every bucket, brought to the client in the log's order (what a
        local load gives): for tests and small logs only."""
        parts = self.client.gather([self.client.submit(_frame_in_order, b, name, pure=False)
                                    for b in self.buckets])
        frame = pd.concat([p for p in parts if p is not None], ignore_index=True)
        return frame.sort_values("_position", kind="stable").drop(columns="_position") \
            .reset_index(drop=True)


def load_on_dask(ds: Dataset, client, rejects_dir: str | Path, buckets: int | None = None,
                 progress: bool = False) -> DaskLog:
    """Read and check the log of ``ds`` on the cluster of ``client`` and keep its frames
    there; rejected rows go to ``rejects_dir`` as with ``data check --dask``."""
    report, target, by_bucket, items = load_buckets(ds, client, rejects_dir, buckets, progress,
                                                    keep=True)
    frames = [client.submit(dict.get, b, "frames", pure=False) for b in by_bucket]
    places = [client.submit(_places, f, pure=False) for f in frames]
    pieces = 1 + max(client.gather([client.submit(_last_piece, p, pure=False) for p in places]))
    ranges = len(frames)
    bounds = np.array([r * pieces // ranges for r in range(1, ranges)], dtype=np.int64) * SPAN
    ranks, total = rank_across(client, places, bounds)
    numbered = [client.submit(_numbered, f, ds.request is None, len(str(total)), r, pure=False)
                for f, r in zip(frames, ranks)]
    client.gather(numbered[:0] + [client.submit(bool, n, pure=False) for n in numbered])
    context = {c: t for c, t in report.schema.items() if c not in attribute_columns(ds)}
    catalog = _catalog(ds, client, by_bucket, items)
    columns = next(c for c in client.gather([client.submit(_columns, n, pure=False)
                                             for n in numbered]) if c)
    return DaskLog(ds, client, numbered, report, catalog, context, target, total, columns)


def _no_rows(bucket: dict | None) -> pd.DataFrame | None:
    return bucket["requests"].iloc[:0] if bucket else None


def _values(bucket: dict | None, columns: list[str]) -> dict | None:
    if bucket is None:
        return None
    return {c: set(bucket["requests"][c].dropna().astype(str).unique()) for c in columns}


def _columns(bucket: dict | None) -> list[str]:
    return list(bucket["requests"].columns) if bucket else []


def rank_across(client, keys: list, bounds: np.ndarray) -> tuple[list, int]:
    """Each key's rank among the keys of every bucket (``keys``: futures of each bucket's
    sorted int64 keys, all distinct), without one process holding them all: the keys are
    cut at ``bounds`` into ranges, one task ranks each range's keys of every bucket, and
    each bucket adds its ranges' offsets (the client sums one count per range).
    ``(futures of each bucket's ranks, number of keys)``."""
    cut = [client.submit(_cut, k, bounds, pure=False) for k in keys]
    ranked = [client.submit(_ranked, *[client.submit(operator.getitem, c, r, pure=False)
                                       for c in cut], pure=False) for r in range(len(bounds) + 1)]
    counts = client.gather([client.submit(_count, r, pure=False) for r in ranked])
    offsets = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
    ranks = [client.submit(_offset_ranks, offsets,
                           *[client.submit(_of_bucket, r, b, pure=False) for r in ranked],
                           pure=False) for b in range(len(keys))]
    return ranks, int(sum(counts))


def _last_piece(places: np.ndarray) -> int:
    return int(places[-1] // SPAN) if len(places) else 0


def _places(frames: dict | None) -> np.ndarray:
    """A bucket's requests' places (none for a bucket no request fell in)."""
    return frames["order"] if frames else np.zeros(0, np.int64)


def _cut(keys: np.ndarray, bounds: np.ndarray) -> list[np.ndarray]:
    """A bucket's sorted keys cut at ``bounds``: one array per range."""
    return np.split(keys, np.searchsorted(keys, bounds))


def _count(ranked: list[np.ndarray]) -> int:
    return sum(len(r) for r in ranked)


def _ranked(*keys: np.ndarray) -> list[np.ndarray]:
    """Every bucket's keys in one range, ranked among them all: one array per bucket."""
    every = np.concatenate(keys)
    rank = np.empty(len(every), dtype=np.int64)
    rank[np.argsort(every, kind="stable")] = np.arange(len(every))
    return np.split(rank, np.cumsum([len(k) for k in keys])[:-1])


def _of_bucket(ranked: list[np.ndarray], b: int) -> np.ndarray:
    return ranked[b]


def _offset_ranks(offsets: np.ndarray, *ranks: np.ndarray) -> np.ndarray:
    """A bucket's ranks over the whole: each range's ranks plus the keys of the ranges before
    (the bucket's keys are sorted, so its ranges follow one another)."""
    return np.concatenate([r + o for r, o in zip(ranks, offsets)]) if ranks else \
        np.zeros(0, np.int64)


def _numbered(frames: dict | None, rename: bool, width: int, position: np.ndarray) -> dict | None:
    """The bucket's frames with each request's position, and without a request column its
    request ids renamed as a local load names them (None for an empty bucket)."""
    if not frames:
        return None
    requests, truth, events = frames["requests"], frames["truth"], frames["events"]
    if rename:
        ids = pd.Series(position + 1).astype(str).str.zfill(width).radd("r").to_numpy(dtype=object)
        lookup = pd.Index(requests["request_id"])
        requests = requests.assign(request_id=ids)
        truth = truth.assign(request_id=ids[lookup.get_indexer(truth["request_id"])])
        events = events.assign(request_id=ids[lookup.get_indexer(events["request_id"])])
    return {"requests": requests, "truth": truth, "events": events, "position": position,
            "order": {"requests": frames["order"], "truth": frames["truth_order"],
                      "events": frames["events_order"]}}


def _frame_in_order(bucket: dict | None, name: str) -> pd.DataFrame | None:
    """One frame of a bucket with ``_position``, the place in the log of the row each of
    its rows comes from, to sort by."""
    if bucket is None:
        return None
    return bucket[name].assign(_position=bucket["order"][name])


def _catalog(ds: Dataset, client, by_bucket: list, items: np.ndarray) -> pd.DataFrame:
    """The Catalog frame of a local load: the catalog file's rows and, after them, the log's
    items it does not list (in the order they first appear); or, when the log holds the item
    attributes, each item's first present value of each, by item."""
    if ds.catalog is None:  # the log's items, in the order they first appear
        return pd.DataFrame({"item_id": pd.Series(items, dtype=object)})
    if ds.catalog.path is not None:
        catalog, _ = catalog_of(ds, pd.DataFrame(), LoadReport(source=str(ds.log)))
        extra = pd.DataFrame({"item_id": [i for i in items if i not in set(catalog["item_id"])]})
        return pd.concat([catalog, extra], ignore_index=True) if len(extra) else catalog
    pieces = client.gather([client.submit(dict.get, b, "catalog", pure=False)
                            for b in by_bucket])
    catalog = pd.DataFrame({"item_id": sorted(items)})
    for attribute in attribute_columns(ds):
        firsts = pd.concat([p[attribute] for p in pieces if p], ignore_index=True)
        firsts = firsts.sort_values("order", kind="stable").drop_duplicates("item_id")
        catalog[attribute] = catalog["item_id"].map(firsts.set_index("item_id")["value"])
    return catalog


def shipped(client, value):
    """``value`` on the cluster as a task's result, not scattered: a worker that holds it
    and dies is replaced and the value made again, where scattered data would be lost.
    Each worker fetches it once, for all the tasks it runs."""
    return client.submit(_same, value, pure=False)


def _same(value):
    return value


def in_order(frames: list, key: str) -> pd.DataFrame:
    """Pieces from the buckets as one frame in the log's order, without the ordering column."""
    frames = [f for f in frames if f is not None]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=[key])
    return frame.sort_values(key, kind="stable").drop(columns=key).reset_index(drop=True)
