"""Point-in-time counting: how often a key occurred strictly before a moment.

Used wherever a feature or a baseline may look at the past but never at the
present or the future (a request's own engagement happens at its own time,
so it is never "before" it). Vectorised: one sort of the events, one binary
search for all queries.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: A time after every event: a query at NEVER counts all of a key's events.
NEVER = np.iinfo(np.int64).max


def nanoseconds(stamps: pd.Series) -> np.ndarray:
    """Nanoseconds since 1970, whatever resolution pandas stored the timestamps in."""
    return pd.to_datetime(stamps, utc=True).dt.as_unit("ns").astype("int64").to_numpy()


class PastCounts:
    """Events as (key, time); answers "how many with this key strictly before t".

    Parameters
    ----------
    keys : array of int
        A non-negative integer key per event (e.g. a factorized (user, item) pair).
    times : array of int
        Event times (any monotone integer clock, e.g. nanoseconds).
    weights : array of float, optional
        Add these instead of counting 1 per event (e.g. relevance).

    Examples
    --------
    >>> past = PastCounts(np.array([0, 0, 1]), np.array([10, 20, 10]))
    >>> past.count(np.array([0, 0, 0, 1]), np.array([10, 11, 99, 10])).tolist()
    [0.0, 1.0, 2.0, 0.0]
    """

    def __init__(self, keys: np.ndarray, times: np.ndarray, weights: np.ndarray | None = None):
        times = np.asarray(times, dtype=np.int64)
        distinct_times, time_rank = np.unique(times, return_inverse=True)
        self._sort(np.asarray(keys, dtype=np.int64), time_rank, distinct_times, weights)

    @classmethod
    def ranked(cls, keys: np.ndarray, time_rank: np.ndarray, distinct_times: np.ndarray) -> "PastCounts":
        """The counts of events given by key and by the rank of their time among
        ``distinct_times`` (sorted, distinct): a caller whose events repeat one time under
        many keys ranks the times once, not once a key. Quickest when each key's events come
        in time order (one sort, by key)."""
        past = cls.__new__(cls)
        past._sort(np.asarray(keys, dtype=np.int64), np.asarray(time_rank, dtype=np.int64),
                   np.asarray(distinct_times, dtype=np.int64), None)
        return past

    def _sort(self, keys: np.ndarray, time_rank: np.ndarray, distinct_times: np.ndarray,
              weights: np.ndarray | None) -> None:
        # (key, time) become one number, rank of key * width + rank of time, sorted once:
        # a query is two binary searches, no clock unit or key size can overflow, and the
        # one array kept per event holds both (a key and a time are read back from it;
        # counts without weights are distances in it): 8 bytes an event. One stable sort by
        # key puts them in order when each key's events come in time order; else by both.
        order = np.argsort(keys, kind="stable")
        ranks, ordered = time_rank[order], keys[order]
        starts = np.empty(len(keys), dtype=bool)
        starts[:1] = True
        np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
        if not np.all(starts[1:] | (ranks[1:] >= ranks[:-1])):
            order = np.lexsort((time_rank, keys))
            ranks, ordered = time_rank[order], keys[order]
        self.distinct_keys = ordered[starts]
        self.distinct_times = distinct_times
        width = np.int64(len(distinct_times) + 1)
        self.combined = (np.cumsum(starts, dtype=np.int64) - 1) * width + ranks
        self.cumulative = (None if weights is None else
                           np.concatenate([[0.0], np.cumsum(np.asarray(weights, dtype=float)[order])]))
        self._index()

    def _index(self) -> None:
        """Where each distinct key's events start (one more entry: the end), so a query
        needs one search of the big array, not two."""
        self.width = np.int64(len(self.distinct_times) + 1)
        self.starts = np.searchsorted(self.combined, np.arange(len(self.distinct_keys) + 1) * self.width)

    #: The arrays :meth:`state` gives and :meth:`restore` reads (``cumulative``: with weights).
    STATE = ("distinct_keys", "distinct_times", "combined", "cumulative")

    def state(self) -> dict[str, np.ndarray]:
        """The arrays that are the counts (numbers only: a model folder stores them as
        Parquet, never pickled); :meth:`restore` rebuilds the same counts from them."""
        return {name: getattr(self, name) for name in self.STATE if getattr(self, name) is not None}

    @classmethod
    def restore(cls, arrays: dict[str, np.ndarray]) -> "PastCounts":
        """The counts :meth:`state` gave ``arrays`` of, without sorting the events again."""
        past = cls.__new__(cls)
        for name in PastCounts.STATE:
            setattr(past, name, arrays.get(name))
        past._index()
        return past

    @property
    def latest(self) -> int:
        """The time of the last event (NEVER when there is none: no query is later)."""
        return int(self.distinct_times[-1]) if len(self.distinct_times) else NEVER

    def events(self) -> tuple[np.ndarray, np.ndarray]:
        """Every event's key and time, sorted by key then time (read back, not kept)."""
        return (self.distinct_keys[self.combined // self.width],
                self.distinct_times[self.combined % self.width])

    def _position(self, keys: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index of the first event of each query's key, and of the first at or after t."""
        keys = np.asarray(keys, dtype=np.int64)
        rank = np.searchsorted(self.distinct_keys, keys)
        known = rank < len(self.distinct_keys)
        known[known] = self.distinct_keys[rank[known]] == keys[known]
        before = np.searchsorted(self.distinct_times, np.asarray(times, dtype=np.int64), side="left")
        start = self.starts[rank]
        stop = np.searchsorted(self.combined, rank * self.width + before, side="left")
        return start, np.where(known, stop, start)

    def count(self, keys: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Weighted count of events with the same key strictly before each time."""
        return self.lookup(keys, times)[0]

    def last_time(self, keys: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Time of the last event with the same key strictly before t (NaN if none)."""
        return self.lookup(keys, times)[1]

    def lookup(self, keys: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``count`` and ``last_time`` together, from one search."""
        start, stop = self._position(keys, times)
        found = stop > start
        last = np.full(len(stop), np.nan)
        last[found] = self.distinct_times[self.combined[stop[found] - 1] % self.width]
        if self.cumulative is None:
            return (stop - start).astype(float), last
        return self.cumulative[stop] - self.cumulative[start], last
