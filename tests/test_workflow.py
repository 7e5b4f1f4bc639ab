"""The jobs behind the commands, called as a notebook would (suggest.workflow): the same
answers as the commands, arguments refused before any work, the texts the commands print."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from suggest import synth
from suggest.cli import main
from suggest.errors import SuggestError
from suggest.report.terminal import metrics_table, rejects_line, train_text
from suggest.workflow import (FittedEngine, evaluate_files, replay_engines, replay_log,
                              train_model)

ROOT = Path(__file__).resolve().parents[1]
PHONE = ROOT / "rules" / "phone.yaml"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("world")
    synth.generate(synth.preset_config("default", users=25, days=8, seed=2), folder)
    return folder / "dataset.yaml"


def test_train_then_replay_the_model_from_python_matches_the_command(world, tmp_path):
    summary = train_model(world, tmp_path / "m", rules=PHONE, test_share=0.2, n_estimators=10)
    assert summary["held_out"].startswith("by time") and summary["rejected_rows"] == 0
    text = train_text(summary)
    assert f"model written to {tmp_path / 'm'}/" in text and "rejected log rows: none" in text
    engines = replay_engines("rules,ranker", PHONE, tmp_path / "m")
    assert isinstance(engines["ranker"], FittedEngine)
    assert engines["ranker"].fit(None, None, None) is engines["ranker"].engine  # never refitted

    ours = replay_log(world, tmp_path / "py", rules=PHONE, model=tmp_path / "m",
                      engines="rules,ranker")
    command = CliRunner().invoke(main, ["replay", "--dataset", str(world), "--rules", str(PHONE),
                                        "--model", str(tmp_path / "m"), "--engines",
                                        "rules,ranker", "-o", str(tmp_path / "cli"), "--json"])
    assert command.exit_code == 0, command.output
    theirs = json.loads(command.stdout)
    for name in ("rules", "ranker"):
        assert ours["engines"][name]["ndcg@5"] == pytest.approx(theirs["engines"][name]["ndcg@5"])
    timed = lambda sentences: [s for s in sentences if not s.startswith("Cost")]  # noqa: E731
    assert timed(ours["verdict"]["sentences"]) == timed(theirs["verdict"]["sentences"])


@pytest.mark.parametrize("kwargs, message", [
    ({"n_estimators": 0}, "--n-estimators must be at least 1"),
    ({"test_share": 1.0}, "--test-share must be at least 0 and below 1"),
    ({"split_by": "user"}, "--split and --gap choose the requests"),
    ({"jobs": 2}, "--jobs sets the workers of a local Dask cluster"),
    ({"tune_seconds": 5, "dask": "local"}, "--tune and --ablation train on this machine"),
    ({"tune_seconds": 0}, "--tune takes seconds > 0"),
])
def test_train_refuses_bad_arguments_before_reading_the_log(tmp_path, kwargs, message):
    # the description does not exist: an argument error must come first
    with pytest.raises(SuggestError, match=message):
        train_model(tmp_path / "missing.yaml", tmp_path / "m", **kwargs)
    assert not (tmp_path / "m").exists()


def test_replay_refuses_an_engine_that_needs_rules_before_reading(tmp_path):
    with pytest.raises(SuggestError, match="engine 'hybrid' needs --rules") as info:
        replay_log(tmp_path / "missing.yaml", tmp_path / "run", engines="popular,hybrid,rules")
    assert not (tmp_path / "run").exists()
    # both named at once, with the engines that need no rules (they came one at a time)
    assert info.value.hint == ("give the team's rule file with --rules, or replay without the "
                               "rules and the hybrid: --engines popular")


def test_rejects_line_names_the_commonest_reasons_and_the_file():
    summary = {"rejected_rows": 1234, "rejects_file": "r.csv", "load_warnings": ["odd cell"],
               "reject_reasons": {"bad time": 1200, "no user": 34}}
    assert rejects_line(summary) == ("rejected log rows: 1,234 (1,200 x bad time; 34 x no user) "
                                     "-> r.csv\nwarning: odd cell")
    assert rejects_line({"rejects_file": None}) == "rejected log rows: none"


def test_a_rejected_catalog_row_is_counted_as_a_catalog_row_not_a_log_row(make_dataset, tmp_path):
    """A PM's replay said "rejected log rows: 5" of 4 log rows and 1 catalog row, and the
    report "4 rejected" beside five reasons."""
    from suggest.data import load
    from suggest.workflow import rejects_summary

    path = make_dataset("user,item,place\nu1,i1,home\n,i2,work\nu3,i2,home\n",
                        context={"place": "categorical"},
                        catalog={"path": "items.csv", "item": "id",
                                 "attributes": {"genre": {"type": "categorical",
                                                          "values": ["rock", "pop"]}}})
    (path.parent / "items.csv").write_text("id,genre\ni1,rock\ni2,pop\ni3,popp\n")
    log = load(path)
    found = rejects_summary(log, tmp_path / "rejects.csv")
    assert (found["rejected_rows"], found["catalog_rejected"]) == (1, 1)
    line = rejects_line(found)
    assert line.startswith("rejected log rows: 1 (1 x user (user) is missing), and 1 catalog row -> ")
    assert "popp" not in line
    assert rejects_line({"rejected_rows": 0, "catalog_rejected": 2, "rejects_file": "r.csv",
                         "reject_reasons": {}}) == "rejected log rows: none, and 2 catalog rows -> r.csv"


def test_evaluate_files_scores_each_engine_of_a_run(tmp_path):
    (tmp_path / "run.csv").write_text("request_id,item_id,score,engine\nq1,a,2,x\nq1,b,1,x\n"
                                      "q1,b,2,y\nq1,a,1,y\nq2,c,1,x\n", encoding="utf-8")
    (tmp_path / "truth.csv").write_text("request_id,item_id,relevance\nq1,b,1\nq2,c,1\n",
                                        encoding="utf-8")
    results = evaluate_files(tmp_path / "run.csv", tmp_path / "truth.csv", ks=[1])
    assert results["x"].means["precision@1"] == 0.5  # q1 wrong at rank 1, q2 right
    assert results["y"].means["precision@1"] == 0.5  # q1 right, q2 never answered: 0
    table = metrics_table(results).splitlines()
    assert table[0] == "2 requests with a relevant item; 0 without one are left out"
    assert table[1].split() == ["metric", "x", "y"]


def test_a_log_given_beside_its_description_is_read_in_its_own_format(world, tmp_path):
    """`suggest rules coverage R.yaml week.parquet --dataset D.yaml` with D describing CSV."""
    import pandas as pd

    from suggest.workflow import load_log

    as_csv = load_log(world)
    frame = pd.read_csv(as_csv.dataset.log, dtype=str, keep_default_na=False)
    frame.to_parquet(tmp_path / "week.parquet")
    (tmp_path / "parts").mkdir()
    frame.to_parquet(tmp_path / "parts" / "part-0.parquet")
    frame.to_csv(tmp_path / "week.tsv", sep="\t", index=False)
    for other in ("week.parquet", "parts", "week.tsv"):
        log = load_log(world, tmp_path / other)
        assert log.report.rows_ok == as_csv.report.rows_ok and log.report.rows_rejected == 0
        pd.testing.assert_frame_equal(log.truth, as_csv.truth)


def test_a_clean_check_keeps_the_rejects_another_log_left_at_the_default_path(tmp_path,
                                                                              monkeypatch):
    """Every generated world's description is `dataset.yaml`, so their checks share the
    default `./dataset.rejects.csv`: checking a clean world removed the rejects another
    world's check had written there. Its own earlier rejects it still removes."""
    from suggest.workflow import check_data

    for world, second in (("a", ",i2"), ("b", "u2,i2")):
        (tmp_path / world).mkdir()
        (tmp_path / world / "log.csv").write_text(f"user,item\nu1,i1\n{second}\n")
        (tmp_path / world / "dataset.yaml").write_text("log: log.csv\n")
    monkeypatch.chdir(tmp_path)
    _, written = check_data(tmp_path / "a" / "dataset.yaml")
    assert written is not None and "user (user) is missing" in Path(written).read_text()
    _, none = check_data(tmp_path / "b" / "dataset.yaml")
    assert none is None and Path(written).is_file()  # a's rejects kept
    (tmp_path / "a" / "log.csv").write_text("user,item\nu1,i1\n")  # a mended: its own go
    assert check_data(tmp_path / "a" / "dataset.yaml")[1] is None and not Path(written).exists()
