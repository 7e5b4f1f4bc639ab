"""``suggest data check --dask`` on a local cluster of two worker processes: the same load
report, field by field, and the same rejected rows as the local check, on logs whose
problems cross the files they are split into."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

pytest.importorskip("distributed")

import suggest.data.distributed as distributed  # noqa: E402
from suggest.cli import main  # noqa: E402
from suggest.data import Dataset, load  # noqa: E402
from suggest.data.readers import log_parts  # noqa: E402
from suggest.errors import DataError, SuggestError  # noqa: E402
from suggest.parallel import dask_client  # noqa: E402
from conftest import churning_log  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"


@pytest.fixture(scope="module")
def client():
    with dask_client(None, workers=2) as c:
        yield c


@pytest.fixture(scope="module")
def split_log(tmp_path_factory) -> Path:
    """The sample log in three CSV files, with problems planted across them: a bad number,
    an undeclared missing-value marker, an undeclared column that reads as a number in the
    first file and as text in the second (so categorical over the log) and is absent from the
    third, a request of the first file repeated in the third with another location, a repeat
    of a request and item of the first file, and an item the catalog does not list."""
    folder = tmp_path_factory.mktemp("split")
    log = pd.read_csv(SAMPLE / "log.csv", dtype=str, keep_default_na=False).head(3000)
    log["extra"] = [str(i % 7) for i in range(len(log))]
    files = [log.iloc[:1000].copy(), log.iloc[1000:2000].copy(), log.iloc[2000:].copy()]
    files[0].iloc[3, files[0].columns.get_loc("battery")] = "abc"
    files[0].iloc[4, files[0].columns.get_loc("weather")] = "NULL"
    files[1].iloc[0, files[1].columns.get_loc("extra")] = "x"
    moved = log.iloc[5].copy()
    moved["location"] = "moon"
    files[2] = pd.concat([files[2], moved.to_frame().T, log.iloc[[10]]]).drop(columns="extra")
    for i, frame in enumerate(files):
        frame.to_csv(folder / f"log-{i}.csv", index=False)
    catalog = pd.read_csv(SAMPLE / "catalog.csv", dtype=str)
    catalog = catalog[catalog["item"] != log["item"].iloc[0]]
    catalog.to_csv(folder / "catalog.csv", index=False)
    return folder


def _description(folder: Path, name: str, **changes) -> Path:
    spec = yaml.safe_load((SAMPLE / "dataset.yaml").read_text())
    spec.update(log="log-*.csv", **changes)
    if "request" not in spec["columns"]:
        spec["ignore"] = ["request_id"]
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _both(path: Path, client, folder: Path):
    """The local load and the Dask check of ``path``: ``(log, report, rejects read back)``."""
    log = load(path)
    report, written = distributed.check_on_dask(Dataset.from_yaml(path), client, folder,
                                                buckets=3)
    files = sorted(Path(written).glob("part-*.csv")) if written else []
    rejects = pd.concat([pd.read_csv(f, dtype=str, keep_default_na=False) for f in files],
                        ignore_index=True) if files else pd.DataFrame()
    return log, report, rejects


def _local_rejects(log) -> pd.DataFrame:
    rows = log.rejects[log.rejects["source"] != str(log.dataset.catalog.path)]
    return rows.astype(str).reset_index(drop=True)


WITHOUT_REQUEST = {"columns": {"user": "user", "item": "item", "time": "timestamp",
                               "timezone": "tz"}}


@pytest.mark.parametrize("changes", [{}, {"duplicates": "reject"}, WITHOUT_REQUEST,
                                     {**WITHOUT_REQUEST, "duplicates": "reject"}],
                         ids=["request-column", "reject-repeats", "no-request-column",
                              "no-request-column-reject-repeats"])
@pytest.mark.parametrize("files_per_group", [1, 2, 100])
def test_the_report_and_the_rejects_equal_the_local_check(split_log, client, tmp_path, changes,
                                                          files_per_group, monkeypatch):
    """Each file checked by its own task, the first two files together (the request repeated
    in the third then rejected by its bucket, the first file's rows read again), and all
    three together."""
    monkeypatch.setattr(distributed, "FILES_PER_GROUP", files_per_group)
    path = _description(split_log, f"d{len(list(split_log.glob('*.yaml')))}", **changes)
    log, report, rejects = _both(path, client, tmp_path / "rejects")
    assert report.to_dict() == log.report.to_dict()
    pd.testing.assert_frame_equal(rejects, _local_rejects(log))
    assert report.rows_in == report.rows_ok + report.rows_rejected == 3002
    if "request" in path.read_text().split("columns:")[1].split("context:")[0]:
        # the request repeated in the third file is refused there, naming the first file's line
        moon = rejects[rejects["reason"].str.contains("'moon' differs")]
        assert moon["source"].str.endswith("log-2.csv").all() and len(moon) == 1
        assert report.partial_requests >= 1  # that request keeps its first file's rows
    assert report.inferred == {"extra": "categorical"}  # '0'..'6' in one file, 'x' in another
    assert any("not in the catalog" in w for w in report.warnings)
    assert any("'NULL' in weather" in w for w in report.warnings)


def test_a_relative_rejects_folder_is_the_clients_not_the_workers(split_log, client, tmp_path,
                                                                   monkeypatch):
    """The workers write the rejects; their current folder is not the client's (an external
    cluster's workers were started elsewhere): a relative path failed, or wrote there."""
    path = _description(split_log, "rel")
    monkeypatch.chdir(tmp_path)  # the client moves; the workers stay where they started
    report, written = distributed.check_on_dask(Dataset.from_yaml(path), client,
                                                Path("sub") / "rejects", buckets=3)
    assert report.rows_rejected > 0
    assert Path(written) == tmp_path / "sub" / "rejects" and any(Path(written).glob("part-*.csv"))
    assert not list(tmp_path.glob("sub/*.partial"))


def test_a_rule_file_that_does_not_fit_leaves_no_rejects_from_the_workers(split_log, client,
                                                                          tmp_path):
    """The workers write the rejects while they read the log; the rules are checked against
    it after: a refused rule file must not leave a run folder holding rejects alone."""
    from suggest.errors import SuggestError
    from suggest.workflow import checked_log

    rules = tmp_path / "r.yaml"
    rules.write_text("rules:\n  - id: a\n    when: {activty: driving}\n    suggest: [navigation]\n")
    with pytest.raises(SuggestError, match="unknown field 'activty'"):
        checked_log(_description(split_log, "fit"), None, rules, client=client,
                    rejects=tmp_path / "run" / "rejects")
    assert not (tmp_path / "run" / "rejects").exists()


def test_dask_refuses_a_file_taken_for_its_address():
    """`--dask D.yaml`: the option takes an optional address, so the file was read as one."""
    from click.testing import CliRunner

    from suggest.cli import main

    said = CliRunner().invoke(main, ["data", "check", "--dask", str(SAMPLE / "dataset.yaml")])
    assert said.exit_code == 2 and "was taken as the scheduler address" in said.output
    assert "dataset.yaml --dask" in said.output


def test_a_repeat_across_files_is_rejected_by_duplicates_reject(split_log, client, tmp_path):
    path = _description(split_log, "declared", duplicates="reject",
                        context={**yaml.safe_load((SAMPLE / "dataset.yaml").read_text())["context"],
                                 "extra": "categorical"}, ignore=["extra"])
    spec = yaml.safe_load(path.read_text())
    spec["context"].pop("extra")
    path.write_text(yaml.safe_dump(spec))
    log, report, rejects = _both(path, client, tmp_path / "rejects")
    assert report.to_dict() == log.report.to_dict()
    repeat = rejects[rejects["reason"].str.contains("repeats the request and item")]
    assert list(repeat["source"].str[-9:]) == ["log-2.csv"]
    assert repeat["reason"].iloc[0].startswith("repeats the request and item of line 12 ")


@pytest.fixture(scope="module")
def parquet_logs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("parquet")
    log = pd.read_csv(SAMPLE / "log.csv", dtype=str, keep_default_na=False).head(4000)
    log["battery"] = pd.to_numeric(log["battery"]).astype(float)
    log.loc[7, "battery"] = float("inf")
    log["timestamp"] = pd.to_datetime(log["timestamp"], utc=True, format="ISO8601")
    log["location"] = log["location"].astype("category")
    log["day"] = log["timestamp"].dt.strftime("%Y-%m-%d")
    log.to_parquet(folder / "hive", partition_cols=["day"])
    log.drop(columns="day").to_parquet(folder / "one.parquet", row_group_size=500)
    spec = yaml.safe_load((SAMPLE / "dataset.yaml").read_text())
    spec.update(format="parquet", catalog={**spec["catalog"], "path": str(SAMPLE / "catalog.csv")})
    for name in ("hive", "one.parquet"):
        (folder / f"{name.split('.')[0]}.yaml").write_text(yaml.safe_dump({**spec, "log": name}))
    return folder


@pytest.mark.parametrize("name", ["hive", "one"])
def test_parquet_pieces_give_the_local_report(parquet_logs, client, tmp_path, monkeypatch, name):
    monkeypatch.setattr(distributed, "ROWS_PER_PART", 1200)  # the single file: 4 runs of groups
    path = parquet_logs / f"{name}.yaml"
    ds = Dataset.from_yaml(path)
    parts = log_parts(ds.log, "parquet", rows_per_part=1200, separator=",", encoding="utf-8",
                      missing_values=("",), what="log")
    assert len(parts) >= 3
    log, report, rejects = _both(path, client, tmp_path / "rejects")
    assert report.to_dict() == log.report.to_dict()
    pd.testing.assert_frame_equal(rejects, _local_rejects(log))
    assert len(rejects) == 1 and "battery" in rejects["reason"].iloc[0]  # the infinite battery
    if name == "hive":  # the undeclared folder key is left out, as in a local load
        assert report.folder_keys == ["day"] and "day" not in report.inferred
    else:  # on its row of the file, whichever run of row groups read it
        assert list(rejects["line"]) == ["8"]


def _many_files(tmp_path: Path, bad: tuple[int, ...] = ()) -> Path:
    """The sample log's first 3,000 rows in 60 Parquet files of 50 rows (a bad battery
    value on the 8th row of each file in ``bad``), and its description."""
    log = pd.read_csv(SAMPLE / "log.csv", dtype=str, keep_default_na=False).head(3000)
    (tmp_path / "many").mkdir()
    for i, start in enumerate(range(0, len(log), 50)):
        part = log.iloc[start:start + 50].copy()
        if i in bad:
            part.iloc[7, part.columns.get_loc("battery")] = "flat"
        part.to_parquet(tmp_path / "many" / f"part-{i:03d}.parquet")
    return _many_description(tmp_path)


def _many_description(tmp_path: Path) -> Path:
    """The sample's description for the Parquet files in ``tmp_path/many``."""
    spec = yaml.safe_load((SAMPLE / "dataset.yaml").read_text())
    spec.update(format="parquet", log="many", catalog={**spec["catalog"],
                                                       "path": str(SAMPLE / "catalog.csv")})
    path = tmp_path / "many.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _counting(client, monkeypatch) -> list:
    """The functions of the tasks the client submits from now on, one entry a task."""
    submitted = []
    submit, map_ = client.submit, client.map
    monkeypatch.setattr(client, "submit", lambda fn, *a, **k: submitted.append(fn) or submit(fn, *a, **k))
    monkeypatch.setattr(client, "map", lambda fn, *a, **k: submitted.extend([fn] * len(a[0]))
                        or map_(fn, *a, **k))
    return submitted


def test_a_log_of_many_small_files_costs_tasks_in_proportion_to_its_files(tmp_path, client,
                                                                          monkeypatch):
    """Past DIRECT_SPLITS (piece, bucket) splits, the pieces go to the buckets by a
    peer-to-peer shuffle: the tasks the client submits grow with the files, not with files
    x buckets (each file was split for every bucket: 60 x 60 extractions, 4,081 tasks), and
    the report is the local one."""
    path = _many_files(tmp_path)
    submitted = _counting(client, monkeypatch)
    monkeypatch.setattr(distributed, "DIRECT_SPLITS", 100)  # 60 pieces x 4 buckets: shuffle
    monkeypatch.setattr(distributed, "FILES_PER_GROUP", 1)  # a piece a file
    report, _ = distributed.check_on_dask(Dataset.from_yaml(path), client, tmp_path / "rej")
    assert len(submitted) < 10 * 60, len(submitted)
    assert distributed._split not in submitted
    assert report.to_dict() == load(path).report.to_dict()


def test_small_files_are_read_together_a_run_of_them_to_a_task(tmp_path, client, monkeypatch):
    """A check costs about 50 ms whatever its rows: 1,000 files of 1,000 rows took 108 s one
    file to a task, 6.6 s read together. Here 60 files go 25 to a task by their bytes (3 tasks
    list their columns, 3 read and check them); every reject keeps its own file and line, as
    locally."""
    path = _many_files(tmp_path, bad=(3, 30, 59))
    size = (tmp_path / "many" / "part-000.parquet").stat().st_size
    monkeypatch.setattr(distributed, "BYTES_PER_GROUP", int(25.5 * size))
    submitted = _counting(client, monkeypatch)
    log, report, rejects = _both(path, client, tmp_path / "rejects")
    assert submitted.count(distributed._piece) == submitted.count(distributed._columns) == 3
    assert report.to_dict() == log.report.to_dict()
    pd.testing.assert_frame_equal(rejects, _local_rejects(log))
    assert [(Path(s).name, line) for s, line in zip(rejects["source"], rejects["line"])] == [
        ("part-003.parquet", "8"), ("part-030.parquet", "8"), ("part-059.parquet", "8")]


@pytest.mark.parametrize("files_per_group", [1, 100])
def test_files_that_store_overlapping_pandas_indexes_read_as_locally(tmp_path, client, monkeypatch,
                                                                     files_per_group):
    """Files written from filtered frames store their index (0, 2, 3, ... in each): read
    together, the rows are numbered afresh (the index repeated and a reject ended in
    InvalidIndexError), and the stored index is no column of the log (the Dask report had
    an extra column)."""
    monkeypatch.setattr(distributed, "FILES_PER_GROUP", files_per_group)
    log = pd.read_csv(SAMPLE / "log.csv", dtype=str, keep_default_na=False).head(40)
    (tmp_path / "many").mkdir()
    for i in range(2):
        part = log.iloc[i * 20:(i + 1) * 20].reset_index(drop=True)
        part = part[part.index % 3 != 1].copy()
        if i == 1:
            part.iloc[1, part.columns.get_loc("battery")] = "flat"
        part.to_parquet(tmp_path / "many" / f"part-{i}.parquet")
    local, report, rejects = _both(_many_description(tmp_path), client, tmp_path / "rejects")
    assert report.to_dict() == local.report.to_dict()
    pd.testing.assert_frame_equal(rejects, _local_rejects(local))
    assert list(rejects["line"]) == ["2"] and rejects["source"].iloc[0].endswith("part-1.parquet")
    assert "__index_level_0__" not in report.schema


def test_a_file_without_rows_alone_in_its_task_is_no_error(tmp_path, client, monkeypatch):
    """An undeclared column's type is inferred from each piece's values; a piece without
    rows infers nothing (it raised KeyError when another piece's type was asked of it)."""
    monkeypatch.setattr(distributed, "FILES_PER_GROUP", 1)
    log = pd.read_csv(SAMPLE / "log.csv", dtype=str, keep_default_na=False).head(60)
    log["extra"] = ["x" if i == 5 else str(i) for i in range(len(log))]
    (tmp_path / "many").mkdir()
    log.iloc[:30].to_parquet(tmp_path / "many" / "a.parquet", index=False)
    log.iloc[:0].to_parquet(tmp_path / "many" / "b.parquet", index=False)
    log.iloc[30:].assign(extra=[str(i) for i in range(30)]).to_parquet(
        tmp_path / "many" / "c.parquet", index=False)
    local, report, _ = _both(_many_description(tmp_path), client, tmp_path / "rejects")
    assert report.to_dict() == local.report.to_dict()
    assert report.inferred["extra"] == "categorical" and report.rows_in == 60


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_file_without_rows_among_others_is_a_day_without_events(tmp_path, client, fmt):
    """One file of a glob may hold a header and no row, as locally; when none holds a row,
    the error says so (it said 'every row of the log was rejected (0 rows)', or named the
    first file as if it were the whole log)."""
    folder = tmp_path / "days"
    folder.mkdir()
    days = [pd.DataFrame({"user": ["u1", "u2"], "item": ["i1", "i2"]}),
            pd.DataFrame({"user": [], "item": []}, dtype=str)]
    for i, frame in enumerate(days):
        if fmt == "csv":
            frame.to_csv(folder / f"day-{i}.csv", index=False)
        else:
            frame.to_parquet(folder / f"day-{i}.parquet", index=False)
    spec = {"name": "days", "log": f"day-*.{fmt}", "format": fmt,
            "columns": {"user": "user", "item": "item"}}
    (folder / "days.yaml").write_text(yaml.safe_dump(spec))
    local, report, rejects = _both(folder / "days.yaml", client, tmp_path / "rejects")
    assert report.to_dict() == local.report.to_dict() and report.rows_in == 2
    (folder / f"day-0.{fmt}").unlink()
    errors = []
    for check in (lambda ds: load(ds), lambda ds: distributed.check_on_dask(
            Dataset.from_yaml(ds), client, tmp_path / "r2")):
        with pytest.raises(DataError) as caught:
            check(folder / "days.yaml")
        errors.append(caught.value)
    (folder / f"day-2.{fmt}").write_bytes((folder / f"day-1.{fmt}").read_bytes())
    with pytest.raises(DataError) as both_empty:
        load(folder / "days.yaml")
    with pytest.raises(DataError) as both_empty_dask:
        distributed.check_on_dask(Dataset.from_yaml(folder / "days.yaml"), client, tmp_path / "r3")
    assert both_empty_dask.value.to_dict() == both_empty.value.to_dict()
    assert errors[0].to_dict() == errors[1].to_dict()
    assert "day-1" in errors[0].format() and "no rows" in errors[0].message  # alone: the log
    assert "none of the log files has a row" in both_empty.value.message
    assert both_empty.value.exit_code == 2 and both_empty.value.where == str(folder / f"day-*.{fmt}")


def test_every_row_rejected_is_an_error_naming_the_folder_that_holds_them(tmp_path, client):
    folder = tmp_path / "bad"
    folder.mkdir()
    for i in range(2):
        (folder / f"part-{i}.csv").write_text("user,item,rating\nu1,i1,x\nu2,i2,-1\n")
    spec = {"name": "bad", "log": "part-*.csv", "columns": {"user": "user", "item": "item",
                                                          "relevance": "rating"}}
    (folder / "bad.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(DataError) as caught:
        distributed.check_on_dask(Dataset.from_yaml(folder / "bad.yaml"), client,
                                  tmp_path / "out")
    assert "every row of the log was rejected (4 rows)" in caught.value.message
    assert str(tmp_path / "out") in caught.value.hint
    written = pd.concat(pd.read_csv(f) for f in sorted((tmp_path / "out").glob("part-*.csv")))
    assert len(written) == 4 and not (tmp_path / "out.partial").exists()


def test_an_error_on_a_worker_reaches_the_user_with_its_file_and_hint(tmp_path, client):
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "a.csv").write_text("user,item\nu1,i1\n")
    (folder / "b.csv").write_text("")
    (folder / "d.yaml").write_text(yaml.safe_dump({"name": "d", "log": "*.csv"}))
    with pytest.raises(DataError) as local:
        load(folder / "d.yaml")
    with pytest.raises(DataError) as remote:
        distributed.check_on_dask(Dataset.from_yaml(folder / "d.yaml"), client, tmp_path / "r")
    assert remote.value.to_dict() == local.value.to_dict()
    assert remote.value.where == str(folder / "b.csv") and remote.value.hint


def test_a_column_no_file_has_is_the_local_error(split_log, client, tmp_path):
    path = _description(split_log, "typo", columns={"user": "usr", "item": "item"})
    with pytest.raises(DataError) as local:
        load(path)
    with pytest.raises(DataError) as remote:
        distributed.check_on_dask(Dataset.from_yaml(path), client, tmp_path / "r")
    assert remote.value.format() == local.value.format()
    assert "no column 'usr'" in remote.value.format()


def test_the_command_prints_the_local_json_and_clears_an_old_folder(split_log, tmp_path,
                                                                   monkeypatch):
    monkeypatch.setattr(distributed, "FILES_PER_GROUP", 2)  # the first two files, then the third
    path = _description(split_log, "cli")
    runner = CliRunner()
    local = runner.invoke(main, ["data", "check", str(path), "--json",
                                 "--rejects", str(tmp_path / "local.csv")])
    remote = runner.invoke(main, ["data", "check", str(path), "--json", "--dask", "--jobs", "2",
                                  "--rejects", str(tmp_path / "remote")])
    assert local.exit_code == 0 and remote.exit_code == 0, remote.output
    a, b = json.loads(local.output), json.loads(remote.output)
    assert b.pop("rejects_file") == str(tmp_path / "remote")
    a.pop("rejects_file")
    assert a == b
    # one rejects file a task, named by its first file's number (every file has a reject)
    assert sorted(p.name for p in (tmp_path / "remote").glob("part-*.csv")) == [
        "part-00000.csv", "part-00002.csv"]
    clean = tmp_path / "clean"
    clean.mkdir()
    sample = yaml.safe_load((SAMPLE / "dataset.yaml").read_text())
    sample.update(log=str(SAMPLE / "log.csv"), catalog={**sample["catalog"],
                                                        "path": str(SAMPLE / "catalog.csv")})
    (clean / "ok.yaml").write_text(yaml.safe_dump(sample))
    again = runner.invoke(main, ["data", "check", str(clean / "ok.yaml"), "--dask", "--jobs", "2",
                                 "--rejects", str(tmp_path / "remote")])
    assert again.exit_code == 0, again.output
    assert "no rejected rows" in again.output and not (tmp_path / "remote").exists()


def test_jobs_without_dask_is_a_clear_error(split_log):
    result = CliRunner().invoke(main, ["data", "check", str(_description(split_log, "j")),
                                       "--jobs", "2"])
    assert result.exit_code == 2 and "give --dask too" in result.output


def _text_log(folder: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


def _rows_text(newline: str, final: bool) -> str:
    rows = ["user,item,ctx"]
    for i in range(3000):
        row = f"u{i % 37},i{i % 11},{'é' if i % 5 == 0 else 'x'}{i}"
        row = "" if i % 997 == 0 else "u1,i2" if i % 1301 == 0 else row  # blank, ragged
        rows.append(row)
    return newline.join(rows) + (newline if final else "")


@pytest.mark.parametrize("name,text,encoding,size", [
    ("plain.csv", _rows_text("\n", final=False), "utf-8", 1000),
    ("tiny-ranges.csv", _rows_text("\n", final=True), "utf-8", 11),  # shorter than most lines
    ("crlf.csv", _rows_text("\r\n", final=True), "utf-8", 3333),
    ("latin.csv", _rows_text("\n", final=True), "latin-1", 2048),
    ("log.jsonl", "\n".join('{"user": "u%d", "item": "i"}' % i if i % 800 else "{bad"
                            for i in range(3000)) + "\n", "utf-8", 997),
])
def test_a_text_file_cut_in_byte_ranges_reads_as_the_whole_file(tmp_path, name, text, encoding,
                                                                 size):
    from suggest.data.readers import line_count, numbered, read_table

    path = _text_log(tmp_path, name, text, encoding)
    fmt = "jsonl" if name.endswith("jsonl") else "csv"
    options = dict(separator=",", encoding=encoding, missing_values=("",), what="log")
    parts = log_parts(path, fmt, bytes_per_part=size, **options)
    parts = numbered(parts, [line_count(p) for p in parts])
    assert len(parts) >= len(text.encode(encoding)) // size
    whole = read_table(path, fmt, **options)
    pieces = [p.read() for p in parts]
    pd.testing.assert_frame_equal(pd.concat([p.frame for p in pieces], ignore_index=True),
                                  whole.frame)
    assert [line for p in pieces for line in p.lines] == list(whole.lines)
    rejects = pd.concat([p.rejects for p in pieces], ignore_index=True)
    assert rejects.astype(str).equals(whole.rejects.astype(str)) and len(rejects) >= 2


def test_a_csv_file_with_a_quote_is_read_whole_not_cut(tmp_path):
    from suggest.data.readers import line_count, numbered

    text = "user,item,note\n" + "".join(f'u{i},i{i},"two\nlines"\n' for i in range(500))
    path = _text_log(tmp_path, "quoted.csv", text)
    options = dict(separator=",", encoding="utf-8", missing_values=("",), what="log")
    parts = log_parts(path, "csv", bytes_per_part=256, **options)
    assert len(parts) > 10
    parts = numbered(parts, [line_count(p) for p in parts])
    assert len(parts) == 1 and parts[0].byte_range is None
    assert len(parts[0].read().frame) == 500


def test_a_csv_log_in_byte_ranges_checks_as_the_local_load(tmp_path, client, monkeypatch):
    monkeypatch.setattr(distributed, "BYTES_PER_PART", 50_000)
    log = pd.read_csv(SAMPLE / "log.csv", dtype=str, keep_default_na=False).head(4000)
    log.loc[17, "battery"] = "lots"
    log.to_csv(tmp_path / "log.csv", index=False)
    spec = yaml.safe_load((SAMPLE / "dataset.yaml").read_text())
    spec.update(log="log.csv", catalog={**spec["catalog"], "path": str(SAMPLE / "catalog.csv")})
    (tmp_path / "d.yaml").write_text(yaml.safe_dump(spec))
    local, report, rejects = _both(tmp_path / "d.yaml", client, tmp_path / "rejects")
    assert report.to_dict() == local.report.to_dict()
    pd.testing.assert_frame_equal(rejects, _local_rejects(local))
    assert list(rejects["line"]) == ["19"]
    assert len(list((tmp_path / "rejects").glob("part-*.csv"))) == 1  # of some 10 pieces


SHARED_DATA = ROOT.parent / "shared" / "data"


def _assert_same_frames(path: Path, client, tmp_path: Path, buckets: int) -> None:
    from suggest.data.dasklog import load_on_dask

    local = load(path)
    held = load_on_dask(Dataset.from_yaml(path), client, tmp_path / "rejects", buckets=buckets)
    assert held.requests == len(local.requests)
    assert held.report.to_dict() == local.report.to_dict()
    for name in ("requests", "truth", "events"):
        pd.testing.assert_frame_equal(held.gathered(name), getattr(local, name),
                                      check_dtype=False, check_categorical=False, obj=name)
    pd.testing.assert_frame_equal(held.catalog.astype(str), local.catalog.astype(str))
    assert held.context == local.context


@pytest.mark.parametrize("shuffle", [False, True], ids=["split", "p2p-shuffle"])
@pytest.mark.parametrize("changes", [{}, WITHOUT_REQUEST, {**WITHOUT_REQUEST, "duplicates": "last"}],
                         ids=["request-column", "numbered-requests", "duplicates-last"])
@pytest.mark.parametrize("files_per_group", [1, 2])
def test_the_frames_held_by_the_workers_are_the_local_frames(split_log, client, tmp_path,
                                                             changes, shuffle, files_per_group,
                                                             monkeypatch):
    """Whether the pieces split themselves into the buckets or go there by Dask's shuffle,
    a piece a file or two files to a piece (their rows keep each file's place in the log)."""
    monkeypatch.setattr(distributed, "DIRECT_SPLITS", 0 if shuffle else 10_000)
    monkeypatch.setattr(distributed, "FILES_PER_GROUP", files_per_group)
    path = _description(split_log, f"f{len(list(split_log.glob('*.yaml')))}", **changes)
    _assert_same_frames(path, client, tmp_path, buckets=4)


def test_a_request_numbered_from_any_bucket_gets_its_local_id(split_log, client, tmp_path):
    from suggest.data.dasklog import load_on_dask

    path = _description(split_log, "ids", **WITHOUT_REQUEST)
    held = load_on_dask(Dataset.from_yaml(path), client, tmp_path / "r", buckets=5)
    requests = held.gathered("requests")
    assert requests["request_id"].is_monotonic_increasing  # r0001, r0002, ... in log order
    assert requests["request_id"].iloc[0] == "r" + "1".zfill(len(str(held.requests)))
    positions = client.gather([client.submit(lambda b: b["position"] if b else [], b)
                               for b in held.buckets])
    every = sorted(p for bucket in positions for p in bucket)
    assert every == list(range(held.requests))


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"shared data folder {SHARED_DATA} is absent")
@pytest.mark.parametrize("name", ["depaulmovie", "incarmusic"])
def test_the_real_logs_held_by_the_workers_are_the_local_frames(name, client, tmp_path):
    _assert_same_frames(ROOT / "data" / "datasets" / f"{name}.yaml", client, tmp_path, buckets=7)


def _held_out_ids(held, part) -> tuple[set, set]:
    buckets = held.client.gather(held.buckets)
    masks = held.client.gather(part.masks)
    sides = [set(), set()]
    for bucket, mask in zip(buckets, masks):
        if bucket is not None:
            for side in (0, 1):
                sides[side] |= set(bucket["requests"]["request_id"][mask[side]])
    return sides[0], sides[1]


@pytest.fixture(scope="module")
def coarse_log(tmp_path_factory) -> Path:
    """The split log with times cut to the hour (so the cut falls among many requests of
    the same time), a context value missing in a fifth of the rows, and newcomers of a few
    requests each among the latest (a share of test users is then not a share of test
    requests)."""
    folder = tmp_path_factory.mktemp("coarse")
    log = pd.read_csv(SAMPLE / "log.csv", dtype=str, keep_default_na=False).head(3000)
    (folder / "catalog.csv").write_bytes((SAMPLE / "catalog.csv").read_bytes())
    stamps = pd.to_datetime(log["timestamp"], utc=True, format="ISO8601")
    log["timestamp"] = stamps.dt.floor("h").dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    log.loc[log.index % 5 == 0, "weather"] = ""
    newcomers = (stamps.rank(method="first") > 0.9 * len(log)) & (log.index % 3 == 0)
    log.loc[newcomers, "user"] = [f"newcomer {i % 25}" for i in range(newcomers.sum())]
    for i, rows in enumerate((log.iloc[:1400], log.iloc[1400:])):
        rows.to_csv(folder / f"log-{i}.csv", index=False)
    return _description(folder, "coarse", **WITHOUT_REQUEST)


def test_new_items_on_dask_are_the_local_share(client, tmp_path):
    """A catalog that churns: the share of held-out engagements on items new to training,
    counted from each bucket's items, is the local figure."""
    from suggest.dasksplit import split_on_dask
    from suggest.data.dasklog import load_on_dask
    from suggest.splits import split

    described = churning_log(tmp_path)
    local = load(described)
    part = split(local.requests, local.truth, 0.2)
    remote = split_on_dask(load_on_dask(Dataset.from_yaml(described), client, tmp_path / "r",
                                        buckets=4), 0.2)
    assert remote.leakage == part.leakage and part.leakage["new_items"] > 0.8


@pytest.mark.parametrize("how, gap, share", [("auto", None, 0.2), ("time", "3h", 0.35),
                                             ("request", None, 0.25), ("user", None, 0.2),
                                             ("group:weather", None, 0.3), ("group", None, 0.3)])
def test_the_held_out_requests_are_the_local_splits(coarse_log, client, tmp_path, how, gap,
                                                    share):
    from suggest.dasksplit import split_on_dask
    from suggest.data.dasklog import load_on_dask
    from suggest.splits import split

    if how == "group":  # the description's group column: the log's request ids (ignored else)
        spec = yaml.safe_load(coarse_log.read_text())
        spec["columns"]["group"], spec["ignore"] = "request_id", []
        coarse_log = coarse_log.with_name("grouped.yaml")
        coarse_log.write_text(yaml.safe_dump(spec))
    local = load(coarse_log)
    part = split(local.requests, local.truth, share, 5, how=how, gap=gap)
    held = load_on_dask(Dataset.from_yaml(coarse_log), client, tmp_path / "r", buckets=5)
    remote = split_on_dask(held, share, 5, how=how, gap=gap)
    train, test = _held_out_ids(held, remote)
    assert test == set(part.test["request_id"]) and train == set(part.train["request_id"])
    assert (remote.how, remote.kind, remote.left_out) == (part.how, part.kind, part.left_out)
    assert (remote.train, remote.test) == (len(part.train), len(part.test))
    assert remote.leakage == part.leakage
    if how == "time":  # both shares are tested: they differ on this log
        assert part.leakage["users_in_both"] < part.leakage["requests_of_seen_users"] < 1
    if how == "time":
        stamps = local.requests["timestamp"]
        cut = stamps[local.requests["request_id"].isin(test)].min()
        assert ((stamps == cut).sum() > 1) and part.left_out > 0  # a cut among equal times
        # where the requests scored start, said alike: the first of them, after a gap too
        first = part.test["timestamp"].min().tz_convert("UTC")
        assert remote.how.endswith(f"; held out from {first}" if gap else f", from {first}")


@pytest.mark.parametrize("buckets", [1, 5])
def test_the_workers_digest_of_the_log_is_one_process_digest(coarse_log, client, tmp_path,
                                                              buckets):
    """A replay's fingerprint keeps a digest of the log's content: the workers holding it in
    buckets give the digest one process gives (a run resumes on either path)."""
    from suggest.data.dasklog import load_on_dask
    from suggest.replay import held_out

    local = held_out(load(coarse_log), 0.2, 0, "auto", None, 1000).data_digest()
    held = load_on_dask(Dataset.from_yaml(coarse_log), client, tmp_path / "r", buckets=buckets)
    assert held_out(held, 0.2, 0, "auto", None, 1000).data_digest() == local


def test_a_split_the_log_cannot_make_is_the_local_error(coarse_log, client, tmp_path):
    from suggest.dasksplit import split_on_dask
    from suggest.data.dasklog import load_on_dask
    from suggest.splits import split

    local = load(coarse_log)
    held = load_on_dask(Dataset.from_yaml(coarse_log), client, tmp_path / "r", buckets=3)
    for how, gap in (("group:tz", None), ("request", "1h"), ("group:wether", None)):
        with pytest.raises(SuggestError) as mine:
            split_on_dask(held, 0.2, 0, how=how, gap=gap)
        with pytest.raises(SuggestError) as theirs:
            split(local.requests, local.truth, 0.2, 0, how=how, gap=gap)
        assert mine.value.format() == theirs.value.format()


@pytest.mark.parametrize("zones", ["a column", "one zone"])
def test_engines_fitted_on_the_workers_are_the_local_ones(coarse_log, client, tmp_path,
                                                         monkeypatch, zones):
    """The engines that learn from counts, and user history from its engagements, fitted
    from what the buckets send (never the training frames on one worker) are the local
    ones: their suggestions, user history's state and the zone a one-context time without
    one is read in (it was None on the workers where the log has one zone)."""
    import suggest.daskfit as daskfit
    from suggest.dasksplit import split_on_dask
    from suggest.daskfit import fit_on_dask
    from suggest.data.dasklog import load_on_dask
    from suggest.engines.baselines import ContextPopular, Popular, Random, UserHistory
    from suggest.ranker import RankerEngine
    from suggest.rules import RulesEngine, parse_rules
    from suggest.splits import split

    path = coarse_log if zones == "a column" else _description(
        coarse_log.parent, "berlin", timezone="Europe/Berlin",
        columns={k: v for k, v in WITHOUT_REQUEST["columns"].items() if k != "timezone"})
    local = load(path)
    part = split(local.requests, local.truth, 0.25, 1, how="request")
    held = load_on_dask(Dataset.from_yaml(path), client, tmp_path / "r", buckets=4)
    remote = split_on_dask(held, 0.25, 1, how="request")
    monkeypatch.setattr(daskfit, "training_frames", None)  # never brought together
    # rules naming no catalog slice count nothing: the empty counts crashed the adding up
    # (replay --dask with the DePaulMovie rules, exit 1)
    named = parse_rules('rules:\n  - id: a\n    when: {time: {between: ["06:00", "12:00"]}}\n'
                        '    suggest: [x, y]\n')
    for make in (Popular, lambda: ContextPopular(min_support=2), Random, UserHistory,
                 lambda: RulesEngine(str(ROOT / "rules" / "phone.yaml")),
                 lambda: RulesEngine(named)):
        mine = fit_on_dask(make(), held, remote)
        theirs = make().fit(part.train, part.train_truth, local.catalog)
        pd.testing.assert_frame_equal(mine.suggest(part.test, 5), theirs.suggest(part.test, 5))
        zone = mine.ask(getattr, "zone_") if isinstance(mine, daskfit.RemoteEngine) else mine.zone_
        assert zone == theirs.zone_ == (None if zones == "a column" else "Europe/Berlin")
    assert isinstance(mine := fit_on_dask(UserHistory(), held, remote), daskfit.RemoteEngine)
    state = mine.ask(lambda e: (e.pairs_, e.past_.state(), e.has_time_))
    theirs = UserHistory().fit(part.train, part.train_truth)
    pd.testing.assert_frame_equal(state[0], theirs.pairs_)
    assert state[1].keys() == theirs.past_.state().keys() and state[2] is theirs.has_time_ is True
    for name, values in theirs.past_.state().items():
        np.testing.assert_array_equal(state[1][name], values)
    with pytest.raises(SuggestError, match="learns from whole frames"):
        fit_on_dask(RankerEngine(), held, remote)


def _same_summary(a: dict, b: dict) -> None:
    """Two summaries equal but for what measures time (figures, and the verdict's sentence
    on cost)."""
    def timeless(value):
        if isinstance(value, dict):
            return {k: timeless(v) for k, v in value.items()
                    if not any(w in k for w in ("latency", "_us", "seconds"))}
        if isinstance(value, list):
            return [timeless(v) for v in value if not str(v).startswith("Cost")]
        return value
    assert timeless(a) == timeless(b)


@pytest.mark.parametrize("split_by, extra", [("time", {"gap": "2h"}), ("request", {})])
def test_a_replay_on_the_log_the_workers_hold_writes_the_local_files(split_log, client, tmp_path,
                                                                     split_by, extra):
    from conftest import assert_same_run
    from suggest.workflow import replay_log

    path = _description(split_log, f"replay-{split_by}")
    settings = dict(rules=ROOT / "rules" / "phone.yaml", test_share=0.3, seed=2, chunk_size=400,
                    engines="rules,popular,context-popular,random,user-history,ranker,hybrid",
                    split_by=split_by, latency_sample=5, **extra)
    local = replay_log(path, tmp_path / "local", **settings)
    remote = replay_log(path, tmp_path / "remote", dask=client.scheduler.address, **settings)
    assert_same_run(tmp_path / "local", tmp_path / "remote")
    _same_summary(json.loads((tmp_path / "local" / "summary.json").read_text()),
                  json.loads((tmp_path / "remote" / "summary.json").read_text()))
    for name in ("truth.parquet", "explanations.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "local" / name),
                                      pd.read_parquet(tmp_path / "remote" / name))
    assert set(remote["ranker"]) == {"ranker", "hybrid"}  # fitted on a worker, carded from there
    # the rejected rows: one file beside the local run, a folder of pieces beside the other
    assert remote["rejected_rows"] == local["rejected_rows"] > 0
    assert remote["rejects_file"] == str(tmp_path / "remote" / "rejects")
    mine = pd.concat(pd.read_csv(f, dtype=str, keep_default_na=False)
                     for f in sorted((tmp_path / "remote" / "rejects").glob("part-*.csv")))
    theirs = pd.read_csv(tmp_path / "local" / "rejects.csv", dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(mine.reset_index(drop=True), theirs)
    assert remote["split"] == local["split"] and remote["requests"] == local["requests"]


def test_the_workers_hold_the_log_and_fit_the_engines_that_learn_from_whole_frames(
        split_log, client, tmp_path, monkeypatch):
    import suggest.data.dasklog as dasklog
    from conftest import count_calls
    from suggest.engines.baselines import UserHistory
    from suggest.workflow import replay_log

    loads = count_calls(monkeypatch, dasklog, "load_on_dask")
    fits = count_calls(monkeypatch, UserHistory, "fit")  # in this process only
    path = _description(split_log, "which")
    for engines in ("rules,popular", "rules,user-history"):
        summary = replay_log(path, tmp_path / engines.replace(",", "-"),
                             rules=ROOT / "rules" / "phone.yaml", engines=engines,
                             dask=client.scheduler.address, latency_sample=0)
    assert len(loads) == 2 and summary["engines"]["user-history"]["answered_rate"] > 0
    assert not fits  # user history was fitted on a worker, from the engagements sent to it


def test_a_trained_model_is_loaded_on_a_worker_and_replays_as_on_one_machine(split_log, client,
                                                                              tmp_path, monkeypatch):
    """`replay --dask --model`: the model folder (which carries its training data) is loaded
    by a worker, not by this process; the replay equals the local one, and the checks that
    it was not trained on held-out requests and fits the log still stop a wrong model."""
    import suggest.ranker.artifact as artifact
    from conftest import assert_same_run, count_calls
    from suggest.workflow import replay_log, train_model

    path = _description(split_log, "model")
    rules = ROOT / "rules" / "phone.yaml"
    train_model(path, tmp_path / "model", rules=rules, test_share=0.3, seed=2, n_estimators=5)
    settings = dict(rules=rules, model=tmp_path / "model", engines="rules,ranker,hybrid",
                    test_share=0.3, seed=2, chunk_size=400, latency_sample=5)
    local = replay_log(path, tmp_path / "local", **settings)
    loads = count_calls(monkeypatch, artifact, "load")
    remote = replay_log(path, tmp_path / "remote", dask=client.scheduler.address, **settings)
    assert not loads  # the worker loaded it
    assert_same_run(tmp_path / "local", tmp_path / "remote")
    assert remote["ranker"] == local["ranker"]
    best = json.loads((tmp_path / "model" / "manifest.json").read_text())["validation"][
        "best_iteration"]  # at most the 5 trees asked (early stopping)
    assert remote["ranker"]["ranker"]["trees"] == best <= 5
    assert remote["ranker"]["hybrid"]["trees"] == best  # the model's hybrid, not one trained afresh
    with pytest.raises(SuggestError, match="was trained on .* of the .* held-out requests"):
        replay_log(path, tmp_path / "leaky", **{**settings, "test_share": 0.5},
                   dask=client.scheduler.address)
    # a replay the inputs stop before it begins leaves nothing that looks like a run (the
    # workers had written RUN/rejects/; the local path writes its rejects at the end)
    with pytest.raises(SuggestError, match="not a log of what was shown"):
        replay_log(path, tmp_path / "clipped", **settings, clip=2.0,
                   dask=client.scheduler.address)
    assert not (tmp_path / "clipped").exists() or not any((tmp_path / "clipped").iterdir())


def test_a_log_of_what_was_shown_reads_the_same_on_the_workers(client, tmp_path):
    """Positions and propensities are checked on the workers with the same reasons, and the
    report's line on what was shown is the local one (the buckets' parts added up)."""
    from conftest import write_dataset
    from test_shown import LOG, SHOWN

    local, report, rejected = _both(write_dataset(tmp_path / "shown", LOG, **SHOWN), client,
                                    tmp_path / "rejects")
    assert report.shown == local.report.shown and report.shown["rows"] == 4
    assert report.reject_reasons == local.report.reject_reasons
    assert sorted(rejected["line"].astype(int)) == sorted(local.rejects["line"].astype(int))


def test_a_replay_of_what_was_shown_estimates_on_the_workers_as_in_one_process(client, tmp_path):
    """The counterfactual estimates (and the truth of a simulated service) on Dask are the
    local ones, to the last digit: the workers add up the training rewards and send the
    held-out shown rows in the log's order."""
    from suggest import simulate
    from suggest.synth import WorldConfig
    from suggest.workflow import replay_log

    simulate.generate(WorldConfig(users=40, days=10, seed=4), tmp_path / "w", policy="popular",
                      epsilon=0.3, shown=3)
    settings = dict(engines="rules,popular,user-history", rules=ROOT / "rules" / "phone.yaml",
                    ks=(1, 3), chunk_size=300, latency_sample=5, clip=50.0)
    local = replay_log(tmp_path / "w" / "dataset.yaml", tmp_path / "local", **settings)
    remote = replay_log(tmp_path / "w" / "dataset.yaml", tmp_path / "remote",
                        dask=client.scheduler.address, **settings)
    assert set(local["counterfactual"]) == {"rules", "popular", "user-history"}
    assert local["counterfactual"]["popular"]["clip"] == 50.0
    assert remote["counterfactual"] == local["counterfactual"]
    assert remote["counterfactual_verdict"] == local["counterfactual_verdict"]
    assert remote["oracle"] == local["oracle"] and len(local["oracle"]) == 3


def test_the_workers_mark_returning_users_as_one_process_does(coarse_log, client, tmp_path):
    """Whether each held-out request's user has a training request: the buckets hold requests,
    not users, so the users meet by their hash; the flags are the local split's."""
    from suggest.daskreplay import DaskHeldOut, _rows
    from suggest.data.dasklog import load_on_dask
    from suggest.ids import isin
    from suggest.splits import split

    # the 300 latest rows of the second file from seven users who ask nothing before
    late = pd.read_csv(coarse_log.parent / "log-1.csv", dtype=str, keep_default_na=False)
    latest = late["timestamp"].rank(method="first", ascending=False) <= 300
    late.loc[latest, "user"] = [f"newcomer{i % 7}" for i in range(int(latest.sum()))]
    folder = tmp_path / "late"
    folder.mkdir()
    (folder / "log-0.csv").write_bytes((coarse_log.parent / "log-0.csv").read_bytes())
    late.to_csv(folder / "log-1.csv", index=False)
    (folder / "catalog.csv").write_bytes((coarse_log.parent / "catalog.csv").read_bytes())
    path = folder / coarse_log.name
    path.write_text(coarse_log.read_text())
    local = load(path)
    part = split(local.requests, local.truth, 0.2, 5, how="time")
    expected = pd.Series(isin(part.test["user_id"], part.train["user_id"]),
                         index=part.test["request_id"].to_numpy())
    assert expected.any() and not expected.all()  # both kinds, or the test proves little
    held = DaskHeldOut(load_on_dask(Dataset.from_yaml(path), client, tmp_path / "r",
                                    buckets=5), 0.2, 5, "time", None, 100)
    flags = {}
    for test in client.gather(held.tests):
        if test is not None:
            flags.update(zip(_rows(test)["request_id"], test[2]))
    assert pd.Series(flags).reindex(expected.index).tolist() == expected.tolist()


def test_a_request_that_lost_a_shown_row_in_its_piece_is_rejected_on_the_workers_too(client,
                                                                                       tmp_path):
    """A shown row rejected on its own (a missing propensity) is checked where its file is
    read; its request's other rows are in another bucket: the workers reject them as a local
    load does (they were kept, and IPS leaned low on Dask alone)."""
    from conftest import write_dataset
    from test_shown import SHOWN

    rows = ["req,user,item,pos,prop,clicked"]
    for r in range(20):
        rows += [f"q{r},u{r % 3},a,1,0.5,1", f"q{r},u{r % 3},b,2,{'' if r % 2 else 0.5},0"]
    local, report, rejected = _both(write_dataset(tmp_path / "lost", "\n".join(rows) + "\n",
                                                  **SHOWN), client, tmp_path / "rejects")
    assert local.report.rows_rejected == 20 and report.rows_rejected == 20
    assert report.requests == local.report.requests == 10
    assert report.shown == local.report.shown
    assert report.reject_reasons == local.report.reject_reasons
    assert sorted(rejected["line"].astype(int)) == sorted(local.rejects["line"].astype(int))


def test_a_clean_check_on_the_workers_keeps_another_logs_rejects_folder(client, tmp_path):
    """The workers' rejects go to a folder, by default `./dataset.rejects/` for every world's
    `dataset.yaml`: a clean check of one world kept nothing of another's; now it keeps them
    at that shared default, and removes only its own (a path given is cleared as before)."""
    for world, second in (("a", ",i2"), ("b", "u2,i2")):
        (tmp_path / world).mkdir()
        (tmp_path / world / "log.csv").write_text(f"user,item\nu1,i1\n{second}\n")
        (tmp_path / world / "dataset.yaml").write_text("log: log.csv\n")
    shared = tmp_path / "dataset.rejects"
    _, written = distributed.check_on_dask(Dataset.from_yaml(tmp_path / "a" / "dataset.yaml"),
                                          client, shared, buckets=2, shared=True)
    assert written is not None and any(shared.glob("part-*.csv"))
    _, none = distributed.check_on_dask(Dataset.from_yaml(tmp_path / "b" / "dataset.yaml"),
                                       client, shared, buckets=2, shared=True)
    assert none is None and any(shared.glob("part-*.csv"))  # a's kept
    (tmp_path / "a" / "log.csv").write_text("user,item\nu1,i1\n")
    _, mended = distributed.check_on_dask(Dataset.from_yaml(tmp_path / "a" / "dataset.yaml"),
                                         client, shared, buckets=2, shared=True)
    assert mended is None and not shared.exists()


def test_a_zone_fixed_all_year_is_warned_of_on_the_workers_too(client, tmp_path):
    """The EST warning was the local report's only: the Dask report is the local one, field
    by field, warnings included."""
    from conftest import write_dataset

    path = write_dataset(tmp_path / "est", "user,item,ts,tz\nu1,a,2026-07-01T08:00:00,EST\n"
                                           "u2,b,2026-07-01T09:00:00,America/New_York\n",
                         columns={"time": "ts", "timezone": "tz"})
    local, report, _ = _both(path, client, tmp_path / "rejects")
    assert report.warnings == local.report.warnings
    assert any(w.startswith("'EST' is UTC-05:00 all year") for w in report.warnings)
