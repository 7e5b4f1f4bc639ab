"""Vectorised evaluation of rule conditions over a Requests frame.

Every condition evaluates to two boolean arrays over the requests: ``true``
and ``known``. Missing values make a comparison unknown; ``all``/``any``/
``not`` follow Kleene's three-valued logic; a rule fires only where its
condition is true.

Text columns are evaluated per distinct value, then gathered by code: a
condition on a categorical field costs one comparison per category plus one
array lookup, whatever the number of requests. Nothing loops over rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from suggest.data.timefields import TIME_FIELDS as TIME_COLUMNS, check_zoned, local_fields
from suggest.rules.model import Group, Leaf, Window



@dataclass
class Truth3:
    """A three-valued result: where it is true, and where it is known at all."""

    true: np.ndarray
    known: np.ndarray | None

    @property
    def false(self) -> np.ndarray:
        return self.known & ~self.true


@dataclass
class _Column:
    kind: str                       # "text" or "number"
    codes: np.ndarray | None = None  # text: category code per row, -1 missing
    categories: pd.Index | None = None
    values: np.ndarray | None = None  # number: float per row, NaN missing

    @property
    def missing(self) -> np.ndarray:
        return ~self.known

    @property
    def known(self) -> np.ndarray:
        """Where the field has a value; computed once and shared (never written to)."""
        if not hasattr(self, "_known"):
            self._known = self.codes >= 0 if self.kind == "text" else ~np.isnan(self.values)
        return self._known


class Evaluator:
    """Evaluates conditions over one frame, preparing each field once.

    Parameters
    ----------
    frame : DataFrame
        Requests (or any frame with the fields the rules read).
    timezone : str, optional
        Read time fields in this zone from ``timestamp``. Without it, the
        frame's own ``hour``/``minute``/``weekday`` columns (the request's
        local time) are used, or they are computed from ``timestamp`` and the
        frame's ``timezone`` column, else UTC. A frame with neither (a log
        without time) reads a context column named like a time field as it is.
    """

    def __init__(self, frame: pd.DataFrame, timezone: str | None = None, *,
                 remember: set[int] | None = None):
        self.frame = frame
        self.n = len(frame)
        self.timezone = timezone
        self._columns: dict[str, _Column | None] = {}
        self._time: pd.DataFrame | None = None
        # ``remember``: the conditions (by id) whose results are kept (a boolean per row,
        # twice) for the next time they are asked: coverage asks the parts of a top-level
        # `all` again for the near misses; nothing else is kept
        self._remember = remember or set()
        self._leaves: dict[int, Truth3] = {}

    # -- fields ------------------------------------------------------------------------
    def column(self, name: str) -> _Column | None:
        if name not in self._columns:
            self._columns[name] = self._prepare(name)
        return self._columns[name]

    def _prepare(self, name: str) -> _Column | None:
        if name in TIME_COLUMNS and self.time_fields() is not None:
            series = self.time_fields()[name]
        else:  # includes a log without timestamps that has its own `hour` or `weekday` context
            series = self.frame[name] if name in self.frame.columns else None
        if series is None:
            return None
        if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype):
            return _Column("number", values=series.astype("Float64").to_numpy(dtype=float,
                                                                                na_value=np.nan))
        cat = series if isinstance(series.dtype, pd.CategoricalDtype) else series.astype("category")
        categories = cat.cat.categories.astype(str) if len(cat.cat.categories) else pd.Index([], dtype=str)
        return _Column("text", codes=cat.cat.codes.to_numpy(), categories=categories)

    def time_fields(self) -> pd.DataFrame | None:
        if self._time is None:
            frame = self.frame
            if self.timezone is None and all(c in frame.columns for c in TIME_COLUMNS):
                self._time = frame[list(TIME_COLUMNS)]
            elif "timestamp" in frame.columns:
                zones = self.timezone or (frame["timezone"] if "timezone" in frame.columns else "UTC")
                check_zoned(frame)
                stamps = pd.to_datetime(frame["timestamp"], utc=True)
                self._time = local_fields(stamps, zones)
        return self._time

    # -- evaluation --------------------------------------------------------------------
    def evaluate(self, node: Leaf | Group, need_known: bool = True) -> Truth3:
        """Three-valued result of ``node``. With ``need_known=False`` only ``true`` is
        exact (``known`` is None): enough to decide whether a rule fires, and cheaper,
        since ``all``/``any`` then need no bookkeeping of unknowns."""
        if isinstance(node, Group):
            return self._group(node, need_known)
        if id(node) not in self._remember:
            return self._leaf(node)
        if id(node) not in self._leaves:
            self._leaves[id(node)] = self._leaf(node)
        return self._leaves[id(node)]

    def _group(self, node: Group, need_known: bool = True) -> Truth3:
        if node.kind == "not":  # `not unknown` is unknown: the child's known part is needed
            inner = self.evaluate(node.children[0])
            return Truth3(inner.false, inner.known)
        parts = [self.evaluate(child, need_known) for child in node.children]
        if not parts:  # an empty `all` is true, an empty `any` false
            return Truth3(np.full(self.n, node.kind == "all"), np.ones(self.n, bool))
        trues = np.logical_and.reduce if node.kind == "all" else np.logical_or.reduce
        true = trues([p.true for p in parts]) if len(parts) > 1 else parts[0].true
        if not need_known:
            return Truth3(true, None)
        if node.kind == "all":
            decided = np.logical_or.reduce([p.false for p in parts])
        else:
            decided = np.logical_and.reduce([p.false for p in parts])
        return Truth3(true, true | decided)

    def _leaf(self, leaf: Leaf) -> Truth3:
        if leaf.op == "window":
            return self._window(leaf.value)
        col = self.column(leaf.field)
        if col is None:  # a field the frame does not have: unknown everywhere
            unknown = np.zeros(self.n, bool)
            if leaf.op in ("missing", "exists"):
                return Truth3(np.full(self.n, leaf.op == "missing" and leaf.value or
                                      leaf.op == "exists" and not leaf.value), np.ones(self.n, bool))
            return Truth3(unknown, unknown.copy())
        if leaf.op in ("missing", "exists"):
            missing = col.missing
            is_missing = missing if leaf.value else ~missing
            return Truth3(is_missing if leaf.op == "missing" else ~is_missing, np.ones(self.n, bool))
        if col.kind == "text":
            table = text_test(leaf, col.categories)
            # code -1 (missing) picks the appended False: no mask needed afterwards
            return Truth3(np.append(table, False)[col.codes], col.known)
        with np.errstate(invalid="ignore"):
            true = number_test(leaf, col.values)
        if leaf.op in ("eq", "in", "gt", "gte", "lt", "lte", "between"):
            return Truth3(true, col.known)  # NaN already compares False
        return Truth3(true & col.known, col.known)

    def minute_of_week(self) -> np.ndarray | None:
        """Local ``weekday * 1440 + hour * 60 + minute`` per request; 10080 where unknown."""
        if not hasattr(self, "_minute_of_week"):
            fields = self.time_fields()
            if fields is None:
                self._minute_of_week = None
            else:
                parts = [fields[c].astype("Float64").to_numpy(dtype=float, na_value=np.nan)
                         for c in ("weekday", "hour", "minute")]
                value = parts[0] * 1440 + parts[1] * 60 + parts[2]
                self._minute_of_week = np.where(np.isnan(value), WEEK, value).astype(np.int16)
        return self._minute_of_week

    def _window(self, window: Window) -> Truth3:
        minutes = self.minute_of_week()
        if minutes is None:
            unknown = np.zeros(self.n, bool)
            return Truth3(unknown, unknown.copy())
        return Truth3(window_table(window)[minutes], minutes < WEEK)


WEEK = 7 * 1440


def window_table(window: Window) -> np.ndarray:
    """True for each minute of the week inside the window (index WEEK: unknown, False)."""
    table = np.zeros(WEEK + 1, dtype=bool)
    for day in window.days if window.days is not None else range(7):
        start = day * 1440 + window.start
        if window.start < window.end:
            table[start:day * 1440 + window.end] = True
        else:  # crosses midnight: the early hours of the next day belong to this day
            table[start:(day + 1) * 1440] = True
            following = (day + 1) % 7 * 1440
            table[following:following + window.end] = True
    return table


def text_test(leaf: Leaf, categories: pd.Index) -> np.ndarray:
    """The leaf's result for each category (a lookup table)."""
    op, value = leaf.op, leaf.value
    cats = pd.Series(categories, dtype=object)
    if op in ("eq", "ne"):
        hit = cats.eq(_as_text(value)).to_numpy()
        return hit if op == "eq" else ~hit
    if op in ("in", "not_in"):
        hit = cats.isin([_as_text(v) for v in value]).to_numpy()
        return hit if op == "in" else ~hit
    if op == "matches":
        return value.fullmatch_each(cats.tolist())  # RE2: time linear in each value
    if op in ("contains_any", "contains_all"):
        tests = [cats.str.contains(str(v), regex=False).to_numpy(dtype=bool) for v in value]
        return np.logical_or.reduce(tests) if op == "contains_any" else np.logical_and.reduce(tests)
    if op == "within":
        return _within(cats, value)
    numbers = pd.to_numeric(cats, errors="coerce").to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        return number_test(leaf, numbers)


