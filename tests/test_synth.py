"""The synthetic world: files, determinism, time zones and the preferences it was told to have."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from suggest.errors import SuggestError
from suggest.synth import ITEMS, PRESETS, WorldConfig, generate, make_world, preset_config

FILES = ("log.csv", "catalog.csv", "dataset.yaml", "truth_model.json")
HEADER = ("request_id,user,timestamp,tz,location,activity,headphones,battery,weather,network,"
          "minutes_to_next_event,item")


def read_log(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "log.csv", dtype=str, keep_default_na=False)


def requests(log: pd.DataFrame) -> pd.DataFrame:
    return log.drop_duplicates("request_id")


def engaged(log: pd.DataFrame) -> pd.DataFrame:
    return log[log["item"] != ""]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """Four weeks from 2026-03-02: crosses the US (03-08) and EU (03-29) DST changes."""
    out = tmp_path_factory.mktemp("world")
    generate(WorldConfig(users=60, days=28, seed=3), out)
    return out


@pytest.fixture(scope="module")
def log(world) -> pd.DataFrame:
    return read_log(world)


def test_same_config_gives_byte_identical_files_whatever_the_chunking(tmp_path):
    config = WorldConfig(users=15, days=9, seed=5, drift_days=3)
    first = generate(config, tmp_path / "a")
    second = generate(config, tmp_path / "b", chunk_users=2)
    assert first["requests"] == second["requests"] > 0
    for name in FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_different_seed_gives_different_log(tmp_path):
    generate(WorldConfig(users=10, days=5, seed=1), tmp_path / "a")
    generate(WorldConfig(users=10, days=5, seed=2), tmp_path / "b")
    assert (tmp_path / "a" / "log.csv").read_bytes() != (tmp_path / "b" / "log.csv").read_bytes()


def test_summary_matches_the_files(tmp_path):
    summary = generate(WorldConfig(users=12, days=7), tmp_path)
    log = read_log(tmp_path)
    assert summary["rows"] == len(log)
    assert summary["requests"] == log["request_id"].nunique()
    assert summary["engaged_share"] == pytest.approx(engaged(log)["request_id"].nunique() / summary["requests"])
    assert summary["users"] == 12 and summary["items"] == len(pd.read_csv(tmp_path / "catalog.csv"))
    assert set(summary["paths"]) == {"log", "catalog", "dataset", "truth"}


def test_log_header_fields_and_types(world, log):
    assert (world / "log.csv").read_text().splitlines()[0] == HEADER
    req = requests(log)
    assert req["request_id"].str.fullmatch(r"r\d{7}").all()
    assert req["user"].str.fullmatch(r"u\d{4}").all()
    assert set(req["location"]) == {"home", "work", "commute", "gym", "other"}
    assert set(req["activity"]) == {"still", "walking", "running", "driving", "in_vehicle"}
    assert set(req["headphones"]) == {"true", "false"}
    assert set(req["weather"]) <= {"sunny", "cloudy", "rain", "snow"}
    assert set(req["network"]) == {"wifi", "cellular", "offline"}
    battery = req["battery"].astype(int)
    assert battery.between(1, 100).all() and battery.nunique() > 50
    minutes = req.loc[req["minutes_to_next_event"] != "", "minutes_to_next_event"]
    assert minutes.str.fullmatch(r"\d+").all()
    # a plain pandas read gets the intended types
    dtypes = pd.read_csv(world / "log.csv").dtypes
    assert dtypes["battery"] == "int64" and dtypes["minutes_to_next_event"] == "float64"
    assert dtypes["headphones"] == "bool"
    # every context field is filled; only minutes and item may be empty
    context = log.drop(columns=["minutes_to_next_event", "item"])
    assert (context != "").all().all()
    # about six requests per user per day (Poisson mean)
    assert len(req) / (60 * 28) == pytest.approx(6.0, rel=0.05)


def test_rows_sorted_and_one_context_per_request(log):
    keys = list(zip(log["request_id"], log["item"]))
    assert keys == sorted(keys)
    ids = log["request_id"].unique()
    assert list(ids) == [f"r{k:07d}" for k in range(1, len(ids) + 1)]
    # numbered user by user, each user's requests in time order
    first_seen = log.drop_duplicates("user")["user"]
    assert list(first_seen) == sorted(first_seen)
    instants = pd.to_datetime(requests(log)["timestamp"], utc=True, format="ISO8601")
    assert instants.groupby(requests(log)["user"]).is_monotonic_increasing.all()
    per_request = log.groupby("request_id")
    assert per_request.size().max() == 2
    assert (per_request.nunique().drop(columns="item") == 1).all().all()
    # a request with no engagement has exactly one row, with an empty item
    two = per_request.filter(lambda g: len(g) == 2)
    assert (two["item"] != "").all()
    share_two = (per_request.size() == 2).sum() / engaged(log)["request_id"].nunique()
    assert 0.05 < share_two < 0.15


def test_minutes_to_next_event_missing_in_a_plausible_share(log):
    missing = (requests(log)["minutes_to_next_event"] == "").mean()
    assert 0.3 < missing < 0.5


def test_meetings_about_to_start_at_work_bring_meeting_join(log):
    at_work = engaged(log)[lambda d: d["location"] == "work"]
    minutes = pd.to_numeric(at_work["minutes_to_next_event"], errors="coerce")
    soon = (at_work.loc[minutes < 15, "item"] == "meeting_join").mean()
    none = (at_work.loc[minutes.isna(), "item"] == "meeting_join").mean()
    assert soon > 0.12 and soon > 10 * none


def test_timestamps_carry_the_users_zone_offset_across_dst(log):
    assert (log.groupby("user")["tz"].nunique() == 1).all()
    assert {"America/New_York", "Europe/Berlin", "Asia/Seoul"} <= set(log["tz"])
    # independent check: UTC instant -> the row's zone via zoneinfo gives back the same text
    instants = pd.to_datetime(log["timestamp"], utc=True, format="ISO8601")
    for ts, tz, text in zip(instants, log["tz"], log["timestamp"]):
        local = ts.to_pydatetime().astimezone(zoneinfo.ZoneInfo(tz))
        offset = local.strftime("%z")
        assert text == local.strftime("%Y-%m-%dT%H:%M:%S") + offset[:3] + ":" + offset[3:]
    date, offset = log["timestamp"].str[:10], log["timestamp"].str[-6:]
    ny = log["tz"] == "America/New_York"
    assert set(offset[ny & (date < "2026-03-08")]) == {"-05:00"}
    assert set(offset[ny & (date > "2026-03-08")]) == {"-04:00"}
    berlin = log["tz"] == "Europe/Berlin"
    assert set(offset[berlin & (date < "2026-03-29")]) == {"+01:00"}
    assert set(offset[berlin & (log["timestamp"] >= "2026-03-29T03")]) == {"+02:00"}
    assert set(offset[log["tz"] == "Asia/Seoul"]) == {"+09:00"}


def test_local_times_follow_a_day_shape(log):
    req = requests(log)
    hour = req["timestamp"].str[11:13].astype(int)
    # asleep 02:00-05:00, except London's 01:00-02:00 that the spring change turns into 02:00-03:00
    clock_change = (req["tz"] == "Europe/London") & req["timestamp"].str.startswith("2026-03-29T02")
    assert not hour[~clock_change].between(2, 4).any() and clock_change.any()
    assert (hour[req["location"] == "work"].between(7, 19)).all()
    assert hour[req["location"] == "commute"].between(6, 10).mean() > 0.4


def test_video_and_games_never_engaged_while_driving(tmp_path, log):
    blocked = {"video_streaming", "short_videos", "puzzle_game", "action_game"}
    driving = engaged(log)[lambda d: d["activity"] == "driving"]
    assert len(driving) > 200
    assert not driving["item"].isin(blocked).any()
    assert engaged(log)["item"].isin(blocked).mean() > 0.05  # they are popular elsewhere
    # a hard constraint: it holds even with no context effects and a noisy choice
    generate(WorldConfig(users=60, days=7, context_weight=0, temperature=5), tmp_path)
    noisy = engaged(read_log(tmp_path))[lambda d: d["activity"] == "driving"]
    assert len(noisy) > 50 and not noisy["item"].isin(blocked).any()


def test_gym_with_headphones_favours_music_workout(log):
    gym = engaged(log)[lambda d: d["location"] == "gym"]
    with_phones, without = gym[gym["headphones"] == "true"], gym[gym["headphones"] == "false"]
    assert len(with_phones) > 50 and len(without) > 20
    assert (with_phones["item"] == "music_workout").mean() > 3 * (without["item"] == "music_workout").mean()
    assert (without["item"] == "workout_tracker").mean() > 2 * (with_phones["item"] == "workout_tracker").mean()


def slice_share(log: pd.DataFrame) -> float:
    """Share of engagements that are the top item of their (location, 3-hour bucket) slice."""
    e = engaged(log).assign(bucket=lambda d: d["timestamp"].str[11:13].astype(int) // 3)
    top = e.groupby(["location", "bucket"])["item"].agg(lambda s: s.value_counts().iloc[0])
    return top.sum() / len(e)


def test_context_preset_makes_context_matter_more_than_personal(tmp_path):
    generate(preset_config("context", users=40, days=14), tmp_path / "context")
    generate(preset_config("personal", users=40, days=14), tmp_path / "personal")
    assert slice_share(read_log(tmp_path / "context")) > slice_share(read_log(tmp_path / "personal")) + 0.07


def test_drift_changes_late_item_shares_of_drifted_users(tmp_path):
    generate(preset_config("drift", users=40, days=28, drift_days=14), tmp_path)
    truth = json.loads((tmp_path / "truth_model.json").read_text())
    drifted = set(truth["drift"]["users"])
    assert 10 < len(drifted) < 30 and truth["drift"]["from_date"] == "2026-03-16"
    e = engaged(read_log(tmp_path)).assign(late=lambda d: d["timestamp"].str[:10] >= "2026-03-16")

    def change(g: pd.DataFrame) -> float:  # total variation between early and late item shares
        early, late = (g.loc[g["late"] == w, "item"].value_counts(normalize=True) for w in (False, True))
        return 0.5 * early.sub(late, fill_value=0).abs().sum()

    tv = e.groupby("user")[["item", "late"]].apply(change)
    assert tv[tv.index.isin(drifted)].mean() > tv[~tv.index.isin(drifted)].mean() + 0.2
    # and the late choices of drifted users follow their new tastes, not the old ones
    late = e[e["late"] & e["user"].isin(drifted)]
    new = np.mean([truth["users"][u]["taste_after_drift"][i] for u, i in zip(late["user"], late["item"])])
    old = np.mean([truth["users"][u]["taste"][i] for u, i in zip(late["user"], late["item"])])
    assert new > old + 0.5


def test_no_drift_by_default(world):
    truth = json.loads((world / "truth_model.json").read_text())
    assert truth["drift"]["users"] == [] and truth["drift"]["from_date"] is None


def test_no_engagement_share_rises_with_the_rate(tmp_path):
    shares = []
    for rate in (0.0, 0.1, 0.4, 0.7, 1.0):
        summary = generate(WorldConfig(users=20, days=7, no_engagement_rate=rate), tmp_path / str(rate))
        shares.append(1 - summary["engaged_share"])
    assert shares[0] == 0.0 and shares[-1] == 1.0
    assert shares == sorted(shares) and len(set(shares)) == len(shares)
    for rate, share in zip((0.1, 0.4, 0.7), shares[1:4]):
        assert share == pytest.approx(rate, abs=0.08)


def test_driving_abstains_more_than_idle_evenings_at_home(log):
    req = requests(log).assign(none=lambda d: d["item"] == "")
    hour = req["timestamp"].str[11:13].astype(int)
    idle = req[(req["location"] == "home") & (req["activity"] == "still") & hour.between(18, 22)]
    assert req.loc[req["activity"] == "driving", "none"].mean() > idle["none"].mean() + 0.2


def test_truth_model_lists_every_catalog_item_and_user(world, log):
    truth = json.loads((world / "truth_model.json").read_text())
    catalog = pd.read_csv(world / "catalog.csv")
    assert list(catalog.columns) == ["item", "category"]
    assert 30 <= len(catalog) <= 40 and catalog["item"].is_unique
    assert {i: v["category"] for i, v in truth["items"].items()} == dict(zip(catalog["item"], catalog["category"]))
    assert set(engaged(log)["item"]) <= set(catalog["item"])
    assert set(log["user"]) <= set(truth["users"]) and len(truth["users"]) == 60
    user = truth["users"]["u0001"]
    assert set(user["taste"]) == set(catalog["item"])
    assert 1 <= len(user["habits"]) <= 3 and all(h["item"] in user["taste"] for h in user["habits"])
    assert truth["shared_context_effects"]["activity == driving"]["navigation"] > 0
    unset = {k: v for k, v in WorldConfig().__dict__.items() if k != "extra_items"}  # written when set
    assert truth["config"] == {**unset, "users": 60, "seed": 3}


def test_dataset_yaml_describes_the_log(world):
    text = (world / "dataset.yaml").read_text()
    assert text.startswith("# Generated by suggest.synth")
    assert yaml.safe_load(text) == {
        "name": "synth-phone", "log": "log.csv", "separator": ",", "timezone": "UTC",
        "columns": {"request": "request_id", "user": "user", "item": "item", "time": "timestamp",
                    "timezone": "tz"},
        "context": {"location": "categorical", "activity": "categorical", "headphones": "boolean",
                    "battery": "numeric", "weather": "categorical", "network": "categorical",
                    "minutes_to_next_event": "numeric"},
        "catalog": {"path": "catalog.csv", "item": "item", "attributes": {"category": "categorical"}},
    }


@pytest.mark.parametrize("bad", [{"users": 0}, {"days": 0}, {"no_engagement_rate": 1.5},
                                 {"temperature": 0}, {"drift_days": 40}, {"start": "March"},
                                 {"extra_items": -1}, {"extra_items": 2.5}])
def test_bad_config_is_refused_with_a_hint(tmp_path, bad):
    field = next(iter(bad))
    with pytest.raises(SuggestError, match=field) as info:
        generate(WorldConfig(**bad), tmp_path)
    assert info.value.hint
    assert not (tmp_path / "log.csv").exists()


def test_presets_and_unknown_names():
    assert set(PRESETS) == {"default", "context", "personal", "drift", "sparse"}
    assert preset_config("drift").drift_days == 21
    assert preset_config("sparse", users=3).users == 3
    with pytest.raises(SuggestError, match="did you mean 'context'"):
        preset_config("contxt")
    with pytest.raises(SuggestError, match="did you mean 'users'"):
        preset_config("default", user=3)


def test_make_world_is_deterministic_and_seeded():
    a, b, c = make_world(WorldConfig(seed=1)), make_world(WorldConfig(seed=1)), make_world(WorldConfig(seed=2))
    assert np.array_equal(a.taste, b.taste) and not np.array_equal(a.taste, c.taste)
    assert a.taste.shape == (200, a.popularity.size)


def test_zero_requests_is_an_error_and_writes_nothing(tmp_path):
    with pytest.raises(SuggestError, match="no requests"):
        generate(WorldConfig(users=3, days=2, requests_per_day=0), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_real_log_in_the_output_folder_is_never_overwritten(tmp_path):
    (tmp_path / "log.csv").write_text("user,item\nu1,a\n")
    with pytest.raises(SuggestError, match="did not generate"):
        generate(WorldConfig(users=3, days=2), tmp_path)
    assert (tmp_path / "log.csv").read_text() == "user,item\nu1,a\n"
    generate(WorldConfig(users=3, days=2), tmp_path / "w")
    generate(WorldConfig(users=3, days=2, seed=5), tmp_path / "w")  # its own world: replaced


def test_progress_bar_stays_out_of_captured_output(tmp_path, capsys):
    """With stderr not a terminal (CI, a log file), no progress bar clutters the output."""
    generate(WorldConfig(users=4, days=2), tmp_path, progress=True, chunk_users=2)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_an_interrupted_run_leaves_no_half_written_world(tmp_path, monkeypatch):
    import suggest.synth as synth

    generate(WorldConfig(users=3, days=2, seed=1), tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def stop(world):
        raise KeyboardInterrupt

    monkeypatch.setattr(synth, "truth_of", stop)
    with pytest.raises(KeyboardInterrupt):
        generate(WorldConfig(users=30, days=5, seed=2), tmp_path)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if not p.name.endswith(".partial")}
    assert after == before


def test_start_date_is_local_and_respected(tmp_path):
    generate(WorldConfig(users=5, days=3, start="2026-07-04"), tmp_path)
    dates = set(read_log(tmp_path)["timestamp"].str[:10])
    assert dates <= {str(dt.date(2026, 7, 4) + dt.timedelta(days=d)) for d in range(3)}
    assert min(dates) == "2026-07-04"


def test_extra_items_lengthen_the_catalog_and_get_engaged(tmp_path):
    summary = generate(preset_config("default", users=40, days=7, seed=1, extra_items=25),
                             tmp_path)
    catalog = pd.read_csv(tmp_path / "catalog.csv")
    assert summary["items"] == len(catalog) == len(ITEMS) + 25
    tail = catalog[catalog["item"].str.startswith("app_")]
    assert len(tail) == 25 and set(tail["category"]) == {"Apps"}
    engaged = pd.read_csv(tmp_path / "log.csv")["item"].dropna()
    share = engaged.str.startswith("app_").mean()
    assert 0.02 < share < 0.4, share  # chosen at times, less than their number alone would give
    truth = json.loads((tmp_path / "truth_model.json").read_text())
    assert len(truth["items"]) == len(catalog) and truth["config"]["extra_items"] == 25
