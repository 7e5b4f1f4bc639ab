"""Point-in-time features: nothing at or after a request's time reaches its features.

The leakage tests fit the ranker once on a small synthetic world, then refit
its candidate sources and statistics (``prepare``) on copies of the log whose
engagements after a cut are changed, multiplied or deleted, and rebuild the
features of every request up to the cut on the same candidates: each row,
and the booster's score of it, must be the same to the bit.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from suggest.data import load
from suggest.ranker import RankerEngine
from suggest.data.timefields import with_time_fields
from suggest.ranker.features import CANDIDATE_FEATURES, RECENT_DAYS, Features
from suggest.synth import generate, preset_config

ROOT = Path(__file__).resolve().parents[1]
PHONE = str(ROOT / "rules" / "phone.yaml")
FAST = {"n_estimators": 40, "early_stopping_rounds": 10, "explain": False}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("world")
    generate(preset_config("default", users=60, days=21, seed=5), folder)
    log = load(folder / "dataset.yaml")
    requests = log.requests.sort_values(["timestamp", "request_id"], kind="stable").reset_index(drop=True)
    return requests, log.truth, log.catalog


@pytest.fixture(scope="module")
def fitted(world):
    requests, truth, catalog = world
    return RankerEngine(rules=PHONE, **FAST).fit(requests, truth, catalog)


@pytest.fixture(scope="module")
def probes(world, fitted):
    """Every request up to the cut (60% of the window), their candidates, features, scores."""
    requests, truth, _ = world
    cut = requests["timestamp"].iloc[int(len(requests) * 0.6)]
    asked = requests[requests["timestamp"] <= cut].reset_index(drop=True)
    cand = fitted.candidates_.generate(asked, training=True)
    X = fitted.features_.build(asked, cand, training=True)
    return cut, asked, cand, X, fitted.booster_.predict(X.to_numpy())


# -- alterations of everything at or after the cut ------------------------------------------
def later(requests, truth, cut):
    late = set(requests.loc[requests["timestamp"] >= cut, "request_id"])
    return truth["request_id"].isin(late)


def change_items(requests, truth, catalog, cut):
    items = catalog["item_id"].astype(str).tolist()
    moved = {item: items[(i + 7) % len(items)] for i, item in enumerate(items)}
    truth = truth.copy()
    mask = later(requests, truth, cut)
    truth.loc[mask, "item_id"] = truth.loc[mask, "item_id"].astype(str).map(moved)
    return requests, truth


def add_many(requests, truth, catalog, cut):
    rng = np.random.default_rng(0)
    items = catalog["item_id"].astype(str).to_numpy()
    late = requests[requests["timestamp"] >= cut]
    extra = pd.DataFrame({"request_id": np.repeat(late["request_id"].to_numpy(), 3),
                          "item_id": rng.choice(items, 3 * len(late)), "relevance": 1.0})
    # and a copy of every later request, an hour on, engaging with five random items
    copies = late.assign(request_id="copy-" + late["request_id"].astype(str),
                         timestamp=late["timestamp"] + pd.Timedelta(hours=1))
    copied = pd.DataFrame({"request_id": np.repeat(copies["request_id"].to_numpy(), 5),
                           "item_id": rng.choice(items, 5 * len(copies)), "relevance": 1.0})
    return (pd.concat([requests, copies], ignore_index=True),
            pd.concat([truth, extra, copied], ignore_index=True))


def drop_engagements(requests, truth, catalog, cut):
    return requests, truth[~later(requests, truth, cut)]


def drop_requests(requests, truth, catalog, cut):
    keep = requests[requests["timestamp"] < cut]
    return keep, truth[truth["request_id"].isin(keep["request_id"])]


ALTERATIONS = [change_items, add_many, drop_engagements, drop_requests]


@pytest.mark.parametrize("alter", ALTERATIONS, ids=lambda f: f.__name__)
def test_later_events_change_no_feature_and_no_score(alter, world, fitted, probes):
    requests, truth, catalog = world
    cut, asked, cand, X, scores = probes
    new_requests, new_truth = alter(requests, truth, catalog, cut)
    assert not new_truth.reset_index(drop=True).equals(truth.reset_index(drop=True))
    other = copy.copy(fitted)
    other.prepare(new_requests, new_truth, catalog)
    for training in (True, False):
        rebuilt = other.features_.build(asked, cand, training=training)
        pd.testing.assert_frame_equal(rebuilt, X, check_exact=True)
    np.testing.assert_array_equal(fitted.booster_.predict(rebuilt.to_numpy()), scores)
    # the same alteration from the first day on does change them: the check can fail
    if alter is change_items:
        earlier = copy.copy(fitted)
        earlier.prepare(*alter(requests, truth, catalog, requests["timestamp"].min()), catalog)
        changed = earlier.features_.build(asked, cand, training=True)
        assert (changed["user_item_count"] != X["user_item_count"]).mean() > 0.1
        # and every family of the point-in-time features reads the engagements, so the
        # bit-for-bit comparison above covers each of them (but the user's diversity, which
        # renaming items one to one keeps: counted by hand below)
        for name in ("ctx_share", "item_share_recent", "user_ctx_count:location", "user_ctx_share",
                     "user_ctx_share:activity", "affinity:category", "rank:popular", "rank:context",
                     "rank:history"):
            assert not changed[name].equals(X[name]), name


def test_later_events_change_no_candidate_of_a_training_request(world, fitted, probes):
    """Popular, context-popular and rule-slice candidates of a training request come from
    sources fitted on earlier blocks of the window only."""
    requests, truth, catalog = world
    cut, asked, cand, _, _ = probes
    other = copy.copy(fitted)
    other.prepare(*change_items(requests, truth, catalog, cut), catalog)
    pd.testing.assert_frame_equal(other.candidates_.generate(asked, training=True), cand)


def engaged_rows(requests, truth, fitted):
    """Every request, its engaged (row, item) pairs, and their features as training builds
    them: the rows the by-hand counts below check."""
    asked = requests.reset_index(drop=True)
    engaged = truth.assign(row=pd.Index(asked["request_id"]).get_indexer(truth["request_id"]),
                           item_id=truth["item_id"].astype(str))
    cand = engaged[["row", "item_id"]].reset_index(drop=True)
    return asked, engaged, fitted.features_.build(asked, cand, training=True)


def test_a_training_row_never_counts_its_own_engagement(world, fitted):
    requests, truth, _ = world
    asked, engaged, X = engaged_rows(requests, truth, fitted)
    # by hand: the same user's engagements with the item at strictly earlier times
    events = engaged.assign(user_id=asked["user_id"].to_numpy()[engaged["row"]],
                            t=asked["timestamp"].to_numpy()[engaged["row"]])
    pairs = events[["row", "user_id", "item_id", "t"]].reset_index(drop=True)
    pairs["i"] = np.arange(len(pairs))
    both = pairs.merge(events[["user_id", "item_id", "t"]], on=["user_id", "item_id"],
                       suffixes=("", "_e"))
    earlier = both[both["t_e"] < both["t"]].groupby("i").size()
    expected = earlier.reindex(pairs["i"]).fillna(0).to_numpy()
    np.testing.assert_array_equal(X["user_item_count"].to_numpy(), expected)
    assert (expected == 0).any() and (expected > 3).any()
    # a user's first engagement with an item: nothing counted, no "hours since"
    first = expected == 0
    assert X.loc[first, "user_item_hours_since"].isna().all()
    assert X.loc[~first, "user_item_hours_since"].gt(0).all()
    # the user's total before the request and the item's share overall, also by hand
    user_before = pairs.merge(events[["user_id", "t"]], on="user_id", suffixes=("", "_e"))
    totals = user_before[user_before["t_e"] < user_before["t"]].groupby("i").size()
    np.testing.assert_allclose(X["user_total"], np.log1p(totals.reindex(pairs["i"]).fillna(0)), rtol=1e-6)
    # the recent window by hand: engagements in the RECENT_DAYS before the request, strictly before it
    start = lambda frame: frame["t"] - pd.Timedelta(days=RECENT_DAYS)  # noqa: E731
    mine = both[(both["t_e"] < both["t"]) & (both["t_e"] >= start(both))].groupby("i").size()
    total = user_before[(user_before["t_e"] < user_before["t"])
                        & (user_before["t_e"] >= start(user_before))].groupby("i").size()
    mine, total = (c.reindex(pairs["i"]).fillna(0).to_numpy() for c in (mine, total))
    share = np.where(total > 0, mine / np.maximum(total, 1), np.nan)
    np.testing.assert_allclose(X["user_item_share_recent"], share, rtol=1e-6)
    np.testing.assert_allclose(X["user_recent"], np.log1p(total), rtol=1e-6)
    assert (mine < expected).any() and (mine > 0).any()  # the window leaves older engagements out


def test_context_history_affinity_diversity_and_trend_are_the_past_counted_by_hand(world, fitted):
    """The user's history within each context value and within the full slice, the
    affinity to the item's category, the user's diversity and the item's recent share,
    for every engaged (request, item) row: what a slow join over earlier engagements
    counts, strictly before the request's time."""
    requests, truth, catalog = world
    asked, engaged, X = engaged_rows(requests, truth, fitted)
    category = catalog.assign(item_id=catalog["item_id"].astype(str)).set_index("item_id")["category"]
    slices = fitted.features_.slices_
    events = engaged.assign(t=asked["timestamp"].to_numpy()[engaged["row"]],
                            category=engaged["item_id"].map(category).astype(str),
                            **{c: asked[c].astype(str).to_numpy()[engaged["row"]]
                               for c in ["user_id", *slices]})
    rows = events.reset_index(drop=True).assign(i=lambda f: np.arange(len(f)))
    sample = rows.sample(n=600, random_state=1).sort_values("i")  # a cross join of 600 x events
    X, rows = X.iloc[sample["i"]].reset_index(drop=True), sample.assign(i=np.arange(len(sample)))
    past = rows.merge(events, on="user_id", suffixes=("", "_e"))
    past = past[past["t_e"] < past["t"]]
    count = lambda mask: past[mask].groupby("i").size().reindex(rows["i"]).fillna(0).to_numpy()  # noqa: E731
    total = count(np.ones(len(past), bool))
    for col in ("location", "activity"):
        same = past[col + "_e"] == past[col]
        mine, slice_total = count(same & (past["item_id_e"] == past["item_id"])), count(same)
        np.testing.assert_array_equal(X[f"user_ctx_count:{col}"], mine)
        np.testing.assert_allclose(X[f"user_ctx_share:{col}"],
                                   np.where(slice_total > 0, mine / np.maximum(slice_total, 1), np.nan),
                                   rtol=1e-6)
        assert (mine < X["user_item_count"]).any() and (mine > 0).any()  # not the user's whole past
    whole_slice = np.logical_and.reduce([past[c + "_e"] == past[c] for c in slices])
    mine, slice_total = count(whole_slice & (past["item_id_e"] == past["item_id"])), count(whole_slice)
    np.testing.assert_array_equal(X["user_ctx_count"], mine)
    np.testing.assert_allclose(X["user_ctx_share"],
                               np.where(slice_total > 0, mine / np.maximum(slice_total, 1), np.nan), rtol=1e-6)
    assert (mine > 0).any()
    in_category = count(past["category_e"] == past["category"])
    np.testing.assert_allclose(X["affinity:category"],
                               np.where(total > 0, in_category / np.maximum(total, 1), np.nan), rtol=1e-6)
    first = past.sort_values("t_e").drop_duplicates(["i", "item_id_e"])
    distinct = first.groupby("i").size().reindex(rows["i"]).fillna(0).to_numpy()
    np.testing.assert_allclose(X["user_distinct_share"],
                               np.where(total > 0, distinct / np.maximum(total, 1), np.nan), rtol=1e-6)
    # the full slice and the recent share: everyone's engagements
    everyone = rows.merge(events, how="cross", suffixes=("", "_e"))
    everyone = everyone[everyone["t_e"] < everyone["t"]]
    whole = everyone[np.logical_and.reduce([everyone[c + "_e"] == everyone[c] for c in slices])]
    hits = whole[whole["item_id_e"] == whole["item_id"]].groupby("i").size()
    size = whole.groupby("i").size()
    share = (hits.reindex(rows["i"]).fillna(0) / size.reindex(rows["i"])).to_numpy()
    np.testing.assert_allclose(X["ctx_share"], share, rtol=1e-6)
    recent = everyone[everyone["t_e"] >= everyone["t"] - pd.Timedelta(days=RECENT_DAYS)]
    hits = recent[recent["item_id_e"] == recent["item_id"]].groupby("i").size()
    size = recent.groupby("i").size()
    share = (hits.reindex(rows["i"]).fillna(0) / size.reindex(rows["i"])).to_numpy()
    np.testing.assert_allclose(X["item_share_recent"], share, rtol=1e-6)


