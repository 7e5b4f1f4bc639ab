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
* ``src_*``, ``rule_rank``, ``rule_blocked`` from candidate generation.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from suggest.data.timefields import with_time_fields
from suggest.history import PastCounts, nanoseconds

ID_COLUMNS = {"request_id", "user_id", "timestamp", "timezone"}
TIME_COLUMNS = ("hour", "weekday", "is_weekend")
RECENT_DAYS = 7  # the window of the recent history features
CANDIDATE_FEATURES = ("src_history", "src_rules", "src_context", "src_popular", "rule_rank",
                      "rule_blocked")


def context_columns(requests: pd.DataFrame) -> dict[str, str]:
    """The context columns of a Requests frame and how the features read each:
    ``categorical`` (text, categories) or ``numeric`` (numbers, booleans)."""
    return {col: column_kind(requests[col]) for col in requests.columns
            if col not in ID_COLUMNS and col not in ("minute", *TIME_COLUMNS)}


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
        self.distinct, inverse = np.unique(keys, return_inverse=True)
        size = len(self.distinct)
        self.total = np.bincount(inverse, weights=weights, minlength=size)
        self.by_fold = np.bincount(inverse * n_folds + folds, weights=weights, minlength=size * n_folds)

    def lookup(self, keys: np.ndarray, folds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        keys, folds = np.asarray(keys, dtype=np.int64), np.asarray(folds, dtype=np.int64)
        rank = np.minimum(np.searchsorted(self.distinct, keys), len(self.distinct) - 1)
        known = self.distinct[rank] == keys
        own = np.where(known & (folds >= 0), self.by_fold[rank * self.n_folds + np.maximum(folds, 0)], 0.0)
        return np.where(known, self.total[rank], 0.0) - own, np.full(len(keys), np.nan)


class _Counters:
    """Named counters over the same events, answered together.

    Counter ``j``'s key ``k`` is stored as ``k * n + j`` in one structure
    (:class:`PastCounts` with time, :class:`_FoldCounts` without), so every
    statistic of a feature row comes from one search instead of one per
    counter: what makes a single context cheap. Rows are answered in blocks so
    a large batch never holds every counter's queries at once.
    """

    BLOCK = 1 << 16

    def __init__(self, keys: dict[str, np.ndarray], when: np.ndarray, make):
        self.slot = {name: j for j, name in enumerate(keys)}
        n = len(self.slot)
        joined = np.concatenate([np.asarray(k, dtype=np.int64) * n + j
                                 for j, k in enumerate(keys.values())])
        self.counter = make(joined, np.tile(np.asarray(when), n))

    def lookup(self, queries: dict[str, np.ndarray], when: np.ndarray,
               at: dict[str, np.ndarray] | None = None) -> dict[str, tuple]:
        """(count, last time) per named query; every query has one key per row of ``when``.

        A query named ``counter@label`` asks counter ``counter`` at its own times
        ``at[name]`` (e.g. a window's start) in the same search.
        """
        n, names, rows, at = len(self.slot), list(queries), len(when), at or {}
        slots = [self.slot[name.split("@")[0]] for name in names]
        parts = []
        for start in range(0, max(rows, 1), self.BLOCK):
            stop = min(start + self.BLOCK, rows)
            keys = np.concatenate([np.asarray(queries[name][start:stop], dtype=np.int64) * n + slot
                                   for name, slot in zip(names, slots)])
            times = np.concatenate([np.asarray(at.get(name, when)[start:stop], dtype=np.int64)
                                    for name in names])
            got, seen = self.counter.lookup(keys, times)
            parts.append((got.reshape(len(names), -1), seen.reshape(len(names), -1)))
        got = parts[0][0] if len(parts) == 1 else np.hstack([g for g, _ in parts])
        seen = parts[0][1] if len(parts) == 1 else np.hstack([s for _, s in parts])
        return {name: (got[i], seen[i]) for i, name in enumerate(names)}


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
        return self

    def _fit_counts(self, requests: pd.DataFrame, events: pd.DataFrame) -> None:
        item = self._item_codes(events["item_id"])
        user = self._user_codes(events["user_id"])
        n_items = len(self.items_) + 1
        if self.has_time_:
            when = nanoseconds(events["timestamp"])
            make = PastCounts
        else:
            rng = np.random.default_rng(self.seed)
            fold_of = pd.Series(rng.integers(0, self.folds, len(requests)),
                                index=requests["request_id"].to_numpy())
            self.train_folds_ = fold_of
            when = fold_of.reindex(events["request_id"]).to_numpy()
            make = lambda keys, folds: _FoldCounts(keys, folds, self.folds)  # noqa: E731
        keys = {"all": np.zeros(len(events), dtype=np.int64), "item": item, "user": user,
                "user_item": user * n_items + item}
        for col in self.slices_:
            value = self._category_codes(events[col], self.context_[col][1])
            ok = value >= 0
            width = len(self.context_[col][1]) + 1
            slice_key = np.where(ok, value, width - 1)
            keys[f"slice:{col}"] = slice_key
            keys[f"slice_item:{col}"] = slice_key * n_items + item
        self.counts_ = _Counters(keys, when, make)

    def _names(self) -> list[str]:
        names = [f"ctx:{c}" for c in self.context_]
        names += [c for c in TIME_COLUMNS if self.has_time_]
        names += ["item"] + [f"attr:{a}" for a in self.attributes_]
        names += ["item_share"] + [f"slice_share:{c}" for c in self.slices_]
        names += ["user_item_count", "user_item_share", "user_total", "user_item_hours_since"]
        names += ["user_item_share_recent", "user_recent"] if self.has_time_ else []
        return names + list(CANDIDATE_FEATURES)

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
        return self._category_codes(items.astype(str), self.items_)

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
                            self._user_codes(req["user_id"]), self._when(req, training), extra)
        return pd.DataFrame(out, columns=self.names_)

    def assemble(self, ctx: dict, times: dict, item: np.ndarray, user: np.ndarray, when: np.ndarray,
                 extra: dict) -> dict[str, np.ndarray]:
        """Feature columns from per-row codes and values (shared by the batch and the
        one-context paths, so both compute the same statistics the same way).

        ``ctx``: per context column, category codes (categorical) or floats;
        ``times``: hour, weekday, is_weekend; ``item``/``user``: codes (-1
        unknown); ``when``: query clock (ns, or a fold / -1 without time);
        ``extra``: the candidate columns.
        """
        n = len(item)
        out = {}
        for col, (kind, _) in self.context_.items():
            out[f"ctx:{col}"] = np.asarray(ctx[col], dtype=np.float32)
        for col in (TIME_COLUMNS if self.has_time_ else ()):
            out[col] = np.asarray(times.get(col, np.full(n, np.nan)), dtype=np.float32)
        out["item"] = item.astype(np.float32)
        for attr in self.attributes_:
            out[f"attr:{attr}"] = self.attribute_table_[attr][item]  # item -1 reads the last slot
        n_items = len(self.items_) + 1
        item_key = np.where(item >= 0, item, n_items - 1)
        user_key = np.where(user >= 0, user, len(self.users_) + 1)
        queries = {"all": np.zeros(n, dtype=np.int64), "item": item_key, "user": user_key,
                   "user_item": user_key * n_items + item_key}
        slice_values = {}
        for col in self.slices_:
            value = slice_values[col] = np.asarray(ctx[col], dtype=np.int64)
            slice_key = np.where(value >= 0, value, len(self.context_[col][1]))
            queries[f"slice:{col}"] = slice_key
            queries[f"slice_item:{col}"] = slice_key * n_items + item_key
        when = np.asarray(when, dtype=np.int64)
        at = {}
        if self.has_time_:  # the same counters at the recent window's start, in the same search
            queries["user_item@recent"], queries["user@recent"] = queries["user_item"], user_key
            at = dict.fromkeys(("user_item@recent", "user@recent"), when - RECENT_DAYS * 86_400 * 10**9)
        got = self.counts_.lookup(queries, when, at)
        out["item_share"] = _share(got["item"][0], got["all"][0])
        for col in self.slices_:
            share = _share(got[f"slice_item:{col}"][0], got[f"slice:{col}"][0])
            out[f"slice_share:{col}"] = np.where(slice_values[col] >= 0, share, np.nan).astype(np.float32)
        mine, last = got["user_item"]
        user_total = got["user"][0]
        out["user_item_count"] = mine.astype(np.float32)
        out["user_item_share"] = _share(mine, user_total)
        out["user_total"] = np.log1p(user_total).astype(np.float32)
        out["user_item_hours_since"] = ((when - last) / 3.6e12).astype(np.float32) if self.has_time_ \
            else np.full(n, np.nan, dtype=np.float32)
        if self.has_time_:
            recent_total = user_total - got["user@recent"][0]
            out["user_item_share_recent"] = _share(mine - got["user_item@recent"][0], recent_total)
            out["user_recent"] = np.log1p(recent_total).astype(np.float32)
        for col in CANDIDATE_FEATURES:
            out[col] = np.asarray(extra.get(col, np.zeros(n)), dtype=np.float32)
        return out

    def _when(self, req: pd.DataFrame, training: bool) -> np.ndarray:
        if self.has_time_:
            return nanoseconds(req["timestamp"])
        if training:
            return self.train_folds_.reindex(req["request_id"]).fillna(-1).to_numpy(dtype=np.int64)
        return np.full(len(req), -1, dtype=np.int64)


def _share(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(whole > 0, part / whole, np.nan).astype(np.float32)
