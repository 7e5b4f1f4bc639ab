"""One contract over every registered engine (scikit-learn's check_estimator habit).

A new engine registered under the ``suggest.engines`` entry point gets these
checks for free: it fails clearly before fit, is deterministic, returns at
most k rows per request with the Suggestions columns and dtypes, orders by
score, agrees with itself one context at a time, and round-trips its params.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from suggest.data import load
from suggest.engines import engine_names, get_engine
from suggest.engines.base import SUGGESTION_COLUMNS
from suggest.errors import SuggestError

ROOT = Path(__file__).resolve().parents[1]
PHONE = str(ROOT / "rules" / "phone.yaml")
FAST = {"n_estimators": 25, "early_stopping_rounds": 5, "explain": True}
PARAMS = {"rules": {"rules": PHONE}, "ranker": {"rules": PHONE, **FAST},
          "hybrid": {"rules": PHONE, **FAST}}


@pytest.fixture(scope="module")
def world():
    log = load(ROOT / "data" / "sample" / "dataset.yaml")
    requests = log.requests.sort_values("timestamp", kind="stable").reset_index(drop=True)
    cut = requests["timestamp"].iloc[int(len(requests) * 0.8)]
    train, test = requests[requests["timestamp"] < cut], requests[requests["timestamp"] >= cut]
    truth = log.truth[log.truth["request_id"].isin(train["request_id"])]
    return train, truth, log.catalog, test.head(400).reset_index(drop=True)


def make(name):
    return get_engine(name, **PARAMS.get(name, {}))


_FITTED = {}


def fitted(name, world, fresh=False):
    """A fitted engine; cached per name (the ranker takes seconds to train)."""
    train, truth, catalog, _ = world
    if fresh or name not in _FITTED:
        engine = make(name).fit(train, truth, catalog)
        if fresh:
            return engine
        _FITTED[name] = engine
    return _FITTED[name]


ENGINES = engine_names()


@pytest.mark.parametrize("name", ENGINES)
def test_a_frame_without_a_column_an_engine_reads_is_a_suggest_error_naming_it(name, world):
    """A caller's mistake (no request_id, truth without relevance, not a frame) is a
    SuggestError naming the column, not pandas' KeyError from inside the engine."""
    train, truth, catalog, test = world
    with pytest.raises(SuggestError, match="the requests frame has no column 'request_id'"):
        fitted(name, world).suggest(test.drop(columns="request_id"), 5)
    with pytest.raises(SuggestError, match="the requests must be a pandas DataFrame"):
        fitted(name, world).suggest(test.to_dict("records"), 5)
    if name != "rules":  # the rules engine learns from no frame: fit() takes none
        with pytest.raises(SuggestError, match="the truth frame has no column 'relevance'"):
            make(name).fit(train, truth.drop(columns="relevance"), catalog)
    # a catalog read with its own item column's name (a KeyError inside the ranker's fit)
    with pytest.raises(SuggestError, match="the catalog frame has no column 'item_id'"):
        make(name).fit(train, truth, catalog.rename(columns={"item_id": "sku"}))


@pytest.mark.parametrize("name", [n for n in ENGINES if n not in ("random", "popular")])
def test_a_batch_of_local_times_without_a_zone_beside_a_timezone_column_is_refused(name, world):
    """A frame from a CSV of local times (no offset) with each row's zone: read as UTC it
    gave other suggestions than suggest_one, which reads them in their zone."""
    _, _, _, test = world
    local = test.head(5).drop(columns=["hour", "minute", "weekday", "is_weekend"], errors="ignore")
    local["timestamp"] = local["timestamp"].dt.tz_localize(None)
    with pytest.raises(SuggestError, match="timestamp column has no time zone"):
        fitted(name, world).suggest(local, 5)


@pytest.mark.parametrize("name", ENGINES)
def test_suggest_before_fit_fails_clearly(name, world):
    with pytest.raises(SuggestError, match="not fitted"):
        make(name).suggest(world[3], 5)


