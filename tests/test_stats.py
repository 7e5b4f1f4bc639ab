"""The paired test behind every comparison: checked against scipy and against simulation."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from suggest.stats import format_p, holm, mde, paired_test
from suggest.stats import test_family as family


def _scipy_sign_flip(a, b, resamples=np.inf, seed=None):
    return stats.permutation_test((a, b), lambda x, y, axis: np.mean(y - x, axis=axis),
                                  vectorized=True, permutation_type="samples",
                                  n_resamples=resamples, random_state=seed).pvalue


@pytest.mark.parametrize("n", [3, 7, 12, 16])
def test_exact_p_value_is_scipys_exact_permutation_test(n):
    rng = np.random.default_rng(n)
    a = np.round(rng.random(n), 2)
    b = np.round(a + rng.normal(0.15, 0.3, n), 2)  # ties among |differences| too
    result = paired_test(a, b)
    assert result.method == "exact"
    assert result.p_value == pytest.approx(_scipy_sign_flip(a, b), rel=1e-9)


def test_exact_p_value_on_ranking_like_differences_matches_brute_force():
    """Few distinct values, many requests: the grouped computation must equal enumerating
    every one of the 2**18 sign patterns."""
    rng = np.random.default_rng(3)
    d = rng.choice([-1.0, -0.5, -0.387, 0.0, 0.387, 0.5, 1.0], size=40, p=[.1, .1, .1, .3, .15, .1, .15])
    nonzero = np.abs(d[d != 0])[:18]
    d = np.r_[d[d == 0], np.sign(d[d != 0][:18]) * nonzero]
    signs = np.array(list(itertools.product([-1, 1], repeat=len(nonzero))))
    sums = signs @ nonzero
    brute = float(np.mean(np.abs(sums) >= abs(d.sum()) - 1e-9))
    assert paired_test(np.zeros(len(d)), d).p_value == pytest.approx(brute, rel=1e-9)


def test_interval_is_scipys_paired_t_interval():
    rng = np.random.default_rng(4)
    a, b = rng.random(200), rng.random(200) + 0.05
    result = paired_test(a, b)
    interval = stats.ttest_rel(b, a).confidence_interval(0.95)
    assert (result.ci_low, result.ci_high) == pytest.approx((interval.low, interval.high), rel=1e-9)
    assert result.sd == pytest.approx(np.std(b - a, ddof=1))


def test_normal_approximation_agrees_with_scipys_randomisation_test():
    rng = np.random.default_rng(5)
    a = rng.random(1000)
    b = a + rng.normal(0.03, 0.8, 1000)
    result = paired_test(a, b)
    assert result.method == "normal"
    reference = _scipy_sign_flip(a, b, resamples=10_000, seed=1)
    assert 0.01 < reference < 0.5
    assert result.p_value == pytest.approx(reference, abs=0.01)


def test_a_large_effect_gets_a_p_value_far_below_any_randomisation_floor():
    """The issue's case: +0.58 over ~6,000 requests, then corrected over hundreds of tests,
    must still read as significant."""
    rng = np.random.default_rng(6)
    a = rng.choice([0.0, 1.0], size=6000, p=[0.7, 0.3])
    b = np.clip(a + rng.choice([0.0, 1.0], size=6000, p=[0.3, 0.7]), 0, 1) * 0.9 + 0.05
    result = paired_test(a, b)
    assert result.diff > 0.3 and result.p_value < 1e-100
    assert holm([result.p_value] + [0.5] * 700)[0] < 1e-90


def test_middle_cases_draw_seeded_sign_flips_and_agree_with_scipy():
    """A few dominant differences among many tiny ones: neither exact nor normal applies."""
    rng = np.random.default_rng(7)
    d = np.r_[np.ones(6), -np.ones(1), rng.normal(0, 0.01, 300)]
    a, b = np.zeros(len(d)), d
    first, again = paired_test(a, b, seed=3), paired_test(a, b, seed=3)
    assert first.method == "sign flips" and first.p_value == again.p_value
    assert first.p_value == pytest.approx(_scipy_sign_flip(a, b, resamples=50_000, seed=2), abs=0.01)


def test_interval_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(1)
    covered = 0
    for _ in range(400):
        d = rng.choice([-1.0, 0.0, 0.0, 0.5, 1.0], size=150) + 0.1  # skewed, discrete
        result = paired_test(np.zeros(150), d)
        covered += result.ci_low <= 0.2 <= result.ci_high
    assert 0.92 <= covered / 400 <= 0.98


def test_a_real_difference_is_found_and_noise_is_not():
    rng = np.random.default_rng(0)
    a = rng.random(400)
    found = paired_test(a, a + 0.05 + rng.normal(0, 0.1, 400))
    assert 0 < found.ci_low < found.diff < found.ci_high and found.p_value < 1e-10
    noise = paired_test(a, a + rng.normal(0, 0.1, 400))
    assert noise.ci_low < 0 < noise.ci_high and noise.p_value > 0.05


def test_hoeffdings_bound_never_undercuts_the_exact_p_value():
    """Where neither exact nor normal applies and the effect is large, the p-value is
    Hoeffding's bound: it must be at least the true p-value (checked where exact is known)."""
    from suggest.stats import _exact_tail

    rng = np.random.default_rng(9)
    for _ in range(50):
        d = rng.normal(0.4, 1.0, 14)
        values, counts = np.unique(np.abs(d), return_counts=True)
        z = abs(d.sum()) / np.sqrt((d ** 2).sum())
        assert 2 * np.exp(-z * z / 2) >= _exact_tail(values, counts, abs(d.sum())) - 1e-12
    big = paired_test(np.zeros(400), rng.normal(0.05, 0.1, 400))
    assert big.method == "bound" and big.p_value < 1e-10


