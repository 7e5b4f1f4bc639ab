"""Reading run and truth files for ``suggest evaluate``.

A run is either a Suggestions table (CSV or Parquet with ``request_id,
item_id, score`` and optionally ``engine``) or a TREC run file
(``qid Q0 doc rank score tag``, whitespace separated; the tag becomes the
engine). Truth is a Truth table (``request_id, item_id, relevance``) or TREC
qrels (``qid 0 doc relevance``). TREC files are told apart from tables by
their first line: a table has a header naming its columns.
"""

from __future__ import annotations

import contextlib

import csv
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from suggest.errors import DataError
from suggest.ids import isin

RUN_COLUMNS = ("request_id", "item_id", "score")
TRUTH_COLUMNS = ("request_id", "item_id", "relevance")


def _first_line(path: Path) -> str:
    """The first line that is not blank (a blank first line made a file "empty")."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return next((line.strip() for line in f if line.strip()), "")


def _table(path: Path, needed: tuple[str, ...], what: str) -> pd.DataFrame:
    if not path.exists():
        raise DataError(f"{what} file not found", where=str(path),
                        hint="check the path; a TREC file, or a CSV or Parquet table with the "
                             f"columns {', '.join(needed)}")
    if path.suffix in (".parquet", ".pq"):
        frame = _parsed(path, what, lambda: pd.read_parquet(path))
    else:
        first = _first_line(path)
        if not first.strip():
            raise DataError(f"the {what} file is empty", where=str(path),
                            hint=f"write one line per suggested item (a {what} from an engine)"
                            if what == "run" else "write one line per engaged item")
        sep = "\t" if "\t" in first and "," not in first else ","
        header = next(csv.reader([first], delimiter=sep))  # a quoted header ("request_id") too
        if not any(col in header for col in needed):
            return None  # not a table with a header: the caller tries TREC
        with warnings.catch_warnings():
            # a row with more fields than the header: pandas would make its first field an
            # index and read every column one off (all metrics 0, exit 0); refused instead
            warnings.simplefilter("error", pd.errors.ParserWarning)
            ids = {"request_id": str, "item_id": str, "engine": str}
            try:
                # ids as written: 'NA', 'null', 'None' are ids, only an empty cell is missing;
                # an engine '001' stays '001'
                frame = _parsed(path, what, lambda: pd.read_csv(
                    path, sep=sep, index_col=False, dtype=ids, keep_default_na=False,
                    na_values={c: [""] for c in (*ids, "score", "relevance")}))
            except pd.errors.ParserWarning:
                raise _field_count(path, sep, what, len(header)) from None
        frame.attrs["separator"] = sep  # a row's line is found when an error names it
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise DataError(f"{what} has no column {', '.join(repr(c) for c in missing)}",
                        where=f"{path}:1", hint=f"a {what} table needs {', '.join(needed)}")
    if len(frame) == 0:
        raise DataError(f"the {what} has a header but no rows", where=str(path),
                        hint="check that the file was written completely")
    for col in [*needed, "engine"]:  # an empty id would be read as the text 'nan'
        empty = frame[col].isna().to_numpy() if col in frame else None
        if empty is not None and empty.any():
            row = int(empty.argmax())
            raise DataError(f"{what} row has no {col} ({int(empty.sum()):,} such "
                            f"row{'s' if empty.sum() > 1 else ''})", where=_where(path, frame, row),
                            hint=f"every row of a {what} table needs {', '.join(needed)}"
                                 + (" and, with that column, an engine" if col == "engine" else ""))
    return frame


def _record_lines(path: Path, sep: str, rows: int) -> np.ndarray:
    """The file line each data row of a CSV table starts on (blank lines skipped, as pandas
    skips them: a row after two blank lines was named two lines early)."""
    starts = []
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        reader = csv.reader(f, delimiter=sep)
        line = 1
        for row in reader:
            if row and any(cell.strip() for cell in row):
                starts.append(line)
            line = reader.line_num + 1
    starts = starts[1:]  # the header's
    if len(starts) != rows:  # a file pandas reads otherwise than csv: the rows' order
        return np.arange(rows) + 2
    return np.asarray(starts, dtype=np.int64)


def _field_count(path: Path, sep: str, what: str, width: int) -> DataError:
    """The error for the first row whose fields are not as many as its header's."""
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        for number, row in enumerate(csv.reader(f, delimiter=sep), start=1):
            if number > 1 and row and len(row) != width:
                return DataError(f"{what} row has {len(row)} fields, its header {width}",
                                 where=f"{path}:{number}",
                                 hint="a field holding the separator must be quoted; the row "
                                      f"reads {sep.join(row)[:80]!r}")
    return DataError(f"{what} rows do not have as many fields as the header", where=str(path))


