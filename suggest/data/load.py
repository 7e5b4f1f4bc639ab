"""Validate a raw log against its description and build the frames (DESIGN section 2).

``read(dataset)`` returns ``(frame, rejects)``: the typed long log (one row
per source row, with its ``line``) and the rejected rows, each with its line
number and reason. ``load(dataset)`` goes on to the frames the engines use:
Requests, Truth, Events (every row with an item, positives and known
negatives, for history features) and Catalog, plus a :class:`LoadReport`.
Always ``rows_in == rows_ok + rows_rejected``.

Choices where DESIGN is silent:

* A cell is missing when it is empty (``missing_values`` adds more texts).
* Columns the description does not name are context columns whose type is
  inferred (boolean for true/false/yes/no words, numeric when every value is
  a number, else categorical) and reported, never used silently.
* Without ``columns.request`` a request is one (user, context, time) tuple.
  With it, rows of one request must agree on user, time and context; rows
  that disagree with the request's first row are rejected.
* A repeated (request, item) is summed without a relevance column (counts)
  and takes the largest value with one (ratings).
* Relevance must be a number >= 0. A row is an engagement when its relevance
  is >= ``positive_min``, or > 0 when ``positive_min`` is not set; other rows
  with an item are known negatives (kept in Events, not in Truth). A row with
  no item is a request with no engagement: one whose relevance would make it an
  engagement is rejected (an engagement needs its item).
* A log of what was shown (``position`` and ``propensity`` columns) is a
  bandit-feedback log: every row with an item is a shown item. A position must
  be a whole number >= 1 and a propensity a number above 0 and at most 1; a
  row with an item whose position or propensity is missing or outside that is
  rejected with the reason. Both travel in Events; the report says how many
  rows were shown, over how many requests, at which positions, with which
  range of propensities.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import json
import os
import re

import numpy as np
import pandas as pd

from suggest.data.description import ColumnSpec, Dataset
from suggest.data.timefields import TIME_FIELDS
from suggest.data.readers import RawTable, log_files, read_table, sniff_separator
from suggest.data.timefields import (FIXED_ALL_YEAR, OFFSET_ZONE, arrow_cells, arrow_text,
                                     local_fields, parse_times, written_zones, zone_hint,
                                     zone_name)
from suggest.errors import (DataError, DataErrorList, SuggestError, counted, did_you_mean, one_of,
                            percent)
from suggest.files import write_atomic
from suggest.ids import isin

#: Column names the frames use for their own purposes.
RESERVED = ("request_id", "user_id", "item_id", "relevance", "timestamp", "timezone", "group_id",
            "positive", "line", "engine", "rank", "score", "reason", *TIME_FIELDS)
TRUE_WORDS = ("true", "t", "yes", "y", "1")
FALSE_WORDS = ("false", "f", "no", "n", "0")
REJECT_COLUMNS = ["source", "line", "reason", "text"]
#: Threads that type a log's columns side by side (:func:`check_rows`): Arrow's and numpy's
#: work on a column releases the GIL, so the id columns of a large log overlap.
THREADS = min(4, os.cpu_count() or 1)
#: Cell texts that usually mean "missing" in exports (databases, spreadsheets, R, pandas).
MISSING_MARKERS = ("NULL", "null", "NaN", "nan", "None", "N/A", "n/a", "NA", "\\N", "-", "?")


@dataclass
class LoadReport:
    """Counts and schema of one load; ``to_text()`` is what the CLI prints."""

    source: str
    rows_in: int = 0
    rows_ok: int = 0
    rows_rejected: int = 0
    requests: int = 0
    requests_without_positive: int = 0
    #: requests kept without some of their rows (rejected): scored on the rows they kept
    partial_requests: int = 0
    users: int = 0
    items: int = 0
    positives: int = 0
    negatives: int = 0
    #: the engaged (request, item) pairs after ``duplicates:`` merged repeated ones
    engagements: int = 0
    has_time: bool = False
    roles: dict[str, str] = field(default_factory=dict)
    schema: dict[str, str] = field(default_factory=dict)
    attributes: list[str] = field(default_factory=list)
    inferred: dict[str, str] = field(default_factory=dict)
    reject_reasons: dict[str, int] = field(default_factory=dict)
    catalog_rows: int = 0
    catalog_rejected: int = 0
    catalog_attributes: dict[str, str] = field(default_factory=dict)
    request_key: str = ""
    ignored: list[str] = field(default_factory=list)
    #: the folder keys of a hive dataset (``day=2026-03-01/``) left out as no column declares
    folder_keys: list[str] = field(default_factory=list)
    missing_share: dict[str, float] = field(default_factory=dict)
    time_range: list[str] | None = None
    #: the description's one zone, when every request is read in it (none: UTC, a column of
    #: zones, or each time's own offset): ``time_range`` is said in it too
    time_zone: str | None = None
    warnings: list[str] = field(default_factory=list)
    #: items the catalog file lists that no log row names (None: no catalog file)
    catalog_unseen: int | None = None
    duplicates: dict = field(default_factory=dict)
    shown: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The report's fields, and ``reject_kinds``: each kind of reject with its quoted values
        and line numbers set aside (``time '…' is not ISO 8601 like …``), its rows and an
        example, keys a program can match where ``reject_reasons``' are sentences."""
        labels = list(self.reject_reasons)
        examples = pd.Series(labels, dtype=object).str.replace(OTHER_VALUES, "", regex=True)
        kinds = reason_kinds(examples)
        return {**self.__dict__, "reject_kinds": [
            {"kind": kind, "rows": int(self.reject_reasons[label]), "example": example}
            for kind, label, example in zip(kinds, labels, examples)]}

    def to_text(self) -> str:
        # most rows rejected: said under the count, before any figure of the rest
        first = many_rejected(self.rows_in, self.rows_rejected, self.reject_reasons)
        span = f"{self.time_range[0]} to {self.time_range[1]}" if self.time_range else \
            "none (no time column: splits will be by request, seeded)"
        local = local_span(self.time_range, self.time_zone)
        if local:  # the log's own days: in UTC it seemed to start the day before
            span += f" (in {self.time_zone}: {local[0]} to {local[1]})"
        lines = [f"log: {self.source}",
                 f"  rows: {self.rows_in:,} read, {self.rows_ok:,} ok, {self.rows_rejected:,} rejected",
                 *([f"  warning: {first}"] if first else []),
                 f"  requests: {self.requests:,}, one per {self.request_key}; "
                 f"{self.requests_without_positive:,} have no positive"
                 + (f"; {partial_text(self.partial_requests)}" if self.partial_requests else ""),
                 f"  users: {self.users:,}, items: {self.items:,}",
                 f"  positives (engagements): {self.positives:,}"
                 + (f" rows, {self.engagements:,} after merging repeated (request, item) pairs"
                    if self.engagements != self.positives else "")
                 + f", known negatives: {self.negatives:,}"
                 + (" (request, item) pairs after merging" if self.duplicates.get("rows") else ""),
                 f"  timestamps: {span}",
                 "  columns:"]
        width = max((len(c) for c in [*self.schema, *self.roles.values(), *self.ignored]), default=0)
        for role, col in self.roles.items():
            lines.append(f"    {col:<{width}}  {role}")
        for col, kind in self.schema.items():
            what = "item attribute" if col in self.attributes else "context"
            share = self.missing_share.get(col)
            empty = f", missing in {percent(share)} of requests" if share else ""
            note = "   (inferred: declare it under `context:` or list it in `ignore:`)" \
                if col in self.inferred else ""
            lines.append(f"    {col:<{width}}  {what}, {kind}{empty}{note}")
        lines += [f"    {col:<{width}}  ignored" + ("   (a folder key: declare it under `context:` to "
                                                    "use it)" if col in self.folder_keys else "")
                  for col in self.ignored]
        if self.catalog_rows:
            attrs = ", ".join(f"{c} ({t})" for c, t in self.catalog_attributes.items())
            lines.append(f"  catalog: {self.catalog_rows:,} items ({self.catalog_rejected:,} rows rejected)"
                         + (f", {self.catalog_unseen:,} of them in no row of the log"
                            if self.catalog_unseen else "")
                         + (f", attributes: {attrs}" if attrs else ""))
        d = self.duplicates
        if d.get("rows"):
            lines.append(f"  duplicates: {d['rows']:,} rows repeat {d['pairs']:,} (request, item) "
                         f"pairs, {d['disagreeing_pairs']:,} of them with different relevance; "
                         f"merged by `duplicates: {d['rule']}`")
        if d.get("itemless_rows"):
            lines.append(f"  rows without an item: {d['itemless_rows']:,} repeat one of their "
                         f"request's (a request without an engagement, written again; "
                         f"counted once)")
        if self.shown:
            lines.append(shown_line(self.shown))
        for reason, count in self.reject_reasons.items():
            lines.append(f"  rejected {count:,} x {reason}")
        lines += [f"  warning: {w}" for w in self.warnings if w != first]
        return "\n".join(lines)


@dataclass
class Log:
    """A loaded log: the frames of DESIGN section 2 and the load report."""

    dataset: Dataset
    requests: pd.DataFrame
    truth: pd.DataFrame
    events: pd.DataFrame
    catalog: pd.DataFrame
    rejects: pd.DataFrame
    report: LoadReport
    context: dict[str, str]

    @property
    def has_time(self) -> bool:
        return "timestamp" in self.requests.columns

    def categorical_values(self) -> dict[str, set[str]]:
        """The values of each categorical context column, as text."""
        return {name: _text_values(self.requests[name])
                for name, kind in self.context.items() if kind == "categorical"}


def _text_values(values: pd.Series) -> set[str]:
    """The distinct present values of a column, as text: of a categorical column, the
    categories its rows use (not a string per row)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.cat.codes.to_numpy()
        used = np.flatnonzero(np.bincount(codes[codes >= 0], minlength=len(values.cat.categories)))
        return set(pd.Index(values.cat.categories[used]).astype(str))
    return set(pd.Series(values.dropna().unique()).astype(str))


def read(dataset: Dataset | str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read and validate the log of ``dataset``: ``(frame, rejects)``.

    ``frame`` keeps one row per accepted source row, typed, with its ``line``;
    ``rejects`` has ``source, line, reason, text`` for every refused row.

    Raises
    ------
    DataError
        When the file cannot be read as described, or every row is rejected.
    """
    frame, rejects, _, _ = _read(_as_dataset(dataset))
    return frame, rejects


