"""Comparison of two engines in a replay run (DESIGN section 6): who wins, where, and why.

:func:`compare` reads nothing: it takes a run's Results and Suggestions frames
(and its truth, when the run kept it) and returns a :class:`Comparison` with

* paired differences of ``b`` minus ``a`` on every metric at the primary
  metric's cutoff, each with its 95% interval, its p-value Holm-corrected over
  those metrics (one family), and the minimum detectable effect;
* per-segment tests for each ``by`` column on the primary metric
  (:mod:`suggest.segments`: small values pooled into "other", numbers binned
  by quantiles, hour bands and days), each column its own Holm family, so
  adding a column never changes another's p-values or the overall ones;
* per-rule attribution: requests grouped by the rule that produced the rules
  engine's first suggestion ("(no rule)" when the rules were silent), with
  ``b``'s difference from ``a`` there, its interval and corrected p (the rules
  are one family), and how often ``b`` beat, tied or lost to ``a``;
* abstention (answered rate, precision on answered requests) and overlap@k (the items two
  engines share per request, over the longer of their two lists);
* the disagreement set: requests where exactly one of the two hit, with a
  seeded sample of each kind showing the context, both lists with their
  reasons, and the items engaged with.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from suggest.errors import SuggestError, counted, did_you_mean, one_of, percent
from suggest.ids import isin
from suggest.segments import (MAX_VALUES, MIN_SEGMENT, check_min_size, segment_columns,
                              segment_tests, significant)
from suggest.stats import detectable, format_p, p_phrase, test_family
from suggest.verdict import LEARNED, twin_text

NO_RULE = "(no rule)"  # the group of the requests where the rules were silent

ALPHA = 0.05
#: The Suggestions columns a comparison reads (not the scores).
COMPARED = ["request_id", "engine", "rank", "item_id", "reason"]


@dataclass
class Comparison:
    """The result of :func:`compare`; ``to_table()`` for people, ``to_dict()`` for JSON."""

    a: str
    b: str
    k: int
    metric: str
    overall: list[dict] = field(default_factory=list)
    segments: dict[str, dict] = field(default_factory=dict)
    rules: list[dict] = field(default_factory=list)
    rule_engine: str = "rules"  # whose rules the per-rule table groups by
    abstention: dict = field(default_factory=dict)
    overlap: float = float("nan")
    disagreements: dict = field(default_factory=dict)
    #: the Holm family of ``overall``: its own metrics at k, or the replay's overall tests
    family: str = ""

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    def losses(self) -> list[dict]:
        """Significant segments where ``b`` is worse than ``a``, largest effect x size first."""
        return significant(self.segments, losses=True, across=True)

    def wins(self) -> list[dict]:
        return significant(self.segments, losses=False, across=True)

    def to_table(self, every_segment: bool = True) -> str:
        """The comparison for a terminal; ``every_segment=False`` shows only the significant
        segments (losses first) and how many were tested."""
        a, b, k, metric = self.a, self.b, self.k, self.metric
        lines = [f"{b} vs {a} (differences are {b} - {a}; 95% paired t interval, not adjusted; p from the paired "
                 f"sign-flip test, Holm-corrected over "
                 f"{self.family or own_family(self.overall, k)}; "
                 "MDE: the smallest true difference found with 80% power)", ""]
        for row in self.overall:
            lines.append(f"  {row['metric']:<14} {row['mean_a']:.4f} -> {row['mean_b']:.4f}  "
                         f"{row['diff']:+.4f} [{row['ci_low']:+.4f}, {row['ci_high']:+.4f}]  "
                         f"{p_phrase(row['p_holm'])}  " + _mark(row, a, b) + twin_text(row))
        wa, wb = _column(a), _column(b)  # an engine's name whole above its column
        head = (f"  {'segment':<37}{'requests':>9}{a:>{wa}}{b:>{wb}}{'diff':>9}   "
                "95% CI              p       winner")
        if not every_segment and self.segments:
            tested = sum(f["tests"] for f in self.segments.values())
            shown = self.losses() + self.wins()
            lines += ["", f"significant segments ({metric}): {len(self.losses())} where {b} loses, "
                          f"{len(self.wins())} where it wins, of {tested} tested in "
                          f"{counted(sum(1 for f in self.segments.values() if f['tests']), 'column')} "
                          "(Holm within each column, Bonferroni over those columns; --by COLUMN "
                          "shows every segment of a column)"]
            if shown:
                lines.append(head)
            for r in shown:
                lines.append(_segment_line(f"{r['column']}={r['value']}", r, a, b, 36, wa, wb))
        for column, family in (self.segments.items() if every_segment else ()):
            lines += ["", f"by {column} ({metric}; "
                      + (f"{counted(family['tests'], 'segment')} tested, one Holm family"
                         if family["tests"] else "no segment apart from the whole")
                      + _pooled_text(family) + "):",
                      head]
            for r in family["rows"]:
                lines.append(_segment_line(str(r["value"]), r, a, b, 36, wa, wb))
        if self.rules:
            whose = ("the rules engine's" if self.rule_engine == "rules"
                     else f"the rule set {self.rule_engine}'s")
            silent = any(r["rule"] == NO_RULE for r in self.rules)
            lines += ["", f"by the rule behind {whose} first suggestion ({metric}; the "
                          f"{len(self.rules)} groups, one per rule"
                          + (f" and '{NO_RULE}' where the rules were silent" if silent else "")
                          + ", are one Holm family):",
                      f"  {'rule':<28}{'requests':>9}{'diff':>9}   95% CI              p       "
                      f"{b + ' wins':>{_column(b, 14, 6)}}{'ties':>7}{a + ' wins':>{_column(a, 14, 6)}}"]
            for r in self.rules:
                lines.append(f"  {r['rule'][:27]:<28}{r['requests']:>9,}{r['diff']:>+9.4f}   "
                             f"{interval_text(r):<20}{format_p(r['p_holm']):<8}"
                             f"{r['b_wins']:>{_column(b, 14, 6)},}{r['ties']:>7,}"
                             f"{r['a_wins']:>{_column(a, 14, 6)},}")
            # a PM counted 24 groups of 38 rules and asked where the other 14 went
            lines.append("  a rule never behind a first suggestion here has no group (it never "
                         "fired, or always came after another); `suggest rules coverage` counts "
                         "how often each fired")
        ab = self.abstention
        if ab:
            lines += ["", f"answered: {a} {percent(ab['answered_a'], 1)}, {b} {percent(ab['answered_b'], 1)}; "
                          f"precision@{k} on answered requests: {a} {_four(ab['precision_answered_a'])}, "
                          f"{b} {_four(ab['precision_answered_b'])}; overlap@{k}: {_four(self.overlap, 3)}"]
        d = self.disagreements
        if d:
            lines += ["", f"disagreements at {k}: only {b} hit {d['only_b']:,} requests, only {a} hit "
                          f"{d['only_a']:,}; both {d['both']:,}, neither {d['neither']:,} "
                          f"(a sample of each, seed {d['seed']}):"]
            for ex in d["examples"]:
                lines.append(f"  {ex['request_id']}: only {ex['who']} hit; engaged: "
                             f"{ex['truth'] if ex['truth'] is not None else '?'}")
                lines.append(f"      {a}: {_shown(ex['items_a'])}")
                lines.append(f"      {b}: {_shown(ex['items_b'])}")
                lines.append(f"      context: {context_text(ex['context'])}")
        return "\n".join(lines)


def _pooled_text(family: dict) -> str:
    """How many values of a column went to 'other', and why: under the minimum size, or past
    the largest kept (four values of over 100 requests had read as "small values")."""
    pooled, large = family["pooled_into_other"], family.get("pooled_large", 0)
    if not pooled:
        return ""
    if not large:
        return f"; {pooled} small values pooled into 'other'"
    return (f"; {pooled} values pooled into 'other': {large} past the {family['max_values']} "
            f"largest, {pooled - large} under the minimum size")


def _mark(row: dict, a: str, b: str) -> str:
    if not np.isfinite(row["p_holm"]):
        return "not tested"
    if row["p_holm"] < ALPHA:
        return f"{b if row['diff'] > 0 else a} better"
    return f"not significant ({detectable(row['mde'], 4, 'MDE ±', row.get('differing'))})"


def _segment_line(name: str, r: dict, a: str, b: str, width: int, wa: int = 12,
                  wb: int = 12) -> str:
    return (f"  {name[:width]:<{width + 1}}{r['requests']:>9,}{r['mean_a']:>{wa}.4f}"
            f"{r['mean_b']:>{wb}.4f}{r['diff']:>+9.4f}   {interval_text(r):<20}"
            + ("nearly every request: the overall test above" if r.get("whole") else
               ("small values pooled, under the minimum size: not tested" if name == "other" else
                "under the minimum size: not tested") if r.get("small") else
               f"{format_p(r['p_holm']):<8}{_winner(r, a, b)}"
               + ("" if r["p_holm"] < ALPHA else f" ({detectable(r.get('mde'), differing=r.get('differing'))})")))


def context_text(context: dict, width: int | None = None) -> str:
    """An example's context for people: ``key=value`` pairs of the values present, the
    weekday by its name (``sat``, as the segments name it), values cut at ``width``."""
    from suggest.segments import DAYS

    def shown(key, value) -> str:
        if isinstance(value, (bool, np.bool_)):  # as a log and the rules write them
            return "true" if value else "false"
        if key == "weekday" and isinstance(value, (int, np.integer)) and 0 <= value < 7:
            return DAYS[int(value)]
        text = str(value)
        return text if width is None or len(text) <= width else text[:width - 1] + "…"

    return ", ".join(f"{k}={shown(k, v)}" for k, v in context.items() if v is not None)


def _four(value, digits: int = 4) -> str:
    """A figure, or n/a where there is none (an engine that answered no request)."""
    return "n/a" if value is None or value != value else f"{value:.{digits}f}"


def _column(name: str, least: int = 12, extra: int = 1) -> int:
    """A column's width: at least ``least``, wide enough for ``name`` plus ``extra``
    characters and a space before it."""
    return max(least, len(name) + extra + 1)


def interval_text(r: dict) -> str:
    """The 95% interval, or 'too few' under 3 requests."""
    return "too few" if r["requests"] < 3 else f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]"


def _winner(row: dict, a: str, b: str) -> str:
    return (b if row["diff"] > 0 else a) if row["p_holm"] < ALPHA else "-"


def _shown(items: list) -> str:
    return ", ".join(f"{i['item']} ({i['reason']})" if i.get("reason") else str(i["item"])
                     for i in items) or "(nothing)"


def check_engines(names: list[str], engines: list[str]) -> None:
    """A clear error for a name that is not one of the run's ``engines``."""
    for name in names:
        if name not in engines:
            raise SuggestError(f"engine '{name}' is not in this run", hint=did_you_mean(name, engines)
                               or f"the run has {one_of(sorted(engines))}: name the two to "
                                  "compare with --a and --b")


