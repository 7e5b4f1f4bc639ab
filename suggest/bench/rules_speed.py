"""Speed of the YAML rules engine against a per-row loop and the `rule-engine` package.

:func:`measure` builds a synthetic Requests frame (categorical, numeric and
boolean context fields, UTC timestamps with local time fields) and a seeded
random rule set (2-4 conditions a rule: equality, in-lists, numeric ranges,
time windows, most of them crossing midnight; tuned so about 2 rules fire per
request), then measures in one run:

a. ``RulesEngine.suggest(requests, k)`` end to end (evaluation, conflicts,
   top-k, the Suggestions frame), median of ``repeat`` runs, each on a
   freshly fitted engine so no resolved list is cached from a previous run;
b. a straightforward per-row Python loop over the same parsed conditions
   (compiled once to closures, then called row by row, with the same
   conflict resolution and top-k), on a subsample;
c. the ``rule-engine`` package (the ``bench`` extra) with the same conditions
   as rule-engine expressions, on a smaller subsample, followed by the same
   conflict resolution; "not installed" when it is missing;
d. peak memory of the suggest step: the tracemalloc peak of one extra,
   untimed call (numpy and pandas report their buffers to tracemalloc), and
   the process's peak resident set size.

The baselines are given every advantage: their rows are Python dicts built
before the clock starts. Both baselines are checked against the engine on
their subsample (same fired rules, same top-k lists) before they are timed.

>>> result = measure(requests=2_000, loop_sample=200, rule_engine_sample=50, repeat=1)  # doctest: +SKIP
>>> result["per_row_loop"]["ratio"] > 1  # doctest: +SKIP
True
"""

from __future__ import annotations

import json
import statistics
import time
import tracemalloc

import numpy as np
import pandas as pd

from suggest.bench.machine import peak_rss_mib
from suggest.data import local_fields
from suggest.rules import RulesEngine, parse_rules
from suggest.rules.model import Group, Leaf, Window, leaves

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
        decisive = node.kind == "any"  # the value that ends the loop: False for all, True for any

        def all_or_any(row):
            unknown = False
            for p in parts:
                v = p(row)
                if v is decisive:
                    return decisive
                unknown |= v is None
            return None if unknown else not decisive
        return all_or_any
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


