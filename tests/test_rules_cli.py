"""The rules commands end to end: check, test, explain, coverage, on the shipped rule sets."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from suggest.cli import main
from suggest.rules import RulesEngine, parse_rules

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample" / "dataset.yaml"
PHONE = ROOT / "rules" / "phone.yaml"
SHARED = ROOT.parent / "shared" / "data"


def run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_shipped_phone_rules_check_clean_and_pass_their_tests():
    checked = run("rules", "check", PHONE, "--dataset", SAMPLE, "--json")
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.output)["errors"] == []
    tested = run("rules", "test", PHONE, "--dataset", SAMPLE)
    assert tested.exit_code == 0, tested.output
    assert " 0 failed" in tested.output


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data (the real public logs) is absent")
@pytest.mark.parametrize("name", ["depaulmovie", "incarmusic"])
def test_real_log_rule_sets_check_clean_and_pass_their_tests(name):
    dataset = ROOT / "data" / "datasets" / f"{name}.yaml"
    checked = run("rules", "check", ROOT / "rules" / f"{name}.yaml", "--dataset", dataset, "--json")
    assert checked.exit_code == 0, checked.output
    report = json.loads(checked.output)
    assert report["errors"] == [] and report["warnings"] == []
    tested = run("rules", "test", ROOT / "rules" / f"{name}.yaml", "--dataset", dataset)
    assert tested.exit_code == 0, tested.output


def test_check_reports_every_error_with_place_and_exits_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n"
                   "  - id: a\n    when: {battery: {betwen: [1, 2]}}\n    suggest: [x]\n"
                   "  - id: a\n    when: {location: home}\n    suggest: [y]\n")
    result = run("rules", "check", bad)
    assert result.exit_code == 2
    assert f"{bad}:3:22: rule 'a' › when.battery.betwen: unknown operator 'betwen' " \
           "(did you mean 'between'?)" in result.output
    assert "duplicate rule id" in result.output
    assert "Traceback" not in result.output


def test_check_against_dataset_flags_unknown_fields_values_and_items(tmp_path):
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n"
                     "  - id: a\n    when: {activty: driving}\n    suggest: [navigation]\n"
                     "  - id: b\n    when: {activity: drivng}\n    suggest: [navigaton]\n")
    result = run("rules", "check", rules, "--dataset", SAMPLE, "--json")
    assert result.exit_code == 2
    report = json.loads(result.output)
    assert any("unknown field 'activty' (did you mean 'activity'?)" in e for e in report["errors"])
    assert any("'drivng' never appears in 'activity'" in w and "driving" in w
               for w in report["warnings"])
    assert any(f"{rules}:7:15: rule 'b' › suggest[0]: item 'navigaton' is in neither the catalog "
               "nor the log (did you mean 'navigation'?)" in w for w in report["warnings"])


@pytest.mark.parametrize("command", [["coverage"], ["explain", "--context", '{"activity": "driving"}']])
def test_coverage_and_explain_refuse_rules_that_do_not_fit_the_dataset(tmp_path, command):
    """With --dataset they read the log: a misspelt field would make a rule silently never
    fire (coverage) or always unknown (explain), so they stop as `rules check` does."""
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n  - id: a\n    when: {activty: driving}\n    suggest: [navigation]\n"
                     "  - id: b\n    when: {activity: driving}\n"
                     "    suggest: [{categroy: navigation, top: 1}]\n")
    result = run("rules", command[0], rules, "--dataset", SAMPLE, *command[1:])
    assert result.exit_code == 2, result.output
    assert "unknown field 'activty' (did you mean 'activity'?)" in result.output
    assert "no attribute 'categroy' (did you mean 'category'?)" in result.output
    assert "pass --dataset" not in result.output and "Traceback" not in result.output


def test_check_with_a_dataset_says_the_log_is_checked_once_the_file_reads(tmp_path):
    """A file that does not parse cannot be checked against the log: the error says the
    fields, values and items come next, so the one error is not taken for the only one."""
    one = tmp_path / "one.yaml"
    one.write_text("rules:\n  - id: a\n    when: {activty: {betwen: [1, 2]}}\n    suggest: [x]\n")
    result = run("rules", "check", one, "--dataset", SAMPLE)
    assert result.exit_code == 2
    assert "did you mean 'between'? Fix this first: the fields, values and items are then " \
           f"checked against {SAMPLE}." in result.output
    colon = tmp_path / "colon.yaml"  # a hint without a full stop gets one before the next
    colon.write_text("rules:\n  - id: a\n    when: {location: home}\n    suggest [x]\n")
    said = run("rules", "check", colon, "--dataset", SAMPLE).output
    assert "(check indentation and quoting near this place. Fix this first:" in said
    two = tmp_path / "two.yaml"
    two.write_text("rules:\n  - id: a\n    when: {x: {betwen: [1, 2]}}\n    suggest: [x]\n"
                   "  - id: b\n    when: {x: {gtee: 1}}\n    suggest: [x]\n")
    result = run("rules", "check", two, "--dataset", SAMPLE)
    assert result.exit_code == 2 and "2 problems (fix these first:" in result.output
    alone = run("rules", "check", two)
    assert alone.exit_code == 2 and "fix these first" not in alone.output


def test_check_flags_wrong_types_and_slices_that_match_nothing(tmp_path):
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n"
                     "  - id: a\n    when: {battery: low}\n    suggest: [navigation]\n"
                     "  - id: b\n    when: {headphones: 'yes'}\n    suggest: [{categroy: News}]\n"
                     "  - id: c\n    when: {activity: driving}\n    block: [{category: Vidoe}]\n")
    result = run("rules", "check", rules, "--dataset", SAMPLE, "--json")
    assert result.exit_code == 2
    errors = json.loads(result.output)["errors"]
    assert any("'battery' is numeric; 'low' is not a number" in e for e in errors)
    assert any("'headphones' is boolean; 'yes' is not true or false" in e for e in errors)
    assert any("no attribute 'categroy' (did you mean 'category'?)" in e for e in errors)
    assert any(f"{rules}:10:13: rule 'c' › block[0]: no item has category 'Vidoe' "
               "(did you mean 'Video'?)" in e for e in errors)
    tested = run("rules", "test", rules, "--dataset", SAMPLE)
    assert tested.exit_code == 2 and "fix them before testing" in tested.output


def test_failing_rule_test_exits_1_and_says_what_differed(tmp_path):
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n  - id: a\n    when: {location: home}\n    suggest: [x, y]\n"
                     "tests:\n  - name: home\n    context: {location: home}\n    expect: [y, x]\n")
    result = run("rules", "test", rules)
    assert result.exit_code == 1
    assert "FAIL  home" in result.output
    assert "expected ['y', 'x'], got ['x', 'y']" in result.output


def test_a_test_that_asserts_nothing_is_an_error_not_a_pass(tmp_path):
    """A test with neither `expect:` nor `blocked:` (or only an empty `blocked:`) passed
    whatever the rules suggested; `rules test` and `rules check` now refuse it by name."""
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n  - id: m\n    when: {location: home}\n    suggest: [x]\n"
                     "tests:\n  - name: fine\n    context: {location: home}\n    expect: [x]\n"
                     "  - name: forgot\n    context: {location: home}\n"
                     "  - context: {location: gym}\n    blocked: []\n")
    for command in ("test", "check"):
        result = run("rules", command, rules, "--dataset", SAMPLE)
        assert result.exit_code == 2, result.output
        assert "PASS" not in result.output and "Traceback" not in result.output
        assert (f"{rules}:9:5: tests[1]: test 'forgot' asserts nothing: it has no `expect:` "
                "and no `blocked:`") in result.output
        assert f"{rules}:11:5: tests[2]: test 'test 3' asserts nothing" in result.output
        assert "an empty `blocked:`" in result.output and "expect: []" in result.output
    rules.write_text(rules.read_text().replace("    context: {location: home}\n  -",
                                               "    context: {location: home}\n    expect: [x]\n  -")
                     + "    expect: []\n")  # an empty list is an assertion
    tested = run("rules", "test", rules, "--dataset", SAMPLE)
    assert tested.exit_code == 0 and "3 passed" in tested.output, tested.output


def test_a_failing_test_on_slice_items_says_they_follow_the_logs_popularity(tmp_path):
    """A slice's items are ranked by popularity in the log the rules are tested with: a test
    written against another log fails on their order, and the failure says why."""
    from suggest.data import load

    log = load(SAMPLE)
    engine = RulesEngine(parse_rules("rules:\n  - id: m\n    when: {location: gym}\n"
                                     "    suggest: [{category: Music, top: 2}]\n")).fit(
        log.requests, log.truth, log.catalog)
    first, second = [item for item, _ in engine.proposals_[0]][:2]
    rules = tmp_path / "r.yaml"
    text = ("rules:\n  - id: m\n    when: {location: gym}\n    suggest: [{category: Music, top: 2}]\n"
            "tests:\n  - name: gym\n    context: {location: gym}\n    expect: [%s, %s]\n")
    rules.write_text(text % (second, first))
    failed = run("rules", "test", rules, "--dataset", SAMPLE)
    assert failed.exit_code == 1 and "items from catalog slices, filled by their popularity" in failed.output
    rules.write_text(text % (first, second))
    assert run("rules", "test", rules, "--dataset", SAMPLE).exit_code == 0
    fixed = tmp_path / "f.yaml"  # named items in another order: no word on slices
    fixed.write_text("rules:\n  - id: m\n    when: {location: gym}\n    suggest: [a, b]\n"
                     "tests:\n  - name: gym\n    context: {location: gym}\n    expect: [b, a]\n")
    other = run("rules", "test", fixed)
    assert other.exit_code == 1 and "catalog slices" not in other.output
    # slice items expected but never listed (under `conflict: first` the slice's rule never
    # fills): a PM's failure blamed popularity for a list holding no slice item
    decision = tmp_path / "d.yaml"
    decision.write_text("conflict: first\nrules:\n  - id: apps\n    when: {location: gym}\n"
                        "    suggest: [a, b]\n  - id: m\n    when: {location: gym}\n"
                        "    suggest: [{category: Music, top: 2}]\n"
                        "tests:\n  - name: gym\n    context: {location: gym}\n"
                        f"    expect: [a, b, {first}, {second}]\n")
    listed = run("rules", "test", decision, "--dataset", SAMPLE)
    assert listed.exit_code == 1 and "got ['a', 'b']" in listed.output, listed.output
    assert "catalog slices" not in listed.output


def test_a_time_written_without_a_window_is_an_error_on_a_log_with_timestamps(tmp_path):
    """`time: "22:30-01:30"` passed the check and the rule never fired: on a log with time
    and no column named time, `time` is the local time, read only as a window."""
    rules = tmp_path / "r.yaml"
    rules.write_text('rules:\n  - id: late\n    when: {time: "22:30-01:30"}\n    suggest: [x]\n'
                     "  - id: two\n    when: {time: [a, b]}\n    suggest: [x]\n")
    result = run("rules", "check", rules, "--dataset", SAMPLE)
    assert result.exit_code == 2
    assert result.output.count("'time' is the request's local time here, read as a window: "
                               "write e.g. time: {between: ['22:30', '01:30']}") == 2


def test_a_comparison_written_as_a_list_is_shown_as_the_mapping_it_means(tmp_path):
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n  - id: low\n    when: {battery: [lt, 15]}\n    suggest: [x]\n")
    result = run("rules", "check", rules, "--dataset", SAMPLE)
    assert result.exit_code == 2
    assert "'battery' is numeric; 'lt' is not a number (a comparison is a mapping: write " \
           "battery: {lt: 15})" in result.output


def test_a_test_expecting_an_item_no_rule_can_suggest_says_so(tmp_path):
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n  - id: a\n    when: {location: home}\n"
                     "    suggest: [{category: Podcasts, top: 2}]\n"
                     "tests:\n  - name: t\n    context: {location: home}\n    expect: [podcast_learnin]\n")
    result = run("rules", "test", rules, "--dataset", SAMPLE)
    assert result.exit_code == 1
    assert "('podcast_learnin' is not an item these rules can suggest)" in result.output
    assert "catalog slices" not in result.output


def test_a_test_expecting_a_slice_item_left_out_of_its_top_says_so(tmp_path):
    """caesar_salad is a salad: the failure said no rule could suggest it, where the slice
    {cuisine: salad, top: 3} holds it but its top 3, by engagements, left it out."""
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n  - id: pods\n    when: {location: home}\n"
                     "    suggest: [{category: Podcasts, top: 1}]\n"  # podcast_comedy leads
                     "tests:\n  - name: t\n    context: {location: home}\n"
                     "    expect: [podcast_learning, email]\n")
    result = run("rules", "test", rules, "--dataset", SAMPLE)
    assert result.exit_code == 1
    said = next(line for line in result.output.splitlines() if "expected" in line)
    assert said.strip() == (
        "expected ['podcast_learning', 'email'], got ['podcast_comedy'] ('podcast_learning' is "
        "in the slice of rule 'pods' › {category: Podcasts, top: 1} but not among its top, by "
        "engagements in the log the rules are tested with; 'email' no rule can suggest)")


def _zoned(folder, log: str, description: str, window: str, item: str, tests: str = ""):
    """A log, its description `d.yaml` and a one-rule file (a time window suggesting
    ``item``, then ``tests``) in ``folder``; the rule file's path."""
    (folder / "log.csv").write_text(log)
    (folder / "d.yaml").write_text("log: log.csv\n" + description)
    rules = folder / "r.yaml"
    rules.write_text(f"rules:\n  - id: morning\n    when: {{time: {{between: {window}}}}}\n"
                     f"    suggest: [{item}]\n" + tests)
    return rules


