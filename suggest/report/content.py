"""What the report of a replay says, as a list of blocks that HTML and Markdown both render.

The order is the order of a reader's questions (DESIGN section 6, "the verdict
comes first everywhere"):

1. the verdict: who is best; each learned engine against the rules and the
   best baseline, with interval, corrected p and minimum detectable effect;
   the rules' abstention; the cost; where the learned engine loses;
   on a log of what was shown, then what each engine would have earned (the
   counterfactual estimates, what to trust, and the truth on a simulated service);
2. the engines side by side;
3. where the ranker loses and wins: significant segments first (losses, then
   wins, largest effect times size first), with how many were tested, then every
   segment column in a collapsed table;
4. per-rule attribution: the ranker against the rules where each rule fired
   first, and where the rules were silent;
5. failures: a seeded sample of requests where one engine hit and the other
   missed, with the context, both lists and their reasons, and the truth;
6. the ranker card and the data card;
7. charts (metric@k, segment effects, rule firing, latency) and how the tests
   were done.

Blocks are small dataclasses; a chart is a function that draws a matplotlib
figure, called only by the HTML renderer (Markdown leaves charts out).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import pandas as pd

from suggest.compare import context_text, interval_text
from suggest.errors import counted, percent
from suggest.segments import ALPHA, MAX_VALUES, MIN_SEGMENT, segment_columns
from suggest.stats import SAME, TOO_FEW, detectable, format_mde, format_p, p_phrase
from suggest.data.load import local_span
from suggest.report.terminal import share_text
from suggest.verdict import (LEARNED, TEAM, best_baseline, holm_family,
                             lightgbm_figure, other_rule_sets, same_tests_text, tests_text,
                             twin_text, unadjusted)

SHOWN_WINS = 10
SECTIONS = ("verdict", "engines", "segments", "rules", "failures", "cards", "charts", "method")


@dataclass
class Heading:
    text: str
    anchor: str | None = None
    level: int = 2


@dataclass
class Text:
    text: str
    note: bool = False


@dataclass
class Bullets:
    items: list[str]
    strong: bool = False


@dataclass
class Table:
    frame: pd.DataFrame
    caption: str = ""
    collapsed: bool = False      # inside a <details> the reader opens
    sortable: bool = True
    tone: list[str] | None = None  # per row: "loss", "win" or ""


@dataclass
class Chart:
    draw: Callable[[], object]   # returns a matplotlib figure
    alt: str


@dataclass
class Report:
    title: str
    blocks: list = field(default_factory=list)

    def add(self, *blocks) -> None:
        self.blocks.extend(blocks)


def build(summary: dict, results: pd.DataFrame, suggestions: pd.DataFrame,
          truth: pd.DataFrame | None = None, *, title: str = "suggest replay", a: str | None = None,
          b: str | None = None, metric: str | None = None, min_segment: int = MIN_SEGMENT,
          seed: int = 0) -> Report:
    """The report of a replay run from its summary and frames."""
    from suggest.compare import check_metric, compare, metric_columns

    metric = check_metric(metric_columns(results), report_metric(summary, metric))
    k = int(metric.split("@")[1])
    a, b, baseline = report_engines(summary, a, b, metric)
    columns = segment_columns(results)
    main = compare(results, suggestions, a, b, metric=metric, by=columns, min_segment=min_segment,
                   seed=seed, truth=truth)
    versus_baseline = (compare(results, suggestions, baseline, b, metric=metric, by=columns,
                               min_segment=min_segment, seed=seed, truth=truth)
                       if baseline and baseline not in (a, b) else None)
    verdict = summary.get("verdict") or {}
    replaced = verdict.get("metric_note") if metric == verdict.get("primary_metric") else None
    report = Report(title)
    report.add(Text(f"{summary['requests']:,} held-out requests ({summary['split']}); means over "
                    f"the {summary.get('requests_scored', 0):,} with a positive "
                    f"({summary['requests_without_positive']:,} without one are left out). "
                    + (f"{replaced[0].upper()}{replaced[1:]}." if replaced  # ndcg@5 was replaced
                       else f"Primary metric: {metric}."), note=True))
    _verdict(report, summary, main, versus_baseline, metric)
    _counterfactual(report, summary)
    _engines(report, summary, metric, k)
    _segments(report, main, versus_baseline, metric)
    _rules(report, summary, main, metric)
    _failures(report, main)
    _cards(report, summary)
    _charts(report, summary, results, main, metric)
    _method(report, summary, main, min_segment)
    return report


def report_metric(summary: dict, metric: str | None) -> str:
    """The metric a report leads with: the one asked for, else the replay's primary metric."""
    return metric or (summary.get("verdict") or {}).get("primary_metric") or "ndcg@5"


