"""Train/test splits that cannot leak, and a check that says when one does.

``--split`` chooses how the held-out requests are picked (``replay`` and ``train``):

* ``time``: the latest ``test_share`` of requests by time; with ``--gap 2h`` the
  test requests within two hours after the cut are left out of both parts, so a
  session cannot straddle it;
* ``request``: a seeded share of requests;
* ``user``: a seeded share of *users*, every request of a user on one side (the
  ranker then meets test users it has never seen: the cold-start question);
* ``group:COLUMN``: a seeded share of the values of a context column (a sitting,
  a trip, a device), every request of a value on one side;
* ``group``: the same over the description's group column (``columns: group:``, a
  session or sitting id kept with each request but never a context column, so it is
  neither a feature the ranker learns from nor a segment of the report);
* ``auto`` (the default): ``time`` when the log has time, else ``request``.

:func:`leakage` measures, on any split, how much of the test part the training
part has already seen: the share of test requests *with a positive* whose user
engaged with one of the same items in training (``user_item``); the share of all
test requests whose user was already seen in the very same context
(``user_context``: the same value of every categorical and boolean context column; a
number, a battery level, seldom repeats exactly, so numeric columns are left out) and
whose user was seen in training at all (``requests_of_seen_users``); and the share of the test part's distinct users who
are also in training (``users_in_both``). Under a time split the first two are history,
the very thing a recommender uses; without time, or across a cut a session
straddles, near-copies of a test request sit in training and flatter every
engine that remembers them. :func:`leakage` warns, naming ``--split user`` or
``group:``, when the split is by request and either share is at least 20%
(under a time split the same shares are history, not a leak; ``--gap`` is the
remedy when sessions straddle the cut). It also measures the other way round: the
share of the test part's engagements on items no training engagement names
(``new_items``). Engines are fitted once on the training part, so none can suggest
such an item but by chance (``random``); on a catalog that churns (news, offers) it
is most of what is engaged, and the verdict cautions from ``NEW_ITEMS`` on.

>>> import pandas as pd
>>> requests = pd.DataFrame({"request_id": ["a", "b", "c", "d"], "user_id": ["u", "u", "v", "w"]})
>>> truth = pd.DataFrame({"request_id": ["a", "b"], "item_id": ["x", "x"], "relevance": [1.0, 1.0]})
>>> part = split(requests, truth, 0.5, how="user", seed=1)
>>> sorted(set(part.train["user_id"]) & set(part.test["user_id"]))   # no user on both sides
[]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from suggest.data.timefields import ID_COLUMNS, TIME_FIELDS
from suggest.errors import SuggestError, did_you_mean, one_of, percent
from suggest.ids import isin

SPLITS = ("auto", "time", "request", "user", "group", "group:COLUMN")
#: The Requests frame's column of the description's group role (``columns: group:``).
GROUP = "group_id"
SPLIT_SEED_NOTE = "seeded split by request (the log has no time)"
#: Above this share of test requests already seen in training, a split by request warns.
LEAKY = 0.2
#: The share of held-out engagements on items new to the training part from which the
#: verdict cautions that no fitted engine could suggest most of what was engaged.
NEW_ITEMS = 0.25
#: From this share of the scored requests made by one user, the verdict cautions that its
#: figures are mostly that user's (:func:`top_user_caution`).
ONE_USER = 0.5


@dataclass
class Split:
    train: pd.DataFrame
    test: pd.DataFrame
    train_truth: pd.DataFrame
    test_truth: pd.DataFrame
    how: str
    kind: str = "time"
    left_out: int = 0  # test requests dropped by --gap
    leakage: dict = field(default_factory=dict)


def check_split(how: str | None, columns) -> str:
    """``how`` (or ``auto``) when the log can be split that way, else a clear error."""
    how = (how or "auto").strip()
    if how in ("auto", "time", "request", "user"):
        return how
    if how == "group":
        if GROUP not in columns:
            raise SuggestError("--split group needs a group column, and the dataset description "
                               "names none", hint="add `group: COLUMN` under `columns:` (a session "
                               "or sitting id), or use --split group:CONTEXT_COLUMN")
        return f"group:{GROUP}"
    if how.startswith("group:"):
        column = how.split(":", 1)[1]
        if column not in columns:
            context = [c for c in columns if c not in ID_COLUMNS and c not in TIME_FIELDS]
            hint = did_you_mean(column, context) or (
                f"its context columns are {one_of(context)}" if context
                else "the log has no context column: use --split user")
            if GROUP in columns:
                hint += "; the description's group column is split with --split group"
            raise SuggestError(f"--split {how}: the log has no context column '{column}'", hint=hint)
        return how
    raise SuggestError(f"unknown --split '{how}'", hint=did_you_mean(how, SPLITS[:4])
                       or f"expected {one_of(SPLITS)}")


def parse_gap(text: str | None) -> pd.Timedelta | None:
    """``--gap``: a duration such as ``30min``, ``2h`` or ``1d`` (None: no gap)."""
    if text in (None, "", "0"):
        return None
    if re.fullmatch(r"\s*[-+]?[\d.]+\s*", str(text)):  # pandas reads a bare number as nanoseconds
        raise SuggestError(f"--gap '{text}' has no unit", hint=f"e.g. {str(text).strip()}min, "
                           f"{str(text).strip()}h or {str(text).strip()}d")
    try:  # '1d' as people write it ('d' for days is deprecated in pandas in favour of 'D')
        gap = pd.Timedelta(re.sub(r"(?<=\d)\s*d(ays?)?\b", "D", str(text).strip()))
    except (ValueError, TypeError):
        raise SuggestError(f"--gap '{text}' is not a duration", hint="e.g. 30min, 2h or 1d") from None
    if gap < pd.Timedelta(0):
        raise SuggestError(f"--gap must not be negative, not {text}")
    return gap


def gap_text(gap: pd.Timedelta) -> str:
    """A gap as people write it: ``2h``, ``1d 6h``, ``45min``, ``90s``.

    >>> gap_text(pd.Timedelta("1D 6h")), gap_text(pd.Timedelta("90s"))
    ('1d 6h', '1min 30s')
    """
    c = gap.components
    parts = [f"{n}{unit}" for n, unit in [(c.days, "d"), (c.hours, "h"), (c.minutes, "min"),
                                          (c.seconds, "s")] if n]
    rest = gap - pd.Timedelta(days=c.days, hours=c.hours, minutes=c.minutes, seconds=c.seconds)
    if rest or not parts:  # under a second
        parts.append(f"{rest.total_seconds() * 1000:g}ms")
    return " ".join(parts)


def held_from(first: int | None, lead: str = ", from ") -> str:
    """``, from 2026-03-18 19:15:00+00:00``: where a time split's held-out part starts
    (``first``: its earliest time, int64 nanoseconds; after a gap, the first request scored),
    said nowhere before; nothing for none or a missing time.

    >>> held_from(1_773_861_300_000_000_000)
    ', from 2026-03-18 19:15:00+00:00'
    """
    if first is None or first == np.iinfo(np.int64).min:
        return ""
    return f"{lead}{pd.Timestamp(int(first), unit='ns', tz='UTC')}"


def latest(timestamps: pd.Series, n: int) -> np.ndarray:
    """A mask of the ``n`` latest rows by ``timestamps`` (of equal times, the later rows):
    the one time split, used by :func:`split`, the ranker's validation part and the
    benchmarks."""
    # as int64 (NaT first): a tz-aware column's to_numpy() is an array of objects
    stamps = pd.to_datetime(timestamps, utc=True).dt.as_unit("ns").array.asi8
    order = np.argsort(stamps, kind="stable")
    mask = np.zeros(len(stamps), bool)
    mask[order[len(stamps) - n:] if n > 0 else []] = True
    return mask


def split(requests: pd.DataFrame, truth: pd.DataFrame, test_share: float = 0.2,
          seed: int = 0, *, how: str = "auto", gap: str | pd.Timedelta | None = None) -> Split:
    """Hold out ``test_share`` of the requests as ``how`` says (see the module docstring)."""
    has_time = "timestamp" in requests.columns
    kind, gap = split_kind(test_share, how, requests.columns, gap)
    n_test = max(1, int(round(len(requests) * test_share)))
    left_out = 0
    if kind == "time":
        is_test = latest(requests["timestamp"], n_test)
        stamps = pd.to_datetime(requests["timestamp"], utc=True).dt.as_unit("ns").array.asi8
        described = f"by time: the latest {test_share:.0%} of requests"
        if gap is not None and is_test.any() and (~is_test).any():
            cut = stamps[~is_test].max()
            inside = is_test & (stamps <= cut + gap.value)
            left_out = int(inside.sum())
            held = is_test & ~inside
            described += (f", leaving out the {left_out:,} within {gap_text(gap)} after the cut"
                          + held_from(stamps[held].min() if held.any() else None, "; held out from "))
        else:
            inside = np.zeros(len(requests), bool)
            described += held_from(stamps[is_test].min() if is_test.any() else None)
    elif kind == "request":
        order = np.random.default_rng(seed).permutation(len(requests))
        is_test = np.zeros(len(requests), bool)
        is_test[order[len(requests) - n_test:]] = True
        inside = np.zeros(len(requests), bool)
        described = (f"{SPLIT_SEED_NOTE if not has_time else 'seeded split by request'}, "
                     f"{test_share:.0%} held out, seed {seed}")
    else:
        column = "user_id" if kind == "user" else kind.split(":", 1)[1]
        is_test = by_group(requests[column], n_test, seed)
        inside = np.zeros(len(requests), bool)
        what = "users" if kind == "user" else group_values(column, requests.attrs.get(GROUP))
        described = (f"seeded split by {what} (each on one side), about {test_share:.0%} of "
                     f"requests held out, seed {seed}")
    test_mask = is_test & ~inside
    train = requests[~is_test].reset_index(drop=True)
    test = requests[test_mask].reset_index(drop=True)
    in_train = isin(truth["request_id"], train["request_id"])
    in_test = isin(truth["request_id"], test["request_id"])
    out = Split(train, test, truth[in_train].reset_index(drop=True),
                truth[in_test].reset_index(drop=True), described, kind, left_out)
    if len(test) == 0:
        raise SuggestError(f"the split ({described}) leaves no request to test",
                           hint="lower --gap, or raise --test-share")
    out.leakage = leakage(out)
    return out


def split_kind(test_share: float, how: str | None, columns, gap: str | pd.Timedelta | None):
    """``(kind, gap)``: the split ``how`` asks for on a log with these Requests ``columns``
    (``auto``: time when it has a timestamp), and ``--gap`` as a duration, after the checks
    every split makes before it picks a request."""
    if not 0 < test_share < 1:
        raise SuggestError(f"--test-share must be between 0 and 1 (both excluded), not {test_share:g}",
                           hint="the share of requests held out, e.g. --test-share 0.2")
    how = check_split(how, columns)
    has_time = "timestamp" in columns
    kind = ("time" if has_time else "request") if how == "auto" else how
    gap = parse_gap(gap) if not isinstance(gap, pd.Timedelta) else gap
    if kind == "time" and not has_time:
        raise SuggestError("--split time needs a time column, and this log has none",
                           hint="use --split request, user or group:COLUMN")
    if gap is not None and kind != "time":
        raise SuggestError("--gap applies to a split by time", hint="drop --gap, or use --split time")
    return kind, gap


def group_values(column: str, name: str | None = None) -> str:
    """What a split by ``column`` holds out whole, in words (``name``: the log's name of the
    group column, when known)."""
    if column != GROUP:
        return f"values of {column}"
    return f"groups of {name}, the group column" if name else "groups of the group column"


def by_group(values: pd.Series, n_test: int, seed: int) -> np.ndarray:
    """Test rows: whole groups in a seeded order until about ``n_test`` requests (a missing
    value is a group of its own)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    if len(uniques) < 2:
        raise SuggestError(f"cannot split by '{values.name}': it has {len(uniques)} value",
                           hint="choose a column with many values, or --split request")
    sizes = np.bincount(codes, minlength=len(uniques))
    order = np.random.default_rng(seed).permutation(len(uniques))
    # the groups whose running total (in the seeded order, from the end) stays within n_test,
    # at least one, never all
    total = np.cumsum(sizes[order[::-1]])
    count = int(np.clip(np.searchsorted(total, n_test, side="right"), 1, len(uniques) - 1))
    chosen = np.zeros(len(uniques), bool)
    chosen[order[::-1][:count]] = True
    return chosen[codes]