def test_a_context_time_written_as_a_unix_time_is_refused_with_its_iso_reading():
    """A PM copied a row's time from a log of `time_format: unix_s` into --context: refused
    (a bare number could be seconds or milliseconds), and the hint now writes it out."""
    context = '{"location": "home", "timestamp": 1769970608}'
    said = run("rules", "explain", ROOT / "rules" / "phone.yaml", "--dataset", SAMPLE,
               "--context", context)
    assert said.exit_code == 2 and "Traceback" not in said.output
    assert "as Unix seconds, 1769970608 is 2026-02-01T18:30:08+00:00" in said.output
    said = run("rules", "explain", ROOT / "rules" / "phone.yaml", "--dataset", SAMPLE,
               "--context", context.replace("1769970608", "1769970608123"))
    assert "as Unix milliseconds, 1769970608123 is 2026-02-01T18:30:08.123000+00:00" in said.output


def test_explain_refuses_a_time_without_its_offset_where_the_dataset_reads_offsets(tmp_path):
    """Under `timezone: offset` a log's time without an offset is rejected; a context's was read
    in UTC without a word ("sat 07:45" for a time meant at +01:00)."""
    rules = _zoned(tmp_path, "user,item,ts,place\nu1,a,2026-03-07T07:45:00+01:00,home\n"
                             "u2,b,2026-03-07T09:00:00+05:30,work\n",
                   "timezone: offset\ncolumns: {time: ts}\ncontext: {place: categorical}\n",
                   "['07:00', '08:00']", "a")
    bare = run("rules", "explain", rules, "--dataset", tmp_path / "d.yaml", "--context",
               json.dumps({"place": "home", "timestamp": "2026-03-07T07:45:00"}))
    assert bare.exit_code == 2 and "has no UTC offset" in bare.output, bare.output
    written = run("rules", "explain", rules, "--dataset", tmp_path / "d.yaml", "--context",
                  json.dumps({"place": "home", "timestamp": "2026-03-07T07:45:00+01:00"}))
    assert written.exit_code == 0 and "1. a" in written.output, written.output
    # the file's own tests likewise: `check` and `test` with the dataset name the test
    rules.write_text(rules.read_text() + "tests:\n  - name: bare\n    context: {place: home, "
                     "timestamp: '2026-03-07T07:45:00'}\n    expect: [a]\n")
    for command in ("check", "test"):
        said = run("rules", command, rules, "--dataset", tmp_path / "d.yaml")
        assert said.exit_code == 2, said.output
        assert ("test 'bare': context timestamp '2026-03-07T07:45:00' has no UTC offset"
                in said.output), said.output
    # unquoted, YAML reads it as a time of its own: refused too; with its offset, read
    unquoted = rules.read_text().replace("'2026-03-07T07:45:00'", "2026-03-07T07:45:00")
    rules.write_text(unquoted)
    said = run("rules", "check", rules, "--dataset", tmp_path / "d.yaml")
    assert said.exit_code == 2 and ("test 'bare': context timestamp '2026-03-07T07:45:00' has no "
                                    "UTC offset") in said.output, said.output
    rules.write_text(unquoted.replace("2026-03-07T07:45:00}", "2026-03-07T07:45:00+01:00}"))
    said = run("rules", "test", rules, "--dataset", tmp_path / "d.yaml")
    assert said.exit_code == 0, said.output