def test_rank_features_order_each_requests_candidates_as_the_baselines_would(world, fitted, probes):
    """``rank:*``: 1 for the best candidate of its request by the baseline's score, ties by
    the next score then the item's code, NaN last."""
    _, asked, cand, X, _ = probes
    frame = X.assign(row=cand["row"].to_numpy())
    for name, by in [("rank:popular", ["item_share"]), ("rank:context", ["ctx_share", "item_share"]),
                     ("rank:history", ["user_item_count", "item_share"])]:
        keys = frame[by].fillna(-np.inf).mul(-1).assign(item=frame["item"], row=frame["row"])
        order = keys.sort_values(["row", *by, "item"], kind="stable").index
        expected = frame.loc[order].groupby("row").cumcount() + 1
        np.testing.assert_array_equal(X.loc[order, name], expected.to_numpy(), err_msg=name)
    assert X["rank:history"].ne(X["rank:popular"]).mean() > 0.3  # two different opinions


def test_requests_at_the_same_moment_do_not_see_each_other():
    stamp = ["2026-03-01T08:00Z", "2026-03-01T09:00Z", "2026-03-01T09:00Z", "2026-03-01T10:00Z"]
    requests = pd.DataFrame({"request_id": ["a", "b", "c", "d"], "user_id": "u",
                             "timestamp": pd.to_datetime(stamp, utc=True),
                             "place": pd.Categorical(["home"] * 4)})
    truth = pd.DataFrame({"request_id": ["a", "b", "c", "d"], "item_id": "x", "relevance": 1.0})
    features = Features().fit(requests, truth)
    X = features.build(requests, pd.DataFrame({"row": [0, 1, 2, 3], "item_id": "x"}), training=True)
    assert X["user_item_count"].tolist() == [0, 1, 1, 3]
    assert X["user_item_hours_since"].tolist()[1:] == [1.0, 1.0, 1.0]


