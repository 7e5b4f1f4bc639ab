"""Splits that cannot leak (by time with a gap, by user, by group) and the leakage check,
on a world with planted near-duplicates where the winner flips with the split."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from suggest.data import load
from suggest.engines import get_engine
from suggest.errors import SuggestError
from suggest.replay import replay
from suggest.splits import leakage, split

from conftest import churning_log, write_dataset


def _frames(n=400, seed=0, time=True):
    rng = np.random.default_rng(seed)
    requests = pd.DataFrame({"request_id": [f"q{i:04d}" for i in range(n)],
                             "user_id": rng.choice([f"u{u}" for u in range(40)], n),
                             "place": rng.choice(["home", "work", "car"], n)})
    if time:
        requests["timestamp"] = pd.Timestamp("2026-03-01", tz="UTC") + pd.to_timedelta(
            np.sort(rng.uniform(0, 30 * 24, n)), unit="h")
    truth = pd.DataFrame({"request_id": requests["request_id"],
                          "item_id": rng.choice(list("abcdef"), n), "relevance": 1.0})
    return requests, truth


def test_user_and_group_splits_keep_each_user_or_value_on_one_side():
    requests, truth = _frames()
    for how, column in (("user", "user_id"), ("group:place", "place")):
        part = split(requests, truth, 0.25, seed=3, how=how)
        assert not set(part.train[column]) & set(part.test[column])
        assert len(part.train) + len(part.test) == len(requests)
        assert set(part.test_truth["request_id"]) <= set(part.test["request_id"])
    by_user = split(requests, truth, 0.25, seed=3, how="user")
    assert 0.1 < len(by_user.test) / len(requests) < 0.4  # whole users: about the share asked
    assert by_user.leakage["users_in_both"] == 0.0 and by_user.leakage["user_item"] == 0.0


def test_a_gap_leaves_out_the_test_requests_just_after_the_cut():
    requests, truth = _frames()
    plain = split(requests, truth, 0.25)
    gapped = split(requests, truth, 0.25, gap="2d")
    cut = plain.train["timestamp"].max()
    assert len(gapped.train) == len(plain.train)
    assert gapped.test["timestamp"].min() > cut + pd.Timedelta("2D")
    assert gapped.left_out == len(plain.test) - len(gapped.test) > 0
    assert "leaving out the" in gapped.how and not set(gapped.test_truth["request_id"]) - set(
        gapped.test["request_id"])
    # the gap as written, not '2 days 00:00:00'; then where the requests scored start
    assert gapped.how.endswith(" within 2d after the cut; held out from "
                               f"{gapped.test['timestamp'].min().tz_convert('UTC')}")
    # where the held-out part starts, said (a PM found it nowhere)
    first = plain.test["timestamp"].min().tz_convert("UTC")
    assert plain.how == f"by time: the latest 25% of requests, from {first}"


@pytest.mark.parametrize("gap", ["90", "2.5", " 3 "])
def test_a_gap_without_a_unit_is_refused_not_read_as_nanoseconds(gap):
    requests, truth = _frames()
    with pytest.raises(SuggestError) as info:
        split(requests, truth, 0.25, gap=gap)
    assert "has no unit" in str(info.value) and f"{gap.strip()}h" in info.value.hint


@pytest.mark.parametrize("how, gap, words", [
    ("time", None, "needs a time column"),
    ("users", None, "did you mean 'user'?"),
    ("group:plce", None, "did you mean 'place'?"),
    ("group:nope", None, "its context columns are 'place'$"),  # not its ids nor its time fields
    ("request", "1h", "--gap applies to a split by time"),
])
def test_a_split_the_log_cannot_take_is_a_clear_error(how, gap, words):
    requests, truth = _frames(time=False)
    with pytest.raises(SuggestError) as info:
        split(requests, truth, 0.2, how=how, gap=gap)
    assert re.search(words.replace("?", r"\?"), f"{info.value}; {info.value.hint}")


def test_leakage_counts_what_the_training_part_has_already_seen():
    requests = pd.DataFrame({"request_id": list("abcd"), "user_id": ["u", "u", "v", "v"],
                             "place": ["home", "home", "car", "work"]})
    truth = pd.DataFrame({"request_id": list("abcd"), "item_id": ["x", "x", "y", "z"],
                          "relevance": 1.0})
    part = split(requests, truth, 0.5, seed=0, how="request")
    test_ids = set(part.test["request_id"])
    # by hand: a test request leaks a (user, item) when its user engaged the same item in training
    seen = {(r.user_id, t) for r, t in zip(part.train.itertuples(), truth.set_index(
        "request_id").loc[part.train["request_id"], "item_id"])}
    expected = np.mean([(requests.set_index("request_id").loc[q, "user_id"],
                         truth.set_index("request_id").loc[q, "item_id"]) in seen for q in test_ids])
    assert leakage(part)["user_item"] == pytest.approx(expected)


def test_user_context_leakage_counts_test_requests_whose_user_and_context_training_saw():
    """A missing value matches a missing value; categories the other part lacks and booleans
    compare by value; numbers are left out (a reviewer's battery level made the share ~0: a
    number seldom repeats exactly). By hand: of the four test requests, q4 (u, home, NA),
    q5 (u, home, NA: its battery of 2.5 is no matter) and q6 (v, missing place, True) have a
    training twin; q7 (another user) does not."""
    from suggest.splits import Split

    def frame(ids, users, places, battery, flags):
        return pd.DataFrame({"request_id": ids, "user_id": pd.Series(users, dtype="str"),
                             "place": pd.Categorical(places), "battery": battery,
                             "plugged": pd.array(flags, dtype="boolean")})
    train = frame(["q0", "q1", "q2", "q3"], ["u", "u", "v", "w"], ["home", "work", None, "car"],
                  [1.5, 2.0, 2.0, np.nan], [None, True, True, False])
    test = frame(["q4", "q5", "q6", "q7"], ["u", "u", "v", "x"], ["home", "home", None, "car"],
                 [1.5, 2.5, 2.0, np.nan], [None, None, True, False])
    none = pd.DataFrame(columns=["request_id", "item_id", "relevance"])
    part = Split(train, test, none, none, "by hand", "request", 0)
    assert leakage(part)["user_context"] == 0.75
    test.loc[1, "plugged"] = False  # q5's flag differs now: no twin
    assert leakage(Split(train, test, none, none, "by hand", "request", 0))["user_context"] == 0.5


def test_users_in_both_counts_each_user_once_and_requests_of_seen_users_each_request():
    """A heavy returning user and two newcomers: one user of three is in both parts, while
    three requests of five come from a user training saw (the figure once called a share
    of users)."""
    from suggest.splits import Split

    train = pd.DataFrame({"request_id": ["q0", "q1"], "user_id": ["u", "x"]})
    test = pd.DataFrame({"request_id": ["q2", "q3", "q4", "q5", "q6"],
                         "user_id": ["u", "u", "u", "v", "w"]})
    none = pd.DataFrame(columns=["request_id", "item_id", "relevance"])
    leak = leakage(Split(train, test, none, none, "by hand", "request", 0))
    seen = set(train["user_id"])
    users = set(test["user_id"])
    assert leak["users_in_both"] == round(len(users & seen) / len(users), 4)
    assert leak["requests_of_seen_users"] == test["user_id"].isin(seen).mean()
    assert leak["users_in_both"] < leak["requests_of_seen_users"]


def _near_duplicates(folder):
    """Visitors rate the items of one sitting under several contexts (no time), while what a
    new visitor picks follows popularity: remembering a visitor's items wins only when copies
    of a test request sit in training."""
    rng = np.random.default_rng(5)
    items = [f"place{i}" for i in range(30)]
    weights = np.linspace(3, 0.2, len(items))
    rows = []
    for user in range(300):
        liked = rng.choice(items, 3, replace=False, p=weights / weights.sum())
        for companion in ("alone", "family", "friends", "partner"):
            rows.append((f"v{user}", rng.choice(liked), companion))
    log = pd.DataFrame(rows, columns=["user", "item", "companion"])
    log.to_csv(folder / "log.csv", index=False)
    return write_dataset(folder, None, context={"companion": "categorical"})


def test_the_check_fires_on_near_copies_and_a_split_by_user_removes_the_flip(tmp_path):
    log = load(_near_duplicates(tmp_path))
    runs = {}
    for how in ("request", "user"):
        engines = {"popular": get_engine("popular"), "user-history": get_engine("user-history")}
        runs[how] = replay(log, engines, tmp_path / how, split_by=how, latency_sample=0)
    by_request, by_user = runs["request"], runs["user"]
    assert by_request["leakage"]["user_item"] > 0.5 and by_request["leakage"]["warning"]
    assert "--split user" in by_request["verdict"]["caution"]
    # the (user, item) share is over the requests with a positive, and says so
    assert "of the test requests with a positive have a (user, item)" in by_request["verdict"][
        "caution"]
    assert by_user["leakage"]["warning"] is None and by_user["leakage"]["users_in_both"] == 0
    ndcg = {how: {n: e["ndcg@5"] for n, e in run["engines"].items()} for how, run in runs.items()}
    assert ndcg["request"]["user-history"] > ndcg["request"]["popular"]  # flattered by copies
    assert ndcg["user"]["popular"] > ndcg["user"]["user-history"]        # the honest verdict


def _sessions(folder, request_column=True):
    """Visitors in sittings of two or three requests (a session id per sitting, 200 of them),
    each sitting at one place; a session's requests share its items."""
    rng = np.random.default_rng(11)
    rows, n = [], 0
    for s in range(200):
        user, place = f"u{s % 40}", rng.choice(["home", "work"])
        start = pd.Timestamp("2026-03-01", tz="UTC") + pd.Timedelta(hours=int(rng.integers(0, 600)))
        for j in range(int(rng.integers(2, 4))):
            n += 1
            rows.append({"req": f"q{n}", "user": user, "session": f"s{s}", "place": place,
                         "time": (start + pd.Timedelta(minutes=j)).isoformat(),
                         "item": f"i{(s + j) % 9}"})
    pd.DataFrame(rows).to_csv(folder / "log.csv", index=False)
    columns = {"time": "time", "group": "session", **({"request": "req"} if request_column else {})}
    return write_dataset(folder, None, columns=columns, context={"place": "categorical"})


