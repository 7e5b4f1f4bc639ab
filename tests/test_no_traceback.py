"""No input a user can give ends a command in a traceback (property-based, hypothesis).

Hypothesis builds dataset descriptions (valid ones, contradictory ones, wrong YAML types,
garbage keys and values, empty and invalid YAML), small logs (CSV, TSV, JSONL and gzip;
empty, header-only, ragged, duplicate or reserved headers, odd bytes and missing markers),
rule files (every operator, unknown ones, wrong types, duplicate ids, tests), TREC and CSV
run and qrels files and contexts (invalid JSON, wrong JSON types, odd times), and runs
``data check``, ``rules check`` (alone and ``--dataset``), ``rules test``, ``rules coverage``,
``rules explain``, ``evaluate`` and ``replay`` on them. Every command must end with exit 0
(it worked) or 2 (one clear paragraph), never a traceback; ``rules test`` may also exit 1,
its documented answer when a rule test fails (and only then).

Most generated values are plausible, a few are anything: each example is wrong in a few
places only, so the checks after the first one get their turn too (a good share of the
examples load, and some reach a whole replay).
"""

from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suggest.cli import main

# --------------------------------------------------------------------------- values

#: Column names: the usual roles, context, reserved names, blanks and odd ones.
NAMES = ["user", "item", "place", "battery", "t", "r", "req", "tz", "genre", "weekday", "hour",
         "score", "timestamp", "request_id", "", " user", "1", "NULL", "é"]
#: Words a description or rule file uses in the wrong place.
WORDS = NAMES + ["categorical", "numeric", "boolean", "text", "csv", "tsv", "jsonl", "parquet",
                 "utf-16", "rot13", "UTC", "Mars/Base", "iso", "unix_s", "%Q", "max", "between",
                 "gte", "matches", "all", "any", "not", "home", "mon", "06:30", "25:00", "x"]
ODD = st.sampled_from(["NULL", "", " ", "-1", "inf", "-Infinity", "1e309", "nan", '"', '""', 'a"b',
                       "x,y", "\t", "é", "\udcff", "\x00", "\ufeff", "\r", "2300-01-01", "true",
                       "None", "N/A", "\\N", "-", "?", "9" * 30, "0x1F"])
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from([10**30, -(10**30)]),
                   st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(WORDS),
                   st.text(max_size=4))
#: Anything YAML can hold: the wrong type in any place.
ANY = st.recursive(SCALAR, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.one_of(st.sampled_from(WORDS), st.integers(0, 2), st.booleans()), inner,
                    max_size=3)), max_leaves=6)
#: Documents that are not a usable mapping at all (YAML text, written as is).
BROKEN_YAML = st.sampled_from([
    "", "\n", "# only a comment\n", "---\n", "--- null\n", "- a\n- b\n", "just text\n", "42\n",
    "{unclosed: [1, 2\n", "key: [1, 2\n", "a: b\n\tc: d\n", "a: 1\na: 2\n", "a: b: c\n",
    "!!python/object/apply:os.system [echo hi]\n", "x: !!binary AAAA\n", "a: &x [*x]\n",
    "? [a, b]\n: 1\n", "a: 1\n--- \nb: 2\n", "\x07: 1\n", "log: \"\\xZZ\"\n", "@x\n",
    "%YAML 9.9\n---\na: 1\n", "<<: 5\n", "a: *nope\n", "rules: !!set {a, b}\n",
    "rules: !!omap [a: 1]\n", "\udcff: 1\n"])


def weighted(*choices):
    """One of several strategies, each drawn as often as its weight says (``st.one_of``
    treats a repeated strategy as one choice)."""
    total = sum(weight for weight, _ in choices)

    @st.composite
    def draw_one(draw):
        n = draw(st.integers(0, total - 1))
        for weight, strategy in choices:
            if n < weight:
                return draw(strategy)
            n -= weight

    return draw_one()


def _paths(value, path=()):
    """Every place in a nested value: the value itself, then inside its mappings and lists."""
    yield path
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _paths(inner, path + (key,))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from _paths(inner, path + (i,))


def _replaced(value, path, change):
    """``value`` with the part at ``path`` passed through ``change`` (which may return
    ``_DROP`` to remove it from its mapping or list)."""
    if not path:
        return change(value)
    head, rest = path[0], path[1:]
    inner = _replaced(value[head], rest, change)
    if isinstance(value, dict):
        out = dict(value)
        if inner is _DROP:
            del out[head]
        else:
            out[head] = inner
        return out
    out = list(value)
    if inner is _DROP:
        del out[head]
    else:
        out[head] = inner
    return out


_DROP = object()
#: The top-level keys of descriptions and rule files.
TOP_LEVEL = ("log", "format", "separator", "encoding", "timezone", "columns", "positive_min",
             "context", "ignore", "catalog", "missing_values", "time_format", "rename",
             "duplicates", "version", "conflict", "max_suggestions", "rules", "tests")
EXTRA_KEYS = st.sampled_from(WORDS + ["log", "columns", "context", "ignore", "catalog", "rules",
                                      "when", "suggest", "block", "id", "tests", "expect"])


@st.composite
def mutated(draw, valid, garbage=ANY, by_key=None):
    """A valid value changed in up to three places (none, most often one): a part replaced by
    anything (or, under a key of ``by_key``, mostly by what is wrong there in a plausible
    way), dropped, or a mapping given an extra key. Each example is wrong in a few places
    only, so the checks after the first get their turn too."""
    value = draw(valid)
    top = [key for key in (by_key or {}) if key in TOP_LEVEL]
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 1, 2, 3]))):
        if top and isinstance(value, dict) and draw(st.booleans()):
            key = draw(st.sampled_from(top))  # a top-level key, present or not, set wrong
            value = {**value, key: draw(weighted((2, by_key[key]), (1, garbage)))}
            continue
        places = list(_paths(value))[1:]  # the whole document is replaced elsewhere
        if not places:
            break
        near_places = [p for p in places if (by_key or {}).get(p[-1]) is not None]
        if near_places and draw(st.integers(0, 2)):  # mostly where a plausible mistake is
            places = near_places
        path = draw(st.sampled_from(places))
        action = draw(st.sampled_from(["replace", "replace", "replace", "drop", "add"]))
        if action == "drop":
            value = _replaced(value, path, lambda _: _DROP)
        elif action == "add":
            key, new = draw(EXTRA_KEYS), draw(garbage)
            value = _replaced(value, path, lambda old: {**old, key: new} if isinstance(old, dict)
                              else [*old, new] if isinstance(old, list) else new)
        else:
            near = (by_key or {}).get(path[-1])
            new = draw(weighted((2, near), (1, garbage)) if near is not None else garbage)
            value = _replaced(value, path, lambda _: new)
    return value