def test_explain_and_test_read_a_time_without_offset_in_the_datasets_zone(tmp_path):
    """A rule auditor: with `--dataset` of a log read in `timezone: Europe/Berlin`, a context
    time without an offset was read as UTC by explain and test (10:30 shown as 11:30, the
    10:00-11:00 rule silent, the file's test failing), where suggest_one and the log read
    it in Berlin."""
    rules = _zoned(tmp_path, "request,user,item,ts\nq1,u1,i00,2026-03-10T10:30:00\n"
                             "q2,u2,i01,2026-03-10T12:30:00\n",
                   "timezone: Europe/Berlin\ncolumns: {request: request, user: user, item: item, "
                   "time: ts}\n", "['10:00', '11:00']", "i00",
                   "tests:\n  - name: naive\n    context: {timestamp: '2026-03-10T10:30:00'}\n"
                   "    expect: [i00]\n")
    said = run("rules", "explain", rules, "--dataset", tmp_path / "d.yaml", "--context",
               json.dumps({"timestamp": "2026-03-10T10:30:00"}))
    assert said.exit_code == 0 and "1. i00" in said.output and 'time="tue 10:30"' in said.output, \
        said.output
    assert run("rules", "test", rules, "--dataset", tmp_path / "d.yaml").exit_code == 0
    # a context naming its zone is read in it, as before
    tokyo = run("rules", "explain", rules, "--dataset", tmp_path / "d.yaml", "--context",
                json.dumps({"timestamp": "2026-03-10T10:30:00", "timezone": "Asia/Tokyo"}))
    assert 'time="tue 10:30"' in tokyo.output and "1. i00" in tokyo.output, tokyo.output


def test_explain_says_when_the_rules_that_fired_proposed_only_blocked_items(tmp_path):
    """Two suggesting rules fired and a block removed their one item: the empty list was
    explained as "no rule fired that suggests"."""
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n  - id: a\n    when: {location: home}\n    suggest: [news_briefing]\n"
                     "  - id: stop\n    when: {location: home}\n    block: [news_briefing]\n")
    said = run("rules", "explain", rules, "--context", json.dumps({"location": "home"}))
    assert "(none: the rules that fired proposed only blocked items)" in said.output, said.output
    quiet = run("rules", "explain", rules, "--context", json.dumps({"location": "work"}))
    assert "(none: no rule fired that suggests)" in quiet.output, quiet.output
    blocking = tmp_path / "b.yaml"  # only a block fired: nothing was proposed
    blocking.write_text("rules:\n  - id: a\n    when: {location: work}\n    suggest: [news_briefing]\n"
                        "  - id: stop\n    when: {location: home}\n    block: [news_briefing]\n")
    said = run("rules", "explain", blocking, "--context", json.dumps({"location": "home"}))
    assert "(none: no rule fired that suggests)" in said.output, said.output


def test_check_does_not_call_a_rule_shadowed_under_conflict_sum(tmp_path):
    """Under `conflict: sum` a later rule that repeats an earlier one's item adds to its score
    and moves it up: `check` called it always shadowed, while coverage counted it shadowed
    on no request."""
    rules = tmp_path / "r.yaml"
    body = ("rules:\n  - id: b\n    when: {location: home}\n    suggest: [news_briefing, "
            "local_news]\n  - id: c\n    when: {location: home}\n    suggest: [local_news]\n")
    rules.write_text("conflict: sum\n" + body)
    assert json.loads(run("rules", "check", rules, "--json").output)["warnings"] == []
    said = run("rules", "explain", rules, "--context", json.dumps({"location": "home"}))
    assert said.output.index("1. local_news") < said.output.index("2. news_briefing"), said.output
    rules.write_text("conflict: priority\n" + body)  # there it is: c changes no list
    warned = json.loads(run("rules", "check", rules, "--json").output)["warnings"]
    assert len(warned) == 1 and "rule 'c' is always shadowed by rule 'b'" in warned[0]


def test_check_says_priorities_are_not_read_under_conflict_first(tmp_path):
    """A decision list reads the file's order: `high` (priority 100) lost to `low` (1)
    written first, and check said only that `high` was shadowed."""
    rules = tmp_path / "r.yaml"
    rules.write_text("conflict: first\nrules:\n  - id: low\n    priority: 1\n    when: {location: "
                     "home}\n    suggest: [local_news]\n  - id: high\n    priority: 100\n    "
                     "when: {location: home}\n    suggest: [news_briefing]\n")
    warned = json.loads(run("rules", "check", rules, "--json").output)["warnings"]
    assert warned[0] == (f"{rules}:3:5: rule 'low': `priority:` is not read under `conflict: "
                         "first` (2 rule(s) set one): the first rule in file order that fires "
                         "gives the list; order the rules, or use `conflict: priority`")
    said = run("rules", "explain", rules, "--context", json.dumps({"location": "home"}))
    assert "1. local_news" in said.output and "news_briefing" not in said.output.split("rules:")[0]


def test_explain_marks_a_rule_that_fired_with_nothing_in_the_list():
    """headphones-music fires, but the list of 5 is full before its items: 'fired' alone read as
    if it had placed something."""
    context = {"location": "home", "activity": "still", "headphones": True, "battery": 50,
               "weather": "rain", "network": "wifi", "timestamp": "2026-03-03T19:10:00+00:00"}
    said = run("rules", "explain", PHONE, "--dataset", SAMPLE, "--context", json.dumps(context))
    assert said.exit_code == 0, said.output
    line = next(x for x in said.output.splitlines() if x.strip().startswith("headphones-music"))
    assert "fired*" in line
    footnote = next(x for x in said.output.splitlines() if x.startswith("* fired"))
    assert footnote.startswith("* fired, but none of its items is in the list: it was full, other "
                               "rules placed them first")
    assert "rainy-day" in said.output and "fired*" not in next(
        x for x in said.output.splitlines() if x.strip().startswith("rainy-day"))
    assert "unknown: a field" not in said.output  # no rule is unknown here: no legend for it