def _parsed(path: Path, what: str, read):
    """``read()``, with pandas' and pyarrow's parse errors turned into a clear error."""
    try:
        return read()
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError,
            OSError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataError(f"cannot read the {what} file: {first[:200]}", where=str(path),
                        hint="a TREC file (whitespace-separated, one line per item) or a CSV or "
                             "Parquet table with a header") from None


def _trec(path: Path, width: int, names: list[str], what: str, example: str,
          header: tuple[str, ...]) -> pd.DataFrame:
    """A TREC file as a frame: every non-blank line must hold ``width`` whitespace-separated
    fields; the first that does not is named with its line number. ``header``: the columns
    the same data as a CSV table has."""
    lines = pd.Series(_parsed(path, what, lambda: path.read_text(encoding="utf-8")).splitlines(),
                      dtype=object)
    fields = lines.str.split()
    count = fields.str.len().to_numpy()
    filled = np.flatnonzero(count > 0)
    if len(filled) == 0:
        raise DataError(f"the {what} file is empty", where=str(path))
    wrong = filled[count[filled] != width]
    if len(wrong):
        at = int(wrong[0])
        if at == filled[0]:  # the very first line: the file is not TREC at all
            raise DataError(f"{what} is neither a table with a header nor TREC format "
                            f"({count[at]} fields a line, TREC has {width})", where=str(path),
                            hint=f"e.g. '{example}', or a CSV header {','.join(header)}")
        raise DataError(f"{what} line has {count[at]} fields, a TREC {what} line has {width} "
                        f"({len(wrong):,} such line{'s' if len(wrong) > 1 else ''})", where=f"{path}:{at + 1}",
                        hint=f"e.g. '{example}'; the line reads {lines[at].strip()[:80]!r}")
    frame = pd.DataFrame(fields[filled].tolist(), columns=names)
    frame.insert(0, "line", filled + 1)
    return frame


def read_run(path: str | Path) -> pd.DataFrame:
    """A run as ``request_id, item_id, score, engine``, and ``rank`` when the file has one
    (TREC runs do): read for a note only, as trec_eval orders by score too."""
    path = Path(path)
    frame = _table(path, RUN_COLUMNS, "run")
    if frame is None:
        frame = _trec(path, 6, ["request_id", "q0", "item_id", "rank", "score", "engine"], "run",
                      "q1 Q0 doc7 1 0.93 my-engine", RUN_COLUMNS)
    if "engine" not in frame.columns:
        frame["engine"] = path.stem
    score = pd.to_numeric(frame["score"], errors="coerce")
    if score.isna().any() or np.isinf(score).any():
        row = int((score.isna() | np.isinf(score)).to_numpy().argmax())
        raise DataError(f"run score {frame['score'].iloc[row]!r} is not a finite number",
                        where=_where(path, frame, row), hint="every suggested item needs a score")
    rank = pd.to_numeric(frame["rank"], errors="coerce") if "rank" in frame.columns else None
    kept = ["request_id", "item_id", "score", "engine"] + (["rank"] if rank is not None else [])
    return frame.assign(request_id=frame["request_id"].astype(str),
                        item_id=frame["item_id"].astype(str), score=score.astype(float),
                        engine=frame["engine"].astype(str),
                        **({"rank": rank} if rank is not None else {}))[kept]


def read_truth(path: str | Path) -> pd.DataFrame:
    """Truth as ``request_id, item_id, relevance``."""
    path = Path(path)
    frame = _table(path, TRUTH_COLUMNS, "truth")
    if frame is None:
        frame = _trec(path, 4, ["request_id", "iteration", "item_id", "relevance"], "truth",
                      "q1 0 doc7 1", TRUTH_COLUMNS)
    relevance = pd.to_numeric(frame["relevance"], errors="coerce")
    if relevance.isna().any() or np.isinf(relevance).any():
        row = int((relevance.isna() | np.isinf(relevance)).to_numpy().argmax())
        raise DataError(f"relevance {frame['relevance'].iloc[row]!r} is not a finite number",
                        where=_where(path, frame, row), hint="a grade such as 0, 1 or 2")
    truth = frame.assign(request_id=frame["request_id"].astype(str),
                         item_id=frame["item_id"].astype(str), relevance=relevance.astype(float))
    _check_grades(truth, path)
    return truth.drop_duplicates(["request_id", "item_id"])[list(TRUTH_COLUMNS)].reset_index(
        drop=True)


