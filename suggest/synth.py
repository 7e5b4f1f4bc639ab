"""A synthetic phone-assistant world whose true preferences are known.

Users with a time zone, a weekly schedule, tastes and habits make requests
through their local day (home, commute, work, lunch, gym, outings). Each request
has a context (location, activity, headphones, battery, weather, network,
minutes to the next calendar event) and the user engages with the item of
highest utility::

    utility = popularity + context_weight * shared context effects
              + personal_weight * taste + habit_weight * habits
              + interaction_weight * interactions
    engaged = argmax(utility / temperature + Gumbel noise)

Every term is written to ``truth_model.json``, so "the learned ranker beats
the hand-written rules" can be checked against the truth. Some facts hold
whatever the weights: video and games are never engaged while driving, and
streaming items never offline.

Randomness is a hash of (seed, stream, user, day, slot, item), not a
sequential generator: a user's requests do not depend on the chunk that made
them, so files are byte-identical for a config whatever the chunking, and
memory stays bounded for millions of requests.

Knobs (fields of :class:`WorldConfig`)
--------------------------------------
users : int, default 200
    Number of users, ``u0001``, ``u0002``, ... (at least 1).
days : int, default 28
    Local calendar days simulated (at least 1).
seed : int, default 0
    Seed of everything random (>= 0).
start : str, default "2026-03-02"
    First local date, ISO format. The default 28 days cross the US DST change
    (2026-03-08) and the EU one (2026-03-29).
requests_per_day : float, default 6.0
    Mean requests per user per day (Poisson), 0 to 1000.
context_weight : float, default 1.0
    Strength of shared context effects: what a product person writes as
    rules (weekday commute mornings -> news_briefing).
personal_weight : float, default 1.0
    Strength of per-user tastes (a standard normal value per item), which
    only history can learn.
habit_weight : float, default 1.0
    Strength of each user's 1-3 habits: an item in a location and a 2-3 hour
    window ("puzzle_game at home 21:00-23:00"), bonus ``3 * habit_weight``.
interaction_weight : float, default 1.0
    Strength of conjunctions (gym AND headphones -> music_workout).
no_engagement_rate : float, default 0.25
    Base share of requests with nothing engaged, 0 to 1; its log-odds rise
    while driving, offline or at work and fall at idle home evenings.
drift_days : int, default 0
    If > 0, about half the users take a new taste vector for their requests
    in the last ``drift_days`` days (at most ``days``).
temperature : float, default 1.0
    Softmax temperature of the item choice (> 0); higher is noisier.
extra_items : int, default 0
    Long-tail items added to the 33 named ones, ``app_0001``, ``app_0002``,
    ... in category ``Apps``, 0 to 10000: base popularity around -1.5, no
    context effect, a taste per user like every item. They make a longer
    catalog (more candidates per request) without changing the named items'
    effects; the draws of a world with them differ from one without.

Examples
--------
>>> from suggest.synth import WorldConfig, generate, preset_config
>>> summary = generate(preset_config("context", users=20, days=7), "out/synth")  # doctest: +SKIP
>>> summary["users"], sorted(summary["paths"])  # doctest: +SKIP
(20, ['catalog', 'dataset', 'log', 'truth'])
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import numbers
import os
import re

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from suggest.errors import SuggestError, did_you_mean, one_of
from suggest.hashing import mix64


@dataclass(frozen=True)
class WorldConfig:
    """Knobs of a synthetic world; each is described in the module docstring."""

    users: int = 200
    days: int = 28
    seed: int = 0
    start: str = "2026-03-02"
    requests_per_day: float = 6.0
    context_weight: float = 1.0
    personal_weight: float = 1.0
    habit_weight: float = 1.0
    interaction_weight: float = 1.0
    no_engagement_rate: float = 0.25
    drift_days: int = 0
    temperature: float = 1.0
    extra_items: int = 0


PRESETS: dict[str, dict[str, object]] = {
    "default": {},
    "context": {"context_weight": 2.0, "interaction_weight": 1.5, "personal_weight": 0.3, "habit_weight": 0.3},
    "personal": {"context_weight": 0.3, "interaction_weight": 0.3, "personal_weight": 2.0, "habit_weight": 2.0},
    "drift": {"days": 42, "drift_days": 21, "personal_weight": 1.5},  # three stable weeks, then three drifted
    "sparse": {"no_engagement_rate": 0.6, "requests_per_day": 4.0},
}

CATALOG: dict[str, dict[str, float]] = {  # category -> item -> base popularity
    "News": {"news_briefing": 0.4, "news_headlines": 0.2, "local_news": -0.3},
    "Podcasts": {"podcast_news": 0.0, "podcast_comedy": -0.2, "podcast_learning": -0.3},
    "Music": {"music_focus": 0.0, "music_chill": 0.3, "music_workout": -0.5, "music_party": -0.6,
              "music_discover": 0.1},
    "Navigation": {"navigation": -0.2, "traffic_report": -0.6},
    "Productivity": {"calendar_agenda": 0.0, "meeting_join": -1.5, "email": 0.4, "notes": -0.3},
    "Fitness": {"workout_tracker": -0.8, "running_coach": -1.5, "meditation": -0.6},
    "Messaging": {"messages": 0.8, "group_chat": 0.3},
    "Video": {"video_streaming": 0.2, "short_videos": 0.5},
    "Games": {"puzzle_game": -0.2, "action_game": -0.5},
    "Weather": {"weather_forecast": 0.0, "rain_alert": -1.5},
    "Food": {"food_delivery": -0.4, "coffee_order": -0.5, "recipes": -0.7},
    "Sleep": {"sleep_sounds": -0.8, "alarm_set": -0.5},
}
ITEMS = np.array([i for items in CATALOG.values() for i in items], dtype=object)
CATEGORIES = np.array([c for c, items in CATALOG.items() for _ in items], dtype=object)
ITEM_INDEX = {name: k for k, name in enumerate(ITEMS)}
TAIL_POPULARITY = -1.5  # base popularity of the long-tail items (``extra_items``)
VOCAB = {"location": ("home", "work", "commute", "gym", "other"),
         "activity": ("still", "walking", "running", "driving", "in_vehicle"),
         "weather": ("sunny", "cloudy", "rain", "snow"), "network": ("wifi", "cellular", "offline")}
HOME, WORK, COMMUTE, GYM, OTHER = range(5)
DRIVING = VOCAB["activity"].index("driving")
ZONES = ("America/New_York", "America/Los_Angeles", "Europe/Berlin", "Europe/London", "Asia/Seoul")
ZONE_SHARE = np.array([0.3, 0.2, 0.2, 0.15, 0.15])
WEATHER_P = np.array([[.35, .3, .25, .1], [.65, .2, .15, 0], [.25, .4, .25, .1], [.2, .4, .4, 0],
                      [.45, .3, .15, .1]])  # March skies, by zone
COMMUTE_MODES = ("car", "transit", "walk")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Activity by place: home, work, commute by car / transit / on foot, gym, other.
ACTIVITY_P = np.array([[.9, .1, 0, 0, 0], [.85, .15, 0, 0, 0], [.15, 0, 0, .85, 0], [.15, .25, 0, 0, .6],
                       [.15, .85, 0, 0, 0], [.35, .2, .45, 0, 0], [.4, .45, 0, .05, .1]])
HEADPHONES_P = np.array([0.12, 0.25, 0.7, 0.7, 0.35])  # by location, times the user's propensity
NETWORK_P = np.array([[.95, .04, .01], [.8, .19, .01], [0, .93, .07], [.4, .58, .02], [.15, .83, .02]])
# Parts of a local day: location, weight on a working day, weight on a free day (windows: _day_windows).
DAY_PARTS = {"morning": (HOME, 1.0, 1.5), "commute_out": (COMMUTE, 1.2, 0), "work": (WORK, 2.5, 0),
             "lunch": (OTHER, 0.6, 0.6), "commute_back": (COMMUTE, 1.0, 0), "evening": (HOME, 2.0, 2.0),
             "late": (HOME, 0.8, 1.0), "gym": (GYM, 1.5, 1.5), "outing": (OTHER, 0, 1.8),
             "night_out": (OTHER, 0.3, 0.8)}
PART_LOCATION = np.array([loc for loc, _, _ in DAY_PARTS.values()])
HABIT_BONUS = 3.0
SECOND_ITEM_SHARE = 0.10


@dataclass(frozen=True)
class Condition:
    """A conjunction over the context, printed the way a rule writer would write it.

    Terms: a context field equal to a word (``location="gym"``), ``<field>_not``,
    ``headphones`` / ``weekend`` booleans, ``<field>_below`` (a missing value is
    never below), ``time=("22:00", "02:00")`` (half-open, crosses midnight).
    """

    terms: tuple[tuple[str, object], ...]

    def __str__(self) -> str:
        return " and ".join(_describe(k, v) for k, v in self.terms)

    def test(self, c: dict[str, np.ndarray]) -> np.ndarray:
        mask = np.ones(len(c["location"]), bool)
        for k, v in self.terms:
            if k == "time":
                start, end = (int(t[:2]) + int(t[3:]) / 60 for t in v)
                inside = (c["clock"] >= start, c["clock"] < end)
                mask &= (inside[0] & inside[1]) if end > start else (inside[0] | inside[1])
            elif k.endswith("_below"):
                mask &= c[k[:-6]] < v
            elif k.endswith("_not"):
                mask &= c[k[:-4]] != VOCAB[k[:-4]].index(v)
            else:
                mask &= c[k] == (VOCAB[k].index(v) if k in VOCAB else v)
        return mask


def _describe(key: str, value: object) -> str:
    if key == "time":
        return f"{value[0]} <= time < {value[1]}"
    if key.endswith("_below"):
        return f"{key[:-6]} < {value}"
    if key.endswith("_not"):
        return f"{key[:-4]} != {value}"
    if key == "weekend":
        return "weekend" if value else "weekday"
    if isinstance(value, bool):
        return key if value else f"not {key}"
    return f"{key} == {value}"


def when(**terms: object) -> Condition:
    """A :class:`Condition` from keyword terms, in the order given."""
    return Condition(tuple(terms.items()))


SHARED_EFFECTS: tuple[tuple[Condition, dict[str, float]], ...] = (
    (when(weekend=False, location="commute", time=("06:30", "09:30")),
     {"news_briefing": 2.0, "news_headlines": 1.0, "podcast_news": 1.5, "podcast_comedy": 1.0,
      "podcast_learning": 1.0, "traffic_report": 1.5}),
    (when(activity="driving"), {"navigation": 2.5, "traffic_report": 1.5, "music_chill": 0.5,
                                "music_discover": 0.5, "podcast_news": 0.8, "messages": -1.5, "email": -2.0}),
    (when(location="home", time=("22:00", "02:00")), {"sleep_sounds": 2.5, "alarm_set": 2.0, "meditation": 0.8}),
    (when(location="work", minutes_to_next_event_below=15), {"meeting_join": 4.5, "calendar_agenda": 1.5}),
    (when(location="work"), {"email": 1.2, "notes": 0.6, "music_focus": 1.0, "calendar_agenda": 0.5}),
    (when(weather="rain"), {"rain_alert": 2.5, "weather_forecast": 1.0}),
    (when(weather="snow"), {"weather_forecast": 1.5, "traffic_report": 0.5}),
    (when(location="home", time=("18:00", "22:00")),
     {"food_delivery": 1.5, "video_streaming": 1.5, "short_videos": 0.5, "recipes": 0.5}),
    (when(weekend=True, time=("08:00", "12:00")), {"recipes": 1.5, "coffee_order": 1.5, "news_headlines": 0.5}),
    (when(weekend=False, location="home", time=("06:00", "09:30")),
     {"weather_forecast": 1.0, "news_briefing": 1.0, "calendar_agenda": 1.0}),
    (when(location="other", time=("11:30", "13:30")), {"coffee_order": 1.0, "short_videos": 0.8, "messages": 0.5}),
    (when(location="gym"), {"workout_tracker": 1.0, "music_workout": 0.5}),
    (when(battery_below=20), {"video_streaming": -1.5, "action_game": -1.5, "short_videos": -0.8}),
    (when(location="other", activity="walking"), {"navigation": 1.0, "coffee_order": 0.5}),
)
INTERACTIONS: tuple[tuple[Condition, dict[str, float]], ...] = (
    (when(location="gym", headphones=True), {"music_workout": 3.0}),
    (when(location="gym", headphones=False), {"workout_tracker": 2.0}),
    (when(activity="running", headphones=True), {"running_coach": 3.0}),
    (when(location="commute", headphones=True, activity_not="driving"),
     {"podcast_comedy": 1.5, "podcast_learning": 1.5, "music_discover": 1.0}),
    (when(weekend=True, location="other", time=("19:00", "24:00")), {"music_party": 2.5, "group_chat": 1.0}),
    (when(weather="rain", location="commute"), {"traffic_report": 1.5, "navigation": 1.0}),
)
# Hard constraints (utility -inf), independent of every weight: the world's physics.
CONSTRAINTS: tuple[tuple[Condition, tuple[str, ...]], ...] = (
    (when(activity="driving"), tuple(ITEMS[np.isin(CATEGORIES, ["Video", "Games"])])),
    (when(network="offline"), tuple(ITEMS[np.isin(CATEGORIES, ["News", "Podcasts", "Music", "Video"])])
     + ("meeting_join", "traffic_report")),
)
NO_ENGAGEMENT_SHIFTS: tuple[tuple[Condition, float], ...] = (  # added to the log-odds of no engagement
    (when(activity="driving"), 1.2), (when(network="offline"), 0.8), (when(location="work"), 0.3),
    (when(location="home", activity="still", time=("18:00", "23:00")), -0.8),
)


# --- counter-based randomness -------------------------------------------------------------

class Rng:
    """Random numbers as a hash of (seed, stream name, keys), broadcast over the keys.

    A draw depends only on its keys (user, day, slot, item), never on how many
    draws came before, so chunks of users can be generated in any grouping.
    """

    def __init__(self, seed: int):
        self.seed = seed

    def uniform(self, stream: str, *keys: np.ndarray) -> np.ndarray:
        h = np.random.SeedSequence([self.seed, zlib.crc32(stream.encode())]).generate_state(1, np.uint64)
        for key in keys:
            h = mix64(h ^ (np.atleast_1d(key).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)))
        return ((h >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53  # in (0, 1)

    def normal(self, stream: str, *keys: np.ndarray) -> np.ndarray:
        u1, u2 = self.uniform(stream + "/r", *keys), self.uniform(stream + "/a", *keys)
        return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)  # Box-Muller


def _pick(u: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Index drawn with probability proportional to ``weights`` (last axis), given uniforms ``u``."""
    cum = np.cumsum(weights, axis=-1)
    return (u[..., None] >= (cum / cum[..., -1:])[..., :-1]).sum(axis=-1)


