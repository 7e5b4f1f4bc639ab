"""Model folders: a faithful round trip, a complete manifest, no pickle, and clear refusals."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from suggest.data import load
from suggest.errors import SuggestError
from suggest.ranker import HybridEngine, RankerEngine
from suggest.ranker.artifact import _manifest_checksum, load as load_model
from suggest.rules import RulesEngine
from suggest.synth import generate, preset_config

ROOT = Path(__file__).resolve().parents[1]
PHONE = ROOT / "rules" / "phone.yaml"
FAST = {"n_estimators": 30, "early_stopping_rounds": 10}
OTHER_RULES = """\
version: 1
rules:
  - id: everything-is-news
    when: {battery: {gte: 0}}
    suggest: [local_news, rain_alert, running_coach]
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A ranker trained with a private copy of the phone rules, saved once."""
    base = tmp_path_factory.mktemp("artifact")
    generate(preset_config("default", users=30, days=14, seed=2), base / "world")
    log = load(base / "world" / "dataset.yaml")
    requests = log.requests.sort_values(["timestamp", "request_id"], kind="stable").reset_index(drop=True)
    cut = int(len(requests) * 0.8)
    train, test = requests.iloc[:cut].reset_index(drop=True), requests.iloc[cut:].reset_index(drop=True)
    truth = log.truth[log.truth["request_id"].isin(train["request_id"])]
    rules = base / "my-rules.yaml"
    shutil.copyfile(PHONE, rules)
    engine = RankerEngine(rules=str(rules), **FAST).fit(train, truth, log.catalog)
    folder = engine.save(base / "models" / "phone", train, truth, log.catalog)
    return {"engine": engine, "folder": folder, "train": train, "truth": truth, "test": test,
            "catalog": log.catalog, "rules": rules, "expected": engine.suggest(test, 5)}


@pytest.fixture
def copy_of(trained, tmp_path):
    """A fresh copy of the saved model folder to damage."""
    target = tmp_path / "model"
    shutil.copytree(trained["folder"], target)
    return target


def edit_manifest(folder: Path, change, sign: bool = True) -> None:
    """Change the manifest; ``sign`` recomputes its own checksum, as a manifest written
    by another version of suggest would carry one (the checks after it are under test)."""
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    change(manifest)
    if sign:
        manifest["manifest_sha256"] = _manifest_checksum(manifest)
    path.write_text(json.dumps(manifest), encoding="utf-8")


def test_round_trip_gives_identical_suggestions(trained):
    loaded = RankerEngine.load(trained["folder"])
    assert type(loaded) is RankerEngine
    pd.testing.assert_frame_equal(loaded.suggest(trained["test"], 5), trained["expected"])
    assert loaded.features_.names_ == trained["engine"].features_.names_
    assert loaded.validation_ == trained["engine"].validation_


def test_manifest_has_the_documented_keys(trained):
    manifest = json.loads((trained["folder"] / "manifest.json").read_text(encoding="utf-8"))
    engine, train = trained["engine"], trained["train"]
    assert {"format", "engine", "params", "features", "candidates", "training", "validation",
            "importance", "versions", "files", "dataset", "manifest_sha256"} <= set(manifest)
    assert manifest["format"] == 3 and manifest["engine"] == "ranker"
    assert manifest["params"]["n_estimators"] == 30 and manifest["params"]["cap"] == 50
    features = manifest["features"]
    assert features["names"] == engine.features_.names_
    assert "item" in features["categorical"] and "ctx:location" in features["categorical"]
    assert features["context"]["location"] == {"type": "categorical",
                                               "categories": ["commute", "gym", "home", "other", "work"]}
    assert features["context"]["battery"]["type"] == "numeric"
    assert features["attributes"]["category"]["type"] == "categorical"
    assert set(features["items"]) == set(trained["catalog"]["item_id"])
    assert manifest["candidates"]["cap"] == 50
    assert set(manifest["candidates"]["recall"]) == {"train", "valid"}
    assert 0.5 < manifest["candidates"]["recall"]["valid"] <= 1
    training = manifest["training"]
    assert training["requests"] == len(train) and training["engagements"] == len(trained["truth"])
    assert training["window"] == [str(train["timestamp"].min()), str(train["timestamp"].max())]
    assert len(training["fingerprint"]) == 16
    assert manifest["validation"]["ndcg@5"] > 0
    assert list(manifest["importance"]) and set(manifest["importance"]) == set(features["names"])
    gains = list(manifest["importance"].values())
    assert gains == sorted(gains, reverse=True)
    assert {"suggest", "lightgbm", "pandas", "numpy", "python"} <= set(manifest["versions"])
    assert {"model.txt", "state.json", "trained.parquet", "catalog.parquet", "rules.yaml",
            "statistics/users.parquet", "statistics/item_counts.parquet",
            "statistics/arrays/features.counts.combined.parquet"} <= set(manifest["files"])
    # the statistics, not the training log: no file holds the requests' contexts
    assert not {"requests.parquet", "truth.parquet"} & set(manifest["files"])
    trained_ids = pd.read_parquet(trained["folder"] / "trained.parquet")
    assert list(trained_ids.columns) == ["request_id"] and len(trained_ids) == len(train)
    assert all(len(digest) == 64 for digest in manifest["files"].values())


def test_loading_never_unpickles(trained, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("pickle was used")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    monkeypatch.setattr(pd, "read_pickle", refuse)
    loaded = load_model(trained["folder"])
    pd.testing.assert_frame_equal(loaded.suggest(trained["test"], 5), trained["expected"])


@pytest.mark.parametrize("name", ["model.txt", "state.json", "trained.parquet", "catalog.parquet",
                                  "rules.yaml", "statistics/users.parquet",
                                  "statistics/arrays/features.counts.combined.parquet"])
def test_a_file_changed_by_one_byte_fails_naming_it(copy_of, name):
    path = copy_of / name
    data = bytearray(path.read_bytes())
    at = len(data) // 2
    data[at] = (data[at] + 1) % 256
    path.write_bytes(bytes(data))
    with pytest.raises(SuggestError, match=rf"{name} does not match its checksum"):
        load_model(copy_of)


def test_a_missing_file_fails_naming_it(copy_of):
    (copy_of / "statistics" / "arrays" / "history.combined.parquet").unlink()
    with pytest.raises(SuggestError, match=r"statistics/arrays/history\.combined\.parquet is missing"):
        load_model(copy_of)


@pytest.mark.parametrize("setting, value", [("cap", 5), ("seed", 7), ("n_estimators", 3)])
def test_an_edited_setting_in_the_manifest_fails_as_edited(copy_of, trained, setting, value):
    edit_manifest(copy_of, lambda m: m["params"].update({setting: value}), sign=False)
    with pytest.raises(SuggestError, match=r"manifest\.json was edited after training") as err:
        load_model(copy_of)
    assert "retrain" in str(err.value) and "version of suggest" not in str(err.value)


def test_another_format_fails_clearly(copy_of):
    edit_manifest(copy_of, lambda m: m.update(format=1))
    with pytest.raises(SuggestError, match=r"model format 1, this suggest .* reads format 3") as err:
        load_model(copy_of)
    assert "retrain" in str(err.value)


def test_other_feature_names_fail_naming_the_mismatch(copy_of):
    def rename(manifest):
        names = manifest["features"]["names"]
        names[names.index("user_item_share")] = "user_item_ratio"

    edit_manifest(copy_of, rename)
    with pytest.raises(SuggestError, match=r"other features .*user_item_ratio, user_item_share"):
        load_model(copy_of)


def test_a_missing_folder_or_manifest_is_a_clear_error(tmp_path):
    with pytest.raises(SuggestError, match=r"no model at .*nowhere \(manifest\.json is missing\)"):
        load_model(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SuggestError, match=r"manifest\.json is missing"):
        load_model(tmp_path / "empty")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(SuggestError, match=r"manifest\.json is damaged: Expecting property name"):
        load_model(tmp_path / "broken")
    (tmp_path / "broken" / "manifest.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(SuggestError, match=r"manifest\.json is damaged: it holds list"):
        load_model(tmp_path / "broken")


def test_the_rule_file_travels_with_the_model(trained, copy_of, tmp_path):
    original = trained["rules"]
    before = original.read_text(encoding="utf-8")
    try:
        original.write_text(OTHER_RULES, encoding="utf-8")
        loaded = load_model(copy_of)
        pd.testing.assert_frame_equal(loaded.suggest(trained["test"], 5), trained["expected"])
        assert Path(loaded.rules).parent == copy_of
        # the edit would have mattered: the edited file proposes other items
        edited = RulesEngine(str(original)).fit(trained["train"], trained["truth"], trained["catalog"])
        kept = loaded.candidates_.sources_["rules"]
        assert not edited.suggest(trained["test"], 5).equals(kept.suggest(trained["test"], 5))
    finally:
        original.write_text(before, encoding="utf-8")


def test_a_saved_hybrid_loads_as_a_hybrid(trained, tmp_path):
    """The hybrid trains as the ranker does; loaded, it must still drop blocked items."""
    engine = trained["engine"]
    hybrid = HybridEngine(**engine.get_params())
    hybrid.__dict__.update({k: v for k, v in vars(engine).items() if k.endswith("_")})
    test = trained["test"]
    folder = hybrid.save(tmp_path / "hybrid", trained["train"], trained["truth"], trained["catalog"])
    loaded = load_model(folder)
    assert isinstance(loaded, HybridEngine) and loaded.name == "hybrid"
    out = loaded.suggest(test, 5)
    pd.testing.assert_frame_equal(out, hybrid.suggest(test, 5))
    rules = RulesEngine(str(PHONE)).fit(trained["train"], trained["truth"], trained["catalog"])
    blocked = rules.blocked(test)
    assert len(blocked)
    clash = out.assign(item_id=out["item_id"].astype(str)).merge(blocked, on=["request_id", "item_id"])
    assert clash.empty
    assert np.isin(out["engine"].astype(str), ["hybrid"]).all()


def test_an_unknown_engine_in_the_manifest_fails_clearly(copy_of):
    edit_manifest(copy_of, lambda m: m.update(engine="mystery"))
    with pytest.raises(SuggestError, match=r"mystery"):
        load_model(copy_of)


def test_a_model_of_a_log_without_time_round_trips(trained, tmp_path):
    """Without time the statistics are out-of-fold counts: the folder stores those, and the
    loaded model serves every request, batch and one context, as the trained one did."""
    untimed = {name: trained[name].drop(columns=["timestamp", "timezone"])
               for name in ("train", "test")}
    engine = RankerEngine(**FAST).fit(untimed["train"], trained["truth"], trained["catalog"])
    folder = engine.save(tmp_path / "untimed", untimed["train"], trained["truth"], trained["catalog"])
    loaded = load_model(folder)
    assert type(loaded.features_.counts_.counter).__name__ == "FoldCounts"
    expected = engine.suggest(untimed["test"], 5)
    pd.testing.assert_frame_equal(loaded.suggest(untimed["test"], 5), expected)
    first = untimed["test"].iloc[0].to_dict()
    context = {k: v for k, v in first.items() if v == v and k not in ("hour", "minute", "weekday",
                                                                      "is_weekend", "day", "month")}
    one = loaded.suggest_one(context, 5)
    assert one["item_id"].astype(str).tolist() == \
        expected[expected["request_id"] == first["request_id"]]["item_id"].astype(str).tolist()


def test_a_categorical_context_of_whole_numbers_keeps_its_kind(trained, tmp_path):
    """Categories that are numbers (from Python, not the loader): the loaded model still reads
    the column as a category, in its context-popular slices and in one context's keys."""
    def coded(frame):
        codes = {v: i for i, v in enumerate(sorted(frame["location"].dropna().unique()))}
        return frame.assign(location=pd.Categorical(frame["location"].map(codes)))

    train, test = coded(trained["train"]), coded(trained["test"])
    engine = RankerEngine(**FAST).fit(train, trained["truth"], trained["catalog"])
    loaded = load_model(engine.save(tmp_path / "coded", train, trained["truth"], trained["catalog"]))
    assert loaded.context_columns_ == engine.context_columns_
    assert loaded.context_columns_["location"] == "categorical"
    assert "location" in loaded.candidates_.sources_["context"].columns_
    pd.testing.assert_frame_equal(loaded.suggest(test, 5), engine.suggest(test, 5))


