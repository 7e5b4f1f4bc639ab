"""`suggest rules distil`: a ranker whose choices are a small rule set is recovered whole,
what varies between users is the ceiling no rule can pass, and the file runs as counted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from suggest.cli import main
from suggest.rules.distil import distil, fidelity


class RuleRanker:
    """A stand-in ranker whose top items follow context rules, plus ``personal`` items drawn
    from each user's own favourites."""

    def __init__(self, personal: int = 0):
        self.personal = personal

    def suggest(self, requests: pd.DataFrame, k: int) -> pd.DataFrame:
        gym = requests["location"].eq("gym").to_numpy()
        driving = requests["activity"].eq("driving").to_numpy()
        base = np.where(gym[:, None], np.array([["gym1", "gym2", "gym3", "gym4", "gym5"]]),
                        np.where(driving[:, None], np.array([["nav", "traffic", "radio", "news", "podcast"]]),
                                 np.array([["mail", "chat", "photos", "notes", "weather"]])))
        if self.personal:
            user = requests["user_id"].str[1:].astype(int).to_numpy()
            for j in range(self.personal):
                base[:, k - 1 - j] = np.char.add(f"fav{j}_", user.astype(str))
        n = len(requests)
        return pd.DataFrame({"request_id": np.repeat(requests["request_id"].to_numpy(), k),
                             "rank": np.tile(np.arange(1, k + 1), n), "item_id": base[:, :k].ravel()})


def _requests(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "request_id": [f"r{i}" for i in range(n)], "user_id": [f"u{u}" for u in rng.integers(0, 200, n)],
        "location": rng.choice(["home", "work", "gym", "other"], n),
        "activity": rng.choice(["still", "walking", "driving"], n),
        "battery": rng.uniform(0, 100, n)})


CONTEXT = {"location": "categorical", "activity": "categorical", "battery": "numeric"}


def test_a_ranker_that_follows_a_few_rules_is_distilled_into_them_with_full_fidelity():
    requests = _requests()
    found = distil(RuleRanker(), requests, CONTEXT, k=5, max_rules=10)
    assert found.summary["fidelity"] == pytest.approx(1.0)
    assert found.summary["ceiling"] == pytest.approx(1.0)
    assert len(found.rules) <= 4  # gym, driving (and whatever else pays), the default
    learned = {r["condition"]: r["suggest"] for r in found.rules}
    assert learned["location is gym"] == ["gym1", "gym2", "gym3", "gym4", "gym5"]
    assert found.rules[-1]["id"] == "default"
    # the curve grows to the fidelity the file gives, from the default alone
    curve = list(found.curve.values())
    assert curve[0] < curve[-1] == pytest.approx(found.summary["fidelity"])
    assert max(found.curve) == len(found.rules)  # keyed by the rules the file holds
    from suggest.cli import distilled_text

    said = distilled_text({**found.summary, "file": "d.yaml", "rules_found": [], "warning": None,
                           "held_out": "x", "replay_options": "", "dataset": "d", "model": "m"},
                          Path("d.yaml"),
                          "d.yaml")
    small = min(found.curve)
    assert f"{found.curve[small]:.2f} with {small}" in said and "the default among them" in said


def test_what_varies_between_users_is_the_ceiling_and_the_file_reproduces_what_was_counted():
    from suggest.rules import RulesEngine
    from suggest.rules.model import parse_rules

    requests = _requests(seed=1)
    found = distil(RuleRanker(personal=2), requests, CONTEXT, k=5, max_rules=10)
    # 3 of each list follow context, 2 are the user's own: no rule about context holds those
    assert 0.6 <= found.summary["ceiling"] < 0.7
    assert found.summary["fidelity"] <= found.summary["ceiling"] + 1e-12
    assert found.summary["fidelity"] > 0.59
    engine = RulesEngine(parse_rules(found.text)).fit()
    assert fidelity(engine.suggest(requests, 5), found.lists, 5, len(requests)) == pytest.approx(
        found.summary["fidelity"])
    # a rule's items are in the ranker's order where it fires
    gym = next(r for r in found.rules if r["condition"] == "location is gym")
    assert gym["suggest"][:3] == ["gym1", "gym2", "gym3"]


def _trained(folder, personal_weight: float):
    from suggest import synth
    from suggest.workflow import train_model

    synth.generate(synth.preset_config("context", users=50, days=14, seed=2, habit_weight=0.0,
                                       personal_weight=personal_weight), folder)
    train_model(folder / "dataset.yaml", folder / "model", test_share=0.2, n_estimators=30)
    return folder / "dataset.yaml", folder / "model"


