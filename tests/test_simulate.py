"""A simulated suggestion service (issue 21, item 4): what was shown with its exact
propensities, position-biased engagement, the truth, and a replay that reports the
counterfactual estimates beside that truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from suggest import simulate
from suggest.cli import main
from suggest.data.load import load
from suggest.errors import SuggestError
from suggest.synth import WorldConfig

RULES = Path(__file__).resolve().parents[1] / "rules" / "phone.yaml"


def shown_log(out: Path) -> pd.DataFrame:
    log = pd.read_csv(out / "log.csv", dtype={"item": str}, keep_default_na=False,
                      na_values={"position": [""], "propensity": [""]})
    return log[log["item"] != ""]


@pytest.fixture(scope="module")
def popular_world(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("popular")
    summary = simulate.generate(WorldConfig(users=80, days=14, seed=5), out, policy="popular",
                                epsilon=0.3, shown=4)
    return out, summary


@pytest.fixture(scope="module")
def rules_world(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("rules")
    summary = simulate.generate(WorldConfig(users=80, days=14, seed=2), out, policy="rules",
                                epsilon=0.2, shown=5, rules=RULES)
    return out, summary


def test_the_same_seed_writes_the_same_bytes(tmp_path, popular_world):
    out, _ = popular_world
    simulate.generate(WorldConfig(users=80, days=14, seed=5), tmp_path, policy="popular",
                      epsilon=0.3, shown=4)
    for name in ("log.csv", "truth_model.json", "dataset.yaml", "catalog.csv"):
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / simulate.ATTRACTION_FILE),
                                  pd.read_parquet(out / simulate.ATTRACTION_FILE))


def test_the_logged_propensity_is_how_often_the_item_is_shown_there(popular_world):
    """popular shows one list everywhere: at position 1 its top item appears with probability
    (1 - epsilon) + epsilon / N, any other item with epsilon / N, and each row says so."""
    out, summary = popular_world
    log, n_items, epsilon = shown_log(out), summary["items"], 0.3
    requests = log["request_id"].nunique()
    first = log[log["position"] == 1]
    top = first["item"].value_counts()
    expected_top = (1 - epsilon) + epsilon / n_items
    assert abs(top.iloc[0] / requests - expected_top) < 4 * np.sqrt(expected_top * (1 - expected_top) / requests)
    assert np.allclose(first.loc[first["item"] == top.index[0], "propensity"], expected_top)
    others = first[first["item"] != top.index[0]]
    assert np.allclose(others["propensity"], epsilon / n_items)
    rare = top.iloc[1:] / requests  # each other item: about epsilon / N of the requests
    assert abs(rare.mean() - epsilon / n_items) < 0.2 * epsilon / n_items
    assert abs(summary["service"]["explored_share"] - epsilon) < 0.02
    assert (log.groupby("request_id")["position"].agg(["min", "max", "count"])
            .eq(pd.Series({"min": 1, "max": 4, "count": 4})).all().all())


def test_engagement_follows_examination_times_attraction(popular_world):
    """Per position, the engaged share of shown rows is the mean of (1 / position) x the
    item's attraction in the truth file, within sampling error; and it falls with position."""
    out, _ = popular_world
    log = shown_log(out)
    attraction = pd.read_parquet(out / simulate.ATTRACTION_FILE).set_index(["request_id", "item"])
    at = attraction["attraction"].reindex(pd.MultiIndex.from_frame(log[["request_id", "item"]])).fillna(0)
    expected = at.to_numpy() / log["position"].to_numpy()
    for position in range(1, 5):
        rows = log["position"].to_numpy() == position
        p = expected[rows]
        observed = log["engaged"].to_numpy()[rows].sum()
        assert abs(observed - p.sum()) < 4 * np.sqrt((p * (1 - p)).sum()) + 1, position
    share = log.groupby("position")["engaged"].mean()
    assert share[1] > share[4]