def load(dataset: Dataset | str | Path) -> Log:
    """Read, validate and shape a log into Requests, Truth, Events and Catalog.

    Examples
    --------
    >>> log = load("data/sample/dataset.yaml")          # doctest: +SKIP
    >>> log.report.rows_in == log.report.rows_ok + log.report.rows_rejected  # doctest: +SKIP
    True
    """
    ds = _as_dataset(dataset)
    frame, rejects, report, codes = _read(ds)
    catalog, cat_rejects = catalog_of(ds, frame, report)
    rejects = pd.concat([rejects, cat_rejects], ignore_index=True) if len(cat_rejects) else rejects
    context = {c: t for c, t in report.schema.items() if c not in attribute_columns(ds)}
    requests, events, truth = shape(ds, frame, codes, context, report)
    report.users = _distinct_codes(codes.user)
    report.items = _distinct_codes(codes.item)
    describe(ds, report)
    report.missing_share = {c: round(float(requests[c].isna().mean()), 4) for c in context}
    if "timestamp" in requests and requests["timestamp"].notna().any():
        report.time_range = [str(requests["timestamp"].min()), str(requests["timestamp"].max())]
    missing = ~isin(events["item_id"], catalog["item_id"])
    if ds.catalog and ds.catalog.path:  # listed, never named: coverage counts them all
        report.catalog_unseen = unseen_count(catalog["item_id"], events["item_id"])
    if ds.catalog and ds.catalog.path and missing.any():
        report.warnings.append(absent_items_warning(sorted(events.loc[missing, "item_id"].unique()),
                                                    catalog["item_id"]))
    if len(cat_rejects):
        for reason, count in _reason_counts(cat_rejects).items():
            report.reject_reasons[f"catalog: {reason}"] = count
    extra = pd.DataFrame({"item_id": pd.unique(events.loc[missing, "item_id"])})
    catalog = pd.concat([catalog, extra], ignore_index=True) if len(extra) else catalog
    return Log(ds, requests, truth, events, catalog, rejects, report, context)


def unseen_count(listed: pd.Series, named) -> int:
    """How many items the catalog file lists (``listed``) that no log row names."""
    named = named if isinstance(named, pd.Series) else pd.Series(named, dtype=object)
    return int((~isin(listed, pd.Series(pd.unique(named)).astype(str))).sum())


def absent_items_warning(absent: list[str], known: pd.Series) -> str:
    """The warning of log items (``absent``, sorted) the catalog file does not list, saying
    when some of them are catalog ids written in another Unicode form ('café' with a
    combining accent against one with the accented letter): they look the same and are not."""
    import unicodedata

    shown = ", ".join(f"'{i}'" for i in absent[:5]) + (" ..." if len(absent) > 5 else "")
    said = f"{len(absent):,} items of the log are not in the catalog ({shown}); they have no attributes"
    nfc = {unicodedata.normalize("NFC", str(i)) for i in pd.unique(known.astype(str))}
    twins = [i for i in absent if unicodedata.normalize("NFC", i) in nfc]
    if not twins:
        return said
    one = len(twins) == 1
    return said + (f"; {len(twins):,} of them ({', '.join(repr(i) for i in twins[:3])}"
                   f"{' ...' if len(twins) > 3 else ''}) {'is a catalog id' if one else 'are catalog ids'}"
                   " written in another Unicode form (an accent as its own character): write the "
                   "log and the catalog in one form (NFC)")


def encoding_warning(ds: Dataset, reasons: dict[str, int]) -> list[str]:
    """A warning, with the fix, when rows were rejected for bytes the declared encoding does
    not read: a file in another encoding (latin-1) loses every row with an accent."""
    count = sum(n for reason, n in reasons.items() if reason.startswith("bytes that are not valid"))
    if not count:
        return []
    return [f"{count:,} rows were rejected for bytes that are not valid {ds.encoding}: if the "
            "file is in another encoding, set `encoding:` in the dataset description (e.g. "
            "encoding: latin-1 or cp1252) and check it again"]


#: From this share of a log's rows rejected, the first warning (and a caution in a replay's
#: verdict) says that every figure is of the rest.
MANY_REJECTED = 0.10


def many_rejected(rows_in: int, rejected: int, reasons: dict[str, int]) -> str | None:
    """A warning when ``MANY_REJECTED`` of the rows or more were rejected: the figures are of
    the rows kept, which may not be like the others; with the commonest reason, and what to
    do when it is a column that varies between the rows of a request (a slot, a score: it
    describes each row, not the request, and every row but a request's first is lost)."""
    if not rows_in or rejected < MANY_REJECTED * rows_in:
        return None
    reason, count = max(reasons.items(), key=lambda kv: kv[1]) if reasons else ("", 0)
    said = (f"{percent(rejected / rows_in)} of the log's rows were rejected ({rejected:,} of "
            f"{rows_in:,}): every figure is of the other {percent(1 - rejected / rows_in)}, "
            f"which may not be like them")
    if "the first row of the same request" in reason:
        column = reason.split(" '")[0]
        said += (f"; {count:,} because {column} differs between the rows of a request: rows "
                 f"of one request must agree on its user, time and context, so a column that "
                 f"varies within a request describes each row, not the request: list it under "
                 f"`ignore:` (or map a shown slot as `columns: position:`)")
    elif count:
        said += f"; the commonest reason ({counted(count, 'row')}): {reason}"
    return said


def partial_requests(request: np.ndarray | None, ok: np.ndarray, spared: np.ndarray) -> int:
    """Requests (codes of a request column; None: the log has none, and a rejected row has
    no request to name) with a kept row and a rejected one that lost something (``spared``:
    rejects that lose nothing, :func:`check_requests`)."""
    if request is None:
        return 0
    has = request >= 0
    size = int(request.max(initial=-1)) + 1
    kept = np.bincount(request[has & ok], minlength=size) > 0
    lost = np.bincount(request[has & ~ok & ~spared], minlength=size) > 0
    return int(np.count_nonzero(kept & lost))


def partial_text(n: int) -> str:
    """What the requests line says of requests kept without some of their rows (a PM's
    request lost one of its two engaged rows, and nothing said so)."""
    their = "its" if n == 1 else "their"
    return (f"{n:,} kept without some of {their} rows (rejected), scored as if the engagements "
            "of those rows never happened")


def reject_warnings(ds: Dataset, report: LoadReport) -> None:
    """The report's warnings on its rejects (a local load's and a Dask check's): bytes the
    encoding does not read, at the end; many rows rejected, first."""
    report.warnings += encoding_warning(ds, report.reject_reasons)
    lost = many_rejected(report.rows_in, report.rows_rejected, report.reject_reasons)
    if lost:
        report.warnings.insert(0, lost)


def _distinct_codes(codes: np.ndarray) -> int:
    """How many distinct codes (-1, none, aside) a row-per-code array holds: a count per code,
    not a sort."""
    present = codes[codes >= 0]
    return int(np.count_nonzero(np.bincount(present))) if len(present) else 0


def shape(ds: Dataset, frame: pd.DataFrame, codes: Codes, context: dict[str, str],
          report: LoadReport) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Requests, Events and Truth of the kept rows ``frame``; the report gets the counts of
    requests (with none positive), positives, negatives and merged duplicates.

    The Requests frame is built on a thread beside the Events and the Truth: both are
    mostly takes of columns and arithmetic on arrays, which release the GIL, so on two
    cores they overlap (the columns are picked here, so the thread shares no frame)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        requests = pool.submit(_requests, _request_columns(frame, context), context, codes.request)
        engaged = codes.item >= 0
        events = _events(ds, frame, engaged)
        truth = _truth(ds, events, report, _pair_keys(codes.request[engaged], codes.item[engaged]),
                       codes.request[engaged])
        requests = requests.result()
    if ds.group:  # the log's name of the group column, for what a split by it says
        requests.attrs["group_id"] = ds.group
    blank = codes.request[~engaged]  # a request's rows without an item beyond its first one
    report.duplicates["itemless_rows"] = int(len(blank) - _distinct_codes(blank))
    report.requests = len(requests)
    answered = np.zeros(len(requests), dtype=bool)  # request codes are 0..n-1
    answered[codes.request[engaged][events["positive"].to_numpy()]] = True
    report.requests_without_positive = int((~answered).sum())
    report.positives = int(events["positive"].sum())
    report.engagements = len(truth)
    # known negatives: the engaged (request, item) pairs the merge left without a positive
    # (a pair seen as an impression and as a click is a positive once merged)
    pairs = len(events) - report.duplicates["rows"] + report.duplicates["pairs"]
    report.negatives = int(pairs - len(truth))
    if ds.position:
        events["position"] = events["position"].astype(np.int64)
        report.shown = shown_summary(events)
    return requests, events, truth


def undeclared_folder_keys(ds: Dataset) -> list[str]:
    """The keys of a hive dataset's folder names (``day=2026-03-01/part-0.parquet``) that the
    description does not declare: left out like ``ignore:``'s columns. A key is where the
    file was stored, not the request's context: as context it split the requests whose rows
    were stored in two folders (every row but the first rejected) and gave the ranker a
    feature whose held-out values it never saw. Declared under ``context:``, one is used."""
    declared = {*ds.context, *ds.named_columns.values(), *attribute_columns(ds)}
    return [k for k in _folder_keys(str(ds.log)) if k not in declared]


@functools.lru_cache(maxsize=16)
def _folder_keys(log: str) -> tuple[str, ...]:
    path = Path(log)
    if not path.is_dir():  # one file, or a glob: the folder names are no columns
        return ()
    keys = {}
    for file in log_files(path) or []:
        for part in file.relative_to(path).parts[:-1]:
            if "=" in part:
                keys.setdefault(part.split("=", 1)[0], None)
    return tuple(keys)


def ignored_columns(ds: Dataset) -> set[str]:
    """The log's columns left out of everything: ``ignore:``'s and the undeclared folder keys."""
    return {*ds.ignore, *undeclared_folder_keys(ds)}


def local_span(span: list[str] | None, zone: str | None) -> list[str] | None:
    """``span`` (two times as text, in UTC) as the wall-clock times of ``zone``, or None."""
    if not span or not zone:
        return None
    try:
        return [str(pd.Timestamp(t).tz_convert(zone).tz_localize(None)) for t in span]
    except (KeyError, ValueError, TypeError):  # a fixed offset pandas does not name
        return None


def describe(ds: Dataset, report: LoadReport) -> None:
    """The report's lines that come from the description alone."""
    report.time_zone = (ds.timezone if ds.time and not ds.timezone_column
                        and ds.timezone not in (OFFSET_ZONE, "UTC") else None)
    report.request_key = (f"value of '{ds.request}'" if ds.request else
                          "distinct (user, context" + (", time)" if ds.time else ")"))
    report.folder_keys = [c for c in undeclared_folder_keys(ds) if c not in ds.ignore]
    report.ignored = list(ds.ignore) + report.folder_keys


