"""The held-out requests of a log held by Dask workers (:class:`suggest.data.dasklog.DaskLog`),
chosen exactly as :func:`suggest.splits.split` chooses them on one machine.

The client never holds the requests; it asks the buckets for counts:

* ``time``: the latest ``test_share`` of requests (of equal times, the later in the
  log) are found by a search over the buckets' sorted keys: each round every
  bucket counts its keys at or above 256 candidate values and the client narrows
  the interval, so an int64 time takes at most 8 rounds, and the ties at the cut
  as many again over the requests' places. ``--gap`` takes the latest training
  time from the buckets' maxima.
* ``request``: the seeded permutation of the local split is drawn on one worker;
  each bucket reads its requests' places in it.
* ``user`` and ``group:COLUMN``: each bucket counts its requests per group and notes
  the place of a group's first request; one worker puts the groups in the order
  they first appear, draws the local split's permutation over them and picks the
  held-out groups; each bucket reads its requests' groups in that choice.

:func:`leakage` measures what :func:`suggest.splits.leakage` measures, with the
requests and truth of each user brought together on one worker by a hash of the
user.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from suggest.data.timefields import ID_COLUMNS, TIME_FIELDS
from suggest.errors import SuggestError
from suggest.ids import isin
from suggest.splits import (LEAKY, SPLIT_SEED_NOTE, gap_text, group_values, held_from,
                            leakage_warning, seen_rows, split_kind)

#: Candidate values per round of the search for the cut.
_WAYS = 256


@dataclass
class DaskSplit:
    """Per bucket of a :class:`~suggest.data.dasklog.DaskLog`, a future of ``(train, test)``
    masks over its requests (a request left out by ``--gap`` is in neither)."""

    masks: list
    how: str
    kind: str
    train: int
    test: int
    left_out: int = 0
    leakage: dict = field(default_factory=dict)


def split_on_dask(log, test_share: float = 0.2, seed: int = 0, *, how: str = "auto",
                  gap: str | pd.Timedelta | None = None) -> DaskSplit:
    """Hold out ``test_share`` of the requests of ``log`` (a DaskLog) as
    :func:`suggest.splits.split` does on the same log; the same checks and errors."""
    client, buckets = log.client, log.buckets
    has_time = "timestamp" in log.columns
    kind, gap = split_kind(test_share, how, log.columns, gap)
    total = log.requests
    n_test = max(1, int(round(total * test_share)))
    left_out = 0
    if kind == "time":
        stamps = [client.submit(_stamps, b, pure=False) for b in buckets]
        keys = [client.submit(_sorted, s, pure=False) for s in stamps]
        cut = _nth_largest(client, keys, n_test)
        above = sum(client.gather([client.submit(_count_above, k, cut, pure=False) for k in keys]))
        ties = [client.submit(_tied_places, b, s, cut, pure=False) for b, s in zip(buckets, stamps)]
        place = _nth_largest(client, ties, n_test - above)
        masks = [client.submit(_latest, b, s, cut, place, pure=False)
                 for b, s in zip(buckets, stamps)]
        described = f"by time: the latest {test_share:.0%} of requests"
        trained = client.gather([client.submit(_latest_trained, m, s, pure=False)
                                 for m, s in zip(masks, stamps)])
        trained = [t for t in trained if t is not None]
        if gap is not None and trained and n_test < total:
            latest = max(trained) + gap.value
            masks = [client.submit(_without_gap, m, s, latest, pure=False)
                     for m, s in zip(masks, stamps)]
            left_out = sum(client.gather([client.submit(_left_out, m, pure=False) for m in masks]))
            firsts = [f for f in client.gather([client.submit(_first_held, m, s, pure=False)
                                                for m, s in zip(masks, stamps)]) if f is not None]
            described += (f", leaving out the {left_out:,} within {gap_text(gap)} after the cut"
                          + held_from(min(firsts) if firsts else None, "; held out from "))
        else:
            described += held_from(cut)
    elif kind == "request":
        chosen = client.submit(_permuted_tail, total, n_test, seed, pure=False)
        masks = [client.submit(_chosen_places, b, chosen, pure=False) for b in buckets]
        described = (f"{SPLIT_SEED_NOTE if not has_time else 'seeded split by request'}, "
                     f"{test_share:.0%} held out, seed {seed}")
    else:
        column = "user_id" if kind == "user" else kind.split(":", 1)[1]
        groups = [client.submit(_group_counts, b, column, pure=False) for b in buckets]
        chosen = client.submit(_chosen_groups, column, n_test, seed, *groups, pure=False)
        masks = [client.submit(_in_groups, b, column, chosen, pure=False) for b in buckets]
        what = "users" if kind == "user" else group_values(column, log.dataset.group)
        described = (f"seeded split by {what} (each on one side), about {test_share:.0%} of "
                     f"requests held out, seed {seed}")
    sizes = client.gather([client.submit(_sizes, m, pure=False) for m in masks])
    train, test = sum(a for a, _ in sizes), sum(b for _, b in sizes)
    if test == 0:
        raise SuggestError(f"the split ({described}) leaves no request to test",
                           hint="lower --gap, or raise --test-share")
    out = DaskSplit(masks, described, kind, train, test, left_out)
    out.leakage = leakage(log, out)
    return out


def _stamps(bucket: dict | None) -> np.ndarray:
    """The bucket's requests' times as int64 nanoseconds (NaT the smallest), as the local
    split reads them."""
    if bucket is None:
        return np.zeros(0, np.int64)
    return pd.to_datetime(bucket["requests"]["timestamp"], utc=True).dt.as_unit("ns").array.asi8


def _sorted(values: np.ndarray) -> np.ndarray:
    return np.sort(values)


def _count_at_least(keys: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    return len(keys) - np.searchsorted(keys, candidates, side="left")


def _count_above(keys: np.ndarray, value: int) -> int:
    return int(len(keys) - np.searchsorted(keys, value, side="right"))


def _bounds(keys: np.ndarray) -> tuple[int, int] | None:
    return (int(keys[0]), int(keys[-1])) if len(keys) else None


def _nth_largest(client, keys: list, n: int) -> int:
    """The ``n``-th largest value over every bucket's sorted int64 ``keys`` (n >= 1)."""
    bounds = [b for b in client.gather([client.submit(_bounds, k, pure=False) for k in keys]) if b]
    lo, hi = min(b[0] for b in bounds), max(b[1] for b in bounds)
    while lo < hi:  # the answer is in [lo, hi]: at least n keys are >= lo, fewer than n > hi
        step = max(1, -(-(hi - lo) // _WAYS))
        candidates = np.array([lo + i * step for i in range((hi - lo) // step + 1)], np.int64)
        counts = sum(client.gather([client.submit(_count_at_least, k, candidates, pure=False)
                                    for k in keys]))
        at = int(np.flatnonzero(counts >= n)[-1])  # the largest candidate with n keys at or above
        lo = int(candidates[at])
        hi = int(candidates[at + 1]) - 1 if at + 1 < len(candidates) else hi
    return lo


def _tied_places(bucket: dict | None, stamps: np.ndarray, cut: int) -> np.ndarray:
    """The places in the log of the bucket's requests at the cut's time, sorted."""
    if bucket is None:
        return np.zeros(0, np.int64)
    return np.sort(bucket["position"][stamps == cut])


def _latest(bucket: dict | None, stamps: np.ndarray, cut: int, place: int):
    """``(train, test)``: the test requests are after the cut, or at it and no earlier in the
    log than the last tied request taken."""
    if bucket is None:
        return np.zeros(0, bool), np.zeros(0, bool)
    test = (stamps > cut) | ((stamps == cut) & (bucket["position"] >= place))
    return ~test, test


def _latest_trained(masks, stamps: np.ndarray) -> int | None:
    train = stamps[masks[0]]
    return int(train.max()) if len(train) else None


def _first_held(masks, stamps: np.ndarray) -> int | None:
    test = stamps[masks[1]]
    return int(test.min()) if len(test) else None


def _without_gap(masks, stamps: np.ndarray, latest: int):
    train, test = masks
    return train, test & ~(stamps <= latest)


def _left_out(masks) -> int:
    train, test = masks
    return int((~train & ~test).sum())


def _permuted_tail(total: int, n_test: int, seed: int) -> np.ndarray:
    """Which places the local split holds out: the last ``n_test`` of its permutation."""
    chosen = np.zeros(total, bool)
    chosen[np.random.default_rng(seed).permutation(total)[total - n_test:]] = True
    return chosen


def _chosen_places(bucket: dict | None, chosen: np.ndarray):
    if bucket is None:
        return np.zeros(0, bool), np.zeros(0, bool)
    test = chosen[bucket["position"]]
    return ~test, test


def _group_counts(bucket: dict | None, column: str) -> pd.DataFrame:
    """Per value of ``column`` in the bucket (missing is a value): its requests and the place
    of its first."""
    if bucket is None:
        return pd.DataFrame({"value": [], "first": [], "size": []})
    frame = pd.DataFrame({"value": bucket["requests"][column].astype(object).to_numpy(),
                          "place": bucket["position"]})
    grouped = frame.groupby("value", dropna=False, sort=False)["place"]
    return pd.DataFrame({"first": grouped.min(), "size": grouped.size()}).reset_index()


def _chosen_groups(column: str, n_test: int, seed: int, *groups: pd.DataFrame) -> pd.DataFrame:
    """The held-out values, as :func:`suggest.splits.by_group` picks them from the groups in
    the order their first request appears."""
    every = pd.concat([g for g in groups if len(g)], ignore_index=True)
    every = every.groupby("value", dropna=False, sort=False).agg(first=("first", "min"),
                                                                 size=("size", "sum"))
    every = every.sort_values("first").reset_index()
    if len(every) < 2:
        raise SuggestError(f"cannot split by '{column}': it has {len(every)} value",
                           hint="choose a column with many values, or --split request")
    sizes = every["size"].to_numpy()
    order = np.random.default_rng(seed).permutation(len(every))
    total = np.cumsum(sizes[order[::-1]])
    count = int(np.clip(np.searchsorted(total, n_test, side="right"), 1, len(every) - 1))
    chosen = np.zeros(len(every), bool)
    chosen[order[::-1][:count]] = True
    return every.loc[chosen, ["value"]]


def _in_groups(bucket: dict | None, column: str, chosen: pd.DataFrame):
    if bucket is None:
        return np.zeros(0, bool), np.zeros(0, bool)
    values = bucket["requests"][column].astype(object)
    test = values.isin(chosen["value"]).to_numpy()
    if chosen["value"].isna().any():  # the missing value is a group of its own
        test = test | values.isna().to_numpy()
    return ~test, test


def _sizes(masks) -> tuple[int, int]:
    return int(masks[0].sum()), int(masks[1].sum())


def leakage(log, part: DaskSplit) -> dict:
    """:func:`suggest.splits.leakage` of a split of a DaskLog: the users' requests and truth
    brought together by a hash of the user, counted there, summed here."""
    client, buckets = log.client, log.buckets
    n = max(len(buckets), 1)
    context = [c for c, kind in log.context.items()  # as the local check: numbers left out
               if c not in (*ID_COLUMNS, *TIME_FIELDS) and kind != "numeric"]
    cut = [client.submit(_by_user, b, m, context, n, pure=False)
           for b, m in zip(buckets, part.masks)]
    counts = client.gather([client.submit(_user_leaks, context,
                                          *[client.submit(operator.getitem, c, u, pure=False)
                                            for c in cut], pure=False) for u in range(n)])
    total = {k: sum(c[k] for c in counts) for k in counts[0]}
    tested = part.test
    user_item = total["known"] / max(total["with_truth"], 1)
    user_context = total["same_context"] / tested if tested else 0.0
    out = {"user_item": round(float(user_item), 4), "user_context": round(float(user_context), 4),
           "users_in_both": round(float(total["seen_users"] / max(total["test_users"], 1)), 4),
           "requests_of_seen_users": round(float(total["seen_user"] / tested), 4) if tested else 0.0,
           "warning": None, "new_items": _new_items(client, buckets, part.masks),
           "top_user": _top_user(client, buckets, part.masks)}
    if part.kind == "request" and max(user_item, user_context) >= LEAKY:
        out["warning"] = leakage_warning(user_item, user_context)
    return out


def _new_items(client, buckets, masks) -> float:
    """:func:`suggest.splits.new_items` from each bucket's distinct training items and its
    held-out engagements' items (with their counts): as large as the catalog, not the log."""
    pieces = [p for p in client.gather([client.submit(_items, b, m, pure=False)
                                        for b, m in zip(buckets, masks)]) if p is not None]
    if not pieces:
        return 0.0
    trained = pd.Index(np.concatenate([t for t, _ in pieces])).unique()
    tested = pd.concat([c for _, c in pieces]).groupby(level=0).sum()
    total = int(tested.sum())
    return round(float(tested[~tested.index.isin(trained)].sum() / total), 4) if total else 0.0


def _top_user(client, buckets, masks) -> float:
    """:func:`suggest.splits.top_user` from each bucket's scored held-out requests per user
    (a user's requests may be in several buckets: the counts are added up)."""
    from suggest.splits import top_user

    pieces = [p for p in client.gather([client.submit(_scored_users, b, m, pure=False)
                                        for b, m in zip(buckets, masks)]) if p is not None]
    if not pieces:
        return 0.0
    return top_user(pd.concat(pieces).groupby(level=0).sum())


def _scored_users(bucket: dict | None, masks):
    from suggest.splits import scored_users

    if bucket is None:
        return None
    return scored_users(bucket["requests"][masks[1]], bucket["truth"]).value_counts()


def _items(bucket: dict | None, masks):
    """A bucket's distinct training items and its held-out engagements per item."""
    if bucket is None:
        return None
    truth = bucket["truth"]
    side = {name: isin(truth["request_id"], bucket["requests"]["request_id"][mask])
            for name, mask in zip(("train", "test"), masks)}
    items = truth["item_id"].astype(str)
    return items[side["train"]].unique(), items[side["test"]].value_counts()


def _by_user(bucket: dict | None, masks, context: list[str], n: int) -> list:
    """The bucket's train and test requests (user, context, side) and truth (user, item,
    side), cut into ``n`` parts by a hash of the user."""
    if bucket is None:
        return [(pd.DataFrame(), pd.DataFrame())] * n
    train, test = masks
    side = np.where(test, "test", np.where(train, "train", "out"))
    requests = bucket["requests"][["request_id", "user_id", *context]].astype(
        {c: str for c in ["user_id", *context]}).assign(side=side)
    requests = requests[requests["side"] != "out"]
    truth = bucket["truth"][["request_id", "item_id"]].merge(
        requests[["request_id", "user_id", "side"]], on="request_id")
    part = pd.util.hash_pandas_object(requests["user_id"], index=False).to_numpy() % n
    truth_part = pd.util.hash_pandas_object(truth["user_id"], index=False).to_numpy() % n
    return [(requests[part == u], truth[truth_part == u]) for u in range(n)]


def _user_leaks(context: list[str], *parts) -> dict:
    requests = pd.concat([r for r, _ in parts if len(r)], ignore_index=True) if any(
        len(r) for r, _ in parts) else pd.DataFrame(columns=["request_id", "user_id", "side",
                                                             *context])
    truth = pd.concat([t for _, t in parts if len(t)], ignore_index=True) if any(
        len(t) for _, t in parts) else pd.DataFrame(columns=["request_id", "item_id", "user_id",
                                                             "side"])
    test, train = requests[requests["side"] == "test"], requests[requests["side"] == "train"]
    seen = truth[truth["side"] == "train"][["user_id", "item_id"]].drop_duplicates()
    tested = truth[truth["side"] == "test"]
    known = tested.merge(seen, on=["user_id", "item_id"])
    keys = ["user_id", *context]
    return {"known": known["request_id"].nunique(), "with_truth": tested["request_id"].nunique(),
            "same_context": int(seen_rows(test[keys], train[keys]).sum()) if len(test) else 0,
            "seen_user": int(isin(test["user_id"], train["user_id"]).sum()),
            # a user's requests all come to one part: the parts' distinct users add up
            "test_users": int(test["user_id"].nunique()),
            "seen_users": int(isin(test["user_id"].drop_duplicates(), train["user_id"]).sum())}
