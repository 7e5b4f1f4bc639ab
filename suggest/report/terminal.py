"""The terminal summary of a replay: the verdict first, then the table and the tests."""

from __future__ import annotations

import textwrap

from suggest.errors import counted, percent
from suggest.stats import detectable, p_phrase
from suggest.verdict import lightgbm_figure, tests_text, twin_text, unadjusted


def verdict_lines(summary: dict, width: int = 100) -> list[str]:
    """The verdict's sentences, wrapped, each as a bullet."""
    sentences = (summary.get("verdict") or {}).get("sentences") or []
    lines = []
    for sentence in sentences:
        lines += textwrap.wrap(sentence, width, initial_indent="- ", subsequent_indent="  ")
    return lines


def ceiling_lines(summary: dict) -> list[str]:
    """Each trained model's ceiling on the held-out part: the share of its engagements its
    candidates hold (the twin of a model already said is not repeated)."""
    lines, said = [], []
    for name, card in (summary.get("ranker") or {}).items():
        recall = card.get("candidate_recall") or {}
        if recall.get("test") is None or card in said:
            continue
        said.append(card)
        lines.append(f"{name}: its candidates hold {recall['test']:.1%} of the held-out "
                     f"engagements (recall@{card.get('candidates_cap')} on "
                     f"{card.get('candidate_recall_test_requests', 0):,} held-out requests "
                     "with one; train "
                     f"{_num(recall.get('train'))}, from what each training request could have "
                     f"seen before it, validation {_num(recall.get('valid'))}): the "
                     f"other {1 - recall['test']:.1%} no order of them can reach")
    new = (summary.get("leakage") or {}).get("new_items")
    if lines and new:  # a tester's 35.9% out of reach was 19 points of new releases
        lines.append(f"  ({new:.1%} of all held-out engagements are on items no training request "
                     "engaged: new items, which only the rules (by name or catalog slice) and random list, "
                     "and the learned engines only through the rules' candidates)")
    return [""] + lines if lines else []


def summary_text(summary: dict) -> str:
    """What ``suggest replay`` and ``suggest demo`` print."""
    verdict = summary.get("verdict") or {}
    metric = verdict.get("primary_metric", "ndcg@5")
    k = metric.split("@")[1]
    lines = ["Verdict:", *verdict_lines(summary), ""]
    if verdict.get("metric_note"):  # the documented ndcg@5 was replaced: say so once
        lines[-1:] = [f"note: {verdict['metric_note']}", ""]
    if summary.get("warnings"):  # read before the figures they qualify
        lines += [*(f"warning: {w}" for w in summary["warnings"]), ""]
    lines += counterfactual_lines(summary)
    cols = [metric, f"precision@{k}", f"recall@{k}", f"mrr@{k}", "answered_rate",
            f"precision@{k}_answered", f"catalog_coverage@{k}"]
    heads = [metric, f"P@{k}", f"R@{k}", f"MRR@{k}", "answered", f"P@{k} answ.", f"cover@{k}",
             "ms one p50"]
    width = max(len(n) for n in summary["engines"]) + 2
    lines += [f"{summary['requests']:,} test requests ({summary['split']}); the means are over the "
              f"{summary.get('requests_scored', 0):,} with a positive "
              f"({summary['requests_without_positive']:,} without one are left out)"
              + ("; NDCG's gain: 2^relevance - 1 (--gain exp)" if summary.get("gain") == "exp"
                 else ""),
              "answered: share of all test requests with a suggestion; P answ.: precision on the "
              "answered ones with an engaged item; "
              f"cover@{k}: share of the catalog ever suggested in the top {k} (its items and the log's, "
              "when the log has items the catalog file lacks)",
              "ms one p50: one context through suggest_one (the built-in engines' own path, "
              "not a one-row batch)",
              "", "engine".ljust(width) + "".join(h.rjust(14) for h in heads)]
    for name, e in sorted(summary["engines"].items(), key=lambda x: _best_first(x[1].get(metric))):
        row = [(share_text if c.startswith("catalog_coverage") else _num)(e.get(c)) for c in cols]
        us = _number(e.get("one_context_us_p50"))
        row.append("n/a" if us != us else f"{us / 1000:.2f}")
        lines.append(name.ljust(width) + "".join(v.rjust(14) for v in row))
    lines += ceiling_lines(summary)
    focus = [c for c in summary["comparisons"] if c["metric"] == metric]
    if focus:
        tests = summary.get("tests", {})
        unseen = any(_number(c["p_holm"]) >= 0.05 for c in focus)  # rows that show an MDE
        lines += ["", f"paired differences in {metric} (b - a): 95% paired t interval, not adjusted; "
                      f"p from the paired sign-flip test, "
                      + tests_text(tests, "* below: " if any(c.get("headline") for c in focus) else "")
                  + (";" if unseen else "")]
        if unseen:
            lines.append("MDE: the smallest true difference this sample finds with 80% power")
        pair_width = max(len(f"{c['b']} - {c['a']}") for c in focus) + 2
        for c in focus:
            pair = f"{'*' if c.get('headline') else ' '} {(c['b'] + ' - ' + c['a']).ljust(pair_width)}"
            if _number(c["p_holm"]) != _number(c["p_holm"]):  # "+nan [+nan, +nan] not significant"
                lines.append(f"{pair}not tested: no held-out request with an engaged item")
                continue
            mark = ("significant" if _number(c["p_holm"]) < 0.05
                    else f"not significant{unadjusted(c)}, {detectable(c['mde'], differing=c.get('differing'))}")
            mark += twin_text(c)  # the same test as another row: said where it is read
            lines.append(f"{pair}{c['diff']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}]  "
                         f"{p_phrase(c['p_holm']):<12}{mark}")
    return "\n".join(lines)


