"""The data layer: dataset descriptions, readers, validation with rejects, time fields."""

from __future__ import annotations

import gzip
import json
import re
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from suggest.data import Dataset, load, read, write_rejects
from suggest.errors import DataError, DescriptionError, ErrorList, SuggestError

from conftest import load_checked, reasons_by_line, write_dataset

PROJECT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT.parent / "shared" / "data"


# --------------------------------------------------------------------------- formats

ROWS = [
    {"user": "1001", "item": "7", "ts": "2026-03-02T08:00:00", "temp": "12.5", "wifi": "true",
     "weather": "sunny", "rating": "5"},
    {"user": "1001", "item": "8", "ts": "2026-03-02T08:00:00", "temp": "12.5", "wifi": "true",
     "weather": "sunny", "rating": "3"},
    {"user": "1002", "item": "7", "ts": "2026-03-03T18:30:00", "temp": "3", "wifi": "false",
     "weather": "rainy", "rating": "4"},
    {"user": "1002", "item": "7", "ts": "2026-03-03T18:30:00", "temp": "3", "wifi": "false",
     "weather": "rainy", "rating": "2"},
    {"user": "1003", "item": "", "ts": "2026-03-07T12:00:00+01:00", "temp": "", "wifi": "",
     "weather": "", "rating": ""},
]
FORMAT_SPEC = {"columns": {"time": "ts", "relevance": "rating"}, "timezone": "Europe/Berlin",
               "context": {"weather": "categorical", "temp": "numeric", "wifi": "boolean"}}


def _write_format(folder: Path, fmt: str) -> Path:
    folder.mkdir(parents=True)
    header = list(ROWS[0])
    if fmt in ("csv", "tsv", "csv.gz"):
        sep = "\t" if fmt == "tsv" else ","
        text = "\n".join(sep.join(r[c] for c in header) for r in [dict(zip(header, header)), *ROWS])
        data = (text + "\n").encode()
        (folder / f"log.{fmt}").write_bytes(gzip.compress(data) if fmt.endswith(".gz") else data)
    elif fmt == "jsonl":
        def typed(r):  # JSON carries numbers, booleans and nulls as themselves
            return {"user": int(r["user"]), "item": int(r["item"]) if r["item"] else None,
                    "ts": r["ts"], "temp": float(r["temp"]) if r["temp"] else None,
                    "wifi": {"true": True, "false": False}.get(r["wifi"]),
                    "weather": r["weather"] or None,
                    "rating": int(r["rating"]) if r["rating"] else None}
        (folder / "log.jsonl").write_text("".join(json.dumps(typed(r)) + "\n" for r in ROWS))
    else:
        frame = pd.DataFrame(ROWS).replace("", None)
        frame["user"] = frame["user"].astype(int)
        frame["item"] = pd.to_numeric(frame["item"])          # float with NaN, as Parquet stores it
        frame["temp"] = pd.to_numeric(frame["temp"])
        frame["rating"] = pd.to_numeric(frame["rating"])
        frame.to_parquet(folder / "log.parquet")
    return write_dataset(folder, None, name=f"log.{fmt}", **FORMAT_SPEC)


@pytest.fixture(scope="module")
def csv_log(tmp_path_factory):
    return load_checked(_write_format(tmp_path_factory.mktemp("fmt") / "csv", "csv"))


def test_csv_log_gives_the_expected_frames(csv_log):
    requests = csv_log.requests.set_index("user_id")
    assert list(requests.index) == ["1001", "1002", "1003"]
    assert requests.loc["1001", "hour"] == 8 and requests.loc["1002", "hour"] == 18
    assert requests.loc["1003", "is_weekend"]                           # Saturday 12:00 +01:00
    assert requests.loc["1001", "temp"] == 12.5
    assert requests.loc["1001", "wifi"] and not requests.loc["1002", "wifi"]
    assert requests.loc["1002", "weather"] == "rainy"
    truth = csv_log.truth.merge(csv_log.requests[["request_id", "user_id"]])
    assert sorted(zip(truth["user_id"], truth["item_id"], truth["relevance"])) == [
        ("1001", "7", 5.0), ("1001", "8", 3.0), ("1002", "7", 4.0)]   # the repeated (1002, 7): max
    assert csv_log.report.requests_without_positive == 1              # 1003 engaged with nothing


@pytest.mark.parametrize("fmt", ["tsv", "csv.gz", "jsonl", "parquet"])
def test_every_format_gives_the_same_frames_as_csv(tmp_path, csv_log, fmt):
    log = load_checked(_write_format(tmp_path / "x", fmt))
    assert log.report.rows_in == 5 and log.report.rows_rejected == 0
    pd.testing.assert_frame_equal(log.requests, csv_log.requests)
    pd.testing.assert_frame_equal(log.truth, csv_log.truth)
    pd.testing.assert_frame_equal(log.events.drop(columns="line"), csv_log.events.drop(columns="line"))


def _typed_parquet(folder: Path, zone: str) -> Path:
    """ROWS as a pipeline would store them: times as timestamps (UTC, or local wall times
    without a zone), categories, nullable booleans, numbers."""
    frame = pd.DataFrame(ROWS).replace("", None)
    local = pd.to_datetime(frame["ts"].str[:19])  # every ROWS time is Berlin wall time
    frame["ts"] = (local.dt.tz_localize("Europe/Berlin").dt.tz_convert("UTC").astype("datetime64[us, UTC]")
                   if zone == "aware" else local.astype("datetime64[us]"))
    frame["weather"] = frame["weather"].astype("category")
    frame["wifi"] = frame["wifi"].map({"true": True, "false": False}).astype("boolean")
    frame["user"] = frame["user"].astype(int)
    for col in ("item", "temp", "rating"):
        frame[col] = pd.to_numeric(frame[col])
    folder.mkdir(parents=True)
    frame.to_parquet(folder / "log.parquet")
    return write_dataset(folder, None, name="log.parquet", **FORMAT_SPEC)


@pytest.mark.parametrize("zone", ["aware", "naive"])
def test_a_typed_parquet_log_is_used_as_it_is_with_the_same_frames_as_csv(tmp_path, csv_log,
                                                                          zone, monkeypatch):
    import suggest.data.timefields as timefields

    # a typed time column is never turned into text and parsed again
    monkeypatch.setattr(timefields, "_to_datetime", lambda *a, **k: pytest.fail("parsed text"))
    log = load_checked(_typed_parquet(tmp_path / zone, zone))
    assert log.report.rows_in == 5 and log.report.rows_rejected == 0
    pd.testing.assert_frame_equal(log.requests, csv_log.requests)
    pd.testing.assert_frame_equal(log.truth, csv_log.truth)


def test_a_typed_parquet_log_rejects_what_does_not_fit_with_its_value(tmp_path):
    frame = pd.DataFrame({
        "user": ["u1", "u2", "u3", "u4", "u5"], "item": ["a", "b", "c", "d", "e"],
        "ts": pd.to_datetime(["2026-03-02T08:00", "3000-01-01T00:00", "2026-03-29T02:30",
                              "2026-03-02T09:00", "2026-03-02T10:00"]).astype("datetime64[us]"),
        "temp": [1.0, 2.0, 3.0, float("inf"), 5.0],
        "weather": pd.Categorical(["sunny", "sunny", "sunny", "sunny", "foggy"]),
    })
    (tmp_path / "t").mkdir()
    frame.to_parquet(tmp_path / "t" / "log.parquet")
    path = write_dataset(tmp_path / "t", None, name="log.parquet", columns={"time": "ts"},
                         timezone="Europe/Berlin",
                         context={"temp": "numeric",
                                  "weather": {"type": "categorical", "values": ["sunny", "rainy"]}})
    log = load(path)
    reasons = reasons_by_line(log)
    assert log.report.rows_ok == 1 and sorted(reasons) == [2, 3, 4, 5]  # Parquet lines: rows
    assert reasons[2].startswith("time '3000-01-01") and "is outside the range" in reasons[2]
    assert reasons[3].startswith("local time '2026-03-29 02:30:00' does not exist in Europe/"
                                 "Berlin (a DST change: the clocks jumped past it)")  # spring
    assert reasons[4] == "temp 'inf' is not a finite number"
    assert reasons[5].startswith("weather 'foggy' is not an allowed value")


def test_read_returns_the_typed_long_log_and_its_rejects(make_dataset):
    path = make_dataset("""\
        user,item,temp
        u1,i1,12
        u2,i2,warm
        u3,i3,7.5
        """, context={"temp": "numeric"})
    frame, rejects = read(path)
    assert len(frame) + len(rejects) == 3
    assert frame["user_id"].tolist() == ["u1", "u3"]
    assert frame["temp"].tolist() == [12.0, 7.5]
    assert frame["line"].tolist() == [2, 4]
    assert rejects[["line", "reason"]].values.tolist() == [[3, "temp 'warm' is not a number"]]


# --------------------------------------------------------------------------- malformed input

@pytest.mark.parametrize("sep, written", [(";", '";"'), ("\t", '"\\t"')])
def test_wrong_separator_hint_names_the_right_one(make_dataset, sep, written):
    path = make_dataset(f"user{sep}item{sep}weather\nu1{sep}i1{sep}sunny\nu2{sep}i2{sep}rainy\n")
    with pytest.raises(SuggestError) as info:
        load(path)
    text = str(info.value)
    assert "is not separated by ','" in text and "log.csv:1" in text
    assert f"set `separator: {written}`" in text
    # the hint is valid YAML: following it word for word reads the log
    yaml_file = path.parent / "hinted.yaml"
    yaml_file.write_text(f"log: log.csv\nseparator: {written}\n")
    assert load(yaml_file).report.rows_ok == 2


def test_separator_of_more_than_one_character_is_a_description_error(tmp_path):
    (tmp_path / "log.csv").write_text("user,item\nu1,a\n")
    (tmp_path / "d.yaml").write_text("log: log.csv\nseparator: ';;'\n")
    with pytest.raises(SuggestError, match="separator must be one character") as info:
        load(tmp_path / "d.yaml")
    assert "d.yaml:2:" in str(info.value)


def test_missing_required_column_says_did_you_mean(make_dataset):
    path = make_dataset("usr,item\nu1,i1\n")
    with pytest.raises(DataError) as info:
        load(path)
    err = info.value
    assert err.where.endswith("log.csv:1")
    assert "no column 'user' (named in `columns.user`)" in err.message
    assert err.hint == "did you mean 'usr'?"


def test_bad_timestamps_rejected_with_their_line(make_dataset):
    path = make_dataset("""\
        user,item,ts
        u1,i1,2026-03-02T08:00:00Z
        u2,i2,yesterday
        u3,i3,2026-02-30T08:00:00Z
        u4,i4,
        u5,i5,2026-03-02T09:00:00Z
        u6,i6,2026-03-02 25:10
        """, columns={"time": "ts"})
    log = load_checked(path)
    reasons = reasons_by_line(log)
    assert set(reasons) == {3, 4, 5, 7}
    assert reasons[3].startswith("time 'yesterday' is not ISO 8601")
    # written the ISO way, but no such day or hour: said so, not "not ISO 8601"
    no_such = " is written as ISO 8601 but no such date or time exists (month 01-12, a day its " \
              "month has, hour 00-23, minute and second 00-59)"
    assert reasons[4] == "time '2026-02-30T08:00:00Z'" + no_such
    assert reasons[7] == "time '2026-03-02 25:10'" + no_such
    assert reasons[5] == "time is missing"
    assert log.requests["user_id"].tolist() == ["u1", "u5"]


def test_non_utf8_bytes_reject_only_their_row(make_dataset):
    path = make_dataset(b"user,item,note\nu1,i1,ok\nu2,i2,caf\xe9\nu3,i3,fine\n")
    log = load_checked(path)
    assert reasons_by_line(log) == {3: "bytes that are not valid utf-8"}
    assert "caf" in log.rejects["text"].iloc[0]
    assert log.events["item_id"].tolist() == ["i1", "i3"]
    assert log.events["line"].tolist() == [2, 4]


def test_latin1_log_reads_when_encoding_is_declared(make_dataset):
    path = make_dataset(b"user,item,note\nu1,i1,caf\xe9\n", encoding="latin-1")
    log = load_checked(path)
    assert log.requests["note"].tolist() == ["café"]


def test_utf8_byte_order_mark_does_not_hide_the_first_column(make_dataset):
    # A spreadsheet export: BOM, and a ragged row that sends the reader down its row-by-row path.
    path = make_dataset("\ufeffuser,item\nu1,i1\nu2,i2,extra\nu3,i3\n".encode())
    log = load_checked(path)
    assert log.requests["user_id"].tolist() == ["u1", "u3"]
    assert list(reasons_by_line(log)) == [3]


def test_empty_file_is_an_error(make_dataset):
    path = make_dataset("")
    with pytest.raises(DataError, match="log file is empty") as info:
        load(path)
    assert info.value.where.endswith("log.csv")


@pytest.mark.parametrize("text", ["user,item\n", "user,item\n\n\n", "user,item"])
def test_header_only_is_an_error_not_an_empty_success(make_dataset, text):
    with pytest.raises(DataError, match="log file has no rows"):
        load(make_dataset(text))


def test_duplicate_header_column_is_an_error(make_dataset):
    path = make_dataset("user,item,mood,mood\nu1,i1,happy,sad\n")
    with pytest.raises(DataError) as info:
        load(path)
    assert info.value.where.endswith("log.csv:1")
    assert "column 'mood' more than once (fields 3, 4)" in info.value.message


def test_ragged_rows_are_rejected_with_their_lines(make_dataset):
    path = make_dataset("""\
        user,item,mood
        u1,i1,happy
        u2,i2,sad,extra
        u3,i3
        u4,i4,happy
        """)
    log = load_checked(path)
    assert reasons_by_line(log) == {3: "expected 3 fields separated by ',', found 4",
                                    4: "expected 3 fields separated by ',', found 2"}
    assert log.events["user_id"].tolist() == ["u1", "u4"]
    assert log.events["line"].tolist() == [2, 5]


def test_quoted_newline_keeps_later_line_numbers_right(make_dataset):
    path = make_dataset('user,item,note,temp\n'
                        'u1,i1,"first line\nsecond line",1\n'   # lines 2-3
                        'u2,i2,plain,2\n'                         # line 4
                        ',i3,no user,3\n'                         # line 5
                        'u4,i4,plain,hot\n'                       # line 6
                        'u5,i5,plain,5\n',                        # line 7
                        context={"temp": "numeric"})
    log = load_checked(path)
    assert reasons_by_line(log) == {5: "user (user) is missing", 6: "temp 'hot' is not a number"}
    assert log.events["line"].tolist() == [2, 4, 7]
    assert log.requests.loc[0, "note"] == "first line\nsecond line"