def test_no_difference_and_no_requests():
    same = paired_test([0.2, 0.4, 0.5], [0.2, 0.4, 0.5])
    assert same.diff == 0 and same.p_value == 1.0 and same.ci_low == same.ci_high == 0
    empty = paired_test([], [])
    assert empty.n == 0 and np.isnan(empty.p_value) and empty.method == "none"


def test_holm_matches_statsmodels_style_step_down_by_hand():
    # sorted 0.001, 0.01, 0.02, 0.04 times 4, 3, 2, 1, then the running maximum
    assert holm([0.04, 0.001, 0.02, 0.01]) == pytest.approx([0.04, 0.004, 0.04, 0.03])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    # an untested entry is not counted in the family
    assert holm([0.01, float("nan"), 0.02])[::2] == pytest.approx([0.02, 0.02])


def _power(effect, sd, n, alpha, reps, rng):
    hits = 0
    for _ in range(reps):
        d = rng.choice([-1.0, -0.5, 0.0, 0.0, 0.5, 1.0], size=n) * sd / np.sqrt(0.4167) + effect
        hits += paired_test(np.zeros(n), d).p_value < alpha
    return hits / reps


@pytest.mark.parametrize("alpha", [0.05, 0.05 / 48])
def test_minimum_detectable_effect_matches_a_simulation_within_20_percent(alpha):
    """At the MDE the test finds the effect about 80% of the time: less at 0.8 x MDE,
    more at 1.2 x MDE (discrete, ranking-like differences)."""
    rng = np.random.default_rng(8)
    n, sd = 400, 0.45
    effect = mde(sd, n, alpha=alpha)
    assert effect == pytest.approx((stats.t.isf(alpha / 2, n - 1) + stats.t.ppf(0.8, n - 1)) * sd / 20)
    below = _power(0.8 * effect, sd, n, alpha, 300, rng)
    at = _power(effect, sd, n, alpha, 300, rng)
    above = _power(1.2 * effect, sd, n, alpha, 300, rng)
    assert below < 0.8 < above
    assert at == pytest.approx(0.8, abs=0.08)


def test_family_marks_significance_after_correction():
    rows = family([([0.0] * 40, [1.0] * 40), ([0.0] * 40, [0.0] * 39 + [1.0])])
    assert [r["significant"] for r in rows] == [True, False]
    assert all(r["family"] == 2 for r in rows) and rows[0]["p_holm"] == pytest.approx(
        2 * rows[0]["p_value"])
    assert rows[1]["mde"] > 0