@st.composite
def document(draw, valid, garbage=ANY, by_key=None):
    """YAML text: mostly a (slightly broken) valid mapping, one time in eight YAML that is
    broken or holds something else than a mapping."""
    kind = draw(st.integers(0, 15))
    if kind == 0:
        return draw(BROKEN_YAML)
    value = draw(ANY if kind == 1 else mutated(valid, garbage, by_key))
    return yaml.safe_dump(value, allow_unicode=True)


# ------------------------------------------------------------------ dataset descriptions

CONTEXT_SPECS = st.fixed_dictionaries({}, optional={
    "place": st.sampled_from(["categorical", {"type": "categorical", "values": ["home", "work"]}]),
    "battery": st.sampled_from(["numeric", {"type": "numeric"}]),
    "genre": st.just("categorical")})
DESCRIPTION = st.fixed_dictionaries(
    {"log": st.sampled_from(["log.csv", "log.csv", "log.tsv", "log.jsonl", "log.csv.gz"]),
     "columns": st.fixed_dictionaries({"user": st.just("user"), "item": st.just("item"),
                                       "relevance": st.just("r"), "time": st.just("t")},
                                      optional={
                                                "request": st.just("req"),
                                                "timezone": st.just("tz")})},
    optional={
        "name": st.just("x"),
        "timezone": st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"]),
        "encoding": st.sampled_from(["utf-8", "latin-1"]),
        "context": CONTEXT_SPECS,
        "ignore": st.sampled_from([["score"], ["tz"], []]),
        "catalog": st.one_of(st.fixed_dictionaries(
            {"path": st.just("cat.csv")}, optional={"item": st.just("item"),
                                                    "attributes": st.just({"genre": "categorical"})}),
            st.just({"attributes": {"genre": "categorical"}})),
        "missing_values": st.lists(st.sampled_from(["", "NULL", "N/A", "-"]), max_size=3),
        "time_format": st.sampled_from(["iso", "unix_s", "%Y-%m-%dT%H:%M:%S%z", "%d/%m/%Y %H:%M"]),
        "rename": st.sampled_from([{"weekday": "day"}, {"hour": "hr"}, {"score": "points"}]),
        "duplicates": st.sampled_from(["max", "sum", "last", "reject"]),
        "positive_min": st.integers(0, 3)})
#: Values that are wrong for a description in a plausible way, beside anything at all.
DESCRIPTION_GARBAGE = st.one_of(
    ANY, st.sampled_from(["log.txt", "log", "nope.csv", ".", "cat.csv", "d.yaml", "xml", ";", "",
                          "ab", '"', "\n", "\r", "é", "\x00", "\\t", "\ufeff", "utf-16", "utf-32",
                          "rot13", "hex", "base64", "undefined", "idna", "Mars/Base", "../etc",
                          "%Q", "%", "%s", "%H", "unix_ms", "first", "item", "user", "t",
                          "weekday", "hour", "timestamp"]),
    st.sampled_from([{"type": "text"}, {"type": "numeric", "values": ["1"]}, {"values": []},
                     {"user": "numeric"}, {"t": "categorical"}, {"item": "categorical"},
                     {"hour": "numeric"}, {"weekday": "day", "hour": "day"},
                     {"path": "nope.csv"}, {"path": "log.csv", "item": "user"}]))
_COLUMN = st.sampled_from(NAMES)
_TYPES = st.sampled_from(["categorical", "numeric", "boolean", "text", "Categorical", "", None])
#: What is wrong under each key of a description in a plausible way.
DESCRIPTION_NEAR = {
    "log": st.sampled_from(["log.txt", "log", "nope.csv", ".", "..", "cat.csv", "d.yaml", "log.tsv",
                            "log.jsonl", "log.csv.gz", "/", "", "log.parquet"]),
    "format": st.sampled_from(["csv", "tsv", "jsonl", "parquet", "xml", "CSV", ""]),
    "separator": st.sampled_from([",", "\t", ";", " ", "|", "", "ab", '"', "\n", "\r", "é", "\x00",
                                  "\\t", "t", "\ufeff", "u"]),
    "encoding": st.sampled_from(["utf-8", "latin-1", "utf-16", "utf-32", "ascii", "cp1252",
                                 "utf-8-sig", "utf-7", "rot13", "hex", "base64", "undefined",
                                 "idna", "punycode", "nope", ""]),
    "timezone": st.sampled_from(["UTC", "Europe/Berlin", "Mars/Base", "", "../etc", "utc",
                                 "Etc/GMT+5", "/etc/passwd", "tz"]),
    "positive_min": st.sampled_from([-1, 0, 0.5, 3, float("inf"), float("nan"), 10**30, True, "2"]),
    "time_format": st.sampled_from(["iso", "unix_s", "unix_ms", "%d/%m/%Y %H:%M", "%Q", "%",
                                    "%s", "%H", "%Y", "%z", "unix", "%%", "%Y-%m-%d %Z", ""]),
    "duplicates": st.sampled_from(["max", "sum", "last", "reject", "first", "", 1]),
    "missing_values": st.lists(ODD, max_size=3),
    "rename": st.dictionaries(_COLUMN, st.one_of(_COLUMN, st.integers(0, 2)), max_size=2),
    "ignore": st.lists(_COLUMN, max_size=3),
    "context": st.dictionaries(_COLUMN, _TYPES, max_size=3),
    "attributes": st.dictionaries(_COLUMN, _TYPES, max_size=2),
    "type": _TYPES, "values": st.lists(st.sampled_from(["home", "work", "", "1"]), max_size=2),
    "path": st.sampled_from(["cat.csv", "nope.csv", "log.csv", "cat.tsv", "log.jsonl", ".", ""]),
    "catalog": st.fixed_dictionaries({}, optional={
        "path": st.sampled_from(["cat.csv", "nope.csv", "log.csv", "cat.tsv", "log.jsonl", "."]),
        "item": _COLUMN, "attributes": st.dictionaries(_COLUMN, _TYPES, max_size=2),
        "format": st.sampled_from(["csv", "tsv", "jsonl", "parquet", "xls"]),
        "separator": st.sampled_from([",", "\t", "", "ab", ";"]),
        "encoding": st.sampled_from(["utf-8", "latin-1", "rot13", "utf-16", "nope"])}),
    **{role: _COLUMN for role in ("user", "item", "relevance", "time", "request", "place",
                                  "battery", "genre")},
    "columns": st.dictionaries(st.sampled_from(["user", "item", "relevance", "time", "request",
                                                "timezone", "shown"]), _COLUMN, max_size=4),
}
GOOD_DESCRIPTION = {"log": "log.csv", "columns": {"user": "user", "item": "item", "time": "t",
                                                  "relevance": "r"},
                    "context": {"place": {"type": "categorical", "values": ["home", "work"]},
                                "battery": "numeric"},
                    "catalog": {"path": "cat.csv", "attributes": {"genre": "categorical"}}}