def _poisson(u: np.ndarray, lam: float) -> np.ndarray:
    """Poisson(lam) by inverting its CDF at uniforms ``u``."""
    if lam == 0:
        return np.zeros(u.shape, np.int64)
    k = np.arange(int(lam + 12 * math.sqrt(lam) + 20))
    cdf = np.cumsum(np.exp(-lam + k * math.log(lam) - np.array([math.lgamma(i + 1) for i in k])))
    return np.minimum(np.searchsorted(cdf, u, side="right"), len(cdf) - 1)


# --- the world ------------------------------------------------------------------------------

@dataclass
class World:
    """Users and items with their known parameters; arrays are indexed by user, then item."""

    config: WorldConfig
    items: np.ndarray
    categories: np.ndarray
    popularity: np.ndarray
    user_ids: np.ndarray
    users: dict[str, np.ndarray]
    taste: np.ndarray
    taste_after: np.ndarray
    drifted: np.ndarray
    habits: dict[str, np.ndarray]


def preset_config(name: str, **overrides: object) -> WorldConfig:
    """The config of preset ``name`` (a key of :data:`PRESETS`) with ``overrides`` applied.

    >>> preset_config("drift", users=10).drift_days
    21
    """
    if name not in PRESETS:
        raise SuggestError(f"unknown preset '{name}'", hint=did_you_mean(name, PRESETS) or f"use {one_of(PRESETS)}")
    fields = [f.name for f in dataclasses.fields(WorldConfig)]
    for key in overrides:
        if key not in fields:
            raise SuggestError(f"unknown world setting '{key}'",
                               hint=did_you_mean(key, fields) or f"use {one_of(fields)}")
    settings = {**PRESETS[name], **overrides}
    if "days" in overrides and "drift_days" not in overrides and settings.get("drift_days"):
        settings["drift_days"] = int(settings["days"]) // 2  # drift keeps its stable first half
    return WorldConfig(**settings)


