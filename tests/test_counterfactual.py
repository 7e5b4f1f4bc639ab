"""Counterfactual estimators on logs of what was shown: hand-computed cases, OBP's formulas,
and simulated logs whose true value is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import traced_peak
from suggest.counterfactual import PositionItemRewards, estimate, gamma_interval
from suggest.errors import SuggestError


def _log(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["request_id", "item_id", "position", "propensity", "reward"])


def _lists(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["request_id", "rank", "item_id"])


class Fixed:
    """A reward model that predicts from a table (item, position) -> reward, else 0."""

    def __init__(self, table):
        self.table = table

    def predict(self, items, positions):
        return np.array([self.table.get((i, int(p)), 0.0) for i, p in zip(items, positions)])


SHOWN = _log([("a", "x", 1, 0.5, 1.0), ("a", "y", 2, 0.25, 0.0),
              ("b", "y", 1, 0.5, 0.0), ("b", "x", 2, 0.2, 1.0),
              ("c", "z", 1, 0.1, 1.0), ("c", "x", 2, 0.5, 0.0)])
TARGET = _lists([("a", 1, "x"), ("a", 2, "y"), ("b", 1, "x"), ("b", 2, "y"),
                 ("c", 1, "z"), ("c", 2, "w")])


def test_the_estimates_are_the_hand_computed_ones():
    model = Fixed({("x", 1): 0.6, ("y", 2): 0.1, ("z", 1): 0.3, ("w", 2): 0.2,
                   ("y", 1): 0.4, ("x", 2): 0.5})
    out = estimate(SHOWN, TARGET, k=2, reward_model=model, n_boot=0)
    # matching rows: a@1 (x, w=2, r=1), a@2 (y, w=4, r=0), c@1 (z, w=10, r=1)
    assert out["ips"]["value"] == pytest.approx((2 * 1 + 4 * 0 + 10 * 1) / 3)
    # per position: (2 + 10) / (2 + 10) at 1; 0 / 4 at 2
    assert out["snips"]["value"] == pytest.approx(1.0 + 0.0)
    direct = (0.6 + 0.1) + (0.6 + 0.1) + (0.3 + 0.2)
    correction = 2 * (1 - 0.6) + 4 * (0 - 0.1) + 10 * (1 - 0.3)
    assert out["dr"]["value"] == pytest.approx((direct + correction) / 3)
    assert out["matched"] == pytest.approx(3 / 6)
    # (w, 2) was never shown anywhere; the other five (item, position) pairs were
    assert out["support"] == pytest.approx(5 / 6)
    assert out["max_weight"] == 10 and out["requests"] == 3 and out["rows"] == 6
    # ess per position: (2 + 10)^2 / (4 + 100) at 1, 4^2 / 16 at 2; the weakest is kept
    assert out["ess_by_position"] == pytest.approx([12 ** 2 / 104, 1.0])
    assert out["ess"] == pytest.approx(1.0)


def test_a_log_that_never_explored_supports_only_what_it_showed():
    """With every propensity 1 the logging policy left no chance to any other item where it
    showed one: support is then the matched share, whatever was shown elsewhere; a place
    where nothing was shown still counts when its (item, position) is seen in the log."""
    shown = _log([("a", "x", 1, 1.0, 1.0), ("a", "y", 2, 1.0, 0.0),
                  ("b", "y", 1, 1.0, 0.0), ("c", "x", 1, 1.0, 1.0)])
    target = _lists([("a", 1, "x"), ("a", 2, "x"),     # matched; x@2 never seen
                     ("b", 1, "x"), ("b", 2, "y"),     # x@1 seen elsewhere, but b showed y at p=1
                     ("c", 1, "y"), ("c", 2, "y")])    # c showed x at 1; nothing at 2 (y@2 seen)
    out = estimate(shown, target, k=2, n_boot=0)
    assert out["matched"] == pytest.approx(1 / 6)
    assert out["support"] == pytest.approx(3 / 6)   # a@1, b@2 and c@2
    explored = shown.assign(propensity=[0.9, 0.9, 0.9, 0.9])
    assert estimate(explored, target, k=2, n_boot=0)["support"] == pytest.approx(5 / 6)


def test_clipping_caps_the_weights_and_says_how_many():
    out = estimate(SHOWN, TARGET, k=2, clip=3.0, n_boot=0)
    assert out["clipped"] == 2 and out["max_weight"] == 10.0  # the largest, not the cap
    assert out["ips"]["value"] == pytest.approx((2 + 3) / 3)
    # how few rows the estimate rests on is the uncapped weights' (capping them hid it)
    assert out["ess"] == estimate(SHOWN, TARGET, k=2, n_boot=0)["ess"]


def test_the_plain_replay_is_overruled_only_by_steady_uncapped_estimates():
    """'trust IPS' over the plain replay's order needs intervals apart on enough rows: an
    estimate on an effective 3 rows overruled a right order in a new user's trial."""
    from suggest.counterfactual import trust_sentences, verdict_caution

    def engine(ips, low, high, replay, ess, clipped=0, clip=None):
        return {"of_shown": 0.2, "support": 1.0, "ess": ess, "replay": replay, "clipped": clipped,
                "clip": clip,
                "ips": {"value": ips, "ci_low": low, "ci_high": high},
                "snips": {"value": ips, "ci_low": low, "ci_high": high},
                "dr": {"value": ips, "ci_low": low, "ci_high": high}}

    flip = "but IPS puts popular above rules with intervals apart: trust IPS"
    for ess, said in ((500.0, True), (3.0, False)):
        engines = {"rules": engine(0.066, 0.055, 0.078, 0.063, 5000.0),
                   "popular": engine(0.657, 0.082, 2.358, 0.034, ess)}
        assert (flip in " ".join(trust_sentences(engines, 5))) == said
        caution = verdict_caution({"k": 5, "recommended": "ips", "engines": engines})
        assert ("popular would have earned more" in caution) == said
        if not said:
            assert "the log cannot tell which would have earned more (popular's estimate rests " \
                   "on an effective sample of 3 rows at its weakest position)" in caution
    capped = {"rules": engine(0.066, 0.055, 0.078, 0.063, 5000.0, clip=3.0),
              "popular": engine(0.657, 0.082, 2.358, 0.034, 500.0, clipped=40, clip=3.0)}
    said = " ".join(trust_sentences(capped, 5))
    assert flip not in said and "the order of the estimates leans towards it" in said
    caution = verdict_caution({"k": 5, "recommended": "ips", "engines": capped})
    assert "would have earned more" not in caution.split("cannot tell")[0] \
        and "with weights capped the log cannot tell which would have earned more" in caution
    # capping lowers IPS alone: a tester's clipped SNIPS went from 0.006 to 0.060, DR to 0.134
    assert "IPS leans low for it, and SNIPS and DR" in said and "may move either way" in said
    assert "the estimates lean low" in caution
    caution = verdict_caution({"k": 5, "recommended": "snips", "engines": capped})
    assert "the estimates may move either way (IPS alone leans low)" in caution \
        and "lean low, the more so" not in caution


