"""One context, fast: the ranker's ``suggest_one`` without pandas in the hot path.

The batch path spends most of its time in pandas calls that cost the same for
one row as for thousands. This path reads the context dict directly and
reuses the fitted structures: the rules are evaluated leaf by leaf with the
batch evaluator's own comparison functions (memoised per leaf and value, so
the semantics are the batch semantics), the rule lists come from the rules
engine's pattern cache, the user's history from per-user item arrays and the
same point-in-time counter, context-popular lists are memoised per context,
and the features come from :meth:`Features.one`: the batch path's
:meth:`Features.assemble`, or for a context being served the same numbers
from vectors kept per user and slice value. The matrix is scored by the C
call ``Booster.predict`` makes, without its per-call Python set-up
(:class:`_Scorer`). Tests check it returns exactly what the batch path does.
"""

from __future__ import annotations

import ctypes
import threading

import numpy as np
import pandas as pd

from suggest.engines.base import check_context
from suggest.history import NEVER
from suggest.ranker.candidates import SOURCES
from suggest.ranker.features import CANDIDATE_FEATURES
from suggest.engines.base import one_request_frame
from suggest.rules.one import RuleReader, is_missing, remember



_DOUBLES = ctypes.POINTER(ctypes.c_double)
# a candidate's source flags (one bit per source) -> its src_* columns' values
_FLAG_ROWS = ((np.arange(1 << len(SOURCES)) >> np.arange(len(SOURCES))[:, None]) & 1).astype(np.float32)
# the candidate columns, in CANDIDATE_FEATURES order: a flag per source, then the rules' two
assert CANDIDATE_FEATURES[:len(SOURCES)] == tuple(f"src_{source}" for source in SOURCES)
_RULE_RANK, _RULE_BLOCKED = CANDIDATE_FEATURES.index("rule_rank"), CANDIDATE_FEATURES.index("rule_blocked")


def _ranked(items: np.ndarray, counts: np.ndarray) -> list[str]:
    """Items engaged before (count > 0), most first, ties by item id: the history source's order."""
    keep = counts > 0
    return list(items[keep][np.lexsort((items[keep], -counts[keep]))])


class _Scorer:
    """``booster.predict(X, num_threads=threads)`` for one context's matrix, by the C call
    that method ends in (``LGBM_BoosterPredictForMat``, with the same arguments), without
    the Python set-up it repeats on every call (a predictor object, parameter text, a
    count of predictions: about 10-20 us, a tenth of scoring 30 candidates with 180 trees).

    It reaches into ``lightgbm.basic`` (the loaded library and the booster's handle,
    read at every call as ``Booster.predict`` reads it, since a model loaded into the
    same booster frees the old one); where those are missing, as a future LightGBM may
    arrange them, or the model gives more than one score a row, it calls
    ``booster.predict``. A test checks both give the same scores.
    """

    def __init__(self, booster, threads: int):
        self.booster, self.threads = booster, threads
        try:
            from lightgbm.basic import _LIB, _param_dict_to_str, _safe_call

            self.predict_for_mat = _LIB.LGBM_BoosterPredictForMat
            self.safe_call = _safe_call
            self.parameters = ctypes.c_char_p(_param_dict_to_str({"num_threads": threads}).encode("utf-8"))
            if booster.num_model_per_iteration() != 1 or not hasattr(booster, "_handle"):
                self.predict_for_mat = None  # several scores a row (multiclass): not one per row
        except (ImportError, AttributeError):  # pragma: no cover - another LightGBM's layout
            self.predict_for_mat = None

    def __call__(self, X: np.ndarray) -> np.ndarray:
        flags = X.flags
        if self.predict_for_mat is None or X.dtype != np.float32 or not (flags.f_contiguous or flags.c_contiguous):
            return self.booster.predict(X, num_threads=self.threads)
        scores, written = np.empty(X.shape[0], dtype=np.float64), ctypes.c_int64(0)
        self.safe_call(self.predict_for_mat(
            self.booster._handle, ctypes.c_void_p(X.ctypes.data), ctypes.c_int(0), ctypes.c_int32(X.shape[0]),
            ctypes.c_int32(X.shape[1]), ctypes.c_int(0 if flags.f_contiguous else 1),  # column-, row-major
            ctypes.c_int(0), ctypes.c_int(0),
            ctypes.c_int(self.booster.best_iteration), self.parameters, ctypes.byref(written),
            scores.ctypes.data_as(_DOUBLES)))  # float32 data (0), normal scores (0), from the start (0)
        if written.value != len(scores):  # pragma: no cover - one score a row, checked above
            raise ValueError(f"LightGBM wrote {written.value} scores for {len(scores)} rows")
        return scores