def report_engines(summary: dict, a: str | None, b: str | None,
                   metric: str) -> tuple[str, str, str | None]:
    """The engines a report compares: ``b`` (default: the ranker, else the first learned
    engine, else the best baseline, else the best), ``a`` (default: the rules, else the best
    baseline) and the best baseline; a name the run does not have is a clear error. Without a learned engine the
    rules against the best baseline is the verdict's comparison, so it is the default."""
    from suggest.compare import check_distinct, check_engines

    engines = summary["engines"]
    check_engines([n for n in (a, b) if n], list(engines))
    if a and b:
        check_distinct(a, b, list(engines))
    # a default is another engine than the one given, when the run has another
    others = [n for n in engines if n != a] or list(engines)
    learned = [n for n in LEARNED if n in others]
    baseline = best_baseline(engines, metric, summary.get("comparisons"))
    b = b or (learned[0] if learned else baseline if baseline in others
              else max(others, key=lambda n: _figure(engines[n], metric)))
    # without rules, the best baseline: the pair the verdict judges (the first engine listed
    # was taken: a tester's `--engines ranker,random,...` led the report with ranker vs random)
    a = a or (TEAM if TEAM in engines and b != TEAM else baseline if baseline not in (None, b)
              else next((n for n in engines if n != b), b))
    return a, b, baseline


def _figure(entry: dict, metric: str) -> float:
    value = entry.get(metric)
    return float("-inf") if value is None or value != value else value


def _verdict(report: Report, summary: dict, main, versus_baseline, metric: str) -> None:
    report.add(Heading("Verdict", "verdict"))
    sentences = (summary.get("verdict") or {}).get("sentences")
    if sentences and metric == summary["verdict"].get("primary_metric"):
        judged = {frozenset((c["a"], c["b"])) for c in summary["verdict"].get("key_comparisons", [])}
        if frozenset((main.a, main.b)) not in judged:  # the pair asked for (--a, --b) first
            report.add(Bullets([_line(main, metric, summary.get("comparisons") or [])],
                               strong=True))
        report.add(Bullets(sentences, strong=True))
    else:  # a run from before the verdict, or another metric asked for: the comparisons say it
        report.add(Bullets([_line(c, metric, summary.get("comparisons") or [])
                            for c in (main, versus_baseline) if c is not None], strong=True))
    if summary.get("warnings"):  # what the replay warned of qualifies the verdict
        report.add(Bullets([f"Warning: {w}" + ("" if w.endswith(".") else ".")
                            for w in summary["warnings"]]))
    rule_sets = set(other_rule_sets(summary.get("engines") or {}))
    rows = [c for c in summary.get("comparisons", []) if c["metric"] == metric
            and (c.get("headline") or {c["a"], c["b"]} & (set(LEARNED) | rule_sets))]
    if rows:
        # a rule set against the second learned engine is no headline test: said by its row
        mixed = len({holm_family(c) for c in rows}) > 1
        table = pd.DataFrame([{**_comparison_row(c), **({"Holm family": "headline" if c.get("headline") else "other"}
                                                        if mixed else {})} for c in rows])
        report.add(Table(table, sortable=False,
                         caption=(f"The learned engines{' and the other rule sets' if rule_sets else ''}"
                                  " against the rules and the baselines "
                                  if set(LEARNED) & set(summary.get("engines") or {}) else
                                  f"The rules{' and the other rule sets' if rule_sets else ''} "
                                  f"against {'each other and ' if rule_sets else ''}the baselines ")
                                 + f"({metric}; a and b: each engine's mean, b - a their "
                                 "difference; p Holm-corrected over "
                                 + (_families_column(rows) if mixed else holm_family(rows[0]))
                                 + _same_rows(rows) + "; reading: which "
                                 "is better, when the test finds it; MDE, where no difference "
                                 "was found: the smallest this sample would find).",
                         tone=[_tone(c) for c in rows]))
    report.add(Text("The terms (NDCG, p and Holm, MDE, p50 / p99) are explained under "
                    "How the numbers are made, at the end.", note=True))


def _counterfactual(report: Report, summary: dict) -> None:
    """On a log of what was shown: what each engine would have earned, and what to trust
    (a section only such runs have)."""
    from suggest.counterfactual import from_summary

    found = from_summary(summary)
    if not found:
        return
    report.add(Heading("What each engine would have earned", "counterfactual"))
    report.add(Bullets(found["sentences"], strong=True))
    best, k = found["recommended"], found["k"]
    if not found["engines"]:
        return
    rows = []
    for name, e in sorted(found["engines"].items(), key=lambda x: -(x[1][best]["value"] or 0)):
        row = {"engine": name, "plain replay": _num(e["replay"])}
        for estimator in (best, *(x for x in ("ips", "snips", "dr") if x != best)):
            v = e[estimator]
            row[estimator.upper()] = (f"{_num(v['value'])} [{_num(v['ci_low'])}, {_num(v['ci_high'])}]"
                                      if v["ci_low"] is not None else _num(v["value"]))
        if "oracle" in e:
            row["true value"] = _num(e["oracle"])
        row.update({"support": percent(e["support"]), "matched": percent(e["matched"]),
                    "ess": f"{e['ess']:,.0f}", "max weight": f"{e['max_weight']:,.3g}"})
        rows.append(row)
    report.add(Table(pd.DataFrame(rows), sortable=False, caption=(
        f"Expected engagements per request in the top {k}, with 95% intervals (IPS: gamma; SNIPS "
        f"and DR: bootstrap). Plain replay: the logged engagements each list holds, per request. "
        f"Support: share of the engine's suggestions the logging policy is seen to show at that "
        f"position, in the request's context (see How the numbers are made); matched: share the "
        f"log shows there; ess: effective sample size at the weakest position carrying the "
        f"estimate, in requests; max weight: the largest 1 / propensity used." + (" True value: from the simulated service's truth (oracle in summary.json)." if any(
            "oracle" in e for e in found["engines"].values()) else ""))))


