"""Evaluating conditions over a Requests frame: operators, three-valued logic, local time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import make_requests
from suggest.rules import RulesEngine, parse_rules
from suggest.rules.compile import Evaluator

T, F, U = True, False, None  # true, false, unknown


requests = make_requests


def stamped(local_times: list[str | None], zone: str, **columns) -> pd.DataFrame:
    """Requests at these local wall-clock times in ``zone``, stored as UTC plus a ``timezone`` column."""
    local = pd.to_datetime(pd.Series(local_times, dtype=object))
    utc = local.dt.tz_localize(zone).dt.tz_convert("UTC")
    return requests(timestamp=utc, timezone=[zone] * len(local_times), **columns)


def rules_text(when: str, head: str = "") -> str:
    return f"{head}rules:\n  - id: r\n    when: {when}\n    suggest: [x]\n"


def truth(when: str, frame: pd.DataFrame, timezone: str | None = None) -> list:
    """The three-valued result per request (read in ``timezone`` when given), checked against
    what the engine fires (whose ``timezone`` is a default a request's own zone overrides: it
    is given the frame without its zones then)."""
    rs = parse_rules(rules_text(when))
    result = Evaluator(frame, timezone).evaluate(rs.rules[0].when)
    values = [bool(t) if k else U for t, k in zip(result.true, result.known)]
    own = frame.drop(columns="timezone") if timezone and "timezone" in frame.columns else frame
    fired = RulesEngine(rs, timezone=timezone).fit().fired(own)[:, 0]
    assert fired.tolist() == [v is T for v in values], "a rule fires exactly where it is true"
    return values


# -- operators, one column kind at a time -----------------------------------------------------

PLACES = ["home", "work", "commute", None, "home-office"]


@pytest.fixture(params=["category", "object", "string"])
def places(request):
    """The same text context as a categorical (with an unused category), plain object and string column."""
    if request.param == "category":
        values = pd.Categorical(PLACES, categories=["commute", "gym", "home", "home-office", "work"])
    else:
        values = pd.array(PLACES, dtype=request.param) if request.param == "string" else PLACES
    return requests(loc=values)


@pytest.mark.parametrize("when, expected", [
    ("{loc: home}", [T, F, F, U, F]),
    ("{loc: {eq: home}}", [T, F, F, U, F]),
    ("{loc: gym}", [F, F, F, U, F]),
    ("{loc: {ne: home}}", [F, T, T, U, T]),
    ("{loc: [home, work]}", [T, T, F, U, F]),
    ("{loc: {in: [home, work]}}", [T, T, F, U, F]),
    ("{loc: {not_in: [home, work]}}", [F, F, T, U, T]),
    ('{loc: {matches: "home.*"}}', [T, F, F, U, T]),
    ('{loc: {matches: "om"}}', [F, F, F, U, F]),           # a full match, not a search
    ('{loc: {matches: "(home|work)"}}', [T, T, F, U, F]),
    ("{loc: {contains_any: [ffi, mut]}}", [F, F, T, U, T]),
    ("{loc: {contains_all: [home, ffi]}}", [F, F, F, U, T]),
    ("{loc: {contains_all: [o, m]}}", [T, F, T, U, T]),
    ("{loc: {missing: true}}", [F, F, F, T, F]),
    ("{loc: {missing: false}}", [T, T, T, F, T]),
    ("{loc: {exists: true}}", [T, T, T, F, T]),
    ("{loc: {exists: false}}", [F, F, F, T, F]),
    ("{loc: missing}", [F, F, F, U, F]),                  # equality with the word "missing"
    ("{not: {loc: home}}", [F, T, T, U, T]),
    ("{not: {loc: {missing: true}}}", [T, T, T, F, T]),
])
def test_text_operators(places, when, expected):
    assert truth(when, places) == expected


@pytest.fixture(params=["Float64", "float64"])
def battery(request):
    return requests(bat=pd.array([10, 20, 20.5, None, 80], dtype=request.param)
                    if request.param == "Float64" else np.array([10, 20, 20.5, np.nan, 80]))


@pytest.mark.parametrize("when, expected", [
    ("{bat: 20}", [F, T, F, U, F]),
    ('{bat: "20"}', [F, T, F, U, F]),
    ("{bat: 20.5}", [F, F, T, U, F]),
    ("{bat: {ne: 20}}", [T, F, T, U, T]),
    ("{bat: [10, 80]}", [T, F, F, U, T]),
    ("{bat: {not_in: [10, 80]}}", [F, T, T, U, F]),
    ("{bat: {gt: 20}}", [F, F, T, U, T]),
    ("{bat: {gte: 20}}", [F, T, T, U, T]),
    ("{bat: {lt: 20}}", [T, F, F, U, F]),
    ("{bat: {lte: 20}}", [T, T, F, U, F]),
    ("{bat: {between: [20, 80]}}", [F, T, T, U, F]),     # half-open: 80 is out
    ("{bat: {between: [10, 20.5]}}", [T, T, F, U, F]),
    ("{bat: {gte: 20, lt: 80}}", [F, T, T, U, F]),
    ("{bat: {missing: true}}", [F, F, F, T, F]),
    ("{bat: {exists: true}}", [T, T, T, F, T]),
    ("{not: {bat: {gte: 20}}}", [T, F, F, U, F]),
])
def test_number_operators(battery, when, expected):
    assert truth(when, battery) == expected


def test_integer_column_with_missing_values():
    frame = requests(bat=pd.array([19, 20, None], dtype="Int64"))
    assert truth("{bat: {gte: 20}}", frame) == [F, T, U]
    assert truth("{bat: {lt: 20}}", frame) == [T, F, U]


@pytest.mark.parametrize("when, expected", [
    ("{chg: true}", [T, F, U]),
    ("{chg: yes}", [T, F, U]),               # YAML 1.1 reads yes as true
    ("{chg: false}", [F, T, U]),
    ("{chg: {ne: true}}", [F, T, U]),
    ("{chg: [true]}", [T, F, U]),
    ("{chg: {not_in: [true]}}", [F, T, U]),
    ("{chg: {missing: true}}", [F, F, T]),
    ("{chg: {exists: true}}", [T, T, F]),
    ("{not: {chg: true}}", [F, T, U]),
])
def test_boolean_operators(when, expected):
    assert truth(when, requests(chg=pd.array([True, False, None], dtype="boolean"))) == expected


def test_plain_numpy_booleans_are_always_known():
    assert truth("{chg: false}", requests(chg=np.array([True, False]))) == [F, T]


@pytest.mark.parametrize("when, expected", [
    ("{ghost: x}", [U, U]),
    ("{ghost: {gte: 1}}", [U, U]),
    ("{not: {ghost: x}}", [U, U]),
    ("{ghost: {missing: true}}", [T, T]),
    ("{ghost: {missing: false}}", [F, F]),
    ("{ghost: {exists: true}}", [F, F]),
    ("{ghost: {exists: false}}", [T, T]),
])
def test_a_field_the_frame_lacks_is_missing_everywhere(when, expected):
    assert truth(when, requests(loc=["home", "work"])) == expected


# Brandenburg Gate; 0.004 degrees of latitude is 444.8 m, 0.005 degrees of longitude there 338.5 m
GPS = ["52.5163,13.3777", "52.5203,13.3777", "52.5163,13.3827", "52.5263,13.3777", None, "nowhere"]


@pytest.mark.parametrize("radius, expected", [
    (500, [T, T, T, F, U, F]),
    (400, [T, F, T, F, U, F]),
    (300, [T, F, F, F, U, F]),
])
def test_within_a_radius(radius, expected):
    when = f"{{gps: {{within: {{lat: 52.5163, lon: 13.3777, radius_m: {radius}}}}}}}"
    assert truth(when, requests(gps=pd.Categorical(GPS))) == expected


# -- weekday names and numbers, on hour/minute/weekday/is_weekend columns ----------------------

@pytest.fixture
def clock():
    """Mon 06:00, Fri 07:00, Sat 08:00, Sun 09:00 and one request with no time."""
    return requests(hour=pd.array([6, 7, 8, 9, None], dtype="Int8"),
                    minute=pd.array([0, 0, 0, 0, None], dtype="Int8"),
                    weekday=pd.array([0, 4, 5, 6, None], dtype="Int8"),
                    is_weekend=pd.array([False, False, True, True, None], dtype="boolean"))


@pytest.mark.parametrize("when, expected", [
    ("{weekday: sat}", [F, F, T, F, U]),
    ("{weekday: 5}", [F, F, T, F, U]),
    ("{weekday: Saturday}", [F, F, T, F, U]),
    ("{weekday: [sat, sun]}", [F, F, T, T, U]),
    ("{weekday: {in: [mon, 4]}}", [T, T, F, F, U]),
    ("{weekday: {ne: mon}}", [F, T, T, T, U]),
    ("{weekday: {not_in: [sat, sun]}}", [T, T, F, F, U]),
    ("{weekday: {gte: 5}}", [F, F, T, T, U]),
    ("{is_weekend: true}", [F, F, T, T, U]),
    ("{hour: {between: [7, 9]}}", [F, T, T, F, U]),
    ('{time: {between: ["07:00", "09:00"]}}', [F, T, T, F, U]),
    ('{time: {between: ["07:00", "09:00"], days: [sat, sun]}}', [F, F, T, F, U]),
])
def test_weekdays_and_local_clock_columns(clock, when, expected):
    assert truth(when, clock) == expected


def test_a_context_column_named_like_a_time_field_is_read_when_there_is_no_timestamp():
    # a log without timestamps may carry its own `hour` context column; it used to read as unknown
    frame = requests(hour=pd.array([7, 8, None], dtype="Int64"))
    assert truth("{hour: {gte: 8}}", frame) == [F, T, U]
    assert truth("{hour: {gte: 8}}", frame, timezone="Europe/Berlin") == [F, T, U]
    assert truth('{time: {between: ["07:00", "09:00"]}}', frame) == [U, U, U]


# -- Kleene logic ---------------------------------------------------------------------------

VALUE = {T: 1.0, F: 0.0, U: None}
PAIRS = [(a, b) for a in (T, F, U) for b in (T, F, U)]
AND = {(T, T): T, (T, F): F, (T, U): U, (F, T): F, (F, F): F, (F, U): F, (U, T): U, (U, F): F, (U, U): U}
OR = {(T, T): T, (T, F): T, (T, U): T, (F, T): T, (F, F): F, (F, U): U, (U, T): T, (U, F): U, (U, U): U}
NOT = {T: F, F: T, U: U}


@pytest.fixture
def pairs():
    """Every combination of true/false/unknown for the leaves `x: 1` and `y: 1`."""
    return requests(x=pd.array([VALUE[a] for a, _ in PAIRS], dtype="Float64"),
                    y=pd.array([VALUE[b] for _, b in PAIRS], dtype="Float64"))


def test_leaves_of_the_truth_table(pairs):
    assert truth("{x: 1}", pairs) == [a for a, _ in PAIRS]
    assert truth("{y: 1}", pairs) == [b for _, b in PAIRS]


@pytest.mark.parametrize("when, table", [
    ("{all: [{x: 1}, {y: 1}]}", lambda a, b: AND[a, b]),
    ("{x: 1, y: 1}", lambda a, b: AND[a, b]),                 # several keys are `all`
    ("[{x: 1}, {y: 1}]", lambda a, b: AND[a, b]),             # a list is `all`
    ("{any: [{x: 1}, {y: 1}]}", lambda a, b: OR[a, b]),
    ("{not: {x: 1}}", lambda a, b: NOT[a]),
    ("{not: {not: {x: 1}}}", lambda a, b: a),
    ("{not: {all: [{x: 1}, {y: 1}]}}", lambda a, b: NOT[AND[a, b]]),
    ("{any: [{not: {x: 1}}, {not: {y: 1}}]}", lambda a, b: OR[NOT[a], NOT[b]]),  # De Morgan
    ("{all: [{x: 1}, {not: {y: 1}}]}", lambda a, b: AND[a, NOT[b]]),
    ("{any: [{x: 1}, {x: {missing: true}}]}", lambda a, b: OR[a, T if a is U else F]),
    ("{any: [{x: 1}, {not: {x: 1}}]}", lambda a, b: OR[a, NOT[a]]),  # not a tautology: U stays U
    ("{all: [{x: 1}, {y: 1}, {any: [{x: 0}, {y: 0}]}]}",
     lambda a, b: AND[AND[a, b], OR[NOT[a], NOT[b]]]),
])
def test_kleene_all_any_not(pairs, when, table):
    assert truth(when, pairs) == [table(a, b) for a, b in PAIRS]


# -- time windows on timestamps -----------------------------------------------------------

def test_between_is_half_open():
    frame = stamped(["2026-03-02 06:59", "2026-03-02 07:00", "2026-03-02 08:59", "2026-03-02 09:00"], "UTC")
    assert truth('{time: {between: ["07:00", "09:00"]}}', frame) == [F, T, T, F]


def test_a_window_crossing_midnight_belongs_to_the_day_it_starts():
    frame = stamped(["2026-03-06 23:00",    # Fri 23:00
                     "2026-03-07 01:00",    # Sat 01:00, still Friday night
                     "2026-03-07 23:00",    # Sat 23:00
                     "2026-03-06 01:00",    # Fri 01:00, Thursday night
                     "2026-03-06 22:00",    # start is in
                     "2026-03-07 02:00",    # end is out
                     "2026-03-05 23:00"],   # Thu 23:00
                    "Europe/Berlin")
    assert truth('{time: {between: ["22:00", "02:00"], days: [fri]}}', frame) == [T, T, F, F, T, F, F]
    assert truth('{time: {between: ["22:00", "02:00"]}}', frame) == [T, T, T, T, T, F, T]


def test_a_sunday_night_window_reaches_into_monday():
    frame = stamped(["2026-03-08 23:30", "2026-03-09 00:30", "2026-03-02 00:30"], "UTC")  # Sun, Mon, Mon
    assert truth('{time: {between: ["23:00", "01:00"], days: [sun]}}', frame) == [T, T, T]
    assert truth('{time: {between: ["23:00", "01:00"], days: [mon]}}', frame) == [F, F, F]


def test_local_clock_holds_across_a_dst_change():
    # Europe/Berlin moves to summer time on Sunday 2026-03-29: 08:00 local is 07:00 UTC before, 06:00 after
    utc = pd.Series(pd.to_datetime(["2026-03-28T07:00Z", "2026-03-29T06:00Z", "2026-03-30T06:00Z",
                                    "2026-03-29T07:00Z"], utc=True))
    frame = requests(timestamp=utc, timezone=["Europe/Berlin"] * 4)
    assert truth('{time: {between: ["07:00", "09:00"]}}', frame) == [T, T, T, F]
    assert truth("{hour: 8}", frame) == [T, T, T, F]
    # the same UTC clock reads differently: 07:00Z is 08:00 on Saturday and 09:00 on Sunday


def test_rule_set_timezone_overrides_the_requests_own_zone():
    # one instant: Saturday 23:30 UTC, Sunday 00:30 in Berlin, Sunday 08:30 in Seoul
    utc = pd.Series(pd.to_datetime(["2026-03-28T23:30Z"], utc=True))
    frame = requests(timestamp=utc, timezone=["Europe/Berlin"])
    window = '{time: {between: ["08:00", "09:00"], days: [sun]}}'
    assert truth(window, frame) == [F]
    assert truth(window, frame, timezone="Asia/Seoul") == [T]
    assert truth("{hour: 0}", frame) == [T] and truth("{hour: 8}", frame, timezone="Asia/Seoul") == [T]
    # through the engine: the file's zone wins over every other; the engine's own (the
    # dataset's) is a default, which the request's zone overrides
    head = "timezone: Asia/Seoul\n"
    engine = RulesEngine(parse_rules(rules_text(window, head)), timezone="UTC").fit()
    assert engine.fired(frame)[:, 0].tolist() == [True]
    engine = RulesEngine(parse_rules(rules_text(window)), timezone="Asia/Seoul").fit()
    assert engine.fired(frame)[:, 0].tolist() == [False]  # Sunday 00:30 in Berlin
    assert engine.fired(frame.drop(columns="timezone"))[:, 0].tolist() == [True]  # no zone: Seoul


@pytest.mark.parametrize("written", ["+09:00", "UTC+9", "utc+09:00"])
def test_a_rule_file_may_name_its_zone_as_a_utc_offset(written):
    """A dataset description and a zone column take a fixed offset; a rule file refused one
    ("unknown time zone"). Seoul has no summer time, so its offset reads the same hours."""
    utc = pd.Series(pd.to_datetime(["2026-03-28T23:30Z", "2026-07-01T23:30Z"], utc=True))
    frame = requests(timestamp=utc, timezone=["Europe/Berlin"] * 2)
    window = '{time: {between: ["08:00", "09:00"], days: [sun, thu]}}'
    rule_set = parse_rules(rules_text(window, f"timezone: '{written}'\n"))
    assert rule_set.timezone == "UTC+09:00"
    assert RulesEngine(rule_set).fit().fired(frame)[:, 0].tolist() == [True, True]
    assert RulesEngine(parse_rules(rules_text(window, "timezone: Asia/Seoul\n"))).fit().fired(
        frame)[:, 0].tolist() == [True, True]


def test_local_columns_are_used_as_they_are_unless_a_zone_asks_for_recomputing():
    utc = pd.Series(pd.to_datetime(["2026-03-02T08:15Z"], utc=True))
    frame = requests(timestamp=utc, timezone=["UTC"], hour=pd.array([3], dtype="Int8"),
                     minute=pd.array([0], dtype="Int8"), weekday=pd.array([0], dtype="Int8"),
                     is_weekend=pd.array([False], dtype="boolean"))
    assert truth("{hour: 3}", frame) == [T]                   # the frame's own local fields
    assert truth("{hour: 17}", frame, timezone="Asia/Tokyo") == [T]   # recomputed in Tokyo


def test_timestamps_written_with_any_offset_mean_the_same_instant():
    tokyo = pd.Series(pd.to_datetime(["2026-03-02T17:15+09:00"])).dt.tz_convert("Asia/Tokyo")
    frame = requests(timestamp=tokyo, timezone=["UTC"])
    assert truth("{hour: 8}", frame) == [T]


def test_no_timestamp_makes_time_conditions_unknown():
    frame = requests(loc=["home", "work"])
    assert truth('{time: {between: ["00:00", "23:59"]}}', frame) == [U, U]
    assert truth('{not: {time: {between: ["00:00", "23:59"]}}}', frame) == [U, U]
    assert truth("{hour: {gte: 0}}", frame) == [U, U]
    assert truth("{is_weekend: false}", frame) == [U, U]
    # one request without a time among timed ones
    frame = stamped(["2026-03-02 08:00", None], "UTC")
    assert truth('{time: {between: ["07:00", "09:00"]}}', frame) == [T, U]
    assert truth('{not: {time: {between: ["07:00", "09:00"]}}}', frame) == [F, U]
    assert truth("{any: [{hour: 8}, {hour: {missing: true}}]}", frame) == [T, T]


def test_each_request_reads_its_own_zone_without_a_rule_set_zone():
    utc = pd.Series(pd.to_datetime(["2026-03-02T13:00Z"] * 3, utc=True))
    frame = requests(timestamp=utc, timezone=["UTC", "America/New_York", "Asia/Seoul"])
    # 13:00 UTC, 08:00 New York, 22:00 Seoul
    assert truth('{time: {between: ["07:30", "09:00"]}}', frame) == [F, T, F]
    assert truth('{time: {between: ["21:00", "01:00"], days: [mon]}}', frame) == [F, F, T]
