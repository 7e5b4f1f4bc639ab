"""Why a rule fired or not, how often rules fire on a log, and static lint.

* :func:`context_frame` turns one context (a JSON object) into a one-row
  Requests frame, so single-context calls reuse the batch evaluator.
* :func:`explain` gives every rule's state for one context with its first
  failing condition and the actual value ("battery=18, needs gte 20").
* :func:`coverage` counts, over a log, how often each rule fired, was
  shadowed (fired but put nothing in the final list), or was missed by a
  single condition of its top-level ``all`` (a near miss), and which never fire.
* :func:`lint` finds, without data, rules that can never fire (contradicting
  conditions on one field) and rules always shadowed by an earlier one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from suggest.data.timefields import TIME_FIELDS, context_time
from suggest.errors import SuggestError
from suggest.rules.compile import Evaluator, Truth3
from suggest.rules.engine import RulesEngine, unique_columns
from suggest.rules.model import Group, Leaf, Rule, RuleSet, leaves


def context_frame(context: dict, types: dict[str, str] | None = None) -> pd.DataFrame:
    """A one-row Requests frame from a context mapping.

    ``timestamp`` (ISO 8601) is parsed to UTC; ``timezone`` names the zone of
    a timestamp written without an offset. Other values keep their JSON type
    (text -> categorical, number -> numeric, true/false -> boolean) unless
    ``types`` (from a dataset description) says otherwise.
    """
    if not isinstance(context, dict):
        raise SuggestError(f"a context must be a JSON object, not {type(context).__name__}",
                           hint='e.g. {"location": "commute", "battery": 40}')
    types = types or {}
    row: dict[str, pd.Series] = {"request_id": pd.Series([str(context.get("request_id", "context"))]),
                                 "user_id": pd.Series([str(context.get("user_id", "-"))])}
    for key, value in context.items():
        if key in ("request_id", "user_id"):
            continue
        if key == "timestamp":
            if value is None:  # no time, as in the single-context fast path
                continue
            zone = context.get("timezone")
            stamp = context_time(value, zone)
            if zone:
                row["timezone"] = pd.Series([str(zone)])
            else:  # the offset written in the timestamp gives the local time
                row.update({k: pd.Series([v], dtype=t) for k, v, t in (
                    ("hour", stamp.hour, "Int8"), ("minute", stamp.minute, "Int8"),
                    ("weekday", stamp.weekday(), "Int8"), ("is_weekend", stamp.weekday() >= 5,
                                                           "boolean"))})
            row[key] = pd.Series([stamp.tz_convert("UTC")])
            continue
        if key == "timezone":
            continue
        kind = types.get(key) or ("boolean" if isinstance(value, bool) else
                                  "numeric" if isinstance(value, (int, float)) else "categorical")
        if value is None:
            row[key] = pd.Series([np.nan], dtype=float) if kind != "categorical" else \
                pd.Series(pd.Categorical([None]))
        elif kind == "boolean":
            row[key] = pd.Series([str(value).lower() in ("true", "1", "yes")], dtype="boolean")
        elif kind == "numeric":
            number = pd.to_numeric(pd.Series([value]), errors="coerce")
            if number.isna().all():
                raise SuggestError(f"context field '{key}': {value!r} is not a number")
            row[key] = number.astype(float)
        else:
            row[key] = pd.Series(pd.Categorical([str(value)]))
    return pd.DataFrame(row)


# -- explain -----------------------------------------------------------------------------

def _blame(node: Leaf | Group, ev: Evaluator) -> Leaf | Group | None:
    """The first condition that keeps ``node`` from being true on row 0."""
    result = ev.evaluate(node)
    if result.true[0]:
        return None
    if isinstance(node, Leaf) or node.kind == "not":
        return node
    wanted_unknown = not result.known[0]
    for child in node.children:
        part = ev.evaluate(child)
        if part.true[0]:
            continue
        if node.kind == "all" and (part.known[0] or wanted_unknown):
            return _blame(child, ev)
        if node.kind == "any" and (not part.known[0]) == wanted_unknown:
            return _blame(child, ev)
    return node


def _actual(frame: pd.DataFrame, ev: Evaluator, name: str):
    if name == "time":
        fields = ev.time_fields()
        if fields is None or pd.isna(fields["hour"].iloc[0]):
            return None
        day = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[int(fields["weekday"].iloc[0])]
        return f"{day} {int(fields['hour'].iloc[0]):02d}:{int(fields['minute'].iloc[0]):02d}"
    if name in TIME_FIELDS and ev.time_fields() is not None:
        value = ev.time_fields()[name].iloc[0]
    elif name in frame.columns:
        value = frame[name].iloc[0]
    else:
        return None
    if pd.isna(value):
        return None
    value = value.item() if hasattr(value, "item") else value
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _describe(node: Leaf | Group) -> str:
    if isinstance(node, Leaf):
        return str(node)
    inner = ", ".join(_describe(c) if isinstance(c, Group) else f"{c.field} {c}" for c in node.children)
    return f"{node.kind}({inner})"


def explain(engine: RulesEngine, context: dict, k: int | None = None,
            types: dict[str, str] | None = None) -> dict:
    """Explain one context: suggestions, blocked items and every rule's state.

    Returns the object ``suggest rules explain --json`` prints::

        {"suggestions": [{"item_id", "score", "rules": [ids]}],
         "blocked": [{"item_id", "rules": [ids]}],
         "rules": [{"id", "state": "true|false|unknown",
                    "failed": {"path", "field", "value", "condition"} or None,
                    "matched": [{"field", "value", "condition"}] for a rule that fired}]}
    """
    frame = context_frame(context, types)
    rs = engine.rule_set_
    out = engine.suggest(frame, k or rs.max_suggestions)
    blocked = engine.blocked(frame)
    ev = Evaluator(frame, rs.timezone or engine.timezone)
    states = []
    for rule in rs.rules:
        result = ev.evaluate(rule.when)
        state = "true" if result.true[0] else ("false" if result.known[0] else "unknown")
        failed = None
        if state != "true":
            node = _blame(rule.when, ev)
            name = node.field if isinstance(node, Leaf) else None
            failed = {"path": node.path, "field": name,
                      "value": _actual(frame, ev, name) if name else None,
                      "condition": _describe(node)}
        matched = None
        if state == "true":  # what made it fire: its true conditions with the actual values
            matched = [{"field": leaf.field, "value": _actual(frame, ev, leaf.field),
                        "condition": str(leaf)} for leaf in leaves(rule.when)
                       if ev.evaluate(leaf).true[0]][:4]
        states.append({"id": rule.id, "state": state, "failed": failed, "matched": matched})
    return {
        "suggestions": [{"item_id": str(r.item_id), "score": float(r.score),
                         "rules": str(r.reason).split(",")} for r in out.itertuples()],
        "blocked": [{"item_id": str(r.item_id), "rules": r.rules.split(",")}
                    for r in blocked.itertuples()],
        "rules": states,
    }


def explain_text(result: dict) -> str:
    """The terminal form of :func:`explain`."""
    lines = ["suggestions:"]
    lines += [f"  {i}. {s['item_id']}  (rules: {', '.join(s['rules'])})"
              for i, s in enumerate(result["suggestions"], 1)] or ["  (none: no rule fired that suggests)"]
    if result["blocked"]:
        lines.append("blocked: " + ", ".join(f"{b['item_id']} ({', '.join(b['rules'])})"
                                             for b in result["blocked"]))
    lines.append("rules (unknown: a field the condition needs is missing from the context, so the "
                 "rule cannot fire):")
    width = max(len(r["id"]) for r in result["rules"])
    for r in result["rules"]:
        mark = {"true": "fired", "false": "not fired", "unknown": "unknown"}[r["state"]]
        why = ""
        if r["failed"]:
            f = r["failed"]
            value = "missing" if f["value"] is None else json.dumps(f["value"], default=str)
            why = f"  {f['path']}: {f['field'] or ''}={value}, needs {f['condition']}" if f["field"] \
                else f"  {f['path']}: needs {f['condition']}"
        if r.get("matched"):
            why = "  " + ", ".join(
                f"{m['field']}={'missing' if m['value'] is None else json.dumps(m['value'], default=str)}"
                f" ({m['condition']})" for m in r["matched"])
        lines.append(f"  {r['id']:<{width}}  {mark:<9}{why}")
    return "\n".join(lines)


# -- coverage ----------------------------------------------------------------------------

@dataclass
class Coverage:
    """Per-rule firing counts over a log; ``to_table()`` and ``to_dict()``."""

    requests: int
    rows: list[dict] = field(default_factory=list)
    answered: int = 0

    @property
    def never_fire(self) -> list[str]:
        return [r["id"] for r in self.rows if r["fired"] == 0]

    def to_dict(self) -> dict:
        return {"requests": self.requests, "answered": self.answered, "rules": self.rows,
                "never_fire": self.never_fire}

    def to_table(self) -> str:
        width = max([len(r["id"]) for r in self.rows] + [4])
        head = (f"{'rule':<{width}} {'fired':>8} {'fired %':>8} {'shadowed':>9} {'near miss':>10}"
                "  most missed by")
        silent = self.requests - self.answered
        lines = [f"{self.requests:,} requests; the rules suggest something for {self.answered:,} "
                 f"({100 * self.answered / max(self.requests, 1):.1f}%) and are silent for {silent:,}",
                 "", head, "-" * len(head)]
        for r in self.rows:
            lines.append(f"{r['id']:<{width}} {r['fired']:>8,} {100 * r['fired_rate']:>7.1f}% "
                         f"{r['shadowed']:>9,} {r['near_misses']:>10,}  {r['top_near_miss'] or ''}")
        if self.never_fire:
            lines.append(f"never fire: {', '.join(self.never_fire)}")
        lines += ["",
                  "fired: requests where the rule's condition is true.",
                  "shadowed: it fired, but the final list is the same without it (other rules",
                  "  placed its items higher, the list was full, or its items were blocked).",
                  "near miss: every condition of its top-level `all` held but one; the last column",
                  "  names the condition that most often failed."]
        return "\n".join(lines)


def coverage(engine: RulesEngine, requests: pd.DataFrame, k: int | None = None) -> Coverage:
    """How each rule behaves over ``requests`` (see the module docstring).

    A rule is *shadowed* on a request when it fired but the request's final
    list would be the same without it (other rules already placed its items
    higher, or ``k`` cut them).
    """
    rs = engine.rule_set_
    k = k or rs.max_suggestions
    by_rule = engine._fired_by_rule(requests)
    fired = by_rule.T
    patterns, inverse = unique_columns(by_rule)
    per_pattern = np.bincount(inverse, minlength=len(patterns))
    ev = Evaluator(requests, rs.timezone or engine.timezone)
    rows = []
    for j, rule in enumerate(rs.rules):
        shadowed = 0
        if engine.proposals_[j]:
            for p in np.flatnonzero(patterns[:, j]):
                without = patterns[p].copy()
                without[j] = False
                if engine._resolve(patterns[p], k)[0] == engine._resolve(without, k)[0]:
                    shadowed += int(per_pattern[p])
        misses, top = _near_misses(rule, ev)
        rows.append({"id": rule.id, "fired": int(fired[:, j].sum()),
                     "fired_rate": float(fired[:, j].mean()) if len(requests) else 0.0,
                     "shadowed": shadowed, "near_misses": misses, "top_near_miss": top})
    answered = int(sum(per_pattern[p] for p in range(len(patterns)) if engine._resolve(patterns[p], k)[0]))
    return Coverage(len(requests), rows, answered)


def _near_misses(rule: Rule, ev: Evaluator) -> tuple[int, str | None]:
    """Requests where exactly one part of the top-level ``all`` is false and the rest true."""
    node = rule.when
    if not isinstance(node, Group) or node.kind != "all" or len(node.children) < 2:
        return 0, None
    parts: list[Truth3] = [ev.evaluate(c) for c in node.children]
    trues = np.array([p.true for p in parts])
    falses = np.array([p.false for p in parts])
    one_off = (falses.sum(axis=0) == 1) & (trues.sum(axis=0) == len(parts) - 1)
    if not one_off.any():
        return 0, None
    culprit = falses[:, one_off].sum(axis=1)
    worst = node.children[int(np.argmax(culprit))]
    label = f"{worst.field} {worst}" if isinstance(worst, Leaf) else _describe(worst)
    return int(one_off.sum()), f"{worst.path}: {label}"


# -- lint --------------------------------------------------------------------------------

def lint(rs: RuleSet) -> list[str]:
    """Warnings ``file:line:col: rule 'id': ...`` for rules that cannot fire or never matter."""
    warnings = []
    for rule in rs.rules:
        reason = _contradiction(rule.when)
        if reason:
            warnings.append(f"{rule.where}: rule '{rule.id}' can never fire: {reason}")
    conjuncts = [_conjuncts(r.when) for r in rs.rules]
    for b, rule in enumerate(rs.rules):
        if not rule.suggest or rule.block:
            continue
        for a in range(b):
            earlier = rs.rules[a]
            if conjuncts[a] is None or conjuncts[b] is None or not conjuncts[a] <= conjuncts[b]:
                continue
            if not earlier.suggest:
                continue
            if rs.conflict == "first" or _covers(earlier, rule):
                warnings.append(f"{rule.where}: rule '{rule.id}' is always shadowed by rule "
                                f"'{earlier.id}' (it fires whenever '{rule.id}' does and comes first)")
                break
    return sorted(warnings, key=_line_of)


def _line_of(message: str) -> tuple[int, str]:
    parts = message.split(":")
    return (int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else 0, message)


def _conjuncts(node: Leaf | Group) -> frozenset | None:
    if isinstance(node, Leaf):
        return frozenset([(node.field, node.op, repr(node.value))])
    if node.kind != "all":
        return frozenset([repr(node)])
    parts = [_conjuncts(c) for c in node.children]
    return None if any(p is None for p in parts) else frozenset().union(*parts)


def _covers(a: Rule, b: Rule) -> bool:
    """Every item of ``b`` is proposed by ``a`` at a key at least as good."""
    best = {p.item: (a.priority, p.score) for p in a.suggest if p.item is not None}
    return all(p.item in best and best[p.item] >= (b.priority, p.score) for p in b.suggest) \
        and all(p.item is not None for p in b.suggest) and a.priority >= b.priority


def _contradiction(node: Leaf | Group) -> str | None:
    """A reason when an ``all`` holds leaves on one field that no value satisfies."""
    if isinstance(node, Leaf) or node.kind != "all":
        return None
    by_field: dict[str, list[Leaf]] = {}
    for child in node.children:
        if isinstance(child, Leaf):
            by_field.setdefault(child.field, []).append(child)
        elif (inner := _contradiction(child)) is not None:
            return inner
    for name, group in by_field.items():
        allowed: set | None = None
        low, high = -np.inf, np.inf
        for leaf in group:
            if leaf.op in ("eq", "in"):
                values = {str(v) for v in (leaf.value if leaf.op == "in" else [leaf.value])}
                allowed = values if allowed is None else allowed & values
            elif leaf.op in ("gt", "gte"):
                low = max(low, leaf.value + (1e-12 if leaf.op == "gt" else 0))
            elif leaf.op in ("lt", "lte"):
                high = min(high, leaf.value - (1e-12 if leaf.op == "lt" else 0))
            elif leaf.op == "between":
                low, high = max(low, leaf.value[0]), min(high, leaf.value[1] - 1e-12)
        if allowed is not None and not allowed:
            return f"'{name}' cannot equal all of {', '.join(str(l.value) for l in group)}"
        if low > high:
            return f"no value of '{name}' satisfies {' and '.join(str(l) for l in group)}"
    return None


def check_against(rs: RuleSet, context: dict[str, str], values: dict[str, tuple | None],
                  has_time: bool, items: set[str] | None,
                  observed: dict[str, set] | None = None) -> tuple[list[str], list[str]]:
    """Errors and warnings of a rule set against a dataset's fields, types, values and items.

    A value outside a closed column's ``values`` is an error; a value never
    seen in the log (``observed``) is a warning, since the log may be a sample.
    """
    from suggest.errors import did_you_mean

    errors, warnings = [], []
    time_fields = {*TIME_FIELDS, "time"}
    known = set(context) | (time_fields if has_time else set())
    numeric_ops = {"gt", "gte", "lt", "lte", "between"}
    for rule in rs.rules:
        for leaf in leaves(rule.when):
            where = f"{leaf.where}: rule '{rule.id}' › {leaf.path}"
            if leaf.field not in known:
                if leaf.field in time_fields:
                    errors.append(f"{where}: '{leaf.field}' needs a log with a time column")
                else:
                    hint = did_you_mean(leaf.field, sorted(known))
                    errors.append(f"{where}: unknown field '{leaf.field}'" + (f" ({hint})" if hint else ""))
                continue
            kind = context.get(leaf.field)
            if kind in ("numeric", "boolean") and leaf.op in ("eq", "ne", "in", "not_in") and \
                    leaf.field not in time_fields:
                wrong = [v for v in (leaf.value if isinstance(leaf.value, list) else [leaf.value])
                         if not _fits(kind, v)]
                if wrong:
                    need = "a number" if kind == "numeric" else "true or false"
                    errors.append(f"{where}: '{leaf.field}' is {kind}; {wrong[0]!r} is not {need}")
            if kind == "categorical" and leaf.op in numeric_ops:
                errors.append(f"{where}: '{leaf.field}' is categorical; `{leaf.op}` compares numbers")
            if kind in ("numeric", "boolean") and leaf.op in ("matches", "contains_any", "contains_all"):
                errors.append(f"{where}: '{leaf.field}' is {kind}; `{leaf.op}` reads text")
            closed = values.get(leaf.field)
            if closed and leaf.op in ("eq", "ne", "in", "not_in"):
                for v in leaf.value if isinstance(leaf.value, list) else [leaf.value]:
                    if str(v) not in closed:
                        hint = did_you_mean(v, closed)
                        errors.append(f"{where}: '{v}' is not a value of '{leaf.field}'"
                                      + (f" ({hint})" if hint else f" (values: {', '.join(closed)})"))
            seen = (observed or {}).get(leaf.field)
            if not closed and seen and leaf.op in ("eq", "ne", "in", "not_in"):
                for v in leaf.value if isinstance(leaf.value, list) else [leaf.value]:
                    if str(v) not in seen:
                        hint = did_you_mean(v, sorted(seen))
                        warnings.append(f"{where}: '{v}' never appears in '{leaf.field}' in the log"
                                        + (f" ({hint})" if hint else ""))
        if items is not None:
            for pick in rule.suggest + rule.block:
                if pick.item is not None and pick.item not in items:
                    hint = did_you_mean(pick.item, sorted(items))
                    if " - " in pick.item and not hint:
                        hint = "it looks like several items on one line: put each on its own `- ` line"
                    warnings.append(f"{pick.where}: rule '{rule.id}' › {pick.path}: item '{pick.item}' "
                                    "is in neither the catalog nor the log" + (f" ({hint})" if hint else ""))
    return errors, warnings


def _fits(kind: str, value) -> bool:
    if kind == "boolean":
        return isinstance(value, bool)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# -- whole-file checks and the file's own tests ------------------------------------------

def check(rs: RuleSet, log=None) -> tuple[list[str], list[str]]:
    """Errors and lint warnings for a rule set, against a loaded log when given."""
    warnings = lint(rs)
    if log is None:
        return [], warnings
    closed = {name: spec.values for name, spec in log.dataset.context.items() if spec.values}
    observed = {name: set(log.requests[name].dropna().astype(str).unique())
                for name, kind in log.context.items() if kind == "categorical"}
    items = set(log.catalog["item_id"].astype(str)) | set(log.events["item_id"].astype(str))
    errors, more = check_against(rs, log.context, closed, log.has_time, items, observed)
    slice_errors, slice_warnings = _check_picks(rs, log.catalog)
    return errors + slice_errors, warnings + more + slice_warnings


def _check_picks(rs: RuleSet, catalog: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Catalog slices must name an attribute the catalog has and match some items."""
    from suggest.errors import did_you_mean

    errors, warnings = [], []
    attributes = [c for c in catalog.columns if c != "item_id"]
    for rule in rs.rules:
        for kind, picks in (("suggest", rule.suggest), ("block", rule.block)):
            for pick in picks:
                if pick.slice is None:
                    continue
                where = f"{pick.where}: rule '{rule.id}' › {pick.path}"
                attr, value = pick.slice
                if attr not in attributes:
                    hint = did_you_mean(attr, attributes) or (
                        f"the catalog has {', '.join(attributes)}" if attributes else
                        "the dataset has no catalog attributes: name items instead")
                    errors.append(f"{where}: the catalog has no attribute '{attr}' ({hint})")
                    continue
                values = sorted(catalog[attr].dropna().astype(str).unique())
                if value not in values:
                    hint = did_you_mean(value, values)
                    message = (f"{where}: no item has {attr} '{value}'" + (f" ({hint})" if hint else ""))
                    # a block that matches nothing protects nothing: an error, not a warning
                    (errors if kind == "block" else warnings).append(message)
    return errors, warnings


