"""The held-out part of a log the Dask workers hold, as a replay asks for it.

:class:`DaskHeldOut` answers what :class:`suggest.replay.LocalHeldOut` answers from
frames in memory, so :func:`suggest.replay.replay` runs the same steps on either:

* the split is :func:`suggest.dasksplit.split_on_dask` (the local split's requests);
* each held-out request gets its place in the test part (its rank among the test
  requests in the log's order, :func:`suggest.data.dasklog.rank_across`), so chunk
  ``c`` is the test part's requests ``c * size`` to ``(c + 1) * size`` as on one
  machine: a chunk task takes its requests and their truth from every bucket, puts
  them in the log's order and scores them with the engines, which are sent to each
  worker once;
* the engines are fitted by :func:`suggest.daskfit.fit_on_dask` (the ones that learn
  from counts, and user history from its engagements), the others on one worker;
* the sampled rows (latency, explanations) and the rules' firing counts come from
  the buckets; the held-out truth is written chunk by chunk.

The client holds a chunk's results at a time, the engines and the summary's running
totals, never the log.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from suggest.dasksplit import split_on_dask
from suggest.engines.base import learns_from_counts, learns_from_events
from suggest.daskfit import fit_on_dask, fit_on_worker
from suggest.data.dasklog import in_order, rank_across, shipped
from suggest.ids import isin
from suggest.parallel import task_error


class DaskHeldOut:
    """The held-out part of a :class:`~suggest.data.dasklog.DaskLog` (see the module)."""

    def __init__(self, log, test_share: float, seed: int, split_by: str, gap, chunk_size: int):
        self.log, self.size = log, chunk_size
        client = self.client = log.client
        part = self.part = split_on_dask(log, test_share, seed, how=split_by, gap=gap)
        self.how, self.kind, self.left_out, self.leakage = (part.how, part.kind, part.left_out,
                                                            part.leakage)
        self.train_requests, self.test_requests = part.train, part.test
        self.requests = log.requests
        self.truth = sum(client.gather([client.submit(_truth_rows, b, pure=False)
                                        for b in log.buckets]))
        self.columns = list(log.columns)
        self.catalog_items = log.catalog["item_id"]
        places = [client.submit(_test_places, b, m, pure=False)
                  for b, m in zip(log.buckets, part.masks)]
        ranges = len(places)
        bounds = np.array([r * log.requests // ranges for r in range(1, ranges)], dtype=np.int64)
        ranks, _ = rank_across(client, places, bounds)
        # each bucket's held-out requests and their truth, in rank order, once: a chunk then
        # slices them instead of going over the whole bucket
        returning = returning_on_dask(log, part)
        self.tests = [client.submit(_test_part, b, m, r, f, pure=False)
                      for b, m, r, f in zip(log.buckets, part.masks, ranks, returning)]

    def _each(self, fn, *args) -> list:
        """``fn(bucket's test part, *args)`` on every bucket, gathered."""
        client = self.client
        return client.gather([client.submit(fn, t, *args, pure=False) for t in self.tests])

    def data_digest(self) -> str:
        """The log's content as one process digests it: the buckets' sums added up."""
        from suggest.replay import digest_text

        client = self.client
        sums = client.gather([client.submit(_digest, b, pure=False) for b in self.log.buckets])
        return digest_text(np.sum(sums, axis=0, dtype=np.uint64) if sums else np.zeros(2, np.uint64),
                           self.log.catalog)

    def overlap(self, ids: set) -> int:
        return sum(self._each(_seen, shipped(self.client, ids)))

    def fit(self, engine, catalog):
        """An engine that learns from counts fitted from the buckets' counts, user history
        from their engagements (:func:`~suggest.daskfit.fit_on_dask`); one that learns from
        whole frames fitted on one worker (a RemoteEngine); a trained model (``--model``)
        as it is."""
        if learns_from_counts(engine) or learns_from_events(engine):
            return fit_on_dask(engine, self.log, self.part)
        if hasattr(engine, "engine"):
            return engine.fit()
        return fit_on_worker(engine, self.log, self.part)

    def chunks(self, runner, fn, shared, todo: list[int]):
        """``(c, fn(shared, chunk c, its truth))`` for every chunk in ``todo``, as they
        finish, a few in flight; ``runner`` is not used: the chunks run where the log is."""
        from distributed import as_completed

        client = self.client
        # an engine a worker holds travels as its future: each chunk's worker fetches it
        sent = shipped(client, {name: getattr(e, "future", e) for name, e in shared.items()})
        in_flight = 2 * max(len(client.scheduler_info()["workers"]), 1)
        waiting = list(todo)

        def submit(c: int):
            pieces = [client.submit(_piece, t, c * self.size, (c + 1) * self.size, pure=False)
                      for t in self.tests]
            future = client.submit(_scored, fn, sent, *pieces, pure=False)
            future.chunk = c
            return future

        running = as_completed([submit(waiting.pop(0)) for _ in range(min(in_flight, len(waiting)))])
        for future in running:
            try:
                result = future.result()
            except Exception as exc:  # workers that died: a cluster failure, said in a sentence
                raise task_error(exc, future.chunk) from None
            if waiting:
                running.add(submit(waiting.pop(0)))
            yield future.chunk, result

    def write_test_truth(self, path) -> None:
        """The held-out truth, chunk after chunk (each in the log's order), as one file
        written a chunk at a time."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from suggest.files import write_atomic

        def write(partial):
            writer = None
            for c in range(max(1, -(-self.test_requests // self.size))):
                pieces = self._each(_piece, c * self.size, (c + 1) * self.size)
                truth = in_order([t for _, t, _ in pieces], "_order")
                table = pa.Table.from_pandas(truth.astype({"request_id": str, "item_id": str}),
                                             preserve_index=False)
                writer = writer or pq.ParquetWriter(partial, table.schema)
                writer.write_table(table)
            writer.close()

        write_atomic(path, write)

    def item_counts(self) -> pd.Series:
        from suggest.engines.base import add_counts

        client = self.client
        return add_counts(client.gather([client.submit(_train_item_counts, b, m, pure=False)
                                         for b, m in zip(self.log.buckets, self.part.masks)]))

    def test_rows(self, at: np.ndarray) -> pd.DataFrame:
        """The held-out requests at these places of the test part, in that order."""
        rows = in_order(self._each(_at_ranks, np.asarray(at, dtype=np.int64)), "_rank")
        return rows.set_index(pd.Index(np.asarray(at)))

    def with_ids(self, ids) -> pd.DataFrame:
        return in_order(self._each(_with_ids, set(ids)), "_rank")

    def fired(self, engine) -> np.ndarray:
        fired = [f for f in self._each(_fired, shipped(self.client, engine)) if f is not None]
        return np.sum(fired, axis=0)

    def shown_parts(self) -> tuple[pd.DataFrame, pd.DataFrame] | None:
        """As :meth:`suggest.replay.LocalHeldOut.shown_parts`: each bucket adds up its
        training part's reward sums, and the held-out shown rows come back in the log's
        order (the estimates need them per request: as many rows as the held-out part's
        suggestions, which the client reads too)."""
        if not self.log.report.shown:
            return None
        client = self.client
        parts = client.gather([client.submit(_shown_parts, b, m, pure=False)
                               for b, m in zip(self.log.buckets, self.part.masks)])
        parts = [p for p in parts if p is not None]
        return (pd.concat([s for s, _ in parts], ignore_index=True),
                in_order([t for _, t in parts], "_order"))

    def train_window(self) -> tuple[int, list[str] | None]:
        """The training requests and their first and last time (None without time)."""
        if "timestamp" not in self.columns or not self.train_requests:
            return self.train_requests, None
        ends = [e for e in self.client.gather([
            self.client.submit(_train_ends, b, m, pure=False)
            for b, m in zip(self.log.buckets, self.part.masks)]) if e is not None]
        return self.train_requests, [str(min(e[0] for e in ends)), str(max(e[1] for e in ends))]


def _digest(bucket: dict | None) -> np.ndarray:
    from suggest.replay import data_digest

    return data_digest(bucket["requests"], bucket["truth"]) if bucket else np.zeros(2, np.uint64)


def _truth_rows(bucket: dict | None) -> int:
    return len(bucket["truth"]) if bucket else 0


def _test_places(bucket: dict | None, masks) -> np.ndarray:
    """The bucket's held-out requests' places in the log (sorted: the bucket is in order)."""
    return bucket["position"][masks[1]] if bucket else np.zeros(0, np.int64)


def _test_part(bucket: dict | None, masks, ranks: np.ndarray, returning: np.ndarray):
    """The bucket's held-out requests with their rank in the test part (``_rank``; they are in
    rank order, as the bucket is in the log's order), their truth with its order in the log
    (``_order``) and its request's rank, sorted by that rank, and whether each request's user
    is returning (:func:`returning_on_dask`); None for an empty bucket."""
    if bucket is None:
        return None
    rows = bucket["requests"][masks[1]].assign(_rank=ranks)
    truth = bucket["truth"].assign(_order=bucket["order"]["truth"])
    at = pd.Index(rows["request_id"]).get_indexer(truth["request_id"])
    truth = truth[at >= 0].assign(_request_rank=ranks[at[at >= 0]])
    return rows, truth.sort_values("_request_rank", kind="stable"), returning


def _piece(test, lo: int, hi: int):
    """A bucket's held-out requests of ranks ``lo`` to ``hi`` and their truth, each with its
    order (``_rank``, ``_order``)."""
    if test is None:
        return None, None, None
    rows, truth, returning = test
    start, stop = np.searchsorted(rows["_rank"].to_numpy(), [lo, hi])
    first, last = np.searchsorted(truth["_request_rank"].to_numpy(), [lo, hi])
    return (rows.iloc[start:stop], truth.iloc[first:last].drop(columns="_request_rank"),
            returning[start:stop])


def _scored(fn, shared, *pieces):
    """One chunk, put together from the buckets' pieces, through ``fn`` (on a worker)."""
    # the flags travel with their rows into the log's order, then leave them
    chunk = in_order([r.assign(_returning=f) for r, _, f in pieces if r is not None], "_rank")
    truth = in_order([t for _, t, _ in pieces], "_order")
    return fn(shared, chunk, truth, chunk.pop("_returning").to_numpy(dtype=bool))


def returning_on_dask(log, part) -> list:
    """Per bucket, a future of whether each of its held-out requests' user has a request in
    the training part (in the bucket's order): the buckets hold requests, not users, so the
    users meet by a hash of the user, and each hash part sends each bucket its answers."""
    import operator

    client, n = log.client, max(len(log.buckets), 1)
    cut = [client.submit(_users_by_hash, b, m, n, pure=False)
           for b, m in zip(log.buckets, part.masks)]
    parts = [client.submit(_returning_part, *[client.submit(operator.getitem, c, u, pure=False)
                                              for c in cut], pure=False) for u in range(n)]
    return [client.submit(_returning_of_bucket, m, *[client.submit(operator.getitem, p, i, pure=False)
                                                     for p in parts], pure=False)
            for i, m in enumerate(part.masks)]


def _users_by_hash(bucket: dict | None, masks, n: int) -> list:
    """The bucket's training users, and its held-out requests' places and users, cut into
    ``n`` parts by a hash of the user."""
    if bucket is None:
        return [(np.zeros(0, object), np.zeros(0, np.int64), np.zeros(0, object))] * n
    users = bucket["requests"]["user_id"].astype(str)
    train = pd.unique(users[masks[0]].to_numpy())
    test = users[masks[1]].to_numpy()

    def part(values):
        return pd.util.hash_array(np.asarray(values, dtype=object)) % np.uint64(n)

    train_part, test_part = part(train), part(test)
    places = np.arange(len(test))
    return [(train[train_part == u], places[test_part == u], test[test_part == u])
            for u in range(n)]


def _returning_part(*pieces) -> list:
    """In one hash part: per bucket, the places of its held-out requests whose user trained."""
    trained = np.concatenate([p[0] for p in pieces])
    return [places[isin(users, trained)] for _, places, users in pieces]


def _returning_of_bucket(masks, *places) -> np.ndarray:
    flags = np.zeros(int(masks[1].sum()), dtype=bool)
    for p in places:
        flags[p] = True
    return flags


def _rows(test) -> pd.DataFrame | None:
    return None if test is None else test[0]


def _seen(test, ids: set) -> int:
    rows = _rows(test)
    return 0 if rows is None else int(isin(rows["request_id"].astype(str), ids).sum())


def _at_ranks(test, at: np.ndarray) -> pd.DataFrame | None:
    rows = _rows(test)
    return None if rows is None else rows[np.isin(rows["_rank"].to_numpy(), at)]


def _with_ids(test, ids: set) -> pd.DataFrame | None:
    rows = _rows(test)
    return None if rows is None else rows[isin(rows["request_id"].astype(str), ids)]


def _fired(test, engine) -> np.ndarray | None:
    rows = _rows(test)
    return None if rows is None or not len(rows) else \
        engine.fired(rows.drop(columns="_rank")).sum(axis=0)


def _train_item_counts(bucket: dict | None, masks) -> pd.Series | None:
    from suggest.engines.baselines import item_counts

    if bucket is None:
        return None
    train = bucket["requests"]["request_id"][masks[0]]
    return item_counts(bucket["truth"][isin(bucket["truth"]["request_id"], train)])


def _train_ends(bucket: dict | None, masks):
    """The first and last time of a bucket's training requests (None when it has none)."""
    if bucket is None or not masks[0].any():
        return None
    stamps = bucket["requests"]["timestamp"][masks[0]]
    return (stamps.min(), stamps.max()) if stamps.notna().any() else None


def _shown_parts(bucket: dict | None, masks):
    """A bucket's training reward sums and held-out shown rows (with their order in the log)."""
    from suggest.counterfactual import reward_sums, shown_rows

    if bucket is None:
        return None
    events, requests = bucket["events"], bucket["requests"]["request_id"]
    in_train = isin(events["request_id"], requests[masks[0]])
    in_test = isin(events["request_id"], requests[masks[1]])
    test = shown_rows(events[in_test]).assign(_order=bucket["order"]["events"][in_test])
    return reward_sums(shown_rows(events[in_train])), test
