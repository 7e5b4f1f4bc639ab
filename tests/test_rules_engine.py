"""The rules engine: conflicts, blocks, catalog slices, the Suggestions frame, and a reference check."""

from __future__ import annotations

import re
import textwrap

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import make_requests, traced_peak
from suggest.errors import SuggestError
from suggest.rules import RulesEngine, parse_rules

COLUMNS = ["request_id", "engine", "rank", "item_id", "score", "reason"]


requests = make_requests


def engine(text: str, truth=None, catalog=None, **kwargs) -> RulesEngine:
    return RulesEngine(parse_rules(textwrap.dedent(text)), **kwargs).fit(None, truth, catalog)


def lists(suggestions: pd.DataFrame) -> dict[str, list[tuple[str, str]]]:
    """{request_id: [(item, reason), ...]} in rank order, after checking the frame's invariants."""
    assert list(suggestions.columns) == COLUMNS
    out = {}
    for rid, rows in suggestions.groupby("request_id", sort=False, observed=True):
        assert rows["rank"].tolist() == list(range(1, len(rows) + 1))
        assert (np.diff(rows["score"].to_numpy()) < 0).all(), "score falls strictly with rank"
        assert rows["item_id"].is_unique
        assert (rows["engine"] == "rules").all()
        out[rid] = list(zip(rows["item_id"].astype(str), rows["reason"].astype(str)))
    return out


def items(suggestions: pd.DataFrame) -> dict[str, list[str]]:
    return {rid: [i for i, _ in pairs] for rid, pairs in lists(suggestions).items()}


# -- conflicts -----------------------------------------------------------------------------

CONFLICTS = """\
    conflict: {mode}
    max_suggestions: 10
    rules:
      - id: evening
        priority: 1
        when: {{loc: home}}
        suggest: [tv, {{item: radio, score: 0.5}}, podcast]
      - id: tired
        priority: 5
        when: {{bat: {{lt: 30}}}}
        suggest: [{{item: podcast, score: 0.2}}, charger]
      - id: also-home
        priority: 1
        when: {{loc: [home, work]}}
        suggest: [{{item: radio, score: 2.0}}, tv]
      - id: hide-tv-when-charging
        when: {{chg: true}}
        block: [tv]
    """


@pytest.fixture
def evening():
    return requests(loc=pd.Categorical(["home", "work", None, "home"]),
                    bat=pd.array([10, 50, None, 80], dtype="Float64"),
                    chg=pd.array([False, True, None, True], dtype="boolean"))


def test_priority_keeps_each_items_best_and_every_proposer(evening):
    out = engine(CONFLICTS.format(mode="priority")).suggest(evening, k=10)
    assert lists(out) == {
        # charger and podcast come from the priority-5 rule; radio's best is also-home's 2.0
        "q0": [("charger", "tired"), ("podcast", "evening,tired"), ("radio", "evening,also-home"),
               ("tv", "evening,also-home")],
        "q1": [("radio", "also-home")],                       # tv is blocked
        "q3": [("radio", "evening,also-home"), ("podcast", "evening")],
    }
    assert out.loc[out["request_id"] == "q0", "score"].tolist() == [1.0, 0.9, 0.8, 0.7]


def test_first_takes_only_the_first_firing_rule_that_suggests(evening):
    out = engine(CONFLICTS.format(mode="first")).suggest(evening, k=10)
    assert lists(out) == {
        "q0": [("tv", "evening"), ("podcast", "evening"), ("radio", "evening")],
        "q1": [("radio", "also-home")],
        # evening's tv is blocked; also-home still does not get a say
        "q3": [("podcast", "evening"), ("radio", "evening")],
    }


def test_sum_adds_scores_and_keeps_the_highest_priority(evening):
    out = engine(CONFLICTS.format(mode="sum")).suggest(evening, k=10)
    assert lists(out) == {
        # podcast: priority 5, 1.0 + 0.2 beats charger's 1.0; radio 0.5 + 2.0 beats tv 1.0 + 1.0
        "q0": [("podcast", "evening,tired"), ("charger", "tired"), ("radio", "evening,also-home"),
               ("tv", "evening,also-home")],
        "q1": [("radio", "also-home")],
        "q3": [("radio", "evening,also-home"), ("podcast", "evening")],
    }