def counterfactual_lines(summary: dict, width: int = 100) -> list[str]:
    """On a log of what was shown: what to trust, then each engine's estimates beside the plain
    replay (and the truth, on a simulated service); nothing on any other log."""
    from suggest.counterfactual import from_summary

    found = from_summary(summary)
    if not found:
        return []
    k, lines = found["k"], ["What each engine would have earned (log of what was shown):"]
    for sentence in found["sentences"]:
        lines += textwrap.wrap(sentence, width, initial_indent="- ", subsequent_indent="  ")
    engines = found["engines"]
    if not engines:
        return lines + [""]
    oracle = any("oracle" in e for e in engines.values())
    name_width = max(len(n) for n in engines) + 2
    best = found["recommended"]
    others = [e for e in ("ips", "snips", "dr") if e != best]
    heads = ["replay", f"{best.upper()} [95% interval]", *(e.upper() for e in others),
             "support", "ess", "max w"] + (["true"] if oracle else [])
    widths = (9, 26, 9, 9, 9, 8, 9, 9)
    lines += ["", f"expected engagements per request in the top {k}; replay: the plain count of "
                  "logged engagements the list holds"
              + ("; true: from the simulated service's truth (oracle in summary.json)"
                 if oracle else ""),
              "engine".ljust(name_width) + "".join(h.rjust(w) for h, w in zip(heads, widths))]
    for name, e in sorted(engines.items(), key=lambda x: -(x[1][best]["value"] or 0)):
        v = e[best]
        interval = (f"{_num(v['value'])} [{_num(v['ci_low'])}, {_num(v['ci_high'])}]"
                    if v["ci_low"] is not None else _num(v["value"]))
        row = [_num(e["replay"]), interval, *(_num(e[o]["value"]) for o in others),
               percent(e["support"]), f"{e['ess']:.0f}", f"{e['max_weight']:.3g}"]
        row += [_num(e.get("oracle"))] if oracle else []
        lines.append(name.ljust(name_width) + "".join(x.rjust(w) for x, w in zip(row, widths)))
    return lines + [""]


def _num(value) -> str:
    return "n/a" if value is None or value != value else f"{value:.3f}"