def leakage(part: Split) -> dict:
    """How much of the test part the training part has already seen (module docstring)."""
    test, train = part.test, part.train
    n = len(test)
    from suggest.engines.base import context_columns

    # a number (a battery level) seldom repeats exactly: "the same context" is of the others
    context = [c for c, kind in context_columns(test).items()
               if c not in TIME_FIELDS and kind != "numeric"]
    seen_pairs = part.train_truth.merge(train[["request_id", "user_id"]], on="request_id")
    test_pairs = part.test_truth.merge(test[["request_id", "user_id"]], on="request_id")
    known = test_pairs.merge(seen_pairs[["user_id", "item_id"]].drop_duplicates(),
                             on=["user_id", "item_id"])
    user_item = known["request_id"].nunique() / max(test_pairs["request_id"].nunique(), 1)
    keys = ["user_id", *context]
    user_context = float(seen_rows(test[keys], train[keys]).mean()) if n else 0.0
    users = test["user_id"].drop_duplicates()  # each user once, however many requests
    out = {"user_item": round(float(user_item), 4), "user_context": round(user_context, 4),
           "users_in_both": round(float(isin(users, train["user_id"]).mean()), 4) if n else 0.0,
           "requests_of_seen_users": round(float(isin(test["user_id"], train["user_id"]).mean()), 4)
           if n else 0.0, "warning": None,
           "new_items": new_items(part.test_truth["item_id"], part.train_truth["item_id"]),
           "top_user": top_user(scored_users(test, part.test_truth).value_counts())}
    if part.kind == "request" and max(user_item, user_context) >= LEAKY:
        out["warning"] = leakage_warning(user_item, user_context)
    return out


