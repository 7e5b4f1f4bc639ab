"""Point-in-time features for (request, candidate item) rows (DESIGN section 5).

Every statistic that counts engagements is computed from training
engagements *strictly before* the request's timestamp (:class:`PastCounts`),
so a request's own engagement and anything later never reach its features.
A log without time uses out-of-fold counts instead: training requests are
split into ``folds`` seeded folds and a training row's statistics come from
the other folds (not leave-one-out, whose "own count minus one" pattern a
model learns); rows being served use every training engagement.

Features (``names_`` lists them in order):

* ``ctx:<col>`` every context column (categorical as LightGBM categories),
  ``hour``, ``weekday``, ``is_weekend`` when the log has time;
* ``item`` (categorical) and ``attr:<name>`` catalog attributes;
* ``item_share`` the item's share of all engagements before the request;
* ``slice_share:<col>`` the item's share of engagements in the request's
  slice of each categorical context column (NaN when the value is missing);
* ``user_item_count``, ``user_item_share``, ``user_total`` (log1p) and
  ``user_item_hours_since`` (NaN without time or history): the user's past;
* ``user_item_share_recent``, ``user_recent`` (log1p): the same share and
  total over the ``RECENT_DAYS`` before the request (NaN without time), so
  a user whose tastes moved is read by what they do now;
* ``ctx_share`` the item's share within the request's full slice (every
  categorical context column's value at once; with two or more of them);
* ``item_share_recent`` and ``item_trend`` (with time): the item's share of
  everyone's engagements over the ``RECENT_DAYS`` before the request, and
  that share over its all-time share;
* ``user_distinct_share`` (with time): the distinct items of the user's past
  engagements over their number (diversity; ``user_total`` is activity);
* ``user_ctx_count:<col>``, ``user_ctx_share:<col>``: the user's count and
  share of the item among their engagements when ``<col>`` had the
  request's value (NaN when the value is missing or unseen);
  ``user_ctx_count``, ``user_ctx_share``: the same within the full slice
  (with two or more categorical context columns);
* ``affinity:<attr>``: the share of the user's engagements in items with the
  candidate's value of the categorical catalog attribute (NaN when missing);
* ``rank:popular``, ``rank:context``, ``rank:history``: the candidate's rank
  among the request's candidates by what the ``popular``, context-popular
  (``ctx_share``, or the one slice's share) and ``user-history`` baselines
  read (their scores are the share and count features above), ties by the
  item's share then code: the ranker can reproduce the best baseline;
* ``src_*``, ``rule_rank``, ``rule_blocked`` from candidate generation.

Engagement counts are kept per *group* of engagements (:class:`_Counters`):
everyone, the user, each slice value, the user within each slice value, the
full slice and the user within it, the user by each attribute value and,
with time, the user's first engagement with each item. A group of the user
within a slice whose keys would not fit 62 bits (a huge catalog times many
users times many values) is left out, with its features.
"""

from __future__ import annotations

import re
import threading

import numpy as np
import pandas as pd

from suggest.data.timefields import ID_COLUMNS, TIME_FIELDS, with_time_fields
from suggest.history import NEVER, PastCounts, nanoseconds

TIME_COLUMNS = ("hour", "weekday", "is_weekend")  # the time fields the ranker reads
RECENT_DAYS = 7  # the window of the recent history features
CANDIDATE_FEATURES = ("src_history", "src_rules", "src_context", "src_popular", "rule_rank",
                      "rule_blocked")


def context_columns(requests: pd.DataFrame) -> dict[str, str]:
    """The context columns of a Requests frame and how the features read each:
    ``categorical`` (text, categories) or ``numeric`` (numbers, booleans)."""
    return {col: column_kind(requests[col]) for col in requests.columns
            if col not in ID_COLUMNS and col not in TIME_FIELDS}


def column_kind(values: pd.Series) -> str:
    if isinstance(values.dtype, pd.CategoricalDtype) or values.dtype == object \
            or pd.api.types.is_string_dtype(values.dtype):  # pandas 3 text: ``str``
        return "categorical"
    return "numeric"


