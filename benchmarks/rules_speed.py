"""Speed of the YAML rules engine against a per-row loop and the `rule-engine` package.

Builds a synthetic Requests frame (categorical, numeric and boolean context
fields, UTC timestamps with local time fields) and a seeded random rule set
(2-4 conditions a rule: equality, in-lists, numeric ranges, time windows,
most of them crossing midnight; tuned so about 2 rules fire per request),
then measures in one run:

a. ``RulesEngine.suggest(requests, 5)`` end to end (evaluation, conflicts,
   top-5, the Suggestions frame), median of ``--repeat`` runs, each on a
   freshly fitted engine so no resolved list is cached from a previous run;
b. a straightforward per-row Python loop over the same parsed conditions
   (compiled once to closures, then called row by row, with the same
   conflict resolution and top-5), on a subsample;
c. the ``rule-engine`` package (``pip install rule-engine``, or the ``bench``
   extra) with the same conditions as rule-engine expressions, on a smaller
   subsample, followed by the same conflict resolution;
d. peak memory of the suggest step: the tracemalloc peak of one extra,
   untimed call (numpy and pandas report their buffers to tracemalloc), and
   the process's peak resident set size at the end.

The baselines are given every advantage: their rows are Python dicts built
before the clock starts. Both baselines are checked against the engine on
their subsample (same fired rules, same top-5 lists) before they are timed.

Usage::

    python benchmarks/rules_speed.py                      # 1M requests x 50 rules
    python benchmarks/rules_speed.py --quick              # 100k requests, smaller samples
    python benchmarks/rules_speed.py --requests 2000000 --rules 100 --out /tmp/speed.json
    python benchmarks/rules_speed.py --profile            # also cProfile one suggest call

It prints a Markdown table; ``--out`` also writes the figures as JSON (to
that file, or to ``rules_speed.json`` inside it when it is a directory).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

from suggest.data import local_fields
from suggest.rules import RulesEngine, parse_rules
from suggest.rules.model import Group, Leaf, Window

TARGETS = {"requests_per_s": 2_000_000, "vs_loop": 20, "vs_rule_engine": 500, "peak_mib": 1024}

CATEGORICAL = {
    "location": ["home", "work", "commute", "gym", "other"],
    "activity": ["still", "walking", "running", "driving", "in_vehicle"],
    "weather": ["sunny", "cloudy", "rain", "snow"],
    "network": ["wifi", "cellular", "offline"],
    "device": ["phone", "tablet", "watch"],
}
NUMERIC = {  # name: (low, high, share missing)
    "battery": (1, 100, 0.0),
    "minutes_to_next_event": (0, 600, 0.35),
    "speed_kmh": (0, 130, 0.0),
}
ZONES = ["America/New_York", "Europe/Berlin", "Asia/Seoul"]
N_ITEMS = 300
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


# -- data ----------------------------------------------------------------------------------

def make_requests(n: int, seed: int) -> pd.DataFrame:
    """A Requests frame like ``suggest.data.load`` builds, with ``n`` rows."""
    rng = np.random.default_rng(seed)
    frame = {"request_id": pd.array(np.char.add("r", np.char.zfill(np.arange(1, n + 1).astype("U"), 8)),
                                    dtype="str"),
             "user_id": pd.array(np.char.add("u", np.char.zfill(rng.integers(1, 100_000, n).astype("U"), 6)),
                                 dtype="str")}
    start = pd.Timestamp("2026-03-02", tz="UTC").value // 10**9
    seconds = rng.integers(0, 28 * 86400, n)
    frame["timestamp"] = pd.Series(pd.to_datetime(start + seconds, unit="s", utc=True))
    frame["timezone"] = pd.Series(pd.Categorical(rng.choice(ZONES, n), categories=ZONES))
    for name, values in CATEGORICAL.items():
        weights = rng.dirichlet(np.full(len(values), 4.0))
        frame[name] = pd.Categorical.from_codes(rng.choice(len(values), n, p=weights), categories=values)
    for name, (low, high, missing) in NUMERIC.items():
        values = np.round(rng.uniform(low, high, n))
        values[rng.random(n) < missing] = np.nan
        frame[name] = values
    frame["headphones"] = pd.array(rng.random(n) < 0.3, dtype="boolean")
    requests = pd.DataFrame(frame)
    local = local_fields(requests["timestamp"], requests["timezone"].astype(str))
    return pd.concat([requests, local], axis=1)


def _condition(rng: np.random.Generator) -> dict:
    """One random condition as YAML data."""
    kind = rng.choice(["eq", "in", "range", "window"], p=[0.3, 0.25, 0.2, 0.25])
    if kind == "eq":
        name = rng.choice(list(CATEGORICAL))
        return {name: str(rng.choice(CATEGORICAL[name]))}
    if kind == "in":
        name = rng.choice(list(CATEGORICAL))
        values = CATEGORICAL[name]
        return {name: [str(v) for v in rng.choice(values, int(rng.integers(2, len(values))), replace=False)]}
    if kind == "range":
        name = rng.choice(list(NUMERIC))
        low, high, _ = NUMERIC[name]
        a, b = sorted(rng.choice(np.arange(low, high + 1), 2, replace=False).tolist())
        op = rng.choice(["between", "gte", "lt"])
        return {name: {"between": [a, b]} if op == "between" else {str(op): a if op == "gte" else b}}
    # a time window, crossing midnight three times in four
    if rng.random() < 0.75:
        start, end = int(rng.integers(19 * 2, 24 * 2)) * 30, int(rng.integers(1 * 2, 6 * 2)) * 30
    else:
        start = int(rng.integers(5 * 2, 16 * 2)) * 30
        end = start + int(rng.integers(2 * 2, 6 * 2)) * 30
    window = {"between": [f"{start // 60:02d}:{start % 60:02d}", f"{end // 60:02d}:{end % 60:02d}"]}
    if rng.random() < 0.5:
        window["days"] = sorted(rng.choice(7, int(rng.integers(2, 6)), replace=False).tolist())
        window["days"] = [DAYS[d] for d in window["days"]]
    return {"time": window}


def make_rules(n_rules: int, sample: pd.DataFrame, seed: int, target: float = 2.0) -> tuple[str, dict]:
    """A rule file (YAML text) of ``n_rules`` random rules, about ``target`` firing per request.

    Candidates are drawn with 2-4 conditions and kept when their firing rate
    on ``sample`` lies near ``target / n_rules``; about one rule in twelve
    blocks items instead of suggesting them.
    """
    rng = np.random.default_rng(seed + 1)
    want = target / n_rules
    rules, rates, tries = [], [], 0
    while len(rules) < n_rules:
        tries += 1
        spec = [_condition(rng) for _ in range(int(rng.integers(2, 5)))]
        fields = [next(iter(c)) for c in spec]
        if len(set(fields)) < len(fields):  # one condition per field, as a person writes them
            continue
        rule = {"id": f"r{len(rules) + 1:03d}", "when": {"all": spec}}
        rate = _rate(rule, sample)
        if not (0.5 * want <= rate <= 1.6 * want):
            continue
        if rng.random() < 1 / 12:
            rule["block"] = [f"i{int(i):04d}" for i in rng.choice(N_ITEMS, 2, replace=False)]
        else:
            rule["priority"] = int(rng.integers(0, 4))
            picks = rng.choice(N_ITEMS, int(rng.integers(2, 5)), replace=False)
            rule["suggest"] = [{"item": f"i{int(i):04d}", "score": round(float(rng.uniform(0.1, 1)), 1)}
                               if rng.random() < 0.4 else f"i{int(i):04d}" for i in picks]
        rules.append(rule)
        rates.append(rate)
    text = json.dumps({"version": 1, "conflict": "priority", "max_suggestions": 5, "rules": rules})
    return text, {"candidates_drawn": tries, "expected_fired_per_request": round(sum(rates), 3)}


def _rate(rule: dict, sample: pd.DataFrame) -> float:
    spec = dict(rule, suggest=["x"])
    rs = parse_rules(json.dumps({"rules": [spec]}), source="<candidate>")
    return float(RulesEngine(rs).fit().fired(sample).mean())


# -- the per-row baseline ------------------------------------------------------------------

def compile_row(node: Leaf | Group):
    """A closure row -> True / False / None (unknown) for a parsed condition."""
    if isinstance(node, Group):
        parts = [compile_row(c) for c in node.children]
        if node.kind == "not":
            inner = parts[0]
            return lambda row: None if (v := inner(row)) is None else not v
        if node.kind == "all":
            def all_(row):
                unknown = False
                for p in parts:
                    v = p(row)
                    if v is False:
                        return False
                    unknown |= v is None
                return None if unknown else True
            return all_

        def any_(row):
            unknown = False
            for p in parts:
                v = p(row)
                if v is True:
                    return True
                unknown |= v is None
            return None if unknown else False
        return any_
    name, op, value = node.field, node.op, node.value
    if op == "window":
        w: Window = value
        days = frozenset(w.days if w.days is not None else range(7))
        start, end = w.start, w.end

        def window(row):
            hour, minute, day = row["hour"], row["minute"], row["weekday"]
            if hour is None:
                return None
            clock = hour * 60 + minute
            if start < end:
                return start <= clock < end and day in days
            return (clock >= start and day in days) or (clock < end and (day - 1) % 7 in days)
        return window
    tests = {
        "eq": lambda v: v == value, "ne": lambda v: v != value,
        "gt": lambda v: v > value, "gte": lambda v: v >= value,
        "lt": lambda v: v < value, "lte": lambda v: v <= value,
        "between": lambda v: value[0] <= v < value[1],
    }
    if op in ("in", "not_in"):
        members = frozenset(value)
        test = (lambda v: v in members) if op == "in" else (lambda v: v not in members)
    elif op in tests:
        test = tests[op]
    else:
        raise NotImplementedError(f"the per-row baseline does not implement '{op}'")

    def leaf(row):
        v = row[name]
        return None if v is None else test(v)
    return leaf


class RowResolver:
    """Conflict resolution and top-k for one request, as DESIGN section 4 describes (priority mode)."""

    def __init__(self, engine: RulesEngine):
        self.rules = engine.rule_set_.rules
        self.proposals = engine.proposals_
        self.blocks = engine.blocks_

    def top(self, fired: list[int], k: int) -> list[str]:
        best, blocked = {}, set()
        for j in fired:
            rule = self.rules[j]
            blocked |= self.blocks[j]
            for pos, (item, score) in enumerate(self.proposals[j]):
                key = (-rule.priority, -score, rule.order, pos)
                if item not in best or key < best[item]:
                    best[item] = key
        ranked = sorted((key, item) for item, key in best.items() if item not in blocked)
        return [item for _, item in ranked[:k]]


def row_dicts(frame: pd.DataFrame, fields: list[str]) -> list[dict]:
    """Rows as plain dicts of Python values; missing values are None."""
    columns = {}
    for name in fields:
        values = frame[name].astype(object).to_numpy()
        columns[name] = [None if (v is None or v is pd.NA or (isinstance(v, float) and v != v)) else
                         (bool(v) if isinstance(v, (bool, np.bool_)) else
                          int(v) if isinstance(v, (np.integer,)) else
                          float(v) if isinstance(v, np.floating) else v) for v in values]
    return [dict(zip(fields, vals)) for vals in zip(*(columns[f] for f in fields))]


def per_row_loop(rows: list[dict], conditions: list, resolver: RowResolver, k: int) -> list[list[str]]:
    out = []
    for row in rows:
        fired = [j for j, cond in enumerate(conditions) if cond(row) is True]
        out.append(resolver.top(fired, k))
    return out


# -- the rule-engine baseline --------------------------------------------------------------

def to_rule_engine(node: Leaf | Group) -> str:
    """The same condition as a `rule-engine` expression (missing values never match)."""
    if isinstance(node, Group):
        parts = [to_rule_engine(c) for c in node.children]
        if node.kind == "not":
            return f"not ({parts[0]})"
        return "(" + (" and " if node.kind == "all" else " or ").join(parts) + ")"
    name, op, value = node.field, node.op, node.value
    if op == "window":
        w: Window = value
        clock = "(hour * 60 + minute)"
        days = list(w.days if w.days is not None else range(7))
        if w.start < w.end:
            return f"(hour != null and {clock} >= {w.start} and {clock} < {w.end} and weekday in {days})"
        return (f"(hour != null and (({clock} >= {w.start} and weekday in {days}) or "
                f"({clock} < {w.end} and ((weekday + 6) % 7) in {days})))")
    lit = json.dumps
    simple = {"eq": "==", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
    if op in simple:
        return f"({name} != null and {name} {simple[op]} {lit(value)})"
    if op == "between":
        return f"({name} != null and {name} >= {lit(value[0])} and {name} < {lit(value[1])})"
    if op == "in":
        return f"({name} != null and {name} in {lit(list(value))})"
    if op == "not_in":
        return f"({name} != null and not {name} in {lit(list(value))})"
    raise NotImplementedError(f"the rule-engine baseline does not translate '{op}'")


# -- measuring -----------------------------------------------------------------------------

def fresh_engine(rules_text: str) -> RulesEngine:
    return RulesEngine(parse_rules(rules_text, source="<benchmark>")).fit()


def lists_of(suggestions: pd.DataFrame, request_ids) -> list[list[str]]:
    grouped = suggestions.assign(item_id=suggestions["item_id"].astype(str)) \
        .groupby("request_id", sort=False)["item_id"].agg(list)
    return [grouped.get(r, []) for r in request_ids]


def peak_rss_mib() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=None, help="requests (default 1,000,000)")
    parser.add_argument("--rules", type=int, default=50, help="rules (default 50)")
    parser.add_argument("--k", type=int, default=5, help="suggestions per request (default 5)")
    parser.add_argument("--loop-sample", type=int, default=None, help="rows for the per-row loop (20,000)")
    parser.add_argument("--rule-engine-sample", type=int, default=None, help="rows for rule-engine (2,000)")
    parser.add_argument("--repeat", type=int, default=None, help="timed suggest runs, median (default 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="100k requests, small samples, 3 runs")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one suggest call")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here (file or directory)")
    args = parser.parse_args(argv)
    quick = args.quick
    n = args.requests or (100_000 if quick else 1_000_000)
    loop_n = min(n, args.loop_sample or (5_000 if quick else 20_000))
    re_n = min(n, args.rule_engine_sample or (500 if quick else 2_000))
    repeat = args.repeat or (3 if quick else 5)
    k = args.k

    t0 = time.perf_counter()
    requests = make_requests(n, args.seed)
    rules_text, tuning = make_rules(args.rules, requests.iloc[: min(n, 50_000)], args.seed)
    setup_s = time.perf_counter() - t0
    print(f"built {n:,} requests and {args.rules} rules in {setup_s:.1f} s", file=sys.stderr)

    # (a) end to end, a fresh engine each run so no resolved pattern is reused
    times, suggestions = [], None
    for _ in range(repeat + 1):  # the first run warms imports and caches of pandas/numpy
        suggestions = None  # do not hold the previous run's frame while timing the next
        engine = fresh_engine(rules_text)
        start = time.perf_counter()
        suggestions = engine.suggest(requests, k)
        times.append(time.perf_counter() - start)
    times = times[1:]
    e2e_s = statistics.median(times)
    rss_after_suggest = peak_rss_mib()
    fired = engine.fired(requests)
    packed = np.ascontiguousarray(np.packbits(fired, axis=1))
    patterns = len(np.unique(packed.view(f"V{packed.shape[1]}")))
    answered = suggestions["request_id"].nunique() / n
    suggestion_rows = len(suggestions)
    del suggestions

    # per-stage split of one run (the same work suggest does)
    engine = fresh_engine(rules_text)
    start = time.perf_counter()
    engine.fired(requests)
    fired_s = time.perf_counter() - start

    # (d) memory of the suggest step
    engine = fresh_engine(rules_text)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    engine.suggest(requests, k)
    traced_peak_mib = (tracemalloc.get_traced_memory()[1] - base) / 2**20
    tracemalloc.stop()

    # (b) per-row loop over the same parsed conditions
    engine = fresh_engine(rules_text)
    rs = engine.rule_set_
    fields = sorted({leaf.field for r in rs.rules for leaf in _leaves(r.when)} - {"time"}
                    | {"hour", "minute", "weekday"})
    resolver = RowResolver(engine)
    sample = requests.iloc[:loop_n]
    rows = row_dicts(sample, fields)
    conditions = [compile_row(r.when) for r in rs.rules]
    start = time.perf_counter()
    loop_lists = per_row_loop(rows, conditions, resolver, min(k, rs.max_suggestions))
    loop_s = time.perf_counter() - start
    start = time.perf_counter()
    loop_fired = [[j for j, cond in enumerate(conditions) if cond(row) is True] for row in rows]
    loop_eval_s = time.perf_counter() - start
    loop_agrees_fired = loop_fired == [np.flatnonzero(f).tolist() for f in fired[:loop_n]]
    engine_lists = lists_of(engine.suggest(sample, k), sample["request_id"])
    loop_agrees = loop_lists == engine_lists
    if not loop_agrees:
        bad = next(i for i, (a, b) in enumerate(zip(loop_lists, engine_lists)) if a != b)
        print(f"WARNING: per-row loop and engine differ, first at row {bad}: "
              f"{loop_lists[bad]} vs {engine_lists[bad]}", file=sys.stderr)

    # (c) rule-engine on a smaller subsample, then the same resolution
    re_result = {"available": False}
    try:
        import rule_engine
    except ImportError:
        print("rule-engine is not installed (pip install rule-engine): skipping (c)", file=sys.stderr)
    else:
        expressions = [to_rule_engine(r.when) for r in rs.rules]
        compiled = [rule_engine.Rule(e) for e in expressions]
        re_rows = rows[:re_n]
        start = time.perf_counter()
        re_fired, re_lists = [], []
        for row in re_rows:
            hits = [j for j, rule in enumerate(compiled) if rule.matches(row)]
            re_fired.append(hits)
            re_lists.append(resolver.top(hits, min(k, rs.max_suggestions)))
        re_s = time.perf_counter() - start
        ours = [np.flatnonzero(f).tolist() for f in fired[:re_n]]
        re_result = {"available": True, "version": getattr(rule_engine, "__version__", "?"),
                     "rows": re_n, "seconds": re_s, "requests_per_s": re_n / re_s,
                     "agrees": re_fired == ours and re_lists == engine_lists[:re_n],
                     "example_expression": expressions[0]}
        if not re_result["agrees"]:
            print("WARNING: rule-engine and the engine fire different rules", file=sys.stderr)

    e2e_rps = n / e2e_s
    loop_rps = loop_n / loop_s
    result = {
        "config": {"requests": n, "rules": args.rules, "k": k, "seed": args.seed, "repeat": repeat,
                   "loop_sample": loop_n, "rule_engine_sample": re_n, "quick": quick},
        "environment": {"python": platform.python_version(), "numpy": np.__version__,
                        "pandas": pd.__version__, "cpus": os.cpu_count(), "machine": platform.machine(),
                        "processor": platform.processor() or platform.machine()},
        "workload": {"fired_per_request": round(float(fired.sum(1).mean()), 3),
                     "distinct_fired_patterns": int(patterns), "answered_rate": round(answered, 4),
                     "suggestion_rows": suggestion_rows, **tuning},
        "end_to_end": {"seconds_median": e2e_s, "seconds_all": times, "requests_per_s": e2e_rps,
                       "evaluation_seconds": fired_s, "top_k_and_frame_seconds": e2e_s - fired_s},
        "per_row_loop": {"rows": loop_n, "seconds": loop_s, "requests_per_s": loop_rps,
                         "agrees": loop_agrees and loop_agrees_fired, "ratio": e2e_rps / loop_rps,
                         "evaluation_seconds": loop_eval_s, "evaluation_requests_per_s": loop_n / loop_eval_s,
                         "evaluation_ratio": (n / fired_s) / (loop_n / loop_eval_s)},
        "rule_engine": {**re_result, **({"ratio": e2e_rps / re_result["requests_per_s"]}
                                        if re_result["available"] else {})},
        "memory": {"suggest_traced_peak_mib": traced_peak_mib,
                   "process_peak_rss_after_suggest_mib": rss_after_suggest,
                   "process_peak_rss_at_end_mib": peak_rss_mib()},
        "targets": TARGETS,
        "command": "python benchmarks/rules_speed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    print(markdown(result))

    if args.profile:
        engine = fresh_engine(rules_text)
        prof = cProfile.Profile()
        prof.enable()
        engine.suggest(requests, k)
        prof.disable()
        text = io.StringIO()
        pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(25)
        print("\n```\n" + text.getvalue().strip() + "\n```")

    if args.out:
        path = args.out / "rules_speed.json" if args.out.is_dir() else args.out
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)
    return result


def _leaves(node):
    if isinstance(node, Leaf):
        yield node
    else:
        for child in node.children:
            yield from _leaves(child)


def markdown(r: dict) -> str:
    n, e2e, loop, rengine, mem = (r["config"]["requests"], r["end_to_end"], r["per_row_loop"],
                                  r["rule_engine"], r["memory"])
    t = r["targets"]
    ok = lambda good: "yes" if good else "**no**"  # noqa: E731
    rows = [
        "| measure | rows | seconds | requests/s | ratio | target | met |",
        "|---|---:|---:|---:|---:|---|---|",
        f"| (a) `RulesEngine.suggest`, end to end (median of {r['config']['repeat']}) | {n:,} | "
        f"{e2e['seconds_median']:.3f} | {e2e['requests_per_s']:,.0f} | | >= {t['requests_per_s']:,} req/s | "
        f"{ok(e2e['requests_per_s'] >= t['requests_per_s'])} |",
        f"| &nbsp;&nbsp; of which rule evaluation (`fired`) | {n:,} | {e2e['evaluation_seconds']:.3f} | "
        f"{n / e2e['evaluation_seconds']:,.0f} | | | |",
        f"| (b) per-row Python loop, same conditions + top-5{'' if loop['agrees'] else ' (DISAGREES)'} | "
        f"{loop['rows']:,} | {loop['seconds']:.3f} | {loop['requests_per_s']:,.0f} | "
        f"{loop['ratio']:,.1f}x | >= {t['vs_loop']}x | {ok(loop['ratio'] >= t['vs_loop'])} |",
        f"| &nbsp;&nbsp; evaluation only, vs `fired` above | {loop['rows']:,} | "
        f"{loop['evaluation_seconds']:.3f} | {loop['evaluation_requests_per_s']:,.0f} | "
        f"{loop['evaluation_ratio']:,.1f}x | | |",
    ]
    if rengine.get("available"):
        rows.append(f"| (c) `rule-engine` {rengine['version']}{'' if rengine['agrees'] else ' (DISAGREES)'} | "
                    f"{rengine['rows']:,} | {rengine['seconds']:.3f} | {rengine['requests_per_s']:,.0f} | "
                    f"{rengine['ratio']:,.0f}x | >= {t['vs_rule_engine']}x | "
                    f"{ok(rengine['ratio'] >= t['vs_rule_engine'])} |")
    else:
        rows.append("| (c) `rule-engine` | not installed | | | | | |")
    rows.append(f"| (d) peak memory of the suggest step (tracemalloc) | {n:,} | | | | "
                f"< {t['peak_mib']:,} MiB | {ok(mem['suggest_traced_peak_mib'] < t['peak_mib'])} "
                f"({mem['suggest_traced_peak_mib']:,.0f} MiB) |")
    rows.append(f"| &nbsp;&nbsp; process peak RSS: input frame + suggest runs / whole benchmark | {n:,} | | | | "
                f"< {t['peak_mib']:,} MiB | {ok(mem['process_peak_rss_after_suggest_mib'] < t['peak_mib'])} "
                f"({mem['process_peak_rss_after_suggest_mib']:,.0f} / {mem['process_peak_rss_at_end_mib']:,.0f} MiB) |")
    w, env = r["workload"], r["environment"]
    rows.append("")
    rows.append(f"{r['config']['rules']} rules, {w['fired_per_request']} firing per request, "
                f"{w['distinct_fired_patterns']:,} distinct fired-rule patterns, answered rate "
                f"{w['answered_rate']:.1%}, {w['suggestion_rows']:,} suggestion rows; Python {env['python']}, "
                f"numpy {env['numpy']}, pandas {env['pandas']}, {env['cpus']} CPUs.")
    return "\n".join(rows)


if __name__ == "__main__":
    main()
