"""A loaded log held by the workers of a Dask cluster (``replay`` and ``train`` with ``--dask``).

:func:`load_on_dask` reads and checks the log as ``data check --dask`` does
(:mod:`suggest.data.distributed`), and keeps, on the workers, each bucket's
Requests, Truth and Events frames: the frames of a local load
(:func:`suggest.data.load.load`), with the same request ids, cut by request key.
Each request also gets its place in the log (``position``: 0 to requests - 1, its
row in the local Requests frame), computed without the client ever holding the
requests:

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
from suggest.data.distributed import _SPAN, _load
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
    report, target, by_bucket = _load(ds, client, rejects_dir, buckets, progress, keep=True)
    frames = [client.submit(dict.get, b, "frames", pure=False) for b in by_bucket]
    pieces = 1 + max(client.gather([client.submit(_last_piece, f, pure=False) for f in frames]))
    ranges = len(frames)
    bounds = np.array([r * pieces // ranges for r in range(1, ranges)], dtype=np.int64) * _SPAN
    cut = [client.submit(_cut, f, bounds, pure=False) for f in frames]
    ranked = [client.submit(_ranked, *[client.submit(operator.getitem, c, r, pure=False)
                                       for c in cut], pure=False) for r in range(ranges)]
    counts = client.gather([client.submit(_count, r, pure=False) for r in ranked])
    offsets = np.concatenate(([0], np.cumsum(counts)[:-1]))
    total = int(sum(counts))
    numbered = [client.submit(_numbered, f, ds.request is None, len(str(total)), offsets,
                              *[client.submit(_of_bucket, r, b, pure=False) for r in ranked],
                              pure=False)
                for b, f in enumerate(frames)]
    client.gather(numbered[:0] + [client.submit(bool, n, pure=False) for n in numbered])
    context = {c: t for c, t in report.schema.items() if c not in attribute_columns(ds)}
    catalog = _catalog(ds, client, by_bucket, report)
    columns = next(c for c in client.gather([client.submit(_columns, n, pure=False)
                                             for n in numbered]) if c)
    return DaskLog(ds, client, numbered, report, catalog, context, target, total, columns)


def _columns(bucket: dict | None) -> list[str]:
    return list(bucket["requests"].columns) if bucket else []


def _last_piece(frames: dict | None) -> int:
    order = _places(frames)
    return int(order[-1] // _SPAN) if len(order) else 0


def _places(frames: dict | None) -> np.ndarray:
    """A bucket's requests' places (none for a bucket no request fell in)."""
    return frames["order"] if frames else np.zeros(0, np.int64)


def _cut(frames: dict | None, bounds: np.ndarray) -> list[np.ndarray]:
    """The bucket's places (sorted) cut at ``bounds``: one array per range of pieces."""
    return np.split(_places(frames), np.searchsorted(_places(frames), bounds))


def _count(ranked: list[np.ndarray]) -> int:
    return sum(len(r) for r in ranked)


def _ranked(*places: np.ndarray) -> list[np.ndarray]:
    """Every bucket's places in one range, ranked among them all: one array per bucket."""
    every = np.concatenate(places)
    rank = np.empty(len(every), dtype=np.int64)
    rank[np.argsort(every, kind="stable")] = np.arange(len(every))
    return np.split(rank, np.cumsum([len(p) for p in places])[:-1])


def _of_bucket(ranked: list[np.ndarray], b: int) -> np.ndarray:
    return ranked[b]


def _numbered(frames: dict | None, rename: bool, width: int, offsets: np.ndarray,
               *ranks: np.ndarray) -> dict | None:
    """The bucket's frames with each request's position, and without a request column its
    request ids renamed as a local load names them (None for an empty bucket)."""
    if not frames:
        return None
    position = np.concatenate([r + o for r, o in zip(ranks, offsets)]) if ranks else \
        np.zeros(0, np.int64)
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


def _catalog(ds: Dataset, client, by_bucket: list, report: LoadReport) -> pd.DataFrame:
    """The Catalog frame of a local load: the catalog file's rows and, after them, the log's
    items it does not list (in the order they first appear); or, when the log holds the item
    attributes, each item's first present value of each, by item."""
    from suggest.data.distributed import _distinct

    items = client.submit(_distinct, *by_bucket, pure=False).result()["items"]
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
