"""`suggest rules mine`: planted context effects are found, a log without them gives no rule,
the statistic is the stratified one, and only the training part is read."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from suggest import synth
from suggest.cli import main
from suggest.rules.mine import mine
from suggest.rules.mine import shuffled_within_users
from suggest.workflow import load_log


@pytest.fixture(scope="module")
def context_world(tmp_path_factory):
    out = tmp_path_factory.mktemp("mine") / "context"
    synth.generate(synth.preset_config("context", users=120, days=21, seed=4), out)
    return out / "dataset.yaml"


def _found(mined) -> dict[str, list]:
    return {r["label"]: [t[1] for t in r["targets"]] for r in mined.rules}


def test_planted_context_effects_are_mined_with_their_items(context_world):
    found = _found(mine(load_log(context_world), max_rules=100))
    # effects the world plants (synth.SHARED_EFFECTS): the strongest item of each comes first
    assert found["activity is driving"][0] == "navigation"
    assert found["weather is rain"][0] == "rain_alert"
    assert {"workout_tracker", "music_workout"} <= set(found["location is gym"])
    assert "sleep_sounds" in found["00:00-03:00"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_log_whose_items_do_not_depend_on_context_gives_no_rule(context_world, seed):
    mined = mine(shuffled_within_users(load_log(context_world), seed))
    assert mined.summary["tests"] > 10_000
    assert mined.summary["significant_pairs"] == 0 and mined.rules == []


def test_the_count_is_tested_against_each_users_own_rate_with_a_tail_never_too_small():
    from scipy.stats import binom, hypergeom

    from suggest.rules.mine import _cmh

    rng = np.random.default_rng(3)
    n, users = 400, rng.integers(0, 12, 400)
    condition = (rng.random(n) < 0.3 + 0.04 * users).astype(int)  # users differ in how often
    item = rng.random(n) < 0.05 + 0.03 * users + 0.15 * condition
    engaged = rng.random(n) < 0.8
    ids = np.where(condition == 1, 0, 1)[:, None]  # two conditions: holds, does not
    hits = np.stack([np.flatnonzero(item), np.zeros(item.sum(), int)], 1)
    stats = _cmh(ids, users, engaged, hits, 2, 1)
    # the textbook sums over the users' 2x2 tables
    frame = pd.DataFrame({"u": users, "c": condition, "y": item})[engaged]
    o = e = 0.0
    tails = []
    for _, t in frame.groupby("u"):
        nu, nc, m = len(t), t["c"].sum(), t["y"].sum()
        o += (t["c"] & t["y"]).sum()
        e += nc * m / nu
        tails.append(hypergeom(nu, m, nc).pmf(np.arange(nc + 1)))
    assert stats["observed"][0, 0] == o
    assert stats["expected"][0, 0] == pytest.approx(e)
    trials = min(frame["c"].sum(), frame["y"].sum())
    assert stats["p"][0, 0] == pytest.approx(binom.sf(o - 1, trials, e / trials))
    # the exact tail (the users' hypergeometric counts convolved, 2e-4 here) is no larger
    # than the p-value (a bound: 3.5e-3), and the effect is found
    exact = np.array([1.0])
    for pmf in tails:
        exact = np.convolve(exact, pmf)
    assert exact[int(o):].sum() <= stats["p"][0, 0] < 0.01
    assert stats["support"][0] == condition.sum()


def test_the_held_out_part_cannot_change_the_mined_file(context_world):
    log = load_log(context_world)
    first = mine(log, seed=0)
    assert first.text == mine(log, seed=0).text  # same seed, same file
    from suggest.splits import split

    test_ids = split(log.requests, log.truth, 0.2, 0).test["request_id"]
    rng = np.random.default_rng(0)
    held = log.truth["request_id"].isin(test_ids)
    items = log.truth["item_id"].unique()
    truth = log.truth.copy()
    truth.loc[held, "item_id"] = rng.choice(items, held.sum())
    requests = log.requests.copy()
    in_test = requests["request_id"].isin(test_ids)
    requests.loc[in_test, "location"] = "gym"
    changed = type(log)(**{**log.__dict__, "truth": truth, "requests": requests})
    assert mine(changed, seed=0).text == first.text


def test_the_cli_writes_a_file_rules_check_accepts_and_keeps_an_edited_one(context_world, tmp_path):
    out = tmp_path / "mined.yaml"
    run = CliRunner().invoke(main, ["rules", "mine", "--dataset", str(context_world), "-o", str(out),
                                    "--max-rules", "8"])
    assert run.exit_code == 0, run.output
    assert "8 rules mined" in run.output and "first suggestion was engaged" in run.output
    text = out.read_text()
    assert text.count("  - id: ") == 8 and text.count("  # support ") == 8
    checked = CliRunner().invoke(main, ["rules", "check", str(out), "--dataset", str(context_world)])
    assert checked.exit_code == 0 and "8 rules" in checked.output
    priorities = [int(line.split(":")[1]) for line in text.splitlines() if "priority:" in line]
    assert priorities == sorted(priorities, reverse=True) and priorities[0] > 0
    out.write_text(text + "# my edit\n")
    again = CliRunner().invoke(main, ["rules", "mine", "--dataset", str(context_world), "-o", str(out)])
    assert again.exit_code == 2 and "--force" in again.output
    assert out.read_text().endswith("# my edit\n")
    # rows the load rejected are counted, not dropped without a word
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(context_world.parent, bad)
    with open(bad / "log.csv", "a") as log:
        log.write("r9999999,u0001,notatime,UTC,home,still,false,95,sunny,wifi,343,news_briefing\n")
    rows_in = sum(1 for _ in open(bad / "log.csv")) - 1
    noted = CliRunner().invoke(main, ["rules", "mine", "--dataset", str(bad / "dataset.yaml"), "-o",
                                      str(tmp_path / "m2.yaml"), "--max-rules", "3"])
    assert noted.exit_code == 0, noted.output
    assert f"note: 1 of the log's {rows_in:,} rows was rejected and not mined" in noted.output


def test_a_replay_holds_mined_rules_beside_the_teams_and_never_takes_them_for_a_baseline(
        context_world, tmp_path):
    from importlib.resources import files

    from suggest.workflow import replay_log

    mined = tmp_path / "mined.yaml"
    mined.write_text(mine(load_log(context_world)).text)
    hand = files("suggest").joinpath("examples", "phone.yaml")
    summary = replay_log(context_world, tmp_path / "run", rules=[f"hand={hand}", f"mined={mined}"],
                         engines="rules,popular", latency_sample=0)
    engines, verdict = summary["engines"], summary["verdict"]
    assert set(engines) == {"rules", "popular", "mined"}
    assert engines["mined"]["rule_set"] == str(mined) and "rule_set" not in engines["rules"]
    # the mined rules score above popular here, yet the best baseline is popular
    assert engines["mined"]["ndcg@5"] > engines["popular"]["ndcg@5"]
    assert verdict["best_baseline"] == "popular"
    assert any(s.startswith(f"mined (rules from {mined}) vs the rules: ") for s in verdict["sentences"])
    assert summary["settings"]["rule_sets"] == {"mined": str(mined)}
    from suggest.report import render_run

    page = render_run(tmp_path / "run", "md")  # the verdict's table holds the rule set's rows
    assert "The rules and the other rule sets against each other and the baselines" in page and "mined - rules" in page
    # compared with the mined rules, the table rule by rule is of the mined file's rules
    from suggest.workflow import compare_run

    found = compare_run(tmp_path / "run", "mined", "popular")
    mined_ids = {r["id"] for r in yaml.safe_load(mined.read_text())["rules"]}
    assert found.rule_engine == "mined" and "the rule set mined's first suggestion" in found.to_table()
    assert {r["rule"] for r in found.rules} - {"(no rule)"} <= mined_ids
    assert compare_run(tmp_path / "run", "rules", "popular").rule_engine == "rules"


@pytest.mark.parametrize("second, message", [
    ("other.yaml", "a second rule set needs a name, NAME=FILE"),
    ("popular=other.yaml", "the name 'popular' is an engine's name"),
])
def test_a_second_rule_set_needs_a_name_of_its_own(second, message):
    from suggest.errors import SuggestError
    from suggest.workflow import rule_sets

    with pytest.raises(SuggestError, match=message):
        rule_sets(["rules/phone.yaml", second])
    assert rule_sets(["hand=rules/phone.yaml", "mined=m.yaml"]) == ("rules/phone.yaml",
                                                                    {"mined": "m.yaml"})


def test_a_rule_whose_items_are_never_engaged_in_the_later_part_did_not_hold():
    from suggest.rules.mine import _checked

    fit = pd.DataFrame({"request_id": [f"f{i}" for i in range(10)], "user_id": "u",
                        "location": ["gym"] * 5 + ["home"] * 5})
    check = pd.DataFrame({"request_id": [f"c{i}" for i in range(6)], "user_id": "u",
                          "location": ["gym"] * 3 + ["home"] * 3})
    proposal = {"condition": 0, "targets": [("item", "x")], "lifts": [3.0], "q": 0.001,
                "support": 5, "when": {"location": "gym"},
                "label": "location is gym", "slug": "location-gym"}
    fit_truth = pd.DataFrame({"request_id": ["f0", "f1"], "item_id": ["x", "x"]})
    never = _checked([proposal], fit, fit_truth, check,
                     pd.DataFrame({"request_id": ["c0", "c4"], "item_id": ["y", "y"]}), None, None, 5)
    assert never[0]["held_out"] == {"requests": 3, "precision": 0.0, "first": 0.0, "lift": 0.0}
    held = _checked([proposal], fit, fit_truth, check,
                    pd.DataFrame({"request_id": ["c0", "c4"], "item_id": ["x", "x"]}), None, None, 5)
    assert held[0]["held_out"]["lift"] == pytest.approx((1 / 3) / (2 / 6))


def test_a_rule_checked_on_a_few_requests_does_not_outrank_a_well_measured_one(context_world):
    """Priority is the first-suggestion share at the low end of its 95% Wilson interval: one
    hit in 6 requests (17%) gave priority 17, above rules measured on a thousand."""
    from scipy import stats

    from suggest.rules.mine import wilson_low

    # the Wilson interval's low end, from its definition: where the score test's z equals 1.96
    for hits, n in ((1, 6), (400, 1000), (0, 12), (12, 12)):
        low = wilson_low(hits, n)
        if hits:
            z = (hits / n - low) / np.sqrt(low * (1 - low) / n)
            assert z == pytest.approx(stats.norm.isf(0.025), abs=1e-4)  # 1.96
        else:
            assert low == 0.0
    assert round(100 * wilson_low(1, 6)) == 3 and round(100 * wilson_low(400, 1000)) == 37
    found = mine(load_log(context_world), max_rules=50).rules
    for r in found:
        held = r["held_out"]
        if held["first"] is not None:
            assert r["priority"] <= round(100 * held["first"])
            assert r["priority"] == round(100 * wilson_low(held["first"] * held["requests"],
                                                           held["requests"]))


def test_ids_stay_unique_and_numeric_cuts_follow_the_spread():
    from suggest.rules.mine import _ranges, rule_ids, slug

    assert rule_ids(["loc-a-x", "loc-a-x", "loc-a-x-2"]) == ["loc-a-x", "loc-a-x-2", "loc-a-x-2-2"]
    assert slug("Gym Café") == "gym-café" and slug("in_vehicle") == "in-vehicle"
    latitudes = _ranges("lat", np.random.default_rng(0).uniform(40.70, 40.80, 1000))
    assert len(latitudes) == 4 and latitudes[1][0] == {"lat": {"between": [40.727, 40.753]}}
    years = _ranges("year", np.arange(2015, 2025).repeat(10).astype(float))
    assert [c[0]["year"] for c in years][0] == {"lt": 2017} and len(years) == 4


def test_a_finished_replay_is_kept_unless_forced_and_a_refused_one_replaces_nothing(context_world, tmp_path):
    from suggest.errors import SuggestError
    from suggest.workflow import replay_log

    out = tmp_path / "run"
    replay_log(context_world, out, engines="popular", latency_sample=0)
    before = (out / "summary.json").read_bytes()
    with pytest.raises(SuggestError, match="holds a finished replay with other settings"):
        replay_log(context_world, out, engines="popular,random", latency_sample=0)
    assert (out / "summary.json").read_bytes() == before and (out / "results.parquet").exists()
    first = json.loads(before)
    again = replay_log(context_world, out, engines="popular", latency_sample=0)  # same: resumed
    assert again["engines"]["popular"]["ndcg@5"] == first["engines"]["popular"]["ndcg@5"]
    forced = replay_log(context_world, out, engines="popular,random", latency_sample=0, force=True)
    assert set(forced["engines"]) == {"popular", "random"}


def test_a_column_that_restates_another_gives_no_second_copy_of_its_rules(context_world,
                                                                           tmp_path):
    """A log's own `rainy` column, true exactly where the weather is rain, made every rain rule
    come twice (a PM's is_weekday beside the time's weekdays did): a condition holding on the
    same requests as an earlier one is tested once."""
    folder = context_world.parent
    log = pd.read_csv(folder / "log.csv", dtype=str, keep_default_na=False)
    log["rainy"] = np.where(log["weather"] == "rain", "true", "false")
    log.to_csv(tmp_path / "log.csv", index=False)
    spec = yaml.safe_load(context_world.read_text())
    spec["context"]["rainy"] = "boolean"
    spec["log"] = "log.csv"
    spec["catalog"]["path"] = str(folder / spec["catalog"]["path"])
    (tmp_path / "dataset.yaml").write_text(yaml.safe_dump(spec))
    labels = [r["label"] for r in mine(load_log(tmp_path / "dataset.yaml"), max_rules=100).rules]
    rain = [label for label in labels if "rain" in label]
    assert any(label.startswith("weather is rain") for label in rain)  # the first: kept
    # ("rainy is false" holds on no one weather value's requests: it stays)
    assert not any("rainy is true" in label for label in labels), labels


def test_a_rules_items_are_written_most_chosen_first(tmp_path):
    """A PM's mined rule put news_3 before news_1, chosen twice as often there, because its
    noisy lift was higher. At the gym, A is chosen three times as often as B, while B's lift
    is the higher (B is rare elsewhere): the rule shows A first."""
    from conftest import write_dataset

    rng = np.random.default_rng(5)
    rows, start = [], pd.Timestamp("2026-03-01", tz="UTC")
    others = [f"x{i}" for i in range(10)]
    for i in range(6000):
        gym = rng.random() < 0.5
        a, b = (0.45, 0.15) if gym else (0.30, 0.04)
        draw = rng.random()
        item = "A" if draw < a else "B" if draw < a + b else others[rng.integers(len(others))]
        rows.append((f"q{i}", f"u{rng.integers(300)}", item, "gym" if gym else "home",
                     (start + pd.Timedelta(minutes=10 * i)).isoformat()))
    pd.DataFrame(rows, columns=["request", "user", "item", "place", "time"]).to_csv(
        tmp_path / "log.csv", index=False)
    described = write_dataset(tmp_path, None, columns={"request": "request", "time": "time"},
                              context={"place": "categorical"})
    rule = next(r for r in mine(load_log(described)).rules if r["label"] == "place is gym")
    items = [t[1] for t in rule["targets"]]
    assert items[:2] == ["A", "B"] and rule["lifts"][0] < rule["lifts"][1], rule


def test_a_second_rule_set_written_name_colon_file_gets_the_right_hint(tmp_path):
    """A tester wrote --rules mine:mine2.yaml; the hint said --rules mined=mine:mine2.yaml,
    a file that does not exist."""
    from suggest.errors import SuggestError
    from suggest.workflow import rule_sets

    (tmp_path / "mine2.yaml").write_text("rules: []\n")
    given = f"mine:{tmp_path / 'mine2.yaml'}"
    with pytest.raises(SuggestError) as raised:
        rule_sets(["rules/phone.yaml", given])
    assert raised.value.hint.startswith(f"e.g. --rules mine={tmp_path / 'mine2.yaml'};")
    with pytest.raises(SuggestError) as raised:  # no such file either way: the usual example
        rule_sets(["rules/phone.yaml", "other.yaml"])
    assert raised.value.hint.startswith("e.g. --rules mined=other.yaml;")