def test_check_warns_of_a_suggestion_written_first_but_shown_after_a_higher_score(tmp_path):
    """The README's own example gave its named item score 0.9 before a slice (score 1): it
    was shown third, and a reviewer's copy of it flipped a segment's verdict, unwarned."""
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n  - id: commute-news\n    when: {location: commute}\n"
                     "    suggest:\n      - {item: news_briefing, score: 0.9}\n"
                     "      - {category: Podcasts, top: 2}\n      - {item: coffee_order, score: 0.5}\n")
    said = run("rules", "check", rules, "--json")
    assert said.exit_code == 0, said.output
    assert json.loads(said.output)["warnings"] == [
        f"{rules}:5:9: rule 'commute-news' › suggest[0]: item 'news_briefing' (score 0.9) is "
        "written before the slice category=Podcasts top 2 (score 1) but shown after it: a rule's "
        "suggestions go by score, then place (drop the lower score, or give the later ones less)"]
    context = {"location": "commute", "timestamp": "2026-03-03T08:10:00+00:00"}
    shown = run("rules", "explain", rules, "--dataset", SAMPLE, "--context", json.dumps(context))
    lines = [x.split()[1] for x in shown.output.splitlines() if x.strip()[:2] in ("1.", "2.", "3.")]
    assert lines.index("news_briefing") == 2  # what the warning says: after the slice's two
    # in the order written, no warning
    rules.write_text("rules:\n  - id: commute-news\n    when: {location: commute}\n"
                     "    suggest:\n      - news_briefing\n      - {category: Podcasts, top: 2}\n")
    assert json.loads(run("rules", "check", rules, "--json").output)["warnings"] == []


def test_check_with_a_dataset_warns_of_a_rule_shadowed_wherever_it_fires_on_the_log(tmp_path):
    """No reading of the file tells that a higher rule's catalog slice always fills the
    list where a lower one fires; the log does: `check --dataset` says so (coverage counted
    it, check said "ok")."""
    rules = tmp_path / "r.yaml"
    rules.write_text(
        "max_suggestions: 5\nrules:\n  - id: home-five\n    priority: 10\n"
        "    when: {location: home}\n    suggest: [{category: Music, top: 5}]\n"
        "  - id: home-still-coffee\n    priority: 1\n    when: {all: [{location: home},"
        " {activity: still}]}\n    suggest: [coffee_order]\n"
        "  - id: work-coffee\n    when: {location: work}\n    suggest: [coffee_order]\n")
    said = run("rules", "check", rules, "--dataset", SAMPLE, "--json")
    assert said.exit_code == 0, said.output
    warned = json.loads(said.output)["warnings"]
    assert len(warned) == 1 and warned[0].startswith(f"{rules}:7:5: rule 'home-still-coffee' fires on ")
    assert "changes none of their lists" in warned[0]
    fired = run("rules", "coverage", rules, "--dataset", SAMPLE, "--json")
    row = next(r for r in json.loads(fired.output)["rules"] if r["id"] == "home-still-coffee")
    assert row["fired"] > 0 and row["shadowed"] == row["fired"]
    assert f"fires on {row['fired']:,} of the log's requests" in warned[0]
    assert run("rules", "check", rules, "--json").exit_code == 0  # without the log: no such word
    assert json.loads(run("rules", "check", rules, "--json").output)["warnings"] == []


def test_the_file_alone_says_a_rule_is_shadowed_by_a_later_higher_rule_or_a_full_list(tmp_path):
    """A tester's file: a priority-1 rule written before a priority-10 rule that covers it,
    and one whose only item can never make a list a higher rule always fills with five named
    items, both drew no warning (the lint read earlier rules only, and items it shares); nor
    did `eq Alone` beside `not_in [Alone]`."""
    rules = tmp_path / "r.yaml"
    rules.write_text(
        "max_suggestions: 5\nrules:\n  - id: low-first\n    priority: 1\n"
        "    when: {location: home}\n    suggest: [news_briefing]\n"
        "  - id: high-later\n    priority: 10\n    when: {location: home}\n"
        "    suggest: [news_briefing, news_headlines, local_news, podcast_news, music_discover]\n"
        "  - id: full\n    priority: 1\n    when: {all: [{location: home}, {activity: still}]}\n"
        "    suggest: [coffee_order]\n"
        "  - id: same-level\n    priority: 10\n    when: {all: [{location: home}, {activity: still}]}\n"
        "    suggest: [coffee_order]\n"
        "  - id: never\n    when: {all: [{location: home}, {location: {not_in: [home, work]}}]}\n"
        "    suggest: [coffee_order]\n")
    warned = json.loads(run("rules", "check", rules, "--json").output)["warnings"]
    assert f"{rules}:3:5: rule 'low-first' is always shadowed by rule 'high-later' (it fires " \
        "whenever 'low-first' does and has the higher priority)" in warned
    assert any(w.startswith(f"{rules}:11:5: rule 'full' is always shadowed by rule 'high-later', "
                            "which fires whenever 'full' does, ranks above it and names 5 items")
               for w in warned), warned
    assert not any("'same-level' is always shadowed" in w for w in warned)  # equal priority: a tie
    assert any("rule 'never' can never fire: no value of 'location' satisfies" in w for w in warned)
    assert not any("rule 'never' is always shadowed" in w for w in warned)  # said once


def test_explain_names_a_block_as_what_may_have_kept_a_fired_rule_out(tmp_path):
    """A rule whose items another rule blocked was said to have met a full list."""
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n  - id: films\n    when: {location: home}\n"
                     "    suggest: [video_streaming]\n"
                     "  - id: no-video\n    when: {activity: driving}\n"
                     "    block: [video_streaming]\n")
    said = run("rules", "explain", rules, "--dataset", SAMPLE, "--context",
               json.dumps({"location": "home", "activity": "driving"}))
    assert said.exit_code == 0, said.output
    assert "fired*" in next(x for x in said.output.splitlines() if x.strip().startswith("films"))
    assert said.output.rstrip().endswith("* fired, but none of its items is in the list: it was "
                                         "full, other rules placed them first, or a rule blocked "
                                         "them (blocked, above)")


def test_explain_json_has_the_documented_shape_and_first_failing_condition():
    context = {"location": "commute", "activity": "driving", "battery": 12,
               "timestamp": "2026-03-03T08:10:00-05:00"}
    result = run("rules", "explain", PHONE, "--dataset", SAMPLE, "--context", json.dumps(context),
                 "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert set(out) == {"suggestions", "blocked", "rules", "warnings"} and out["warnings"] == []
    assert all(set(s) == {"item_id", "score", "rules"} for s in out["suggestions"])
    states = {r["id"]: r for r in out["rules"]}
    assert all(r["state"] in ("true", "false", "unknown") for r in out["rules"])
    assert all(set(r["failed"]) == {"path", "field", "value", "condition"}
               for r in out["rules"] if r["state"] != "true")
    driving_blocks = [b["item_id"] for b in out["blocked"]]
    assert "video_streaming" in driving_blocks
    assert "video_streaming" not in [s["item_id"] for s in out["suggestions"]]
    # a rule on a missing field is unknown, and says the value is missing
    unknown = [r for r in states.values() if r["state"] == "unknown"]
    assert unknown and all(r["failed"]["value"] is None for r in unknown)


def test_explain_refuses_an_unknown_key_and_warns_of_an_unseen_value():
    typo = run("rules", "explain", PHONE, "--dataset", SAMPLE, "--context", '{"wether": 4}')
    assert typo.exit_code == 2
    assert "context key 'wether' is not one of the rule set's fields" in typo.output
    assert "did you mean 'weather'?" in typo.output
    unseen = run("rules", "explain", PHONE, "--dataset", SAMPLE, "--context",
                 '{"location": "hom"}', "--json")
    assert unseen.exit_code == 0
    assert json.loads(unseen.output)["warnings"] == [
        "location='hom' never occurs in the dataset's log (did you mean 'home'?)"]


def _closed_device_log(tmp_path):
    """A log whose `device` column is closed (its description lists phone, car and watch),
    and which holds phone and car only."""
    from conftest import write_dataset

    rows = "\n".join(f"u{i % 5},i{i % 3},{['phone', 'car'][i % 2]}" for i in range(40))
    return write_dataset(tmp_path, "user,item,device\n" + rows + "\n", context={
        "device": {"type": "categorical", "values": ["phone", "car", "watch"]}})


def test_explain_refuses_a_value_a_closed_column_does_not_allow(tmp_path):
    """A column whose description lists its values rejects any other in the log: a context
    holding one is an error, not a warning that the log never saw it."""
    dataset = _closed_device_log(tmp_path)
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n  - id: a\n    when: {device: car}\n    suggest: [i1]\n")
    closed = run("rules", "explain", rules, "--dataset", dataset, "--context", '{"device": "tablet"}')
    assert closed.exit_code == 2
    assert "device='tablet' is not one of the values the dataset allows for device: 'phone', " \
           "'car' or 'watch'" in closed.output
    allowed = run("rules", "explain", rules, "--dataset", dataset, "--context", '{"device": "watch"}',
                  "--json")
    assert allowed.exit_code == 0 and json.loads(allowed.output)["warnings"] == [
        "device='watch' never occurs in the dataset's log"]


def test_a_test_context_value_a_closed_column_refuses_is_an_error_and_a_blocked_unknown_item_too(
        tmp_path):
    """A tester's file: a test expecting nothing passed because its context said
    sleepiness 'slepy', a value the description does not allow (`rules explain` refused the
    same context); and a block of an item in neither the catalog nor the log protects
    nothing, as a block slice that matches nothing does (the README says: an error)."""
    dataset = _closed_device_log(tmp_path)
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n  - id: a\n    when: {device: car}\n    suggest: [i1]\n"
                     "  - id: b\n    when: {device: phone}\n    block: [i9]\n"
                     "tests:\n  - name: typo\n    context: {device: cra}\n    expect: []\n"
                     "  - name: never seen\n    context: {device: watch}\n    expect: []\n")
    checked = run("rules", "check", rules, "--dataset", dataset, "--json")
    assert checked.exit_code == 2, checked.output
    report = json.loads(checked.output)
    assert any("test 'typo': device='cra' is not one of the values the dataset allows for device"
               in e and "did you mean 'car'?" in e for e in report["errors"]), report
    assert any("rule 'b' › block[0]: item 'i9' is in neither the catalog nor the log, so the "
               "block protects nothing" in e for e in report["errors"]), report
    assert any("test 'never seen': device='watch' never occurs in the dataset's log" in w
               for w in report["warnings"]), report
    refused = run("rules", "test", rules, "--dataset", dataset)
    assert refused.exit_code == 2 and "device='cra'" in refused.output