# -- a log without time: out-of-fold statistics -------------------------------------------
def untimed():
    requests = pd.DataFrame({"request_id": [f"r{i:02d}" for i in range(24)],
                             "user_id": ["a"] * 12 + ["b"] * 12,
                             "place": pd.Categorical(["home", "work", "gym"] * 8)})
    items = list("xyxzxyyyzxyy" "xxzzyxwxzzyx")
    truth = pd.DataFrame({"request_id": requests["request_id"], "item_id": items, "relevance": 1.0})
    return requests, truth


def test_without_time_a_training_row_sees_only_the_other_folds():
    requests, truth = untimed()
    features = Features(folds=3, seed=1).fit(requests, truth)
    fold = features.train_folds_.reindex(requests["request_id"]).to_numpy()
    assert len(set(fold)) == 3
    items = sorted(set(truth["item_id"]))
    cand = pd.DataFrame([(r, i) for r in range(len(requests)) for i in items], columns=["row", "item_id"])
    X = features.build(requests, cand, training=True)
    served = features.build(requests, cand, training=False)
    user = requests["user_id"].to_numpy()
    place = requests["place"].astype(str).to_numpy()
    engaged = truth["item_id"].to_numpy()
    for n, (row, item) in enumerate(zip(cand["row"], cand["item_id"])):
        other = fold != fold[row]
        mine = other & (user == user[row])
        assert X.at[n, "user_item_count"] == (mine & (engaged == item)).sum()
        assert X.at[n, "user_total"] == pytest.approx(np.log1p(mine.sum()))
        assert X.at[n, "item_share"] == pytest.approx((other & (engaged == item)).sum() / other.sum())
        in_slice = other & (place == place[row])
        assert X.at[n, "slice_share:place"] == pytest.approx(
            (in_slice & (engaged == item)).sum() / in_slice.sum())
        mine_here = mine & (place == place[row])
        assert X.at[n, "user_ctx_count:place"] == (mine_here & (engaged == item)).sum()
        # served (not a training row): every engagement counts
        assert served.at[n, "user_item_count"] == ((user == user[row]) & (engaged == item)).sum()
    assert X["user_item_hours_since"].isna().all()