def number_test(leaf: Leaf, values: np.ndarray) -> np.ndarray:
    op, value = leaf.op, leaf.value
    if op in ("eq", "ne", "in", "not_in"):
        wanted = [_as_number(v) for v in (value if isinstance(value, list) else [value])]
        hit = np.isin(values, [w for w in wanted if w is not None])
        return hit if op in ("eq", "in") else ~hit
    if op == "gt":
        return values > value
    if op == "gte":
        return values >= value
    if op == "lt":
        return values < value
    if op == "lte":
        return values <= value
    if op == "between":
        return (values >= value[0]) & (values < value[1])
    # text operators on a number column compare the number's text
    texts = pd.Index(pd.Series(values).map(_as_text), dtype=object)
    return text_test(leaf, texts)


def _within(cats: pd.Series, spec: dict) -> np.ndarray:
    parts = cats.str.split(",", n=1, expand=True)
    if parts.shape[1] < 2:
        return np.zeros(len(cats), bool)
    lat = np.radians(pd.to_numeric(parts[0], errors="coerce").to_numpy(dtype=float))
    lon = np.radians(pd.to_numeric(parts[1], errors="coerce").to_numpy(dtype=float))
    lat0, lon0 = np.radians(spec["lat"]), np.radians(spec["lon"])
    a = np.sin((lat - lat0) / 2) ** 2 + np.cos(lat) * np.cos(lat0) * np.sin((lon - lon0) / 2) ** 2
    metres = 2 * 6_371_008.8 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))
    with np.errstate(invalid="ignore"):
        return metres <= spec["radius_m"]


def _as_text(value) -> str:
    """How a YAML or JSON value reads as a cell: 3.0 -> '3', True -> 'true'."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _as_number(value) -> float | None:
    if isinstance(value, bool):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        text = str(value).strip().lower()
        return {"true": 1.0, "false": 0.0}.get(text)
