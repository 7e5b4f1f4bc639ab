"""Checks of a rule file without replaying it (``suggest rules check``).

* :func:`lint` finds, without data, rules that can never fire (contradicting
  conditions on one field) and rules always shadowed by an earlier one;
* :func:`check_against` checks fields, types, values and items against a
  dataset; :func:`check` runs both (and the catalog slices) on a loaded log.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from suggest.data.timefields import TIME_FIELDS
from suggest.rules.model import OPERATORS, Group, Leaf, Rule, RuleSet, leaves


# -- lint --------------------------------------------------------------------------------

def lint(rs: RuleSet) -> list[str]:
    """Warnings ``file:line:col: rule 'id': ...`` for rules that cannot fire or never matter."""
    warnings, never = [], set()
    for b, rule in enumerate(rs.rules):
        reason = _contradiction(rule.when)
        if reason:
            warnings.append(f"{rule.where}: rule '{rule.id}' can never fire: {reason}")
            never.add(b)
        for i, pick in enumerate(rule.suggest):  # written first, shown later: say so
            later = next((p for p in rule.suggest[i + 1:] if p.score > pick.score), None)
            if later is not None:
                warnings.append(
                    f"{pick.where}: rule '{rule.id}' › {pick.path}: {_named(pick)} (score "
                    f"{pick.score:g}) is written before {_named(later)} (score {later.score:g}) "
                    "but shown after it: a rule's suggestions go by score, then place (drop "
                    "the lower score, or give the later ones less)")
    if rs.conflict == "first":  # a decision list reads the file's order, not priorities
        prioritised = [r for r in rs.rules if r.priority != 0]
        if prioritised:
            warnings.append(
                f"{prioritised[0].where}: rule '{prioritised[0].id}': `priority:` is not read "
                f"under `conflict: first` ({len(prioritised)} rule(s) set one): the first rule in "
                "file order that fires gives the list; order the rules, or use `conflict: priority`")
    conjuncts = [_conjuncts(r.when) for r in rs.rules]
    blocking = any(r.block for r in rs.rules)
    for b, rule in enumerate(rs.rules):
        if not rule.suggest or rule.block or rs.conflict == "sum" or b in never:  # under sum
            continue  # a later rule proposing an earlier one's item adds to its score
        # a decision list reads the earlier rules; priorities read every rule, a later one
        # shadowing only from a higher priority (an equal one goes by the file's order)
        others = range(b) if rs.conflict == "first" else \
            [a for a in range(len(rs.rules)) if a < b or rs.rules[a].priority > rule.priority]
        for a in others:
            other = rs.rules[a]
            if conjuncts[a] is None or conjuncts[b] is None \
                    or not conjuncts[a] <= conjuncts[b] or not other.suggest:
                continue
            if rs.conflict == "first" or _covers(other, rule):
                how = "comes first" if a < b else "has the higher priority"
                warnings.append(f"{rule.where}: rule '{rule.id}' is always shadowed by rule "
                                f"'{other.id}' (it fires whenever '{rule.id}' does and {how})")
                break
            if not blocking and _fills(other, rule, rs.max_suggestions):
                warnings.append(f"{rule.where}: rule '{rule.id}' is always shadowed by rule "
                                f"'{other.id}', which fires whenever '{rule.id}' does, ranks above "
                                f"it and names {rs.max_suggestions} items, a full list "
                                f"(max_suggestions {rs.max_suggestions})")
                break
    return sorted(warnings, key=_line_of)


def _fills(a: Rule, b: Rule, k: int) -> bool:
    """``a`` (firing whenever ``b`` does) fills every place of the list before any item of
    ``b``: it names at least ``k`` items, none of them ``b``'s, at a higher priority (no
    block rule in the file: a block could empty a place)."""
    named = {p.item for p in a.suggest if p.item is not None}
    return a.priority > b.priority and len(named) >= k and not named & {
        p.item for p in b.suggest}


def _named(pick) -> str:
    """A suggestion as a warning names it (:class:`Pick`'s own text)."""
    return f"item '{pick}'" if pick.item is not None else f"the slice {pick}"


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
        excluded: set = set()
        low, high = -np.inf, np.inf
        for leaf in group:
            if leaf.op in ("eq", "in"):
                values = {str(v) for v in (leaf.value if leaf.op == "in" else [leaf.value])}
                allowed = values if allowed is None else allowed & values
            elif leaf.op in ("ne", "not_in"):
                excluded |= {str(v) for v in (leaf.value if leaf.op == "not_in" else [leaf.value])}
            elif leaf.op in ("gt", "gte"):
                low = max(low, leaf.value + (1e-12 if leaf.op == "gt" else 0))
            elif leaf.op in ("lt", "lte"):
                high = min(high, leaf.value - (1e-12 if leaf.op == "lt" else 0))
            elif leaf.op == "between":
                low, high = max(low, leaf.value[0]), min(high, leaf.value[1] - 1e-12)
        if allowed is not None and not allowed:
            return f"'{name}' cannot equal all of {', '.join(str(l.value) for l in group)}"
        if low > high or (allowed is not None and allowed <= excluded):  # or `eq A`, `ne A`
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
                    fields = sorted(context)
                    errors.append(f"{where}: '{leaf.field}' needs a log with a time column, and "
                                  "this one has none, so no request has a local time, hour or "
                                  "weekday: name the log's time column under `columns: time:` "
                                  "in the dataset description if it has one, or write the "
                                  "condition on a context field"
                                  + (f" ({', '.join(fields[:12])}{' ...' if len(fields) > 12 else ''})"
                                     if fields else ""))
                else:
                    hint = did_you_mean(leaf.field, sorted(known))
                    if leaf.field in ("True", "False"):  # `on:` or `yes:` as a key
                        hint = ("YAML reads a key such as on, off, yes or no as a boolean: quote "
                                "it, e.g. 'on': ...")
                    errors.append(f"{where}: unknown field '{leaf.field}'" + (f" ({hint})" if hint else ""))
                continue
            if leaf.field == "time" and leaf.op != "window" and "time" not in context:
                # the log has no column named time: `time` is the request's local time, which
                # only a window reads (a value or a list of them would match nothing, ever)
                errors.append(f"{where}: 'time' is the request's local time here, read as a "
                              "window: write e.g. time: {between: ['22:30', '01:30']} (days: "
                              "[mon, tue] to limit it)")
                continue
            if has_time and leaf.field in TIME_VALUES and _never(leaf):
                errors.append(f"{where}: '{leaf.field}' is the request's local "
                              f"{TIME_VALUES[leaf.field][1]}, so this condition can never be "
                              "true")
                continue
            kind = context.get(leaf.field)
            if kind in ("numeric", "boolean") and leaf.op in ("eq", "ne", "in", "not_in") and \
                    leaf.field not in time_fields:
                wrong = [v for v in (leaf.value if isinstance(leaf.value, list) else [leaf.value])
                         if not _fits(kind, v)]
                if wrong:
                    need = "a number" if kind == "numeric" else "true or false"
                    quoted = isinstance(wrong[0], str) and _fits(kind, _unquoted(wrong[0]))
                    given = leaf.value if isinstance(leaf.value, list) else [leaf.value]
                    # `battery: [lt, 15]`: an operator written as a list, read as values
                    operator = (kind == "numeric" and len(given) == 2 and given[0] in OPERATORS
                                and _fits(kind, given[1]))
                    errors.append(f"{where}: '{leaf.field}' is {kind}; {wrong[0]!r} is not {need}"
                                  + (f" (it is text in quotes: write {wrong[0]} without them)"
                                     if quoted else
                                     f" (a comparison is a mapping: write {leaf.field}: "
                                     f"{{{given[0]}: {given[1]}}})" if operator else ""))
            if kind == "categorical" and leaf.op in numeric_ops:
                errors.append(f"{where}: '{leaf.field}' is categorical; `{leaf.op}` compares numbers")
            if kind == "categorical" and leaf.op in ("eq", "ne", "in", "not_in") and any(
                    isinstance(v, bool) for v in (leaf.value if isinstance(leaf.value, list)
                                                  else [leaf.value])):
                errors.append(f"{where}: '{leaf.field}' is categorical, and YAML read the value "
                              "as a boolean (a word such as off, on, yes or no is one): quote "
                              "it, e.g. 'off'")
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
            for pick, blocks in [*((p, False) for p in rule.suggest), *((p, True) for p in rule.block)]:
                if pick.item is not None and pick.item not in items:
                    hint = did_you_mean(pick.item, sorted(items))
                    if " - " in pick.item and not hint:
                        hint = "it looks like several items on one line: put each on its own `- ` line"
                    text = (f"{pick.where}: rule '{rule.id}' › {pick.path}: item '{pick.item}' is in "
                            "neither the catalog nor the log")
                    if blocks:  # as a block slice that matches nothing: it protects
                        # nothing, and a replay would draw it firing as if it did
                        errors.append(f"{text}, so the block protects nothing ("
                                      + (hint or "check the item id, or remove it from the block") + ")")
                    else:
                        warnings.append(text + (f" ({hint})" if hint else ""))
    return errors, warnings


#: Every value a time field of a log with time takes, and what it is, for people.
TIME_VALUES = {"hour": (np.arange(24.0), "hour, 0 to 23 (midnight is 0)"),
               "minute": (np.arange(60.0), "minute of the hour, 0 to 59"),
               "weekday": (np.arange(7.0), "weekday, 0 (mon) to 6 (sun)"),
               "is_weekend": (np.array([0.0, 1.0]), "weekend flag, true or false")}


def _never(leaf: Leaf) -> bool:
    """Whether a condition on a time field is false at every value the field takes (``hour:
    24``, ``minute: {gte: 60}``, ``is_weekend: "yes"``), by the test the rules engine runs:
    such a rule passed the check and never fired."""
    from suggest.rules.compile import number_test

    if leaf.op not in ("eq", "in", "gt", "gte", "lt", "lte", "between"):
        return False
    with np.errstate(invalid="ignore"):
        return not number_test(leaf, TIME_VALUES[leaf.field][0]).any()


def _unquoted(text: str):
    """What ``text`` would be in YAML without quotes: a number or a boolean, else itself."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _fits(kind: str, value) -> bool:
    if kind == "boolean":
        return isinstance(value, bool)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# -- whole-file checks and the file's own tests ------------------------------------------

def check(rs: RuleSet, log=None) -> tuple[list[str], list[str]]:
    """Errors and lint warnings for a rule set, against a loaded log when given."""
    warnings = lint(rs)
    if log is None:
        return _unreadable_tests(rs, None), warnings
    closed = {name: spec.values for name, spec in log.dataset.context.items() if spec.values}
    observed = log.categorical_values()
    items = set(log.catalog["item_id"].astype(str))  # the log's items are in its Catalog
    errors, more = check_against(rs, log.context, closed, log.has_time, items, observed)
    slice_errors, slice_warnings = _check_picks(rs, log.catalog)
    slice_warnings += _blocks_everything(rs, log.catalog)
    from suggest.errors import did_you_mean

    named, known = context_keys(rs, log.context)
    for test in rs.tests:
        for key in test.context:  # a misspelled key leaves every rule on it unknown
            if key not in known:
                hint = did_you_mean(str(key), named)
                errors.append(f"{test.where}: test '{test.name}': context key '{key}' is neither "
                              "a field of the rules nor a context column of the log"
                              + (f" ({hint})" if hint else ""))
        for item in [*(test.expect or ()), *test.blocked]:  # that no list could hold
            if str(item) not in items:
                hint = did_you_mean(str(item), sorted(items))
                more.append(f"{test.where}: test '{test.name}' names item '{item}', in neither "
                            "the catalog nor the log" + (f" ({hint})" if hint else ""))
    errors += _unreadable_tests(rs, dict(log.context))
    from suggest.errors import SuggestError
    from suggest.rules.explain import check_offset_written, value_problems

    for test in rs.tests:  # under `timezone: offset` a time needs its offset, as in the log
        try:
            check_offset_written(test.context, log)
        except SuggestError as exc:
            errors.append(f"{test.where}: test '{test.name}': {exc.message} ({exc.hint})")
        # a misspelled value of a closed column: the test reads it as no rule's value, and a
        # test that expects nothing passes for the typo (`rules explain` refuses it)
        wrong, unseen = value_problems(test.context, log, observed)
        errors += [f"{test.where}: test '{test.name}': {exc.message}"
                   + (f" ({exc.hint})" if exc.hint else "") for exc in wrong]
        more += [f"{test.where}: test '{test.name}': {text}" for text in unseen]
    return errors + slice_errors, warnings + more + slice_warnings


def _unreadable_tests(rs: RuleSet, kinds: dict[str, str] | None) -> list[str]:
    """An error for each test whose context no engine could read (a time that is not one,
    a zone that does not exist, text for a number or a boolean): `rules test` could only
    fail it, whatever the rules say."""
    from suggest.engines.base import check_context
    from suggest.errors import SuggestError
    from suggest.rules.one import read_time

    out = []
    for test in rs.tests:
        try:
            if kinds is not None:  # the values of the columns the log has (keys: above)
                check_context({k: v for k, v in test.context.items() if k in kinds}, kinds)
            read_time(test.context)
        except SuggestError as exc:
            out.append(f"{test.where}: test '{test.name}': its context cannot be read: "
                       f"{exc.message}" + (f" ({exc.hint})" if exc.hint else ""))
    return out


def context_keys(rs: RuleSet, columns) -> tuple[list[str], set[str]]:
    """The keys a context may have for rule set ``rs`` on a log with context ``columns``:
    ``(the rules' fields and the columns, sorted; those and the request keys and time
    fields)``. Any other key is a typo that would leave every rule on it unknown."""
    from suggest.engines.base import CONTEXT_KEYS

    named = sorted({*(leaf.field for rule in rs.rules for leaf in leaves(rule.when)), *columns})
    return named, {*named, *CONTEXT_KEYS, *TIME_FIELDS, "time"}


def _blocks_everything(rs: RuleSet, catalog: pd.DataFrame) -> list[str]:
    """A warning for each rule whose blocks cover every item of the catalog: where it fires,
    no engine's list can show anything the catalog holds."""
    ids = catalog["item_id"].astype(str)
    out = []
    for rule in rs.rules:
        if not rule.block:
            continue
        blocked = np.zeros(len(ids), bool)
        for pick in rule.block:
            if pick.item is not None:
                blocked |= (ids == str(pick.item)).to_numpy()
            elif pick.slice is not None and pick.top is None and pick.slice[0] in catalog.columns:
                blocked |= (catalog[pick.slice[0]].astype(str) == pick.slice[1]).to_numpy()
        if len(ids) and blocked.all():
            out.append(f"{rule.where}: rule '{rule.id}' blocks every item of the catalog "
                       f"({len(ids):,}): where it fires, nothing from the catalog can be shown")
    return out


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