# ------------------------------------------------------------------------------ logs

#: Plausible cells by column name; other names get odd cells.
CELLS = {
    "user": st.sampled_from(["u1", "u2", "u3"]),
    "item": st.sampled_from(["x", "y", "z", "", "nope"]),
    "place": st.sampled_from(["home", "work", "moon"]),
    "battery": st.sampled_from(["10", "55.5", "90", "-3", "lots"]),
    "t": st.sampled_from(["2026-03-02T08:00:00+00:00", "2026-03-03T09:30:00+00:00",
                          "2026-03-04T10:00:00", "2026-03-29T02:30:00", "1772438400",
                          "02/03/2026 08:00", "yesterday", "2300-01-01T00:00:00Z"]),
    "r": st.sampled_from(["1", "2", "0", "3.5", "-1", "abc"]),
    "req": st.sampled_from(["q1", "q2", "q3"]),
    "tz": st.sampled_from(["UTC", "Europe/Berlin", "Nope/Zone", "../x"]),
    "genre": st.sampled_from(["news", "music"]),
    "weekday": st.sampled_from(["mon", "sat"]),
    "hour": st.sampled_from(["8", "25"]),
    "score": st.sampled_from(["0.5", "x"]),
}
GOOD_HEADER = ["user", "item", "t", "r", "place", "battery", "genre"]
HEADER = weighted((4, st.just(GOOD_HEADER)), (1, st.just(GOOD_HEADER + ["req", "tz"])),
                  (1, st.permutations(GOOD_HEADER + ["req", "tz", "weekday", "hour", "score"])),
                  (1, st.lists(st.sampled_from(NAMES), max_size=7)))
JSON_VALUE = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                       st.sampled_from([10**30, "x", "", "\udcff"]),
                       st.lists(st.integers(), max_size=2),
                       st.dictionaries(st.sampled_from(["a", "b"]), st.integers(), max_size=2))


@st.composite
def logs(draw):
    """(header, rows): rows are lists of cells, mostly one per header name, some ragged."""
    header = draw(HEADER)
    cell = lambda name: weighted((12, CELLS.get(name.strip(), ODD)), (1, ODD))  # noqa: E731
    row = weighted((12, st.tuples(*[cell(name) for name in header]).map(list)),
                   (1, st.lists(st.one_of(ODD, *[CELLS[name] for name in ("user", "item", "t")]),
                                max_size=len(header) + 2)))
    return header, draw(weighted((9, st.lists(row, min_size=1, max_size=10)), (1, st.just([]))))


LOG_LAYOUT = st.sampled_from(["plain"] * 12 + ["no header", "empty", "crlf", "no final newline",
                                               "blank lines", "bom"])
#: What a JSONL line is: the row as an object, some values of other JSON types, or junk.
JSONL_LINE = st.sampled_from(["object"] * 6 + ["typed", "array", "junk"])

# ----------------------------------------------------------------------------- rules

VALID_LEAF = st.sampled_from([
    {"place": "home"}, {"place": ["home", "work"]}, {"place": {"ne": "work"}},
    {"place": {"not_in": ["moon"]}}, {"place": {"matches": "ho.*"}},
    {"place": {"contains_any": ["om", "or"]}}, {"battery": {"gte": 20}}, {"battery": {"lt": 50}},
    {"battery": {"between": [10, 50]}}, {"battery": {"exists": True}},
    {"genre": {"missing": True}}, {"hour": {"lt": 12}}, {"weekday": ["sat", "sun"]},
    {"is_weekend": True}, {"time": {"between": ["06:00", "10:00"]}},
    {"time": {"between": ["22:00", "02:00"], "days": ["fri"]}},
    {"place": "home", "battery": {"gte": 10, "lt": 90}}])
CONDITION = st.recursive(VALID_LEAF, lambda inner: st.one_of(
    st.fixed_dictionaries({"all": st.lists(inner, min_size=1, max_size=3)}),
    st.fixed_dictionaries({"any": st.lists(inner, min_size=1, max_size=3)}),
    st.fixed_dictionaries({"not": inner})), max_leaves=4)
PICK = st.one_of(st.sampled_from(["x", "y", "z", "nope"]),
                 st.fixed_dictionaries({"item": st.sampled_from(["x", "y"])},
                                       optional={"score": st.floats(0, 1)}),
                 st.fixed_dictionaries({"genre": st.sampled_from(["news", "music", "pop"])},
                                       optional={"top": st.integers(1, 3),
                                                 "score": st.floats(0, 1)}))
RULE = st.fixed_dictionaries(
    {"id": st.sampled_from(["a", "b", "c", "d"]), "when": CONDITION},
    optional={"suggest": st.lists(PICK, min_size=1, max_size=3),
              "block": st.lists(PICK, min_size=1, max_size=2), "priority": st.integers(0, 50),
              "description": st.just("why")}).filter(lambda r: "suggest" in r or "block" in r)
