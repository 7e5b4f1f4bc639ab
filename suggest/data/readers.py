"""Raw readers: a file in, a table of cells with the source line of every row out.

Each reader returns a :class:`RawTable`: the cells (strings for text formats,
JSON / Parquet values as stored), the line (or Parquet row) each row came
from, and the rows that could not be split into fields at all, with the
reason. Typing and validation happen in :mod:`suggest.data.load`.

CSV takes a fast path through pyarrow's multi-threaded CSV reader. Line numbers
stay exact there because the fast path is only taken when one pass over the
file's bytes shows that every line is one record (no quote, or only quotes that
open, close or double inside a field, in pairs on each line) and pyarrow reads
as many rows as the file has lines; otherwise (quoted newlines, a stray quote, a
ragged row, bytes that are not valid in the declared encoding) the file is read
with Python's ``csv`` module, row by row, so that every bad row is kept with its line
number instead of failing the whole file. Lines whose fields are all empty
are blank lines, not rows.

A log may be several files (:func:`log_files`): a folder of Parquet files, a
hive-partitioned dataset (``date=2026-03-01/part-0.parquet``: the folder names
become columns), or a glob of files of one format (``logs/*.csv``). They are read
in path order, each the way one file is, and every row keeps its own file and
line, which the rejects file reports.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import os
import re
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from suggest.errors import DataError

REJECT_COLUMNS = ["source", "line", "reason", "text"]
#: Lone surrogates: what bytes that are not valid in the file's encoding decode to (with
#: ``surrogateescape``), or what a JSON ``\\ud800`` escape gives. No text column holds them.
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass
class RawTable:
    """Cells of one file (or several), the source line per row, and the rows that did not
    split. ``sources`` is each row's file when the table is read from several, ``files``
    those files in order."""

    frame: pd.DataFrame
    lines: np.ndarray
    rejects: pd.DataFrame
    source: str
    sources: np.ndarray | None = None
    files: list[str] | None = None
    #: Each row's line as the file wrote it, where the cells are not the line's text (JSON
    #: lines): what the rejects file shows of a rejected row.
    texts: np.ndarray | None = None

    @property
    def rows_in(self) -> int:
        return len(self.frame) + len(self.rejects)

    def row_sources(self, rows: np.ndarray) -> np.ndarray | str:
        """The file of each of ``rows`` (a boolean mask or positions)."""
        return self.source if self.sources is None else self.sources[rows]


GLOB = re.compile(r"[*?\[]")
PARQUET_SUFFIXES = (".parquet", ".parq", ".pq")


def log_files(path: Path) -> list[Path] | None:
    """The files of a log given as a folder (its Parquet files, at any depth) or a glob
    (``logs/*.csv``, ``**`` for any depth), in path order; None for a single file."""
    path = Path(path)
    if GLOB.search(str(path)):
        anchor = next(i for i, part in enumerate(path.parts) if GLOB.search(part))
        base = Path(*path.parts[:anchor]) if anchor else Path(".")
        return sorted(p for p in base.glob(str(Path(*path.parts[anchor:]))) if _a_file(p))
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if not p.name.startswith((".", "_"))
                      and p.suffix.lower() in (*PARQUET_SUFFIXES, "") and _a_file(p))
    return None


def _a_file(path: Path) -> bool:
    """A file of the log: a file, or a link to one; a link to nothing is refused (its file
    was left out without a word, a day of a tester's log with it), unless its name is hidden
    (an editor's lock file, ``.#a.parquet``, is such a link)."""
    if path.is_file():
        return True
    if not path.name.startswith(".") and path.is_symlink() and not path.exists():
        raise DataError("the log names a link to a file that does not exist",
                        where=str(path), hint="restore the file the link points to "
                                              f"({os.readlink(path)}) or remove the link")
    return False


def read_table(path: Path, fmt: str, *, separator: str = ",", encoding: str = "utf-8",
               missing_values: tuple[str, ...] = ("",), what: str = "log",
               dictionary: tuple[str, ...] = ()) -> RawTable:
    """Read ``path`` in format ``fmt`` (csv, tsv, jsonl, parquet).

    ``dictionary``: text columns (by their names in the file) a CSV or TSV file gives as
    categorical columns, as a typed Parquet log does: a column of few distinct values is
    then encoded once, by the reader, and checked on its categories.

    Raises :class:`DataError` for problems with the whole file (missing, empty,
    a bad or duplicate header); single bad rows land in ``RawTable.rejects``.
    """
    path = Path(path)
    parts = log_parts(path, fmt, separator=separator, encoding=encoding,
                      missing_values=missing_values, what=what, dictionary=dictionary)
    if len(parts) == 1 and parts[0].path == path:  # a single file, not a folder or glob
        return parts[0].read()
    table = read_parts(path, parts)
    if table.rows_in == 0:
        raise no_rows(path, what)
    return table


def no_rows(path: Path, what: str) -> DataError:
    """The error for a log of several files none of which holds a row."""
    return DataError(f"none of the {what} files has a row", where=str(path),
                     hint="each file holds at most a header: check the log's folder or glob")


@dataclass
class Part:
    """A piece of a log that one task reads on its own, the way :func:`read_table` reads
    it: a file, some row groups of a Parquet file (``row_groups``, numbered on from
    ``first_line``), or a file of a hive-partitioned dataset (``fragment``, read with the
    dataset's ``schema``: its folder keys become columns)."""

    path: Path
    fmt: str
    options: dict
    row_groups: tuple[int, ...] | None = None
    first_line: int = 1
    fragment: object = None
    schema: object = None
    byte_range: tuple[int, int] | None = None
    #: One of several files: it may hold no rows (a day without events), the log may not.
    one_of_many: bool = False

    def columns(self) -> list[str]:
        """The names of the piece's columns, as :meth:`read` gives them: from the file's
        schema or header line when it has one (a JSON Lines file is read whole)."""
        if self.fragment is not None:
            return _without_index(self.schema)
        if self.fmt == "jsonl":
            return list(self.read().frame.columns)
        _check_file(self.path, self.options["what"])
        if self.fmt == "parquet":
            import pyarrow.parquet as pq

            try:
                schema = pq.read_schema(self.path)
            except Exception as exc:  # pyarrow raises several types for a broken file
                raise DataError(f"{self.options['what']} file is not a readable Parquet file: "
                                f"{exc}", where=str(self.path)) from None
            return _without_index(schema)
        return _header(self.path, self.options["separator"], self.options["encoding"],
                       self.options["what"])

    def read(self) -> RawTable:
        if self.byte_range is not None:
            table = _read_range(self)
        elif self.fragment is None:
            table = _read_file(self.path, self.fmt, self.options, self.row_groups, self.first_line,
                               rows_needed=not self.one_of_many)
        else:
            frame = self.arrow().to_pandas().reset_index(drop=True)  # a stored pandas index
            table = RawTable(frame, np.arange(1, len(frame) + 1), _reject_frame(str(self.path), []),
                             str(self.path))
        _mask_missing(table.frame, self.options["missing_values"])
        return table

    def arrow(self):
        """A dataset file's Arrow table, with the dataset's columns."""
        try:
            return self.fragment.to_table(schema=self.schema)
        except Exception as exc:  # pyarrow raises several types for a broken file
            raise DataError(f"{self.options['what']} file is not a readable Parquet file: {exc}",
                            where=str(self.path)) from None


def _without_index(schema) -> list[str]:
    """A Parquet schema's column names but the pandas index it stores (which reading makes
    the frame's index, not a column)."""
    index = (schema.pandas_metadata or {}).get("index_columns", [])
    return [n for n in schema.names if n not in index]


def read_parts(path: Path, parts: list[Part]) -> RawTable:
    """Several pieces of the log at ``path`` as one table, each row with its file and line.
    Files of a Parquet dataset are scanned as one Arrow table and turned into one frame, with
    one pass for the missing-value markers (a small file cost about 10 ms read alone, most of
    it those two steps); other pieces are each read as :meth:`Part.read` reads them, then
    joined."""
    if not all(p.fragment is not None for p in parts):
        return _joined(path, [part.read() for part in parts])
    table, sizes = _scanned(parts) or _one_by_one(parts)
    # the files' stored pandas indexes may overlap: the rows are numbered afresh, as pd.concat
    # with ignore_index numbers the files joined one by one
    frame = table.to_pandas().reset_index(drop=True)
    _mask_missing(frame, parts[0].options["missing_values"])
    files = [str(p.path) for p in parts]
    lines = np.concatenate([np.arange(1, n + 1) for n in sizes])
    return RawTable(frame, lines, _reject_frame(str(path), []), str(path),
                    np.repeat(np.array(files, dtype=object), sizes), files)


def _scanned(parts: list[Part]):
    """Several files of a Parquet dataset in one scan, Arrow reading them on its own threads
    (less than half the time of reading them one by one when they are small), as one table
    and each file's rows; None when they cannot be (a broken file, which reading them one
    by one then names) or the scan does not give their rows in the files' order."""
    import pyarrow as pa
    import pyarrow.dataset as pads

    fragments = [p.fragment for p in parts]
    place = {f.path: i for i, f in enumerate(fragments)}
    if len(parts) < 2 or len(place) < len(parts):
        return None
    sizes, batches, last = np.zeros(len(parts), dtype=np.int64), [], 0
    try:
        dataset = pads.FileSystemDataset(fragments, parts[0].schema, fragments[0].format,
                                         fragments[0].filesystem)
        for tagged in dataset.scanner().scan_batches():
            at = place[tagged.fragment.path]
            if at < last:
                return None
            last = at
            sizes[at] += tagged.record_batch.num_rows
            batches.append(tagged.record_batch)
        return pa.Table.from_batches(batches, schema=dataset.schema), sizes
    except Exception:  # pyarrow raises several types for a broken file
        return None


def _one_by_one(parts: list[Part]):
    """:func:`_scanned`'s table and sizes, each file read on its own."""
    import pyarrow as pa

    tables = [part.arrow() for part in parts]
    return pa.concat_tables(tables), [t.num_rows for t in tables]


#: Containers no reader here opens, by suffix, and what they are.
UNREADABLE = {".zip": "zip archive", ".bz2": "bzip2 file", ".xz": "xz file", ".7z": "7-Zip archive",
              ".xlsx": "spreadsheet", ".xlsm": "spreadsheet", ".xls": "spreadsheet",
              ".ods": "spreadsheet"}
UNREADABLE_HINT = "export it as CSV, TSV, JSON lines or Parquet; gzip (.gz) is read as it is"


def _check_readable(path: Path, what: str) -> None:
    """Refuse a file this tool cannot read by its suffix, saying so (a .zip or .xlsx read as
    CSV gave a trail of encoding and "no column" errors printing compressed bytes)."""
    kind = UNREADABLE.get(path.suffix.lower())
    if kind is not None:
        raise DataError(f"{what} file is a {kind} ({path.suffix}), which the tool does not read",
                        where=str(path), hint=UNREADABLE_HINT)


def log_parts(path: Path, fmt: str, *, rows_per_part: int | None = None,
              bytes_per_part: int | None = None, **options) -> list[Part]:
    """The pieces of the log at ``path``, in order: one per file of a folder, dataset or
    glob; a single Parquet file split into runs of row groups of about ``rows_per_part``
    rows, and a single text file into byte ranges of ``bytes_per_part`` (each then needs
    its first line number: :func:`numbered`), when those are given; else the file whole.
    ``options``: ``separator``, ``encoding``, ``missing_values`` and ``what``, as
    :func:`read_table`."""
    path = Path(path)
    files = log_files(path)
    for file in ([path] if files is None else files):
        _check_readable(file, options["what"])
    if files is None:
        if fmt == "parquet" and rows_per_part and path.is_file():
            return _row_group_parts(path, options, rows_per_part)
        if bytes_per_part and _splittable(path, fmt, options["encoding"]):
            size = path.stat().st_size
            if size > bytes_per_part:
                return [Part(path, fmt, options, byte_range=(a, min(a + bytes_per_part, size)))
                        for a in range(0, size, bytes_per_part)]
        return [Part(path, fmt, options)]
    if path.is_dir() and fmt != "parquet":
        raise DataError(f"{options['what']} is a folder, read as Parquet files, but its format "
                        f"is {fmt}", where=str(path),
                        hint=f"for {fmt} files give a glob such as {path}/*.{fmt}")
    if not files:
        raise DataError(f"{options['what']} names no files", where=str(path),
                        hint="a folder of Parquet files, a hive-partitioned dataset or a glob "
                             "such as logs/*.csv")
    if fmt == "parquet" and path.is_dir():
        return _dataset_parts(path, options)
    other = [p for p in files if p.suffix.lower() not in PARQUET_SUFFIXES]
    if fmt == "parquet" and other:
        raise DataError(f"{options['what']} names files that are not Parquet: {other[0]}",
                        where=str(path), hint="give a glob of the Parquet files to read")
    return [Part(p, fmt, options, one_of_many=len(files) > 1) for p in files]


def _splittable(path: Path, fmt: str, encoding: str) -> bool:
    """Whether a text file can be cut at any newline byte: not compressed, in an encoding
    where a newline is the byte 10 and no other character holds it."""
    if fmt not in ("csv", "tsv", "jsonl") or not path.is_file() or path.suffix == ".gz":
        return False
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return False
    return not name.startswith(("utf-16", "utf-32")) and "\n".encode(name) == b"\n"


def line_count(part: Part) -> tuple[int, bool]:
    """The newlines in a byte-range piece's bytes, and whether they hold a quote (in a CSV
    file a quoted field may hold a newline: such a file is not cut)."""
    start, end = part.byte_range
    newlines, quoted = 0, False
    with open(part.path, "rb") as f:
        f.seek(start)
        left = end - start
        while left > 0:
            block = f.read(min(left, 1 << 24))
            if not block:
                break
            left -= len(block)
            newlines += block.count(b"\n")
            quoted = quoted or (part.fmt != "jsonl" and b'"' in block)
    return newlines, quoted


def numbered(parts: list[Part], counts: list[tuple[int, bool]]) -> list[Part]:
    """Byte-range pieces given the number of the line each starts in (from
    :func:`line_count` of every piece); the file whole when any piece holds a quote."""
    if any(quoted for _, quoted in counts):
        return [Part(parts[0].path, parts[0].fmt, parts[0].options)]
    before = np.concatenate(([0], np.cumsum([n for n, _ in counts])[:-1]))
    return [replace(p, first_line=int(b) + 1) for p, b in zip(parts, before)]


def _read_range(part: Part) -> RawTable:
    """The lines whose first byte is in the piece's byte range, read as the file's own
    reader reads a file: the file's header line and those lines are written to a
    temporary file, read, and given back their file and line numbers."""
    import tempfile

    start, end = part.byte_range
    header = part.fmt != "jsonl"
    line = part.first_line  # the number of the line the range starts in
    with open(part.path, "rb") as f:
        head = f.readline() if header else b""
        f.seek(max(start - 1, 0))
        if start > 0 and f.read(1) != b"\n":  # a line begun before the range: not ours
            f.readline()
            line += 1
        if header and f.tell() < len(head):  # the header is no row
            f.seek(len(head))
            line += 1
        at = f.tell()
        data = f.read(end - at) if end > at else b""
        if data and not data.endswith(b"\n"):
            data += f.readline()
    with tempfile.TemporaryDirectory(prefix="suggest-range-") as folder:
        copy = Path(folder) / f"range{part.path.suffix}"
        copy.write_bytes(head + data)
        what, encoding = part.options["what"], part.options["encoding"]
        table = (_read_jsonl(copy, encoding, what) if part.fmt == "jsonl" else
                 _read_csv(copy, part.options["separator"], encoding, what,
                           part.options.get("dictionary", ())))
    shift = line - (2 if header else 1)  # the copy's lines are numbered from its header
    rejects = table.rejects.assign(source=str(part.path),
                                   line=(table.rejects["line"] + shift).astype(np.int64))
    return RawTable(table.frame, table.lines + shift, rejects, str(part.path), texts=table.texts)


def _row_group_parts(path: Path, options: dict, rows_per_part: int) -> list[Part]:
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise DataError(f"{options['what']} file is not a readable Parquet file: {exc}",
                        where=str(path)) from None
    parts, groups, rows, line = [], [], 0, 1
    for g in range(meta.num_row_groups):
        groups.append(g)
        rows += meta.row_group(g).num_rows
        if rows >= rows_per_part or g == meta.num_row_groups - 1:
            parts.append(Part(path, "parquet", options, tuple(groups), line))
            line += rows
            groups, rows = [], 0
    return parts or [Part(path, "parquet", options)]


def _read_file(path: Path, fmt: str, options: dict, row_groups=None, first_line: int = 1,
               rows_needed: bool = True) -> RawTable:
    what, encoding = options["what"], options["encoding"]
    _check_file(path, what)
    try:
        if fmt == "parquet":
            table = _read_parquet(path, what, row_groups, first_line)
        elif fmt == "jsonl":
            table = _read_jsonl(path, encoding, what)
        else:
            table = _read_csv(path, options["separator"], encoding, what,
                              options.get("dictionary", ()))
    except UnicodeError as exc:  # the file as a whole is not in the encoding (utf-16 without BOM)
        reason = getattr(exc, "reason", None) or str(exc)
        raise DataError(f"{what} file cannot be read as {encoding}: {reason}", where=str(path),
                        hint="set `encoding:` in the dataset description to the file's encoding, "
                             "e.g. utf-8, latin-1, cp1252 or utf-16") from None
    except (gzip.BadGzipFile, EOFError) as exc:
        if path.suffix != ".gz":
            raise
        raise DataError(f"{what} file ends in .gz but is not gzip-compressed (or is cut short): "
                        f"{exc}", where=str(path),
                        hint="rename it without .gz if it is plain text, or compress it again "
                             "(gzip FILE)") from None
    if table.rows_in == 0 and row_groups is None and rows_needed:
        raise DataError(f"{what} file has no rows", where=str(path),
                        hint="expected rows after the header line" if fmt in ("csv", "tsv") else None)
    return table


def _check_file(path: Path, what: str) -> None:
    if not path.exists():
        raise DataError(f"{what} file not found", where=str(path),
                        hint="paths in a dataset description are relative to the YAML file")
    if path.stat().st_size == 0:
        raise DataError(f"{what} file is empty", where=str(path), hint="expected a header line and rows")


def _mask_missing(frame: pd.DataFrame, missing_values: tuple[str, ...]) -> None:
    """Cells equal to a ``missing_values`` marker become missing: text cells, and the
    categories of categorical columns."""
    if not len(frame.columns) or not missing_values:
        return
    markers = list(missing_values)
    for col in frame.select_dtypes(include=["object", "string"]).columns:
        hit = _marked(frame[col], markers)
        if hit.any():  # a column without a marker is left as it is (no copy)
            frame[col] = frame[col].mask(hit, None)
    for col in frame.columns:
        if isinstance(frame[col].dtype, pd.CategoricalDtype):
            markers = [c for c in frame[col].cat.categories if str(c) in missing_values]
            if markers:
                frame[col] = frame[col].cat.remove_categories(markers)


def _marked(values: pd.Series, markers: list[str]) -> np.ndarray:
    """Where a text column holds one of ``markers``. The usual marker alone, the empty
    text, is found in Arrow-backed text by each cell's length (no hashing of the cells)."""
    from suggest.data.timefields import arrow_cells, arrow_text

    if markers == [""] and arrow_text(values):
        import pyarrow.compute as pc

        empty = pc.equal(pc.binary_length(arrow_cells(values)), 0)
        return pc.fill_null(empty, False).to_numpy(zero_copy_only=False)
    return values.isin(markers).to_numpy()


def _joined(path: Path, parts: list[RawTable]) -> RawTable:
    """Several files' tables as one, each row with its file (columns missing from a file
    are missing cells; a file's header must name the log's columns, checked later)."""
    frame = pd.concat([p.frame for p in parts], ignore_index=True)
    sources = np.concatenate([np.full(len(p.frame), p.source, dtype=object) for p in parts])
    rejects = pd.concat([p.rejects for p in parts], ignore_index=True)
    texts = (np.concatenate([p.texts for p in parts]) if all(p.texts is not None for p in parts)
             else None)
    return RawTable(frame, np.concatenate([p.lines for p in parts]), rejects, str(path), sources,
                    [p.source for p in parts], texts)


def _dataset_parts(path: Path, options: dict) -> list[Part]:
    """A hive-partitioned Parquet dataset's files through pyarrow.dataset, each to be read
    with the columns of every file (pyarrow's default takes the first file's alone)."""
    import pyarrow as pa
    import pyarrow.dataset as pads

    what = options["what"]
    try:
        dataset = pads.dataset(str(path), format="parquet", partitioning="hive")
        fragments = sorted(dataset.get_fragments(), key=lambda f: f.path)
    except Exception as exc:  # pyarrow raises several types for a broken file
        for file in log_files(path) or []:  # pyarrow read a file's footer: name the file
            _file_schema(file, what)
        raise DataError(f"{what} folder is not a readable Parquet dataset: {exc}",
                        where=str(path)) from None
    schema = dataset.partitioning.schema
    try:
        # each file's schema read from its footer and unified as it comes (a fragment's
        # physical_schema keeps the footer: 53 KB a file, 264 MiB for 5,000 files); the
        # files' columns first, then the folder keys
        files = culprit = None
        for fragment in fragments:
            one = _instants_in_utc(_file_schema(fragment.path, what))
            culprit = fragment.path
            files = one if files is None else pa.unify_schemas([files, one],
                                                               promote_options="permissive")
        culprit = None  # the folder keys' types, past the files
        schema = pa.unify_schemas([files, schema] if files is not None else [schema],
                                  promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        # the file met when the types stopped agreeing: a tester searched 29 files for it
        raise DataError(f"the files of the {what} disagree on a column's type: {exc}"
                        + (f"; {culprit} is the first that disagrees with the files before "
                           "it" if culprit else ""),
                        where=str(path), hint="write every file with the same column "
                                              "types") from None
    return [Part(Path(f.path), "parquet", options, fragment=f, schema=schema) for f in fragments]


def _instants_in_utc(schema):
    """``schema`` with every zoned timestamp column in UTC: files writing the same instants in
    other zones (one in UTC, the others in Europe/Berlin) then agree. The zone a typed time
    is stored in never gave its local time (the zone column or the description does), and
    text stored as large_string, integers of other widths, timestamps of other units agree
    through pyarrow's permissive promotion (a file re-written by another pandas version
    differs so, and the whole log was refused)."""
    import pyarrow as pa

    fields = [field.with_type(pa.timestamp(field.type.unit, "UTC"))
              if pa.types.is_timestamp(field.type) and field.type.tz is not None else field
              for field in schema]
    return pa.schema(fields, metadata=schema.metadata)


def _file_schema(path, what: str):
    """The schema in a Parquet file's footer; a file that is not Parquet named in the error."""
    import pyarrow.parquet as pq

    try:
        return pq.read_schema(path)
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise DataError(f"{what} file is not a readable Parquet file: {exc}", where=str(path),
                        hint="every file in the folder is read as part of the log: rewrite "
                             "this one or move it out") from None


def _open_text(path: Path, encoding: str, errors: str = "strict") -> io.TextIOBase:
    # Spreadsheet exports start UTF-8 files with a byte-order mark; pandas drops it, so
    # must the row-by-row readers, or the first column's name would not match.
    if codecs.lookup(encoding).name == "utf-8":
        encoding = "utf-8-sig"
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding=encoding, errors=errors, newline="")
    return open(path, encoding=encoding, errors=errors, newline="")


def _reject_frame(source: str, rows: list[tuple[int, str, str]]) -> pd.DataFrame:
    # a rejected line keeps its text, with bytes that are not characters shown as U+FFFD
    rows = [(line, reason, _SURROGATE.sub("\ufffd", text)) for line, reason, text in rows]
    frame = pd.DataFrame(rows, columns=REJECT_COLUMNS[1:])
    frame.insert(0, "source", source)
    return frame


def _header(path: Path, separator: str, encoding: str, what: str) -> list[str]:
    with _open_text(path, encoding, errors="surrogateescape") as f:
        try:
            header = next(csv.reader(f, delimiter=separator))
        except StopIteration:
            header = []
        except csv.Error as exc:
            raise DataError(f"{what} header cannot be read: {exc}", where=f"{path}:1") from None
    if not any(h.strip() for h in header):
        raise DataError(f"{what} file has no header line", where=f"{path}:1",
                        hint="the first line must name the columns")
    bad = [h for h in header if _has_surrogates(h, encoding)]
    if bad:
        raise DataError(f"{what} header is not valid {encoding}", where=f"{path}:1",
                        hint="set `encoding:` in the dataset description (e.g. latin-1)")
    counts = Counter(header)
    dupes = [h for h, n in counts.items() if n > 1]
    if dupes:
        places = [str(i + 1) for i, h in enumerate(header) if h == dupes[0]]
        raise DataError(f"{what} header names column '{dupes[0]}' more than once "
                        f"(fields {', '.join(places)})", where=f"{path}:1",
                        hint="rename one of them; every column needs its own name")
    return header


def _has_surrogates(text: str, encoding: str) -> bool:
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return True
    return False


def _lines_and_quotes(path: Path) -> tuple[int, bool]:
    """(number of lines, whether any quote character appears) in one pass over the bytes
    (``bytes.count`` and ``in``: a few hundredths of a second for 100 MB)."""
    opener = gzip.open if path.suffix == ".gz" else open
    lines, last, quoted = 0, b"\n", False
    with opener(path, "rb") as f:
        while block := f.read(1 << 22):
            quoted = quoted or b'"' in block
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + (last != b"\n"), quoted


def _every_line_fits(path: Path, separator: str, width: int) -> bool:
    """Whether every non-blank line holds exactly ``width - 1`` separators: only then do
    pandas' rows (quoting off) map one to one onto lines, and only then can a short row not
    hide (pandas pads it silently). Asked only of a file without quotes that pyarrow's
    reader refused, which then goes to pandas' reader."""
    opener = gzip.open if path.suffix == ".gz" else open
    sep = ord(separator)
    last, carry_seps, carry_len = b"\n", 0, 0
    with opener(path, "rb") as f:
        while block := f.read(1 << 22):
            data = np.frombuffer(block, dtype=np.uint8)
            ends = np.flatnonzero(data == 10)
            if len(ends):
                # separators per line: where each line's start and end fall among
                # the block's separator positions
                seps = np.flatnonzero(data == sep)
                starts = np.concatenate(([0], ends[:-1] + 1))
                per_line = np.searchsorted(seps, ends) - np.searchsorted(seps, starts)
                length = ends - starts
                per_line[0] += carry_seps
                length[0] += carry_len
                stripped = length - (data[np.maximum(ends - 1, 0)] == 13)
                if ((per_line != width - 1) & (stripped > 0)).any():
                    return False
                tail = data[ends[-1] + 1:]
                carry_seps, carry_len = int((tail == sep).sum()), len(tail)
            else:
                carry_seps += int((data == sep).sum())
                carry_len += len(data)
            last = block[-1:]
    return not (last != b"\n" and carry_len and carry_seps != width - 1)


def _read_csv(path: Path, separator: str, encoding: str, what: str,
              dictionary: tuple[str, ...] = ()) -> RawTable:
    header = _header(path, separator, encoding, what)
    if ord(separator) > 127:  # the byte scans below look for a one-byte ASCII separator
        return _read_csv_exact(path, separator, encoding, header, what)
    lines_in_file, quoted = _lines_and_quotes(path)
    if quoted and not _quotes_whole_fields(path, separator):
        return _read_csv_exact(path, separator, encoding, header, what)
    try:
        frame = _read_arrow_csv(path, separator, encoding, header, quoted, dictionary)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError):
        return _read_csv_exact(path, separator, encoding, header, what)
    if lines_in_file != len(frame) + 1:  # defensive: numbering must be exact
        return _read_csv_exact(path, separator, encoding, header, what)
    lines = np.arange(2, len(frame) + 2)
    blank = (frame == "").all(axis=1).to_numpy() if len(frame.columns) else np.zeros(len(frame), bool)
    frame = frame.loc[~blank].reset_index(drop=True)
    return RawTable(frame, lines[~blank], _reject_frame(str(path), []), str(path))


def _quotes_whole_fields(path: Path, separator: str) -> bool:
    """Whether every quote in the file opens a field (after a separator or at a line's
    start), closes one (before a separator or the line's end) or is doubled inside one: the
    quoting that readers agree on. A stray quote (``ab"c``, ``"closed"then``) sends the file
    to the row-by-row reader, which rejects its line and nothing more."""
    opener = gzip.open if path.suffix == ".gz" else open
    sep, quote = ord(separator), ord('"')
    bounds = np.array([sep, 10, 13], dtype=np.uint8)
    before, open_quotes = b"\n", 0  # the quotes of the line the last block ended in
    with opener(path, "rb") as f:
        block = f.read(1 << 22)
        while block:
            following = f.read(1 << 22)
            # the byte before the block and the one after it, the file's end as a newline
            data = np.frombuffer(before + block + (following[:1] or b"\n"), dtype=np.uint8)
            inner = data[1:-1]
            at = np.flatnonzero(inner == quote) + 1
            if len(at):
                prev, after = data[at - 1], data[at + 1]
                fine = np.isin(prev, bounds) | np.isin(after, bounds) | (prev == quote) \
                    | (after == quote)
                if not fine.all():
                    return False
            # an odd number of quotes on a line: a field left open (or holding a newline)
            ends = np.flatnonzero(inner == 10)
            per_line = np.diff(np.searchsorted(at - 1, np.r_[-1, ends], side="right"))
            if len(ends):
                per_line[0] += open_quotes
                if (per_line % 2).any():
                    return False
                open_quotes = int(len(at) - np.searchsorted(at - 1, ends[-1], side="right"))
            else:
                open_quotes += len(at)
            before, block = block[-1:], following
    return open_quotes % 2 == 0


def _read_arrow_csv(path: Path, separator: str, encoding: str, header: list[str],
                    quoted: bool, dictionary: tuple[str, ...] = ()) -> pd.DataFrame:
    """A file whose every line is one row, as text cells, by pyarrow's multi-threaded CSV
    reader: every column as text, nothing read as missing (``missing_values`` is applied
    after), blank lines kept as rows of empty cells so that each row is its line; the
    caller checks that rows match lines.

    ``quoted``: the file has quotes (each opens, closes or doubles inside a field); a
    newline still always ends a row, so a quoted newline, a ragged row, a blank line or
    bytes not in the encoding make pyarrow refuse the file, and it is read row by row
    instead (``ValueError``). A file without quotes pyarrow will not read goes to pandas'
    reader, which reads it the same way, when every line holds one cell a column (a blank
    line in a file of several columns, an encoding pyarrow does not know); else
    (a ragged row) row by row (``ValueError``). The columns named in ``dictionary`` come as
    categorical columns (pandas' reader gives text; the checks read both alike)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        table = pacsv.read_csv(
            path, read_options=pacsv.ReadOptions(encoding=encoding, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(delimiter=separator, ignore_empty_lines=False,
                                              quote_char='"' if quoted else False,
                                              double_quote=quoted, newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.dictionary(pa.int32(), pa.string()) if name in dictionary
                              else pa.string() for name in header}, null_values=[],
                strings_can_be_null=False, quoted_strings_can_be_null=False))
    except (pa.ArrowInvalid, LookupError, NotImplementedError, UnicodeError) as exc:
        if quoted or not _every_line_fits(path, separator, len(header)):
            raise ValueError(str(exc)) from None
        return pd.read_csv(path, sep=separator, dtype=str, keep_default_na=False, na_filter=False,
                           skip_blank_lines=False, encoding=encoding, engine="c",
                           compression="infer", quoting=3)
    if table.column_names != header:  # defensive: the names pandas and csv read
        raise ValueError("pyarrow read other column names")
    return table.to_pandas()


class _Lines:
    """The file's physical lines for ``csv.reader``, with the lines of the record being read
    kept, so that a record a stray quote made span several lines can be taken back: its
    first line is rejected and the lines after it are read again as records of their own."""

    def __init__(self, f):
        self.f, self.again, self.taken = f, [], []

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = self.again.pop() if self.again else next(self.f)
        self.taken.append(line)
        return line

    def give_back(self, lines: list[str]) -> None:
        self.again.extend(reversed(lines))


def _rows_inside(lines: list[str], separator: str, width: int) -> bool:
    """Whether any of ``lines`` (continuation lines of one record) reads as a row of its own."""
    return any('"' not in line and line.strip() and line.count(separator) == width - 1
               for line in lines)


def _read_csv_exact(path: Path, separator: str, encoding: str, header: list[str],
                    what: str) -> RawTable:
    """Row-by-row reading that keeps every malformed row with its line number.

    A quoted field may hold newlines, but a record spanning several lines that is
    malformed (the wrong number of fields), or that swallowed lines which are rows
    of their own (no quote, the right number of separators: a quote opened and
    never closed, or closed by another stray one far below), is a stray quote: only
    its first line is rejected and reading goes on from the next line, so one bad
    quote never swallows the rest of the file.
    """
    rows, lines, bad = [], [], []
    width = len(header)
    with _open_text(path, encoding, errors="surrogateescape") as f:
        source = _Lines(f)
        next(csv.reader(source, delimiter=separator))  # the header (checked by _header)
        number = len(source.taken)  # physical lines read so far
        # strict: a quote left open at the end of the file, or text after a closing
        # quote, is an error (the line is rejected) rather than a guess
        reader = csv.reader(source, delimiter=separator, strict=True)
        while True:
            source.taken = []
            try:
                fields = next(reader)
                error = None
            except StopIteration:
                break
            except csv.Error as exc:
                fields, error = None, f"cannot split the line into fields: {exc}"
            taken, start = source.taken, number + 1
            if not taken:
                break
            if len(taken) == 1 or (error is None and len(fields) == width
                                   and not _rows_inside(taken[1:], separator, width)):
                number += len(taken)
                if error is not None:
                    bad.append((start, error, taken[0].rstrip("\r\n")))
                    continue
                if not any(fields):
                    continue
                text = separator.join(fields)
                if len(fields) != width:
                    bad.append((start, f"expected {width} fields separated by {separator!r}, "
                                       f"found {len(fields)}", text))
                elif _has_surrogates(text, encoding):
                    bad.append((start, f"bytes that are not valid {encoding}",
                                text.encode(encoding, "replace").decode(encoding)))
                else:
                    rows.append(fields)
                    lines.append(start)
                continue
            # a malformed record over several lines: a stray quote. Reject its first line
            # and read the others again, each from its own start.
            first = taken[0].rstrip("\r\n")
            bad.append((start, f"an unbalanced quote (\") in the line: expected {width} "
                               f"fields separated by {separator!r}", first))
            number += 1
            source.give_back(taken[1:])
            reader = csv.reader(source, delimiter=separator, strict=True)
    frame = pd.DataFrame(rows, columns=header, dtype=object) if rows else pd.DataFrame(columns=header)
    return RawTable(frame, np.asarray(lines, dtype=np.int64), _reject_frame(str(path), bad), str(path))


def _read_jsonl(path: Path, encoding: str, what: str) -> RawTable:
    records, lines, bad, texts = [], [], [], []
    with _open_text(path, encoding, errors="surrogateescape") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            line = line.rstrip("\r\n")  # an error at the line's end is on this line, not the next
            if _SURROGATE.search(line):
                bad.append((number, f"bytes that are not valid {encoding}", line.strip()))
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                bad.append((number, f"not valid JSON: {exc.msg} at character {exc.pos + 1}",
                            line.strip()))
                continue
            if not isinstance(value, dict):
                bad.append((number, f"expected a JSON object, found {type(value).__name__}"
                            + (" (JSON lines hold one object a line; a file that is one JSON "
                               "array is not read: write each object on its own line)"
                               if isinstance(value, list) else ""), line.strip()))
                continue
            if "\\u" in line and has_lone_surrogate(value):
                bad.append((number, "a \\u escape of a lone surrogate (half a character, not "
                                    "text)", line.strip()))
                continue
            records.append(value)
            lines.append(number)
            texts.append(line.strip())
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    frame = frame.astype(object).where(frame.notna(), None)
    return RawTable(frame, np.asarray(lines, dtype=np.int64), _reject_frame(str(path), bad), str(path),
                    texts=np.asarray(texts, dtype=object))


def has_lone_surrogate(value) -> bool:
    """Whether a JSON value holds, in a key or a text anywhere inside, a lone surrogate."""
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(has_lone_surrogate(k) or has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_lone_surrogate(v) for v in value)
    return False


def _read_parquet(path: Path, what: str, row_groups=None, first_line: int = 1) -> RawTable:
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(path)
        table = file.read() if row_groups is None else file.read_row_groups(list(row_groups))
        frame = table.to_pandas()
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise DataError(f"{what} file is not a readable Parquet file: {exc}", where=str(path)) from None
    frame = frame.reset_index(drop=True)
    return RawTable(frame, np.arange(first_line, first_line + len(frame)),
                    _reject_frame(str(path), []), str(path))


def sniff_separator(path: Path, encoding: str = "utf-8") -> str | None:
    """Guess the separator of a text file from its first lines, or ``None``."""
    try:
        with _open_text(Path(path), encoding, errors="replace") as f:
            sample = "".join(f.readline() for _ in range(5))
        return csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
    except (csv.Error, OSError, UnicodeError):
        return None