def scored_users(requests: pd.DataFrame, truth: pd.DataFrame) -> pd.Series:
    """The user of each of ``requests`` with an engaged item (relevance above 0 in
    ``truth``): the requests every figure is a mean over."""
    engaged = truth["request_id"][truth["relevance"].to_numpy(dtype=float) > 0]
    return requests["user_id"][isin(requests["request_id"], engaged)].astype(str)


def top_user(counts: pd.Series) -> float:
    """The share of the scored requests (``counts``: per user) that the one user with most
    of them makes."""
    total = counts.sum()
    return round(float(counts.max() / total), 4) if total else 0.0


def top_user_caution(share: float) -> str | None:
    """The verdict's caution when one user makes ``share`` of the scored requests, from
    ``ONE_USER`` on: a tester's log had 93% of them from one user, and the verdict said
    "ranker is better, p = 0.003" of what was that user's habits."""
    if share < ONE_USER:
        return None
    return (f"one user makes {percent(share)} of the held-out requests with an engaged item. "
            "The tests count requests as independent, so every figure here speaks mostly for "
            "that user's habits, not for the users at large")


def new_items(tested, trained) -> float:
    """The share of held-out engagements (``tested``: their items) on items no training
    engagement names (``trained``: its items)."""
    return round(float(1 - isin(tested, trained).mean()), 4) if len(tested) else 0.0