def test_a_state_this_version_does_not_read_fails_clearly(copy_of):
    """A folder of the same format written by a build that stored less (its checksums
    consistent): a clear refusal naming what is missing, not a KeyError."""
    from suggest.ranker.artifact import _sha256

    path = copy_of / "state.json"
    state = json.loads(path.read_text(encoding="utf-8"))
    del state["columns"]
    path.write_text(json.dumps(state), encoding="utf-8")
    edit_manifest(copy_of, lambda m: m["files"].update({"state.json": _sha256(path)}))
    with pytest.raises(SuggestError, match=r"state\.json or statistics/ lack 'columns'") as err:
        load_model(copy_of)
    assert "retrain" in str(err.value)


def test_loading_reads_the_statistics_without_counting_the_log_again(trained, monkeypatch):
    """Loading costs what reading the stored statistics costs: neither the features' nor the
    candidates' fitting runs, and the suggestions are the trained model's."""
    from suggest.ranker.candidates import Candidates
    from suggest.ranker.features import Features

    def refuse(*args, **kwargs):
        raise AssertionError("loading counted the training log again")

    for cls, name in ((Features, "fit"), (Candidates, "fit"), (RankerEngine, "prepare")):
        monkeypatch.setattr(cls, name, refuse)
    loaded = load_model(trained["folder"])
    pd.testing.assert_frame_equal(loaded.suggest(trained["test"], 5), trained["expected"])