class _FoldCounts:
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

    def lookup(self, keys: np.ndarray, folds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        keys, folds = np.asarray(keys, dtype=np.int64), np.asarray(folds, dtype=np.int64)
        rank = np.minimum(np.searchsorted(self.distinct_keys, keys), len(self.distinct_keys) - 1)
        known = self.distinct_keys[rank] == keys
        own = np.where(known & (folds >= 0), self.by_fold[rank * self.n_folds + np.maximum(folds, 0)], 0.0)
        return np.where(known, self.total[rank], 0.0) - own, np.full(len(keys), np.nan)


class _Totals(PastCounts):
    """:class:`PastCounts` that answers a query later than every event from per-key totals.

    Serving asks after the training window: such a query needs one search of
    the distinct keys instead of three over all events (whose cache misses
    were most of a single context's lookup time). The totals are the counts
    at the latest possible time, computed by :meth:`PastCounts.lookup` itself,
    so both ways give the same numbers.
    """

    def __init__(self, keys: np.ndarray, times: np.ndarray):
        super().__init__(keys, times)
        self.latest = self.times.max() if len(self.times) else NEVER  # no query is later
        self.total, self.final = super().lookup(self.distinct_keys, np.full(len(self.distinct_keys), NEVER))

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


class _Counters:
    """Engagement counts per group and per (group, item), answered together.

    A group slices the engagements: everyone, the user, the value of each
    categorical context column. Its ``prefix`` is its key (0 for everyone, the
    user's code, the slice's code); group ``g`` has two counters, the group's
    engagements (key ``prefix``) and the item's within it (key ``prefix *
    n_items + item``). Counter ``j``'s key ``k`` is stored as ``k * width + j``
    in one structure (:class:`PastCounts` with time, :class:`_FoldCounts`
    without), so every statistic of a feature row comes from one search, built
    by a few whole-array operations: what makes a single context cheap. Rows
    are answered in blocks so a large batch never holds every query at once.
    """

    BLOCK = 1 << 16

    def __init__(self, prefix: np.ndarray, item: np.ndarray, n_items: int, when: np.ndarray, make):
        self.n_items, self.width = n_items, 2 * len(prefix)
        self.slot = np.arange(self.width)[:, None]
        keys, times, _ = self._queries(np.asarray(prefix, dtype=np.int64), np.asarray(item, dtype=np.int64),
                                       np.asarray(when))
        self.counter = make(keys, times)

    def _queries(self, prefix: np.ndarray, item: np.ndarray | None, when: np.ndarray,
                 also: tuple[int, np.ndarray] | None = None,
                 paired: bool | None = None) -> tuple[np.ndarray, np.ndarray, list]:
        """Keys and times, one flat array each, and the shapes of their parts: the groups'
        counters (groups x prefix columns), the (group, item) ones (groups x rows), then
        ``also``'s two. A value with one column (one context) is asked once. ``item`` is
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
        if also is not None:
            if paired is not True:
                parts.append((group[also[0], None], also[1]))
            if paired is not False:
                parts.append((pair[also[0], None], also[1]))
        keys = np.concatenate([key.ravel() for key, _ in parts])
        times = np.empty(len(keys), dtype=when.dtype)
        start = 0
        for key, at in parts:
            times[start:start + key.size].reshape(key.shape)[...] = at
            start += key.size
        return keys, times, [key.shape for key, _ in parts]

    def lookup(self, prefix: np.ndarray, item: np.ndarray, when: np.ndarray,
               also: tuple[int, np.ndarray] | None = None, per: np.ndarray | None = None) -> list:
        """(count, last time) of the groups' counters (groups x prefix columns) and of the
        (group, item) ones (groups x rows); with ``also=(g, times)``, the counts of group
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
            return self._blocked(prefix, item, when, also, None)
        keys, times, shapes = self._queries(prefix, None, when, also, paired=False)
        got, seen = self.counter.lookup(keys, times)
        n = shapes[0][0] * shapes[0][1]
        group = (got[:n].reshape(shapes[0])[:, per], seen[:n].reshape(shapes[0])[:, per])
        rows = self._blocked(prefix[:, per], item, when[per],
                             None if also is None else (also[0], also[1][per]), True)
        out = [group, rows[0]]
        if also is not None:
            out += [got[n:].reshape(shapes[1])[:, per], rows[1]]
        return out

    def _blocked(self, prefix: np.ndarray, item: np.ndarray, when: np.ndarray,
                 also: tuple[int, np.ndarray] | None, paired: bool | None) -> list:
        """:meth:`lookup`'s search, ``BLOCK`` rows at a time (a large batch never holds every
        query at once), the blocks written into arrays of all the rows; the parts as
        :meth:`_queries` gives them (``also``'s: counts only)."""
        rows, out = item.shape[-1], None
        for start in range(0, max(rows, 1), self.BLOCK):
            span = slice(start, min(start + self.BLOCK, rows))
            cut = (lambda a: a) if rows <= self.BLOCK else (lambda a: a[..., span] if a.shape[-1] > 1 else a)
            keys, times, shapes = self._queries(cut(prefix), item[..., span], cut(when),
                                                None if also is None else (also[0], cut(also[1])),
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

    # -- one group's counters, for :class:`_Late` ---------------------------------------------
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
        and last times over every item code, counting every event (a :class:`_Totals`) or,
        without time, every fold (a :class:`_FoldCounts` asked for a row being served)."""
        c = self.counter
        counts, lasts = np.zeros(self.n_items), np.full(self.n_items, np.nan)
        counts[items] = c.total[ranks]
        if isinstance(c, _Totals):  # without time (_FoldCounts) no last times: NaN
            lasts[items] = c.final[ranks]
        return self.group_total(g, p), counts, lasts

    def group_total(self, g: int, p: int) -> float:
        """Group ``g``'s count at prefix ``p`` over every event (every fold)."""
        c = self.counter
        at = np.searchsorted(c.distinct_keys, p * self.width + g)
        known = at < len(c.distinct_keys) and c.distinct_keys[at] == p * self.width + g
        return c.total[at] if known else 0.0


class _Late:
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
            mine = c.keys % width == width // 2 + 1  # the (user, item) counter's keys
            pair = c.keys[mine] // width
            user, times = pair // self.n, c.times[mine]
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
        self.features._user_rows(out, got[-3], got[-1], total[0], when, earlier, trend, total[1])
        self.features._rank_rows(out, None)

    def _plan(self, key: tuple) -> tuple:
        """The table rows (a column of indices), the user's total and distinct items, and
        event span of (user, slices)."""
        if self.used + self.need > self.most:  # full: start over
            self._start()
        if len(self.plans) >= self.PLANS:
            self.plans.clear()
        features = self.features
        prefix = features._prefix(np.array([key[0]]), list(key[1:]))[:, 0].tolist()
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
            vectors = [_share(counts, count), *self.static]
        elif kind == "user":  # count, share, last time; and the total
            vectors = [counts, _share(counts, count), lasts]
            span = np.searchsorted(self.event_user, [p, p + 1]).tolist() if self.event_user is not None else ()
            self.totals[p] = (count, *(span or (0, 0)))
        elif kind in ("slice", "user_slice") and p % (cards[name] + 1) == cards[name]:
            vectors = [np.full(self.n, np.nan)] * len(self.features.group_features(kind, name))  # missing or unseen
        elif kind in ("user_slice", "user_combo"):
            vectors = [counts, _share(counts, count)]
        elif kind == "attr":  # by the item's value of the attribute (NaN: none)
            codes = self.features._attribute_codes(name)
            vectors = [np.where(codes == len(self.features.attributes_[name][1]), np.nan,
                                _share(counts[codes], count))]
        else:  # a slice or the full slice: the item's share
            vectors = [_share(counts, count)]
        row = self.used
        if row + len(vectors) > len(self.table):  # grow: twice the rows, up to the memo's size
            grown = np.empty((min(max(2 * len(self.table), row + len(vectors), 16), self.most), self.n))
            grown[:row] = self.table[:row]
            self.table = grown
        self.table[row:row + len(vectors)] = vectors
        self.used += len(vectors)
        self.blocks[(g, p)] = row
        return row


class Features:
    """Learns encodings and engagement statistics from training data; builds matrices."""

    def __init__(self, folds: int = 5, seed: int = 0):
        self.folds = folds
        self.seed = seed

    # -- fitting -----------------------------------------------------------------------
    def fit(self, requests: pd.DataFrame, truth: pd.DataFrame,
            catalog: pd.DataFrame | None = None) -> "Features":
        requests = with_time_fields(requests)
        self.has_time_ = "timestamp" in requests.columns
        self.context_ = {col: ("categorical", sorted(requests[col].dropna().astype(str).unique().tolist()))
                         if kind == "categorical" else ("numeric", None)
                         for col, kind in context_columns(requests).items()}
        self.attributes_ = {}
        if catalog is not None:
            for col in catalog.columns:
                if col == "item_id":
                    continue
                if pd.api.types.is_numeric_dtype(catalog[col]) and not pd.api.types.is_bool_dtype(
                        catalog[col]):
                    self.attributes_[col] = ("numeric", None)
                else:
                    self.attributes_[col] = ("categorical",
                                             sorted(catalog[col].dropna().astype(str).unique().tolist()))
            self.catalog_ = catalog.assign(item_id=catalog["item_id"].astype(str)).drop_duplicates(
                "item_id").set_index("item_id")
        else:
            self.catalog_ = None
        events = truth[["request_id", "item_id"]].merge(requests, on="request_id", how="inner")
        self.items_ = sorted(set(truth["item_id"].astype(str)) |
                             (set(self.catalog_.index) if self.catalog_ is not None else set()))
        self.users_ = sorted(requests["user_id"].astype(str).unique())
        self.slices_ = [c for c, (kind, _) in self.context_.items() if kind == "categorical"]
        self.attribute_table_ = {}
        for attr, (kind, cats) in self.attributes_.items():
            values = self.catalog_[attr].reindex(self.items_).reset_index(drop=True)
            table = (self._category_codes(values, cats).astype(np.float32) if kind == "categorical"
                     else values.to_numpy(dtype=np.float32))
            self.attribute_table_[attr] = np.append(table, np.float32(np.nan if kind != "categorical"
                                                                      else -1))
        self._fit_counts(requests, events)
        self.names_ = self._names()
        self.position_ = {name: i for i, name in enumerate(self.names_)}
        self.context_rows_ = [(col, self.position_[f"ctx:{col}"]) for col in self.context_]
        self.time_rows_ = [(col, self.position_[col]) for col in TIME_COLUMNS if self.has_time_]
        self.head_rows_ = slice(0, len(self.context_rows_) + len(self.time_rows_))  # one value a context
        assert [row for _, row in self.context_rows_ + self.time_rows_] == list(range(self.head_rows_.stop))
        self.attribute_rows_ = [(attr, self.position_[f"attr:{attr}"]) for attr in self.attributes_]
        self.candidate_rows_ = slice(len(self.names_) - len(CANDIDATE_FEATURES), len(self.names_))
        return self

    def _fit_counts(self, requests: pd.DataFrame, events: pd.DataFrame) -> None:
        item = self._item_codes(events["item_id"])
        user = self._user_codes(events["user_id"])
        n_items = len(self.items_) + 1
        if self.has_time_:
            when = nanoseconds(events["timestamp"])
            make = _Totals
        else:
            rng = np.random.default_rng(self.seed)
            fold_of = pd.Series(rng.integers(0, self.folds, len(requests)),
                                index=requests["request_id"].to_numpy())
            self.train_folds_ = fold_of
            when = fold_of.reindex(events["request_id"]).to_numpy()
            make = lambda keys, folds: _FoldCounts(keys, folds, self.folds)  # noqa: E731
        # the key a group gives an unknown user or a missing or unseen slice value
        self.unknown_user_ = len(self.users_) + 1
        self.cards_ = [len(self.context_[c][1]) for c in self.slices_]
        slices = [self._category_codes(events[col], self.context_[col][1]) for col in self.slices_]
        self._fit_groups(slices, n_items)
        prefix = self._prefix(user, slices)
        if self.has_time_:  # the distinct-items group counts each (user, item)'s first event only
            pair = user.astype(np.int64) * n_items + item
            order = np.lexsort((when, pair))
            first = np.zeros(len(pair), dtype=bool)
            first[order] = np.r_[True, pair[order][1:] != pair[order][:-1]]
            g = self.group_index_[("distinct", None)]
            prefix[g] = np.where(first, prefix[g], self.unknown_user_ + 1)  # a key nobody asks
        self.counts_ = _Counters(prefix, self._item_rows(item), n_items, when, make)

    def _fit_groups(self, slices: list[np.ndarray], n_items: int) -> None:
        """The counters' groups (``groups_``, in prefix row order): everyone, the user, each
        slice, the user within each slice, the full slice and the user within it (two or
        more slices), the user by each categorical attribute and, with time, the user's
        distinct items. A group of the user within a slice whose largest key would pass 62
        bits is left out (the widest first)."""
        users = self.unknown_user_ + 2  # codes 0..users-1: known, unknown, the distinct sentinel
        self.radix_ = np.cumprod([1, *(c + 1 for c in self.cards_)], dtype=object)
        combo = len(self.slices_) >= 2 and self.radix_[-1] < 2 ** 62
        if combo:
            codes = sum(np.where(s >= 0, s, c).astype(np.int64) * int(r)
                        for s, c, r in zip(slices, self.cards_, self.radix_))
            self.combos_ = np.unique(codes)
        attrs = [a for a, (kind, _) in self.attributes_.items() if kind == "categorical"]
        # the user within a slice: its prefixes and how many there are
        width = {("user_slice", c): users * (card + 1) for c, card in zip(self.slices_, self.cards_)}
        if combo:
            width[("user_combo", None)] = users * (len(self.combos_) + 1)
        personal = sorted(width, key=width.get)
        while True:
            groups = [("everyone", None), ("user", None), *(("slice", c) for c in self.slices_),
                      *(g for g in width if g in personal and g[0] == "user_slice"),
                      *([("combo", None)] if combo else []),
                      *([("user_combo", None)] if ("user_combo", None) in personal else []),
                      *(("attr", a) for a in attrs), *([("distinct", None)] if self.has_time_ else [])]
            widest = max([users, len(self.combos_) + 1 if combo else 0] + [width[g] for g in personal])
            if not personal or (widest + 1) * n_items * 2 * len(groups) < 2 ** 62:
                break
            personal.pop()  # the widest does not fit: leave it out
        self.groups_ = groups
        self.group_index_ = {group: g for g, group in enumerate(groups)}

    def _prefix(self, user: np.ndarray, slices: list) -> np.ndarray:
        """The counters' groups' keys (groups x rows, or x 1 for one context) for rows of user
        codes and slice codes (-1: unknown or missing; all one per row or all one entry, or
        numbers). A missing or unseen value is its slice's last key, an unknown user the
        key past every user's."""
        user = np.asarray(user, dtype=np.int64)
        user = np.where(user >= 0, user, self.unknown_user_)
        codes = [np.where(np.asarray(s, dtype=np.int64) >= 0, s, c).reshape(-1)
                 for s, c in zip(slices, self.cards_)]
        n = max([len(user), *(len(c) for c in codes)])
        prefix = np.zeros((len(self.groups_), n), dtype=np.int64)
        for g, (kind, name) in enumerate(self.groups_):
            if kind in ("user", "attr", "distinct"):
                prefix[g] = user
            elif kind == "slice":
                prefix[g] = codes[self.slices_.index(name)]
            elif kind == "user_slice":
                j = self.slices_.index(name)
                prefix[g] = user * (self.cards_[j] + 1) + codes[j]
            elif kind == "combo":  # the full slice's rank among the training's (unseen: past them)
                value = sum(c * int(r) for c, r in zip(codes, self.radix_))
                at = np.minimum(np.searchsorted(self.combos_, value), len(self.combos_) - 1)
                prefix[g] = np.where(self.combos_[at] == value, at, len(self.combos_))
            elif kind == "user_combo":  # after "combo"
                prefix[g] = user * (len(self.combos_) + 1) + prefix[self.group_index_[("combo", None)]]
        return prefix

    def _item_rows(self, item: np.ndarray) -> np.ndarray:
        """The counters' item codes for rows of item codes (-1 unknown): the item's code (an
        unknown item: the last), or (groups x rows) when an attribute group counts by the
        attribute's value (a missing one: the value past the last)."""
        code = np.where(item >= 0, item, len(self.items_))
        attrs = [(g, name) for g, (kind, name) in enumerate(self.groups_) if kind == "attr"]
        if not attrs:
            return code
        out = np.repeat(code[None, :], len(self.groups_), axis=0)
        for g, name in attrs:
            out[g] = self._attribute_codes(name)[code]
        return out

    def _attribute_codes(self, name: str) -> np.ndarray:
        """Per item code (the last: unknown), the code of its value of attribute ``name``; a
        missing value: the number of values."""
        table = self.attribute_table_[name]
        return np.where(table >= 0, table, len(self.attributes_[name][1])).astype(np.int64)

    def _names(self) -> list[str]:
        names = [f"ctx:{c}" for c in self.context_]
        names += [c for c in TIME_COLUMNS if self.has_time_]
        names += ["item"] + [f"attr:{a}" for a in self.attributes_]
        names += ["item_share"] + [f"slice_share:{c}" for c in self.slices_]
        names += ["ctx_share"] if ("combo", None) in self.group_index_ else []
        names += ["item_share_recent", "item_trend"] if self.has_time_ else []
        names += ["user_item_count", "user_item_share", "user_total", "user_item_hours_since"]
        names += ["user_item_share_recent", "user_recent", "user_distinct_share"] if self.has_time_ else []
        for kind, name in self.groups_:
            if kind in ("user_slice", "user_combo", "attr"):
                names += self.group_features(kind, name)
        names += [name for name, _ in self._ranked()]
        return names + list(CANDIDATE_FEATURES)

    def group_features(self, kind: str, name: str | None) -> list[str]:
        """The features read from group ``(kind, name)``'s counts, in the order the serving
        path keeps their vectors (the user's own and the distinct items are kept apart)."""
        return {"everyone": ["item_share", "item", *(f"attr:{a}" for a in self.attributes_)],
                "slice": [f"slice_share:{name}"], "combo": ["ctx_share"],
                "user_slice": [f"user_ctx_count:{name}", f"user_ctx_share:{name}"],
                "user_combo": ["user_ctx_count", "user_ctx_share"],
                "attr": [f"affinity:{name}"]}.get(kind, [])

    def _ranked(self) -> list[tuple[str, tuple[str, ...]]]:
        """The baselines' rank features and the features each ranks by (ties: the next)."""
        context = ("ctx_share" if ("combo", None) in self.group_index_
                   else f"slice_share:{self.slices_[0]}" if self.slices_ else None)
        return [("rank:popular", ("item_share",)),
                *([("rank:context", (context, "item_share"))] if context else []),
                ("rank:history", ("user_item_count", "item_share"))]

    @property
    def lightgbm_names_(self) -> list[str]:
        """Feature names LightGBM accepts (no JSON special characters), unique, in order."""
        out = []
        for i, name in enumerate(self.names_):
            clean = re.sub(r"[^0-9A-Za-z_]", "_", name.replace(":", "__"))
            out.append(clean if clean not in out else f"{clean}_{i}")
        return out

    @property
    def categorical_(self) -> list[str]:
        """Names of the features LightGBM treats as categories."""
        cats = [f"ctx:{c}" for c, (kind, _) in self.context_.items() if kind == "categorical"]
        cats += ["item"] + [f"attr:{a}" for a, (kind, _) in self.attributes_.items()
                            if kind == "categorical"]
        return cats

    # -- codes -------------------------------------------------------------------------
    @staticmethod
    def _category_codes(values: pd.Series, categories: list[str]) -> np.ndarray:
        """Position of each value in ``categories`` (-1: missing or unseen), by looking up
        only the distinct values, never each row's text."""
        index = pd.Index(categories, dtype=object)
        if isinstance(values.dtype, pd.CategoricalDtype):
            codes = values.cat.codes.to_numpy()
            table = index.get_indexer(values.cat.categories.astype(str).to_numpy(dtype=object))
        else:
            codes, distinct = pd.factorize(values, use_na_sentinel=True)
            table = index.get_indexer(pd.Index(distinct).astype(str).to_numpy(dtype=object))
        table = np.append(table, -1)  # code -1 (missing) reads the appended -1
        return table[codes].astype(np.int64)

    def _item_codes(self, items: pd.Series) -> np.ndarray:
        return self._category_codes(items, self.items_)  # its distinct values are read as text

    def _user_codes(self, users: pd.Series) -> np.ndarray:
        return self._category_codes(users.astype(str), self.users_)

    # -- building ----------------------------------------------------------------------
    def build(self, requests: pd.DataFrame, cand: pd.DataFrame, training: bool = False) -> pd.DataFrame:
        """The feature matrix for candidate rows (``cand.row`` indexes ``requests``).

        ``training=True`` marks rows of training requests: without time their
        statistics leave out their own fold.
        """
        requests = with_time_fields(requests)
        rows = cand["row"].to_numpy()
        req = requests.iloc[rows].reset_index(drop=True)
        ctx = {}
        for col, (kind, cats) in self.context_.items():
            values = req[col] if col in req.columns else pd.Series(np.nan, index=req.index)
            ctx[col] = (self._category_codes(values, cats) if kind == "categorical"
                        else pd.to_numeric(values.astype("Float64"), errors="coerce")
                        .to_numpy(dtype=np.float64, na_value=np.nan))
        times = {col: req[col].astype("Float64").to_numpy(dtype=np.float32, na_value=np.nan)
                 for col in TIME_COLUMNS} if self.has_time_ else {}
        extra = {col: cand[col].to_numpy(dtype=np.float32) for col in CANDIDATE_FEATURES
                 if col in cand.columns}
        out = self.assemble(ctx, times, self._item_codes(cand["item_id"]),
                            self._user_codes(req["user_id"]), self._when(req, training), extra, rows)
        return pd.DataFrame(out.T, columns=self.names_, copy=False)

    def assemble(self, ctx: dict, times: dict, item: np.ndarray, user: np.ndarray, when: np.ndarray,
                 extra: dict, request: np.ndarray | None = None) -> np.ndarray:
        """The feature matrix, (features x rows) float32 in ``names_`` order, from per-row
        codes and values (shared by the batch and the one-context paths, so both compute
        the same statistics the same way).

        ``ctx``: per context column, category codes (categorical) or floats;
        ``times``: hour, weekday, is_weekend; ``item``/``user``: codes (-1
        unknown); ``when``: query clock (ns, or a fold / -1 without time);
        ``extra``: the candidate columns (by name, or all of them as an array in
        ``CANDIDATE_FEATURES`` order). Everything but ``item`` and
        ``extra`` may have one entry (or be a number) standing for every row
        (one context; :meth:`one` is the faster way to ask for one); ``request``: each
        row's request (a code per row; None: every row is one context's).
        """
        n, at = len(item), self.position_
        out = np.empty((len(self.names_), n), dtype=np.float32)
        for col, row in self.context_rows_:
            out[row] = ctx[col]
        for col, row in self.time_rows_:
            out[row] = times.get(col, np.nan)
        out[at["item"]] = item
        for attr, row in self.attribute_rows_:
            out[row] = self.attribute_table_[attr][item]  # item -1 reads the last slot
        if isinstance(extra, np.ndarray):  # every candidate column, in order
            out[self.candidate_rows_] = extra
        else:
            for col in CANDIDATE_FEATURES:
                out[at[col]] = extra.get(col, 0)
        slices = [ctx[col] if isinstance(ctx[col], int) else np.asarray(ctx[col], dtype=np.int64)
                  for col in self.slices_]
        when = np.asarray(when, dtype=np.int64)
        prefix = self._prefix(user, slices)
        items = self._item_rows(item)
        asked, per = prefix, None
        if request is not None and len(request) > 1:  # the groups' counters once a request
            _, first, per = np.unique(request, return_index=True, return_inverse=True)
            asked = prefix[:, first]
        at_when = when if per is None or when.size == 1 else when[first]
        recent = (1, at_when - RECENT_DAYS * 86_400 * 10**9) if self.has_time_ else None  # group 1: the user
        got = self.counts_.lookup(asked, items, at_when, recent, per)
        (group, _), (paired, last) = got[:2]  # per group (groups_): everyone, user, slices, ...
        shares = _share(paired, group)
        unseen = {col: np.asarray(value) < 0 for col, value in zip(self.slices_, slices)}
        for g, (kind, name) in enumerate(self.groups_):
            if kind == "everyone":
                out[at["item_share"]] = shares[g]
            elif kind == "user":
                out[at["user_item_count"]] = paired[g]
                out[at["user_item_share"]] = shares[g]
            elif kind == "slice":  # NaN for a missing or unseen value
                out[at[f"slice_share:{name}"]] = np.where(unseen[name], np.nan, shares[g])
            elif kind == "user_slice":
                out[at[f"user_ctx_count:{name}"]] = np.where(unseen[name], np.nan, paired[g])
                out[at[f"user_ctx_share:{name}"]] = np.where(unseen[name], np.nan, shares[g])
            elif kind == "combo":
                out[at["ctx_share"]] = shares[g]
            elif kind == "user_combo":
                out[at["user_ctx_count"]] = paired[g]
                out[at["user_ctx_share"]] = shares[g]
            elif kind == "attr":  # NaN for an item without the attribute
                missing = items[g] == len(self.attributes_[name][1])
                out[at[f"affinity:{name}"]] = np.where(missing, np.nan, shares[g])
        trend = distinct = None
        if self.has_time_:  # everyone's counts at the recent window's start; distinct items
            trend = self.counts_.at(0, 0, items[0] if items.ndim > 1 else items,
                                    when - RECENT_DAYS * 86_400 * 10**9)
            trend = (group[0], paired[0], *trend)
            distinct = group[self.group_index_[("distinct", None)]]
        self._user_rows(out, paired[1], last[1], group[1], when,
                        (got[2][0], got[3][0]) if self.has_time_ else None, trend, distinct)
        self._rank_rows(out, request)
        return out

    def _user_rows(self, out: np.ndarray, mine, last, total, when, earlier, trend=None,
                   distinct=None) -> None:
        """The user's total, hours since each item and, with time, the recent window's share
        and total (``earlier``: the user's count and the items' counts before the window),
        from the user's counts ``mine`` and ``total`` and last times; with time too, the
        item's recent share and trend (``trend``: everyone's count and the items' counts,
        now and at the window's start) and the user's distinct items (``distinct``): both
        paths' formulas."""
        at = self.position_
        out[at["user_total"]] = np.log1p(total)
        if not self.has_time_:
            out[at["user_item_hours_since"]] = np.nan
            return
        # computed in float64, rounded once into the float32 rows (as ``_share`` rounds)
        np.divide(when - last, 3.6e12, out=out[at["user_item_hours_since"]], casting="same_kind")
        recent_total = total - earlier[0]
        np.divide(mine - earlier[1], np.where(recent_total > 0, recent_total, np.nan),
                  out=out[at["user_item_share_recent"]], casting="same_kind")
        out[at["user_recent"]] = np.log1p(recent_total)
        np.divide(distinct, np.where(total > 0, total, np.nan), out=out[at["user_distinct_share"]],
                  casting="same_kind")
        everyone, item, everyone_before, item_before = trend
        recent_everyone = everyone - everyone_before
        recent = np.divide(item - item_before, np.where(recent_everyone > 0, recent_everyone, np.nan))
        out[at["item_share_recent"]] = recent
        overall = np.divide(item, np.where(everyone > 0, everyone, np.nan))
        np.divide(recent, np.where(overall > 0, overall, np.nan), out=out[at["item_trend"]],
                  casting="same_kind")

    def _rank_rows(self, out: np.ndarray, request: np.ndarray | None) -> None:
        """The ``rank:*`` rows: each candidate's place (1: first) among its request's
        candidates (``request``: one code per row; None: all one request) by the features
        of :meth:`_ranked`, highest first, NaN last, ties by the item's code."""
        n = out.shape[1]
        if n == 0:
            return
        at = self.position_
        item = out[at["item"]]
        if request is None:
            place = np.arange(1, n + 1, dtype=np.float32)
        for name, by in self._ranked():
            keys = [item]
            for feature in reversed(by):  # highest first, NaN last
                value = out[at[feature]]
                keys.append(np.where(value == value, -value, np.inf))
            if request is None:  # one context
                out[at[name], np.lexsort(keys)] = place
                continue
            order = np.lexsort(keys + [request])
            asked = request[order]
            first = np.flatnonzero(np.r_[True, asked[1:] != asked[:-1]])
            out[at[name], order] = np.arange(n) - np.repeat(first, np.diff(np.r_[first, n])) + 1

    def one(self, head: list, item: np.ndarray, user: int, slices: list[int], when: int,
            extra: np.ndarray) -> np.ndarray:
        """The feature matrix (features x candidates) of one context's candidates: what
        :meth:`assemble` gives for them, read from kept vectors when the context is served
        (after the training window; without time, ``when`` -1) and the catalog has at most
        ``_Late.ITEMS`` items: a test compares both ways to the bit.

        ``head``: the values of the context rows then the time rows
        (``context_rows_``, ``time_rows_``: category codes, floats, NaN when
        missing); ``item``: the candidates' item codes (-1 unknown); ``user``:
        the user's code (-1 unknown); ``slices``: the codes of the ``slices_``
        columns' values (-1 missing or unseen); ``when``: the clock in ns (-1
        without time); ``extra``: the candidate columns in ``CANDIDATE_FEATURES``
        order (rows) for each candidate.
        """
        late = self._serving(when)
        if late is None:  # inside the training window, a training fold, or too many items:
            # the search, as for a batch row
            ctx = {col: head[i] for i, (col, _) in enumerate(self.context_rows_)}
            times = {col: head[i] for i, (col, _) in enumerate(self.time_rows_, start=len(ctx))}
            return self.assemble(ctx, times, item, np.array([user]), np.array([when]), extra)
        out = np.empty((len(self.names_), len(item)), dtype=np.float32)
        out[self.head_rows_] = np.array(head, dtype=np.float64)[:, None]
        out[self.candidate_rows_] = extra
        late.fill(out, user, slices, item, when)
        return out

    def _serving(self, when: int) -> "_Late | None":
        """The kept vectors when a context at ``when`` is served: after the training window
        or, without time, any context (``when`` -1: counted over every fold)."""
        counter = self.counts_.counter
        after = when > counter.latest if isinstance(counter, _Totals) else when == -1
        if not after or len(self.items_) + 1 > _Late.ITEMS:
            return None
        late = getattr(self, "_late", None)
        if late is None or late.counters is not self.counts_:  # new, or from before a refit
            late = self._late = _Late(self)
        return late

    def _when(self, req: pd.DataFrame, training: bool) -> np.ndarray:
        if self.has_time_:
            return nanoseconds(req["timestamp"])
        if training:
            return self.train_folds_.reindex(req["request_id"]).fillna(-1).to_numpy(dtype=np.int64)
        return np.full(len(req), -1, dtype=np.int64)


def _share(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    """``part / whole`` where ``whole > 0``, else NaN (in float64, then float32)."""
    return np.divide(part, np.where(whole > 0, whole, np.nan)).astype(np.float32)
