"""Reports of a replay run: the terminal summary, the HTML page and the Markdown file."""

from __future__ import annotations
from pathlib import Path


def render_run(run_dir, fmt: str = "html", *, title: str | None = None, a: str | None = None,
               b: str | None = None, metric: str | None = None, min_segment: int | None = None,
               seed: int = 0) -> str:
    """The report of the finished replay in ``run_dir`` as HTML (``fmt="html"``) or Markdown.

    Reads only what the report uses: the compared engines, the best baseline and the
    rules, suggestions up to the primary metric's cutoff and the metrics at it.
    """

    from suggest.compare import COMPARED, check_metric
    from suggest.data.runs import read_replay, read_run_truth, read_summary, run_metrics
    from suggest.evaluate import parse_metric
    from suggest.report.content import report_engines, report_metric
    from suggest.segments import run_min_size

    if fmt == "md":
        from suggest.report.markdown import render
    else:
        from suggest.report.html import render
    summary = read_summary(run_dir)
    min_segment = run_min_size(summary, min_segment)
    data = summary.get("data")
    if data and data.get("rows_rejected"):  # the rows refused, where the replay wrote them
        written = [p for p in (Path(run_dir) / "rejects.csv", Path(run_dir) / "rejects") if p.exists()]
        if written:
            summary = {**summary, "data": {**data, "rejects_file": str(written[0])}}
    chosen = check_metric(run_metrics(run_dir), report_metric(summary, metric))
    cutoff = parse_metric(chosen)[1]
    engines = {*report_engines(summary, a, b, chosen), "rules"} - {None}
    results, suggestions = read_replay(run_dir, engines=sorted(engines), max_rank=cutoff,
                                       cutoff=cutoff, suggestion_columns=COMPARED)
    return render(summary, results, suggestions, read_run_truth(run_dir),
                  title=title or _title(summary, run_dir), a=a, b=b,
                  metric=chosen, min_segment=min_segment, seed=seed)


def _title(summary: dict, run_dir) -> str:
    """``suggest replay: <dataset> (<run folder>)``, or the folder alone for a run that does
    not name its dataset."""
    name, folder = (summary.get("settings") or {}).get("dataset"), Path(run_dir).resolve().name
    return f"suggest replay: {name} ({folder})" if name and name != folder else f"suggest replay: {folder}"