CONTEXT = st.fixed_dictionaries({}, optional={
    "place": st.sampled_from(["home", "work"]), "battery": st.integers(0, 100),
    "genre": st.just("news"), "user_id": st.just("u1"),
    "timestamp": st.sampled_from(["2026-03-02T08:00:00Z", "2026-03-07T23:30:00+01:00",
                                  "2026-03-02T08:00:00"]),
    "timezone": st.sampled_from(["UTC", "Europe/Berlin"])})
RULE_TEST = st.fixed_dictionaries(
    {"context": CONTEXT},
    optional={"name": st.just("t"), "expect": st.lists(st.sampled_from(["x", "y", "z"]),
                                                        max_size=2),
              "blocked": st.lists(st.sampled_from(["x", "y"]), max_size=2)})
RULES = st.fixed_dictionaries(
    {"rules": st.lists(RULE, min_size=1, max_size=4, unique_by=lambda r: r["id"])},
    optional={"version": st.just(1), "max_suggestions": st.integers(1, 5),
              "conflict": st.sampled_from(["priority", "first", "sum"]),
              "timezone": st.sampled_from(["UTC", "Asia/Seoul"]),
              "tests": st.lists(RULE_TEST, max_size=2), "description": st.just("rules")})
#: Values that are wrong in a rule file in a plausible way, beside anything at all.
RULE_GARBAGE = st.one_of(
    ANY, st.sampled_from(["ho.*", "(a+)+$", "(?=x)", "(", "\\1", "[z-a]", "06:30", "25:61", "7",
                          "funday", "a", "vote", "Mars/Base", ["06:30", "06:30"], ["00:00", "24:00"],
                          ["22:00"], [50, 10], [1, "x"], {"lat": 91, "lon": 0, "radius_m": 5},
                          {"lat": 1, "lon": 2}, {"betwen": [1, 2]}, {"regex": "x"}, {"gte": "x"},
                          {"in": []}, {"between": ["06:00", "10:00"], "days": ["funday"]},
                          {"all": []}, {"not": []}, {"missing": "yes"}, {"genre": "news", "top": 0},
                          {"item": ""}, {"category": "news", "genre": "x"}]))
_ARGUMENT = st.one_of(
    st.sampled_from(["home", "ho.*", "(a+)+$", "(?=x)", "(", "\\1", "[z-a]", "06:30", "x" * 300,
                     True, None, 0, -1, 1e309, 10**30, [], [1], [50, 10], [10, 10], [1, 2, 3],
                     [1, "x"], ["home", None], [[1]], {}]),
    st.fixed_dictionaries({}, optional={"lat": st.sampled_from([0, 91, "x"]),
                                        "lon": st.sampled_from([0, 181]),
                                        "radius_m": st.sampled_from([5, 0, -1, None])}))
_OPERATORS = st.sampled_from(["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between",
                              "matches", "contains_any", "contains_all", "within", "missing",
                              "exists", "betwen", "regex", "days", "all", "not"])
_WINDOW = st.fixed_dictionaries({}, optional={
    "between": st.lists(st.sampled_from(["06:30", "09:30", "00:00", "24:00", "23:00", "02:00",
                                         "7", "25:61", 390, None]), max_size=3),
    "days": st.one_of(st.lists(st.sampled_from(["mon", "sat", "Sunday", "funday", 0, 6, 9, True]),
                               max_size=3), st.just("mon")),
    "at": st.just(1)})
_FIELD = st.sampled_from(["place", "battery", "genre", "weekday", "hour", "minute",
                          "is_weekend", "time", "t", "user_id", "timestamp", "timezone",
                          "request_id", "item_id", "score", "nope", "gte", "not", 1, True])
_PICK_NEAR = st.one_of(
    st.sampled_from(["x", "", 7, True, None, [], {}, {"item": ""}, {"item": ["x"]},
                     {"item": "x", "top": 2}, {"item": "x", "score": "high"},
                     {"item": "x", "score": float("nan")}, {"genre": "news", "top": 0},
                     {"genre": "news", "top": 1.5}, {"genre": None}, {"genre": ["news"]},
                     {"category": "news", "genre": "x"}, {"nope": "x"}, {"top": 2},
                     {"place": "home", "top": 1}, {"weekday": "mon"}]),
    st.fixed_dictionaries({"genre": st.sampled_from(["news", "pop", ""])},
                          optional={"top": st.sampled_from([1, 0, -1, 10**9])}))
#: What is wrong under each key of a rule file in a plausible way.
RULE_NEAR = {
    "id": st.sampled_from(["a", "b", "", 1, True, None, "a b", "x" * 200]),
    "when": st.one_of(
        st.dictionaries(_FIELD, st.one_of(_ARGUMENT, st.dictionaries(_OPERATORS, _ARGUMENT,
                                                                     max_size=2), _WINDOW),
                        max_size=2),
        st.sampled_from([[], {}, None, "home", [{}], {"all": []}, {"any": {}}, {"not": [1, 2]}])),
    **{op: _ARGUMENT for op in ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between",
                                "matches", "contains_any", "contains_all", "within", "missing",
                                "exists")},
    **{name: st.one_of(_ARGUMENT, st.dictionaries(_OPERATORS, _ARGUMENT, min_size=1, max_size=2))
       for name in ("place", "battery", "genre", "hour", "weekday", "is_weekend")},
    "time": st.one_of(_WINDOW, _ARGUMENT), "days": _WINDOW.map(lambda w: w.get("days", [])),
    "all": st.lists(st.dictionaries(_FIELD, _ARGUMENT, max_size=2), max_size=2),
    "any": st.lists(st.dictionaries(_FIELD, _ARGUMENT, max_size=2), max_size=2),
    "not": st.dictionaries(_FIELD, _ARGUMENT, max_size=2),
    "suggest": st.one_of(_PICK_NEAR, st.lists(_PICK_NEAR, max_size=3)),
    "block": st.one_of(_PICK_NEAR, st.lists(_PICK_NEAR, max_size=3)),
    "item": _PICK_NEAR, "top": st.sampled_from([0, -1, 1.5, "2", None, 10**9]),
    "score": st.sampled_from([-1, 0, 1e308, float("inf"), float("nan"), "x", None, 10**30]),
    "priority": st.sampled_from([-1, 1e308, float("inf"), float("nan"), "x", None, 10**30, True]),
    "max_suggestions": st.sampled_from([0, -1, 1.5, "5", None, 10**9, True]),
    "conflict": st.sampled_from(["priority", "first", "sum", "vote", "", None]),
    "timezone": st.sampled_from(["UTC", "Mars/Base", "", "../etc", None, 5]),
    "version": st.sampled_from([1, 2, "1", 1.0, None, True]),
    "tests": st.lists(st.dictionaries(st.sampled_from(["name", "context", "expect", "blocked",
                                                       "why"]), ANY, max_size=4), max_size=2),
    "context": st.one_of(st.dictionaries(st.sampled_from(["place", "battery", "timestamp",
                                                          "timezone", "hour", "wether",
                                                          "user_id"]),
                                         _ARGUMENT, max_size=3), _ARGUMENT),
    "expect": st.one_of(st.lists(st.one_of(_ARGUMENT, st.just("x")), max_size=2), _ARGUMENT),
    "blocked": st.one_of(st.lists(st.one_of(_ARGUMENT, st.just("x")), max_size=2), _ARGUMENT),
}
GOOD_RULES = {"version": 1, "rules": [
    {"id": "home", "when": {"place": "home"}, "suggest": ["x", {"genre": "news", "top": 1}]},
    {"id": "low", "priority": 5, "when": {"all": [{"battery": {"lt": 20}},
                                                  {"time": {"between": ["06:00", "10:00"]}}]},
     "suggest": [{"item": "y", "score": 0.5}], "block": ["z"]}],
    "tests": [{"name": "at home", "context": {"place": "home"}, "expect": ["x"]}]}

