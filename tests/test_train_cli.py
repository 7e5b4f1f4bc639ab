"""`suggest train` and `suggest replay --model` as a user runs them: held-out parts that
line up, rejected rows counted and kept, rule files and models that do not fit refused."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from suggest import synth
from suggest.cli import main

from conftest import write_dataset

ROOT = Path(__file__).resolve().parents[1]
PHONE = str(ROOT / "rules" / "phone.yaml")
FAST = ["--n-estimators", "15"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A small synthetic world whose log has one row that cannot be read."""
    folder = tmp_path_factory.mktemp("world")
    synth.generate(synth.preset_config("default", users=30, days=10, seed=5), folder)
    log = folder / "log.csv"
    lines = log.read_text(encoding="utf-8").splitlines()
    header, first = lines[0].split(","), lines[1].split(",")
    first[header.index("timestamp")] = "notatime"
    log.write_text("\n".join(lines + [",".join(first)]) + "\n", encoding="utf-8")
    return folder / "dataset.yaml", len(lines) + 1  # the bad row's line number


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_train_with_a_test_share_replays_with_model_and_counts_rejects(world, tmp_path):
    dataset, bad_line = world
    trained = run("train", "--dataset", dataset, "--rules", PHONE, "--test-share", "0.2", *FAST,
                  "-o", tmp_path / "m", "--json")
    assert trained.exit_code == 0, trained.output
    summary = json.loads(trained.stdout)
    assert summary["rejected_rows"] == 1 and summary["held_out"].startswith("by time")
    rejects = pd.read_csv(summary["rejects_file"])
    assert rejects["line"].tolist() == [bad_line] and "notatime" in rejects["reason"].iloc[0]
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["dataset"]["name"] == yaml.safe_load(dataset.read_text())["name"]
    assert manifest["dataset"]["description"] == str(dataset)
    replayed = run("replay", "--dataset", dataset, "--rules", PHONE, "--model", tmp_path / "m",
                   "--engines", "rules,ranker,hybrid", "-o", tmp_path / "r")
    assert replayed.exit_code == 0, replayed.output
    assert "rejected log rows: 1 (" in replayed.output
    assert pd.read_csv(tmp_path / "r" / "rejects.csv")["line"].tolist() == [bad_line]
    # the report's data card says where the rejected rows are
    assert run("report", tmp_path / "r", "-o", tmp_path / "r" / "r.md").exit_code == 0
    assert "1 rejected (1: " in (tmp_path / "r" / "r.md").read_text() and \
        f"they are in {tmp_path / 'r' / 'rejects.csv'}." in (tmp_path / "r" / "r.md").read_text()
    written = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert 0 < written["engines"]["ranker"]["ndcg@5"] <= 1
    # the hybrid is the given model with its rules' blocks, not a ranker trained afresh
    model = {"model": manifest["training"]["fingerprint"]}
    assert written["settings"]["engines"]["hybrid"] == written["settings"]["engines"]["ranker"] == model
    assert written["ranker"]["hybrid"]["trees"] == written["ranker"]["ranker"]["trees"] <= 15
    assert "trained with other rules" not in replayed.output
    # rules edited since the model was trained: the replay says which rules each engine used
    edited = yaml.safe_load(Path(PHONE).read_text())
    edited["rules"] = edited["rules"][:-1]
    (tmp_path / "edited.yaml").write_text(yaml.safe_dump(edited))
    other = run("replay", "--dataset", dataset, "--rules", tmp_path / "edited.yaml", "--model",
                tmp_path / "m", "--engines", "rules,ranker", "-o", tmp_path / "r2")
    assert other.exit_code == 0, other.output
    assert "was trained with other rules than --rules" in " ".join(other.output.split())
    # said in the verdict, before its comparisons (a tester read "ranker vs the rules" first
    # and the warning only after the whole table)
    said = json.loads((tmp_path / "r2" / "summary.json").read_text())["verdict"]["sentences"]
    caution = next(i for i, s in enumerate(said) if "was trained with other rules than --rules" in s)
    assert said[caution].startswith("Caution: --model ") and caution == 0  # before the answer
    compared = run("compare", tmp_path / "r2")  # compare's verdict line says it too
    assert compared.exit_code == 0 and "Caution: --model " in compared.output
    # the card is the model's training, the same as its own validation's parts
    card = written["ranker"]["ranker"]
    assert card["train_requests"] == manifest["training"]["requests"] == (
        card["validation"]["train_requests"] + card["validation"]["valid_requests"])
    assert card["training_window"] == manifest["training"]["window"]
    assert not any("not on this replay's training part" in w for w in written["warnings"])
    # replayed on another split: the baselines learn from more than the model did
    wider = run("replay", "--dataset", dataset, "--rules", PHONE, "--model", tmp_path / "m",
                "--engines", "popular,ranker,hybrid", "--test-share", "0.1", "-o", tmp_path / "r3")
    assert wider.exit_code == 0, wider.output
    kept = json.loads((tmp_path / "r3" / "summary.json").read_text())
    assert kept["ranker"]["ranker"]["train_requests"] == manifest["training"]["requests"] \
        < kept["train_requests"]
    said = (f"the model of the ranker and the hybrid was trained on {manifest['training']['requests']:,} requests to "
            f"{manifest['training']['window'][1]}, not on this replay's training part "
            f"({kept['train_requests']:,} requests")
    assert sum(said in w for w in kept["warnings"]) == 1  # one model, one warning
    # printed under the verdict, before the table of engines
    assert said in wider.output and wider.output.index(said) < wider.output.index("engine ")


