"""The report as Markdown, for a pull request or a wiki: the same content as the HTML page
(:mod:`suggest.report.content`), charts left out, collapsed tables as ``<details>`` blocks
(which GitHub and most wikis render)."""

from __future__ import annotations

from suggest.report.content import Bullets, Chart, Heading, Report, Table, Text, build


def _escape(value) -> str:
    text = f"{value:.3f}" if isinstance(value, float) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(block: Table) -> str:
    frame = block.frame
    lines = ["| " + " | ".join(_escape(c) for c in frame.columns) + " |",
             "|" + "|".join("---" for _ in frame.columns) + "|"]
    lines += ["| " + " | ".join(_escape(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    table = "\n".join(lines)
    if block.collapsed:
        return f"<details><summary>{block.caption or 'table'}</summary>\n\n{table}\n\n</details>"
    return (f"{block.caption}\n\n{table}" if block.caption else table)


def _block(block) -> str | None:
    if isinstance(block, Heading):
        return "#" * block.level + " " + block.text
    if isinstance(block, Text):
        return f"_{block.text}_" if block.note else block.text
    if isinstance(block, Bullets):
        return "\n".join(f"- {'**' + i + '**' if block.strong and n == 0 else i}"
                         for n, i in enumerate(block.items))
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Chart):
        return None  # charts are in the HTML report
    raise TypeError(f"no Markdown for {type(block).__name__}")


def render_report(report: Report) -> str:
    # the charts' section holds charts only: one line says where they are instead
    blocks = [b for b in report.blocks if not (isinstance(b, Heading) and b.anchor == "charts")]
    parts = [f"# {report.title}"] + [p for p in map(_block, blocks) if p]
    parts.append("_Charts are in the HTML report (`suggest report RUN -o report.html`)._")
    return "\n\n".join(parts) + "\n"


def render(summary: dict, results, suggestions, truth=None, *, title: str = "suggest replay",
           **options) -> str:
    """The report of a replay as one Markdown string (options as the HTML report's)."""
    return render_report(build(summary, results, suggestions, truth, title=title, **options))