def test_a_catalog_attribute_of_python_numbers_keeps_its_codes(trained, tmp_path):
    """A text attribute whose cells are numbers (a catalog built in Python): the features
    read them as text ('1'), so the folder stores them as text; read back as numbers
    ('1.0') every item's code would be unseen."""
    catalog = trained["catalog"].copy()
    tiers = [1, 2, None]
    catalog["tier"] = pd.Series([tiers[i % 3] for i in range(len(catalog))], dtype=object)
    engine = RankerEngine(**FAST).fit(trained["train"], trained["truth"], catalog)
    loaded = load_model(engine.save(tmp_path / "tiers", trained["train"], trained["truth"], catalog))
    assert engine.features_.attributes_["tier"] == ("categorical", ["1", "2"])
    np.testing.assert_array_equal(loaded.features_.attribute_table_["tier"],
                                  engine.features_.attribute_table_["tier"])
    test = trained["test"]
    cand = engine.candidates_.generate(test)
    pd.testing.assert_frame_equal(loaded.features_.build(test, cand), engine.features_.build(test, cand))


def test_save_never_replaces_a_folder_of_work_nor_records_other_frames_than_fit_saw(
        trained, tmp_path):
    """save() replaces its folder whole: a folder of other files is refused (a notebook's
    folder named by mistake was emptied). The folder records the requests given as the
    model's training data, which replay's leakage check trusts: frames other than those
    fitted on are refused (a model fitted on every request, saved with the training part,
    replayed with an inflated score)."""
    engine, train, truth = trained["engine"], trained["train"], trained["truth"]
    work = tmp_path / "analysis"
    work.mkdir()
    (work / "results.csv").write_text("a,b\n1,2\n")
    with pytest.raises(SuggestError, match="is not a model folder"):
        engine.save(work, train, truth, trained["catalog"])
    assert (work / "results.csv").exists()
    fewer = train.iloc[:-10]
    with pytest.raises(SuggestError, match="not those the ranker was fitted on"):
        engine.save(tmp_path / "m", fewer, truth[truth["request_id"].isin(fewer["request_id"])],
                    trained["catalog"])
    assert not (tmp_path / "m").exists()
    again = engine.save(tmp_path / "m", train, truth, trained["catalog"])  # the same frames: fine
    assert engine.save(again, train, truth, trained["catalog"]) == again  # a model folder: replaced