def share_text(value) -> str:
    """A share to 3 decimals, or to 2 significant digits where those would read 0.000 for
    something (5 items of a 20,000-item catalog: 0.00025)."""
    if value is not None and value == value and 0 < value < 0.0005:
        return f"{value:.2g}"
    return _num(value)


def _best_first(value) -> tuple:
    """Sort key: the highest figure first, a missing one (NaN, null) last."""
    value = _number(value)
    return (1, 0.0) if value != value else (0, -value)


def _number(value) -> float:
    """A figure of summary.json as a float: a missing one (null in the file) is NaN."""
    return float("nan") if value is None else value


def rejects_line(summary: dict, warnings: bool = True) -> str:
    """The rejected rows in one line (their three commonest kinds, and how many rows the
    others hold), then the load's warnings (unless ``warnings`` is False: a replay's are
    printed under its verdict), from the keys of :func:`suggest.workflow.rejects_summary`."""
    said = "".join(f"\nwarning: {w}" for w in summary.get("load_warnings", []) if warnings)
    catalog = summary.get("catalog_rejected") or 0
    also = f", and {counted(catalog, 'catalog row')}" if catalog else ""
    if not summary.get("rejects_file"):
        return "rejected log rows: none" + said
    if not summary["rejected_rows"]:
        return f"rejected log rows: none{also} -> {summary['rejects_file']}" + said
    top = "; ".join(f"{n:,} x {reason}" for reason, n in summary["reject_reasons"].items())
    rest = summary["rejected_rows"] - sum(summary["reject_reasons"].values())
    if rest > 0:
        top += f"; {rest:,} more for other reasons"
    return (f"rejected log rows: {summary['rejected_rows']:,} ({top}){also} -> "
            f"{summary['rejects_file']}" + said)


def _shown(x) -> str:
    return f"{x:.4f}" if x is not None else "n/a"


def train_warning(summary: dict) -> str | None:
    """The warning to print before anything else when the ranker is below a baseline on
    its validation requests, or None."""
    v, at = summary["validation"], summary["eval_at"]
    if not v.get("scored_requests") and v.get("valid_requests"):
        # a log whose latest requests have no engagement: nothing stopped the boosting and
        # nothing judged it, and training said "validation nan" with exit code 0
        return (f"warning: none of the {v['valid_requests']:,} validation requests has an engaged "
                f"item, so early stopping had nothing to stop on ({counted(v['best_iteration'], 'tree')} "
                "grown) and there is no validation figure; check the log's latest part, or "
                "give --n-estimators")
    if not v.get("ranker_below_baseline"):
        return None
    best, name = v["baselines"][v["best_baseline"]], f"ndcg@{at}"
    return (f"warning: on its validation requests the ranker ({name} {v[name]:.4f}) is below the "
            f"{v['best_baseline']} baseline ({best:.4f}); a simple baseline may be the better "
            "default")