def test_k_leaves_out_later_positions_and_snips_is_undefined_without_a_match():
    out = estimate(SHOWN, TARGET, k=1, n_boot=0)
    assert out["ips"]["value"] == pytest.approx((2 + 10) / 3) and out["rows"] == 3
    nothing = _lists([("a", 1, "q"), ("b", 1, "q"), ("c", 1, "q")])
    out = estimate(SHOWN, nothing, k=1, n_boot=0)
    assert out["ips"]["value"] == 0.0 and out["snips"]["value"] is None
    assert out["matched"] == 0.0 and out["ess"] == 0.0


def test_a_huge_k_costs_what_the_lists_cost_and_estimates_what_the_whole_lists_do():
    """A huge --k: the tables span the positions shown or listed, not k columns a request
    (n x k cells: a k of a billion asked for tens of GiB), and every figure is that of a k
    past the longest list."""
    model = Fixed({("x", 1): 0.6, ("y", 2): 0.1})
    small = estimate(SHOWN, TARGET, k=2, reward_model=model, n_boot=50, seed=3)  # imports done
    huge, peak = traced_peak(lambda: estimate(SHOWN, TARGET, k=10**6, reward_model=model,
                                               n_boot=50, seed=3))
    assert peak < 4 * 2**20  # n x k cells of 8 bytes were 3 x 24 MB here
    assert huge.pop("k") == 10**6 and small.pop("k") == 2
    assert huge == small


def test_a_far_logged_position_or_an_empty_target_costs_nothing_and_changes_nothing():
    """A log row at position 1,000,000 (beyond every list: no weight) made the tables that
    wide; it now counts as a row at position 3 does. A target that lists nothing raised
    IndexError; it estimates nothing."""
    far = pd.concat([SHOWN, _log([("a", "q", 1_000_000, 0.5, 1.0)])], ignore_index=True)
    near = pd.concat([SHOWN, _log([("a", "q", 3, 0.5, 1.0)])], ignore_index=True)
    expected = estimate(near, TARGET, k=10**9, n_boot=20, seed=1)
    got, peak = traced_peak(lambda: estimate(far, TARGET, k=10**9, n_boot=20, seed=1))
    assert peak < 4 * 2**20 and got == expected
    nothing = estimate(SHOWN, TARGET.iloc[:0], k=2, n_boot=0)
    assert nothing["ips"]["value"] == 0.0 and nothing["matched"] == 0.0


def test_ips_and_snips_follow_obps_slate_independent_formulas():
    """OBP's SlateIndependentIPS and SelfNormalizedSlateIndependentIPS, written out as OBP
    computes them (one slot at a time, weights pi / mu, the slate sum over rounds)."""
    rng = np.random.default_rng(5)
    n, k, items = 300, 3, np.array(list("abcdef"))
    logged = pd.DataFrame({"request_id": np.repeat(np.arange(n), k),
                           "position": np.tile(np.arange(1, k + 1), n),
                           "item_id": items[rng.integers(0, 6, n * k)],
                           "propensity": rng.uniform(0.05, 1.0, n * k),
                           "reward": rng.binomial(1, 0.3, n * k).astype(float)})
    target = pd.DataFrame({"request_id": np.repeat(np.arange(n), k),
                           "rank": np.tile(np.arange(1, k + 1), n),
                           "item_id": items[rng.integers(0, 6, n * k)]})
    ours = estimate(logged, target, k=k, n_boot=0)
    pi = (logged["item_id"].to_numpy() == target["item_id"].to_numpy()).astype(float)
    iw = pi / logged["propensity"].to_numpy()
    reward, position = logged["reward"].to_numpy(), logged["position"].to_numpy()
    iips = (reward * iw).sum() / n
    sn = np.zeros(n * k)
    for slot in range(1, k + 1):
        idx = position == slot
        sn[idx] = reward[idx] * iw[idx] / iw[idx].mean()
    assert ours["ips"]["value"] == pytest.approx(iips)
    assert ours["snips"]["value"] == pytest.approx(sn.sum() / n)


