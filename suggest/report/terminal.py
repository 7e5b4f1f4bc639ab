"""The terminal summary of a replay: the verdict first, then the table and the tests."""

from __future__ import annotations

import textwrap

from suggest.stats import p_phrase


def verdict_lines(summary: dict, width: int = 100) -> list[str]:
    """The verdict's sentences, wrapped, each as a bullet."""
    sentences = (summary.get("verdict") or {}).get("sentences") or []
    lines = []
    for sentence in sentences:
        lines += textwrap.wrap(sentence, width, initial_indent="- ", subsequent_indent="  ")
    return lines


def summary_text(summary: dict) -> str:
    """What ``suggest replay`` and ``suggest demo`` print."""
    verdict = summary.get("verdict") or {}
    metric = verdict.get("primary_metric", "ndcg@5")
    k = metric.split("@")[1]
    lines = ["Verdict:", *verdict_lines(summary), ""]
    cols = [metric, f"precision@{k}", f"recall@{k}", f"mrr@{k}", "answered_rate",
            f"precision@{k}_answered", f"catalog_coverage@{k}"]
    heads = [metric, f"P@{k}", f"R@{k}", f"MRR@{k}", "answered", f"P@{k} answ.", f"cover@{k}",
             "ms one p50"]
    width = max(len(n) for n in summary["engines"]) + 2
    lines += [f"{summary['requests']:,} test requests ({summary['split']}); the means are over the "
              f"{summary.get('requests_scored', 0):,} with a positive "
              f"({summary['requests_without_positive']:,} without one are left out)",
              "answered: share of all test requests with a suggestion; P answ.: precision on those; "
              f"cover@{k}: share of the catalog ever suggested in the top {k}",
              "ms one p50: one context through suggest_one (the built-in engines but random have "
              "their own path; random scores it as a one-row batch)",
              "", "engine".ljust(width) + "".join(h.rjust(14) for h in heads)]
    for name, e in sorted(summary["engines"].items(), key=lambda x: -x[1].get(metric, 0)):
        row = [f"{e.get(c, float('nan')):.3f}" for c in cols]
        row.append(f"{e.get('one_context_us_p50', float('nan')) / 1000:.2f}")
        lines.append(name.ljust(width) + "".join(v.rjust(14) for v in row))
    focus = [c for c in summary["comparisons"] if c["metric"] == metric]
    if focus:
        tests = summary.get("tests", {})
        lines += ["", f"paired differences in {metric} (b - a): 95% paired t interval; p from the paired "
                      f"sign-flip test, Holm-corrected over the {tests.get('family', '?')} overall "
                      "tests (every pair and metric);",
                  "MDE: the smallest true difference this sample finds with 80% power"]
        pair_width = max(len(f"{c['b']} - {c['a']}") for c in focus) + 2
        for c in focus:
            mark = "significant" if c["p_holm"] < 0.05 else f"not significant, MDE {c['mde']:.3f}"
            lines.append(f"  {(c['b'] + ' - ' + c['a']).ljust(pair_width)}{c['diff']:+.3f} "
                         f"[{c['ci_low']:+.3f}, {c['ci_high']:+.3f}]  {p_phrase(c['p_holm']):<12}"
                         f"{mark}")
    return "\n".join(lines)
