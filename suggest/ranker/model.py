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

from suggest.engines.base import (BaseEngine, check_k, checked_fit, checked_suggest, suggestions_frame,
                                  training_truth, zoned_one)
from suggest.data.timefields import TIME_FIELDS
from suggest.errors import SuggestError, did_you_mean
from suggest.ids import isin
from suggest.ranker.candidates import Candidates, recall
from suggest.ranker.features import LOG1P_FEATURES, TIME_COLUMNS, Features
from suggest.splits import latest

MAX_LABEL = 30


#: ``num_leaves=None``: SMALL_LEAVES below SMALL_LOG training requests, else LEAVES. Measured
#: over ten splits (benchmarks/RESULTS.md, "The ranker against the best baseline"): on the
#: two real logs (500-800 training requests) 7 leaves beat 31; on the synthetic worlds (about
#: 16,000) 31 beat 7 on the context world and tied elsewhere. The cut lies between the two.
SMALL_LOG, SMALL_LEAVES, LEAVES = 2_000, 7, 31
#: ``objective="auto"`` trains with each and keeps the better on validation (the first on a tie).
OBJECTIVES = ("rank_xendcg", "lambdarank")
#: Most validation requests scored as a replay scores them (see RankerEngine.replay_score).
VALID_SCORED = 50_000
#: The settings ``train --tune`` searches, and their values (a seeded random search).
SEARCH = {"num_leaves": (7, 15, 31, 63), "min_child_samples": (5, 10, 20, 50),
          "learning_rate": (0.03, 0.05, 0.1, 0.2), "feature_fraction": (0.6, 0.8, 1.0),
          "truncation_level": (None, 5, 10, 20), "objective": ("lambdarank", "rank_xendcg"),
          "categorical_context": (True, False)}


def _lightgbm_names(choice: dict) -> dict:
    """A SEARCH choice as LightGBM parameters (``categorical_context`` is read by
    :meth:`RankerEngine._boost`)."""
    out = {k: v for k, v in choice.items() if k != "truncation_level"}
    if choice.get("truncation_level") is not None:
        out["lambdarank_truncation_level"] = choice["truncation_level"]
    return out


