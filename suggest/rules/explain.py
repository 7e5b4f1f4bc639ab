"""Why a rule fired or not for one context, and the rule file's own tests.

* :func:`explain` gives every rule's state for one context with its first
  failing condition and the actual value ("battery=18, needs gte 20").
* :func:`run_tests` runs the rule file's ``tests:`` through :func:`explain`.
* :func:`check_context_keys` refuses a context key nobody knows (a typo).

How often rules fire over a log is :mod:`suggest.rules.coverage`; static
checks of a rule file are :mod:`suggest.rules.checks`.
"""

from __future__ import annotations

import json
import re

import pandas as pd

from suggest.contexts import context_frame
from suggest.data.timefields import TIME_FIELDS
from suggest.errors import SuggestError
from suggest.rules.compile import Evaluator
from suggest.rules.engine import RulesEngine, slice_members
from suggest.rules.model import Group, Leaf, leaves


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


def _actual(frame: pd.DataFrame, ev: Evaluator, leaf: Leaf):
    """The context's value of what ``leaf`` tests: the local clock for a time window, else
    the field (a context column may be named ``time``, as DePaulMovie's is); None missing."""
    name = leaf.field
    if leaf.op == "window":
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


def describe(node: Leaf | Group) -> str:
    if isinstance(node, Leaf):
        return str(node)
    inner = ", ".join(describe(c) if isinstance(c, Group) else f"{c.field} {c}" for c in node.children)
    return f"{node.kind}({inner})"


def explain(engine: RulesEngine, context: dict, k: int | None = None,
            types: dict[str, str] | None = None) -> dict:
    """Explain one context: suggestions, blocked items and every rule's state.

    Returns the object ``suggest rules explain --json`` prints::

        {"suggestions": [{"item_id", "score", "rules": [ids]}],
         "blocked": [{"item_id", "rules": [ids]}],
         "rules": [{"id", "state": "true|false|unknown",
                    "failed": {"path", "field", "value", "condition"} or None,
                    "matched": [{"field", "value", "condition"}] for a rule that fired,
                    "suggests": whether it has a `suggest:` (else it only blocks)}]}
    """
    from suggest.engines.base import as_served, check_values

    context = as_served(engine, context, types)
    check_values(context, types or getattr(engine, "context_columns_", None) or {})
    frame = context_frame(context, types)
    rs = engine.rule_set_
    out = engine.suggest(frame, k or rs.max_suggestions)
    blocked = engine.blocked(frame)
    ev = engine.evaluator(frame)  # in the zone the suggestions were read in (the context's own)
    states = []
    for rule in rs.rules:
        result = ev.evaluate(rule.when)
        state = "true" if result.true[0] else ("false" if result.known[0] else "unknown")
        failed = None
        if state != "true":
            node = _blame(rule.when, ev)
            name = node.field if isinstance(node, Leaf) else None
            failed = {"path": node.path, "field": name,
                      "value": _actual(frame, ev, node) if name else None,
                      "condition": describe(node)}
        matched = None
        if state == "true":  # what made it fire: its true conditions with the actual values
            matched = [{"field": leaf.field, "value": _actual(frame, ev, leaf),
                        "condition": str(leaf)} for leaf in leaves(rule.when)
                       if ev.evaluate(leaf).true[0]][:4]
        states.append({"id": rule.id, "state": state, "failed": failed, "matched": matched,
                       "suggests": bool(rule.suggest)})
    return {
        "suggestions": [{"item_id": str(r.item_id), "score": float(r.score),
                         "rules": str(r.reason).split(",")} for r in out.itertuples()],
        "blocked": [{"item_id": str(r.item_id), "rules": r.rules.split(",")}
                    for r in blocked.itertuples()],
        "rules": states,
    }


#: Blocked items named per rule in :func:`explain_text` (``--json`` lists them all).
BLOCKED_SHOWN = 10