def check_distinct(a: str, b: str, engines: list[str]) -> None:
    """A clear error when ``--a`` and ``--b`` (both given) name one engine."""
    if a == b:
        raise SuggestError(f"--a and --b both name '{a}': an engine against itself has no "
                           "difference to test", hint=f"compare it with another: the run has "
                                                      f"{one_of(sorted(engines))}")


def metric_columns(results: pd.DataFrame) -> list[str]:
    return [c for c in results.columns if "@" in c]


def check_metric(names: list[str], metric: str) -> str:
    """``metric`` (any case) if it is one of the run's metric ``names``, else a clear error
    naming them."""
    from suggest.evaluate import metric_name

    metric = metric_name(metric)
    if metric not in names:
        family, _, cutoff = metric.partition("@")
        same = [n for n in names if n.partition("@")[0] == family]
        whole = cutoff.isdigit() and int(cutoff) >= 1  # a cutoff a replay could compute
        raise SuggestError(f"the run has no metric '{metric}'",
                           hint=(f"it has {one_of(same)}; replay with --k including {cutoff}"
                                 if whole else f"a cutoff is a whole number >= 1; it has "
                                               f"{one_of(same)}")
                           if same and cutoff else did_you_mean(metric, names)
                           or f"it has {one_of(names)}; replay with --k including the cutoff")
    return metric


