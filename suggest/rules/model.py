"""The rule-set model and its loader (DESIGN section 4).

A rule file is parsed completely before anything runs: every problem is
collected with its ``file:line:col``, the rule id and the path inside the
rule, then raised together. Nothing in a rule file is ever evaluated as code:
conditions are data, regular expressions are compiled once here (by RE2, which
matches in time linear in the value: :mod:`suggest.rules.regex`).

Choices where DESIGN is silent:

* ``field: [a, b]`` (a list shorthand) means ``field: {in: [a, b]}``.
* A mapping with several operators (``battery: {gte: 20, lt: 80}``) and a
  mapping with several fields are conjunctions (``all``).
* ``weekday`` values may be names (``mon`` ... ``sun``) or numbers (0 = Monday).
* ``contains_any`` / ``contains_all`` test substrings of a text value.
* ``within`` reads a text value ``"lat,lon"`` (degrees) and is true when it
  lies within ``radius_m`` metres of ``{lat, lon}`` (haversine).
"""

from __future__ import annotations

import datetime
import math
import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

from suggest.data.timefields import zone_hint, zone_name
from suggest.errors import ErrorList, SuggestError, did_you_mean, one_of
from suggest.rules.regex import Pattern, PatternError, compile_pattern
from suggest.yamlio import YamlDoc, load_yaml, parse_yaml

OPERATORS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between", "matches",
             "contains_any", "contains_all", "within", "missing", "exists")
GROUPS = ("all", "any", "not")
CONFLICTS = ("priority", "first", "sum")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
TOP_KEYS = ("version", "timezone", "conflict", "max_suggestions", "rules", "tests", "description")
RULE_KEYS = ("id", "description", "priority", "when", "suggest", "block")
TEST_KEYS = ("name", "context", "expect", "blocked")
TIME_FIELD = "time"
#: Deepest nesting of all/any/not a condition may have; evaluation recurses once per level.
MAX_DEPTH = 50


class RuleError(SuggestError):
    """A problem in a rule file, placed at ``file:line:col`` with the rule and path."""


@dataclass(frozen=True)
class Leaf:
    """One test on one field: ``battery gte 20``; for ``time`` the value is a Window."""

    field: str
    op: str
    value: Any
    path: str
    where: str

    def __str__(self) -> str:
        if self.op == "window":
            return str(self.value)
        return f"{self.op} {_shown(self.value)}"


@dataclass(frozen=True)
class Group:
    """``all`` / ``any`` of children, or ``not`` of one child."""

    kind: str
    children: tuple
    path: str
    where: str


@dataclass(frozen=True)
class Window:
    """A local-time window ``[start, end)`` in minutes after midnight, on some weekdays.

    When ``end < start`` it crosses midnight and belongs to the day it starts.
    """

    start: int
    end: int
    days: tuple[int, ...] | None

    def __str__(self) -> str:
        clock = f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"
        # "sun 01:29 (22:30-01:30 on fri,sat)" read as a contradiction to a PM
        crosses = self.end < self.start
        return clock + (f" {'starting ' if crosses else ''}on {','.join(DAYS[d] for d in self.days)}"
                        if self.days else "")


@dataclass(frozen=True)
class Pick:
    """One entry of ``suggest`` or ``block``: an item, or a catalog slice ``{attr: value, top: n}``."""

    item: str | None = None
    slice: tuple[str, str] | None = None
    top: int | None = None
    score: float = 1.0
    where: str = field(default="", compare=False)
    path: str = field(default="", compare=False)

    def __str__(self) -> str:
        if self.item is not None:
            return self.item
        return f"{self.slice[0]}={self.slice[1]}" + (f" top {self.top}" if self.top else "")


@dataclass(frozen=True)
class Rule:
    id: str
    when: Leaf | Group
    suggest: tuple[Pick, ...] = ()
    block: tuple[Pick, ...] = ()
    priority: float = 0.0
    description: str = ""
    order: int = 0
    where: str = ""