def _simulated(n: int, rng, epsilon: float | None = None):
    """A service showing 2 of 4 items; engagement = examination of the position (1, 0.5)
    x attraction of the item (0.9, 0.5, 0.3, 0.1). Logging: a uniformly random ordered pair
    (each item at each position with probability 1/4); with ``epsilon``, the list (d, c)
    with probability 1 - epsilon and the uniform pair otherwise."""
    items = np.array(list("abcd"))
    attraction, examination = np.array([0.9, 0.5, 0.3, 0.1]), np.array([1.0, 0.5])
    order = np.argsort(rng.random((n, 4)), axis=1)[:, :2]
    propensity = np.full((n, 2), 0.25)
    if epsilon is not None:
        greedy = rng.random(n) >= epsilon
        order[greedy] = [3, 2]
        fixed = np.array([3, 2])
        propensity = epsilon / 4 + (1 - epsilon) * (order == fixed)
    engaged = rng.random((n, 2)) < attraction[order] * examination
    return pd.DataFrame({"request_id": np.repeat(np.arange(n), 2),
                         "item_id": items[order].ravel(), "position": np.tile([1, 2], n),
                         "propensity": propensity.ravel(),
                         "reward": engaged.ravel().astype(float)})


TRUE_VALUE = 0.9 * 1.0 + 0.5 * 0.5  # the target always shows (a, b)


@pytest.mark.parametrize("epsilon", [None, 0.3])
def test_the_intervals_cover_the_true_value_on_simulated_logs(epsilon):
    rng = np.random.default_rng(11)
    model = PositionItemRewards().fit(_simulated(3000, rng, epsilon))  # another log: training
    covered, values = {"ips": 0, "snips": 0, "dr": 0}, {"ips": [], "snips": [], "dr": []}
    plain, worlds = [], 100
    for world in range(worlds):
        shown = _simulated(1500, rng, epsilon)
        target = _lists([(r, 1, "a") for r in range(1500)] + [(r, 2, "b") for r in range(1500)])
        out = estimate(shown, target, k=2, reward_model=model, n_boot=300, seed=world)
        for name in covered:
            covered[name] += out[name]["ci_low"] <= TRUE_VALUE <= out[name]["ci_high"]
            values[name].append(out[name]["value"])
        # a plain replay counts the target's items among those engaged, wherever shown
        plain.append(shown.loc[shown["item_id"].isin(["a", "b"]), "reward"].sum() / 1500)
    for name in covered:
        assert covered[name] >= 0.9 * worlds, (name, covered[name])
        assert abs(np.mean(values[name]) - TRUE_VALUE) < 0.02, name
    # which is far below what the target would have earned: the log rarely showed its items
    assert np.mean(plain) < 0.5 * TRUE_VALUE


def test_a_log_that_never_explored_leaves_the_unsupported_share_to_the_interval():
    """epsilon 0: the service always shows (d, c). A target showing (d, a) is supported at
    position 1 only; IPS counts nothing for a at 2, so its value is low, and its interval
    must still hold the true value (up to one engagement where the log could not show it),
    and never reach past one engagement a suggestion."""
    rng = np.random.default_rng(5)
    truth = 0.1 * 1.0 + 0.9 * 0.5  # d at 1, a at 2
    for world in range(20):
        shown = _simulated(800, rng, 0.0)
        target = _lists([(r, 1, "d") for r in range(800)] + [(r, 2, "a") for r in range(800)])
        out = estimate(shown, target, k=2, n_boot=0)
        assert out["support"] == pytest.approx(0.5)
        assert out["ips"]["value"] < truth / 2  # a at 2 counted as nothing
        assert out["ips"]["ci_low"] <= truth <= out["ips"]["ci_high"] <= 2.0, world


def test_requests_that_showed_nothing_within_k_leave_everything_to_the_interval():
    """No logged row at the target's positions (nothing shown, or only further down): IPS
    counts nothing, and its interval reaches to one engagement at each suggestion; it used
    to stop with an IndexError, or claim [0, 0]."""
    target = _lists([("r1", 1, "a"), ("r1", 2, "b"), ("r2", 1, "a"), ("r2", 2, "b")])
    nothing = _log([]).astype({"position": np.int64, "propensity": float, "reward": float})
    further = _log([("r1", "x", 3, 0.5, 1.0), ("r2", "x", 3, 0.5, 0.0)])
    for shown, asked in ((nothing, ["r1", "r2"]), (further, None)):
        out = estimate(shown, target, k=2, requests=asked, n_boot=0)
        assert out["support"] == 0.0 and out["ips"]["value"] == 0.0
        assert (out["ips"]["ci_low"], out["ips"]["ci_high"]) == (0.0, 2.0)


def test_no_interval_reaches_past_one_engagement_a_suggestion():
    """With heavy weights (rare shows) the gamma interval can pass what any list could earn:
    at most one engagement at each place the target fills."""
    rare = [(f"a{i}", "x", 1, 0.01, 1.0) for i in range(5)]  # enough matches for a bootstrap
    shown = _log(rare + [(f"b{i}", "y", 1, 0.5, 0.0) for i in range(5)])
    target = _lists([(f"{r}{i}", 1, "x") for r in "ab" for i in range(5)])
    out = estimate(shown, target, k=1, reward_model=Fixed({("x", 1): 0.5}), n_boot=200)
    assert out["ips"]["value"] == pytest.approx(5 * 100 / 10)  # five engagements at weight 100
    for name in ("snips", "dr"):
        assert out[name]["ci_high"] <= max(1.0, out[name]["value"]), name
    assert out["ips"]["ci_high"] == pytest.approx(out["ips"]["value"])  # the estimate, not past


@pytest.mark.parametrize("events", [0, 1, 5, 50])
def test_the_gamma_interval_of_equal_weights_is_the_exact_poisson_one(events):
    """With every weight equal, a weighted sum of counts is a scaled Poisson count: the gamma
    interval is then Garwood's exact one, from scipy's chi-square quantiles."""
    from scipy import stats

    weight = 0.01
    low, high = gamma_interval(np.full(events, weight), np.ones(events), weight)
    exact_low = stats.chi2.ppf(0.025, 2 * events) / 2 * weight if events else 0.0
    exact_high = stats.chi2.ppf(0.975, 2 * (events + 1)) / 2 * weight
    assert low == pytest.approx(exact_low, rel=1e-9, abs=1e-15)
    assert high == pytest.approx(exact_high, rel=1e-9)