def _line(c, metric: str, overall: list[dict] = ()) -> str:
    """The verdict's line on comparison ``c`` at ``metric``: the replay's own test (Holm within
    its family, as the table beside it) when the run holds it, else the
    comparison's (Holm over the metrics it compared)."""
    from suggest.compare import own_family, replay_tests

    stored = (replay_tests(list(overall), c.a, c.b, [metric]) or [None])[0]
    row = stored or next(r for r in c.overall if r["metric"] == metric)
    family = holm_family(row) if stored else own_family(c.overall, c.k)
    head = (f"{c.b} vs {c.a}: {row['diff']:+.3f} {metric} [{row['ci_low']:+.3f}, "
            f"{row['ci_high']:+.3f}], {p_phrase(row['p_holm'])} (Holm over {family})")
    if row["p_holm"] < ALPHA:
        return f"{head}: {c.b if row['diff'] > 0 else c.a} is better."
    clause = detectable(row["mde"], differing=row.get("differing"))
    return f"{head}: no significant difference{unadjusted(row)} ({clause}" + (
        ")." if clause in (TOO_FEW, SAME) else " at 80% power).")


def _same_rows(rows: list[dict]) -> str:
    """The rows a table holds that are the same test as another row (:func:`suggest.stats.
    test_family`), in words: why the family counts fewer tests than the table has rows."""
    same = [c for c in rows if c.get("same_as")]
    if not same:
        return ""
    many = len(same) > 1
    return (f" ({len(same)} row{'s' if many else ''} repeat{'' if many else 's'} another row's "
            f"test, as {same[0]['b']} - {same[0]['a']} repeats {same[0]['same_as'][1]} - "
            f"{same[0]['same_as'][0]}: the same difference on every request, so the test counts "
            "once)")


def _families_column(rows: list[dict]) -> str:
    """The families a table's last column names: "its Holm family (headline: the 7 headline
    tests; other: the 65 other overall tests)"."""
    sizes = {("headline" if c.get("headline") else "other"): holm_family(c) for c in rows}
    return "its Holm family (" + "; ".join(f"{k}: {v}" for k, v in sorted(sizes.items())) + ")"


def _comparison_row(c: dict) -> dict:
    return {"b - a": f"{c['b']} - {c['a']}", "a": f"{c['mean_a']:.4f}", "b": f"{c['mean_b']:.4f}",
            "difference": f"{c['diff']:+.4f}",
            "95% interval (unadjusted)": f"[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]",
            "p (Holm)": format_p(c["p_holm"]), "MDE (80%)": _mde_if_unseen(c, 4),
            "reading": (("better" if c["diff"] > 0 else "worse") if c["p_holm"] < 0.05
                        else "no significant difference") + twin_text(c),
            "requests": f"{c['requests']:,}"}


def _tone(row: dict) -> str:
    if not row.get("p_holm", 1) < 0.05:
        return ""
    return "win" if row["diff"] > 0 else "loss"


def _engines(report: Report, summary: dict, metric: str, k: int) -> None:
    report.add(Heading("Engines side by side", "engines"))
    cols = {metric: metric, f"hit_rate@{k}": f"hit@{k}", f"precision@{k}": f"P@{k}",
            f"recall@{k}": f"R@{k}", f"mrr@{k}": f"MRR@{k}", "answered_rate": "answered",
            f"precision@{k}_answered": f"P@{k} where answered",
            f"catalog_coverage@{k}": f"coverage@{k}"}
    rows = []
    for name, e in sorted(summary["engines"].items(), key=lambda x: -x[1].get(metric, 0)):
        row = {"engine": name, **{label: (share_text if c.startswith("catalog_coverage") else _num)(
            e.get(c)) for c, label in cols.items()}}
        row["one context p50 / p99 ms"] = (f"{e['one_context_us_p50'] / 1000:.2f} / "
                                           f"{e['one_context_us_p99'] / 1000:.2f}"
                                           if "one_context_us_p50" in e else "n/a")
        seconds = e.get("fit_seconds")
        row["train s"] = ("n/a" if seconds is None or seconds != seconds else
                          "< 0.1" if seconds < 0.1 else f"{seconds:.1f}")  # as the verdict says
        rows.append(row)
    report.add(Table(pd.DataFrame(rows), caption=f"hit@{k}: share of the requests with an "
                     f"engaged item that have one in the top {k}, the plainest figure; "
                     "answered: share of all held-out requests with a "
                     f"suggestion; P@{k} where answered: precision over the answered requests "
                     "with an engaged item; precision divides by k even when fewer items are shown, so silence "
                     "counts as a miss; coverage: share of the catalog ever suggested (its items and the "
                     "log's, when the log has items the catalog file lacks)."))