@pytest.mark.parametrize("name", ENGINES)
def test_output_has_the_suggestions_columns_and_dtypes(name, world):
    out = fitted(name, world).suggest(world[3], 5)
    assert list(out.columns) == SUGGESTION_COLUMNS
    assert out["rank"].dtype == np.int64 and out["score"].dtype == np.float64
    assert set(out["engine"].astype(str)) <= {name}
    assert out["item_id"].notna().all() and out["reason"].notna().all()
    assert set(out["request_id"]) <= set(world[3]["request_id"])


@pytest.mark.parametrize("name", ENGINES)
@pytest.mark.parametrize("k", [1, 3, 5])
def test_at_most_k_distinct_items_ranked_1_to_n(name, k, world):
    out = fitted(name, world).suggest(world[3], k)
    per = out.groupby("request_id", sort=False)
    assert per.size().max() <= k
    assert (per["rank"].apply(lambda r: list(r) == list(range(1, len(r) + 1)))).all()
    assert not out.duplicated(["request_id", "item_id"]).any()


@pytest.mark.parametrize("name", ENGINES)
def test_scores_keep_the_engine_order(name, world):
    """Sorting by score desc, then item id asc (the evaluator's rule) gives the ranks back."""
    out = fitted(name, world).suggest(world[3], 5)
    out = out.assign(item_id=out["item_id"].astype(str))
    resorted = out.sort_values(["request_id", "score", "item_id"], ascending=[True, False, True],
                               kind="stable")
    resorted["expected"] = resorted.groupby("request_id").cumcount() + 1
    assert (resorted["rank"] == resorted["expected"]).all()


@pytest.mark.parametrize("name", ENGINES)
def test_same_input_same_output(name, world):
    a = fitted(name, world).suggest(world[3], 5)
    b = fitted(name, world, fresh=True).suggest(world[3], 5)
    pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("name", ENGINES)
def test_a_request_gets_the_same_list_alone_or_in_a_batch(name, world):
    engine = fitted(name, world)
    test = world[3]
    batch = engine.suggest(test, 5)
    for i in (0, 17, 123):
        alone = engine.suggest(test.iloc[[i]], 5)
        mine = batch[batch["request_id"] == test["request_id"].iloc[i]]
        assert alone["item_id"].astype(str).tolist() == mine["item_id"].astype(str).tolist()


def context_of(row: pd.Series) -> dict:
    """A request as the dict a caller of ``suggest_one`` sends."""
    context = {c: (None if pd.isna(row[c]) else row[c].item() if hasattr(row[c], "item") else row[c])
               for c in ("location", "activity", "headphones", "battery", "weather", "network",
                         "minutes_to_next_event")}
    context.update(user_id=row["user_id"], timestamp=row["timestamp"].isoformat(),
                   timezone=row["timezone"], request_id=row["request_id"])
    return context


@pytest.mark.parametrize("name", ENGINES)
@pytest.mark.parametrize("explain", [True, False])
def test_single_context_call_agrees_with_the_batch_call(name, explain, world):
    """Every column, the reasons too (with explain=False the hybrid once said 'ranker' one
    context at a time and 'hybrid' in a batch)."""
    engine = fitted(name, world)
    if hasattr(engine, "explain"):
        engine = fitted(name, world, fresh=True) if engine.explain != explain else engine
        engine.explain = explain
    test = world[3]
    one = engine.suggest_one(context_of(test.iloc[5]), 5)
    batch = engine.suggest(test.iloc[[5]], 5)
    for column in ("request_id", "engine", "item_id", "reason"):
        assert one[column].astype(str).tolist() == batch[column].astype(str).tolist(), column
    assert one["rank"].tolist() == batch["rank"].tolist()