def test_ips_covers_where_only_exploration_matches_and_the_bootstrap_does_not():
    """A target the logging policy shows only while exploring (epsilon 0.05 over 20 items:
    weight 400), with about 2.5 matching rows and under one engagement a log: IPS's gamma
    interval still covers the truth in at least 95% of 200 logs; DR's bootstrap interval,
    on the same logs, misses it in over a quarter (the reason a replay recommends IPS)."""
    rng = np.random.default_rng(5)
    n, n_items, epsilon, attraction = 1000, 20, 0.05, 0.3
    covered, missed_by_dr, logs = 0, 0, 200
    truth = attraction  # the target shows item 0 at position 1, engaged with probability 0.3
    for log in range(logs):
        explore = rng.random(n) < epsilon
        item = np.where(explore, rng.integers(0, n_items, n), 1)  # the policy shows item 1
        propensity = np.where(item == 1, 1 - epsilon + epsilon / n_items, epsilon / n_items)
        reward = (rng.random(n) < np.where(item == 0, attraction, 0.1)).astype(float)
        shown = pd.DataFrame({"request_id": np.arange(n), "item_id": item.astype(str),
                              "position": 1, "propensity": propensity, "reward": reward})
        target = _lists([(r, 1, "0") for r in range(n)])
        model = PositionItemRewards().fit(shown)
        out = estimate(shown, target, k=1, reward_model=model, n_boot=200, seed=log)
        covered += out["ips"]["ci_low"] <= truth <= out["ips"]["ci_high"]
        dr = out["dr"]  # withheld on under five matched rows: no interval covers then either
        missed_by_dr += dr["ci_low"] is None or not dr["ci_low"] <= truth <= dr["ci_high"]
    assert covered >= 0.95 * logs, covered
    assert missed_by_dr > 0.25 * logs, missed_by_dr


def test_the_reward_model_shrinks_towards_the_position_and_knows_unseen_items():
    train = _log([("r1", "x", 1, 0.5, 1.0), ("r2", "x", 1, 0.5, 1.0), ("r3", "y", 1, 0.5, 0.0),
                  ("r1", "y", 2, 0.5, 0.0)])
    model = PositionItemRewards(strength=2).fit(train)
    base = 2 / 3  # position 1's mean reward
    assert model.predict(["x"], [1])[0] == pytest.approx((2 + 2 * base) / (2 + 2))
    assert model.predict(["new"], [1])[0] == pytest.approx(base)
    assert model.predict(["x"], [7])[0] == pytest.approx(2 / 4)  # the overall mean


@pytest.mark.parametrize("change, message", [
    ({"propensity": 0.0}, "propensity outside"), ({"propensity": 1.5}, "propensity outside"),
    ({"position": 0}, "1-based"), ({"item_id": "y", "position": 2}, None)])
def test_a_log_the_estimators_cannot_use_is_refused_with_the_reason(change, message):
    shown = SHOWN.copy()
    for column, value in change.items():
        shown.loc[0, column] = value
    if message is None:  # request a now shows two items at position 2
        shown.loc[0, "position"] = 2
        message = "shows two items at position 2"
    with pytest.raises(SuggestError, match=message):
        estimate(shown, TARGET, k=2)


def test_ips_covers_a_target_that_departs_from_the_policy_where_nothing_explored_matched():
    """The target agrees with the logging policy at position 1 and swaps its positions 2 and 3:
    only exploring rows can match those, and in a small log often none does. IPS's interval
    must still allow for them (it covered 85% when it counted only the matches' weights)."""
    rng = np.random.default_rng(8)
    n, n_items, epsilon, logs = 200, 20, 0.1, 300
    attraction, examination = np.linspace(0.6, 0.05, n_items), np.array([1.0, 0.5, 1 / 3])
    policy, target_items = np.array([0, 1, 2]), np.array([0, 2, 1])
    truth = float((attraction[target_items] * examination).sum())
    covered = 0
    for log in range(logs):
        explore = rng.random(n) < epsilon
        order = np.where(explore[:, None], np.argsort(rng.random((n, n_items)), axis=1)[:, :3],
                         policy)
        propensity = (1 - epsilon) * (order == policy) + epsilon / n_items
        reward = (rng.random((n, 3)) < attraction[order] * examination).astype(float)
        shown = pd.DataFrame({"request_id": np.repeat(np.arange(n), 3),
                              "item_id": order.ravel().astype(str), "position": np.tile([1, 2, 3], n),
                              "propensity": propensity.ravel(), "reward": reward.ravel()})
        target = _lists([(r, p + 1, str(target_items[p])) for r in range(n) for p in range(3)])
        out = estimate(shown, target, k=3, n_boot=0)
        covered += out["ips"]["ci_low"] <= truth <= out["ips"]["ci_high"]
    assert covered >= 0.95 * logs, covered


def test_support_counts_what_the_training_part_showed():
    shown = _log([("a", "x", 1, 0.5, 1.0), ("b", "x", 1, 0.5, 0.0)])
    target = _lists([("a", 1, "y"), ("b", 1, "x")])
    assert estimate(shown, target, k=1, n_boot=0)["support"] == pytest.approx(0.5)
    elsewhere = pd.DataFrame({"item_id": ["y"], "position": [1]})
    assert estimate(shown, target, k=1, n_boot=0, also_seen=elsewhere)["support"] == 1.0