def _where(path: Path, frame: pd.DataFrame, row: int) -> str:
    """``path:line`` of a row (TREC files know their lines; a table's data starts at line 2)."""
    if "line" in frame:
        line = int(frame["line"].iloc[row])
    elif "separator" in frame.attrs:  # a CSV table: its rows' lines, blank lines counted
        line = int(_record_lines(path, frame.attrs["separator"], len(frame))[row])
    else:
        line = row + 2
    return f"{path}:{line}"


def _check_grades(truth: pd.DataFrame, path: Path) -> None:
    """Refuse an item graded twice, differently, for one request: which grade is meant?"""
    pairs = truth.groupby(["request_id", "item_id"], sort=False)["relevance"].nunique()
    conflicts = pairs[pairs > 1]
    if len(conflicts):
        request, item = conflicts.index[0]
        grades = truth.loc[(truth["request_id"] == request) & (truth["item_id"] == item),
                           "relevance"].unique()
        raise DataError(f"item '{item}' of request '{request}' is graded {len(grades)} ways "
                        f"({', '.join(f'{g:g}' for g in grades)}); {len(conflicts):,} pairs are "
                        "graded more than once with different grades", where=str(path),
                        hint="keep one line per request and item")


def read_replay_paths(folder: str | Path) -> list[Path]:
    """results.parquet and suggestions.parquet of a finished replay, or a clear error."""
    folder = Path(folder)
    needed = [folder / "results.parquet", folder / "suggestions.parquet"]
    missing = [p.name for p in needed if not p.exists()]
    if missing:
        hint = ("the replay did not finish: run the same `suggest replay` again to resume"
                if (folder / "state.json").exists() else "run `suggest replay ... -o FOLDER` first")
        raise DataError(f"{folder} is not a finished replay ({', '.join(missing)} missing)", hint=hint)
    return needed


def read_replay(folder: str | Path, *, engines: list[str] | None = None, max_rank: int | None = None,
                cutoff: int | None = None,
                suggestion_columns: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The Results and Suggestions frames of a finished replay folder.

    A replay of a million requests holds tens of millions of suggestion rows, so a
    reader can ask for less: only some ``engines``, suggestions up to ``max_rank``
    and only their ``suggestion_columns``, and only the metrics at ``cutoff`` (the
    other Results columns are always read).
    """
    import pyarrow.parquet as pq

    needed = read_replay_paths(folder)
    wanted = [("engine", "in", list(engines))] if engines is not None else []
    columns = None
    if cutoff is not None:
        with _readable(needed[0]):
            columns = [c for c in pq.read_schema(needed[0]).names
                       if "@" not in c or c.endswith(f"@{cutoff}")]
    ranks = [("rank", "<=", max_rank)] if max_rank is not None else []
    suggestions = _read_compact(needed[1], suggestion_columns, (wanted + ranks) or None)
    explained = Path(folder) / "explanations.parquet"
    if explained.exists() and "reason" in suggestions:
        with _readable(explained):
            _explain(suggestions, pd.read_parquet(explained))
    return _read_compact(needed[0], columns, wanted or None), suggestions


def _read_compact(path: Path, columns: list[str] | None, filters) -> pd.DataFrame:
    """A Parquet file with its text columns as categoricals: a replay of a million requests
    repeats each request id, engine, item and reason many times, and one copy each (plus
    small codes) takes a quarter of the memory of a string per row."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with _readable(path):
        schema = pq.read_schema(path)
        text = [f.name for f in schema if (columns is None or f.name in columns)
                and (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))]
        table = pq.read_table(path, columns=columns, filters=filters, read_dictionary=text)
    return table.to_pandas()


