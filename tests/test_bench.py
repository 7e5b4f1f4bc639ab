"""suggest bench: the output's shape and finite figures (never the speed), clean errors, atomic output."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from suggest import synth
from suggest.bench import Plan, run_bench
from suggest.bench.precision import ENGINES, FIGURES, find_logs
from suggest.cli import main

ROOT = Path(__file__).resolve().parents[1]
TINY = Plan("tiny", worlds=("drift", "sparse"), world_users=12, world_days=7, resamples=200,
            rules_requests=3_000, rules_loop_sample=300, rules_engine_sample=30, rules_repeat=1,
            ranker_users=15, ranker_days=7, ranker_contexts=20, ranker_repeat=1, ranker_train_rows=5_000,
            metrics_requests=300, replay_users=(6,))


def tiny_project(tmp_path: Path) -> tuple[Path, Path]:
    """A project folder with the example rule sets and one description of a log kept in a
    separate data folder, the way data/datasets/ points into ../shared/data."""
    project, data = tmp_path / "project", tmp_path / "shared" / "data"
    (project / "rules").mkdir(parents=True)
    for name in ("phone.yaml", "phone-sparse.yaml"):
        shutil.copy(ROOT / "rules" / name, project / "rules" / name)
    shutil.copy(ROOT / "rules" / "phone.yaml", project / "rules" / "minilog.yaml")
    synth.generate(synth.preset_config("default", users=10, days=7, seed=3), data / "minilog")
    description = yaml.safe_load((data / "minilog" / "dataset.yaml").read_text())
    description["log"] = "../../../shared/data/minilog/log.csv"
    description["catalog"]["path"] = "../../../shared/data/minilog/catalog.csv"
    (project / "data" / "datasets").mkdir(parents=True)
    (project / "data" / "datasets" / "minilog.yaml").write_text(yaml.safe_dump(description))
    return project, data


def numbers(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from numbers(v)
    elif isinstance(value, list):
        for v in value:
            yield from numbers(v)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield value


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    project, data = tiny_project(tmp)
    out = tmp / "out"
    result = run_bench(out, plan=TINY, data=data, project=project, command="test")
    return out, result


def test_results_json_has_the_machine_every_world_and_every_speed_figure(tiny_run):
    out, result = tiny_run
    written = json.loads((out / "results.json").read_text())
    assert written == json.loads(json.dumps(result))
    m = written["machine"]
    assert m["cpus"] >= 1 and m["memory_gib"] > 0 and m["python"] and m["date"]
    assert {"numpy", "pandas", "lightgbm", "suggest"} <= set(m["packages"])
    worlds = {w["name"]: w for w in written["precision"]["worlds"]}
    assert list(worlds) == ["drift", "sparse", "minilog"]
    assert worlds["minilog"]["kind"] == "real log" and worlds["minilog"]["rules"] == "rules/minilog.yaml"
    assert worlds["sparse"]["rules"] == "rules/phone-sparse.yaml"
    for world in worlds.values():
        assert set(world["engines"]) == set(ENGINES)
        for engine in world["engines"].values():
            for figure in FIGURES:
                low, high = engine[figure]["ci"]
                assert low - 1e-9 <= engine[figure]["mean"] <= high + 1e-9, figure
        v = world["ranker_vs_rules"]
        assert v["ci"][0] <= v["diff"] <= v["ci"][1] and 0 < v["p_holm"] <= 1
        assert v["winner"] in ("ranker", "rules", "neither")
        # and against the best baseline, as the run's own verdict tests it
        run = json.loads((out / "runs" / world["name"] / "summary.json").read_text())
        b = world["ranker_vs_baseline"]
        assert b["baseline"] == run["verdict"]["best_baseline"] and world["headline"] == run["verdict"]["headline"]
        assert b["ranker"] == pytest.approx(run["engines"]["ranker"]["ndcg@5"])
        assert b["baseline_score"] == pytest.approx(run["engines"][b["baseline"]]["ndcg@5"])
        assert (out / "runs" / world["name"] / "summary.json").exists()
    # the sparse rule set abstains far more than the full one
    assert worlds["sparse"]["engines"]["rules"]["answered_rate"]["mean"] < \
        worlds["drift"]["engines"]["rules"]["answered_rate"]["mean"]
    # the drift world splits its users into those who drifted and those who did not
    groups = worlds["drift"]["by_group"]
    assert set(groups) == {"drifted users", "stable users"} and worlds["sparse"]["by_group"] is None
    assert sum(g["requests"] for g in groups.values()) == worlds["drift"]["requests_scored"]
    assert set(groups["drifted users"]["engines"]) == set(ENGINES)
    speed = written["speed"]
    loop, e2e = speed["rules"]["per_row_loop"], speed["rules"]["end_to_end"]
    # each ratio is the ratio of the figures printed beside it, measured in the same run
    assert loop["agrees"] and loop["ratio"] == pytest.approx(e2e["requests_per_s"] / loop["requests_per_s"])
    single, batch = speed["ranker"]["single"], speed["ranker"]["batch"]
    assert single["ratio_p99"] == pytest.approx(single["suggest_one"]["p99_ms"] / single["raw_predict"]["p99_ms"])
    assert batch["share_of_raw"] == pytest.approx(batch["raw_seconds"] / batch["score_seconds"])
    assert batch["score_rows_per_s"] == pytest.approx(batch["rows"] / batch["score_seconds"])
    assert speed["ranker"]["training"]["same_model"]
    ours, requests = speed["metrics"]["ours"], speed["metrics"]["config"]["requests"]
    assert ours["seconds"] == pytest.approx(float(np.median(ours["calls_seconds"])))
    assert ours["requests_per_s"] == pytest.approx(requests / ours["seconds"])
    for other in ("ranx", "ir_measures"):  # installed with the test extras
        assert speed["metrics"][other]["available"] and speed["metrics"][other]["agrees"]
    # a Python process holding pandas and LightGBM takes tens of MiB, and less than the machine
    for peak in (speed["replay"]["sizes"][0]["replay"]["peak_rss_mib"], speed["rules"]["peak_rss_mib"]):
        assert 30 < peak < m["memory_gib"] * 1024
    assert all(math.isfinite(x) for x in numbers(written))


def test_results_md_has_the_verdict_table_and_every_speed_table(tiny_run):
    out, _ = tiny_run
    text = (out / "results.md").read_text()
    assert "| world | what drives engagement |" in text and "drifted users" in text
    for name in ("drift", "sparse", "minilog"):
        assert f"### {name}" in text
    for heading in ("### Rules engine", "### Ranker", "### Metrics against ranx", "### End-to-end replay"):
        assert heading in text
    assert "nan" not in text.lower().replace("nanosec", "")
    assert not list(out.glob("*.partial"))


def test_logs_are_matched_by_the_tail_of_their_path_never_the_bare_file_name(tmp_path):
    project, data = tiny_project(tmp_path)
    (project / "data" / "datasets" / "other.yaml").write_text(
        yaml.safe_dump({"log": "../../../shared/data/other/log.csv", "columns": {"user": "u", "item": "i"}}))
    found, notes = find_logs(project / "data" / "datasets", data)
    assert [name for name, _ in found] == ["minilog"]
    assert found[0][1].log == data / "minilog" / "log.csv"
    assert found[0][1].catalog.path == data / "minilog" / "catalog.csv"
    assert len(notes) == 1 and "other/log.csv" in notes[0]
    found, _ = find_logs(project / "data" / "datasets", tmp_path / "shared")  # one level up works too
    assert [name for name, _ in found] == ["minilog"]
    found, _ = find_logs(project / "data" / "datasets", None)  # the descriptions' own paths
    assert [name for name, _ in found] == ["minilog"]


@pytest.mark.parametrize("args, words", [
    (["--suite", "speeed"], "speeed"),
    (["--data", "no/such/folder"], "no such folder"),
])
def test_bad_suite_or_data_is_exit_2_without_traceback(tmp_path, args, words):
    result = CliRunner().invoke(main, ["bench", *args, "-o", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert words in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out" / "results.json").exists()


def test_data_without_any_described_log_is_exit_2(tmp_path, monkeypatch):
    project, _ = tiny_project(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(project)
    result = CliRunner().invoke(main, ["bench", "--suite", "precision", "--data", str(empty), "-o",
                                       str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert "minilog/log.csv" in result.output and "Traceback" not in result.output


def test_a_failed_run_leaves_no_results_that_look_complete(tmp_path, monkeypatch):
    project, data = tiny_project(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text('{"old": true}')
    (out / "results.md").write_text("old")

    def boom(*args, **kwargs):
        raise RuntimeError("a measurement failed")

    monkeypatch.setattr("suggest.bench.precision.measure", boom)
    with pytest.raises(RuntimeError):
        run_bench(out, suites=("precision",), plan=TINY, data=data, project=project)
    assert not (out / "results.json").exists() and not (out / "results.md").exists()


@pytest.mark.parametrize("script", ["rules_speed.py", "ranker_speed.py"])
def test_benchmark_scripts_still_run(script):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--help"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "--quick" in done.stdout


def test_one_context_script_checks_the_rows_then_times_both_paths():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "one_context.py"),
                           "--contexts", "20"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "20 contexts" in done.stdout and "give the same rows on each" in done.stdout
    for name in ("rules", "popular", "context-popular", "user-history"):  # every engine, timed
        assert re.search(rf"^{name}:\n(.*\n){{2}}  one-row batch \(the reference\): +p50 \d+\.\d+ ms",
                         done.stdout, re.M), name


def test_cli_quick_prints_the_summary_of_the_quick_plan(tiny_run, tmp_path, monkeypatch):
    from suggest.bench import QUICK

    _, result = tiny_run
    calls = {}

    def fake_run_bench(out, **kwargs):
        calls.update(kwargs, out=out)
        return result

    monkeypatch.setattr("suggest.bench.run_bench", fake_run_bench)
    out = CliRunner().invoke(main, ["bench", "--quick", "--suite", "precision", "-o", str(tmp_path)])
    assert out.exit_code == 0, out.output
    assert calls["plan"] is QUICK and calls["suites"] == ("precision",)
    assert calls["command"] == f"suggest bench --suite precision --quick -o {tmp_path}"
    for name in ("drift", "sparse", "minilog"):
        assert name in out.output
    assert "rules:" in out.output and "ranker:" in out.output and "results.json" in out.output
    as_json = CliRunner().invoke(main, ["bench", "--json", "-o", str(tmp_path)])
    assert json.loads(as_json.output)["precision"]["worlds"][0]["name"] == "drift"


def test_the_benchmarks_bootstrap_interval_is_scipys_percentile_bootstrap():
    """The precision suite's 95% intervals of means: scipy.stats.bootstrap's percentile
    interval on the same data, within the Monte Carlo error of 4,000 resamples."""
    import numpy as np
    from scipy import stats

    from suggest.bench.precision import _bootstrap_means

    rng = np.random.default_rng(3)
    values = np.column_stack([rng.exponential(1.0, 300), rng.integers(0, 2, 300)]).astype(float)
    got = _bootstrap_means(values, 4_000, seed=1)
    for column, (low, high) in zip(values.T, got):
        reference = stats.bootstrap((column,), np.mean, method="percentile", n_resamples=4_000,
                                    random_state=np.random.default_rng(2)).confidence_interval
        spread = reference.high - reference.low
        assert low == pytest.approx(reference.low, abs=0.05 * spread)
        assert high == pytest.approx(reference.high, abs=0.05 * spread)
    empty = _bootstrap_means(values[:0], 10, seed=0)  # no requests: no interval, not an error
    assert len(empty) == 2 and all(np.isnan(v) for pair in empty for v in pair)


def test_the_coverage_interval_counts_catalog_items_only_as_the_replay_does():
    """A rule's unknown name (an item the catalog does not hold) is suggested everywhere:
    coverage counts the catalog's items only, so the interval lies at or below 1 item of 4
    (25%), where counting every name would put it at 50%."""
    import pandas as pd

    from suggest.bench.precision import _bootstrap_coverage

    ids = [f"r{i}" for i in range(40)]
    suggestions = pd.DataFrame({"request_id": ids * 2, "rank": [1] * 40 + [2] * 40,
                                "item_id": ["a"] * 40 + ["not-in-catalog"] * 40})
    low, high = _bootstrap_coverage(pd.Series(ids), suggestions, pd.Index(["a", "b", "c", "d"]),
                                    200, seed=0)
    assert low == high == pytest.approx(0.25)


def test_the_summary_says_where_a_baseline_leads_or_the_test_repeats_training():
    """The table compares the ranker with the rules; under it, the worlds where the best
    baseline is ahead of the ranker and those whose test requests training already saw."""
    from suggest.bench.tables import _cautions

    worlds = [{"name": "sparse", "run": "r/sparse", "leakage": None,
               "ranker_vs_baseline": {"baseline": "user-history", "baseline_score": 0.285,
                                      "ranker": 0.243, "diff": -0.042, "p_holm": 0.074,
                                      "winner": "neither"}},
              {"name": "plain", "run": "r/plain", "leakage": None,
               "ranker_vs_baseline": {"baseline": "popular", "baseline_score": 0.2, "ranker": 0.3,
                                      "diff": 0.1, "p_holm": 0.001, "winner": "ranker"}},
              {"name": "real", "run": "r/real", "ranker_vs_baseline": None,
               "leakage": "97% of test requests have a (user, item) already in the training "
                          "part: near-copies ..."}]
    lines = _cautions(worlds)
    assert len(lines) == 2
    assert lines[0].startswith("sparse: user-history 0.285 is above the ranker 0.243 (not significantly")
    assert lines[0].endswith("the simple baseline is the safer default there until the ranker is "
                             "shown to be better")  # not "better", beside "not significantly"
    assert lines[1].startswith("real: 97% of test requests have a (user, item) already in the "
                               "training part: its figures read high")
    assert _cautions(worlds[1:2]) == []