def write_rejects(rejects: pd.DataFrame, path: str | Path) -> Path | None:
    """Write rejected rows as CSV (``source, line, reason, text``); returns the path.

    With no rejected row nothing is written and ``None`` is returned; a rejects
    file an earlier run left at ``path`` is removed, so that what is on disk
    always belongs to this run.
    """
    path = Path(path)
    check_rejects_target(path)
    if len(rejects) == 0:
        path.unlink(missing_ok=True)
        return None
    return write_atomic(path, lambda partial: rejects.to_csv(partial, index=False))


#: The files a folder of rejects (the Dask check's) holds.
REJECT_PARTS = re.compile(r"part-\d+\.csv|catalog\.csv")


def _rejects_header(path: Path) -> bool:
    """Whether the file ``path`` starts with a rejects file's header."""
    try:
        with open(path, "rb") as handle:
            head = handle.readline(200).decode("utf-8", "replace").strip().lstrip("\ufeff")
    except OSError:
        return False
    return head == ",".join(REJECT_COLUMNS)


def rejects_of(path: Path, ds: Dataset) -> bool:
    """Whether the rejects file ``path`` holds rows of ``ds``'s log (or catalog), by its first
    row's source: every world's description is often `dataset.yaml`, so a check of one
    world with nothing rejected would remove the rejects another world's check left at the
    same default path. A file without rows is anyone's."""
    import csv

    first = None
    for part in sorted(path.glob("part-*.csv")) if path.is_dir() else [path]:  # --dask: a folder
        try:
            with open(part, newline="", encoding="utf-8", errors="replace") as handle:
                rows = csv.reader(handle)
                next(rows, None)  # the header
                first = next(rows, None)
        except OSError:
            continue
        if first:
            break
    if not first:
        return True
    source = Path(first[0])
    catalog = ds.catalog.path if ds.catalog else None
    if source == ds.log or source == catalog:
        return True
    # a folder of files, or a glob's folder: one of its files
    return not ds.log.is_file() and (ds.log if ds.log.is_dir() else ds.log.parent) in source.parents


def check_rejects_target(path: Path, folder: bool = False) -> None:
    """Refuse a rejects path that holds anything but rejects an earlier run wrote: it is
    replaced (or removed when there are none), so a log, a description or a folder of work
    named there by mistake would be lost. ``folder``: the Dask check's folder of parts."""
    path = Path(path)
    if not path.exists():
        return
    if folder:
        if not path.is_dir():
            raise SuggestError(f"--rejects {path} is a file: the check on Dask writes a folder of "
                               "one CSV per piece there", hint="give a folder, e.g. "
                               f"{path.with_suffix('')}.rejects")
        other = sorted(p.name for p in path.iterdir()
                       if not (REJECT_PARTS.fullmatch(p.name) and _rejects_header(p)))
        if other:
            raise SuggestError(f"--rejects {path} holds files that are not rejects ({one_of(other)})",
                               hint="suggest replaces that folder: give another, e.g. "
                                    f"{path / 'rejects'}")
        return
    if path.is_dir():
        raise SuggestError(f"--rejects {path} is a folder", hint=f"give a file, e.g. {path / 'rejects.csv'}")
    if path.stat().st_size and not _rejects_header(path):  # an empty file loses nothing
        raise SuggestError(f"--rejects {path} is not a rejects file (its first line is not "
                           f"{','.join(REJECT_COLUMNS)}): suggest will not replace it",
                           hint="give another path for the rejected rows, e.g. rejects.csv")


def _as_dataset(dataset: Dataset | str | Path) -> Dataset:
    return dataset if isinstance(dataset, Dataset) else Dataset.from_yaml(dataset)


def attribute_columns(ds: Dataset) -> tuple[str, ...]:
    return tuple(ds.catalog.attributes) if ds.catalog and ds.catalog.path is None else ()


@dataclass
class Codes:
    """Each kept row's request, user and item as a code into their distinct values
    (-1: no item), for grouping and matching by integers."""

    request: np.ndarray
    user: np.ndarray
    item: np.ndarray


def _read(ds: Dataset) -> tuple[pd.DataFrame, pd.DataFrame, LoadReport, Codes]:
    raw = read_table(ds.log, ds.format, separator=ds.separator, encoding=ds.encoding,
                     missing_values=ds.missing_values, what="log", dictionary=_few_values(ds))
    report = _start(ds, raw)
    rows = check_rows(ds, raw, report)
    spared = check_requests(ds, rows)
    report.partial_requests = partial_requests(rows.request, rows.verdicts.undecided, spared)
    rejects = collect_rejects(raw, pd.Series(rows.verdicts.why, index=raw.frame.index),
                               ~rows.verdicts.undecided, ds.separator)
    report.rows_ok = int(rows.verdicts.undecided.sum())
    report.rows_rejected = len(rejects)
    report.reject_reasons = _reason_counts(rejects)
    reject_warnings(ds, report)
    if report.rows_ok == 0:
        raise _all_rejected(ds, rejects)
    frame, codes = kept_rows(ds, rows)
    return frame, rejects, report, codes


def _few_values(ds: Dataset) -> tuple[str, ...]:
    """The columns a text log gives as categories (by their names in the file, before
    ``rename:``): the zone column and the declared context and item attribute columns,
    which as a rule hold few distinct values. Each is then encoded once by the reader, and
    its checks run on its categories, as for a typed Parquet log; ids and times stay text."""
    wanted = {*ds.context, *attribute_columns(ds)}
    if ds.timezone_column:
        wanted.add(ds.timezone_column)
    before = {new: old for old, new in ds.rename.items()}
    return tuple(sorted(before.get(name, name) for name in wanted))


def _start(ds: Dataset, raw: RawTable) -> LoadReport:
    """The checks of the table as a whole (a table with no row, ``rename:``, the columns the
    description names) and the report they start."""
    if len(raw.frame) == 0:  # no line split into fields: naming missing columns would mislead
        raise _all_rejected(ds, raw.rejects)
    rename_columns(ds, raw)
    check_columns(ds, raw)
    report = LoadReport(source=str(ds.log), rows_in=raw.rows_in, has_time=bool(ds.time),
                        roles=ds.named_columns, attributes=list(attribute_columns(ds)))
    report.warnings += _missing_markers(ds, raw.frame)
    report.warnings += offsets_warning(ds, time_offsets(ds, raw.frame))
    report.warnings += fixed_zones_warning(ds, named_zones(ds, raw.frame))
    return report


def named_zones(ds: Dataset, frame: pd.DataFrame) -> set[str]:
    """The zones a log names (its ``timezone:`` and its zone column's distinct values), for
    :func:`fixed_zones_warning`; a piece of a log names its own."""
    named = {str(ds.timezone)}
    if ds.timezone_column and ds.timezone_column in frame.columns:
        column = frame[ds.timezone_column]
        values = (column.cat.categories if isinstance(column.dtype, pd.CategoricalDtype)
                  else pd.unique(column.dropna()))  # once a distinct zone
        named |= {str(v).strip() for v in values}
    return named


def fixed_zones_warning(ds: Dataset, named: set[str]) -> list[str]:
    """A warning when a zone the log names (:func:`named_zones`) is IANA's ``EST`` or ``MST``:
    one offset all year, so a New York user's summer hours read an hour early, without a
    word (``EDT`` was refused with a hint, ``EST`` taken as it is)."""
    found = sorted(named & set(FIXED_ALL_YEAR))
    if not found:
        return []
    said = "; ".join(f"'{z}' is UTC{FIXED_ALL_YEAR[z][0]} all year" for z in found)
    clocks = " or ".join(FIXED_ALL_YEAR[z][1] for z in found)
    return [f"{said}, with no summer time: where it means a clock that keeps summer time, hour "
            f"and weekday are an hour off half the year; write the IANA zone (e.g. {clocks})"]


#: A UTC offset at the end of an ISO time: +05:30, -0500, Z.
OFFSET = re.compile(r"(?:[+-]\d\d:?\d\d|Z)$")


def time_offsets(ds: Dataset, frame: pd.DataFrame) -> set[str]:
    """The distinct UTC offsets the log's time column writes (text times only; none when a
    timezone column gives each row's zone), from the distinct ends of its cells."""
    if not ds.time or ds.timezone_column or ds.timezone == OFFSET_ZONE or ds.time not in frame.columns:
        return set()
    values = frame[ds.time]
    if not (arrow_text(values) or values.dtype == object):
        return set()  # typed instants: their offsets are gone, and are not the question
    import pyarrow as pa
    import pyarrow.compute as pc

    cells = (arrow_cells(values) if arrow_text(values)  # else JSON values: text, numbers, null
             else pa.array(values.astype(str).to_numpy(dtype=object), type=pa.string(),
                           from_pandas=True))
    tails = pc.unique(pc.utf8_slice_codeunits(pc.utf8_trim_whitespace(cells), -6)).to_pylist()
    found = {m.group(0).replace("Z", "+00:00") for t in tails if t and (m := OFFSET.search(t))}
    return {f if ":" in f else f"{f[:3]}:{f[3:]}" for f in found}


