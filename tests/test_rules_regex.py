"""`matches:` in linear time (RE2): a hostile pattern or value cannot hang a replay or
serving, full-match semantics are kept, and a pattern RE2 cannot take is refused clearly."""

from __future__ import annotations

import time

import pytest
from click.testing import CliRunner

from suggest.cli import main
from suggest.data import load
from suggest.rules import RulesEngine

from conftest import write_dataset

RULES = """\
version: 1
max_suggestions: 3
rules:
  - id: all-a
    when: {note: {matches: "(a+)+$"}}
    suggest: [x]
"""


@pytest.fixture()
def world(tmp_path):
    long_a, almost = "a" * 10_000, "a" * 9_999 + "b"
    log = f"user,item,note\nu1,x,{long_a}\nu2,x,{almost}\nu3,x,{'a' * 29 + 'b'}\nu4,x,short\n"
    dataset = write_dataset(tmp_path, log, context={"note": "categorical"})
    (tmp_path / "r.yaml").write_text(RULES)
    return load(dataset), tmp_path / "r.yaml", long_a, almost


def test_nested_quantifiers_on_long_values_are_fast_and_full_match(world):
    log, rules, long_a, almost = world
    engine = RulesEngine(str(rules)).fit(log.requests, log.truth, log.catalog)
    started = time.perf_counter()
    out = engine.suggest(log.requests, 3)
    batch = time.perf_counter() - started
    answered = set(log.requests.set_index("request_id").loc[out["request_id"], "note"])
    assert answered == {long_a}  # 'a...ab' does not full-match (a+)+$; nor 'short'
    started = time.perf_counter()
    one = engine.suggest_one({"note": almost}, 3)
    yes = engine.suggest_one({"note": long_a}, 3)
    single = time.perf_counter() - started
    assert one.empty and yes["item_id"].astype(str).tolist() == ["x"]
    assert batch < 1.0 and single < 1.0, (batch, single)


@pytest.mark.parametrize("pattern, words", [
    (r"(a)\\1", "backreferences are not supported"),
    ("(?=a)b", "lookahead and lookbehind are not supported"),
    ("(unclosed", "missing )"),
])
def test_a_pattern_re2_cannot_take_is_refused_by_rules_check(tmp_path, pattern, words):
    (tmp_path / "r.yaml").write_text(RULES.replace("(a+)+$", pattern))
    result = CliRunner().invoke(main, ["rules", "check", str(tmp_path / "r.yaml")])
    assert result.exit_code == 2, result.output
    assert "`matches` pattern" in result.output and words in result.output
    assert "RE2 syntax" in result.output and "Traceback" not in result.output
