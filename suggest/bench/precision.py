"""Precision suite: every engine replayed on synthetic worlds and on real logs.

Each *world* is a log plus the rule set that goes with it. :func:`measure`
replays every engine (rules, ranker, hybrid, popular, context-popular,
user-history, random) through :func:`suggest.replay.replay`, which holds out
the latest 20% of requests by time (a seeded 20% without time) and fits
every engine on the rest. For each engine it reports NDCG@5, P@5, recall@10,
MRR@10 (over held-out requests with a positive), the answered rate (over all
held-out requests) and catalog coverage@5, each with a 95% percentile
bootstrap interval over requests, and the paired test of the ranker against
the rules from the replay's summary (paired t interval of the mean difference,
paired sign-flip p-value, Holm-corrected over the replay's headline tests).

The synthetic worlds come from :mod:`suggest.synth` presets (the knobs are
in :data:`WORLDS` and ``benchmarks/README.md``); the real logs are those
under ``--data`` that a description in ``data/datasets/`` reads (see
:func:`find_logs`), each replayed with ``rules/<description name>.yaml``.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from suggest.registry import BUILT_IN
from suggest.errors import SuggestError

K = 5
METRICS = ("ndcg@5", "precision@5", "recall@10", "mrr@10")
FIGURES = (*METRICS, "answered_rate", "catalog_coverage@5")
ENGINES = tuple(BUILT_IN)
NEED_RULES = ("rules", "hybrid")


@dataclass(frozen=True)
class World:
    """A synthetic world of the suite: a :mod:`suggest.synth` preset and its rule set."""

    name: str
    preset: str
    rules: str
    truth: str
    expect: str


WORLDS = (
    World("default", "default", "phone.yaml",
          "the demo world: shared context effects, personal tastes and habits, interactions in balance",
          "the ranker and user history ahead of the rules"),
    World("context", "context", "phone.yaml",
          "shared context effects dominate (context_weight 2, interaction_weight 1.5, personal and "
          "habit weights 0.3)",
          "rules close to the ranker"),
    World("personal", "personal", "phone.yaml",
          "personal habits dominate (personal and habit weights 2, context and interaction weights 0.3)",
          "user history and the ranker win"),
    World("drift", "drift", "phone.yaml",
          "preference drift: about half the users take new tastes for the last drift_days days "
          "(half the log), personal_weight 1.5",
          "history-based engines lose ground"),
    World("sparse", "sparse", "phone-sparse.yaml",
          "heavy abstention: a sparse rule set (rules/phone-sparse.yaml, silent on most requests) "
          "and many requests without engagement (no_engagement_rate 0.6, 4 requests a day)",
          "rules answer rarely; the others fill in"),
)


def find_logs(datasets: Path, data: Path | None) -> tuple[list[tuple[str, "object"]], list[str]]:
    """Descriptions in ``datasets`` whose log is found under ``data``, and notes on the rest.

    A description's log path (``../../../shared/data/depaulmovie/tidy.csv``)
    is matched by its tail: ``DATA/shared/data/depaulmovie/tidy.csv``, then
    ``DATA/data/depaulmovie/tidy.csv``, then ``DATA/depaulmovie/tidy.csv``
    (never the bare file name, which several logs share). Without ``data``
    the description's own path is used. A catalog file is found the same way.
    Returns ``[(description name, Dataset with the found paths)]`` and notes.
    """
    from suggest.data import Dataset

    found, notes = [], []
    for path in sorted(datasets.glob("*.yaml")):
        description = Dataset.from_yaml(path)
        log = _locate(description.log, data)
        if log is None:
            notes.append(f"{path.name}: its log {_tail_text(description.log)} is not under "
                         f"{data if data is not None else description.log.parent}")
            continue
        catalog = description.catalog
        if catalog is not None and catalog.path is not None:
            catalog = dataclasses.replace(catalog, path=_locate(catalog.path, data) or catalog.path)
        found.append((path.stem, dataclasses.replace(description, log=log, catalog=catalog)))
    return found, notes


def _tails(path: Path) -> list[Path]:
    parts = path.parts
    last_up = max((i for i, p in enumerate(parts) if p == ".."), default=-1)
    parts = [p for p in parts[last_up + 1:] if p not in (path.anchor, "")]
    return [Path(*parts[i:]) for i in range(0, max(len(parts) - 1, 1))]


def _tail_text(path: Path) -> str:
    tails = _tails(path)
    return str(tails[-1]) if tails else str(path)


def _locate(path: Path, data: Path | None) -> Path | None:
    if data is None:
        return path if path.is_file() else None
    for tail in _tails(path):
        if (data / tail).is_file():
            return data / tail
    return None


def engines_for(rules: Path | None, seed: int) -> dict:
    """Every built-in engine, unfitted; without a rule set, those that need one are left out."""
    from suggest.engines import get_engine
    from suggest.engines.base import replay_params

    return {name: get_engine(name, **replay_params(name, rules, seed)) for name in ENGINES
            if rules is not None or name not in NEED_RULES}


def replay_world(log, rules: Path | None, run_dir: Path, *, seed: int = 0, resamples: int = 1000,
                 progress: bool = False, groups: dict[str, set] | None = None) -> dict:
    """Replay every engine on ``log`` into ``run_dir``; figures with CIs and ranker vs rules.

    ``groups`` (label -> user ids) adds each engine's NDCG@5 on the held-out
    requests of each group of users (drifted and stable users in the drift world).
    """
    from suggest.data.runs import read_replay
    from suggest.replay import replay

    engines = engines_for(rules, seed)
    # the replay's own pairs: the ranker against the rules and against the best baseline, so
    # each run's verdict answers both questions (a bench that tested the rules only said
    # "Yes" where user-history beat the ranker)
    summary = replay(log, engines, run_dir, ks=(K, 10), seed=seed, progress=progress, latency_sample=0,
                     force=True, settings={"log": str(log.dataset.log), "rules": str(rules)})
    results, suggestions = read_replay(run_dir)
    catalog = pd.Index(log.catalog["item_id"].astype(str).unique())
    figures = {name: _figures(results[results["engine"] == name], suggestions[suggestions["engine"] == name],
                              catalog, resamples, seed)
               for name in engines}
    for name, entry in figures.items():  # the point estimates are the replay's own
        for figure in FIGURES:
            entry[figure]["mean"] = summary["engines"][name][figure]
    by_group = _by_group(results, log.requests, groups, resamples, seed) if groups else None
    comparison = next((c for c in summary["comparisons"]
                       if (c["a"], c["b"], c["metric"]) == ("rules", "ranker", f"ndcg@{K}")), None)
    baseline = (summary.get("verdict") or {}).get("best_baseline")
    against = next((c for c in summary["comparisons"]
                    if (c["a"], c["b"], c["metric"]) == (baseline, "ranker", f"ndcg@{K}")), None)
    return {"requests": len(log.requests), "test_requests": summary["requests"],
            "requests_scored": summary["requests_scored"], "split": summary["split"],
            "items": int(len(log.catalog)), "engines": figures,
            "ranker_vs_rules": _verdict(comparison, summary),
            "ranker_vs_baseline": _against_baseline(against),
            "headline": (summary.get("verdict") or {}).get("headline"),
            "leakage": (summary.get("leakage") or {}).get("warning"),
            "by_group": by_group, "run": str(run_dir)}


def _figures(results: pd.DataFrame, suggestions: pd.DataFrame, catalog: pd.Index, resamples: int,
             seed: int) -> dict:
    """Bootstrap 95% intervals of one engine's figures (means filled in by the caller)."""
    scored = results[results["has_positive"]]
    out = {}
    values = scored[list(METRICS)].to_numpy(dtype=float)
    for name, (low, high) in zip(METRICS, _bootstrap_means(values, resamples, seed)):
        out[name] = {"ci": [low, high]}
    answered = results[["answered"]].to_numpy(dtype=float)
    out["answered_rate"] = {"ci": list(_bootstrap_means(answered, resamples, seed)[0])}
    out["catalog_coverage@5"] = {"ci": _bootstrap_coverage(results["request_id"], suggestions,
                                                           catalog, resamples, seed)}
    return out