#: The largest world the generator writes (its users' draws are held in memory: about 2 KB
#: a user; its log is written a chunk of users at a time, ~110 bytes a request).
MAX_USERS, MAX_REQUESTS = 2_000_000, 500_000_000


def check_config(config: WorldConfig) -> WorldConfig:
    """Refuse values the generator cannot honour; return the config with plain int/float values."""
    def bad(field: str, need: str) -> SuggestError:
        return SuggestError(f"{field}={getattr(config, field)!r} is not allowed", hint=f"{field} must be {need}")
    integers = {"users": (1, MAX_USERS), "days": (1, 36500), "seed": (0, 2**63 - 1),
                "extra_items": (0, 10_000)}
    for field, (low, high) in {**integers, "drift_days": (0, config.days)}.items():
        value = getattr(config, field)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not low <= value <= high:
            raise bad(field, f"an integer from {low} to {high}")
    reals = {"requests_per_day": (0, 1000), "no_engagement_rate": (0, 1), "temperature": (0, math.inf),
             **{f"{kind}_weight": (0, math.inf) for kind in ("context", "personal", "habit", "interaction")}}
    for field, (low, high) in reals.items():
        value = getattr(config, field)
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not low <= value <= high \
                or not math.isfinite(value) or (field == "temperature" and value == 0):
            raise bad(field, f"a number from {low} to {high}" if high < math.inf
                      else f"a finite number {'>' if field == 'temperature' else '>='} 0")
    try:
        dt.date.fromisoformat(config.start)
    except (TypeError, ValueError):
        raise bad("start", "an ISO date like '2026-03-02'") from None
    expected = config.users * config.days * config.requests_per_day
    if expected == 0:  # before any folder is made
        raise SuggestError("these settings generate no requests at all",
                           hint="raise --users, --days or --requests-per-day")
    if expected > MAX_REQUESTS:
        # a slip of the keyboard (extra zeros) should not run the machine out of memory
        raise SuggestError(f"{config.users:,} users x {config.days:,} days x "
                           f"{config.requests_per_day:g} requests a day would write about "
                           f"{expected:,.0f} requests (~{expected * 110 / 1e9:,.0f} GB of CSV)",
                           hint=f"at most {MAX_REQUESTS:,} requests: lower --users, --days or "
                                "--requests-per-day")
    # numpy scalars would print oddly in dataset.yaml and break json.dumps
    return dataclasses.replace(config, **{f: int(getattr(config, f)) for f in integers},
                               drift_days=int(config.drift_days), **{f: float(getattr(config, f)) for f in reals},
                               start=dt.date.fromisoformat(config.start).isoformat())