# ------------------------------------------------------------ contexts, runs and qrels

CONTEXT_VALUE = st.one_of(
    st.sampled_from(["home", "moon", "2026-03-02T08:00:00Z", "2026-03-29T02:30:00",
                     "9999-01-01T00:00:00Z", "1500-01-01T00:00:00Z", "not a time",
                     "Europe/Berlin", "Nope/Zone", "", "\ud800"]),
    st.integers(-5, 100), st.sampled_from([10**30, 1e308, 2**63]), st.booleans(), st.none(),
    st.floats(), st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["a"]), st.integers(), max_size=1))
CONTEXT_GARBAGE = st.one_of(CONTEXT_VALUE, st.sampled_from(
    ["wether", "hour", "weekday", "is_weekend", "time", "t", "request_id", "1"]).map(
        lambda key: {key: 1}))
CONTEXT_ARGUMENT = weighted(
    (8, mutated(CONTEXT, CONTEXT_GARBAGE).map(json.dumps)), (1, JSON_VALUE.map(json.dumps)),
    (1, st.sampled_from(["", "{", "{'place': 'home'}", '{"place": "home",}', "null", "[]", "NaN",
                     '{"battery": NaN}', '{"battery": Infinity}', '{"place": "home"} x',
                     '{"a": {"b": [1, {"c": null}]}}', "@nope.json", "@", "@.", "\x00",
                     '"\\ud800"', '{"place": "\\ud800"}', '{"timestamp": 1e400}',
                     '{"timestamp": "2026-03-02T08:00:00", "timezone": "Nope/Zone"}',
                     '{"timestamp": 5}', '{"timestamp": true}', '{"user_id": null}',
                     '{"place": "home", "place": "work"}'])))
RUN_LINE = weighted((12, st.tuples(st.sampled_from(["q1", "q2"]), st.just("Q0"),
                                 st.sampled_from(["a", "b", "c"]), st.sampled_from(["1", "2"]),
                                 st.sampled_from(["0.5", "0.9", "0.1"]),
                                 st.sampled_from(["e1", "e2"])).map(" ".join)),
                     (1, st.tuples(st.sampled_from(["q1", "", "é"]), st.sampled_from(["Q0", "x"]),
                               st.sampled_from(["a", "\udcff"]), st.sampled_from(["1", "-1", "x"]),
                               st.sampled_from(["inf", "nan", "-0", "1e309", "x", "1e-320"]),
                               st.sampled_from(["e1", "\x00"])).map(" ".join)),
                     (1, st.lists(ODD, max_size=8).map(" ".join)))
QREL_LINE = weighted((12, st.tuples(st.sampled_from(["q1", "q2", "q3"]), st.just("0"),
                                  st.sampled_from(["a", "b"]),
                                  st.sampled_from(["0", "1", "2"])).map(" ".join)),
                      (1, st.tuples(st.sampled_from(["q1", ""]), st.sampled_from(["0", "x"]),
                                st.sampled_from(["a", "\udcff"]),
                                st.sampled_from(["-1", "1.5", "x", "inf", "1e309"])).map(" ".join)),
                      (1, st.lists(ODD, max_size=5).map(" ".join)))
#: Cells of run and truth tables (CSV with a header) by column, empty ones included.
TABLE_CELLS = {"request_id": st.sampled_from(["q1", "q2", ""]),
               "item_id": st.sampled_from(["a", "b", "c", ""]),
               "score": st.sampled_from(["0.5", "1", "0.9", "", "x", "inf", "1e309", "-0"]),
               "relevance": st.sampled_from(["0", "1", "2", "", "x", "-1", "1.5", "nan"]),
               "engine": st.sampled_from(["e1", "e2", ""])}
TABLE_HEADERS = st.sampled_from([
    ["request_id", "item_id", "score"], ["request_id", "item_id", "score", "engine"],
    ["request_id", "item_id", "relevance"], ["engine", "score", "item_id", "request_id"],
    ["request_id", "request_id", "item_id", "score"], ["item_id"], ["request_id", "x"],
    ["request_id", "item_id", "score", "relevance", "engine"]])


@st.composite
def run_file(draw, trec_line):
    """A run or truth file: TREC lines, or a CSV or TSV table with a header."""
    if draw(st.integers(0, 2)):
        lines = draw(st.lists(trec_line, max_size=5))
    else:
        header = draw(TABLE_HEADERS)
        cell = lambda col: weighted((8, TABLE_CELLS.get(col, ODD)), (1, ODD))  # noqa: E731
        row = weighted((8, st.tuples(*[cell(col) for col in header]).map(list)),
                       (1, st.lists(ODD, max_size=len(header) + 1)))
        separator = draw(st.sampled_from([",", ",", "\t"]))
        lines = [separator.join(r) for r in [header, *draw(st.lists(row, max_size=4))]]
    return "\n".join(lines) + ("\n" if lines and draw(st.integers(0, 5)) else "")