def test_a_bad_zone_is_refused_without_a_timestamp_too():
    """`timezone` was read only with a timestamp: 'Mars/Base' alone passed unchecked."""
    from suggest.errors import SuggestError

    said = run("rules", "explain", PHONE, "--dataset", SAMPLE, "--context",
               '{"location": "home", "timezone": "Mars/Base"}')
    assert said.exit_code == 2 and "context timezone 'Mars/Base' is not an IANA time zone" in said.output
    engine = RulesEngine(parse_rules("rules:\n  - id: a\n    when: {location: home}\n"
                                     "    suggest: [x]\n")).fit()
    with pytest.raises(SuggestError, match="'Mars/Base' is not an IANA time zone"):
        engine.suggest_one({"location": "home", "timezone": "Mars/Base"}, k=3)
    assert engine.suggest_one({"location": "home", "timezone": "Europe/Berlin"}, k=3) is not None
    assert engine.suggest_one({"location": "home", "timezone": "+05:30"}, k=3) is not None
    with pytest.raises(SuggestError) as info:  # an abbreviation: the zones it may mean
        engine.suggest_one({"location": "home", "timezone": "PST"}, k=3)
    assert "America/Los_Angeles" in info.value.hint


def test_explain_shows_a_context_column_named_time_not_the_clock(tmp_path):
    """DePaulMovie's `time` column says Weekday or Weekend; a rule on it tests the column (as
    coverage counts it), and explain must show the column's value, not a missing clock."""
    rules = tmp_path / "r.yaml"
    rules.write_text("version: 1\nrules:\n  - id: weekend\n    when: {time: Weekend}\n"
                     "    suggest: [x]\n")
    for said, state, shown in (("Weekend", "true", "Weekend"), ("Weekday", "false", "Weekday")):
        result = run("rules", "explain", rules, "--context", json.dumps({"time": said}), "--json")
        assert result.exit_code == 0, result.output
        rule = json.loads(result.output)["rules"][0]
        seen = rule["matched"][0] if state == "true" else rule["failed"]
        assert rule["state"] == state and seen["field"] == "time" and seen["value"] == shown


@pytest.mark.parametrize("value, state", [('"maybe"', None), ("7", None), ('"yes"', "true"),
                                          ("false", "false"), ("0", "false")])
def test_explain_reads_a_boolean_as_the_log_does_or_refuses_it(value, state):
    """A boolean column takes what the log reads as one (true/false, yes/no, 1/0); anything
    else is refused naming the field, never read as false."""
    result = run("rules", "explain", PHONE, "--dataset", SAMPLE, "--context",
                 f'{{"headphones": {value}, "battery": 50}}', "--json")
    if state is None:
        assert result.exit_code == 2
        assert (f"context field 'headphones': {json.loads(value)!r} is not true or false"
                in result.output), result.output
        return
    assert result.exit_code == 0, result.output
    rule = next(r for r in json.loads(result.output)["rules"] if r["id"] == "headphones-music")
    assert rule["state"] == state


def test_explain_bad_json_is_exit_2():
    result = run("rules", "explain", PHONE, "--context", "{location: home}")
    assert result.exit_code == 2
    assert "--context is not valid JSON" in result.output


