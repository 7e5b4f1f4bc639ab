"""Point-in-time counting: how often a key occurred strictly before a moment.

Used wherever a feature or a baseline may look at the past but never at the
present or the future (a request's own engagement happens at its own time,
so it is never "before" it). Vectorised: one sort of the events, one binary
search for all queries.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


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
        order = np.lexsort((times, keys))
        self.keys = np.asarray(keys, dtype=np.int64)[order]
        self.times = np.asarray(times, dtype=np.int64)[order]
        w = np.ones(len(order)) if weights is None else np.asarray(weights, dtype=float)[order]
        self.cumulative = np.concatenate([[0.0], np.cumsum(w)])

    def _position(self, keys: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Index of the first event of each query's key, and of the first at or after t."""
        keys = np.asarray(keys, dtype=np.int64)
        start = np.searchsorted(self.keys, keys, side="left")
        # Within a key's block the times are sorted: search (key, time) lexicographically
        # through one number, key * width + rank of the time, so no clock unit can overflow.
        # Keys too large for that product (e.g. hashes) are replaced by their rank too.
        n = len(self.times)
        all_times = np.concatenate([self.times, np.asarray(times, dtype=np.int64)])
        _, rank = np.unique(all_times, return_inverse=True)
        width = np.int64(rank.max() + 2) if len(rank) else np.int64(1)
        all_keys = np.concatenate([self.keys, keys])
        largest = max(abs(int(all_keys.min())), int(all_keys.max())) if len(all_keys) else 0
        if largest >= np.iinfo(np.int64).max // (int(width) + 1):
            _, key_rank = np.unique(all_keys, return_inverse=True)  # same order, small values
            all_keys = key_rank
        events = all_keys[:n] * width + rank[:n]
        queries = all_keys[n:] * width + rank[n:]
        return start, np.searchsorted(events, queries, side="left")

    def count(self, keys: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Weighted count of events with the same key strictly before each time."""
        start, stop = self._position(keys, times)
        return self.cumulative[stop] - self.cumulative[start]

    def last_time(self, keys: np.ndarray, times: np.ndarray) -> np.ndarray:
        """Time of the last event with the same key strictly before t (NaN if none)."""
        start, stop = self._position(keys, times)
        found = stop > start
        out = np.full(len(stop), np.nan)
        out[found] = self.times[stop[found] - 1]
        return out