RUN_NAME = st.sampled_from(["x.run"] * 6 + ["x.csv", "x.parquet", "x.tsv", "x"])

# ---------------------------------------------------------------------------- writing


def _log_text(header: list[str], rows: list[list[str]], separator: str, layout: str) -> str:
    quote = lambda cell: cell  # noqa: E731 - cells are written raw: odd quotes stay odd
    lines = [] if layout in ("no header", "empty") else [separator.join(header)]
    lines += [separator.join(quote(c) for c in row) for row in rows] if layout != "empty" else []
    if layout == "blank lines":
        lines = [line for pair in zip(lines, [""] * len(lines)) for line in pair]
    end = "\r\n" if layout == "crlf" else "\n"
    text = end.join(lines) + (end if lines and layout != "no final newline" else "")
    return ("\ufeff" + text) if layout == "bom" else text


def _jsonl_text(header: list[str], rows: list[list[str]], kinds: list[str], values) -> str:
    lines = []
    for row, kind, value in zip(rows, kinds, values):
        record = dict(zip(header, row))
        if kind == "typed":
            record = {**record, **{name: value for name in list(record)[:2]}}
        lines.append({"object": lambda: json.dumps(record), "typed": lambda: json.dumps(record),
                      "array": lambda: json.dumps(row), "junk": lambda: "{" + ",".join(row)}[kind]())
    return "\n".join(lines) + ("\n" if lines else "")


def _bytes(text: str, encoding: str = "utf-8") -> bytes:
    # lone surrogates stand for bytes that are not UTF-8 (\udcff is the byte 0xff)
    return text.encode(encoding, "surrogateescape")


def _write_data(folder: Path, description: str, header, rows, layout: str, jsonl) -> None:
    (folder / "d.yaml").write_bytes(_bytes(description))
    csv_text = _log_text(header, rows, ",", layout)
    (folder / "log.csv").write_bytes(_bytes(csv_text))
    (folder / "log.txt").write_bytes(_bytes(csv_text))
    (folder / "log").write_bytes(_bytes(csv_text))
    (folder / "log.csv.gz").write_bytes(gzip.compress(_bytes(csv_text)))
    (folder / "log.tsv").write_bytes(_bytes(_log_text(header, rows, "\t", layout)))
    (folder / "log.jsonl").write_bytes(_bytes(_jsonl_text(header, rows, *jsonl)))
    (folder / "cat.csv").write_text("item,genre\nx,news\ny,music\nx,pop\n,news\n")
    (folder / "cat.tsv").write_text("item\tgenre\nx\tnews\n")


# --------------------------------------------------------------------------- checking


def _ends_cleanly(args: list[str]) -> None:
    """The command ends with exit 0 or 2 and no uncaught exception or traceback (``rules
    test`` may exit 1, its answer when a rule test fails, and only after saying so)."""
    result = CliRunner().invoke(main, [str(a) for a in args])
    shown = (args, result.exit_code, repr(result.exception), result.output[-3000:])
    assert result.exception is None or isinstance(result.exception, SystemExit), shown
    assert "Traceback" not in result.output, shown
    if args[:2] == ["rules", "test"] and result.exit_code == 1:
        assert " failed" in result.output and "FAIL" in result.output, shown
    else:
        assert result.exit_code in (0, 2), shown
    if result.exit_code == 2:  # a message, not silence
        assert result.output.strip(), shown


SETTINGS = dict(deadline=None, suppress_health_check=list(HealthCheck))


@settings(max_examples=150, **SETTINGS)
@given(description=weighted((6, document(DESCRIPTION, DESCRIPTION_GARBAGE, DESCRIPTION_NEAR)),
                            (1, st.just(yaml.safe_dump(GOOD_DESCRIPTION)))),
       log=logs(), layout=LOG_LAYOUT,
       jsonl=st.tuples(st.lists(JSONL_LINE, min_size=10, max_size=10),
                       st.lists(JSON_VALUE, min_size=10, max_size=10)))
def test_no_description_or_log_ends_in_a_traceback(description, log, layout, jsonl):
    """Random descriptions over random logs: data check, then rules over them."""
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        _write_data(folder, description, *log, layout, jsonl)
        (folder / "r.yaml").write_text(yaml.safe_dump(GOOD_RULES))
        d, r = folder / "d.yaml", folder / "r.yaml"
        _ends_cleanly(["data", "check", d, "--rejects", folder / "rej.csv"])
        _ends_cleanly(["data", "check", d, "--json", "--rejects", folder / "rej.csv"])
        _ends_cleanly(["rules", "check", r, "--dataset", d])
        _ends_cleanly(["rules", "coverage", r, "--dataset", d])


@settings(max_examples=150, **SETTINGS)
@given(rules=weighted((6, document(RULES, RULE_GARBAGE, RULE_NEAR)),
                      (1, st.just(yaml.safe_dump(GOOD_RULES)))),
       description=weighted((3, st.just(yaml.safe_dump(GOOD_DESCRIPTION))),
                            (1, document(DESCRIPTION, DESCRIPTION_GARBAGE, DESCRIPTION_NEAR))),
       log=st.one_of(logs(), st.just((GOOD_HEADER, [
           ["u1", "x", "2026-03-02T08:00:00+00:00", "1", "home", "10", "news"],
           ["u2", "y", "2026-03-03T09:30:00+00:00", "2", "work", "55", "music"]]))),
       context=CONTEXT_ARGUMENT, in_file=st.sampled_from([None] * 4 + ["", "\udcff", "\ufeff"]),
       replay=st.integers(0, 3))