@pytest.mark.parametrize("broken", [
    {20: 'u20,i6,"never closed'},                         # swallows to the end of the file
    {20: 'u20,i6,"opened', 40: 'u40,i1,closed"'},          # closed by another stray quote
    {20: 'u20,i6,"closed"then text'},                       # text after a closing quote
    {2000: 'u2000,i1,"last line'},                          # on the last line
])
def test_a_stray_quote_rejects_its_own_line_and_swallows_nothing(make_dataset, broken):
    lines = ["user,item,note"] + [f"u{n},i{n % 7},ok{n}" for n in range(2, 2001)]
    for number, text in broken.items():
        lines[number - 1] = text
    log = load_checked(make_dataset("\n".join(lines) + "\n"))
    report = log.report
    assert report.rows_in == 1999 == report.rows_ok + report.rows_rejected  # every physical line
    rejected = reasons_by_line(log)
    assert 20 in rejected or 2000 in rejected
    assert report.rows_rejected <= len(broken)
    assert 1999 - len(broken) <= report.rows_ok


def test_times_outside_the_clocks_range_are_rejected_rows_not_a_crash(make_dataset):
    text = ("user,item,t\nu1,i1,2026-03-02T08:00:00+00:00\nu2,i1,2300-01-01T10:00:00+00:00\n"
            "u3,i2,9999-12-31T23:59:59+14:00\nu4,i2,1500-06-01T00:00:00\n")
    log = load(make_dataset(text, columns={"time": "t"}))
    reasons = reasons_by_line(log)
    assert sorted(reasons) == [3, 4, 5]
    assert reasons[3] == ("time '2300-01-01T10:00:00+00:00' is outside the range the tool holds "
                          "(1677-09-21 to 2262-04-11)")
    unix = load(make_dataset("user,item,t\nu1,i1,1700000000\nu2,i1,99999999999999\n",
                             columns={"time": "t"}, time_format="unix_s"))
    assert "outside the range the tool holds" in reasons_by_line(unix)[3]


def test_infinite_numbers_and_bad_relevance_without_an_item_are_rejected(make_dataset):
    log = load(make_dataset("user,item,battery,r\nu1,i1,40,1\nu2,i1,inf,1\nu3,i2,1e309,1\n"
                            "u4,i2,-Infinity,1\nu5,,50,-2\nu6,,50,\n",
                            context={"battery": "numeric"}, columns={"relevance": "r"}))
    reasons = reasons_by_line(log)
    assert reasons[3] == "battery 'inf' is not a finite number"
    assert reasons[4] == "battery '1e309' is not a finite number" and 5 in reasons
    assert reasons[6] == "r '-2' is negative" and 7 not in reasons  # nothing engaged: fine
    assert log.report.rows_ok == 2


@pytest.mark.parametrize("rule, relevance, kept", [
    (None, {("u1", "a"): 4.0, ("u1", "b"): 2.0, ("u2", "a"): 5.0}, 6),  # max with a relevance
    ("max", {("u1", "a"): 4.0, ("u1", "b"): 2.0, ("u2", "a"): 5.0}, 6),
    ("sum", {("u1", "a"): 7.0, ("u1", "b"): 2.0, ("u2", "a"): 15.0}, 6),
    ("last", {("u1", "a"): 3.0, ("u1", "b"): 2.0, ("u2", "a"): 5.0}, 6),
    ("reject", {("u1", "a"): 4.0, ("u1", "b"): 2.0, ("u2", "a"): 5.0}, 3),
])
def test_rows_repeating_a_request_and_item_follow_the_duplicates_rule(make_dataset, rule,
                                                                       relevance, kept):
    text = "user,item,place,r\nu1,a,home,4\nu1,a,home,3\nu1,b,home,2\nu2,a,work,5\nu2,a,work,5\n" \
           "u2,a,work,5\n"
    spec = {"columns": {"relevance": "r"}, **({"duplicates": rule} if rule else {})}
    log = load(make_dataset(text, **spec))
    got = {(u, i): r for u, i, r in log.truth.merge(log.requests[["request_id", "user_id"]])[
        ["user_id", "item_id", "relevance"]].itertuples(index=False)}
    assert got == relevance and log.report.rows_ok == kept
    if rule == "reject":
        assert reasons_by_line(log) == {3: "repeats the request and item of line 2 (duplicates: reject)",
                                        6: "repeats the request and item of line 5 (duplicates: reject)",
                                        7: "repeats the request and item of line 5 (duplicates: reject)"}
        # the count names the first line, and that others differ (it read "3 x ... of line 2")
        assert log.report.reject_reasons == {
            "repeats the request and item of line 2 (duplicates: reject) (and 1 more like it on "
            "another line)": 3}
    else:
        assert log.report.duplicates == {"rule": rule or "max", "rows": 5, "pairs": 2,
                                         "disagreeing_pairs": 1, "itemless_rows": 0}
        assert "5 rows repeat 2 (request, item) pairs, 1 of them with different relevance" in \
            log.report.to_text()
        # the report's engagements are the truth's pairs, not the rows before merging
        assert log.report.positives == 6 and log.report.engagements == len(log.truth) == 3
        assert "positives (engagements): 6 rows, 3 after merging repeated" in log.report.to_text()


@pytest.mark.parametrize("request_column", [True, False])
def test_rows_without_an_item_repeating_their_request_are_counted_in_the_report(
        make_dataset, request_column):
    """A request without an engagement written twice is one request: the repeat is kept
    (no reject) and said, where it was merged silently; a request's one row without an item
    beside its engaged rows is no repeat."""
    text = ("request,user,item,place\nq1,u1,,home\nq1,u1,,home\nq1,u1,,home\n"
            "q2,u2,a,work\nq2,u2,,work\nq3,u3,,home\nq3,u3,,home\n")
    log = load(make_dataset(text, columns={"request": "request"} if request_column else {}))
    assert log.report.rows_ok == 7 and log.report.requests == 3
    assert log.report.requests_without_positive == 2
    assert log.report.duplicates["itemless_rows"] == 3
    assert "rows without an item: 3 repeat one of their request's" in log.report.to_text()


def test_blank_lines_in_the_middle_are_skipped_not_renumbered(make_dataset):
    path = make_dataset("user,item\nu1,i1\n\n\nu2,i2\n,i3\nu4,i4\n")
    log = load_checked(path)
    assert log.report.rows_in == 4
    assert reasons_by_line(log) == {6: "user (user) is missing"}
    assert log.events["line"].tolist() == [2, 5, 7]


def test_every_row_rejected_is_an_error_naming_the_first_reasons(make_dataset):
    path = make_dataset("user,item,temp\nu1,i1,hot\nu2,i2,cold\n", context={"temp": "numeric"})
    with pytest.raises(DataError) as info:
        load(path)
    assert info.value.where.endswith("log.csv")
    assert "every row of the log was rejected (2 rows)" in info.value.message
    assert "line 2: temp 'hot' is not a number" in info.value.message


def test_jsonl_where_no_line_is_an_object_is_every_row_rejected(make_dataset):
    # A CSV file saved as .jsonl: the error says why the rows failed, not "no column 'user'".
    path = make_dataset("user,item\nu1,i1\n", name="log.jsonl")
    with pytest.raises(DataError) as info:
        load(path)
    assert "every row of the log was rejected (2 rows)" in info.value.message
    assert "line 1: not valid JSON" in info.value.message


def test_wrong_type_in_numeric_column_is_rejected(make_dataset):
    path = make_dataset("user,item,temp\nu1,i1,21.5\nu2,i2,warm\nu3,i3,-4\n",
                        context={"temp": "numeric"})
    log = load_checked(path)
    assert reasons_by_line(log) == {3: "temp 'warm' is not a number"}
    assert log.requests["temp"].tolist() == [21.5, -4.0]


def test_wrong_word_in_boolean_column_is_rejected(make_dataset):
    path = make_dataset("user,item,wifi\nu1,i1,yes\nu2,i2,maybe\nu3,i3,0\n",
                        context={"wifi": "boolean"})
    log = load_checked(path)
    assert reasons_by_line(log) == {3: "wifi 'maybe' is not true or false"}
    assert log.requests["wifi"].tolist() == [True, False]


def test_unknown_value_in_closed_categorical_says_did_you_mean(make_dataset):
    path = make_dataset("user,item,weather\nu1,i1,sunny\nu2,i2,sunyy\nu3,i3,foggy\nu4,i4,\n",
                        context={"weather": {"type": "categorical", "values": ["sunny", "rainy"]}})
    log = load_checked(path)
    assert reasons_by_line(log) == {
        3: "weather 'sunyy' is not an allowed value (did you mean 'sunny'?)",
        4: "weather 'foggy' is not an allowed value (allowed: 'sunny' or 'rainy')"}
    # A missing cell is not a value outside the list.
    assert log.requests["user_id"].tolist() == ["u1", "u4"]
    assert list(log.requests["weather"].cat.categories) == ["sunny", "rainy"]


def test_negative_missing_or_non_numeric_relevance_is_rejected(make_dataset):
    path = make_dataset("""\
        user,item,rating
        u1,i1,4
        u2,i2,-1
        u3,i3,lots
        u4,i4,
        u5,,
        """, columns={"relevance": "rating"})
    log = load_checked(path)
    assert reasons_by_line(log) == {3: "rating '-1' is negative",
                                    4: "rating 'lots' is not a number",
                                    5: "relevance (rating) is missing on a row with an item"}
    # A request without an item needs no relevance: it is a request with no engagement.
    assert log.requests["user_id"].tolist() == ["u1", "u5"]
    assert log.report.requests_without_positive == 1


@pytest.mark.parametrize("positive_min, kept, orphans", [
    (None, ["q1", "q3", "q4", "q5"], {3: "'2'", 7: "'4'"}),
    (4, ["q1", "q2", "q3", "q4", "q5"], {7: "'4'"})])
def test_a_relevance_that_is_an_engagement_on_a_row_with_no_item_is_rejected(
        make_dataset, positive_min, kept, orphans):
    """An engagement without its item was kept as a request with no engagement; a row with
    no item is a request with no engagement only when its relevance says none (empty, 0, or
    below positive_min)."""
    path = make_dataset("""\
        request,user,item,clicks
        q1,u1,i1,1
        q2,u2,,2
        q3,u3,,0
        q4,u4,,
        q5,u5,i2,3
        q6,u6,,4
        """, columns={"relevance": "clicks", "request": "request"},
                        **({"positive_min": positive_min} if positive_min else {}))
    log = load_checked(path)
    none = "empty or 0" if positive_min is None else "empty or below positive_min 4"
    assert reasons_by_line(log) == {
        line: f"relevance (clicks) {value} on a row with no item (item): an engagement needs its "
              f"item (a request with no engagement leaves relevance {none})"
        for line, value in orphans.items()}
    assert log.report.rows_rejected == len(orphans)
    assert log.requests["request_id"].tolist() == kept
    assert f"rejected {len(orphans)} x relevance (clicks) " in log.report.to_text()


def test_missing_user_is_rejected(make_dataset):
    path = make_dataset("user,item\nu1,i1\n,i2\n  ,i3\n")
    log = load_checked(path)
    assert reasons_by_line(log) == {3: "user (user) is missing", 4: "user (user) is missing"}
    assert log.report.users == 1


def test_jsonl_line_not_json_or_not_an_object_is_rejected(make_dataset):
    path = make_dataset('{"user": "u1", "item": "i1"}\n'
                        'not json\n'
                        '[1, 2]\n'
                        '\n'
                        '{"user": "u2", "item": 5}\n'
                        '"just a string"\n', name="log.jsonl")
    log = load_checked(path)
    reasons = reasons_by_line(log)
    assert set(reasons) == {2, 3, 6}
    assert reasons[2].startswith("not valid JSON")
    assert reasons[3].startswith("expected a JSON object, found list (JSON lines hold one object a line")
    assert reasons[6] == "expected a JSON object, found str"
    assert log.events[["item_id", "line"]].values.tolist() == [["i1", 1], ["5", 5]]


def test_long_numeric_ids_stay_distinct(make_dataset):
    # 17+ digit ids (snowflakes) must not be rounded through a float into one user.
    path = make_dataset("user,item\n12345678901234567,1\n12345678901234568,1\n"
                        "1234567890123456789012,2\n")
    log = load_checked(path)
    assert log.requests["user_id"].tolist() == ["12345678901234567", "12345678901234568",
                                                "1234567890123456789012"]
    assert log.report.users == 3


def test_write_rejects_writes_line_numbers_and_reasons(make_dataset, tmp_path):
    path = make_dataset("user,item,temp\nu1,i1,1\n,i2,2\nu3,i3,hot\n", context={"temp": "numeric"})
    log = load_checked(path)
    out = write_rejects(log.rejects, tmp_path / "out" / "log.rejects.csv")
    written = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(written.columns) == ["source", "line", "reason", "text"]
    assert written[["line", "reason", "text"]].values.tolist() == [
        ["3", "user (user) is missing", ",i2,2"],
        ["4", "temp 'hot' is not a number", "u3,i3,hot"]]
    assert set(written["source"]) == {str(log.dataset.log)}
    assert write_rejects(log.rejects.iloc[:0], out) is None  # nothing refused: stale file gone
    assert not out.exists()


# --------------------------------------------------------------------------- time

def test_local_hour_is_dst_correct_in_berlin_and_new_york(make_dataset):
    # Berlin springs forward on 2026-03-29, New York on 2026-03-08: 08:00 stays 08:00.
    path = make_dataset("""\
        user,item,ts,zone
        b1,i1,2026-03-28T08:00:00,Europe/Berlin
        b2,i1,2026-03-29T08:00:00,Europe/Berlin
        b3,i1,2026-03-30T08:00:00,Europe/Berlin
        n1,i1,2026-03-07T08:00:00,America/New_York
        n2,i1,2026-03-09T08:00:00,America/New_York
        n3,i1,2026-03-09T08:00:00-04:00,America/New_York
        """, columns={"time": "ts", "timezone": "zone"})
    log = load_checked(path)
    requests = log.requests.set_index("user_id")
    assert requests["hour"].tolist() == [8] * 6
    utc = requests["timestamp"].dt.strftime("%m-%d %H:%M").to_dict()
    assert utc == {"b1": "03-28 07:00", "b2": "03-29 06:00", "b3": "03-30 06:00",
                   "n1": "03-07 13:00", "n2": "03-09 12:00", "n3": "03-09 12:00"}
    assert requests["weekday"].tolist() == [5, 6, 0, 5, 0, 0]
    assert requests["is_weekend"].tolist() == [True, True, False, True, False, False]
    assert str(requests["timestamp"].dt.tz) == "UTC"


def test_naive_times_are_local_in_the_dataset_zone(make_dataset):
    path = make_dataset("user,item,ts\nu1,i1,2026-07-01T08:00:00\nu2,i1,2026-01-15 08:00\n",
                        columns={"time": "ts"}, timezone="Asia/Tokyo")
    log = load_checked(path)
    assert log.requests["timestamp"].dt.strftime("%Y-%m-%d %H:%M").tolist() == [
        "2026-06-30 23:00", "2026-01-14 23:00"]
    assert log.requests["hour"].tolist() == [8, 8]


