"""No input a user can give ends a command in a traceback (property-based, hypothesis).

Random dataset descriptions (contradictory and empty ones included), small logs, rule
files, TREC run and qrels files and contexts go through ``data check``, ``rules check``,
``rules test``, ``rules coverage``, ``rules explain``, ``evaluate`` and ``replay``; every
command must end with exit 0 (it worked) or 2 (a clear message), never anything else.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suggest.cli import main

NAMES = ["user", "item", "place", "battery", "t", "r", "weekday", "score", "hour", "NULL", ""]
ODD = st.sampled_from(["NULL", "", "-1", "inf", "1e309", '"', "x,y", "\t", "é", "2300-01-01",
                       "true", "None"])
VALUE = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=True),
                  st.sampled_from(NAMES), st.lists(st.sampled_from(NAMES), max_size=3),
                  st.dictionaries(st.sampled_from(NAMES), st.sampled_from(NAMES), max_size=2))


def usually(good, bad=VALUE):
    """Mostly a valid value, sometimes anything: inputs get past the first check."""
    return st.one_of(good, good, good, bad)


def one_broken(valid):
    """A valid mapping, or the same with one key's value replaced by anything (or dropped):
    each example is wrong in at most one place, so every later check gets its turn too."""
    def broken(mapping):
        keys = sorted(mapping)
        return st.tuples(st.sampled_from(keys), st.one_of(VALUE, st.just("<drop>"))).map(
            lambda change: {k: v for k, v in {**mapping, change[0]: change[1]}.items()
                            if v != "<drop>"})
    return st.one_of(valid, valid, valid.flatmap(broken))


CONTEXT = st.dictionaries(st.sampled_from(["place", "battery"]),
                          st.sampled_from(["categorical", "numeric", "boolean"]), max_size=2)
DESCRIPTION = one_broken(st.fixed_dictionaries(
    {"log": st.just("log.csv"),
     "columns": st.fixed_dictionaries({"user": st.just("user"), "item": st.just("item")},
                                      optional={"relevance": st.just("r"), "time": st.just("t")})},
    optional={"context": CONTEXT, "ignore": st.lists(st.sampled_from(["battery", "place"]),
                                                     max_size=1, unique=True),
              "catalog": st.fixed_dictionaries({}, optional={
                  "attributes": st.dictionaries(st.sampled_from(["place", "genre"]),
                                                st.sampled_from(["categorical", "numeric"]),
                                                max_size=1),
                  "path": st.sampled_from(["cat.csv", "nope.csv"])}),
              "rename": st.dictionaries(st.sampled_from(["place", "battery", "weekday"]),
                                        st.sampled_from(["day", "b", "user"]), max_size=1),
              "missing_values": st.lists(ODD, max_size=2),
              "duplicates": st.sampled_from(["max", "sum", "last", "reject"]),
              "positive_min": st.integers(0, 3),
              "timezone": st.sampled_from(["UTC", "Europe/Berlin"])}))
HEADER = usually(st.just(["user", "item", "place", "battery", "t", "r"]),
                 st.lists(st.sampled_from(NAMES), max_size=6))
CELL = [st.sampled_from(["u1", "u2", "u3"]), st.sampled_from(["x", "y", "z", ""]),
        st.sampled_from(["home", "work"]), st.sampled_from(["10", "55.5", "90"]),
        st.sampled_from(["2026-03-02T08:00:00+00:00", "2026-03-03T09:30:00+00:00"]),
        st.sampled_from(["1", "2", "0"])]
ROW = st.one_of(*[st.tuples(*[st.one_of(*[c] * 7, ODD) for c in CELL]).map(list)] * 6,
                st.lists(ODD, max_size=7))
LOG = st.lists(ROW, min_size=1, max_size=12)
LEAF = st.one_of(st.fixed_dictionaries({"place": st.sampled_from(["home", "work"])}),
                         st.fixed_dictionaries({"battery": st.fixed_dictionaries(
                             {}, optional={"gte": st.integers(0, 100),
                                           "between": st.just([10, 50])})}),
                         st.fixed_dictionaries({"place": st.fixed_dictionaries(
                             {"matches": st.sampled_from(["ho.*", "(a+)+$", "(?=x)", "("])})}),
                 VALUE)
RULE = one_broken(st.fixed_dictionaries(
    {"id": st.sampled_from(["a", "b", "c"]), "when": LEAF,
     "suggest": st.lists(st.sampled_from(["x", "y", "z", "nope"]), min_size=1, max_size=2)},
    optional={"priority": st.integers(0, 10)}))
RULES = one_broken(st.fixed_dictionaries(
    {"rules": st.lists(RULE, min_size=1, max_size=3)},
    optional={"max_suggestions": st.integers(1, 5),
              "tests": st.lists(st.fixed_dictionaries(
                  {"name": st.just("t"), "context": st.fixed_dictionaries(
                      {"place": st.sampled_from(["home", "work"])}),
                   "expect": st.lists(st.sampled_from(["x", "y"]), max_size=2)}), max_size=1)}))
RUN_LINE = usually(st.tuples(st.sampled_from(["q1", "q2"]), st.just("Q0"),
                             st.sampled_from(["a", "b"]), st.sampled_from(["1", "2"]),
                             st.sampled_from(["0.5", "0.9", "inf"]), st.just("x")).map(list),
                   st.lists(ODD, max_size=8))
QREL_LINE = usually(st.tuples(st.sampled_from(["q1", "q2"]), st.just("0"),
                              st.sampled_from(["a", "b"]), st.sampled_from(["0", "1", "2"])
                              ).map(list), st.lists(ODD, max_size=5))
CONTEXT_ARG = usually(st.dictionaries(st.sampled_from(["place", "battery", "timestamp"]),
                                      st.one_of(st.sampled_from(["home", "work", "2026-03-02T08:00:00Z",
                                                                 "9999-01-01T00:00:00Z"]),
                                                st.integers(0, 100)), max_size=3))


def _write(folder: Path, description, rows, rules, run, qrels) -> None:
    (folder / "d.yaml").write_text(yaml.safe_dump(description) if description is not None else "")
    text = "\n".join(",".join(row) for row in rows) + ("\n" if rows else "")
    (folder / "log.csv").write_text(text, encoding="utf-8", errors="surrogatepass")
    (folder / "log.tsv").write_text(text.replace(",", "\t"), encoding="utf-8",
                                    errors="surrogatepass")
    (folder / "cat.csv").write_text("item,place\nx,home\n")
    (folder / "r.yaml").write_text(yaml.safe_dump(rules) if rules is not None else "")
    (folder / "x.run").write_text("\n".join(" ".join(line) for line in run) + "\n")
    (folder / "x.qrels").write_text("\n".join(" ".join(line) for line in qrels) + "\n")


def _ends_cleanly(args: list[str]) -> None:
    result = CliRunner().invoke(main, args)
    # `rules test` exits 1 when a rule test fails: an answer, not a crash
    allowed = (0, 1, 2) if args[:2] == ["rules", "test"] else (0, 2)
    assert result.exit_code in allowed, (args, result.exit_code, result.output[-2000:])
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        args, repr(result.exception))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(description=DESCRIPTION, header=HEADER, rows=LOG, rules=RULES,
       run=st.lists(RUN_LINE, max_size=4), qrels=st.lists(QREL_LINE, max_size=4),
       context=CONTEXT_ARG)
def test_no_command_ends_in_a_traceback(description, header, rows, rules, run, qrels, context):
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        _write(folder, description, [header, *rows] if header else rows, rules, run, qrels)
        d, r = str(folder / "d.yaml"), str(folder / "r.yaml")
        for args in (["data", "check", d, "--rejects", str(folder / "rej.csv")],
                     ["rules", "check", r], ["rules", "check", r, "--dataset", d],
                     ["rules", "test", r, "--dataset", d],
                     ["rules", "coverage", r, "--dataset", d],
                     ["rules", "explain", r, "--dataset", d, "--context",
                      json.dumps(context, default=str)],
                     ["evaluate", "--run", str(folder / "x.run"), "--truth",
                      str(folder / "x.qrels")],
                     ["replay", "--dataset", d, "--rules", r, "--engines", "rules,popular",
                      "-o", str(folder / "run")]):
            _ends_cleanly(args)
