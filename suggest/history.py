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
        keys, times = np.asarray(keys, dtype=np.int64), np.asarray(times, dtype=np.int64)
        order = np.lexsort((times, keys))
        self.keys, self.times = keys[order], times[order]
        w = np.ones(len(order)) if weights is None else np.asarray(weights, dtype=float)[order]
        self.cumulative = np.concatenate([[0.0], np.cumsum(w)])
        # Sorted once: (key, time) become one number, rank of key * width + rank of time,
        # so a query is two binary searches and no clock unit or key size can overflow.
        self.distinct_keys = np.unique(self.keys)
        self.distinct_times = np.unique(self.times)
        self.width = np.int64(len(self.distinct_times) + 1)
        self.combined = (np.searchsorted(self.distinct_keys, self.keys) * self.width
                         + np.searchsorted(self.distinct_times, self.times))
        # where each distinct key's events start (one more entry: the end), so a query
        # needs one search of the big array, not two
        self.starts = np.searchsorted(self.combined, np.arange(len(self.distinct_keys) + 1) * self.width)

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
        last[found] = self.times[stop[found] - 1]
        return self.cumulative[stop] - self.cumulative[start], last