@pytest.mark.parametrize("name", ["rules", "popular", "context-popular", "user-history", "random"])
@pytest.mark.parametrize("form", ["offset text", "naive text"])
def test_one_context_path_gives_the_batch_rows(name, form, world):
    """These engines answer one context without the batch path (the rules: leaf tests
    memoised, one resolver call; the baselines: their fitted lists read directly, random's
    drawn by the request id alone): every
    column of every row must be the batch's, context after context, at every time of day
    (rule windows, dayparts, the user's history before the time)."""
    engine = fitted(name, world)
    test = world[3].iloc[::5].reset_index(drop=True)  # 80 contexts over the held-out days
    batch = engine.suggest(test, 5)
    for _, row in pd.concat([test, test.iloc[::-1]]).iterrows():  # twice: the memo is reused
        local = row["timestamp"].tz_convert(row["timezone"])
        context = {**context_of(row), "timestamp": local.isoformat() if form == "offset text"
                   else local.tz_localize(None).isoformat()}
        one = engine.suggest_one(context, 5)
        mine = batch[batch["request_id"] == row["request_id"]]
        for column in ("request_id", "engine", "item_id", "reason"):
            assert one[column].astype(str).tolist() == mine[column].astype(str).tolist()
        assert one["rank"].tolist() == mine["rank"].tolist()
        assert one["score"].tolist() == mine["score"].tolist()
    assert batch["request_id"].nunique() > 40  # most of these contexts get suggestions


ODD = [{"headphones": 1}, {"battery": float("nan")}, {"timezone": ""},
       {"timestamp": "2026-W13-2T08:10:00-05:00"}, {"timestamp": "2026-03-24T08:10:00-05:00:30"},
       {"timestamp": "2026-03-24T08:10:00.000000999+00:00"}, {"location": ["commute"]}, {"user_id": None}]


@pytest.mark.parametrize("name", ["rules", "popular", "context-popular", "user-history", "random"])
@pytest.mark.parametrize("odd", ODD, ids=lambda odd: repr(odd)[:40])
def test_one_context_path_reads_odd_input_as_the_batch_does(name, odd, world):
    """Input the fast paths could read otherwise than a one-row frame (a number for a
    boolean field, NaN, an empty zone, timestamps only Python parses, nanoseconds, a list):
    the same rows, or the same error, as the batch path."""
    from suggest.engines.base import BaseEngine

    engine = fitted(name, world)
    context = {**context_of(world[3].iloc[7]), **odd}

    def answer(call):
        try:
            out = call(context, 5)
        except SuggestError as error:
            return str(error)
        return [tuple(map(str, row)) for row in out.itertuples(index=False)]

    assert answer(engine.suggest_one) == answer(lambda c, k: BaseEngine.suggest_one(engine, c, k))


def test_popular_one_context_scores_are_the_callers_to_change():
    popular = make("popular").fit(*world_of_three())
    out = popular.suggest_one({}, 2)
    out.loc[0, "score"] = -1.0  # the caller's frame: the engine keeps its counts
    assert popular.suggest_one({}, 2)["score"].tolist() == [3.0, 2.0]


def world_of_three():
    requests = pd.DataFrame({"request_id": ["q1", "q2", "q3"], "user_id": ["u", "u", "v"]})
    truth = pd.DataFrame({"request_id": ["q1", "q2", "q3", "q1", "q2"], "item_id": ["a", "a", "a", "b", "b"],
                          "relevance": 1.0})
    return requests, truth


@pytest.mark.parametrize("name", ENGINES)
@pytest.mark.parametrize("key, meant", [("user", "user_id"), ("locaton", "location"),
                                        ("timestamps", "timestamp")])
def test_single_context_refuses_a_misspelled_key(name, key, meant, world):
    context = context_of(world[3].iloc[5])
    context[key] = context.pop(meant)
    with pytest.raises(SuggestError, match=f"context key '{key}' .*did you mean '{meant}'"):
        fitted(name, world).suggest_one(context, 5)