def explain_text(result: dict) -> str:
    """The terminal form of :func:`explain`."""
    lines = ["suggestions:"]
    proposed = any(r["state"] == "true" and r.get("suggests") for r in result["rules"])
    lines += [f"  {i}. {s['item_id']}  (rules: {', '.join(s['rules'])})"
              for i, s in enumerate(result["suggestions"], 1)] or [
        "  (none: the rules that fired proposed only blocked items)" if proposed else
        "  (none: no rule fired that suggests)"]
    if result["blocked"]:  # by the rules that block them: a catalog slice blocks many items
        by_rules: dict[tuple, list[str]] = {}
        for b in result["blocked"]:
            by_rules.setdefault(tuple(b["rules"]), []).append(b["item_id"])
        lines.append(f"blocked ({len(result['blocked']):,} items):")
        for rules, items in by_rules.items():
            shown = ", ".join(items[:BLOCKED_SHOWN]) + (
                f" and {len(items) - BLOCKED_SHOWN:,} more" if len(items) > BLOCKED_SHOWN else "")
            lines.append(f"  by {', '.join(rules)}: {shown}")
    unknown = any(r["state"] == "unknown" for r in result["rules"])
    lines.append("rules" + (" (unknown: a field the condition needs is missing from the context, "
                            "so the rule cannot fire)" if unknown else "") + ":")
    # a rule that fired with none of its items in the list (nor blocking one): the list was
    # full, other rules placed its items first, or another rule blocked them
    said = {rule for part in ("suggestions", "blocked") for s in result[part] for rule in s["rules"]}
    width = max(len(r["id"]) for r in result["rules"])
    unshown = False
    for r in result["rules"]:
        mark = {"true": "fired", "false": "not fired", "unknown": "unknown"}[r["state"]]
        if r["state"] == "true" and r["id"] not in said:
            mark, unshown = "fired*", True
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
    if unshown:
        lines.append("* fired, but none of its items is in the list: it was full, other rules "
                     "placed them first" + (", or a rule blocked them (blocked, above)"
                                            if result["blocked"] else ""))
    return "\n".join(lines)


# -- the rule file's tests and the context's keys ---------------------------------

def run_tests(engine: RulesEngine, types: dict[str, str] | None = None,
              catalog: pd.DataFrame | None = None) -> list[dict]:
    """Run the rule file's ``tests:``; one dict per test with ``passed`` and what differed
    (``catalog``: the one the engine was fitted with, to tell an expected item a catalog
    slice holds but leaves out of its top from one no rule names)."""
    results = []
    rules = engine.rule_set_.rules
    # items only a catalog slice suggests: which of them come first follows their popularity
    # in the log the engine was fitted on, not the file
    named = {p.item for r in rules for p in r.suggest if p.item is not None}
    sliced = {item for r, proposed in zip(rules, engine.proposals_) if any(p.slice for p in r.suggest)
              for item, _ in proposed} - named
    possible = named | {item for proposed in engine.proposals_ for item, _ in proposed}
    left_out = _left_out(rules, catalog)
    for test in engine.rule_set_.tests:
        try:  # a context the engine cannot read (a time a zone skips, an unknown zone) fails
            got = explain(engine, test.context, types=types)  # its test; every test still runs
        except SuggestError as exc:
            results.append({"name": test.name, "where": test.where, "passed": False,
                            "problems": [f"its context cannot be read: {exc.message}"
                                         + (f" ({exc.hint})" if exc.hint else "")],
                            "suggestions": []})
            continue
        items = [s["item_id"] for s in got["suggestions"]]
        blocked = {b["item_id"] for b in got["blocked"]}
        problems = []
        if test.expect is not None and tuple(items) != test.expect:
            problems.append(f"expected {list(test.expect)}, got {items}"
                            + _why_else(items, test.expect, possible, sliced, left_out))
        missing = [b for b in test.blocked if b not in blocked]
        if missing:
            problems.append(f"expected {missing} blocked, blocked were {sorted(blocked)}")
        if problems:
            problems[-1] += _naive_time_note(engine, test.context)
        results.append({"name": test.name, "where": test.where, "passed": not problems,
                        "problems": problems, "suggestions": items})
    return results