def test_the_hybrid_of_a_model_trained_without_rules_is_refused(world, tmp_path):
    dataset, _ = world
    assert run("train", "--dataset", dataset, *FAST, "-o", tmp_path / "m").exit_code == 0
    result = run("replay", "--dataset", dataset, "--rules", PHONE, "--model", tmp_path / "m",
                 "--engines", "ranker,hybrid", "-o", tmp_path / "r")
    assert result.exit_code == 2 and "trained without rules" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "r" / "summary.json").exists()


def test_train_refuses_to_replace_a_model_unless_forced(world, tmp_path):
    dataset, _ = world
    assert run("train", "--dataset", dataset, *FAST, "-o", tmp_path / "m").exit_code == 0
    (tmp_path / "m" / "keep.txt").write_text("mine")
    refused = run("train", "--dataset", dataset, *FAST, "-o", tmp_path / "m")
    assert refused.exit_code == 2 and "already exists" in refused.output and "--force" in refused.output
    assert (tmp_path / "m" / "keep.txt").exists()
    forced = run("train", "--dataset", dataset, *FAST, "-o", tmp_path / "m", "--force")
    assert forced.exit_code == 0, forced.output
    assert (tmp_path / "m" / "manifest.json").exists() and not (tmp_path / "m" / "keep.txt").exists()
    # --force replaces a model folder only: never the folder of the log named by mistake
    work = Path(dataset).parent
    before = sorted(p.name for p in work.iterdir())
    wiped = run("train", "--dataset", dataset, *FAST, "-o", work, "--force")
    assert wiped.exit_code == 2 and "is not a model folder" in wiped.output, wiped.output
    assert sorted(p.name for p in work.iterdir()) == before
    # is it worth it over the simplest thing: the baselines' validation figures, best first
    baselines = json.loads((tmp_path / "m" / "manifest.json").read_text())["validation"]["baselines"]
    best = max(baselines, key=baselines.get)
    assert f"the baselines on the same requests: {best} {baselines[best]:.4f}" in forced.output