@pytest.mark.parametrize("mode", ["priority", "first", "sum"])
def test_a_huge_max_suggestions_costs_what_the_items_cost(evening, mode):
    """max_suggestions: 1000000 (a typo away from 10): the lists are as wide as the items the
    rules can suggest, not a million columns a pattern (a billion asked for tens of GiB);
    the lists are those of any k past the longest, the scores still fall by 1/k."""
    from suggest.rules.coverage import coverage

    text = CONFLICTS.format(mode=mode).replace("max_suggestions: 10", "max_suggestions: 1000000")
    huge, short = engine(text), engine(CONFLICTS.format(mode=mode))
    expected = short.suggest(evening, k=10)
    coverage(huge, evening)  # imports and caches before measuring
    out, peak = traced_peak(lambda: huge.suggest(evening, k=10**6))
    assert peak < 4 * 2**20  # patterns x k cells of 8 bytes were 2 x 24 MB here
    assert lists(out) == lists(expected)
    assert out["score"].tolist() == [1.0 - (r - 1) / 10**6 for r in out["rank"]]
    report, peak = traced_peak(lambda: coverage(huge, evening))
    assert peak < 4 * 2**20
    assert report.to_dict() == coverage(short, evening).to_dict()


def test_ties_follow_file_order_then_place_in_the_rule_not_item_names():
    out = engine("""\
        rules:
          - id: b-rule
            when: {loc: home}
            suggest: [zebra, apple]
          - id: a-rule
            when: {loc: home}
            suggest: [mango, banana, {item: kiwi, score: 1.5}]
        """).suggest(requests(loc=["home"]), k=5)
    assert items(out) == {"q0": ["kiwi", "zebra", "apple", "mango", "banana"]}


def test_max_suggestions_and_k_cap_the_list():
    text = """\
        max_suggestions: 3
        rules:
          - id: r
            when: {loc: home}
            suggest: [a, b, c, d, e]
        """
    e = engine(text)
    frame = requests(loc=["home", "home"])
    assert items(e.suggest(frame, k=10)) == {"q0": ["a", "b", "c"], "q1": ["a", "b", "c"]}
    assert items(e.suggest(frame, k=2)) == {"q0": ["a", "b"], "q1": ["a", "b"]}
    assert items(e.suggest(frame, k=3)) == {"q0": ["a", "b", "c"], "q1": ["a", "b", "c"]}
    assert e.suggest(frame, k=2)["score"].tolist() == [1.0, 0.5, 1.0, 0.5]
    empty = e.suggest(frame, k=0)
    assert list(empty.columns) == COLUMNS and len(empty) == 0
    with pytest.raises(SuggestError, match="k must be"):
        e.suggest(frame, k=-1)


def test_a_long_list_is_not_truncated_by_an_earlier_shorter_call():
    many = ", ".join(f"i{n:03d}" for n in range(300))
    e = engine(f"max_suggestions: 300\nrules:\n  - id: r\n    when: {{loc: home}}\n    suggest: [{many}]\n")
    frame = requests(loc=["home"])
    assert len(e.suggest(frame, k=256)) == 256
    assert len(e.suggest(frame, k=300)) == 300
    assert len(e.suggest(frame, k=260)) == 260


def test_requests_where_nothing_fires_get_no_rows():
    e = engine("rules:\n  - id: r\n    when: {loc: home}\n    suggest: [a]\n")
    out = e.suggest(requests(loc=["work", None, "home"]), k=5)
    assert out["request_id"].tolist() == ["q2"]
    none = e.suggest(requests(loc=["work"]), k=5)
    assert list(none.columns) == COLUMNS and len(none) == 0
    empty = e.suggest(requests(loc=["home"]).iloc[:0], k=5)
    assert list(empty.columns) == COLUMNS and len(empty) == 0


# -- blocks and catalog slices ---------------------------------------------------------------

