"""The report's charts: each function returns a matplotlib figure with labelled axes."""

from __future__ import annotations

import numpy as np
import pandas as pd

SEGMENTS_SHOWN = 30


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def curves(summary: dict):
    plt = _plt()
    ks = sorted({int(m.split("@")[1]) for m in summary["metrics"]})
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), layout="constrained")
    # engines with the same figures (the hybrid of a model no block touched) would draw one
    # line over another: each has its own marker and dash, so both stay visible
    markers, dashes = "osD^vP", ("-", "--", ":", "-.")
    engines = summary["engines"]
    drawn = ("ndcg", "precision", "recall")
    figures = {name: [entry.get(f"{m}@{k}") for m in drawn for k in ks]
               for name, entry in engines.items()}
    # an engine with every figure of an earlier one: hollow and named as its twin
    twin = {name: next((o for o in list(engines)[:i] if figures[o] == figures[name]), None)
            for i, name in enumerate(engines)}
    for ax, metric in zip(axes, drawn):
        for i, (name, entry) in enumerate(engines.items()):
            ax.plot(ks, [entry.get(f"{metric}@{k}", np.nan) for k in ks],
                    marker=markers[i % len(markers)], linestyle=dashes[i % len(dashes)],
                    markersize=max(4, 9 - i) + (3 if twin[name] else 0),
                    markerfacecolor="none" if twin[name] else None,
                    label=f"{name} (= {twin[name]})" if twin[name] else name)
        ax.set_title(f"{metric}@k")
        ax.set_xlabel("k (suggestions shown)")
        ax.set_ylabel(f"mean {metric}@k")
        ax.set_xticks(ks)
        ax.grid(alpha=0.3)
    # beside the panels, not over the lines
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", fontsize=8,
               title="engine")
    return fig


def segment_effects(comparison, metric: str):
    """A forest plot: each segment's difference with its 95% interval, the ones the report
    lists as significant coloured (red: a loss, blue: a win: :meth:`Comparison.losses
    <suggest.compare.Comparison.losses>`, Bonferroni over the columns), the segments with the
    largest effect times size. A segment of nearly every request (a column whose values all
    pooled into 'other') restates the overall difference and is left out, as from the list."""
    from suggest.segments import WHOLE

    plt = _plt()
    listed = {(r["column"], r["value"]) for r in comparison.losses() + comparison.wins()}
    rows = [{"column": c, **r, "listed": (c, r["value"]) in listed}
            for c, family in comparison.segments.items() for r in family["rows"]
            if r.get("share", 0) < WHOLE and not r.get("small")  # tested ones: a segment
            and r.get("ci_low") is not None and np.isfinite(r["ci_low"])]  # of 1 spread the axis
    total = len(rows)
    rows = sorted(rows, key=lambda r: -abs(r["diff"]) * r["requests"])[:SEGMENTS_SHOWN][::-1]
    fig, ax = plt.subplots(figsize=(9, 0.3 * len(rows) + 1.3), layout="constrained")
    if not rows:
        ax.text(0.5, 0.5, "no segments", ha="center", va="center")
        ax.set_axis_off()
        return fig
    y = np.arange(len(rows))
    diff = np.array([r["diff"] for r in rows])
    low = np.array([r["ci_low"] for r in rows])
    high = np.array([r["ci_high"] for r in rows])
    colors = ["#c0392b" if r["listed"] and r["diff"] < 0 else
              "#2e6db4" if r["listed"] else "#999999" for r in rows]
    ax.hlines(y, low, high, colors=colors, lw=1.4)
    ax.scatter(diff, y, c=colors, s=14, zorder=3)
    ax.axvline(0, color="#444", lw=0.8)
    ax.set_yticks(y, [f"{r['column']}={str(r['value'])[:24]} (n={r['requests']:,})" for r in rows],
                  fontsize=8.5)
    ax.set_xlabel(f"{comparison.b} - {comparison.a}, {metric} (95% interval; red: significant "
                  "loss, blue: significant win, grey: neither)")
    ax.set_ylabel("segment")
    shown = (f"the {len(rows)} of {total} tested segments with the largest effect times size"
             if total > len(rows) else f"the {total} tested segments")
    ax.set_title(f"{comparison.b} against {comparison.a}: {shown} (every segment is in the tables "
                 "above)", fontsize=9.5, loc="left")
    ax.grid(axis="x", alpha=0.3)
    return fig