@pytest.mark.parametrize("out", [".", "..", "here"])
def test_train_refuses_the_folder_it_runs_in(world, tmp_path, monkeypatch, out):
    """-o . (or a folder that holds the one the command runs in) would be replaced whole
    with --force: refused before any work, nothing written or removed."""
    dataset, _ = world
    here = tmp_path / "here"
    here.mkdir()
    (here / "keep.txt").write_text("mine")
    monkeypatch.chdir(here)
    refused = run("train", "--dataset", dataset, *FAST, "-o", out if out != "here" else str(here),
                  "--force")
    assert refused.exit_code == 2 and "is the folder you are in" in refused.output
    assert "Traceback" not in refused.output and (here / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in here.iterdir()) == ["keep.txt"]


@pytest.mark.parametrize("command", ["train", "replay"])
def test_a_rule_file_that_does_not_fit_the_dataset_is_refused(world, tmp_path, command):
    dataset, _ = world
    rules = tmp_path / "r.yaml"
    rules.write_text("version: 1\nrules:\n  - id: r1\n    when: {mood: happy}\n    suggest: [x]\n")
    result = run(command, "--dataset", dataset, "--rules", rules, *(FAST if command == "train" else []),
                 "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert "does not fit" in result.output and "unknown field 'mood'" in result.output
    assert not (tmp_path / "out").exists()


def test_a_model_from_another_dataset_is_refused_naming_the_columns(world, tmp_path):
    dataset, _ = world
    rows = "\n".join(f"u{i % 7},item{i % 5},{['happy', 'sad'][i % 2]}" for i in range(80))
    other = write_dataset(tmp_path / "other", "user,item,mood\n" + rows + "\n", name="log.csv",
                          context={"mood": {"type": "categorical"}})
    trained = run("train", "--dataset", other, *FAST, "-o", tmp_path / "m")
    assert trained.exit_code == 0, trained.output
    result = run("replay", "--dataset", dataset, "--model", tmp_path / "m", "--engines", "ranker",
                 "-o", tmp_path / "r")
    assert result.exit_code == 2
    assert "does not fit" in result.output and "mood" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "r" / "summary.json").exists()


def test_train_and_replay_share_a_split_by_user_and_another_split_is_refused(world, tmp_path):
    dataset, _ = world
    trained = run("train", "--dataset", dataset, "--rules", PHONE, "--test-share", "0.2",
                  "--split", "user", *FAST, "-o", tmp_path / "m", "--json")
    assert trained.exit_code == 0, trained.output
    reported = json.loads(trained.stdout)
    assert reported["held_out"].startswith("seeded split by users")
    # validated as it is tested: on users it has never seen
    assert reported["validation"]["split"] == "seeded by users, new to the ranker"
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["params"]["validation_by"] == "user"
    same = run("replay", "--dataset", dataset, "--rules", PHONE, "--model", tmp_path / "m",
               "--engines", "rules,ranker", "--split", "user", "-o", tmp_path / "r")
    assert same.exit_code == 0, same.output
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["leakage"]["users_in_both"] == 0
    other = run("replay", "--dataset", dataset, "--rules", PHONE, "--model", tmp_path / "m",
                "--engines", "rules,ranker", "-o", tmp_path / "r2")
    assert other.exit_code == 2 and "was trained on" in other.output
    assert "--split user" in other.output  # the options it was trained with, to replay it
    alone = run("train", "--dataset", dataset, "--split", "user", *FAST, "-o", tmp_path / "m2")
    assert alone.exit_code == 2 and "--test-share" in alone.output


def test_a_model_refused_for_its_split_names_the_split_to_replay_it_with(tmp_path):
    """A model trained with the default split, replayed with --split user, was told to use
    "--test-share 0.2 --seed 0", which it had: the split is what differed."""
    from types import SimpleNamespace

    from suggest.replay import _trained_where

    log = str(tmp_path / "log.csv")
    said = {"log": log, "held_out": "by time: the latest 20% of requests",
            "replay_options": "--test-share 0.2 --seed 0"}
    model = SimpleNamespace(manifest_={"dataset": said})
    assert "(--test-share 0.2 --seed 0, without --split)" in _trained_where(model, log)
    said["replay_options"] += " --split user"
    assert "(--test-share 0.2 --seed 0 --split user)" in _trained_where(model, log)