def test_coverage_counts_match_the_engine(tmp_path):
    from suggest.data import load

    result = run("rules", "coverage", PHONE, ROOT / "data" / "sample" / "log.csv",
                 "--dataset", SAMPLE, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    log = load(SAMPLE)
    engine = RulesEngine(PHONE).fit(log.requests, log.truth, log.catalog)
    fired = engine.fired(log.requests).sum(axis=0)
    assert report["requests"] == len(log.requests)
    assert report["rows_rejected"] == 0 and report["rows_in"] == log.report.rows_in
    assert [r["fired"] for r in report["rules"]] == fired.tolist()
    # a row that cannot be read is not counted, and coverage says so
    lines = (ROOT / "data" / "sample" / "log.csv").read_text(encoding="utf-8").splitlines()
    header, row = lines[0].split(","), lines[1].split(",")
    row[header.index("timestamp")] = "soon"
    (tmp_path / "bad.csv").write_text("\n".join(lines + [",".join(row)]) + "\n", encoding="utf-8")
    said = run("rules", "coverage", PHONE, tmp_path / "bad.csv", "--dataset", SAMPLE)
    assert said.exit_code == 0, said.output
    assert f"1 of the log's {len(lines):,} rows was rejected and not counted" in said.output
    assert all(0 <= r["shadowed"] <= r["fired"] for r in report["rules"])


def test_a_context_column_named_time_is_a_field_not_a_window():
    rs = parse_rules("rules:\n  - id: w\n    when: {time: Weekend}\n    suggest: [a]\n")
    requests = pd.DataFrame({"request_id": ["r1", "r2", "r3"], "user_id": "u",
                             "time": pd.Categorical(["Weekend", "Weekday", None])})
    out = RulesEngine(rs).fit().suggest(requests, 3)
    assert out["request_id"].tolist() == ["r1"]


def test_whole_day_window_on_listed_days_and_suggest_one():
    rs = parse_rules('rules:\n  - id: sat\n    when: {time: {between: ["00:00", "24:00"], '
                     'days: [sat]}}\n    suggest: [a]\n')
    engine = RulesEngine(rs).fit()
    for stamp, fires in [("2026-03-07T00:00:00+00:00", True), ("2026-03-07T23:59:00+00:00", True),
                         ("2026-03-08T00:00:00+00:00", False), ("2026-03-06T23:59:00+00:00", False)]:
        got = engine.suggest_one({"timestamp": stamp}, k=1)["item_id"].astype(str).tolist()
        assert got == (["a"] if fires else []), stamp


@pytest.mark.parametrize("conflict", ["priority", "first", "sum"])
def test_coverage_shadowed_and_answered_equal_resolving_each_request_alone(conflict):
    """Coverage resolves every fired pattern and every pattern without each of its rules at
    once; the counts must be those of resolving each request's fired rules one by one."""
    import numpy as np
    import yaml

    from suggest.data import load
    from suggest.rules.coverage import coverage

    spec = yaml.safe_load(Path(PHONE).read_text(encoding="utf-8"))
    spec["conflict"] = conflict
    log = load(SAMPLE)
    engine = RulesEngine(parse_rules(yaml.safe_dump(spec))).fit(log.requests, log.truth,
                                                               log.catalog)
    report = coverage(engine, log.requests)
    k = engine.rule_set_.max_suggestions
    fired = engine.fired_by_rule(log.requests).T
    shadowed, answered = np.zeros(fired.shape[1], int), 0
    for row in fired:
        final = engine.resolve(row, k)[0]
        answered += bool(final)
        for j in np.flatnonzero(row):
            without = row.copy()
            without[j] = False
            shadowed[j] += bool(engine.proposals_[j]) and engine.resolve(without, k)[0] == final
    assert report.answered == answered and 0 < answered < len(log.requests)
    assert [r["shadowed"] for r in report.rows] == shadowed.tolist()


def test_coverage_near_misses_equal_firing_each_condition_and_its_negation():
    """A near miss: every part of a rule's top-level ``all`` true but one, which is false or
    unknown (its field missing). Counted here from rule sets of one part each, fired by the
    engine: the part itself (true where it holds)."""
    import numpy as np
    import yaml

    from suggest.data import load
    from suggest.rules.coverage import coverage

    spec = yaml.safe_load(Path(PHONE).read_text(encoding="utf-8"))
    log = load(SAMPLE)
    engine = RulesEngine(PHONE).fit(log.requests, log.truth, log.catalog)
    report = {r["id"]: r for r in coverage(engine, log.requests).rows}
    checked = 0
    for rule in spec["rules"]:
        parts = rule["when"].get("all") if isinstance(rule["when"], dict) else None
        if not parts or len(parts) < 2:
            continue
        one_each = {**{k: v for k, v in spec.items() if k != "tests"}, "rules": [
            {"id": f"{how}{i}", "when": part if how == "is" else {"not": part}, "suggest": ["x"]}
            for i, part in enumerate(parts) for how in ("is", "not")]}
        fired = RulesEngine(parse_rules(yaml.safe_dump(one_each))).fit(
            log.requests, log.truth, log.catalog).fired(log.requests)
        true = fired[:, 0::2]
        near = true.sum(axis=1) == len(parts) - 1
        assert report[rule["id"]]["near_misses"] == int(near.sum()), rule["id"]
        if near.any():
            worst = int(np.argmax((~true[near]).sum(axis=0)))
            assert report[rule["id"]]["top_near_miss"].startswith(f"when.all[{worst}]:"), rule["id"]
            checked += 1
    assert checked >= 2  # the sample has rules that miss by one condition


def test_words_yaml_reads_as_booleans_and_quoted_numbers_are_named(tmp_path):
    """YAML 1.1 reads off, on, yes and no as booleans: an id, a key or a value a person wrote
    as a word must be named as what YAML made of it, with the quote to add."""
    rules = tmp_path / "r.yaml"
    rules.write_text(textwrap.dedent("""\
        version: 1
        rules:
          - id: on-key
            when: {on: yes}
            suggest: [a]
          - id: net
            when: {network: off}
            suggest: [a]
          - id: quoted
            when: {battery: "50"}
            suggest: [a]
        """))
    result = run("rules", "check", rules, "--dataset", SAMPLE)
    assert result.exit_code == 2
    assert "unknown field 'True' (YAML reads a key such as on" in result.output
    assert "'network' is categorical, and YAML read the value as a boolean" in result.output
    assert "'50' is not a number (it is text in quotes: write 50 without them)" in result.output
    rules.write_text("version: 1\nrules:\n  - id: off\n    when: {location: home}\n    suggest: [a]\n")
    named = run("rules", "check", rules)
    assert named.exit_code == 2 and "the id was read by YAML as false" in named.output
    assert "quote it: id: 'off'" in named.output and "every rule needs an `id`" not in named.output



def test_a_rule_files_tests_are_checked_and_every_one_runs_even_when_one_cannot(tmp_path):
    rules = tmp_path / "t.yaml"
    rules.write_text(textwrap.dedent("""\
        version: 1
        rules:
          - id: drive
            when: {activity: driving}
            suggest: [traffic_report]
        tests:
          - name: fine
            context: {activity: driving}
            expect: [traffic_report]
          - name: typo item
            context: {activity: driving}
            expect: [trafic_report]
          - name: typo key
            context: {activty: driving}
            expect: []
          - name: a column no rule reads
            context: {activity: driving, battery: 40, network: wifi}
            expect: [traffic_report]
          - name: bad zone
            context: {activity: driving, timestamp: "2026-03-08T02:30:00", timezone: Mars/Olympus}
            expect: [traffic_report]
        """))
    checked = run("rules", "check", rules, "--dataset", SAMPLE)
    assert checked.exit_code == 2
    assert "test 'typo key': context key 'activty' is neither a field" in checked.output
    assert "did you mean 'activity'?" in checked.output
    assert "test 'typo item' names item 'trafic_report', in neither the catalog" in checked.output
    refused = run("rules", "test", rules, "--dataset", SAMPLE)  # the file has an error
    assert refused.exit_code == 2 and "context key 'activty'" in refused.output
    rules.write_text(rules.read_text().replace("activty", "activity"))
    # a context no engine can read is bad input, said by check and refused by test (exit 2),
    # not a failed test
    unreadable = run("rules", "test", rules, "--dataset", SAMPLE)
    assert unreadable.exit_code == 2, unreadable.output
    assert "test 'bad zone': its context cannot be read" in unreadable.output
    assert "'Mars/Olympus' is not an IANA time zone" in unreadable.output
    rules.write_text(rules.read_text().replace("Mars/Olympus", "Europe/Berlin"))
    tested = run("rules", "test", rules, "--dataset", SAMPLE)
    assert tested.exit_code == 1  # every test ran (the fixed typo test now expects wrongly)
    assert "PASS  fine" in tested.output and "3 passed, 2 failed" in tested.output
    assert "PASS  a column no rule reads" in tested.output  # a column of the dataset
    assert "FAIL  typo item" in tested.output and "PASS  bad zone" in tested.output


def test_a_block_rule_that_covers_the_whole_catalog_is_named(tmp_path):
    categories = ["Fitness", "Food", "Games", "Messaging", "Music", "Navigation", "News",
                  "Podcasts", "Productivity", "Sleep", "Video"]
    blocks = ", ".join(f"{{category: {c}}}" for c in categories)
    rules = tmp_path / "b.yaml"
    body = ("version: 1\nrules:\n  - id: wall\n    when: {location: home}\n    block: [%s]\n"
            "  - id: news\n    when: {location: home}\n    suggest: [news_briefing]\n")
    rules.write_text(body % blocks)
    some = run("rules", "check", rules, "--dataset", SAMPLE)
    assert some.exit_code == 0 and "blocks every item" not in some.output  # Weather is left
    rules.write_text(body % (blocks + ", {category: Weather}"))
    every = run("rules", "check", rules, "--dataset", SAMPLE)
    assert every.exit_code == 0
    assert "rule 'wall' blocks every item of the catalog" in every.output
    tops = ", ".join(f"{{category: {c}, top: 1}}" for c in [*categories, "Weather"])
    rules.write_text(body % tops)  # the top item of each category only
    top = run("rules", "check", rules, "--dataset", SAMPLE)
    assert top.exit_code == 0 and "blocks every item" not in top.output


def test_explain_refuses_a_clock_time_without_a_date():
    """pandas reads "08:10" as today at 08:10: the rules' answer (weekday, date windows)
    would change with the day the command runs."""
    result = CliRunner().invoke(main, ["rules", "explain", str(PHONE), "--dataset", str(SAMPLE), "--context",
                                       '{"location": "home", "timestamp": "08:10"}'])
    assert result.exit_code == 2 and "context timestamp '08:10' has no date" in result.output
    dated = CliRunner().invoke(main, ["rules", "explain", str(PHONE), "--dataset", str(SAMPLE),
                                      "--context", '{"location": "home", "timestamp": "03/03/26 08:10"}'])
    assert dated.exit_code == 0, dated.output  # a day, a month and a two-digit year: a date


def test_a_log_given_on_the_command_line_that_is_not_there_is_named_from_the_current_folder(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["rules", "coverage", str(PHONE), "nope.csv",
                                       "--dataset", str(SAMPLE)])
    assert result.exit_code == 2 and "nope.csv: log file not found" in result.output
    assert f"read from the folder you are in ({tmp_path})" in result.output


def test_explain_lists_blocked_items_by_rule_and_names_at_most_ten_of_each():
    """A block of a catalog slice (here every item in five categories) blocks dozens of
    items: the text groups them by rule, names ten and counts the rest; --json has all."""
    from suggest.rules.explain import explain_text

    result = {"suggestions": [], "rules": [{"id": "no-video", "state": "true", "failed": None}],
              "blocked": [{"item_id": f"i{n:03d}", "rules": ["no-video"]} for n in range(25)]
              + [{"item_id": "x", "rules": ["quiet", "no-video"]}]}
    text = explain_text(result)
    assert "blocked (26 items):" in text
    assert "  by no-video: i000, i001, i002, i003, i004, i005, i006, i007, i008, i009 and 15 more" \
           in text
    assert "  by quiet, no-video: x" in text and "i010" not in text


def test_a_rule_whose_second_column_is_missing_wherever_the_first_holds_names_it_as_missing(
        tmp_path):
    """InCarMusic's rows carry one factor each: a rule joining two columns never fires, and
    its near misses read 0 with no culprit, because a missing value is unknown, not false.
    Coverage now counts the requests where the rest held and names the missing field."""
    from conftest import write_dataset

    rows = [f"u{i},i{i % 3},{'sport' if i % 4 == 0 else ''},{'' if i % 4 == 0 else 'city'}"
            for i in range(40)]  # style on every 4th request, road on the others: never both
    dataset = write_dataset(tmp_path, "user,item,style,road\n" + "\n".join(rows) + "\n",
                            context={"style": {"type": "categorical"}, "road": {"type": "categorical"}})
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n  - id: sporty-city\n    when: {style: sport, road: city}\n"
                     "    suggest: [i1]\n")
    done = run("rules", "coverage", rules, "--dataset", dataset, "--json")
    assert done.exit_code == 0, done.output
    rule, = json.loads(done.output)["rules"]
    assert rule["fired"] == 0 and rule["near_misses"] == 40  # each held one and missed the other
    # style is missing where the road holds (30 requests), the road where style holds (10)
    assert rule["top_near_miss"].endswith("style eq sport (style missing on 30 of them)"), rule
    checked = run("rules", "check", rules, "--dataset", dataset)  # said before any replay
    assert checked.exit_code == 0 and "rule 'sporty-city' fires on none of the log's 40 requests; " \
        "40 missed by one part, most often when: style eq sport (style missing on 30 of them)" \
        in checked.output, checked.output


