"""The command line: help everywhere, clean errors, and the installed entry point."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from suggest import __version__
from suggest.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield prefix + (name,), command
        if isinstance(command, click.Group):
            yield from _commands(command, prefix + (name,))


ALL_COMMANDS = list(_commands(main))


@pytest.mark.parametrize("path", [p for p, _ in ALL_COMMANDS], ids=" ".join)  # groups too
def test_every_command_has_help_with_an_example(path):
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output
    assert f"suggest {' '.join(path)}" in result.output


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_missing_dataset_file_is_exit_2_without_traceback(tmp_path):
    result = CliRunner().invoke(main, ["data", "check", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "nope.yaml" in result.output
    assert "not found" in result.output
    assert "Traceback" not in result.output


def test_bad_yaml_is_exit_2_with_line_and_column(tmp_path):
    bad = tmp_path / "d.yaml"
    bad.write_text("log: x.csv\ncolumns: [user, item\n")
    result = CliRunner().invoke(main, ["data", "check", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:3:1" in result.output or f"{bad}:2:" in result.output
    assert "Traceback" not in result.output


def test_unknown_column_names_the_column_and_suggests(tmp_path):
    (tmp_path / "log.csv").write_text("user,item,weather\nu1,a,sunny\n")
    (tmp_path / "d.yaml").write_text("log: log.csv\ncolumns: {user: usr, item: item}\n")
    result = CliRunner().invoke(main, ["data", "check", str(tmp_path / "d.yaml")])
    assert result.exit_code == 2
    assert "no column 'usr'" in result.output
    assert "did you mean 'user'?" in result.output


def test_data_check_writes_rejects_and_counts_them(tmp_path):
    (tmp_path / "log.csv").write_text("user,item,battery\nu1,a,50\nu2,b,high\n,c,3\nu3,d,7\n")
    (tmp_path / "d.yaml").write_text("name: t\nlog: log.csv\ncontext: {battery: numeric}\n")
    rejects = tmp_path / "out" / "rejects.csv"
    result = CliRunner().invoke(main, ["data", "check", str(tmp_path / "d.yaml"),
                                       "--rejects", str(rejects)])
    assert result.exit_code == 0, result.output
    assert "4 read, 2 ok, 2 rejected" in result.output
    lines = rejects.read_text().splitlines()
    assert len(lines) == 3
    assert ",3,battery 'high' is not a number," in lines[1]
    assert ",4,user (user) is missing," in lines[2]
    assert f"rejected rows: {rejects}" in result.output


def test_data_check_writes_no_rejects_file_when_nothing_is_rejected(tmp_path, monkeypatch):
    """No stray empty file in the current folder, and none left over from an earlier run."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "log.csv").write_text("user,item,battery\nu1,a,50\nu2,b,high\n")
    (tmp_path / "d.yaml").write_text("name: t\nlog: log.csv\ncontext: {battery: numeric}\n")
    first = CliRunner().invoke(main, ["data", "check", "d.yaml"])
    assert first.exit_code == 0, first.output
    assert (tmp_path / "d.rejects.csv").exists()  # the default place: ./NAME.rejects.csv
    (tmp_path / "log.csv").write_text("user,item,battery\nu1,a,50\nu2,b,7\n")  # fixed
    second = CliRunner().invoke(main, ["data", "check", "d.yaml"])
    assert second.exit_code == 0, second.output
    assert "no rejected rows" in second.output
    assert not (tmp_path / "d.rejects.csv").exists()
    as_json = CliRunner().invoke(main, ["data", "check", "d.yaml", "--json"])
    assert json.loads(as_json.output)["rejects_file"] is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.yaml", "log.csv"]


