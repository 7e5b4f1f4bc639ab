"""``suggest bench``: run the suites, describe the machine, write the results atomically.

:func:`run_bench` runs the precision suite (:mod:`suggest.bench.precision`)
and the speed suite (rules, ranker, metrics in a fresh process each, so
their peak memory is their own; end-to-end replay as whole ``suggest``
processes), then writes ``results.md`` and ``results.json`` into the output
folder. Results already there are removed first and the new ones written
beside their names and moved in place (JSON last), so a run that fails
never leaves a ``results.json`` that looks complete.

>>> result = run_bench("bench-out", suites=("precision",), plan=QUICK)  # doctest: +SKIP
>>> sorted(result)  # doctest: +SKIP
['command', 'machine', 'plan', 'precision', 'seconds', 'suites']
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

from suggest.bench import machine
from suggest.errors import SuggestError, did_you_mean, one_of
from suggest.files import write_atomic

SUITES = ("precision", "speed")
RESULTS = ("results.md", "results.json")


@dataclass(frozen=True)
class Plan:
    """The sizes of one bench run; :data:`FULL` and :data:`QUICK` are what the CLI offers."""

    name: str = "full"
    worlds: tuple[str, ...] = ("default", "context", "personal", "drift", "sparse")
    world_users: int = 150
    world_days: int | None = None          # None: the preset's own (28, drift 42)
    real_logs: bool = True
    resamples: int = 1000
    seed: int = 0
    rules_requests: int = 1_000_000
    rules_loop_sample: int = 20_000
    rules_engine_sample: int = 2_000
    rules_repeat: int = 5
    ranker_users: int = 600
    ranker_days: int = 28
    ranker_contexts: int = 300
    ranker_repeat: int = 3
    ranker_train_rows: int | None = 1_000_000
    metrics_requests: int = 100_000
    replay_users: tuple[int, ...] = (600, 6000)


FULL = Plan()
QUICK = Plan("quick", world_users=40, world_days=14, resamples=500, rules_requests=100_000,
             rules_loop_sample=5_000, rules_engine_sample=500, rules_repeat=3, ranker_users=60,
             ranker_contexts=60, ranker_repeat=2, ranker_train_rows=50_000, metrics_requests=10_000,
             replay_users=(20, 200))


def suites_from(text: str) -> tuple[str, ...]:
    """``precision``, ``speed`` or ``all`` as the suites to run."""
    if text == "all":
        return SUITES
    if text not in SUITES:
        raise SuggestError(f"unknown suite '{text}'",
                           hint=did_you_mean(text, (*SUITES, "all")) or f"use {one_of((*SUITES, 'all'))}")
    return (text,)


def find_project(start: Path | None = None) -> Path:
    """The project folder (with ``rules/phone.yaml`` and ``data/datasets/``): the current
    folder or the source checkout this package runs from."""
    for base in ([start] if start else [Path.cwd(), Path(__file__).resolve().parents[2]]):
        if (base / "rules" / "phone.yaml").is_file() and (base / "data" / "datasets").is_dir():
            return base
    raise SuggestError("suggest bench needs the project folder (rules/phone.yaml and data/datasets/)",
                       hint="run it from the project folder")


def run_bench(out: str | Path, *, suites: tuple[str, ...] = SUITES, plan: Plan = FULL,
              data: str | Path | None = None, project: str | Path | None = None, command: str = "",
              log=None, progress: bool = False) -> dict:
    """Run ``suites`` with the sizes of ``plan``; write ``out/results.{md,json}``; return the JSON.

    ``data`` is the folder holding the real logs (default: where the dataset
    descriptions point); ``log`` (a module-level callable taking a line, such
    as :func:`suggest.bench.machine.say`) is told the progress.
    """
    from suggest.bench import tables

    for suite in suites:
        suites_from(suite)
    project = find_project(Path(project) if project else None)
    data = Path(data) if data is not None else None
    if data is not None and not data.is_dir():
        raise SuggestError(f"--data {data}: no such folder",
                           hint="give the folder that holds the real logs, e.g. ../shared/data")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name in RESULTS:  # an old result must not pass for this run's
        (out / name).unlink(missing_ok=True)
    began = time.perf_counter()
    result = {"suites": list(suites), "plan": dataclasses.asdict(plan), "machine": machine.describe(),
              "command": command}
    if "precision" in suites:
        from suggest.bench import precision

        result["precision"] = precision.measure(plan, project, out, data, log=log, progress=progress)
    if "speed" in suites:
        result["speed"] = speed(plan, project, log)
    result["seconds"] = time.perf_counter() - began
    result = finite(result)
    _write(out / "results.md", tables.markdown(result))
    _write(out / "results.json", json.dumps(result, indent=1, allow_nan=False) + "\n")
    return result


def speed(plan: Plan, project: Path, log=None) -> dict:
    """The speed suite: each part a ratio against its reference, measured in the same run."""
    from suggest.bench import metrics_speed, ranker_speed, replay_speed, rules_speed

    say = log or (lambda line: None)
    rules = str(project / "rules" / "phone.yaml")
    say(f"speed 1/4: rules engine on {plan.rules_requests:,} requests")
    out = {"rules": machine.in_child(rules_speed.measure, requests=plan.rules_requests,
                                     loop_sample=plan.rules_loop_sample,
                                     rule_engine_sample=plan.rules_engine_sample,
                                     repeat=plan.rules_repeat, log=log)}
    say(f"speed 2/4: ranker on a world of {plan.ranker_users} users")
    out["ranker"] = machine.in_child(ranker_speed.measure, rules=rules, users=plan.ranker_users,
                                     days=plan.ranker_days, contexts=plan.ranker_contexts, repeat=plan.ranker_repeat,
                                     train_rows=plan.ranker_train_rows, stages=False, log=log)
    say(f"speed 3/4: metrics on {plan.metrics_requests:,} requests, against ranx and ir-measures")
    out["metrics"] = machine.in_child(metrics_speed.measure, requests=plan.metrics_requests, log=log)
    say(f"speed 4/4: end-to-end replay at {' and '.join(str(u) for u in plan.replay_users)} users")
    out["replay"] = replay_speed.measure(rules, users=plan.replay_users, log=log)
    return out


def finite(value):
    """``value`` with every NaN or infinity replaced by None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        return finite(value.item())
    return value


_write = write_atomic
