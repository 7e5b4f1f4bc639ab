"""One context through a rule set, without pandas in the hot path.

:class:`RuleReader` reads a context dict's time (Python's own parser for the
common forms) and evaluates a fitted :class:`~suggest.rules.RulesEngine`'s
conditions on it leaf by leaf with the batch evaluator's own comparison
functions (memoised per leaf and value, so the semantics are the batch
semantics); a context's outcome is memoised per (field values, minute of the
week). The ranker's one-context path (:mod:`suggest.ranker.single`) and
``RulesEngine.suggest_one`` (:class:`OneRules`) both build on it; tests check
that each returns what its batch path does.
"""

from __future__ import annotations

import datetime
import math
import re
import zoneinfo

import numpy as np
import pandas as pd

from suggest.data.timefields import TIME_FIELDS, check_zone, context_time, zone_info
from suggest.engines.base import BaseEngine, check_context, one_request_frame
from suggest.rules.compile import number_test, text_test, window_table
from suggest.rules.model import Leaf, leaves

MEMO_SIZE = 100_000  # entries kept per memo (rule outcomes, leaf tests, context lists); then it starts over
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_MICROSECOND = datetime.timedelta(microseconds=1)


def _aware(stamp) -> datetime.datetime | None:
    """``stamp`` as an aware datetime when Python reads it exactly, else None (pandas will).

    Aware ``datetime`` objects and ISO 8601 text with an offset are read here;
    pandas Timestamps (which may carry nanoseconds), naive times and other
    text go to pandas, as before.
    """
    if isinstance(stamp, pd.Timestamp):
        return None
    if isinstance(stamp, datetime.datetime):
        return stamp if stamp.tzinfo is not None else None
    if isinstance(stamp, str) and _PLAIN_STAMP.match(stamp.strip()):  # what pandas reads alike
        try:
            parsed = datetime.datetime.fromisoformat(stamp.strip())
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else None
    return None


# ISO 8601 date and time with an offset and at most microseconds: Python reads it as pandas
# does; anything else (week dates, offsets with seconds, nanoseconds) goes to pandas
_PLAIN_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$")


def plain(context: dict) -> bool:
    """Whether the one-context paths read ``context`` exactly as ``context_frame`` does;
    else the engines answer it through the batch path (a one-row frame): a time field
    given as its own key (a log without timestamps), a time zone that is not a
    non-empty name, or a NaN value (which a frame refuses for a numeric field)."""
    zone = context.get("timezone")
    if zone is not None and not (isinstance(zone, str) and zone):
        return False
    for key, value in context.items():
        if key in _TIME_FIELDS or (isinstance(value, float) and value != value):
            return False
    return True


_TIME_FIELDS = frozenset(TIME_FIELDS)


def remember(memo: dict, key, value):
    """``memo[key] = value``, the memo starting over when it holds MEMO_SIZE entries (a
    numeric field's values, for one, need not repeat)."""
    if len(memo) >= MEMO_SIZE:
        memo.clear()
    memo[key] = value
    return value


def is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def read_time(context: dict):
    """A context's ``(hour, minute, weekday)`` in its time zone and its UTC clock in ns, or
    ``(None, None)`` without a timestamp; a time or zone that does not parse raises
    :class:`SuggestError` naming it (read as ``context_frame`` reads it)."""
    stamp = context.get("timestamp")
    local = utc_ns = None
    if stamp is None and context.get("timezone") is not None:
        check_zone(context["timezone"])  # a zone no timestamp reads is still checked
    if stamp is not None:
        zone = context.get("timezone")
        aware = _aware(stamp)
        if aware is not None:  # the common case, without pandas: about 40 us less
            try:
                wall = aware.astimezone(zone_info(zone)) if zone else aware
            except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
                check_zone(zone)  # raises SuggestError naming the zone
                raise
            local = (wall.hour, wall.minute, wall.weekday())
            utc_ns = (aware - _EPOCH) // _MICROSECOND * 1000
            return local, utc_ns
        ts = context_time(stamp, zone)  # naive: in ``zone``, else UTC, as context_frame reads it
        wall = ts.tz_convert(zone) if zone else ts
        local = (wall.hour, wall.minute, wall.weekday())
        utc_ns = ts.tz_convert("UTC").as_unit("ns").value
    return local, utc_ns


