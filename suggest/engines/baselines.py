"""Honest baselines (DESIGN section 3): what a rule set or a ranker must beat.

* ``popular``: the most engaged items in the training window (count of
  engagements; ties by item id). Same list for everyone.
* ``context-popular``: the most engaged items in the request's context
  slice. Slices go from the most specific (all context columns together) to
  single columns, most informative first, then ``popular``; a slice counts
  only with at least ``min_support`` engagements. The list is filled level by
  level, so its score is its order (1.0, then 1 - (rank - 1) / k).
* ``user-history``: the user's own most engaged items strictly before the
  request's timestamp (all of the training window when the log has no time);
  silent for a user with no history.
* ``random``: a seeded uniform sample of the catalog per request; the same
  request always gets the same sample, whatever batch it is in.

All are vectorised: lists are computed once per distinct key (context tuple,
or one for ``popular``) and gathered to requests by array indexing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from suggest.data.timefields import ID_COLUMNS, TIME_FIELDS, check_zoned, with_time_fields
from suggest.history import NEVER, PastCounts, nanoseconds
from suggest.hashing import mix64
from suggest.engines.base import (BaseEngine, check_context, check_k, checked_fit, checked_suggest,
                                  gather_lists, list_width, one_request_frame, suggestions_frame,
                                  zoned_one)

#: The dayparts of ``context-popular``: the last local hour of each.
DAYPARTS = ((5, "night"), (11, "morning"), (17, "afternoon"), (23, "evening"))

#: Columns of a Requests frame that are never context (``is_weekend`` is a slice of its own).
NOT_CONTEXT = {*ID_COLUMNS, *TIME_FIELDS} - {"is_weekend"}


def _one_path(engine: BaseEngine, context: dict) -> bool:
    """Check a context for a baseline's ``suggest_one`` and say whether its own path reads
    it as a one-row frame would (else the batch path answers it)."""
    from suggest.rules.one import plain

    check_context(context, getattr(engine, "context_columns_", None))
    engine.check_fitted()
    return plain(context)


def _engagements(requests: pd.DataFrame, truth: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Truth rows joined with the named request columns."""
    keep = ["request_id", *[c for c in columns if c in requests.columns]]
    joined = truth[["request_id", "item_id"]].merge(requests[keep], on="request_id", how="inner")
    joined["item_id"] = joined["item_id"].astype(str)
    return joined


def item_counts(truth: pd.DataFrame) -> pd.Series:
    """Engagements per item (the item ids as text)."""
    counts = truth["item_id"].astype(str).value_counts(sort=False)
    counts.index.name = "item_id"
    return counts