def _num(value) -> str:
    return "n/a" if value is None or value != value else f"{value:.3f}"


def _segments(report: Report, main, versus_baseline, metric: str) -> None:
    report.add(Heading(f"Where {main.b} loses and wins", "segments"))
    for c in (main, versus_baseline):
        if c is None:
            continue
        tested = sum(f["tests"] for f in c.segments.values())
        families = sum(1 for f in c.segments.values() if f["tests"])
        losses, wins = c.losses(), c.wins()
        most = next((f.get("max_values") for f in c.segments.values()), None) or MAX_VALUES
        report.add(Heading(f"{c.b} against {c.a}", level=3),
                   Text(f"{tested} segments tested in {counted(families, 'context column')}, each "
                        f"column its own Holm family; a segment is listed as significant when it "
                        f"stays so with Bonferroni over those {counted(families, 'column')} too, so "
                        f"the list as a whole holds a 5% error rate. Values under the minimum size, "
                        f"and those past a column's {most} largest, are pooled into 'other' "
                        f"(tested only when the pool reaches the minimum size; a column whose values all pooled there has no segment apart from "
                        f"the whole), numbers cut into quantile bins"
                        + (", the hour into 4-hour bands" if "hour" in c.segments else "")
                        + f". Significant: {len(losses)} losses, {len(wins)} wins."
                        + _whole_columns(c.segments) + _missing_values(c.segments), note=True))
        names = {"a": c.a, "b": c.b, "b - a": f"{c.b} - {c.a}"}
        shown = losses + wins[:SHOWN_WINS]
        if shown:
            report.add(Table(pd.DataFrame([_segment_row(r) for r in shown]).rename(columns=names),
                             caption="Significant segments: losses first, then wins, largest "
                                     "effect times size first"
                                     + (f" (the {SHOWN_WINS} largest wins of {len(wins)})."
                                        if len(wins) > SHOWN_WINS else "."),
                             tone=["loss"] * len(losses) + ["win"] * len(shown[len(losses):])))
        else:
            report.add(Text(f"No segment where {c.b} and {c.a} differ significantly."))
        every = [{"column": column, **row} for column, family in c.segments.items()
                 for row in family["rows"]]
        if every:
            listed = [(r["column"], r["value"]) in {(x["column"], x["value"]) for x in losses + wins}
                      for r in every]
            rows = [_segment_row(r) for r in every]
            untested = len(every) - tested
            caption = f"Every segment ({len(every)}), by column" + (
                f": the {tested} tested and {untested} not (a segment of nearly the whole "
                f"sample, which the overall test covers, or one under the minimum size)"
                if untested > 0 else "")
            if any(_tone(r) for r in every):  # marked in words too: Markdown has no tint
                rows = [{**row, "listed": "yes" if on else "column only" if _tone(r) else ""}
                        for row, r, on in zip(rows, every, listed)]
                caption += ("; 'yes' (tinted): the significant ones listed above; 'column only': "
                            "significant within its column's Holm family but not once Bonferroni "
                            "over the columns is applied, so not listed or counted")
            report.add(Table(pd.DataFrame(rows).rename(columns=names), collapsed=True,
                             caption=caption + ".",
                             tone=[_tone(r) if on else "" for r, on in zip(every, listed)]))


def _whole_columns(segments: dict) -> str:
    """A sentence on the columns with no segment apart from the whole sample, if any."""
    whole = [column for column, family in segments.items() if not family["tests"]]
    if not whole:
        return ""
    return (f" {counted(len(whole), 'column')} ({', '.join(whole)}) "
            f"{'has' if len(whole) == 1 else 'have'} no segment apart from the whole sample, "
            "which the overall test covers.")


def _missing_values(segments: dict) -> str:
    """What a '(missing)' segment holds, when there is one."""
    from suggest.segments import MISSING

    if not any(row["value"] == MISSING for family in segments.values() for row in family["rows"]):
        return ""
    return f" '{MISSING}': the requests whose log leaves the column empty."