def compare(results: pd.DataFrame, suggestions: pd.DataFrame, a: str, b: str, *, k: int = 5,
            metric: str | None = None, by: list[str] | None = None, min_segment: int = MIN_SEGMENT,
            max_values: int = MAX_VALUES, seed: int = 0, examples: int = 6,
            truth: pd.DataFrame | None = None, rule_engine: str = "rules") -> Comparison:
    """Compare engine ``b`` with engine ``a`` on a replay's frames. The per-rule table groups
    the requests by the rule behind ``rule_engine``'s first suggestion (the team's rules, or
    a rule set replayed beside them when it is one of the two compared).

    ``metric`` (default ``ndcg@k``) is the primary metric: segments and rules are
    tested on it, and its cutoff is the ``k`` of the overall metrics.
    """
    check_engines([a, b], sorted(results["engine"].unique()))
    metric = check_metric(metric_columns(results), metric or f"ndcg@{k}")
    k = int(metric.split("@")[1])
    metrics = [c for c in metric_columns(results) if c.endswith(f"@{k}")]
    check_min_size(min_segment)
    context = segment_columns(results)
    for column in by or []:
        if column not in context:
            raise SuggestError(f"no context column '{column}' in the run",
                               hint=did_you_mean(column, context) or f"columns: {', '.join(context)}")
    scored, both = paired_frame(results, a, b, metrics)
    out = Comparison(a, b, k, metric)
    out.overall = paired_rows(scored, metrics, seed=seed)
    out.segments = segment_tests(scored[f"{metric}_a"], scored[f"{metric}_b"], scored, list(by or []),
                                 min_size=min_segment, max_values=max_values, seed=seed)
    out.rules = _attribution(scored, suggestions, metric, seed, rule_engine)
    out.rule_engine = rule_engine
    precision = f"precision@{k}"
    answered_a, answered_b = scored[scored["answered_a"]], scored[scored["answered_b"]]
    out.abstention = {"answered_a": float(both["answered_a"].mean()),
                      "answered_b": float(both["answered_b"].mean()),
                      "precision_answered_a": float(answered_a[f"{precision}_a"].mean())
                      if precision in metrics and len(answered_a) else float("nan"),
                      "precision_answered_b": float(answered_b[f"{precision}_b"].mean())
                      if precision in metrics and len(answered_b) else float("nan")}
    out.overlap = _overlap(suggestions, a, b, k)
    out.disagreements = _disagreements(scored, suggestions, truth, a, b, k, context, examples, seed)
    return out