def rule_firing(summary: dict):
    """Per rule: the share of held-out requests where it fired and, for a suggest rule, where
    it placed a shown item; a rule that fired but never placed one is marked shadowed."""
    plt = _plt()
    counts = summary["rules"]
    fired = pd.Series(counts["fired"]).sort_values()
    blocked = pd.Series(counts.get("blocked", {}))
    placed = pd.Series(counts.get("placed", {}), dtype=float).reindex(fired.index)
    shadowed = set(counts.get("shadowed", []))
    total = max(counts["requests"], 1)
    fig, ax = plt.subplots(figsize=(8, 0.34 * len(fired) + 1.7), layout="constrained")
    y = np.arange(len(fired))
    suggesting = counts.get("placed", {}).keys() if "placed" in counts else ()
    colors = ["#c0504d" if name in blocked.index and name not in suggesting else "#4f81bd"
              for name in fired.index]
    if "placed" in counts:
        ax.barh(y + 0.2, 100 * fired.to_numpy() / total, 0.4, color=colors, label="fired")
        ax.barh(y - 0.2, 100 * placed.fillna(0).to_numpy() / total, 0.4, color="#9bbb59",
                label="placed a shown item")
    else:  # a run from before placements were counted
        ax.barh(y, 100 * fired.to_numpy() / total, 0.6, color=colors, label="fired")
    ax.set_yticks(y, [f"{name} (shadowed)" if name in shadowed else name for name in fired.index],
                  fontsize=8.5)
    ax.set_title("How often each rule fired" + (", and placed a shown item," if "placed" in counts
                                                 else "") + " on the held-out requests",
                 fontsize=9.5, loc="left")
    from matplotlib.patches import Patch

    ax.set_xlabel("% of held-out requests")
    ax.set_ylabel("rule")
    ax.legend(handles=[Patch(color="#4f81bd", label="fired (suggest rule)"),
                       Patch(color="#c0504d", label="fired (block rule: places nothing)")]
              + ([Patch(color="#9bbb59", label="placed a shown item")] if "placed" in counts
                 else []), fontsize=8, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    return fig


def latency(summary: dict):
    """Batch time per request (per-chunk means: p50 and p99 over chunks) and one context
    through ``suggest_one`` (p50 and p99 over a sample of held-out contexts)."""
    plt = _plt()
    names = list(summary["engines"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4), layout="constrained")
    x = np.arange(len(names))
    panels = (("latency_us_per_chunk_p50", "latency_us_per_chunk_p99", 1.0,
               "µs per request in a batch (chunk means)"),
              ("one_context_us_p50", "one_context_us_p99", 1000.0, "ms for one context"))
    for ax, (low, high, scale, label) in zip(axes, panels):
        p50 = np.array([summary["engines"][n].get(low, np.nan) / scale for n in names])
        p99 = np.array([summary["engines"][n].get(high, np.nan) / scale for n in names])
        if np.allclose(p50, p99, equal_nan=True):  # one chunk: one figure per engine, no spread
            ax.bar(x, p50, 0.6, label="one batch, mean")
        else:
            ax.bar(x - 0.2, p50, 0.4, label="p50")
            ax.bar(x + 0.2, p99, 0.4, label="p99")
        ax.set_xticks(x, names, rotation=30)
        ax.set_ylabel(label)
        ax.set_xlabel("engine")
        ax.legend()
        ax.grid(axis="y", alpha=0.3)
    return fig