def _segment_row(r: dict) -> dict:
    return {"segment": f"{r['column']} = {r['value']}", "requests": f"{r['requests']:,}",
            "a": f"{r['mean_a']:.3f}", "b": f"{r['mean_b']:.3f}", "b - a": f"{r['diff']:+.3f}",
            "95% interval (unadjusted)": interval_text(r),
            "p (Holm, column)": "= overall" if r.get("whole") else
            "not tested (small)" if r.get("small") else format_p(r["p_holm"]),
            "MDE": "= overall" if r.get("whole") else "" if r.get("small") else _mde_if_unseen(r)}


def _mde_if_unseen(row: dict, digits: int = 3) -> str:
    """The MDE of a difference the test did not find; a found one needs none (and an MDE at
    the family's Bonferroni level can read "none possible" beside a Holm-significant row)."""
    return "" if row["p_holm"] < 0.05 else format_mde(row.get("mde"), digits)



def _rules(report: Report, summary: dict, main, metric: str) -> None:
    report.add(Heading(f"{main.b} against {main.a}, rule by rule", "rules"))
    if not main.rules:
        report.add(Text("No rules engine in this run."))
        return
    from suggest.compare import NO_RULE

    # the silent group is no rule: it counted as "1 rule(s) still beat" in a tester's report
    beaten = [r for r in main.rules if r["significant"] and r["diff"] < 0 and r["rule"] != NO_RULE]
    silent = any(r["rule"] == NO_RULE for r in main.rules)
    why = (": candidates for guardrails" + (" or the hybrid" if main.b != "hybrid" else "")
           if main.b in LEARNED
           else f" where {'they fire' if len(beaten) > 1 else 'it fires'}")
    report.add(Text("Requests grouped by the rule behind the rules engine's first suggestion"
                    + (f" ('{NO_RULE}': the rules were silent)" if silent else "")
                    + f", {metric}, the {len(main.rules)} groups one Holm family. "
                    + (f"{counted(len(beaten), 'rule')} significantly beat{'s' if len(beaten) == 1 else ''} "
                       f"{main.b}{why}." if beaten else
                       f"No rule significantly beats {main.b} where it fires."),
                    note=True))
    shadowed = (summary.get("rules") or {}).get("shadowed") or []
    if shadowed:
        fired = summary["rules"]["fired"]
        report.add(Text("Never among a shown item's proposers (fired, but other rules filled "
                        "the list first or a block removed its items): " + ", ".join(
                            f"{r} ({fired.get(r, 0):,} requests)" for r in shadowed) + ". A rule "
                        "that only proposes items a higher rule already shows counts as placing "
                        "them here; `suggest rules coverage` calls a rule shadowed where the list "
                        "is the same without it, and `rules check --dataset` names those."))
    counts = summary.get("rules") or {}
    never = [r for r, n in (counts.get("fired") or {}).items() if n == 0]
    if never:  # no group of their own below, and an empty bar in the chart: say so in words
        report.add(Text("Never fired on the "
                        + (f"{counts['requests']:,} " if counts.get("requests") else "")
                        + "held-out requests: "
                        + ", ".join(never) + " (`suggest rules coverage` shows how near each "
                        "came; `rules check --dataset` names values the log never has)."))
    rows = [{"rule": r["rule"], "requests": f"{r['requests']:,}", main.a: f"{r['mean_a']:.3f}",
             main.b: f"{r['mean_b']:.3f}", "b - a": f"{r['diff']:+.3f}",
             "95% interval (unadjusted)": interval_text(r),
             "p (Holm)": format_p(r["p_holm"]), f"{main.b} wins": f"{r['b_wins']:,}",
             "ties": f"{r['ties']:,}", f"{main.a} wins": f"{r['a_wins']:,}"} for r in main.rules]
    counts = summary.get("rules") or {}
    grouped = {r["rule"] for r in main.rules}
    # placed items, but never the first one: no group of their own here, though the chart
    # below shows them firing (the team's rules only: the groups follow that engine)
    second = [r for r, n in (counts.get("placed") or {}).items()
              if n and r not in grouped and r not in shadowed] if main.rule_engine == "rules" else []
    report.add(Table(pd.DataFrame(rows), collapsed=len(rows) > 25, tone=[_tone(r) for r in main.rules],
                     caption=f"{len(rows)} groups" + (
                         "; rules that placed items but never the first one, so have no group: "
                         + ", ".join(f"{r} ({counts['placed'][r]:,} requests)" for r in second)
                         + " (placing: among a shown item's proposers, also where a higher rule "
                           "proposed it first; `suggest rules coverage` calls a rule shadowed "
                           "where the list is the same without it)"
                         if second else "")))


