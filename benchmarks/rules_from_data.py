"""How close do readable rules come to the ranker? (issue 22, item 4)

On every synthetic world preset and on the real logs (when ``../shared/data`` is there):
trains the ranker on the replay's training part, mines rules (``rules mine``), distils
the ranker into 10, 30 and 100 rules (``rules distil``), and replays the hand-written
rules, the mined and distilled files, context-popular and the ranker side by side.
Prints, per log, NDCG@5 of each with its 95% interval (paired t over the held-out
requests), each rule set's share of the ranker's gain over the hand-written rules, the
distillation's fidelity against its size and its ceiling, and, on the synthetic worlds,
which planted shared context effects the mined rules found.

    python benchmarks/rules_from_data.py --users 200 --out /tmp/rules-from-data

Writes ``RESULT.json`` and the rule files to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import time
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from suggest import synth
from suggest.workflow import distil_rules, mine_rules, replay_log, train_model

ROOT = Path(__file__).resolve().parents[1]
PRESETS = ("default", "context", "personal", "drift", "sparse")
REAL = {"depaulmovie": ROOT / "rules" / "depaulmovie.yaml", "incarmusic": ROOT / "rules" / "incarmusic.yaml"}
SIZES = (10, 30, 100)


def logs(args, out: Path):
    """(name, dataset.yaml, hand-written rules, truth_model.json or None) for every log."""
    phone = files("suggest").joinpath("examples", "phone.yaml")
    for preset in PRESETS:
        world = out / f"world-{preset}"
        synth.generate(synth.preset_config(preset, users=args.users, seed=args.seed), world)
        yield f"synthetic {preset}", world / "dataset.yaml", str(phone), world / "truth_model.json"
    if (ROOT.parent / "shared" / "data").exists():
        for name, rules in REAL.items():
            yield name, ROOT / "data" / "datasets" / f"{name}.yaml", str(rules), None


def one_log(name: str, dataset: Path, hand: str, truth: Path | None, out: Path, args) -> dict:
    folder = out / re.sub(r"\W+", "-", name)
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    model = folder / "model"
    train_model(dataset, model, rules=hand, test_share=0.2, seed=args.seed, force=True)
    mined = mine_rules(dataset, folder / "mined.yaml", force=True, seed=args.seed)
    rule_sets = [f"hand={hand}"] + ([f"mined={folder / 'mined.yaml'}"] if mined["file"] else [])
    distilled = {}
    for size in SIZES:
        found = distil_rules(model, dataset, folder / f"distilled{size}.yaml", force=True,
                             max_rules=size)
        distilled[size] = {"fidelity": found["fidelity"], "rules": found["rules"],
                           "ceiling": found["ceiling"], "curve": found["curve"]}
        rule_sets.append(f"distilled{size}={folder / f'distilled{size}.yaml'}")
    summary = replay_log(dataset, folder / "run", rules=rule_sets, model=model,
                         engines="rules,context-popular,ranker", seed=args.seed, latency_sample=0)
    results = pd.read_parquet(folder / "run" / "results.parquet")
    scores = _intervals(results, "ndcg@5")
    hand_score, ranker = scores["rules"]["mean"], scores["ranker"]["mean"]
    for entry in scores.values():
        entry["gain_kept"] = ((entry["mean"] - hand_score) / (ranker - hand_score)
                              if ranker > hand_score else None)
    return {"log": name, "seconds": round(time.perf_counter() - started, 1), "ndcg@5": scores,
            "mined": {k: mined[k] for k in ("rules", "tests", "significant_pairs", "did_not_hold")},
            "mined_rules": mined["rules_found"], "distilled": distilled,
            "planted": _planted(truth, mined["rules_found"]) if truth else None,
            "requests": summary["requests"]}


def _intervals(results: pd.DataFrame, metric: str) -> dict:
    """Each engine's mean of ``metric`` over the scored held-out requests (those with an
    engaged item, as the replay's means), with a 95% t interval."""
    out = {}
    for engine, values in results[results["has_positive"]].groupby("engine", observed=True)[metric]:
        v = values.to_numpy(float)
        half = stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else np.nan
        out[str(engine)] = {"mean": float(v.mean()), "low": float(v.mean() - half),
                            "high": float(v.mean() + half), "n": int(len(v))}
    return out