def paired_frame(results: pd.DataFrame, a: str, b: str,
                 metrics: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The requests both engines answered for, side by side (``metric_a``, ``metric_b``,
    ``answered_a``, ``answered_b`` and ``a``'s context columns): those with a positive,
    and all of them."""
    both = results[results["engine"] == a].merge(results[results["engine"] == b][
        ["request_id", *metrics, "answered"]], on="request_id", suffixes=("_a", "_b"))
    return both[both["has_positive"].to_numpy(dtype=bool)].reset_index(drop=True), both


def replay_tests(comparisons: list[dict], a: str, b: str, metrics: list[str]) -> list[dict] | None:
    """The replay's own tests of ``b`` against ``a`` on ``metrics`` (its ``comparisons``, Holm
    over all its overall tests), turned to read b - a; None unless it holds every one. A
    comparison that uses them says what the replay's verdict says."""
    rows = []
    for metric in metrics:
        c = next((c for c in comparisons if c["metric"] == metric and {c["a"], c["b"]} == {a, b}),
                 None)
        if c is None or not {"mde", "family", "significant"} <= set(c):
            return None  # none, or from a replay older than these fields: test afresh
        if c["a"] == b:  # stored as a - b: turned around
            c = {**c, "a": a, "b": b, "mean_a": c["mean_b"], "mean_b": c["mean_a"],
                 "diff": -c["diff"], "ci_low": -c["ci_high"], "ci_high": -c["ci_low"]}
        rows.append(c)
    return rows


def own_family(rows: list[dict], k: int) -> str:
    """The Holm family of a pair's own tests at ``k`` (:func:`paired_rows`), in words."""
    distinct = sum(1 for r in rows if not r.get("same_as"))
    return (f"the {len(rows)} metrics at {k}" if distinct == len(rows) else
            f"the {distinct} distinct tests of the {len(rows)} metrics at {k}: a metric equal to "
            "another on every request is that metric's test")


def paired_rows(scored: pd.DataFrame, metrics: list[str], *, seed: int = 0) -> list[dict]:
    """One family of paired tests, one per metric, Holm-corrected together."""
    rows = test_family([(scored[f"{m}_a"], scored[f"{m}_b"]) for m in metrics], alpha=ALPHA,
                       seed=seed, identical_once=True)  # every metric of the same requests
    for row in rows:  # a metric equal to another on every request: that metric's test
        row["same_as"] = None if row["same_as"] is None else metrics[row["same_as"]]
    return [{"metric": m, **row} for m, row in zip(metrics, rows)]


def _attribution(scored: pd.DataFrame, suggestions: pd.DataFrame, metric: str,
                 seed: int, engine: str = "rules") -> list[dict]:
    rules = suggestions[(suggestions["engine"] == engine) & (suggestions["rank"] == 1)]
    if rules.empty:
        return []
    # the first rule id of each reason, split once per distinct reason text
    codes, reasons = pd.factorize(rules["reason"].astype(str))
    firsts = np.array([text.split(",")[0] for text in reasons] + [None], dtype=object)
    first = pd.Series(firsts[codes], index=rules["request_id"].to_numpy())  # -1: no reason
    rule = first.reindex(scored["request_id"].to_numpy()).fillna(NO_RULE).to_numpy()
    x, y = scored[f"{metric}_a"].to_numpy(), scored[f"{metric}_b"].to_numpy()
    groups = pd.Series(np.arange(len(rule))).groupby(rule).indices
    rows = test_family([(x[at], y[at]) for at in groups.values()], alpha=ALPHA, seed=seed)
    for row, (name, at) in zip(rows, groups.items()):
        diff = y[at] - x[at]
        row.update(rule=str(name), b_wins=int((diff > 1e-12).sum()), a_wins=int((diff < -1e-12).sum()))
        row["ties"] = row["requests"] - row["b_wins"] - row["a_wins"]
    return sorted(rows, key=lambda r: -r["requests"])


def _top(suggestions: pd.DataFrame, engine: str, k: int) -> pd.DataFrame:
    mine = suggestions[(suggestions["engine"] == engine) & (suggestions["rank"] <= k)]
    # no conversion to text: categorical columns (a replay's, read compactly) share their
    # categories across engines, so duplicates and the merge work on the codes
    return mine[["request_id", "item_id"]].drop_duplicates()


def _overlap(suggestions: pd.DataFrame, a: str, b: str, k: int) -> float:
    """Mean over requests either engine answered of |top-k(a) ∩ top-k(b)| over the longer of
    the two lists: 1 when they suggest the same items, whatever the lists' length (divided
    by ``k``, an engine that suggests 3 items could overlap itself by 0.6 only)."""
    ta, tb = _top(suggestions, a, k), _top(suggestions, b, k)
    ids = pd.concat([ta["request_id"], tb["request_id"]])
    if ids.empty:
        return float("nan")
    codes, uniques = pd.factorize(ids)
    n = len(uniques)
    length_a = np.bincount(codes[:len(ta)], minlength=n)
    length_b = np.bincount(codes[len(ta):], minlength=n)
    both = ta.assign(row=codes[:len(ta)]).merge(tb, on=["request_id", "item_id"])
    shared = np.bincount(both["row"].to_numpy(), minlength=n)
    return float(np.mean(shared / np.maximum(length_a, length_b)))


def _explained(suggestions: pd.DataFrame, learned: list[str]) -> set | None:
    """The requests whose learned engines' suggestions carry explanations (a replay explains
    a sample: see ``suggest.replay``), or None when no list is explained, or every one is."""
    if not learned or "reason" not in suggestions:
        return None
    mine = suggestions[suggestions["engine"].isin(learned)]
    said = np.zeros(len(mine), dtype=bool)
    for name in learned:  # a bare engine name is an unexplained reason
        said |= ((mine["engine"] == name) & (mine["reason"] != name)).to_numpy()
    if said.all() or not said.any():
        return None
    return {str(r) for r in mine.loc[said, "request_id"].unique()}


def _prefer(part: pd.DataFrame, explained: set) -> pd.DataFrame:
    """The rows of ``part`` whose request is explained, when there are any."""
    keep = isin(part["request_id"], list(explained))
    return part[keep] if keep.any() else part


def _lists(suggestions: pd.DataFrame, engine: str, k: int, ids) -> dict:
    """Top-k lists ``[{"item", "reason"}, ...]`` of a few requests."""
    mine = suggestions[(suggestions["engine"] == engine) & (suggestions["rank"] <= k)
                       & isin(suggestions["request_id"], list(ids))].sort_values(
        ["request_id", "rank"])
    reasons = mine["reason"] if "reason" in mine else pd.Series("", index=mine.index)
    out: dict = {}
    for request, item, reason in zip(mine["request_id"].astype(str), mine["item_id"], reasons):
        out.setdefault(request, []).append({"item": str(item),
                                            "reason": None if pd.isna(reason) else str(reason)})
    return out


def _plain(value):
    """A context value as JSON has it: a number, a boolean or text (None when missing)."""
    if value is None or (not isinstance(value, (list, tuple)) and pd.isna(value)):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, (bool, int, float, str)) else str(value)


