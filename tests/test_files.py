"""One atomic writer: a file is whole or absent."""

from __future__ import annotations

import pandas as pd
import pytest

from suggest.errors import WriteError
from suggest.files import partial_path, write_atomic


def test_text_frames_and_writers_land_whole_and_leave_no_partial(tmp_path):
    write_atomic(tmp_path / "a" / "x.txt", "héllo\n")
    write_atomic(tmp_path / "y.parquet", pd.DataFrame({"n": [1, 2]}))
    write_atomic(tmp_path / "z.csv", lambda p: pd.DataFrame({"n": [3]}).to_csv(p, index=False))
    assert (tmp_path / "a" / "x.txt").read_text(encoding="utf-8") == "héllo\n"
    assert pd.read_parquet(tmp_path / "y.parquet")["n"].tolist() == [1, 2]
    assert (tmp_path / "z.csv").read_text() == "n\n3\n"
    assert not list(tmp_path.rglob("*.partial"))


def test_a_write_that_fails_midway_keeps_the_old_file_and_names_the_new_one(tmp_path):
    target = tmp_path / "summary.json"
    target.write_text("old", encoding="utf-8")

    def half(partial):
        partial.write_text("half of it", encoding="utf-8")
        raise OSError(28, "No space left on device")

    with pytest.raises(WriteError, match="cannot write .*summary.json: No space left") as caught:
        write_atomic(target, half, hint="free some space")
    assert caught.value.exit_code == 1
    assert target.read_text(encoding="utf-8") == "old"  # never a half-written file in its place
    assert not partial_path(target).exists()


@pytest.mark.parametrize("text, fault", [
    (None, r"not a finished replay \(summary\.json missing\)"),
    ("{half", r"summary\.json is damaged: Expecting property name"),
    (b"\xff\xfe", r"summary\.json is damaged: 'utf-8' codec"),
    ("[1]", r"summary\.json is damaged: it holds list, not an object"),
    ('{"requests": 3}', r"summary\.json of the replay is damaged: it has no `engines` mapping"),
])
def test_a_missing_or_damaged_summary_is_a_clear_data_error(tmp_path, text, fault):
    from suggest.data.runs import read_summary
    from suggest.errors import DataError

    if isinstance(text, bytes):
        (tmp_path / "summary.json").write_bytes(text)
    elif text is not None:
        (tmp_path / "summary.json").write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=fault) as caught:
        read_summary(tmp_path)
    assert caught.value.exit_code == 2 and caught.value.hint