def test_the_truth_gives_the_logging_policy_value_the_generator_counted(rules_world):
    out, summary = rules_world
    truth = simulate.service_truth(out / "dataset.yaml")
    assert truth is not None and truth.examination == {1: 1.0, 2: 0.5, 3: 1 / 3, 4: 0.25, 5: 0.2}
    service = json.loads((out / "truth_model.json").read_text())["service"]
    assert service["logging_policy"] == "rules (phone.yaml)" and service["epsilon"] == 0.2
    # the policy's own lists: the rows it would show, rebuilt from the rows of exploit requests
    from suggest.rules import load_rules
    from suggest.workflow import fitted_rules
    import tempfile
    from suggest.synth import generate

    with tempfile.TemporaryDirectory() as plain:
        generate(WorldConfig(users=80, days=14, seed=2), plain)
        log = load(Path(plain) / "dataset.yaml")
        lists = fitted_rules(load_rules(RULES), log).suggest(log.requests, 5)
    value = truth.value(lists, log.requests["request_id"], 5)
    assert value == pytest.approx(summary["service"]["logging_value"], abs=1e-6)
    assert 0 < value < 1


def test_a_request_the_rules_leave_empty_keeps_one_row_without_an_item(rules_world):
    out, summary = rules_world
    raw = pd.read_csv(out / "log.csv", dtype=str, keep_default_na=False)
    empty = raw[raw["item"] == ""]
    assert len(empty) and (empty["position"] == "").all() and (empty["propensity"] == "").all()
    assert raw["request_id"].nunique() == summary["requests"]
    loaded = load(out / "dataset.yaml")
    assert loaded.report.rows_rejected == 0 and len(loaded.requests) == summary["requests"]
    assert loaded.report.shown["positions"] == [1, 5]


