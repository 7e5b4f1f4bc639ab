"""PastCounts: weighted counts and last times strictly before a moment, per key."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from suggest.history import PastCounts, nanoseconds

BIG = np.iinfo(np.int64).max


def brute_count(keys, times, weights, ask_keys, ask_times):
    return np.array([weights[(keys == k) & (times < t)].sum() for k, t in zip(ask_keys, ask_times)])


def test_an_event_at_exactly_t_is_not_counted():
    past = PastCounts(np.array([0, 0, 0]), np.array([10, 20, 20]))
    got = past.count(np.zeros(5, np.int64), np.array([9, 10, 11, 20, 21]))
    assert got.tolist() == [0.0, 0.0, 1.0, 1.0, 3.0]


def test_counts_are_per_key_and_an_unknown_key_counts_nothing():
    past = PastCounts(np.array([3, 1, 3, 1, 1]), np.array([5, 5, 6, 1, 9]))
    got = past.count(np.array([1, 3, 2, 0, 7, 1]), np.array([10, 10, 10, 10, 10, 6]))
    assert got.tolist() == [3.0, 2.0, 0.0, 0.0, 0.0, 2.0]


def test_weights_are_added_instead_of_ones():
    past = PastCounts(np.array([0, 0, 1, 0]), np.array([1, 2, 1, 3]), np.array([0.5, 2.0, 7.0, 4.0]))
    got = past.count(np.array([0, 0, 0, 1, 1]), np.array([2, 3, 4, 1, 2]))
    assert got.tolist() == [0.5, 2.5, 6.5, 0.0, 7.0]


def test_events_given_in_any_order_count_the_same():
    rng = np.random.default_rng(3)
    keys, times = rng.integers(0, 4, 300), rng.integers(0, 50, 300)
    weights = rng.random(300)
    ask_k, ask_t = rng.integers(0, 5, 500), rng.integers(-1, 52, 500)
    got = PastCounts(keys, times, weights).count(ask_k, ask_t)
    np.testing.assert_allclose(got, brute_count(keys, times, weights, ask_k, ask_t), atol=1e-9)


def test_last_time_is_the_latest_event_strictly_before():
    past = PastCounts(np.array([0, 0, 0, 1]), np.array([10, 30, 20, 5]))
    got = past.last_time(np.array([0, 0, 0, 0, 1, 1, 2]), np.array([10, 11, 30, 31, 5, 6, 99]))
    np.testing.assert_array_equal(got, [np.nan, 10, 20, 30, np.nan, 5, np.nan])


def test_nanosecond_clocks_since_1970_do_not_overflow():
    stamps = pd.Series(pd.to_datetime(["2026-03-02T08:00:00.000000001Z", "2026-03-02T09:00:00Z",
                                       "2262-04-11T00:00:00Z"], utc=True, format="ISO8601"))
    t = nanoseconds(stamps)
    past = PastCounts(np.array([0, 0, 0]), t)
    got = past.count(np.zeros(4, np.int64), np.array([t[0], t[0] + 1, t[2], BIG]))
    assert got.tolist() == [0.0, 1.0, 2.0, 3.0]
    # hours since the last use, as the ranker computes it: exact to well under a second
    last = past.last_time(np.zeros(2, np.int64), np.array([t[1] + 3_600 * 10**9, t[0] + 1]))
    np.testing.assert_allclose((np.array([t[1] + 3_600 * 10**9, t[0] + 1]) - last) / 3.6e12, [1.0, 0.0],
                               atol=1e-9)


def test_negative_and_extreme_times_count_correctly():
    times = np.array([-BIG - 1, -5, 0, 3, BIG - 1, BIG])
    past = PastCounts(np.zeros(6, np.int64), times)
    ask = np.array([-BIG - 1, -BIG, -5, -4, 0, 1, BIG - 1, BIG])
    assert past.count(np.zeros(8, np.int64), ask).tolist() == [0, 1, 1, 2, 2, 3, 4, 5]
    np.testing.assert_array_equal(past.last_time(np.zeros(3, np.int64), np.array([-4, 1, -BIG - 1])),
                                  [-5.0, 0.0, np.nan])


@pytest.mark.parametrize("largest_key", [2**20, 2**40, 2**55, BIG])
def test_large_keys_with_many_distinct_times_do_not_overflow(largest_key):
    rng = np.random.default_rng(7)
    distinct = np.concatenate([rng.integers(0, largest_key, 4, endpoint=True), [largest_key]])
    keys = distinct[rng.integers(0, len(distinct), 400)]
    times = rng.integers(-10**18, 10**18, 400)
    ask_k = np.concatenate([keys[rng.integers(0, 400, 300)], [largest_key - 1, 0]])
    ask_t = rng.integers(-10**18, 10**18, len(ask_k))
    got = PastCounts(keys, times).count(ask_k, ask_t)
    np.testing.assert_array_equal(got, brute_count(keys, times, np.ones(400), ask_k, ask_t))


def test_no_events_and_no_questions():
    empty = PastCounts(np.zeros(0, np.int64), np.zeros(0, np.int64))
    assert empty.count(np.array([0, 5]), np.array([1, BIG])).tolist() == [0.0, 0.0]
    assert np.isnan(empty.last_time(np.array([0]), np.array([1]))).all()
    past = PastCounts(np.array([1]), np.array([1]))
    assert past.count(np.zeros(0, np.int64), np.zeros(0, np.int64)).shape == (0,)


def test_unweighted_counts_keep_one_eight_byte_number_an_event_and_read_back_every_event():
    """What the ranker's statistics (and each Dask worker given them) hold grows by 8 bytes
    an event: keys, times and counts are read back from the one sorted array."""
    rng = np.random.default_rng(5)
    # as the ranker's: many events a key and a time (an engagement counts in every group)
    keys, times = rng.integers(0, 50, 20_000), rng.integers(0, 1_000, 20_000) * 10**12
    past = PastCounts(keys, times)
    per_event = sum(v.nbytes for v in vars(past).values()
                    if isinstance(v, np.ndarray) and len(v) == len(keys))
    assert per_event == 8 * len(keys)
    got_keys, got_times = past.events()
    order = np.lexsort((times, keys))
    np.testing.assert_array_equal(got_keys, keys[order])
    np.testing.assert_array_equal(got_times, times[order])
    assert past.latest == times.max()
    ask_k, ask_t = rng.integers(0, 51, 300), rng.integers(0, 1_001 * 10**12, 300)
    np.testing.assert_array_equal(past.count(ask_k, ask_t),
                                  brute_count(keys, times, np.ones(len(keys)), ask_k, ask_t))


@pytest.mark.parametrize("in_time_order", [True, False])
def test_counts_from_ranked_times_are_the_counts_from_times(in_time_order):
    """The ranker's counters rank their events' times once and give each key's events in
    time order (one sort); events in any order take the slower sort. Either way the arrays
    a model folder stores are those counting from the times gives, and so are the counts."""
    rng = np.random.default_rng(11)
    times = rng.integers(0, 40, 5_000) * 10**9
    if in_time_order:
        times = np.sort(times)
    keys = rng.integers(0, 30, 5_000) * 10**15  # wide keys, as (group, item) keys are
    distinct, rank = np.unique(times, return_inverse=True)
    fast, plain = PastCounts.ranked(keys, rank, distinct), PastCounts(keys, times)
    for name in PastCounts.STATE[:3]:
        np.testing.assert_array_equal(getattr(fast, name), getattr(plain, name))
    ask_k, ask_t = keys[rng.integers(0, 5_000, 400)], rng.integers(0, 41, 400) * 10**9
    np.testing.assert_array_equal(fast.count(ask_k, ask_t),
                                  brute_count(keys, times, np.ones(len(keys)), ask_k, ask_t))
