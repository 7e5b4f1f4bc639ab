"""The baselines on small hand-made logs whose answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd

from conftest import traced_peak
from suggest.engines.baselines import ContextPopular, Popular, Random, UserHistory


def frames(rows):
    """rows: (request_id, user, iso time, location, engaged items)."""
    requests = pd.DataFrame({
        "request_id": [r[0] for r in rows], "user_id": [r[1] for r in rows],
        "timestamp": pd.to_datetime([r[2] for r in rows], utc=True),
        "location": pd.Categorical([r[3] for r in rows])})
    truth = pd.DataFrame([(r[0], item, 1.0) for r in rows for item in r[4]],
                         columns=["request_id", "item_id", "relevance"])
    return requests, truth


def items(out, request_id):
    return out.loc[out["request_id"] == request_id, "item_id"].astype(str).tolist()


def test_popular_orders_by_count_then_item_id():
    requests, truth = frames([("a", "u1", "2026-03-01T08:00Z", "home", ["x", "y"]),
                              ("b", "u2", "2026-03-01T09:00Z", "home", ["y", "z"]),
                              ("c", "u3", "2026-03-01T10:00Z", "work", ["w", "x"])])
    out = Popular().fit(requests, truth).suggest(requests.head(1), 3)
    assert items(out, "a") == ["x", "y", "w"]  # x and y twice; w before z by id
    assert out["score"].tolist() == [2.0, 2.0, 1.0]


def test_context_popular_uses_the_slice_then_backs_off_to_popular():
    rows = [(f"h{i}", "u", "2026-03-01T08:00Z", "home", ["tv"]) for i in range(5)]
    rows += [(f"w{i}", "u", "2026-03-01T08:00Z", "work", ["mail"]) for i in range(6)]
    rows += [("g0", "u", "2026-03-01T08:00Z", "gym", ["music"])]  # below min_support
    requests, truth = frames(rows)
    engine = ContextPopular(columns=["location"], min_support=5).fit(requests, truth)
    out = engine.suggest(requests, 2)
    assert items(out, "h0") == ["tv", "mail"]
    assert items(out, "w0") == ["mail", "tv"]
    assert items(out, "g0") == ["mail", "tv"]  # gym has 1 engagement: popular only
    reasons = out.loc[out["request_id"] == "h0", "reason"].astype(str).tolist()
    assert reasons == ["context-popular:location=home", "popular"]


def test_context_popular_full_slice_counts_a_missing_value_as_a_value():
    """A column the log never fills (or fills for some requests only) must not switch the
    slice of every column off: a missing value is a value of its own there."""
    rows = [(f"h{i}", "u", "2026-03-01T08:00Z", "home", ["tv"]) for i in range(5)]
    rows += [(f"k{i}", "u", "2026-03-01T08:00Z", "home", ["radio"]) for i in range(6)]
    rows += [(f"w{i}", "u", "2026-03-01T08:00Z", "work", ["mail"]) for i in range(7)]
    requests, truth = frames(rows)
    mood = ["calm"] * 5 + [None] * 6 + [None] * 7  # missing for the 'k' and 'w' requests
    requests["mood"] = pd.Categorical(mood)
    engine = ContextPopular(columns=["location", "mood"], min_support=5).fit(requests, truth)
    out = engine.suggest(requests, 1)
    assert items(out, "h0") == ["tv"] and items(out, "k0") == ["radio"]
    assert out.loc[out["request_id"] == "k0", "reason"].astype(str).tolist() == [
        "context-popular:location=home,mood=(missing)"]
    # a column missing everywhere leaves the lists as without it
    requests["mood"] = pd.Categorical([None] * len(rows), categories=["calm"])
    both = ContextPopular(columns=["location", "mood"], min_support=5).fit(requests, truth)
    alone = ContextPopular(columns=["location"], min_support=5).fit(requests, truth)
    assert both.suggest(requests, 3)["item_id"].tolist() == alone.suggest(requests, 3)["item_id"].tolist()


def test_context_popular_asked_again_answers_as_a_fresh_engine():
    """Lists are remembered per (k, context) across calls (a replay's chunks share most
    contexts): another k, another context and a refit each give a fresh engine's lists."""
    rows = [(f"h{i}", "u", "2026-03-01T08:00Z", "home", ["tv", "radio"]) for i in range(5)]
    rows += [(f"w{i}", "u", "2026-03-01T08:00Z", "work", ["mail"]) for i in range(6)]
    requests, truth = frames(rows)
    engine = ContextPopular(columns=["location"], min_support=5).fit(requests, truth)
    assert items(engine.suggest(requests.head(1), 1), "h0") == ["radio"]
    assert items(engine.suggest(requests, 3), "h0") == ["radio", "tv", "mail"]
    assert items(engine.suggest(requests, 1), "w0") == ["mail"]
    swapped = truth.assign(item_id=truth["item_id"].replace({"tv": "news", "radio": "news"}))
    engine.fit(requests, swapped)
    assert items(engine.suggest(requests.head(1), 1), "h0") == ["news"]