def ranked_items(counts: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Items by count descending, then item id ascending."""
    frame = counts.rename("n").reset_index().sort_values(["n", "item_id"], ascending=[False, True])
    return frame["item_id"].to_numpy(dtype=object), frame["n"].to_numpy(dtype=float)


class Popular(BaseEngine):
    """Most engaged items in the training window, for every request.

    >>> Popular().fit(requests, truth).suggest(requests, k=5)   # doctest: +SKIP
    """

    name = "popular"

    def __init__(self):
        pass

    @checked_fit
    def fit(self, requests: pd.DataFrame, truth: pd.DataFrame,
            catalog: pd.DataFrame | None = None) -> "Popular":
        return self.fit_counts(self.counts(requests, truth), requests.iloc[:0], catalog)

    def counts(self, requests: pd.DataFrame, truth: pd.DataFrame) -> pd.Series:
        return item_counts(truth)

    def fit_counts(self, counts, requests, catalog=None) -> "Popular":
        self._remember_context(requests)
        self.ranking_, self.counts_ = ranked_items(counts)
        return self

    @zoned_one
    def suggest_one(self, context: dict, k: int) -> pd.DataFrame:
        """The same list for any context (the batch path's rows, without its fixed cost)."""
        from suggest.rules.one import read_time

        if not _one_path(self, context):
            return super().suggest_one(context, k)
        read_time(context)  # a time or zone that does not parse is refused, as in a batch
        n = min(check_k(k), len(self.ranking_))
        return one_request_frame(
            str(context.get("request_id", "context")), self.name, self.ranking_[:n],
            self.counts_[:n].copy(), "popular")

    @checked_suggest
    def suggest(self, requests: pd.DataFrame, k: int) -> pd.DataFrame:
        self.check_fitted()
        k = min(check_k(k), len(self.ranking_))
        items = np.sort(self.ranking_)
        codes = np.searchsorted(items, self.ranking_[:k]).reshape(1, -1)
        return gather_lists(requests["request_id"], np.zeros(len(requests), dtype=np.int64), codes,
                            self.counts_[:k].reshape(1, -1), np.zeros_like(codes), items,
                            ["popular"], self.name)


#: A missing value in the full slice of :class:`ContextPopular` (a value of its own there, so
#: a column that is always missing does not switch the full slice off).
MISSING = "\x00missing"


class ContextPopular(BaseEngine):
    """Most engaged items in the request's context slice, backing off to coarser slices:
    the slice of every column at once (a missing value is a value there), then each
    column's alone, most informative first (a missing value has none), then popular.

    Parameters
    ----------
    columns : list of str, optional
        Context columns that define slices. Default: every categorical or
        boolean column of the training requests, plus ``is_weekend`` and a
        four-part ``daypart`` of the local hour when the log has time.
    min_support : int
        Engagements a slice needs before it is trusted.
    """

    name = "context-popular"

    def __init__(self, columns: list[str] | None = None, min_support: int = 5):
        self.columns = columns
        self.min_support = min_support

    @staticmethod
    def _with_daypart(requests: pd.DataFrame) -> pd.DataFrame:
        requests = with_time_fields(requests)
        if "hour" not in requests.columns:
            return requests
        hour = requests["hour"].astype("Float64")
        part = pd.cut(hour, [-1, *(h for h, _ in DAYPARTS)], labels=[name for _, name in DAYPARTS])
        return requests.assign(daypart=part)

    def columns_read(self) -> list[str]:
        """Its slice columns; the timestamp for the ones read from the time (daypart and the
        local fields)."""
        columns, timed = getattr(self, "columns_", []), {"daypart", *TIME_FIELDS}
        return [c for c in columns if c not in timed] + (["timestamp"] if timed & set(columns)
                                                         else [])

    def values_of(self, context: dict, local) -> dict:
        """One context's slice values as the batch path reads them (``local``: its
        ``(hour, minute, weekday)``, or None without a time)."""
        values = {}
        for col in self.columns_:
            if col == "daypart":
                values[col] = None if local is None else next(n for h, n in DAYPARTS if local[0] <= h)
            elif col == "is_weekend":
                values[col] = None if local is None else bool(local[2] >= 5)
            else:
                value = context.get(col)
                missing = value is None or (isinstance(value, float) and value != value)
                values[col] = None if missing else (value if isinstance(value, bool) else str(value))
        return values

    def _plain_slices(self, context: dict) -> bool:
        """Whether :meth:`values_of` reads every slice value of ``context`` as a frame does:
        text for a text column, True/False for a boolean one, the dayparts from the
        timestamp; other columns and values (numbers) go through the batch path."""
        kinds = getattr(self, "context_columns_", None) or {}
        for col in self.columns_:
            if col in ("daypart", "is_weekend") and col not in kinds:
                continue  # from the timestamp
            kind, value = kinds.get(col), context.get(col)
            if (kind == "categorical" and (value is None or isinstance(value, str))) or \
                    (kind == "boolean" and (value is None or isinstance(value, (bool, np.bool_)))):
                continue
            return False  # a number, a time field, or a column the context keys do not name
        return True

    @zoned_one
    def suggest_one(self, context: dict, k: int) -> pd.DataFrame:
        """The batch path's rows for one context, without its fixed cost."""
        from suggest.rules.one import read_time

        if not (_one_path(self, context) and self._plain_slices(context)):
            return super().suggest_one(context, k)
        k = check_k(k)
        chosen, why = self._list_for(self.values_of(context, read_time(context)[0]), k)
        return one_request_frame(
            str(context.get("request_id", "context")), self.name, np.array(chosen, dtype=object),
            1.0 - np.arange(len(chosen)) / max(k, 1), np.array(why, dtype=object))

    def _default_columns(self, requests: pd.DataFrame) -> list[str]:
        cols = [c for c in requests.columns if c not in NOT_CONTEXT and (
            isinstance(requests[c].dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(requests[c])
            or requests[c].dtype == object or pd.api.types.is_string_dtype(requests[c].dtype))]
        return cols

    @checked_fit
    def fit(self, requests: pd.DataFrame, truth: pd.DataFrame,
            catalog: pd.DataFrame | None = None) -> "ContextPopular":
        return self.fit_counts(self.counts(requests, truth), requests.iloc[:0], catalog)

    def _slice_columns(self, requests: pd.DataFrame) -> list[str]:
        return list(self.columns) if self.columns is not None else self._default_columns(requests)

    def counts(self, requests: pd.DataFrame, truth: pd.DataFrame) -> pd.Series:
        """Engagements per (slice column values..., item), every column's value kept (a
        missing one too)."""
        requests = self._with_daypart(requests)
        columns = self._slice_columns(requests)
        joined = _engagements(requests, truth, columns)
        plain = joined[columns].astype(object).where(joined[columns].notna(), None)
        return pd.concat([plain, joined[["item_id"]]], axis=1).groupby(
            [*columns, "item_id"], dropna=False, sort=False).size()

    def fit_counts(self, counts, requests, catalog=None) -> "ContextPopular":
        self._remember_context(requests)
        columns = self._slice_columns(self._with_daypart(requests))
        table = counts.rename("n").reset_index()
        # Single columns, most informative first: how much knowing the column lowers
        # the entropy of the engaged item (ties: the column's place in the frame).
        gains = {c: _information(table, c) for c in columns}
        singles = sorted(columns, key=lambda c: (-gains[c], columns.index(c)))
        levels = ([tuple(columns)] if len(columns) > 1 else []) + [(c,) for c in singles]
        self.columns_ = columns
        self.levels_ = []
        self._memo = {}  # (k, context values) -> list: chunks of a replay share most contexts
        for level in levels:
            if len(level) > 1:  # the full slice: a missing value is a value of its own
                rows = table.assign(**{c: table[c].astype(object).where(table[c].notna(), MISSING)
                                       for c in level})
            else:
                rows = table.dropna(subset=list(level))
            level_counts = rows.groupby([*level, "item_id"], sort=True)["n"].sum()
            self.levels_.append((level, self._slice_lists(level_counts[level_counts > 0])))
        popular = table.groupby("item_id")["n"].sum()
        self.popular_, _ = ranked_items(popular[popular > 0])
        return self

    def _slice_lists(self, counts: pd.Series) -> dict:
        """Each slice's items (count descending, then item id), for the slices with at least
        ``min_support`` engagements, from counts by (slice values..., item_id): one sort of
        every slice's items together, not one per slice."""
        if counts.empty:
            return {}
        keys = counts.index.droplevel(-1)
        slice_code, slices = pd.factorize(keys)
        item_code, _ = pd.factorize(counts.index.get_level_values(-1), sort=True)  # in id order
        n = counts.to_numpy(dtype=np.int64)
        order = np.lexsort((item_code, -n, slice_code))
        sizes = np.bincount(slice_code, minlength=len(slices))
        lists = np.split(counts.index.get_level_values(-1).to_numpy(dtype=object)[order],
                         np.cumsum(sizes)[:-1])
        support = np.bincount(slice_code, weights=n, minlength=len(slices))
        return {(key if isinstance(key, tuple) else (key,)): lists[s]
                for s, key in enumerate(slices) if support[s] >= self.min_support}

    def _list_for(self, values: dict, k: int) -> tuple[list[str], list[str]]:
        """The list for one context: slice by slice, most specific first, then popular."""
        chosen, why, taken = [], [], set()  # the set: a k of thousands stays linear
        for level, table in self.levels_:
            key = tuple(values.get(c) for c in level)
            if len(level) > 1:
                key = tuple(MISSING if v is None else v for v in key)
            if None in key or key not in table:
                continue
            label = "context-popular:" + ",".join(f"{c}={'(missing)' if v == MISSING else v}"
                                                  for c, v in zip(level, key))
            for item in table[key]:
                if len(chosen) < k and item not in taken:
                    chosen.append(item)
                    why.append(label)
                    taken.add(item)
        for item in self.popular_:
            if len(chosen) >= k:
                break
            if item not in taken:
                chosen.append(item)
                why.append("popular")
                taken.add(item)
        return chosen, why

    @checked_suggest
    def suggest(self, requests: pd.DataFrame, k: int) -> pd.DataFrame:
        self.check_fitted()
        k = check_k(k)
        frame = self._with_daypart(requests)
        frame = frame.reindex(columns=[*frame.columns, *[c for c in self.columns_ if c not in frame]])
        keys = frame[self.columns_].astype(object).where(frame[self.columns_].notna(), None)
        codes = keys.groupby(self.columns_, sort=False, dropna=False).ngroup().to_numpy() \
            if self.columns_ else np.zeros(len(frame), dtype=np.int64)
        distinct = keys.drop_duplicates().to_dict("records") if self.columns_ else [{}]
        lists, reasons = [], {}
        memo = self.__dict__.setdefault("_memo", {})
        if len(memo) > 100_000:
            memo.clear()
        for values in distinct:
            key = (k, *values.values())
            if key not in memo:
                memo[key] = self._list_for(values, k)
            chosen, why = memo[key]
            lists.append((chosen, [reasons.setdefault(w, len(reasons)) for w in why]))
        items = np.array(sorted({i for chosen, _ in lists for i in chosen}), dtype=object)
        width = list_width(k, max((len(chosen) for chosen, _ in lists), default=0))
        item_codes = np.full((len(lists), width), -1, dtype=np.int64)
        reason_codes = np.full((len(lists), width), -1, dtype=np.int64)
        for p, (chosen, why) in enumerate(lists):
            item_codes[p, :len(chosen)] = np.searchsorted(items, chosen) if chosen else []
            reason_codes[p, :len(why)] = why
        scores = np.tile(1.0 - np.arange(width) / max(k, 1), (len(lists), 1))
        # ngroup numbers keys in first-appearance order, as drop_duplicates lists them
        return gather_lists(requests["request_id"], codes, item_codes, scores, reason_codes, items,
                            list(reasons), self.name)


def _information(table: pd.DataFrame, column: str) -> float:
    """Entropy of the engaged item minus its entropy given ``column`` (over the engagements
    with a value), from counts ``n`` by (columns..., item_id); sums in key order, so the same
    counts give the same figure however they were cut and added up."""
    rows = table[table[column].notna() & (table["n"] > 0)]
    if rows.empty:
        return 0.0

    def entropy(counts: np.ndarray) -> float:
        p = counts / counts.sum()
        return float(-(p * np.log2(p)).sum())
    total = rows["n"].sum()
    whole = entropy(rows.groupby("item_id", sort=True)["n"].sum().to_numpy(dtype=float))
    by_value = rows.groupby([column, "item_id"], sort=True)["n"].sum()
    conditional = 0.0
    for _, counts in by_value.groupby(level=0, sort=True):
        n = counts.to_numpy(dtype=float)
        conditional += n.sum() / total * entropy(n)
    return whole - conditional


class UserHistory(BaseEngine):
    """The user's own most engaged items strictly before the request's time."""

    name = "user-history"

    def request_columns(self) -> tuple[str, ...]:
        return ("request_id", "user_id")

    def columns_read(self) -> list[str]:
        """The time, when it was fitted with one: a history is what came before it."""
        return ["timestamp"] if getattr(self, "has_time_", False) else []

    def __init__(self):
        pass

    @checked_fit
    def fit(self, requests: pd.DataFrame, truth: pd.DataFrame,
            catalog: pd.DataFrame | None = None) -> "UserHistory":
        return self.fit_events(self.events(requests, truth), requests)

    def events(self, requests: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
        """The engagements ``fit`` learns from, one row per row of ``truth`` (every one of
        whose requests is in ``requests``), in its order: ``user_id`` and ``item_id`` as
        text and ``t``, the time in nanoseconds (0 without time). The history is these
        events themselves, so the events of any cut of the training requests, put back in
        the Truth frame's order, fit the same engine (:meth:`fit_events`): a cluster's
        buckets send these three columns, not their frames."""
        cols = ["user_id"] + (["timestamp"] if "timestamp" in requests.columns else [])
        events = _engagements(requests, truth, cols)
        events["user_id"] = events["user_id"].astype(str)
        events["t"] = nanoseconds(events["timestamp"]) if "timestamp" in events.columns else 0
        return events[["user_id", "item_id", "t"]]

    def fit_events(self, events: pd.DataFrame, requests: pd.DataFrame) -> "UserHistory":
        """Fit from :meth:`events` (of every training engagement, in the Truth frame's
        order); ``requests`` needs only the Requests frame's columns and types (a frame of
        no rows will do)."""
        self._remember_context(requests)
        self.has_time_ = "timestamp" in requests.columns
        self.pairs_ = events[["user_id", "item_id"]].drop_duplicates().reset_index(drop=True)
        pair = pd.MultiIndex.from_frame(self.pairs_).get_indexer(
            pd.MultiIndex.from_frame(events[["user_id", "item_id"]]))
        self.past_ = PastCounts(pair, events["t"].to_numpy(dtype=np.int64))
        self._by_user = None  # the one-context lookups belong to the previous fit
        return self

    def __getstate__(self) -> dict:  # a copy or a pickle carries no one-context lookups
        return {**self.__dict__, "_by_user": None}

    def state(self) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
        """The (user, item) pairs and the arrays of their counts (for a model folder: Parquet,
        never pickled); :meth:`restore` reads them back."""
        return self.pairs_, self.past_.state()

    @classmethod
    def restore(cls, pairs: pd.DataFrame, arrays: dict[str, np.ndarray], has_time: bool,
                requests: pd.DataFrame) -> "UserHistory":
        """The engine :meth:`state` gave ``pairs`` and ``arrays`` of; ``requests``: the
        Requests frame's columns and types (a frame of no rows)."""
        engine = cls()
        engine._remember_context(requests)
        engine.has_time_ = has_time
        engine.pairs_ = pairs.astype({"user_id": object, "item_id": object})
        engine.past_ = PastCounts.restore(arrays)
        engine._by_user = None
        return engine

    @zoned_one
    def suggest_one(self, context: dict, k: int) -> pd.DataFrame:
        """The batch path's rows for one context (the user's items before its time, most
        engaged first, ties by item id), without its fixed cost."""
        from suggest.rules.one import read_time

        if not _one_path(self, context):
            return super().suggest_one(context, k)
        k = check_k(k)
        utc_ns = read_time(context)[1]
        by_user = getattr(self, "_by_user", None)
        if by_user is None:  # each user's pairs, once
            items = self.pairs_["item_id"].to_numpy(dtype=object)
            by_user = self._by_user = {
                user: (np.asarray(idx, dtype=np.int64), items[idx])
                for user, idx in self.pairs_.groupby("user_id", sort=False).indices.items()}
        idx, items = by_user.get(str(context.get("user_id", "-")), (np.zeros(0, np.int64), np.zeros(0, object)))
        when = utc_ns if self.has_time_ and utc_ns is not None else NEVER
        counts = self.past_.count(idx, np.full(len(idx), when, dtype=np.int64))
        keep = counts > 0
        order = np.lexsort((items[keep], -counts[keep]))[:k]
        return one_request_frame(
            str(context.get("request_id", "context")), self.name, items[keep][order],
            counts[keep][order].astype(float), "user-history")

    @checked_suggest
    def suggest(self, requests: pd.DataFrame, k: int) -> pd.DataFrame:
        self.check_fitted()
        k = check_k(k)
        ask = pd.DataFrame({"row": np.arange(len(requests)),
                            "user_id": requests["user_id"].astype(str).to_numpy()})
        if self.has_time_ and "timestamp" in requests.columns:
            check_zoned(requests)
            ask["t"] = nanoseconds(requests["timestamp"])
        else:
            ask["t"] = NEVER
        pairs = self.pairs_.reset_index(names="pair")
        cand = ask.merge(pairs, on="user_id", how="inner")
        cand["n"] = self.past_.count(cand["pair"].to_numpy(), cand["t"].to_numpy())
        cand = cand[cand["n"] > 0].sort_values(["row", "n", "item_id"], ascending=[True, False, True],
                                                kind="stable")
        cand["rank"] = cand.groupby("row", sort=False).cumcount() + 1
        cand = cand[cand["rank"] <= k]
        items = np.array(sorted(cand["item_id"].unique()), dtype=object)
        return suggestions_frame(requests["request_id"], cand["row"].to_numpy(),
                                 cand["rank"].to_numpy(),
                                 np.searchsorted(items, cand["item_id"].to_numpy(dtype=object)), items,
                                 cand["n"].to_numpy(dtype=float),
                                 np.zeros(len(cand), dtype=np.int64), ["user-history"], self.name)


class Random(BaseEngine):
    """A seeded uniform sample of the catalog per request (a floor for every metric)."""

    name = "random"

    def __init__(self, seed: int = 0):
        self.seed = seed

    @checked_fit
    def fit(self, requests: pd.DataFrame, truth: pd.DataFrame,
            catalog: pd.DataFrame | None = None) -> "Random":
        return self.fit_counts(self.counts(requests, truth), requests.iloc[:0], catalog)

    def counts(self, requests: pd.DataFrame, truth: pd.DataFrame) -> pd.Series:
        return item_counts(truth)

    def fit_counts(self, counts, requests, catalog=None) -> "Random":
        self._remember_context(requests)
        items = set(counts.index.astype(str))
        if catalog is not None and len(catalog):
            items |= set(catalog["item_id"].astype(str))
        self.items_ = np.array(sorted(items), dtype=object)
        return self

    #: Cells of the (requests x items) key table held at once: a block of requests gets
    #: about this many keys, so memory stays bounded whatever the catalog and batch sizes.
    block_cells = 2_000_000

    @zoned_one
    def suggest_one(self, context: dict, k: int) -> pd.DataFrame:
        """The batch path's list for one context (drawn by its request id), without its
        fixed cost: 10 ms a list on a 20,000-item catalog through the batch path."""
        from suggest.rules.one import read_time

        if not _one_path(self, context):
            return super().suggest_one(context, k)
        read_time(context)  # a time or zone that does not parse is refused, as in a batch
        k = min(check_k(k), len(self.items_))
        request_id = str(context.get("request_id", "context"))
        codes = self._draw(np.array([request_id], dtype=object), k)[0]
        return one_request_frame(request_id, self.name, self.items_[codes],
                                 1.0 - np.arange(k) / max(k, 1), "random")

    @checked_suggest
    def suggest(self, requests: pd.DataFrame, k: int) -> pd.DataFrame:
        self.check_fitted()
        k = min(check_k(k), len(self.items_))
        codes = self._draw(requests["request_id"].astype(str).to_numpy(dtype=object), k)
        rows = np.repeat(np.arange(len(requests)), k)
        ranks = np.tile(np.arange(1, k + 1), len(requests))
        return suggestions_frame(requests["request_id"], rows, ranks, codes.reshape(-1), self.items_,
                                 1.0 - (ranks - 1) / max(k, 1), np.zeros(len(rows), dtype=np.int64),
                                 ["random"], self.name)

    def _draw(self, request_ids: np.ndarray, k: int) -> np.ndarray:
        """The item codes of each request's list (requests x k): the ``k`` items whose keys,
        hashed from the seed, the request id and the item's place, are smallest."""
        request_hash = pd.util.hash_array(request_ids)
        request_hash = mix64(request_hash ^ mix64(np.array([self.seed % 2**64], dtype=np.uint64)))
        item_hash = mix64(np.arange(len(self.items_), dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15))
        codes = np.zeros((len(request_ids), k), dtype=np.int64)
        rows_per_block = max(1, self.block_cells // max(len(self.items_), 1))
        for lo in range(0, len(request_ids) if k else 0, rows_per_block):
            keys = mix64(request_hash[lo:lo + rows_per_block, None] ^ item_hash[None, :])
            codes[lo:lo + len(keys)] = smallest_keys(keys, k)
        return codes


def smallest_keys(keys: np.ndarray, k: int) -> np.ndarray:
    """The columns of each row's ``k`` smallest keys, smallest first and equal keys by column:
    what ``np.argsort(keys, axis=1, kind="stable")[:, :k]`` gives, without sorting whole rows
    (a partition finds each row's k-th key; only the k kept are sorted).

    >>> smallest_keys(np.array([[5, 1, 3, 1], [2, 2, 2, 0]], dtype=np.uint64), 2)
    array([[1, 3],
           [3, 0]])
    """
    if k == 0:
        return np.zeros((len(keys), 0), dtype=np.int64)
    kth = np.partition(keys, k - 1, axis=1)[:, k - 1:k]
    kept = keys <= kth
    crowded = np.flatnonzero(kept.sum(axis=1) > k)  # the k-th key is tied (rare in 64 bits)
    if len(crowded):  # the leftmost tied columns fill the row, as in a stable sort
        sub, edge = keys[crowded], kth[crowded]
        tied = sub == edge
        wanted = k - (sub < edge).sum(axis=1, keepdims=True)
        kept[crowded] = (sub < edge) | (tied & (np.cumsum(tied, axis=1) <= wanted))
    columns = np.nonzero(kept)[1].reshape(len(keys), k)  # row-major: ascending columns per row
    order = np.argsort(np.take_along_axis(keys, columns, axis=1), axis=1, kind="stable")
    return np.take_along_axis(columns, order, axis=1)
