"""Counterfactual evaluation: what an engine would have earned, from a log of what was shown
(DESIGN section 10).

A **bandit-feedback log** has one row per item the service showed: its request, the item,
its ``position`` (1-based) in the shown list, the logging policy's ``propensity`` of
showing that item at that position, and the ``reward`` (the engagement: 0 when the item
was shown and not engaged). People can only engage with what they were shown, so a plain
replay favours the engine that produced the log; these estimators ask instead what
another engine's top-``k`` list would have earned.

The quantity estimated is the target's **expected reward per request** on its top-``k``
list, ``V = E_x sum_{j<=k} E[r | x, item pi_j(x), position j]``, under the item-position
click model (a position-based model is one): the reward of an item at a position depends
on the request, the item and the position, not on the rest of the list. With
``w = 1[the target puts the logged item at the logged position] / propensity`` on each
logged row at a position ``<= k``:

* **IPS** (item-position IPS; Li et al. 2018, "Offline Evaluation of Ranking Policies with
  Click Models"; OBP's ``SlateIndependentIPS``): ``(1/n) sum_rows w * r`` over the ``n``
  logged requests. Unbiased when the propensities are right and every item the target
  shows at a position could have been logged there.
* **SNIPS** (OBP's ``SelfNormalizedSlateIndependentIPS``): per position ``j``,
  ``sum w * r / sum w`` over the rows at ``j``, times the share of requests where the
  target puts an item at ``j`` (the weights' expected sum; OBP's lists are always full, so
  the share is 1 there), added up over the positions. Biased but consistent, and steadier
  when a few large weights dominate; undefined (None) when no logged row at some position
  the target fills matches it.
* **DR** (doubly robust, per item and position): ``(1/n) sum_requests [sum_j q(x, pi_j(x),
  j) + sum_rows w * (r - q(x, a, j))]``, where ``q`` is a reward model fitted on other
  rows (the training part; :class:`PositionItemRewards` by default). Unbiased if either
  the propensities or the reward model are right; its variance is IPS's on the reward
  model's errors.

Each comes with a 95% interval: IPS's is the **gamma interval** of a weighted sum of
counts (:func:`gamma_interval`; for rewards in [0, 1]), which stays honest when only a
handful of heavily weighted engagements stand behind the estimate, with its upper end
raised by one engagement at each of the target's places the logging policy could not have
shown (``support`` below 1: IPS counts nothing there, whatever they would have earned);
SNIPS's and DR's are **bootstrap** intervals (percentile, requests resampled with
replacement, seeded), which measure the sample's spread only (not the bias of the
normalising or of the reward model), too narrow when few rows match. A replay recommends
IPS for that reason (:data:`RECOMMENDED`). With rewards in [0, 1], no interval reaches
past one engagement per suggestion (the most a list can earn) unless the estimate does.
Diagnostics say when the log cannot tell:

* ``ess``: the effective sample size of the weights, per position ``(sum w)^2 / sum w^2``,
  at the weakest of the positions that carry at least 5% of the target's weights (in
  requests; compare with ``requests``; ``ess_by_position`` holds each);
* ``matched``: the share of the target's suggestions (request, position) that the log
  shows at that position: the rows the weights stand on;
* ``support``: the share of the target's suggestions the logging policy could have shown
  where the target puts them: the (item, position) is seen somewhere in the log, and in
  that request the log shows the same item there, nothing there, or another item with a
  propensity below 1 (a propensity of 1 leaves no chance to any other item). Necessary
  conditions only: the log cannot show the rest of the logging policy;
* ``max_weight`` (uncapped) and, with ``clip``, how many weights were clipped (clipping trades
  bias for variance: the estimate then leans low).

>>> shown = pd.DataFrame({"request_id": ["a", "a", "b", "b"], "item_id": ["x", "y", "y", "x"],
...                       "position": [1, 2, 1, 2], "propensity": [0.5, 0.5, 0.5, 0.5],
...                       "reward": [1.0, 0.0, 0.0, 1.0]})
>>> target = pd.DataFrame({"request_id": ["a", "b"], "rank": [1, 1], "item_id": ["x", "x"]})
>>> round(estimate(shown, target, k=1, n_boot=0)["ips"]["value"], 3)   # (1 / 0.5) / 2 requests
1.0
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from suggest.errors import SuggestError, listed
from suggest.ids import isin

#: The columns :func:`estimate` reads from a log of what was shown.
SHOWN_COLUMNS = ("request_id", "item_id", "position", "propensity", "reward")
#: Bootstrap resamples drawn at a time (each is a row of counts over the requests).
_CHUNK_CELLS = 20_000_000


class PositionItemRewards:
    """The default reward model of DR: the mean reward of each (item, position) in the
    rows it is fitted on, shrunk towards the position's mean reward by ``strength``
    pseudo-rows (an item never shown at a position gets the position's mean; a position
    never shown gets the overall mean). It ignores the request's context: DR stays
    unbiased with any reward model when the propensities are right, and a closer model
    only narrows its interval."""

    def __init__(self, strength: float = 10.0):
        self.strength = strength

    def fit(self, shown: pd.DataFrame) -> "PositionItemRewards":
        return self.fit_sums(reward_sums(shown))

    def fit_sums(self, sums: pd.DataFrame) -> "PositionItemRewards":
        """Fit from :func:`reward_sums` (of several parts of a log: they are added up)."""
        pairs = sums.groupby(["item_id", "position"])[["sum", "count"]].sum()
        total, rows = float(pairs["sum"].sum()), float(pairs["count"].sum())
        self.overall_ = total / rows if rows else 0.0
        by_position = pairs.groupby(level="position").sum()
        self.positions_ = {int(p): float(row["sum"] / row["count"])
                           for p, row in by_position.iterrows()}
        base = pairs.index.get_level_values("position").map(self.positions_).to_numpy(dtype=float)
        self.pairs_ = pd.Series((pairs["sum"].to_numpy() + self.strength * base)
                                / (pairs["count"].to_numpy() + self.strength), index=pairs.index)
        return self

    def predict(self, items, positions) -> np.ndarray:
        """The predicted reward of each (item, position)."""
        items = pd.Series(items, dtype=object).astype(str).to_numpy()
        positions = np.asarray(positions, dtype=np.int64)
        index = pd.MultiIndex.from_arrays([self.pairs_.index.get_level_values(0).astype(str),
                                           self.pairs_.index.get_level_values(1)])
        at = index.get_indexer(pd.MultiIndex.from_arrays([items, positions]))
        fallback = pd.Series(positions).map(self.positions_).fillna(self.overall_).to_numpy()
        return np.where(at >= 0, self.pairs_.to_numpy()[np.maximum(at, 0)], fallback)


def reward_sums(shown: pd.DataFrame) -> pd.DataFrame:
    """The reward's sum and count of each (item, position) of a log of what was shown: what
    :class:`PositionItemRewards` is fitted from, added up over the parts of a log."""
    frame = pd.DataFrame({"item_id": shown["item_id"].astype(str).to_numpy(),
                          "position": shown["position"].to_numpy(dtype=np.int64),
                          "reward": shown["reward"].to_numpy(dtype=float)})
    return frame.groupby(["item_id", "position"])["reward"].agg(["sum", "count"]).reset_index()


def check_shown(shown: pd.DataFrame) -> None:
    """Refuse a log of what was shown that the estimators cannot use, naming the problem."""
    missing = [c for c in SHOWN_COLUMNS if c not in shown.columns]
    if missing:
        raise SuggestError(f"the log of what was shown lacks {', '.join(missing)}",
                           hint="name the shown, position and propensity columns in the dataset "
                                "description")
    propensity = shown["propensity"].to_numpy(dtype=float)
    bad = ~((propensity > 0) & (propensity <= 1))
    if bad.any():
        raise SuggestError(f"{int(bad.sum()):,} shown row(s) have a propensity outside (0, 1], "
                           f"e.g. {propensity[bad][0]!r}",
                           hint="a propensity is the logging policy's probability of showing "
                                "that item at that position")
    positions = shown["position"].to_numpy()
    if len(positions) and (np.asarray(positions, dtype=float) < 1).any():
        raise SuggestError("positions are 1-based: a shown row has a position below 1")
    twice = shown.duplicated(["request_id", "position"])
    if twice.any():
        row = shown[twice].iloc[0]
        raise SuggestError(f"request {row['request_id']!r} shows two items at position "
                           f"{row['position']}", hint="one row per shown item and position")


def check_clip(clip: float | None) -> None:
    """Refuse a cap on the weights below 1 (a weight is 1 / propensity: at least 1)."""
    if clip is not None and not clip >= 1:
        raise SuggestError(f"--clip must be at least 1, not {clip:g}",
                           hint="a weight is 1 / propensity, at least 1: a cap below 1 would "
                                "shrink every weight, the logging policy's own choices' too")


def estimate(shown: pd.DataFrame, target: pd.DataFrame, k: int, *, reward_model=None,
             clip: float | None = None, n_boot: int = 1000, seed: int = 0,
             confidence: float = 0.95, requests=None, also_seen=None, contexts=None) -> dict:
    """IPS, SNIPS and DR estimates of ``target``'s expected reward per request (see the
    module docstring), each ``{"value", "ci_low", "ci_high"}``, and the diagnostics.

    Parameters
    ----------
    shown : DataFrame
        The evaluated part of a log of what was shown (:data:`SHOWN_COLUMNS`); its
        requests are the ones evaluated.
    target : DataFrame
        The target engine's Suggestions for those requests (``request_id``, ``rank``,
        ``item_id``); ranks above ``k`` are ignored.
    reward_model : object, optional
        Fitted, with ``predict(items, positions)``; fit it on rows other than ``shown``
        (the training part). Without one DR is not computed.
    clip : float, optional
        Cap each weight at ``clip``.
    n_boot : int
        Bootstrap resamples for the intervals (0: no interval).
    requests : array-like, optional
        The evaluated requests, when some showed nothing (they count, with no reward):
        default, the requests of ``shown``.
    also_seen : DataFrame, optional
        ``item_id`` and ``position`` pairs other parts of the log show (its training part),
        for ``support``.
    contexts : DataFrame, optional
        The evaluated requests' context values, indexed by request id (columns of at most
        ``MAX_CONTEXT_VALUES`` values are read): a target's (item, position) that the
        evaluated rows never show where a column has the request's value, though
        ``MIN_EXPECTED`` shows would be expected there, is not supported
        (``context_gaps``: the share of the suggestions each column takes out).
    """
    return _estimate(shown, target, k, reward_model=reward_model, clip=clip, n_boot=n_boot,
                     seed=seed, confidence=confidence, requests=requests, also_seen=also_seen,
                     contexts=contexts)[0]


def _estimate(shown, target, k, *, reward_model, clip, n_boot, seed, confidence, requests,
              also_seen, contexts=None) -> tuple[dict, np.ndarray]:
    """:func:`estimate`, and each request's IPS term (their mean is the IPS estimate)."""
    check_shown(shown)
    check_clip(clip)
    requests = pd.Index(pd.unique(shown["request_id"] if requests is None
                                  else pd.Series(requests, dtype=object)))
    n = len(requests)
    rows = shown[shown["position"].to_numpy() <= k]
    req = requests.get_indexer(rows["request_id"])
    rows, req = rows[req >= 0], req[req >= 0]  # rows of other requests are not evaluated
    pos = rows["position"].to_numpy(dtype=np.int64) - 1
    item = rows["item_id"].astype(str).to_numpy()
    reward = rows["reward"].to_numpy(dtype=float)
    lists = target[(target["rank"].to_numpy() <= k)
                   & isin(target["request_id"], requests)]
    list_req = requests.get_indexer(lists["request_id"])
    list_pos = lists["rank"].to_numpy(dtype=np.int64) - 1
    list_item = lists["item_id"].astype(str).to_numpy()
    # the target's item at each (request, position), to compare with the logged one
    chosen = pd.Series(list_item, index=pd.MultiIndex.from_arrays([list_req, list_pos]))
    if chosen.index.has_duplicates:
        twice = chosen.index[chosen.index.duplicated()][0]
        raise SuggestError(f"the target lists two items at rank {twice[1] + 1} of request "
                           f"{requests[twice[0]]!r}", hint="give each request one item a rank")
    at = chosen.index.get_indexer(pd.MultiIndex.from_arrays([req, pos]))
    matches = (at >= 0) & (chosen.to_numpy()[np.maximum(at, 0)] == item) if len(chosen) else \
        np.zeros(len(rows), dtype=bool)
    weight = np.where(matches, 1.0 / rows["propensity"].to_numpy(dtype=float), 0.0)
    raw = weight  # the effective sample size is of these: capping them hides how few rows count
    clipped = 0
    if clip is not None:
        clipped = int((weight > clip).sum())
        weight = np.minimum(weight, clip)
    # per request and position: the weighted reward and the weight (SNIPS's parts), over the
    # positions the target lists something at (a log row further down has no weight: a --k
    # of a million, or a position of a million in the log, costs what the lists cost)
    width = int(list_pos.max(initial=0)) + 1
    inside = pos < width
    cells = req[inside] * width + pos[inside]
    numerator = np.bincount(cells, weights=(weight * reward)[inside],
                            minlength=n * width).reshape(n, width)
    denominator = np.bincount(cells, weights=weight[inside], minlength=n * width).reshape(n, width)
    parts = {"ips": numerator.sum(axis=1)}
    if reward_model is not None:
        direct = np.bincount(list_req, weights=reward_model.predict(list_item, list_pos + 1),
                             minlength=n)
        correction = np.bincount(req, weights=weight * (reward - reward_model.predict(item, pos + 1)),
                                 minlength=n)
        parts["dr"] = direct + correction
    out = {name: _with_interval(values.mean() if n else None) for name, values in parts.items()}
    # which (request, position) the target fills: SNIPS normalises each position to its share
    filled = np.bincount(list_req * width + list_pos, minlength=n * width).reshape(n, width) > 0
    out["snips"] = _with_interval(_snips(numerator.sum(axis=0), denominator.sum(axis=0),
                                         filled.sum(axis=0) / max(n, 1)))
    if n_boot > 0 and n > 0 and matches.sum() < MIN_MATCHED:
        for name in ("snips", "dr"):  # a resample of a handful of rows is no interval
            if name in out:
                out[name]["interval"] = f"none: fewer than {MIN_MATCHED} matched rows"
    elif n_boot > 0 and n > 0:
        draws = _bootstrap(parts, numerator, denominator, filled, n_boot, seed)
        tail = (1 - confidence) / 2 * 100
        for name, values in draws.items():
            values = values[~np.isnan(values)]
            if out[name]["value"] is not None and len(values):
                out[name]["ci_low"], out[name]["ci_high"] = (float(v) for v in np.percentile(
                    values, [tail, 100 - tail]))
    # the logged row at each of the target's places (request, position), if any
    logged = pd.Index(pd.MultiIndex.from_arrays([req, pos])).get_indexer(
        pd.MultiIndex.from_arrays([list_req, list_pos]))
    if len(rows):
        logged_propensity = rows["propensity"].to_numpy(dtype=float)[np.maximum(logged, 0)]
        same = (logged >= 0) & (item[np.maximum(logged, 0)] == list_item)
    else:  # nothing shown at the target's positions: every place is one the log left empty
        logged_propensity, same = np.ones(len(logged)), np.zeros(len(logged), dtype=bool)
    pairs = [shown[["item_id", "position"]]] + ([also_seen[["item_id", "position"]]]
                                                if also_seen is not None else [])
    seen = pd.MultiIndex.from_frame(pd.concat(pairs, ignore_index=True).astype(
        {"item_id": str, "position": np.int64})).unique()
    suggested = len(lists)
    # a target cell the log could have shown: its (item, position) is seen in the log, and the
    # log matched it, showed nothing there, or showed another item with a propensity below 1
    # (a propensity of 1 leaves no chance for any other item in that place)
    could = (pd.MultiIndex.from_arrays([list_item, list_pos + 1]).isin(seen)
             & (same | (logged < 0) | (logged_propensity < 1)))
    gaps = {}
    if contexts is not None and len(rows) and len(lists):
        gaps = {column: unseen & could for column, unseen in _context_gaps(
            contexts.reindex(requests), req, pos, item, rows["propensity"].to_numpy(dtype=float),
            list_req, list_pos, list_item).items()}  # what each takes out of the rest
        for unseen in gaps.values():
            could &= ~unseen
    if n > 0 and len(reward) and reward.min() >= 0 and reward.max() <= 1:
        # One more count of the heaviest weight one match could carry (Fay & Feuer take the
        # largest weight of any stratum, with a count or not): the heaviest the target's
        # matches carry; and where the target departs from what the log shows with a high
        # propensity (or nothing was shown there), only exploring could have matched it, at
        # a weight the log does not show: the log's heaviest (its smallest propensity). So
        # too when nothing matched at all: no match tells how heavy one would be.
        heavy = bool((~same & ((logged < 0) | (logged_propensity > 0.5))).any())
        largest = max(weight[matches].max() if matches.any() else 0.0,
                      1.0 / rows["propensity"].min() if heavy or not matches.any() else 0.0)
        largest = min(largest, clip) if clip is not None else largest
        low, high = gamma_interval(weight / n, reward, largest / n, confidence)
        # IPS counts nothing where the logging policy could not have shown the target's item
        # (support below 1): those places could hold anything up to one engagement each
        high += float((~could).sum()) / n
        out["ips"].update(ci_low=low, ci_high=high, interval="gamma")
    elif n > 0 and len(reward) == 0:  # nothing to count: only what the log could not show
        out["ips"].update(ci_low=0.0, ci_high=float((~could).sum()) / n, interval="gamma")
    if n > 0 and len(reward) and reward.min() >= 0 and reward.max() <= 1:
        most = suggested / n  # at most one engagement a suggestion: no interval reaches past
        for name in ("ips", "snips", "dr"):  # it (nor past the estimate, which weights can)
            if name in out and out[name]["ci_high"] is not None:
                top = max(most, out[name]["value"] or 0.0)
                out[name]["ci_high"] = min(out[name]["ci_high"], top)
                out[name]["ci_low"] = min(out[name]["ci_low"], out[name]["ci_high"])
    if len(reward) and reward.min() >= 0:  # the value cannot be negative: neither can its
        for name in ("snips", "dr"):          # interval, nor the estimate (DR's model term can
            if name not in out:               # take it below 0: it is read as 0, and said so)
                continue
            if out[name]["ci_low"] is not None:
                out[name]["ci_low"] = max(out[name]["ci_low"], 0.0)
                out[name]["ci_high"] = max(out[name]["ci_high"], 0.0)
            if out[name]["value"] is not None and out[name]["value"] < 0:
                out[name].update(value=0.0, below_zero=True)
    total = np.bincount(pos[inside], weights=raw[inside], minlength=width)
    squares = np.bincount(pos[inside], weights=raw[inside] ** 2, minlength=width)
    per_position = np.divide(total ** 2, squares, out=np.zeros(width), where=squares > 0)
    used = filled.any(axis=0)  # the positions the target fills somewhere
    # the weakest position's (a mean would hide one that stands on a handful of rows) among
    # those that carry the estimate: a position filled in a few requests weighs little in it
    carrying = used & (total >= WEIGHT_SHARE * total.sum()) if total.sum() > 0 else used
    out.update({
        "requests": n, "k": k, "rows": int(len(rows)), "suggested": int(suggested),
        "ess": float(per_position[carrying if carrying.any() else used].min()) if used.any()
        else 0.0,
        "ess_by_position": [float(v) for v in per_position[:k]],
        "matched": float(matches.sum() / suggested) if suggested else 0.0,
        "of_shown": float(matches.sum() / len(rows)) if len(rows) else 0.0,
        "support": float(could.mean()) if suggested else 0.0,
        **({"context_gaps": {c: float(g.mean()) for c, g in gaps.items() if g.any()}}
           if any(g.any() for g in gaps.values()) else {}),
        # the largest uncapped weight: a cap at --clip would hide the figure it is chosen from
        "max_weight": float(raw.max()) if len(raw) else 0.0,
        "clip": clip, "clipped": clipped})
    return out, parts["ips"]