@pytest.mark.parametrize("name", ENGINES)
@pytest.mark.parametrize("field, value, message", [
    ("timestamp", "tuesday morning", "context timestamp 'tuesday morning' is not a time"),
    ("timestamp", "2026-03-03T25:10:00", "is not a time"),
    ("timezone", "America/New_Yrok", "did you mean 'America/New_York'"),
    ("battery", "high", "context field 'battery': 'high' is not a number"),
    ("headphones", "maybe", "context field 'headphones': 'maybe' is not true or false"),
    ("headphones", 7, "context field 'headphones': 7 is not true or false"),
    # read as missing, or as 1, without a word before
    ("battery", [10, 20], r"context field 'battery': \[10, 20\] is a list; a context holds one"),
    ("battery", True, "context field 'battery': True is not a number"),
    ("location", {"a": 1}, "context field 'location': .* is a dict"),
    ("timestamp", "9999-12-31T23:59:59+14:00", "outside the years the tool holds"),
    ("timestamp", "2300-01-01T10:00:00+00:00", "outside the years the tool holds"),
    ("timestamp", "1500-01-01T00:00:00Z", "outside the years the tool holds")])
def test_single_context_refuses_a_value_it_cannot_read(name, field, value, message, world):
    context = {**context_of(world[3].iloc[5]), field: value}
    with pytest.raises(SuggestError, match=message):
        fitted(name, world).suggest_one(context, 5)


@pytest.mark.parametrize("name", ENGINES)
def test_single_context_takes_unseen_values_and_missing_fields_as_the_batch_does(name, world):
    """A new location in production is legitimate: unseen, exactly as in a batch."""
    engine = fitted(name, world)
    row = world[3].iloc[[5]].reset_index(drop=True)
    row["location"] = pd.Categorical(["moon base"])
    row["battery"] = np.nan
    context = context_of(row.iloc[0])
    del context["battery"]
    assert context["location"] == "moon base"
    one = engine.suggest_one({**context, "battery": "17.5"}, 5)  # a number written as text is fine
    assert len(one) <= 5
    one = engine.suggest_one(context, 5)
    batch = engine.suggest(row, 5)
    assert one["item_id"].astype(str).tolist() == batch["item_id"].astype(str).tolist()


@pytest.mark.parametrize("name", ENGINES)
def test_params_round_trip(name):
    engine = make(name)
    params = engine.get_params()
    assert type(engine)(**params).get_params() == params


def test_a_rules_engine_built_from_a_rule_set_in_memory_rebuilds_from_its_params(world):
    """get_params gave the rule set's source, '<string>', from which nothing can be built."""
    from suggest.rules import RulesEngine, parse_rules
    from suggest.replay import _recorded

    train, truth, catalog, test = world
    engine = RulesEngine(parse_rules(Path(PHONE).read_text(encoding="utf-8")))
    again = type(engine)(**engine.get_params())
    pd.testing.assert_frame_equal(again.fit(train, truth, catalog).suggest(test, 5),
                                  engine.fit(train, truth, catalog).suggest(test, 5))
    recorded = _recorded(engine.get_params())["rules"]  # what summary.json says of it
    assert recorded.startswith("<string> (parsed in memory, ") and len(recorded) < 60


def test_unknown_engine_name_suggests_the_closest():
    with pytest.raises(SuggestError, match="did you mean 'user-history'"):
        get_engine("user-histroy")


HOSTILE = [{"timestamp": "9999-12-31T23:59:59+14:00"}, {"timestamp": "0001-01-01T00:00:00+00:00"},
           {"timestamp": float("inf")}, {"timestamp": {"at": 1}}, {"timestamp": None},
           {"battery": float("inf")}, {"battery": -float("inf")}, {"battery": {"v": 1}},
           {"battery": [1, 2]}, {"battery": None}, {"location": {"nested": {"deep": 1}}},
           {"location": None}, {"user_id": float("inf")}, {"user_id": ["u1"]}]