def test_replay_reports_estimates_beside_the_truth_and_says_what_to_trust(tmp_path, rules_world):
    out, _ = rules_world
    result = CliRunner().invoke(main, ["replay", "--dataset", str(out / "dataset.yaml"), "--rules",
                                       str(RULES), "--engines", "rules,popular,random", "--k", "3,5",
                                       "-o", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "What each engine would have earned" in result.output
    assert "Trust the IPS estimate" in result.output and "most likely rules" in result.output
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    found = summary["counterfactual"]  # an entry per engine, as the issue asks
    assert summary["counterfactual_verdict"]["k"] == 5
    assert summary["counterfactual_verdict"]["recommended"] == "ips"
    assert set(found) == {"rules", "popular", "random"}
    assert set(summary["oracle"]) == {"rules", "popular", "random"}
    rules = found["rules"]
    for name in ("ips", "snips", "dr"):
        assert set(rules[name]) >= {"value", "ci_low", "ci_high"}
    assert rules["ips"]["ci_low"] <= summary["oracle"]["rules"] <= rules["ips"]["ci_high"]
    # an estimate lies in its own interval, and none is below what an engine can earn (0)
    for engine in found.values():
        for name in ("ips", "snips", "dr"):
            v = engine[name]
            assert v["value"] >= 0 and v["ci_low"] <= v["value"] <= v["ci_high"], (name, v)
    assert rules["matched"] > 0.6 > found["random"]["matched"]
    # the truth of a random list is far below the rules' here
    assert summary["oracle"]["random"] < summary["oracle"]["rules"]
    # the verdict warns that its plain metrics favour the logging engine, and the report says it
    assert any("This log holds only what was shown" in s for s in summary["verdict"]["sentences"])
    report = CliRunner().invoke(main, ["report", str(tmp_path / "run"), "--a", "rules", "--b",
                                       "popular", "-o", str(tmp_path / "r.html")])
    assert report.exit_code == 0, report.output
    page = (tmp_path / "r.html").read_text()
    assert "id='counterfactual'" in page and "What each engine would have earned" in page
    assert page.index("id='verdict'") < page.index("id='counterfactual'") < page.index("id='engines'")
    assert f"{summary['oracle']['random']:.3f}" in page  # the true values, in the table
    import html

    method = html.unescape(page[page.index("id='method'"):])  # how the estimates are made too
    assert "counts its engagement divided by the logging policy's propensity (IPS" in method
    assert "gamma interval" in method and "Effective sample size" in method


def test_a_plain_log_has_no_counterfactual_section(tmp_path):
    from suggest.synth import generate

    generate(WorldConfig(users=20, days=7, seed=1), tmp_path / "w")
    result = CliRunner().invoke(main, ["replay", "--dataset", str(tmp_path / "w" / "dataset.yaml"),
                                       "--engines", "popular,random", "-o", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert not {"counterfactual", "counterfactual_verdict", "oracle"} & set(summary)
    assert "What each engine would have earned" not in result.output


@pytest.mark.parametrize("args, message", [
    (["--epsilon", "0.2"], "--epsilon without --logging-policy"),
    (["--shown", "3", "--rules", "r.yaml"], "--rules, --shown without --logging-policy"),
    (["--logging-policy", "random", "--epsilon", "0.2"], "--epsilon 0.2 with --logging-policy random"),
    (["--logging-policy", "rules", "--epsilon", "1.5"], "--epsilon 1.5 is not a share"),
    (["--logging-policy", "popular", "--shown", "0"], "--shown 0 is not allowed"),
    (["--logging-policy", "popular", "--rules", "r.yaml"], "--rules with --logging-policy popular"),
    (["--logging-policy", "rules", "--rules", "nowhere.yaml"], "cannot read the rule file nowhere.yaml"),
    (["--logging-policy", "popular", "--extra-items", "10000", "--users", "2000"],
     "attractions to its truth"),
])
def test_settings_a_service_cannot_honour_are_refused(tmp_path, args, message):
    result = CliRunner().invoke(main, ["generate", "--users", "5", "--days", "2", *args,
                                       "-o", str(tmp_path / "w")])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "w" / "log.csv").exists()


def test_check_service_refuses_more_items_than_the_catalog_holds():
    with pytest.raises(SuggestError, match="show from 1 to 33 items"):
        simulate.check_service("popular", 0.1, 34, 33)


def test_the_headline_on_a_log_of_what_was_shown_says_it_is_the_plain_metrics(tmp_path, rules_world):
    """Under the caution that the plain metrics favour the engine that chose what was shown,
    the answer to "is the ranker worth it?" says it is theirs."""
    out, _ = rules_world
    result = CliRunner().invoke(main, ["replay", "--dataset", str(out / "dataset.yaml"), "--rules",
                                       str(RULES), "--engines", "rules,ranker,popular",
                                       "-o", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    verdict = json.loads((tmp_path / "run" / "summary.json").read_text())["verdict"]
    assert verdict["sentences"][0].startswith("This log holds only what was shown")
    assert verdict["headline"].startswith("Is the ranker worth it?")
    assert verdict["headline"].endswith("by the plain metrics (which favour the engine that "
                                        "chose what was shown).")
    assert verdict["sentences"][1] == verdict["headline"]


def test_rules_mined_from_a_log_of_what_was_shown_say_what_they_can_only_rediscover(
        rules_world, tmp_path):
    """Only what the logging policy showed could be engaged: a mined file (and its summary)
    says so first, instead of reading like rules found in what people chose freely."""
    out, _ = rules_world
    mined = CliRunner().invoke(main, ["rules", "mine", "--dataset", str(out / "dataset.yaml"),
                                      "-o", str(tmp_path / "mined.yaml")])
    assert mined.exit_code == 0, mined.output
    said = "this log holds what was shown: people could engage only with what the logging policy"
    assert f"caution: {said}" in mined.output
    head = "".join(line[2:] + " " for line in (tmp_path / "mined.yaml").read_text().splitlines()
                   if line.startswith("# "))
    assert "Caution: " + said in head
