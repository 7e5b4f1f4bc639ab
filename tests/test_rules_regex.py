"""`matches:` in linear time (RE2): a hostile pattern or value cannot hang a replay or
serving, full-match semantics are kept, Python's meaning of a pattern is kept (Unicode
\\d \\w \\s, {,n}, \\Z), and a pattern RE2 cannot take is refused clearly."""

from __future__ import annotations

import pickle
import re
import sys
import unicodedata

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from suggest.cli import main
from suggest.data import load
from suggest.rules import RuleError, RulesEngine, load_rules, parse_rules
from suggest.rules.regex import SPACES, Pattern, PatternError, compile_pattern

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


def test_nested_quantifiers_on_long_values_end_and_full_match(world):
    """A backtracking matcher tries about 2**9999 ways of failing ``(a+)+$`` on 9,999 a's and
    a b: these tests would never end. (Speed lives in benchmarks/.)"""
    log, rules, long_a, almost = world
    engine = RulesEngine(str(rules)).fit(log.requests, log.truth, log.catalog)
    out = engine.suggest(log.requests, 3)
    answered = set(log.requests.set_index("request_id").loc[out["request_id"], "note"])
    assert answered == {long_a}  # 'a...ab' does not full-match (a+)+$; nor 'short'
    one = engine.suggest_one({"note": almost}, 3)
    yes = engine.suggest_one({"note": long_a}, 3)
    assert one.empty and yes["item_id"].astype(str).tolist() == ["x"]


def test_the_fired_mask_is_exact_on_long_values(world):
    log, rules, long_a, _ = world
    engine = RulesEngine(str(rules)).fit(log.requests, log.truth, log.catalog)
    fired = engine.fired(log.requests)[:, 0]
    assert fired.tolist() == (log.requests["note"].astype(str) == long_a).tolist()


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
    assert "RE2" in result.output and "Traceback" not in result.output


