"""Chunks over joblib worker processes: the same files as one process, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from suggest import synth
from suggest.cli import main
from suggest.data import load
from suggest.parallel import JoblibRunner, LocalRunner
from suggest.replay import replay

from conftest import assert_same_run, replay_engines_with_ranker as engines

ROOT = Path(__file__).resolve().parents[1]
RULES = str(ROOT / "rules" / "phone.yaml")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("world")
    synth.generate(synth.preset_config("default", users=30, days=10, seed=4), folder)
    return folder


def test_chunks_over_two_processes_give_the_same_files_as_one(world, tmp_path):
    log = load(world / "dataset.yaml")
    replay(log, engines(), tmp_path / "one", chunk_size=80, latency_sample=0)
    summary = replay(log, engines(), tmp_path / "two", chunk_size=80, latency_sample=0,
                     runner=JoblibRunner(2))
    assert summary["requests"] > 3 * 80  # several chunks, so both workers have work
    assert_same_run(tmp_path / "one", tmp_path / "two")


def test_the_runner_ships_the_engines_once_per_worker_not_per_chunk(tmp_path):
    """A worker process loads the shared objects on its first chunk and reuses them."""
    frame = pd.DataFrame({"x": range(40)})
    got = dict(JoblibRunner(2).run(_loads_seen, {"big": list(range(10))}, frame, 4, list(range(10))))
    assert sorted(got) == list(range(10))
    pids = {pid for pid, _ in got.values()}
    loads = {pid: max(n for p, n in got.values() if p == pid) for pid in pids}
    assert len(pids) <= 2 and all(n == 1 for n in loads.values())
    assert dict(LocalRunner().run(lambda shared, part: len(part), None, frame, 4, [9])) == {9: 4}


def _loads_seen(shared, part):
    """(this worker's pid, how many times it has loaded shared objects so far)."""
    import os

    from suggest import parallel

    seen = parallel._WORKER_SHARED.setdefault("loads_seen", set())
    seen.add(id(shared))
    return os.getpid(), len(seen)


def test_replay_command_takes_jobs_and_refuses_bad_values(world, tmp_path):
    base = ["replay", "--dataset", str(world / "dataset.yaml"), "--rules", RULES,
            "--engines", "rules,popular", "--chunk-size", "100"]
    one = CliRunner().invoke(main, [*base, "-o", str(tmp_path / "a"), "--json"])
    two = CliRunner().invoke(main, [*base, "-o", str(tmp_path / "b"), "--json", "--jobs", "2"])
    assert one.exit_code == 0 and two.exit_code == 0, two.output
    assert_same_run(tmp_path / "a", tmp_path / "b")
    bad = CliRunner().invoke(main, [*base, "-o", str(tmp_path / "c"), "--jobs", "0"])
    assert bad.exit_code == 2 and "--jobs must be at least 1, not 0" in bad.output
    # a slip of extra zeros: refused before a process starts (ten thousand ran the machine
    # out of memory)
    many = CliRunner().invoke(main, [*base, "-o", str(tmp_path / "e"), "--jobs", "10000"])
    assert many.exit_code == 2 and "--jobs 10000 is far more than this machine's" in many.output
    not_an_address = CliRunner().invoke(main, [*base, "-o", str(tmp_path / "d"), "--dask", "nowhere"])
    assert not_an_address.exit_code == 2 and "'nowhere' is not a scheduler address" in not_an_address.output
    train_jobs = CliRunner().invoke(main, ["train", "--dataset", str(world / "dataset.yaml"),
                                           "-o", str(tmp_path / "m"), "--jobs", "2"])
    assert train_jobs.exit_code == 2 and "give --dask too" in train_jobs.output