def test_tune_keeps_the_best_settings_found_and_ablation_reports_each_feature_group(world, tmp_path):
    from suggest.ranker import RankerEngine
    from suggest.ranker.model import SEARCH, feature_groups

    dataset, _ = world
    trained = run("train", "--dataset", dataset, "--rules", PHONE, *FAST, "--tune", "4",
                  "--ablation", "-o", tmp_path / "m", "--json")
    assert trained.exit_code == 0, trained.output
    v = json.loads(trained.stdout)["validation"]
    tried, chosen = v["tuning"]["tried"], v["tuning"]["chosen"]
    assert len(tried) >= 2 and set(chosen) == set(SEARCH)
    scores = [t["score"] for t in tried if t["score"] is not None]
    assert v["ndcg@5"] == max(scores) >= tried[0]["score"]  # never worse than the defaults
    assert v["ranker_below_baseline"] == (v["ndcg@5"] < max(v["baselines"].values()))
    groups = [r["left_out"] for r in v["ablation"]]
    engine = RankerEngine.load(tmp_path / "m")
    assert groups[0] is None and set(groups[1:]) == set(feature_groups(engine.features_.names_))
    full = v["ablation"][0]["score"]
    assert all(r["change"] == pytest.approx(r["score"] - full) for r in v["ablation"][1:])
    assert {k: getattr(engine, k) for k in SEARCH} == chosen  # the model carries them
    # a setting left to its default is said as such, not as "None" (num_leaves: by size)
    from suggest.report.terminal import train_text

    summary = json.loads(trained.stdout)
    summary["validation"]["tuning"]["chosen"].update(num_leaves=None, truncation_level=None)
    said = next(line for line in train_text(summary).splitlines() if line.startswith("tuning:"))
    assert "None" not in said and f"num_leaves=by size ({v['num_leaves']})" in said
    assert "truncation_level=LightGBM's default" in said
    # the objective reported is the one the kept trees were grown with
    assert v["objectives"]["chosen"] == chosen["objective"] == engine.objective
    # and every objective the search scored is among those tried, with its best score (a
    # tester's manifest chose lambdarank but listed only rank_xendcg as tried)
    scored = {t["objective"] for t in tried if t["score"] is not None}
    assert chosen["objective"] in v["objectives"]["tried"] and scored <= set(v["objectives"]["tried"])
    for objective in scored:
        assert v["objectives"]["tried"][objective] == max(
            t["score"] for t in tried if t["objective"] == objective and t["score"] is not None)
    from suggest.data import load

    assert len(engine.suggest(load(dataset).requests.head(5), 3)) > 0  # and still serves