@dataclass(frozen=True)
class RuleTest:
    name: str
    context: dict
    expect: tuple[str, ...] | None
    blocked: tuple[str, ...]
    where: str


@dataclass(frozen=True)
class RuleSet:
    """A parsed, checked rule file. Build it with :func:`load_rules` or :func:`parse_rules`."""

    rules: tuple[Rule, ...]
    timezone: str | None = None
    conflict: str = "priority"
    max_suggestions: int = 5
    tests: tuple[RuleTest, ...] = ()
    source: str = "<string>"
    version: int = 1

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise SuggestError(f"no rule '{rule_id}' in {self.source}",
                           hint=did_you_mean(rule_id, [r.id for r in self.rules]))

    @property
    def fields(self) -> set[str]:
        """Every field the conditions read."""
        return {leaf.field for rule in self.rules for leaf in leaves(rule.when)}


def leaves(node: Leaf | Group):
    """Every leaf under ``node``, in file order."""
    if isinstance(node, Leaf):
        yield node
    else:
        for child in node.children:
            yield from leaves(child)


def load_rules(path: str | Path) -> RuleSet:
    """Read and check a rule file; raise every problem at once.

    Examples
    --------
    >>> rs = parse_rules("rules:\\n  - id: r\\n    when: {location: home}\\n    suggest: [a]\\n")
    >>> rs.rules[0].id, rs.conflict
    ('r', 'priority')
    """
    return _Parser(load_yaml(path, what="rule file")).parse()


def parse_rules(text: str, source: str = "<string>") -> RuleSet:
    """Parse rule-file text; see :func:`load_rules`."""
    return _Parser(parse_yaml(text, source=source, what="rule file")).parse()


def parse_clock(text: Any) -> int | None:
    """``"06:30"`` -> 390 minutes; ``"24:00"`` is allowed as an end; None when malformed."""
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", str(text))
    if not match:
        return None
    hours, minutes = int(match[1]), int(match[2])
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        return None
    return hours * 60 + minutes