@pytest.mark.parametrize("rejected", [False, True])
def test_a_rejects_path_that_names_another_file_or_a_folder_is_refused_and_left_alone(
        tmp_path, rejected):
    """--rejects pointing at the log, the description or a folder of work by mistake: with
    no rejected rows the file was removed, with some it was overwritten (the log lost)."""
    log = "user,item,battery\nu1,a,50\n" + ("u2,b,high\n" if rejected else "")
    (tmp_path / "log.csv").write_text(log)
    (tmp_path / "d.yaml").write_text("name: t\nlog: log.csv\ncontext: {battery: numeric}\n")
    for target in ("log.csv", "d.yaml"):
        result = CliRunner().invoke(main, ["data", "check", str(tmp_path / "d.yaml"),
                                           "--rejects", str(tmp_path / target)])
        assert result.exit_code == 2 and "is not a rejects file" in result.output, result.output
    folder = CliRunner().invoke(main, ["data", "check", str(tmp_path / "d.yaml"),
                                       "--rejects", str(tmp_path)])
    assert folder.exit_code == 2 and f"give a file, e.g. {tmp_path / 'rejects.csv'}" in folder.output
    assert (tmp_path / "log.csv").read_text() == log and "Traceback" not in folder.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.yaml", "log.csv"]
    (tmp_path / "empty.csv").write_text("")  # an empty file holds nothing to lose
    empty = CliRunner().invoke(main, ["data", "check", str(tmp_path / "d.yaml"),
                                      "--rejects", str(tmp_path / "empty.csv")])
    assert empty.exit_code == 0, empty.output