def test_a_replay_keeps_the_first_item_of_a_repeated_position_and_says_so():
    from suggest.counterfactual import for_replay, reward_sums

    shown = _log([("a", "x", 1, 0.5, 1.0), ("a", "y", 1, 0.5, 1.0), ("b", "y", 1, 0.5, 0.0)])
    target = _lists([("a", 1, "x"), ("b", 1, "x")]).assign(engine="e")
    truth = pd.DataFrame({"request_id": ["a"], "item_id": ["x"]})
    found = for_replay(shown, reward_sums(shown), ["a", "b"], target, ["e"], 5, truth=truth,
                       n_boot=0)
    assert found["k"] == 1 and found["repeated_positions"] == 1
    assert found["engines"]["e"]["ips"]["value"] == pytest.approx(2 / 2)  # x at a@1, w = 2
    assert any("repeat a position" in s for s in found["sentences"])
    empty = for_replay(shown.iloc[:0], reward_sums(shown), ["a", "b"], target, ["e"], 5,
                       truth=truth, n_boot=0)
    assert empty["engines"] == {} and "shows nothing" in empty["sentences"][0]


def _entry(value, low, high, ess, of_shown):
    return {"ips": {"value": value, "ci_low": low, "ci_high": high}, "support": 1.0,
            "ess": ess, "of_shown": of_shown}


def test_the_verdict_never_weighs_the_logging_engine_against_random():
    from suggest.counterfactual import verdict_caution

    # the rules chose the log; random's interval has the highest lower end but, like
    # popular's, rests on few rows: the sentence compares the rules with popular
    engines = {"rules": _entry(0.20, 0.18, 0.22, 5000.0, 0.9),
               "random": _entry(0.10, 0.06, 0.30, 12.0, 0.1),
               "popular": _entry(0.15, 0.02, 0.40, 20.0, 0.3)}
    found = {"k": 5, "recommended": "ips", "engines": engines}
    sentence = verdict_caution(found)
    assert "popular 0.150" in sentence and "rules 0.200" in sentence
    assert "random" not in sentence
    # an engine with enough rows wins over one without, whatever its interval
    engines["context-popular"] = _entry(0.12, 0.01, 0.25, 400.0, 0.2)
    assert "context-popular 0.120" in verdict_caution(found)
    # the ranker, when there, is the one compared
    engines["ranker"] = _entry(0.30, 0.0, 0.9, 3.0, 0.05)
    del engines["context-popular"]
    assert "ranker 0.300" in verdict_caution({**found, "engines": {
        n: e for n, e in engines.items() if n != "rules"} | {"hybrid": engines["rules"]}})
    # nothing but the logging engine and random: no sentence
    assert verdict_caution({**found, "engines": {n: engines[n] for n in ("rules", "random")}}) is None


def test_what_to_trust_says_when_a_dr_estimate_was_read_as_zero_and_why_ips_is_wide():
    from suggest.counterfactual import trust_sentences

    def engine(ips, high, dr_below=False):
        return {"of_shown": 0.2, "support": 1.0, "ess": 500, "replay": ips, "clipped": 0,
                "ips": {"value": ips, "ci_low": ips / 2, "ci_high": high},
                "snips": {"value": ips, "ci_low": ips / 2, "ci_high": ips * 2},
                "dr": {"value": 0.0, "ci_low": 0.0, "ci_high": 0.1, "below_zero": dr_below}}

    said = " ".join(trust_sentences({"a": engine(0.06, 0.9, dr_below=True),
                                     "b": engine(0.05, 0.08)}, 5))
    assert "Estimated below 0 and read as 0" in said and "a (DR)" in said and "b (DR)" not in said
    assert "The IPS intervals of a reach far above their estimates" in said
    # below 100% support the width is the places the log could not show, said as such
    partial = {"rules": {**engine(0.07, 0.3), "support": 0.93}, "b": engine(0.05, 0.08)}
    said = " ".join(trust_sentences(partial, 5))
    assert "could have shown 93% of rules' suggestions where it puts them" in said
    assert "reach far above" not in said


def test_a_dr_estimate_below_zero_is_read_as_zero_inside_its_interval():
    """A reward model that predicts too much takes DR below 0, its bootstrap interval too:
    read as 0, the estimate must stay inside an interval that is not reversed."""
    class Over:
        def predict(self, items, positions):
            return np.full(len(items), 0.9)

    rng = np.random.default_rng(0)
    ids = [f"r{i}" for i in range(400)]
    shown = pd.DataFrame({"request_id": ids, "item_id": "a", "position": 1, "propensity": 0.5,
                          "reward": (rng.random(400) < 0.05).astype(float)})
    target = pd.DataFrame({"request_id": ids, "rank": 1, "item_id": "a"})
    dr = estimate(shown, target, 1, reward_model=Over(), n_boot=200, seed=0)["dr"]
    assert dr["below_zero"] and dr["value"] == 0.0
    assert dr["ci_low"] == 0.0 <= dr["ci_high"]


def test_a_target_that_matched_nothing_still_gets_the_interval_of_one_heaviest_match():
    """A logging policy that never shows anything with a propensity above 0.5 (every row 0.2)
    and a target whose item it shows elsewhere but never where the target puts it: no row
    matches, yet one match of weight 1 / 0.2 could have; the upper end is Fay and Feuer's
    for zero counts with that weight (it was [0, 0])."""
    from scipy import stats

    n = 100
    shown = _log([(f"r{i}", "y" if i % 2 else "z", 1, 0.2, float(i % 3 == 0)) for i in range(n)])
    target = _lists([(f"r{i}", 1, "x") for i in range(n)])
    out = estimate(shown, target, k=1, n_boot=0, also_seen=pd.DataFrame({"item_id": ["x"],
                                                                          "position": [1]}))
    assert out["support"] == 1.0 and out["matched"] == 0.0 and out["ips"]["value"] == 0.0
    assert out["ips"]["ci_low"] == 0.0
    assert out["ips"]["ci_high"] == pytest.approx(stats.chi2.ppf(0.975, 2) / 2 * (1 / 0.2) / n)