def test_context_popular_with_a_huge_k_costs_what_its_lists_cost():
    """A k of a million: the lists are as wide as the longest, not a million columns a
    slice and then a request (a billion asked for tens of GiB); the scores still fall by 1/k."""
    rows = [(f"h{i}", "u", "2026-03-01T08:00Z", "home", ["tv"]) for i in range(5)]
    rows += [(f"w{i}", "u", "2026-03-01T08:00Z", "work", ["mail", "tv"]) for i in range(6)]
    requests, truth = frames(rows)
    engine = ContextPopular(columns=["location"], min_support=5).fit(requests, truth)
    short = engine.suggest(requests, 5)
    out, peak = traced_peak(lambda: engine.suggest(requests, 10**6))
    assert peak < 4 * 2**20  # requests x k cells were 3 x 88 MB here
    assert out[["request_id", "rank", "item_id", "reason"]].equals(
        short[["request_id", "rank", "item_id", "reason"]])
    assert out["score"].tolist() == [1.0 - (r - 1) / 10**6 for r in out["rank"]]


def test_user_history_counts_only_the_users_events_strictly_before():
    requests, truth = frames([("a", "u1", "2026-03-01T08:00Z", "home", ["x"]),
                              ("b", "u1", "2026-03-02T08:00Z", "home", ["y"]),
                              ("c", "u2", "2026-03-02T08:00Z", "home", ["z"])])
    engine = UserHistory().fit(requests, truth)
    out = engine.suggest(requests, 5)
    assert items(out, "a") == []           # nothing before the first request
    assert items(out, "b") == ["x"]        # its own engagement (same instant) does not count
    assert items(out, "c") == []           # another user's history never counts
    later = pd.DataFrame({"request_id": ["d"], "user_id": ["u1"],
                          "timestamp": pd.to_datetime(["2026-03-03T08:00Z"], utc=True)})
    assert items(engine.suggest(later, 5), "d") == ["x", "y"]


def test_user_history_ignores_events_after_the_request():
    requests, truth = frames([("a", "u1", "2026-03-01T08:00Z", "home", ["x"]),
                              ("b", "u1", "2026-03-05T08:00Z", "home", ["y", "y2"])])
    engine = UserHistory().fit(requests, truth)
    probe = pd.DataFrame({"request_id": ["p"], "user_id": ["u1"],
                          "timestamp": pd.to_datetime(["2026-03-03T08:00Z"], utc=True)})
    before = items(engine.suggest(probe, 5), "p")
    changed = pd.concat([truth, pd.DataFrame({"request_id": ["b"] * 3, "item_id": ["q", "r", "s"],
                                              "relevance": 1.0})])
    after = items(UserHistory().fit(requests, changed).suggest(probe, 5), "p")
    assert before == after == ["x"]


def test_random_is_seeded_per_request_and_covers_the_catalog():
    requests = pd.DataFrame({"request_id": [f"r{i}" for i in range(3000)], "user_id": "u"})
    truth = pd.DataFrame({"request_id": "r0", "item_id": [f"i{j:02d}" for j in range(20)],
                          "relevance": 1.0})
    engine = Random(seed=1).fit(requests, truth)
    out = engine.suggest(requests, 3)
    again = engine.suggest(requests.iloc[[2999, 5]], 3)
    assert items(again, "r5") == items(out, "r5") and items(again, "r2999") == items(out, "r2999")
    other = Random(seed=2).fit(requests, truth).suggest(requests, 3)
    assert (out["item_id"].astype(str).to_numpy() != other["item_id"].astype(str).to_numpy()).mean() > 0.5
    share = out["item_id"].astype(str).value_counts(normalize=True)
    assert len(share) == 20 and np.allclose(share.to_numpy(), 1 / 20, atol=0.015)


