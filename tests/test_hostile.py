"""The hostile inputs of a reliability probe, through the command line: every command ends
with exit 0 or 2 (1 only for a runtime failure such as a full disk), never a traceback, and
the rows it reports add up (read = kept + rejected, and nothing read is lost)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from suggest.cli import main

ROOT = Path(__file__).resolve().parents[1]
GOOD = "u{n},i{m},2026-03-0{d}T08:00:00+00:00,{b},1"
HEADER = "user,item,t,battery,r"


def _log(bad: dict[int, str], rows: int = 300) -> str:
    """A log of ``rows`` rows with some lines (numbered as in the file) replaced."""
    lines = [HEADER] + [GOOD.format(n=n, m=n % 7, d=1 + n % 9, b=n % 100) for n in range(rows)]
    for number, text in bad.items():
        lines[number - 1] = text
    return "\n".join(lines) + "\n"


def _invoke(*args) -> object:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code in (0, 2), (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result


HOSTILE_LOGS = {
    "a stray quote swallowing the rest": {40: 'u40,i5,2026-03-02T08:00:00+00:00,"40,1'},
    "two stray quotes": {40: 'u40,i5,"2026,40,1', 90: 'u90,i5,2026",40,1'},
    "a time past 2262": {12: "u12,i1,2300-01-01T10:00:00+00:00,40,1"},
    "a time in year 9999 at +14:00": {12: "u12,i1,9999-12-31T23:59:59+14:00,40,1"},
    "a time before 1677": {12: "u12,i1,1500-01-01T00:00:00+00:00,40,1"},
    "infinite numbers": {5: "u5,i1,2026-03-02T08:00:00+00:00,inf,1",
                         6: "u6,i1,2026-03-02T08:00:00+00:00,1e309,1",
                         7: "u7,i1,2026-03-02T08:00:00+00:00,-Infinity,1"},
    "an empty item with a negative relevance": {9: "u9,,2026-03-02T08:00:00+00:00,40,-3"},
    "ragged rows": {20: "u20,i1", 21: "u21,i1,2026-03-02T08:00:00+00:00,40,1,extra"},
    "bytes that are not UTF-8": {30: "u30,i\udcff,2026-03-02T08:00:00+00:00,40,1"},
}


@pytest.mark.parametrize("name", HOSTILE_LOGS)
def test_a_hostile_log_loses_no_row_silently(tmp_path, name):
    text = _log(HOSTILE_LOGS[name])
    (tmp_path / "log.csv").write_bytes(text.encode("utf-8", "surrogateescape"))
    (tmp_path / "d.yaml").write_text("log: log.csv\ncolumns: {user: user, item: item, time: t, "
                                     "relevance: r}\ncontext: {battery: numeric}\n")
    result = _invoke("data", "check", tmp_path / "d.yaml", "--json", "--rejects",
                     tmp_path / "rejects.csv")
    report = json.loads(result.output)
    physical = sum(1 for line in text.splitlines()[1:] if line.strip())
    assert report["rows_in"] == physical == report["rows_ok"] + report["rows_rejected"]
    assert 1 <= report["rows_rejected"] <= len(HOSTILE_LOGS[name])
    rejected = Path(report["rejects_file"]).read_text().splitlines()
    assert len(rejected) == 1 + report["rows_rejected"]  # a header, then one line a reject
    assert "…" not in json.dumps(report["reject_reasons"])


HOSTILE_RUNS = {
    "empty": "",
    "header only": "request_id,item_id,score\n",
    "seven fields": "q1 Q0 a 1 0.5 x extra\n",
    "four fields": "q1 Q0 a 1\n",
    "two fields": "q1 a\n",
    "a short line after good ones": "q1 Q0 a 1 0.5 x\nq1 Q0 b\n",
    "a long line after good ones": "q1 Q0 a 1 0.5 x\nq1 Q0 b 2 0.4 x 7 8\n",
    "an infinite score": "q1 Q0 a 1 inf x\n",
    "binary": b"\x00\xff\xfe\x81garbage",
}


@pytest.mark.parametrize("name", HOSTILE_RUNS)
def test_evaluate_refuses_a_hostile_run_file_clearly(tmp_path, name):
    text = HOSTILE_RUNS[name]
    (tmp_path / "x.run").write_bytes(text if isinstance(text, bytes) else text.encode())
    (tmp_path / "t.qrels").write_text("q1 0 a 1\n")
    result = _invoke("evaluate", "--run", tmp_path / "x.run", "--truth", tmp_path / "t.qrels")
    assert result.exit_code == 2 and "x.run" in result.output


@pytest.mark.parametrize("qrels, words", [
    ("", "the truth file is empty"),
    ("q1 0 a 1\nq1 0 a 2\n", "graded 2 ways"),
    ("q1 0 a\n", "TREC has 4"),
    ("q1 0 a 1\nq1 0 b\n", "truth line has 3 fields"),
])
def test_evaluate_refuses_a_hostile_qrels_file_clearly(tmp_path, qrels, words):
    (tmp_path / "r.run").write_text("q1 Q0 a 1 0.5 x\n")
    (tmp_path / "t.qrels").write_text(qrels)
    result = _invoke("evaluate", "--run", tmp_path / "r.run", "--truth", tmp_path / "t.qrels")
    assert result.exit_code == 2 and words in result.output, result.output


@pytest.mark.parametrize("stamp", ["9999-12-31T23:59:59+14:00", "2300-01-01T10:00:00+00:00",
                                   "0001-01-01T00:00:00Z", "not a time", "2026-13-45T99:00:00"])
def test_rules_explain_takes_any_context_time_without_a_traceback(stamp):
    _invoke("rules", "explain", ROOT / "rules" / "phone.yaml", "--dataset",
            ROOT / "data" / "sample" / "dataset.yaml", "--context",
            json.dumps({"location": "home", "timestamp": stamp}))


def test_a_large_rule_file_is_too_large_not_an_alias_bomb(tmp_path, monkeypatch):
    import suggest.yamlio as yamlio

    monkeypatch.setattr(yamlio, "MAX_BYTES", 4096)
    body = "rules:\n" + "".join(f"  - id: r{i}\n    when: {{location: home}}\n    suggest: [a]\n"
                                for i in range(200))
    (tmp_path / "big.yaml").write_text(body)
    result = _invoke("rules", "check", tmp_path / "big.yaml")
    assert result.exit_code == 2 and "too large" in result.output and "alias" not in result.output