def test_empty_zone_cell_falls_back_to_the_dataset_zone_and_bad_zone_is_rejected(make_dataset):
    path = make_dataset("""\
        user,item,ts,zone
        u1,i1,2026-03-02T08:00:00,
        u2,i1,2026-03-02T08:00:00,Asia/Tokyo
        u3,i1,2026-03-02T08:00:00,Mars/Olympus
        """, columns={"time": "ts", "timezone": "zone"}, timezone="Europe/Berlin")
    log = load_checked(path)
    assert reasons_by_line(log) == {4: "time zone 'Mars/Olympus' is not an IANA zone name nor "
                                       "a UTC offset (+05:30): use an IANA name like "
                                       "Europe/Berlin, or a UTC offset like +05:30"}
    assert log.requests["timestamp"].dt.strftime("%H:%M").tolist() == ["07:00", "23:00"]
    assert log.requests["hour"].tolist() == [8, 8]


def test_a_zone_column_of_utc_offsets_reads_each_row_at_its_offset(make_dataset):
    """A zone column may write fixed offsets (+05:30, -0300, UTC+5:30, GMT-3) where it has
    no zone names: each is that offset (its rows' local times are read there), as a
    description's `timezone: +01:00` is for every row; a bad one is rejected."""
    path = make_dataset("""\
        user,item,ts,zone
        u1,i1,2026-03-02T08:00:00,+05:30
        u2,i1,2026-03-02T08:00:00,-0300
        u3,i1,2026-03-02T08:00:00,UTC+5:30
        u4,i1,2026-03-02T08:00:00,GMT-3
        u5,i1,2026-03-02T08:00:00,+25:00
        """, columns={"time": "ts", "timezone": "zone"})
    log = load_checked(path)
    assert reasons_by_line(log) == {6: "time zone '+25:00' is not an IANA zone name nor a UTC "
                                       "offset (+05:30): write a fixed UTC offset as +05:30, "
                                       "+0530 or UTC+05:30: hours up to 14, minutes 00 to 59, "
                                       "no decimals"}
    assert log.requests["timezone"].tolist() == ["UTC+05:30", "UTC-03:00", "UTC+05:30", "UTC-03:00"]
    assert log.requests["hour"].tolist() == [8, 8, 8, 8]  # local times, read where written
    assert log.requests["timestamp"].dt.strftime("%H:%M").tolist() == ["02:30", "11:00",
                                                                       "02:30", "11:00"]
    one = load_checked(make_dataset("user,item,ts\nu1,i1,2026-03-02T08:00:00\n",
                                    columns={"time": "ts"}, timezone="+01:00"))
    assert one.requests["timestamp"].dt.strftime("%H:%M").tolist() == ["07:00"]


def test_nonexistent_or_ambiguous_local_time_is_rejected_mentioning_dst(make_dataset):
    path = make_dataset("""\
        user,item,ts
        u1,i1,2026-03-29T01:30:00
        u2,i1,2026-03-29T02:30:00
        u3,i1,2026-10-25T02:30:00
        u4,i1,2026-03-29T02:30:00+01:00
        """, columns={"time": "ts"}, timezone="Europe/Berlin")
    log = load_checked(path)
    reasons = reasons_by_line(log)
    assert set(reasons) == {3, 4}          # the same wall time with an offset is fine
    assert "'2026-03-29T02:30:00'" in reasons[3] and "DST" in reasons[3]
    assert "Europe/Berlin" in reasons[3] and "UTC offset" in reasons[3]
    assert "'2026-10-25T02:30:00'" in reasons[4] and "DST" in reasons[4]
    assert log.requests["hour"].tolist() == [1, 3]   # 01:30Z is 03:30 CEST


def test_offsets_in_the_text_are_honoured_whatever_the_zone(make_dataset):
    path = make_dataset("""\
        user,item,ts
        u1,i1,2026-03-29T08:00:00+09:00
        u2,i1,2026-03-29T06:00:00Z
        u3,i1,2026-03-29T06:00:00.250+0000
        """, columns={"time": "ts"}, timezone="America/New_York")
    log = load_checked(path)
    assert log.requests["timestamp"].dt.strftime("%m-%d %H:%M").tolist() == [
        "03-28 23:00", "03-29 06:00", "03-29 06:00"]
    assert log.requests["hour"].tolist() == [19, 2, 2]      # local in New York (EDT)


@pytest.mark.parametrize("day, time_format", [("2026-03-02", "iso"), ("02-03-2026", "%d-%m-%Y")])
def test_date_only_time_is_local_midnight(make_dataset, day, time_format):
    # "2026-03-02" ends in "-02" and "02-03-2026" in "-2026": neither is a UTC offset.
    path = make_dataset(f"user,item,day\nu1,i1,{day}\n", columns={"time": "day"},
                        timezone="Europe/Berlin", time_format=time_format)
    log = load_checked(path)
    assert log.requests["timestamp"].dt.strftime("%Y-%m-%d %H:%M").tolist() == ["2026-03-01 23:00"]
    assert log.requests["hour"].tolist() == [0]


def test_strftime_time_format_is_local(make_dataset):
    path = make_dataset("user,item,when\nu1,i1,29-03-2026 08:15\nu2,i1,2026-03-29\n",
                        columns={"time": "when"}, timezone="Europe/Berlin",
                        time_format="%d-%m-%Y %H:%M")
    log = load_checked(path)
    assert log.requests["timestamp"].dt.strftime("%H:%M").tolist() == ["06:15"]
    assert log.requests[["hour", "minute"]].values.tolist() == [[8, 15]]
    assert reasons_by_line(log)[3].startswith("time '2026-03-29' is not the format '%d-%m-%Y %H:%M'")


def test_unix_seconds(make_dataset):
    path = make_dataset("user,item,ts\nu1,i1,1774681200\nu2,i1,1774681200.5\nu3,i1,soon\n",
                        columns={"time": "ts"}, timezone="Europe/Berlin", time_format="unix_s")
    log = load_checked(path)
    assert reasons_by_line(log) == {4: "time 'soon' is not a number of s since 1970"}
    assert log.requests["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S.%f").tolist() == [
        "2026-03-28 07:00:00.000000", "2026-03-28 07:00:00.500000"]
    assert log.requests["hour"].tolist() == [8, 8]


def test_unix_seconds_in_jsonl_numbers(make_dataset):
    path = make_dataset('{"user": "u1", "item": "i1", "ts": 1774681200}\n', name="log.jsonl",
                        columns={"time": "ts"}, time_format="unix_s")
    log = load_checked(path)
    assert log.requests["timestamp"].dt.strftime("%Y-%m-%d %H:%M").tolist() == ["2026-03-28 07:00"]


def test_numeric_time_with_iso_format_hints_at_unix_s(make_dataset):
    path = make_dataset("user,item,ts\nu1,i1,2026-03-28T07:00:00Z\nu2,i1,1774681200\n",
                        columns={"time": "ts"})
    log = load_checked(path)
    reason = reasons_by_line(log)[3]
    assert reason.startswith("time '1774681200' is not ISO 8601")
    assert reason.endswith("(for seconds since 1970 set `time_format: unix_s`)")


# --------------------------------------------------------------------------- request keys

def test_requests_without_a_request_column_are_user_context_time(make_dataset):
    path = make_dataset("""\
        user,item,place,ts
        u1,i1,home,2026-03-02T08:00:00Z
        u1,i2,home,2026-03-02T08:00:00Z
        u1,i3,work,2026-03-02T08:00:00Z
        u1,i4,home,2026-03-02T09:00:00Z
        u2,i1,home,2026-03-02T08:00:00Z
        """, columns={"time": "ts"}, context={"place": "categorical"})
    log = load_checked(path)
    assert log.report.requests == 4
    items = log.truth.groupby("request_id")["item_id"].apply(sorted).tolist()
    assert items == [["i1", "i2"], ["i3"], ["i4"], ["i1"]]
    assert log.requests["request_id"].tolist() == ["r1", "r2", "r3", "r4"]


def test_request_rows_must_agree_on_time_numbers_booleans_and_missing_values(make_dataset):
    """Each kind of column compared by its own values: a time a nanosecond apart differs,
    numbers by value (3 and 3.0 agree), missing agrees only with missing."""
    path = make_dataset("""\
        rid,user,item,ts,temp,wifi
        q1,u1,i1,2026-03-02T08:00:00.000000001Z,3,true
        q1,u1,i2,2026-03-02T08:00:00.000000001Z,3.0,true
        q1,u1,i3,2026-03-02T08:00:00.000000002Z,3,true
        q1,u1,i4,2026-03-02T08:00:00.000000001Z,4,true
        q1,u1,i5,2026-03-02T08:00:00.000000001Z,3,
        q1,u1,i6,2026-03-02T08:00:00.000000001Z,,true
        """, columns={"request": "rid", "time": "ts"},
        context={"temp": "numeric", "wifi": "boolean"})
    reasons = reasons_by_line(load(path))
    assert sorted(reasons) == [4, 5, 6, 7]
    assert reasons[4].startswith("ts '2026-03-02 08:00:00.000000002+00:00' differs from "
                                 "'2026-03-02 08:00:00.000000001+00:00' on line 2")
    assert reasons[5].startswith("temp '4' differs from '3'")
    # a missing cell is said missing, not Python's 'nan' or pandas' '<NA>' (never written)
    assert reasons[6].startswith("wifi (missing) differs from 'True'")
    assert reasons[7].startswith("temp (missing) differs from '3'")


def test_a_header_repeated_inside_the_log_is_rejected_as_one_and_types_nothing(make_dataset):
    """A data engineer's exports joined one after another: the second header was a request of
    user 'user' (or a type error), and its cells made an undeclared number column text."""
    path = make_dataset("""\
        User ID,item,temp,plugged
        u1,a,3.5,true
        u2,b,4,false
        User ID,item,temp,plugged
        u3,a,5,true
        """, columns={"user": "uid"}, rename={"User ID": "uid"})
    log = load(path)
    assert reasons_by_line(log) == {
        4: "the header line again (files joined one after another?): not a row of the log"}
    assert log.report.inferred == {"temp": "numeric", "plugged": "boolean"}
    assert sorted(log.requests["user_id"].astype(str)) == ["u1", "u2", "u3"]


def test_requests_kept_without_some_of_their_rows_are_counted(make_dataset):
    """A PM's request lost one of its two engaged rows to a reject and was scored on the
    other, and nothing said so."""
    path = make_dataset("""\
        rid,user,item,temp
        q1,u1,i1,3
        q1,u1,i2,hot
        q2,u2,i1,4
        q3,u3,i2,cold
        q4,u4,i1,5
        q4,u4,i2,6
        """, columns={"request": "rid"}, context={"temp": "numeric"})
    report = load(path).report
    # q1 and q4 lost a row (not a number; differs from the first), q3 every row: not kept
    assert report.partial_requests == 2 and report.requests == 3
    assert ("3 one per value of 'rid'; 0 have no positive; 2 kept without some of their rows "
            "(rejected), scored as if the engagements of those rows never happened").replace(
        "3 one", "3, one") in report.to_text()
    # a reviewer: a repeat rejected under `duplicates: reject` and a rejected row without an
    # item lose no engagement of their request: not counted
    spared = make_dataset("""\
        rid,user,item,temp
        q1,u1,i1,3
        q1,u1,i1,3
        q2,u2,i1,4
        q2,u2,,hot
        """, columns={"request": "rid"}, context={"temp": "numeric"}, duplicates="reject")
    report = load(spared).report
    assert report.rows_rejected == 2 and report.partial_requests == 0


def test_a_column_varying_within_requests_is_named_first_when_it_costs_many_rows(make_dataset):
    """A slot column left undeclared varies between a request's rows: every row but each
    request's first is rejected. The report says so under its row count, with the fix, before
    any figure of the rows left; the reasons count the distinct values quoted (not the reasons,
    which differ by line), whole numbers as written (3, not 3.0)."""
    rows = "".join(f"q{r},u{r % 3},i{(r + s) % 7},{s if r else ''}\n" for r in range(20)
                   for s in range(1, 4))
    log = load_checked(make_dataset("rid,user,item,slot\n" + rows, columns={"request": "rid"}))
    assert log.report.rows_rejected == 38 and log.report.rows_in == 60
    text = log.report.to_text().splitlines()
    assert text[2] == ("  warning: 63% of the log's rows were rejected (38 of 60): every figure is "
                       "of the other 37%, which may not be like them; 38 because slot differs "
                       "between the rows of a request: rows of one request must agree on its user, "
                       "time and context, so a column that varies within a request describes each "
                       "row, not the request: list it under `ignore:` (or map a shown slot as "
                       "`columns: position:`)")
    assert sum(line.startswith("  warning: 63%") for line in text) == 1
    # slot 2 or 3 against 1 on 19 requests (request q0 has no slot on any row: no difference)
    assert log.report.reject_reasons == {
        "slot '2' differs from '1' on line 5, the first row of the same request "
        "(and 1 other value like it)": 38}
    few = "".join(f"q{r},u1,i1,{s}\n" for r in range(3) for s in (1, 2)) + "".join(
        f"p{r},u1,i{r % 7},1\n" for r in range(100))
    few = load_checked(make_dataset("rid,user,item,slot\n" + few, columns={"request": "rid"}))
    assert few.report.rows_rejected == 3  # under a tenth: said among the reasons only
    assert not any("were rejected (" in w for w in few.report.warnings)


def test_request_column_rejects_rows_whose_context_differs_from_the_first(make_dataset):
    path = make_dataset("""\
        rid,user,item,place
        q1,u1,i1,home
        q1,u1,i2,home
        q1,u1,i3,work
        q1,u2,i4,home
        q2,u1,i1,work
        """, columns={"request": "rid"}, context={"place": "categorical"})
    log = load_checked(path)
    assert reasons_by_line(log) == {
        4: "place 'work' differs from 'home' on line 2, the first row of the same request",
        5: "user 'u2' differs from 'u1' on line 2, the first row of the same request"}
    assert log.requests[["request_id", "place"]].values.tolist() == [["q1", "home"], ["q2", "work"]]
    assert log.truth[["request_id", "item_id"]].values.tolist() == [
        ["q1", "i1"], ["q1", "i2"], ["q2", "i1"]]


@pytest.mark.parametrize("request_column", [False, True])
def test_item_attributes_in_the_log_do_not_split_or_reject_requests(make_dataset, request_column):
    rid = "rid," if request_column else ""
    path = make_dataset(f"{rid}user,item,place,genre\n"
                        f"{'q1,' if request_column else ''}u1,i1,home,rock\n"
                        f"{'q1,' if request_column else ''}u1,i2,home,jazz\n",
                        columns={"request": "rid"} if request_column else {},
                        context={"place": "categorical"},
                        catalog={"item": "item", "attributes": {"genre": "categorical"}})
    log = load_checked(path)
    assert log.report.rows_rejected == 0
    assert log.report.requests == 1
    assert sorted(log.truth["item_id"]) == ["i1", "i2"]