def old_random_lists(engine: Random, request_ids: list[str], k: int) -> list[list[str]]:
    """The reference: ``random`` before it was bounded, a full stable sort of every
    request's keys over the whole catalog."""
    from suggest.hashing import mix64

    k = min(k, len(engine.items_))
    request_hash = pd.util.hash_array(np.array(request_ids, dtype=object))
    request_hash = mix64(request_hash ^ mix64(np.array([engine.seed % 2**64], dtype=np.uint64)))
    item_hash = mix64(np.arange(len(engine.items_), dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15))
    order = np.argsort(mix64(request_hash[:, None] ^ item_hash[None, :]), axis=1, kind="stable")
    return [list(engine.items_[row[:k]]) for row in order]


def test_random_gives_the_same_lists_as_a_full_sort_in_blocks_and_one_at_a_time():
    """Same seed, same output across the change that stopped sorting whole catalogs: the
    lists equal the old algorithm's, whatever the block of requests held at once."""
    requests = pd.DataFrame({"request_id": [f"r{i}" for i in range(257)], "user_id": "u"})
    truth = pd.DataFrame({"request_id": "r0", "item_id": [f"i{j:03d}" for j in range(131)],
                          "relevance": 1.0})
    for seed, k in [(0, 10), (7, 1), (2**70, 131), (3, 500)]:
        engine = Random(seed=seed).fit(requests, truth)
        expected = old_random_lists(engine, requests["request_id"].tolist(), k)
        for cells in (10**7, 1000, 1):  # all at once, 7 requests a block, one a block
            engine.block_cells = cells
            out = engine.suggest(requests, k)
            assert [items(out, r) for r in requests["request_id"]] == expected
        one = engine.suggest_one({"request_id": "r42", "user_id": "u"}, k)
        assert one["item_id"].astype(str).tolist() == expected[42]


def test_random_keeps_the_leftmost_of_tied_keys_as_a_stable_sort_does():
    from suggest.engines.baselines import smallest_keys

    rng = np.random.default_rng(0)
    for _ in range(200):
        n, m = rng.integers(1, 20), rng.integers(1, 30)
        keys = rng.integers(0, rng.integers(1, 5), (n, m)).astype(np.uint64)  # many ties
        for k in {0, 1, int(rng.integers(0, m + 1)), int(m)}:
            assert (smallest_keys(keys, k) == np.argsort(keys, axis=1, kind="stable")[:, :k]).all()


def test_random_memory_does_not_grow_with_requests_times_catalog():
    """8,000 requests over 20,000 items held a 2.6 GB key table and took 26 s."""
    requests = pd.DataFrame({"request_id": [f"r{i}" for i in range(3000)], "user_id": "u"})
    truth = pd.DataFrame({"request_id": "r0", "item_id": [f"i{j}" for j in range(5000)],
                          "relevance": 1.0})
    engine = Random().fit(requests, truth)
    engine.suggest(requests.iloc[:2], 10)
    out, peak = traced_peak(lambda: engine.suggest(requests, 10))
    assert len(out) == 30_000
    assert peak < 80e6  # the whole table is 15M keys: 120 MB of keys, 240 MB more to sort them


def test_engines_fitted_from_counts_added_over_cuts_suggest_as_fitted_whole(tmp_path):
    """What a cluster does (:mod:`suggest.daskfit`): each cut of the training requests is
    counted on its own and the counts are added up; the fitted engines answer as if fitted
    on the whole part, for every slice (the cuts are not by context)."""
    from pathlib import Path

    from suggest import synth
    from suggest.data import load
    from suggest.engines.base import add_counts
    from suggest.rules import RulesEngine

    synth.generate(synth.preset_config("context", users=40, days=10, seed=3), tmp_path)
    log = load(tmp_path / "dataset.yaml")
    requests = log.requests.assign(  # a slice column with missing values
        weather=log.requests["weather"].where(np.arange(len(log.requests)) % 5 != 0))
    train, test = requests.iloc[:-400], requests.iloc[-400:]
    truth = log.truth[log.truth["request_id"].isin(train["request_id"])]
    cuts = np.random.default_rng(0).integers(0, 3, len(train))
    rules = Path(__file__).resolve().parents[1] / "rules" / "phone.yaml"
    for make in (Popular, lambda: ContextPopular(min_support=3), lambda: Random(seed=2),
                 lambda: RulesEngine(str(rules))):
        whole = make().fit(train, truth, log.catalog)
        parts = []
        for c in range(3):
            mine = train[cuts == c]
            parts.append(make().counts(mine, truth[truth["request_id"].isin(mine["request_id"])]))
        added = make().fit_counts(add_counts(parts), train.iloc[:0], log.catalog)
        pd.testing.assert_frame_equal(added.suggest(test, 10), whole.suggest(test, 10))
    assert whole.counts(train, truth) is not None
    assert UserHistory().counts(train, truth) is None  # learns from whole frames