def _by_group(results: pd.DataFrame, requests: pd.DataFrame, groups: dict[str, set], resamples: int,
              seed: int) -> dict:
    """Per group of users, per engine: NDCG@5 with its interval, and the requests it covers."""
    user = requests.set_index(requests["request_id"].astype(str))["user_id"].astype(str)
    scored = results[results["has_positive"]]
    users = scored["request_id"].astype(str).map(user)
    out = {}
    for label, members in groups.items():
        mine = scored[users.isin(members).to_numpy()]
        entry = {"requests": int(mine["request_id"].nunique()), "engines": {}}
        for name, part in mine.groupby("engine", sort=True):
            (low, high), = _bootstrap_means(part[[f"ndcg@{K}"]].to_numpy(dtype=float), resamples, seed)
            entry["engines"][name] = {"mean": float(part[f"ndcg@{K}"].mean()), "ci": [low, high]}
        out[label] = entry
    return out


def _bootstrap_means(values: np.ndarray, resamples: int, seed: int,
                     chunk: int = 200) -> list[tuple[float, float]]:
    """95% percentile intervals of the column means of ``values`` (requests x figures)."""
    n = len(values)
    if n == 0:
        return [(float("nan"), float("nan"))] * values.shape[1]
    rng = np.random.default_rng(seed)
    means = []
    for start in range(0, resamples, chunk):
        idx = rng.integers(0, n, size=(min(chunk, resamples - start), n))
        means.append(values[idx].mean(axis=1))
    low, high = np.quantile(np.concatenate(means), [0.025, 0.975], axis=0)
    return [(float(a), float(b)) for a, b in zip(low, high)]