def _planted(truth: Path, mined: list[dict]) -> list[dict]:
    """Each planted shared context effect that raises items: found when a mined rule suggests
    its strongest item and shares a term with its condition (a field's value, an overlapping
    numeric or time range, weekday or weekend)."""
    effects = json.loads(truth.read_text())["shared_context_effects"]
    rows = []
    for condition, weights in effects.items():
        up = {i: w for i, w in weights.items() if w > 0}
        if not up:
            rows.append({"effect": condition, "item": None, "found_by": None})
            continue
        top = max(up, key=up.get)
        hit = next((r["id"] for r in mined if top in [s for s in r["suggest"] if isinstance(s, str)]
                    and _share_term(condition, r["when"])), None)
        rows.append({"effect": condition, "item": top, "found_by": hit})
    return rows


def _share_term(planted: str, mined: str) -> bool:
    for field, value in re.findall(r"(\w+) == (\w+)", planted):
        if f"{field} is {value}" in mined:
            return True
    if re.search(r"\bweekend\b", planted) and re.search(r"\bweekend\b", mined):
        return True
    if re.search(r"\bweekday\b", planted) and re.search(r"\bweekday\b", mined):
        return True
    window = re.search(r"(\d\d):(\d\d) <= time < (\d\d):(\d\d)", planted)
    mined_window = re.search(r"(\d\d):00-(\d\d):00", mined)
    if window and mined_window:
        a = _minutes(int(window[1]) * 60 + int(window[2]), int(window[3]) * 60 + int(window[4]))
        b = _minutes(int(mined_window[1]) * 60, int(mined_window[2]) * 60)
        return bool(a & b)
    below = re.search(r"(\w+) < (\d+)", planted)
    return bool(below and re.search(rf"{below[1]} < \d", mined))


def _minutes(start: int, end: int) -> set[int]:
    return set(range(start, end)) if end > start else set(range(start, 1440)) | set(range(0, end))


def table(rows: list[dict]) -> str:
    engines = ["rules", "mined", *(f"distilled{s}" for s in SIZES), "context-popular", "ranker"]
    lines = ["| log | " + " | ".join("hand rules" if e == "rules" else e for e in engines) + " |",
             "|---|" + "---|" * len(engines)]
    for r in rows:
        cells = []
        for e in engines:
            s = r["ndcg@5"].get(e)
            if s is None:
                cells.append("none mined" if e == "mined" else "-")
                continue
            kept = f" ({s['gain_kept']:.0%})" if s.get("gain_kept") is not None and e not in ("rules", "ranker") else ""
            cells.append(f"{s['mean']:.3f} [{s['low']:.3f}, {s['high']:.3f}]{kept}")
        lines.append(f"| {r['log']} | " + " | ".join(cells) + " |")
    lines += ["", "| log | fidelity at 1 / 3 / 10 / 30 / 100 rules | ceiling | mined: tests, significant, rules |",
              "|---|---|---|---|"]
    for r in rows:
        curve = r["distilled"][100]["curve"]
        points = " / ".join(f"{curve[n]:.2f}" if n in curve else "-" for n in (1, 3, 10, 30, 100))
        m = r["mined"]
        lines.append(f"| {r['log']} | {points} (all {r['distilled'][100]['rules'] - 1}: "
                     f"{r['distilled'][100]['fidelity']:.2f}) | {r['distilled'][100]['ceiling']:.2f} | "
                     f"{m['tests'] or 0:,}, {m['significant_pairs']:,}, {m['rules']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("rules-from-data"))
    args = parser.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    rows = []
    for name, dataset, hand, truth in logs(args, args.out):
        rows.append(one_log(name, dataset, hand, truth, args.out, args))
        print(f"{name}: {rows[-1]['seconds']} s", flush=True)
    (args.out / "RESULT.json").write_text(json.dumps(rows, indent=2, default=str))
    print(table(rows))
    for r in rows:
        if r["planted"]:
            found = [p for p in r["planted"] if p["item"]]
            print(f"\n{r['log']}: planted effects found {sum(bool(p['found_by']) for p in found)} of {len(found)}")
            for p in found:
                print(f"  {p['effect']} -> {p['item']}: {p['found_by'] or 'not found'}")


if __name__ == "__main__":
    main()