def _naive_time_note(engine: RulesEngine, context: dict) -> str:
    """For a failed test whose context's time has neither an offset nor a ``timezone``, in a
    rule set that reads time in a zone of its own: the zone the time was read in (the
    dataset's one zone, else UTC) and the local time the rules saw. A PM's London test at
    "01:30" failed with nothing but the lists, the time read as UTC (02:30 in London)."""
    import datetime

    from suggest.data.timefields import WRITTEN_OFFSET, local_fields
    from suggest.rules.model import DAYS

    stamp, rules_zone = context.get("timestamp"), engine.rule_set_.timezone
    if rules_zone is None or context.get("timezone") is not None:
        return ""
    if isinstance(stamp, datetime.datetime):
        naive = stamp.tzinfo is None
    else:
        naive = isinstance(stamp, str) and re.search(WRITTEN_OFFSET, stamp.strip()) is None
    read_in = getattr(engine, "zone_", None) or "UTC"
    if not naive or read_in == rules_zone:
        return ""
    try:
        when = pd.Timestamp(stamp).tz_localize(read_in)
        seen = local_fields(pd.Series([when]), rules_zone).iloc[0]
    except (ValueError, TypeError):
        return ""
    return (f" (its timestamp has no offset nor timezone, so it was read in {read_in}: "
            f"{DAYS[int(seen['weekday'])]} {int(seen['hour']):02d}:{int(seen['minute']):02d} in "
            f"the rules' zone {rules_zone}; write the offset, or timezone: {rules_zone} in the "
            "context)")


def _left_out(rules, catalog: pd.DataFrame | None) -> dict[str, str]:
    """Each catalog item a rule's slice holds, as that slice is written (``{cuisine: salad,
    top: 3}``): an expected item there that no rule can suggest is one the slice's top
    leaves out, not one no rule knows."""
    if catalog is None:
        return {}
    out: dict[str, str] = {}
    for rule in rules:
        for pick in rule.suggest:
            if pick.slice is None or pick.slice[0] not in catalog.columns:
                continue
            attr, value = pick.slice
            members = slice_members(catalog, attr, value)
            said = f"{{{attr}: {value}" + (f", top: {pick.top}}}" if pick.top else "}")
            for item in members:
                out.setdefault(item, f"rule '{rule.id}' › {said}")
    return out


def _why_else(items: list, expected: tuple, possible: set, sliced: set,
              left_out: dict[str, str] | None = None) -> str:
    """What a failed ``expect`` may come from: an expected item no rule can suggest (or one a
    catalog slice holds but its top leaves out, by popularity in the log the rules are tested
    with), or items a catalog slice fills by that popularity."""
    never = [i for i in expected if i not in possible]
    outside = [i for i in never if i in (left_out or {})]
    if outside:
        said = [repr(i) + " is in the slice of " + left_out[i] + " but not among its top, by "
                "engagements in the log the rules are tested with" for i in outside]
        nowhere = [repr(i) for i in never if i not in outside]
        if nowhere:
            said.append(", ".join(nowhere) + " no rule can suggest")
        return " (" + "; ".join(said) + ")"
    if never:
        return (f" ({', '.join(map(repr, never))} "
                f"{'is not an item' if len(never) == 1 else 'are not items'} these rules can suggest)")
    # items the list got from a slice, out of place: an expected slice item merely missing
    # (a `conflict: first` rule set's later rules never fill) is no popularity's doing
    differ = {a for a, b in zip(items, expected) if a != b} | (set(items) - set(expected))
    if differ & sliced:
        return (" (items from catalog slices, filled by their popularity in the log the rules "
                "are tested with: a test written against another log can expect others)")
    return ""