def _bootstrap_coverage(request_ids: pd.Series, suggestions: pd.DataFrame, catalog: pd.Index,
                        resamples: int, seed: int, chunk: int = 100) -> list[float]:
    """95% interval of catalog coverage@5 when the held-out requests are resampled: the
    share of ``catalog`` (its item ids) suggested in a top 5, as the replay counts it (an
    item the catalog does not hold, a rule's unknown name, is not counted).

    A resample repeats some requests and drops others, so it can only lose
    rare items: the resampled coverage is biased low. The interval is the
    percentile interval shifted by that bias (point value minus the mean of
    the resamples), clipped to [0, 1] and widened, where the skew of the
    resamples leaves it just short, to contain the point value.
    """
    top = suggestions[suggestions["rank"] <= K]
    named = top["item_id"].astype(str)
    kept = named.isin(catalog).to_numpy()  # a rule's unknown name is not the catalog's
    top, named = top[kept], named[kept]
    catalog_size = max(len(catalog), 1)
    requests = pd.Index(request_ids.astype(str).unique())
    items = pd.Index(named.unique())
    shown = np.zeros((len(requests), max(len(items), 1)), bool)
    shown[requests.get_indexer(top["request_id"].astype(str)), items.get_indexer(named)] = True
    n = len(requests)
    if n == 0:
        return [float("nan"), float("nan")]
    rng = np.random.default_rng(seed)
    covered = []
    for start in range(0, resamples, chunk):
        idx = rng.integers(0, n, size=(min(chunk, resamples - start), n))
        covered.append(shown[idx].any(axis=1).sum(axis=1) / catalog_size)
    covered = np.concatenate(covered)
    point = shown.any(axis=0).sum() / catalog_size
    low, high = np.clip(np.quantile(covered, [0.025, 0.975]) + point - covered.mean(), 0, 1)
    return [float(min(low, point)), float(max(high, point))]


def _against_baseline(c: dict | None) -> dict | None:
    """The ranker against the replay's best baseline (NDCG@5): who is ahead, and whether
    the replay's Holm-corrected test says so."""
    if c is None:
        return None
    significant = c["p_holm"] < 0.05
    return {"baseline": c["a"], "baseline_score": c["mean_a"], "ranker": c["mean_b"],
            "diff": c["diff"], "ci": [c["ci_low"], c["ci_high"]], "p_holm": c["p_holm"],
            "winner": ("ranker" if c["diff"] > 0 else c["a"]) if significant else "neither"}