def feature_groups(names: list[str]) -> dict[str, list[str]]:
    """The feature groups an ablation leaves out one at a time (module docstring)."""
    groups = {"context": [n for n in names if n.startswith("ctx:")],
              "time of day and week": [n for n in names if n in TIME_COLUMNS],
              "item identity and attributes": [n for n in names if n == "item"
                                               or n.startswith("attr:")],
              "popularity (overall, in each slice, recent)": [
                  n for n in names if n in ("item_share", "ctx_share", "item_share_recent", "item_trend")
                  or n.startswith("slice_share:")],
              "user history": [n for n in names if n.startswith("user_")
                               and not n.startswith("user_ctx_")],
              "user history in the context": [n for n in names if n.startswith("user_ctx_")],
              "user affinity to attributes": [n for n in names if n.startswith("affinity:")],
              "baselines' ranks": [n for n in names if n.startswith("rank:")],
              "candidate sources and rules": [n for n in names if n.startswith(("src_", "rule_"))]}
    return {group: members for group, members in groups.items() if members}


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
    n_estimators, learning_rate, min_child_samples : LightGBM settings.
    num_leaves : int, optional
        Leaves per tree. Default: 7 below 2,000 training requests, 31 from
        there on (``SMALL_LOG``; measured, see the constant).
    early_stopping_rounds : int
        Stop when validation NDCG@eval_at has not improved for this many trees.
    validation_share : float
        Share of the training window (latest by time) used for early stopping.
    validation_by : str
        How that share is picked, as ``--split`` picks the test part (``suggest
        train`` and ``replay`` pass theirs): ``auto`` (the latest by time, a seeded
        share of requests without time), ``time``, ``request``, ``user`` or
        ``group:COLUMN`` (a seeded share of users or of a column's values). Under
        ``user`` the validation users are new to the ranker, as the test users
        are: their own past is hidden from its features and candidates (their
        engagements still count in everyone's, as other users' do), so early
        stopping and the baseline check answer the cold-start question.
    eval_at : int
        The k of the validation NDCG.
    seed : int
        Seeds LightGBM, the split without time and the out-of-fold folds.
    n_jobs : int
        LightGBM threads. 1 by default: on a busy machine OpenMP threads that
        wait on each other made training 10x slower here; results are the same
        for any value (``deterministic=True``).
    feature_fraction, truncation_level : LightGBM's ``feature_fraction`` and
        ``lambdarank_truncation_level`` (None: LightGBM's default).
    objective : str
        ``rank_xendcg`` (default), ``lambdarank``, or ``auto``: train with
        both and keep the one whose validation NDCG, as replay computes it,
        is higher (``rank_xendcg`` on a tie; ``objective_`` and
        ``validation_["objectives"]`` say which). Over ten seeded splits
        (benchmarks/RESULTS.md) ``rank_xendcg`` beat ``lambdarank`` on both
        real logs and on the drift and sparse worlds, tied on two and lost
        on the world whose signal is shared context effects; ``auto`` lost
        to ``rank_xendcg`` on both real logs, whose 100-160 validation
        requests choose by noise, and doubles the boosting time.
    categorical_context : bool
        Train categorical context columns as LightGBM categories (True) or as
        their codes in sorted order (False).
    explain : bool
        Name each suggestion's top two contributing features in ``reason``
        (TreeSHAP on the rows shown; it costs more than scoring itself, so a
        replay that only needs metrics may turn it off: ``reason`` is then
        ``ranker``).
    """

    name = "ranker"

    def __init__(self, rules: str | None = None, cap: int = 50, n_estimators: int = 400,
                 learning_rate: float = 0.05, num_leaves: int | None = None, min_child_samples: int = 20,
                 early_stopping_rounds: int = 30, validation_share: float = 0.2, eval_at: int = 5,
                 seed: int = 0, explain: bool = True, n_jobs: int = 1,
                 feature_fraction: float = 1.0, truncation_level: int | None = None,
                 objective: str = "rank_xendcg", categorical_context: bool = True,
                 validation_by: str = "auto"):
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
        self.feature_fraction = feature_fraction
        self.truncation_level = truncation_level
        self.objective = objective
        self.categorical_context = categorical_context
        self.validation_by = validation_by

    # -- training ----------------------------------------------------------------------
    @checked_fit
    def fit(self, requests: pd.DataFrame, truth: pd.DataFrame,
            catalog: pd.DataFrame | None = None, progress: bool = False) -> "RankerEngine":
        from tqdm.auto import tqdm

        self.check_settings()
        objectives = OBJECTIVES if self.objective == "auto" else (self.objective,)
        bar = tqdm(total=3 + self.n_estimators * len(objectives), desc="training ranker",
                   unit="step", disable=None if progress else True, leave=False)
        bar.set_postfix_str("candidate sources and statistics")
        self.prepare(requests, truth, catalog)
        bar.update(1)
        train, valid, sets, held = self._training_sets(requests, truth, bar)
        tried, best = {}, None
        for objective in objectives:
            bar.set_postfix_str(f"boosting ({objective})")
            booster, curve = self._boost(sets, self.lightgbm_params(objective=objective), bar=bar)
            score = self._rank_held(valid, truth, held, booster)[0] if len(objectives) > 1 else None
            tried[objective] = score
            if best is None or (score is not None and (best[0] is None or score > best[0])):
                best = (score, objective, booster, curve)
        _, self.objective_, self.booster_, curve = best
        self.validation_ = {**self.replay_score(valid, truth, train, catalog, held),
                            "objectives": {"tried": tried, "chosen": self.objective_},
                            f"ndcg@{self.eval_at}_candidates": float(max(curve)) if curve else None,
                            "best_iteration": int(self.booster_.best_iteration or self.n_estimators),
                            "train_rows": int(len(sets["train"][1])),
                            "valid_rows": int(len(sets["valid"][1])),
                            "train_requests": int(len(train)), "valid_requests": int(len(valid)),
                            "num_leaves": self.leaves_for(len(train)),
                            "split": self.validation_how(requests)}
        bar.close()
        return self

    def _training_sets(self, requests: pd.DataFrame, truth: pd.DataFrame, bar=None) -> tuple:
        """The training and validation parts, their LightGBM matrices (features, labels,
        group sizes; requests with a positive among their candidates only) and the
        validation part whole (requests, candidates, features) for :meth:`replay_score`."""
        train, valid = self.validation_split(requests)
        self._train_requests = len(train)
        sets, self.candidate_recall_ = {}, {}
        for part, reqs in (("train", train), ("valid", valid)):
            if bar is not None:
                bar.set_postfix_str(f"candidates and features ({part})")
            cand = self.candidates_.generate(reqs, training=True)
            self.candidate_recall_[part] = recall(cand, reqs, truth)
            X = self.features_.build(reqs, cand, training=True)
            y = self.labels(reqs, cand, truth)
            if part == "valid":  # kept whole: the validation score as replay computes it
                held = (reqs, cand, X)
            keep = useful_groups(cand["row"].to_numpy(), y)
            sets[part] = (X[keep], y[keep], np.bincount(cand["row"].to_numpy()[keep])[
                np.unique(cand["row"].to_numpy()[keep])])
            if bar is not None:
                bar.update(1)
        if len(sets["train"][1]) == 0:
            raise SuggestError("no training request has an engaged item among its candidates",
                               hint="check the log's positives (positive_min) and its size")
        return train, valid, sets, held

    def lightgbm_params(self, **changes) -> dict:
        """LightGBM's parameters from the engine's settings (``changes`` override them)."""
        objective = (getattr(self, "objective_", OBJECTIVES[0]) if self.objective == "auto"
                     else self.objective)
        params = {"objective": objective, "metric": "ndcg", "ndcg_eval_at": [self.eval_at],
                  "learning_rate": self.learning_rate,
                  "num_leaves": self.leaves_for(getattr(self, "_train_requests", SMALL_LOG)),
                  "min_child_samples": self.min_child_samples,
                  "feature_fraction": self.feature_fraction, "seed": self.seed,
                  "deterministic": True, "force_row_wise": True, "num_threads": self.n_jobs,
                  "verbosity": -1, "label_gain": [float(2 ** g - 1) for g in range(MAX_LABEL + 1)]}
        if self.truncation_level is not None:
            params["lambdarank_truncation_level"] = self.truncation_level
        params.update(changes)
        return params

    def _boost(self, sets: dict, params: dict, columns: list[str] | None = None, bar=None):
        """A booster trained on ``sets`` (only ``columns`` of the features, default all) with
        early stopping on the validation part; and its validation curve."""
        import lightgbm as lgb

        names = self.features_.names_
        columns = names if columns is None else columns
        lgb_names = dict(zip(names, self.features_.lightgbm_names_))
        params = dict(params)
        categorical = [lgb_names[c] for c in self.categorical_features(
            params.pop("categorical_context", self.categorical_context)) if c in columns]
        matrix = lambda X: X[columns].set_axis([lgb_names[c] for c in columns], axis=1)  # noqa: E731
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
        if bar is not None:
            callbacks.append(lambda env: bar.update(1))
        booster = lgb.train(params, dtrain, num_boost_round=self.n_estimators,
                            valid_sets=valid_sets, valid_names=["valid"][:len(valid_sets)],
                            callbacks=callbacks)
        return booster, evals.get("valid", {}).get(f"ndcg@{self.eval_at}", [])

    def leaves_for(self, train_requests: int) -> int:
        """Leaves per tree for a training part of ``train_requests`` requests."""
        if self.num_leaves is not None:
            return self.num_leaves
        return SMALL_LEAVES if train_requests < SMALL_LOG else LEAVES

    def categorical_features(self, context: bool | None = None) -> list[str]:
        """The features trained as LightGBM categories: the item, categorical catalog
        attributes and, when ``context`` (default: ``categorical_context``), the
        categorical context columns."""
        context = self.categorical_context if context is None else context
        return [c for c in self.features_.categorical_ if context or not c.startswith("ctx:")]

    def tune(self, requests: pd.DataFrame, truth: pd.DataFrame, seconds: float,
             progress: bool = False) -> list[dict]:
        """A seeded search of LightGBM settings on the fitted engine's validation part (of
        ``requests``, the ones it was fitted on), within ``seconds``: the current settings
        first, then random draws from ``SEARCH``; each is scored as replay scores (NDCG over
        every validation request with a positive). The best settings become the engine's and
        their booster is kept; the search is recorded in ``validation_["tuning"]``."""
        import time

        from tqdm.auto import tqdm

        self.check_fitted()
        _, valid, sets, held = self._training_sets(requests, truth)
        score_of = lambda booster: self._rank_held(valid, truth, held, booster)[0]  # noqa: E731
        rng = np.random.default_rng(self.seed)
        started, tried = time.perf_counter(), []
        current = {key: getattr(self, key) for key in SEARCH}
        best = (self.validation_.get(f"ndcg@{self.eval_at}") or -1.0, current, self.booster_)
        tried.append({**current, "score": best[0]})
        bar = tqdm(desc="tuning", unit="setting", disable=None if progress else True, leave=False)
        while time.perf_counter() - started < seconds:
            choice = {key: values[rng.integers(len(values))] for key, values in SEARCH.items()}
            if any(all(t[k] == v for k, v in choice.items()) for t in tried):
                if len(tried) >= np.prod([len(v) for v in SEARCH.values()]):
                    break
                continue
            booster, _ = self._boost(sets, self.lightgbm_params(**_lightgbm_names(choice)))
            score = score_of(booster)
            tried.append({**choice, "score": score})
            if score is not None and score > best[0]:
                best = (score, choice, booster)
            bar.update(1)
        bar.close()
        score, chosen, self.booster_ = best
        for key, value in chosen.items():
            setattr(self, key, value)
        if self.objective != "auto":
            self.objective_ = self.objective
        if "objectives" in self.validation_:  # the objective the kept trees were grown with,
            # and every objective a fit or the search scored (the search's best score each)
            seen = dict(self.validation_["objectives"].get("tried") or {})
            for t in tried:  # the first is the fit's own ("auto": said above already)
                before = seen.get(t["objective"])
                if t["objective"] in OBJECTIVES and t["score"] is not None and (
                        before is None or t["score"] > before):
                    seen[t["objective"]] = t["score"]
            self.validation_["objectives"] = {**self.validation_["objectives"], "tried": seen,
                                              "chosen": self.objective_}
        self._one = None
        self.validation_[f"ndcg@{self.eval_at}"] = score
        self.validation_["best_iteration"] = int(self.booster_.best_iteration or self.n_estimators)
        best_baseline = (self.validation_.get("baselines") or {}).get(
            self.validation_.get("best_baseline"))
        if best_baseline is not None and score is not None:  # the guard, for the tuned model
            self.validation_["ranker_below_baseline"] = bool(score < best_baseline)
        self.validation_["tuning"] = {"seconds": seconds, "tried": tried, "chosen": chosen}
        return tried

    def ablation(self, requests: pd.DataFrame, truth: pd.DataFrame) -> list[dict]:
        """The validation NDCG (as replay computes it) of the full feature set and with each
        feature group left out, each retrained with the engine's settings on the fitted
        engine's training part (of ``requests``): what each group buys. Recorded in
        ``validation_["ablation"]``."""
        self.check_fitted()
        _, valid, sets, held = self._training_sets(requests, truth)
        names = self.features_.names_
        full = self._rank_held(valid, truth, held, self.booster_)[0]
        rows = [{"left_out": None, "features": len(names), "score": full, "change": 0.0}]
        for group, members in feature_groups(names).items():
            kept = [n for n in names if n not in members]
            if not members or not kept:
                continue
            booster, _ = self._boost(sets, self.lightgbm_params(), kept)
            score = self._rank_held(valid, truth, held, booster, kept)[0]
            rows.append({"left_out": group, "features": len(members), "score": score,
                         "change": None if score is None or full is None else score - full})
        self.validation_["ablation"] = rows
        return rows

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
        other folds, without time). So, with time, user history reads the same past: it
        is fitted on the training and validation requests and counts, as the ranker does,
        each user's engagements strictly before each request (a grocery log's guard
        showed the ranker 0.038 ahead of a user history blind to the validation weeks,
        0.012 ahead of one that saw them). Not when whole users are held out (they are
        new to both), nor without time (counting the validation part would count each
        request's own engagements). Popular and context-popular count the training
        requests only, for the same reason: against them the comparison leans towards
        the ranker, so a warning is a strong one.
        """
        from suggest.evaluate import evaluate

        name = f"ndcg@{self.eval_at}"
        if len(valid) == 0:
            return {name: None, "scored_requests": 0}
        whole, valid = valid, scored_sample(valid)
        mine = truth[isin(truth["request_id"], valid["request_id"])]

        def score(engine, lists=None) -> tuple[float | None, int]:
            lists = engine.suggest(valid, self.eval_at) if lists is None else lists
            result = evaluate(lists, mine[isin(mine["request_id"], valid["request_id"])], [name])
            scored = int(len(result.per_request))
            return (float(result.means[name]) if scored else None), scored

        if held is not None:
            ours, scored = self._rank_held(valid, truth, held, self.booster_)
        else:
            ours, scored = score(self)
        out = {name: ours, "scored_requests": scored}
        if train is not None and ours is not None:
            from suggest.engines import get_engine

            seen = truth[isin(truth["request_id"], train["request_id"])]
            past = train
            if "timestamp" in train.columns and self._kind_used(whole) != "user":
                read = [c for c in ("request_id", "user_id", "timestamp", "timezone")
                        if c in train.columns]  # what user history reads
                past = pd.concat([train[read], whole[read]], ignore_index=True)
            baselines = {b: score(get_engine(b).fit(past, truth, catalog) if b == "user-history"
                                  else get_engine(b).fit(train, seen, catalog))[0]
                         for b in BASELINES}
            best = max((b for b in baselines if baselines[b] is not None),
                       key=lambda b: baselines[b], default=None)
            out.update(baselines=baselines, best_baseline=best,
                       ranker_below_baseline=bool(best is not None and ours < baselines[best]))
        return out

    def _rank_held(self, valid, truth, held, booster, columns=None) -> tuple[float | None, int]:
        """NDCG@eval_at (and the requests scored) of ``booster``'s lists for the ``valid``
        requests, ranked from ``held`` (the validation part as training built it)."""
        from suggest.evaluate import evaluate

        name = f"ndcg@{self.eval_at}"
        reqs, cand, X = held
        wanted = isin(reqs["request_id"], valid["request_id"])  # hashed once a request
        at = wanted[cand["row"].to_numpy()]
        rows = reqs[wanted].reset_index(drop=True)
        renumber = np.cumsum(wanted) - 1  # a kept request's place among the kept ones
        chosen = cand[at].assign(row=renumber[cand["row"].to_numpy()[at]])
        matrix = X[columns] if columns is not None else X
        scores = booster.predict(matrix.to_numpy()[at], num_threads=self.n_jobs) if at.any() \
            else np.zeros(0)
        explain, self.explain = self.explain, False
        try:
            lists = self.top(rows, chosen, X[at], scores, self.eval_at)
        finally:
            self.explain = explain
        mine = truth[isin(truth["request_id"], valid["request_id"])]
        result = evaluate(lists, mine, [name])
        scored = int(len(result.per_request))
        return (float(result.means[name]) if scored else None), scored

    #: Settings that are whole numbers, and the least each may be (num_leaves and
    #: truncation_level may be None too: chosen by the log's size, and none).
    WHOLE = {"cap": 1, "n_estimators": 1, "min_child_samples": 1, "early_stopping_rounds": 1,
             "eval_at": 1, "n_jobs": -1, "seed": 0, "num_leaves": 2, "truncation_level": 1}

    def check_settings(self) -> None:
        """Refuse a setting of the wrong type or range before any work: ``n_estimators="many"``
        failed deep inside fit with a TypeError."""
        for name, least in self.WHOLE.items():
            value = getattr(self, name)
            if value is None and name in ("num_leaves", "truncation_level"):
                continue
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
                raise SuggestError(f"RankerEngine {name}={value!r}: expected a whole number >= {least}")
        for name, within, said in (("learning_rate", lambda v: v > 0, "above 0"),
                                   ("feature_fraction", lambda v: 0 < v <= 1, "in (0, 1]"),
                                   ("validation_share", lambda v: 0 < v < 1, "in (0, 1)")):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                    or not within(value):
                raise SuggestError(f"RankerEngine {name}={value!r}: expected a number {said}")
        if self.objective not in (*OBJECTIVES, "auto"):
            raise SuggestError(f"RankerEngine objective={self.objective!r}: unknown",
                               hint=did_you_mean(str(self.objective), [*OBJECTIVES, "auto"])
                               or f"expected {', '.join(OBJECTIVES)} or auto")

    def prepare(self, requests: pd.DataFrame, truth: pd.DataFrame,
                 catalog: pd.DataFrame | None) -> None:
        """Everything but the booster: candidate sources, feature statistics, grades.

        A saved model stores what it fitted (:mod:`suggest.ranker.artifact`), so loading does
        not count the training log again.
        """
        self.check_settings()
        self._one = None  # the one-context lookups belong to the previous fit
        self.fitted_on_ = fitted_on(requests, truth)  # what save() records as the training data
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

    def validation_split(self, requests: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(train, validation): the ``validation_share`` of ``requests`` held out for early
        stopping, as ``validation_by`` picks it (:meth:`validation_requests`)."""
        held = self.validation_mask(requests)
        return (requests[~held].reset_index(drop=True),
                self.validation_requests(requests[held].reset_index(drop=True)))

    def _validation_kind(self, requests: pd.DataFrame) -> str:
        from suggest.splits import split_kind

        return split_kind(self.validation_share or 0.5, self.validation_by, requests.columns,
                          None)[0]

    def validation_mask(self, requests: pd.DataFrame) -> np.ndarray:
        """The rows of ``requests`` that :meth:`validation_split` holds out. Whole users or
        values (``validation_by`` user, group:) when the training part has at least
        ``MIN_VALIDATION_GROUPS`` of them and whole ones come within half of the share
        asked (a column of two values, one of them left by the test split, cannot);
        else by time (a seeded share of requests without time), and
        :meth:`validation_how` says why. The kind used is ``validation_kind_``."""
        from suggest.splits import by_group, group_values

        n_valid = int(round(len(requests) * self.validation_share))
        held = np.zeros(len(requests), bool)
        kind = self._validation_kind(requests)
        self.validation_kind_, self.validation_note_ = kind, ""
        if n_valid == 0:
            return held
        if kind not in ("time", "request"):
            column = "user_id" if kind == "user" else kind.split(":", 1)[1]
            count = requests[column].nunique(dropna=False)
            groups = "users" if kind == "user" else group_values(column, requests.attrs.get("group_id"))
            if count >= MIN_VALIDATION_GROUPS:
                held = by_group(requests[column], n_valid, self.seed)
                if abs(held.mean() - self.validation_share) <= self.validation_share / 2:
                    return held
                why = (f"whole {groups} would hold out {held.mean():.0%} of the training part, "
                       f"not about {self.validation_share:.0%}")
            else:
                one = ("user" if kind == "user" else group_values(column).replace("s of", " of", 1)
                       ) if count == 1 else groups
                why = f"the training part has {count} {one}, too few to hold whole ones out"
            kind = self.validation_kind_ = "time" if "timestamp" in requests.columns else "request"
            self.validation_note_ = f": {why}"
            held = np.zeros(len(requests), bool)
        if kind == "time":
            return latest(requests["timestamp"], n_valid)
        held[np.random.default_rng(self.seed).permutation(len(requests))[len(requests) - n_valid:]] = True
        return held

    def _kind_used(self, requests: pd.DataFrame) -> str:
        return getattr(self, "validation_kind_", None) or self._validation_kind(requests)

    def validation_requests(self, valid: pd.DataFrame) -> pd.DataFrame:
        """The validation requests as validation scores them: when whole users were held
        out, each by a user the ranker has never seen (:data:`NEW_USER`)."""
        if len(valid) == 0 or self._kind_used(valid) != "user":
            return valid
        return valid.assign(user_id=pd.Series(NEW_USER, index=valid.index, dtype=object))

    def validation_how(self, requests: pd.DataFrame) -> str:
        """How the validation part was picked, for people."""
        from suggest.splits import group_values

        kind = self._kind_used(requests)
        return {"time": "by time", "request": "seeded",
                "user": "seeded by users, new to the ranker"}.get(
            kind, f"seeded by {group_values(kind.split(':', 1)[-1], requests.attrs.get('group_id'))}"
        ) + getattr(
            self, "validation_note_", "")

    def labels(self, requests: pd.DataFrame, cand: pd.DataFrame, truth: pd.DataFrame) -> np.ndarray:
        """The graded relevance of each candidate row (0 when not engaged)."""
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

    def request_columns(self) -> tuple[str, ...]:
        return ("request_id", "user_id")

    def columns_read(self) -> list[str]:
        """Its features' context columns, and the timestamp when it learnt from time."""
        features = getattr(self, "features_", None)
        if features is None:
            return []
        return ([c for c in features.context_ if c not in TIME_FIELDS]
                + (["timestamp"] if features.has_time_ else []))

    @checked_suggest
    def suggest(self, requests: pd.DataFrame, k: int, exclude_blocked: bool = False) -> pd.DataFrame:
        k = check_k(k)
        if getattr(getattr(self, "features_", None), "has_time_", False):
            if "timestamp" not in requests.columns:  # local time fields alone: no instant
                raise untimed("the requests frame has no timestamp column")
            if requests["timestamp"].isna().any():
                missing = requests["request_id"][requests["timestamp"].isna().to_numpy()]
                raise untimed(f"{len(missing):,} request(s) of the frame (first: "
                              f"{missing.iloc[0]!r}) have no timestamp")
        cand, X, scores = self.score(requests)
        keep = np.ones(len(cand), bool) if not exclude_blocked else cand["rule_blocked"].to_numpy() == 0
        return self.top(requests, cand[keep], X[keep], scores[keep], k)

    @zoned_one
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

    def __getstate__(self) -> dict:  # a copy or a pickle (a worker's engine) carries no
        state = self.__dict__.copy()  # one-context lookups: they hold a lock, and are rebuilt
        state.pop("_one", None)
        return state

    def top(self, requests, cand, X, scores, k) -> pd.DataFrame:
        """The Suggestions frame of the ``k`` best-scored candidates of each request."""
        order = pd.DataFrame({"row": cand["row"].to_numpy(), "item": cand["item_id"].to_numpy(),
                              "score": scores, "at": np.arange(len(cand))})
        order = order.sort_values(["row", "score", "item"], ascending=[True, False, True],
                                  kind="stable")
        order["rank"] = order.groupby("row", sort=False).cumcount() + 1
        order = order[order["rank"] <= k]
        items = np.array(sorted(order["item"].unique()), dtype=object)
        reasons, codes = self.reasons(X.iloc[order["at"].to_numpy()])
        return suggestions_frame(requests["request_id"], order["row"].to_numpy(),
                                 order["rank"].to_numpy(),
                                 np.searchsorted(items, order["item"].to_numpy(dtype=object)), items,
                                 order["score"].to_numpy(), codes, reasons, self.name)

    def reasons(self, X: pd.DataFrame) -> tuple[list[str], np.ndarray]:
        """The two features that pushed each shown item up most (``pred_contrib``), each
        with the row's value: ``ranker: user_item_share=0.5, ctx:location=commute``."""
        if len(X) == 0 or not self.explain:
            return [self.name], np.zeros(len(X), dtype=np.int64)
        values = X.to_numpy()
        contrib = self.booster_.predict(values, pred_contrib=True, num_threads=self.n_jobs)[:, :-1]
        top = np.argsort(-contrib, axis=1, kind="stable")[:, :2]
        rows = np.arange(len(X))
        first, second = (self._feature_text(top[:, j], values[rows, top[:, j]], values)
                         for j in range(2))
        codes, uniques = pd.factorize(pd.Series(first) + ", " + pd.Series(second))
        return [f"{self.name}: {u}" for u in uniques], codes

    def _feature_text(self, feature: np.ndarray, value: np.ndarray,
                      rows: np.ndarray | None = None) -> np.ndarray:
        """``name=value`` per row: categories by name, source flags as yes/no, counts the
        trees read as log1p as counts, other numbers to three digits, ``missing`` for NaN;
        a category without a code is ``unseen`` (an item) or ``missing or unseen`` (a
        context value or an attribute: the features give both one code, which the trees
        read alike, so the text cannot tell them apart). ``rows``: every feature of each
        row, for a history rank of an item the user never engaged, which ranks by popularity
        (a new user's list read "rank:history=1")."""
        feats = self.features_
        names = feats.names_
        count = names.index("user_item_count") if "user_item_count" in names else None
        out = np.empty(len(feature), dtype=object)
        for f in np.unique(feature):  # one pass per feature, not per row
            at, name = feature == f, names[f]
            v = value[at]
            categories = _categories_of(feats, name)
            if categories is not None:
                table = np.array([*categories, "unseen" if name == "item" else "missing or unseen"],
                                 dtype=object)
                code = np.where(np.isnan(v) | (v < 0) | (v >= len(categories)), len(categories), v)
                text = table[code.astype(np.int64)]
            elif name.startswith("src_") or name == "rule_blocked":
                text = np.where(v > 0, "yes", "no").astype(object)
            elif name in LOG1P_FEATURES:  # the count, not the log1p the trees read
                text = np.where(np.isnan(v), "missing",
                                np.char.mod("%d", np.rint(np.expm1(np.nan_to_num(v))))).astype(object)
            else:
                text = np.where(np.isnan(v), "missing", np.char.mod("%.3g", v)).astype(object)
            if name == "rank:history" and count is not None and rows is not None:
                never = ~(rows[at, count] > 0)  # no past engagement (0 or missing)
                text[never] = text[never] + " (by popularity: no past engagement)"
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


#: Fewest users or values a training part needs for the validation to hold whole ones out.
MIN_VALIDATION_GROUPS = 3
#: The user of every validation request under ``validation_by="user"``: no training
#: request has it (a log's ids are text without control characters).
NEW_USER = "\x00new user"


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

    @classmethod
    def of(cls, ranker: RankerEngine, source: str = "the model") -> "HybridEngine":
        """The hybrid of a trained ranker (``suggest replay --model``): the same trees,
        candidates and statistics, with the items its rules block never shown. It shares the
        ranker's fitted state, which neither changes."""
        if not ranker.rules:
            raise SuggestError(f"{source} was trained without rules, so it has no hybrid",
                               hint="drop hybrid from --engines, or train the model with "
                                    "--rules RULES.yaml")
        hybrid = cls.__new__(cls)
        hybrid.__dict__.update(ranker.__dict__)
        return hybrid


def untimed(what: str) -> SuggestError:
    """The error of a context without a time given to a ranker that learnt from time: its
    counts are of the past before each request's time, so without one the batch and the
    one-context paths each guessed, and differently (a tester's scores differed)."""
    return SuggestError(f"{what}, and the ranker was trained on a log with time: its features "
                        "count each user's and item's past before the request's time",
                        hint="give each context's timestamp (ISO 8601 with its offset, e.g. "
                             "2026-03-03T08:10:00-05:00)")


def fitted_on(requests: pd.DataFrame, truth: pd.DataFrame) -> list[int]:
    """A cheap mark of training frames (their sizes and a sum of their request ids' hashes):
    :meth:`RankerEngine.save` checks that the frames it records are those fitted on."""
    from suggest.hashing import text_hashes

    ids = text_hashes(requests["request_id"].astype(str)).sum(dtype=np.uint64)
    return [len(requests), len(training_truth(requests, truth)), int(ids)]


def scored_sample(valid: pd.DataFrame) -> pd.DataFrame:
    """The validation requests :meth:`RankerEngine.replay_score` scores: all of them, or
    ``VALID_SCORED`` evenly spread."""
    if len(valid) <= VALID_SCORED:
        return valid
    return valid.iloc[np.linspace(0, len(valid) - 1, VALID_SCORED).astype(int)]


def held_part(engine: RankerEngine, valid: pd.DataFrame) -> tuple:
    """``valid``'s (requests, candidates, features) as training builds them (out of fold
    without time, candidates from the sources of each request's block), what
    :meth:`RankerEngine.replay_score` ranks validation requests from."""
    cand = engine.candidates_.generate(valid, training=True)
    return valid, cand, engine.features_.build(valid, cand, training=True)


def useful_groups(rows: np.ndarray, labels: np.ndarray) -> np.ndarray:
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

    @classmethod
    def restore(cls, edges: list[float] | None) -> "_grades":
        """The grades whose quartile ``edges`` (None: relevance read as whole labels) a
        model folder stores."""
        grades = cls.__new__(cls)
        grades.edges = None if edges is None else np.array(edges, dtype=float)
        return grades

    def __call__(self, rel: np.ndarray) -> np.ndarray:
        if self.edges is None:
            return np.where(rel > 0, np.clip(np.rint(rel), 1, MAX_LABEL), 0).astype(np.int32)
        return np.where(rel > 0, 1 + np.searchsorted(self.edges, rel, side="right"), 0).astype(np.int32)