def check_offset_written(context: dict, log) -> None:
    """Under ``timezone: offset`` a log's time without an offset is rejected, as its local
    time is the offset's: a context's is refused the same way (it was read in UTC, silently),
    unless the context names its ``timezone``."""
    import re

    from suggest.data.timefields import OFFSET_ZONE, WRITTEN_OFFSET

    import datetime

    stamp = context.get("timestamp")
    if (log is None or getattr(log.dataset, "timezone", None) != OFFSET_ZONE
            or not isinstance(stamp, (str, datetime.datetime)) or context.get("timezone")):
        return
    # an unquoted YAML time is a datetime: naive when written without an offset
    if (stamp.tzinfo is None if isinstance(stamp, datetime.datetime)
            else not re.search(WRITTEN_OFFSET, stamp.strip())):
        shown = stamp.isoformat() if isinstance(stamp, datetime.datetime) else stamp
        raise SuggestError(f"context timestamp {shown!r} has no UTC offset, and the dataset reads "
                           "each time at its written offset (`timezone: offset`)",
                           hint="write it with its offset (e.g. 2026-03-07T07:45:00+01:00), or "
                                "give the context's timezone")


def check_context_keys(engine: RulesEngine, context: dict, log=None) -> list[str]:
    """Refuse a context key that neither the rule set nor the dataset knows (a typo such as
    ``wether`` would leave every rule on it "unknown" without a word), and return warnings
    for values the dataset's log never holds (with ``log``, from ``--dataset``)."""
    from suggest.engines.base import CONTEXT_KEYS
    from suggest.errors import did_you_mean, one_of

    if not isinstance(context, dict):
        raise SuggestError(f"a context must be a JSON object, not {type(context).__name__}",
                           hint='e.g. {"location": "home", "battery": 40}')
    from suggest.rules.checks import context_keys

    columns = dict(log.context) if log is not None else {}
    named, known = context_keys(engine.rule_set_, columns)
    for key in context:
        if key not in known:
            where = "the rule set's fields" + (" or the dataset's context columns" if log else "")
            raise SuggestError(f"context key {key!r} is not one of {where}, nor "
                               f"{one_of(CONTEXT_KEYS)}",
                               hint=did_you_mean(str(key), named) or f"known fields: {one_of(named)}")
    check_offset_written(context, log)
    errors, warnings = value_problems(context, log)
    if errors:
        raise errors[0]
    return warnings


def value_problems(context: dict, log, seen_values: dict | None = None
                   ) -> tuple[list[SuggestError], list[str]]:
    """A context's categorical values against ``log`` (None: none checked): an error for
    a value a closed column (its description's ``values``) does not allow, which the log
    would reject, and a warning for one the log never has (``seen_values``: the log's
    :meth:`categorical_values`, when the caller has them)."""
    from suggest.errors import did_you_mean, one_of

    errors, warnings = [], []
    columns = dict(log.context) if log is not None else {}
    if seen_values is None and log is not None and any(
            columns.get(key) == "categorical" for key in context):
        seen_values = log.categorical_values()  # from the categories
    seen_values = seen_values or {}
    for key, value in context.items():
        if log is None or columns.get(key) != "categorical" or value is None:
            continue
        spec = log.dataset.context.get(key)
        allowed = getattr(spec, "values", None)
        if allowed and str(value) not in allowed:  # a closed column: the log would reject it
            errors.append(SuggestError(
                f"{key}={value!r} is not one of the values the dataset allows for "
                f"{key}: {one_of(list(allowed))}",
                hint=did_you_mean(str(value), allowed) or
                f"its description lists them under context.{key}.values"))
            continue
        seen = seen_values.get(key, set())
        if str(value) not in seen:
            near = did_you_mean(str(value), sorted(seen))
            warnings.append(f"{key}={value!r} never occurs in the dataset's log"
                            + (f" ({near})" if near else ""))
    return errors, warnings