def test_no_rule_file_or_context_ends_in_a_traceback(rules, description, log, context, in_file,
                                                     replay):
    """Random rule files against good and random datasets: check, test, explain, coverage
    and (every fourth example) a replay of rules and a baseline."""
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        _write_data(folder, description, *log, "plain", (["object"] * 10, [None] * 10))
        (folder / "r.yaml").write_bytes(_bytes(rules))
        d, r = folder / "d.yaml", folder / "r.yaml"
        if in_file is not None:  # --context @FILE, sometimes with a byte that is not UTF-8
            (folder / "c.json").write_bytes(_bytes(in_file + context))
            context = f"@{folder / 'c.json'}"
        _ends_cleanly(["rules", "check", r])
        _ends_cleanly(["rules", "check", r, "--json"])
        _ends_cleanly(["rules", "check", r, "--dataset", d])
        _ends_cleanly(["rules", "test", r, "--dataset", d])
        _ends_cleanly(["rules", "explain", r, "--context", context])
        _ends_cleanly(["rules", "explain", r, "--dataset", d, "--context", context, "--json"])
        _ends_cleanly(["rules", "coverage", r, "--dataset", d])
        if replay == 0:
            _ends_cleanly(["replay", "--dataset", d, "--rules", r, "--engines", "rules,popular",
                           "--k", "1,3", "-o", folder / "run"])


@settings(max_examples=150, **SETTINGS)
@given(run=run_file(RUN_LINE), truth=run_file(QREL_LINE), run_name=RUN_NAME, truth_name=RUN_NAME,
       ks=st.sampled_from(["1,3", "5", "0", "x", "", "3,3", "1000000", "-1", "1.5"]))
def test_no_run_or_qrels_file_ends_in_a_traceback(run, truth, run_name, truth_name, ks):
    """Random TREC runs and qrels, and run and truth tables, through evaluate."""
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        (folder / run_name).write_bytes(_bytes(run))
        (folder / ("t" + truth_name)).write_bytes(_bytes(truth))
        r, t = folder / run_name, folder / ("t" + truth_name)
        _ends_cleanly(["evaluate", "--run", r, "--truth", t, "--k", ks])
        _ends_cleanly(["evaluate", "--run", r, "--truth", t, "--json", "--gain", "exp"])


# ------------------------------------------------- what the property tests found, one by one