def _zone_offsets(zone: str) -> set[str]:
    """The UTC offsets ``zone`` takes (winter and summer, 1990-2040), as +HH:MM."""
    import datetime

    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return set()
    out = set()
    for year in range(1990, 2041, 5):
        for month in (1, 4, 7, 10):
            delta = datetime.datetime(year, month, 15, 12, tzinfo=tz).utcoffset()
            minutes = int(delta.total_seconds() // 60)
            out.add(f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}")
    return out


def offsets_warning(ds: Dataset, offsets: set[str]) -> list[str]:
    """A warning when the times carry several UTC offsets but hour and weekday are read in
    the one zone the description gives: a log of users in many zones gets its local hours
    wrong without a word (a Monday 00:13 in India read as a Sunday 18:43)."""
    offsets = {o for o in offsets if int(o[1:3]) <= 14 and int(o[4:6]) < 60}  # a bad one: a reject
    if len(offsets) < 2 or offsets <= _zone_offsets(ds.timezone):  # e.g. a zone's summer time
        return []
    shown = ", ".join(sorted(offsets)[:5]) + (" ..." if len(offsets) > 5 else "")
    return [f"the times carry {len(offsets)} different UTC offsets ({shown}), but hour, weekday "
            f"and the rules' times are read in {ds.timezone} (the description's `timezone:`), "
            "not in each time's own offset: if the offsets are the requests' local times, set "
            "`timezone: offset` (each time read at its own offset), or add a column of each "
            "row's IANA zone (e.g. Asia/Kolkata) and name it under `columns: timezone:` (which "
            "also knows each zone's summer time)"]


class Verdicts:
    """Which rows are still kept (``undecided``: no reason to reject them found yet) and
    the reason each refused row was refused (``why``)."""

    def __init__(self, index: pd.Index):
        self.index = index
        self.undecided = np.ones(len(index), dtype=bool)
        self.why = np.full(len(index), None, dtype=object)

    def fail(self, mask, message: pd.Series | str) -> None:
        """Reject the ``mask`` rows not rejected yet; a Series ``message`` needs only
        those rows (messages are built for bad rows alone, not for the whole log)."""
        flags = mask.to_numpy(dtype=bool, na_value=False) if isinstance(mask, pd.Series) else mask
        take = flags & self.undecided
        if not take.any():
            return
        if isinstance(message, pd.Series):
            message = message.reindex(self.index[take]).to_numpy()
        self.why[take] = message
        self.undecided[take] = False

    def fail_each(self, why: pd.Series) -> None:
        """Reject the rows ``why`` (indexed by the bad rows alone) gives a reason for."""
        if len(why):
            mask = np.zeros(len(self.index), dtype=bool)
            mask[self.index.get_indexer(why.index)] = True
            self.fail(mask, why)


@dataclass
class Rows:
    """The typed rows of a table (``out``, one per source row, with its ``line``), the
    verdict on each, their user, item and request codes (-1: none) and the context columns."""

    out: pd.DataFrame
    verdicts: Verdicts
    user: np.ndarray
    item: np.ndarray
    request: np.ndarray | None
    context: list[str]


def check_rows(ds: Dataset, raw: RawTable, report: LoadReport,
               types: dict[str, str] | None = None) -> Rows:
    """Type and check every row on its own: ids, relevance, zone, time and every column's
    values. An undeclared column's type is inferred from its values, or taken from ``types``
    (inferred elsewhere, over more rows); either way it is reported as inferred.

    The columns are typed on threads (:data:`THREADS`: Arrow's and numpy's work releases the
    GIL), and their verdicts given here in the columns' order, so a row with several
    faults is rejected for the same first one whatever finishes first."""
    from concurrent.futures import ThreadPoolExecutor

    cells = raw.frame
    verdicts = Verdicts(cells.index)
    fail = verdicts.fail
    out = pd.DataFrame({"line": raw.lines}, index=cells.index)
    if raw.sources is not None:  # several files: a reason that points at another row names its file
        out[SOURCE] = pd.Categorical(raw.sources)
    with ThreadPoolExecutor(THREADS) as pool:
        ids = {col: pool.submit(_ids, cells[col]) for col in (ds.user, ds.item, ds.request, ds.group)
               if col}  # each column picked here: no thread picks from the shared frame
        header = _repeated_header(ds, cells)
        schema, specs, ignored = {}, {}, ignored_columns(ds)
        for col in cells.columns:
            if col in ds.named_columns.values() or col in ignored:
                continue
            spec = ds.context.get(col) or (ds.catalog.attributes.get(col) if ds.catalog else None)
            if spec is None:
                spec = ColumnSpec((types or {}).get(col) or _infer_type(_without(cells[col], header)))
                report.inferred[col] = spec.type
            schema[col] = spec.type
            specs[col] = pool.submit(_typed, cells[col], col, spec)
        fail(header, "the header line again (files joined one after another?): not a row of the log")
        user, user_code = ids[ds.user].result()
        fail(user_code < 0, f"user ({ds.user}) is missing")
        out["user_id"] = user
        out["item_id"], item_code = ids[ds.item].result()
        _relevance(ds, cells, out, fail)
        if ds.position:
            _shown(ds, cells, out, fail)
        zones = _zones(ds, cells, fail)
        if ds.time:
            out["timestamp"], why = parse_times(cells[ds.time], ds.time_format, zones)
            fail(why.notna(), why)
            out["timezone"] = zones
        for col, typed in specs.items():
            out[col], why = typed.result()
            verdicts.fail_each(why)
        report.schema = schema
        # Item attributes kept in the log describe the item, not the moment: they are
        # neither part of a request's key nor required to agree within a request.
        context = [c for c in schema if c not in attribute_columns(ds)]
        request_code = None
        if ds.request:
            out["request_id"], request_code = ids[ds.request].result()
            fail(request_code < 0, f"request ({ds.request}) is missing")
        if ds.group:  # an id kept with the request (a missing one is a group of its own)
            out["group_id"] = ids[ds.group].result()[0]
    return Rows(out, verdicts, user_code, item_code, request_code, context)


def check_requests(ds: Dataset, rows: Rows) -> np.ndarray:
    """The checks across the rows of a request, in the rows' order: with a request column,
    rows that disagree with their request's first row; with ``duplicates: reject``, a
    repeated request and item. ``rows`` must hold every row of each of its requests.
    Returns the rows whose reject loses nothing of their request (a repeat of a pair its
    first row still holds, a row without an item)."""
    out, verdicts = rows.out, rows.verdicts
    if ds.request:
        why = _disagrees_with_first(out, verdicts.undecided, rows.request,
                                    rows.context + (["group_id"] if ds.group else []),
                                    {"user_id": ds.user, "timestamp": ds.time, "group_id": ds.group})
        verdicts.fail_each(why)
    keys = ["request_id"] if ds.request else request_key(ds, rows.context)
    before = verdicts.undecided.copy()
    if ds.duplicates == "reject":
        _reject_repeats(out, pd.Series(verdicts.undecided, index=out.index), verdicts.fail, keys)
    repeats = before & ~verdicts.undecided  # the pair is still shown, by its first row
    if ds.position:
        _reject_repeats(out, pd.Series(verdicts.undecided, index=out.index), verdicts.fail, keys,
                        what="position")
        if ds.request:  # last: a row any check above rejected takes its request's others along
            verdicts.fail_each(_lost_shown_rows(out, verdicts.undecided, rows.request,
                                                repeats | (rows.item < 0)))
    return repeats | (rows.item < 0)


def _lost_shown_rows(out: pd.DataFrame, ok: np.ndarray, request: np.ndarray,
                     spared: np.ndarray) -> pd.Series:
    """A reason for each kept row of a request of a log of what was shown that lost another
    of its shown items: a request missing one is scored as if nothing had been shown there,
    so IPS would lean low by the share of rows lost (and a plain replay miss the engagement
    the lost row may hold). Rows of the request are rejected with it, naming the first lost
    row's line (and file, when it is another's). ``spared``: rejected rows that lose no
    shown item (a repeat of a pair its first row still shows, a row with no item)."""
    has = request >= 0
    lost = np.flatnonzero(has & ~ok & ~spared)
    if not len(lost):
        return pd.Series(None, index=out.index[:0], dtype=object)
    none = len(request)
    first = np.full(int(request.max()) + 1, none)  # each request's first lost row, in log order
    np.minimum.at(first, request[lost], lost)
    hit = np.flatnonzero(ok & has & (first[np.maximum(request, 0)] < none))
    at = first[request[hit]]
    where = out["line"].to_numpy()[at].astype(str).astype(object)
    if SOURCE in out:  # several files
        files = out[SOURCE].to_numpy()
        where = where + _of_file(files[at], files[hit])
    return pd.Series("another shown row of the request (line " + where + ") was rejected: a "
                     "request missing a shown item would be scored as if nothing had been "
                     "shown there", index=out.index[hit], dtype=object)


def request_key(ds: Dataset, context: list[str]) -> list[str]:
    """The columns whose values make a request when the log has no request column."""
    return (["user_id", *context] + (["group_id"] if ds.group else [])
            + (["timestamp"] if ds.time else []))


def kept_rows(ds: Dataset, rows: Rows) -> tuple[pd.DataFrame, Codes]:
    """The rows still kept, and their codes; without a request column each distinct
    (user, context, time) is a request, numbered in the order it first appears."""
    ok = rows.verdicts.undecided
    frame = rows.out.loc[ok].drop(columns=SOURCE, errors="ignore").reset_index(drop=True)
    if not ds.request:
        keys = request_key(ds, rows.context) + (["timezone"] if ds.time else [])
        codes = pd.DataFrame({k: pd.factorize(frame[k], use_na_sentinel=False)[0] for k in keys})
        number = codes.groupby(keys, sort=False).ngroup().to_numpy() + 1
        width = len(str(number.max(initial=0)))
        frame.insert(0, "request_id", pd.Series(number).astype(str).str.zfill(width).radd("r"))
        request_code = number - 1
    elif ok.all() and len(ok) and _first_seen_order(rows.request):  # already 0 to requests - 1
        request_code = rows.request
    else:  # codes of the kept requests only: 0 to requests - 1
        request_code = pd.factorize(rows.request[ok])[0]
    return frame, Codes(request_code, rows.user[ok], rows.item[ok])


def _first_seen_order(codes: np.ndarray) -> bool:
    """Whether ``codes`` number their values 0, 1, 2, ... in the order they first appear
    (what ``pd.factorize`` gives): each code is at most one past the largest before it."""
    if codes.min(initial=0) < 0:
        return False
    if not len(codes):  # nothing kept (a bucket whose every row a check across rows refused)
        return True
    highest = np.maximum.accumulate(codes)
    return bool(codes[0] == 0 and (np.diff(highest) <= 1).all())


def _reject_repeats(out: pd.DataFrame, undecided: pd.Series, fail, keys: list[str],
                    what: str = "item") -> None:
    """``duplicates: reject``: a row repeating the request (``keys``: the request column, or
    the user, context and time that make a request) and the item of an earlier kept row is
    rejected, naming that row's line (``undecided``: the rows not rejected yet). With
    ``what="position"`` (a log of what was shown): a row showing another item at the position
    of an earlier kept row of its request (a place shows one item; the estimates weigh each
    place once); the same item again is left to ``duplicates:``."""
    column = "item_id" if what == "item" else "position"
    ok = undecided & out["item_id"].notna() & out[column].notna()
    names = [*keys, column]
    rows = out.loc[ok, [*names, "item_id", "line"] if column != "item_id" else [*names, "line"]]
    if SOURCE in out:
        rows = rows.assign(**{SOURCE: out.loc[ok, SOURCE]})
    rows = rows.astype({k: str for k in names})
    repeat = rows.duplicated(names, keep="first")
    if not repeat.any():
        return
    first = rows.drop_duplicates(names).set_index(names)
    again = pd.MultiIndex.from_frame(rows.loc[repeat, names])
    if what == "position":  # the same item again at its place is a duplicate row, which
        # `duplicates:` merges (a click written as a second row); another item is refused
        repeat = repeat.copy()
        repeat[repeat] = (rows.loc[repeat, "item_id"].astype(str).to_numpy()
                          != first["item_id"].astype(str).reindex(again).to_numpy())
        if not repeat.any():
            return
        again = pd.MultiIndex.from_frame(rows.loc[repeat, names])
    lines = first["line"].reindex(again).to_numpy()
    at = rows.index[repeat.to_numpy()]
    mask = pd.Series(False, index=out.index)
    mask[at] = True
    line = pd.Series(lines, index=at).astype(str)
    if SOURCE in out:
        line = line + _of_file(first[SOURCE].reindex(again).to_numpy(), out.loc[at, SOURCE].to_numpy())
    if what == "item":
        fail(mask, "repeats the request and item of line " + line + " (duplicates: reject)")
    else:
        fail(mask, "position " + out.loc[at, column].astype(np.int64).astype(str) + " of its request is shown "
             "already on line " + line + " (a position shows one item)")


def _all_rejected(ds: Dataset, rejects: pd.DataFrame) -> DataError:
    first = "; ".join(f"line {r.line}: {r.reason}" for r in rejects.head(3).itertuples())
    error = DataError(f"every row of the log was rejected ({counted(len(rejects), 'row')}). "
                      f"First: {first}",
                      where=str(ds.log), hint="check the dataset description against the file")
    error.rejects = rejects  # so a caller can still write them out
    return error


def _missing_markers(ds: Dataset, cells: pd.DataFrame) -> list[str]:
    """Warnings for text cells that look like a missing-value marker (``NULL``, ``N/A``, ...)
    the description does not declare under ``missing_values``: read as they are, they become a
    context value, or a rejected time or number."""
    return marker_warning(ds, marker_counts(ds, cells))


def marker_counts(ds: Dataset, cells: pd.DataFrame) -> dict[str, dict[str, int]]:
    """How many cells of each text column hold each undeclared missing-value marker."""
    from concurrent.futures import ThreadPoolExecutor

    markers = [m for m in MISSING_MARKERS if m not in ds.missing_values]
    found: dict[str, dict[str, int]] = {}
    ignored = ignored_columns(ds)
    with ThreadPoolExecutor(THREADS) as pool:  # a log's text columns counted side by side
        counted = {col: pool.submit(_marker_counts, cells[col], markers)
                   for col in cells.columns if col not in ignored}
        for col, counts in counted.items():
            # most frequent first, then by marker: the same order whichever way the column came
            for marker, count in sorted(counts.result().items(), key=lambda mc: (-mc[1], str(mc[0]))):
                found.setdefault(str(marker), {})[col] = int(count)
    return found


def _marker_counts(values: pd.Series, markers: list[str]) -> pd.Series:
    """How many cells of a column hold each of ``markers`` (none for a column not of text)."""
    if isinstance(values.dtype, pd.CategoricalDtype):  # counted on the categories
        categories = pd.Index(values.cat.categories).astype(str)
        per = np.bincount(values.cat.codes.to_numpy() + 1, minlength=len(categories) + 1)[1:]
        return pd.Series(per, index=categories)[categories.isin(markers) & (per > 0)]
    if values.dtype == object or isinstance(values.dtype, pd.StringDtype):
        return values[values.isin(markers)].value_counts()
    return pd.Series(dtype=np.int64)


def marker_warning(ds: Dataset, found: dict[str, dict[str, int]]) -> list[str]:
    """:func:`marker_counts` as the load's warning, when there are any."""
    if not found:
        return []
    where = "; ".join(f"'{m}' in " + ", ".join(f"{c} ({n:,} row{'s' if n > 1 else ''})" for c, n in cols.items())
                      for m, cols in found.items())
    declared = ", ".join(json.dumps(m) for m in [*ds.missing_values, *found])
    return [f"cells that look like missing-value markers: {where}. If they mean missing, add "
            f"`missing_values: [{declared}]` to the description"]


def rename_columns(ds: Dataset, raw: RawTable) -> None:
    """Apply ``rename:`` to the log's header (every other key names the new columns)."""
    if not ds.rename:
        return
    columns = list(raw.frame.columns)
    errors = []
    for old, new in ds.rename.items():
        if old not in columns:
            errors.append(DataError(f"no column '{old}' to rename (named in `rename`); the log has "
                                    f"{one_of(columns[:12])}{' ...' if len(columns) > 12 else ''}",
                                    where=f"{ds.log}:1", hint=did_you_mean(old, columns)))
        elif new in columns and new not in ds.rename:
            errors.append(DataError(f"cannot rename '{old}' to '{new}': the log already has a "
                                    f"column '{new}'", where=f"{ds.log}:1",
                                    hint=f"choose another name, e.g. rename: {{{old}: {old}_2}}"))
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise DataErrorList(errors, summary=f"{ds.source}: {len(errors)} problems with `rename`:")
    raw.frame = raw.frame.rename(columns=ds.rename)


def check_columns(ds: Dataset, raw: RawTable) -> None:
    """Every column the description names must be in the file: report all that are not."""
    columns = list(raw.frame.columns)
    wanted = [(f"columns.{role}", col) for role, col in ds.named_columns.items()]
    wanted += [("context", c) for c in ds.context] + [("ignore", c) for c in ds.ignore]
    wanted += [("catalog.attributes", c) for c in attribute_columns(ds)]
    errors = []
    if len(columns) == 1 and ds.format in ("csv", "tsv") and any(c not in columns for _, c in wanted):
        sep = sniff_separator(ds.log, ds.encoding)
        if sep and sep != ds.separator:  # one cause, one message
            raise DataError(f"the header is one column '{columns[0][:60]}': the log is not "
                            f"separated by {ds.separator!r}", where=f"{ds.log}:1",
                            hint=f"it looks separated by {sep!r}: set `separator: {json.dumps(sep)}`")
    stripped = {c.strip(): c for c in columns}
    paths = [str(ds.log), raw.source, *(raw.files or [])]
    for place, col in wanted:
        if col in columns:
            continue
        if place == "ignore" and any(f"/{col}=" in f"/{Path(p).as_posix()}" for p in paths):
            continue  # a folder key (`date=...`) of a hive dataset read in part: one day, a glob
        hint = did_you_mean(col, columns)
        if col in stripped:
            hint = f"the header has '{stripped[col]}' with spaces around the name; remove them"
        errors.append(DataError(f"no column '{col}' (named in `{place}`); the log has "
                                f"{one_of(columns[:12])}{' ...' if len(columns) > 12 else ''}",
                                where=f"{ds.log}:1", hint=hint))
    reserved = [c for c in columns if c in RESERVED and c not in ds.named_columns.values()
                and c not in ignored_columns(ds)]
    if reserved:
        line = "rename: {" + ", ".join(f"{c}: {c}_log" for c in reserved) + "}"
        names = one_of([f"{c}" for c in reserved]).replace(" or ", " and ")
        errors.append(DataError(
            f"column{'s' if len(reserved) > 1 else ''} {names} "
            f"{'have names' if len(reserved) > 1 else 'has a name'} the frames reserve for "
            "themselves", where=f"{ds.log}:1",
            hint=f"add the line `{line}` to the description to keep "
                 f"{'them' if len(reserved) > 1 else 'it'} under another name (then write that name "
                 "under `context:`), or name it in `columns:` if it is that role, or list it in "
                 "`ignore:`"))
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise DataErrorList(errors, summary=f"{ds.source}: {len(errors)} problems with the log's columns:")


def distinct(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """``(codes, uniques)``: each row's code into the distinct present values (-1 where the
    value is missing), from a categorical column's own codes or one factorization. Checks
    and conversions run on ``uniques`` and reach the rows through ``codes``."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return (values.cat.codes.to_numpy(),
                pd.Series(np.asarray(values.cat.categories, dtype=object), dtype=object))
    if arrow_text(values) and len(values):
        codes, uniques = encoded(arrow_cells(values))
        return codes, pd.Series(uniques.to_numpy(zero_copy_only=False), dtype=object)
    codes, uniques = pd.factorize(values)
    return codes, pd.Series(np.asarray(uniques, dtype=object), dtype=object)


def encoded(cells, probe: int = 4096) -> tuple[np.ndarray, object]:
    """``(codes, uniques)`` of an Arrow text array: each cell's code into its distinct values
    (-1 where missing), numbered in the order they first appear, as Arrow's dictionary
    encoding numbers them.

    A column that runs in increasing order (a log sorted by its ids: sequential ones, or
    time-ordered ones such as ULIDs and snowflakes, in a log sorted by time) is numbered by
    comparing each cell with the one before, without a hash table (a strictly increasing
    run of values holds no value twice): about a tenth of the cost for a million distinct
    ids. Whether it does is asked of the first ``probe`` cells first, so that another column
    pays next to nothing for the question."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def runs(part):
        starts = np.ones(len(part), dtype=bool)
        starts[1:] = pc.not_equal(part.slice(1), part.slice(0, len(part) - 1)).to_numpy(
            zero_copy_only=False)
        heads = part.filter(pa.array(starts))
        rising = len(heads) < 2 or pc.all(pc.less(heads.slice(0, len(heads) - 1),
                                                  heads.slice(1))).as_py()
        return starts, heads, rising

    if len(cells) > 1 and cells.null_count == 0 and runs(cells.slice(0, probe))[2]:
        starts, heads, rising = runs(cells)
        if rising:
            return np.cumsum(starts, dtype=np.int64) - 1, heads
    encoding = pc.dictionary_encode(cells)
    return (encoding.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64),
            encoding.dictionary)


def _rows_of(codes: np.ndarray, per_value: np.ndarray, index: pd.Index) -> pd.Series:
    """Per-row values from per-distinct-value ones (None where the code is -1)."""
    return pd.Series(np.append(per_value, None)[codes], index=index, dtype=object)


def _reasons_of(codes: np.ndarray, per_value: np.ndarray, index: pd.Index) -> pd.Series:
    """The rows whose distinct value has a reason (``per_value``, None for none), with that
    reason, indexed by those rows alone (empty when every value fits)."""
    bad = pd.notna(per_value)
    rows = np.flatnonzero(bad[codes] & (codes >= 0)) if bad.any() else np.zeros(0, dtype=np.int64)
    return pd.Series(per_value[codes[rows]], index=index[rows], dtype=object)


def _as_text(values: pd.Series) -> pd.Series:
    """Cells as strings (JSON numbers included); missing, or only spaces, is missing."""
    if isinstance(values.dtype, pd.CategoricalDtype):  # typed logs: clean the categories only
        codes, uniques = distinct(values)
        return _rows_of(codes, _cleaned_text(uniques).to_numpy(dtype=object), values.index)
    if _clean_arrow_text(values):  # Arrow text that needs no cleaning: taken as it is
        return pd.Series(values.to_numpy(dtype=object, na_value=None), index=values.index,
                         dtype=object)
    if len(values) and (isinstance(values.dtype, pd.StringDtype)
                        or pd.api.types.infer_dtype(values, skipna=True) == "string"):
        # Text cells (CSV): each distinct value is cleaned once and the rows share
        # the result, which is faster and keeps one string object per distinct
        # value. (Not for mixed JSON cells: 1, 1.0 and True are one key when hashed.)
        codes, uniques = pd.factorize(values)
        cleaned = _cleaned_text(pd.Series(np.asarray(uniques, dtype=object))).to_numpy(dtype=object)
        return _rows_of(codes, cleaned, values.index)
    return _cleaned_text(values)


def _ids(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """:func:`_as_text` of an id column (user, item, request) and each row's code into its
    distinct ids (-1 where missing), so that grouping and matching by id afterwards
    compare integers, not a million strings."""
    if arrow_text(values):  # Arrow text: encoded once, checked on its distinct values
        codes, uniques = encoded(arrow_cells(values))
        if _needs_no_cleaning(uniques):  # taken as it is
            return values.astype("str"), codes  # pandas' "string" (pd.NA) too becomes str
    text = _as_text(values)
    codes, _ = pd.factorize(text)
    return text.astype("str"), codes


def _clean_arrow_text(values: pd.Series) -> bool:
    """Whether ``values`` is Arrow-backed text in which no cell needs :func:`_cleaned_text`
    (:func:`_needs_no_cleaning`)."""
    return arrow_text(values) and _needs_no_cleaning(arrow_cells(values))


def _needs_no_cleaning(cells) -> bool:
    """Whether no cell of the Arrow text ``cells`` needs :func:`_cleaned_text`: none empty or
    only spaces, none with spaces around it, none a whole number written with a decimal
    point (``3.0``). Asked of the whole array in Arrow, without a Python string per cell."""
    import pyarrow.compute as pc

    trimmed = pc.utf8_trim_whitespace(cells)
    changes = pc.or_(pc.not_equal(trimmed, cells), pc.equal(trimmed, ""))
    changes = pc.or_(changes, pc.match_substring_regex(cells, r"^-?\d+\.0+$"))
    return not pc.any(changes).as_py()


def _cleaned_text(values: pd.Series) -> pd.Series:
    text = values.astype(object)
    present = text[text.notna()]
    as_str = present.astype(str).str.strip()
    out = pd.Series(None, index=values.index, dtype=object)
    # A JSON integer read as float (3.0) is the id "3", as it is in a CSV file. The
    # digits are kept as written, never sent through a float: ids longer than 15
    # digits (snowflake ids, phone numbers) must stay distinct. Text is kept as written:
    # a CSV's app version "8.0" is not "8" (a declared list of "8.0" rejected its rows).
    numbers = (np.ones(len(present), bool) if pd.api.types.is_float_dtype(values.dtype) else
               present.map(type).isin((float, np.float64, np.float32)).to_numpy(dtype=bool)
               if values.dtype == object else np.zeros(len(present), bool))
    if numbers.any():
        as_str[numbers] = as_str[numbers].str.replace(r"^(-?\d+)\.0+$", r"\1", regex=True)
    as_str = as_str[as_str != ""]
    out[as_str.index] = as_str
    return out


def _relevance(ds: Dataset, cells: pd.DataFrame, out: pd.DataFrame, fail) -> None:
    if not ds.relevance:
        out["relevance"] = 1.0
        return
    raw = cells[ds.relevance]
    value = pd.to_numeric(raw, errors="coerce")
    has_item = out["item_id"].notna()
    fail(has_item & raw.isna(), f"relevance ({ds.relevance}) is missing on a row with an item")
    # a relevance given on a row without an item is checked too: a bad one means a bad row
    for bad, what in ((raw.notna() & value.isna(), "is not a number"), (value < 0, "is negative"),
                      (np.isinf(value), "is not finite")):
        fail(bad, f"{ds.relevance} '" + raw[bad].astype(str) + f"' {what}")
    # an engagement without its item would leave a request with no positive; a relevance that
    # is no engagement (0, or below positive_min) on such a row is a request with none, as written
    threshold = ds.positive_min
    engaged = value >= threshold if threshold is not None else value > 0
    orphan = ~has_item & engaged
    fail(orphan, f"relevance ({ds.relevance}) '" + raw[orphan].astype(str) + f"' on a row with no "
         f"item ({ds.item}): an engagement needs its item (a request with no engagement leaves "
         f"relevance empty or {f'below positive_min {threshold:g}' if threshold is not None else '0'})")
    out["relevance"] = value.astype(float)


def _shown(ds: Dataset, cells: pd.DataFrame, out: pd.DataFrame, fail) -> None:
    """A log of what was shown: each row's position (a whole number >= 1) and propensity
    (above 0, at most 1), required on a row with an item."""
    has_item = out["item_id"].notna()
    for role, column, valid, what in (
            ("position", ds.position, lambda v: (v >= 1) & (v == np.floor(v)),
             "is not a whole number >= 1 (positions are 1-based)"),
            ("propensity", ds.propensity, lambda v: (v > 0) & (v <= 1),
             "is not above 0 and at most 1 (the logging policy's probability of showing "
             "the item there)")):
        raw = cells[column]
        value = pd.to_numeric(raw, errors="coerce").astype(float)
        named = role if column == role else f"{role} ({column})"
        fail(has_item & raw.isna(), f"{named} is missing on a shown row")
        text = raw.notna() & value.isna()
        fail(text, f"{named} '" + raw[text].astype(str) + "' is not a number")
        bad = raw.notna() & value.notna() & ~valid(value).fillna(False).astype(bool)
        fail(bad, f"{named} '" + raw[bad].astype(str) + f"' {what}")
        out[role] = value


def shown_line(shown: dict) -> str:
    """The load report's line on a log of what was shown."""
    return (f"  shown (bandit feedback): {shown['rows']:,} rows over {shown['requests']:,} "
            f"requests, {shown['engaged']:,} engaged; positions {shown['positions'][0]} to "
            f"{shown['positions'][1]}; propensity {shown['propensity'][0]:.4g} to "
            f"{shown['propensity'][1]:.4g}")


def shown_summary(events: pd.DataFrame) -> dict:
    """What the load report says of a log of what was shown (from its Events)."""
    if not len(events):
        return {"rows": 0, "requests": 0, "engaged": 0, "positions": [None, None],
                "propensity": [None, None]}
    return {"rows": int(len(events)), "requests": int(events["request_id"].nunique()),
            "engaged": int(events["positive"].sum()),
            "positions": [int(events["position"].min()), int(events["position"].max())],
            "propensity": [float(events["propensity"].min()), float(events["propensity"].max())]}


def _zones(ds: Dataset, cells: pd.DataFrame, fail) -> pd.Series:
    """Each row's time zone: its ``timezone`` column's value, checked once per distinct
    value (a name that is not an IANA zone rejects the row), or the dataset's zone where
    it is missing."""
    if ds.timezone == OFFSET_ZONE and ds.time:
        return _written_zones(ds, cells, fail)
    if not ds.timezone_column:
        return pd.Series(ds.timezone, index=cells.index, dtype=object)
    codes, uniques = distinct(cells[ds.timezone_column])
    names = _cleaned_text(uniques).to_numpy(dtype=object, copy=True)
    valid = np.zeros(len(names), dtype=bool)
    for at, name in enumerate(names):  # once a distinct zone
        if name is None or pd.isna(name):  # a cell of only spaces is missing too
            continue
        found = zone_name(name)  # a fixed offset (+05:30) by its name, UTC+05:30
        if found:
            names[at], valid[at] = found, True
    known = np.append(np.where(valid, names, ds.timezone), ds.timezone)  # missing: the dataset's
    unknown = ~valid & pd.notna(names)
    bad = np.append(unknown, False)[codes]
    if bad.any():
        why = np.array([f"time zone '{name}' is not an IANA zone name nor a UTC offset "
                        f"(+05:30): {zone_hint(name)}" if wrong else ""
                        for name, wrong in zip(names, unknown)], dtype=object)
        fail(bad, pd.Series(why[codes[bad]], index=cells.index[bad]))
    # as categories (a zone per distinct value, not a Python string per row): the local
    # time fields convert once a zone and find each zone's rows by its code
    zones, at = np.unique(known.astype(str), return_inverse=True)
    return pd.Series(pd.Categorical.from_codes(at[codes], zones), index=cells.index)


def _written_zones(ds: Dataset, cells: pd.DataFrame, fail) -> pd.Series:
    """``timezone: offset``: each row's zone is the UTC offset its time is written with
    (``UTC+05:30``), found once per distinct time; a time written without one is rejected."""
    values = cells[ds.time]
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        raise DataError(f"`timezone: offset` reads each time's written UTC offset, and the time "
                        f"column '{ds.time}' is typed ({values.dtype}): it keeps one zone for "
                        "all rows, not each row's offset", where=f"{ds.log}",
                        hint="name a column of each row's IANA zone under `columns: timezone:`, "
                             "or give `timezone:` an IANA zone")
    codes, uniques = distinct(values)
    names = written_zones(pd.Series(uniques, dtype=object)).to_numpy(dtype=object)
    bad = np.append(pd.isna(names), False)[codes]  # (-1, a missing time: it says so itself)
    if bad.any():
        shown = pd.Series(np.append(uniques.to_numpy(dtype=object), None)[codes[bad]],
                          dtype=object).astype(str).str.strip()
        fail(bad, pd.Series(("time '" + shown + "' has no UTC offset (`timezone: offset` reads "
                             "each time's own)").to_numpy(), index=cells.index[bad]))
    known = np.append(np.where(pd.isna(names), "UTC", names), "UTC").astype(str)
    zones, at = np.unique(known, return_inverse=True)
    return pd.Series(pd.Categorical.from_codes(at[codes], zones), index=cells.index)


def _repeated_header(ds: Dataset, cells: pd.DataFrame) -> np.ndarray:
    """The rows that repeat the header (every cell its column's name, as the file wrote it
    before ``rename:``): what joining exports one after another leaves; read as a row, it was
    a request of user 'user' or a type error, and its cells decided undeclared columns'
    types. The user column is compared first: on a clean log that is one comparison."""
    before = {new: old for old, new in ds.rename.items()}
    named = lambda col: str(before.get(col, col))  # noqa: E731
    rows = np.flatnonzero((cells[ds.user] == named(ds.user)).to_numpy(dtype=bool, na_value=False))
    if not len(rows):
        return np.zeros(len(cells), dtype=bool)
    same = np.ones(len(rows), dtype=bool)
    for col in cells.columns:
        same &= (cells[col].iloc[rows].astype(str) == named(col)).to_numpy(dtype=bool,
                                                                           na_value=False)
    out = np.zeros(len(cells), dtype=bool)
    out[rows[same]] = True
    return out


def _without(values: pd.Series, rows: np.ndarray) -> pd.Series:
    """``values`` without ``rows`` (a mask), a categorical without the categories only they hold."""
    if not rows.any():
        return values
    kept = values[~rows]
    return kept.cat.remove_unused_categories() if isinstance(kept.dtype, pd.CategoricalDtype) else kept


def _infer_type(values: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(values.dtype):
        return "boolean"
    if pd.api.types.is_numeric_dtype(values.dtype):
        return "numeric"
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = pd.Series(values.cat.categories, dtype=object)
    present = values.dropna()
    if present.empty:
        return "categorical"
    words = present.astype(str).str.strip().str.lower()
    if words.isin(("true", "false", "yes", "no")).all():
        return "boolean"
    if pd.to_numeric(present, errors="coerce").notna().all():
        return "numeric"
    return "categorical"


def _typed(values: pd.Series, col: str, spec: ColumnSpec) -> tuple[pd.Series, pd.Series]:
    """Typed column, and the reason of each cell that does not fit, indexed by those cells.

    A column already of the type (numbers, booleans) is taken as it is; text and
    categorical columns are converted and checked once per distinct value."""
    dtype = values.dtype
    if spec.type == "numeric" and pd.api.types.is_numeric_dtype(dtype) \
            and not pd.api.types.is_bool_dtype(dtype):
        typed = values.astype(float)
        endless = np.isinf(typed)
        return typed.where(~endless), \
            f"{col} '" + values[endless].astype(str) + "' is not a finite number"
    no_reasons = pd.Series([], index=values.index[:0], dtype=object)
    if spec.type == "boolean" and pd.api.types.is_bool_dtype(dtype):
        if isinstance(dtype, pd.BooleanDtype):
            return values.copy(), no_reasons
        return pd.Series(pd.arrays.BooleanArray(values.to_numpy(dtype=bool),
                                                np.zeros(len(values), dtype=bool)),
                         index=values.index), no_reasons
    if spec.type in ("numeric", "boolean"):
        codes, uniques = distinct(values)
        typed, why = _typed_values(uniques, col, spec.type)
        reasons = _reasons_of(codes, why.to_numpy(dtype=object), values.index)
        number = np.append(typed.to_numpy(dtype=float), np.nan)[codes]
        if spec.type == "numeric":
            return pd.Series(number, index=values.index), reasons
        return pd.Series(pd.arrays.BooleanArray(number == 1, np.isnan(number)),
                         index=values.index), reasons
    if isinstance(values.dtype, (pd.CategoricalDtype, pd.StringDtype)):  # once per distinct value
        return _categorical(values, col, spec)
    text = _as_text(values)
    if spec.values is not None:
        bad = text.notna() & ~text.isin(spec.values)
        reasons = pd.Series(None, index=text.index[bad.to_numpy()], dtype=object)
        for value in text[bad].unique():
            hint = did_you_mean(value, spec.values) or f"allowed: {one_of(spec.values)}"
            reasons[text[bad] == value] = f"{col} '{value}' is not an allowed value ({hint})"
        # The rejected values are left out: a category outside the list is an error in pandas 4.
        return pd.Categorical(text.where(~bad), categories=list(spec.values)), reasons
    return pd.Series(pd.Categorical(text), index=values.index), no_reasons


def _categorical(values: pd.Series, col: str, spec: ColumnSpec) -> tuple[pd.Series, pd.Series]:
    """:func:`_typed` of a categorical column from text or categories, cleaned and checked
    once per distinct value: the same categories, in the same order, as the row by row
    way (sorted, or ``spec.values``' order)."""
    codes, uniques = distinct(values)
    cleaned = _cleaned_text(uniques)
    if spec.values is not None:
        allowed = list(spec.values)
        position = pd.Index(allowed).get_indexer(cleaned.astype(object))
        why = np.full(len(uniques), None, dtype=object)
        for at in np.flatnonzero(cleaned.notna().to_numpy() & (position < 0)):  # distinct values
            value = cleaned.iloc[at]
            hint = did_you_mean(value, allowed) or f"allowed: {one_of(allowed)}"
            why[at] = f"{col} '{value}' is not an allowed value ({hint})"
        # The rejected values are left out: a category outside the list is an error in pandas 4.
        return (pd.Categorical.from_codes(np.append(position, -1)[codes], categories=allowed),
                _reasons_of(codes, why, values.index))
    present = cleaned.dropna()
    categories = np.sort(present.unique().astype(object)) if len(present) else np.array([], object)
    position = pd.Index(categories).get_indexer(cleaned.astype(object))
    return (pd.Series(pd.Categorical.from_codes(np.append(position, -1)[codes],
                                                categories=pd.Index(categories, dtype=object)),
                      index=values.index),
            pd.Series([], index=values.index[:0], dtype=object))


def _typed_values(values: pd.Series, col: str, kind: str) -> tuple[pd.Series, pd.Series]:
    """Distinct present cells read as numbers (``kind`` numeric) or as 1.0 / 0.0 (boolean),
    NaN where they do not fit, and the reason of each that does not."""
    reasons = pd.Series(None, index=values.index, dtype=object)
    if kind == "numeric":
        typed = pd.to_numeric(values, errors="coerce").astype(float)
        bad = typed.isna()
        # a decimal comma (a European spreadsheet's 26,5): say what is read and how to fix it
        comma = values[bad].astype(str).str.strip().str.fullmatch(r"-?\d+,\d+")
        reasons[bad] = (f"{col} '" + values[bad].astype(str) + "' is not a number"
                        + np.where(comma.to_numpy(dtype=bool), " (a decimal comma: numbers are "
                                   "read with '.' as the decimal mark; export them so)", ""))
        # inf, -inf and 1e309 parse, but no context is infinitely far: they would pass
        # every `gte` condition and skew every statistic
        endless = np.isinf(typed)
        reasons[endless] = f"{col} '" + values[endless].astype(str) + "' is not a finite number"
        return typed.where(~endless), reasons
    words = values.astype(str).str.strip().str.lower()
    is_true, is_false = words.isin(TRUE_WORDS), words.isin(FALSE_WORDS)
    bad = ~is_true & ~is_false
    reasons[bad] = f"{col} '" + values[bad].astype(str) + "' is not true or false"
    return pd.Series(np.where(is_true, 1.0, np.where(is_false, 0.0, np.nan)),
                     index=values.index), reasons


def _disagrees_with_first(out: pd.DataFrame, ok: np.ndarray, request: np.ndarray,
                          context: list[str], names: dict[str, str | None]) -> pd.Series:
    """A reason for each row whose user, time or context differ from its request's first row
    (``ok``: the rows still kept; ``request``: each row's request code, -1 for none)."""
    cols = ["user_id", *context] + (["timestamp"] if "timestamp" in out else [])
    # only requests with two or more kept rows can disagree
    kept = ok & (request >= 0)
    count = np.bincount(request[kept], minlength=request.max(initial=0) + 1)
    shared = np.flatnonzero(kept & (count[np.maximum(request, 0)] > 1))
    rows = out[["line", *cols]].iloc[shared]
    reasons = pd.Series(None, index=rows.index, dtype=object)  # the shared rows' only
    if not len(rows):
        return reasons
    # each shared row against its request's first row, by position (the log's order)
    _, first_of, which = np.unique(request[shared], return_index=True, return_inverse=True)
    first = first_of[which]
    first_line = rows["line"].to_numpy()[first]
    files = out[SOURCE].to_numpy()[shared] if SOURCE in out else None
    undecided = np.ones(len(rows), dtype=bool)
    for col in cols:
        mine, missing = _comparable(rows[col])
        theirs, theirs_missing = mine[first], missing[first]
        both = ~missing & ~theirs_missing
        same = missing & theirs_missing
        same[both] = mine[both] == theirs[both]
        bad = ~same & undecided
        if bad.any():
            undecided &= ~bad
            mine = rows[col].astype(object).to_numpy()  # the values as the log shows them
            theirs = mine[first]
            reasons.iloc[np.flatnonzero(bad)] = (
                f"{names.get(col) or col} " + _quoted(mine[bad], missing[bad]) + " differs from "
                + _quoted(theirs[bad], theirs_missing[bad]) + " on line "
                + first_line[bad].astype(str).astype(object)
                + (_of_file(files[first][bad], files[bad]) if files is not None else "")
                + ", the first row of the same request")
    return reasons[~undecided]


def _quoted(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Cells as a reason quotes them: as written, or ``(missing)`` for a missing one (a
    marker under ``missing_values:`` read as 'nan' in a PM's reject)."""
    shown = pd.Series(values, dtype=object).map(_as_written).to_numpy(dtype=object)
    return np.where(missing, "(missing)", "'" + shown + "'").astype(object)


#: The column of each row's file in the checked rows of a log of several files.
SOURCE = "__source"


def _of_file(theirs: np.ndarray, mine: np.ndarray) -> np.ndarray:
    """`` of FILE`` where the row pointed at is in another file than the row rejected."""
    other = np.asarray(theirs, dtype=object) != np.asarray(mine, dtype=object)
    return np.where(other, " of " + pd.Series(theirs, dtype=object).astype(str).to_numpy(dtype=object),
                    "").astype(object)


def _as_written(value) -> str:
    """A value as a reason quotes it: a whole number read as a float (a numeric column with a
    missing cell) without its '.0', as the log wrote it."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _comparable(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A column's values as an array whose ``==`` compares them (category codes, numbers,
    timestamps as int64 nanoseconds, else the objects), and where they are missing."""
    missing = values.isna().to_numpy()
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy(), missing
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values.to_numpy(dtype="datetime64[ns]").view(np.int64), missing
    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        return values.to_numpy(dtype=float, na_value=np.nan), missing
    if arrow_text(values):  # codes of the distinct texts, not a Python string per cell
        return pd.factorize(values)[0], missing
    return values.astype(object).to_numpy(), missing


def collect_rejects(raw: RawTable, reasons: pd.Series, bad: np.ndarray,
                     separator: str) -> pd.DataFrame:
    """The rejects file's rows: the reader's, then the ``bad`` rows with their ``reasons``."""
    cells = raw.frame.loc[bad]
    if raw.texts is not None:  # the line as written (JSON lines), not its cells re-joined
        text = pd.Series(raw.texts[np.asarray(bad, dtype=bool)], dtype=object)
    else:
        text = cells.astype(object).where(cells.notna(), "").astype(str).agg(
            separator.join, axis=1) if len(cells) else pd.Series([], dtype=object)
    mine = pd.DataFrame({"source": raw.row_sources(bad), "line": raw.lines[bad],
                         "reason": reasons[bad].to_numpy(), "text": text.to_numpy()})
    both = pd.concat([raw.rejects, mine], ignore_index=True) if len(raw.rejects) else mine
    both["file"] = pd.Categorical(both["source"], categories=raw.files or [raw.source])
    return both.sort_values(["file", "line"], kind="stable").reset_index(drop=True)[REJECT_COLUMNS]


def _reason_counts(rejects: pd.DataFrame) -> dict[str, int]:
    """Rejections grouped by kind (the reason with its quoted values set aside), each named by
    its first reason, values and all, and how many other values share the kind."""
    return reason_counts(reason_table(rejects))


def reason_kinds(reasons: pd.Series) -> pd.Series:
    """Each reason's kind: its quoted values and line numbers set aside."""
    return reasons.astype(object).str.replace(r"'[^']*'", "'…'", regex=True).str.replace(
        r"line \d+", "line …", regex=True)


#: How :func:`reason_counts` says that a kind's first reason stands for others.
OTHER_VALUES = r" \(and [\d,]+ other values? like it\)$"


def reason_table(rejects: pd.DataFrame) -> pd.DataFrame:
    """Each distinct reason of ``rejects`` (in file and line order) with its kind, its rows
    and the position of its first row: what :func:`reason_counts` sums, also over pieces."""
    kinds = reason_kinds(rejects["reason"])
    table = pd.DataFrame({"kind": kinds.to_numpy(), "reason": rejects["reason"].to_numpy(),
                          "first": np.arange(len(rejects))})
    table = table.groupby(["kind", "reason"], sort=False).agg(
        rows=("first", "size"), first=("first", "min")).reset_index()
    # the values a reason quotes, without its line numbers: what "other values" counts
    table["values"] = table["reason"].str.findall(r"'[^']*'").str.join("\x1f")
    return table


def reason_counts(table: pd.DataFrame) -> dict[str, int]:
    """:func:`reason_table`'s rows (of one table of rejects, or of several pieces with
    ``first`` ordering them across the pieces) as the report's counts by kind."""
    if len(table) == 0:
        return {}
    table = table.sort_values("first", kind="stable")
    groups = table.groupby("kind", sort=False)
    kinds = pd.DataFrame({"first": groups["reason"].first(), "distinct": groups["values"].nunique(),
                          "texts": groups["reason"].nunique(),
                          "rows": groups["rows"].sum()}).sort_values("rows", ascending=False,
                                                                     kind="stable")
    return {_reason_label(first, distinct, texts): int(rows)
            for first, distinct, texts, rows in kinds.itertuples(index=False)}


def _reason_label(first: str, distinct: int, texts: int) -> str:
    """A kind of reject by its first reason, with how many other values (``distinct``) or
    other reasons (``texts``: those that differ by the line they name only, "repeats ... of
    line 3221" and "... of line 814", where the first one's line stood for both) it has."""
    if distinct > 1:
        return f"{first} (and {distinct - 1:,} other value{'s' if distinct > 2 else ''} like it)"
    if texts > 1:
        return (f"{first} (and {texts - 1:,} more like it on "
                f"{'another line' if texts == 2 else 'other lines'})")
    return first


def _request_columns(frame: pd.DataFrame, context: dict[str, str]) -> pd.DataFrame:
    """The columns of ``frame`` a Requests frame holds."""
    return frame[["request_id", "user_id"]
                 + (["timestamp", "timezone"] if "timestamp" in frame else [])
                 + (["group_id"] if "group_id" in frame else []) + list(context)]


def _requests(frame: pd.DataFrame, context: dict[str, str], request: np.ndarray) -> pd.DataFrame:
    """One row per request (its first row's values), in the order requests first appear;
    ``frame``: the rows' :func:`_request_columns`, ``request``: each row's request code."""
    if _first_seen_order(request):  # as kept_rows numbers them: each first row, no sort
        first = np.flatnonzero(np.diff(np.maximum.accumulate(request), prepend=-1) > 0)
    else:
        first = np.sort(np.unique(request, return_index=True)[1])
    requests = frame.iloc[first].reset_index(drop=True)
    if "timestamp" in requests:
        fields = local_fields(requests["timestamp"], requests["timezone"])
        requests["timezone"] = requests["timezone"].astype(object)  # the frame's zone names
        requests = pd.concat([requests, fields], axis=1)
    requests["user_id"] = requests["user_id"].astype(str)
    return requests


def _events(ds: Dataset, frame: pd.DataFrame, engaged: np.ndarray) -> pd.DataFrame:
    """Every accepted row with an item (``engaged``), flagged positive (an engagement) or not."""
    cols = ["request_id", "user_id", "item_id", "relevance"]
    cols += ["timestamp"] if "timestamp" in frame else []
    cols += ["position", "propensity"] if ds.position else []
    events = frame[cols + ["line"]].loc[engaged].reset_index(drop=True)
    threshold = ds.positive_min
    relevance = events["relevance"]
    events.insert(4, "positive", relevance >= threshold if threshold is not None else relevance > 0)
    return events


def duplicate_rule(ds: Dataset) -> str:
    """``duplicates:`` as given, else ``max`` with a relevance column and ``sum`` without."""
    return ds.duplicates or ("max" if ds.relevance else "sum")


def _pair_keys(request: np.ndarray, item: np.ndarray) -> np.ndarray:
    """One int64 per (request, item) code pair."""
    return request.astype(np.int64) * (int(item.max(initial=0)) + 1) + item


def _repeated(keys: np.ndarray, request: np.ndarray) -> np.ndarray:
    """Which of the (request, item) ``keys`` (:func:`_pair_keys`) occur more than once
    (``request``: each key's request code). Only a request with two or more events can
    repeat a pair: their events alone are hashed (after a count per request code), not
    every event of a log of mostly one row a request."""
    several = np.bincount(request)[request] > 1
    repeated = np.zeros(len(keys), dtype=bool)
    if several.any():
        repeated[several] = pd.Series(keys[several]).duplicated(keep=False).to_numpy()
    return repeated


def _truth(ds: Dataset, events: pd.DataFrame, report: LoadReport, keys: np.ndarray,
           request: np.ndarray) -> pd.DataFrame:
    """One relevance per engaged (request, item), by the ``duplicates:`` rule; the report
    says how many rows were merged and how many merged rows disagreed. ``keys``: each
    event's (request, item) as one integer (:func:`_pair_keys`); ``request``: its request
    code."""
    rule = duplicate_rule(ds)
    names = ["request_id", "item_id"]
    key = pd.Series(keys)
    repeated = _repeated(keys, request)
    pairs = events["relevance"][repeated].groupby(keys[repeated], sort=False)
    report.duplicates = {"rule": rule, "rows": int(repeated.sum()), "pairs": int(pairs.ngroups),
                         "disagreeing_pairs": int((pairs.nunique() > 1).sum())}
    positive = events["positive"].to_numpy()
    if rule == "last":  # the last row of each pair by line, kept when it is positive
        last = ~key.iloc[::-1].duplicated().iloc[::-1].to_numpy()  # events are in line order
        chosen = np.flatnonzero(last & positive)
        return events.iloc[chosen][[*names, "relevance"]].reset_index(drop=True)
    rows = np.flatnonzero(positive)
    if not repeated.any():  # every pair once: nothing to merge
        return events.iloc[rows][[*names, "relevance"]].reset_index(drop=True)
    group, _ = pd.factorize(keys[rows])  # pairs in the order they first appear
    first = rows[np.unique(group, return_index=True)[1]]
    relevance = events["relevance"].to_numpy()[rows]
    merged = pd.Series(relevance).groupby(group, sort=True).agg("sum" if rule == "sum" else "max")
    truth = events.iloc[first][names].reset_index(drop=True)
    truth["relevance"] = merged.to_numpy()
    return truth


def _other_separator(columns: list, used: str) -> str | None:
    """The fix for a catalog header read as one column because it is separated by
    another character than ``used`` (the catalog does not take the log's separator)."""
    if len(columns) != 1:
        return None
    found = next((c for c in (";", "\t", "|", ",") if c != used and c in str(columns[0])), None)
    if found is None:
        return None
    shown = "\\t" if found == "\t" else found
    return (f"the header reads as one column '{columns[0]}': if the catalog is separated by "
            f"'{shown}', add `separator: \"{shown}\"` under `catalog:` (it does not take the "
            "log's separator)")


def catalog_of(ds: Dataset, frame: pd.DataFrame, report: LoadReport) -> tuple[pd.DataFrame, pd.DataFrame]:
    empty_rejects = pd.DataFrame(columns=REJECT_COLUMNS)
    if ds.catalog is None:
        return pd.DataFrame({"item_id": pd.Series(dtype=object)}), empty_rejects
    attrs = ds.catalog.attributes
    if ds.catalog.path is None:
        rows = frame.loc[frame["item_id"].notna(), ["item_id", *attrs]]
        catalog = rows.groupby("item_id", sort=True, observed=True).first().reset_index()
        report.catalog_rows = len(catalog)
        return catalog, empty_rejects
    spec = ds.catalog
    raw = read_table(spec.path, spec.format or "csv", separator=spec.separator or ",",
                     encoding=spec.encoding, missing_values=ds.missing_values, what="catalog")
    columns = list(raw.frame.columns)
    for col in [spec.item, *attrs]:
        if col not in columns:
            raise DataError(f"catalog has no column '{col}'", where=f"{spec.path}:1",
                            hint=_other_separator(columns, spec.separator or ",")
                            or did_you_mean(col, columns) or f"it has {one_of(columns)}")
    reasons = pd.Series(None, index=raw.frame.index, dtype=object)
    out = pd.DataFrame({"item_id": _as_text(raw.frame[spec.item])})
    reasons[out["item_id"].isna()] = f"item ({spec.item}) is missing"
    dup = out["item_id"].notna() & out["item_id"].duplicated()
    reasons[dup & reasons.isna()] = "item '" + out["item_id"][dup] + "' is listed again"
    for col in columns:
        if col == spec.item:
            continue
        col_spec = attrs.get(col)
        if col_spec is None:
            col_spec = ColumnSpec(_infer_type(raw.frame[col]))
            report.warnings.append(f"catalog column '{col}' inferred as {col_spec.type} attribute")
        out[col], why = _typed(raw.frame[col], col, col_spec)
        fresh = why[reasons[why.index].isna().to_numpy()]
        reasons[fresh.index] = fresh
        report.catalog_attributes[col] = col_spec.type
    ok = reasons.isna()
    rejects = collect_rejects(raw, reasons, ~ok.to_numpy(), spec.separator or ",")
    report.catalog_rows, report.catalog_rejected = int(ok.sum()), len(rejects)
    return out.loc[ok].reset_index(drop=True), rejects
