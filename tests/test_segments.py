"""Segments that mean something: pooled, binned, one Holm family per column, and honest
on worlds whose truth is known (a planted loss is found, noise is not a finding)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from suggest.compare import compare
from suggest.segments import segment_labels, segment_tests, significant

METRICS = ("ndcg@5", "hit_rate@5", "precision@5")


def results_frame(a: np.ndarray, b: np.ndarray, **context) -> pd.DataFrame:
    """A Results frame of two engines whose ndcg@5 per request is ``a`` and ``b``."""
    n = len(a)
    frames = []
    for engine, values in (("rules", a), ("ranker", b)):
        frame = pd.DataFrame({"request_id": [f"q{i}" for i in range(n)], "engine": engine, **context})
        frame["ndcg@5"] = values
        frame["hit_rate@5"] = (values > 0).astype(float)
        frame["precision@5"] = (values > 0) / 5
        frame["has_positive"], frame["answered"], frame["latency_us"] = True, True, 1.0
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


NO_SUGGESTIONS = pd.DataFrame(columns=["request_id", "engine", "rank", "item_id", "score", "reason"])


def ranking_values(rng, n, shift=0.0):
    """Per-request ndcg-like values: a miss, or a hit at rank 1-5."""
    values = rng.choice([0.0, 1.0, 0.631, 0.5, 0.431, 0.387], size=n, p=[.5, .2, .1, .1, .05, .05])
    return np.clip(values + shift, 0, 1)


def test_small_values_pool_into_other_and_a_column_keeps_its_20_largest():
    values = pd.Series([f"city{i:02d}" for i in range(40) for _ in range(40 + i)] + ["tiny"] * 5,
                       name="city")
    labels = segment_labels(values, min_size=30)
    counts = labels.value_counts()
    assert len(counts) == 21 and counts["other"] == sum(40 + i for i in range(20)) + 5
    assert "city39" in counts and "city19" not in counts  # the 20 largest stay


def test_numbers_are_cut_into_quantile_bins_and_time_fields_read_as_people_say_them():
    rng = np.random.default_rng(0)
    battery = pd.Series(rng.integers(1, 101, 1000).astype(float), name="battery")
    battery[:50] = np.nan
    bins = segment_labels(battery)
    sizes = bins[bins != "(missing)"].value_counts()
    assert len(sizes) == 5 and sizes.min() > 150 and (bins == "(missing)").sum() == 50
    assert any(label.endswith("100]") for label in sizes.index)
    hour = segment_labels(pd.Series(np.arange(24).repeat(40), name="hour"))
    assert sorted(hour.unique()) == ["00-04h", "04-08h", "08-12h", "12-16h", "16-20h", "20-24h"]
    day = segment_labels(pd.Series(np.arange(7).repeat(40), name="weekday"))
    assert list(dict.fromkeys(day)) == ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    flag = segment_labels(pd.Series([True, False] * 40, dtype="boolean", name="headphones"))
    assert set(flag) == {"true", "false"}  # as the log and the rules write them


def test_a_numeric_segment_holds_what_its_name_says():
    """A tester's speeds, written with one decimal: the quantile 39.72 was named 39.7, so the
    five requests at 39.7 km/h sat in "[14.4, 39.7)" and filtering the log by the label gave
    other requests and another p-value. The values are cut where the names say."""
    rng = np.random.default_rng(2)
    for scale, decimals in ((40.0, 1), (40.0, 0), (0.004, 5), (-40.0, 1), (3e6, 0)):
        speed = pd.Series(np.round(np.sign(scale) * rng.gamma(2.0, abs(scale) / 2, 1500),
                                   decimals), name="speed")
        speed = speed.where(speed != 0, scale / 80)  # no zeros, which carry no digits to round
        labels = segment_labels(speed)
        bounds = labels.str.extract(r"^\[(.+), (.+)([)\]])$")
        low, high = bounds[0].astype(float), bounds[1].astype(float)
        closed = bounds[2] == "]"
        assert labels.nunique() >= 3
        assert ((low <= speed) & ((speed < high) | (closed & (speed <= high)))).all(), scale


def test_a_planted_loss_is_found_first():
    rng = np.random.default_rng(1)
    n = 4000
    city = rng.choice([f"c{i}" for i in range(25)], size=n).astype(object)
    city[:300] = "berlin"
    a = ranking_values(rng, n)
    b = np.where(rng.random(n) < 0.5, a, ranking_values(rng, n))  # equal in law to a
    b[:300] = np.clip(a[:300] - 0.3, 0, 1)  # truly worse in Berlin
    battery = rng.random(n) * 100
    families = segment_tests(a, b, pd.DataFrame({"city": city, "battery": battery}),
                             ["city", "battery"])
    losses = significant(families, losses=True)
    assert losses and (losses[0]["column"], losses[0]["value"]) == ("city", "berlin")
    assert losses[0]["ci_high"] < 0 and losses[0]["requests"] == 300
    assert families["city"]["tests"] <= 21


def test_noise_is_a_finding_in_at_most_about_5_percent_of_repetitions():
    """Two engines that differ only by noise: at the 5% family level, a column's family
    holds a significant segment in about 5% of seeded worlds at most."""
    repetitions, found = 200, {"city": 0, "hour": 0, "either column, as the verdict lists": 0}
    for seed in range(repetitions):
        rng = np.random.default_rng(100 + seed)
        n = 1200
        a = ranking_values(rng, n)
        b = np.where(rng.random(n) < 0.5, a, ranking_values(rng, n))
        context = pd.DataFrame({"city": rng.choice([f"c{i}" for i in range(12)], size=n,
                                                   p=np.r_[[0.2, 0.15, 0.1], np.full(9, 0.55 / 9)]),
                                "hour": rng.integers(0, 24, n)})
        families = segment_tests(a, b, context, ["city", "hour"], seed=seed)
        for column in ("city", "hour"):
            found[column] += any(r["significant"] for r in families[column]["rows"])
        found["either column, as the verdict lists"] += bool(
            significant(families, losses=True, across=True)
            or significant(families, losses=False, across=True))
    for column, count in found.items():
        assert count / repetitions <= 0.075, (column, count)


def test_bin_names_stay_apart_ties_fall_back_to_values_and_spelt_pool_names_are_quoted():
    close = pd.Series(np.linspace(1000.0, 1000.4, 100))  # edges equal at 3 significant digits
    names = segment_labels(close, min_size=1).unique()
    assert len(names) == 5 and "[1000, 1000.08)" in names
    tied = pd.Series([0.0] * 90 + list(range(1, 11)))  # 90% zeros: quantile edges collapse
    assert set(segment_labels(tied, min_size=1)) == {"0.0", *(f"{v:.1f}" for v in range(1, 11))}
    spelt = pd.Series(["other"] * 40 + ["(missing)"] * 40 + ["x"] * 3 + [None] * 30)
    assert segment_labels(spelt).value_counts().to_dict() == {
        '"other"': 40, '"(missing)"': 40, "(missing)": 30, "other": 3}
    infinite = pd.Series([np.inf, -np.inf] + list(range(100)), dtype=float)
    labels = segment_labels(infinite, min_size=1)
    assert labels.iloc[0].endswith("]") and labels.iloc[1].startswith("[0,")


def test_a_segment_holding_every_request_restates_the_whole_and_is_not_a_finding():
    rng = np.random.default_rng(4)
    n = 600
    a = ranking_values(rng, n)
    b = np.clip(a - 0.2, 0, 1)  # worse everywhere
    families = segment_tests(a, b, pd.DataFrame({"device": ["phone"] * n,
                                                 "half": np.repeat(["x", "y"], n // 2)}),
                             ["device", "half"])
    # the whole is shown with its figures but not tested again: as a family of one,
    # uncorrected, its p could contradict the overall test on the same requests
    whole = families["device"]["rows"][0]
    assert whole["whole"] and whole["diff"] < 0 and whole["p_holm"] != whole["p_holm"]
    assert families["device"]["tests"] == 0 and families["half"]["tests"] == 2
    found = {(r["column"], r["value"]) for r in significant(families, losses=True)}
    assert found == {("half", "x"), ("half", "y")}


def test_an_other_pooled_under_the_minimum_size_is_shown_but_not_tested():
    """Values too small to test alone pooled into an 'other' that is itself under the
    minimum size: a mix of them, listed as a significant win on 11 requests of 4 values,
    is shown with its figures and not tested."""
    rng = np.random.default_rng(5)
    n = 400
    a = ranking_values(rng, n)
    b = np.clip(a + 0.4, 0, 1)  # better everywhere: a test of the pool would pass
    place = np.array(["home"] * 200 + ["work"] * 188 + ["park", "beach", "cafe", "gym"] * 3)
    families = segment_tests(a, b, pd.DataFrame({"place": place}), ["place"], min_size=30)
    rows = {r["value"]: r for r in families["place"]["rows"]}
    assert rows["other"]["small"] and rows["other"]["p_holm"] != rows["other"]["p_holm"]
    assert rows["other"]["diff"] > 0 and families["place"]["tests"] == 2
    assert "other" not in {r["value"] for r in significant(families, losses=False)}


def test_values_past_the_largest_kept_are_said_apart_from_the_small_ones():
    """A PM's `compare --by connected_device` read "44 small values pooled into 'other'",
    four of them over 100 requests each, pooled only for being past the 20 largest."""
    from suggest.compare import _pooled_text

    rng = np.random.default_rng(3)
    place = np.array([f"big{i}" for i in range(5) for _ in range(60)] + ["tiny1", "tiny2"] * 5)
    a = ranking_values(rng, len(place))
    families = segment_tests(a, a, pd.DataFrame({"place": place}), ["place"], min_size=30,
                             max_values=3)
    family = families["place"]
    assert family["pooled_into_other"] == 4 and family["pooled_large"] == 2
    assert _pooled_text(family) == ("; 4 values pooled into 'other': 2 past the 3 largest, "
                                    "2 under the minimum size")
    wide = segment_tests(a, a, pd.DataFrame({"place": place}), ["place"], min_size=30)["place"]
    assert _pooled_text(wide) == "; 2 small values pooled into 'other'"


def test_the_small_value_of_a_two_valued_column_keeps_its_name_and_is_not_tested():
    """Seven newcomers among 393 returning users: 'false' is not 'other' (nothing else is
    pooled with it), is shown under its own name with its figures, and is not tested; and
    the verdict's sentence on users new to the engines still says how they fare, and that
    they are too few to test."""
    from suggest.verdict import _new_users

    rng = np.random.default_rng(2)
    a = ranking_values(rng, 400)
    b = np.clip(a + 0.1, 0, 1)
    returning = np.array([True] * 393 + [False] * 7)
    families = segment_tests(a, b, pd.DataFrame({"returning_user": returning}), ["returning_user"],
                             min_size=30)
    rows = {r["value"]: r for r in families["returning_user"]["rows"]}
    assert set(rows) == {"true", "false"} and families["returning_user"]["pooled_into_other"] == 0
    assert rows["false"]["small"] and rows["false"]["requests"] == 7
    assert rows["false"]["diff"] == pytest.approx((b - a)[returning == False].mean())  # noqa: E712
    newcomers = {"baseline": "context-popular", "requests": 7, "diff": 0.05, "ci_low": -0.1,
                 "ci_high": 0.2}
    summary = {"segments": {"min_segment": 30, "pairs": {"ranker - popular": families}},
               "newcomers": {"ranker": newcomers}, "requests_scored": 400}
    said = _new_users(summary, "ranker", "popular", "ndcg@5")
    assert said.startswith("Users new to the engines (no request in the training part: 7 of the "
                           "400 requests with a positive, under the 30 a segment needs to be "
                           "tested): ranker - context-popular (the best baseline that answers them) +0.050 "
                           "[-0.100, +0.200] ndcg@5, too few to judge; "
                           "returning users: ranker - popular +")
    # one newcomer: no interval (a zero-width one read as "better"), and no reading
    one = dict(newcomers, requests=1, diff=0.2, ci_low=float("nan"), ci_high=float("nan"))
    said = _new_users({**summary, "newcomers": {"ranker": one}}, "ranker", "popular", "ndcg@5")
    assert "(the best baseline that answers them) +0.200 ndcg@5, too few to judge;" in said
    from suggest.stats import paired_test

    single = paired_test(np.array([0.1]), np.array([0.3]), with_p=False)
    assert single.diff == pytest.approx(0.2) and np.isnan(single.ci_low) and np.isnan(single.ci_high)


def test_asking_for_another_column_changes_no_other_p_value():
    rng = np.random.default_rng(2)
    n = 2000
    a = ranking_values(rng, n)
    b = ranking_values(rng, n, shift=0.02)
    results = results_frame(a, b, city=rng.choice(list("abcdef"), n), hour=rng.integers(0, 24, n),
                            battery=rng.random(n))
    alone = compare(results, NO_SUGGESTIONS, "rules", "ranker", by=["city"])
    more = compare(results, NO_SUGGESTIONS, "rules", "ranker", by=["city", "hour", "battery"])
    none = compare(results, NO_SUGGESTIONS, "rules", "ranker")
    assert [r["p_holm"] for r in alone.overall] == [r["p_holm"] for r in more.overall] == \
        [r["p_holm"] for r in none.overall]
    assert alone.segments["city"] == more.segments["city"]
    assert more.segments["hour"]["tests"] == 6 and more.segments["battery"]["tests"] == 5


def test_compare_reports_the_minimum_detectable_effect_when_nothing_is_found():
    rng = np.random.default_rng(3)
    a = ranking_values(rng, 500)
    result = compare(results_frame(a, a.copy()), NO_SUGGESTIONS, "rules", "ranker")
    ndcg = next(r for r in result.overall if r["metric"] == "ndcg@5")
    # identical lists: no request differs, so no difference could be detected (not "0.000")
    assert not ndcg["significant"] and ndcg["mde"] == float("inf")
    b = np.where(rng.random(500) < 0.5, a, ranking_values(rng, 500))
    result = compare(results_frame(a, b), NO_SUGGESTIONS, "rules", "ranker")
    ndcg = next(r for r in result.overall if r["metric"] == "ndcg@5")
    assert not ndcg["significant"] and 0.02 < ndcg["mde"] < 0.2
    assert "not significant (MDE" in result.to_table()


def test_min_segment_must_be_positive():
    from suggest.errors import SuggestError

    rng = np.random.default_rng(4)
    a = ranking_values(rng, 50)
    with pytest.raises(SuggestError, match="min-segment"):
        compare(results_frame(a, a), NO_SUGGESTIONS, "rules", "ranker", min_segment=0)


def test_overlap_is_one_for_the_same_short_lists_and_counts_what_two_lists_share():
    """overlap@5 over the longer of the two lists: engines that suggest the same three items
    overlap fully (it read 0.6, three of five, when divided by k)."""
    def lists(engine, per_request):
        return [{"request_id": r, "engine": engine, "rank": i + 1, "item_id": item, "score": 1.0,
                 "reason": engine} for r, items in per_request.items() for i, item in enumerate(items)]
    same = {"q0": ["x", "y", "z"], "q1": ["x"]}
    results = results_frame(np.zeros(2), np.zeros(2))
    suggestions = pd.DataFrame(lists("rules", same) + lists("ranker", same))
    assert compare(results, suggestions, "rules", "ranker").overlap == 1.0
    other = {"q0": ["x", "q"], "q1": ["w", "v", "x", "u"]}  # 1 of 3, then 1 of 4 shared
    suggestions = pd.DataFrame(lists("rules", same) + lists("ranker", other))
    assert compare(results, suggestions, "rules", "ranker").overlap == pytest.approx((1 / 3 + 1 / 4) / 2)


def test_an_example_context_names_its_weekday_as_the_segments_do():
    """The report's examples showed weekday=5 beside segment tables of 'weekday = sat'."""
    from suggest.compare import context_text
    from suggest.segments import segment_labels

    assert segment_labels(pd.Series([5] * 40, name="weekday")).iloc[0] == "sat"
    said = context_text({"location": "home", "weekday": np.int64(5), "hour": 7, "battery": None,
                         "headphones": np.bool_(True), "note": "x" * 50}, 40)
    assert said == "location=home, weekday=sat, hour=7, headphones=true, note=" + "x" * 39 + "…"