def test_replay_says_the_rule_files_warnings_it_does_not_stop_for(tmp_path):
    """A replay stops on a rule file's errors; its warnings (an item in neither the catalog
    nor the log, shown in the report as a rules suggestion) it passed over in silence."""
    rules = tmp_path / "r.yaml"
    rules.write_text(Path(PHONE).read_text(encoding="utf-8").replace(
        "rules:\n", "rules:\n  - id: ghost\n    when: {location: home}\n    suggest: [no_such_item]\n", 1))
    done = run("replay", "--dataset", SAMPLE, "--rules", rules, "--engines", "rules,popular",
               "-o", tmp_path / "run", "--json")
    assert done.exit_code == 0, done.output
    said = [w for w in json.loads(done.stdout)["warnings"] if w.startswith(f"{rules} draws warnings")]
    assert len(said) == 1 and "item 'no_such_item' is in neither the catalog nor the log" in said[0]
    assert f"`suggest rules check {rules} --dataset {SAMPLE}` lists them all" in said[0]


def test_conditions_on_one_field_are_one_part_of_a_near_miss():
    """``battery >= 20`` and ``battery < 60`` are one window: apart, every request would hold
    one of them and every miss would be a near miss. Alone, the window has no near misses;
    beside ``location: home`` a near miss is the window holding and home not, or home and
    the window not (counted by hand from the frame)."""
    import numpy as np

    from suggest.data import load
    from suggest.rules.coverage import coverage

    rules = parse_rules(textwrap.dedent("""\
        rules:
          - id: window
            when: {all: [{battery: {gte: 20}}, {battery: {lt: 60}}]}
            suggest: [music_discover]
          - id: window-at-home
            when: {all: [{battery: {gte: 20}}, {location: home}, {battery: {lt: 60}}]}
            suggest: [music_discover]
        """))
    log = load(SAMPLE)
    engine = RulesEngine(rules).fit(log.requests, log.truth, log.catalog)
    report = {r["id"]: r for r in coverage(engine, log.requests).rows}
    assert report["window"]["near_misses"] == 0
    battery, place = log.requests["battery"], log.requests["location"].astype(object)
    window = ((battery >= 20) & (battery < 60)).to_numpy(dtype=bool)
    outside = ~window  # false, or unknown where the battery is missing
    home = (place == "home").to_numpy(dtype=bool)
    away = ~home
    expected = int(np.count_nonzero((window & away) | (home & outside)))
    assert expected > 0 and report["window-at-home"]["near_misses"] == expected
    window_failed, home_failed = np.count_nonzero(home & outside), np.count_nonzero(window & away)
    assert report["window-at-home"]["top_near_miss"] == (
        "when.all[0]: battery gte 20 and battery lt 60" if window_failed >= home_failed
        else "when.all[1]: location eq home")


def test_a_rule_test_context_with_its_own_zone_is_read_there_not_in_the_datasets(tmp_path):
    """A log without a zone column is read in its description's zone (UTC here), which the
    rules take as their default; a test context naming its own zone is read in that zone
    (08:01 in Mumbai was read as 02:31 and the test failed with no word why); the rules'
    one-context path and `rules explain` read it so too."""
    from suggest.engines import get_engine

    (tmp_path / "log.csv").write_text("user,item,ts,place\nu1,news,2026-03-02T08:00:00Z,home\n"
                                      "u2,music,2026-03-02T20:00:00Z,home\n")
    (tmp_path / "d.yaml").write_text("log: log.csv\ncolumns: {time: ts}\ncontext: {place: categorical}\n")
    rules = tmp_path / "r.yaml"
    rules.write_text(textwrap.dedent("""\
        rules:
          - id: morning
            when: {time: {between: ["07:00", "09:00"]}}
            suggest: [news]
        tests:
          - name: mumbai morning
            context: {timestamp: "2026-03-02T08:01:00", timezone: Asia/Kolkata, place: home}
            expect: [news]
        """))
    result = run("rules", "test", rules, "--dataset", tmp_path / "d.yaml")
    assert result.exit_code == 0, result.output
    context = {"timestamp": "2026-03-02T08:01:00", "timezone": "Asia/Kolkata", "place": "home"}
    explained = run("rules", "explain", rules, "--dataset", tmp_path / "d.yaml", "--context",
                    json.dumps(context))
    assert "1. news" in explained.output
    engine = get_engine("rules", rules=str(rules), timezone="UTC").fit()
    assert engine.suggest_one(context, k=1)["item_id"].tolist() == ["news"]
    # no zone of its own: the engine's (the dataset's), UTC: 02:31 there, no morning
    assert engine.suggest_one({"timestamp": "2026-03-02T08:01:00+05:30", "place": "home"}, k=1).empty


