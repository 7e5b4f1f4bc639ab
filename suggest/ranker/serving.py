"""The ranker's serving table: the features of one context served after the training
window, read from vectors kept per group of engagements instead of a search of every
event (:meth:`suggest.ranker.features.Features.one` uses it; a test compares both ways to
the bit).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import numpy as np

from suggest.ranker.counters import share

if TYPE_CHECKING:
    from suggest.ranker.features import Features

RECENT_DAYS = 7  # the window of the recent history features (suggest.ranker.features reads it)


class ServingTable:
    """Statistics of one context being served, from vectors kept per group.

    Serving asks after the training window, where every count is a total (or,
    without time, for a row in no fold: every fold's count, a total too). Each
    (group, prefix) a context meets (everyone, its user, the values of its
    slices) gets its feature values over every item code once, by the
    formulas of :meth:`Features.assemble` (``_share``): the item's share
    overall (with the item's code and catalog attributes beside it) and in
    the slice (NaN for a missing or unseen value), the user's count, share
    and last time per item, and the user's total. The recent window counts
    the user's events, sorted by user and time once. A context then reads its
    candidates' columns in one gather, through the table rows of its (user,
    slice values), instead of searching every event: the same numbers (a test
    compares both ways). The vectors live in one table that starts over when
    it holds ``MEMO`` numbers; a lock keeps contexts served from several
    threads from reading rows being refilled.
    """

    ITEMS = 1 << 16  # item codes up to which the vectors are kept (else: the search)
    MEMO = 1 << 22  # numbers the table holds before it starts over
    PLANS = 1 << 16  # (user, slice values) whose table rows are remembered before that starts over

    def __init__(self, features: "Features"):
        self.features, self.counters = features, features.counts_
        self.n = len(features.items_) + 1  # the last column: an unknown item (code -1 reads it)
        at = features.position_
        # everyone's rows: the item's share, code and catalog attributes (the last two fixed)
        self.static = [np.append(np.arange(self.n - 1, dtype=np.float64), -1.0),
                       *(features.attribute_table_[attr] for attr, _ in features.attribute_rows_)]
        # the gathered rows' feature positions, group by group (:meth:`_rows`): everyone's,
        # then each other group's, the user's count and share last (the user's last times,
        # gathered after them, give the hours since)
        targets = []
        for kind, name in features.groups_:
            targets += [at[f] for f in self.features.group_features(kind, name)]
        self.targets = np.array(targets + [at["user_item_count"], at["user_item_share"]], dtype=np.intp)
        self.event_user = None
        if features.has_time_:  # every user's events, by user then time: the recent window's counts
            c, width = self.counters.counter, self.counters.width
            keys, times = c.events()
            mine = keys % width == width // 2 + 1  # the (user, item) counter's keys
            pair = keys[mine] // width
            user, times = pair // self.n, times[mine]
            order = np.lexsort((times, user))
            self.event_user, self.event_time = user[order], times[order]
            self.event_item = (pair % self.n)[order]
            ranks, items = self.counters.span(0, 0)
            self.everyone = self.counters.totals(0, 0, ranks, items)[:2]  # count, per-item counts
        self.need = len(self.targets) + 1  # table rows one context may add
        self.most = max(self.MEMO // self.n, self.need)  # rows the table may hold
        self.lock = threading.Lock()
        self._start()

    def _start(self) -> None:
        self.blocks: dict = {}  # (group, prefix) -> its first row in the table
        self.plans: dict = {}  # (user, slice codes) -> its rows (a column), the user's total, events
        self.totals: dict = {}  # user prefix -> its count of engagements, where its events are
        self.table = getattr(self, "table", np.empty((0, self.n)))
        self.used = 0

    def __getstate__(self):  # a copy or a pickle carries no lock and no vectors:
        return {}

    def __setstate__(self, state):  # Features._serving builds them again on first use
        self.features = self.counters = None

    def fill(self, out: np.ndarray, user: int, slices: list[int], item: np.ndarray, when: int) -> None:
        """Write the item and engagement rows of candidates ``item`` (item codes, -1
        unknown) of a context of ``user`` with slice codes ``slices`` (-1: missing or
        unseen) at time ``when`` into ``out`` (features x candidates)."""
        key = (user, *slices)
        with self.lock:
            plan = self.plans.get(key)
            if plan is None:
                plan = self._plan(key)
            rows, total, lo, hi = plan
            got = self.table[rows, item]
        out[self.targets] = got[:-1]
        earlier = trend = None
        if self.event_user is not None:  # with time: the user's counts before the recent window
            start = when - RECENT_DAYS * 86_400 * 10**9
            times, items = self.event_time[lo:hi], self.event_item[lo:hi]
            before = int(np.searchsorted(times, start, side="left"))
            earlier = (before, np.bincount(items[:before], minlength=self.n)[item].astype(np.float64))
            code = np.where(item >= 0, item, self.n - 1)  # everyone's counts now (served: the
            # totals) and at the window's start (after the training window: the totals too)
            everyone, counts = self.everyone
            before = ((everyone, counts[code]) if start > self.counters.counter.latest
                      else self.counters.at(0, 0, code, start))
            trend = (everyone, counts[code], *before)
        self.features.user_rows(out, got[-3], got[-1], total[0], when, earlier, trend, total[1])
        self.features.rank_rows(out, None)

    def _plan(self, key: tuple) -> tuple:
        """The table rows (a column of indices), the user's total and distinct items, and
        event span of (user, slices)."""
        if self.used + self.need > self.most:  # full: start over
            self._start()
        if len(self.plans) >= self.PLANS:
            self.plans.clear()
        features = self.features
        prefix = features.prefixes(np.array([key[0]]), list(key[1:]))[:, 0].tolist()
        rows = []
        for g, (kind, name) in enumerate(features.groups_):
            size = len(self.features.group_features(kind, name))
            if size:
                first = self._block(g, prefix[g])
                rows += range(first, first + size)
        user = self._block(1, prefix[1])
        rows += [user, user + 1, user + 2]
        count, lo, hi = self.totals[prefix[1]]
        distinct = np.nan
        if ("distinct", None) in features.group_index_:
            distinct = self.counters.group_total(features.group_index_[("distinct", None)], prefix[1])
        plan = self.plans[key] = (np.array(rows, dtype=np.intp)[:, None], (count, distinct), lo, hi)
        return plan

    def _block(self, g: int, p: int) -> int:
        """The first table row of group ``g``'s vectors at prefix ``p`` (made on first use)."""
        row = self.blocks.get((g, p))
        if row is not None:
            return row
        ranks, items = self.counters.span(g, p)
        count, counts, lasts = self.counters.totals(g, p, ranks, items)
        kind, name = self.features.groups_[g]
        cards = dict(zip(self.features.slices_, self.features.cards_))
        if kind == "everyone":  # the item's share, then its code and attributes
            vectors = [share(counts, count), *self.static]
        elif kind == "user":  # count, share, last time; and the total
            vectors = [counts, share(counts, count), lasts]
            span = np.searchsorted(self.event_user, [p, p + 1]).tolist() if self.event_user is not None else ()
            self.totals[p] = (count, *(span or (0, 0)))
        elif kind in ("slice", "user_slice") and p % (cards[name] + 1) == cards[name]:
            vectors = [np.full(self.n, np.nan)] * len(self.features.group_features(kind, name))  # missing or unseen
        elif kind in ("user_slice", "user_combo"):
            vectors = [counts, share(counts, count)]
        elif kind == "attr":  # by the item's value of the attribute (NaN: none)
            codes = self.features.attribute_codes(name)
            vectors = [np.where(codes == len(self.features.attributes_[name][1]), np.nan,
                                share(counts[codes], count))]
        else:  # a slice or the full slice: the item's share
            vectors = [share(counts, count)]
        row = self.used
        if row + len(vectors) > len(self.table):  # grow: twice the rows, up to the memo's size
            grown = np.empty((min(max(2 * len(self.table), row + len(vectors), 16), self.most), self.n))
            grown[:row] = self.table[:row]
            self.table = grown
        self.table[row:row + len(vectors)] = vectors
        self.used += len(vectors)
        self.blocks[(g, p)] = row
        return row


