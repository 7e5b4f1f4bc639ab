"""Logs of what was shown (bandit feedback): the position and propensity roles, their checks
and the load report's line on them."""

from __future__ import annotations

import pytest

from suggest.errors import DescriptionError

from conftest import load_checked, reasons_by_line, write_dataset

SHOWN = {"columns": {"request": "req", "relevance": "clicked", "position": "pos",
                     "propensity": "prop"}}
LOG = """\
    req,user,item,pos,prop,clicked,place
    q1,u1,a,1,0.5,1,home
    q1,u1,b,2,0.25,0,home
    q2,u2,b,1,0.5,0,work
    q2,u2,c,2,0.125,1,work
    q3,u1,a,1,0,0,home
    q3,u1,c,2,1.5,0,home
    q4,u2,a,0,0.5,1,work
    q4,u2,b,2.5,0.5,0,work
    q5,u1,c,1,,1,home
    q5,u1,d,,0.5,0,home
    q6,u2,d,1,1,0,work
    q6,u2,e,1,0.5,1,work
    q7,u1,a,1,x,0,home
    """


def test_a_log_of_what_was_shown_keeps_position_and_propensity_and_rejects_bad_ones(tmp_path):
    log = load_checked(write_dataset(tmp_path, LOG, **SHOWN))
    reasons = reasons_by_line(log)
    assert sorted(reasons) == [6, 7, 8, 9, 10, 11, 12, 13, 14]
    assert "propensity (prop) '0' is not above 0" in reasons[6]
    assert "propensity (prop) '1.5' is not above 0" in reasons[7]
    assert "position (pos) '0' is not a whole number >= 1" in reasons[8]
    assert "position (pos) '2.5' is not a whole number" in reasons[9]
    assert reasons[10] == "propensity (prop) is missing on a shown row"
    assert reasons[11] == "position (pos) is missing on a shown row"
    # a place shows one item: a second item at a request's position is refused, naming the first
    assert reasons[13] == "position 1 of its request is shown already on line 12 (a position " \
                          "shows one item)"
    assert reasons[14] == "propensity (prop) 'x' is not a number"
    # a request that lost a shown row goes with it (its other row would stand alone)
    assert reasons[12] == "another shown row of the request (line 13) was rejected: a request " \
                          "missing a shown item would be scored as if nothing had been shown there"
    events = log.events.set_index(["request_id", "item_id"])
    assert events.loc[("q2", "c"), "position"] == 2 and events.loc[("q2", "c"), "propensity"] == 0.125
    assert str(log.events["position"].dtype) == "int64"
    # shown rows not engaged are known negatives: kept in Events, not in Truth
    assert len(log.events) == 4 and len(log.truth) == 2
    assert log.report.shown == {"rows": 4, "requests": 2, "engaged": 2, "positions": [1, 2],
                                "propensity": [0.125, 0.5]}
    text = log.report.to_text()
    assert "shown (bandit feedback): 4 rows over 2 requests, 2 engaged; positions 1 to 2; " \
           "propensity 0.125 to 0.5" in text


def test_a_request_that_lost_a_shown_row_is_rejected_whole_so_ips_does_not_lean_low(tmp_path):
    """Each request shows two items at propensity 0.5 and the first is always clicked; a
    missing propensity on the second row of half the requests took that row alone, leaving
    its request scored as if nothing had been shown there. Now the request goes, and the
    IPS of the logging policy's own lists is what the complete requests give (1 / 0.5 = 2
    engagements' worth a request), not less."""
    from suggest.counterfactual import estimate, shown_rows

    rows = ["req,user,item,pos,prop,clicked"]
    for r in range(20):
        rows += [f"q{r},u{r % 3},a,1,0.5,1", f"q{r},u{r % 3},b,2,{'' if r % 2 else 0.5},0"]
    log = load_checked(write_dataset(tmp_path, "\n".join(rows) + "\n", **SHOWN))
    assert log.report.rows_rejected == 20 and len(log.requests) == 10
    reasons = reasons_by_line(log)
    assert reasons[4].startswith("another shown row of the request (line 5) was rejected")
    shown = shown_rows(log.events)
    lists = shown.rename(columns={"position": "rank"})[["request_id", "rank", "item_id"]]
    assert estimate(shown, lists, k=2, n_boot=0)["ips"]["value"] == 2.0


def test_a_click_written_as_a_second_row_of_the_same_place_is_merged_not_refused(tmp_path):
    """The same item again at its position (shown, then clicked) is a duplicate row for
    `duplicates:` to merge; only another item at a taken position is refused."""
    log = load_checked(write_dataset(tmp_path, """\
        req,user,item,pos,prop,clicked
        q1,u1,a,1,0.5,0
        q1,u1,b,2,0.5,0
        q1,u1,a,1,0.5,1
        q2,u2,b,1,0.5,0
        """, **SHOWN))
    assert log.report.rows_rejected == 0
    assert log.truth[["request_id", "item_id", "relevance"]].values.tolist() == [["q1", "a", 1.0]]


def test_a_log_without_the_roles_has_no_shown_line(tmp_path):
    log = load_checked(write_dataset(tmp_path, LOG, columns={"request": "req",
                                                             "relevance": "clicked"}))
    assert log.report.shown == {} and "shown (bandit feedback)" not in log.report.to_text()
    assert "position" not in log.events.columns
    assert log.report.schema["pos"] == "numeric"  # an unnamed column is context, as ever


@pytest.mark.parametrize("given, missing", [("position", "propensity"), ("propensity", "position")])
def test_one_of_position_and_propensity_alone_is_a_description_error(tmp_path, given, missing):
    columns = {"request": "req", given: "pos" if given == "position" else "prop"}
    path = write_dataset(tmp_path, LOG, columns=columns)
    with pytest.raises(DescriptionError, match=f"needs both position and propensity columns; "
                                               f"{missing} is not named") as info:
        load_checked(path)
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1)
                if text.strip().startswith(f"{given}:"))
    assert f"dataset.yaml:{line}:" in str(info.value)  # the file and line of the key given


def test_a_rejected_row_that_loses_no_shown_item_takes_nothing_along(tmp_path):
    """A repeat of a pair rejected under `duplicates: reject` (its first row still shows the
    item) and a row with no item (it showed nothing) lose no shown item: their requests keep
    their other rows."""
    log = load_checked(write_dataset(tmp_path / "repeat", """\
        req,user,item,pos,prop,clicked
        q1,u1,a,1,0.5,1
        q1,u1,a,1,0.5,1
        q1,u1,b,2,0.5,0
        """, duplicates="reject", **SHOWN))
    assert log.report.rows_rejected == 1 and len(log.events) == 2
    log = load_checked(write_dataset(tmp_path / "nothing", """\
        req,user,item,pos,prop,clicked
        q1,u1,a,1,0.5,1
        q1,u1,,,,1
        q1,u1,b,2,0.5,0
        """, **SHOWN))
    assert log.report.rows_rejected == 1 and len(log.events) == 2
