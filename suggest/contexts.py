"""One context (a mapping, as JSON gives it) as a one-row Requests frame.

:func:`context_frame` lets single-context calls reuse the batch code: the
engines' ``suggest_one`` fallback, ``suggest rules explain`` and the
benchmarks.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from suggest.data.timefields import check_zone, context_time
from suggest.errors import SuggestError

#: The mark (in a frame's ``attrs``) of a frame built from one context mapping, whose
#: left-out fields are missing values (:func:`suggest.engines.base.check_complete`).
ONE_CONTEXT = "one_context"


def context_frame(context: dict, types: dict[str, str] | None = None) -> pd.DataFrame:
    """A one-row Requests frame from a context mapping.

    ``timestamp`` (ISO 8601) is parsed to UTC; ``timezone`` names the zone of
    a timestamp written without an offset. Other values keep their JSON type
    (text -> categorical, number -> numeric, true/false -> boolean) unless
    ``types`` (from a dataset description) says otherwise.
    """
    if not isinstance(context, dict):
        raise SuggestError(f"a context must be a JSON object, not {type(context).__name__}",
                           hint='e.g. {"location": "commute", "battery": 40}')
    types = types or {}
    row: dict[str, pd.Series] = {"request_id": pd.Series([str(context.get("request_id", "context"))]),
                                 "user_id": pd.Series([str(context.get("user_id", "-"))])}
    for key, value in context.items():
        if key in ("request_id", "user_id"):
            continue
        if key == "timestamp":
            if value is None:  # no time, as in the single-context fast path
                continue
            zone = context.get("timezone")
            stamp = context_time(value, zone)
            if zone:
                row["timezone"] = pd.Series([str(zone)])
            else:  # the offset written in the timestamp gives the local time
                row.update({k: pd.Series([v], dtype=t) for k, v, t in (
                    ("hour", stamp.hour, "Int8"), ("minute", stamp.minute, "Int8"),
                    ("weekday", stamp.weekday(), "Int8"), ("is_weekend", stamp.weekday() >= 5,
                                                           "boolean"))})
            row[key] = pd.Series([stamp.tz_convert("UTC")])
            continue
        if key == "timezone":  # checked here too when no timestamp reads it
            if value is not None and context.get("timestamp") is None:
                check_zone(value)
            continue
        kind = types.get(key) or ("boolean" if isinstance(value, bool) else
                                  "numeric" if isinstance(value, (int, float)) else "categorical")
        if value is None or value is pd.NA or (isinstance(value, float) and value != value):
            # None, NaN (a frame's missing cell) and pd.NA: missing, as in a batch's row
            row[key] = pd.Series([np.nan], dtype=float) if kind != "categorical" else \
                pd.Series(pd.Categorical([None]))
        elif kind == "boolean":
            row[key] = pd.Series([_boolean(key, value)], dtype="boolean")
        elif kind == "numeric":
            number = pd.to_numeric(pd.Series([value]), errors="coerce")
            if number.isna().all():
                raise SuggestError(f"context field '{key}': {value!r} is not a number")
            row[key] = number.astype(float)
        else:
            row[key] = pd.Series(pd.Categorical([str(value)]))
    frame = pd.DataFrame(row)
    frame.attrs[ONE_CONTEXT] = True  # its left-out fields are missing, not a short frame
    return frame


def _boolean(key: str, value) -> bool:
    """A context's boolean as the log reads one (true/false, yes/no, 1/0, ...); anything
    else is refused, not read as false."""
    from suggest.data.load import FALSE_WORDS, TRUE_WORDS

    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if isinstance(value, float) and value.is_integer():
        word = str(int(value))
    if word in TRUE_WORDS or word in FALSE_WORDS:
        return word in TRUE_WORDS
    raise SuggestError(f"context field '{key}': {value!r} is not a boolean",
                       hint="give true or false; yes/no, t/f, y/n and 1/0 read as in a log")