def _failures(report: Report, main) -> None:
    d = main.disagreements
    report.add(Heading("Where one hit and the other missed", "failures"),
               Text(f"At {main.k}: only {main.b} hit {d['only_b']:,} requests, only {main.a} hit "
                    f"{d['only_a']:,}; both {d['both']:,}, neither {d['neither']:,}. A sample of each "
                    f"(seed {d['seed']}); reasons in brackets.", note=True))
    if not d["examples"]:
        return
    rows = []
    for ex in d["examples"]:
        context = context_text(ex["context"], 40)
        engaged = {str(t) for t in ex["truth"] or ()}
        rows.append({"request": _short(ex["request_id"], 40), "hit": ex["who"], "context": context,
                     "engaged": ", ".join(_short(t, 40) for t in ex["truth"]) if ex["truth"]
                     else "(not kept)",
                     main.a: _items(ex["items_a"], engaged), main.b: _items(ex["items_b"], engaged)})
    report.add(Table(pd.DataFrame(rows), sortable=False,
                     caption=f"{HIT_MARK} marks a suggested item the request engaged."))


#: Marks an engaged item among an example's suggestions (text: HTML and Markdown alike).
HIT_MARK = "✓"


def _items(items: list[dict], engaged: set = frozenset()) -> str:
    if not items:
        return "(nothing)"
    return "; ".join((f"{HIT_MARK} " if str(i["item"]) in engaged else "")
                     + (f"{_short(i['item'], 40)} [{_short(i['reason'])}]" if i.get("reason")
                        else _short(i["item"], 40)) for i in items)


def _short(text: str, width: int = 60) -> str:
    """``text`` cut to ``width`` characters (an id of thousands would flood the page)."""
    return text if len(text) <= width else text[:width - 1] + "…"


def _share(value: float) -> str:
    """A share of the gain as a whole percentage, never "100%" nor "0%" for a part."""
    return percent(value)


def _cards(report: Report, summary: dict) -> None:
    report.add(Heading("Ranker card and data card" if summary.get("ranker") else "Data card",
                       "cards"))
    seen, zone = {}, (summary.get("data") or {}).get("time_zone")
    for name, card in (summary.get("ranker") or {}).items():
        same = next((other for other, c in seen.items() if c == card), None)
        seen[name] = card
        if same:
            report.add(Heading(name, level=3), Text(f"The same model as {same}: the same training, "
                                                    "candidates and trees."))
            continue
        v = card.get("validation") or {}
        recall = card.get("candidate_recall") or {}
        window = card.get("training_window")
        local = local_span(window, zone)  # the data card's zone, as its time span
        top = ", ".join(f"{f['feature']} ({_share(f['gain_share'])})"
                        for f in card.get("top_features", []) if f.get("gain_share"))
        metric = next((key for key in v if "@" in key), None)
        report.add(Heading(name, level=3), Bullets([
            f"Trained on {card.get('train_requests', 0):,} requests"
            + (f" from {window[0]} to {window[1]}" if window else "")
            + (f" (in {zone}: {local[0]} to {local[1]})" if local else "")
            + f"; of those, {v.get('train_requests', 0):,} fit the trees and "
              f"{v.get('valid_requests', 0):,} validate ({v.get('split', '?')}).",
            f"Candidate recall@{card.get('candidates_cap')}: train {_num(recall.get('train'))}, "
            f"validation {_num(recall.get('valid'))}"
            + (f", held out {_num(recall['test'])} (on {card['candidate_recall_test_requests']:,} "
               "held-out requests with an engagement, spread over the test part: their "
               "candidates come from sources "
               "fitted on the whole training part, as serving builds them, where training's come "
               "from what each request could have seen)" if recall.get("test") is not None
               else "")
            + ": the share of engaged items among the candidates, the ranker's ceiling.",
            _trees(v.get("best_iteration"), card.get("trees"))
            + f"; validation {metric or 'score'} {_num(v.get(metric)) if metric else 'n/a'}"
            + (_validation_how(summary, v, metric) if metric and metric + "_candidates" in v
               else "."),
            f"Top features by gain: {top or 'n/a'}."]))
    data = summary.get("data")
    if data:
        from suggest.data.load import partial_text

        shown = [(r, n) for r, n in data.get("reject_reasons", {}).items()
                 if not r.startswith("catalog: ")]  # the catalog's rows are said apart
        catalog = [(r.removeprefix("catalog: "), n) for r, n in data.get("reject_reasons", {}).items()
                   if r.startswith("catalog: ")]
        named = 5 if len(shown) > 6 else 6  # one reason left over is named, not counted
        reasons = "; ".join(f"{n:,}: {r}" for r, n in shown[:named])  # reasons hold commas
        rest = sum(n for _, n in shown[named:])
        if rest:
            reasons += f"; {rest:,} more for {counted(len(shown) - named, 'other reason')}"
        window = data.get("time_range")
        report.add(Heading("data", level=3), Bullets([
            f"Log {data['source']}: {data['rows_in']:,} rows read, {data['rows_ok']:,} kept, "
            f"{data['rows_rejected']:,} rejected" + (f" ({reasons})" if reasons else "")
            + (f"; catalog: {counted(sum(n for _, n in catalog), 'row')} rejected ("
               + "; ".join(f"{n:,}: {r}" for r, n in catalog) + ")" if catalog else "")
            + (f"; they are in {data['rejects_file']}." if data.get("rejects_file") else "."),
            f"{data['requests']:,} requests, {data['requests_without_positive']:,} without a positive"
            + (f", {partial_text(data['partial_requests'])}" if data.get("partial_requests") else "")
            + (f"; from {window[0]} to {window[1]}" if window else "")
            + (f" (in {data['time_zone']}: {local[0]} to {local[1]})."
               if (local := local_span(window, data.get("time_zone"))) else "."),
            f"How the split was made: {data['split']}; {data['train_requests']:,} requests to "
            f"train, {data['test_requests']:,} held out."] + _leakage(data.get("leakage"))))