CATALOG = pd.DataFrame({
    "item_id": ["v1", "v2", "v3", "v4", "n1", "n2", "g1"],
    "category": pd.Categorical(["Video"] * 4 + ["News"] * 2 + ["Games"]),
})
# v3 engaged 3 times, v1 twice (with large relevance: popularity counts rows), v4 twice, n2 once
TRUTH = pd.DataFrame({
    "request_id": ["t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8"],
    "item_id": ["v3", "v3", "v3", "v1", "v1", "v4", "v4", "n2"],
    "relevance": [1.0, 1.0, 1.0, 9.0, 9.0, 1.0, 1.0, 1.0],
})


def test_slices_are_filled_by_training_popularity_with_ties_by_item_id():
    e = engine("""\
        rules:
          - id: watch
            when: {loc: home}
            suggest: [{category: Video, top: 3}, {category: News}]
        """, TRUTH, CATALOG)
    out = e.suggest(requests(loc=["home"]), k=5)
    # v1 and v4 tie on two engagements: v1 first by id; n2 (1) before the unseen n1
    assert items(out) == {"q0": ["v3", "v1", "v4", "n2", "n1"]}


def test_slices_without_training_data_fall_back_to_item_id_order():
    e = engine("rules:\n  - id: r\n    when: {loc: home}\n    suggest: [{category: Video, top: 2}]\n",
               None, CATALOG)
    assert items(e.suggest(requests(loc=["home"]), k=5)) == {"q0": ["v1", "v2"]}


def test_popularity_compares_item_ids_as_text():
    # ids read as numbers on one side and text on the other used to miss every count
    catalog = pd.DataFrame({"item_id": [1, 2, 3], "category": ["Video", "Video", "News"]})
    truth = pd.DataFrame({"request_id": ["a", "b", "c"], "item_id": [2, 2, 1], "relevance": 1.0})
    e = engine("rules:\n  - id: r\n    when: {loc: home}\n    suggest: [{category: Video, top: 1}]\n",
               truth, catalog)
    assert items(e.suggest(requests(loc=["home"]), k=5)) == {"q0": ["2"]}


def test_blocked_items_and_slices_never_appear():
    e = engine("""\
        rules:
          - id: everything
            priority: 9
            when: {loc: [home, car]}
            suggest: [n1, {category: Video, top: 2}, g1, v4]
          - id: no-video-while-driving
            when: {loc: car}
            block: [{category: Video}]
          - id: no-games-low-battery
            when: {bat: {lt: 20}}
            block: [g1, n1]
        """, TRUTH, CATALOG)
    frame = requests(loc=["home", "car", "car", None], bat=[50.0, 50.0, 10.0, 10.0])
    out = e.suggest(frame, k=5)
    assert items(out) == {"q0": ["n1", "v3", "v1", "g1", "v4"], "q1": ["n1", "g1"]}
    blocked = e.blocked(frame)
    assert list(blocked.columns) == ["request_id", "item_id", "rules"]
    got = set(map(tuple, blocked.to_numpy().tolist()))
    assert got == ({("q1", v, "no-video-while-driving") for v in ("v1", "v2", "v3", "v4")}
                   | {("q2", v, "no-video-while-driving") for v in ("v1", "v2", "v3", "v4")}
                   | {(q, i, "no-games-low-battery") for q in ("q2", "q3") for i in ("g1", "n1")})
    pairs = set(zip(out["request_id"], out["item_id"].astype(str)))
    assert not pairs & {(r, i) for r, i, _ in got}


def test_blocked_lists_every_rule_that_blocked_an_item():
    e = engine("""\
        rules:
          - id: one
            when: {loc: car}
            block: [video]
          - id: two
            when: {bat: {lt: 20}}
            block: [video]
        """)
    blocked = e.blocked(requests(loc=["car", "car"], bat=[10.0, 90.0]))
    assert blocked.sort_values("request_id").to_numpy().tolist() == [
        ["q0", "video", "one,two"], ["q1", "video", "one"]]
    none = e.blocked(requests(loc=["home"], bat=[90.0]))
    assert list(none.columns) == ["request_id", "item_id", "rules"] and len(none) == 0