def test_replay_and_train_warn_of_columns_read_as_context_without_being_declared(tmp_path):
    """A column the description does not name (a folder key, an export's extra field) is
    read as context and changes every engine's slices: the output must say so."""
    rows = "\n".join(f"u{i % 7},item{i % 5},{['happy', 'sad'][i % 2]},s{i % 3}" for i in range(80))
    path = write_dataset(tmp_path, "user,item,mood,shard\n" + rows + "\n",
                         context={"mood": {"type": "categorical"}})
    said = "1 column(s) the description does not declare were read as context"
    replayed = run("replay", "--dataset", path, "--engines", "popular,context-popular",
                   "-o", tmp_path / "r")
    assert replayed.exit_code == 0, replayed.output
    assert said in replayed.output and "shard (categorical)" in replayed.output
    assert replayed.output.count(said) == 1  # under the verdict, not again under the rejects
    report = run("report", tmp_path / "r", "-o", tmp_path / "r" / "report.html")
    assert report.exit_code == 0, report.output
    assert said in (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    trained = run("train", "--dataset", path, *FAST, "-o", tmp_path / "m", "--json")
    assert trained.exit_code == 0, trained.output
    assert any(said in w for w in json.loads(trained.stdout)["load_warnings"])
    declared = write_dataset(tmp_path / "d", "user,item,mood,shard\n" + rows + "\n",
                             context={"mood": {"type": "categorical"}}, ignore=["shard"])
    quiet = run("replay", "--dataset", declared, "--engines", "popular", "-o", tmp_path / "q")
    assert quiet.exit_code == 0 and said not in quiet.output


def test_clip_on_a_log_that_is_not_of_what_was_shown_is_refused(world, tmp_path):
    dataset, _ = world
    result = run("replay", "--dataset", dataset, "--engines", "popular", "--clip", "5",
                 "-o", tmp_path / "r")
    assert result.exit_code == 2 and "not a log of what was shown" in result.output
    assert "drop --clip" in result.output and not (tmp_path / "r" / "summary.json").exists()



def test_a_clip_below_one_is_refused_before_any_work(world, tmp_path):
    """A weight is 1 / propensity: a cap below 1 would shrink every weight, the logging
    policy's own choices' too. Refused at once, nothing written."""
    dataset, _ = world
    result = run("replay", "--dataset", dataset, "--engines", "popular", "--clip", "0.5",
                 "-o", tmp_path / "r")
    assert result.exit_code == 2 and "--clip must be at least 1, not 0.5" in result.output
    assert not (tmp_path / "r").exists()


def test_engines_may_name_a_named_rule_set_and_a_bad_test_share_names_its_option(world, tmp_path):
    dataset, _ = world
    named = run("replay", "--dataset", dataset, "--rules", PHONE, "--rules", f"v2={PHONE}",
                "--engines", "rules,v2", "-o", tmp_path / "r")
    assert named.exit_code == 0, named.output
    assert set(json.loads((tmp_path / "r" / "summary.json").read_text())["engines"]) == {"rules", "v2"}
    whole = run("replay", "--dataset", dataset, "--engines", "popular", "--test-share", "1",
                "-o", tmp_path / "r1")
    assert whole.exit_code == 2
    assert "--test-share must be between 0 and 1 (both excluded), not 1" in whole.output


def test_a_replay_of_a_model_retrained_into_its_folder_is_not_taken_for_the_same(world, tmp_path):
    """The replay's settings name a model by its training data; retrained into the same
    folder with other settings, the same replay command resumed with the old figures."""
    dataset, _ = world
    model, out = tmp_path / "m", tmp_path / "r"
    train = ["train", "--dataset", dataset, "--rules", PHONE, "--test-share", "0.2", "-o", model]
    assert run(*train, "--n-estimators", "3").exit_code == 0
    replay = ["replay", "--dataset", dataset, "--rules", PHONE, "--model", model, "--engines",
              "rules,ranker", "-o", out]
    assert run(*replay).exit_code == 0
    assert run(*train, "--n-estimators", "6", "--seed", "7", "--force").exit_code == 0
    again = run(*replay)
    assert again.exit_code == 2 and "holds a finished replay with other settings" in again.output
    unused = run("replay", "--dataset", dataset, "--model", model, "--engines", "rules,popular",
                 "-o", tmp_path / "u")  # --model was ignored without a word
    assert unused.exit_code == 2 and "--engines has neither" in unused.output


def test_training_without_a_positive_to_validate_on_warns_first():
    """A log whose latest requests had no engagement trained 400 trees, said "validation
    nan" and exited 0, with no word that nothing had stopped or judged the boosting."""
    from suggest.report.terminal import train_warning

    said = train_warning({"eval_at": 5, "validation": {"scored_requests": 0, "valid_requests": 180,
                                                       "best_iteration": 400}})
    assert said.startswith("warning: none of the 180 validation requests has an engaged item")
    assert "400 trees grown" in said
    assert train_warning({"eval_at": 5, "validation": {"scored_requests": 90, "valid_requests": 180,
                                                       "best_iteration": 40}}) is None