# --------------------------------------------------------------------------- relevance

def test_positive_min_makes_lower_rows_known_negatives(make_dataset):
    path = make_dataset("""\
        user,item,stars
        u1,i1,5
        u1,i2,3
        u2,i3,2
        u2,i4,4
        """, columns={"relevance": "stars"}, positive_min=4)
    log = load_checked(path)
    events = log.events.set_index("item_id")
    assert events["positive"].to_dict() == {"i1": True, "i2": False, "i3": False, "i4": True}
    assert sorted(log.truth["item_id"]) == ["i1", "i4"]
    assert log.report.positives == 2 and log.report.negatives == 2


@pytest.mark.parametrize("rule, negatives", [("max", 1), ("last", 2)])
def test_known_negatives_are_counted_after_repeated_pairs_merge(make_dataset, rule, negatives):
    """An impression and a click of the same (request, item) merge into one positive
    (``duplicates: max``): the impression is no longer a known negative. With ``last``, a
    click followed by an impression of the same pair ends a negative."""
    path = make_dataset("""\
        request,user,item,stars
        q1,u1,i1,0
        q1,u1,i1,5
        q1,u1,i2,0
        q2,u2,i3,5
        q2,u2,i3,0
        """, columns={"relevance": "stars", "request": "request"}, duplicates=rule)
    log = load_checked(path)
    assert log.report.negatives == negatives
    assert log.report.engagements == 3 - negatives
    assert "(request, item) pairs after merging" in log.report.to_text()


def test_zero_relevance_is_a_known_negative_without_positive_min(make_dataset):
    path = make_dataset("user,item,clicks\nu1,i1,0\nu1,i2,2\n", columns={"relevance": "clicks"})
    log = load_checked(path)
    assert log.truth["item_id"].tolist() == ["i2"]
    assert log.events.set_index("item_id")["positive"].to_dict() == {"i1": False, "i2": True}


def test_repeated_item_is_summed_without_relevance_column(make_dataset):
    path = make_dataset("user,item\nu1,i1\nu1,i1\nu1,i1\nu1,i2\n")
    log = load_checked(path)
    assert dict(zip(log.truth["item_id"], log.truth["relevance"])) == {"i1": 3.0, "i2": 1.0}


def test_repeated_item_takes_the_largest_relevance_with_a_relevance_column(make_dataset):
    path = make_dataset("user,item,stars\nu1,i1,2\nu1,i1,5\nu1,i1,4\n",
                        columns={"relevance": "stars"})
    log = load_checked(path)
    assert log.truth[["item_id", "relevance"]].values.tolist() == [["i1", 5.0]]


def test_requests_without_a_positive_are_counted(make_dataset):
    path = make_dataset("""\
        user,item,stars,place
        u1,i1,5,home
        u2,i2,1,home
        u3,,,work
        u4,i3,4,work
        """, columns={"relevance": "stars"}, positive_min=4, context={"place": "categorical"})
    log = load_checked(path)
    assert log.report.requests == 4
    assert log.report.requests_without_positive == 2
    assert "requests: 4, one per distinct (user, context); 2 have no positive" in log.report.to_text()


# --------------------------------------------------------------------------- schema

def test_undeclared_columns_are_inferred_and_reported(make_dataset):
    path = make_dataset("""\
        user,item,wifi,temp,place
        u1,i1,yes,12.5,home
        u2,i1,no,-1,work
        u3,i1,,7,
        """)
    log = load_checked(path)
    assert log.report.inferred == {"wifi": "boolean", "temp": "numeric", "place": "categorical"}
    assert log.requests["wifi"].tolist()[:2] == [True, False]
    assert log.requests["temp"].tolist() == [12.5, -1.0, 7.0]
    text = log.report.to_text()
    for line in ("wifi   context, boolean, missing in 33% of requests   (inferred",
                 "temp   context, numeric   (inferred",
                 "place  context, categorical, missing in 33% of requests   (inferred"):
        assert line in text


def test_declared_columns_are_not_reported_as_inferred(make_dataset):
    path = make_dataset("user,item,temp\nu1,i1,1\n", context={"temp": "categorical"})
    log = load_checked(path)
    assert log.report.inferred == {}
    assert log.requests["temp"].tolist() == ["1"]
    assert "inferred" not in log.report.to_text()


def test_ignore_drops_columns(make_dataset):
    path = make_dataset("user,item,cost,place\nu1,i1,3.5,home\n", ignore=["cost"],
                        context={"place": "categorical"})
    log = load_checked(path)
    assert "cost" not in log.requests.columns and "cost" not in log.report.schema
    assert log.context == {"place": "categorical"}


def test_ignored_column_missing_from_the_log_is_an_error(make_dataset):
    with pytest.raises(DataError, match="no column 'cots' \\(named in `ignore`\\)") as info:
        load(make_dataset("user,item,cost\nu1,i1,3\n", ignore=["cots"]))
    assert info.value.hint == "did you mean 'cost'?"


def test_reserved_column_name_is_an_error_unless_named_or_ignored(make_dataset):
    with pytest.raises(DataError) as info:
        load(make_dataset("user,item,score\nu1,i1,0.9\n"))
    assert "column 'score' has a name the frames reserve for themselves" in info.value.message
    assert "`ignore:`" in info.value.hint
    log = load_checked(make_dataset("user,item,score\nu1,i1,0.9\n", ignore=["score"]))
    assert "score" not in log.requests.columns
    log = load_checked(make_dataset("user,item,score\nu1,i1,0.9\n", columns={"relevance": "score"}))
    assert log.truth["relevance"].tolist() == [0.9]


def test_several_reserved_columns_are_reported_together_with_the_rename_line(make_dataset):
    with pytest.raises(DataError) as info:
        load(make_dataset("user,item,score,hour\nu1,i1,0.9,8\n"))
    assert info.value.message == ("columns 'score' and 'hour' have names the frames reserve for "
                                  "themselves")
    assert "`rename: {score: score_log, hour: hour_log}`" in info.value.hint


def test_rename_keeps_a_logs_own_weekday_column_under_a_new_name(make_dataset):
    """A log without timestamps with its own 'weekday' (day names): one line in the description."""
    text = "user,item,weekday\nu1,i1,mon\nu2,i2,sat\nu1,i2,mon\n"
    log = load_checked(make_dataset(text, rename={"weekday": "day"},
                                    context={"day": "categorical"}))
    assert sorted(log.requests["day"]) == ["mon", "sat"] and "weekday" not in log.requests
    with pytest.raises(DataError, match="no column 'wekday' to rename") as info:
        load(make_dataset(text, rename={"wekday": "day"}))
    assert info.value.hint == "did you mean 'weekday'?"
    with pytest.raises(DataError, match="cannot rename 'weekday' to 'user'"):
        load(make_dataset(text, rename={"weekday": "user"}))
    with pytest.raises(DescriptionError, match="are both renamed to 'x'"):
        load(make_dataset("user,item,a,b\nu1,i1,1,2\n", rename={"a": "x", "b": "x"}))


def test_cells_that_look_like_missing_markers_are_warned_about(make_dataset):
    text = "user,item,place,battery\nu1,i1,NULL,40\nu2,i2,home,NULL\nu3,i1,home,55\n"
    log = load(make_dataset(text))
    warning = " ".join(log.report.warnings)
    assert "'NULL' in place (1 row), battery (1 row)" in warning
    assert '`missing_values: ["", "NULL"]`' in warning
    declared = load_checked(make_dataset(text, missing_values=["", "NULL"]))
    assert not declared.report.warnings and declared.requests["battery"].isna().sum() == 1


MIXED_LOG = ("u,i,t,zone,place,bat,hp,genre,wx\n"
             "u1,x,2026-03-02T08:00:00+01:00,Europe/Berlin,home,10,true,news,NULL\n"
             "u1,y,2026-03-02T08:00:00+01:00,Europe/Berlin,home,10,true,music,NULL\n"
             "u2,x,2026-03-02T09:00:00,Nope/Zone,work,N/A,false,news,sun\n"
             "u3,z,2026-03-03T09:00:00,America/New_York,moon,5.0,yes,news,-\n"
             "\n"
             "u4,y,2026-03-04T09:00:00,,NULL, 7 ,maybe,pop,rain\n"
             "u5,x,2026-03-05T09:00:00,UTC,  home ,,,news,\n")


def test_context_columns_read_as_categories_give_what_text_gives(make_dataset, monkeypatch):
    """A CSV log's zone, context and attribute columns come from the reader as categories
    (encoded once); the frames, rejects and report are those of reading them as text:
    markers, allowed values, numbers and booleans in text, a bad zone, rename, a blank line."""
    import dataclasses
    import importlib

    from suggest.data.readers import read_table

    loading = importlib.import_module("suggest.data.load")  # the package exports load()

    path = make_dataset(MIXED_LOG, columns={"user": "u", "item": "i", "time": "t",
                                            "timezone": "zone"},
                        missing_values=["", "N/A"], rename={"wx": "weather"},
                        context={"place": {"type": "categorical", "values": ["home", "work"]},
                                 "bat": "numeric", "hp": "boolean", "weather": "categorical"},
                        catalog={"attributes": {"genre": "categorical"}})
    ds = Dataset.from_yaml(path)
    assert loading._few_values(ds) == ("bat", "genre", "hp", "place", "wx", "zone")
    raw = read_table(ds.log, "csv", dictionary=loading._few_values(ds))
    assert isinstance(raw.frame["wx"].dtype, pd.CategoricalDtype)
    assert raw.frame["u"].dtype == "str"
    as_categories = load(path)
    monkeypatch.setattr(loading, "_few_values", lambda ds: ())
    as_text = load(path)
    for name in ("requests", "truth", "events", "catalog", "rejects"):
        pd.testing.assert_frame_equal(getattr(as_categories, name), getattr(as_text, name))
    assert dataclasses.asdict(as_categories.report) == dataclasses.asdict(as_text.report)
    warning = " ".join(as_text.report.warnings)
    assert "'NULL' in place (1 row), weather (2 rows); '-' in weather (1 row)" in warning
    # lines 4 (the zone), 5 (moon) and 7 (place NULL, the first of its row's faults)
    assert as_text.rejects["line"].tolist() == [4, 5, 7]
    assert as_text.requests["user_id"].tolist() == ["u1", "u5"]
    assert as_text.requests["bat"][0] == 10.0 and pd.isna(as_text.requests["bat"][1])  # '' is missing


@pytest.mark.parametrize("probe", [2, 3, 4096])
def test_ids_in_increasing_runs_get_the_codes_a_dictionary_encoding_gives(probe):
    """Sorted, grouped, shuffled, with missing cells, runs that rise then fall past the
    probe: the codes and distinct values are Arrow's dictionary encoding's, whichever way
    they were found."""
    import importlib

    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    encoded = importlib.import_module("suggest.data.load").encoded
    rng = np.random.default_rng(probe)
    for _ in range(600):
        pool = [f"r{i:03d}" for i in range(int(rng.integers(1, 15)))]
        values = [pool[i] for i in rng.integers(0, len(pool), int(rng.integers(0, 30)))]
        kind = rng.integers(0, 4)
        if kind == 1:
            values.sort()
        elif kind == 2:
            values = sorted(values) + sorted(values)[:3]  # rises, then starts again
        elif kind == 3 and values:
            values[int(rng.integers(0, len(values)))] = None
        cells = pa.array(values, pa.string())
        codes, uniques = encoded(cells, probe)
        expected = pc.dictionary_encode(cells)
        np.testing.assert_array_equal(codes, expected.indices.fill_null(-1).to_numpy(
            zero_copy_only=False))
        assert uniques.equals(expected.dictionary)
    with pytest.MonkeyPatch.context() as patch:  # sorted: no hash table; else Arrow's
        patch.setattr(pc, "dictionary_encode", lambda cells: pytest.fail("hashed"))
        assert encoded(pa.array(["a", "a", "b", "c", "c"]), probe)[0].tolist() == [0, 0, 1, 2, 2]
        with pytest.raises(pytest.fail.Exception, match="hashed"):
            encoded(pa.array(["a", "b", "c", "a"]), probe)


def test_markers_in_a_categorical_parquet_column_are_warned_about(tmp_path):
    """Counted on the categories (they were not counted at all in a categorical column)."""
    frame = pd.DataFrame({"user": ["u1", "u2", "u3"], "item": ["i1", "i2", "i1"],
                          "place": pd.Categorical(["NULL", "home", "NULL"])})
    frame.to_parquet(tmp_path / "log.parquet")
    (tmp_path / "d.yaml").write_text("log: log.parquet\ncolumns: {user: user, item: item}\n"
                                     "context: {place: categorical}\n")
    log = load(tmp_path / "d.yaml")
    assert "'NULL' in place (2 rows)" in " ".join(log.report.warnings)


def test_the_rejection_summary_shows_the_offending_value(make_dataset):
    text = "user,item,t\nu1,i1,2026-03-02T08:00:00\nu2,i2,NULL\nu3,i1,NULL\nu4,i1,soon\n"
    log = load(make_dataset(text, columns={"time": "t"}))
    (reason, count), = log.report.reject_reasons.items()
    assert count == 3 and reason.startswith("time 'NULL' is not ISO 8601")
    assert reason.endswith("(and 1 other value like it)") and "…" not in log.report.to_text()


def test_an_item_attribute_that_is_also_ignored_is_a_description_error(make_dataset):
    with pytest.raises(DescriptionError, match="'city' is both an item attribute and ignored"):
        load(make_dataset("user,item,city\nu1,i1,x\n", ignore=["city"],
                          catalog={"attributes": {"city": "categorical"}}))


# --------------------------------------------------------------------------- catalog

def test_catalog_file_rejects_duplicates_and_keeps_items_missing_from_it(make_dataset):
    path = make_dataset("user,item,place\nu1,i1,home\nu2,i2,work\nu3,i9,home\n",
                        context={"place": "categorical"},
                        catalog={"path": "items.csv", "item": "id",
                                 "attributes": {"genre": "categorical"}})
    (path.parent / "items.csv").write_text("id,genre,year\ni1,rock,1999\ni2,pop,2001\n"
                                           "i1,jazz,1990\n,pop,1\n")
    log = load_checked(path)
    catalog_rejects = log.rejects[log.rejects["source"].str.endswith("items.csv")]
    assert catalog_rejects[["line", "reason"]].values.tolist() == [
        [4, "item 'i1' is listed again"], [5, "item (id) is missing"]]
    assert log.report.rows_rejected == 0 and log.report.catalog_rejected == 2
    catalog = log.catalog.set_index("item_id")
    assert catalog.loc["i1", "genre"] == "rock" and catalog.loc["i1", "year"] == 1999
    assert "i9" in catalog.index and pd.isna(catalog.loc["i9", "genre"])
    assert "1 items of the log are not in the catalog ('i9'); they have no attributes" in log.report.warnings
    assert "catalog column 'year' inferred as numeric attribute" in log.report.warnings
    assert "genre" not in log.requests.columns