def test_a_group_column_splits_whole_sessions_and_is_neither_context_nor_a_feature(tmp_path):
    from suggest.ranker.model import RankerEngine

    log = load(_sessions(tmp_path))
    assert "group_id" in log.requests.columns and log.requests["group_id"].nunique() == 200
    assert "group_id" not in log.context and "session" not in log.requests.columns
    part = split(log.requests, log.truth, 0.25, seed=2, how="group")
    assert not set(part.train["group_id"]) & set(part.test["group_id"])
    assert 0.15 < len(part.test) / len(log.requests) < 0.35
    assert "groups of session, the group column" in part.how  # named as the log names it
    ranker = RankerEngine(n_estimators=3, validation_by="group").fit(part.train, part.train_truth)
    assert not [n for n in ranker.features_.names_ if "group" in n]
    assert ranker.validation_["split"].startswith("seeded by groups of session, the group column")
    summary = replay(log, {"popular": get_engine("popular")}, tmp_path / "run", split_by="group",
                     latency_sample=0)
    assert summary["split"].startswith("seeded split by groups of session, the group column")
    results = pd.read_parquet(tmp_path / "run" / "results.parquet")
    assert "place" in results.columns and "group_id" not in results.columns  # not a segment
    with pytest.raises(SuggestError, match="names none") as info:
        split(*_frames(), 0.2, how="group")
    assert "`group: COLUMN` under `columns:`" in info.value.hint