def new_items_caution(share: float) -> str | None:
    """The verdict's caution when ``share`` of the held-out engagements are on items new to
    the training part (:func:`new_items`), from ``NEW_ITEMS`` on."""
    if share < NEW_ITEMS:
        return None
    return (f"{percent(share)} of the held-out engagements are on items no training request "
            "engaged (new items: a catalog that churns). Every engine is fitted once on the "
            "training part, so none can suggest them but random, by chance, and every "
            "engine's figures are low for that reason, not for its ranking; a smaller "
            "--test-share judges the engines on the items they knew")


def seen_rows(test: pd.DataFrame, train: pd.DataFrame) -> np.ndarray:
    """For each row of ``test``, whether its values (a missing one equal to a missing one)
    are those of some row of ``train``: each column numbered over both frames, then the rows
    compared as tuples of numbers (not as text: turning a million rows of context into
    strings took seconds)."""
    both = pd.concat([test, train], ignore_index=True)
    codes = [pd.factorize(both[c], use_na_sentinel=False)[0] for c in both.columns]
    rows = pd.MultiIndex.from_arrays(codes)
    return rows[:len(test)].isin(rows[len(test):])


def leakage_warning(user_item: float, user_context: float) -> str:
    """The warning of a split by request whose test part the training part has seen."""
    seen = " and ".join(f"{percent(share)} of {among} have a {what}"
                        for share, among, what in (
                            (user_item, "the test requests with a positive", "(user, item)"),
                            (user_context, "all test requests", "(user, context)"))
                        if share >= LEAKY)
    return (f"{seen} already in the training part: near-copies of test requests may be in "
            "training and flatter the engines that remember them; try --split user, --split "
            "group:COLUMN or --split group (a sitting, a session: `columns: group:`) and compare "
            "the verdicts")