def gamma_interval(weights: np.ndarray, counts: np.ndarray, largest: float,
                   confidence: float = 0.95) -> tuple[float, float]:
    """The gamma interval of a weighted sum of counts, ``sum(weights * counts)`` (Fay & Feuer 1997,
    "Confidence intervals for directly standardized rates: a method based on the gamma
    distribution"; R's ``epitools::ageadjust.direct``), with ``largest`` the largest weight
    one count could carry.

    IPS is such a sum: each engagement the target matches adds its weight ``1 / (n *
    propensity)`` (a reward in [0, 1] is a fractional count, with its variance taken as its
    mean, as a Poisson count's). When few weighted engagements stand behind an estimate (a target that
    differs from the logging policy, matched only where it explored), a bootstrap of the
    few there are cannot see the ones that could have been; this interval can: with none
    at all it still reaches ``largest * 3.69`` at 95%. Its coverage is at least the nominal
    one for Poisson counts, and rewards in [0, 1] vary less than Poisson counts of the
    same mean.

    >>> [round(v, 3) for v in gamma_interval(np.full(3, 0.01), np.zeros(3), 0.01)]
    [0.0, 0.037]
    """
    from scipy import stats

    weights, counts = np.asarray(weights, dtype=float), np.asarray(counts, dtype=float)
    total = float((weights * counts).sum())
    variance = float((weights ** 2 * counts).sum())  # a count's variance is its mean
    tail = (1 - confidence) / 2
    low = (float(stats.gamma.ppf(tail, total ** 2 / variance, scale=variance / total))
           if total > 0 else 0.0)
    grown, spread = total + largest, variance + largest ** 2
    high = float(stats.gamma.ppf(1 - tail, grown ** 2 / spread, scale=spread / grown)) if grown > 0 else 0.0
    return low, high