def test_a_slice_without_a_catalog_is_an_error():
    text = "rules:\n  - id: r\n    when: {loc: home}\n    suggest: [{category: News, top: 3}]\n"
    with pytest.raises(SuggestError, match=r"<string>:4:15: rule 'r' › suggest\[0\]: the slice "
                                           "category=News needs a catalog, and no catalog was given"):
        engine(text)
    with pytest.raises(SuggestError, match="no attribute 'category'"):
        engine(text, None, pd.DataFrame({"item_id": ["a"], "genre": ["News"]}))


def test_suggest_before_fit_is_an_error():
    e = RulesEngine(parse_rules("rules:\n  - id: r\n    when: {loc: home}\n    suggest: [a]\n"))
    for call in (lambda: e.suggest(requests(loc=["home"]), k=3), lambda: e.fired(requests(loc=["home"])),
                 lambda: e.blocked(requests(loc=["home"]))):
        with pytest.raises(SuggestError, match="not fitted"):
            call()


def test_engine_reads_a_rule_file_and_reports_its_params(tmp_path):
    path = tmp_path / "phone.yaml"
    path.write_text("rules:\n  - id: r\n    when: {loc: home}\n    suggest: [a]\n", encoding="utf-8")
    e = RulesEngine(path, timezone="Europe/Berlin")
    assert e.get_params() == {"rules": str(path), "timezone": "Europe/Berlin"}
    assert items(e.fit().suggest(requests(loc=["home"]), k=3)) == {"q0": ["a"]}
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - id: r\n    when: {loc: {gte: x}}\n    suggest: [a]\n", encoding="utf-8")
    with pytest.raises(SuggestError, match=re.escape(f"{bad}:3:")):
        RulesEngine(bad).fit()


# -- determinism and scale ---------------------------------------------------------------------

def test_same_input_same_output_whatever_the_request_order(evening):
    text = CONFLICTS.format(mode="priority")
    first = engine(text).suggest(evening, k=3)
    again = engine(text)
    pd.testing.assert_frame_equal(first, again.suggest(evening, k=3))
    pd.testing.assert_frame_equal(first, again.suggest(evening, k=3))
    shuffled = evening.iloc[[3, 1, 0, 2]].reset_index(drop=True)
    assert lists(again.suggest(shuffled, k=3)) == lists(first)


def test_many_rules_and_many_requests_share_patterns_correctly():
    # 70 rules need more than one 64-bit word per fired pattern
    rules = "\n".join(f"  - id: r{j}\n    priority: {j}\n    when: {{n: {{gte: {j}}}}}\n"
                      f"    suggest: [i{j:02d}]" for j in range(70))
    e = engine(f"max_suggestions: 3\nrules:\n{rules}\n")
    n = np.tile(np.arange(75, dtype=float), 20)
    frame = requests(n=n)
    fired = e.fired(frame)
    assert fired.shape == (1500, 70)
    assert (fired == (np.arange(70)[None, :] <= n[:, None])).all()
    got = items(e.suggest(frame, k=3))
    for i, value in enumerate(n):
        top = min(int(value), 69)
        assert got[f"q{i}"] == [f"i{j:02d}" for j in range(top, max(top - 3, -1), -1)]


# -- property: the vectorised engine agrees with a row-by-row reference --------------------------
#
# The reference below is deliberately naive: one request at a time, plain Python values, Kleene logic
# spelled out, conflicts resolved by listing every proposal. It shares no code with the engine.

LOCS = ["home", "work", "commute", None]
BATS = [0.0, 10.0, 20.0, 50.0, None]
CHGS = [True, False, None]
ITEMS = ["a", "b", "c", "d", "e"]
SCORES = [0.25, 0.5, 1.0, 2.0]


