"""One self-contained HTML page for a replay run (DESIGN section 6).

Plots are drawn with matplotlib and embedded as base64 PNG, the styles are
inline, and nothing refers to a URL, so the file opens anywhere with no
network. Sections: the summary table, paired comparisons, metric@k curves
per engine, a per-segment heat map (the ranker's gain over the rules by
context value), rule firing and block counts, and the latency distribution.
"""

from __future__ import annotations

import base64
import html
import io

import numpy as np
import pandas as pd

SECTIONS = ("summary", "comparisons", "curves", "segments", "rules", "latency")


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{html.escape(alt)}">'


def _table(frame: pd.DataFrame, fmt: str = "{:.3f}") -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for _, row in frame.iterrows():
        cells = "".join(f"<td>{fmt.format(v) if isinstance(v, float) else html.escape(str(v))}</td>"
                        for v in row)
        rows.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _curves(summary: dict) -> str:
    import matplotlib.pyplot as plt

    ks = sorted({int(m.split("@")[1]) for m in summary["metrics"]})
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for ax, metric in zip(axes, ("ndcg", "precision", "recall")):
        for name, entry in summary["engines"].items():
            ax.plot(ks, [entry.get(f"{metric}@{k}", np.nan) for k in ks], marker="o", label=name)
        ax.set_title(f"{metric}@k")
        ax.set_xlabel("k")
        ax.set_xticks(ks)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    return _img(_png(fig), "metric at k curves per engine")