def measure(requests: int = 1_000_000, rules: int = 50, k: int = 5, loop_sample: int = 20_000,
            rule_engine_sample: int = 2_000, repeat: int = 5, seed: int = 0,
            log=None, hook=None) -> dict:
    """Time the rules engine, the per-row loop and `rule-engine` on the same workload.

    ``log`` (a callable taking a line) is told what is being done;
    ``hook(fresh_engine, requests)``, when given, is called last (``fresh_engine()``
    makes a fitted engine of the benchmark's rules) and its return value kept as
    ``result["hook"]``. Returns the figures as a dict (``markdown`` renders it).
    """
    say = log or (lambda line: None)
    n = requests
    loop_n, re_n = min(n, loop_sample), min(n, rule_engine_sample)

    t0 = time.perf_counter()
    frame = make_requests(n, seed)
    rules_text, tuning = make_rules(rules, frame.iloc[: min(n, 50_000)], seed)
    say(f"rules: built {n:,} requests and {rules} rules in {time.perf_counter() - t0:.1f} s")

    # (a) end to end, a fresh engine each run so no resolved pattern is reused
    times, suggestions = [], None
    for _ in range(repeat + 1):  # the first run warms imports and caches of pandas/numpy
        suggestions = None  # do not hold the previous run's frame while timing the next
        engine = fresh_engine(rules_text)
        start = time.perf_counter()
        suggestions = engine.suggest(frame, k)
        times.append(time.perf_counter() - start)
    times = times[1:]
    e2e_s = statistics.median(times)
    rss_after_suggest = peak_rss_mib()
    fired = engine.fired(frame)
    packed = np.ascontiguousarray(np.packbits(fired, axis=1))
    patterns = len(np.unique(packed.view(f"V{packed.shape[1]}")))
    answered = suggestions["request_id"].nunique() / n
    suggestion_rows = len(suggestions)
    del suggestions

    # per-stage split of one run (the same work suggest does)
    engine = fresh_engine(rules_text)
    start = time.perf_counter()
    engine.fired(frame)
    fired_s = time.perf_counter() - start

    # (d) memory of the suggest step
    engine = fresh_engine(rules_text)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    engine.suggest(frame, k)
    traced_peak_mib = (tracemalloc.get_traced_memory()[1] - base) / 2**20
    tracemalloc.stop()
    say(f"rules: engine {n / e2e_s:,.0f} requests/s; now the per-row loop on {loop_n:,}")

    # (b) per-row loop over the same parsed conditions
    engine = fresh_engine(rules_text)
    rs = engine.rule_set_
    fields = sorted({leaf.field for r in rs.rules for leaf in leaves(r.when)} - {"time"}
                    | {"hour", "minute", "weekday"})
    resolver = RowResolver(engine)
    sample = frame.iloc[:loop_n]
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
        say(f"WARNING: per-row loop and engine differ, first at row {bad}: "
            f"{loop_lists[bad]} vs {engine_lists[bad]}")

    # (c) rule-engine on a smaller subsample, then the same resolution
    re_result = _rule_engine(rs, rows[:re_n], resolver, min(k, rs.max_suggestions),
                             [np.flatnonzero(f).tolist() for f in fired[:re_n]], engine_lists[:re_n], say)

    e2e_rps = n / e2e_s
    loop_rps = loop_n / loop_s
    if re_result["available"]:
        re_result["ratio"] = e2e_rps / re_result["requests_per_s"]
    result = {
        "config": {"requests": n, "rules": rules, "k": k, "seed": seed, "repeat": repeat,
                   "loop_sample": loop_n, "rule_engine_sample": re_n},
        "workload": {"fired_per_request": round(float(fired.sum(1).mean()), 3),
                     "distinct_fired_patterns": int(patterns), "answered_rate": round(answered, 4),
                     "suggestion_rows": suggestion_rows, **tuning},
        "end_to_end": {"seconds_median": e2e_s, "seconds_all": times, "requests_per_s": e2e_rps,
                       "evaluation_seconds": fired_s, "top_k_and_frame_seconds": e2e_s - fired_s},
        "per_row_loop": {"rows": loop_n, "seconds": loop_s, "requests_per_s": loop_rps,
                         "agrees": loop_agrees and loop_agrees_fired, "ratio": e2e_rps / loop_rps,
                         "evaluation_seconds": loop_eval_s, "evaluation_requests_per_s": loop_n / loop_eval_s,
                         "evaluation_ratio": (n / fired_s) / (loop_n / loop_eval_s)},
        "rule_engine": re_result,
        "memory": {"suggest_traced_peak_mib": traced_peak_mib,
                   "process_peak_rss_after_suggest_mib": rss_after_suggest,
                   "process_peak_rss_at_end_mib": peak_rss_mib()},
        "targets": TARGETS,
    }
    if hook is not None:
        result["hook"] = hook(lambda: fresh_engine(rules_text), frame)
    return result


def _rule_engine(rule_set, rows: list[dict], resolver: RowResolver, k: int, ours: list[list[int]],
                 engine_lists: list[list[str]], say) -> dict:
    """(c): the `rule-engine` package on ``rows``, or ``{"available": False}`` without it."""
    try:
        import rule_engine
    except ImportError:
        say("rules: rule-engine is not installed (pip install rule-engine): its row says so")
        return {"available": False}
    expressions = [to_rule_engine(r.when) for r in rule_set.rules]
    compiled = [rule_engine.Rule(e) for e in expressions]
    start = time.perf_counter()
    fired, lists = [], []
    for row in rows:
        hits = [j for j, rule in enumerate(compiled) if rule.matches(row)]
        fired.append(hits)
        lists.append(resolver.top(hits, k))
    seconds = time.perf_counter() - start
    agrees = fired == ours and lists == engine_lists
    if not agrees:
        say("WARNING: rule-engine and the engine fire different rules")
    return {"available": True, "version": getattr(rule_engine, "__version__", "?"), "rows": len(rows),
            "seconds": seconds, "requests_per_s": len(rows) / seconds, "agrees": agrees,
            "example_expression": expressions[0]}


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
    w = r["workload"]
    rows.append("")
    rows.append(f"{r['config']['rules']} rules, {w['fired_per_request']} firing per request, "
                f"{w['distinct_fired_patterns']:,} distinct fired-rule patterns, answered rate "
                f"{w['answered_rate']:.1%}, {w['suggestion_rows']:,} suggestion rows.")
    return "\n".join(rows)