def parse_day(value: Any) -> int | None:
    """``"sat"``, ``"Saturday"`` or ``5`` -> 5; None when not a weekday."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= 6 else None
    text = str(value).strip().lower()
    if text in DAY_NAMES:
        return DAY_NAMES.index(text)
    return DAYS.index(text) if text in DAYS else None


class _Parser:
    def __init__(self, doc: YamlDoc):
        self.doc = doc
        self.errors: list[RuleError] = []
        self.rule_id: str | None = None

    # -- reporting ---------------------------------------------------------------------
    def error(self, at: tuple, message: str, hint: str | None = None, key: bool = False) -> None:
        path = _path_text(at)
        if self.rule_id:
            head = f"rule '{self.rule_id}' › {path}: " if path else f"rule '{self.rule_id}': "
        else:
            head = f"{path}: " if path else ""
        self.errors.append(RuleError(f"{head}{message}",
                                     where=self.doc.where(at, key=key), hint=hint))

    def unknown_keys(self, mapping: dict, at: tuple, allowed: tuple) -> None:
        for key in mapping:
            if key not in allowed:
                self.error(at + (key,), f"unknown key '{key}'",
                           did_you_mean(key, allowed) or f"expected {one_of(allowed)}", key=True)

    # -- the file ----------------------------------------------------------------------
    def parse(self) -> RuleSet:
        spec = self.doc.data
        if not isinstance(spec, dict):
            raise RuleError(f"a rule file must be a mapping with a `rules:` list, not "
                            f"{type(spec).__name__}", where=self.doc.where(()),
                            hint="start the file with `version: 1` and `rules:`")
        if "rules" not in spec and {"log", "columns"} & set(spec):  # a description given
            raise RuleError("this is a dataset description (it has `log:` or `columns:`), not "
                            "a rule file", where=self.doc.where(()),
                            hint="give it as --dataset FILE, and the rule file (`version: 1`, "
                                 "`rules:`) as --rules")
        self.unknown_keys(spec, (), TOP_KEYS)
        if spec.get("version", 1) != 1:
            self.error(("version",), f"unsupported version {spec.get('version')!r}", "use `version: 1`")
        timezone = spec.get("timezone")
        if timezone is not None:  # an IANA name or a fixed offset, named as the data's are
            name = zone_name(timezone)
            if name is None:
                self.error(("timezone",), f"unknown time zone '{timezone}'", zone_hint(timezone))
            timezone = name
        conflict = spec.get("conflict", "priority")
        if conflict not in CONFLICTS:
            self.error(("conflict",), f"unknown conflict mode '{conflict}'",
                       did_you_mean(conflict, CONFLICTS) or f"expected {one_of(CONFLICTS)}")
        max_suggestions = spec.get("max_suggestions", 5)
        if not _is_int(max_suggestions) or max_suggestions < 1:
            self.error(("max_suggestions",), f"max_suggestions must be a whole number >= 1, "
                                             f"not {max_suggestions!r}")
        rules = self.rules(spec.get("rules"))
        tests = self.tests(spec.get("tests"))
        if self.errors:
            if len(self.errors) == 1:
                raise self.errors[0]
            raise ErrorList(self.errors, summary=f"{self.doc.source}: {len(self.errors)} problems:")
        return RuleSet(rules=tuple(rules), timezone=str(timezone) if timezone else None,
                       conflict=conflict, max_suggestions=int(max_suggestions), tests=tuple(tests),
                       source=self.doc.source)

    def rules(self, items: Any) -> list[Rule]:
        if not isinstance(items, list) or not items:
            self.error(("rules",) if items is not None else (), "`rules` must be a non-empty list of rules")
            return []
        out, seen = [], {}
        for i, spec in enumerate(items):
            self.rule_id = None
            at = ("rules", i)
            if not isinstance(spec, dict):
                self.error(at, "a rule must be a mapping with `id`, `when` and `suggest` or `block`")
                continue
            rule_id = spec.get("id")
            if isinstance(rule_id, bool):  # YAML 1.1 reads off, on, yes, no as booleans
                self.error(at + ("id",), f"the id was read by YAML as {str(rule_id).lower()} (a "
                           "word such as off, on, yes or no is a boolean in YAML)",
                           "quote it: id: 'off'")
            elif not isinstance(rule_id, (str, int)) or rule_id == "":
                self.error(at, "every rule needs an `id` (a short name)")
            if not isinstance(rule_id, (str, int)) or isinstance(rule_id, bool) or rule_id == "":
                rule_id = f"#{i + 1}"
            self.rule_id = rule_id = str(rule_id)
            if rule_id in seen:
                self.error(at + ("id",), f"duplicate rule id (first at line {seen[rule_id]})",
                           "give every rule its own id")
            seen.setdefault(rule_id, self.doc.positions.get(at, (0, 0))[0])
            self.unknown_keys(spec, at, RULE_KEYS)
            priority = spec.get("priority", 0)
            if not _is_number(priority):
                quoted = isinstance(priority, str) and _is_number(_as_number(priority))
                self.error(at + ("priority",), f"priority must be a number, not {priority!r}",
                           f"write {priority} without the quotes" if quoted else None)
                priority = 0
            if "when" not in spec or spec["when"] in (None, {}, []):
                self.error(at + ("when",) if "when" in spec else at, "`when` is missing or empty",
                           "every rule needs a condition such as `when: {location: home}`")
                when = Group("all", (), "when", "")
            else:
                when = self.condition(spec["when"], at + ("when",), "when")
            suggest = self.picks(spec.get("suggest"), at + ("suggest",))
            block = self.picks(spec.get("block"), at + ("block",))
            if _empty(spec.get("suggest")) and _empty(spec.get("block")):
                self.error(at, "a rule needs `suggest` (items to show) or `block` (items to hide)")
            out.append(Rule(rule_id, when, tuple(suggest), tuple(block), float(priority),
                            str(spec.get("description") or ""), i, self.doc.where(at)))
        self.rule_id = None
        return out

    # -- conditions --------------------------------------------------------------------
    def condition(self, spec: Any, at: tuple, path: str, depth: int = 0) -> Leaf | Group:
        where = self.doc.where(at)
        if depth > MAX_DEPTH:
            self.error(at, f"conditions nest more than {MAX_DEPTH} levels deep",
                       "flatten the all/any/not groups")
            return Group("all", (), path, where)
        if isinstance(spec, list) and spec:
            return Group("all", tuple(self.condition(c, at + (i,), f"{path}[{i}]", depth + 1)
                                      for i, c in enumerate(spec)), path, where)
        if isinstance(spec, list):
            self.error(at, "a condition cannot be an empty list", "remove it or name a test")
            return Group("all", (), path, where)
        if not isinstance(spec, dict) or not spec:
            self.error(at, f"a condition must be a mapping like `location: home`, not {spec!r}")
            return Group("all", (), path, where)
        parts = []
        for key, value in spec.items():
            sub_at, sub_path = at + (key,), f"{path}.{key}"
            if key in ("all", "any"):
                if not isinstance(value, list) or not value:
                    self.error(sub_at, f"`{key}` needs a non-empty list of conditions")
                    continue
                parts.append(Group(key, tuple(self.condition(c, sub_at + (i,), f"{sub_path}[{i}]",
                                                             depth + 1)
                                              for i, c in enumerate(value)), sub_path,
                                   self.doc.where(sub_at)))
            elif key == "not":
                inner = self.condition(value, sub_at, sub_path, depth + 1)
                parts.append(Group("not", (inner,), sub_path, self.doc.where(sub_at)))
            elif key in OPERATORS:
                self.error(sub_at, f"'{key}' is an operator, not a field",
                           f"write it under a field: `battery: {{{key}: ...}}`", key=True)
            else:
                parts.extend(self.field(str(key), value, sub_at, path))
        if len(parts) == 1:
            return parts[0]
        return Group("all", tuple(parts), path, where)

    def field(self, name: str, value: Any, at: tuple, path: str) -> list[Leaf]:
        where = self.doc.where(at)
        if name == TIME_FIELD and _is_window(value):
            window = self.window(value, at)
            return [Leaf(name, "window", window, path, where)] if window else []
        if value is None:
            self.error(at, f"no value for '{name}'", "to test for a missing value write "
                                                      f"`{name}: {{missing: true}}`")
            return []
        if isinstance(value, list):
            value = {"in": value}
        if not isinstance(value, dict):
            value = {"eq": value}
        if not value:
            self.error(at, f"no operator for '{name}'",
                       f"e.g. `{name}: {{gte: 20}}`; expected {one_of(OPERATORS)}")
            return []
        out = []
        for op, arg in value.items():
            if op not in OPERATORS:
                self.error(at + (op,), f"unknown operator '{op}'",
                           did_you_mean(op, OPERATORS) or f"expected {one_of(OPERATORS)}", key=True)
                continue
            checked = self.argument(name, op, arg, at + (op,))
            if checked is not _BAD:
                out.append(Leaf(name, op, checked, path, self.doc.where(at + (op,))))
        return out

    def argument(self, name: str, op: str, arg: Any, at: tuple) -> Any:
        def bad(message: str, hint: str | None = None):
            self.error(at, message, hint)
            return _BAD

        if name == "weekday" and op in ("eq", "ne", "in", "not_in"):
            values = arg if isinstance(arg, list) else [arg]
            days = [parse_day(v) for v in values]
            if None in days:
                wrong = values[days.index(None)]
                return bad(f"'{wrong}' is not a weekday", did_you_mean(wrong, DAYS + DAY_NAMES)
                           or "use mon..sun, monday..sunday or 0 (Monday) .. 6")
            return days if isinstance(arg, list) else days[0]
        if op in ("missing", "exists"):
            return arg if isinstance(arg, bool) else bad(f"`{op}` takes true or false, not {arg!r}")
        dated = next((v for v in (arg if isinstance(arg, list) else [arg])
                      if isinstance(v, (datetime.date, datetime.datetime))), None)
        if dated is not None:  # YAML reads 2026-03-01 unquoted as a date, not as text
            return bad(f"YAML read {dated.isoformat()} as a date, not as a value",
                       f"quote it: '{dated.isoformat()}'")
        if op in ("eq", "ne"):
            return arg if _is_scalar(arg) else bad(f"`{op}` takes one value, not {arg!r}",
                                                   "for several values use `in`")
        if op in ("in", "not_in", "contains_any", "contains_all"):
            if not isinstance(arg, list) or not arg or not all(_is_scalar(v) for v in arg):
                return bad(f"`{op}` takes a non-empty list of values, not {arg!r}")
            return list(arg)
        if op in ("gt", "gte", "lt", "lte"):
            return arg if _is_number(arg) else bad(f"`{op}` takes a number, not {arg!r}")
        if op == "between":
            if not (isinstance(arg, list) and len(arg) == 2 and all(_is_number(v) for v in arg)):
                return bad(f"`between` takes two numbers [low, high), not {arg!r}",
                           "for a time of day use `time: {between: [\"06:30\", \"09:30\"]}`")
            if arg[0] >= arg[1]:
                return bad(f"`between` needs low < high, got {arg!r}", "it is half-open: [low, high)")
            return list(arg)
        if op == "matches":
            if not isinstance(arg, str):
                return bad(f"`matches` takes a regular expression in quotes, not {arg!r}")
            try:
                return compile_pattern(arg)
            except PatternError as exc:  # why RE2 refuses it; the hint says how to rewrite it
                shown = f"'{arg}'" if arg.isprintable() else repr(arg)
                return bad(f"`matches` pattern {shown} {exc.message}", exc.hint)
        if op == "within":
            keys = ("lat", "lon", "radius_m")
            if not isinstance(arg, dict) or set(arg) != set(keys) or \
                    not all(_is_number(arg[k]) for k in keys):
                return bad(f"`within` takes {{lat, lon, radius_m}} numbers, not {arg!r}")
            if not (-90 <= arg["lat"] <= 90 and -180 <= arg["lon"] <= 180 and arg["radius_m"] > 0):
                return bad("`within` needs -90 <= lat <= 90, -180 <= lon <= 180, radius_m > 0")
            return {k: float(arg[k]) for k in keys}
        raise AssertionError(op)  # pragma: no cover - every operator is handled above

    def window(self, value: Any, at: tuple) -> Window | None:
        example = 'time: {between: ["06:30", "09:30"], days: [mon, tue]}'
        if isinstance(value, dict):
            self.unknown_keys(value, at, ("between", "days"))
        if not isinstance(value, dict) or "between" not in value:
            if not isinstance(value, dict) or all(k in ("between", "days") for k in value):
                self.error(at, "a `time` condition needs `between: [start, end]`", f"e.g. {example}")
            return None
        ends = value["between"]
        if not isinstance(ends, list) or len(ends) != 2:
            self.error(at + ("between",), f"`between` takes [start, end] as \"HH:MM\", not {ends!r}")
            return None
        start, end = (parse_clock(e) for e in ends)
        for clock, raw, i in ((start, ends[0], 0), (end, ends[1], 1)):
            if clock is None:
                if isinstance(raw, int) and not isinstance(raw, bool):  # YAML reads 6:30 as 390
                    self.error(at + ("between", i), f"a time written without quotes was read by "
                               f"YAML as the number {raw}", 'quote times: "06:30"')
                else:
                    self.error(at + ("between", i), f"'{raw}' is not a time of day", "use 24-hour HH:MM")
        if start is None or end is None:
            return None
        if start == 24 * 60:
            self.error(at + ("between", 0), "a window cannot start at 24:00", "use \"00:00\"")
            return None
        whole_day = start == 0 and end == 24 * 60
        if whole_day and value.get("days") is None:
            self.error(at + ("between",), "the window 00:00-24:00 without `days` is always true",
                       "drop the time condition, or list the days it is for")
            return None
        if not whole_day:  # 00:00-24:00 is the whole of the listed days
            end = end % (24 * 60)
        if start == end:
            self.error(at + ("between",), f"the window {ends[0]}-{ends[1]} has equal ends",
                       'equal ends are an error, not "all day": write ["00:00", "24:00"] for whole days')
            return None
        days = value.get("days")
        if days is None:
            return Window(start, end, None)
        if not isinstance(days, list) or not days:
            self.error(at + ("days",), "`days` takes a list like [mon, tue]")
            return None
        parsed = [parse_day(d) for d in days]
        for i, d in enumerate(parsed):
            if d is None:
                self.error(at + ("days", i), f"'{days[i]}' is not a weekday",
                           did_you_mean(days[i], DAYS + DAY_NAMES)
                           or "use mon..sun, monday..sunday or 0 (Monday) .. 6")
        if None in parsed:
            return None
        return Window(start, end, tuple(sorted(set(parsed))))

    # -- suggestions, blocks, tests ----------------------------------------------------
    def _renumbered(self, value: Any, at: tuple) -> bool:
        """An item id YAML read as a number that is not what was written (``007`` as 7,
        ``010`` as 8): an error with the quote to add (the check had warned of "item '8'",
        which nobody wrote)."""
        written = getattr(self.doc, "numbers", {}).get(at)
        if written is None or isinstance(value, str) or written == str(value):
            return False
        self.error(at, f"YAML read {written} as the number {value}, not as the item id "
                       f"{written!r}", f"quote item ids that are digits: '{written}'")
        return True

    def picks(self, items: Any, at: tuple) -> list[Pick]:
        if items is None:
            return []
        if not isinstance(items, list):
            items = [items]
        out = []
        for i, spec in enumerate(items):
            here = at + (i,)
            if isinstance(spec, (str, int)) and not isinstance(spec, bool):
                if self._renumbered(spec, here):
                    continue
                out.append(Pick(item=str(spec), where=self.doc.where(here), path=_path_text(here)))
                continue
            if not isinstance(spec, dict):
                self.error(here, f"expected an item name or {{item: name, score: s}}, not {spec!r}")
                continue
            score = spec.get("score", 1.0)
            if not _is_number(score):
                self.error(here + ("score",), f"score must be a number, not {score!r}")
                score = 1.0
            if "item" in spec:
                self.unknown_keys(spec, here, ("item", "score"))
                if not _is_scalar(spec["item"]) or spec["item"] == "":
                    self.error(here + ("item",), f"item must be an item name, not {spec['item']!r}")
                    continue
                if self._renumbered(spec["item"], here + ("item",)):
                    continue
                out.append(Pick(item=str(spec["item"]), score=float(score), where=self.doc.where(here),
                                path=_path_text(here)))
                continue
            attrs = [k for k in spec if k not in ("top", "score")]
            if len(attrs) != 1:
                # a key the slice already has is no slip's target (`topic` beside `top:`)
                free = [key for key in ("top", "score", "item") if key not in spec]
                slips = {k: did_you_mean(str(k), free) if free else None for k in attrs}
                # the closest to its target is the slip (`topp` beside `topic`, not `topic`)
                slip = max((k for k, hint in slips.items() if hint), default=None,
                           key=lambda k: max(SequenceMatcher(None, str(k), f).ratio() for f in free))
                if slip is not None and len(attrs) == 2:  # `topp: 2` beside the attribute
                    self.error(here + (slip,), f"unknown key '{slip}' in a slice ({slips[slip]})")
                else:
                    named = ", ".join(f"'{k}'" for k in attrs) or "none"
                    self.error(here, f"a slice names one catalog attribute (and `top:`, `score:` "
                                     f"if wanted); this one names {named}: e.g. "
                                     "{genre: news, top: 3}")
                continue
            top = spec.get("top")
            if top is not None and (not _is_int(top) or top < 1):
                self.error(here + ("top",), f"top must be a whole number >= 1, not {top!r}")
                continue
            out.append(Pick(slice=(attrs[0], str(spec[attrs[0]])), top=top, score=float(score),
                            where=self.doc.where(here), path=_path_text(here)))
        return out

    def tests(self, items: Any) -> list[RuleTest]:
        if items is None:
            return []
        if not isinstance(items, list):
            self.error(("tests",), "`tests` must be a list")
            return []
        out = []
        for i, spec in enumerate(items):
            at = ("tests", i)
            if not isinstance(spec, dict) or not isinstance(spec.get("context"), dict):
                self.error(at, "a test needs `context:` (a mapping) and `expect:` and/or `blocked:`")
                continue
            self.unknown_keys(spec, at, TEST_KEYS)
            expect, blocked = spec.get("expect"), spec.get("blocked", [])
            if expect is not None and not isinstance(expect, list):
                self.error(at + ("expect",), "`expect` must be a list of items, in order")
                continue
            if not isinstance(blocked, list):
                self.error(at + ("blocked",), "`blocked` must be a list of items")
                continue
            name = str(spec.get("name") or f"test {i + 1}")
            wrong = [(key, j, v) for key, values in (("expect", expect or []), ("blocked", blocked))
                     for j, v in enumerate(values) if not _is_scalar(v) or v == ""]
            for key, j, v in wrong:  # `{topic: politics}` read as the item "{'topic': ...}"
                self.error(at + (key, j), f"`{key}` takes item ids, not {_shown(v) or repr(v)}",
                           hint="a test pins the items a context gets (e.g. expect: [a017, a204]); "
                                "`suggest rules explain` shows which rule and slice gave them")
            if wrong or any([self._renumbered(v, at + (key, j)) for key, values in
                             (("expect", expect or []), ("blocked", blocked))
                             for j, v in enumerate(values)]):
                continue
            if expect is None and not blocked:  # it would pass whatever the rules suggest
                self.error(at, f"test '{name}' asserts nothing: it has no `expect:` and "
                               f"{'an empty' if 'blocked' in spec else 'no'} `blocked:`",
                           hint="give `expect: [items in order]` or `expect: []` for an empty list, "
                                "and/or `blocked: [items a rule must block here]`")
                continue
            out.append(RuleTest(name, spec["context"],
                                tuple(map(str, expect)) if expect is not None else None,
                                tuple(map(str, blocked)), self.doc.where(at)))
        return out


_BAD = object()


def _is_window(value: Any) -> bool:
    """``time: {between: [...]}`` is a window; ``time: Weekend`` or ``time: {in: [...]}``
    test a context column that happens to be called ``time`` (DePaulMovie has one).
    A bare clock (``time: "06:00"``) is taken as a malformed window, not a value."""
    if isinstance(value, dict):
        if not value or "days" in value or not all(key in OPERATORS for key in value):
            return True
        ends = value.get("between")
        return isinstance(ends, list) and any(isinstance(e, str) and ":" in e for e in ends)
    return parse_clock(value) is not None and isinstance(value, str)


def _shown(value: Any) -> str:
    """A condition's value as a rule writer wrote it: [rain, snow], true, 20."""
    if isinstance(value, Pattern):
        return value.pattern
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_shown(v)}" for k, v in value.items()) + "}"
    return str(value)


def _path_text(at: tuple) -> str:
    """('rules', 2, 'when', 'all', 1) -> 'when.all[1]' (the part inside a rule)."""
    parts = list(at[2:]) if len(at) >= 2 and at[0] == "rules" else list(at)
    text = ""
    for p in parts:
        text += f"[{p}]" if isinstance(p, int) else (f".{p}" if text else str(p))
    return text


def _as_number(text: str):
    """``text`` as a number when it reads as one, else itself."""
    try:
        return float(text)
    except ValueError:
        return text


def _is_number(value: Any) -> bool:
    """A finite int or float: NaN cannot be ordered, and an int past float range cannot be a score."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _empty(value: Any) -> bool:
    return value is None or value == [] or value == {}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))
