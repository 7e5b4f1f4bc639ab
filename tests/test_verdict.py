"""The verdict: the learned engines against the rules and the best baseline, first, and
never "better" without significance."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import write_dataset
from suggest.cli import main
from suggest.verdict import best_baseline, headline_tests, judge, verdict_pairs

PLACES = {"home": "tv_guide", "work": "calendar", "gym": "workout", "cafe": "menu", "car": "maps"}


@pytest.fixture(scope="module")
def rules_world(tmp_path_factory):
    """A log whose truth is exactly what the rules say: at each place the user opens the
    place's item. No ranker can beat these rules."""
    folder = tmp_path_factory.mktemp("rules-world")
    rng = np.random.default_rng(0)
    rows = ["request_id,user,timestamp,place,item"]
    start = np.datetime64("2026-03-01T00:00:00")
    for i in range(3000):
        place = rng.choice(list(PLACES))
        when = start + np.timedelta64(int(i * 600 + rng.integers(0, 500)), "s")
        rows.append(f"r{i:05d},u{rng.integers(0, 40):02d},{when}Z,{place},{PLACES[place]}")
    dataset = write_dataset(folder, "\n".join(rows) + "\n",
                            columns={"time": "timestamp", "request": "request_id"},
                            context={"place": "categorical"}, timezone="UTC")
    rules = folder / "rules.yaml"
    rules.write_text("version: 1\nmax_suggestions: 5\nrules:\n" + "".join(
        f"  - id: at-{place}\n    when: {{place: {place}}}\n    suggest: [{item}]\n"
        for place, item in PLACES.items()), encoding="utf-8")
    out = folder / "run"
    result = CliRunner().invoke(main, ["replay", "--dataset", str(dataset), "--rules", str(rules),
                                       "--engines", "rules,ranker,popular,user-history",
                                       "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads((out / "summary.json").read_text()), out


def test_a_ranker_that_cannot_beat_true_rules_is_never_called_better(rules_world):
    summary, _ = rules_world
    verdict = summary["verdict"]
    assert summary["engines"]["rules"]["ndcg@5"] == pytest.approx(1.0)
    versus_rules = next(c for c in summary["comparisons"]
                        if (c["a"], c["b"], c["metric"]) == ("rules", "ranker", "ndcg@5"))
    assert not (versus_rules["significant"] and versus_rules["diff"] > 0)
    assert "? Yes:" not in verdict["headline"]
    about_rules = next(s for s in verdict["sentences"] if s.startswith("ranker vs the rules"))
    assert "ranker is better" not in about_rules


def test_the_verdict_compares_the_learned_engine_with_the_best_baseline(rules_world):
    summary, _ = rules_world
    verdict = summary["verdict"]
    simple = {n: e["ndcg@5"] for n, e in summary["engines"].items() if n in ("popular", "user-history")}
    assert verdict["best_baseline"] == max(simple, key=simple.get)
    assert verdict["primary_metric"] == "ndcg@5"
    pairs = {(c["a"], c["b"]) for c in summary["comparisons"]}
    assert (verdict["best_baseline"], "ranker") in pairs and ("rules", "popular") in pairs
    # the headline's tests are their own Holm family: each learned engine against the rules
    # and every baseline on the primary metric; every other pair and metric another
    headline = [c for c in summary["comparisons"] if c["headline"]]
    learned = [n for n in ("ranker", "hybrid") if n in summary["engines"]]
    assert sorted((c["a"], c["b"]) for c in headline) == sorted(
        (other, n) for n in learned for other in ("rules", "popular", "user-history"))
    assert {c["metric"] for c in headline} == {"ndcg@5"}
    # (a test the same as another, two engines alike on every request, counts once)
    distinct = lambda tests: sum(c["same_as"] is None for c in tests)  # noqa: E731
    assert {c["family"] for c in headline} == {distinct(headline)} == {summary["tests"]["headline"]}
    rest = [c for c in summary["comparisons"] if not c["headline"]]
    assert {c["family"] for c in rest} == {distinct(rest)} == {summary["tests"]["other"]}
    assert summary["tests"]["same"] == {"headline": len(headline) - distinct(headline),
                                        "other": len(rest) - distinct(rest)}
    assert any(c["metric"] == "ndcg@5" and c["a"] == "rules" and c["b"] == "popular" for c in rest)
    # the baseline is beaten by the rules here, and the verdict says who is best
    assert verdict["best_engine"] in ("rules", "ranker")
    assert summary["segments"]["pairs"]["ranker - rules"]["place"]["tests"] == 5
    assert {"hour", "weekday"} <= set(summary["segments"]["pairs"]["ranker - rules"])


def _summary(diff, p, mde=0.04, losses=()):
    engines = {"rules": {"ndcg@5": 0.2, "answered_rate": 0.6, "precision@5": 0.05,
                         "precision@5_answered": 0.083, "one_context_us_p50": 50.0,
                         "one_context_us_p99": 90.0, "fit_seconds": 0.01},
               "popular": {"ndcg@5": 0.25}, "user-history": {"ndcg@5": 0.3},
               "ranker": {"ndcg@5": 0.3 + diff, "one_context_us_p50": 400.0,
                          "one_context_us_p99": 900.0, "fit_seconds": 12.3}}
    comparisons = [{"a": a, "b": b, "metric": "ndcg@5", "diff": d, "ci_low": d - 0.01,
                    "ci_high": d + 0.01, "p_holm": pp, "family": 4, "mde": mde,
                    "significant": pp < 0.05}
                   for a, b, d, pp in (("rules", "ranker", 0.1 + diff, 1e-9),
                                       ("user-history", "ranker", diff, p))]
    return {"engines": engines, "comparisons": comparisons}


def test_rules_that_miss_a_few_requests_are_not_said_to_answer_all():
    """0.9996 of requests read "100.0%": a team would take it for rules that never go silent."""
    summary = _summary(0.01, 0.3)
    summary["engines"]["rules"]["answered_rate"] = 0.9996
    text = " ".join(judge(summary, "ndcg@5")["sentences"])
    assert "The rules answer 99.96% of requests" in text and "100.0%" not in text
    summary["engines"]["rules"]["answered_rate"] = 1.0
    assert "The rules answer 100.0% of requests" in " ".join(judge(summary, "ndcg@5")["sentences"])


def test_a_log_mostly_rejected_is_said_before_the_details():
    """83% of a tester's rows were rejected and the verdict read as confident as ever: from a
    tenth of the rows the figures are of a part of the log, said before them."""
    summary = _summary(0.05, 1e-6)
    summary["data"] = {"rows_in": 1000, "rows_rejected": 400,
                       "reject_reasons": {"time 'x' is not ISO 8601 like 2026-03-02T08:15:00+01:00": 300,
                                          "user is missing": 100}}
    text = judge(summary, "ndcg@5")["sentences"]
    assert text[1] == ("Caution: 40% of the log's rows were rejected (400 of 1,000): every figure "
                       "is of the other 60%, which may not be like them; the commonest reason "
                       "(300 rows): time 'x' is not ISO 8601 like 2026-03-02T08:15:00+01:00.")
    summary["data"]["rows_rejected"] = 99
    assert not any(s.startswith("Caution") for s in judge(summary, "ndcg@5")["sentences"])


def test_no_significant_difference_comes_with_the_minimum_detectable_effect():
    summary = _summary(0.01, 0.3, mde=0.035)
    verdict = judge(summary, "ndcg@5", {"ranker - user-history": []},
                    {"ranker - user-history": {"segments": 40, "columns": 6}})
    text = " ".join(verdict["sentences"])
    assert verdict["headline"].startswith("Is the ranker worth it? Not shown yet: it beats the "
                                          "rules by +0.110 but is not significantly different")
    # behind the baseline, though not significantly: no "yet", as if a lead were to come
    behind = judge(_summary(-0.02, 0.3, mde=0.035), "ndcg@5", {"ranker - user-history": []},
                   {"ranker - user-history": {"segments": 40, "columns": 6}})
    assert behind["headline"].startswith("Is the ranker worth it? Not shown: it beats the rules")
    # ahead but not significantly: what that means for a decision, said once
    assert verdict["headline"].endswith("Until it is shown better, user-history is the simpler "
                                        "choice (nothing to train), though this sample allows a "
                                        "gain of up to +0.020 for the ranker.")
    leaky = _summary(0.01, 0.3, mde=0.035)  # a caution on the split follows: not said then
    leaky["leakage"] = {"warning": "97% of test requests have a (user, item) ..."}
    assert "simpler choice" not in judge(leaky, "ndcg@5")["headline"]
    assert "simpler choice" not in behind["headline"]  # the warning below says it there
    # not shown better than the rules either: the baseline is not named the choice over them
    level = _summary(0.01, 0.3, mde=0.035)
    level["comparisons"][0].update(diff=0.02, p_holm=0.4, significant=False)
    assert "simpler choice" not in judge(level, "ndcg@5")["headline"]
    assert "no significant difference" in text and "0.035 with 80% power" in text
    assert "user-history is better" not in text and "ranker is better" in text  # vs the rules
    assert "to user-history in none of 40 segments" in text
    assert "answer 60.0% of requests" in text and "0.083" in text
    assert "0.40 ms p50" in text and "12.3 s to train" in text
    assert "it could detect 0.035" in verdict["headline"]
    # an engine no request scores differently from (a rule set's copy) is said to score the
    # same, not to be one whose difference "so few requests that differ" could not show
    from suggest.verdict import _difference

    copy = {**summary["comparisons"][1], "diff": 0.0, "ci_low": 0.0, "ci_high": 0.0,
            "p_holm": 1.0, "mde": float("inf"), "differing": 0}
    said = _difference(copy, "same", "rules")
    assert said.endswith("no significant difference; the two score the same ndcg@5 on every "
                         "request.") and "so few" not in said
    headline = judge(dict(summary, comparisons=[summary["comparisons"][0], copy]),
                     "ndcg@5")["headline"]
    assert "(+0.000; the same score on every request)" in headline


def test_an_interval_that_leaves_out_zero_beside_no_significant_difference_says_why():
    """The 95% interval is per test, the p-value Holm-corrected: when they disagree the
    sentence says so, instead of an interval above 0 beside 'no significant difference'."""
    summary = _summary(0.02, 0.3)
    summary["comparisons"][1]["p_value"] = 0.02  # significant alone, not after Holm over 4
    said = " ".join(judge(summary, "ndcg@5", {"ranker - user-history": []},
                          {"ranker - user-history": {"segments": 40, "columns": 6}})["sentences"])
    assert ("+0.020 ndcg@5 [+0.010, +0.030], p = 0.3 (Holm over 4 tests): no significant "
            "difference (the interval is not adjusted for the 4 tests, the p-value is)") in said
    # not significant even alone: the correction is not why they disagree, and is not blamed
    summary["comparisons"][1]["p_value"] = 0.07
    said = " ".join(judge(summary, "ndcg@5", {"ranker - user-history": []},
                          {"ranker - user-history": {"segments": 40, "columns": 6}})["sentences"])
    assert "not adjusted" not in said
    assert "(the t interval leaves out 0, the sign-flip test does not find the difference)" in said
    inside = " ".join(judge(_summary(0.005, 0.3), "ndcg@5", {"ranker - user-history": []},
                            {"ranker - user-history": {"segments": 40, "columns": 6}})["sentences"])
    assert "no significant difference" in inside and "not adjusted" not in inside


def test_a_sample_too_small_to_detect_anything_says_so_in_words():
    """An infinite MDE (no sample this small could be significant) is said as such, not as
    'it could detect none possible'."""
    verdict = judge(_summary(0.01, 0.3, mde=float("inf")), "ndcg@5",
                    {"ranker - user-history": []}, {"ranker - user-history": {"segments": 40, "columns": 6}})
    assert "too few requests that differ to detect any difference" in verdict["headline"]
    assert "none possible" not in " ".join([verdict["headline"], *verdict["sentences"]])


def test_a_significant_loss_is_said_with_its_segments():
    summary = _summary(-0.05, 1e-6)
    loss = {"column": "city", "value": "berlin", "diff": -0.2, "ci_low": -0.3, "ci_high": -0.1,
            "requests": 400}
    verdict = judge(summary, "ndcg@5", {"ranker - user-history": [loss]},
                    {"ranker - user-history": {"segments": 40, "columns": 6}})
    text = " ".join(verdict["sentences"])
    assert verdict["headline"].startswith("Is the ranker worth it? No: it")
    assert "user-history is better" in text
    assert "city=berlin -0.200 [-0.300, -0.100], 400 requests" in text


def test_best_baseline_and_pairs():
    engines = {"rules": {"m": 0.5}, "ranker": {"m": 0.9}, "hybrid": {"m": 0.95},
               "popular": {"m": 0.3}, "team-engine": {"m": 0.4}, "random": {"m": 0.1}}
    assert best_baseline(engines, "m") == "team-engine"
    pairs = verdict_pairs(list(engines), "m", engines)
    assert ("rules", "ranker") in pairs and ("team-engine", "ranker") in pairs
    # each learned engine against every baseline too, the best first
    assert pairs[5:] == [("team-engine", "ranker"), ("team-engine", "hybrid"), ("popular", "ranker"),
                         ("popular", "hybrid"), ("random", "ranker"), ("random", "hybrid")]
    # the headline's tests: each learned engine against the rules and every baseline (the
    # best is picked on the same requests: a reviewer's simulation found the winner tested
    # alone "significant" among equal engines 11% of the time); not the other pairs
    key = {(a, n, "m") for n in ("ranker", "hybrid")
           for a in ("rules", "team-engine", "popular", "random")}
    assert headline_tests(pairs, "m", engines) == key
    assert ("rules", "popular") in pairs and ("rules", "popular", "m") not in key
    # a rule set beside the team's: against the rules, every baseline and the ranker
    more = {**engines, "mined": {"m": 0.45, "rule_set": "mined.yaml"}}
    assert headline_tests(verdict_pairs(list(more), "m", more), "m", more) - key == {
        ("rules", "mined", "m"), ("team-engine", "mined", "m"), ("popular", "mined", "m"),
        ("random", "mined", "m"), ("mined", "ranker", "m")}
    # no learned engine: the rules against every baseline
    alone = {"rules": {"m": 0.5}, "popular": {"m": 0.3}, "team-engine": {"m": 0.4}}
    assert headline_tests(verdict_pairs(list(alone), "m", alone), "m", alone) == {
        ("rules", "team-engine", "m"), ("rules", "popular", "m")}
    assert best_baseline({"rules": {"m": 1}, "ranker": {"m": 1}}, "m") is None
    # without the rules the first engine is the reference: the ranker first was tested
    # against the best baseline twice in one Holm family, once each way (a tester's run)
    engines = {"ranker": {"m": 0.5}, "popular": {"m": 0.3}, "context-popular": {"m": 0.4}}
    pairs = verdict_pairs(list(engines), "m", engines)
    assert sorted(pairs) == [("context-popular", "ranker"), ("popular", "ranker")]
    # nor a rule set against the best baseline when that baseline is the first engine
    engines = {"popular": {"m": 0.3}, "random": {"m": 0.1},
               "mined": {"m": 0.2, "rule_set": "mined.yaml"}}
    pairs = verdict_pairs(list(engines), "m", engines)
    assert sorted(pairs) == [("popular", "mined"), ("popular", "random"), ("random", "mined")]


def test_without_a_learned_engine_the_best_baseline_is_judged_against_the_rules():
    summary = _summary(0.0, 1.0)
    del summary["engines"]["ranker"]
    summary["comparisons"] = [{"a": "rules", "b": "user-history", "metric": "ndcg@5", "diff": 0.1,
                               "ci_low": 0.05, "ci_high": 0.15, "p_holm": 1e-6, "family": 3,
                               "mde": 0.03, "significant": True}]
    verdict = judge(summary, "ndcg@5")
    # the first thing said answers the question a team with rules asks first
    assert verdict["learned"] == [] and verdict["sentences"][0] == verdict["headline"] == (
        "Do the rules beat the simplest thing that could work? No: the best baseline "
        "(user-history) beats them by +0.100 on ndcg@5.")
    summary["comparisons"][0].update(diff=-0.02, ci_low=-0.05, ci_high=0.01, p_holm=0.4, mde=0.03)
    assert judge(summary, "ndcg@5")["headline"] == (
        "Do the rules beat the simplest thing that could work? Not shown: they are not "
        "significantly different from the best baseline (user-history) (user-history - rules "
        "-0.020; it could detect 0.030) on ndcg@5.")
    summary["comparisons"][0].update(diff=-0.06, ci_low=-0.09, ci_high=-0.03, p_holm=0.001)
    assert judge(summary, "ndcg@5")["headline"] == (
        "Do the rules beat the simplest thing that could work? Yes: they beat the best baseline "
        "(user-history) by +0.060 on ndcg@5.")
    summary["comparisons"][0].update(diff=0.1, ci_low=0.05, ci_high=0.15, p_holm=1e-6)
    assert any(s.startswith("The best baseline, user-history, vs the rules: +0.100")
               and s.endswith("user-history is better.") for s in verdict["sentences"])


def test_a_tie_is_said_and_a_learned_twin_is_folded_into_the_first():
    summary = _summary(0.05, 1e-6)
    summary["engines"]["hybrid"] = dict(summary["engines"]["ranker"])
    summary["comparisons"] += [dict(c, b="hybrid") for c in summary["comparisons"]]
    summary["requests"], summary["requests_scored"] = 5000, 3700
    text = judge(summary, "ndcg@5")["sentences"]
    # the same mean, not only as shown: said to be exact (a tester read "(to the three
    # decimals shown)" as only close)
    assert any(s.startswith("Highest ndcg@5: hybrid and ranker tie at 0.350 exactly")
               for s in text)
    summary["engines"]["hybrid"]["ndcg@5"] = 0.3502
    assert any(s.startswith("Highest ndcg@5: hybrid and ranker tie at 0.350 (to the three decimals "
                            "shown)") for s in judge(summary, "ndcg@5")["sentences"])
    summary["engines"]["hybrid"]["ndcg@5"] = 0.35
    # no paired comparison of the two: equal means, said as such (lists may differ)
    assert "hybrid has the same means as ranker on every metric compared: what is said of " \
           "ranker holds for it on average." in text
    assert not any(s.startswith("hybrid vs the rules") for s in text)
    twin = {"a": "ranker", "b": "hybrid", "metric": "ndcg@5", "diff": 0.0, "ci_low": 0.0,
            "ci_high": 0.0, "p_holm": 1.0, "family": 3, "mde": 0.01, "significant": False}
    for differing, said in ((0, "hybrid scores exactly as ranker: the same ndcg@5 on every "
                                "request (where their lists differ, no score changes)"),
                            (12, "hybrid has the same means as ranker on every metric compared, "
                                 "though 12 requests score differently on ndcg@5")):
        summary["comparisons"] = [c for c in summary["comparisons"] if c["a"] != "ranker"]
        summary["comparisons"].append(dict(twin, differing=differing))
        assert any(s.startswith(said) for s in judge(summary, "ndcg@5")["sentences"])
    # each of the hybrid's tests the ranker's own (same_as): the same score on every request,
    # not "on average" (a tester's InCarMusic hybrid, identical request by request)
    summary["comparisons"] = [c for c in summary["comparisons"] if "ranker" != c["a"]]
    for c in summary["comparisons"]:
        if c["b"] == "hybrid":
            c["same_as"] = [c["a"], "ranker", c["metric"]]
    assert any(s.startswith("hybrid scores exactly as ranker: the same ndcg@5 on every request")
               for s in judge(summary, "ndcg@5")["sentences"])
    assert any("of the 5,000 held-out requests" in s and "over all 3,700 requests" in s for s in text)


def test_a_ranker_below_its_best_baseline_is_said_before_the_details():
    from suggest.replay import below_baseline

    summary = _summary(-0.05, 1e-6)  # ranker 0.25, user-history 0.30 on the held-out requests
    summary["ranker"] = {"ranker": {"validation": {
        "ndcg@5": 0.505, "ndcg@5_candidates": 0.529, "baselines": {"user-history": 0.521},
        "best_baseline": "user-history", "ranker_below_baseline": True}}}
    below = below_baseline(summary, "ndcg@5")
    assert below["value"] and below["baseline"] == "user-history"
    assert below["ranker"] == pytest.approx(0.25) and below["baseline_score"] == pytest.approx(0.3)
    assert below["validation"]["ranker"] == 0.505 and below["validation"]["baseline_score"] == 0.521
    summary["ranker_below_baseline"] = below
    sentences = judge(summary, "ndcg@5")["sentences"]
    assert sentences[1].startswith("Warning: on the held-out requests the ranker scores below "
                                   "user-history (ndcg@5 0.250 against 0.300, a significant gap)")
    # a gap the test does not find is said as such, beside the point estimates
    noisy = _summary(-0.05, 0.4)
    noisy["ranker_below_baseline"] = below
    said = judge(noisy, "ndcg@5")["sentences"][1]
    assert "against 0.300, a gap the paired test below does not find significant): the simple " \
           "baseline is the safer default until the ranker is shown to be better." in said
    # random is the floor: below it, the ranker learnt nothing that holds (a PM was told
    # random was "the safer default" to ship)
    floor = dict(noisy, ranker_below_baseline=dict(below, baseline="random"))
    said = judge(floor, "ndcg@5")["sentences"][1]
    assert said.endswith("random is the floor, not a default to ship: the ranker has learnt "
                         "nothing that holds on these requests.") and "safer" not in said
    # ... when the paired test finds the gap; on 14 requests, 5 of them differing, it did
    # not, and "learnt nothing" was a conclusion the sample could not carry
    floor["comparisons"].append({**noisy["comparisons"][1], "a": "random", "p_holm": 1.0})
    said = judge(floor, "ndcg@5")["sentences"][1]
    assert "a gap the paired test below does not find significant): random is the floor, not a " \
           "default to ship: this sample does not show the ranker doing better than chance." in said
    ahead = _summary(0.05, 1e-6)
    ahead["ranker_below_baseline"] = below_baseline(ahead, "ndcg@5")
    assert not ahead["ranker_below_baseline"]["value"]
    assert not any(s.startswith("Warning") for s in judge(ahead, "ndcg@5")["sentences"])
    assert below_baseline({"engines": {"rules": {"ndcg@5": 0.1}}}, "ndcg@5") is None


def test_a_ranker_below_the_baseline_still_gets_its_count_of_segments_tested():
    """The warning of a ranker below the baseline reused the name of the segment counts:
    the losses sentence lost its "of 40 segments"."""
    summary = _summary(-0.02, 0.01)
    summary["ranker_below_baseline"] = {"value": True, "on": "the held-out requests",
                                        "baseline": "user-history", "metric": "ndcg@5",
                                        "ranker": 0.28, "baseline_score": 0.3}
    said = " ".join(judge(summary, "ndcg@5", {"ranker - user-history": []},
                          {"ranker - user-history": {"segments": 40, "columns": 6}})["sentences"])
    assert "Warning: on the held-out requests the ranker scores below user-history" in said
    assert "to user-history in none of 40 segments" in said


def test_the_headline_engines_are_said_in_the_plainest_figure_too():
    """ndcg@5 means nothing to a product manager: the share of requests with an engaged item
    in the top 5 follows the ranking, for the learned engine, the rules and the best baseline."""
    summary = _summary(0.05, 1e-6)
    for name, rate in (("ranker", 0.46), ("rules", 0.28), ("user-history", 0.41), ("popular", 0.3)):
        summary["engines"][name]["hit_rate@5"] = rate
    text = judge(summary, "ndcg@5")["sentences"]
    assert ("In plain terms, an engaged item is in the top 5 for 46% of requests with ranker, "
            "28% with rules, 41% with user-history (hit rate, over the requests with one).") in text
    assert text.index(next(s for s in text if s.startswith("In plain terms"))) == \
        text.index(next(s for s in text if s.startswith("Highest"))) + 1


def test_a_win_over_a_best_baseline_silent_on_new_users_is_said_to_be_over_its_silence():
    """A statistician's log: 28% of held-out requests from new users, on whom user-history
    says nothing. "Yes: beats the best baseline (user-history)", while the ranker lost to
    popular on the new users and tied user-history on the returning ones."""
    summary = _summary(0.029, 1e-4)
    summary["engines"]["user-history"]["answered_rate"] = 0.715
    summary["newcomers"] = {"ranker": {"baseline": "popular", "requests": 138, "diff": -0.023,
                                       "ci_low": -0.048, "ci_high": 0.003}}
    returning = {"value": "true", "requests": 346, "diff": -0.006, "ci_low": -0.027,
                 "ci_high": 0.015}
    summary["segments"] = {"min_segment": 30, "pairs": {"ranker - user-history": {
        "returning_user": {"rows": [returning]}}}}
    verdict = judge(summary, "ndcg@5")
    assert "beats the best baseline (user-history, which answers 71.5% of requests) by +0.029" \
        in verdict["headline"]
    said = next(s for s in verdict["sentences"] if s.startswith("Users new"))
    assert said.endswith("So ranker's lead over user-history is shown only where user-history is "
                         "silent: user-history for returning users and popular for new ones may "
                         "do as well.")
    # a lead on the returning users too: the win is not the silence's alone
    returning.update(diff=0.04, ci_low=0.02, ci_high=0.06)
    assert "shown only where" not in " ".join(judge(summary, "ndcg@5")["sentences"])
    # a baseline that answers nearly every request is named as before
    summary["engines"]["user-history"]["answered_rate"] = 0.99
    assert "beats the best baseline (user-history) by" in judge(summary, "ndcg@5")["headline"]


def test_a_win_on_the_primary_metric_names_the_metrics_the_loser_wins_on():
    """'popular vs the rules: -0.015 ndcg@5 ...: rules is better', while popular found an
    engaged item significantly more often (hit rate, precision and recall at 5)."""
    from suggest.verdict import _difference

    def row(metric, diff, p):
        return {"a": "rules", "b": "popular", "metric": metric, "diff": diff, "ci_low": diff - 0.01,
                "ci_high": diff + 0.01, "p_holm": p, "family": 12, "mde": 0.01}

    main = row("ndcg@5", -0.015, 0.001)
    others = [main, row("hit_rate@5", 0.019, 0.0017), row("precision@5", 0.004, 0.01),
              row("mrr@5", -0.02, 0.001), row("recall@5", 0.01, 0.2), row("hit_rate@10", 0.03, 0.001)]
    assert _difference(main, "popular", "rules", others).endswith(
        "rules is better, though popular is significantly better on hit_rate@5, precision@5.")
    assert _difference(main, "popular", "rules").endswith("rules is better.")


def test_a_second_learned_engine_that_reads_as_the_first_gets_one_sentence():
    """A hybrid a hair from the ranker repeated the ranker's five bullets word for word; it
    now says its two differences in one sentence, unless a reading or a segment differs."""
    summary = _summary(0.05, 1e-6)
    summary["engines"]["hybrid"] = dict(summary["engines"]["ranker"], **{"ndcg@5": 0.3499})
    summary["comparisons"] += [dict(c, b="hybrid", diff=c["diff"] - 0.0001)
                               for c in summary["comparisons"]]
    none = {f"{b} - {a}": [] for b in ("ranker", "hybrid") for a in ("rules", "user-history")}
    text = judge(summary, "ndcg@5", none)["sentences"]
    said = [s for s in text if s.startswith("hybrid")]
    assert said == ["hybrid reads as ranker does: vs the rules +0.150 [+0.140, +0.160], p < 0.001; "
                    "vs the best baseline (user-history) +0.050 [+0.040, +0.060], p < 0.001 (Holm "
                    "as above); it significantly loses in no segment either."]
    # its sentence on newcomers too, when it would show the first's figures
    newcomer = {"baseline": "popular", "requests": 12, "diff": 0.2, "ci_low": 0.1, "ci_high": 0.3}
    summary["newcomers"] = {"ranker": newcomer, "hybrid": dict(newcomer, diff=0.2001)}
    summary["segments"] = {"min_segment": 30, "pairs": {}}
    text = judge(summary, "ndcg@5", none)["sentences"]
    assert [s.split(":")[0] for s in text if s.startswith("Users new")] == [
        "Users new to the engines (no request in the training part"]
    assert " ranker - popular " in next(s for s in text if s.startswith("Users new"))
    summary["newcomers"]["hybrid"] = dict(newcomer, diff=0.25)
    assert sum(s.startswith("Users new") for s in judge(summary, "ndcg@5", none)["sentences"]) == 2
    loss = {"column": "place", "value": "gym", "diff": -0.1, "ci_low": -0.2, "ci_high": -0.05,
            "requests": 60}
    text = judge(summary, "ndcg@5", {**none, "hybrid - rules": [loss]})["sentences"]
    assert any(s.startswith("hybrid vs the rules: ") for s in text)
    assert any(s.startswith("Where hybrid significantly loses") for s in text)


def test_a_learned_engine_whose_candidates_miss_most_engagements_is_said_to_hit_a_ceiling():
    """A PM's first screen said "ship the ranker" and never that its candidates held only half
    of the held-out orders: where it fails whatever it learns."""
    summary = _summary(0.05, 1e-6)
    summary["ranker"] = {"ranker": {"candidate_recall": {"test": 0.5}, "candidates_cap": 50}}
    said = judge(summary, "ndcg@5")["sentences"]
    assert ("ranker's candidates hold 50% of the held-out engagements (recall@50): the other 50% "
            "it never ranks, whatever it learns; its candidate sources (popular, the context's, "
            "the user's history, the rules) are its ceiling.") in said
    summary["ranker"]["ranker"]["candidate_recall"]["test"] = 0.9
    assert not any("candidates hold" in s for s in judge(summary, "ndcg@5")["sentences"])


def test_no_testable_segment_is_said_as_such_not_none_of_0():
    from suggest.verdict import _losses

    said = _losses("ranker", [("rules", [], {"segments": 0, "columns": 2}),
                              ("popular", [], {"segments": 12, "columns": 2})])
    assert "to rules: no segment was large enough to test" in said
    assert "to popular in none of 12 segments" in said and "of 0 segments" not in said
    # no segment at all, small or large (a log without context columns): size is not why
    said = _losses("ranker", [("rules", [], {"segments": 0, "columns": 1, "small": 0})])
    assert "to rules: no context column splits these requests into parts to test" in said
    said = _losses("ranker", [("rules", [], {"segments": 0, "columns": 1, "small": 3})])
    assert "to rules: no segment was large enough to test" in said


def test_segments_of_missing_values_alone_are_said_to_tell_nothing_of_where():
    """InCarMusic's rows carry one factor each: every value pools under 30 requests and only
    each column's "(missing)" segment is tested, the overall result restated 8 times; the
    verdict read "in none of 8 segments" as if every column had been read value by value."""
    from suggest.verdict import _losses

    said = _losses("ranker", [("rules", [], {"segments": 8, "columns": 8, "values": 0}),
                              ("popular", [], {"segments": 12, "columns": 2, "values": 9})], 30)
    assert said.endswith("to rules in none of 8 segments (each the requests missing a column's "
                         "value); to popular in none of 12 segments. No value of a context column "
                         "has 30 held-out requests, so the segments cannot say where on this log: `suggest "
                         "compare` shows it rule by rule, and a smaller --min-segment tests "
                         "smaller values.")


def test_a_catalog_no_larger_than_the_cutoff_is_cautioned_of():
    """A 5-item catalog: every engine that lists 5 items, random included, had hit@5 = 1.0,
    and nothing said so."""
    from suggest.verdict import judge

    engines = {"ranker": {"ndcg@5": 0.7}, "random": {"ndcg@5": 0.56}}
    said = judge({"engines": engines, "comparisons": [], "catalog_items": 5}, "ndcg@5")["sentences"]
    assert any(s.startswith("Caution: the catalog has 5 items, so a list of 5 can hold every")
               for s in said)
    said = judge({"engines": engines, "comparisons": [], "catalog_items": 6}, "ndcg@5")["sentences"]
    assert not any("can hold every" in s for s in said)


def test_one_user_making_most_scored_requests_is_cautioned_of(make_dataset):
    """93% of a tester's scored requests were one user's, and the verdict said "ranker is
    better" of the users at large."""
    from suggest.data import load
    from suggest.splits import leakage, split
    from suggest.verdict import judge

    rows = ["user,ts,item"] + [
        f"{'whale' if r % 10 else f'u{r}'},{(pd.Timestamp('2026-03-02', tz='UTC') + pd.Timedelta(hours=r)).isoformat()},"
        f"{'abc'[r % 3]}" for r in range(200)]
    log = load(make_dataset("\n".join(rows) + "\n",
                            columns={"user": "user", "item": "item", "time": "ts"}))
    part = split(log.requests, log.truth, 0.2, 0)
    share = leakage(part)["top_user"]
    assert share == pytest.approx(0.9)  # 36 of the 40 latest requests are the whale's
    said = judge({"engines": {"ranker": {"ndcg@5": 0.5}}, "comparisons": [],
                  "leakage": {"top_user": share}}, "ndcg@5")["sentences"]
    assert "Caution: one user makes 90% of the held-out requests with an engaged item." in said[0]
    said = judge({"engines": {"ranker": {"ndcg@5": 0.5}}, "comparisons": [],
                  "leakage": {"top_user": 0.3}}, "ndcg@5")["sentences"]
    assert not any("one user makes" in s for s in said)


def test_random_as_the_best_baseline_is_said_plainly():
    """Under --split user a tester's best baseline was random (popular 0.013, context-popular
    0.029, random 0.038): 'ranker vs the best baseline (random)' read as if random were
    the simplest thing that works."""
    summary = _summary(0.01, 0.3)
    summary["engines"].update({"random": {"ndcg@5": 0.4}, "popular": {"ndcg@5": 0.013},
                               "user-history": {"ndcg@5": 0.029}})
    summary["comparisons"][1].update(a="random")
    said = judge(summary, "ndcg@5")["sentences"]
    assert ("No simple baseline does better than random on these requests (popular 0.013, "
            "user-history 0.029, random 0.400 ndcg@5)") in " ".join(said)
    summary["engines"]["random"]["ndcg@5"] = 0.01  # random last: nothing said
    assert not any("better than random" in s for s in judge(summary, "ndcg@5")["sentences"])


def test_a_tie_for_the_best_baseline_is_said_with_a_test_that_reads_otherwise():
    """Two baselines with the same mean: the best was picked by name, silently, and the answer
    hung on it ("Yes" against one, "Not shown" against the other, whose test was not
    significant). The baseline the ranker is least clearly ahead of is the best, and the
    headline names the tie, and the other's p-value where it reads otherwise."""
    summary = _summary(0.05, 0.001)
    summary["engines"]["context-popular"] = {"ndcg@5": 0.3}  # ties with user-history
    row = dict(summary["comparisons"][1], a="context-popular", p_holm=0.2, significant=False)
    summary["comparisons"].append(row)
    verdict = judge(summary, "ndcg@5")
    # the one the ranker is least clearly ahead of: "Yes" must hold of every tied baseline
    assert verdict["best_baseline"] == "context-popular"
    assert verdict["headline"].startswith("Is the ranker worth it? Not shown yet:")
    assert ("the best baseline (context-popular, tied on ndcg@5 with user-history, taken as the "
            "one ranker is least clearly ahead of; against user-history ranker is significantly "
            "better (p = 0.001))") in verdict["headline"], verdict["headline"]
    # the same figures under the other names: the same answer (it hung on the names' order)
    row.update(p_holm=0.001, significant=True)
    summary["comparisons"][1].update(p_holm=0.2, significant=False)
    verdict = judge(summary, "ndcg@5")
    assert verdict["best_baseline"] == "user-history"
    assert verdict["headline"].startswith("Is the ranker worth it? Not shown yet:")
    # a tied baseline whose test reads alike is named without its p-value
    summary["comparisons"][1].update(p_holm=0.0005, significant=True)
    assert ("(context-popular, tied on ndcg@5 with user-history, taken as the one ranker is "
            "least clearly ahead of)") in judge(summary, "ndcg@5")["headline"]
    # a significant loss to a tied baseline comes first, whatever the other's p: "No"
    summary["comparisons"][1].update(diff=-0.05, ci_low=-0.06, ci_high=-0.04, p_holm=0.0004)
    verdict = judge(summary, "ndcg@5")
    assert verdict["best_baseline"] == "user-history" and verdict["headline"].startswith(
        "Is the ranker worth it? No:")
    summary["comparisons"][1].update(diff=0.05, ci_low=0.04, ci_high=0.06, p_holm=0.0005)
    # level to the three decimals shown is a tie too, said so
    summary["engines"]["user-history"]["ndcg@5"] = 0.2999
    assert ("tied on ndcg@5 with user-history to the three decimals shown"
            in judge(summary, "ndcg@5")["headline"])
    summary["engines"]["context-popular"]["ndcg@5"] = 0.29
    assert "tied" not in judge(summary, "ndcg@5")["headline"]


def test_pairs_compared_the_other_way_round_still_answer_the_headline():
    """replay(compare=[("ranker", "rules"), ("popular", "rules")]), pairs given b first, left
    the verdict without its first question: the comparisons were
    looked up one way round only. They are turned to read as the headline says them."""
    summary = _summary(0.05, 0.001)
    for c in summary["comparisons"]:
        c.update(a=c["b"], b=c["a"], diff=-c["diff"], ci_low=-c["ci_high"], ci_high=-c["ci_low"])
    assert judge(summary, "ndcg@5")["headline"] == (
        "Is the ranker worth it? Yes: it beats the rules by +0.150 and beats the best baseline "
        "(user-history) by +0.050 on ndcg@5, both significant.")
    rules_only = {"engines": {n: e for n, e in summary["engines"].items() if n != "ranker"},
                  "comparisons": [{"a": "user-history", "b": "rules", "metric": "ndcg@5",
                                   "diff": -0.1, "ci_low": -0.15, "ci_high": -0.05,
                                   "p_holm": 0.002, "mde": 0.03}]}
    verdict = judge(rules_only, "ndcg@5")
    assert verdict["headline"] == ("Do the rules beat the simplest thing that could work? No: the "
                                   "best baseline (user-history) beats them by +0.100 on ndcg@5.")
    assert ("The best baseline, user-history, vs the rules: +0.100 ndcg@5 [+0.050, +0.150], "
            "p = 0.002") in " ".join(verdict["sentences"])


def test_why_tests_were_counted_once_is_said_of_engines_metrics_and_reversed_pairs():
    """On a log of one engaged item a request, recall and hit rate are equal on every request
    and their tests were merged: the note said "two engines that score alike", which they
    were not (a statistician's review)."""
    from suggest.verdict import same_kinds, same_tests_text, twin_text

    rows = [{"a": "rules", "b": "ranker", "metric": "recall@5", "same_as": None},
            {"a": "rules", "b": "ranker", "metric": "hit_rate@5",
             "same_as": ["rules", "ranker", "recall@5"]}]
    assert same_kinds(rows) == ["metrics"]
    tests = {"headline": 1, "other": 3, "same": {"headline": 0, "other": 1},
             "same_kinds": same_kinds(rows)}
    said = same_tests_text(tests)
    assert said.startswith("; a further 1 other test had the same difference on every request")
    assert "as recall and hit rate are when each request has one engaged item" in said
    assert "engine" not in said
    assert twin_text(rows[1]) == " (the test of recall@5)"
    rows += [{"a": "popular", "b": "hybrid", "metric": "ndcg@5",
              "same_as": ["popular", "ranker", "ndcg@5"]},
             {"a": "ranker", "b": "rules", "metric": "ndcg@5",
              "same_as": ["rules", "ranker", "ndcg@5"]}]
    assert same_kinds(rows) == ["engines", "metrics", "reversed"]
    assert twin_text(rows[2]) == " (the test of ranker - popular)"
    assert same_tests_text({**tests, "same": {"headline": 0, "other": 0}}) == ""


def test_rules_that_show_fewer_items_than_the_cutoff_are_said_to():
    """A tester's `--k 3,10`: rules of at most 5 items were judged at 10 against baselines
    that fill all 10 places, and nothing said so."""
    summary = _summary(0.05, 0.001)
    summary["engines"]["rules"]["max_suggestions"] = 5
    for entry in summary["engines"].values():
        entry["ndcg@10"] = entry["ndcg@5"]
    text = judge(summary, "ndcg@10")["sentences"]
    caution = [s for s in text if "max_suggestions" in s]
    assert caution == ["Caution: the primary metric is at 10, but the rules list at most 5 "
                       "suggestions (max_suggestions): the places they leave empty count as "
                       "misses against engines that fill all 10; `suggest compare RUN --metric "
                       "ndcg@5` judges them at a cutoff they fill."]
    for entry in summary["engines"].values():
        entry.pop("ndcg@5")
    summary["comparisons"] = []
    caution = next(s for s in judge(summary, "ndcg@10")["sentences"] if "max_suggestions" in s)
    assert caution.endswith("replay with --k 5 as well to judge them at a cutoff they fill.")
    for entry in summary["engines"].values():
        entry["ndcg@5"] = entry["ndcg@10"]
    # a cutoff they fill already in the run: compare at it; two rule sets: the shorter's
    for entry in summary["engines"].values():
        entry["ndcg@2"] = entry["ndcg@5"]
    summary["engines"]["other"] = {"ndcg@5": 0.1, "ndcg@10": 0.1, "ndcg@2": 0.1,
                                   "rule_set": "o.yaml", "max_suggestions": 2}
    caution = next(s for s in judge(summary, "ndcg@10")["sentences"] if "max_suggestions" in s)
    assert "the rules list at most 5 and other lists at most 2 suggestions" in caution
    assert caution.endswith("`suggest compare RUN --metric ndcg@2` judges them at a cutoff they fill.")
    assert not any("max_suggestions" in s for s in judge(summary, "ndcg@2")["sentences"])


def test_values_pooled_for_their_size_are_not_read_as_no_column_splitting():
    """A tester's `mood` of four values, 17-24 requests each, all pooled into one 'other' of
    the whole sample: the verdict said no context column splits the requests."""
    import numpy as np
    import pandas as pd

    from suggest.replay import untested_parts
    from suggest.segments import segment_tests

    rng = np.random.default_rng(3)
    a, b = rng.random(80), rng.random(80)
    mood = pd.DataFrame({"mood": np.repeat(list("abcd"), [24, 21, 18, 17]),
                         "one": ["x"] * 80})
    families = segment_tests(a, b, mood, ["mood", "one"], min_size=30)
    assert sum(f["tests"] for f in families.values()) == 0
    assert untested_parts({"mood": families["mood"]}) > 0
    assert untested_parts({"one": families["one"]}) == 0
