"""The learned ranker: LightGBM LambdaRank over generated candidates (DESIGN section 5).

``fit`` splits the training requests into train and validation parts (by
time when the log has time: the last ``validation_share`` of the window;
otherwise a seeded split by request), generates candidates for both,
builds point-in-time features, labels each candidate with the request's
relevance for the item (0 when not engaged) and trains ``lambdarank`` with
early stopping on the validation part's NDCG@``eval_at``.

Labels: relevance is rounded to whole grades, a positive one to at least 1
(a relevance of 0.3 is still an engagement); when it exceeds LightGBM's
default label range (0..30, e.g. play counts in the thousands) it is mapped
to grades 1..4 by the quartiles of the positive relevances.

``suggest`` generates candidates, scores them with the booster and keeps the
top ``k`` per request (ties by item id). ``reason`` names the two features
that pushed the item up most (LightGBM ``pred_contrib``) on the rows shown.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from suggest.engines.base import BaseEngine, check_k, suggestions_frame
from suggest.errors import SuggestError
from suggest.ranker.candidates import Candidates, recall
from suggest.ranker.features import Features

MAX_LABEL = 30


#: Most validation requests scored as a replay scores them (see RankerEngine.replay_score).
VALID_SCORED = 50_000
#: The simple engines the ranker must beat on its own validation requests.
BASELINES = ("popular", "context-popular", "user-history")


class RankerEngine(BaseEngine):
    """LightGBM LambdaRank over candidates with point-in-time features.

    Parameters
    ----------
    rules : str, optional
        A rule file whose suggestions join the candidates and whose firing
        becomes features.
    cap : int
        Candidates per request.
    n_estimators, learning_rate, num_leaves, min_child_samples : LightGBM settings.
    early_stopping_rounds : int
        Stop when validation NDCG@eval_at has not improved for this many trees.
    validation_share : float
        Share of the training window (latest by time) used for early stopping.
    eval_at : int
        The k of the validation NDCG.
    seed : int
        Seeds LightGBM, the split without time and the out-of-fold folds.
    n_jobs : int
        LightGBM threads. 1 by default: on a busy machine OpenMP threads that
        wait on each other made training 10x slower here; results are the same
        for any value (``deterministic=True``).
    explain : bool
        Name each suggestion's top two contributing features in ``reason``
        (TreeSHAP on the rows shown; it costs more than scoring itself, so a
        replay that only needs metrics may turn it off: ``reason`` is then
        ``ranker``).
    """

    name = "ranker"

    def __init__(self, rules: str | None = None, cap: int = 50, n_estimators: int = 400,
                 learning_rate: float = 0.05, num_leaves: int = 31, min_child_samples: int = 20,
                 early_stopping_rounds: int = 30, validation_share: float = 0.2, eval_at: int = 5,
                 seed: int = 0, explain: bool = True, n_jobs: int = 1):
        self.rules = rules
        self.cap = cap
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.early_stopping_rounds = early_stopping_rounds
        self.validation_share = validation_share
        self.eval_at = eval_at
        self.seed = seed
        self.explain = explain
        self.n_jobs = n_jobs

    # -- training ----------------------------------------------------------------------
    def fit(self, requests: pd.DataFrame, truth: pd.DataFrame,
            catalog: pd.DataFrame | None = None, progress: bool = False) -> "RankerEngine":
        import lightgbm as lgb

        from tqdm.auto import tqdm

        bar = tqdm(total=3 + self.n_estimators, desc="training ranker", unit="step",
                   disable=None if progress else True, leave=False)
        bar.set_postfix_str("candidate sources and statistics")
        self._prepare(requests, truth, catalog)
        bar.update(1)
        train, valid = self._split(requests)
        sets, self.candidate_recall_ = {}, {}
        for part, reqs in (("train", train), ("valid", valid)):
            bar.set_postfix_str(f"candidates and features ({part})")
            cand = self.candidates_.generate(reqs, training=True)
            self.candidate_recall_[part] = recall(cand, reqs, truth)
            X = self.features_.build(reqs, cand, training=True)
            y = self._labels(reqs, cand, truth)
            if part == "valid":  # kept whole: the validation score as replay computes it
                held = (reqs, cand, X)
            keep = _useful_groups(cand["row"].to_numpy(), y)
            sets[part] = (X[keep], y[keep], np.bincount(cand["row"].to_numpy()[keep])[
                np.unique(cand["row"].to_numpy()[keep])])
            bar.update(1)
        if len(sets["train"][1]) == 0:
            raise SuggestError("no training request has an engaged item among its candidates",
                               hint="check the log's positives (positive_min) and its size")
        params = {"objective": "lambdarank", "metric": "ndcg", "ndcg_eval_at": [self.eval_at],
                  "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
                  "min_child_samples": self.min_child_samples, "seed": self.seed,
                  "deterministic": True, "force_row_wise": True, "num_threads": self.n_jobs,
                  "verbosity": -1, "label_gain": [float(2 ** g - 1) for g in range(MAX_LABEL + 1)]}
        names = self.features_.names_
        lgb_names = self.features_.lightgbm_names_
        categorical = [lgb_names[names.index(c)] for c in self.features_.categorical_]
        matrix = lambda X: X.set_axis(lgb_names, axis=1)  # noqa: E731
        dtrain = lgb.Dataset(matrix(sets["train"][0]), sets["train"][1], group=sets["train"][2],
                             categorical_feature=categorical, free_raw_data=False)
        callbacks, valid_sets = [lgb.log_evaluation(0)], []
        if len(sets["valid"][1]):
            dvalid = lgb.Dataset(matrix(sets["valid"][0]), sets["valid"][1], group=sets["valid"][2],
                                 reference=dtrain, categorical_feature=categorical)
            valid_sets = [dvalid]
            callbacks.append(lgb.early_stopping(self.early_stopping_rounds, verbose=False))
        evals: dict = {}
        callbacks.append(lgb.record_evaluation(evals))
        bar.set_postfix_str("boosting")

        def tick(env) -> None:
            bar.update(1)
        callbacks.append(tick)
        self.booster_ = lgb.train(params, dtrain, num_boost_round=self.n_estimators,
                                  valid_sets=valid_sets, valid_names=["valid"][:len(valid_sets)],
                                  callbacks=callbacks)
        curve = evals.get("valid", {}).get(f"ndcg@{self.eval_at}", [])
        self.validation_ = {**self.replay_score(valid, truth, train, catalog, held),
                            f"ndcg@{self.eval_at}_candidates": float(max(curve)) if curve else None,
                            "best_iteration": int(self.booster_.best_iteration or self.n_estimators),
                            "train_rows": int(len(sets["train"][1])),
                            "valid_rows": int(len(sets["valid"][1])),
                            "train_requests": int(len(train)), "valid_requests": int(len(valid)),
                            "split": "by time" if "timestamp" in requests.columns else "seeded"}
        bar.close()
        return self

    def replay_score(self, valid: pd.DataFrame, truth: pd.DataFrame,
                     train: pd.DataFrame | None = None, catalog: pd.DataFrame | None = None,
                     held: tuple | None = None) -> dict:
        """NDCG@eval_at on the validation requests as a replay computes it: the suggested
        lists scored against every engaged item, over every validation request with a
        positive (requests whose positives are not among the candidates count as 0; the
        LightGBM figure, ``..._candidates``, leaves them out). At most ``VALID_SCORED``
        requests, evenly spread, keep it cheap on a large log.

        ``held`` is the validation part's (requests, candidates, features) as training built
        them: point-in-time, or out of fold without time. The validation requests lie inside
        the fitted window, so serving them afresh would let a log without time see their own
        engagements (every fold's count); ranked from ``held`` they see only what training
        rows see.

        With ``train`` (the requests the trees were fitted on), the simple baselines are
        fitted on it and scored on the same validation requests: ``baselines``,
        ``best_baseline`` and ``ranker_below_baseline`` (a ranker that cannot beat "what
        is popular" or "what this user did before" should say so before it ships). The
        ranker's statistics also count the validation requests before each one (or the
        other folds), the baselines only the training requests: the comparison leans
        towards the ranker, so a warning is a strong one.
        """
        from suggest.evaluate import evaluate

        name = f"ndcg@{self.eval_at}"
        if len(valid) == 0:
            return {name: None, "scored_requests": 0}
        if len(valid) > VALID_SCORED:
            valid = valid.iloc[np.linspace(0, len(valid) - 1, VALID_SCORED).astype(int)]
        mine = truth[truth["request_id"].isin(valid["request_id"])]

        def score(engine, lists=None) -> tuple[float | None, int]:
            lists = engine.suggest(valid, self.eval_at) if lists is None else lists
            result = evaluate(lists, mine[mine["request_id"].isin(valid["request_id"])], [name])
            scored = int(len(result.per_request))
            return (float(result.means[name]) if scored else None), scored

        lists = None
        if held is not None:
            reqs, cand, X = held
            ids = reqs["request_id"].to_numpy()[cand["row"].to_numpy()]
            at = np.isin(ids, valid["request_id"].to_numpy())
            rows = reqs[reqs["request_id"].isin(valid["request_id"])].reset_index(drop=True)
            chosen = cand[at].assign(row=pd.Index(rows["request_id"]).get_indexer(ids[at]))
            scores = self.booster_.predict(X.to_numpy()[at], num_threads=self.n_jobs) if at.any() \
                else np.zeros(0)
            explain, self.explain = self.explain, False
            try:
                lists = self._top(rows, chosen, X[at], scores, self.eval_at)
            finally:
                self.explain = explain
        ours, scored = score(self, lists)
        out = {name: ours, "scored_requests": scored}
        if train is not None and ours is not None:
            from suggest.engines import get_engine

            seen = truth[truth["request_id"].isin(train["request_id"])]
            baselines = {b: score(get_engine(b).fit(train, seen, catalog))[0]
                         for b in BASELINES}
            best = max((b for b in baselines if baselines[b] is not None),
                       key=lambda b: baselines[b], default=None)
            out.update(baselines=baselines, best_baseline=best,
                       ranker_below_baseline=bool(best is not None and ours < baselines[best]))
        return out

    def _prepare(self, requests: pd.DataFrame, truth: pd.DataFrame,
                 catalog: pd.DataFrame | None) -> None:
        """Everything but the booster: candidate sources, feature statistics, grades.

        Deterministic given the data, so a saved model rebuilds it on load.
        """
        self._one = None  # the one-context lookups belong to the previous fit
        self._remember_context(requests)
        rules = self._rules_engine(requests, truth, catalog)
        self.features_ = Features(seed=self.seed).fit(requests, truth, catalog)
        folds = None if self.features_.has_time_ else self.features_.train_folds_
        self.candidates_ = Candidates(cap=self.cap).fit(requests, truth, catalog, rules, folds)
        self.grades_ = _grades(truth["relevance"].to_numpy(dtype=float))

    def manifest_importance(self, n: int = 5) -> list[str]:
        """The ``n`` features with the most total gain."""
        gain = self.booster_.feature_importance("gain")
        order = np.argsort(-gain, kind="stable")[:n]
        return [self.features_.names_[i] for i in order]

    def save(self, directory, requests: pd.DataFrame, truth: pd.DataFrame,
             catalog: pd.DataFrame | None = None, dataset: dict | None = None):
        """Write the model folder (see :mod:`suggest.ranker.artifact`); ``dataset``
        (e.g. ``{"name": ..., "description": ...}``) is recorded in the manifest."""
        from suggest.ranker.artifact import save

        return save(self, directory, requests, truth, catalog, dataset)

    @staticmethod
    def load(directory) -> "RankerEngine":
        """Load a model folder written by :meth:`save`; never unpickles."""
        from suggest.ranker.artifact import load

        return load(directory)

    def _rules_engine(self, requests, truth, catalog):
        if not self.rules:
            return None
        from suggest.rules import RulesEngine

        return RulesEngine(self.rules).fit(requests, truth, catalog)

    def _split(self, requests: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        n_valid = int(round(len(requests) * self.validation_share))
        if n_valid == 0:
            return requests, requests.iloc[:0]
        if "timestamp" in requests.columns:
            order = np.argsort(requests["timestamp"].to_numpy(), kind="stable")
        else:
            order = np.random.default_rng(self.seed).permutation(len(requests))
        cut = len(requests) - n_valid
        return (requests.iloc[np.sort(order[:cut])].reset_index(drop=True),
                requests.iloc[np.sort(order[cut:])].reset_index(drop=True))

    def _labels(self, requests: pd.DataFrame, cand: pd.DataFrame, truth: pd.DataFrame) -> np.ndarray:
        rows = pd.Index(requests["request_id"]).get_indexer(truth["request_id"])
        rel = pd.Series(truth["relevance"].to_numpy(dtype=float),
                        index=pd.MultiIndex.from_arrays([rows, truth["item_id"].astype(str)]))
        rel = rel[rows >= 0].groupby(level=[0, 1]).max()
        got = rel.reindex(pd.MultiIndex.from_frame(cand[["row", "item_id"]])).fillna(0).to_numpy()
        return self.grades_(got)

    # -- suggesting --------------------------------------------------------------------
    def score(self, requests: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
        """Candidates, their features and the model's scores for ``requests``."""
        self.check_fitted()
        cand = self.candidates_.generate(requests)
        X = self.features_.build(requests, cand)
        scores = self.booster_.predict(X.to_numpy(), num_threads=self.n_jobs) if len(X) else np.zeros(0)
        return cand, X, scores

    def suggest(self, requests: pd.DataFrame, k: int, exclude_blocked: bool = False) -> pd.DataFrame:
        k = check_k(k)
        cand, X, scores = self.score(requests)
        keep = np.ones(len(cand), bool) if not exclude_blocked else cand["rule_blocked"].to_numpy() == 0
        return self._top(requests, cand[keep], X[keep], scores[keep], k)

    def suggest_one(self, context: dict, k: int) -> pd.DataFrame:
        """One context through the fast path (:mod:`suggest.ranker.single`); the same
        suggestions as the batch path, in well under the batch path's fixed cost.

        ``context`` is read and checked as :meth:`BaseEngine.suggest_one
        <suggest.engines.base.BaseEngine.suggest_one>` says: keys are the
        context columns the model was fitted on plus ``user_id``,
        ``timestamp``, ``timezone`` and ``request_id`` (another key raises
        :class:`SuggestError` with the closest name, as do a timestamp that
        does not parse and text for a numeric field); an unseen category or a
        missing field is fine; a timestamp without an offset is local time in
        the context's ``timezone``, else UTC.

        Examples
        --------
        >>> model = RankerEngine.load("models/sample")                      # doctest: +SKIP
        >>> model.suggest_one({"user_id": "u001", "location": "commute",      # doctest: +SKIP
        ...                    "battery": 40, "timestamp": "2026-03-03T08:10:00-05:00"}, k=5)
        """
        from suggest.ranker.single import OneContext

        one = getattr(self, "_one", None)  # fit() drops it: a fitted engine's lookups
        if one is None or one.engine is not self:
            self.check_fitted()
            one = self._one = OneContext(self)
        return one.suggest(context, check_k(k), exclude_blocked=self.name == "hybrid")

    def _top(self, requests, cand, X, scores, k) -> pd.DataFrame:
        order = pd.DataFrame({"row": cand["row"].to_numpy(), "item": cand["item_id"].to_numpy(),
                              "score": scores, "at": np.arange(len(cand))})
        order = order.sort_values(["row", "score", "item"], ascending=[True, False, True],
                                  kind="stable")
        order["rank"] = order.groupby("row", sort=False).cumcount() + 1
        order = order[order["rank"] <= k]
        items = np.array(sorted(order["item"].unique()), dtype=object)
        reasons, codes = self._reasons(X.iloc[order["at"].to_numpy()])
        return suggestions_frame(requests["request_id"], order["row"].to_numpy(),
                                 order["rank"].to_numpy(),
                                 np.searchsorted(items, order["item"].to_numpy(dtype=object)), items,
                                 order["score"].to_numpy(), codes, reasons, self.name)

    def _reasons(self, X: pd.DataFrame) -> tuple[list[str], np.ndarray]:
        """The two features that pushed each shown item up most (``pred_contrib``), each
        with the row's value: ``ranker: user_item_share=0.5, ctx:location=commute``."""
        if len(X) == 0 or not self.explain:
            return [self.name], np.zeros(len(X), dtype=np.int64)
        values = X.to_numpy()
        contrib = self.booster_.predict(values, pred_contrib=True, num_threads=self.n_jobs)[:, :-1]
        top = np.argsort(-contrib, axis=1, kind="stable")[:, :2]
        rows = np.arange(len(X))
        first, second = (self._feature_text(top[:, j], values[rows, top[:, j]]) for j in range(2))
        codes, uniques = pd.factorize(pd.Series(first) + ", " + pd.Series(second))
        return [f"{self.name}: {u}" for u in uniques], codes

    def _feature_text(self, feature: np.ndarray, value: np.ndarray) -> np.ndarray:
        """``name=value`` per row: categories by name, source flags as yes/no, numbers
        to three digits, ``missing`` / ``unseen`` for NaN and unknown codes."""
        feats = self.features_
        names = feats.names_
        out = np.empty(len(feature), dtype=object)
        for f in np.unique(feature):  # one pass per feature, not per row
            at, name = feature == f, names[f]
            v = value[at]
            categories = _categories_of(feats, name)
            if categories is not None:
                table = np.array([*categories, "unseen"], dtype=object)
                code = np.where(np.isnan(v) | (v < 0) | (v >= len(categories)), len(categories), v)
                text = table[code.astype(np.int64)]
            elif name.startswith("src_") or name == "rule_blocked":
                text = np.where(v > 0, "yes", "no").astype(object)
            else:
                text = np.where(np.isnan(v), "missing", np.char.mod("%.3g", v)).astype(object)
            out[at] = name + "=" + text
        return out


def _categories_of(features, name: str) -> list[str] | None:
    """The category names behind a categorical feature's codes (None for other features)."""
    if name == "item":
        return features.items_
    for prefix, table in (("ctx:", features.context_), ("attr:", features.attributes_)):
        if name.startswith(prefix):
            kind, categories = table.get(name[len(prefix):], (None, None))
            return categories if kind == "categorical" else None
    return None


class HybridEngine(RankerEngine):
    """Rules as guardrails and features, the ranker orders (DESIGN section 3).

    The ranker trained with the rule set's suggestions among its candidates and
    its firing as features; items a block rule removes for a request are never
    shown for it.
    """

    name = "hybrid"

    def fit(self, requests, truth, catalog=None, progress=False) -> "HybridEngine":
        if not self.rules:
            raise SuggestError("the hybrid engine needs a rule file", hint="pass rules=PATH (--rules)")
        return super().fit(requests, truth, catalog, progress)

    def suggest(self, requests: pd.DataFrame, k: int, exclude_blocked: bool = True) -> pd.DataFrame:
        return super().suggest(requests, k, exclude_blocked=True)


def _useful_groups(rows: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Rows of requests that have at least one positive among their candidates."""
    positive_rows = np.unique(rows[labels > 0])
    return np.isin(rows, positive_rows)


class _grades:
    """From relevance to whole LightGBM labels (see the module docstring). A class, not a
    closure, so that a fitted engine pickles (joblib and Dask ship it to workers)."""

    def __init__(self, relevance: np.ndarray):
        positive = relevance[relevance > 0]
        self.edges = None if len(positive) == 0 or positive.max() <= MAX_LABEL else \
            np.quantile(positive, [0.25, 0.5, 0.75])

    def __call__(self, rel: np.ndarray) -> np.ndarray:
        if self.edges is None:
            return np.where(rel > 0, np.clip(np.rint(rel), 1, MAX_LABEL), 0).astype(np.int32)
        return np.where(rel > 0, 1 + np.searchsorted(self.edges, rel, side="right"), 0).astype(np.int32)
