"""Benchmarks you can rerun: precision across worlds and real logs, speed against other tools.

``suggest bench`` (and :func:`run_bench`) runs two suites and writes
``results.json`` and ``results.md``:

* precision (:mod:`suggest.bench.precision`): every engine replayed on
  synthetic worlds with different truths and on the real logs found, with
  95% intervals and the paired test of the ranker against the rules;
* speed: the rules engine against a per-row loop and `rule-engine`
  (:mod:`~suggest.bench.rules_speed`), the ranker against raw LightGBM
  (:mod:`~suggest.bench.ranker_speed`), metrics against ranx and
  ir-measures (:mod:`~suggest.bench.metrics_speed`), end-to-end replay at two
  sizes (:mod:`~suggest.bench.replay_speed`).
"""

from suggest.bench.run import FULL, QUICK, Plan, run_bench

__all__ = ["FULL", "QUICK", "Plan", "run_bench"]