def ref_leaf(field: str, op: str, arg, row: dict):
    value = row.get(field)               # None when missing or when the frame has no such column
    if op == "missing":
        return (value is None) == arg
    if op == "exists":
        return (value is not None) == arg
    if value is None:
        return None
    if op == "eq":
        return value == arg
    if op == "ne":
        return value != arg
    if op == "in":
        return value in arg
    if op == "not_in":
        return value not in arg
    if op == "gt":
        return value > arg
    if op == "gte":
        return value >= arg
    if op == "lt":
        return value < arg
    if op == "lte":
        return value <= arg
    if op == "between":
        return arg[0] <= value < arg[1]
    if op == "matches":
        return re.fullmatch(arg, value) is not None
    if op == "contains_any":
        return any(part in value for part in arg)
    raise AssertionError(op)


def ref_eval(node, row: dict):
    kind = node[0]
    if kind == "leaf":
        return ref_leaf(*node[1:], row)
    values = [ref_eval(child, row) for child in node[1]]
    if kind == "not":
        return None if values[0] is None else not values[0]
    if kind == "all":
        if any(v is False for v in values):
            return False
        return True if all(v is True for v in values) else None
    if any(v is True for v in values):
        return True
    return False if all(v is False for v in values) else None


def ref_suggest(rules: list[dict], fired: list[bool], conflict: str, limit: int) -> list[tuple]:
    firing = [(order, rule) for order, rule in enumerate(rules) if fired[order]]
    blocked = {item for _, rule in firing for item in rule["block"]}
    if conflict == "first":
        firing = [(o, r) for o, r in firing if r["suggest"]][:1]
    proposals = [(item, rule["priority"], score, order, pos, rule["id"])
                 for order, rule in firing for pos, (item, score) in enumerate(rule["suggest"])]
    ranked = []
    for item in dict.fromkeys(p[0] for p in proposals):
        mine = [p for p in proposals if p[0] == item]
        ids = ",".join(dict.fromkeys(p[5] for p in mine))
        if conflict == "sum":
            key = (-max(p[1] for p in mine), -sum(p[2] for p in mine), min(p[3:5] for p in mine))
        else:
            best = min(mine, key=lambda p: (-p[1], -p[2], p[3], p[4]))
            key = (-best[1], -best[2], best[3:5])
        if item not in blocked:
            ranked.append((key, item, ids))
    return [(item, ids) for _, item, ids in sorted(ranked)][:limit]