def test_rows_of_one_request_must_agree_on_their_group_and_without_a_request_column_it_keys_them(
        tmp_path):
    path = _sessions(tmp_path)
    frame = pd.read_csv(tmp_path / "log.csv")
    clash = pd.concat([frame.iloc[:1].assign(session="s999", item="i8"), frame])
    clash.to_csv(tmp_path / "log.csv", index=False)
    log = load(path)
    assert log.report.rows_rejected == 1
    assert "session 's0' differs from 's999' on line 2" in log.rejects["reason"].iloc[0]
    # no request column: the same user, place and time in two sessions are two requests
    (tmp_path / "keyless").mkdir()
    keyless = _sessions(tmp_path / "keyless", request_column=False)
    frame = pd.read_csv(keyless.parent / "log.csv")
    twin = frame.iloc[:1].assign(session="s999")
    pd.concat([frame, twin]).to_csv(keyless.parent / "log.csv", index=False)
    assert len(load(keyless).requests) == len(frame) + 1


def test_a_catalog_that_churns_is_measured_and_cautioned_in_the_verdict(tmp_path):
    log = load(churning_log(tmp_path))
    engines = {"popular": get_engine("popular"), "random": get_engine("random")}
    summary = replay(log, engines, tmp_path / "run", latency_sample=0)
    part = split(log.requests, log.truth, 0.2)
    known = part.test_truth["item_id"].isin(set(part.train_truth["item_id"]))
    assert summary["leakage"]["new_items"] == round(1 - known.mean(), 4)
    assert summary["leakage"]["new_items"] > 0.8  # the last six days: three of them new
    caution = summary["verdict"]["new_items"]
    assert f"{1 - known.mean():.0%} of the held-out engagements are on items no training" in caution
    assert any(s.startswith("Caution: ") and "--test-share" in s for s in summary["verdict"]["sentences"])
    # a log whose items all appear early: no caution
    requests, truth = _frames()
    assert leakage(split(requests, truth, 0.2))["new_items"] == 0.0
