"""A log checked by the workers of a Dask cluster, piece by piece (``suggest data check --dask``).

The client never holds the log: it lists the log's pieces
(:func:`suggest.data.readers.log_parts`: a file, a run of a Parquet file's row
groups, a file of a hive-partitioned dataset) and adds up small tables. Every
step runs the code of a local load (:mod:`suggest.data.load`) on a worker:

1. **Columns**: each piece's columns; the client checks their union against
   the description (``rename:``, the columns it names), as a local load checks
   the columns of the files joined.
2. **Rows**: each piece is read and checked row by row (``check_rows``); small
   whole files are read together, a run of consecutive files up to
   ``BYTES_PER_GROUP`` bytes or ``FILES_PER_GROUP`` files to a task, as a local load
   joins them (a check has a fixed cost of about 50 ms: a thousand files of a thousand
   rows took 108 s checked one to a task, against 6 s for the same rows in one file),
   each row keeping its own file and line. Its
   kept rows are split into buckets by a hash of the request key (the request
   column, else the user, context and time), so that every row of a request,
   from whichever file, lands in one bucket. An undeclared column's type is
   inferred from each piece's own values; when the pieces disagree, those that
   differ are checked again with the type a local load infers from all of them.
3. **Requests**: each bucket puts its rows back in the log's order (file, then
   line) and runs the checks across a request's rows (``check_requests``:
   disagreement with the request's first row, ``duplicates: reject``), then
   counts requests, engagements and merged duplicates as a local load does
   (``shape``).
4. **Rejects**: each piece's rejected rows are written by a worker to
   ``DIR/part-NNNNN.csv`` (``source, line, reason, text``, as the single rejects
   file of a local check; a piece with a row its bucket rejected is read and
   checked again, so every reject keeps its line's text). Catalog rejects go to
   ``DIR/catalog.csv``. The folder is written as ``DIR.partial`` and renamed when
   the check is complete.
5. **Distinct users and items** are unions of the buckets' distinct values,
   taken on a worker.

The load report equals a local check's, field by field, and the rejects are the
same rows (:mod:`tests.test_data_dask`). The workers must see the log and the
rejects folder at the paths the client gives (a shared file system), as with
``dask.dataframe.read_parquet``.
"""

from __future__ import annotations

import operator
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from suggest.data.description import Dataset
from suggest.data.load import (SOURCE, LoadReport, Rows, Verdicts, absent_items_warning, unseen_count,
                               attribute_columns, catalog_of, check_columns, check_rejects_target,
                               check_requests, check_rows, collect_rejects, describe,
                               duplicate_rule, fixed_zones_warning, kept_rows, marker_counts,
                               marker_warning, named_zones, offsets_warning, partial_requests,
                               reason_counts, reason_table, reject_warnings,
                               rejects_of, rename_columns, request_key, shape, shown_summary,
                               time_offsets)
from suggest.data.readers import (Part, RawTable, line_count, log_parts, no_rows, numbered,
                                  read_parts)
from suggest.errors import DataError, counted

#: Rows per piece of a single Parquet file (runs of its row groups).
ROWS_PER_PART = 1_000_000
#: Up to this many (piece, bucket) splits the pieces split themselves into the buckets;
#: past it a log goes to its buckets by Dask's peer-to-peer shuffle.
DIRECT_SPLITS = 2_000
#: Whole files read and checked together by one task, up to this many bytes of them...
BYTES_PER_GROUP = 16 << 20
#: ... and this many files (many tiny files still spread over the workers).
FILES_PER_GROUP = 100
#: Bytes per piece of a single CSV or JSON Lines file (cut at newlines; a CSV file with a
#: quote anywhere is read whole, as a quoted field may hold a newline).
BYTES_PER_PART = 64 << 20
#: A row's place in the log is ``piece * SPAN + line`` (and ``first`` positions of reasons
#: from different pieces ``piece * SPAN + position``): one sortable integer.
SPAN = 2 ** 40