def test_a_ranker_trained_where_the_truth_is_a_few_context_rules_distils_with_high_fidelity(tmp_path):
    import json

    dataset, model = _trained(tmp_path / "context-only", 0.0)
    out = tmp_path / "distilled.yaml"
    run = CliRunner().invoke(main, ["rules", "distil", str(model), "--dataset", str(dataset),
                                    "-o", str(out), "--max-rules", "12", "--json"])
    assert run.exit_code == 0, run.output
    found = json.loads(run.output)
    assert found["fidelity"] >= 0.75 and found["ceiling"] >= 0.88
    assert found["rules"] <= 12 and found["held_out"]
    text = out.read_text()
    assert "conflict: first" in text and f"Fidelity {found['fidelity']:.2f}" in text
    assert "description: 'when any other context: " in text.rstrip().splitlines()[-3]
    checked = CliRunner().invoke(main, ["rules", "check", str(out), "--dataset", str(dataset)])
    assert checked.exit_code == 0, checked.output
    again = CliRunner().invoke(main, ["rules", "distil", str(model), "--dataset", str(dataset),
                                      "-o", str(out)])
    assert again.exit_code == 2 and "--force" in again.output
    shown = CliRunner().invoke(main, ["rules", "distil", str(model), "--dataset", str(dataset),
                                      "-o", str(out), "--max-rules", "12", "--force"])
    largest = max(found["rules_found"], key=lambda r: r["requests"])
    # each rule's agreement is a share of the ranker's top k in its own contexts, said so
    assert (f"({largest['requests']:,} contexts; its list holds {largest['agreement']:.0%} of the "
            f"ranker's top 5 there)") in shown.output
    # where people also follow their own tastes, less of the ranker fits rules about context
    from suggest.workflow import distil_rules

    dataset, model = _trained(tmp_path / "personal", 1.0)
    personal = distil_rules(model, dataset, tmp_path / "personal.yaml", max_rules=12)
    assert personal["ceiling"] < found["ceiling"] - 0.03
    # another log whose request ids are the same (a world of the same generator): refused
    # by the training data's fingerprint, not distilled from that log's contexts
    other = CliRunner().invoke(main, ["rules", "distil", str(tmp_path / "context-only" / "model"),
                                      "--dataset", str(dataset), "-o", str(tmp_path / "other.yaml")])
    assert other.exit_code == 2, other.output
    assert "does not hold the requests" in other.output and "fingerprint" in other.output
    assert not (tmp_path / "other.yaml").exists()
    # a model saved from Python without dataset= does not say what it saw: the warning says so
    from suggest.data import load
    from suggest.ranker import RankerEngine

    log = load(dataset)
    RankerEngine(n_estimators=5).fit(log.requests, log.truth, log.catalog).save(
        tmp_path / "api", log.requests, log.truth, log.catalog)
    unsaid = distil_rules(tmp_path / "api", dataset, tmp_path / "api.yaml", max_rules=4)
    assert personal["warning"] is None
    assert unsaid["warning"].startswith("the model folder does not say what it was trained on")


def test_the_verdict_says_how_much_of_the_rankers_gain_readable_rules_keep():
    from suggest.verdict import _kept

    engines = {"rules": {"ndcg@5": 0.338}, "distilled": {"ndcg@5": 0.418}, "ranker": {"ndcg@5": 0.498}}
    assert "distilled keeps 50% of ranker's gain over the rules" in _kept(engines, "distilled", "ranker", "ndcg@5")
    engines["distilled"]["ndcg@5"] = 0.300  # below the rules: no share of a gain ("keeps -24%")
    below = _kept(engines, "distilled", "ranker", "ndcg@5")
    assert "distilled scores below the rules (ndcg@5 0.300 against 0.338" in below
    assert "keeps" not in below
    # whether the rules' lead is significant is said (a tester read it as a finding)
    test = {"a": "rules", "b": "distilled", "metric": "ndcg@5", "p_holm": 0.68}
    assert "distilled scores, though not significantly, below the rules" in _kept(
        engines, "distilled", "ranker", "ndcg@5", [test])
    assert "distilled scores significantly below the rules" in _kept(
        engines, "distilled", "ranker", "ndcg@5", [{**test, "p_holm": 0.01}])
    engines["ranker"]["ndcg@5"] = 0.330  # no gain to keep
    assert _kept(engines, "distilled", "ranker", "ndcg@5") == ""


def test_requests_without_a_list_and_repeated_items_are_counted_as_the_file_reproduces_them():
    from suggest.rules import RulesEngine
    from suggest.rules.model import parse_rules

    class Gappy(RuleRanker):
        def suggest(self, requests, k):
            lists = super().suggest(requests, k)
            lists.loc[lists["rank"] == 2, "item_id"] = lists.loc[lists["rank"] == 1, "item_id"].to_numpy()
            return lists[~lists["request_id"].isin(requests["request_id"].iloc[::10])]

    requests = _requests(seed=2)
    found = distil(Gappy(), requests, CONTEXT, k=5, max_rules=10)
    engine = RulesEngine(parse_rules(found.text)).fit()
    measured = fidelity(engine.suggest(requests, 5), found.lists, 5, len(requests))
    assert measured == pytest.approx(found.summary["fidelity"]) == pytest.approx(0.9 * 4 / 5)
    assert found.summary["fidelity"] <= found.summary["ceiling"] + 1e-12
    assert all(r["requests"] > 0 for r in found.rules[:-1])  # no rule another one hides


def test_a_model_trained_on_a_log_given_on_the_command_line_distils_from_that_log(tmp_path):
    """`suggest train april.csv --dataset D`: the model's requests are april's, not D's own
    log's; distil reads them there (the manifest names it) and says to replay that log."""
    import shutil

    from suggest import synth
    from suggest.workflow import distil_rules, train_model

    world = tmp_path / "world"
    synth.generate(synth.preset_config("context", users=30, days=10, seed=4), world)
    april = tmp_path / "elsewhere" / "april.csv"
    april.parent.mkdir()
    shutil.move(world / "log.csv", april)  # the description's own log is gone
    train_model(world / "dataset.yaml", tmp_path / "m", log=april, test_share=0.2, n_estimators=10)
    found = distil_rules(tmp_path / "m", world / "dataset.yaml", tmp_path / "d.yaml", max_rules=4)
    assert found["log"] == str(april) and found["requests"] > 0
