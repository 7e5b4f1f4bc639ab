"""Comparison of two engines in a replay run (DESIGN section 6): who wins, where, and why.

:func:`compare` reads nothing: it takes a run's Results and Suggestions
frames and returns a :class:`Comparison` with

* paired differences of ``b`` minus ``a`` on every metric at ``k``, with a
  bootstrap 95% interval and a paired randomisation p-value;
* per-segment tables for each ``by`` column (who wins where, with counts);
* per-rule attribution: requests grouped by the rule that produced the rules
  engine's first suggestion ("(no rule)" when the rules were silent), with
  how often ``b`` beat, tied or lost to ``a`` there;
* abstention (answered rate, precision on answered requests) and overlap@k;
* the disagreement set: requests where exactly one of the two hit, with
  examples.

Every p-value is Holm-corrected across all metrics and segments together.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from suggest.errors import SuggestError, did_you_mean, one_of
from suggest.evaluate import holm, paired_test


@dataclass
class Comparison:
    """The result of :func:`compare`; ``to_table()`` for people, ``to_dict()`` for JSON."""

    a: str
    b: str
    k: int
    overall: list[dict] = field(default_factory=list)
    segments: dict[str, list[dict]] = field(default_factory=dict)
    rules: list[dict] = field(default_factory=list)
    abstention: dict = field(default_factory=dict)
    overlap: float = float("nan")
    disagreements: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    def to_table(self) -> str:
        k, a, b = self.k, self.a, self.b
        lines = [f"{b} vs {a} (differences are {b} - {a}; 95% bootstrap CI; p Holm-corrected "
                 "over every metric and segment)", ""]
        for row in self.overall:
            lines.append(f"  {row['metric']:<14} {row['mean_a']:.4f} -> {row['mean_b']:.4f}  "
                         f"{row['diff']:+.4f} [{row['ci_low']:+.4f}, {row['ci_high']:+.4f}]  "
                         f"p={row['p_holm']:.3g}")
        for column, rows in self.segments.items():
            lines += ["", f"by {column} (ndcg@{k}):",
                      f"  {'value':<18}{'requests':>9}{a:>12}{b:>12}{'diff':>9}   95% CI            p    winner"]
            for r in rows:
                winner = (b if r["diff"] > 0 else a) if r["p_holm"] < 0.05 else "-"
                lines.append(f"  {str(r['value'])[:17]:<18}{r['requests']:>9,}{r['mean_a']:>12.4f}"
                             f"{r['mean_b']:>12.4f}{r['diff']:>+9.4f}   [{r['ci_low']:+.3f}, "
                             f"{r['ci_high']:+.3f}]  {r['p_holm']:<6.3g} {winner}")
        if self.rules:
            lines += ["", f"by the rule behind the rules engine's first suggestion (ndcg@{k}):",
                      f"  {'rule':<30}{'requests':>9}{b + ' wins':>14}{'ties':>7}{a + ' wins':>14}"]
            for r in self.rules:
                lines.append(f"  {r['rule'][:29]:<30}{r['requests']:>9,}{r['b_wins']:>14,}"
                             f"{r['ties']:>7,}{r['a_wins']:>14,}")
        ab = self.abstention
        if ab:
            lines += ["", f"answered: {a} {ab['answered_a']:.1%}, {b} {ab['answered_b']:.1%}; "
                          f"precision@{k} on answered requests: {a} {ab['precision_answered_a']:.4f}, "
                          f"{b} {ab['precision_answered_b']:.4f}; overlap@{k}: {self.overlap:.3f}"]
        d = self.disagreements
        if d:
            lines += ["", f"disagreements at {k}: only {b} hit {d['only_b']:,} requests, only {a} hit "
                          f"{d['only_a']:,}; both {d['both']:,}, neither {d['neither']:,}"]
            for ex in d["examples"]:
                lines.append(f"  {ex['request_id']}: {ex['who']} hit; {a}: {ex['items_a']}; "
                             f"{b}: {ex['items_b']}; context {ex['context']}")
        return "\n".join(lines)


def compare(results: pd.DataFrame, suggestions: pd.DataFrame, a: str, b: str, *, k: int = 5,
            by: list[str] | None = None, resamples: int = 2000, seed: int = 0,
            examples: int = 5) -> Comparison:
    """Compare engine ``b`` with engine ``a`` on a replay's frames."""
    engines = sorted(results["engine"].unique())
    for name in (a, b):
        if name not in engines:
            raise SuggestError(f"engine '{name}' is not in this run", hint=did_you_mean(name, engines)
                               or f"the run has {one_of(engines)}")
    metrics = [c for c in results.columns if c.endswith(f"@{k}") and "@" in c]
    if not metrics:
        raise SuggestError(f"the run has no metrics at k={k}", hint="replay with --k including it")
    context = [c for c in results.columns if c not in ("request_id", "engine", "has_positive",
                                                       "answered", "latency_us") and "@" not in c]
    for column in by or []:
        if column not in context:
            raise SuggestError(f"no context column '{column}' in the run",
                               hint=did_you_mean(column, context) or f"columns: {', '.join(context)}")
    both = results[results["engine"] == a].merge(results[results["engine"] == b][
        ["request_id", *metrics, "answered"]], on="request_id", suffixes=("_a", "_b"))
    scored = both[both["has_positive"]]
    tests = []  # (place, row dict, x, y)
    out = Comparison(a, b, k)
    for metric in metrics:
        row = {"metric": metric}
        out.overall.append(row)
        tests.append((row, scored[f"{metric}_a"].to_numpy(), scored[f"{metric}_b"].to_numpy()))
    focus = f"ndcg@{k}" if f"ndcg@{k}" in metrics else metrics[0]
    for column in by or []:
        rows = []
        for value, part in scored.groupby(column, observed=True, dropna=False, sort=True):
            row = {"value": "(missing)" if pd.isna(value) else value, "requests": len(part)}
            rows.append(row)
            tests.append((row, part[f"{focus}_a"].to_numpy(), part[f"{focus}_b"].to_numpy()))
        out.segments[column] = rows
    for row, x, y in tests:
        diff, low, high, p = paired_test(x, y, resamples=resamples, seed=seed)
        row.update(mean_a=float(x.mean()) if len(x) else float("nan"),
                   mean_b=float(y.mean()) if len(y) else float("nan"),
                   diff=diff, ci_low=low, ci_high=high, p_value=p)
    for (row, _, _), adjusted in zip(tests, holm([r["p_value"] for r, _, _ in tests])):
        row["p_holm"] = adjusted
    out.rules = _attribution(scored, suggestions, focus)
    precision = f"precision@{k}"
    answered_a, answered_b = scored[scored["answered_a"]], scored[scored["answered_b"]]
    out.abstention = {"answered_a": float(both["answered_a"].mean()),
                      "answered_b": float(both["answered_b"].mean()),
                      "precision_answered_a": float(answered_a[f"{precision}_a"].mean())
                      if precision in metrics and len(answered_a) else float("nan"),
                      "precision_answered_b": float(answered_b[f"{precision}_b"].mean())
                      if precision in metrics and len(answered_b) else float("nan")}
    out.overlap = _overlap(suggestions, a, b, k)
    out.disagreements = _disagreements(scored, suggestions, a, b, k, context, examples)
    return out