@pytest.mark.parametrize("name", ENGINES)
@pytest.mark.parametrize("odd", HOSTILE, ids=lambda odd: repr(odd)[:40])
def test_one_context_answers_or_refuses_hostile_values_clearly(name, odd, world):
    """Out-of-range, nested, infinite and missing values: a list of suggestions, or a
    SuggestError that says what is wrong; never another exception."""
    context = {**context_of(world[3].iloc[7]), **odd}
    try:
        out = fitted(name, world).suggest_one(context, 5)
    except SuggestError as error:
        assert error.message
        return
    assert list(out.columns) == SUGGESTION_COLUMNS and len(out) <= 5


@pytest.mark.parametrize("name", ENGINES)
@pytest.mark.parametrize("k, rows", [(0, 0), (1, 1), (7, None), (2.7, "error"), (True, "error"),
                                     (-1, "error")])
def test_every_engine_reads_k_one_way(name, k, rows, world):
    """k is a whole number >= 0 for every engine: 2.7 and True are refused, not rounded."""
    engine, test = fitted(name, world), world[3].head(20)
    if rows == "error":
        with pytest.raises(SuggestError, match="k must be a whole number"):
            engine.suggest(test, k)
        with pytest.raises(SuggestError, match="k must be a whole number"):
            engine.suggest_one(context_of(test.iloc[0]), k)
        return
    out = engine.suggest(test, k)
    most = int(out.groupby("request_id", observed=True).size().max()) if len(out) else 0
    assert most <= k and (rows is None or most == rows)
    assert len(engine.suggest_one(context_of(test.iloc[0]), k)) <= k


def test_the_registry_is_one_list_that_the_package_metadata_repeats():
    """setup.cfg's entry points (what pip installs) name exactly the built-in registry, and
    the command line's default engines and the benchmark's are that list."""
    import configparser

    from suggest.bench.precision import ENGINES
    from suggest.cli import DEFAULT_ENGINES
    from suggest.registry import BUILT_IN, ENTRY_POINT_GROUP

    config = configparser.ConfigParser()
    config.read(Path(__file__).resolve().parents[1] / "setup.cfg")
    declared = dict(line.replace(" ", "").split("=", 1)
                    for line in config["options.entry_points"][ENTRY_POINT_GROUP].strip().splitlines())
    assert declared == BUILT_IN
    assert DEFAULT_ENGINES.split(",") == list(BUILT_IN) == list(ENGINES)


@pytest.mark.parametrize("name", ENGINES)
def test_every_engine_suggests_something_on_a_log_with_history(name, world):
    """An engine that answers nothing passes every other check; on this log each built-in
    engine answers most requests (the rules: at least the ones a rule fires for)."""
    out = fitted(name, world).suggest(world[3], 5)
    answered = out["request_id"].nunique() / len(world[3])
    assert answered > (0.3 if name == "rules" else 0.95), answered


@pytest.mark.parametrize("name", ENGINES)
def test_no_request_gives_an_empty_suggestions_frame(name, world):
    out = fitted(name, world).suggest(world[3].iloc[:0], 5)
    assert list(out.columns) == SUGGESTION_COLUMNS and len(out) == 0


@pytest.mark.parametrize("name", ENGINES)
def test_fit_and_suggest_leave_the_callers_frames_unchanged(name, world):
    train, truth, catalog, test = world
    copies = [frame.copy(deep=True) for frame in (train, truth, catalog, test)]
    engine = make(name).fit(train, truth, catalog)
    engine.suggest(test, 5)
    for before, after in zip(copies, (train, truth, catalog, test)):
        pd.testing.assert_frame_equal(before, after)


@pytest.mark.parametrize("name", ENGINES)
def test_a_fitted_engine_pickles_and_suggests_the_same(name, world):
    """Workers (joblib, Dask) receive engines pickled; the model files never are."""
    import pickle

    engine = fitted(name, world)
    again = pickle.loads(pickle.dumps(engine))
    pd.testing.assert_frame_equal(again.suggest(world[3], 5), engine.suggest(world[3], 5))