def test_data_check_counts_the_catalog_items_no_row_of_the_log_names(make_dataset):
    """Coverage divides by every catalog item; a tester's shop listed 3,891 of 20,000 items
    that no row named, and `data check` did not say so."""
    path = make_dataset("user,item,place\nu1,i1,home\nu2,i2,work\nu3,i9,home\n",
                        context={"place": "categorical"},
                        catalog={"path": "items.csv", "item": "id",
                                 "attributes": {"genre": "categorical"}})
    (path.parent / "items.csv").write_text("id,genre\ni1,rock\ni2,pop\ni7,pop\ni8,jazz\n")
    report = load_checked(path).report
    assert report.catalog_unseen == 2  # i7 and i8; i9 is the log's, not the file's
    assert "catalog: 4 items (0 rows rejected), 2 of them in no row of the log" in report.to_text()


def test_the_time_span_is_also_said_in_the_descriptions_one_zone(make_dataset):
    """A Berlin shop's first request at 00:00:48 local read as 2026-02-15 23:00:48+00:00: its
    log seemed to start the day before. Said in the zone too; not for a column of zones."""
    log = "user,item,ts\nu1,i1,2026-02-16T00:00:48+01:00\nu2,i2,2026-04-12T23:59:41+02:00\n"
    one = load_checked(make_dataset(log, columns={"time": "ts"}, timezone="Europe/Berlin")).report
    assert "timestamps: 2026-02-15 23:00:48+00:00 to 2026-04-12 21:59:41+00:00 (in " \
           "Europe/Berlin: 2026-02-16 00:00:48 to 2026-04-12 23:59:41)" in one.to_text()
    zoned = "user,item,ts,zone\nu1,i1,2026-02-16T00:00:48,Europe/Berlin\nu2,i2,2026-04-12T23:59:41,Asia/Tokyo\n"
    many = load_checked(make_dataset(zoned, columns={"time": "ts", "timezone": "zone"})).report
    assert many.time_zone is None and "(in " not in many.to_text().split("timestamps:")[1].split("\n")[0]


def test_a_log_item_in_another_unicode_form_than_the_catalogs_is_named_as_such(make_dataset):
    """'café' with a combining accent (the log) is not 'café' with the accented letter (the
    catalog): they look the same, so the warning says which and how to mend it."""
    decomposed, composed = "cafe\u0301", "caf\u00e9"
    path = make_dataset(f"user,item\nu1,{decomposed}\nu2,i2\nu3,i9\n",
                        catalog={"path": "items.csv", "item": "id"})
    (path.parent / "items.csv").write_text(f"id\n{composed}\ni2\n", encoding="utf-8")
    warning = next(w for w in load_checked(path).report.warnings if "not in the catalog" in w)
    assert warning.startswith("2 items of the log are not in the catalog")
    assert f"1 of them ({decomposed!r}) is a catalog id written in another Unicode form" in warning
    assert "'i9')" not in warning.split(";", 2)[2]  # a plain unknown item is not one of them


def test_catalog_file_missing_item_column_is_an_error(make_dataset):
    path = make_dataset("user,item\nu1,i1\n", catalog={"path": "items.csv", "item": "item_id"})
    (path.parent / "items.csv").write_text("itemid,genre\ni1,rock\n")
    with pytest.raises(DataError, match="catalog has no column 'item_id'") as info:
        load(path)
    assert info.value.hint == "did you mean 'itemid'?"


def test_a_catalog_read_as_one_column_names_the_separator_to_add(make_dataset):
    """A semicolon log with its semicolon catalog: the catalog has a separator of its own, and
    the error says which line to add instead of only "did you mean 'item;genre'"."""
    path = make_dataset("user;item\nu1;i1\n", separator=";",
                        catalog={"path": "items.csv", "item": "item"})
    (path.parent / "items.csv").write_text("item;genre\ni1;rock\n")
    with pytest.raises(DataError, match="catalog has no column 'item'") as info:
        load(path)
    assert "add `separator: \";\"` under `catalog:`" in info.value.hint


def test_catalog_from_log_columns_is_not_context(make_dataset):
    path = make_dataset("user,item,place,genre\nu1,i1,home,rock\nu2,i2,work,pop\nu3,i1,home,rock\n",
                        context={"place": "categorical"},
                        catalog={"item": "item", "attributes": {"genre": "categorical"}})
    log = load_checked(path)
    assert log.catalog[["item_id", "genre"]].values.tolist() == [["i1", "rock"], ["i2", "pop"]]
    assert log.context == {"place": "categorical"}
    assert "genre" not in log.requests.columns
    assert "genre  item attribute, categorical" in log.report.to_text()


# --------------------------------------------------------------------------- descriptions