def test_installed_entry_point_runs_as_a_real_process(tmp_path):
    script = Path(sys.executable).with_name("suggest")
    script = script if script.exists() else shutil.which("suggest")
    assert script, "the `suggest` command is not installed: run the README's install command"
    (tmp_path / "log.csv").write_text("user,item\nu1,a\nu2,b\n")
    (tmp_path / "d.yaml").write_text("log: log.csv\n")
    done = subprocess.run([str(script), "data", "check", str(tmp_path / "d.yaml"), "--json"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert '"rows_ok": 2' in done.stdout
    bad = subprocess.run([str(script), "data", "check", str(tmp_path / "missing.yaml")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr and "missing.yaml" in bad.stderr


def test_generate_then_check_reads_back_every_row(tmp_path):
    out = tmp_path / "w"
    result = CliRunner().invoke(main, ["generate", "--users", "20", "--days", "7", "--seed", "3",
                                       "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    check = CliRunner().invoke(main, ["data", "check", str(out / "dataset.yaml"), "--json"])
    assert check.exit_code == 0, check.output
    report = json.loads(check.output)
    assert report["rows_in"] == report["rows_ok"] == summary["rows"]
    assert report["requests"] == summary["requests"]
    assert report["rows_rejected"] == 0


@pytest.mark.parametrize("args, words", [
    (["--preset", "persnal"], "did you mean 'personal'?"),
    (["--users", "0"], "users"),
    (["--users", "100000000", "--days", "1000"], "users must be an integer from 1 to 2000000"),
    (["--users", "1000000", "--days", "1000"], "would write about 6,000,000,000 requests"),
    (["--requests-per-day", "0"], "these settings generate no requests at all"),
])
def test_generate_bad_settings_exit_2(tmp_path, args, words):
    """Refused before any work (a slip of extra zeros ran the machine out of memory) and
    before any folder is made."""
    result = CliRunner().invoke(main, ["generate", *args, "-o", str(tmp_path / "w")])
    assert result.exit_code == 2
    assert words in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "w").exists()


def test_generate_replaces_a_world_only_with_force_and_leaves_nothing_of_the_old_one(tmp_path):
    world = tmp_path / "w"
    args = ["generate", "--users", "5", "--days", "2", "-o", str(world)]
    shown = CliRunner().invoke(main, [*args, "--logging-policy", "random", "--shown", "2"])
    assert shown.exit_code == 0, shown.output
    assert (world / "truth_attraction.parquet").exists()
    (world / "dataset.yaml").write_text((world / "dataset.yaml").read_text() + "# my edit\n")
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 2 and "already exists and is not empty" in again.output
    assert (world / "dataset.yaml").read_text().endswith("# my edit\n")
    forced = CliRunner().invoke(main, [*args, "--force"])
    assert forced.exit_code == 0, forced.output
    assert sorted(p.name for p in world.iterdir()) == ["catalog.csv", "dataset.yaml", "log.csv",
                                                       "truth_model.json"]


def test_demo_generates_and_reads_back_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not the project folder: the demo needs nothing from it
    result = CliRunner().invoke(main, ["demo", "-o", "demo", "--users", "15", "--days", "5"])
    assert result.exit_code == 0, result.output
    assert "0 rejected" in result.output
    assert (tmp_path / "demo" / "world" / "truth_model.json").exists()
    rules = (tmp_path / "demo" / "rules.yaml").read_text()  # the rule set, to read and edit
    assert rules == (ROOT / "rules" / "phone.yaml").read_text()
    assert "rules.yaml" in json.loads((tmp_path / "demo" / "run" / "summary.json").read_text())[
        "settings"]["rules"]
    # edited, then the demo run again: the edits are kept and replayed, not overwritten
    edited = rules.replace("priority: 10", "priority: 11", 1)
    (tmp_path / "demo" / "rules.yaml").write_text(edited)
    again = CliRunner().invoke(main, ["demo", "-o", "demo", "--users", "15", "--days", "5"])
    assert again.exit_code == 0, again.output
    assert "keeping your edited demo/rules.yaml" in again.output
    assert (tmp_path / "demo" / "rules.yaml").read_text() == edited


def test_the_built_package_is_suggest_replay_and_carries_the_demo_rules(tmp_path):
    """What pip installs (a wheel, not this folder) holds the demo's rule set; the
    distribution's name is not the unrelated 'suggest' on the package index."""
    import subprocess
    import sys
    import zipfile

    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path),
                    str(ROOT)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        assert "suggest/examples/phone.yaml" in archive.namelist()
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        assert "\nName: suggest-replay\n" in archive.read(metadata).decode()
    assert wheel.name.startswith("suggest_replay-")


def test_committed_sample_world_is_reproducible(tmp_path):
    """data/sample is exactly what its README command generates, and reads with no rejects."""
    from suggest import synth
    from suggest.data import load

    sample = ROOT / "data" / "sample"
    synth.generate(synth.preset_config("default", users=100, days=28, seed=7), tmp_path,
                   name="synth-default")
    for name in ("log.csv", "catalog.csv", "dataset.yaml", "truth_model.json"):
        assert (tmp_path / name).read_bytes() == (sample / name).read_bytes(), name
    log = load(sample / "dataset.yaml")
    assert log.report.rows_rejected == 0
    assert log.report.rows_ok == log.report.rows_in > 10_000


def test_train_writes_a_model_that_loads_and_reports_a_summary(tmp_path):
    from suggest.ranker import RankerEngine

    world = tmp_path / "w"
    assert CliRunner().invoke(main, ["generate", "--users", "40", "--days", "14", "--seed", "2",
                                     "-o", str(world)]).exit_code == 0
    out = tmp_path / "models" / "m"
    result = CliRunner().invoke(main, ["train", "--dataset", str(world / "dataset.yaml"),
                                       "--rules", str(ROOT / "rules" / "phone.yaml"), "-o", str(out),
                                       "--n-estimators", "20", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["validation"]["split"] == "by time"
    assert 0 < summary["validation"]["ndcg@5"] <= 1
    assert summary["requests"] == summary["validation"]["train_requests"] + \
        summary["validation"]["valid_requests"]
    # the figure printed first is replay's: every validation request with a positive counts,
    # those whose positives the candidates missed as 0 (LightGBM's own figure, on its
    # training-time candidates and grades, leaves them out)
    from suggest.data import load

    log = load(world / "dataset.yaml")
    latest = log.requests.sort_values("timestamp").tail(summary["validation"]["valid_requests"])
    with_positive = log.truth[(log.truth["relevance"] > 0)
                              & log.truth["request_id"].isin(latest["request_id"])]
    assert summary["validation"]["scored_requests"] == with_positive["request_id"].nunique()
    assert 0 < summary["validation"]["ndcg@5_candidates"] <= 1
    # the guard: each simple baseline scored on the same validation requests, the ranker
    # compared with the best of them; user history reads what the ranker's statistics read,
    # each user's engagements before each request, the validation part's earlier ones too
    from suggest.engines import get_engine
    from suggest.evaluate import evaluate

    def history_score(requests) -> float:
        history = get_engine("user-history").fit(requests, log.truth, log.catalog)
        return evaluate(history.suggest(latest, 5), with_positive, ["ndcg@5"]).means["ndcg@5"]

    earlier = log.requests[~log.requests["request_id"].isin(latest["request_id"])]
    v = summary["validation"]
    assert v["baselines"]["user-history"] == pytest.approx(history_score(log.requests))
    assert v["baselines"]["user-history"] > history_score(earlier)  # one blind to those weeks
    assert v["ranker_below_baseline"] == (v["ndcg@5"] < max(v["baselines"].values()))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["training"]["requests"] == summary["requests"]
    assert (out / "model.txt").read_text().startswith("tree")
    assert not list(tmp_path.glob("models/*.partial"))
    engine = RankerEngine.load(out)
    assert engine.features_.names_ == manifest["features"]["names"]


def test_train_with_bad_settings_is_exit_2(tmp_path):
    result = CliRunner().invoke(main, ["train", "--dataset", str(ROOT / "data" / "sample" /
                                                                 "dataset.yaml"),
                                       "-o", str(tmp_path / "m"), "--n-estimators", "0"])
    assert result.exit_code == 2
    assert "--n-estimators must be at least 1" in result.output


def test_evaluate_reads_tables_and_trec_files_alike(tmp_path):
    (tmp_path / "run.csv").write_text("request_id,item_id,score,engine\n"
                                      "q1,a,0.9,x\nq1,b,0.5,x\nq2,c,0.7,x\nq3,d,0.1,x\n")
    (tmp_path / "truth.csv").write_text("request_id,item_id,relevance\nq1,b,1\nq2,c,2\nq4,e,1\n")
    (tmp_path / "x.run").write_text("q1 Q0 a 1 0.9 x\nq1 Q0 b 2 0.5 x\nq2 Q0 c 1 0.7 x\nq3 Q0 d 1 0.1 x\n")
    (tmp_path / "x.qrels").write_text("q1 0 b 1\nq2 0 c 2\nq4 0 e 1\n")
    outs = []
    for run, truth in (("run.csv", "truth.csv"), ("x.run", "x.qrels")):
        result = CliRunner().invoke(main, ["evaluate", "--run", str(tmp_path / run), "--truth",
                                           str(tmp_path / truth), "--k", "1,2", "--json"])
        assert result.exit_code == 0, result.output
        outs.append(json.loads(result.stdout))
        # q4 has a relevant item and no list: a miss, and said so beside the JSON
        assert f"1 of the 3 requests of {tmp_path / truth} with a relevant item are not in" \
            in result.stderr
    assert outs[0] == outs[1]
    assert outs[0]["requests"] == 3 and outs[0]["requests_without_positive"] == 1
    assert outs[0]["metrics"]["mrr@2"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert outs[0]["metrics"]["precision@1"] == pytest.approx(1 / 3)


def test_evaluate_reads_ids_as_written_and_names_the_line_of_a_row_after_blank_lines(tmp_path):
    """An IR auditor: CSV ids 'NA', 'null', 'None' were refused as missing (the same data in
    TREC scored), an engine '001' was shown as '1', a blank first line made the file
    "empty", and a bad row after blank lines was named two lines early."""
    (tmp_path / "truth.csv").write_text("request_id,item_id,relevance\nq1,NA,1\nq2,None,1\n")
    (tmp_path / "run.csv").write_text("\nrequest_id,item_id,score,engine\nq1,NA,0.9,001\n"
                                      "q1,null,0.8,001\n\nq2,None,0.7,001\nq1,null,0.9,010\n"
                                      "q2,None,0.9,010\n")
    result = CliRunner().invoke(main, ["evaluate", "--run", str(tmp_path / "run.csv"), "--truth",
                                       str(tmp_path / "truth.csv"), "--k", "1", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert sorted(out) == ["001", "010"]
    assert out["001"]["metrics"]["precision@1"] == 1.0  # NA and None found as the truth's ids
    assert out["010"]["metrics"]["precision@1"] == 0.5  # 'null' is not 'NA'; q2's None is
    (tmp_path / "bad.csv").write_text("request_id,item_id,score\n\n\nq1,a,0.9\n\nq2,b,abc\n")
    bad = CliRunner().invoke(main, ["evaluate", "--run", str(tmp_path / "bad.csv"), "--truth",
                                    str(tmp_path / "truth.csv")])
    assert bad.exit_code == 2 and f"{tmp_path / 'bad.csv'}:6: run score 'abc'" in bad.output, \
        bad.output


def test_evaluate_says_each_engines_own_requests_left_out(tmp_path):
    """The table's first line gave the first engine's count of requests without a relevant
    item as every engine's."""
    (tmp_path / "truth.csv").write_text("request_id,item_id,relevance\nq1,a,1\n")
    (tmp_path / "run.csv").write_text("request_id,item_id,score,engine\nq1,a,0.9,x\n"
                                      "q9,z,0.8,x\nq8,z,0.8,x\nq1,a,0.5,y\n")
    result = CliRunner().invoke(main, ["evaluate", "--run", str(tmp_path / "run.csv"), "--truth",
                                       str(tmp_path / "truth.csv")])
    assert result.exit_code == 0, result.output
    assert ("1 request with a relevant item; every engine is scored on all of them (one its "
            "run does not list counts 0); requests without one, in its run or the truth, are "
            "left out (x 2, y 0)" in result.output), result.output


def test_evaluate_bad_files_are_exit_2(tmp_path):
    (tmp_path / "bad.run").write_text("q1 a 0.9\n")
    (tmp_path / "truth.csv").write_text("request_id,item_id,relevance\nq1,a,1\n")
    result = CliRunner().invoke(main, ["evaluate", "--run", str(tmp_path / "bad.run"), "--truth",
                                       str(tmp_path / "truth.csv")])
    assert result.exit_code == 2 and "TREC" in result.output and "Traceback" not in result.output
    assert "or a CSV header request_id,item_id,score" in result.output  # a run's, not a TREC's
    (tmp_path / "bad.qrels").write_text("q1 a\n")
    (tmp_path / "ok.run").write_text("q1 Q0 a 1 0.5 x\n")
    qrels = CliRunner().invoke(main, ["evaluate", "--run", str(tmp_path / "ok.run"), "--truth",
                                      str(tmp_path / "bad.qrels")])
    assert qrels.exit_code == 2 and "or a CSV header request_id,item_id,relevance" in qrels.output
    missing = CliRunner().invoke(main, ["evaluate", "--run", str(tmp_path / "nope.csv"), "--truth",
                                        str(tmp_path / "truth.csv")])
    assert missing.exit_code == 2 and "not found" in missing.output
    # a row with a field more than its header: pandas read its first field as an index and
    # every column one off (all metrics 0, exit 0); refused, naming the row
    (tmp_path / "long.csv").write_text("request_id,item_id,score\nq1,a,1,0.9\nq1,b,0.5\n")
    long = CliRunner().invoke(main, ["evaluate", "--run", str(tmp_path / "long.csv"), "--truth",
                                     str(tmp_path / "truth.csv")])
    assert long.exit_code == 2
    assert f"{tmp_path / 'long.csv'}:2: run row has 4 fields, its header 3" in long.output


def test_evaluate_says_which_engine_of_a_run_skipped_requests(tmp_path):
    """Each engine's own gaps: the note was per file, so an engine that skipped a request the
    others answered scored it as a miss without a word."""
    (tmp_path / "run.csv").write_text("request_id,item_id,score,engine\n"
                                      "q1,a,0.9,x\nq2,b,0.5,x\nq1,a,0.9,y\n")
    (tmp_path / "truth.csv").write_text("request_id,item_id,relevance\nq1,a,1\nq2,b,1\n")
    result = CliRunner().invoke(main, ["evaluate", "--run", str(tmp_path / "run.csv"), "--truth",
                                       str(tmp_path / "truth.csv"), "--k", "2"])
    assert result.exit_code == 0, result.output
    assert f"engine y lists nothing for 1 of the 2 requests of {tmp_path / 'truth.csv'}" in result.output
    assert "engine x lists" not in result.output


def test_evaluate_reads_a_table_whose_header_is_quoted(tmp_path):
    """pandas' QUOTE_ALL and R's write.csv quote the header: it is a header all the same."""
    (tmp_path / "run.csv").write_text('"request_id","item_id","score"\n"q1","a",0.9\n"q1","b",0.5\n')
    (tmp_path / "truth.csv").write_text("request_id,item_id,relevance\nq1,b,1\n")
    result = CliRunner().invoke(main, ["evaluate", "--run", str(tmp_path / "run.csv"), "--truth",
                                       str(tmp_path / "truth.csv"), "--k", "2", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["metrics"]["mrr@2"] == pytest.approx(0.5)


@pytest.mark.parametrize("columns, several", [("{user: usr, item: item}", False),
                                              ("{user: usr, item: itme}", True)])
def test_json_errors_are_json_on_stdout_and_text_on_stderr(tmp_path, columns, several):
    (tmp_path / "log.csv").write_text("user,item,weather\nu1,a,sunny\n")
    (tmp_path / "d.yaml").write_text(f"log: log.csv\ncolumns: {columns}\n")
    result = CliRunner().invoke(main, ["data", "check", str(tmp_path / "d.yaml"), "--json"])
    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    assert error["exit_code"] == 2
    found = error["errors"] if several else [error]
    assert [e["message"].split(" (")[0] for e in found] == (
        ["no column 'usr'", "no column 'itme'"] if several else ["no column 'usr'"])
    assert found[0]["hint"].startswith("did you mean 'user'?")
    assert "no column 'usr'" in result.stderr and "Traceback" not in result.output
    plain = CliRunner().invoke(main, ["data", "check", str(tmp_path / "d.yaml")])
    assert plain.exit_code == 2 and plain.stdout == ""


@pytest.mark.parametrize("text, words", [
    ("", "the run file is empty"),
    ("request_id,item_id,score\n", "the run has a header but no rows"),
    ("q1 Q0 a 1 0.5 x\nq2 Q0 a 1 0.3 x 7 8\n", "x.run:2: run line has 8 fields, a TREC run line has 6"),
    ("q1 Q0 a 1 0.5 x\n\nq1 Q0 b\n", "x.run:3: run line has 3 fields"),  # was 'score nan'
    ("q1 Q0 a 1 inf x\n", "x.run:1: run score 'inf' is not a finite number"),
    (b"\xff\xfe\x00garbage\x81", "cannot read the run file"),
])
def test_evaluate_names_an_empty_or_unreadable_run_file(tmp_path, text, words):
    run = tmp_path / "x.run"
    run.write_bytes(text if isinstance(text, bytes) else text.encode())
    (tmp_path / "t.qrels").write_text("q1 0 a 1\n")
    result = CliRunner().invoke(main, ["evaluate", "--run", str(run), "--truth",
                                       str(tmp_path / "t.qrels")])
    assert result.exit_code == 2 and words in result.output, result.output
    assert "Traceback" not in result.output


def test_evaluate_refuses_an_item_graded_two_ways(tmp_path):
    (tmp_path / "r.run").write_text("q1 Q0 a 1 0.5 x\n")
    (tmp_path / "t.qrels").write_text("q1 0 a 1\nq1 0 a 2\nq1 0 b 1\nq1 0 b 1\n")
    result = CliRunner().invoke(main, ["evaluate", "--run", str(tmp_path / "r.run"), "--truth",
                                       str(tmp_path / "t.qrels")])
    assert result.exit_code == 2
    assert "item 'a' of request 'q1' is graded 2 ways (1, 2); 1 pairs" in result.output
    (tmp_path / "t.qrels").write_text("q1 0 a 1\nq1 0 a 1\n")  # the same grade twice is fine
    result = CliRunner().invoke(main, ["evaluate", "--run", str(tmp_path / "r.run"), "--truth",
                                       str(tmp_path / "t.qrels")])
    assert result.exit_code == 0 and "precision@1             1.0000" in result.output


def test_output_piped_into_head_ends_quietly(tmp_path, monkeypatch):
    """`suggest ... | head`: once the reader has gone, writing raises BrokenPipeError; the
    command stops quietly with 141 (as Unix tools killed by SIGPIPE), no 'Broken pipe' error."""
    import click

    (tmp_path / "r.run").write_text("q1 Q0 a 1 0.5 x\n")
    (tmp_path / "t.qrels").write_text("q1 0 a 1\n")

    def gone(*args, **kwargs):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(click, "echo", gone)
    result = CliRunner().invoke(main, ["evaluate", "--run", str(tmp_path / "r.run"), "--truth",
                                       str(tmp_path / "t.qrels")])
    assert result.exit_code == 141 and "Broken pipe" not in result.output
    assert isinstance(result.exception, SystemExit)


def test_evaluate_notes_a_rank_column_the_scores_order_otherwise(tmp_path):
    """A tester's run gave every item score 1.0 and ranked the engaged item first: the
    metrics order by score then item id (as DESIGN fixes; trec_eval reads scores too), so
    P@1 read 0 where the file's ranks give 1, without a word. Now a note says how many
    requests the scores order otherwise; a run whose ranks follow its scores gets none."""
    (tmp_path / "t.csv").write_text("request_id,item_id,relevance\nq1,z,1\nq2,y,1\nq3,a,1\n")
    (tmp_path / "tied.csv").write_text("request_id,item_id,rank,score\n"
                                       "q1,z,1,1.0\nq1,a,2,1.0\nq2,y,1,1.0\nq2,b,2,1.0\n"
                                       "q3,a,1,1.0\nq3,b,2,1.0\n")
    tied = CliRunner().invoke(main, ["evaluate", "--run", str(tmp_path / "tied.csv"), "--truth",
                                     str(tmp_path / "t.csv"), "--json"])
    assert tied.exit_code == 0
    assert json.loads(tied.stdout)["metrics"]["precision@1"] == pytest.approx(1 / 3)  # q3 only
    assert "note: 2 requests of" in tied.stderr and "not the rank column" in tied.stderr
    (tmp_path / "fine.csv").write_text("request_id,item_id,rank,score\n"
                                       "q1,z,1,0.9\nq1,a,2,0.5\nq2,b,1,1.0\nq2,y,2,1.0\n")
    fine = CliRunner().invoke(main, ["evaluate", "--run", str(tmp_path / "fine.csv"), "--truth",
                                     str(tmp_path / "t.csv")])
    assert fine.exit_code == 0 and "rank column" not in fine.stderr


def test_evaluate_refuses_a_truth_without_relevant_items_and_notes_repeated_run_items(tmp_path):
    (tmp_path / "r.run").write_text("q1 Q0 a 1 0.5 x\nq1 Q0 a 2 0.4 x\nq1 Q0 b 3 0.3 x\n")
    (tmp_path / "zero.qrels").write_text("q1 0 a 0\nq1 0 b 0\n")
    none = CliRunner().invoke(main, ["evaluate", "--run", str(tmp_path / "r.run"), "--truth",
                                     str(tmp_path / "zero.qrels")])
    assert none.exit_code == 2 and "the truth holds no relevant item" in none.output
    (tmp_path / "t.qrels").write_text("q1 0 b 1\n")
    noted = CliRunner().invoke(main, ["evaluate", "--run", str(tmp_path / "r.run"), "--truth",
                                      str(tmp_path / "t.qrels"), "--json"])
    assert noted.exit_code == 0
    assert json.loads(noted.stdout)["metrics"]["mrr@3"] == pytest.approx(0.5)  # 'a' once, b 2nd
    assert "note: 1 rows of" in noted.stderr and "trec_eval refuses" in noted.stderr
    assert "not in" not in noted.stderr  # q1 is in the run
    # ids written two ways ('001' in the run, '1' in the truth): every figure is 0, and said
    (tmp_path / "n.run").write_text("001 Q0 a 1 0.5 x\n")
    (tmp_path / "n.qrels").write_text("1 0 a 1\n2 0 a 1\n")
    apart = CliRunner().invoke(main, ["evaluate", "--run", str(tmp_path / "n.run"), "--truth",
                                      str(tmp_path / "n.qrels"), "--json"])
    assert apart.exit_code == 0 and json.loads(apart.stdout)["metrics"]["mrr@3"] == 0
    assert "no request of" in apart.stderr and "'001' is not '1'" in apart.stderr