def make_world(config: WorldConfig) -> World:
    """Draw item popularity and every user's zone, schedule, tastes, habits and drift."""
    config = check_config(config)
    rng, n = Rng(config.seed), config.users
    names, categories, base = _catalog(config.extra_items)
    u, items = np.arange(n), np.arange(len(names))
    q = lambda name: rng.uniform(name, u)  # noqa: E731 - one uniform per user
    works = q("works") < 0.88
    start = 7.0 + 0.5 * np.floor(q("work_start") * 6)
    users = {
        "zone": _pick(q("zone"), ZONE_SHARE), "works": works, "works_saturday": works & (q("saturday") < 0.15),
        "work_start": start, "work_end": start + 8.0 + 0.5 * np.floor(q("work_len") * 3),
        "commute": 0.25 + 0.25 * np.floor(q("commute") * 4), "commute_mode": _pick(q("mode"), np.array([.5, .35, .15])),
        "gym_morning": q("gym_morning") < 0.35, "wake_free": 8.0 + 0.25 * np.floor(q("wake_free") * 6),
        "headphones": 0.5 + q("headphones"), "drain": 3.0 + 4.0 * q("drain"), "calendar": q("calendar") < 0.9,
    }
    gym_rate = np.array([0, 0, 0.3, 0.5])[np.floor(q("gym") * 4).astype(int)]
    users["gym_days"] = rng.uniform("gym_day", u[:, None], np.arange(7)[None]) < gym_rate[:, None]
    users["wake"] = users["work_start"] - users["commute"] - 1.0  # on working days
    users["gym_hour"] = np.where(users["gym_morning"], np.maximum(users["wake"] - 1.5, 5.0),
                                 users["work_end"] + users["commute"] + 0.5)
    return World(config=config, items=names, categories=categories,
                 popularity=base + 0.15 * rng.normal("popularity", items),
                 user_ids=_ids("u", np.arange(1, n + 1), 4), users=users,
                 taste=rng.normal("taste", u[:, None], items[None]),
                 taste_after=rng.normal("taste_after", u[:, None], items[None]),
                 drifted=(config.drift_days > 0) & (q("drift") < 0.5),
                 habits=_habits(rng, users, n, len(names)))