def _attribution(scored: pd.DataFrame, suggestions: pd.DataFrame, metric: str) -> list[dict]:
    rules = suggestions[(suggestions["engine"] == "rules") & (suggestions["rank"] == 1)]
    if rules.empty:
        return []
    first = rules.set_index("request_id")["reason"].astype(str).str.split(",").str[0]
    rule = first.reindex(scored["request_id"]).fillna("(no rule)").to_numpy()
    diff = scored[f"{metric}_b"].to_numpy() - scored[f"{metric}_a"].to_numpy()
    table = pd.DataFrame({"rule": rule, "b_wins": diff > 1e-12, "a_wins": diff < -1e-12})
    grouped = table.groupby("rule").agg(requests=("rule", "size"), b_wins=("b_wins", "sum"),
                                        a_wins=("a_wins", "sum")).reset_index()
    grouped["ties"] = grouped["requests"] - grouped["b_wins"] - grouped["a_wins"]
    grouped = grouped.sort_values("requests", ascending=False)
    return [{k: (int(v) if isinstance(v, (np.integer,)) else v) for k, v in r.items()}
            for r in grouped.to_dict("records")]


def _lists(suggestions: pd.DataFrame, engine: str, k: int) -> pd.Series:
    mine = suggestions[(suggestions["engine"] == engine) & (suggestions["rank"] <= k)]
    return mine.sort_values(["request_id", "rank"]).groupby("request_id")["item_id"].agg(list)


def _overlap(suggestions: pd.DataFrame, a: str, b: str, k: int) -> float:
    la, lb = _lists(suggestions, a, k), _lists(suggestions, b, k)
    ids = la.index.union(lb.index)
    if len(ids) == 0:
        return float("nan")
    la, lb = la.reindex(ids), lb.reindex(ids)
    shared = [len(set(x if isinstance(x, list) else []) & set(y if isinstance(y, list) else []))
              for x, y in zip(la, lb)]
    return float(np.mean(shared) / k)


def _disagreements(scored, suggestions, a, b, k, context, examples) -> dict:
    hit_a, hit_b = scored[f"hit_rate@{k}_a"] > 0, scored[f"hit_rate@{k}_b"] > 0
    only_a, only_b = scored[hit_a & ~hit_b], scored[hit_b & ~hit_a]
    la, lb = _lists(suggestions, a, k), _lists(suggestions, b, k)
    picked = pd.concat([only_b.head((examples + 1) // 2).assign(who=b),
                        only_a.head(examples // 2).assign(who=a)])
    shown = [{"request_id": r["request_id"], "who": r["who"],
              "items_a": la.get(r["request_id"], []), "items_b": lb.get(r["request_id"], []),
              "context": {c: (None if pd.isna(r[c]) else str(r[c])) for c in context[:6]}}
             for _, r in picked.iterrows()]
    return {"only_a": int(len(only_a)), "only_b": int(len(only_b)),
            "both": int((hit_a & hit_b).sum()), "neither": int((~hit_a & ~hit_b).sum()),
            "examples": shown}