def test_no_difference_can_be_significant_on_a_handful_of_requests():
    """Four requests: the sign-flip p-value is at least 1/8, so nothing is detectable at 5%."""
    assert mde(0.5, 4) == float("inf") and mde(0.5, 6) < float("inf")
    assert paired_test([0] * 4, [1] * 4).p_value == pytest.approx(0.125)


@pytest.mark.parametrize("differ", [0, 5])
def test_engines_that_differ_on_a_handful_of_requests_have_no_detectable_effect(differ):
    """Thousands of requests, but the two engines differ on ``differ`` of them: the sign-flip
    test flips those alone, so its p is at least 2 ** (1 - differ) whatever the effect, and
    no MDE can be claimed (it was 0.000 for identical engines, and 0.0007 for these five)."""
    a = np.zeros(7485)
    b = a.copy()
    b[:differ] = 1.0
    row = family([(a, b), (a, a + 0.5)])[0]
    assert row["differing"] == differ and row["mde"] == float("inf")
    if differ:
        assert paired_test(a, b).p_value == pytest.approx(2.0 ** (1 - differ))
        assert mde(row["sd"], len(a), alpha=0.025) < 0.01  # what the spread alone claimed


def test_normal_approximation_is_continuity_corrected():
    """60 requests, 38 gained and 22 lost one point: near the exact binomial p-value."""
    d = np.r_[np.ones(38), -np.ones(22)]
    exact = stats.binomtest(38, 60, 0.5).pvalue
    assert paired_test(np.zeros(60), d).p_value == pytest.approx(exact, rel=1e-9)
    # many distinct magnitudes, so the normal approximation applies: corrected, it keeps
    # close to the randomisation distribution instead of running small
    rng = np.random.default_rng(2)
    magnitudes = rng.choice([0.2, 0.4, 0.6, 0.8, 1.0], size=60)
    signs = np.r_[np.ones(38), -np.ones(22)]
    test = paired_test(np.zeros(60), magnitudes * signs)
    flips = stats.permutation_test((magnitudes * signs,), np.sum, permutation_type="samples",
                                   n_resamples=200_000, random_state=0).pvalue
    assert test.p_value == pytest.approx(flips, abs=0.01)


def test_float_noise_is_not_a_difference():
    a = np.array([0.3] * 50)
    b = np.array([0.1 + 0.2] * 50)  # 0.30000000000000004
    assert paired_test(a, b).p_value == 1.0


def test_family_counts_only_groups_with_something_to_test_and_clips_intervals():
    rows = family([([0.0] * 3, [1.0] * 3), ([], []), ([0.0, 1.0, 0.0], [1.0, 1.0, 1.0])])
    assert [r["family"] for r in rows] == [2, 2, 2]
    assert rows[2]["ci_high"] <= 1.0 and rows[2]["ci_low"] >= -1.0


def test_p_values_for_people():
    assert format_p(0.0432) == "0.0432" and format_p(1e-40) == "< 0.001" and format_p(None) == "n/a"


def test_missing_values_are_refused_not_read_as_significant():
    from suggest.errors import SuggestError

    with pytest.raises(SuggestError, match="1 paired values are missing"):
        paired_test([0, np.nan, 1, 0], [1, 1, 1, 1])


def test_holm_keeps_a_tiny_p_value_tiny_and_never_below_the_raw_one():
    p = [1.3e-18, 0.2, 0.04, 0.5, 3e-9]
    adjusted = holm(p)
    assert adjusted[0] == pytest.approx(5 * 1.3e-18, rel=1e-9) and adjusted[0] > 0
    assert adjusted[4] == pytest.approx(4 * 3e-9, rel=1e-9)
    assert all(a >= raw for a, raw in zip(adjusted, p))


def test_compare_engines_names_an_engine_or_a_metric_it_was_not_given():
    """A pair naming an engine not evaluated, or a metric not computed, was pandas' KeyError."""
    from suggest.errors import SuggestError
    from suggest.stats import compare_engines

    frame = pd.DataFrame({"request_id": ["a", "b", "c"], "ndcg@5": [0.1, 0.5, 0.9]})
    given = {"rules": frame, "popular": frame.assign(**{"ndcg@5": [0.2, 0.4, 1.0]})}
    with pytest.raises(SuggestError, match="the pair's engine 'ranker' is not among the evaluations"):
        compare_engines(given, ["ndcg@5"], [("rules", "ranker")])
    with pytest.raises(SuggestError, match="rules's evaluation has no 'mrr@5'"):
        compare_engines(given, ["mrr@5"], [("rules", "popular")])
    assert len(compare_engines(given, ["ndcg@5"], [("rules", "popular")])) == 1


