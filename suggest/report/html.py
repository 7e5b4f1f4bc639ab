"""The report as one self-contained HTML page (DESIGN section 6).

The content comes from :mod:`suggest.report.content`; this module only draws
it. Charts are matplotlib figures embedded as base64 PNG, the styles and the
few lines of script that sort tables are inline, and nothing refers to a URL,
so the file opens anywhere with no network. The page fits 1280 px without
horizontal scrolling: wide cells wrap, and long tables sit in collapsed
``<details>`` blocks.
"""

from __future__ import annotations

import base64
import html
import io
import warnings

import pandas as pd

from suggest.report.content import SECTIONS, Bullets, Chart, Heading, Report, Table, Text, build

__all__ = ["SECTIONS", "render", "render_report"]

STYLE = """body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5em auto;
max-width:1180px;color:#222;padding:0 1em;line-height:1.4}h1{font-size:1.5em;margin-bottom:.2em}
h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd}h3{font-size:1.02em;margin:1.2em 0 .4em}
table{border-collapse:collapse;font-size:.84em;margin:.4em 0;max-width:100%}
td,th{border:1px solid #ddd;padding:3px 7px;text-align:right;vertical-align:top;white-space:nowrap}
th{background:#f4f4f4;text-align:left;white-space:normal;vertical-align:bottom}td:first-child,th:first-child{text-align:left}td.word{text-align:left}
td.text{text-align:left;white-space:normal;overflow-wrap:anywhere;min-width:180px;max-width:360px}th.sort{cursor:pointer}th.sort:after{content:" \\2195";color:#aaa}
tr.loss td{background:#fdecea}tr.win td{background:#e8f1fb}img{max-width:100%;height:auto}
.note{color:#555;font-size:.9em}.verdict li{margin:.35em 0;font-size:1.02em}
.caption{color:#555;font-size:.85em;margin:.2em 0}details{margin:.4em 0}summary{cursor:pointer;
color:#2e6db4}nav{font-size:.88em;color:#555}nav a{color:#2e6db4;margin-right:.8em}
.wide{overflow-x:auto;max-width:100%}"""

# Click a header to sort its table (numbers as numbers, text as text); a second click reverses.
SCRIPT = """document.querySelectorAll('table.sortable th').forEach(function(th,i){
th.classList.add('sort');th.addEventListener('click',function(){var t=th.closest('table'),
b=t.tBodies[0],r=Array.from(b.rows),d=th.dataset.d==='1'?-1:1;th.dataset.d=d===1?'1':'0';
var v=function(x){var s=x.cells[i].textContent.replace(/[,\\[\\]]/g,'').trim(),n=parseFloat(s);
return isNaN(n)?s:n};r.sort(function(x,y){var p=v(x),q=v(y);return(typeof p===typeof q?
(p<q?-1:p>q?1:0):(typeof p==='number'?-1:1))*d});r.forEach(function(x){b.appendChild(x)})})});"""


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    with warnings.catch_warnings():  # a log's emoji or script the font lacks: drawn as a box
        warnings.filterwarnings("ignore", r"Glyph \d+ .* missing from", UserWarning)
        fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _table(block: Table) -> str:
    frame = block.frame
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    tones = block.tone or [""] * len(frame)
    rows = []
    for tone, values in zip(tones, frame.itertuples(index=False)):
        cells = "".join(f"<td{_cell_class(v)}>{html.escape(_text(v))}</td>" for v in values)
        rows.append(f"<tr class='{tone}'>{cells}</tr>" if tone else f"<tr>{cells}</tr>")
    kind = " class='sortable'" if block.sortable and len(frame) > 3 else ""
    # in a box that scrolls sideways: a table wider than the page is not cut off at its edge
    table = (f"<div class='wide'><table{kind}><thead><tr>{head}</tr></thead>"
             f"<tbody>{''.join(rows)}</tbody></table></div>")
    caption = f"<p class='caption'>{html.escape(block.caption)}</p>" if block.caption else ""
    if block.collapsed:
        return (f"<details><summary>{html.escape(block.caption or 'table')} (click to open)"
                f"</summary>{table}</details>")
    return caption + table


def _text(value) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _cell_class(value) -> str:
    """Long text wraps; other words sit left; numbers (and intervals) sit right."""
    text = _text(value)
    if len(text) > 28:
        return " class='text'"
    if text.lstrip("+-[<( ").replace(",", "")[:1].isdigit() or text in ("n/a", "nan"):
        return ""
    return " class='word'"


def _block(block) -> str:
    if isinstance(block, Heading):
        anchor = f" id='{block.anchor}'" if block.anchor else ""
        return f"<h{block.level}{anchor}>{html.escape(block.text)}</h{block.level}>"
    if isinstance(block, Text):
        return f"<p{' class=note' if block.note else ''}>{html.escape(block.text)}</p>"
    if isinstance(block, Bullets):
        items = "".join(f"<li>{html.escape(i)}</li>" for i in block.items)
        return f"<ul{' class=verdict' if block.strong else ''}>{items}</ul>"
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Chart):
        return f'<img src="{_png(block.draw())}" alt="{html.escape(block.alt)}">'
    raise TypeError(f"no HTML for {type(block).__name__}")


def render_report(report: Report) -> str:
    """The page of a built :class:`~suggest.report.content.Report`."""
    anchors = [(b.anchor, b.text) for b in report.blocks if isinstance(b, Heading) and b.anchor]
    nav = "<nav>" + "".join(f"<a href='#{a}'>{html.escape(t)}</a>" for a, t in anchors) + "</nav>"
    body = "\n".join(_block(b) for b in report.blocks)
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' "
            f"content='width=device-width,initial-scale=1'><title>{html.escape(report.title)}"
            f"</title><style>{STYLE}</style></head><body><h1>{html.escape(report.title)}</h1>"
            f"{nav}\n{body}<script>{SCRIPT}</script></body></html>\n")


def render(summary: dict, results: pd.DataFrame, suggestions: pd.DataFrame | None = None,
           truth: pd.DataFrame | None = None, *, title: str = "suggest replay", **options) -> str:
    """The report page of a replay as one HTML string (``options``: ``a``, ``b``,
    ``metric``, ``min_segment``, ``seed``, as :func:`suggest.report.content.build`)."""
    if suggestions is None:
        suggestions = pd.DataFrame(columns=["request_id", "engine", "rank", "item_id", "score", "reason"])
    return render_report(build(summary, results, suggestions, truth, title=title, **options))