def test_bootstrap_intervals_are_withheld_on_a_handful_of_matched_rows():
    """Four matched rows: SNIPS and DR keep their values but get no interval (a resample of
    four rows is near zero wide); five get one."""
    for matched in (4, 5):
        rows = [(f"r{i}", "x" if i < matched else "y", 1, 0.5, float(i % 2)) for i in range(40)]
        out = estimate(_log(rows), _lists([(f"r{i}", 1, "x") for i in range(40)]), k=1,
                       reward_model=Fixed({("x", 1): 0.5}), n_boot=200)
        for name in ("snips", "dr"):
            assert out[name]["value"] is not None
            assert (out[name]["ci_low"] is None) == (matched == 4), (name, matched)
        if matched == 4:
            assert out["dr"]["interval"] == "none: fewer than 5 matched rows"


def test_a_target_with_two_items_at_one_rank_is_a_clear_error():
    target = _lists([("a", 1, "x"), ("a", 1, "y"), ("b", 1, "x")])
    with pytest.raises(SuggestError, match="two items at rank 1 of request 'a'"):
        estimate(SHOWN, target, k=1, n_boot=0)


def test_the_paired_difference_is_the_difference_of_the_estimates_with_a_paired_interval():
    """Two targets on the same 3,000 requests whose IPS terms are strongly correlated: the
    paired interval of their difference is the normal one of the per-request differences
    (within 10% of its half-width) and far narrower than the separate intervals suggest; the
    verdict reads it, not the overlap of the separate intervals."""
    from scipy import stats

    from suggest.counterfactual import _estimate, paired_differences, verdict_caution

    rng = np.random.default_rng(3)
    n = 3000
    item = rng.choice(["x", "y", "z"], n)
    shown = pd.DataFrame({"request_id": np.arange(n).astype(str), "item_id": item,
                          "position": 1, "propensity": 1 / 3,
                          "reward": (rng.random(n) < np.where(item == "x", 0.5, 0.45)).astype(float)})
    # "b" shows x where the log did and y elsewhere; "a" shows the same but z for a tenth
    b_items = np.where(item == "x", "x", "y")
    a_items = np.where(np.arange(n) % 10 == 0, "z", b_items)
    terms, engines = {}, {}
    for name, items in (("a", a_items), ("b", b_items)):
        lists = pd.DataFrame({"request_id": shown["request_id"], "rank": 1, "item_id": items})
        engines[name], terms[name] = _estimate(shown, lists, 1, reward_model=None, clip=None,
                                               n_boot=0, seed=0, confidence=0.95,
                                               requests=None, also_seen=None)
    differences = paired_differences(terms, 2000, seed=1)
    d = differences["b - a"]
    assert d["value"] == pytest.approx(engines["b"]["ips"]["value"] - engines["a"]["ips"]["value"])
    per_request = terms["b"] - terms["a"]
    half = stats.norm.ppf(0.975) * per_request.std(ddof=1) / np.sqrt(n)
    assert (d["ci_high"] - d["ci_low"]) / 2 == pytest.approx(half, rel=0.1)
    assert d["ci_low"] == pytest.approx(per_request.mean() - half, abs=0.2 * half)
    # the verdict reads the paired interval: with one excluding 0 it names the better engine
    for e in engines.values():
        e.update(support=1.0, ess=500.0, of_shown=0.3)
    found = {"k": 1, "recommended": "ips", "engines": engines, "paired": differences}
    caution = verdict_caution(found)
    word = "b would have earned more" if d["ci_low"] > 0 else "cannot tell"
    assert word in caution and "paired difference" in caution
    flipped = {**found, "paired": {"b - a": {"value": 0.01, "ci_low": -0.02, "ci_high": 0.04}}}
    assert "the log cannot tell which would have earned more (b less a: paired difference " \
           "+0.010 [-0.020, +0.040])" in verdict_caution(flipped)


def test_an_engine_that_suggests_nothing_is_said_to_earn_nothing_not_to_lack_support():
    from suggest.counterfactual import trust_sentences

    out = estimate(SHOWN, _lists([]).astype({"rank": int}), k=1, n_boot=0)
    assert out["suggested"] == 0 and out["ips"]["value"] == 0.0
    said = " ".join(trust_sentences({"silent": out}, 1))
    assert "silent suggests nothing in the top 1" in said and "could have shown only" not in said


def test_an_engine_that_matches_nothing_is_left_out_of_the_order_and_said_to_be_unreadable():
    """Full support by the log's reckoning (its items are shown at that position in other
    requests) but no match: its 0 is no estimate, so it is not ranked last as if it were."""
    from suggest.counterfactual import trust_sentences

    shown = _log([(f"r{i}", "y" if i % 2 else "x", 1, 0.5, float(i % 3 == 0)) for i in range(60)])
    never = _lists([(f"r{i}", 1, "y" if i % 2 == 0 else "x") for i in range(60)])  # the other one
    same = _lists([(f"r{i}", 1, "y" if i % 2 else "x") for i in range(60)])
    engines = {"never": {**estimate(shown, never, k=1, n_boot=0), "replay": 0.0},
               "same": {**estimate(shown, same, k=1, n_boot=0), "replay": 0.3}}
    assert engines["never"]["support"] == 1.0 and engines["never"]["matched"] == 0.0
    said = trust_sentences(engines, 1)
    order = next(s for s in said if s.startswith("By IPS"))
    assert "same" in order and "never" not in order
    assert any(s.startswith("never matches none of the log's shows") for s in said)


