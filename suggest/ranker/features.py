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

Engagement counts are kept per *group* of engagements (:class:`GroupCounters`):
everyone, the user, each slice value, the user within each slice value, the
full slice and the user within it, the user by each attribute value and,
with time, the user's first engagement with each item. A group of the user
within a slice whose keys would not fit 62 bits (a huge catalog times many
users times many values) is left out, with its features.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from suggest.data.timefields import ID_COLUMNS, TIME_FIELDS, with_time_fields
from suggest.history import nanoseconds
from suggest.ranker.counters import FoldCounts, GroupCounters, LatestTotals, share
from suggest.ranker.serving import RECENT_DAYS, ServingTable

TIME_COLUMNS = ("hour", "weekday", "is_weekend")  # the time fields the ranker reads
LOG1P_FEATURES = ("user_total", "user_recent")  # counts the ranker reads as log1p(count)
CANDIDATE_FEATURES = ("src_history", "src_rules", "src_context", "src_popular", "rule_rank",
                      "rule_blocked")


FLOAT32_MAX = float(np.finfo(np.float32).max)


def as_float32(values) -> np.ndarray:
    """Context values as the float32 rows the trees read: a number past float32's range (a
    log's 1e308) kept at its largest value instead of overflowing to infinity with a warning;
    NaN stays NaN. Both the batch and the one-context path use it, so they agree."""
    return np.clip(np.asarray(values, dtype=np.float64), -FLOAT32_MAX, FLOAT32_MAX).astype(
        np.float32)


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
        events = truth[["request_id", "item_id"]].merge(requests, on="request_id", how="inner")
        known = set(truth["item_id"].astype(str)) | (
            set(catalog["item_id"].astype(str)) if catalog is not None else set())
        self._vocabulary(sorted(known), sorted(requests["user_id"].astype(str).unique()), catalog)
        self._fit_counts(requests, events)
        return self._finish()

    def _vocabulary(self, items: list[str], users: list[str], catalog: pd.DataFrame | None) -> None:
        """Item and user codes, the slices (their sizes and the keys they give) and the
        catalog's attribute codes per item, from ``context_`` and ``attributes_`` (fitted, or
        restored from a model folder)."""
        self.catalog_ = None if catalog is None else catalog.assign(
            item_id=catalog["item_id"].astype(str)).drop_duplicates("item_id").set_index("item_id")
        self.items_, self.users_ = items, users
        self.slices_ = [c for c, (kind, _) in self.context_.items() if kind == "categorical"]
        # the key a group gives an unknown user or a missing or unseen slice value
        self.unknown_user_ = len(self.users_) + 1
        self.cards_ = [len(self.context_[c][1]) for c in self.slices_]
        self.radix_ = np.cumprod([1, *(c + 1 for c in self.cards_)], dtype=object)
        self.attribute_table_ = {}
        for attr, (kind, cats) in self.attributes_.items():
            values = self.catalog_[attr].reindex(self.items_).reset_index(drop=True)
            table = (self._category_codes(values, cats).astype(np.float32) if kind == "categorical"
                     else values.to_numpy(dtype=np.float32))
            self.attribute_table_[attr] = np.append(table, np.float32(np.nan if kind != "categorical"
                                                                      else -1))

    def _finish(self) -> "Features":
        """The feature names and the rows each part of a context fills, from the groups."""
        self.names_ = self._names()
        self.position_ = {name: i for i, name in enumerate(self.names_)}
        self.context_rows_ = [(col, self.position_[f"ctx:{col}"]) for col in self.context_]
        self.time_rows_ = [(col, self.position_[col]) for col in TIME_COLUMNS if self.has_time_]
        self.head_rows_ = slice(0, len(self.context_rows_) + len(self.time_rows_))  # one value a context
        assert [row for _, row in self.context_rows_ + self.time_rows_] == list(range(self.head_rows_.stop))
        self.attribute_rows_ = [(attr, self.position_[f"attr:{attr}"]) for attr in self.attributes_]
        self.candidate_rows_ = slice(len(self.names_) - len(CANDIDATE_FEATURES), len(self.names_))
        return self

    # -- a model folder's state ----------------------------------------------------------
    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """What serving needs beyond the manifest's encodings (``context_``, ``attributes_``,
        ``items_``) and the catalog: a JSON-able dict and numeric arrays (the counters), so
        a model folder stores its statistics instead of the training log they were counted
        from. :meth:`restore` reads them back; the training folds of a log without time are
        not kept (a restored model serves, it is not trained further)."""
        counter = self.counts_.counter
        arrays = {f"counts.{name}": values for name, values in counter.state().items()}
        if hasattr(self, "combos_"):
            arrays["combos"] = self.combos_
        return {"has_time": self.has_time_, "folds": self.folds, "seed": self.seed,
                "context_order": list(self.context_), "groups": [list(g) for g in self.groups_],
                "counter": "latest" if isinstance(counter, LatestTotals) else "folds"}, arrays

    @classmethod
    def restore(cls, state: dict, arrays: dict[str, np.ndarray], encodings: dict,
                users: list[str], catalog: pd.DataFrame | None) -> "Features":
        """The fitted features :meth:`state` gave ``state`` and ``arrays`` of; ``encodings``
        is the manifest's (``context``, ``attributes``, ``items``), ``users`` the user codes'
        ids in order."""
        self = cls(folds=state["folds"], seed=state["seed"])
        self.has_time_ = state["has_time"]
        self.context_ = {col: (encodings["context"][col]["type"], encodings["context"][col]["categories"])
                         for col in state["context_order"]}
        self.attributes_ = {name: (kind["type"], kind["categories"])
                            for name, kind in encodings["attributes"].items()}
        self._vocabulary(list(encodings["items"]), list(users), catalog)
        if "combos" in arrays:
            self.combos_ = arrays["combos"]
        self.groups_ = [tuple(g) for g in state["groups"]]
        self.group_index_ = {group: g for g, group in enumerate(self.groups_)}
        counter = {"latest": LatestTotals, "folds": FoldCounts}[state["counter"]]
        counted = {name.split(".", 1)[1]: values for name, values in arrays.items()
                   if name.startswith("counts.")}
        # an item code per item and one for an unknown item; two counters a group
        self.counts_ = GroupCounters.restore(len(self.items_) + 1, 2 * len(self.groups_),
                                             counter.restore(counted))
        return self._finish()

    def _fit_counts(self, requests: pd.DataFrame, events: pd.DataFrame) -> None:
        item = self._item_codes(events["item_id"])
        user = self._user_codes(events["user_id"])
        n_items = len(self.items_) + 1
        if self.has_time_:
            when = nanoseconds(events["timestamp"])
            counter_type = LatestTotals
        else:
            rng = np.random.default_rng(self.seed)
            fold_of = pd.Series(rng.integers(0, self.folds, len(requests)),
                                index=requests["request_id"].to_numpy())
            self.train_folds_ = fold_of
            when = fold_of.reindex(events["request_id"]).to_numpy()
            counter_type = lambda keys, folds: FoldCounts(keys, folds, self.folds)  # noqa: E731
        slices = [self._category_codes(events[col], self.context_[col][1]) for col in self.slices_]
        self._fit_groups(slices, n_items)
        prefix = self.prefixes(user, slices)
        if self.has_time_:  # the distinct-items group counts each (user, item)'s first event only
            pair = user.astype(np.int64) * n_items + item
            order = np.lexsort((when, pair))
            first = np.zeros(len(pair), dtype=bool)
            first[order] = np.r_[True, pair[order][1:] != pair[order][:-1]]
            g = self.group_index_[("distinct", None)]
            prefix[g] = np.where(first, prefix[g], self.unknown_user_ + 1)  # a key nobody asks
        self.counts_ = GroupCounters(prefix, self._item_rows(item), n_items, when, counter_type)

    def _fit_groups(self, slices: list[np.ndarray], n_items: int) -> None:
        """The counters' groups (``groups_``, in prefix row order): everyone, the user, each
        slice, the user within each slice, the full slice and the user within it (two or
        more slices), the user by each categorical attribute and, with time, the user's
        distinct items. A group of the user within a slice whose largest key would pass 62
        bits is left out (the widest first)."""
        users = self.unknown_user_ + 2  # codes 0..users-1: known, unknown, the distinct sentinel
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

    def prefixes(self, user: np.ndarray, slices: list) -> np.ndarray:
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
                at = np.clip(np.searchsorted(self.combos_, value), 0, max(len(self.combos_) - 1, 0))
                seen = self.combos_[at] == value if len(self.combos_) else False
                prefix[g] = np.where(seen, at, len(self.combos_))
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
            out[g] = self.attribute_codes(name)[code]
        return out

    def attribute_codes(self, name: str) -> np.ndarray:
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
            out[row] = as_float32(ctx[col])
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
        prefix = self.prefixes(user, slices)
        items = self._item_rows(item)
        asked, per = prefix, None
        if request is not None and len(request) > 1:  # the groups' counters once a request
            _, first, per = np.unique(request, return_index=True, return_inverse=True)
            asked = prefix[:, first]
        at_when = when if per is None or when.size == 1 else when[first]
        recent = (1, at_when - RECENT_DAYS * 86_400 * 10**9) if self.has_time_ else None  # group 1: the user
        got = self.counts_.lookup(asked, items, at_when, recent, per)
        (group, _), (paired, last) = got[:2]  # per group (groups_): everyone, user, slices, ...
        shares = share(paired, group)
        unseen = {col: np.asarray(value) < 0 for col, value in zip(self.slices_, slices)}
        for g, (kind, name) in enumerate(self.groups_):
            counted = kind in ("user", "user_slice", "user_combo")  # count and share, else share
            names = (["user_item_count", "user_item_share"] if kind == "user"
                     else self.group_features(kind, name)[:1 + counted])
            if kind in ("slice", "user_slice"):  # NaN for a missing or unseen value
                missing = unseen[name]
            elif kind == "attr":  # NaN for an item without the attribute
                missing = items[g] == len(self.attributes_[name][1])
            else:
                missing = None
            for feature, value in zip(names, (paired[g], shares[g]) if counted else (shares[g],)):
                out[at[feature]] = value if missing is None else np.where(missing, np.nan, value)
        trend = distinct = None
        if self.has_time_:  # everyone's counts at the recent window's start; distinct items
            trend = self.counts_.at(0, 0, items[0] if items.ndim > 1 else items,
                                    when - RECENT_DAYS * 86_400 * 10**9)
            trend = (group[0], paired[0], *trend)
            distinct = group[self.group_index_[("distinct", None)]]
        self.user_rows(out, paired[1], last[1], group[1], when,
                        (got[2][0], got[3][0]) if self.has_time_ else None, trend, distinct)
        self.rank_rows(out, request)
        return out

    def user_rows(self, out: np.ndarray, mine, last, total, when, earlier, trend=None,
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

    def rank_rows(self, out: np.ndarray, request: np.ndarray | None) -> None:
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
        ``ServingTable.ITEMS`` items: a test compares both ways to the bit.

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
        out[self.head_rows_] = as_float32(np.array(head, dtype=np.float64))[:, None]
        out[self.candidate_rows_] = extra
        late.fill(out, user, slices, item, when)
        return out

    def _serving(self, when: int) -> "ServingTable | None":
        """The kept vectors when a context at ``when`` is served: after the training window
        or, without time, any context (``when`` -1: counted over every fold)."""
        counter = self.counts_.counter
        after = when > counter.latest if isinstance(counter, LatestTotals) else when == -1
        if not after or len(self.items_) + 1 > ServingTable.ITEMS:
            return None
        late = getattr(self, "_late", None)
        if late is None or late.counters is not self.counts_:  # new, or from before a refit
            late = self._late = ServingTable(self)
        return late

    def _when(self, req: pd.DataFrame, training: bool) -> np.ndarray:
        if self.has_time_:
            return nanoseconds(req["timestamp"])
        if training:
            return self.train_folds_.reindex(req["request_id"]).fillna(-1).to_numpy(dtype=np.int64)
        return np.full(len(req), -1, dtype=np.int64)
