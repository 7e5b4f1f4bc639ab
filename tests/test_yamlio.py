"""Safe YAML loading with positions: no code runs, no alias bombs, file:line:col everywhere."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from suggest import yamlio
from suggest.errors import SuggestError
from suggest.yamlio import MAX_EXPANDED_NODES, load_yaml, parse_yaml

from conftest import count_calls

RULES = textwrap.dedent("""\
    name: commute
    rules:
      - id: news
        when:
          all:
            - {field: hour, op: between, value: [7, 9]}
            - field: location
              op: eq
              value: commute
    """)


def test_positions_of_nested_values():
    doc = parse_yaml(RULES, source="rules.yaml")
    assert doc.data["rules"][0]["when"]["all"][1]["value"] == "commute"
    assert doc.where(("name",)) == "rules.yaml:1:7"
    assert doc.where(("rules", 0, "id")) == "rules.yaml:3:9"
    assert doc.where(("rules", 0, "when", "all", 0, "value", 1)) == "rules.yaml:6:49"
    assert doc.where(("rules", 0, "when", "all", 1, "value")) == "rules.yaml:9:18"
    assert doc.where(("rules", 0, "when", "all", 1, "op"), key=True) == "rules.yaml:8:11"


def test_where_falls_back_to_the_closest_enclosing_value():
    doc = parse_yaml(RULES, source="rules.yaml")
    assert doc.where(("rules", 0, "when", "any")) == "rules.yaml:5:7"   # the `when` mapping
    assert doc.where(("rules", 3)) == "rules.yaml:3:3"                  # the `rules` list
    assert doc.where(("nothing",), key=True) == "rules.yaml:1:1"


def test_load_yaml_names_the_file(tmp_path):
    path = tmp_path / "ds.yaml"
    path.write_text("a:\n  b: [1, 2]\n")
    doc = load_yaml(path)
    assert doc.data == {"a": {"b": [1, 2]}}
    assert doc.where(("a", "b", 1)) == f"{path}:2:10"


def test_duplicate_keys_are_refused_with_both_lines():
    with pytest.raises(SuggestError) as info:
        parse_yaml("a: 1\nb:\n  c: 1\n  c: 2\n", source="x.yaml")
    assert info.value.where == "x.yaml:4:3"
    assert info.value.message == "duplicate key 'c' (first on line 3)"


def test_merge_key_may_be_overridden_without_a_duplicate_error():
    doc = parse_yaml("base: &b {x: 1, y: 2}\nk:\n  <<: *b\n  x: 5\n", source="x.yaml")
    assert doc.data["k"] == {"x": 5, "y": 2}
    assert doc.where(("k", "x")) == "x.yaml:4:6"


def test_python_tags_are_refused_and_never_executed(tmp_path):
    marker = tmp_path / "executed"
    for tag in ("!!python/object/apply:os.system", "!!python/object/new:os.system"):
        with pytest.raises(SuggestError) as info:
            parse_yaml(f"x: {tag} ['touch {marker}']\n", source="evil.yaml")
        assert info.value.where == "evil.yaml:1:4"
        assert "unsafe or unknown YAML tag refused" in info.value.message
        assert "never executed" in info.value.hint
    assert not marker.exists()


def test_billion_laughs_is_refused_without_expanding_it(monkeypatch):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):       # 9**10 values once expanded
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    visits = count_calls(monkeypatch, yamlio, "_expanded_size")
    with pytest.raises(SuggestError) as info:
        parse_yaml("\n".join(lines) + "\n", source="bomb.yaml")
    assert 0 < len(visits) < 500  # each node as written about once, none of the 9**10 expanded
    assert f"more than {MAX_EXPANDED_NODES:,} values" in info.value.message
    assert info.value.where == "bomb.yaml"


def test_modest_aliases_are_allowed():
    doc = parse_yaml("base: &b [1, 2, 3]\nfirst: *b\nsecond: *b\n")
    assert doc.data["second"] == [1, 2, 3]


def test_recursive_alias_is_refused():
    with pytest.raises(SuggestError, match="through YAML aliases"):
        parse_yaml("a: &a [*a]\n")


@pytest.mark.parametrize("text, where, problem", [
    ("a:\n  b: 1\n   c: 2\n", "x.yaml:3:5", "mapping values are not allowed here"),
    ("a: [1, 2\nb: 3\n", "x.yaml:2:2", "expected ',' or ']'"),
    ("a: 1\n\tb: 2\n", "x.yaml:2:1", "found character '\\t' that cannot start any token"),
])
def test_invalid_yaml_gives_line_and_column(text, where, problem):
    with pytest.raises(SuggestError) as info:
        parse_yaml(text, source="x.yaml")
    assert info.value.where == where
    assert problem in info.value.message


def test_deep_nesting_is_a_clean_error_not_a_crash():
    with pytest.raises(SuggestError, match="nests values too deeply"):
        parse_yaml("a: " + "[" * 2_000 + "]" * 2_000 + "\n", source="deep.yaml")


def test_two_documents_are_refused():
    with pytest.raises(SuggestError, match="not valid YAML"):
        parse_yaml("a: 1\n---\nb: 2\n", source="x.yaml")


def test_empty_missing_and_non_utf8_files(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("# only a comment\n")
    with pytest.raises(SuggestError, match="rule set is empty"):
        load_yaml(empty, what="rule set")
    with pytest.raises(SuggestError, match="rule set not found") as info:
        load_yaml(tmp_path / "missing.yaml", what="rule set")
    assert info.value.where == str(tmp_path / "missing.yaml")
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(SuggestError, match=r"not valid UTF-8 \(byte 9\)"):
        load_yaml(latin)


def test_a_large_file_is_too_large_not_an_alias_bomb(tmp_path, monkeypatch):
    plain = "values:\n" + "".join(f"  - v{i}\n" for i in range(300))
    monkeypatch.setattr(yamlio, "MAX_EXPANDED_NODES", 100)
    with pytest.raises(SuggestError, match=r"is too large: 303 values \(at most 100\)") as info:
        parse_yaml(plain, source="big.yaml")
    assert "alias" not in info.value.format()
    aliased = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    with pytest.raises(SuggestError, match=r"through YAML aliases \(1\d as written\)"):
        parse_yaml(aliased, source="bomb.yaml")
    monkeypatch.setattr(yamlio, "MAX_BYTES", 1000)
    (tmp_path / "r.yaml").write_text(plain)
    monkeypatch.setattr(Path, "read_text", lambda *a, **k: pytest.fail("read a file too large"))
    with pytest.raises(SuggestError, match=r"rule file is too large: [0-9.]+ MiB"):
        load_yaml(tmp_path / "r.yaml", what="rule file")