def _with_interval(value) -> dict:
    value = None if value is None or np.isnan(value) else float(value)
    return {"value": value, "ci_low": None, "ci_high": None, "interval": "bootstrap"}


def _snips(numerator: np.ndarray, denominator: np.ndarray, share: np.ndarray) -> float:
    """Per position sum(w r) / sum(w) times the share of requests the target fills there,
    added up; NaN when a position the target fills has no weight."""
    used = share > 0
    if (denominator[used] <= 0).any():
        return float("nan")
    return float((numerator[used] / denominator[used] * share[used]).sum())


def _bootstrap(parts: dict, numerator: np.ndarray, denominator: np.ndarray, filled: np.ndarray,
               n_boot: int, seed: int) -> dict:
    """Each estimator recomputed on ``n_boot`` resamples of the requests: each resample is a
    row of counts over the requests (a multinomial draw), a few thousand cells at a time."""
    rng = np.random.default_rng(seed)
    n = len(numerator)
    draws = {name: [] for name in (*parts, "snips")}
    chunk = max(1, min(n_boot, _CHUNK_CELLS // max(n, 1)))
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=size).astype(float)
        for name, values in parts.items():
            draws[name].append(counts @ values / n)
        num, den, share = counts @ numerator, counts @ denominator, counts @ filled / n
        used = share > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            snips = np.where(((den > 0) | ~used).all(axis=1),
                             np.where(used, num / den * share, 0.0).sum(axis=1), np.nan)
        draws["snips"].append(snips)
    return {name: np.concatenate(values) for name, values in draws.items()}


def _context_gaps(contexts: pd.DataFrame, req, pos, item, propensity, list_req, list_pos,
                  list_item) -> dict[str, np.ndarray]:
    """Per context column (of at most ``MAX_CONTEXT_VALUES`` values), per target suggestion
    (``list_*``): whether the evaluated rows (``req``, ``pos``, ``item``, ``propensity``;
    ``contexts`` in request code order) never show its item at its position where the
    column has its request's value, though they would show it ``MIN_EXPECTED`` times had
    the policy given it there the least propensity it gives any item at that position, in
    any context (the value's requests there times that floor). So the policy shows it less
    there than its floor: what ``support`` reads from the log alone counted an item the
    policy shows in the mornings as supported in the evenings too (a tester's log showed six
    items in the mornings, three in the evenings, and the tool said 100% support while IPS
    read half of a rule set's true value). Exploration, even thin, sets a low floor: no gap
    (a floor taken value by value had flagged the hours in which no request explored)."""
    codes, _ = pd.factorize(np.concatenate([item, list_item]))
    width = int(max(pos.max(initial=0), list_pos.max(initial=0))) + 1
    cell = codes[:len(item)].astype(np.int64) * width + pos
    wanted = codes[len(item):].astype(np.int64) * width + list_pos
    # the least propensity at each position over every context: the policy's floor there
    # (its exploration, wherever a request explored), not each value's own (a value where
    # no request happened to explore saw only the policy's own choices, near 1)
    floor = np.full(width, np.inf)
    np.minimum.at(floor, pos, propensity)
    floor = np.where(np.isfinite(floor), floor, 0.0)
    gaps = {}
    for column in contexts.columns:
        value, values = pd.factorize(contexts[column], use_na_sentinel=True)
        nv = len(values)
        if not 2 <= nv <= MAX_CONTEXT_VALUES:
            continue
        of_row, of_list = value[req], value[list_req]
        kept = of_row >= 0
        place = pos[kept] * nv + of_row[kept]  # (position, value) of each evaluated row
        rows_there = np.bincount(place, minlength=width * nv)
        asked = list_pos * nv + np.maximum(of_list, 0)
        expected = rows_there[asked] * floor[list_pos]
        found, times = np.unique(cell[kept] * nv + of_row[kept], return_counts=True)
        key = wanted * nv + np.maximum(of_list, 0)
        at = np.minimum(np.searchsorted(found, key), max(len(found) - 1, 0))
        shown = (found[at] == key) if len(found) else np.zeros(len(key), dtype=bool)
        gaps[str(column)] = (of_list >= 0) & ~shown & (expected >= MIN_EXPECTED)
    return gaps


#: The estimator a replay recommends: unbiased with the logged propensities, and its gamma
#: interval covers even when few weighted engagements stand behind it (the bootstrap
#: intervals of SNIPS and DR do not; see ``benchmarks/RESULTS.md``).
RECOMMENDED = "ips"
#: Below this share of its suggestions that the logging policy could have shown, an
#: engine's estimates lean low and the log cannot say what it would have earned.
MIN_SUPPORT = 0.5
#: Below this effective sample size (per position, in requests) an interval stands on few
#: rows: it is wide, and its coverage is less sure.
MIN_ESS = 30.0
#: A position carrying less than this share of the engine's (uncapped) weights is left out
#: of its weakest-position effective sample size: it weighs little in the estimate.
WEIGHT_SHARE = 0.05
#: A target's (item, position) the held-out part never shows where a context column has
#: the request's value, though at least this many shows would be expected there had the
#: policy given it the least propensity it gives any item at that position, is one the
#: policy shows less there than its floor: unsupported. No show where 10 are expected has a
#: chance of e^-10 (5e-5).
MIN_EXPECTED = 10.0
#: Context columns with more distinct values than this are not read for support (a value
#: of a column of ids holds too few requests to expect anything).
MAX_CONTEXT_VALUES = 50
#: Below this many matched rows SNIPS and DR get no bootstrap interval: resampling a
#: handful of rows gives a spread near zero, not an interval (DR's is then the reward
#: model's alone).
MIN_MATCHED = 5


def shown_rows(events: pd.DataFrame) -> pd.DataFrame:
    """The log of what was shown (:data:`SHOWN_COLUMNS`) from Events of a log with position
    and propensity columns: the reward is 1 on an engagement, 0 on a shown item left alone."""
    shown = events[["request_id", "item_id", "position", "propensity"]].copy()
    shown["request_id"] = shown["request_id"].astype(str)
    shown["item_id"] = shown["item_id"].astype(str)
    shown["reward"] = events["positive"].to_numpy(dtype=float)
    return shown


def for_replay(shown: pd.DataFrame, train_sums: pd.DataFrame, test_ids, suggestions: pd.DataFrame,
               engines: list[str], k: int, *, truth: pd.DataFrame, seed: int = 0,
               clip: float | None = None, n_boot: int = 1000, oracle=None,
               contexts: pd.DataFrame | None = None) -> dict:
    """The counterfactual part of a replay on a log of what was shown: every engine's
    estimates on the held-out requests ``test_ids`` (their ``shown`` rows, as
    :func:`shown_rows` gives them), beside the plain replay's count of ``truth`` (their
    engagements) and, on a simulated service (``oracle``:
    :class:`suggest.simulate.ServiceTruth`), the true value.

    ``k`` is the replay's largest cutoff, capped at the log's last position (a position
    never shown cannot be estimated). ``train_sums`` (:func:`reward_sums` of the training
    part) fits DR's reward model, on the training part only, and adds its (item, position)
    pairs to what support counts as seen; ``contexts`` (the held-out requests' context
    values, by request id) takes out of it what the held-out part never shows in a
    request's context (:func:`estimate`). A request that shows two items at one position
    keeps the first (in the log's order); ``repeated_positions`` counts the others. Returns
    ``{"k", "recommended", "engines": {name: estimate + "replay" (+ "oracle")},
    "sentences"}``.
    """
    repeated = shown.duplicated(["request_id", "position"]).to_numpy()
    shown = shown[~repeated]
    k = int(min(k, shown["position"].max())) if len(shown) else 0
    test_ids = pd.Index(pd.unique(pd.Series(test_ids, dtype=object).astype(str)))
    found = {"k": k, "recommended": RECOMMENDED, "reward_model": "PositionItemRewards on the "
             "training part's shown rows", "repeated_positions": int(repeated.sum())}
    if k == 0:
        return {**found, "engines": {}, "sentences": [
            "The held-out part of this log shows nothing, so there is nothing to weigh: no "
            "engine's counterfactual value can be estimated from it."]}
    model = PositionItemRewards().fit_sums(train_sums)
    engaged = pd.MultiIndex.from_arrays([truth["request_id"].astype(str).to_numpy(),
                                         truth["item_id"].astype(str).to_numpy()])
    out, terms = {}, {}
    for name in engines:
        target = suggestions[suggestions["engine"].astype(str).to_numpy() == name]
        target = target[target["rank"].to_numpy() <= k]
        entry, terms[name] = _estimate(shown, target, k, reward_model=model, clip=clip,
                                       n_boot=n_boot, seed=seed, confidence=0.95,
                                       requests=test_ids, also_seen=train_sums,
                                       contexts=contexts)
        hits = pd.MultiIndex.from_arrays([target["request_id"].astype(str).to_numpy(),
                                          target["item_id"].astype(str).to_numpy()]).isin(engaged)
        entry["replay"] = float(hits.sum() / len(test_ids)) if len(test_ids) else None
        if oracle is not None:
            entry["oracle"] = oracle.value(target, test_ids, k)
        out[name] = entry
    at = shown[shown["position"].to_numpy() <= k]
    heaviest = 1.0 / float(at["propensity"].min()) if len(at) else 0.0
    found["paired"] = paired_differences(terms, n_boot, seed,
                                         heaviest=min(heaviest, clip) if clip else heaviest)
    sentences = trust_sentences(out, k, found["paired"])
    if repeated.any():
        sentences.append(f"{int(repeated.sum()):,} held-out shown rows repeat a position their "
                         f"request already shows; the first of each was used.")
    return {**found, "engines": out, "sentences": sentences}


def paired_differences(terms: dict[str, np.ndarray], n_boot: int, seed: int,
                       confidence: float = 0.95, heaviest: float = 0.0) -> dict:
    """``{"b - a": {"value", "ci_low", "ci_high"}}`` for every pair of engines (``b`` after
    ``a`` in ``terms``' order): the difference of their IPS estimates, with a percentile
    bootstrap interval over the requests, resampled together for both (the estimates are of
    the same requests, so they move together: two separate intervals that overlap do not
    say the difference is unclear), widened on each side by one engagement at ``heaviest``
    (the log's heaviest weight, as the gamma interval allows one more count of it): a
    resample of the matches there are cannot see the heavy ones that could have been (the
    plain bootstrap held the true difference in 78% of 30 simulated services; widened, 94%).
    One set of resamples serves every pair."""
    names = list(terms)
    if len(names) < 2 or n_boot <= 0:
        return {}
    table = np.column_stack([terms[n] for n in names])
    n = len(table)
    if n == 0:
        return {}
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_boot, _CHUNK_CELLS // n))
    means = np.concatenate([rng.multinomial(n, np.full(n, 1.0 / n), size=min(chunk, n_boot - s))
                            @ table / n for s in range(0, n_boot, chunk)])
    tail = (1 - confidence) / 2 * 100
    point = table.mean(axis=0)
    out = {}
    for j, b in enumerate(names):
        for i, a in enumerate(names[:j]):
            low, high = np.percentile(means[:, j] - means[:, i], [tail, 100 - tail])
            out[f"{b} - {a}"] = {"value": float(point[j] - point[i]),
                                 "ci_low": float(low - heaviest / n),
                                 "ci_high": float(high + heaviest / n)}
    return out


def paired(found: dict, b: str, a: str) -> dict | None:
    """``b``'s estimate less ``a``'s, with its paired interval (:func:`paired_differences`),
    from either order it was stored in; None when the replay has none."""
    table = found.get("paired") or {}
    if f"{b} - {a}" in table:
        return table[f"{b} - {a}"]
    if f"{a} - {b}" in table:
        d = table[f"{a} - {b}"]
        return {"value": -d["value"], "ci_low": -d["ci_high"], "ci_high": -d["ci_low"]}
    return None


def _difference_phrase(d: dict) -> str:
    def signed(v: float) -> str:
        return f"{v + 0.0:+.3f}".replace("-0.000", "+0.000")  # no minus zero
    return f"paired difference {signed(d['value'])} [{signed(d['ci_low'])}, {signed(d['ci_high'])}]"


def from_summary(summary: dict) -> dict | None:
    """The counterfactual part of a replay summary as :func:`for_replay` gave it
    (``counterfactual_verdict``'s keys and ``engines``), or None without one."""
    if not summary.get("counterfactual_verdict"):
        return None
    return {**summary["counterfactual_verdict"], "engines": summary.get("counterfactual") or {}}


def trust_sentences(engines: dict, k: int, differences: dict | None = None) -> list[str]:
    """What a reader should believe of a replay on a log of what was shown, in sentences:
    which number to trust, the engines in its order, and where the log cannot say;
    ``differences``: :func:`paired_differences`, which decide between neighbours in the
    order whose separate intervals overlap."""
    if not engines:
        return []
    best = RECOMMENDED.upper()
    producer = max(engines, key=lambda n: engines[n]["of_shown"])
    matched = engines[producer]["of_shown"]
    sentences = [
        "This log holds what was shown, so people could only engage with those items: the plain "
        "replay credits an engine only where it agrees with what was shown, and favours the engine "
        "that chose it" + (f" (here most likely {producer}: {matched:.0%} of what was shown in "
                           f"the top {k} is what it would have shown there)" if matched >= 0.5
                           else "")
        + f". Trust the {best} estimate of the expected engagements per request in the top {k}, "
        f"with its interval, where the logging policy could have shown at least "
        f"{MIN_SUPPORT:.0%} of the engine's suggestions (support, read from the log, context "
        f"value by context value: an upper bound, as what the policy does on what the log "
        f"does not record cannot be seen, and IPS then leans low); SNIPS and DR beside it are "
        f"steadier, but their intervals count only the spread of the sample, not the bias of "
        f"SNIPS's normalising or of DR's reward model, so they hold the true value less often "
        f"than they say (more so when few rows match)."]
    usable = [n for n, e in engines.items() if _usable(e, RECOMMENDED)]
    order = sorted(usable, key=lambda n: -engines[n][RECOMMENDED]["value"])
    if order:
        # an estimate on an effective 2 rows put random, truly last, second of seven: those on
        # few rows follow, by name, not in the order
        ranked = [n for n in order if engines[n]["ess"] >= MIN_ESS]
        thin = sorted(n for n in order if n not in ranked)
        sentences.append(
            f"By {best}: " + "; ".join(_estimate_phrase(n, engines[n]) for n in ranked)
            + ("; " if ranked and thin else "")
            + (("on too few rows to order them (an effective sample under "
                f"{MIN_ESS:.0f}): " if ranked else "each on too few rows to order (an "
                f"effective sample under {MIN_ESS:.0f}): ")
               + "; ".join(_estimate_phrase(n, engines[n]) for n in thin) if thin else "")
            + ".")
        found = {"paired": differences or {}}
        # neighbours in the order printed (an estimate on few rows says so below: its
        # differences are no finding either, and one between two steady ones hid theirs)
        overlaps = [(a, b, paired(found, a, b)) for a, b in zip(ranked, ranked[1:])
                    if not _apart(engines[a], engines[b])]
        if overlaps:
            told = [f"{a} above {b} ({_difference_phrase(d)})" for a, b, d in overlaps
                    if d is not None and d["ci_low"] > 0]
            untold = [f"{a} and {b}" + (f" ({_difference_phrase(d)})" if d is not None else "")
                      for a, b, d in overlaps if d is None or d["ci_low"] <= 0]
            sentences.append(
                "Where the separate intervals overlap, the difference of the two estimates on the "
                "same requests decides (a bootstrap over requests, both engines resampled "
                "together): " + "; ".join(
                    ([f"it puts {', '.join(told)}"] if told else [])
                    + ([f"the log cannot tell apart {', '.join(untold)}"] if untold else []))
                + ".")
    plain = sorted(usable, key=lambda n: -(engines[n]["replay"] or 0))
    # overruling the plain replay needs estimates on enough rows, with their weights uncapped
    steady = [n for n in order if engines[n]["ess"] >= MIN_ESS and not engines[n].get("clipped")]
    flips = [(a, b) for i, a in enumerate(order) for b in order[i + 1:]
             if plain.index(b) < plain.index(a) and _apart(engines[a], engines[b])
             and a in steady and b in steady]
    for a, b in flips[:3]:
        sentences.append(f"The plain replay puts {b} above {a} ({engines[b]['replay']:.3f} against "
                         f"{engines[a]['replay']:.3f}), but {best} puts {a} above {b} with intervals "
                         f"apart: trust {best}, which counts what {a} would have shown.")
    few: list[tuple[str, float]] = []
    for name, e in engines.items():
        if e.get("suggested") == 0:
            sentences.append(f"{name} suggests nothing in the top {k} of the held-out requests: "
                             "it would have earned nothing, and needs no estimate.")
        elif e["support"] < MIN_SUPPORT:
            sentences.append(f"The log cannot say what {name} would have earned: the logging policy "
                             f"could have shown only {e['support']:.0%} of its suggestions where it "
                             f"puts them{_gaps_phrase(e)}, so its IPS and SNIPS estimates lean low "
                             f"(they count nothing there), and its DR estimate is its reward "
                             f"model's guess there, which may lean either way.")
        elif e["support"] < 1 - 1e-9:
            sentences.append(f"The logging policy could have shown {e['support']:.0%} of "
                             f"{_possessive(name)} suggestions where it puts them{_gaps_phrase(e)}: "
                             f"{best} counts nothing for the rest, and its interval allows up to "
                             "one engagement at each of them.")
        if e["support"] >= MIN_SUPPORT and e.get("suggested") and e["matched"] == 0:
            sentences.append(f"{name} matches none of the log's shows where it puts its items, "
                             "which the log may never show there (support counts an item the "
                             "log shows at that position anywhere, not in that context): its "
                             f"{best} of 0 and its interval say nothing of what it would have "
                             "earned, and it is left out of the order above.")
        elif e["support"] >= MIN_SUPPORT and e["ess"] < MIN_ESS:
            few.append((name, e["ess"]))
    if len(few) == 1:
        name, ess = few[0]
        sentences.append(f"The estimate for {name} rests on few rows (an effective sample size "
                         f"of {ess:.0f} at its weakest position): its {best} interval is wide, "
                         "and the SNIPS and DR intervals beside it are too narrow.")
    elif few:  # one sentence for them all: the same words seven times over read as noise
        sentences.append(f"These estimates rest on few rows (the effective sample size at the "
                         f"weakest position: {', '.join(f'{n} {e:.0f}' for n, e in few)}): their "
                         f"{best} intervals are wide, and the SNIPS and DR intervals beside them "
                         "are too narrow.")
    # (an engine below 100% support is wide for the places the log could not show: said above)
    wide = [n for n in order if (engines[n][RECOMMENDED]["ci_high"] or 0)
            > 3 * max(engines[n][RECOMMENDED]["value"], 0.01) and engines[n]["support"] >= 1 - 1e-9]
    if RECOMMENDED == "ips" and wide:
        sentences.append(
            f"The {best} intervals of {', '.join(wide)} reach far above their estimates: where "
            "an engine departs from what the log shows, only the log's rarest shows (its smallest "
            "propensities) could have matched it, and the interval allows one such match its "
            "full weight, however rarely the engine itself matched the log (max w). A log whose "
            "policy explores more (shows other items more often) narrows them.")
    below = [f"{name} ({est.upper()})" for name, e in engines.items()
             for est in ("snips", "dr") if (e.get(est) or {}).get("below_zero")]
    if below:
        sentences.append("Estimated below 0 and read as 0, as no engine can earn less: "
                         + ", ".join(below) + " (DR's model term over-corrects where few rows "
                         "match).")
    clipped = {n: e["clipped"] for n, e in engines.items() if e.get("clipped")}
    if clipped:
        clip = next(iter(engines.values()))["clip"]
        sentences.append(f"With --clip {clip:g}, weights were capped ("
                         + ", ".join(f"{count:,} for {n}" for n, count in clipped.items())
                         + "): IPS leans low for it, and SNIPS and DR, which divide by the "
                         "capped weights or lean on the reward model, may move either way; no "
                         "interval allows for it. The engine that chose the log matches it with "
                         "small weights and loses nothing to the cap, so the order of the "
                         "estimates leans towards it: read the order without --clip.")
    return sentences


def verdict_caution(found: dict) -> str | None:
    """The sentence that opens a replay's verdict on a log of what was shown: the plain
    metrics favour the engine that chose what was shown; what the recommended estimator says
    of the ranker against the rules; else, against the engine that most likely chose the log,
    of the other engine with the highest lower end among those with an effective sample of at
    least ``MIN_ESS``, or, when none has one, of the ranker or the baseline with the highest
    estimate. ``random`` is never the one compared: it is the floor, not a contender)."""
    engines = found.get("engines") or {}
    best = found.get("recommended", RECOMMENDED)
    usable = {n: e for n, e in engines.items() if _usable(e, best)}
    why = ""
    if "ranker" in usable and "rules" in usable:
        b, a = "ranker", "rules"
    elif len(usable) >= 2:
        a = max(usable, key=lambda n: usable[n]["of_shown"])
        why = (f" ({a}: the engine whose lists are closest to what was shown, "
               f"{usable[a]['of_shown']:.0%} of it)")
        others = [n for n in usable if n not in (a, "random")]
        steady = [n for n in others if (usable[n].get("ess") or 0.0) >= MIN_ESS]
        if steady:
            b = max(steady, key=lambda n: usable[n][best]["ci_low"] or 0.0)
        elif "ranker" in others:
            b = "ranker"
        elif others:
            b = max(others, key=lambda n: usable[n][best]["value"])
        else:
            return _cannot_read(engines, usable, found["k"])
    else:
        return _cannot_read(engines, usable, found["k"])
    few = [n for n in (b, a) if (usable[n].get("ess") or 0.0) < MIN_ESS]
    capped_any = any(usable[n].get("clipped") for n in (b, a))
    difference = paired(found, b, a)
    if few:  # separate intervals on a handful of rows are not a finding
        reading = (f"the log cannot tell which would have earned more ({_possessive(few[0])} "
                   f"estimate rests on an effective sample of {usable[few[0]]['ess']:.0f} rows "
                   "at its weakest position)")
    elif capped_any:  # capped weights tilt the order towards the engine that chose the log
        reading = ("with weights capped the log cannot tell which would have earned more (the "
                   "cap favours the engine that chose the log); read the order without --clip")
    elif difference is not None and best == "ips":  # the same requests: paired
        if difference["ci_low"] > 0 or difference["ci_high"] < 0:
            reading = (f"{b if difference['value'] > 0 else a} would have earned more "
                       f"({b} less {a}: {_difference_phrase(difference)})")
        else:
            reading = (f"the log cannot tell which would have earned more ({b} less {a}: "
                       f"{_difference_phrase(difference)})")
    elif _apart(usable[b], usable[a]) or _apart(usable[a], usable[b]):
        higher = b if usable[b][best]["value"] > usable[a][best]["value"] else a
        reading = f"{higher} would have earned more"
    else:
        reading = "the log cannot tell which would have earned more"
    clip = next((e.get("clip") for e in engines.values() if e.get("clipped")), None)
    capped = (f", weights capped at --clip {clip:g}: "
              + ("the estimates lean low, the more so for engines that depart from the log"
                 if best == "ips" else "the estimates may move either way (IPS alone leans low)")
              + ", and their intervals do not allow for it" if clip is not None else "")
    return (f"This log holds only what was shown, so the plain metrics below favour the engine "
            f"that chose it. Had each been serving ({best.upper()}, expected engagements per "
            f"request in the top {found['k']}{capped}): {_estimate_phrase(b, usable[b])} against "
            f"{_estimate_phrase(a, usable[a])}{why}: {reading}. See 'What each engine would "
            f"have earned'.")


def _cannot_read(engines: dict, usable: dict, k: int) -> str | None:
    """The verdict's opening when the log can estimate no pair of contenders: the plain
    metrics still favour the engine that chose the log, and a log that never explores
    ranks every engine by its closeness to what was shown (a tester's service always
    showed the same three items: the verdict called two engines "better" than the rules,
    significantly, in the reverse of their true order, and said nothing of it). None
    when every engine it cannot read is random or suggests nothing."""
    unread = [n for n, e in engines.items()
              if n not in usable and n != "random" and e.get("suggested") != 0]
    if not unread:
        return None
    one = len(unread) == 1
    read = [n for n in usable if n != "random"]
    return ("This log holds only what was shown, so the plain metrics below favour the engine "
            f"that chose it, and it cannot say what {listed(unread)} would have earned had "
            f"{'it' if one else 'each'} been serving: the logging policy could have shown under "
            f"{MIN_SUPPORT:.0%} of {'its' if one else 'their'} suggestions where "
            f"{'it puts' if one else 'they put'} them"
            + (f" (the engine it can read: {_estimate_phrase(read[0], usable[read[0]])}, "
               f"expected engagements per request in the top {k})" if len(read) == 1 else "")
            + ". Read the order below as closeness to what was shown, not as what each would "
            "have earned. See 'What each engine would have earned'.")


def _usable(e: dict, best: str) -> bool:
    """Whether an engine's estimate can be read: enough support, and some match (none: the
    log may never show its items where it puts them, whatever support says)."""
    return (e[best]["value"] is not None and e["support"] >= MIN_SUPPORT
            and not (e.get("suggested") and e.get("matched", 1.0) == 0))


def _gaps_phrase(e: dict) -> str:
    """Why support is short by context: ``(the held-out part never shows 49% of them with the
    request's daytime, ...)``, or ''."""
    gaps = e.get("context_gaps") or {}
    if not gaps:
        return ""
    said = listed([f"{share:.0%} of them where {column} has the request's value"
                   for column, share in sorted(gaps.items(), key=lambda g: -g[1])[:3]])
    return (f" (the held-out part never shows {said}, at their position, where the least "
            f"propensity it gives any item there would have shown each {MIN_EXPECTED:.0f} "
            "times)")


def _possessive(name: str) -> str:
    """``rules'``, ``ranker's``."""
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def _estimate_phrase(name: str, e: dict) -> str:
    v = e[RECOMMENDED]
    interval = f" [{v['ci_low']:.3f}, {v['ci_high']:.3f}]" if v["ci_low"] is not None else ""
    return f"{name} {v['value']:.3f}{interval}"


def _apart(a: dict, b: dict) -> bool:
    """Whether ``a``'s interval lies wholly above ``b``'s."""
    low, high = a[RECOMMENDED]["ci_low"], b[RECOMMENDED]["ci_high"]
    return low is not None and high is not None and low > high