def _leakage(leak: dict | None) -> list[str]:
    """The leakage check in words (a run from before the check has none)."""
    if not leak:
        return []
    # a run from before requests_of_seen_users has the share of requests under users_in_both
    users = leak.get("users_in_both") if "requests_of_seen_users" in leak else None
    requests = leak.get("requests_of_seen_users", leak.get("users_in_both"))
    text = (f"What training had already seen: of the test requests with a positive, "
            f"{percent(leak['user_item'])} have a user who engaged one of the same items in the "
            f"training part; of all test requests, {percent(leak['user_context'])} have a user "
            "seen there in the very same context"
            + (f" and {percent(requests)} a user seen there at all" if requests is not None else "")
            + (f"; of the test part's distinct users, {percent(users)} are also in the training "
               "part." if users is not None else ".")
            + (f" {percent(leak['new_items'])} of the test part's engagements are on items no "
               "training request engaged (new items), which only the rules (by name or catalog "
               "slice) and random list, and the learned engines only through the rules' "
               "candidates." if leak.get("new_items")
               else ""))
    from suggest.splits import LEAKY

    if leak.get("warning"):
        return [text + f" Warning: {leak['warning']}."]
    if max(leak["user_item"], leak["user_context"]) >= LEAKY:  # high, and no warning: say why
        text += (" No warning: the split is not by request, so these are people repeating "
                 "themselves, not near-copies of test requests; the warning is for a split by "
                 "request.")
    return [text]


def _validation_how(summary: dict, v: dict, metric: str) -> str:
    """How the ranker card's validation figure is made, and LightGBM's own beside it."""
    own = f"{_num(v.get(metric + '_candidates'))} is {lightgbm_figure(v)}"
    if summary.get("gain") == "exp":  # training scores with the relevance as gain
        return (" as replay computes it, but with the relevance as gain, as training scores it "
                f"(this run's NDCG uses 2^relevance - 1; {own}).")
    return f" as replay computes it ({own})."


def _trees(best: int | None, trees: int | None) -> str:
    """'37 trees, the best validation iteration' or 'best iteration 37 of 60 trees'."""
    if best is None or trees is None:
        return counted(trees, "tree") if trees else "? trees"
    if best >= trees:
        return f"{counted(trees, 'tree')}, the best validation iteration (early stopping)"
    return f"Best iteration {best} of {counted(trees, 'tree')}"


def _charts(report: Report, summary: dict, results: pd.DataFrame, main, metric: str) -> None:
    from suggest.report import charts

    report.add(Heading("Charts", "charts"),
               Chart(lambda: charts.curves(summary), "metric at k, per engine"),
               Chart(lambda: charts.segment_effects(main, metric),
                     f"segment effects of {main.b} minus {main.a} with 95% intervals"))
    if summary.get("rules"):
        report.add(Chart(lambda: charts.rule_firing(summary),
                         "rule firing, items placed and block counts (shadowed: fired, never placed)"))
    report.add(Chart(lambda: charts.latency(summary), "latency per engine"))