def run_tests(engine: RulesEngine, types: dict[str, str] | None = None) -> list[dict]:
    """Run the rule file's ``tests:``; one dict per test with ``passed`` and what differed."""
    results = []
    for test in engine.rule_set_.tests:
        try:
            got = explain(engine, test.context, types=types)
        except SuggestError as exc:
            raise SuggestError(f"test '{test.name}': {exc.message}", where=test.where,
                               hint=exc.hint) from None
        items = [s["item_id"] for s in got["suggestions"]]
        blocked = {b["item_id"] for b in got["blocked"]}
        problems = []
        if test.expect is not None and tuple(items) != test.expect:
            problems.append(f"expected {list(test.expect)}, got {items}")
        missing = [b for b in test.blocked if b not in blocked]
        if missing:
            problems.append(f"expected {missing} blocked, blocked were {sorted(blocked)}")
        results.append({"name": test.name, "where": test.where, "passed": not problems,
                        "problems": problems, "suggestions": items})
    return results


def check_context_keys(engine: RulesEngine, context: dict, log=None) -> list[str]:
    """Refuse a context key that neither the rule set nor the dataset knows (a typo such as
    ``wether`` would leave every rule on it "unknown" without a word), and return warnings
    for values the dataset's log never holds (with ``log``, from ``--dataset``)."""
    from suggest.engines.base import CONTEXT_KEYS
    from suggest.errors import did_you_mean, one_of

    if not isinstance(context, dict):
        raise SuggestError(f"a context must be a JSON object, not {type(context).__name__}",
                           hint='e.g. {"location": "home", "battery": 40}')
    fields = {leaf.field for rule in engine.rule_set_.rules for leaf in leaves(rule.when)}
    columns = dict(log.context) if log is not None else {}
    known = {*fields, *columns, *CONTEXT_KEYS, *TIME_FIELDS, "time"}
    for key in context:
        if key not in known:
            where = "the rule set's fields" + (" or the dataset's context columns" if log else "")
            raise SuggestError(f"context key {key!r} is not one of {where}, nor "
                               f"{one_of(CONTEXT_KEYS)}",
                               hint=did_you_mean(str(key), sorted({*fields, *columns}))
                               or f"known fields: {one_of(sorted({*fields, *columns}))}")
    warnings = []
    for key, value in context.items():
        if log is None or columns.get(key) != "categorical" or value is None:
            continue
        seen = log.requests[key].dropna().astype(str)
        if str(value) not in set(seen.unique()):
            near = did_you_mean(str(value), sorted(seen.unique()))
            warnings.append(f"{key}={value!r} never occurs in the dataset's log"
                            + (f" ({near})" if near else ""))
    return warnings