THIRD_PARTY = '''
import pandas as pd

from suggest.engines.base import BaseEngine, check_k, suggestions_frame
import numpy as np


class LastSeen(BaseEngine):
    """A team's own engine: the item engaged with most recently, whoever engaged."""

    name = "last-seen"

    def __init__(self, depth: int = 3):
        self.depth = depth

    def fit(self, requests, truth, catalog=None):
        self._remember_context(requests)
        recent = truth.merge(requests[["request_id", "timestamp"]], on="request_id")
        order = recent.sort_values("timestamp", kind="stable")["item_id"].astype(str)
        self.items_ = np.array(list(dict.fromkeys(order[::-1]))[:self.depth], dtype=object)
        return self

    def suggest(self, requests, k):
        k = check_k(k)
        self.check_fitted()
        n = min(k, len(self.items_))
        rows = np.repeat(np.arange(len(requests)), n)
        ranks = np.tile(np.arange(1, n + 1), len(requests))
        return suggestions_frame(requests["request_id"], rows, ranks, ranks - 1, self.items_,
                                 1.0 / ranks, np.zeros(len(rows), dtype=np.int8), [self.name],
                                 self.name)
'''


def test_a_third_party_engine_registered_by_entry_point_replays_beside_the_built_in_ones(
        world, tmp_path, monkeypatch):
    """A package that registers an engine under ``suggest.engines`` (here a distribution made
    on the fly) is found by name, passes the contract's core checks, and replays."""
    import importlib
    import sys

    from suggest.replay import replay

    (tmp_path / "lastseen_engine.py").write_text(THIRD_PARTY, encoding="utf-8")
    info = tmp_path / "lastseen_engine-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lastseen-engine\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[suggest.engines]\nlast-seen = lastseen_engine:LastSeen\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    assert "last-seen" in engine_names()
    train, truth, catalog, test = world
    engine = get_engine("last-seen", depth=4)
    assert type(engine)(**engine.get_params()).get_params() == {"depth": 4}
    with pytest.raises(SuggestError, match="not fitted"):
        engine.suggest(test, 5)
    engine.fit(train, truth, catalog)
    out = engine.suggest(test, 3)
    assert list(out.columns) == SUGGESTION_COLUMNS and out.groupby("request_id").size().eq(3).all()
    one = engine.suggest_one({"user_id": "u1", "timestamp": "2026-03-24T08:10:00Z"}, 3)
    assert one["item_id"].astype(str).tolist() == out["item_id"].astype(str).tolist()[:3]
    log = load(ROOT / "data" / "sample" / "dataset.yaml")
    summary = replay(log, {"last-seen": get_engine("last-seen"), "popular": get_engine("popular")},
                     tmp_path / "run", latency_sample=5)
    assert set(summary["engines"]) == {"last-seen", "popular"}
    assert 0 < summary["engines"]["last-seen"]["ndcg@5"] <= 1  # it found some engagements
    sys.modules.pop("lastseen_engine", None)


def test_a_team_engine_that_cannot_load_clashes_or_returns_no_suggestions_is_named(monkeypatch):
    """A team registers engines through the entry-point group: a broken package, a name a
    built-in has, or a frame without the Suggestions columns must name the engine."""
    from importlib.metadata import EntryPoint

    import suggest.engines.base as base
    from suggest.errors import SuggestError

    def registered(*points):
        monkeypatch.setattr(base, "entry_points", lambda group: [
            EntryPoint(name=n, value=v, group=group) for n, v in points])

    registered(("team", "no_such_module_xyz:Engine"))
    with pytest.raises(SuggestError, match=r"engine 'team' \(no_such_module_xyz:Engine\) cannot "
                                           r"be loaded: ModuleNotFoundError"):
        base.get_engine("team")
    registered(("popular", "teameng:Recent"), ("popular", "suggest.engines.baselines:Popular"))
    with pytest.raises(SuggestError, match="engine 'popular' is built in, and teameng:Recent"):
        base.get_engine("popular")
    registered(("popular", "suggest.engines.baselines:Popular [fast]"))
    assert base.get_engine("popular").name == "popular"  # our own entry point: the built-in
    with pytest.raises(SuggestError, match=r"engine 'team' returned a frame without item_id"):
        base.check_suggestions(pd.DataFrame({"request_id": ["r1"], "rank": [1], "score": [1.0]}),
                               "team")
    with pytest.raises(SuggestError, match=r"returned a frame without rank"):
        base.check_suggestions(pd.DataFrame({"request_id": ["r1"], "item_id": ["a"],
                                             "score": [1.0]}), "team")