def _disagreements(scored, suggestions, truth, a, b, k, context, examples, seed) -> dict:
    hit_a, hit_b = scored[f"hit_rate@{k}_a"] > 0, scored[f"hit_rate@{k}_b"] > 0
    only_a, only_b = scored[hit_a & ~hit_b], scored[hit_b & ~hit_a]
    draw_a, draw_b = only_a, only_b  # the counts are of all of them; examples come from these
    explained = _explained(suggestions, [e for e in (a, b) if e in LEARNED])
    if explained is not None:  # draw from the requests whose learned lists say why
        draw_a = _prefer(only_a, explained)
        draw_b = _prefer(only_b, explained)
    rng = np.random.default_rng(seed)
    picked = pd.concat([
        part.iloc[np.sort(rng.choice(len(part), min(n, len(part)), replace=False))].assign(who=who)
        for part, who, n in ((draw_b, b, (examples + 1) // 2), (draw_a, a, examples // 2))])
    ids = set(picked["request_id"].astype(str))
    la, lb = _lists(suggestions, a, k, ids), _lists(suggestions, b, k, ids)
    engaged = {}
    if truth is not None:
        mine = truth[isin(truth["request_id"].astype(str), ids) & (truth["relevance"] > 0)]
        for request, item in zip(mine["request_id"].astype(str), mine["item_id"].astype(str)):
            engaged.setdefault(request, []).append(item)
    shown = [{"request_id": str(r["request_id"]), "who": r["who"],
              "items_a": la.get(str(r["request_id"]), []), "items_b": lb.get(str(r["request_id"]), []),
              "truth": engaged.get(str(r["request_id"])) if truth is not None else None,
              "context": {c: _plain(r[c]) for c in context}}
             for _, r in picked.iterrows()]
    return {"only_a": int(len(only_a)), "only_b": int(len(only_b)),
            "both": int((hit_a & hit_b).sum()), "neither": int((~hit_a & ~hit_b).sum()),
            "seed": seed, "examples": shown}
