"""Segments that mean something: where one engine wins or loses against another.

A *segment* is a set of requests sharing a context value. :func:`segment_labels`
turns one context column of the Results frame into segment names:

* text, categorical and boolean columns keep their values; a missing value is
  the segment ``"(missing)"``;
* numeric columns with more than ``bins`` distinct values are cut into
  ``bins`` quantile bins of the requests compared (``"[12, 40)"``; the last is
  closed);
* the time fields are read as people say them: ``hour`` as four-hour bands
  (``"08-12h"``), ``weekday`` as day names (``"mon"``);
* ``returning_user`` (:data:`RETURNING`, in every replay's Results): ``True`` when the
  request's user has a request in the training part, ``False`` for a user new to the
  engines (the cold start; all of them under ``--split user``);
* values with fewer than ``min_size`` requests pool into ``"other"``, and a
  column keeps at most its ``max_values`` largest segments, the rest going to
  ``"other"`` too.

:func:`segment_tests` runs the paired test (:func:`suggest.stats.paired_test`)
in every segment of every column. Each column is its own Holm family: asking
for one more column never changes another column's p-values, nor the overall
comparison's. Rows carry the difference, its interval, the corrected p-value,
the family's size and whether the difference is significant at the 5% family
level.

>>> import pandas as pd
>>> labels = segment_labels(pd.Series(["a"] * 40 + ["b"] * 3 + [None] * 31), min_size=30)
>>> labels.value_counts().to_dict()
{'a': 40, '(missing)': 31, 'other': 3}
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from suggest.stats import test_family

MIN_SEGMENT = 30
MAX_VALUES = 20
BINS = 5
OTHER, MISSING = "other", "(missing)"
ALPHA = 0.05
#: A segment with at least this share of the requests compared is the whole, not a part.
WHOLE = 0.95
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: Time fields that are segments, and the ones that are not (too fine, or said by another).
TIME_SEGMENTS = ("hour", "weekday")
#: A segment of every replay: whether the request's user has a request in the training part
#: (False: a user new to the engines, the cold start a time split meets).
RETURNING = "returning_user"
NOT_SEGMENTS = ("request_id", "engine", "has_positive", "answered", "latency_us", "minute",
                "is_weekend", "timestamp", "timezone", "user_id", "group_id", "block_fired",
                "blocked_rank")


def check_min_size(min_size: int) -> int:
    """``min_size`` when it is a usable smallest segment, else a clear error."""
    from suggest.errors import SuggestError

    if min_size < 1:
        raise SuggestError(f"--min-segment must be at least 1, not {min_size}",
                           hint=f"e.g. --min-segment {MIN_SEGMENT}")
    return min_size


def run_min_size(summary: dict, given: int | None) -> int:
    """The smallest segment a comparison of a finished replay uses: ``given``, else the
    replay's own (``--min-segment`` of the replay), so it shows the segments the replay's
    verdict tested; checked (:func:`check_min_size`)."""
    stored = (summary.get("segments") or {}).get("min_segment")
    return check_min_size(given if given is not None else stored if stored is not None else MIN_SEGMENT)


def segment_columns(results: pd.DataFrame) -> list[str]:
    """The columns of a Results frame that can be segments: the context columns and the
    hour and weekday of the request."""
    return [c for c in results.columns if c not in NOT_SEGMENTS and "@" not in c]


def segment_labels(values: pd.Series, *, min_size: int = MIN_SEGMENT, max_values: int = MAX_VALUES,
                   bins: int = BINS) -> pd.Series:
    """Each request's segment name for one column (see the module docstring)."""
    return _pooled(_raw_labels(values, bins)[0], min_size, max_values)[0]


def _raw_labels(values: pd.Series, bins: int) -> tuple[pd.Series, list | None]:
    """Segment names before pooling (time fields by band and day, numbers by quantile bin),
    and the names' natural order where they have one (None: largest first)."""
    order = None
    missing = values.isna().to_numpy()
    if values.name in TIME_SEGMENTS and _numeric(values):
        number = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        if values.name == "hour":
            names = np.array([f"{h:02d}-{h + 4:02d}h" for h in range(0, 24, 4)], dtype=object)
            code = np.nan_to_num(number // 4, nan=0).astype(np.int64).clip(0, 5)
        else:
            names = np.array(DAYS, dtype=object)
            code = np.nan_to_num(number, nan=0).astype(np.int64) % 7
        labels, order = names[code], list(names)
    elif _numeric(values) and values.nunique(dropna=True) > bins and (binned := _quantile_bins(
            pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan), bins)):
        labels, order = binned
    else:
        text = values.astype(str)
        if pd.api.types.is_bool_dtype(values.dtype):  # as a log and the rules write them
            text = text.str.lower()
        # a value spelt like a pooled segment keeps quotes, so it is never mixed with them
        labels = text.mask(text.isin((OTHER, MISSING)), '"' + text + '"').to_numpy(dtype=object)
    labels = np.where(missing, MISSING, labels)
    return pd.Series(labels, index=values.index, dtype=object), order


def _pooled(labels: pd.Series, min_size: int, max_values: int) -> tuple[pd.Series, int, int]:
    """Small segments and those past the ``max_values`` largest go to "other"; also how
    many segment names were pooled, and how many of those were large enough to test alone
    (past the largest). A column of two values (a boolean) pools nothing: its small value
    would be the 'other' alone, under another name (shown, not tested)."""
    counts = labels.value_counts(sort=True)
    if len(counts) <= 2 and (labels != MISSING).all():
        return labels, 0, 0
    large = counts[counts >= min_size].index
    keep = large[:max_values]
    return (labels.where(labels.isin(keep), OTHER), int(len(counts) - len(keep)),
            int(len(large) - len(keep)))