def test_without_time_the_history_source_of_a_training_row_is_out_of_fold_too(monkeypatch):
    """The candidates' history flag is a history feature: for a training row it must
    come from the other folds, or a request's own engagement marks its answer."""
    requests, truth = untimed()
    built = []
    original = Features.build

    def build(self, requests, cand, training=False):
        X = original(self, requests, cand, training)
        built.append((training, X))
        return X

    monkeypatch.setattr(Features, "build", build)
    engine = RankerEngine(**FAST, min_child_samples=1).fit(requests, truth)
    training = [X for flag, X in built if flag]
    assert len(training) == 2  # the train and validation parts
    for X in training:
        np.testing.assert_array_equal(X["src_history"], X["user_item_count"] > 0)
    # a request whose item the user engaged with in no other fold: not a history candidate
    lonely = pd.concat(training)
    assert ((lonely["user_item_count"] == 0) & (lonely["src_history"] == 0)).any()
    # served, the whole training window is history
    built.clear()
    engine.suggest(requests, 3)
    X = built[-1][1]
    np.testing.assert_array_equal(X["src_history"], X["user_item_count"] > 0)


def test_string_context_columns_are_categories():
    """A Requests frame built by hand has text columns of pandas' ``str`` dtype."""
    requests, truth = untimed()
    requests = requests.assign(place=requests["place"].astype(str))
    features = Features(folds=3).fit(requests, truth)
    assert features.context_["place"] == ("categorical", ["gym", "home", "work"])
    X = features.build(requests, pd.DataFrame({"row": [0, 1, 2], "item_id": "x"}))
    assert X["ctx:place"].tolist() == [1, 2, 0]