def _segments(results: pd.DataFrame, a: str, b: str, k: int, columns: list[str]) -> str:
    import matplotlib.pyplot as plt

    scored = results[results["has_positive"]]
    metric = f"ndcg@{k}"
    left = scored[scored["engine"] == a].set_index("request_id")
    right = scored[scored["engine"] == b].set_index("request_id")[metric]
    left = left.assign(gain=right.reindex(left.index) - left[metric])
    rows, labels = [], []
    for column in columns:
        means = left.groupby(column, observed=True)["gain"].agg(["mean", "size"])
        for value, r in means.iterrows():
            rows.append(r["mean"])
            labels.append(f"{column}={value} (n={int(r['size'])})")
    if not rows:
        return "<p>No categorical context columns to break down by.</p>"
    values = np.array(rows).reshape(-1, 1)
    fig, ax = plt.subplots(figsize=(5.5, 0.28 * len(rows) + 1))
    limit = float(np.nanmax(np.abs(values))) or 1.0
    im = ax.imshow(values, cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xticks([0], [f"{b} - {a}, {metric}"])
    for i, v in enumerate(values[:, 0]):
        ax.text(0, i, f"{v:+.3f}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, shrink=0.6)
    return _img(_png(fig), f"per-segment heat map of {b} minus {a}")


def _rules(summary: dict) -> str:
    import matplotlib.pyplot as plt

    counts = summary.get("rules") or {}
    if not counts:
        return "<p>No rules engine in this run.</p>"
    fired = pd.Series(counts["fired"]).sort_values()
    blocked = pd.Series(counts.get("blocked", {}))
    fig, ax = plt.subplots(figsize=(7, 0.3 * len(fired) + 1))
    colors = ["#c0504d" if name in blocked.index else "#4f81bd" for name in fired.index]
    ax.barh(fired.index, 100 * fired.to_numpy() / max(counts["requests"], 1), color=colors)
    ax.set_xlabel("% of test requests where the rule fired (red: block rules)")
    ax.grid(axis="x", alpha=0.3)
    return _img(_png(fig), "rule firing and block counts")


def _latency(results: pd.DataFrame, summary: dict) -> str:
    import matplotlib.pyplot as plt

    names = list(summary["engines"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.2))
    data = [results.loc[results["engine"] == n, "latency_us"].to_numpy() for n in names]
    axes[0].boxplot(data, tick_labels=names, showfliers=False)
    axes[0].set_ylabel("µs per request (batch)")
    axes[0].tick_params(axis="x", rotation=30)
    one = [summary["engines"][n].get("one_context_us_p50", np.nan) / 1000 for n in names]
    p99 = [summary["engines"][n].get("one_context_us_p99", np.nan) / 1000 for n in names]
    x = np.arange(len(names))
    axes[1].bar(x - 0.2, one, 0.4, label="p50")
    axes[1].bar(x + 0.2, p99, 0.4, label="p99")
    axes[1].set_xticks(x, names, rotation=30)
    axes[1].set_ylabel("ms for one context")
    axes[1].legend()
    for ax in axes:
        ax.grid(axis="y", alpha=0.3)
    return _img(_png(fig), "latency distribution")


STYLE = """body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;
max-width:1100px;color:#222;padding:0 1em}h1{font-size:1.6em}h2{font-size:1.2em;margin-top:2em;
border-bottom:1px solid #ddd}table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid
#ddd;padding:4px 8px;text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:
left}img{max-width:100%}.note{color:#555;font-size:.9em}"""


def render(summary: dict, results: pd.DataFrame, title: str = "suggest replay",
           a: str = "rules", b: str = "ranker", k: int = 5) -> str:
    """The report page as one HTML string."""
    import matplotlib

    matplotlib.use("Agg")
    engines = summary["engines"]
    if a not in engines or b not in engines:
        names = list(engines)
        a, b = (names + names)[0], (names + names)[1]
    cols = {f"ndcg@{k}": f"ndcg@{k}", f"precision@{k}": f"P@{k}", f"recall@{k}": f"R@{k}",
            f"mrr@{k}": f"MRR@{k}", "answered_rate": "answered", f"precision@{k}_answered":
            f"P@{k} answered", f"catalog_coverage@{k}": f"coverage@{k}"}
    table = pd.DataFrame([{"engine": n, **{label: e.get(c, float("nan")) for c, label in cols.items()},
                           "ms one context p50": e.get("one_context_us_p50", float("nan")) / 1000}
                          for n, e in sorted(engines.items(), key=lambda x: -x[1].get(f"ndcg@{k}", 0))])
    comparisons = pd.DataFrame([{"pair": f"{c['b']} - {c['a']}", "metric": c["metric"],
                                 "diff": f"{c['diff']:+.4f}", "95% CI low": f"{c['ci_low']:+.4f}",
                                 "95% CI high": f"{c['ci_high']:+.4f}",
                                 "p (Holm)": f"{c['p_holm']:.3g}",
                                 "significant": "yes" if c["p_holm"] < 0.05 else "no"}
                                for c in summary["comparisons"] if c["metric"] == f"ndcg@{k}"])
    context = [c for c in results.columns if c not in ("request_id", "engine", "has_positive",
                                                       "answered", "latency_us") and "@" not in c
               and (results[c].dtype == object or str(results[c].dtype) in ("str", "string", "bool",
                                                                            "boolean", "category"))]
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='note'>{summary['requests']:,} test requests ({html.escape(summary['split'])}); "
        f"the means are over the {summary.get('requests_scored', 0):,} with a positive "
        f"({summary['requests_without_positive']:,} without one are left out). Lists are ordered "
        "by score then item id; precision divides by k; answered is the share of all test "
        "requests with a suggestion.</p>",
        "<h2 id='summary'>Summary</h2>", _table(table),
        "<h2 id='comparisons'>Paired comparisons</h2>",
        f"<p class='note'>{html.escape(summary.get('tests', {}).get('note', ''))}.</p>",
        _table(comparisons) if len(comparisons) else "<p>No comparisons.</p>",
        "<h2 id='curves'>Metrics at k</h2>", _curves(summary),
        f"<h2 id='segments'>Where {html.escape(b)} gains over {html.escape(a)}</h2>",
        _segments(results, a, b, k, context),
        "<h2 id='rules'>Rule firing and blocks</h2>", _rules(summary),
        "<h2 id='latency'>Latency</h2>", _latency(results, summary),
    ]
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>"
            f"{html.escape(title)}</title><style>{STYLE}</style></head><body>"
            + "\n".join(parts) + "</body></html>\n")