class RuleReader:
    """A context's time and a rules engine's outcome on it (see the module docstring);
    ``rule_engine`` may be None (no rules)."""

    def _read_rules(self, rules) -> None:
        self.rule_engine = rules
        self.rule_fields = sorted({leaf.field for rule in rules.rule_set_.rules
                                   for leaf in leaves(rule.when) if leaf.op != "window"}) \
            if rules is not None else []
        self.rule_memo: dict = {}
        self.leaf_memo: dict = {}
        self.window_tables: dict = {}

    def _parse(self, context: dict):
        return read_time(context)

    def _leaf(self, leaf: Leaf, context: dict, minute_of_week: int | None) -> tuple[bool, bool]:
        if leaf.op == "window":
            if minute_of_week is None:
                return False, False
            table = self.window_tables.get(id(leaf))
            if table is None:
                table = self.window_tables[id(leaf)] = window_table(leaf.value)
            return bool(table[minute_of_week]), True
        value = context.get(leaf.field)
        if leaf.op in ("missing", "exists"):
            absent = is_missing(value)
            wanted = absent if leaf.op == "missing" else not absent
            return (wanted if leaf.value else not wanted), True
        if is_missing(value):
            return False, False
        key = (id(leaf), type(value), value)
        try:
            hit = self.leaf_memo.get(key)
        except TypeError:  # an unhashable value (a list): tested, not memoised
            key, hit = None, None
        if hit is None:
            if isinstance(value, (bool, int, float)):
                with np.errstate(invalid="ignore"):
                    hit = bool(number_test(leaf, np.array([float(value)]))[0])
            else:
                hit = bool(text_test(leaf, pd.Index([str(value)], dtype=object))[0])
            if key is not None:
                remember(self.leaf_memo, key, hit)
        return hit, True

    def _node(self, node, context, minute_of_week) -> tuple[bool, bool]:
        if isinstance(node, Leaf):
            return self._leaf(node, context, minute_of_week)
        parts = [self._node(c, context, minute_of_week) for c in node.children]
        if node.kind == "not":
            true, known = parts[0]
            return known and not true, known
        if not parts:
            return node.kind == "all", True
        if node.kind == "all":
            true = all(t for t, _ in parts)
            return true, true or any(k and not t for t, k in parts)
        true = any(t for t, _ in parts)
        return true, true or all(k and not t for t, k in parts)

    def _rule_outcome(self, context: dict, local, utc_ns, k: int, make):
        """``make(fired, k)`` for the rules that fire on ``context`` (``k``: at most the rule
        set's ``max_suggestions``), memoised by the fields the rules read and the minute."""
        rules = self.rule_engine
        rs = rules.rule_set_
        zone = rs.timezone or (None if context.get("timezone") else rules.timezone)
        if zone and utc_ns is not None:
            wall = (_EPOCH + datetime.timedelta(microseconds=utc_ns // 1000)).astimezone(zone_info(zone))
            local = (wall.hour, wall.minute, wall.weekday())
        time_fields = {}
        minute_of_week = None
        if local is not None:
            hour, minute, weekday = local
            minute_of_week = weekday * 1440 + hour * 60 + minute
            time_fields = {"hour": hour, "minute": minute, "weekday": weekday, "is_weekend": weekday >= 5}
        try:  # the same field values and minute give the same rule outcome: memoised
            key = (k, minute_of_week, tuple((type(context.get(f)), context.get(f))
                                            for f in self.rule_fields))
            hit = self.rule_memo.get(key)
        except TypeError:  # an unhashable value: evaluate without the memo
            key, hit = None, None
        if hit is not None:
            return hit
        values = {**context, **time_fields}
        fired = np.array([self._node(r.when, values, minute_of_week)[0] for r in rs.rules], dtype=bool)
        hit = make(fired, min(k, rs.max_suggestions))
        if key is not None:
            remember(self.rule_memo, key, hit)
        return hit


class OneRules(RuleReader):
    """``RulesEngine.suggest_one``: the batch path's list for one context, without pandas
    until the Suggestions frame (the same items, scores and reasons; a test compares)."""

    def __init__(self, engine):
        self.engine = engine
        self.columns = getattr(engine, "context_columns_", None)  # keys suggest_one accepts
        self._read_rules(engine)

    def suggest(self, context: dict, k: int) -> pd.DataFrame:
        check_context(context, self.columns)
        if not plain(context):
            return BaseEngine.suggest_one(self.engine, context, k)
        local, utc_ns = self._parse(context)
        items, reasons, width = self._rule_outcome(context, local, utc_ns, k, self._list)
        return one_request_frame(
            str(context.get("request_id", "context")), self.engine.name, items,
            1.0 - np.arange(len(items)) / max(width, 1), reasons)

    def _list(self, fired: np.ndarray, k: int) -> tuple:
        codes, why = self.engine.resolve(fired, k)  # the batch's order, blocked items left out
        return self.engine.items_[codes], np.array(why, dtype=object), k