@pytest.mark.parametrize("name", ["context-popular", "ranker"])
def test_a_column_of_text_where_fit_saw_booleans_is_refused(name, world):
    """A CSV read without dtypes gives 'true'/'false' as text: context-popular's lists
    changed without a word and the ranker failed inside pyarrow."""
    _, _, _, test = world
    text = test.head(20).assign(headphones=test["headphones"].head(20).map({True: "true",
                                                                          False: "false"}))
    with pytest.raises(SuggestError, match="column 'headphones' is text; the engine was fitted "
                                           "with it boolean"):
        fitted(name, world).suggest(text, 5)


@pytest.mark.parametrize("name", ["popular", "context-popular", "user-history", "rules", "ranker"])
def test_an_engine_learns_only_from_the_engagements_of_the_requests_it_is_fitted_on(name):
    """A whole log's engagements passed beside a training part's requests (the README's
    example did): the engine is the one fitted on the training part's own engagements, not
    one that counts the held-out part's (popular did, and the ranker's candidates with it)."""
    log = load(ROOT / "data" / "sample" / "dataset.yaml")
    requests, truth, catalog = log.requests, log.truth, log.catalog
    cut = requests["timestamp"].quantile(0.7)
    train = requests[requests["timestamp"] < cut]
    test = requests[requests["timestamp"] >= cut].head(200)
    own = truth[truth["request_id"].isin(train["request_id"])]
    assert len(own) < len(truth)
    kwargs = {"rules": str(ROOT / "rules" / "phone.yaml")} if name == "rules" else (
        {"n_estimators": 5} if name == "ranker" else {})
    whole = get_engine(name, **kwargs).fit(train, truth, catalog).suggest(test, 5)
    proper = get_engine(name, **kwargs).fit(train, own, catalog).suggest(test, 5)
    pd.testing.assert_frame_equal(whole, proper)


def test_a_context_without_a_zone_is_read_in_the_zone_the_training_log_was_read_in(tmp_path):
    """The sample log without its zone column, read in its description's one zone (UTC):
    contexts built from its raw rows (times written with their own offsets, no zone) get
    the lists the batch path gives the same requests, from the rules, context-popular and
    the ranker, and from a saved model loaded back (a tester's log: 43% of lists differed)."""
    import yaml

    from suggest.ranker.model import RankerEngine

    sample = ROOT / "data" / "sample"
    spec = yaml.safe_load((sample / "dataset.yaml").read_text())
    spec.update(log=str(sample / "log.csv"), ignore=["tz"])
    spec["catalog"]["path"] = str(sample / "catalog.csv")
    del spec["columns"]["timezone"]
    (tmp_path / "utc.yaml").write_text(yaml.safe_dump(spec))
    log = load(tmp_path / "utc.yaml")
    raw = pd.read_csv(sample / "log.csv", dtype=str).drop_duplicates("request_id").set_index(
        "request_id")
    requests = log.requests.sort_values("timestamp", kind="stable").reset_index(drop=True)
    train, test = requests.iloc[:-300], requests.iloc[-300:].reset_index(drop=True)
    truth = log.truth[log.truth["request_id"].isin(train["request_id"])]
    engines = {"rules": get_engine("rules", rules=str(ROOT / "rules" / "phone.yaml"), timezone="UTC"),
               "context-popular": get_engine("context-popular"),
               "ranker": get_engine("ranker", n_estimators=10)}
    for name, engine in engines.items():
        engine.fit(train, truth, log.catalog)
    engine.save(tmp_path / "model", train, truth, log.catalog)
    engines["loaded"] = RankerEngine.load(tmp_path / "model")
    columns = [c for c in log.context if c in raw.columns]
    for name, engine in engines.items():
        batch = engine.suggest(test, 5)
        differ = 0
        for request in test["request_id"].iloc[:60]:
            row = raw.loc[request]
            context = {"user_id": row["user"], "timestamp": row["timestamp"],
                       **{c: test.loc[test["request_id"] == request, c].iloc[0] for c in columns}}
            context = {k: (None if pd.isna(v) else v) for k, v in context.items()}
            one = engine.suggest_one(context, 5)["item_id"].tolist()
            differ += one != batch.loc[batch["request_id"] == request, "item_id"].tolist()
        assert differ == 0, (name, differ)


