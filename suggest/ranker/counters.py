"""Engagement counters of the ranker's features: counts per key up to a time, answered for
many (group, item) keys in one search.

:class:`GroupCounters` keeps the counts of every group of engagements (everyone,
the user, a slice value, ...) and of each item within it, over a
:class:`LatestTotals` (with time: point-in-time counts, strictly before the asking
time) or a :class:`FoldCounts` (without time: out-of-fold counts).
"""

from __future__ import annotations

import numpy as np

from suggest.history import NEVER, PastCounts


class FoldCounts:
    """Out-of-fold counts: total per key minus the key's count in the asking row's fold.

    Keys are looked up among the distinct keys seen (sorted once), so a key
    space as large as users x items costs memory only for the pairs that occur.
    """

    def __init__(self, keys: np.ndarray, folds: np.ndarray, n_folds: int):
        self.n_folds = n_folds
        # a key no query asks (keys are >= 0) keeps the tables non-empty without events
        keys = np.append(np.asarray(keys, dtype=np.int64), np.iinfo(np.int64).min)
        folds = np.append(np.asarray(folds, dtype=np.int64), 0)
        weights = np.append(np.ones(len(keys) - 1), 0.0)
        self.distinct_keys, inverse = np.unique(keys, return_inverse=True)  # PastCounts' name
        size = len(self.distinct_keys)
        self.total = np.bincount(inverse, weights=weights, minlength=size)
        self.by_fold = np.bincount(inverse * n_folds + folds, weights=weights, minlength=size * n_folds)

    STATE = ("distinct_keys", "total", "by_fold")

    def state(self) -> dict[str, np.ndarray]:
        """The arrays that are the counts (see :meth:`PastCounts.state`)."""
        return {name: getattr(self, name) for name in self.STATE}

    @classmethod
    def restore(cls, arrays: dict[str, np.ndarray]) -> "FoldCounts":
        counts = cls.__new__(cls)
        for name in cls.STATE:
            setattr(counts, name, arrays[name])
        counts.n_folds = len(counts.by_fold) // len(counts.distinct_keys)
        return counts

    def lookup(self, keys: np.ndarray, folds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        keys, folds = np.asarray(keys, dtype=np.int64), np.asarray(folds, dtype=np.int64)
        rank = np.minimum(np.searchsorted(self.distinct_keys, keys), len(self.distinct_keys) - 1)
        known = self.distinct_keys[rank] == keys
        own = np.where(known & (folds >= 0), self.by_fold[rank * self.n_folds + np.maximum(folds, 0)], 0.0)
        return np.where(known, self.total[rank], 0.0) - own, np.full(len(keys), np.nan)


class LatestTotals(PastCounts):
    """:class:`PastCounts` that answers a query later than every event from per-key totals.

    Serving asks after the training window: such a query needs one search of
    the distinct keys instead of three over all events (whose cache misses
    were most of a single context's lookup time). The totals are the counts
    at the latest possible time, computed by :meth:`PastCounts.lookup` itself,
    so both ways give the same numbers.
    """

    def __init__(self, keys: np.ndarray, times: np.ndarray):
        super().__init__(keys, times)
        self._totals()

    @classmethod
    def ranked(cls, keys: np.ndarray, time_rank: np.ndarray, distinct_times: np.ndarray) -> "LatestTotals":
        past = super().ranked(keys, time_rank, distinct_times)
        past._totals()
        return past

    def _totals(self) -> None:
        self.total, self.final = super().lookup(self.distinct_keys, np.full(len(self.distinct_keys), NEVER))

    @classmethod
    def restore(cls, arrays: dict[str, np.ndarray]) -> "LatestTotals":
        past = super().restore(arrays)
        past._totals()
        return past

    def lookup(self, keys: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        keys, times = np.asarray(keys, dtype=np.int64), np.asarray(times, dtype=np.int64)
        early = np.flatnonzero(times <= self.latest)
        if len(early) == len(keys):
            return super().lookup(keys, times)
        rank = np.minimum(np.searchsorted(self.distinct_keys, keys), len(self.distinct_keys) - 1)
        known = self.distinct_keys[rank] == keys
        count = np.where(known, self.total[rank], 0.0)
        last = np.where(known, self.final[rank], np.nan)
        if len(early):
            count[early], last[early] = super().lookup(keys[early], times[early])
        return count, last


class GroupCounters:
    """Engagement counts per group and per (group, item), answered together.

    A group slices the engagements: everyone, the user, the value of each
    categorical context column. Its ``prefix`` is its key (0 for everyone, the
    user's code, the slice's code); group ``g`` has two counters, the group's
    engagements (key ``prefix``) and the item's within it (key ``prefix *
    n_items + item``). Counter ``j``'s key ``k`` is stored as ``k * width + j``
    in one structure (:class:`PastCounts` with time, :class:`FoldCounts`
    without), so every statistic of a feature row comes from one search, built
    by a few whole-array operations: what makes a single context cheap. Rows
    are answered in blocks so a large batch never holds every query at once.
    """

    BLOCK = 1 << 16

    def __init__(self, prefix: np.ndarray, item: np.ndarray, n_items: int, when: np.ndarray, counter_type):
        self.n_items, self.width = n_items, 2 * len(prefix)
        self.slot = np.arange(self.width)[:, None]
        prefix, item, when = (np.asarray(prefix, dtype=np.int64), np.asarray(item, dtype=np.int64),
                              np.asarray(when))
        if hasattr(counter_type, "ranked"):
            # the events' times ranked once, not once a counter (2 x groups as many), and the
            # events in time order, so one sort by key sorts the counters' (key, time) pairs
            distinct, rank = np.unique(when, return_inverse=True)
            order = np.argsort(rank, kind="stable")
            keys, ranks, _ = self._queries(prefix[:, order], item[..., order], rank[order])
            self.counter = counter_type.ranked(keys, ranks, distinct)
        else:
            keys, times, _ = self._queries(prefix, item, when)
            self.counter = counter_type(keys, times)

    @classmethod
    def restore(cls, n_items: int, width: int, counter) -> "GroupCounters":
        """Counters of ``width`` (two per group) over ``n_items`` item codes whose counts are
        ``counter`` (a :class:`LatestTotals` or :class:`FoldCounts` restored from its
        state): what a model folder loads instead of counting its training log again."""
        counts = cls.__new__(cls)
        counts.n_items, counts.width = n_items, width
        counts.slot = np.arange(width)[:, None]
        counts.counter = counter
        return counts

    def _queries(self, prefix: np.ndarray, item: np.ndarray | None, when: np.ndarray,
                 window: tuple[int, np.ndarray] | None = None,
                 paired: bool | None = None) -> tuple[np.ndarray, np.ndarray, list]:
        """Keys and times, one flat array each, and the shapes of their parts: the groups'
        counters (groups x prefix columns), the (group, item) ones (groups x rows), then
        ``window``'s two. A value with one column (one context) is asked once. ``item`` is
        one code per row, or (groups x rows) when a group counts by another code (an
        attribute's value). ``paired``: False asks the groups' counters only, True (with
        ``item``) the (group, item) ones only; None both."""
        groups = len(prefix)
        group = prefix * self.width + self.slot[:groups]
        parts = []
        if paired is not True:
            parts.append((group, when))
        if paired is not False:
            pair = (prefix * self.n_items + item) * self.width + self.slot[groups:]
            parts.append((pair, when))
        if window is not None:
            if paired is not True:
                parts.append((group[window[0], None], window[1]))
            if paired is not False:
                parts.append((pair[window[0], None], window[1]))
        keys = np.concatenate([key.ravel() for key, _ in parts])
        times = np.empty(len(keys), dtype=when.dtype)
        start = 0
        for key, at in parts:
            times[start:start + key.size].reshape(key.shape)[...] = at
            start += key.size
        return keys, times, [key.shape for key, _ in parts]

    def lookup(self, prefix: np.ndarray, item: np.ndarray, when: np.ndarray,
               window: tuple[int, np.ndarray] | None = None, per: np.ndarray | None = None) -> list:
        """(count, last time) of the groups' counters (groups x prefix columns) and of the
        (group, item) ones (groups x rows); with ``window=(g, times)``, the counts of group
        ``g``'s two counters at ``times`` too (e.g. a window's start; 1 x columns each), in
        the same search.

        ``prefix`` is (groups x rows), ``item`` and ``when`` one per row; a
        ``prefix``, ``when`` and ``times`` with one column stand for every row
        (one context), whose group counters are then asked once. With ``per`` (a
        column per row: rows of one request share their request's), ``prefix``,
        ``when`` and ``times`` are per column, and the groups' counters, which do not
        depend on the item, are asked once a column, not once a row.
        """
        if per is None:
            return self._blocked(prefix, item, when, window, None)
        keys, times, shapes = self._queries(prefix, None, when, window, paired=False)
        got, seen = self.counter.lookup(keys, times)
        n = shapes[0][0] * shapes[0][1]
        group = (got[:n].reshape(shapes[0])[:, per], seen[:n].reshape(shapes[0])[:, per])
        rows = self._blocked(prefix[:, per], item, when[per],
                             None if window is None else (window[0], window[1][per]), True)
        out = [group, rows[0]]
        if window is not None:
            out += [got[n:].reshape(shapes[1])[:, per], rows[1]]
        return out

    def _blocked(self, prefix: np.ndarray, item: np.ndarray, when: np.ndarray,
                 window: tuple[int, np.ndarray] | None, paired: bool | None) -> list:
        """:meth:`lookup`'s search, ``BLOCK`` rows at a time (a large batch never holds every
        query at once), the blocks written into arrays of all the rows; the parts as
        :meth:`_queries` gives them (``window``'s: counts only)."""
        rows, out = item.shape[-1], None
        for start in range(0, max(rows, 1), self.BLOCK):
            span = slice(start, min(start + self.BLOCK, rows))
            cut = (lambda a: a) if rows <= self.BLOCK else (lambda a: a[..., span] if a.shape[-1] > 1 else a)
            keys, times, shapes = self._queries(cut(prefix), item[..., span], cut(when),
                                                None if window is None else (window[0], cut(window[1])),
                                                paired)
            got, seen = self.counter.lookup(keys, times)
            if out is None:
                whole = [(shape[0], shape[1] if shape[1] == 1 or rows <= self.BLOCK else rows)
                         for shape in shapes]
                out = [(np.empty(shape), np.empty(shape)) for shape in whole]
            at = 0
            for (count, last), shape in zip(out, shapes):
                size = shape[0] * shape[1]
                where = slice(None) if count.shape[1] == shape[1] else span
                count[:, where] = got[at:at + size].reshape(shape)
                last[:, where] = seen[at:at + size].reshape(shape)
                at += size
        keep = 1 if paired is True else 2
        return out[:keep] + [count for count, _ in out[keep:]]

    def at(self, g: int, prefix: np.ndarray, item: np.ndarray, times: np.ndarray) -> tuple:
        """Group ``g``'s two counters at ``times`` (one per row, or one for all): the group's
        count and the (group, item) counts, for rows of ``prefix`` and ``item`` codes."""
        prefix, item = np.asarray(prefix, dtype=np.int64), np.asarray(item, dtype=np.int64)
        times = np.asarray(times, dtype=np.int64)
        shape = np.broadcast_shapes(prefix.shape, item.shape, times.shape)  # (0,) for no rows
        n = int(np.prod(shape))
        group = np.broadcast_to(prefix * self.width + g, shape).ravel()
        paired = np.broadcast_to((prefix * self.n_items + item) * self.width + self.width // 2 + g,
                                 shape).ravel()
        count, _ = self.counter.lookup(np.concatenate([group, paired]),
                                       np.concatenate([np.broadcast_to(times, shape).ravel()] * 2))
        return count[:n], count[n:]

    # -- one group's counters, for :class:`suggest.ranker.serving.ServingTable` ------------------------------------------
    def span(self, g: int, p: int) -> tuple[np.ndarray, np.ndarray]:
        """Ranks (among the distinct keys) and item codes of group ``g``'s (prefix ``p``,
        item) counters: their keys lie in one range of the sorted distinct keys."""
        c, groups = self.counter, self.width // 2
        lo, hi = np.searchsorted(c.distinct_keys, [p * self.n_items * self.width,
                                                   (p + 1) * self.n_items * self.width])
        keys = c.distinct_keys[lo:hi]
        mine = keys % self.width == groups + g
        return np.arange(lo, hi)[mine], keys[mine] // self.width - p * self.n_items

    def totals(self, g: int, p: int, ranks: np.ndarray, items: np.ndarray) -> tuple:
        """Group ``g``'s count at prefix ``p`` and, from its :meth:`span`, its per-item counts
        and last times over every item code, counting every event (a :class:`LatestTotals`) or,
        without time, every fold (a :class:`FoldCounts` asked for a row being served)."""
        c = self.counter
        counts, lasts = np.zeros(self.n_items), np.full(self.n_items, np.nan)
        counts[items] = c.total[ranks]
        if isinstance(c, LatestTotals):  # without time (FoldCounts) no last times: NaN
            lasts[items] = c.final[ranks]
        return self.group_total(g, p), counts, lasts

    def group_total(self, g: int, p: int) -> float:
        """Group ``g``'s count at prefix ``p`` over every event (every fold)."""
        c = self.counter
        at = np.searchsorted(c.distinct_keys, p * self.width + g)
        known = at < len(c.distinct_keys) and c.distinct_keys[at] == p * self.width + g
        return c.total[at] if known else 0.0


def share(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    """``part / whole`` where ``whole > 0``, else NaN (in float64, then float32)."""
    return np.divide(part, np.where(whole > 0, whole, np.nan)).astype(np.float32)