@pytest.mark.parametrize("timed", [True, False], ids=["with time", "without time"])
@pytest.mark.parametrize("memo", [1 << 22, 1])  # 1: the kept vectors start over on every context
def test_one_context_served_reads_what_the_search_counts(memo, timed, world, monkeypatch):
    """Serving (after the training window; without time, any context) reads feature vectors
    kept per (group, prefix) instead of searching every event: for known and unknown users,
    items and slice values, and missing ones, every feature must equal the search's to the
    bit, also when the kept vectors start over."""
    from suggest.ranker.serving import ServingTable

    monkeypatch.setattr(ServingTable, "MEMO", memo)
    filled, fill = [], ServingTable.fill
    monkeypatch.setattr(ServingTable, "fill", lambda self, *args: filled.append(1) or fill(self, *args))
    requests, truth, catalog = world
    if not timed:
        requests = requests.drop(columns=["timestamp", "timezone"])
    cut = int(len(requests) * 0.7)
    features = Features().fit(requests.iloc[:cut], truth, catalog)
    later = with_time_fields(requests.iloc[cut:]).sample(n=40, random_state=4)
    rng = np.random.default_rng(4)
    for i, (_, row) in enumerate(later.iterrows()):
        ctx = {}
        for col, (kind, cats) in features.context_.items():
            value = row[col]
            if kind == "categorical" and i % 5 == 1:
                value = None if i % 2 else "never seen"
            ctx[col] = (int(Features._category_codes(pd.Series([value], dtype=object), cats)[0])
                        if kind == "categorical" else float(value))
        times = {col: float(row[col]) for col in ("hour", "weekday", "is_weekend")} if timed else {}
        user = features._user_codes(pd.Series([row["user_id"] if i % 7 else "someone new"]))
        item = rng.choice(np.arange(-1, len(features.items_)), size=12, replace=False)
        when = pd.Timestamp(row["timestamp"]).value if timed else -1  # -1: a row served, every fold
        assert not timed or when > features.counts_.counter.latest
        extra = np.zeros((len(CANDIDATE_FEATURES), len(item)), dtype=np.float32)
        extra[CANDIDATE_FEATURES.index("src_popular")] = 1
        head = list(ctx.values()) + list(times.values())
        late = features.one(head, item, int(user[0]), [ctx[col] for col in features.slices_], when, extra)
        assert len(filled) == i + 1, "the kept vectors were not read"
        search = features.assemble(ctx, times, item, user, np.array([when]), extra)
        np.testing.assert_array_equal(late, search)


def test_features_of_a_window_without_engagements_are_all_unseen(world):
    """A training part without a single engagement (a tiny log): no full slice was seen, so
    every context's is unseen, and its shares are missing, not an IndexError."""
    requests, truth, catalog = world
    features = Features().fit(requests, truth.iloc[:0], catalog)
    assert len(features.combos_) == 0 and "ctx_share" in features.names_
    some = requests.iloc[:5].reset_index(drop=True)
    cand = pd.DataFrame({"row": np.repeat(np.arange(5), 2), "item_id": ["a", "b"] * 5})
    X = features.build(some, cand)
    assert X.shape == (10, len(features.names_))
    assert X["ctx_share"].isna().all() and (X["user_total"] == 0).all()