def _description(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "dataset.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_unknown_top_level_key_says_did_you_mean_with_file_line_col(tmp_path):
    path = _description(tmp_path, """\
        log: log.csv
        colums:
          user: u
        """)
    with pytest.raises(DescriptionError) as info:
        Dataset.from_yaml(path)
    assert info.value.where == f"{path}:2:1"
    assert info.value.message == "unknown key 'colums'"
    assert info.value.hint == "did you mean 'columns'?"


def test_a_top_level_key_written_under_columns_says_where_it_goes(tmp_path):
    path = _description(tmp_path, """\
        log: log.csv
        columns:
          user: u
          time: t
          time_format: "%d/%m/%Y %H:%M"
        """)
    with pytest.raises(DescriptionError) as info:
        Dataset.from_yaml(path)
    assert info.value.where == f"{path}:5:3"
    assert info.value.message == "unknown key 'time_format'"
    assert info.value.hint == ("'time_format' is a key of the description's top level, not of "
                               "`columns:`; move it there")


def test_unknown_context_type(tmp_path):
    path = _description(tmp_path, """\
        log: log.csv
        context:
          weather: categorial
        """)
    with pytest.raises(DescriptionError) as info:
        Dataset.from_yaml(path)
    assert info.value.where == f"{path}:3:12"
    assert "column 'weather': unknown type 'categorial'" in info.value.message
    assert info.value.hint == "did you mean 'categorical'?"


def test_unknown_time_zone(tmp_path):
    path = _description(tmp_path, "log: log.csv\ntimezone: Europe/Berln\n")
    with pytest.raises(DescriptionError) as info:
        Dataset.from_yaml(path)
    assert info.value.where == f"{path}:2:11"
    assert info.value.message == "unknown time zone 'Europe/Berln'"
    assert info.value.hint == "did you mean 'Europe/Berlin'?"


@pytest.mark.parametrize("zone, hint", [
    ("IST", "'IST' is an abbreviation, not a zone: write an IANA name such as Asia/Kolkata "
            "(India), Asia/Jerusalem or Europe/Dublin, or the UTC offset it stands for, +05:30"),
    ("pdt", "'pdt' is an abbreviation, not a zone: write an IANA name such as "
            "America/Los_Angeles, or the UTC offset it stands for, -07:00"),
    ("UTC+5.5", "write a fixed UTC offset as +05:30, +0530 or UTC+05:30: hours up to 14, "
                "minutes 00 to 59, no decimals"),
])
def test_a_zone_abbreviation_or_a_misspelt_offset_gets_a_hint_that_fits(tmp_path, zone, hint):
    """An abbreviation is no IANA name: the hint names the zones it may mean (IST was offered
    'MST', the closest spelling); an offset with decimals is told how offsets are written."""
    path = _description(tmp_path, f"log: log.csv\ntimezone: '{zone}'\n")
    with pytest.raises(DescriptionError) as info:
        Dataset.from_yaml(path)
    assert info.value.message == f"unknown time zone '{zone}'" and info.value.hint == hint


def test_an_offset_in_lower_case_is_an_offset(make_dataset):
    log = load_checked(make_dataset("user,item,ts,zone\nu1,i1,2026-03-02T08:00:00,utc+5:30\n"
                                    "u2,i1,2026-03-02T08:00:00,PST\n",
                                    columns={"time": "ts", "timezone": "zone"}))
    assert log.requests["timezone"].tolist() == ["UTC+05:30"]
    assert log.requests["timestamp"].dt.strftime("%H:%M").tolist() == ["02:30"]
    assert "America/Los_Angeles" in reasons_by_line(log)[3]


def test_unknown_encoding_and_time_format_are_description_errors(tmp_path):
    path = _description(tmp_path, "log: log.csv\nencoding: utf-9\ntime_format: unix\n")
    with pytest.raises(ErrorList) as info:
        Dataset.from_yaml(path)
    found = {e.where: e.message for e in info.value.errors}
    assert found == {f"{path}:2:11": "unknown encoding 'utf-9'",
                     f"{path}:3:14": "unknown time_format 'unix'"}
    hints = {e.message: e.hint for e in info.value.errors}
    assert hints["unknown time_format 'unix'"] == "did you mean 'unix_s'?"
    assert hints["unknown encoding 'utf-9'"] == "did you mean 'utf-8'?"
    # a name with a null character is no codec either (Python raises ValueError for it)
    nul = _description(tmp_path, 'log: log.csv\nencoding: "\\0"\n')
    with pytest.raises(DescriptionError, match=r"unknown encoding '\\x00'"):
        Dataset.from_yaml(nul)


def test_several_problems_are_reported_at_once(tmp_path):
    path = _description(tmp_path, """\
        log: log.csv
        timezone: Mars/Base
        context:
          weather: cat
        columns: {user: u, item: i, relevence: r}
        positive_min: high
        """)
    with pytest.raises(ErrorList) as info:
        Dataset.from_yaml(path)
    places = sorted(e.where for e in info.value.errors)
    assert places == [f"{path}:2:11", f"{path}:4:12", f"{path}:5:29", f"{path}:6:15"]
    assert info.value.summary == f"{path}: 4 problems in the dataset description:"
    text = str(info.value)
    assert "did you mean 'relevance'?" in text and "positive_min must be a number, not 'high'" in text
    assert isinstance(info.value, SuggestError)


def test_missing_log_is_one_clear_error(tmp_path):
    path = _description(tmp_path, "name: x\ncolumns: {user: u}\n")
    with pytest.raises(DescriptionError) as info:
        Dataset.from_yaml(path)
    assert info.value.message == "`log` is required"
    assert info.value.where == f"{path}:1:1"


def test_context_column_that_is_also_a_role_is_an_error(tmp_path):
    path = _description(tmp_path, "log: log.csv\ncolumns: {user: u, item: i}\ncontext: {u: categorical}\n")
    with pytest.raises(DescriptionError, match="'u' is the user column and cannot also be context"):
        Dataset.from_yaml(path)


def test_log_file_not_found_names_the_path(tmp_path):
    path = _description(tmp_path, "log: nowhere.csv\n")
    with pytest.raises(DataError, match="log file not found") as info:
        load(path)
    assert info.value.where == str(tmp_path / "nowhere.csv")


def test_a_log_folder_that_is_not_there_is_not_found_not_a_format_question(tmp_path):
    """`log: logs` (a folder, misspelt): without an extension the format cannot be told, but
    the answer is that nothing is there, not to add `format:`."""
    path = _description(tmp_path, "log: logs\n")
    with pytest.raises(DescriptionError) as info:
        Dataset.from_yaml(path)
    assert info.value.message == f"log file or folder not found: {tmp_path / 'logs'}"
    assert "relative to the YAML file" in info.value.hint
    (tmp_path / "logs.dat").write_text("u,i\n", encoding="utf-8")
    there = _description(tmp_path, "log: logs.dat\n")
    with pytest.raises(DescriptionError, match="cannot tell the format of 'logs.dat'"):
        Dataset.from_yaml(there)


def test_description_paths_are_relative_to_the_yaml_file(tmp_path):
    ds = Dataset.from_dict({"log": "sub/log.tsv", "columns": {"user": "u", "item": "i"}},
                           base_dir=tmp_path)
    assert ds.log == tmp_path / "sub" / "log.tsv"
    assert (ds.format, ds.separator, ds.user, ds.item) == ("tsv", "\t", "u", "i")


# --------------------------------------------------------------------------- the real logs

needs_shared_data = pytest.mark.skipif(not SHARED_DATA.is_dir(),
                                       reason=f"shared data folder {SHARED_DATA} is absent")


def _data_lines(path: Path) -> int:
    with open(path, encoding="utf-8") as f:
        return sum(1 for line in f if line.strip()) - 1


@needs_shared_data
@pytest.mark.parametrize("name, rows, users, items", [("depaulmovie", 5_043, 97, 79),
                                                      ("incarmusic", 4_012, 42, 139)])
def test_real_log_loads_without_rejects(name, rows, users, items):
    log = load_checked(PROJECT / "data" / "datasets" / f"{name}.yaml")
    assert log.report.rows_rejected == 0 and len(log.rejects) == 0
    assert log.report.rows_in == rows == _data_lines(log.dataset.log)
    assert log.report.users == users
    assert log.report.items == items


@needs_shared_data
@pytest.mark.parametrize("name", ["depaulmovie", "incarmusic"])
def test_real_log_requests_are_distinct_user_contexts(name):
    log = load_checked(PROJECT / "data" / "datasets" / f"{name}.yaml")
    raw = pd.read_csv(log.dataset.log, dtype=str, keep_default_na=False)
    assert log.report.requests == raw.groupby(["user", *log.context]).ngroups
    assert not log.requests.duplicated(["user_id", *log.context]).any()


@needs_shared_data
def test_incarmusic_track_attributes_form_the_catalog_not_context():
    log = load_checked(PROJECT / "data" / "datasets" / "incarmusic.yaml")
    attributes = {"item_category", "item_artist", "item_title"}
    assert not attributes & set(log.context)
    assert not attributes & set(log.requests.columns)
    assert len(log.context) == 8
    assert len(log.catalog) == 139 and attributes <= set(log.catalog.columns)
    assert log.catalog["item_category"].notna().all()



def test_short_rows_alone_are_rejected_not_padded(make_dataset):
    """A file whose only flaw is short rows: pandas would pad them with empty cells."""
    path = make_dataset("user,item,daytime\nu1,news,morning\nu9\nu10,music\n\nu11,,\n")
    log = load_checked(path)
    assert log.rejects[["line", "reason"]].values.tolist() == [
        [3, "expected 3 fields separated by ',', found 1"],
        [4, "expected 3 fields separated by ',', found 2"],
    ]
    assert sorted(log.requests["user_id"]) == ["u1", "u11"]


# --------------------------------------------------------------------------- several files

def _hive(folder: Path, bad_in: str | None = None) -> Path:
    """ROWS split by day into a hive-partitioned Parquet dataset (the day as a folder)."""
    frame = pd.DataFrame(ROWS)
    frame["day"] = frame["ts"].str[:10]
    for day, part in frame.groupby("day"):
        where = folder / "events" / f"day={day}"
        where.mkdir(parents=True)
        part = part.drop(columns="day").reset_index(drop=True)
        if day == bad_in:
            part.loc[len(part)] = {**ROWS[0], "temp": "warm"}
        part.to_parquet(where / "part-0.parquet")
    return folder / "events"


def test_a_request_stored_in_two_folders_keeps_its_rows(tmp_path):
    """A request whose last row was written to the next day's folder: with the folder key
    read as context, that row disagreed with the request's first and was rejected."""
    rows = pd.DataFrame({"request": ["q1", "q1", "q2"], "user": ["u1", "u1", "u2"],
                         "item": ["a", "b", "a"],
                         "ts": pd.to_datetime(["2026-03-01T23:59:59Z"] * 2 + ["2026-03-02T08:00:00Z"],
                                              utc=True)})
    for day, part in (("2026-03-01", rows.iloc[:1]), ("2026-03-02", rows.iloc[1:])):
        (tmp_path / "events" / f"day={day}").mkdir(parents=True)
        part.to_parquet(tmp_path / "events" / f"day={day}" / "part-0.parquet")
    log = load(write_dataset(tmp_path, None, name="events",
                             columns={"request": "request", "time": "ts"}))
    assert log.report.rows_rejected == 0 and log.report.requests == 2
    assert sorted(log.truth.loc[log.truth["request_id"] == "q1", "item_id"]) == ["a", "b"]


def test_parquet_files_storing_the_same_values_in_other_physical_types_read_as_one_log(tmp_path):
    """A file re-written by another pandas stores text as large_string, or the same instants
    in another zone: the whole log was refused ("Unable to merge"). A column of numbers in
    one file and text in another still is, naming it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    instants = pd.to_datetime(["2026-03-01T08:00:00Z", "2026-03-02T09:30:00Z"], utc=True)
    (tmp_path / "events" / "day=1").mkdir(parents=True)
    (tmp_path / "events" / "day=2").mkdir(parents=True)
    pq.write_table(pa.table({"user": pa.array(["u1"], pa.string()),
                             "item": pa.array(["a"], pa.string()),
                             "ts": pa.array(instants[:1].as_unit("us"), pa.timestamp("us", "UTC")),
                             "n": pa.array([1], pa.int32())}),
                   tmp_path / "events" / "day=1" / "part-0.parquet")
    berlin = instants[1:].tz_convert("Europe/Berlin").as_unit("ns")
    pq.write_table(pa.table({"user": pa.array(["u2"], pa.large_string()),
                             "item": pa.array(["b"], pa.large_string()),
                             "ts": pa.array(berlin, pa.timestamp("ns", "Europe/Berlin")),
                             "n": pa.array([2], pa.int64())}),
                   tmp_path / "events" / "day=2" / "part-0.parquet")
    log = load(write_dataset(tmp_path, None, name="events", columns={"time": "ts"},
                             context={"n": "numeric"}))
    assert log.report.rows_rejected == 0
    assert list(log.requests["timestamp"]) == list(instants)
    assert log.requests["user_id"].tolist() == ["u1", "u2"] and log.requests["n"].tolist() == [1, 2]
    pq.write_table(pa.table({"user": ["u3"], "item": ["c"], "ts": pa.array(instants[:1]),
                             "n": ["three"]}), tmp_path / "events" / "day=2" / "part-1.parquet")
    with pytest.raises(DataError, match="disagree on a column's type.*Field n"):
        load(write_dataset(tmp_path / "again", None, name=str(tmp_path / "events"),
                           columns={"time": "ts"}, context={"n": "numeric"}))


def test_a_hive_partitioned_parquet_log_reads_like_one_file_and_rejects_name_the_file(
        tmp_path, csv_log):
    events = _hive(tmp_path, bad_in="2026-03-03")
    path = write_dataset(tmp_path, None, name="events", **{**FORMAT_SPEC, "ignore": ["day"]})
    log = load(path)
    assert Dataset.from_yaml(path).format == "parquet"  # a folder: Parquet
    assert log.report.rows_in == 6 and log.report.rows_rejected == 1
    pd.testing.assert_frame_equal(log.requests, csv_log.requests)
    pd.testing.assert_frame_equal(log.truth, csv_log.truth)
    rejected = log.rejects.iloc[0]
    assert rejected["source"] == str(events / "day=2026-03-03" / "part-0.parquet")
    assert rejected["line"] == 3 and rejected["reason"] == "temp 'warm' is not a number"
    # without `ignore`, an undeclared partition key is left out all the same (where a file
    # was stored is no context: as one, a request stored in two folders lost its rows), and
    # said so; declared under `context:`, it is a column of the log like any other
    kept = load(write_dataset(tmp_path / "kept", None, name=str(events), **FORMAT_SPEC))
    assert kept.report.inferred == {} and kept.report.ignored == ["day"]
    assert "day" not in kept.requests.columns and kept.report.rows_rejected == 1
    assert re.search(r"^ +day +ignored   \(a folder key: declare it under `context:` to use "
                     r"it\)$", kept.report.to_text(), flags=re.M)
    declared = load(write_dataset(tmp_path / "declared", None, name=str(events),
                                  **{**FORMAT_SPEC, "context": {**FORMAT_SPEC.get("context", {}),
                                                                "day": "categorical"}}))
    assert declared.report.schema["day"] == "categorical" and "day" in declared.requests.columns
    # the same description reads one day's folder, or the files by a glob, where the key is
    # in the path only: `ignore: [day]` is not a missing column there; a misspelt one is
    from suggest.workflow import load_log

    day = load_log(path, events / "day=2026-03-03")
    assert day.report.rows_in == 3 and day.report.rows_rejected == 1 and not day.report.inferred
    globbed = write_dataset(tmp_path / "g", None, name=str(events / "*" / "*.parquet"),
                            **{**FORMAT_SPEC, "ignore": ["day"]})
    assert load(globbed).report.rows_in == 6
    typo = write_dataset(tmp_path / "t", None, name=str(events / "*" / "*.parquet"),
                         **{**FORMAT_SPEC, "ignore": ["dya"]})
    with pytest.raises(DataError, match="no column 'dya' \\(named in `ignore`\\)"):
        load(typo)


def test_a_glob_of_csv_files_reads_like_one_file_and_rejects_name_the_file(tmp_path, csv_log):
    header = ",".join(ROWS[0])
    first, second = ROWS[:2], ROWS[2:]
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "a.csv").write_text(
        "\n".join([header, *(",".join(r.values()) for r in first)]) + "\n", encoding="utf-8")
    (tmp_path / "logs" / "b.csv").write_text(
        "\n".join([header, *(",".join(r.values()) for r in second),
                   ",".join({**ROWS[0], "temp": "warm"}.values())]) + "\n", encoding="utf-8")
    path = write_dataset(tmp_path, None, name="logs/*.csv", **FORMAT_SPEC)
    log = load(path)
    assert log.report.rows_in == 6 and log.report.rows_rejected == 1
    pd.testing.assert_frame_equal(log.requests, csv_log.requests)
    pd.testing.assert_frame_equal(log.truth, csv_log.truth)
    rejected = log.rejects.iloc[0]
    assert rejected["source"] == str(tmp_path / "logs" / "b.csv") and rejected["line"] == 5
    assert Dataset.from_yaml(path).name == "logs"


def test_a_reject_that_points_at_a_row_of_another_file_names_that_file(tmp_path):
    """In a log of several files a repeated (request, item) or a row that disagrees with its
    request's first row names the other row by its line, and by its file when the file is
    another: line 2 of b.csv is not the row meant."""
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "a.csv").write_text("rid,user,item,place\nq1,u1,i1,home\nq2,u2,i2,work\n")
    (tmp_path / "logs" / "b.csv").write_text("rid,user,item,place\nq1,u1,i1,home\nq2,u2,i3,gym\n"
                                             "q3,u3,i4,home\nq3,u3,i4,home\n")
    log = load(write_dataset(tmp_path, None, name="logs/*.csv", duplicates="reject",
                             columns={"request": "rid"}, context={"place": "categorical"}))
    reasons = {(Path(r.source).name, r.line): r.reason for r in log.rejects.itertuples()}
    a = str(tmp_path / "logs" / "a.csv")
    assert reasons == {
        ("b.csv", 2): f"repeats the request and item of line 2 of {a} (duplicates: reject)",
        ("b.csv", 3): f"place 'gym' differs from 'work' on line 3 of {a}, the first row of the "
                      "same request",
        ("b.csv", 5): "repeats the request and item of line 4 (duplicates: reject)"}


def test_a_glob_or_folder_without_files_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    for name, fmt in (("logs/*.csv", "csv"), ("empty", "parquet")):
        with pytest.raises(DataError, match="log names no files") as info:
            load(write_dataset(tmp_path, None, name=name, format=fmt))
        assert info.value.exit_code == 2 and "glob" in info.value.hint


def test_a_missing_value_marker_among_a_typed_columns_categories_is_missing(tmp_path):
    frame = pd.DataFrame({"user": ["u1", "u2", "u3"], "item": ["a", "b", "c"],
                          "weather": pd.Categorical(["sunny", "NULL", "rainy"])})
    (tmp_path / "t").mkdir()
    frame.to_parquet(tmp_path / "t" / "log.parquet")
    log = load(write_dataset(tmp_path / "t", None, name="log.parquet", missing_values=["NULL"],
                             context={"weather": "categorical"}))
    weather = log.requests.set_index("user_id")["weather"]
    assert weather.isna().tolist() == [False, True, False]
    assert list(weather.cat.categories) == ["rainy", "sunny"]


def test_every_file_of_a_parquet_folder_brings_its_columns_and_their_types_must_agree(tmp_path):
    """pyarrow takes a dataset's columns from its first file: a column only later files have
    would be dropped without a word."""
    for day, part in (("1", {"user": ["a"], "item": ["x"]}),
                      ("2", {"user": ["b"], "item": ["y"], "temp": [3.0]})):
        (tmp_path / "ev" / f"day={day}").mkdir(parents=True)
        pd.DataFrame(part).to_parquet(tmp_path / "ev" / f"day={day}" / "p.parquet")
    log = load(write_dataset(tmp_path, None, name="ev", context={"temp": "numeric"},
                             ignore=["day"]))
    assert log.requests.set_index("user_id")["temp"].fillna(-1).to_dict() == {"a": -1, "b": 3.0}
    pd.DataFrame({"user": ["c"], "item": ["z"], "temp": ["warm"]}).to_parquet(
        tmp_path / "ev" / "day=2" / "q.parquet")
    with pytest.raises(DataError, match="disagree on a column's type") as info:
        load(write_dataset(tmp_path, None, name="ev", context={"temp": "numeric"}))
    assert info.value.exit_code == 2 and "temp" in info.value.format()
    # the file that disagrees is named: a tester searched 29 files for an empty one
    assert f"{tmp_path / 'ev' / 'day=2' / 'q.parquet'} is the first that disagrees" in str(info.value)


@pytest.mark.parametrize("name,fmt", [("ev", "parquet"), ("ev/*.parquet", "parquet"),
                                      ("logs/*.csv", "csv")])
def test_a_link_to_a_missing_file_among_the_logs_files_is_an_error_not_left_out(tmp_path, name,
                                                                                 fmt):
    """A tester's broken link in a glob and in a hive folder: its day left out without a
    word, `data check` exit 0."""
    for folder in ("ev", "logs"):
        (tmp_path / folder).mkdir()
    pd.DataFrame({"user": ["a"], "item": ["x"]}).to_parquet(tmp_path / "ev" / "a.parquet")
    (tmp_path / "logs" / "a.csv").write_text("user,item\na,x\n")
    suffix = ".csv" if fmt == "csv" else ".parquet"
    link = tmp_path / ("logs" if fmt == "csv" else "ev") / f"b{suffix}"
    link.symlink_to(tmp_path / f"gone{suffix}")
    # an editor's lock file (a link to nothing, hidden) and other names the reader skips
    # are no error: a folder read before stopped every command
    for skipped in (".#a", "_SUCCESS", "README.txt"):
        (link.parent / skipped).symlink_to(tmp_path / "nowhere")
    with pytest.raises(DataError, match="the log names a link to a file that does not exist") as info:
        load(write_dataset(tmp_path, None, name=name, format=fmt))
    assert info.value.exit_code == 2 and info.value.where == str(link)
    assert f"gone{suffix}" in info.value.hint
    link.unlink()
    assert load(write_dataset(tmp_path, None, name=name, format=fmt)).report.rows_in == 1


@pytest.mark.parametrize("bad", ["a.parquet", "b.parquet"])
def test_a_broken_file_in_a_parquet_folder_is_named_as_unreadable(tmp_path, bad):
    """Not a complaint about column types or about the folder: the file is not Parquet at
    all (the first file is read by pyarrow's dataset itself, the others by suggest)."""
    (tmp_path / "ev").mkdir()
    for name in ("a.parquet", "b.parquet"):
        pd.DataFrame({"user": ["a"], "item": ["x"]}).to_parquet(tmp_path / "ev" / name)
    (tmp_path / "ev" / bad).write_bytes(b"user,item\nb,y\n")
    with pytest.raises(DataError, match="not a readable Parquet file") as info:
        load(write_dataset(tmp_path, None, name="ev"))
    assert info.value.exit_code == 2 and info.value.where == str(tmp_path / "ev" / bad)
    assert "move it out" in info.value.format()


def test_quoted_fields_read_fast_keep_their_commas_quotes_and_line_numbers(make_dataset,
                                                                          monkeypatch):
    import suggest.data.readers as readers

    # one line per row: pyarrow's reader, never the row-by-row one
    monkeypatch.setattr(readers, "_read_csv_exact", lambda *a, **k: pytest.fail("row by row"))
    path = make_dataset('user,item,note,temp\n'
                        'u1,i1,"a, b",1\n'                 # a separator inside quotes
                        '"u2",i2,"say ""hi""",2\n'          # doubled quotes
                        ',i3,"",3\n'                         # line 4: no user
                        'u4,i4,plain,hot\n',                 # line 5
                        context={"temp": "numeric"})
    log = load_checked(path)
    assert reasons_by_line(log) == {4: "user (user) is missing", 5: "temp 'hot' is not a number"}
    assert log.requests["note"].tolist() == ["a, b", 'say "hi"']
    assert log.events["line"].tolist() == [2, 3]


def test_a_folder_given_as_a_csv_log_asks_for_a_glob(tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "a.csv").write_text("user,item\nu1,i1\n", encoding="utf-8")
    with pytest.raises(DataError, match="is a folder, read as Parquet files") as info:
        load(write_dataset(tmp_path, None, name="logs", format="csv"))
    assert "logs/*.csv" in info.value.hint


def test_local_hour_minute_and_weekday_match_pandas_in_every_zone_and_century():
    """The Requests frame's local time fields, computed as whole-number arithmetic on each
    zone's wall clock, are pandas' own (``dt.hour``, ``dt.minute``, ``dt.day_of_week``):
    before 1970, across DST changes, in microsecond timestamps, with missing times and
    zones."""
    import zoneinfo

    import numpy as np

    from suggest.data.timefields import local_fields

    rng = np.random.default_rng(7)
    n = 30_000
    seconds = rng.integers(-3_000_000_000, 4_000_000_000, n)
    stamps = pd.Series(pd.to_datetime(seconds, unit="s", utc=True)).astype("datetime64[us, UTC]")
    stamps[rng.random(n) < 0.02] = pd.NaT
    names = sorted(zoneinfo.available_timezones())
    zones = pd.Series(rng.choice([names[i] for i in rng.choice(len(names), 40, replace=False)], n))
    zones[rng.random(n) < 0.02] = None
    got = local_fields(stamps, zones)
    for zone in zones.dropna().unique():
        rows = (zones == zone).to_numpy()
        local = stamps[rows].dt.tz_convert(zone)
        for field, expected in (("hour", local.dt.hour), ("minute", local.dt.minute),
                                ("weekday", local.dt.day_of_week)):
            np.testing.assert_array_equal(got.loc[rows, field].to_numpy(dtype=float, na_value=np.nan),
                                          expected.to_numpy(dtype=float, na_value=np.nan))
    assert got["hour"].isna().to_numpy().tolist() == (stamps.isna() | zones.isna()).tolist()


ISO_TIMES = ["2026-03-02T01:07:50-05:00", "2026-03-02T01:07:50+0530", "2026-03-02 01:07:50Z",
             "2026-03-02T01:07:50.123456789+01:00", "2026-03-02T01:07-05:00", "2026-03-02T01-05:00",
             "2026-03-02T01:07:50-05", "2026-03-02T01:07:50.5+01:00", "2026-03-02T01:07:50+14:00",
             "2026-03-02T01:07:50-00:00", "1969-12-31T23:59:59.999+00:00", "2262-04-11T00:00:00Z"]


@pytest.mark.parametrize("odd", [None, "2026-03-02T01:07:50 +01:00", "2026-3-2T01:07:50+01:00",
                                 "3000-01-01T00:00:00+00:00", "2026-02-30T01:07:50+00:00"])
def test_iso_times_with_offsets_read_the_instants_pandas_reads(odd):
    """Text times with offsets are read by Arrow's parser when it takes every one of them,
    else by pandas' (one time Arrow refuses sends the column there): either way each row
    gets the instant, or the reason, that pandas' ISO 8601 reading gives."""
    import numpy as np

    import suggest.data.timefields as timefields

    texts = ISO_TIMES * 50 + ([odd] if odd else [])
    values = pd.Series(texts, dtype="str")
    calls = []
    real = timefields._to_datetime
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(timefields, "_to_datetime", lambda *a, **k: calls.append(1) or real(*a, **k))
        got, why = timefields.parse_times(values, "iso", pd.Series("UTC", index=values.index))
    assert bool(calls) == (odd is not None)  # Arrow read the column unless a time was odd
    expected = pd.to_datetime(pd.Series(texts), format="ISO8601", utc=True, errors="coerce")
    known = expected.notna() & (expected.dt.year < 2263)
    np.testing.assert_array_equal(got[known].to_numpy(), expected[known].astype("datetime64[ns, UTC]").to_numpy())
    assert why[known].isna().all() and why[~known].notna().all()
    assert got[~known].isna().all()


def test_arrow_read_times_keep_missing_cells_and_leave_local_times_to_the_zone():
    """The whole-column Arrow reading keeps each missing cell's reason and row; one time
    without an offset sends the column to the other path, which reads it in its zone."""
    import suggest.data.timefields as timefields

    values = pd.Series(["2026-03-02T01:07:50-05:00", None, "2026-03-02T08:00:00Z"], dtype="str",
                       index=[5, 6, 7])
    zones = pd.Series("Europe/Berlin", index=values.index)
    got, why = timefields.parse_times(values, "iso", zones)
    assert got.index.tolist() == [5, 6, 7] and str(got.dtype) == "datetime64[ns, UTC]"
    assert got[5] == pd.Timestamp("2026-03-02T06:07:50Z") and pd.isna(got[6])
    assert why.isna().tolist() == [True, False, True] and why[6] == "time is missing"
    local = pd.Series(["2026-03-02T01:07:50-05:00", "2026-03-02T09:00:00"], dtype="str")
    got, why = timefields.parse_times(local, "iso", pd.Series("Europe/Berlin", index=local.index))
    assert got.tolist() == [pd.Timestamp("2026-03-02T06:07:50Z"), pd.Timestamp("2026-03-02T08:00:00Z")]
    assert why.isna().all()


def test_offsets_the_offset_pattern_misses_are_read_as_offsets_not_a_crash(make_dataset):
    """A one-digit hour before "Z" or a one-digit offset ("+1"), which pandas reads as an
    offset, beside local times: was TypeError ("Already tz-aware") or a wrong error about
    time_format; each time is now read as pandas reads it, the local ones in the zone."""
    log = ("user,item,t\nu1,i1,2026-03-02T8:00:00Z\nu2,i1,2026-03-02T09:00:00\n"
           "u3,i2,2026-03-02T08:00:00+1\nu4,i2,2026-03-02T10:00:00+01:00\nu5,i1,nonsense\n")
    loaded = load(make_dataset(log, columns={"time": "t"}, timezone="Europe/Berlin"))
    times = loaded.requests.set_index("user_id")["timestamp"]
    assert times.to_dict() == {"u1": pd.Timestamp("2026-03-02T08:00Z"),
                               "u2": pd.Timestamp("2026-03-02T08:00Z"),
                               "u3": pd.Timestamp("2026-03-02T07:00Z"),
                               "u4": pd.Timestamp("2026-03-02T09:00Z")}
    assert loaded.rejects["line"].tolist() == [6]
    alone = load(make_dataset("user,item,t\nu1,i1,2026-03-02T8:00:00Z\n", columns={"time": "t"}))
    assert alone.requests["timestamp"].tolist() == [pd.Timestamp("2026-03-02T08:00Z")]


def test_a_zone_cell_of_only_spaces_is_a_missing_zone(make_dataset):
    """Was TypeError: the cleaned cell is NaN, not None; it takes the dataset's zone."""
    log = "user,item,t,zone\nu1,i1,2026-03-02T08:00:00,  \nu2,i1,2026-03-02T08:00:00,Asia/Tokyo\n"
    loaded = load(make_dataset(log, columns={"time": "t", "timezone": "zone"}, timezone="UTC"))
    assert loaded.requests["timezone"].tolist() == ["UTC", "Asia/Tokyo"]
    assert loaded.requests["timestamp"].tolist() == [pd.Timestamp("2026-03-02T08:00Z"),
                                                     pd.Timestamp("2026-03-01T23:00Z")]


def test_request_codes_are_taken_as_they_are_only_when_factorize_would_give_them():
    """A log with nothing rejected keeps its request codes when they are already numbered
    in the order requests first appear; any other order is numbered again."""
    import numpy as np

    from suggest.data.load import _distinct_codes, _first_seen_order

    rng = np.random.default_rng(11)
    for _ in range(300):
        codes = rng.integers(-1, 6, rng.integers(1, 12))
        expected = (pd.factorize(codes, use_na_sentinel=False)[0] == codes).all() and codes.min() >= 0
        assert _first_seen_order(codes) == expected, codes.tolist()
        assert _distinct_codes(codes) == len(set(codes[codes >= 0].tolist()))


def test_local_fields_read_zones_by_label_and_far_dates_in_their_own_unit():
    from suggest.data.timefields import local_fields

    stamps = pd.Series(pd.to_datetime(["2026-03-02T00:00Z", "2026-03-02T01:00Z", "2026-03-02T02:00Z",
                                       "2500-01-01T00:00Z"], utc=True), index=[3, 2, 1, 0])
    stamps = stamps.astype("datetime64[s, UTC]")  # 2500 fits seconds, not nanoseconds
    zones = pd.Series(["UTC", "UTC", "Asia/Tokyo", "Asia/Tokyo"], index=[0, 1, 2, 3])
    got = local_fields(stamps, zones)
    assert got["hour"].tolist() == [9, 10, 2, 0]  # labels 3 and 2 in Tokyo (UTC+9), 1 and 0 in UTC
    assert got.loc[0, "weekday"] == 4  # 1 January 2500 was a Friday


def _mixed_folder(root: Path) -> Path:
    """A hive folder of small Parquet files as pipelines write them: categorical columns with
    different categories, a column only later files have, a header-only file and stored
    pandas indexes that overlap."""
    days = {"1": pd.DataFrame({"user": ["a", "b"], "item": ["x", "y"],
                               "weather": pd.Categorical(["sun", "rain"])}, index=[5, 6]),
            "2": pd.DataFrame({"user": pd.Series([], dtype=str), "item": pd.Series([], dtype=str),
                               "weather": pd.Categorical([])}),
            "3": pd.DataFrame({"user": ["c"], "item": ["z"], "weather": pd.Categorical(["fog"]),
                               "temp": [3.5]}, index=[5])}
    for day, frame in days.items():
        (root / "ev" / f"day={day}").mkdir(parents=True)
        frame.to_parquet(root / "ev" / f"day={day}" / "p.parquet")
    return root / "ev"


def test_a_parquet_folder_read_in_one_scan_equals_its_files_read_one_by_one(tmp_path):
    from suggest.data.readers import _one_by_one, _scanned, log_parts, read_parts

    folder = _mixed_folder(tmp_path)
    parts = log_parts(folder, "parquet", separator=",", encoding="utf-8", missing_values=[],
                      what="log")
    scanned, sizes = _scanned(parts)
    alone, alone_sizes = _one_by_one(parts)
    assert list(sizes) == list(alone_sizes) == [2, 0, 1]
    pd.testing.assert_frame_equal(scanned.to_pandas(), alone.to_pandas())
    table = read_parts(folder, parts)
    assert table.frame["user"].tolist() == ["a", "b", "c"]
    assert table.lines.tolist() == [1, 2, 1]
    assert table.frame["temp"].fillna(-1).tolist() == [-1, -1, 3.5]


def test_a_parquet_file_broken_past_its_footer_is_named_when_read_with_others(tmp_path):
    """The one scan of a folder fails without saying which file; the files are then read one
    by one, so the error names the broken one."""
    folder = _mixed_folder(tmp_path)
    broken = folder / "day=1" / "p.parquet"
    data = bytearray(broken.read_bytes())
    data[4:200] = b"\xff" * 196  # the column chunks; the footer at the end is left whole
    broken.write_bytes(bytes(data))
    with pytest.raises(DataError, match="not a readable Parquet file") as info:
        load(write_dataset(tmp_path, None, name="ev", ignore=["day"]))
    assert info.value.exit_code == 2 and str(broken) in info.value.format()


def test_a_dask_rejects_folder_must_hold_only_rejects_before_it_is_replaced(tmp_path):
    """The check on Dask replaces its rejects folder: a folder of anything else (a world, a
    project) named by mistake is refused before anything is removed, as is a file."""
    from suggest.data.load import check_rejects_target
    from suggest.errors import SuggestError

    ours = tmp_path / "ours"
    ours.mkdir()
    (ours / "part-00000.csv").write_text("source,line,reason,text\nlog.csv,2,bad,x\n")
    check_rejects_target(ours, folder=True)  # an earlier run's: fine
    (ours / "catalog.csv").write_text("item,genre\ni1,rock\n")  # a catalog, not rejects
    with pytest.raises(SuggestError, match="holds files that are not rejects \\('catalog.csv'\\)"):
        check_rejects_target(ours, folder=True)
    with pytest.raises(SuggestError, match="is a file"):
        check_rejects_target(ours / "part-00000.csv", folder=True)
    check_rejects_target(tmp_path / "new", folder=True)  # nothing there yet


@pytest.mark.parametrize("content", [b"user,item\nu1,i1\n", None])
def test_a_gz_log_that_is_not_gzip_or_is_cut_short_is_named(tmp_path, content):
    """'.gz' on a plain CSV, or a gzip file cut short: the error names the file and the fix,
    not "cannot use: Not a gzipped file" without a name."""
    whole = gzip.compress(b"user,item\n" + b"".join(b"u%d,i%d\n" % (i, i) for i in range(5000)))
    data = content if content is not None else whole[:len(whole) // 2]
    (tmp_path / "log.csv.gz").write_bytes(data)
    (tmp_path / "d.yaml").write_text("log: log.csv.gz\n")
    with pytest.raises(DataError, match="log file ends in .gz but is not gzip-compressed") as info:
        load(tmp_path / "d.yaml")
    assert info.value.where == str(tmp_path / "log.csv.gz")


def test_rows_rejected_for_their_bytes_come_with_the_encoding_to_set(make_dataset):
    """A Latin-1 file read as UTF-8 loses every row with an accent: the load says which
    setting reads them, not only how many were rejected."""
    path = make_dataset("user,item,place\nu1,i1,home\nu2,i2,caf\xe9\n".encode("latin-1"),
                        context={"place": "categorical"})
    log = load(path)
    assert log.report.rows_rejected == 1
    assert any("set `encoding:` in the dataset description (e.g. encoding: latin-1" in w
               for w in log.report.warnings)
    fixed = make_dataset("user,item,place\nu1,i1,home\nu2,i2,caf\xe9\n".encode("latin-1"),
                         context={"place": "categorical"}, encoding="latin-1")
    assert load(fixed).report.rows_rejected == 0


def test_times_of_several_offsets_read_in_one_zone_are_warned_of(make_dataset):
    """Users in many zones, times with their own offsets, no timezone column: hour and weekday
    are read in the description's zone, so the load says so and how to give each row's zone.
    One zone's winter and summer offsets are not such a log."""
    many = make_dataset("user,item,ts\nu1,i1,2026-03-02T00:13:00+05:30\nu2,i2,2026-03-02T08:00:00-05:00\n",
                        columns={"time": "ts"}, timezone="UTC")
    warned = [w for w in load(many).report.warnings if "different UTC offsets" in w]
    assert warned and "(+05:30, -05:00)" in warned[0] and "columns: timezone:" in warned[0]
    one_zone = make_dataset("user,item,ts\nu1,i1,2026-01-02T08:00:00-05:00\n"
                            "u2,i2,2026-07-02T08:00:00-04:00\n",
                            columns={"time": "ts"}, timezone="America/New_York")
    assert not [w for w in load(one_zone).report.warnings if "different UTC offsets" in w]


def test_timezone_offset_reads_each_time_at_its_own_offset_as_a_zone_column_would(tmp_path):
    """The sample log writes each time with its zone's offset and has a zone column: read
    with `timezone: offset` instead (the column ignored), every request's local hour, minute,
    weekday and weekend are those the zone column gives, and the rules fire on the same
    requests; a time without an offset is rejected, naming it."""
    import yaml

    from suggest.rules import RulesEngine
    from suggest.rules.mine import rules_zone

    spec = yaml.safe_load((PROJECT / "data" / "sample" / "dataset.yaml").read_text())
    spec["log"] = str(PROJECT / "data" / "sample" / "log.csv")
    spec["catalog"]["path"] = str(PROJECT / "data" / "sample" / "catalog.csv")
    del spec["columns"]["timezone"]
    spec.update(timezone="offset", ignore=["tz"])
    (tmp_path / "offset.yaml").write_text(yaml.safe_dump(spec))
    zoned, written = load(PROJECT / "data" / "sample" / "dataset.yaml"), load(tmp_path / "offset.yaml")
    fields = ["request_id", "hour", "minute", "weekday", "is_weekend"]
    pd.testing.assert_frame_equal(written.requests[fields], zoned.requests[fields])
    assert written.requests["timezone"].str.match(r"UTC([+-]\d\d:\d\d)?$").all()
    assert not [w for w in written.report.warnings if "different UTC offsets" in w]
    assert rules_zone(written) is None  # the rules read each request's own local time
    fired = [RulesEngine(str(PROJECT / "rules" / "phone.yaml"), timezone=rules_zone(log)).fit(
        log.requests, log.truth, log.catalog).fired(log.requests) for log in (zoned, written)]
    assert (fired[0] == fired[1]).all() and fired[0].any()
    lines = (PROJECT / "data" / "sample" / "log.csv").read_text().splitlines()
    cells = lines[1].split(",")
    cells[2] = cells[2][:19]  # the same time without its offset
    (tmp_path / "log.csv").write_text("\n".join([lines[0], ",".join(cells), *lines[2:40]]) + "\n")
    spec["log"] = "log.csv"
    (tmp_path / "cut.yaml").write_text(yaml.safe_dump(spec))
    reasons = reasons_by_line(load(tmp_path / "cut.yaml"))
    assert reasons == {2: f"time '{cells[2]}' has no UTC offset (`timezone: offset` reads each "
                          "time's own)"}


def test_timezone_offset_refuses_a_zone_column_beside_it_and_typed_times(make_dataset, tmp_path):
    with pytest.raises(DescriptionError, match="a timezone column gives each row's zone: choose one"):
        load(make_dataset("user,item,ts,tz\nu1,i1,2026-03-02T08:00:00+01:00,Europe/Paris\n",
                          columns={"time": "ts", "timezone": "tz"}, timezone="offset"))
    frame = pd.DataFrame({"user": ["u1"], "item": ["i1"],
                          "ts": pd.to_datetime(["2026-03-02T08:00:00Z"], utc=True)})
    frame.to_parquet(tmp_path / "log.parquet")
    (tmp_path / "d.yaml").write_text("log: log.parquet\ntimezone: offset\ncolumns: {time: ts}\n")
    with pytest.raises(DataError, match="is typed") as info:
        load(tmp_path / "d.yaml")
    assert "columns: timezone:" in info.value.hint


def test_a_rejected_json_line_is_shown_as_written_and_a_cut_line_where_it_breaks(tmp_path):
    """The rejects file shows a rejected JSON line as the file has it (not its cells joined
    by commas, `true` as True and -1 as -1.0); a line cut short breaks at its end, not at
    "column 1" of the next line."""
    lines = ['{"user": "u1", "item": "i1", "grade": 3}',
             '{"user": "u2", "item": "i2", "grade": -1, "wifi": true}',
             '{"user": "u3", "item": "i3", "grade": 2']
    (tmp_path / "log.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "d.yaml").write_text("log: log.jsonl\ncolumns: {relevance: grade}\n"
                                     "context: {wifi: boolean}\n")
    rejects = load(tmp_path / "d.yaml").rejects.set_index("line")
    assert rejects.loc[2, "text"] == lines[1]
    assert rejects.loc[3, "reason"].endswith(f"at character {len(lines[2]) + 1}")


def test_json_times_that_are_numbers_or_null_beside_text_are_rejected_not_a_crash(tmp_path):
    """A JSON log's time field may hold a number or null on some lines: the offsets check
    read the column as text and stopped with Arrow's "Expected bytes, got a 'float' object"."""
    lines = ['{"user": "u1", "item": "x", "t": "2026-03-02T08:00:00+00:00"}',
             '{"user": "u1", "item": "y", "t": 1.5}', '{"user": "u2", "item": "z", "t": null}']
    (tmp_path / "log.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "d.yaml").write_text("log: log.jsonl\ncolumns: {time: t}\n")
    log = load(tmp_path / "d.yaml")
    assert log.report.rows_ok == 1 and log.report.rows_rejected == 2


def test_the_json_report_gives_each_kind_of_reject_a_key_a_program_can_match(make_dataset):
    """`reject_reasons` are sentences naming a first value and how many others: a program
    matching them broke on every new value. `reject_kinds` set the values aside."""
    log = load_checked(make_dataset("user,item,ts\nu1,i1,yesterday\nu2,i2,tomorrow\n"
                                    "u3,i3,2026-03-02T08:00:00Z\n,i4,2026-03-02T09:00:00Z\n",
                                    columns={"time": "ts"}))
    kinds = log.report.to_dict()["reject_kinds"]
    assert kinds == [
        {"kind": "time '…' is not ISO 8601 like 2026-03-02T08:15:00+01:00", "rows": 2,
         "example": "time 'yesterday' is not ISO 8601 like 2026-03-02T08:15:00+01:00"},
        {"kind": "user (user) is missing", "rows": 1, "example": "user (user) is missing"}]
    assert sum(k["rows"] for k in kinds) == log.report.rows_rejected


@pytest.mark.parametrize("name, text, spec, words", [
    ("log.xlsx", "x", {}, "'log.xlsx' is a spreadsheet, which the tool does not read"),
    ("log.xlsx", "x", {"format": "csv"}, "log file is a spreadsheet (.xlsx), which the tool does not read"),
    ("log.zip", "x", {"format": "csv"}, "log file is a zip archive (.zip)"),
    ("log.jsonl", '[{"user": "u1", "item": "a"}]\n', {},
     "a file that is one JSON array is not read: write each object on its own line"),
    ("log.csv", "user,item,ts\nu1,a,1772438100000\n", {"columns": {"time": "ts"}},
     "for milliseconds since 1970 set `time_format: unix_ms`"),
    ("log.csv", "user,item,ts\nu1,a,1772438100000\n", {"columns": {"time": "ts"},
                                                      "time_format": "unix_s"},
     "(milliseconds? set `time_format: unix_ms`)"),
    ("log.csv", "user,item,ts\nu1,a,02/03/2026 08:15\n", {"columns": {"time": "ts"}},
     "a day and month with slashes: set `time_format: '%d/%m/%Y %H:%M'`"),
    # the pattern its own parts need (a fixed '%d/%m/%Y %H:%M' was set, and hinted again)
    ("log.csv", "user,item,ts\nu1,a,28/02/2026 20:49:58\n", {"columns": {"time": "ts"}},
     "set `time_format: '%d/%m/%Y %H:%M:%S'`, or '%m/%d/%Y %H:%M:%S' when the month comes"),
    ("log.csv", "user,item,ts\nu1,a,02/28/26 20:49\n", {"columns": {"time": "ts"},
                                                        "time_format": "%d/%m/%y %H:%M"},
     "is not the format '%d/%m/%y %H:%M' (set `time_format: '%m/%d/%y %H:%M'` if the month"),
    ("log.csv", "user,item,ts\nu1,a,31/02/2026 20:49\n", {"columns": {"time": "ts"},
                                                          "time_format": "%d/%m/%Y %H:%M"},
     "'%d/%m/%Y %H:%M' (no such date or time: month 01-12"),
    ("log.csv", "user;item;temp\nu1;a;26,5\n", {"separator": ";", "context": {"temp": "numeric"}},
     "temp '26,5' is not a number (a decimal comma: numbers are read with '.' as the decimal mark"),
])
def test_an_export_the_tool_cannot_read_as_written_is_named_with_its_fix(make_dataset, name, text,
                                                                         spec, words):
    """A data engineer's exports: spreadsheets and archives read as CSV printed compressed
    bytes; a JSON array, epoch milliseconds, day/month dates and decimal commas got no hint
    or the wrong one (unix_s for milliseconds, a day/month pattern without the seconds)."""
    path = make_dataset(text, name=name, **spec)
    with pytest.raises(SuggestError) as info:
        load(path)
    assert words in info.value.format(), info.value.format()


def test_a_categorical_value_written_like_a_decimal_is_kept_as_written(make_dataset):
    """A PM's app version "8.0" was read as "8": a rule on "8.0" never fired in the replay,
    and a declared list naming "8.0" rejected the very rows that held it. A JSON number 3.0
    is still the id "3"."""
    text = "user,item,app\nu1,a,8.0\nu2,b,7.1\nu3,c,8.0\n"
    log = load(make_dataset(text, context={"app": {"type": "categorical", "values": ["8.0", "7.1"]}}))
    assert log.report.rows_rejected == 0
    assert log.requests["app"].astype(str).tolist() == ["8.0", "7.1", "8.0"]
    log = load(make_dataset('{"user": 3.0, "item": "a"}\n', name="log.jsonl"))
    assert log.requests["user_id"].astype(str).tolist() == ["3"]


@pytest.mark.parametrize("text", ["2026-11-01T05:30:00z", "2026-11-01 05:30z",
                                  "2026-11-01t05:30:00Z", "2026-11-01t05:30:00z"])
def test_a_lowercase_z_is_utc_in_a_log_as_in_a_context(make_dataset, text):
    """RFC 3339 allows 'z' and 't'; contexts read them, and a log rejected its rows as a
    date that does not exist ("month 01-12, a day its month has ...")."""
    log = load(make_dataset(f"user,item,ts\nu1,a,{text}\nu2,b,2026-11-01T06:30:00+01:00\n",
                            columns={"user": "user", "item": "item", "time": "ts"}))
    assert log.report.rows_rejected == 0
    assert log.requests["timestamp"].tolist() == [pd.Timestamp("2026-11-01 05:30", tz="UTC")] * 2


@pytest.mark.parametrize("fmt, text, skipped, advice", [
    ("iso", "2026-11-01 01:30", "2026-03-08 02:30", "write it with its UTC offset"),
    ("%d/%m/%Y %H:%M", "01/11/2026 01:30", "08/03/2026 02:30",
     "write every time with its UTC offset and add %z to time_format")])
def test_a_repeated_or_skipped_local_time_says_which_and_its_offsets(make_dataset, fmt, text,
                                                                     skipped, advice):
    """Both read "does not exist or is ambiguous (DST change); write it with its UTC offset":
    a tester could not tell which, nor which offsets, and under a strftime pattern the
    advice could not be followed for one row (an offset in every time or in none)."""
    log = load(make_dataset(f"user,item,ts\nu1,a,{text}\nu2,b,{skipped}\nu3,c,{text.replace('01:30', '03:30')}\n",
                            columns={"user": "user", "item": "item", "time": "ts"},
                            timezone="America/New_York", time_format=fmt))
    reasons = reasons_by_line(log)
    assert reasons[2] == (f"local time '{text}' comes twice in America/New_York (a DST change: "
                          "the clocks went back): at -04:00 and again at -05:00; "
                          + reasons[2].split("; ", 1)[1])
    assert reasons[3].startswith(f"local time '{skipped}' does not exist in America/New_York "
                                 "(a DST change: the clocks jumped past it); ")
    assert advice in reasons[2] and advice in reasons[3] and log.report.rows_ok == 1


def test_a_zone_that_is_one_offset_all_year_is_named_with_the_clock_it_may_mean(make_dataset):
    """IANA's EST is -05:00 all year: a New York user's July hour read an hour early, while
    EDT was refused with a hint and EST taken without a word."""
    log = load(make_dataset("user,item,ts,tz\nu1,a,2026-07-01T08:00:00,EST\n"
                            "u2,b,2026-07-01T08:00:00,America/New_York\n",
                            columns={"user": "user", "item": "item", "time": "ts", "timezone": "tz"}))
    assert log.requests["hour"].tolist() == [8, 8]  # read as written, in each row's zone
    assert (log.requests["timestamp"].dt.hour.tolist() == [13, 12])  # EST: -05:00 in July too
    assert any(w.startswith("'EST' is UTC-05:00 all year, with no summer time") and
               "America/New_York" in w for w in log.report.warnings)
    clean = load(make_dataset("user,item,ts,tz\nu1,a,2026-07-01T08:00:00,America/New_York\n",
                              columns={"user": "user", "item": "item", "time": "ts", "timezone": "tz"}))
    assert not any("all year" in w for w in clean.report.warnings)


def test_a_lowercase_t_without_an_offset_is_read_in_the_zone(make_dataset):
    log = load(make_dataset("user,item,ts\nu1,a,2026-07-01t08:00:00\nu2,b,2026-07-01T08:00:00\n",
                            columns={"user": "user", "item": "item", "time": "ts"},
                            timezone="Europe/Berlin"))
    assert log.report.rows_rejected == 0 and log.requests["hour"].tolist() == [8, 8]


def test_the_columns_typed_on_threads_reject_a_row_for_its_first_fault(make_dataset, monkeypatch):
    """check_rows types the columns on threads; a row with several faults must still be
    rejected for the first in the columns' order (user, time, then the context columns in
    the file's order), and every frame be the one a single thread gives."""
    import importlib

    loading = importlib.import_module("suggest.data.load")  # the module, not its load()

    path = make_dataset("""\
        user,item,ts,temp,weather,request
        ,i1,2026-03-02T08:00:00+00:00,warm,sunny,r1
        u2,i2,yesterday,warm,sunny,r2
        u3,i3,2026-03-02T09:00:00+00:00,hot,foggy,r3
        u4,i4,2026-03-02T10:00:00+00:00,7,foggy,
        u5,i5,2026-03-02T11:00:00+00:00,8,sunny,r5
        """, columns={"time": "ts", "request": "request"},
        context={"temp": "numeric",
                 "weather": {"type": "categorical", "values": ["sunny", "rainy"]}})
    threaded = load(path)
    reasons = reasons_by_line(threaded)
    assert reasons[2] == "user (user) is missing"
    assert reasons[3].startswith("time 'yesterday'")
    assert reasons[4] == "temp 'hot' is not a number"
    assert reasons[5].startswith("weather 'foggy' is not an allowed value")
    assert threaded.report.rows_ok == 1
    monkeypatch.setattr(loading, "THREADS", 1)
    alone = load(path)
    pd.testing.assert_frame_equal(threaded.rejects, alone.rejects)
    for name in ("requests", "truth", "events"):
        pd.testing.assert_frame_equal(getattr(threaded, name), getattr(alone, name))
