"""Timestamps: parsing to UTC and local time fields, DST-correct.

A timestamp written with an offset (``2026-03-29T08:00:00+02:00``, ``...Z``)
means that instant. One written without an offset is local time in the row's
zone (the ``timezone`` column when the description names one, else the
dataset's ``timezone``); a local time that does not exist or happens twice
at a DST change is rejected rather than guessed.

Local fields are computed per zone with pandas' tz conversion, so an 08:00
commute stays 08:00 on both sides of a DST change.
"""

from __future__ import annotations

import datetime
import functools
import re
import zoneinfo

import numpy as np
import pandas as pd

from suggest.errors import SuggestError, did_you_mean

#: The local time fields derived from ``timestamp``: never context of their own, and a log
#: column of one of these names would clash.
TIME_FIELDS = ("hour", "minute", "weekday", "is_weekend")
NAT = np.iinfo(np.int64).min  # a missing time among int64 nanoseconds
#: The columns of a Requests frame that identify a request rather than describe its context.
ID_COLUMNS = ("request_id", "user_id", "timestamp", "timezone", "group_id")

TIME_FORMATS = ("iso", "unix_s", "unix_ms")
#: ``timezone: offset`` in a description: each time's own written UTC offset is its local time.
OFFSET_ZONE = "offset"
#: The ways a fixed UTC offset is written as a zone (``+05:30``, ``+0530``, ``UTC+5:30``,
#: ``GMT-3``); its zone name is ``UTC+05:30`` (an offset of 0: ``UTC``).
WRITTEN_FIXED = re.compile(r"(?:UTC|GMT)?\s*([+-])(\d{1,2}):?(\d{2})?", re.IGNORECASE)


def fixed_offset(text: str) -> datetime.timedelta | None:
    """The UTC offset a fixed-offset zone is written as, or None for anything else (an IANA
    name, or an offset past 14 hours)."""
    found = WRITTEN_FIXED.fullmatch(str(text).strip())
    if not found:
        return None
    sign, hours, minutes = found.groups()
    if int(hours) > 14 or int(minutes or 0) > 59:
        return None
    delta = datetime.timedelta(hours=int(hours), minutes=int(minutes or 0))
    return -delta if sign == "-" else delta


def fixed_zone_name(text: str) -> str | None:
    """``UTC+05:30`` for a fixed offset written as ``+05:30``, ``+0530``, ``UTC+5:30`` or
    ``GMT-3`` (``UTC`` for an offset of 0), or None for anything else (an IANA name).

    >>> fixed_zone_name("+0530"), fixed_zone_name("UTC-3"), fixed_zone_name("Europe/Paris")
    ('UTC+05:30', 'UTC-03:00', None)
    """
    delta = fixed_offset(text)
    if delta is None:
        return None
    minutes = abs(int(delta.total_seconds())) // 60
    return (f"UTC{'-' if delta < datetime.timedelta(0) else '+'}{minutes // 60:02d}:"
            f"{minutes % 60:02d}") if minutes else "UTC"


#: The UTC offset ("Z", "+02", "+0200", "+02:00") a time is written with, after its time of
#: day. A date alone ("2026-03-02") also ends in a hyphen and two digits; that is no offset.
WRITTEN_OFFSET = (r"[Tt ]\d{2}(?::?\d{2}(?::?\d{2}(?:[.,]\d+)?)?)?\s?"
                  r"(?:(?P<z>[Zz])|(?P<sign>[+-])(?P<h>\d{2})(?::?(?P<m>\d{2}))?)$")
#: The same without its named groups, to test for an offset (str.contains warns of groups).
_OFFSET = re.sub(r"\(\?P<\w+>", "(?:", WRITTEN_OFFSET)


def written_zones(text: pd.Series) -> pd.Series:
    """Each time's zone from the offset it is written with: ``UTC+05:30``, ``UTC`` for Z or
    +00:00, missing for a time written without one (``timezone: offset``).

    >>> written_zones(pd.Series(["2026-03-02T08:01+05:30", "2026-03-02 08:01Z", "2026-03-02"])).tolist()
    ['UTC+05:30', 'UTC', nan]
    """
    found = text.astype(str).str.strip().str.extract(WRITTEN_OFFSET)
    written = (found["sign"] + found["h"] + found["m"].fillna("00")).where(found["z"].isna(), "+00")
    # named once a distinct offset, as a zone column's are (a log has few offsets)
    return written.map({o: fixed_zone_name(o) for o in written.dropna().unique()})