def train_text(summary: dict) -> str:
    """What ``suggest train`` prints (after :func:`train_warning`, on stderr)."""
    v, at = summary["validation"], summary["eval_at"]
    recall = summary["candidate_recall"]
    lines = [f"left out for replay: {summary['held_out']}"] if summary["held_out"] else []
    ndcg, limited = v.get(f"ndcg@{at}"), v.get(f"ndcg@{at}_candidates")
    lines += [
        f"trained on {v['train_requests']:,} requests, validated on {v['valid_requests']:,} "
        f"({v['split']}); {summary['seconds']} s",
        f"candidate recall@{summary['candidate_cap']}: train {recall['train']:.3f}, validation "
        f"{recall['valid']:.3f} (the ranker cannot beat this)",
        f"validation NDCG@{at}: {_shown(ndcg)} over the {v.get('scored_requests', 0):,} validation "
        f"requests with a positive, as replay computes it ({_shown(limited)} is "
        f"{lightgbm_figure(v)}; {counted(v['best_iteration'], 'tree')})"]
    baselines = v.get("baselines") or {}
    if baselines:  # is it worth it over the simplest thing: the first question, at train time too
        order = sorted(baselines, key=lambda n: (-(baselines[n] if baselines[n] is not None
                                                    else float("-inf")), n))
        lines.append("  the baselines on the same requests: " + ", ".join(
            f"{n} {_shown(baselines[n])}" for n in order)
            + " (one validation sample, no test: `suggest replay --model` judges it)")
    if v.get("best_iteration") == 1:
        from suggest.replay import ONE_TREE

        lines.append(f"warning: the model {ONE_TREE}")  # a model that barely learned
    if "dask" in v:
        lines.append(f"trained on Dask: {v['dask']['workers']} workers, {v['dask']['partitions']} "
                     f"partitions; trees: {v['dask']['trees_from']}")
    lines.append("top features (gain): " + ", ".join(summary["top_features"]))
    tuning = v.get("tuning")
    if tuning:
        # None is a setting's default, which depends on the log: say which
        unset = {"num_leaves": f"by size ({v['num_leaves']})" if v.get("num_leaves")
                 else "by size", "truncation_level": "LightGBM's default"}
        chosen = ", ".join(f"{k}={unset.get(k, 'default') if val is None else val}"
                           for k, val in tuning["chosen"].items())
        lines.append(
            f"tuning: {len(tuning['tried'])} settings in {tuning['seconds']:g} s; chosen {chosen} "
            f"(validation NDCG@{at} {_shown(v[f'ndcg@{at}'])} against "
            f"{_shown(tuning['tried'][0]['score'])} with the defaults; the best of "
            f"{len(tuning['tried'])} on the same {v.get('scored_requests') or 0:,} validation "
            "requests reads high: the held-out replay is the figure to trust)")
    for row in v.get("ablation") or []:
        if row["left_out"] is None:
            lines.append(f"ablation (validation NDCG@{at} with each feature group left out): all "
                         f"{row['features']} features {_shown(row['score'])}")
        else:
            change = f"{row['change']:+.4f}" if row["change"] is not None else "n/a"
            lines.append(f"  without {row['left_out']} ({row['features']}): "
                         f"{_shown(row['score'])} ({change})")
    lines += [rejects_line(summary), f"model written to {summary['model']}/"]
    return "\n".join(lines)


def metrics_table(results: dict) -> str:
    """What ``suggest evaluate`` prints: one column of means per engine (engine name ->
    :class:`~suggest.evaluate.Results`, all over the same metrics)."""
    first = next(iter(results.values()))
    names = list(first.means)
    width = max(len(n) for n in names) + 2
    columns = [max(16, len(e) + 2) for e in results]  # an engine's name whole above its column
    left = {e: r.requests_without_positive for e, r in results.items()}
    # an engine's own requests without a relevant item: each run may list other requests
    # (a tester read rules' smaller count as rules scored on other requests: its run lists
    # the requests it answered only)
    out = (f"{first.requests_without_positive:,} without one are left out"
           if len(set(left.values())) == 1 else
           "every engine is scored on all of them (one its run does not list counts 0); "
           "requests without one, in its run or the truth, are left out ("
           + ", ".join(f"{e} {n:,}" for e, n in left.items()) + ")")
    lines = [f"{counted(first.requests, 'request')} with a relevant item; {out}",
             "metric".ljust(width) + "".join(e.rjust(w) for e, w in zip(results, columns))]
    lines += [name.ljust(width) + "".join(f"{r.means[name]:.4f}".rjust(w)
                                          for r, w in zip(results.values(), columns))
              for name in names]
    return "\n".join(lines)


def rule_tests_text(results: list[dict]) -> str:
    """What ``suggest rules test`` prints: PASS or FAIL per test, the problems, a count."""
    lines = []
    for r in results:
        lines.append(("PASS" if r["passed"] else "FAIL") + f"  {r['name']}"
                     + ("" if r["passed"] else f"  ({r['where']})"))
        lines += [f"      {problem}" for problem in r["problems"]]
    failed = sum(not r["passed"] for r in results)
    lines.append(f"{len(results) - failed} passed, {failed} failed")
    return "\n".join(lines)