def _verdict(comparison: dict | None, summary: dict) -> dict | None:
    """Who wins, ranker or rules, by how much and how surely (NDCG@5)."""
    if comparison is None:
        return None
    significant = comparison["p_holm"] < 0.05
    winner = ("ranker" if comparison["diff"] > 0 else "rules") if significant else "neither"
    rules_mean = comparison["mean_a"]
    return {"metric": comparison["metric"], "rules": comparison["mean_a"], "ranker": comparison["mean_b"],
            "diff": comparison["diff"], "ci": [comparison["ci_low"], comparison["ci_high"]],
            "relative": comparison["diff"] / rules_mean if rules_mean else None,
            "p": comparison["p_value"], "p_holm": comparison["p_holm"], "winner": winner,
            "requests": comparison["requests"], "holm_family": comparison["family"],
            "mde": comparison.get("mde")}


def measure(plan, project: Path, out: Path, data: Path | None, *, log=None,
            progress: bool = False) -> dict:
    """Replay every world of ``plan`` and every real log found; the suite's JSON part."""
    from suggest import synth
    from suggest.data import load

    say = log or (lambda line: None)
    logs, notes = find_logs(project / "data" / "datasets", data) if plan.real_logs else ([], [])
    if data is not None and plan.real_logs and not logs:
        raise SuggestError(f"--data {data}: no log there matches a description in "
                           f"{project / 'data' / 'datasets'}",
                           hint="; ".join(notes) or "that folder has no descriptions")
    total = len(plan.worlds) + len(logs)
    entries = []
    for i, world in enumerate(w for w in WORLDS if w.name in plan.worlds):
        started = time.perf_counter()
        overrides = {"users": plan.world_users, "seed": plan.seed}
        if plan.world_days is not None:
            overrides["days"] = plan.world_days
        config = synth.preset_config(world.preset, **overrides)
        folder = out / "worlds" / world.name
        synth.generate(config, folder, name=f"bench-{world.name}")
        say(f"precision {i + 1}/{total}: world '{world.name}' ({config.users} users, {config.days} days)")
        entry = replay_world(load(folder / "dataset.yaml"), project / "rules" / world.rules,
                             out / "runs" / world.name, seed=plan.seed, resamples=plan.resamples,
                             progress=progress, groups=_drift_groups(config))
        knobs = {k: v for k, v in dataclasses.asdict(config).items()}
        entries.append({"name": world.name, "kind": "synthetic", "truth": world.truth, "expect": world.expect,
                        "knobs": knobs, "rules": f"rules/{world.rules}", **entry,
                        "seconds": time.perf_counter() - started})
        say(_done_line(entries[-1]))
    for j, (name, description) in enumerate(logs):
        started = time.perf_counter()
        rules = project / "rules" / f"{name}.yaml"
        say(f"precision {len(plan.worlds) + j + 1}/{total}: real log '{name}' ({description.log})")
        entry = replay_world(load(description), rules if rules.is_file() else None, out / "runs" / name,
                             seed=plan.seed, resamples=plan.resamples, progress=progress)
        entries.append({"name": name, "kind": "real log", "log": str(description.log),
                        "rules": f"rules/{name}.yaml" if rules.is_file() else None, **entry,
                        "seconds": time.perf_counter() - started})
        say(_done_line(entries[-1]))
    return {"worlds": entries, "notes": notes, "figures": list(FIGURES), "k": K}


def _drift_groups(config) -> dict[str, set] | None:
    """Drifted and stable users of a world with drift (None without drift)."""
    from suggest import synth

    if not config.drift_days:
        return None
    world = synth.make_world(config)
    drifted = np.asarray(world.drifted, bool)
    return {"drifted users": {str(u) for u in world.user_ids[drifted]},
            "stable users": {str(u) for u in world.user_ids[~drifted]}}


def _done_line(entry: dict) -> str:
    v = entry["ranker_vs_rules"]
    verdict = "no rules to compare" if v is None else (
        f"ranker - rules NDCG@5 {v['diff']:+.3f} [{v['ci'][0]:+.3f}, {v['ci'][1]:+.3f}], winner: {v['winner']}")
    return f"    {entry['test_requests']:,} held-out requests; {verdict} ({entry['seconds']:.0f} s)"
