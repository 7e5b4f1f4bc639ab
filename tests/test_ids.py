"""Membership tests on id columns (suggest.ids.isin): pandas' answers, at Arrow speed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from suggest.ids import as_text, isin

VALUES = pd.Series(["r1", None, "r3", "", "é", "r1"], dtype="str")


@pytest.mark.parametrize("among", [
    ["r1"], ["r1", None], {"r3", "é"}, frozenset(), [], [1, "r1"], [""], ("r9",),
    pd.Index(["r3"]), pd.Series(["r1", "r3"], dtype="str"), pd.Series(["r1"], dtype=object),
    np.array(["é", "zz"]), pd.Series(["r1"], dtype="category"), {"r1": 1}])
def test_isin_answers_as_pandas_does(among):
    expected = VALUES.isin(list(among) if isinstance(among, dict) else among)  # pandas' own
    assert isin(VALUES, among).tolist() == expected.tolist()


def test_object_ids_and_plain_lists_are_answered_too():
    assert isin(pd.Series(["a", "b"], dtype=object), ["b"]).tolist() == [False, True]
    assert isin(["a", "b", "c"], pd.Series(["c", "a"], dtype="str")).tolist() == [True, False, True]
    assert isin(pd.Series([], dtype="str"), ["a"]).tolist() == []


def test_text_ids_are_asked_of_arrow_not_one_value_at_a_time(monkeypatch):
    """pandas 3's isin on Arrow text makes an Arrow scalar of each value in Python (about 5 s
    for a million ids); isin must not go that way when both sides are text."""
    from pandas.core.arrays.string_arrow import ArrowStringArray

    monkeypatch.setattr(ArrowStringArray, "isin", lambda self, values: pytest.fail("per value"))
    ids = pd.Series([f"r{i:06d}" for i in range(200_000)], dtype="str")
    wanted = ids[::3]
    found = isin(ids, wanted)
    assert found.sum() == len(wanted) and found[::3].all() and not found[1::3].any()
    assert isin(ids, set(wanted.tolist()[:5])).sum() == 5


@pytest.mark.parametrize("values", [
    pd.Series(["b", None, "a", "b", "é"], dtype="category", name="item_id"),
    pd.Series(pd.Categorical([3, None, 1], categories=[1, 3, 7]), index=[5, 6, 7]),
    pd.Series(pd.Categorical([1.5, 2.0, None])), pd.Series([True, None, False], dtype="category"),
    pd.Series([], dtype="category"), pd.Series(["x", None], dtype=object)])
def test_as_text_is_astype_str(values):
    text = as_text(values)
    expected = values.astype(str)
    assert text.dtype == expected.dtype and text.name == expected.name
    pd.testing.assert_series_equal(text, expected)