def test_estimates_on_few_rows_are_not_put_in_the_order():
    """'By IPS: context-popular 0.431; random 0.401; ...': random, truly last of seven, came
    second on two matches at weight 330 (an effective 2 rows). Listed apart, by name."""
    from suggest.counterfactual import trust_sentences

    def engine(ips, ess):
        return {"of_shown": 0.2, "support": 1.0, "ess": ess, "replay": 0.05, "clipped": 0,
                "clip": None, "matched": 5.0, "suggested": 100,
                **{e: {"value": ips, "ci_low": ips / 2, "ci_high": ips * 2}
                   for e in ("ips", "snips", "dr")}}

    engines = {"rules": engine(0.077, 500.0), "random": engine(0.401, 2.0),
               "ranker": engine(0.060, 400.0), "popular": engine(0.5, 3.0)}
    order = next(s for s in trust_sentences(engines, 5) if s.startswith("By IPS"))
    assert order.startswith("By IPS: rules 0.077")
    assert order.index("rules") < order.index("ranker") < order.index(
        "on too few rows to order them (an effective sample under 30): ") < order.index(
        "popular") < order.index("random")
    # an estimate on few rows between two steady ones by value: the steady ones are still
    # compared, as neighbours in the order printed (a reviewer found the sentence gone)
    between = {"rules": engine(0.077, 500.0), "random": engine(0.07, 2.0),
               "ranker": engine(0.065, 400.0)}
    assert any(s.startswith("Where the separate intervals overlap") and "rules and ranker" in s
               for s in trust_sentences(between, 5, {}))
    alone = next(s for s in trust_sentences({n: engines[n] for n in ("random", "popular")}, 5)
                 if s.startswith("By IPS"))
    assert alone.startswith("By IPS: each on too few rows to order (an effective sample under "
                            "30): popular")


def test_the_verdict_says_why_it_compares_two_engines_when_there_is_no_ranker():
    from suggest.counterfactual import verdict_caution

    def entry(value, of_shown):
        return {"ips": {"value": value, "ci_low": value - 0.1, "ci_high": value + 0.1},
                "support": 1.0, "ess": 500.0, "of_shown": of_shown, "matched": 0.5,
                "suggested": 10}
    found = {"k": 3, "recommended": "ips",
             "engines": {"popular": entry(0.5, 0.2), "context-popular": entry(0.8, 0.6)}}
    caution = verdict_caution(found)
    assert "(context-popular: the engine whose lists are closest to what was shown, 60% of it)" \
        in caution


def test_the_paired_interval_allows_one_more_match_of_the_heaviest_weight_on_each_side():
    """The bootstrap of the matches there are cannot see the heavy ones that could have been:
    the interval is the plain one widened on each side by one engagement at the log's
    heaviest weight over the requests (the same resamples: the same seed)."""
    from suggest.counterfactual import paired_differences

    rng = np.random.default_rng(4)
    terms = {"a": rng.random(500) * (rng.random(500) < 0.2) * 5,
             "b": rng.random(500) * (rng.random(500) < 0.3) * 5}
    plain = paired_differences(terms, 400, seed=3)["b - a"]
    wide = paired_differences(terms, 400, seed=3, heaviest=20.0)["b - a"]
    assert wide["value"] == plain["value"]
    assert wide["ci_low"] == pytest.approx(plain["ci_low"] - 20.0 / 500)
    assert wide["ci_high"] == pytest.approx(plain["ci_high"] + 20.0 / 500)


def test_a_position_the_engine_fills_in_few_requests_does_not_set_its_effective_sample():
    """Position 2 filled in 2 of 200 requests (two matched rows): its effective sample of 1
    would decide 'the log cannot tell'; it carries 1% of the weights and is left out of the
    minimum, which is position 1's (every request, weights 2)."""
    rows = [(f"r{i}", "x", 1, 0.5, float(i % 2)) for i in range(200)]
    rows += [("r0", "y", 2, 0.5, 1.0), ("r1", "y", 2, 0.25, 0.0)]
    lists = [(f"r{i}", 1, "x") for i in range(200)] + [("r0", 2, "y"), ("r1", 2, "y")]
    out = estimate(_log(rows), _lists(lists), k=2, n_boot=0)
    assert out["ess_by_position"][1] == pytest.approx((2 + 4) ** 2 / (4 + 16))
    assert out["ess"] == pytest.approx(200.0) and out["ess_by_position"][0] == pytest.approx(200.0)


def test_estimates_on_few_rows_are_named_in_one_sentence():
    from suggest.counterfactual import trust_sentences

    def entry(value, ess):
        return {"ips": {"value": value, "ci_low": value / 2, "ci_high": value * 2},
                "support": 1.0, "ess": ess, "of_shown": 0.1, "matched": 0.2, "suggested": 10,
                "replay": 0.1}
    said = trust_sentences({"rules": entry(0.1, 12.4), "popular": entry(0.2, 7.0),
                            "ranker": entry(0.3, 400.0)}, 5)
    few = [s for s in said if s.startswith("These estimates rest on few rows")]
    assert few == ["These estimates rest on few rows (the effective sample size at the weakest "
                   "position: rules 12, popular 7): their IPS intervals are wide, and the SNIPS "
                   "and DR intervals beside them are too narrow."]