def test_a_backreference_is_refused_naming_file_rule_field_pattern_reason_and_rewrite(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(RULES.replace('"(a+)+$"', r"'(home|work)-\1'"))
    result = CliRunner().invoke(main, ["rules", "check", str(path)])
    assert result.exit_code == 2, result.output
    assert (f"{path}:5:28: rule 'all-a' › when.note.matches: `matches` pattern "
            r"'(home|work)-\1' uses a backreference ('\1'): backreferences are not supported "
            "by RE2, which matches in time linear in the value (write the repeated part out"
            ) in result.output
    # loading it for replay or train is the same check: refused before anything runs
    with pytest.raises(RuleError, match="backreferences are not supported"):
        load_rules(path)


@pytest.mark.parametrize("pattern, why, rewrite", [
    ("home(?!-guest).*", "uses a lookahead ('(?!')", "{not: {ssid: {matches: 'home-guest.*'}}}"),
    ("(?<=a)b", "uses a lookbehind ('(?<=')", "a condition of its own"),
    ("(?P<x>a)(?P=x)", "uses a backreference ('(?P=x)')", "write the repeated part out"),
    ("a*+", "uses a possessive quantifier ('*+')", "X*+ as X*"),
    ("a{2}+", "uses a possessive quantifier ('{2}+')", "X*+ as X*"),
    ("(?>ab)", "uses an atomic group ('(?>')", "(?>X) as (?:X)"),
    ("(a)?(?(1)b|c)", "uses a conditional group ('(?(')", "(?:A|B)"),
    ("(?x)a b", "uses verbose mode ('(?x)')", "remove the (?x) flag"),
    ("(?a)\\w+", "uses ASCII-only classes ('(?a)')", "[A-Za-z0-9_] for \\w"),
    ("a{1001}", "repeats a part 1001 times", "use + or *"),
    ("a{4294967296}", "repeats a part 4294967296 times", "use + or *"),
    ("(a{100}){100}", "nests counted repeats past RE2's limit", "use + or *"),
    ("[^\\W\\d]", "uses \\W inside [...] together with other characters", "[\\p{L}\\p{Nl}\\p{No}_]"),
    ("\\w{1000}", "is too large for RE2", "fewer or smaller counted repeats"),
    ("[b-a]", "is not a valid regular expression (RE2): bad character range", "RE2 syntax"),
    ("[\\w-z]", "is not a valid regular expression (RE2): bad character range", "RE2 syntax"),
    ("\\e", "is not a valid regular expression (RE2): invalid escape sequence", "RE2 syntax"),
])
def test_each_refusal_says_why_and_how_to_rewrite(pattern, why, rewrite):
    with pytest.raises(PatternError) as info:
        compile_pattern(pattern)
    assert why in info.value.message and rewrite in info.value.hint, info.value.format()
    with pytest.raises(RuleError) as info:  # and the rule file names the pattern as written
        quoted = "'" + pattern.replace("'", "''") + "'"  # YAML single quotes: no escapes
        parse_rules(f"rules:\n  - id: r\n    when: {{ssid: {{matches: {quoted}}}}}\n    suggest: [x]\n",
                    source="r.yaml")
    assert f"rule 'r' › when.ssid.matches: `matches` pattern '{pattern}' {why}" in str(info.value)


# -- Python's meaning, kept ---------------------------------------------------------------

def _known_characters() -> list[str]:
    """Every character Python's Unicode database assigns (RE2's may be newer), private use
    included, surrogates left out."""
    return [chr(cp) for cp in range(sys.maxunicode + 1)
            if unicodedata.category(chr(cp)) not in ("Cn", "Cs")]


@pytest.mark.parametrize("pattern", [r"\w", r"\W", r"\d", r"\D", r"\s", r"\S",
                                     r"[^\w\s]", r"[\S\d]", r"[^\W]", r"(?i)[\d_]"])
def test_class_escapes_keep_pythons_unicode_meaning_on_every_character(pattern):
    chars = _known_characters()
    python = re.compile(pattern)
    expected = [python.fullmatch(c) is not None for c in chars]
    got = compile_pattern(pattern).fullmatch_each(chars).tolist()
    wrong = [f"U+{ord(c):04X}" for c, e, g in zip(chars, expected, got) if e != g]
    assert not wrong, (pattern, wrong[:20], len(wrong))


def test_the_space_list_is_pythons():
    assert [chr(cp) for cp in SPACES] == [chr(cp) for cp in range(sys.maxunicode + 1)
                                          if chr(cp).isspace()]


@pytest.mark.parametrize("pattern, value, expected", [
    (r"\w+", "café", True), (r"\w+", "서울", True), (r"\d+", "٣٤", True),   # Unicode, as before
    (r"\s", "\u3000", True), (r"a{,3}", "aa", True), (r"a{,3}", "a{,3}", False),
    (r"a{,}", "aaaa", True), (r"x{}", "x{}", True), (r"home\Z", "home", True),
    (r"\u00e9\x41\101\0", "éAA\0", True), (r"\N{EM DASH}", "—", True), (r"[\b]", "\b", True),
    (r"(?#a comment)a", "a", True), (r"(?u)a", "a", True), (r"(?i)HOME", "home", True),
    (r"\Qa.b\E", "a.b", True), (r"\Qa.b\E", "axb", False), (r"\p{Greek}+", "αβ", True),
    (r"[[:alpha:]]+", "abc", True), (r"(?P<name>a)b", "ab", True), (r"a$", "a\n", False),
    (r".", "\ud800", True), (r"(a+)+$", "a" * 29 + "b", False),
])
def test_pythons_meaning_is_kept(pattern, value, expected):
    assert compile_pattern(pattern).fullmatch(value) is expected


ATOMS = st.sampled_from(["a", "b", "A", "é", "É", "٣", "_", "-", " ", ".", r"\.", r"\d", r"\w",
                         r"\s", r"\D", r"\W", r"\S", "[a-c]", r"[^\d\s]", r"[\w-]", r"[\s\d]",
                         "[é-ü]", r"\u00e9", r"\x41", r"\101", "(?:ab|é)", "(a|)", "[-a]"])
QUANTIFIERS = st.sampled_from(["", "", "*", "+", "?", "*?", "{,2}", "{1,3}", "{2}", "{,}", "+?"])


@st.composite
def patterns(draw) -> str:
    parts = draw(st.lists(st.tuples(ATOMS, QUANTIFIERS), min_size=1, max_size=5))
    body = "".join(atom + quantifier for atom, quantifier in parts)
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(parts)))
        left = "".join(a + q for a, q in parts[:cut])
        right = "".join(a + q for a, q in parts[cut:])
        body = f"(?:{left}|{right})"
    head = draw(st.sampled_from(["", "", "^", "(?i)"]))
    tail = draw(st.sampled_from(["", "", "$", r"\Z"]))
    return head + body + tail


@settings(max_examples=400, deadline=None)
@given(patterns(), st.lists(st.text("abAé É٣_-. \t\u3000x1", max_size=6), min_size=1, max_size=8))
def test_generated_patterns_match_as_pythons_re_does(pattern, values):
    compiled = compile_pattern(pattern)
    expected = [re.fullmatch(pattern, v) is not None for v in values]
    assert compiled.fullmatch_each(values).tolist() == expected, (pattern, values)
    assert [compiled.fullmatch(v) for v in values] == expected


def test_a_pattern_pickles_compares_and_shows_as_written():
    p = compile_pattern(r"home-\d+")
    copy = pickle.loads(pickle.dumps(p))
    assert copy == p and hash(copy) == hash(p) and copy.fullmatch("home-12")
    assert repr(p) == "Pattern('home-\\\\d+')" and p != compile_pattern("home-.*")
    assert isinstance(p, Pattern)


def test_a_fitted_engine_with_a_pattern_pickles_and_serves_surrogates(world):
    log, rules, long_a, _ = world
    engine = RulesEngine(str(rules)).fit(log.requests, log.truth, log.catalog)
    shipped = pickle.loads(pickle.dumps(engine))  # joblib and Dask workers get it so
    assert shipped.suggest_one({"note": long_a}, 3)["item_id"].astype(str).tolist() == ["x"]
    assert shipped.suggest_one({"note": "a\ud800"}, 3).empty  # a lone surrogate: no crash