def _method(report: Report, summary: dict, main, min_segment: int) -> None:
    report.add(Heading("How the numbers are made", "method"), Bullets([
        "The terms: NDCG@k scores the order of the top k from 0 to 1 (1: the engaged items in "
        "the best order possible; each counts by its relevance grade, less the lower it sits); "
        "P@k (precision) is the share of the k shown that were engaged; R@k (recall) the share "
        "of the engaged items that were shown; MRR the mean over requests of 1 / the rank of "
        "the first engaged item in the top k (0 when none); answered, the share of requests "
        "given any suggestion. p: the chance of a difference at least this large if the "
        "engines were equally good, then Holm-adjusted for the many comparisons made (which "
        "raises it, up to 1: a p of 1 says the comparison cannot pass the correction, not that "
        "the engines are surely equal); significant below 0.05. MDE: the smallest true "
        "difference this sample would find with 80% power at the corrected level. p50 / p99: "
        "the median and the 99th-percentile time, in milliseconds.",
        "Metrics as trec_eval: lists ordered by score then item id ascending (on tied scores "
        "trec_eval orders by id descending and ranx its own way, so there the figures can "
        "differ); precision divides by k; NDCG's "
        "ideal list holds every relevant item, and its gain is "
        + ("2^relevance - 1 (--gain exp)" if summary.get("gain") == "exp" else "the relevance")
        + "; requests without a positive are left out and counted.",
        "Each difference is the mean of paired per-request differences with a 95% paired t interval. "
        "p-values come from the paired sign-flip test: exact when the differences allow, else its "
        "normal approximation (continuity-corrected) when many requests carry the sum, else "
        "Hoeffding's bound when that is already below 0.0001, else up to 50,000 seeded sign flips; "
        "so large effects get p-values as small as the data supports. Intervals are not adjusted "
        "for multiplicity; p-values are.",
        f"Overall comparisons: {tests_text(summary.get('tests', {}), same=False)}"
        + ("; so the other metrics and pairs compared never change the headline's p-values "
           "(each baseline or rule set replayed is in the headline's family)"
           if "headline" in summary.get("tests", {}) else "")
        + same_tests_text(summary.get("tests", {})) + ". Each segment column is its "
        "own Holm family (and the verdict's list of losing segments is Bonferroni over the "
        "columns too); the rule groups are one.",
        "MDE (minimum detectable effect): the true difference that this sample would find "
        "significant at its family's Bonferroni level with 80% power, from the paired differences' "
        "standard deviation; a non-significant difference smaller than it may still be real. "
        "When too few requests differ between the two engines for any p-value to pass (the "
        "sign-flip test flips only those), it says so instead.",
        f"Segments: values with fewer than {min_segment} requests pool into 'other'; a column keeps "
        "its 20 largest segments; numeric columns are cut into 5 quantile bins; on a log with time, "
        "the hour into 4-hour bands and the weekday by name, in local time. A segment holding "
        "nearly every request (95%) is the whole sample: shown, not tested again."]
        + ([RANKER_REASONS] if set(summary.get("engines") or {}) & {"ranker", "hybrid"} else [])
        + (_counterfactual_method(summary) if summary.get("counterfactual") else [])))


#: The ranker's reasons in words: the two features that pushed an item up, as the examples
#: show them (a PM read "item_share_recent=missing" as nonsense).
RANKER_REASONS = (
    "The ranker's reasons name the two features that pushed an item up most, with their "
    "values: user_item_count and user_item_share (how often, and what share of the times, this "
    "user engaged the item before the request), rank:history, rank:popular and rank:context "
    "(its place among the items the user-history, popular and context-popular baselines would "
    "show), item_share and item_share_recent (its share of everyone's engagements, all along "
    "and lately), slice_share:COLUMN and ctx_share (its share where the request's COLUMN, or "
    "every context column, has the request's value), user_ctx_share (the same for this user), "
    "src_rules and rule_rank (a rule proposed it, at that place), ctx:COLUMN and attr:NAME (the "
    "context value, the item's attribute). 'missing' is a value too: no history, no recent "
    "engagement, no time; a model learns what a missing value says.")


def _counterfactual_method(summary: dict) -> list[str]:
    """How the counterfactual estimates of a log of what was shown are made, in words."""
    from suggest.counterfactual import (MAX_CONTEXT_VALUES, MIN_ESS, MIN_EXPECTED,
                                        MIN_SUPPORT, WEIGHT_SHARE)

    clip = next((e.get("clip") for e in summary["counterfactual"].values() if e.get("clip")), None)
    return [
        "What each engine would have earned (a log of what was shown): each logged row the "
        "engine would have shown at the same position counts its engagement divided by the "
        "logging policy's propensity (IPS, the expected engagements per request in the top k); "
        "SNIPS divides by the sum of those weights per position instead of the requests; DR "
        "adds a reward model of item and position fitted on the training part.",
        "IPS's interval is a gamma interval on the weighted engagements, widened by one "
        "engagement at each place the logging policy could not have shown the engine's item "
        "(support below 100%); SNIPS's and DR's are bootstrap intervals of the sample's spread, "
        "which miss their estimators' bias. No interval passes one engagement a suggestion.",
        f"Support: the share of an engine's suggestions the logging policy could have shown "
        f"where it puts them, as far as the log shows: the (item, position) is shown in the "
        f"log, and, for each context column of at most {MAX_CONTEXT_VALUES} values, shown "
        f"with the request's value wherever {MIN_EXPECTED:.0f} shows would be expected at the "
        f"least propensity the log gives any item at that position, in any context (an upper "
        f"bound still: what the log does not record cannot be seen); below "
        f"{MIN_SUPPORT:.0%} its estimates are not compared. Effective "
        f"sample size: (sum of weights)^2 / sum of squared weights per position, of the uncapped "
        f"weights, at the weakest of the positions that carry at least {WEIGHT_SHARE:.0%} of "
        f"the engine's weights; below {MIN_ESS:.0f} an estimate is said to rest on few rows and never "
        "overrules the plain replay."
        + (f" Weights were capped at --clip {clip:g}: capped estimates lean low, the more so for "
           "engines that depart from the log, so their order leans towards the engine that chose "
           "it." if clip is not None else "")]