def test_a_log_that_never_explores_opens_the_verdict_with_what_it_cannot_say(tmp_path):
    """A service that always showed the same three items (propensity 1): the plain metrics
    rank every engine by its closeness to them, here the reverse of what a rule suggesting
    three other items would have earned. The verdict opened with "popular is better" than
    the rules, significant, and no word of it; it now opens with what the log cannot say."""
    import json

    from suggest.workflow import replay_log

    rng = np.random.default_rng(3)
    rows = [{"req": f"q{r}", "user": f"u{r % 40}", "item": item, "clicked": int(rng.random() < p),
             "pos": pos, "prop": 1.0, "daytime": "evening" if r % 2 else "morning",
             "ts": (pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(minutes=10 * r)).isoformat()}
            for r in range(1200) for pos, (item, p) in enumerate((("d", .3), ("e", .1), ("f", .03)), 1)]
    pd.DataFrame(rows).to_csv(tmp_path / "log.csv", index=False)
    (tmp_path / "dataset.yaml").write_text(
        "name: never-explores\nlog: log.csv\ncolumns: {user: user, item: item, relevance: clicked, "
        "time: ts, request: req, position: pos, propensity: prop}\ncontext: {daytime: categorical}\n")
    (tmp_path / "abc.yaml").write_text(
        "version: 1\nmax_suggestions: 3\nrules:\n  - id: always-abc\n    when: {daytime: {exists: true}}\n"
        "    suggest: [a, b, c]\n")
    replay_log(tmp_path / "dataset.yaml", tmp_path / "run", rules=tmp_path / "abc.yaml",
               engines="rules,popular", ks=(1, 3), latency_sample=0)
    verdict = json.loads((tmp_path / "run" / "summary.json").read_text())["verdict"]
    first = verdict["sentences"][0]
    assert first.startswith("This log holds only what was shown") and "cannot say what rules" in first
    assert "popular" not in first.split("(")[0].split("cannot say")[1]  # popular it can read
    assert "the engine it can read: popular" in first
    assert any(s.startswith("Highest ndcg@3: popular")  # the plain order, after it
               for s in verdict["sentences"][1:])


def _daytime_log(evening_items, n=2000, seed=5):
    """Mornings show three of six items in a uniform random order, evenings three of
    ``evening_items`` (propensities exact); the target always lists a, b, c."""
    rng = np.random.default_rng(seed)
    rows, daytime = [], {}
    for r in range(n):
        pool = list("abcdef") if r % 2 == 0 else list(evening_items)
        daytime[f"q{r}"] = "morning" if r % 2 == 0 else "evening"
        for position, item in enumerate(rng.permutation(pool)[:3], 1):
            rows.append((f"q{r}", item, position, 1 / len(pool), float(rng.random() < 0.3)))
    shown = pd.DataFrame(rows, columns=["request_id", "item_id", "position", "propensity", "reward"])
    target = pd.DataFrame([(f"q{r}", rank, item) for r in range(n) for rank, item in
                           enumerate("abc", 1)], columns=["request_id", "rank", "item_id"])
    contexts = pd.DataFrame({"daytime": pd.Series(daytime), "id": [f"x{r}" for r in range(n)]})
    return shown, target, contexts


def test_support_is_read_context_value_by_context_value():
    """A policy that shows every item in the mornings and only d, e, f in the evenings: the
    log alone said 100% support for a target listing a, b, c (its IPS read half its true
    value, its interval missed it). In the evenings each position shows items at
    propensity 1/3 over 1,000 requests: at that least propensity a, b and c would be shown
    hundreds of times, and none is."""
    shown, target, contexts = _daytime_log("def")
    blind = estimate(shown, target, 3, n_boot=0)
    read = estimate(shown, target, 3, n_boot=0, contexts=contexts)
    assert blind["support"] == 1.0 and "context_gaps" not in blind
    assert read["support"] == pytest.approx(0.5) and read["context_gaps"] == {"daytime": 0.5}
    assert read["ips"]["value"] == blind["ips"]["value"]  # what IPS counts is the same
    # the upper end allows one engagement at each unsupported place: 3 a request, half of them
    assert read["ips"]["ci_high"] >= blind["ips"]["ci_high"] + 1.0
    # a policy blind to the time of day: nothing is taken out (a column of ids is not read)
    fair, target, contexts = _daytime_log("abcdef")
    assert estimate(fair, target, 3, n_boot=0, contexts=contexts)["support"] == 1.0
    # exploration spread thin is no gap: the evenings' least propensity is 1/200, so a, b
    # and c would be expected 5 times over 1,000 requests (the same rows, other propensities)
    thin = shown.copy()
    evening = thin["request_id"].map(contexts["daytime"]).eq("evening").to_numpy()
    thin.loc[evening & (thin["position"] == 3).to_numpy(), "propensity"] = 1 / 200
    assert estimate(thin, target, 3, n_boot=0, contexts=contexts)["context_gaps"] == {
        "daytime": pytest.approx(1 / 3)}  # positions 1 and 2 still at 1/3: a gap there
    # too few requests to expect any show in a context: not taken out either
    few, target, contexts = _daytime_log("def", n=40)
    assert estimate(few, target, 3, n_boot=0, contexts=contexts)["support"] == 1.0


def test_a_context_where_no_request_explored_is_no_gap_and_gaps_count_only_their_own():
    """The floor is the least propensity at the position over every context: a simulated
    epsilon-greedy service whose exploring requests fell in some hours only had every other
    hour flagged (its rows carried the policy's own propensities, near 1), and popular's
    support read 29% where it is 100%. And a gap counts only the places the log's other
    tests left supported: a log of the same three items at propensity 1 read "95% taken out
    by location" beside a support of 5%."""
    shown, target, contexts = _daytime_log("def")
    morning = shown["request_id"].map(contexts["daytime"]).eq("morning").to_numpy()
    explored = shown.copy()
    explored.loc[morning, "propensity"] = 0.001  # the mornings' rows: exploration, rare
    explored.loc[~morning, "propensity"] = 0.98  # the evenings': the policy's own choice
    read = estimate(explored, target, 3, n_boot=0, contexts=contexts)
    assert read["support"] == 1.0 and "context_gaps" not in read
    fixed = shown.assign(item_id=shown["position"].map({1: "d", 2: "e", 3: "f"}), propensity=1.0)
    read = estimate(fixed, target, 3, n_boot=0, contexts=contexts)
    assert read["support"] == 0.0 and "context_gaps" not in read