def test_explain_reads_a_contexts_values_as_suggest_one_does():
    """A rule auditor: explain took "headphones": "yes" and "battery": true where
    suggest_one refused them, so one context had two readings. Both read a boolean's word as
    the log does and refuse another, and refuse true for a number."""
    from suggest.data import load
    from suggest.errors import SuggestError
    from suggest.rules import RulesEngine

    log = load(SAMPLE)
    engine = RulesEngine(str(PHONE)).fit(log.requests, log.truth, log.catalog)
    for field, value, said in (("headphones", "maybe", "is not true or false"),
                               ("battery", True, "is not a number")):
        context = {"location": "home", field: value}
        with pytest.raises(SuggestError, match=said):
            engine.suggest_one(context, 5)
        refused = run("rules", "explain", PHONE, "--dataset", SAMPLE, "--context",
                      json.dumps(context))
        assert refused.exit_code == 2 and said in refused.output, refused.output
    said = {}
    for value in ("yes", True):
        said[value] = engine.suggest_one({"location": "home", "headphones": value,
                                          "timestamp": "2026-03-03T19:10:00+00:00"}, 5)
    assert said["yes"].to_dict("list") == said[True].to_dict("list")
    # a missing value written as NaN (a frame's empty cell) is missing in both, not "nan is
    # not a number" for a categorical field
    context = {"location": float("nan"), "headphones": float("nan"), "battery": float("nan"),
               "activity": "driving", "timestamp": "2026-03-03T07:10:00+00:00"}
    one = engine.suggest_one(context, 5)
    none = engine.suggest_one({k: (None if k in ("location", "headphones", "battery") else v)
                               for k, v in context.items()}, 5)
    assert one.to_dict("list") == none.to_dict("list") and len(one)


def test_check_json_has_one_shape_whether_the_file_reads_or_not(tmp_path):
    """A program reading `rules check --json` got {"errors": [...], "warnings": [...]} for a
    file that reads and {"error": {...}} for one that does not."""
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n  - id: a\n    when: {location: home}\n    suggest: [x]\n"
                     "    priorty: 2\n  - id: b\n    when: {lunch: {between: [1]}}\n    suggest: [y]\n")
    said = run("rules", "check", rules, "--json")
    assert said.exit_code == 2
    found = json.loads(said.output)
    assert set(found) == {"rules", "tests", "errors", "warnings"} and len(found["errors"]) == 2
    assert found["errors"][0].startswith(f"{rules}:5:5: rule 'a' › priorty: unknown key 'priorty'")
    missing = json.loads(run("rules", "check", tmp_path / "none.yaml", "--json").output)
    assert missing["errors"][0].startswith(f"{tmp_path / 'none.yaml'}: rule file not found")


def test_a_time_field_condition_that_can_never_be_true_is_an_error(tmp_path):
    """`hour: 24`, `minute: {gte: 60}` and `is_weekend: "yes"` passed `rules check --dataset`
    as ok and never fired; the conditions a time field can meet still pass, as the engine
    reads them (a quoted "true", the hour as text, a window across the day's end)."""
    rules = tmp_path / "r.yaml"
    rules.write_text(textwrap.dedent("""\
        version: 1
        rules:
          - {id: midnight, when: {hour: 24}, suggest: [a]}
          - {id: late, when: {minute: {gte: 60}}, suggest: [a]}
          - {id: yes-weekend, when: {is_weekend: "yes"}, suggest: [a]}
          - {id: half, when: {hour: [8.5, 30]}, suggest: [a]}
          - {id: weekend, when: {is_weekend: "true", hour: "8"}, suggest: [a]}
          - {id: evening, when: {hour: {between: [22, 26]}, minute: {lt: 30}}, suggest: [a]}
          - {id: sunday, when: {weekday: {gte: 6}}, suggest: [a]}
        """))
    result = run("rules", "check", rules, "--dataset", SAMPLE)
    assert result.exit_code == 2
    never = {line.split("rule '")[1].split("'")[0] for line in result.output.splitlines()
             if "can never be true" in line}
    assert never == {"midnight", "late", "yes-weekend", "half"}
    assert "'hour' is the request's local hour, 0 to 23 (midnight is 0)" in result.output
    assert "r.yaml:3:" in result.output  # the line of the condition


def test_a_context_time_a_dst_change_repeats_names_both_offsets():
    context = '{"location": "home", "timestamp": "2026-11-01T01:30:00", "timezone": "America/New_York"}'
    result = run("rules", "explain", ROOT / "rules" / "phone.yaml", "--dataset", SAMPLE,
                 "--context", context)
    assert result.exit_code == 2
    assert ("'2026-11-01T01:30:00' comes twice in America/New_York (a DST change: the clocks "
            "went back): at -04:00 and again at -05:00") in result.output


def test_a_failed_test_whose_time_has_no_zone_says_where_it_was_read(tmp_path):
    """A rule set in London time, a test at "01:30" without an offset: read as UTC (02:30 in
    London), it failed with nothing but the two lists."""
    rules = tmp_path / "r.yaml"
    rules.write_text(textwrap.dedent("""\
        version: 1
        timezone: Europe/London
        rules:
          - {id: night, when: {time: {between: ["01:00", "02:00"]}}, suggest: [a]}
          - {id: later, when: {time: {between: ["02:00", "03:00"]}}, suggest: [b]}
        tests:
          - {name: naive, context: {timestamp: "2026-07-01T01:30:00"}, expect: [a]}
          - {name: zoned, context: {timestamp: "2026-07-01T01:30:00", timezone: Europe/London}, expect: [a]}
          - {name: offset, context: {timestamp: "2026-07-01T01:30:00+01:00"}, expect: [b]}
        """))
    result = run("rules", "test", rules)
    assert result.exit_code == 1
    assert ("expected ['a'], got ['b'] (its timestamp has no offset nor timezone, so it was read "
            "in UTC: wed 02:30 in the rules' zone Europe/London") in result.output
    assert "PASS  zoned" in result.output
    assert result.output.count("no offset nor timezone") == 1  # not on a written offset's failure


def test_a_time_window_on_a_log_without_time_says_what_to_do(tmp_path):
    """A tester's evening rule on InCarMusic (no timestamps) read only "'time' needs a log
    with a time column": no what-now. It now says where a time column is named, or to use a
    context field, and lists them."""
    (tmp_path / "log.csv").write_text("user,item,mood,daypart\nu1,a,happy,night\nu2,b,sad,morning\n")
    (tmp_path / "d.yaml").write_text("log: log.csv\ncolumns: {user: user, item: item}\n"
                                     "context: {mood: categorical, daypart: categorical}\n")
    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n  - id: evening\n    when: {time: {between: ['18:00', '23:00']}}\n"
                     "    suggest: [a]\n")
    result = run("rules", "check", rules, "--dataset", tmp_path / "d.yaml")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert (f"{rules}:3:18: rule 'evening' › when: 'time' needs a log with a time column, "
            "and this one has none") in " ".join(result.output.split())
    assert "`columns: time:`" in result.output and "(daypart, mood)" in result.output


def test_a_log_or_a_rule_file_given_for_a_description_and_back_are_named(tmp_path):
    """A tester gave the CSV log as the dataset ("must be a mapping ..., not str"), and the rule
    file and the description the wrong way round (6-7 "unknown key" lines each)."""
    log = tmp_path / "log.csv"
    log.write_text("user,item,mood\nu1,a,happy\n")
    result = run("data", "check", log)
    assert result.exit_code == 2 and "this looks like the log itself: give its YAML description" \
        in " ".join(result.output.split())
    result = run("data", "check", PHONE)
    assert result.exit_code == 2 and "this is a rule file (it has `rules:`), not a dataset " \
        "description (give it as --rules FILE" in " ".join(result.output.split())
    assert result.output.count("unknown key") == 0
    result = run("rules", "check", SAMPLE)
    assert result.exit_code == 2 and "this is a dataset description (it has `log:` or `columns:`), " \
        "not a rule file (give it as --dataset FILE" in " ".join(result.output.split())
    assert "Traceback" not in result.output