class OneContext(RuleReader):
    """Precomputed lookups of a fitted ranker for single contexts."""

    def __init__(self, engine):
        self.engine = engine
        self.columns = getattr(engine, "context_columns_", None)  # keys suggest_one accepts
        cand, feats = engine.candidates_, engine.features_
        self.sources, self.quotas, self.cap = cand.sources_, cand.quotas, cand.cap
        # candidates are merged as codes: the features' item codes (in id order), then any
        # other item a source names (a rule's item outside the training data), in order met
        self.names = list(feats.items_)
        self.code = {item: i for i, item in enumerate(self.names)}
        self.known = len(self.names)
        self.name_array = np.array(self.names, dtype=object)
        self.lock = threading.Lock()  # new codes may come from contexts served on several threads
        self.scorer = _Scorer(engine.booster_, engine.n_jobs)
        self.popular = self._codes(self.sources["popular"].ranking_[:self.quotas.get("popular", 0)])
        history = self.sources["history"]
        self.has_time = history.has_time_
        pairs, past = history.pairs_, history.past_
        pair_items = pairs["item_id"].to_numpy(dtype=object)
        self.user_pairs = {user: (np.asarray(idx, dtype=np.int64), pair_items[idx])
                           for user, idx in pairs.groupby("user_id", sort=False).indices.items()}
        # a request later than every engagement sees all of them: its history list is
        # the user's list at the end of the window, ranked once here
        self.history_end = past.latest if len(past.distinct_times) else None
        every = past.count(np.arange(len(pairs)), np.full(len(pairs), NEVER))
        self.history_lists = {user: self._codes(_ranked(items, every[idx]))
                              for user, (idx, items) in self.user_pairs.items()}
        self.context_lists: dict = {}
        rules = self.sources.get("rules")
        self._read_rules(rules)
        self.user_index = {user: i for i, user in enumerate(feats.users_)}
        # per context column (in the features' order): its categories' codes, or None (a number)
        self.context_kinds = [(col, {c: i for i, c in enumerate(cats)} if kind == "categorical" else None)
                              for col, (kind, cats) in feats.context_.items()]
        self.slice_at = [list(feats.context_).index(col) for col in feats.slices_]
        if rules is not None:  # every item a rule names has its code before serving starts
            self._codes(rules.items_)  # (what its rules suggest or block)

    def _codes(self, items) -> list[int]:
        """Candidate codes of item ids (an id first met gets the next code)."""
        out = []
        for item in items:
            code = self.code.get(item)
            if code is None:
                code = self._new_code(item)
            out.append(code)
        return out

    def _new_code(self, item) -> int:
        with self.lock:
            code = self.code.get(item)
            if code is None:  # the names first, then the code: a code read is always named
                code = len(self.names)
                self.names.append(item)
                self.name_array = np.array(self.names, dtype=object)
                self.code[item] = code
            return code

    # -- the context ---------------------------------------------------------------------
    # -- rules ---------------------------------------------------------------------------
    # -- rules ---------------------------------------------------------------------------
    def _rules(self, context: dict, local, utc_ns, k: int):
        if self.rule_engine is None:
            return [], [], set()
        return self._rule_outcome(context, local, utc_ns, k, self._rule_lists)

    def _rule_lists(self, fired: np.ndarray, k: int) -> tuple:
        """The rules' items as candidate codes, their codes in the rules engine, and the
        blocked items as candidate codes."""
        rules = self.rule_engine
        codes, _ = rules.resolve(fired, k)
        blocked = set().union(*(rules.blocks_[j] for j in np.flatnonzero(fired))) if fired.any() else set()
        return (tuple(self._codes(rules.items_[c] for c in codes)), codes,
                frozenset(self._codes(sorted(blocked))))

    # -- candidates and features ---------------------------------------------------------
    def _history(self, user: str, utc_ns, quota: int) -> list[int]:
        found = self.user_pairs.get(user)
        if found is None:
            return []
        if not self.has_time or utc_ns is None or utc_ns > self.history_end:
            return self.history_lists[user][:quota]
        idx, items = found
        counts = self.sources["history"].past_.count(idx, np.full(len(idx), utc_ns, dtype=np.int64))
        return self._codes(_ranked(items, counts)[:quota])

    def _context_list(self, context: dict, local, quota: int) -> list[int]:
        engine = self.sources["context"]
        values = engine.values_of(context, local)
        key = (tuple(values.items()), quota)
        hit = self.context_lists.get(key)
        if hit is None:
            hit = remember(self.context_lists, key, self._codes(engine._list_for(values, quota)[0]))
        return hit

    def suggest(self, context: dict, k: int, exclude_blocked: bool) -> pd.DataFrame:
        check_context(context, self.columns)
        engine, feats = self.engine, self.engine.features_
        if feats.has_time_ and context.get("timestamp") is None:
            from suggest.ranker.model import untimed

            raise untimed("the context has no timestamp")
        local, utc_ns = self._parse(context)
        user = str(context.get("user_id", "-"))
        rule_items, _, blocked = self._rules(context, local, utc_ns, self.quotas.get("rules", 0))
        lists = {"history": self._history(user, utc_ns, self.quotas.get("history", 0)),
                 "rules": rule_items,
                 "context": self._context_list(context, local, self.quotas.get("context", 0)),
                 "popular": self.popular}
        flags: dict[int, int] = {}  # code -> one bit per source, in the order items first appear
        get = flags.get
        for bit, source in enumerate(SOURCES):
            one = 1 << bit
            for code in lists[source]:
                flags[code] = get(code, 0) | one
        order = list(flags)[:self.cap]
        n = len(order)
        extra = np.empty((len(CANDIDATE_FEATURES), n), dtype=np.float32)  # the candidate columns
        _FLAG_ROWS.take(np.fromiter(flags.values(), dtype=np.intp, count=len(flags))[:n], axis=1,
                        out=extra[:len(SOURCES)])
        if rule_items:
            rule_rank = {code: r + 1 for r, code in enumerate(rule_items)}
            extra[_RULE_RANK] = [rule_rank.get(c, np.nan) for c in order]
        else:
            extra[_RULE_RANK] = np.nan
        extra[_RULE_BLOCKED] = [c in blocked for c in order] if blocked else 0
        head = []  # the context rows' values, then the time rows'
        for col, index in self.context_kinds:
            value = context.get(col)
            if index is not None:  # categorical: the category's code
                text = None if is_missing(value) else (str(value) if not isinstance(value, (int, float))
                                                     or isinstance(value, bool) else str(float(value)))
                head.append(index.get(text, -1))
            else:
                try:
                    head.append(float(value) if not is_missing(value) else np.nan)
                except (TypeError, ValueError):
                    head.append(np.nan)
        if feats.has_time_:
            head += (local[0], local[2], float(local[2] >= 5)) if local is not None else (np.nan,) * 3
        code = np.array(order, dtype=np.int64)
        unknown = n > 0 and max(order) >= self.known  # an item the features never saw
        item = np.where(code < self.known, code, -1) if unknown else code
        X = feats.one(head, item, self.user_index.get(user, -1), [head[i] for i in self.slice_at],
                      utc_ns if (feats.has_time_ and utc_ns is not None) else -1, extra).T  # column-major
        items = self.name_array[code]
        if exclude_blocked:
            keep = extra[_RULE_BLOCKED] == 0
            X, items, item = X[keep], items[keep], item[keep]
        if self.scorer.booster is not engine.booster_ or self.scorer.threads != engine.n_jobs:
            self.scorer = _Scorer(engine.booster_, engine.n_jobs)  # a model loaded, or n_jobs set, since
        scores = self.scorer(X) if len(items) else np.zeros(0)
        # ties by item id: the codes follow the ids' order (unless an item is unknown)
        top = np.lexsort((items if unknown else item, -scores))[:k]
        if engine.explain and len(top):
            names, codes = engine.reasons(pd.DataFrame(X[top], columns=feats.names_))
            reasons = np.array([names[c] for c in codes], dtype=object)
        else:  # the batch path's bare reason: the engine's own name (ranker or hybrid)
            reasons = engine.name
        return one_request_frame(str(context.get("request_id", "context")), engine.name, items[top],
                                 np.asarray(scores[top], dtype=np.float64), reasons)