@contextlib.contextmanager
def _readable(path: Path):
    """A run file that Arrow cannot read (cut short, overwritten, not Parquet) as a clear
    error naming it, instead of Arrow's traceback."""
    import pyarrow as pa

    try:
        yield
    except (pa.ArrowException, OSError):
        raise DataError(f"{path} is damaged: not a readable Parquet file (cut short, or "
                        "overwritten)",
                        hint="run the same `suggest replay` again into a new folder") from None


def _explain(suggestions: pd.DataFrame, explanations: pd.DataFrame) -> None:
    """Put the reasons a replay explained for a sample of requests (explanations.parquet)
    in place of the bare engine names the replay stored for them."""
    key = ["request_id", "engine", "rank"]
    at = np.flatnonzero(isin(suggestions["request_id"].astype(str),
                             explanations["request_id"].astype(str)))
    if len(at) == 0:
        return
    rows = suggestions.iloc[at][key].astype({"request_id": str, "engine": str, "rank": np.int64})
    found = rows.merge(explanations.astype({"request_id": str, "engine": str, "rank": np.int64})
                       [key + ["reason"]], on=key, how="left")["reason"].to_numpy()
    keep = ~pd.isna(found)
    column = suggestions.columns.get_loc("reason")
    reason = suggestions["reason"]
    if isinstance(reason.dtype, pd.CategoricalDtype):  # new reasons join the categories
        fresh = pd.Index(pd.unique(found[keep])).difference(reason.cat.categories)
        suggestions["reason"] = reason.cat.add_categories(fresh)
    suggestions.iloc[at[keep], column] = found[keep]


def run_metrics(folder: str | Path) -> list[str]:
    """The metric columns of a finished replay's results (``ndcg@5``, ...), from the file's
    schema alone."""
    import pyarrow.parquet as pq

    read_replay_paths(folder)
    path = Path(folder) / "results.parquet"
    with _readable(path):
        return [c for c in pq.read_schema(path).names if "@" in c]


def read_run_truth(folder: str | Path) -> pd.DataFrame | None:
    """The held-out engagements a replay kept (truth.parquet), or None for a run made
    before replays kept them."""
    path = Path(folder) / "truth.parquet"
    if not path.exists():
        return None
    with _readable(path):
        return pd.read_parquet(path)


def read_summary(folder: str | Path) -> dict:
    """summary.json of a finished replay folder."""
    from suggest.files import read_json

    path = Path(folder) / "summary.json"
    started = (Path(folder) / "chunks").is_dir()  # a replay that stopped midway left its chunks
    summary = read_json(path, missing=f"{folder} is not a finished replay (summary.json missing)",
                        hint=("the replay into it stopped before the end: run the same `suggest "
                              "replay` command again and it resumes from its finished chunks"
                              if started else "run `suggest replay ... -o FOLDER` first"),
                        error=DataError)
    if not isinstance(summary.get("engines"), dict):
        raise DataError("summary.json of the replay is damaged: it has no `engines` mapping",
                        where=str(path), hint="run the same `suggest replay` again into a new folder")
    for entry in summary["engines"].values():  # every figure of an engine is a number
        if isinstance(entry, dict):
            entry.update({k: float("nan") for k, v in entry.items() if v is None})
    _missing_figures_back(summary)
    return summary


#: The figures of a comparison (overall, per segment, per rule) that are numbers.
FIGURES = ("mean_a", "mean_b", "diff", "ci_low", "ci_high", "p_value", "p_holm", "sd", "mde")


def _missing_figures_back(value) -> None:
    """summary.json writes a figure without a value (NaN) as null: read it back as NaN, as
    the replay held it, so every reader compares and formats it as before."""
    if isinstance(value, dict):
        for key, item in value.items():
            if item is None and key in FIGURES:
                value[key] = float("nan")
            else:
                _missing_figures_back(item)
        sd, n = value.get("sd"), value.get("requests")
        if "mde_none_possible" in value:  # said by the replay
            if value["mde_none_possible"]:
                value["mde"] = float("inf")
        elif "mde" in value and value["mde"] != value["mde"] and isinstance(n, int) and n >= 2 \
                and isinstance(sd, float) and np.isfinite(sd):  # an older summary: guessed
            value["mde"] = float("inf")  # JSON's null for infinity: no sample this small can
            # show a difference (suggest.stats.mde); a missing one has no sd or n < 2
    elif isinstance(value, list):
        for item in value:
            _missing_figures_back(item)