def check_on_dask(ds: Dataset, client, rejects_dir: str | Path, buckets: int | None = None,
                  progress: bool = False, shared: bool = False) -> tuple[LoadReport, Path | None]:
    """Check the log of ``ds`` on the cluster of ``client``; ``(report, folder of rejects or
    None)``. The report is the one :func:`suggest.data.load.load` gives; rejected rows go to
    ``rejects_dir`` (one CSV per piece), and a folder left there by an earlier run is removed
    (with ``shared``, a default path other logs' checks share, only when it holds this log's
    rejects).

    Raises
    ------
    DataError
        As a local load: a log that cannot be read as described, or whose every row is
        rejected (the rows are still in ``rejects_dir`` then).
    """
    report, target, _, _ = load_buckets(ds, client, rejects_dir, buckets, progress, keep=False,
                                        shared=shared)
    return report, target


def load_buckets(ds: Dataset, client, rejects_dir, buckets: int | None, progress: bool,
                 keep: bool, shared: bool = False):
    """:func:`check_on_dask`, and the buckets' futures (with their frames when ``keep``) and
    the log's distinct items in the order they first appear:
    ``(report, rejects folder or None, buckets, items)``."""
    # absolute: the workers write there, and a worker's folder is not the client's
    target = Path(rejects_dir).absolute()
    check_rejects_target(target, folder=True)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    parts = log_parts(ds.log, ds.format, rows_per_part=ROWS_PER_PART,
                      bytes_per_part=BYTES_PER_PART, separator=ds.separator, encoding=ds.encoding,
                      missing_values=ds.missing_values, what="log")
    if parts[0].byte_range is not None:  # a text file in ranges: the line each starts in
        parts = numbered(parts, client.gather(client.map(line_count, parts, pure=False)))
    groups = file_groups(parts)
    runs = [[parts[i] for i in g] for g in groups]  # what each task reads
    columns = _union(client.gather(client.map(_columns, runs, pure=False)))
    if columns:  # else no line split into fields: every row is rejected below
        header = RawTable(pd.DataFrame(columns=columns), np.zeros(0, np.int64),
                          pd.DataFrame(), str(ds.log))
        rename_columns(ds, header)
        check_columns(ds, header)
    pieces = client.map(_piece, [ds] * len(groups), runs,
                        [g[0] for g in groups], [columns] * len(groups), pure=False)
    metas = _gathered(client, [client.submit(operator.getitem, p, 0, pure=False) for p in pieces],
                      "reading", progress)
    if sum(m["rows_in"] for m in metas) == 0 and (len(parts) > 1 or parts[0].fragment is not None):
        raise no_rows(ds.log, "log")
    types = _merged_types(metas)
    # (a piece with no row infers nothing)
    again = [i for i, m in enumerate(metas)
             if any(m["inferred"].get(c, t) != t for c, t in types.items())]
    for i in again:  # as a local load: the type the whole log's values give
        pieces[i] = client.submit(_piece, ds, runs[i], groups[i][0], columns, types, pure=False)
    for i, meta in zip(again, client.gather([client.submit(operator.getitem, pieces[i], 0,
                                                           pure=False) for i in again])):
        metas[i] = meta
    # The kept rows go to the buckets, every request's rows to one, by the hash of the
    # request: each piece split into the buckets when that makes few tasks (pieces x
    # buckets), else Dask's peer-to-peer shuffle, whose tasks grow with pieces plus buckets
    # (it costs more at a given size: it goes through Arrow and the workers' disks). About
    # ROWS_PER_PART rows a bucket.
    n = buckets or max(-(-sum(m["rows_in"] for m in metas) // ROWS_PER_PART),
                       2 * len(client.scheduler_info()["workers"]))
    own = [client.submit(operator.getitem, p, 2, pure=False) for p in pieces]
    if len(pieces) * n <= DIRECT_SPLITS:  # few pieces: each splits its rows into the buckets
        split = [client.submit(_split, n, p, pure=False) for p in pieces]
        rows = [[client.submit(operator.getitem, s, b, pure=False) for s in split]
                for b in range(n)]
        del split
    else:
        rows = [[part] for part in _shuffled(client, pieces, n)]
    files = {g[0] + j: str(part.path) for run, g in zip(runs, groups) for j, part in enumerate(run)}
    files = files if len(set(files.values())) > 1 else None  # a reason names another row's file
    by_bucket = [client.submit(_bucket, ds, metas[0]["context"], keep, *r, files=files, pure=False)
                 for r in rows]
    del pieces, rows  # each piece's rows are let go once the buckets have them (not its rejects)
    found = client.submit(_concat_rejects, *[client.submit(operator.getitem, b, "rejects", pure=False)
                                             for b in by_bucket], pure=False)
    partial.mkdir(parents=True)
    written = _gathered(client, [client.submit(_write_rejects, ds, runs[i], g[0],
                                               columns, types, own[i], partial, found, pure=False)
                                 for i, g in enumerate(groups)], "requests and rejects", progress)
    del own
    counts = client.gather([client.submit(_counts, b, pure=False) for b in by_bucket])
    distinct = client.submit(_distinct, *by_bucket, pure=False).result()
    report = _report(ds, metas, types, written, counts, distinct)
    catalog_rejects = pd.DataFrame()
    if ds.catalog and ds.catalog.path is not None:  # the catalog file, read here: one row per item
        catalog, catalog_rejects = catalog_of(ds, pd.DataFrame(), report)
        _absent_items(report, distinct["items"], catalog["item_id"])
        report.catalog_unseen = unseen_count(catalog["item_id"], distinct["items"])
    if len(catalog_rejects):
        catalog_rejects.to_csv(partial / "catalog.csv", index=False)
        for reason, count in reason_counts(reason_table(catalog_rejects)).items():
            report.reject_reasons[f"catalog: {reason}"] = count
    written = bool(report.rows_rejected or len(catalog_rejects))
    if written:
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    else:
        partial.rmdir()
        if not (shared and target.is_dir()) or rejects_of(target, ds):  # kept: another log's
            shutil.rmtree(target, ignore_errors=True)
    if report.rows_ok == 0:
        raise _all_rejected(ds, target, report.rows_rejected)
    return report, target if written else None, by_bucket, distinct["items"]


def _gathered(client, futures: list, step: str, progress: bool) -> list:
    """The results of ``futures`` in their order, with a bar over the pieces as they finish."""
    from distributed import as_completed
    from tqdm.auto import tqdm

    with tqdm(total=len(futures), desc=step, unit="piece", disable=None if progress else True,
              leave=False) as bar:
        for _ in as_completed(futures):
            bar.update(1)
    return client.gather(futures)


def _columns(parts: list[Part]) -> list[str]:
    """The columns of a run of parts, in the order they first appear (a dataset's files
    share the dataset's: the first part's are all of them)."""
    if parts[0].fragment is not None:
        return parts[0].columns()
    return _union([part.columns() for part in parts])


def _union(lists: list[list[str]]) -> list[str]:
    """Every piece's columns, in the order they first appear (as the pieces joined)."""
    return list(dict.fromkeys(c for columns in lists for c in columns))


def file_groups(parts: list[Part]) -> list[list[int]]:
    """The parts read by each task, as runs of consecutive part numbers: whole files
    together up to ``BYTES_PER_GROUP`` bytes or ``FILES_PER_GROUP`` files; a run of a
    file's row groups, a byte range of a file, or a file as large as that alone."""
    groups, size = [], None  # size: the bytes of the last group, None when it is closed
    for i, part in enumerate(parts):
        whole = part.row_groups is None and part.byte_range is None
        grows = os.path.getsize(part.path) if whole else None
        if (grows is not None and size is not None and size + grows <= BYTES_PER_GROUP
                and len(groups[-1]) < FILES_PER_GROUP):
            groups[-1].append(i)
            size += grows
        else:
            groups.append([i])
            size = grows if grows is not None and grows <= BYTES_PER_GROUP else None
    return groups


def _read(parts: list[Part], first: int, columns: list[str]) -> tuple[RawTable, np.ndarray]:
    """Consecutive parts read as one table (joined as a local load joins files), and each
    row's part number (``first`` for the first part)."""
    raw = parts[0].read() if len(parts) == 1 else read_parts(parts[0].path, parts)
    raw.frame = raw.frame.reindex(columns=columns)  # a column another file has: missing
    if raw.sources is None:
        return raw, np.full(len(raw.frame), first)
    number = pd.Categorical(raw.sources, categories=raw.files).codes.astype(np.int64) + first
    return raw, number


def _piece(ds: Dataset, parts: list[Part], first: int, columns: list[str],
           types: dict[str, str] | None = None):
    """Read and check one piece (consecutive parts numbered from ``first``) row by row:
    ``(meta, kept rows, rejects)``; each kept row carries its part's number (``piece``) and
    the hash of its request (``_hash``), which picks its bucket."""
    raw, number = _read(parts, first, columns)
    meta = {"rows_in": raw.rows_in, "markers": {}, "inferred": {}, "present": {}, "schema": {},
            "context": []}
    if len(raw.frame) == 0:  # no line of this piece split into fields
        return meta, pd.DataFrame(), raw.rejects
    rename_columns(ds, raw)
    meta["markers"] = marker_counts(ds, raw.frame)
    meta["offsets"] = time_offsets(ds, raw.frame)
    meta["zones"] = named_zones(ds, raw.frame)
    report = LoadReport(source=str(ds.log))
    rows = check_rows(ds, raw, report, types)
    meta.update(inferred=report.inferred, schema=report.schema, context=rows.context,
                present={c: bool(raw.frame[c].notna().any()) for c in report.inferred})
    take = rows.verdicts.undecided.copy()
    lost = np.zeros(len(take), dtype=bool)
    if ds.request:
        # a row rejected on its own goes to its request's bucket too, as a mark (it is no
        # kept row and its reject is written here): the bucket counts the request as kept
        # without it and, in a log of what was shown, rejects the request's other rows with
        # it, as a local load does (suggest.data.load._lost_shown_rows)
        lost = ~take & (rows.request >= 0)
        take |= lost
    kept = rows.out.loc[take].drop(columns=SOURCE, errors="ignore").reset_index(drop=True)
    kept["piece"] = number[take]
    if ds.request:  # on every piece: the pieces share their columns
        kept[LOST] = lost[take]
    keys = ["request_id"] if ds.request else request_key(ds, rows.context)
    kept["_hash"] = pd.util.hash_pandas_object(kept[keys], index=False).to_numpy()
    rejects = collect_rejects(raw, pd.Series(rows.verdicts.why, index=raw.frame.index),
                               ~rows.verdicts.undecided, ds.separator)
    return meta, kept, rejects


#: The column marking a row rejected in its piece, sent to its request's bucket.
LOST = "_lost"


def _split(buckets: int, piece) -> list[pd.DataFrame]:
    """A piece's kept rows split into the buckets by their request's hash."""
    kept = piece[1]
    if not len(kept):
        return [pd.DataFrame() for _ in range(buckets)]
    bucket = kept["_hash"].to_numpy() % np.uint64(buckets)
    kept = kept.drop(columns="_hash")
    return [kept.iloc[np.flatnonzero(bucket == b)] for b in range(buckets)]


def _shuffled(client, pieces: list, n: int) -> list:
    """The pieces' kept rows in ``n`` partitions, each request's rows in one (the futures of a
    peer-to-peer shuffle on ``_hash``, which is dropped); one empty frame when no piece kept
    a row."""
    import dask.dataframe as dd

    kept = [client.submit(operator.getitem, p, 1, pure=False) for p in pieces]
    sizes = client.gather([client.submit(len, k, pure=False) for k in kept])
    kept = [k for k, size in zip(kept, sizes) if size]
    if not kept:
        return [client.submit(pd.DataFrame, pure=False)]
    meta = client.submit(_empty_like, kept[0], pure=False).result()
    frame = dd.from_delayed(kept, meta=meta, verify_meta=False)
    shuffled = frame.shuffle("_hash", npartitions=n, shuffle_method="p2p")
    # the shuffle travels through Arrow: text and times come back as Arrow's types
    dtypes = {c: t for c, t in meta.dtypes.items()
              if c != "_hash" and not isinstance(t, pd.CategoricalDtype)}
    shuffled = shuffled.map_partitions(_as_before, dtypes, meta=meta.drop(columns="_hash"))
    return client.futures_of(client.persist(shuffled))


def _empty_like(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.iloc[:0]


def _as_before(frame: pd.DataFrame, dtypes: dict) -> pd.DataFrame:
    """A shuffled partition with the pieces' column types (categories aside) and no hash."""
    return frame.astype(dtypes).drop(columns="_hash")


def _concat_rejects(*found: pd.DataFrame) -> pd.DataFrame:
    """Every bucket's request-level rejects, once (each piece's writer picks its own)."""
    return pd.concat(found, ignore_index=True)


def _merged_types(metas: list[dict]) -> dict[str, str]:
    """The type of each undeclared column over every piece, as :func:`_infer_type` of all
    their values gives it: the pieces' common type, ``categorical`` when pieces with values
    disagree (no value is both a boolean word and a number) or when none has a value."""
    types = {}
    for col in dict.fromkeys(c for m in metas for c in m["inferred"]):
        seen = {m["inferred"][col] for m in metas if m["present"].get(col)}
        types[col] = seen.pop() if len(seen) == 1 else "categorical"
    return types


def _bucket(ds: Dataset, context: list[str], keep: bool, *pieces: pd.DataFrame,
            files: dict[int, str] | None = None) -> dict:
    """The rows of every request of one bucket, checked across each request's rows and
    counted: the request-level rejects (``piece, line, reason``) and the counts; with
    ``keep`` also its frames (``requests``, ``truth``, ``events``), each request's place in
    the log (``order``: piece and line of its first row) and, when the log holds the item
    attributes, each item's first row of them (``catalog``)."""
    frames = [p for p in pieces if len(p)]
    empty = {"rejects": pd.DataFrame(columns=["piece", "line", "reason"]), "report": None}
    if not frames:
        return empty
    out = pd.concat(frames, ignore_index=True).sort_values(["piece", "line"], kind="stable")
    out = out.reset_index(drop=True)
    if files:  # a log of several files: each row's, as a local load has them
        out[SOURCE] = pd.Categorical(pd.Series(out["piece"].to_numpy()).map(files))
    verdicts = Verdicts(out.index)
    marks = np.zeros(len(out), dtype=bool)
    if LOST in out:  # rows rejected in their piece: marks, rejected (and counted) there
        marks = out.pop(LOST).fillna(False).to_numpy(dtype=bool)
        verdicts.fail(marks, "rejected in its piece")
    request = pd.factorize(out["request_id"])[0] if ds.request else None
    rows = Rows(out, verdicts, pd.factorize(out["user_id"])[0], pd.factorize(out["item_id"])[0],
                request, context)
    spared = check_requests(ds, rows)
    partial = partial_requests(request, verdicts.undecided, spared)
    bad = ~verdicts.undecided & ~marks
    rejects = pd.DataFrame({"piece": out["piece"].to_numpy()[bad], "line": out["line"].to_numpy()[bad],
                            "reason": verdicts.why[bad]})
    frame, codes = kept_rows(ds, rows)
    report = LoadReport(source=str(ds.log))
    requests, events, truth = shape(ds, frame, codes, dict.fromkeys(context), report)
    report.partial_requests = partial
    stamps = requests["timestamp"].dropna() if "timestamp" in requests else pd.Series([])
    out = {"rejects": rejects, "report": report, "rows_ok": len(frame),
           "missing": {c: int(requests[c].isna().sum()) for c in context},
           "span": (stamps.min(), stamps.max()) if len(stamps) else None,
           "users": pd.unique(frame["user_id"]), "items": _firsts(frame, "item_id")}
    if keep:
        first = np.sort(np.unique(codes.request, return_index=True)[1])
        engaged = _order(frame[codes.item >= 0])  # the events' rows
        out["frames"] = {"requests": requests, "truth": truth, "events": events,
                         "order": _order(frame.iloc[first]), "events_order": engaged,
                         "truth_order": _truth_order(ds, events, engaged, truth)}
        # each item attribute's first present value (as a local load's groupby().first())
        rows = frame[frame["item_id"].notna()]
        out["catalog"] = {a: _firsts(rows[rows[a].notna()], "item_id").assign(
            value=rows[rows[a].notna()].drop_duplicates("item_id")[a].to_numpy())
            for a in attribute_columns(ds)}
    return out


def _truth_order(ds: Dataset, events: pd.DataFrame, order: np.ndarray,
                 truth: pd.DataFrame) -> np.ndarray:
    """The place in the log of the row each Truth row comes from (its pair's first positive
    row; with ``duplicates: last`` its last row), which orders a local load's Truth."""
    keys = ["request_id", "item_id"]
    rows = events.assign(_order=order)
    if duplicate_rule(ds) == "last":
        rows = rows.drop_duplicates(keys, keep="last")
    else:
        rows = rows[rows["positive"].to_numpy(dtype=bool)].drop_duplicates(keys)
    return truth[keys].merge(rows[[*keys, "_order"]], on=keys, how="left")["_order"].to_numpy()


def _firsts(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """The distinct present values of ``column`` with the place of their first row."""
    rows = frame[frame[column].notna()].drop_duplicates(column)  # rows in the log's order
    return pd.DataFrame({column: rows[column].to_numpy(), "order": _order(rows)})


def _order(rows: pd.DataFrame) -> np.ndarray:
    """Each row's place in the log: its piece and line as one sortable integer."""
    return rows["piece"].to_numpy(np.int64) * SPAN + rows["line"].to_numpy(np.int64)


def _write_rejects(ds: Dataset, parts: list[Part], first: int, columns: list[str], types: dict,
                   own: pd.DataFrame, folder: Path, found: pd.DataFrame) -> dict:
    """Write one piece's rejected rows (its parts numbered from ``first``) to
    ``folder/part-NNNNN.csv``: its own, and the rows its buckets rejected (then the piece
    is read and checked again, for their text)."""
    piece = found["piece"].to_numpy()
    mine = found[(piece >= first) & (piece < first + len(parts))]
    later = mine.reset_index(drop=True) if len(mine) else None
    rejects = own
    if later is not None:
        raw, number = _read(parts, first, columns)
        rename_columns(ds, raw)
        rows = check_rows(ds, raw, LoadReport(source=str(ds.log)), types)
        at = pd.Index(number * SPAN + rows.out["line"].to_numpy(np.int64)).get_indexer(
            later["piece"].to_numpy(np.int64) * SPAN + later["line"].to_numpy(np.int64))
        mask = np.zeros(len(raw.frame), dtype=bool)
        mask[at] = True
        rows.verdicts.fail(mask, pd.Series(later["reason"].to_numpy(), index=raw.frame.index[at]))
        rejects = collect_rejects(raw, pd.Series(rows.verdicts.why, index=raw.frame.index),
                                   ~rows.verdicts.undecided, ds.separator)
    if len(rejects):
        rejects.to_csv(Path(folder) / f"part-{first:05d}.csv", index=False)
    table = reason_table(rejects)
    table["first"] += first * SPAN
    return {"rows": len(rejects), "reasons": table,
            "first": rejects.head(3)[["line", "reason"]].to_dict("records")}


def _counts(bucket: dict) -> dict:
    return {k: v for k, v in bucket.items()
            if k not in ("rejects", "users", "items", "frames", "catalog")}


def _distinct(*buckets: dict) -> dict:
    """The distinct users, and the distinct items in the order they first appear, over the
    buckets (a user's or an item's rows may be in several)."""
    done = [b for b in buckets if b.get("report") is not None]
    users = pd.unique(np.concatenate([b["users"] for b in done])) if done else []
    items = pd.concat([b["items"] for b in done]) if done else pd.DataFrame(
        {"item_id": [], "order": []})
    items = items.sort_values("order", kind="stable").drop_duplicates("item_id")
    return {"users": len(users), "items": items["item_id"].to_numpy(dtype=object)}


def _merged_shown(parts: list[dict]) -> dict:
    """The buckets' :func:`~suggest.data.load.shown_summary` over the whole log (a request's
    rows are in one bucket)."""
    parts = [p for p in parts if p.get("rows")]
    if not parts:
        return shown_summary(pd.DataFrame())
    ends = lambda key, at: [p[key][at] for p in parts]  # noqa: E731
    return {"rows": sum(p["rows"] for p in parts), "requests": sum(p["requests"] for p in parts),
            "engaged": sum(p["engaged"] for p in parts),
            "positions": [min(ends("positions", 0)), max(ends("positions", 1))],
            "propensity": [min(ends("propensity", 0)), max(ends("propensity", 1))]}


def _report(ds: Dataset, metas: list[dict], types: dict, written: list[dict],
            counts: list[dict], distinct: dict) -> LoadReport:
    """The load report of the whole log from the pieces' and the buckets' counts."""
    report = LoadReport(source=str(ds.log), has_time=bool(ds.time), roles=ds.named_columns,
                        attributes=list(attribute_columns(ds)))
    report.rows_in = sum(m["rows_in"] for m in metas)
    markers: dict[str, dict[str, int]] = {}
    for m in metas:
        for marker, cols in m["markers"].items():
            for col, count in cols.items():
                markers.setdefault(marker, {})[col] = markers.get(marker, {}).get(col, 0) + count
    report.warnings += marker_warning(ds, markers)
    report.warnings += offsets_warning(ds, set().union(*(m.get("offsets", set()) for m in metas)))
    report.warnings += fixed_zones_warning(ds, set().union(*(m.get("zones", set()) for m in metas)))
    schema = next((m["schema"] for m in metas if m["schema"]), {})
    report.schema = schema
    report.inferred = {c: t for c, t in types.items() if c in schema}
    report.rows_rejected = sum(w["rows"] for w in written)
    report.rows_ok = report.rows_in - report.rows_rejected
    report.reject_reasons = reason_counts(pd.concat([w["reasons"] for w in written],
                                                    ignore_index=True))
    reject_warnings(ds, report)
    done = [c for c in counts if c["report"] is not None]
    for key in ("requests", "requests_without_positive", "partial_requests", "positives", "negatives",
                "engagements"):
        setattr(report, key, sum(getattr(c["report"], key) for c in done))
    merged = [c["report"].duplicates for c in done]
    report.duplicates = {"rule": duplicate_rule(ds),
                         **{k: sum(d[k] for d in merged) for k in ("rows", "pairs",
                                                                    "disagreeing_pairs",
                                                                    "itemless_rows")}}
    if ds.position:
        report.shown = _merged_shown([c["report"].shown for c in done])
    report.users = distinct["users"]
    report.items = len(distinct["items"])
    if ds.catalog and ds.catalog.path is None:
        report.catalog_rows = report.items
    describe(ds, report)
    context = [c for c in schema if c not in attribute_columns(ds)]
    if report.requests:
        report.missing_share = {c: round(sum(d["missing"][c] for d in done) / report.requests, 4)
                                for c in context}
    spans = [c["span"] for c in done if c["span"] is not None]
    if spans:
        report.time_range = [str(min(s[0] for s in spans)), str(max(s[1] for s in spans))]
    return report


def _absent_items(report: LoadReport, items: np.ndarray, listed: pd.Series) -> None:
    """The warning of a local load about log items the catalog file does not list."""
    absent = sorted(pd.Series(items)[~pd.Series(items).isin(listed)])
    if absent:
        report.warnings.append(absent_items_warning(absent, listed))


def _all_rejected(ds: Dataset, folder: Path, rows: int) -> DataError:
    first = []
    for path in sorted(folder.glob("part-*.csv")):
        first += pd.read_csv(path, nrows=3 - len(first)).itertuples()
        if len(first) >= 3:
            break
    shown = "; ".join(f"line {r.line}: {r.reason}" for r in first)
    return DataError(f"every row of the log was rejected ({counted(rows, 'row')}). First: {shown}",
                     where=str(ds.log), hint=f"check the dataset description against the file; "
                                             f"all rejected rows are in {folder}")