@pytest.mark.parametrize("name", ["rules", "context-popular", "ranker"])
def test_numpy_scalars_in_a_context_read_as_the_python_values(name, world):
    """A context taken from a frame's row holds numpy scalars: np.True_ was not True to the
    rules' one-context path, which missed the rules a batch fired on the same request."""
    train, truth, catalog, test = world
    engine = make(name).fit(train, truth, catalog)
    row = test.iloc[0]
    plain = {c: (None if pd.isna(row[c]) else row[c]) for c in test.columns
             if c not in ("request_id", "hour", "minute", "weekday", "is_weekend")}
    python = {k: v.item() if isinstance(v, np.generic) else v for k, v in plain.items()}
    assert any(isinstance(v, np.generic) for v in plain.values())
    assert engine.suggest_one(plain, 5)["item_id"].tolist() == \
        engine.suggest_one(python, 5)["item_id"].tolist()


@pytest.mark.parametrize("name", ENGINES)
def test_a_batch_without_a_column_the_engine_reads_is_refused_and_one_context_may_leave_it_out(
        name, world):
    """A frame missing a context column was read as that column missing on every row: lists
    and metrics changed without a word. Each engine names the columns it reads; a batch
    without one is refused naming it, a column it does not read may be absent, and a single
    context leaves fields out as before."""
    engine = fitted(name, world)
    test = world[3]
    read = engine.columns_read()
    assert set(read) <= set(test.columns)
    for column in read:
        drop = [column] + (["hour", "minute", "weekday", "is_weekend"] if column == "timestamp"
                           else [])
        with pytest.raises(SuggestError, match=f"the requests frame has no column '{column}', "
                                               f"which the {engine.name} engine was fitted with"):
            engine.suggest(test.drop(columns=drop), 5)
    unread = [c for c in ("location", "battery", "weather", "network") if c not in read]
    if unread:
        a = engine.suggest(test, 5)
        b = engine.suggest(test.drop(columns=unread), 5)
        pd.testing.assert_frame_equal(a, b)  # what it does not read changes nothing
    alone = {"user_id": str(test["user_id"].iloc[0])}
    if name in ("ranker", "hybrid"):  # counts of the past before a time: it needs the time
        with pytest.raises(SuggestError, match="the context has no timestamp, and the ranker was "
                                               "trained on a log with time"):
            engine.suggest_one(alone, 5)
        alone["timestamp"] = test["timestamp"].iloc[0].isoformat()
    one = engine.suggest_one(alone, 5)
    assert set(SUGGESTION_COLUMNS) <= set(one.columns)
    expected = {"popular": [], "random": [], "user-history": ["timestamp"]}
    if name in expected:
        assert read == expected[name]
    elif name in ("ranker", "hybrid", "context-popular"):
        assert "location" in read and "timestamp" in read