def _refused(*args) -> str:
    """Run a command that must refuse its input: exit 2, no traceback; the message."""
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 2, (result.exit_code, repr(result.exception), result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.output


def _describe(folder: Path, log: bytes, name: str = "log.csv", **keys) -> Path:
    (folder / name).write_bytes(log)
    description = {"log": name, "columns": {"user": "user", "item": "item"}, **keys}
    (folder / "d.yaml").write_text(yaml.safe_dump(description, allow_unicode=True))
    return folder / "d.yaml"


def test_a_separator_past_ascii_is_read_row_by_row_not_a_crash(tmp_path):
    """Was OverflowError: the byte scans compared a uint8 array with ord('\\ufeff')."""
    d = _describe(tmp_path, "user\ufeffitem\nu1\ufeff\"x\"\nu2\ufeffy\n".encode(), separator="\ufeff")
    result = CliRunner().invoke(main, ["data", "check", str(d), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["rows_ok"] == 2


@pytest.mark.parametrize("name, log", [
    ("log.csv", b"user,item\nu1,x\xff,extra\nu2,y\n"),            # ragged and not UTF-8
    ("log.csv", b'user,item\nu1,"x\xff\nu2,y\n'),                  # a stray quote and not UTF-8
    ("log.jsonl", b'{"user": "u1", "item": "x"}\n{"user": "u\xff", "item": "y"}\n'),
    ("log.jsonl", b'{"user": "u1", "item": "x"}\n{"user": "u\xff", "item": \n'),
    ("log.jsonl", b'{"user": "u1", "item": "x"}\n{"user": "\\udcff", "item": "y"}\n'),
    ("log.jsonl", b'{"user": "u1", "item": "x"}\n{"\\ud800": "u2", "item": "y"}\n'),
])
def test_a_rejected_row_that_is_not_text_is_a_reject_not_a_crash(tmp_path, name, log):
    """Was UnicodeEncodeError (pandas' Arrow strings refuse lone surrogates): the row's text,
    or a JSON value, held bytes that are not UTF-8 or a \\ud800 escape."""
    d = _describe(tmp_path, log, name)
    result = CliRunner().invoke(main, ["data", "check", str(d), "--json", "--rejects",
                                       str(tmp_path / "rej.csv")])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["rows_in"] == 2 and report["rows_ok"] == 1 and report["rows_rejected"] == 1
    reasons = " ".join(report["reject_reasons"])
    assert any(words in reasons for words in ("not valid utf-8", "lone surrogate", "fields",
                                              "unbalanced quote", "not valid JSON")), reasons
    assert "\ufffd" in (tmp_path / "rej.csv").read_text(encoding="utf-8") or "surrogate" in reasons


@pytest.mark.parametrize("encoding", ["rot13", "hex", "base64", "undefined", "idna", "punycode"])
def test_an_encoding_that_cannot_read_text_is_refused_by_the_description(tmp_path, encoding):
    """Was LookupError ('rot13' is not a text encoding) or UnicodeError from the reader."""
    output = _refused("data", "check", _describe(tmp_path, b"user,item\nu1,x\n", encoding=encoding))
    assert f"'{encoding}' is not a text encoding a log can be read in" in output
    assert "d.yaml:" in output and "utf-8" in output


@pytest.mark.parametrize("encoding, words", [("utf-16", "does not start with BOM"),
                                             ("utf-32", "code point not in range")])
def test_a_log_not_in_its_declared_encoding_is_refused(tmp_path, encoding, words):
    """Was UnicodeError: a UTF-8 file declared utf-16 or utf-32 cannot be decoded at all."""
    output = _refused("data", "check", _describe(tmp_path, b"user,item\nu1,x\n", encoding=encoding))
    assert f"log file cannot be read as {encoding}" in output and words in output
    assert "log.csv" in output and "`encoding:`" in output


@pytest.mark.parametrize("pattern, words", [("%Q", "'Q' is a bad directive"),
                                            ("%", "stray %"), ("%s", "'s' is a bad directive"),
                                            ("%Y %Y", "redefinition of group name"),
                                            ("%U", "without day and year")])
def test_a_time_format_pandas_cannot_use_is_refused_by_the_description(tmp_path, pattern, words):
    """Was ValueError or re.error from pd.to_datetime when the log was read."""
    d = _describe(tmp_path, b"user,item,t\nu1,x,2026-03-02 08:00\n", time_format=pattern,
                  columns={"user": "user", "item": "item", "time": "t"})
    output = _refused("data", "check", d)
    assert f"time_format '{pattern}' cannot read times" in output and words in output
    assert "d.yaml:" in output and "'%d/%m/%Y %H:%M'" in output


def test_a_time_format_that_fails_on_the_data_is_a_clear_error(tmp_path, monkeypatch):
    """The description's check reads one sample time; a pattern pandas refuses only on the
    log's own values is still an error naming the pattern, not a traceback."""
    import suggest.data.description as description

    monkeypatch.setattr(description, "time_format_problem", lambda pattern: None)
    d = _describe(tmp_path, b"user,item,t\nu1,x,2026 09\n", time_format="%Y %U",
                  columns={"user": "user", "item": "item", "time": "t"})
    assert "time_format '%Y %U' cannot read times" in _refused("data", "check", d)


def test_a_lone_surrogate_escape_in_yaml_is_refused_and_a_pair_is_one_character(tmp_path):
    """Was UnicodeEncodeError: "\\uDCFF" in missing_values (data check) or in a rule test
    (rules test). A pair of escapes is now read as the one character it encodes."""
    (tmp_path / "log.csv").write_text("user,item\nu1,x\n")
    (tmp_path / "d.yaml").write_text('log: log.csv\nmissing_values: ["\\uDCFF"]\n'
                                     "columns: {user: user, item: item}\n")
    output = _refused("data", "check", tmp_path / "d.yaml")
    assert "d.yaml:2:18: a \\u escape of a lone surrogate" in output and "half a character" in output
    (tmp_path / "r.yaml").write_text('rules:\n- id: a\n  when: {place: home}\n  suggest: ["x"]\n'
                                     'tests: [{context: {place: "\\uDCFF"}, expect: [x]}]\n')
    assert "r.yaml:5:27: a \\u escape of a lone surrogate" in _refused("rules", "test",
                                                                       tmp_path / "r.yaml")
    from suggest.yamlio import parse_yaml

    assert parse_yaml('a: "\\uD83D\\uDE00"\n"\\uD83D\\uDE00": 1\n').data == {"a": "😀", "😀": 1}


@pytest.mark.parametrize("table, words", [
    ("request_id,item_id,score,engine\nq1,a,0.5,\n", "x.csv:2: run row has no engine"),
    ("request_id,item_id,score\nq1,a,0.5\n,b,0.4\n", "x.csv:3: run row has no request_id"),
    ("request_id,item_id,score\nq1,,0.5\n", "x.csv:2: run row has no item_id"),
])
def test_a_run_table_with_empty_ids_is_refused(tmp_path, table, words):
    """Was StopIteration (every engine cell empty: no engine left to score) or an id read as
    the text 'nan'."""
    (tmp_path / "x.csv").write_text(table)
    (tmp_path / "t.qrels").write_text("q1 0 a 1\n")
    assert words in _refused("evaluate", "--run", tmp_path / "x.csv", "--truth",
                             tmp_path / "t.qrels")


def test_a_truth_table_with_an_empty_relevance_is_refused_plainly(tmp_path):
    """Was "relevance np.float64(nan) is not a finite number"."""
    (tmp_path / "x.run").write_text("q1 Q0 a 1 0.5 e\n")
    (tmp_path / "t.csv").write_text("request_id,item_id,relevance\nq1,a,\n")
    output = _refused("evaluate", "--run", tmp_path / "x.run", "--truth", tmp_path / "t.csv")
    assert "t.csv:2: truth row has no relevance" in output and "np.float64" not in output


RULES_TEXT = "rules:\n- id: a\n  when: {place: home}\n  suggest: [x]\n"


@pytest.mark.parametrize("context", ['{"place": "\\ud800"}', '{"\\udcff": 1}',
                                     '{"place": ["\\ud800"]}'])
def test_a_context_with_a_lone_surrogate_escape_is_refused(tmp_path, context):
    """Was UnicodeEncodeError from rules explain (with --dataset) on {"place": "\\ud800"}."""
    (tmp_path / "r.yaml").write_text(RULES_TEXT)
    d = _describe(tmp_path, b"user,item,place\nu1,x,home\n")
    output = _refused("rules", "explain", tmp_path / "r.yaml", "--dataset", d, "--context", context)
    assert "--context holds a \\u escape of a lone surrogate" in output
    good = CliRunner().invoke(main, ["rules", "explain", str(tmp_path / "r.yaml"), "--context",
                                     '{"place": "\\ud83d\\ude00"}'])  # a pair is a character
    assert good.exit_code == 0, good.output


def test_a_context_file_that_is_not_utf8_is_refused(tmp_path):
    """Was UnicodeDecodeError from --context @FILE."""
    (tmp_path / "r.yaml").write_text(RULES_TEXT)
    (tmp_path / "c.json").write_bytes(b'{"place": "\xff"}')
    output = _refused("rules", "explain", tmp_path / "r.yaml", "--context",
                      f"@{tmp_path / 'c.json'}")
    assert "c.json is not valid UTF-8 (byte 11)" in output


@pytest.mark.parametrize("keys, words", [
    ({"columns": {"user": "user", "item": "user"}}, "'user' is named for two roles, user and item"),
    ({"columns": {"user": "user", "item": "item", "time": "item"}},
     "'item' is named for two roles, item and time"),
    ({"ignore": ["item"]}, "'item' is the item column and cannot be ignored"),
])
def test_a_column_in_two_roles_is_refused(tmp_path, keys, words):
    """Contradictory descriptions were read as given (exit 0, every item its user's name)."""
    d = _describe(tmp_path, b"user,item\nu1,x\n", **{"columns": {"user": "user", "item": "item"},
                                                      **keys})
    assert words in _refused("data", "check", d)


def test_one_request_per_user_may_share_the_user_column(tmp_path):
    d = _describe(tmp_path, b"user,item\nu1,x\nu1,y\n",
                  columns={"user": "user", "item": "item", "request": "user"})
    result = CliRunner().invoke(main, ["data", "check", str(d), "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["requests"] == 1, result.output