def _catalog(extra: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Item ids, categories and base popularity: the named items, then ``extra`` long-tail ones."""
    tail = _ids("app_", np.arange(1, extra + 1), 4)
    base = np.array([p for group in CATALOG.values() for p in group.values()])
    return (np.concatenate([ITEMS, tail]), np.concatenate([CATEGORIES, np.full(extra, "Apps", dtype=object)]),
            np.concatenate([base, np.full(extra, TAIL_POPULARITY)]))


def _habits(rng: Rng, users: dict[str, np.ndarray], n: int, n_items: int) -> dict[str, np.ndarray]:
    """1-3 habits a user: an item, a location the user goes to, a 2-3 hour window there."""
    u, h = np.arange(n)[:, None], np.arange(3)[None]
    draw = lambda name: rng.uniform(name, u, h)  # noqa: E731 - one uniform per habit slot
    works = users["works"].astype(float)
    where = np.stack([np.full(n, 3.0), 2 * works, works, users["gym_days"].any(1).astype(float), np.full(n, 1.5)], 1)
    location = _pick(draw("habit_location"), where[:, None, :])
    starts = np.stack([  # a start hour for each location; the habit's location picks one
        np.array([6, 7, 19, 20, 21, 22])[np.floor(draw("habit_home") * 6).astype(int)],
        np.floor(users["work_start"])[:, None] + np.floor(draw("habit_work") * 7),
        np.floor(users["work_start"] - users["commute"])[:, None] + 0 * h,
        np.floor(users["gym_hour"])[:, None] + 0 * h,
        np.array([12, 13, 17, 19])[np.floor(draw("habit_other") * 4).astype(int)],
    ])
    return {"item": np.floor(draw("habit_item") * n_items).astype(int), "location": location,
            "start": np.take_along_axis(starts, location[None], 0)[0].astype(int),
            "hours": 2 + np.floor(draw("habit_hours") * 2).astype(int),
            "active": h < 1 + np.floor(rng.uniform("habit_count", np.arange(n)) * 3)[:, None]}


def _ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    if not len(numbers):
        return np.empty(0, dtype=object)
    width = max(width, len(str(int(numbers.max()))))
    return np.char.add(prefix, np.char.zfill(numbers.astype("U"), width)).astype(object)


# --- requests and their context -------------------------------------------------------------

def user_days(world: World, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """User, day and Poisson request count of every user-day of users ``lo:hi``."""
    cfg = world.config
    user, day = np.repeat(np.arange(lo, hi), cfg.days), np.tile(np.arange(cfg.days), hi - lo)
    return user, day, _poisson(Rng(cfg.seed).uniform("count", user, day), cfg.requests_per_day)


def _day_windows(world: World, user: np.ndarray, working: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end hour of each part of the day (columns, in DAY_PARTS order) for each request."""
    p = {k: v[user] for k, v in world.users.items() if v.ndim == 1}
    leave, arrive, free_wake = p["work_start"] - p["commute"], p["work_end"] + p["commute"], p["wake_free"]
    at = lambda hours: np.full(len(user), float(hours))  # noqa: E731
    # "late" runs 22:00-01:45 (wrapped later) to stay clear of the 02:00 DST changes
    workday = [(p["wake"], leave), (leave, p["work_start"]), (p["work_start"], p["work_end"]), (at(12), at(13)),
               (p["work_end"], arrive), (arrive, at(22)), (at(22), at(25.75)), (p["gym_hour"], p["gym_hour"] + 1.25),
               (at(11), at(17.5)), (at(19), at(23.5))]
    free_day = [(free_wake, free_wake + 3), (at(0), at(1)), (at(0), at(1)), (at(12), at(14)), (at(0), at(1)),
                (at(17.5), at(22)), (at(22), at(25.75)), (at(10), at(11.25)), (at(11), at(17.5)), (at(19), at(23.5))]
    return tuple(np.where(working[:, None], np.stack([w[i] for w in workday], 1), np.stack([f[i] for f in free_day], 1))
                 for i in (0, 1))


def requests_of(world: World, lo: int, hi: int) -> dict[str, np.ndarray]:
    """Requests of users ``lo:hi`` with their context, in (user, day, local time) order."""
    cfg, rng, users = world.config, Rng(world.config.seed), world.users
    ud_user, ud_day, counts = user_days(world, lo, hi)
    user, day = np.repeat(ud_user, counts), np.repeat(ud_day, counts)
    slot = np.arange(len(user)) - np.repeat(np.cumsum(counts) - counts, counts)
    # (user, day, slot) names a request for every random draw about it
    key = (user.astype(np.uint64) << np.uint64(32)) | (day.astype(np.uint64) << np.uint64(16)) | slot.astype(np.uint64)
    weekday = (dt.date.fromisoformat(cfg.start).weekday() + day) % 7
    working = users["works"][user] & ((weekday < 5) | ((weekday == 5) & users["works_saturday"][user]))
    weights = np.array([[w, f] for _, w, f in DAY_PARTS.values()])
    weight = np.where(working[:, None], weights[:, 0], weights[:, 1])
    weight[:, list(DAY_PARTS).index("gym")] *= users["gym_days"][user, weekday]
    part = _pick(rng.uniform("day_part", key), weight)
    start, end = (w[np.arange(len(user)), part] for w in _day_windows(world, user, working))
    hours = start + rng.uniform("time", key) * (end - start)
    second = np.floor(hours * 3600).astype(np.int64) % 86400
    order = np.lexsort((key, second, day, user))
    r = {"user": user, "day": day, "key": key, "weekday": weekday, "working": working, "hours": hours,
         "second": second, "location": PART_LOCATION[part]}
    r = {k: v[order] for k, v in r.items()}
    r["weekend"] = r["weekday"] >= 5
    _localise(world, r)
    _context(world, rng, r)
    return r


def _localise(world: World, r: dict[str, np.ndarray]) -> None:
    """Add ISO 8601 local timestamps with the zone's UTC offset on that date (DST-aware).

    A time in a spring-forward gap (London 01:00-02:00) moves an hour later, as a
    phone's clock shows it; ``second`` and ``clock`` follow. A time that occurs
    twice (autumn) takes summer time.
    """
    local = np.datetime64(world.config.start, "s") + (r["day"] * 86400 + r["second"]).astype("timedelta64[s]")
    zone, out = world.users["zone"][r["user"]], np.empty(len(local), dtype=object)
    for z, name in enumerate(ZONES):
        mask = zone == z
        if not mask.any():
            continue
        aware = pd.DatetimeIndex(local[mask]).tz_localize(name, ambiguous=np.ones(mask.sum(), bool),
                                                          nonexistent=pd.Timedelta(hours=1))
        wall = aware.tz_localize(None).values.astype("datetime64[s]")
        offset = (wall - aware.tz_convert(None).values.astype("datetime64[s]")).astype(np.int64) // 60
        r["second"][mask] = (wall - wall.astype("datetime64[D]")).astype(np.int64)
        hh = np.char.zfill((np.abs(offset) // 60).astype("U"), 2)
        mm = np.char.zfill((np.abs(offset) % 60).astype("U"), 2)
        sign = np.where(offset < 0, "-", "+")
        out[mask] = np.char.add(np.char.add(np.char.add(np.datetime_as_string(wall, unit="s"), sign), hh),
                                np.char.add(":", mm))
    r["clock"] = r["second"] / 3600.0
    r["timestamp"] = out


def _context(world: World, rng: Rng, r: dict[str, np.ndarray]) -> None:
    """Add activity, headphones, network, weather, battery and calendar minutes to ``r``."""
    users, user, key, loc = world.users, r["user"], r["key"], r["location"]
    place = np.array([0, 1, 2, 5, 6])[loc] + np.where(loc == COMMUTE, users["commute_mode"][user], 0)
    r["activity"] = _pick(rng.uniform("activity", key), ACTIVITY_P[place])
    p_phones = np.where(r["activity"] == DRIVING, 0.05, HEADPHONES_P[loc] * users["headphones"][user])
    r["headphones"] = rng.uniform("headphones", key) < np.minimum(p_phones, 0.95)
    r["network"] = _pick(rng.uniform("network", key), NETWORK_P[loc])
    zone = users["zone"][user]
    r["weather"] = _pick(rng.uniform("weather", zone, r["day"]), WEATHER_P[zone])  # one sky per zone and day
    wake = np.where(r["working"], users["wake"][user], users["wake_free"][user])
    level = 100 - users["drain"][user] * (r["hours"] - wake) + 12 * (rng.uniform("battery", key) - 0.5)
    r["battery"] = np.clip(np.round(level), 1, 100).astype(np.int64)
    r["minutes_to_next_event"] = _minutes_to_next_event(world, rng, r)


def _minutes_to_next_event(world: World, rng: Rng, r: dict[str, np.ndarray]) -> np.ndarray:
    """Whole minutes to the user's next event today; NaN without one or without calendar access."""
    users, user, day, slot = world.users, r["user"][:, None], r["day"][:, None], np.arange(4)[None]
    working, draw = r["working"][:, None], rng.uniform("event_at", user, day, slot)
    # Three daytime slots (meetings on working days) and an evening one, on the half hour.
    work_len = (users["work_end"] - users["work_start"])[user]
    daytime = np.where(working, users["work_start"][user] + 0.5 * np.floor(draw * 2 * work_len),
                       9 + 0.5 * np.floor(draw * 20))
    at = np.where(slot < 3, daytime, 18 + 0.5 * np.floor(draw * 10))
    exists = rng.uniform("event", user, day, slot) < np.where(slot < 3, np.where(working, 0.7, 0.5), 0.75)
    ahead = np.where(exists & (at > r["hours"][:, None]), at - r["hours"][:, None], np.inf).min(1)
    ok = np.isfinite(ahead) & users["calendar"][r["user"]]
    return np.where(ok, np.floor(np.where(ok, ahead, 0) * 60), np.nan)


# --- engagement -----------------------------------------------------------------------------

def _effects(r: dict[str, np.ndarray], effects: tuple[tuple[Condition, dict[str, float]], ...],
             n_items: int) -> np.ndarray:
    """Sum of the item weights of every effect whose condition holds (requests x items)."""
    table = np.zeros((len(effects), n_items))
    for k, (_, weights) in enumerate(effects):
        table[k, [ITEM_INDEX[i] for i in weights]] = list(weights.values())
    fired = np.stack([cond.test(r) for cond, _ in effects], 1) if len(r["user"]) else np.zeros((0, len(effects)))
    return fired.astype(float) @ table


def utility(world: World, r: dict[str, np.ndarray]) -> np.ndarray:
    """Utility of every item for every request (rows) before noise; -inf where impossible."""
    cfg, user, hab = world.config, r["user"], world.habits
    n_items = len(world.items)
    value = world.popularity + cfg.context_weight * _effects(r, SHARED_EFFECTS, n_items)
    value += cfg.interaction_weight * _effects(r, INTERACTIONS, n_items)
    drifted = world.drifted[user] & (r["day"] >= cfg.days - cfg.drift_days)
    value += cfg.personal_weight * np.where(drifted[:, None], world.taste_after[user], world.taste[user])
    for h in range(hab["item"].shape[1]):
        hit = (hab["active"][user, h] & (r["location"] == hab["location"][user, h])
               & ((r["clock"] - hab["start"][user, h]) % 24 < hab["hours"][user, h]))
        value[np.flatnonzero(hit), hab["item"][user[hit], h]] += cfg.habit_weight * HABIT_BONUS
    for cond, items in CONSTRAINTS:
        value[np.ix_(np.flatnonzero(cond.test(r)), [ITEM_INDEX[i] for i in items])] = -np.inf
    return value


def no_engagement(world: World, r: dict[str, np.ndarray]) -> np.ndarray:
    """Each request's probability of engaging with nothing: the base rate, its log-odds
    shifted by the context (:data:`NO_ENGAGEMENT_SHIFTS`)."""
    rate = world.config.no_engagement_rate
    p_none = np.full(len(r["key"]), float(rate))
    if 0 < rate < 1:
        log_odds = math.log(rate / (1 - rate)) + sum(shift * cond.test(r) for cond, shift in NO_ENGAGEMENT_SHIFTS)
        p_none = 1 / (1 + np.exp(-log_odds))
    return p_none


def _engage(world: World, r: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """First and second engaged item of each request, -1 for none."""
    cfg, rng, key = world.config, Rng(world.config.seed), r["key"]
    # argmax of utility / T + Gumbel noise is a draw from softmax(utility / T)
    gumbel = -np.log(-np.log(rng.uniform("choice", key[:, None], np.arange(len(world.items))[None])))
    score = utility(world, r) / cfg.temperature + gumbel
    rows, first = np.arange(len(key)), score.argmax(1)
    score[rows, first] = -np.inf
    second = score.argmax(1)
    engaged = rng.uniform("engaged", key) >= no_engagement(world, r)
    two = engaged & (rng.uniform("second", key) < SECOND_ITEM_SHARE) & np.isfinite(score[rows, second])
    return np.where(engaged, first, -1), np.where(two, second, -1)


# --- files ----------------------------------------------------------------------------------

LOG_COLUMNS = ("request_id", "user", "timestamp", "tz", "location", "activity", "headphones", "battery",
               "weather", "network", "minutes_to_next_event", "item")
DATASET_YAML = """name: {name}
log: log.csv
separator: ","
timezone: UTC
columns:
  request: request_id
  user: user
  item: item
  time: timestamp
  timezone: tz
context:
  location: categorical
  activity: categorical
  headphones: boolean
  battery: numeric
  weather: categorical
  network: categorical
  minutes_to_next_event: numeric
catalog:
  path: catalog.csv
  item: item
  attributes:
    category: categorical
"""


def _log_rows(world: World, r: dict[str, np.ndarray], first_id: int, width: int) -> pd.DataFrame:
    """Long-format rows: one per (request, engaged item), or one with an empty item."""
    first, second = _engage(world, r)
    # a request's two items go in name order, so rows sort by request id then item
    rank = np.argsort(np.argsort(world.items.astype(str)))
    swap = (second >= 0) & (rank[np.maximum(second, 0)] < rank[np.maximum(first, 0)])
    first, second = np.where(swap, second, first), np.where(swap, first, second)
    n_rows = 1 + (second >= 0)
    idx = np.repeat(np.arange(len(first)), n_rows)
    is_second = np.arange(len(idx)) - np.repeat(np.cumsum(n_rows) - n_rows, n_rows) == 1
    item = np.where(is_second, second[idx], first[idx])
    rows = request_columns(world, r, first_id, width).iloc[idx].reset_index(drop=True)
    rows["item"] = np.where(item >= 0, world.items[np.maximum(item, 0)], "")
    return rows


def request_columns(world: World, r: dict[str, np.ndarray], first_id: int, width: int) -> pd.DataFrame:
    """One row per request: its id (numbered from ``first_id``, zero-padded to ``width``
    digits), user, local time, zone and context, as the log writes them (no item)."""
    words = {f: np.array(v, dtype=object)[r[f]] for f, v in VOCAB.items()}
    return pd.DataFrame({
        "request_id": _ids("r", np.arange(first_id, first_id + len(r["key"])), width),
        "user": world.user_ids[r["user"]], "timestamp": r["timestamp"],
        "tz": np.array(ZONES, dtype=object)[world.users["zone"][r["user"]]],
        "location": words["location"], "activity": words["activity"],
        "headphones": np.where(r["headphones"], "true", "false"), "battery": r["battery"],
        "weather": words["weather"], "network": words["network"],
        "minutes_to_next_event": pd.array(r["minutes_to_next_event"], dtype="Float64").astype("Int64"),
    }, columns=list(LOG_COLUMNS[:-1]))


def _hhmm(hours: float) -> str:
    minutes = int(round(hours * 60)) % 1440
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _rounded(values: np.ndarray) -> list[float]:
    return [round(float(v), 6) + 0.0 for v in values]  # + 0.0 turns -0.0 into 0.0


def _user_truth(world: World, k: int) -> dict:
    users, hab = world.users, world.habits
    person = {
        "zone": ZONES[users["zone"][k]],
        "schedule": {
            "works": bool(users["works"][k]), "works_saturday": bool(users["works_saturday"][k]),
            "work_start": _hhmm(users["work_start"][k]), "work_end": _hhmm(users["work_end"][k]),
            "commute_minutes": int(round(users["commute"][k] * 60)),
            "commute_mode": COMMUTE_MODES[users["commute_mode"][k]],
            "gym_days": [d for d, on in zip(WEEKDAYS, users["gym_days"][k]) if on],
            "gym_time_workdays": _hhmm(users["gym_hour"][k]), "wake_free_days": _hhmm(users["wake_free"][k]),
            "calendar_access": bool(users["calendar"][k]),
            "headphone_propensity": round(float(users["headphones"][k]), 6),
            "battery_drain_per_hour": round(float(users["drain"][k]), 6),
        },
        "taste": dict(zip(world.items, _rounded(world.taste[k]))),
        "habits": [{"item": world.items[hab["item"][k, h]], "location": VOCAB["location"][hab["location"][k, h]],
                    "from": _hhmm(hab["start"][k, h]), "to": _hhmm(hab["start"][k, h] + hab["hours"][k, h]),
                    "bonus": HABIT_BONUS} for h in range(hab["item"].shape[1]) if hab["active"][k, h]],
    }
    if world.drifted[k]:
        person["taste_after_drift"] = dict(zip(world.items, _rounded(world.taste_after[k])))
    return person


def settings_of(config: WorldConfig) -> dict:
    """The config's fields as written to dataset.yaml and truth_model.json; ``extra_items``
    only when set, so worlds made before it existed come out byte for byte the same."""
    settings = dataclasses.asdict(config)
    if not settings["extra_items"]:
        del settings["extra_items"]
    return settings


def truth_of(world: World) -> dict:
    """The generating parameters, human readable: the content of truth_model.json."""
    cfg = world.config
    drift_from = dt.date.fromisoformat(cfg.start) + dt.timedelta(days=cfg.days - cfg.drift_days)
    return {
        "config": settings_of(cfg),
        "utility": "popularity + context_weight * shared_context_effects + personal_weight * taste"
                   " (taste_after_drift from drift.from_date for drifted users) + habit_weight * habits"
                   " + interaction_weight * interactions; engaged item = argmax(utility / temperature"
                   " + Gumbel noise), a second one (next best) with probability second_item_share;"
                   " constraints make items impossible; times are the user's local time",
        "items": {i: {"category": c, "popularity": p}
                  for i, c, p in zip(world.items, world.categories, _rounded(world.popularity))},
        "shared_context_effects": {str(cond): weights for cond, weights in SHARED_EFFECTS},
        "interactions": {str(cond): weights for cond, weights in INTERACTIONS},
        "constraints": {str(cond): list(items) for cond, items in CONSTRAINTS},
        "no_engagement": {"base_rate": cfg.no_engagement_rate,
                          "log_odds_shifts": {str(cond): shift for cond, shift in NO_ENGAGEMENT_SHIFTS}},
        "habit_bonus": HABIT_BONUS, "second_item_share": SECOND_ITEM_SHARE,
        "drift": {"days": cfg.drift_days, "from_date": drift_from.isoformat() if cfg.drift_days else None,
                  "users": [uid for uid, d in zip(world.user_ids, world.drifted) if d]},
        "users": {uid: _user_truth(world, k) for k, uid in enumerate(world.user_ids)},
    }


def generate(config: WorldConfig, out_dir: str | os.PathLike, *, progress: bool = False,
             name: str = "synth-phone", chunk_users: int | None = None) -> dict:
    """Generate a world into ``out_dir``: log.csv, catalog.csv, dataset.yaml, truth_model.json.

    Parameters
    ----------
    config : WorldConfig
        The world's knobs (see the module docstring).
    out_dir : str or os.PathLike
        Directory to write to; created if missing, the four files overwritten.
    progress : bool
        Show a progress bar on stderr.
    name : str
        The ``name:`` of dataset.yaml, e.g. ``"synth-context"`` for a preset.
    chunk_users : int, optional
        Users generated at once (default: about 50,000 requests' worth).
        Only memory depends on it; the files are the same for any value.

    Returns
    -------
    dict
        ``requests``, ``rows``, ``users``, ``items``, ``engaged_share`` (share of
        requests with an engagement) and ``paths`` (``log``, ``catalog``,
        ``dataset``, ``truth``).

    Examples
    --------
    >>> generate(WorldConfig(users=10, days=7), "out/w")["users"]  # doctest: +SKIP
    10
    """
    world = make_world(config)
    config = world.config  # checked, with plain int and float values
    if chunk_users is None:
        chunk_users = max(1, int(50_000 // max(1.0, config.days * config.requests_per_day)))
    elif isinstance(chunk_users, bool) or not isinstance(chunk_users, int) or chunk_users < 1:
        raise SuggestError(f"chunk_users={chunk_users!r} is not allowed", hint="chunk_users must be an integer >= 1")
    out = Path(out_dir)
    refuse_foreign_log(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"log": out / "log.csv", "catalog": out / "catalog.csv", "dataset": out / "dataset.yaml",
             "truth": out / "truth_model.json"}
    stale = out / "truth_attraction.parquet"  # a service world's, which this world is not
    # Every file is written beside its final name and moved in place at the end, so a run
    # that stops midway leaves the previous world (or nothing), never a half-written one.
    partial = {key: path.with_name(path.name + ".partial") for key, path in paths.items()}
    n_requests, n_rows, n_engaged = _write_log(world, partial["log"], chunk_users, progress)
    pd.DataFrame({"item": world.items, "category": world.categories}).to_csv(partial["catalog"], index=False,
                                                                  lineterminator="\n")
    settings = "".join(f"#   {key}: {value!r}\n" for key, value in settings_of(config).items())
    partial["dataset"].write_text(f"# Generated by suggest.synth.generate from this world config:\n"
                                  f"{settings}" + dataset_yaml(name), encoding="utf-8")
    partial["truth"].write_text(json.dumps(truth_of(world), sort_keys=True, indent=1) + "\n",
                                encoding="utf-8")
    if n_requests == 0:
        for path in partial.values():
            path.unlink()
        raise SuggestError("these settings generate no requests at all",
                           hint="raise --users, --days or --requests-per-day")
    for key, path in partial.items():
        os.replace(path, paths[key])
    stale.unlink(missing_ok=True)
    return {"requests": n_requests, "rows": n_rows, "users": config.users, "items": len(world.items),
            "engaged_share": round(n_engaged / n_requests, 6) if n_requests else 0.0,
            "paths": {k: str(v) for k, v in paths.items()}}


def refuse_foreign_log(out: Path) -> None:
    """Refuse a folder holding a log.csv that suggest did not generate: a real log is never
    overwritten."""
    old = out / "dataset.yaml"
    if (out / "log.csv").exists() and not (old.exists() and old.read_text(encoding="utf-8", errors="replace")
                                           .startswith("# Generated by suggest.synth")):
        raise SuggestError(f"{out} already holds a log.csv that suggest did not generate",
                           hint="choose another folder; a real log is never overwritten")


def dataset_yaml(name: str) -> str:
    """dataset.yaml's description of a generated log named ``name``."""
    safe_name = json.dumps(name) if re.search(r"[^\w.-]", name) else name  # a JSON string is valid YAML
    return DATASET_YAML.format(name=safe_name)


def _write_log(world: World, path: Path, chunk_users: int, progress: bool) -> tuple[int, int, int]:
    """Write log.csv chunk by chunk of users; return (requests, rows, engaged requests)."""
    users = world.config.users
    chunks = [(lo, min(lo + chunk_users, users)) for lo in range(0, users, chunk_users)]
    # request ids count in (user, day, time) order; their zero padding needs the total first
    total = sum(int(user_days(world, lo, hi)[2].sum()) for lo, hi in chunks)
    width, done, n_rows, n_engaged = max(7, len(str(total))), 0, 0, 0
    bar = tqdm(total=total, unit="req", desc="generating", disable=None if progress else True, leave=False)
    with open(path, "w", newline="", encoding="utf-8") as fh, bar:
        fh.write(",".join(LOG_COLUMNS) + "\n")
        for lo, hi in chunks:
            rows = _log_rows(world, requests_of(world, lo, hi), done + 1, width)
            rows.to_csv(fh, header=False, index=False, lineterminator="\n", na_rep="")
            done += rows["request_id"].nunique()
            n_rows += len(rows)
            n_engaged += rows.loc[rows["item"] != "", "request_id"].nunique()
            bar.update(rows["request_id"].nunique())
    return done, n_rows, n_engaged
