"""Shared test helpers: small logs and dataset descriptions written to ``tmp_path``."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import suggest.data


def write_dataset(folder: Path, log: str | bytes | None = None, *, name: str = "log.csv",
                  **spec) -> Path:
    """Write ``log`` as ``folder/name`` and a dataset description beside it; return the YAML path.

    ``log`` is text (dedented, written as UTF-8), raw bytes, or ``None`` when the
    caller writes the file itself. ``spec`` holds description keys; ``columns``
    is merged into the default ``{user: user, item: item}``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(log, bytes):
        (folder / name).write_bytes(log)
    elif log is not None:
        (folder / name).write_text(textwrap.dedent(log), encoding="utf-8")
    description = {"log": name, "columns": {"user": "user", "item": "item"}}
    description["columns"].update(spec.pop("columns", {}))
    description.update(spec)
    path = folder / "dataset.yaml"
    path.write_text(yaml.safe_dump(description, sort_keys=False), encoding="utf-8")
    return path


def load_checked(path: Path) -> suggest.data.Log:
    """``suggest.data.load`` plus the invariant every load keeps: no row is lost."""
    log = suggest.data.load(path)
    report = log.report
    assert report.rows_in == report.rows_ok + report.rows_rejected
    return log


def reasons_by_line(log: suggest.data.Log) -> dict[int, str]:
    """Rejected log rows as ``{line: reason}``."""
    rejects = log.rejects[log.rejects["source"] == str(log.dataset.log)]
    return dict(zip(rejects["line"].astype(int), rejects["reason"]))


@pytest.fixture
def make_dataset(tmp_path):
    """``make_dataset(log_text, **spec)``: write a log and its description, return the YAML path."""
    counter = iter(range(1_000))

    def make(log: str | bytes | None = None, *, name: str = "log.csv", **spec) -> Path:
        return write_dataset(tmp_path / f"ds{next(counter)}", log, name=name, **spec)

    return make


def traced_peak(call):
    """``call()``'s result and the most bytes Python and numpy held at once during it
    (tracemalloc: numpy reports its arrays there). Warm the code up first: a first call
    also pays for imports and caches."""
    import tracemalloc

    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def make_requests(**columns):
    """A Requests frame with ids q0, q1, ... and the given context columns."""
    import pandas as pd

    n = len(next(iter(columns.values())))
    frame = pd.DataFrame({"request_id": [f"q{i}" for i in range(n)],
                          "user_id": pd.Categorical(["u1"] * n)})
    for name, values in columns.items():
        frame[name] = values
    return frame


def replay_engines_with_ranker() -> dict:
    """Rules, two baselines and a small ranker, unfitted: the ranker's fitted state is large
    enough that shipping it to workers once, not per chunk, matters."""
    from suggest.engines import get_engine

    rules = str(Path(__file__).resolve().parents[1] / "rules" / "phone.yaml")
    return {"rules": get_engine("rules", rules=rules), "popular": get_engine("popular"),
            "user-history": get_engine("user-history"),
            "ranker": get_engine("ranker", rules=rules, n_estimators=15, early_stopping_rounds=5,
                                 explain=False)}


def assert_same_run(a: Path, b: Path) -> None:
    """Two replay folders with the same suggestions, results and summary figures
    (latency is a measurement, so it is left out)."""
    import json

    import pandas as pd

    for name in ("suggestions.parquet", "results.parquet"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(a / name).drop(columns="latency_us", errors="ignore"),
            pd.read_parquet(b / name).drop(columns="latency_us", errors="ignore"))
    sa, sb = (json.loads((p / "summary.json").read_text()) for p in (a, b))
    for engine, figures in sa["engines"].items():
        for key, value in figures.items():
            if "latency" not in key and "_us_" not in key and "seconds" not in key:
                assert sb["engines"][engine][key] == value, (engine, key)
    assert sa["comparisons"] == sb["comparisons"]


def count_calls(monkeypatch, owner, name: str) -> list:
    """Count the calls of ``owner.name`` (a module's function: its recursive calls through
    the module's name count too); the list grows by one per call."""
    calls, original = [], getattr(owner, name)

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


def churning_log(folder: Path) -> Path:
    """A news-like log: ten new items a day, each engaged only in the two days after it
    appears, so most of what the latest days engage did not exist in the training part."""
    rng = np.random.default_rng(3)
    start = pd.Timestamp("2026-03-01", tz="UTC")
    rows = []
    for i, hours in enumerate(np.sort(rng.uniform(0, 30 * 24, 1200))):
        day = int(hours // 24)
        fresh = rng.integers(max(day - 1, 0), day + 1)  # published today or yesterday
        rows.append((f"q{i:04d}", f"u{rng.integers(60)}", f"d{fresh:02d}-{rng.integers(10)}",
                     (start + pd.Timedelta(hours=hours)).isoformat()))
    pd.DataFrame(rows, columns=["request", "user", "item", "time"]).to_csv(folder / "log.csv",
                                                                           index=False)
    return write_dataset(folder, None, columns={"request": "request", "time": "time"})