def leaf_strategy():
    loc = st.sampled_from(["home", "work", "commute", "gym"])
    locs = st.lists(loc, min_size=1, max_size=3, unique=True)
    num = st.sampled_from([0, 10, 15, 20, 50])
    flag = st.booleans()
    return st.one_of(
        st.tuples(st.just("loc"), st.sampled_from(["eq", "ne"]), loc),
        st.tuples(st.just("loc"), st.sampled_from(["in", "not_in"]), locs),
        st.tuples(st.just("loc"), st.just("matches"), st.sampled_from(["h.*", "work|commute", "o"])),
        st.tuples(st.just("loc"), st.just("contains_any"), st.lists(st.sampled_from(["om", "k", "z"]),
                                                                    min_size=1, max_size=2)),
        st.tuples(st.just("bat"), st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte"]), num),
        st.tuples(st.just("bat"), st.sampled_from(["in", "not_in"]), st.lists(num, min_size=1, max_size=3)),
        st.tuples(st.just("bat"), st.just("between"),
                  st.lists(num, min_size=2, max_size=2, unique=True).map(sorted)),
        st.tuples(st.just("chg"), st.sampled_from(["eq", "ne"]), flag),
        st.tuples(st.sampled_from(["loc", "bat", "chg", "ghost"]), st.sampled_from(["missing", "exists"]),
                  flag),
        st.tuples(st.just("ghost"), st.sampled_from(["eq", "ne", "gte"]), st.just(1)),
        # leaves that hold for most requests, so that several rules fire together
        st.tuples(st.just("loc"), st.just("ne"), st.just("gym")),
        st.tuples(st.just("bat"), st.just("gte"), st.just(0)),
    ).map(lambda t: ("leaf",) + t)


conditions = st.recursive(
    leaf_strategy(),
    lambda inner: st.one_of(
        st.tuples(st.sampled_from(["all", "any"]), st.lists(inner, min_size=1, max_size=3)),
        st.tuples(st.just("not"), st.tuples(inner)),
    ),
    max_leaves=4,
)


def to_yaml(node, shorthand: bool):
    """The condition as rule-file data; equality and `in` sometimes in their shorthand forms."""
    kind = node[0]
    if kind == "leaf":
        _, field, op, arg = node
        if shorthand and op == "eq":
            return {field: arg}
        if shorthand and op == "in":
            return {field: list(arg)}
        return {field: {op: arg}}
    if kind == "not":
        return {"not": to_yaml(node[1][0], shorthand)}
    return {kind: [to_yaml(child, shorthand) for child in node[1]]}


pick = st.tuples(st.sampled_from(ITEMS), st.sampled_from(SCORES))
rule_strategy = st.fixed_dictionaries({
    "priority": st.sampled_from([0, 0, 1, 2]),   # mostly equal, so scores decide
    "when": conditions,
    "suggest": st.lists(pick, max_size=4),
    "block": st.lists(st.sampled_from(ITEMS), max_size=1),
    "shorthand": st.booleans(),
})
row_strategy = st.tuples(st.sampled_from(LOCS), st.sampled_from(BATS), st.sampled_from(CHGS))


def rule_file_data(rules: list[dict], conflict: str, max_suggestions: int) -> str:
    out = []
    for rule in rules:
        spec = {"id": rule["id"], "priority": rule["priority"],
                "when": to_yaml(rule["when"], rule["shorthand"])}
        if rule["suggest"]:
            spec["suggest"] = [item if score == 1.0 else {"item": item, "score": score}
                               for item, score in rule["suggest"]]
        if rule["block"]:
            spec["block"] = list(rule["block"])
        out.append(spec)
    return yaml.safe_dump({"conflict": conflict, "max_suggestions": max_suggestions, "rules": out},
                          sort_keys=False)


@pytest.mark.parametrize("conflict", ["priority", "first", "sum"])
@settings(max_examples=80, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(rules=st.lists(rule_strategy, min_size=1, max_size=6),
       rows=st.lists(row_strategy, min_size=1, max_size=10),
       max_suggestions=st.integers(1, 6), k=st.integers(1, 6))
def test_engine_agrees_with_a_row_by_row_reference(rules, rows, conflict, max_suggestions, k):
    rules = [dict(rule, id=f"r{j}") for j, rule in enumerate(rules)]
    for rule in rules:
        if not rule["suggest"] and not rule["block"]:
            rule["suggest"] = [("a", 1.0)]
    text = rule_file_data(rules, conflict, max_suggestions)
    frame = requests(loc=pd.Categorical([r[0] for r in rows],
                                        categories=["commute", "gym", "home", "work"]),
                     bat=pd.array([r[1] for r in rows], dtype="Float64"),
                     chg=pd.array([r[2] for r in rows], dtype="boolean"))
    e = RulesEngine(parse_rules(text)).fit()

    dicts = [{"loc": loc, "bat": bat, "chg": chg} for loc, bat, chg in rows]
    expected_fired = [[ref_eval(rule["when"], row) is True for rule in rules] for row in dicts]
    assert e.fired(frame).tolist() == expected_fired, text

    got = lists(e.suggest(frame, k=k))
    limit = min(k, max_suggestions)
    for i, fired in enumerate(expected_fired):
        assert got.get(f"q{i}", []) == ref_suggest(rules, fired, conflict, limit), (text, dicts[i])
    scores = e.suggest(frame, k=k).groupby("request_id", observed=True)["score"]
    for _, s in scores:
        assert s.tolist() == [1.0 - r / limit for r in range(len(s))]
    batch = e.suggest(frame, k=k)  # and one context at a time: the same rows
    for i, row in enumerate(dicts):
        one = e.suggest_one({**row, "request_id": f"q{i}"}, k)
        mine = batch[batch["request_id"] == f"q{i}"]
        for column in ("request_id", "engine", "item_id", "reason"):
            assert one[column].astype(str).tolist() == mine[column].astype(str).tolist(), (text, row)
        assert one["rank"].tolist() == mine["rank"].tolist()
        assert one["score"].tolist() == mine["score"].tolist()