def _numeric(values: pd.Series) -> bool:
    return (pd.api.types.is_numeric_dtype(values.dtype)
            and not pd.api.types.is_bool_dtype(values.dtype))


def _quantile_bins(values: np.ndarray, bins: int) -> tuple[np.ndarray, list] | None:
    """Quantile bins of the finite values (infinities go to the end bins), named with as many
    significant digits as keep the names apart; None when ties leave fewer than two bins.

    A name is true of its bin: the values are cut at the edges as named (39.7, not the
    quantile 39.72 it stands for, so a value of 39.7 is in "[39.7, 66.8)"), and the ends
    are the least and largest values rounded outwards."""
    present = values[np.isfinite(values)]
    if len(present) == 0:
        return None
    edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)))
    if len(edges) < 3:
        return None
    for digits in range(3, 18):
        shown = [f"{e:.{digits}g}" for e in edges]
        if len(set(shown)) == len(shown):
            break
    shown[0], shown[-1] = _outward(edges[0], digits, down=True), _outward(edges[-1], digits, down=False)
    names = [f"[{lo}, {hi})" for lo, hi in zip(shown[:-1], shown[1:])]
    names[-1] = names[-1][:-1] + "]"
    place = np.searchsorted(np.array(shown[1:-1], dtype=float), values, side="right")
    return np.array(names, dtype=object)[place.clip(0, len(names) - 1)], names


def _outward(value: float, digits: int, down: bool) -> str:
    """``value`` to ``digits`` significant digits, rounded down (``down``) or up, so that the
    name of an end bin holds it: the least value 14.36 is "14.3", not "14.4"."""
    text = f"{value:.{digits}g}"
    if (float(text) > value) if down else (float(text) < value):
        step = 10.0 ** (int(np.floor(np.log10(abs(value)))) - digits + 1)
        text = f"{float(text) - step if down else float(text) + step:.{digits}g}"
    return text


def segment_tests(a: np.ndarray, b: np.ndarray, context: pd.DataFrame, columns: list[str], *,
                  min_size: int = MIN_SEGMENT, max_values: int = MAX_VALUES, bins: int = BINS,
                  alpha: float = 0.05, seed: int = 0) -> dict[str, dict]:
    """Paired tests of ``b`` against ``a`` (per-request values, aligned with ``context``'s
    rows) in every segment of each column; one Holm family per column.

    Returns ``{column: {"tests": m, "pooled_into_other": v, "rows": [...]}}``, rows in
    the values' natural order (hour bands, days, bins) or largest segment first, then
    ``"(missing)"`` and ``"other"``.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    out = {}
    for column in columns:
        raw, order = _raw_labels(context[column].reset_index(drop=True), bins)
        labels, pooled, large = _pooled(raw, min_size, max_values)
        groups = pd.Series(np.arange(len(labels))).groupby(labels.to_numpy(), sort=False).indices
        rank = {name: place for place, name in enumerate(order or [])}
        names = sorted(groups, key=lambda v: (v in (OTHER, MISSING), v == OTHER,
                                              rank.get(v, 0), -len(groups[v]), str(v)))
        share = {v: len(groups[v]) / max(len(a), 1) for v in names}
        # a segment of nearly every request restates the overall test: it is shown, not
        # tested again (as a family of one, uncorrected, it could contradict the overall test)
        # and 'other' under the minimum size (small values pooled) is shown, not tested: it
        # mixes values too small to test alone
        small = {v for v in names if len(groups[v]) < min_size}  # 'other', or a two-valued column's
        parts = [v for v in names if share[v] < WHOLE and v not in small]
        tested = dict(zip(parts, test_family([(a[groups[v]], b[groups[v]]) for v in parts],
                                             alpha=alpha, seed=seed)))
        rows = [{"value": v, "share": share[v],
                 **(tested[v] if v in tested else
                    _untested(a[groups[v]], b[groups[v]], seed, small=v in small))}
                for v in names]
        out[column] = {"tests": sum(1 for r in rows if r["p_holm"] == r["p_holm"]), "rows": rows,
                       "pooled_into_other": pooled, "pooled_large": large,
                       "max_values": max_values}
    return out


def _untested(a: np.ndarray, b: np.ndarray, seed: int, small: bool = False) -> dict:
    """A segment holding nearly every request (``whole``: the overall comparison is its
    test), or an 'other' under the minimum size (``small``): its figures, without a test."""
    return {**test_family([(a, b)], seed=seed, with_p=False)[0], "mde": float("nan"),
            **({"small": True} if small else {"whole": True})}


def significant(families: dict[str, dict], *, losses: bool, across: bool = False) -> list[dict]:
    """The significant segments where ``b`` loses (``losses=True``) or wins, over every
    family, largest effect times size first; each row names its column.

    A segment holding nearly every request (``WHOLE`` of them or more) restates the
    overall comparison and is not listed. With ``across=True`` a segment must also stay
    significant when its column's Holm p-value is multiplied by the number of columns
    (Bonferroni over the columns): one list over all the columns then has a 5%
    family-wise error rate, as a headline needs, not 5% per column.
    """
    columns = sum(1 for family in families.values() if family["tests"]) if across else 1
    rows = [{"column": column, **row} for column, family in families.items()
            for row in family["rows"]
            if row["p_holm"] * columns < ALPHA and (row["diff"] < 0) == losses
            and row.get("share", 0) < WHOLE]
    return sorted(rows, key=lambda r: -abs(r["diff"]) * r["requests"])