def test_the_headline_tests_are_one_family_whatever_else_is_compared():
    """A statistician's audit: every pair and metric was one Holm family, so replaying one
    more baseline raised the ranker's p-value and minimum detectable effect against the
    rules (38% larger at 78 tests than at 2). The headline's tests are now their own family."""
    from suggest.stats import compare_by_place

    rng = np.random.default_rng(3)
    scores = {name: rng.binomial(1, rate, 400).astype(float)
              for name, rate in (("rules", 0.30), ("ranker", 0.42), ("popular", 0.33),
                                 ("random", 0.31), ("context-popular", 0.34))}
    values = lambda engine, metric: scores[engine] * (1.0 if metric == "ndcg@5" else 0.5)  # noqa: E731
    key = {("rules", "ranker", "ndcg@5"), ("popular", "ranker", "ndcg@5")}
    few = [("rules", "ranker"), ("popular", "ranker")]
    many = few + [("rules", "popular"), ("rules", "random"), ("rules", "context-popular")]
    small, large = (compare_by_place(values, ["ndcg@5", "mrr@5"], pairs, headline=key)
                    for pairs in (few, many))
    head = [(c.a, c.b, c.p_holm, c.mde, c.family) for c in small if c.headline]
    assert head == [(c.a, c.b, c.p_holm, c.mde, c.family) for c in large if c.headline]
    assert len(head) == 2 and {c.family for c in large if not c.headline} == {8}
    # each family is Holm over its own raw p-values (checked against holm() on them)
    rest = [c for c in large if not c.headline]
    assert [c.p_holm for c in rest] == holm([c.p_value for c in rest])
    assert [c[2] for c in head] == holm([c.p_value for c in small if c.headline])
    # without a headline, one family as before: the ranker's test pays for the other pairs
    whole = compare_by_place(values, ["ndcg@5", "mrr@5"], many)
    first = next(c for c in whole if (c.a, c.b, c.metric) == ("rules", "ranker", "ndcg@5"))
    assert first.family == 10 and not first.headline
    assert first.p_holm > head[0][2] and first.mde > head[0][3]


def test_an_engine_that_scores_as_another_does_not_double_the_family():
    """On DePaulMovie the hybrid scored as the ranker on every request: its tests against
    the rules and each baseline were the ranker's again, and Holm counted them twice, so the
    ranker's p against user-history read 0.58 where it is 0.29. A test with the same
    difference on every request (or the pair reversed) now counts once."""
    from suggest.stats import compare_by_place

    rng = np.random.default_rng(8)
    scores = {name: rng.binomial(1, rate, 300).astype(float)
              for name, rate in (("rules", 0.30), ("ranker", 0.37), ("popular", 0.33),
                                 ("random", 0.2))}
    scores["hybrid"] = scores["ranker"].copy()
    values = lambda engine, metric: scores[engine] * (1.0 if metric == "ndcg@5" else 0.5)  # noqa: E731
    alone = [("rules", "ranker"), ("popular", "ranker"), ("random", "ranker")]
    twins = alone + [("rules", "hybrid"), ("popular", "hybrid"), ("random", "hybrid"),
                     ("ranker", "rules")]  # the first pair again, reversed
    head = lambda pairs: {(a, b, "ndcg@5") for a, b in pairs}  # noqa: E731
    single, double = (compare_by_place(values, ["ndcg@5", "mrr@5"], p, headline=head(p))
                      for p in (alone, twins))
    first = {(c.a, c.b, c.metric): c for c in single}
    for c in double:
        source = tuple(c.same_as) if c.same_as else (c.a, c.b, c.metric)
        twin = first[source]
        assert (c.p_holm, c.mde, c.family, c.headline) == (twin.p_holm, twin.mde, twin.family,
                                                           twin.headline)
    assert {c.family for c in double} == {3}
    said = {(c.a, c.b, c.metric): c.same_as for c in double}
    assert said[("popular", "hybrid", "mrr@5")] == ["popular", "ranker", "mrr@5"]
    assert said[("ranker", "rules", "ndcg@5")] == ["rules", "ranker", "ndcg@5"]
    assert said[("popular", "ranker", "ndcg@5")] is None
    # the corrected p-values are Holm over the three distinct raw ones, each 3 * p or more
    ranked = sorted(c.p_value for c in single if c.metric == "ndcg@5")
    assert min(c.p_holm for c in double if c.metric == "ndcg@5") == pytest.approx(
        min(1.0, 3 * ranked[0]), rel=1e-9)
    # a second engine that differs from the ranker on one request is a test of its own
    scores["hybrid"][np.flatnonzero(scores["hybrid"] == 0)[0]] = 1.0
    apart = compare_by_place(values, ["ndcg@5"], twins, headline=head(twins))
    assert {c.family for c in apart} == {6}