def parse_times(values: pd.Series, fmt: str, zones: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse ``values`` to tz-aware UTC timestamps.

    Returns ``(timestamps, reasons)``: ``reasons`` is ``None`` where the value
    parsed and a short explanation where it did not (the timestamp is NaT).
    Missing values give NaT with the reason "missing".
    """
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    reasons = pd.Series(None, index=values.index, dtype=object)
    present = values.notna()
    reasons[~present] = "time is missing"
    if pd.api.types.is_datetime64_any_dtype(values.dtype):  # typed (Parquet): used as it is
        return _typed_times(values, zones, out, reasons)
    numeric = pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype)
    if isinstance(values.dtype, pd.CategoricalDtype):  # text once per distinct value
        values = values.astype(object)
    if fmt == "iso" and arrow_text(values):  # Arrow reads every time, with its offset: done
        cells = values if present.all() else values[present]
        parsed = _iso_instants(cells)
        if parsed is not None:
            parsed = _in_range(parsed, cells, reasons)
            if len(cells) == len(out):
                return parsed, reasons
            out[present] = parsed
            return out, reasons
    if fmt in ("unix_s", "unix_ms") and numeric:  # numbers as they are; text only for reasons
        text = numbers = values[present]
    else:
        text = values[present].astype(str).str.strip()
        numbers = pd.to_numeric(text, errors="coerce") if fmt in ("unix_s", "unix_ms") else None
    if fmt in ("unix_s", "unix_ms"):
        unit = "s" if fmt == "unix_s" else "ms"
        parsed = _in_range(pd.to_datetime(numbers, unit=unit, utc=True, errors="coerce"), text,
                           reasons)
        out[present] = parsed
        bad = parsed.isna() & reasons[parsed.index].isna()
        far = bad & numbers.notna()  # a number, but too far from 1970 for any clock
        reasons[far[far].index] = ("time '" + text[far].astype(str) + f"' is outside the range the tool holds "
                                   f"({EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d}) as {unit} since 1970")
        if unit == "s":  # a number the size of milliseconds (1.7e12 now): say so
            milli = reasons.index.isin(numbers.index[numbers.abs() >= 1e11]) & reasons.notna()
            reasons[milli] = reasons[milli] + " (milliseconds? set `time_format: unix_ms`)"
        bad &= ~far
        reasons[bad[bad].index] = "time '" + text[bad].astype(str) + f"' is not a number of {unit} since 1970"
        return out, reasons
    pattern = "ISO8601" if fmt == "iso" else fmt
    if fmt == "iso":
        aware = _contains(text, _OFFSET)
    else:  # a strftime pattern has an offset in every value or in none
        aware = pd.Series("%z" in fmt or "%Z" in fmt, index=text.index)
    if aware.any():
        parsed = _iso_instants(text[aware]) if fmt == "iso" else None
        if parsed is None:
            parsed = _to_datetime(text[aware], pattern, utc=True)
            if fmt == "iso":
                _lowercase_retry(parsed, text[aware], pattern, utc=True)
        out[aware[aware].index] = _in_range(parsed, text, reasons)
    naive = text[~aware]
    if len(naive):
        try:
            local = _to_datetime(naive, pattern)
        except SuggestError:
            if fmt != "iso":
                raise
            local = None  # pandas saw an offset beside local times ("mixed time zones")
        if fmt == "iso" and (local is None or getattr(local.dtype, "tz", None) is not None):
            # offsets the pattern misses (a one-digit hour, "+1"), which pandas reads:
            # found value by value, on this rare path only
            found = naive.map(_iso_offset_read).astype(bool)
            if found.any():
                out[found[found].index] = _in_range(_to_datetime(naive[found], pattern, utc=True),
                                                    text, reasons)
            naive = naive[~found]
            local = _to_datetime(naive, pattern)
        if fmt == "iso":
            _lowercase_retry(local, naive, pattern)
        local = _in_range(local, text, reasons)
        _localize(local, zones[naive.index], text, out, reasons,
                  "write it with its UTC offset" if fmt == "iso" else
                  "a time_format reads an offset in every time or in none: write every time "
                  "with its UTC offset and add %z to time_format")
    failed = present & out.isna() & reasons.isna()
    expected = "ISO 8601 like 2026-03-02T08:15:00+01:00" if fmt == "iso" else f"the format {fmt!r}"
    number = pd.to_numeric(values[failed], errors="coerce")
    written = values[failed].astype(str).str.strip()
    # a number's size tells seconds (1.7e9 now) from milliseconds (1.7e12)
    hint = np.where(number.isna(), _slashed_hints(written, fmt),
                    np.where(number.abs() >= 1e11,
                             " (for milliseconds since 1970 set `time_format: unix_ms`)",
                             " (for seconds since 1970 set `time_format: unix_s`)"))
    reasons[failed] = ("time '" + values[failed].astype(str) + f"' is not {expected}" + hint)
    if fmt == "iso" and failed.any():  # written as ISO 8601, but no such day or time
        shaped = values[failed].astype(str).str.strip().str.match(_ISO_SHAPE)
        at = shaped[shaped].index
        reasons[at] = ("time '" + values[at].astype(str) + "' is written as ISO 8601 but "
                       f"no such date or time exists ({TIME_RANGES})")
    return out, reasons


#: What a date and time must be, said of one that is not.
TIME_RANGES = "month 01-12, a day its month has, hour 00-23, minute and second 00-59"
#: A day and month with slashes, and the parts of the time after it (what the hint's
#: pattern must read: a two- or four-digit year, the separator, seconds, a fraction).
_SLASHED = (r"^\d{1,2}/\d{1,2}/(?P<year>\d{4}|\d{2})"
            r"(?:(?P<sep>[ T])(?P<hm>\d{1,2}:\d{2})(?P<s>:\d{2})?(?P<f>[.,]\d+)?)?$")
#: Past this many times that did not parse, the hint is the first one's shape's for every
#: time with slashes (one pass of a match, not an extraction of every time's parts).
HINTED_ONE_BY_ONE = 100_000


def _slashed_hints(written: pd.Series, fmt: str) -> np.ndarray:
    """Per time that did not parse, the ``time_format`` hint for a day and month with
    slashes, with the pattern its own parts need (``'%d/%m/%Y %H:%M:%S'`` for one with
    seconds: a fixed '%d/%m/%Y %H:%M' had a tester set it and get the same hint back), the
    month-first one beside it, and never the format already set; '' for other times."""
    hints = np.full(len(written), "", dtype=object)
    if len(written) > HINTED_ONE_BY_ONE:  # a whole log in another format: one shape's hint
        slashed = written.str.match(_SLASHED).to_numpy(dtype=bool)
        if slashed.any():
            first = written[slashed].iloc[:1]
            hints[slashed] = _slashed_hints(first, fmt)[0]
        return hints
    parts = written.str.extract(_SLASHED)
    shaped = parts["year"].notna()
    if not shaped.any():
        return hints
    key = (parts["year"].str.len().astype(str) + parts["sep"].fillna("-")
           + parts["hm"].notna().astype(str) + parts["s"].notna().astype(str)
           + parts["f"].str[:1].fillna("-"))
    for shape in key[shaped].unique():  # a handful of shapes, each one text
        these = shaped & (key == shape)
        first = parts[these].iloc[0]
        rest = ("%Y" if len(first["year"]) == 4 else "%y") + (
            "" if pd.isna(first["hm"]) else first["sep"] + "%H:%M"
            + ("" if pd.isna(first["s"]) else ":%S")
            + ("" if pd.isna(first["f"]) else first["f"][0] + "%f"))
        day, month = f"%d/%m/{rest}", f"%m/%d/{rest}"
        if fmt in (day, month):
            other = month if fmt == day else day
            read = pd.to_datetime(written[these], format=other, errors="coerce").notna()
            text = np.where(read, f" (set `time_format: '{other}'` if the "
                                  f"{'month' if fmt == day else 'day'} comes first)",
                            f" (no such date or time: {TIME_RANGES})")
        else:
            text = (f" (a day and month with slashes: set `time_format: '{day}'`, or "
                    f"'{month}' when the month comes first)")
        hints[these.to_numpy()] = text
    return hints


#: A date and time written the ISO 8601 way (what :func:`parse_times` calls no such date
#: when it does not parse: 2026-02-30, 25:00).
_ISO_SHAPE = (r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}(?::\d{2}(?::\d{2}(?:[.,]\d+)?)?)?"
              r"\s?(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?)?$")


def arrow_text(values: pd.Series) -> bool:
    """Whether ``values`` is Arrow-backed text (pandas 3's ``str``, Parquet, pyarrow's CSV
    reader)."""
    return isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow"


def arrow_cells(values: pd.Series):
    """The Arrow array of Arrow-backed text (its own data, ``__arrow_array__``; no copy)."""
    import pyarrow as pa

    cells = pa.array(values.array)
    return cells.combine_chunks() if isinstance(cells, pa.ChunkedArray) else cells


def _contains(text: pd.Series, pattern: str) -> pd.Series:
    """``text.str.contains(pattern)``, by pyarrow's RE2 on Arrow-backed text (ten times
    faster there than pandas' route); the pattern must mean the same to both engines."""
    if arrow_text(text) and len(text):
        import pyarrow.compute as pc

        found = pc.match_substring_regex(arrow_cells(text), pattern)
        return pd.Series(found.to_numpy(zero_copy_only=False), index=text.index, dtype=bool)
    return text.str.contains(pattern, regex=True)


def _iso_instants(text: pd.Series) -> pd.Series | None:
    """ISO 8601 times with an offset, as UTC, by Arrow's parser (several times faster than
    pandas') when it reads every one of them and the column is Arrow-backed text; else None
    (then pandas reads them, row by row reasons and all). Arrow's parser is the stricter:
    where it reads a time it reads the instant pandas reads (a test compares them), and a
    time between 1677 and 2262 that it refuses (a comma before the fraction, a date alone,
    more than nine digits of fraction, a space before the offset) makes the whole column go
    to pandas, which gives the same result as before."""
    if not arrow_text(text) or not len(text):
        return None
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        parsed = pc.cast(arrow_cells(text), pa.timestamp("ns", tz="UTC"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return pd.Series(parsed.to_numpy(zero_copy_only=False), index=text.index).dt.tz_localize("UTC")


def _typed_times(values: pd.Series, zones: pd.Series, out: pd.Series,
                 reasons: pd.Series) -> tuple[pd.Series, pd.Series]:
    """:func:`parse_times` for a column of timestamps (Parquet): one with a zone is
    converted to UTC; one without is local time in each row's zone, as a text time
    without an offset is (a time a DST change skips or repeats is refused)."""
    zone = getattr(values.dtype, "tz", None)
    low, high = (EARLIEST, LATEST) if zone is None else (EARLIEST.tz_localize("UTC"),
                                                          LATEST.tz_localize("UTC"))
    outside = values.notna() & ((values < low) | (values > high))  # a unit coarser than ns
    if outside.any():
        reasons[outside] = ("time '" + values[outside].astype(str) + "' is outside the range the "
                            f"tool holds ({EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d})")
        values = values.where(~outside)
    if zone is not None:
        out[:] = values.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
        return out, reasons
    local = values.astype("datetime64[ns]")
    _localize(local, zones, local, out, reasons, "store it with its zone or in UTC")
    return out, reasons


def _localize(local: pd.Series, zones: pd.Series, shown: pd.Series, out: pd.Series,
              reasons: pd.Series, advice: str) -> None:
    """Write the wall times ``local``, each in its row's zone, to ``out`` in UTC; a time a
    DST change skips or repeats gets a reason showing the row's ``shown`` value."""
    for zone, idx in zones.groupby(zones, sort=True).groups.items():
        stamped = local[idx].dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
        out[idx] = stamped.dt.tz_convert("UTC")
        dst = local[idx].notna() & stamped.isna()
        if dst.any():
            at = dst[dst].index
            reasons[at] = ("local time '" + shown[at].astype(str) + "' "
                           + dst_problem(local[at], zone) + f"; {advice}")


def dst_problem(local: pd.Series, zone: str) -> pd.Series:
    """Why each wall time of ``local`` (a DST change's, in ``zone``) names no one instant:
    the clocks skipped it, or it came twice, with the offsets of the two (said as "does not
    exist or is ambiguous", a tester could not tell which, nor what to write)."""
    first = local.dt.tz_localize(zone, ambiguous=np.ones(len(local), bool), nonexistent="NaT")
    second = local.dt.tz_localize(zone, ambiguous=np.zeros(len(local), bool), nonexistent="NaT")

    def offset(stamps: pd.Series) -> pd.Series:
        text = stamps.dt.strftime("%z").fillna("")
        return text.str[:3] + ":" + text.str[3:]

    twice = (f"comes twice in {zone} (a DST change: the clocks went back): at "
             + offset(first) + " and again at " + offset(second))
    return twice.where(first.notna(),
                       f"does not exist in {zone} (a DST change: the clocks jumped past it)")


def _lowercase_retry(parsed: pd.Series, text: pd.Series, pattern: str, utc: bool = False) -> None:
    """Read again, in capitals, the ISO times of ``text`` that ``parsed`` misses and that hold
    a lowercase ``t`` or ``z`` (RFC 3339 allows both; pandas refuses them, and a context's
    time read them: a log rejected its rows as "no such date or time"). Only the missed ones
    are searched: the common path costs nothing."""
    missed = text[parsed.isna().to_numpy()]
    lower = missed[missed.str.contains("[tz]", regex=True)]
    if len(lower):
        parsed[lower.index] = _to_datetime(lower.str.upper(), pattern, utc=utc)


def _iso_offset_read(text: str) -> bool:
    """Whether pandas' ISO 8601 reader reads ``text`` as a time with a UTC offset."""
    try:
        when = pd.to_datetime(text, format="ISO8601")
    except (ValueError, TypeError, OverflowError):
        return False
    return when is not pd.NaT and when.tzinfo is not None


def _to_datetime(text: pd.Series, pattern: str, utc: bool = False) -> pd.Series:
    """``pd.to_datetime`` with a pattern; a pattern pandas cannot use is the user's error."""
    try:
        return pd.to_datetime(text, format=pattern, utc=utc, errors="coerce")
    except (ValueError, re.error) as exc:
        raise SuggestError(f"time_format {pattern!r} cannot read times: {exc}",
                           hint=TIME_FORMAT_HINT) from None


TIME_FORMAT_HINT = ("use iso, unix_s, unix_ms or a strftime pattern with each directive once, "
                    "such as '%d/%m/%Y %H:%M'")


def time_format_problem(pattern: str) -> str | None:
    """Why pandas cannot parse times with the strftime ``pattern`` (a bad directive such as
    ``%Q``, a stray ``%``, a directive given twice), or None when it can."""
    try:
        pd.to_datetime(pd.Series(["2026-03-02 08:15:00"]), format=pattern, errors="coerce")
    except (ValueError, re.error) as exc:
        return str(exc)
    return None


#: The span of the nanosecond timestamps the frames hold (pandas' range).
EARLIEST, LATEST = pd.Timestamp.min.ceil("s"), pd.Timestamp.max.floor("s")


def _in_range(parsed: pd.Series, text: pd.Series, reasons: pd.Series) -> pd.Series:
    """``parsed`` in nanoseconds; times before 1677 or after 2262 (which pandas parses at a
    coarser unit, but the frames cannot hold) become missing, with their reason."""
    zone = getattr(parsed.dtype, "tz", None)
    low, high = (EARLIEST, LATEST) if zone is None else (EARLIEST.tz_localize(zone),
                                                          LATEST.tz_localize(zone))
    outside = parsed.notna() & ((parsed < low) | (parsed > high))
    if outside.any():
        reasons[outside[outside].index] = (
            "time '" + text[outside[outside].index].astype(str) + f"' is outside the range the tool holds "
            f"({EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d})")
        parsed = parsed.where(~outside)
    return parsed.astype("datetime64[ns, UTC]" if zone is not None else "datetime64[ns]")


def local_fields(timestamps: pd.Series, zones: str | pd.Series) -> pd.DataFrame:
    """``hour``, ``minute``, ``weekday`` (0 = Monday) and ``is_weekend`` in local time.

    ``zones`` is one IANA zone name for all rows, or a Series of names per row.
    Rows whose timestamp is missing get missing fields.

    >>> ts = pd.Series(pd.to_datetime(["2026-03-28T07:30:00Z", "2026-03-29T07:30:00Z"], utc=True))
    >>> local_fields(ts, "Europe/Berlin")["hour"].tolist()   # CET, then CEST
    [8, 9]
    """
    if isinstance(zones, str):
        zones = pd.Series(zones, index=timestamps.index)
    elif not zones.index.equals(timestamps.index):  # by label, as the rows are
        zones = zones.reindex(timestamps.index)
    fields = np.full((3, len(timestamps)), -1, dtype=np.int16)
    codes, names = pd.factorize(zones, sort=True)
    utc = pd.DatetimeIndex(timestamps.array)  # in its own unit: a far date fits no other
    per_minute = 60 * {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[utc.unit]
    one = len(names) == 1 and codes.min() == 0  # one zone, on every row: no rows to pick
    for z, zone in enumerate(names):
        at = np.arange(len(codes)) if one else np.flatnonzero(codes == z)
        # the local wall clock (one conversion a zone), then whole-number arithmetic:
        # minutes since 1970-01-01, a Thursday (weekday 3)
        wall = (utc if one else utc[at]).tz_convert(zone).tz_localize(None).asi8
        known = wall != NAT
        minutes = wall[known] // per_minute
        at = at[known]
        fields[0, at] = (minutes // 60) % 24
        fields[1, at] = minutes % 60
        fields[2, at] = (minutes // 1440 + 3) % 7
    missing = fields[0] < 0
    out = {name: pd.arrays.IntegerArray(fields[i].astype(np.int8), missing)
           for i, name in enumerate(TIME_FIELDS[:3])}
    out["is_weekend"] = pd.arrays.BooleanArray(fields[2] >= 5, missing)
    return pd.DataFrame(out, index=timestamps.index)


def check_zoned(frame: pd.DataFrame) -> None:
    """Refuse a Requests frame whose timestamps have no zone beside a ``timezone`` column:
    UTC instants (a loaded log's) or each row's local time? ``suggest_one`` reads a time
    without an offset in its zone; reading a frame's as UTC gave other suggestions."""
    stamps = frame.get("timestamp")
    if stamps is not None and "timezone" in frame.columns \
            and pd.api.types.is_datetime64_dtype(stamps) and getattr(stamps.dtype, "tz", None) is None:
        raise SuggestError("the requests' timestamp column has no time zone, beside a timezone "
                           "column: it could be UTC or each row's local time",
                           hint="make it UTC instants (pd.to_datetime(..., utc=True)) or read "
                                "the log with suggest.load, which reads local times in their zone")


def with_time_fields(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with local ``hour, minute, weekday, is_weekend`` added from ``timestamp``
    (in the row's ``timezone``, else UTC) when it has a timestamp but not the fields."""
    if "timestamp" not in frame.columns or all(c in frame.columns for c in TIME_FIELDS):
        return frame
    check_zoned(frame)
    zones = frame["timezone"] if "timezone" in frame.columns else "UTC"
    fields = local_fields(pd.to_datetime(frame["timestamp"], utc=True), zones)
    return frame.assign(**{c: fields[c].to_numpy() for c in fields.columns})


#: Text that holds a date: a four-digit year, or day, month and year (03/03/26).
DATED = re.compile(r"\d{4}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2}")


def context_time(stamp, zone: str | None = None) -> pd.Timestamp:
    """One context's ``timestamp`` as an aware Timestamp, or a :class:`SuggestError`.

    Text is ISO 8601 (or anything pandas reads). A time without an offset is
    local time in ``zone`` (the context's ``timezone``), else UTC; one that
    does not exist or happens twice at a DST change is refused, as a log row is.

    >>> context_time("2026-03-03T08:10:00", "Europe/Berlin").isoformat()
    '2026-03-03T08:10:00+01:00'
    >>> context_time("8 ish")
    Traceback (most recent call last):
    ...
    suggest.errors.SuggestError: context timestamp '8 ish' is not a time (write ISO 8601, e.g. 2026-03-03T08:10:00+01:00)
    """
    text = None if isinstance(stamp, (pd.Timestamp, datetime.datetime)) else str(stamp).strip()
    try:
        ts = pd.Timestamp(stamp) if text is None else pd.Timestamp(text)
    except ValueError:  # pandas' DateParseError is one
        ts = pd.NaT
    if ts is not pd.NaT and text is not None and not DATED.search(text):
        # pandas reads a clock time alone ("08:10") as today's: the answer would change
        # with the day it runs
        raise SuggestError(f"context timestamp {text!r} has no date",
                           hint="write ISO 8601 with the date, e.g. 2026-03-03T08:10:00+01:00")
    if ts is pd.NaT:
        raise SuggestError(f"context timestamp {str(stamp)!r} is not a time",
                           hint="write ISO 8601, e.g. 2026-03-03T08:10:00+01:00"
                                + _epoch_reading(text))
    if zone is not None:
        check_zone(zone)
    if ts.tzinfo is None:
        try:
            ts = ts.tz_localize(zone or "UTC")
        except ValueError:  # pandas' NonExistentTimeError and AmbiguousTimeError are ones
            raise SuggestError(f"context timestamp {str(stamp)!r} "
                               + dst_problem(pd.Series([ts]), zone)[0],
                               hint="write it with its UTC offset") from None
    return ts


def _epoch_reading(text: str | None) -> str:
    """For a context timestamp written as a Unix time (copied from a log of ``time_format:
    unix_s`` or ``unix_ms``), the ISO 8601 time it stands for, as a clause of the hint.

    >>> _epoch_reading("1769970608")
    '; as Unix seconds, 1769970608 is 2026-02-01T18:30:08+00:00'
    >>> _epoch_reading("1769970608.5")
    '; as Unix seconds, 1769970608.5 is 2026-02-01T18:30:08.500000+00:00'
    """
    match = re.fullmatch(r"(\d{9,10}|\d{12,13})(\.\d+)?", text or "")
    if not match:
        return ""
    unit = "s" if len(match.group(1)) <= 10 else "ms"
    stamp = pd.Timestamp(float(text), unit=unit, tz="UTC").round(
        "us" if match.group(2) else unit)  # a fraction kept (to the microsecond), else whole
    return (f"; as Unix {'seconds' if unit == 's' else 'milliseconds'}, {text} is "
            f"{stamp.isoformat()}")


def check_zone(zone: object) -> None:
    """Refuse a context ``timezone`` that is not an IANA zone name nor a UTC offset."""
    if zone_name(zone) is None:
        raise SuggestError(f"context timezone {zone!r} is not an IANA time zone nor a UTC offset",
                           hint=zone_hint(zone))


def zone_name(value: object) -> str | None:
    """The zone ``value`` names: an IANA name as written, a fixed offset's ``UTC+05:30``
    name (:func:`fixed_zone_name`), or None when it is neither.

    >>> zone_name("Asia/Kolkata"), zone_name("+0530"), zone_name("IST")
    ('Asia/Kolkata', 'UTC+05:30', None)
    """
    text = str(value)
    fixed = fixed_zone_name(text)
    if fixed:
        return fixed
    try:
        zone_info(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return None
    return text


#: Zone abbreviations people write that are no IANA name: the zones each may mean and the
#: offset it stands for (those IANA does name, such as EST, CET or MST, are read as such).
ABBREVIATIONS = {
    "IST": ("Asia/Kolkata (India), Asia/Jerusalem or Europe/Dublin", "+05:30"),
    "PST": ("America/Los_Angeles", "-08:00"),
    "PDT": ("America/Los_Angeles", "-07:00"),
    "EDT": ("America/New_York", "-04:00"),
    "CST": ("America/Chicago (US) or Asia/Shanghai (China)", "-06:00"),
    "CDT": ("America/Chicago", "-05:00"),
    "MDT": ("America/Denver", "-06:00"),
    "AKST": ("America/Anchorage", "-09:00"),
    "AKDT": ("America/Anchorage", "-08:00"),
    "BST": ("Europe/London", "+01:00"),
    "CEST": ("Europe/Paris or Europe/Berlin", "+02:00"),
    "EEST": ("Europe/Athens", "+03:00"),
    "WEST": ("Europe/Lisbon", "+01:00"),
    "MSK": ("Europe/Moscow", "+03:00"),
    "AEST": ("Australia/Sydney", "+10:00"),
    "AEDT": ("Australia/Sydney", "+11:00"),
    "ACST": ("Australia/Adelaide", "+09:30"),
    "AWST": ("Australia/Perth", "+08:00"),
    "NZST": ("Pacific/Auckland", "+12:00"),
    "NZDT": ("Pacific/Auckland", "+13:00"),
    "JST": ("Asia/Tokyo", "+09:00"),
    "KST": ("Asia/Seoul", "+09:00"),
    "SGT": ("Asia/Singapore", "+08:00"),
    "HKT": ("Asia/Hong_Kong", "+08:00"),
    "PHT": ("Asia/Manila", "+08:00"),
    "ICT": ("Asia/Bangkok", "+07:00"),
    "WIB": ("Asia/Jakarta", "+07:00"),
    "PKT": ("Asia/Karachi", "+05:00"),
    "GST": ("Asia/Dubai", "+04:00"),
    "BRT": ("America/Sao_Paulo", "-03:00"),
    "ART": ("America/Argentina/Buenos_Aires", "-03:00"),
    "SAST": ("Africa/Johannesburg", "+02:00"),
    "EAT": ("Africa/Nairobi", "+03:00"),
    "WAT": ("Africa/Lagos", "+01:00"),
    "CAT": ("Africa/Maputo", "+02:00"),
}
#: IANA names that are one offset all year, which people write for a clock that keeps summer
#: time: the offset, and the zone of the clock they likely mean (``MST`` is right for Arizona;
#: HST is not here: Hawaii keeps no summer time).
FIXED_ALL_YEAR = {"EST": ("-05:00", "America/New_York"),
                  "MST": ("-07:00", "America/Denver (America/Phoenix keeps MST all year)")}
#: Something written as a UTC offset that :data:`WRITTEN_FIXED` does not read.
_OFFSET_LIKE = re.compile(r"(?:UTC|GMT)?\s*[+-]\s*\d.*", re.IGNORECASE)


def zone_hint(value: object) -> str:
    """What to write instead of ``value``, a zone that :func:`zone_name` does not know: the
    IANA names an abbreviation may mean (``IST``: Asia/Kolkata, not the MST closest in
    spelling), how to write an offset, or the closest name.

    >>> zone_hint("PST")
    "'PST' is an abbreviation, not a zone: write an IANA name such as America/Los_Angeles, or the UTC offset it stands for, -08:00"
    """
    text = str(value).strip()
    upper = text.upper()
    if upper in ABBREVIATIONS:
        zones, offset = ABBREVIATIONS[upper]
        return (f"'{text}' is an abbreviation, not a zone: write an IANA name such as "
                f"{zones}, or the UTC offset it stands for, {offset}")
    if upper in FIXED_ALL_YEAR:  # 'est': not the EST a did-you-mean would offer
        offset, clock = FIXED_ALL_YEAR[upper]
        return (f"for a clock that keeps summer time write its IANA zone, {clock}; "
                f"'{upper}' in capitals is UTC{offset} all year")
    if _OFFSET_LIKE.fullmatch(text):
        return ("write a fixed UTC offset as +05:30, +0530 or UTC+05:30: hours up to 14, "
                "minutes 00 to 59, no decimals")
    return (did_you_mean(text, zoneinfo.available_timezones())
            or "use an IANA name like Europe/Berlin, or a UTC offset like +05:30")


@functools.lru_cache(maxsize=64)
def zone_info(name: str) -> datetime.tzinfo:
    """``ZoneInfo(name)``, or the fixed offset of a ``UTC+05:30`` name (a log read with
    ``timezone: offset``, a zone column of offsets), cached: the single-context path
    converts to a few zones many times."""
    delta = fixed_offset(name)
    if delta is not None:
        return datetime.timezone(delta, fixed_zone_name(name))
    return zoneinfo.ZoneInfo(name)