def test_differences_all_one_way_get_the_exact_p_value():
    """24 requests that all favour one engine, each by a different amount: exactly 2 of the
    2^24 sign flips reach the observed sum, p = 2^-23; the tool printed Hoeffding's bound,
    600 times larger after Holm (a tester's rule table)."""
    from suggest.stats import sign_flip_p

    rng = np.random.default_rng(5)
    wins = rng.uniform(0.05, 1.0, 24)
    assert sign_flip_p(np.append(wins, [0.0] * 14)) == (2.0 ** -23, "exact")
    assert sign_flip_p(-wins[:5]) == (2.0 ** -4, "exact")
    # checked against every flip of a smaller sample
    few = wins[:10]
    sums = np.abs(np.array([(np.array(signs) * few).sum()
                            for signs in itertools.product([-1, 1], repeat=10)]))
    assert sign_flip_p(few)[0] == pytest.approx((sums >= few.sum() - 1e-12).mean(), rel=1e-12)


def test_tests_with_nothing_that_differs_are_not_twins_of_each_other():
    """Two unrelated pairs that differ on no request (the rules against a copy of them, the
    ranker against a hybrid that never changes it) both read p = 1; they are not one
    hypothesis, and one was named the other's twin."""
    from suggest.stats import compare_by_place

    rng = np.random.default_rng(4)
    base = rng.binomial(1, 0.3, 200).astype(float)
    scores = {"rules": base, "copy": base.copy(), "ranker": rng.binomial(1, 0.4, 200) * 1.0}
    scores["hybrid"] = scores["ranker"].copy()
    rows = compare_by_place(lambda e, m: scores[e], ["ndcg@5"],
                            [("rules", "copy"), ("ranker", "hybrid"), ("rules", "ranker")])
    assert [c.same_as for c in rows] == [None, None, None]
    assert {c.family for c in rows} == {3} and [c.differing for c in rows[:2]] == [0, 0]


def test_a_pairs_own_metrics_equal_on_every_request_count_once():
    """compare at another cutoff tested recall@3 and hit_rate@3 (equal on every request of a
    log of one engaged item each) as two tests, and its ndcg@3 p read 0.00336 for 0.00224."""
    from suggest.compare import paired_rows

    rng = np.random.default_rng(6)
    hit_a, hit_b = rng.binomial(1, 0.3, 300) * 1.0, rng.binomial(1, 0.4, 300) * 1.0
    scored = pd.DataFrame({"recall@3_a": hit_a, "recall@3_b": hit_b, "hit_rate@3_a": hit_a,
                           "hit_rate@3_b": hit_b, "ndcg@3_a": hit_a * rng.random(300),
                           "ndcg@3_b": hit_b * rng.random(300)})
    rows = paired_rows(scored, ["ndcg@3", "recall@3", "hit_rate@3"])
    assert [r["same_as"] for r in rows] == [None, None, "recall@3"]
    assert {r["family"] for r in rows} == {2}
    assert rows[2]["p_holm"] == rows[1]["p_holm"]
    assert rows[0]["p_holm"] == pytest.approx(min(1.0, holm([rows[0]["p_value"], rows[1]["p_value"]])[0]))
