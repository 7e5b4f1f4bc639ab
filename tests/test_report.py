"""The report a product manager opens: the verdict first, the same content as HTML and
Markdown, and a page that loads without errors and fits 1280 px in a real browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from click.testing import CliRunner

from suggest import synth
from suggest.cli import main
from suggest.data import load
from suggest.replay import replay

from conftest import replay_engines_with_ranker

BROWSER = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                if shutil.which(n)), None)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    synth.generate(synth.preset_config("default", users=30, days=10, seed=4), folder / "world")
    log = load(folder / "world" / "dataset.yaml")
    replay(log, replay_engines_with_ranker(), folder / "run", latency_sample=5)
    return folder / "run"


def _write(run, tmp_path, *args):
    result = CliRunner().invoke(main, ["report", str(run), *args])
    assert result.exit_code == 0, result.output
    return result


def test_the_data_card_says_the_catalog_rows_rejected_apart_from_the_log_rows(run, tmp_path):
    """A PM's report said "4 rejected" beside five reasons, one of them a catalog row's."""
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    summary = json.loads((copy / "summary.json").read_text())
    summary["data"].update(rows_rejected=2, reject_reasons={
        "user (user) is missing": 2, "catalog: genre 'popp' is not an allowed value": 1})
    (copy / "summary.json").write_text(json.dumps(summary))
    _write(copy, tmp_path, "--format", "md", "-o", str(tmp_path / "r.md"))
    text = (tmp_path / "r.md").read_text()
    assert ("2 rejected (2: user (user) is missing); catalog: 1 row rejected (1: genre 'popp' is "
            "not an allowed value)") in text


def test_a_rule_that_never_proposed_a_shown_item_is_not_called_shadowed_as_coverage_means_it(
        run, tmp_path):
    """A PM read "shadowed: other rules always filled the list first" of a rule whose items a
    block always removed, while `rules coverage` called shadowed two other rules this list
    credited with placing items: the two words meant two things."""
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    summary = json.loads((copy / "summary.json").read_text())
    summary["rules"]["shadowed"] = ["late-night-sushi"]
    summary["rules"]["fired"]["late-night-sushi"] = 12
    (copy / "summary.json").write_text(json.dumps(summary))
    _write(copy, tmp_path, "--format", "md", "-o", str(tmp_path / "r.md"))
    text = " ".join((tmp_path / "r.md").read_text().split())
    assert ("Never among a shown item's proposers (fired, but other rules filled the list first "
            "or a block removed its items): late-night-sushi (12 requests).") in text
    assert "`suggest rules coverage` calls a rule shadowed where the list is the same without it" \
        in text


def test_the_page_opens_with_the_verdict_and_holds_every_section(run, tmp_path):
    from suggest.report.html import SECTIONS

    _write(run, tmp_path, "-o", str(tmp_path / "report.html"))
    page = (tmp_path / "report.html").read_text()
    places = [page.index(f"id='{section}'") for section in SECTIONS]
    assert places == sorted(places)  # the verdict first, the method last
    verdict = page[places[0]:places[1]]
    summary = json.loads((run / "summary.json").read_text())
    baseline = summary["verdict"]["best_baseline"]
    assert summary["verdict"]["headline"].split(":")[0] in verdict
    assert "ranker vs the rules" in verdict and f"ranker vs the best baseline ({baseline})" in verdict
    assert f"ranker - {baseline}" in verdict  # the comparison table on the first screen
    assert "Candidate recall@" in page and "rows read" in page  # the ranker and data cards
    # the ranker's reasons in words, for a reader the feature names say nothing to
    assert "user_item_count and user_item_share (how often" in page
    import suggest.ranker.features as features

    listed = set(re.findall(r"``([\w:]+)", features.__doc__))  # the features, as documented
    assert {"user_item_count", "user_item_share", "item_share_recent", "ctx_share",
            "user_ctx_share", "rank:history", "rank:popular", "rank:context"} <= listed
    assert not re.search(r"(href|src)=[\"']?(https?:)?//", page)  # nothing from the network


def test_markdown_has_the_same_content_without_charts(run, tmp_path):
    _write(run, tmp_path, "--format", "md", "-o", str(tmp_path / "report.md"))
    text = (tmp_path / "report.md").read_text()
    headings = re.findall(r"^## (.+)$", text, flags=re.M)
    assert headings[:2] == ["Verdict", "Engines side by side"] and len(headings) == 7
    assert "Charts" not in headings  # no empty section: one line says where the charts are
    assert "| engine |" in text and "data:image" not in text and "<img" not in text
    html_words = set(re.findall(r"ranker vs the rules: [^<]+", (tmp_path / "report.md").read_text()))
    assert html_words  # the verdict sentences are there in words
    # the examples mark each suggested item the request engaged, and only those
    section = text.split("## Where one hit and the other missed")[1].split("\n## ")[0]
    rows = [line.split(" | ") for line in section.splitlines() if line.startswith("| r")]
    assert rows
    for row in rows:
        engaged = set(row[3].split(", "))
        for cell in row[4:]:
            for item in cell.strip(" |").split("; "):
                name = item.removeprefix("✓ ").split(" [")[0]
                assert item.startswith("✓ ") == (name in engaged), (item, engaged)


def test_the_format_follows_the_file_name_and_an_unknown_one_is_refused(run, tmp_path):
    _write(run, tmp_path, "-o", str(tmp_path / "notes.md"))
    assert (tmp_path / "notes.md").read_text().startswith("# ")  # Markdown, not a page
    refused = CliRunner().invoke(main, ["report", str(run), "-o", str(tmp_path / "report.pdf")])
    assert refused.exit_code == 2 and "cannot tell the report's format from 'report.pdf'" in \
        refused.output and not (tmp_path / "report.pdf").exists()
    _write(run, tmp_path, "--format", "html", "-o", str(tmp_path / "page.txt"))  # as asked
    assert "<html" in (tmp_path / "page.txt").read_text()


def test_a_pair_asked_for_leads_the_verdict_at_the_runs_own_metric(run, tmp_path):
    """`--a popular --b user-history`: the verdict keeps the replay's answer, and the pair asked
    for is said first (it was said only at another metric)."""
    _write(run, tmp_path, "--a", "popular", "--b", "user-history", "--format", "md",
           "-o", str(tmp_path / "p.md"))
    verdict = (tmp_path / "p.md").read_text().split("## Verdict")[1].split("##")[0]
    lines = [line for line in verdict.splitlines() if line.startswith("- ")]
    assert lines[0].startswith("- **user-history vs popular: ")
    assert any("Is the ranker worth it?" in line for line in lines[1:])


def test_a_metric_is_read_in_any_case(run, tmp_path):
    _write(run, tmp_path, "--format", "md", "--metric", "NDCG@5", "-o", str(tmp_path / "r.md"))
    assert "ndcg@5" in (tmp_path / "r.md").read_text()


def test_report_refuses_a_metric_the_run_does_not_have(run, tmp_path):
    result = CliRunner().invoke(main, ["report", str(run), "-o", str(tmp_path / "r.html"),
                                       "--metric", "ndcg@7"])
    assert result.exit_code == 2 and "no metric 'ndcg@7'" in result.output
    assert "it has 'ndcg@1', 'ndcg@3', 'ndcg@5' or 'ndcg@10'; replay with --k including 7" \
        in result.output  # not "did you mean 'ndcg@1'?"
    assert not (tmp_path / "r.html").exists()


PROBE_HEAD = ("<script>window.__errors=[];addEventListener('error',function(e){"
              "__errors.push(String(e.message))});</script>")
PROBE_END = """<script>addEventListener('load',function(){
var th=document.querySelector('table.sortable th:nth-child(2)');if(th){th.click();th.click();}
var broken=Array.from(document.images).filter(function(i){return !i.complete||!i.naturalWidth}).length;
var p=document.createElement('pre');p.id='probe';p.textContent=JSON.stringify({
width:document.documentElement.scrollWidth,errors:__errors,images:document.images.length,
broken:broken,sortable:document.querySelectorAll('table.sortable').length});
document.body.appendChild(p)});</script>"""


@pytest.mark.skipif(BROWSER is None, reason="needs headless Chromium (.ci/run installs it)")
def test_the_page_loads_in_chromium_without_errors_and_fits_1280_px(run, tmp_path):
    _write(run, tmp_path, "-o", str(tmp_path / "report.html"))
    page = (tmp_path / "report.html").read_text()
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("<head>", "<head>" + PROBE_HEAD, 1)
                      .replace("</body>", PROBE_END + "</body>", 1))
    out = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu",
                          "--window-size=1280,900", "--virtual-time-budget=5000", "--dump-dom",
                          probed.as_uri()], capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="probe">(.*?)</pre>', out.stdout, flags=re.S)
    assert found, out.stderr[-2000:]
    probe = json.loads(found.group(1).replace("&amp;", "&"))
    assert probe["errors"] == []
    assert probe["width"] <= 1280
    assert probe["images"] >= 3 and probe["broken"] == 0 and probe["sortable"] >= 2


def test_a_null_mde_reads_back_as_none_possible_or_missing_as_the_replay_meant(tmp_path):
    """JSON has no infinity: an MDE no sample this small could reach is null in the file,
    as a missing one is; read back, the first is infinite again (n >= 2 with a spread)."""
    import json

    from suggest.data.runs import read_summary
    from suggest.stats import format_mde

    (tmp_path / "summary.json").write_text(json.dumps({"engines": {"a": {}, "b": {}}, "comparisons": [
        {"a": "a", "b": "b", "metric": "ndcg@5", "requests": 3, "sd": 0.4, "mde": None},
        {"a": "a", "b": "b", "metric": "mrr@5", "requests": 1, "sd": None, "mde": None}]}))
    tiny, none = read_summary(tmp_path)["comparisons"]
    assert format_mde(tiny["mde"]) == "none possible" and format_mde(none["mde"]) == "n/a"
    # a replay says which it meant (a significant difference has no MDE, with n >= 2 and a
    # spread: the guess above would read it as none possible)
    from suggest.stats import Paired

    fields = dict(a="a", b="b", metric="ndcg@5", requests=40, mean_a=0.1, mean_b=0.3, diff=0.2,
                  ci_low=0.1, ci_high=0.3, p_value=0.001, method="t", sd=0.3, p_holm=0.002,
                  family=1, significant=True)
    found = Paired(**fields, mde=float("nan")).to_dict()
    few = Paired(**{**fields, "significant": False}, mde=float("inf")).to_dict()
    assert found["mde_none_possible"] is False and few["mde_none_possible"] is True
    (tmp_path / "summary.json").write_text(json.dumps(
        {"engines": {"a": {}, "b": {}}, "comparisons": [{**found, "mde": None}, {**few, "mde": None}]}))
    found, few = read_summary(tmp_path)["comparisons"]
    assert format_mde(found["mde"]) == "n/a" and format_mde(few["mde"]) == "none possible"



def test_the_cards_account_for_every_rejected_row_and_skip_features_without_gain():
    """The data card lists five reasons and says how many rows the others hold; the ranker
    card names no feature at "(0%)"."""
    from suggest.report.content import Report, _cards
    from suggest.report.markdown import render_report

    reasons = {f"reason {i}": n for i, n in enumerate([2, 1, 1, 1, 1, 1, 1])}
    summary = {
        "data": {"source": "log.csv", "rows_in": 30, "rows_ok": 22, "rows_rejected": 8,
                 "reject_reasons": reasons, "requests": 20, "requests_without_positive": 1,
                 "split": "by time", "train_requests": 16, "test_requests": 4},
        "ranker": {"ranker": {"validation": {}, "candidate_recall": {}, "candidates_cap": 50,
                              "top_features": [{"feature": "item", "gain_share": 0.996},
                                               {"feature": "hour", "gain_share": 0.004},
                                               {"feature": "battery", "gain_share": 0.0}]}}}
    report = Report("t")
    _cards(report, summary)
    text = render_report(report)
    assert "8 rejected (2: reason 0; 1: reason 1; 1: reason 2; 1: reason 3; 1: reason 4; " \
           "2 more for 2 other reasons)." in text
    # one reason left over is named: "1 for 1 other reason" told nothing
    del summary["data"]["reject_reasons"]["reason 6"]
    summary["data"].update(rows_rejected=7, rows_ok=23)
    report = Report("t")
    _cards(report, summary)
    assert "1: reason 4; 1: reason 5)." in render_report(report)
    assert "item (99.6%), hour (0.4%)." in text and "battery" not in text  # not "100%"
    assert "Ranker card and data card" in text
    del summary["ranker"]  # a run without a model: its cards are the data card alone
    report = Report("t")
    _cards(report, summary)
    assert "Ranker card" not in render_report(report) and "Data card" in render_report(report)


def test_the_ranker_cards_training_window_is_said_in_the_logs_zone_too():
    """The data card gave a Berlin log's span in Berlin time beside UTC; the ranker card's
    training window was UTC alone, so the two cards seemed to start on different days."""
    from suggest.report.content import Report, _cards
    from suggest.report.markdown import render_report

    window = ["2026-02-15 23:00:48+00:00", "2026-04-01 21:59:41+00:00"]
    summary = {
        "data": {"source": "log.csv", "rows_in": 3, "rows_ok": 3, "rows_rejected": 0,
                 "requests": 3, "requests_without_positive": 0, "split": "by time",
                 "train_requests": 2, "test_requests": 1, "time_zone": "Europe/Berlin",
                 "time_range": [window[0], "2026-04-12 21:59:41+00:00"]},
        "ranker": {"ranker": {"validation": {}, "candidate_recall": {}, "candidates_cap": 50,
                              "train_requests": 2, "training_window": window}}}
    report = Report("t")
    _cards(report, summary)
    assert "Trained on 2 requests from 2026-02-15 23:00:48+00:00 to 2026-04-01 21:59:41+00:00 " \
           "(in Europe/Berlin: 2026-02-16 00:00:48 to 2026-04-01 23:59:41);" in render_report(report)
    del summary["data"]["time_zone"]  # a log of many zones: UTC alone
    report = Report("t")
    _cards(report, summary)
    assert "to 2026-04-01 21:59:41+00:00; of those" in render_report(report)


def test_the_data_card_says_what_each_leakage_share_is_a_share_of():
    """Users and requests are told apart, the (user, item) share names its denominator (the
    requests with a positive), and 99.5% of users is not rounded to "100%"."""
    from suggest.report.content import Report, _cards
    from suggest.report.markdown import render_report

    def card(leakage):
        report = Report("t")
        _cards(report, {"data": {"source": "log.csv", "rows_in": 10, "rows_ok": 10,
                                 "rows_rejected": 0, "requests": 10,
                                 "requests_without_positive": 1, "split": "by time",
                                 "train_requests": 8, "test_requests": 2,
                                 "leakage": leakage}})
        return " ".join(render_report(report).split())

    text = card({"user_item": 0.3, "user_context": 0.63, "users_in_both": 0.9952,
                 "requests_of_seen_users": 0.8125, "warning": None})
    assert "of the test requests with a positive, 30% have a user who engaged" in text
    assert "of all test requests, 63% have a user seen there in the very same context" in text
    assert "and 81% a user seen there at all" in text
    assert "of the test part's distinct users, 99.5% are also in the training part" in text
    assert "100%" not in text
    # a run from before the user share: its users_in_both was a share of requests
    old = card({"user_item": 0.3, "user_context": 0.63, "users_in_both": 0.8125,
                "warning": None})
    assert "81% a user seen there at all" in old and "distinct users" not in old
    assert "new items" not in text
    # new releases under the verdict's 25% caution: a tester's 19% was said nowhere, while
    # the candidates' recall counted them out of reach
    churn = card({"user_item": 0.3, "user_context": 0.63, "new_items": 0.1912, "warning": None})
    assert "19% of the test part's engagements are on items no training request engaged (new " \
           "items)" in churn
    from suggest.report.terminal import ceiling_lines

    summary = {"ranker": {"ranker": {"candidate_recall": {"test": 0.641, "train": 0.7, "valid": 0.7},
                                     "candidates_cap": 50, "candidate_recall_test_requests": 900}},
               "leakage": {"new_items": 0.1912}}
    assert ceiling_lines(summary)[-1] == ("  (19.1% of all held-out engagements are on items no "
                                          "training request engaged: new items, which only the "
                                          "rules (by name or catalog slice) and random list, and "
                                          "the learned engines only through the rules' candidates)")


def _segment(value, diff, p_holm, mde=0.05, requests=40):
    return {"value": value, "requests": requests, "mean_a": 0.3, "mean_b": 0.3 + diff,
            "diff": diff, "ci_low": diff - 0.02, "ci_high": diff + 0.02, "p_holm": p_holm,
            "mde": mde, "share": 0.2}


def test_segment_colours_follow_the_count_and_found_differences_carry_no_mde():
    """The segments section counts a segment as significant only if it stays so with
    Bonferroni over the columns; the table of every segment tints the same ones, marks a
    segment significant within its column alone as such, and gives no MDE beside a found
    difference (an MDE at the Bonferroni level can read "none possible" beside it)."""
    from suggest.compare import Comparison
    from suggest.report.content import Report, Table, _segments

    families = {"mood": {"tests": 2, "pooled_into_other": 0,
                         "rows": [_segment("happy", 0.20, 0.001), _segment("sad", 0.10, 0.03,
                                                                             mde=float("inf"))]},
                "road": {"tests": 1, "pooled_into_other": 0, "rows": [_segment("city", 0.01, 0.6)]}}
    c = Comparison(a="rules", b="ranker", k=5, metric="ndcg@5", segments=families)
    assert [r["value"] for r in c.wins()] == ["happy"]  # sad: 0.03 x 2 columns is not < 0.05
    report = Report("segments")
    _segments(report, c, None, "ndcg@5")
    every = [b for b in report.blocks if isinstance(b, Table) and b.collapsed][0]
    table = every.frame.set_index("segment")
    assert every.tone == ["win", "", ""]
    assert table.loc["mood = happy", "listed"] == "yes"
    assert table.loc["mood = sad", "listed"] == "column only"
    assert table.loc["mood = sad", "MDE"] == "" and table.loc["mood = happy", "MDE"] == ""
    assert table.loc["road = city", "MDE"] == "0.050"
    assert "Significant: 0 losses, 1 wins." in " ".join(
        b.text for b in report.blocks if hasattr(b, "text"))


def test_the_table_of_every_segment_says_how_many_of_its_rows_were_tested():
    """A column whose one value is the whole sample is listed but not tested: the table's
    count differs from the tested count above it and says why, instead of three totals
    (tested, listed, charted) that disagree unexplained."""
    from suggest.compare import Comparison
    from suggest.report.content import Report, Table, _segments

    families = {"mood": {"tests": 2, "pooled_into_other": 0,
                         "rows": [_segment("happy", 0.20, 0.001), _segment("sad", 0.1, 0.3)]},
                "returning_user": {"tests": 0, "pooled_into_other": 0,
                                   "rows": [{**_segment("true", 0.15, float("nan"), requests=80),
                                            "share": 1.0, "whole": True}]}}
    report = Report("segments")
    _segments(report, Comparison(a="rules", b="ranker", k=5, metric="ndcg@5",
                                 segments=families), None, "ndcg@5")
    every = [b for b in report.blocks if isinstance(b, Table) and b.collapsed][0]
    assert len(every.frame) == 3
    assert every.caption.startswith("Every segment (3), by column: the 2 tested and 1 not (a "
                                    "segment of nearly the whole sample, which the overall test "
                                    "covers, or one under the minimum size)")
    text = " ".join(b.text for b in report.blocks if hasattr(b, "text"))
    assert "2 segments tested in 1 context column" in text


def test_the_segment_chart_draws_tested_segments_only_and_says_what_it_shows():
    """A newcomer segment of one request, untested and without an interval, was drawn at its
    own difference and stretched the axis over every tested segment; the chart had no title
    when it showed them all, and no word for its grey dots."""
    from suggest.compare import Comparison
    from suggest.report.charts import segment_effects

    families = {"mood": {"tests": 2, "pooled_into_other": 0,
                         "rows": [_segment("happy", 0.20, 0.001), _segment("sad", 0.01, 0.6)]},
                "returning_user": {"tests": 0, "pooled_into_other": 0,
                                   "rows": [{**_segment("false", 0.63, float("nan"), requests=1),
                                             "ci_low": float("nan"), "ci_high": float("nan"),
                                             "small": True}]}}
    figure = segment_effects(Comparison(a="rules", b="ranker", k=5, metric="ndcg@5",
                                        segments=families), "ndcg@5")
    ax = figure.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["mood=sad (n=40)", "mood=happy (n=40)"]
    assert ax.get_xlim()[1] < 0.5  # not stretched to the one request's +0.63
    assert ax.get_title(loc="left").startswith("ranker against rules: the 2 tested segments")
    assert "grey: neither" in ax.get_xlabel()


def test_a_rule_that_placed_items_but_never_the_first_is_named_under_the_rule_table():
    """The rule table groups requests by the rule behind the first suggestion: a rule that
    only ever placed lower items has no group, and the caption names it with its count
    (the chart beside it shows it firing)."""
    from suggest.compare import Comparison
    from suggest.report.content import Report, Table, _rules

    group = {"requests": 30, "mean_a": 0.2, "mean_b": 0.5, "diff": 0.3, "ci_low": 0.1,
             "ci_high": 0.5, "p_holm": 0.01, "significant": True, "b_wins": 20, "ties": 8,
             "a_wins": 2}
    main = Comparison(a="rules", b="ranker", k=5, metric="ndcg@5",
                      rules=[{"rule": "first", **group}, {"rule": "(no rule)", **group}])
    summary = {"rules": {"fired": {"first": 30, "second": 40, "quiet": 5, "tablet": 0},
                         "placed": {"first": 30, "second": 28, "quiet": 0, "tablet": 0},
                         "shadowed": ["quiet"], "requests": 100}}
    report = Report("rules")
    _rules(report, summary, main, "ndcg@5")
    # a rule that never fired has no group and an empty bar: said in words (a PM found it
    # nowhere in the page's text)
    assert any(getattr(b, "text", "").startswith("Never fired on the 100 held-out requests: "
                                                 "tablet (") for b in report.blocks)
    table = next(b for b in report.blocks if isinstance(b, Table))
    # placing is proposing a shown item, which coverage may call shadowed: said where it is
    # counted (a PM read "placed items" of a rule `rules check` called shadowed everywhere)
    assert table.caption == ("2 groups; rules that placed items but never the first one, so have "
                             "no group: second (28 requests) (placing: among a shown item's "
                             "proposers, also where a higher rule proposed it first; `suggest "
                             "rules coverage` calls a rule shadowed where the list is the same "
                             "without it)")


def test_the_rule_table_counts_rules_that_beat_the_engine_not_the_silent_group():
    """A report without a ranker read "1 rule(s) still beat rules: candidates for guardrails
    or the hybrid": the group was the requests where the rules were silent, and popular was
    the engine."""
    from suggest.compare import Comparison
    from suggest.report.content import Report, _rules

    group = {"requests": 30, "mean_a": 0.5, "mean_b": 0.2, "diff": -0.3, "ci_low": -0.5,
             "ci_high": -0.1, "p_holm": 0.01, "significant": True, "b_wins": 2, "ties": 8,
             "a_wins": 20}

    def caption(b, rules):
        report = Report("rules")
        _rules(report, {}, Comparison(a="rules", b=b, k=5, metric="ndcg@5", rules=rules), "ndcg@5")
        return report.blocks[1].text

    silent = {"rule": "(no rule)", **group}
    assert caption("popular", [silent]).endswith("No rule significantly beats popular where it fires.")
    assert caption("popular", [silent, {"rule": "commute", **group}]).endswith(
        "1 rule significantly beats popular where it fires.")
    assert caption("ranker", [{"rule": "commute", **group}, {"rule": "night", **group}]).endswith(
        "2 rules significantly beat ranker: candidates for guardrails or the hybrid.")
    assert caption("hybrid", [{"rule": "commute", **group}]).endswith(
        "1 rule significantly beats hybrid: candidates for guardrails.")  # not "or the hybrid"


def test_a_coverage_below_a_thousandth_is_shown_not_rounded_to_nothing():
    """5 items of a 20,000-item catalog: a tester's table read cover@5 0.000 for popular."""
    from suggest.report.terminal import share_text

    assert share_text(5 / 20_000) == "0.00025" and share_text(0.0) == "0.000"
    assert share_text(0.0012) == "0.001" and share_text(float("nan")) == "n/a"


def test_the_table_says_why_its_family_counts_fewer_tests_than_it_has_rows():
    """DePaulMovie's table listed ten rows "Holm-corrected over the 5 headline tests": the
    hybrid's rows repeat the ranker's tests (the same score on every request)."""
    from suggest.report.content import _same_rows

    rows = [{"a": "rules", "b": "ranker", "same_as": None},
            {"a": "rules", "b": "hybrid", "same_as": ["rules", "ranker", "ndcg@5"]},
            {"a": "popular", "b": "hybrid", "same_as": ["popular", "ranker", "ndcg@5"]}]
    assert _same_rows(rows) == (" (2 rows repeat another row's test, as hybrid - rules repeats "
                                "ranker - rules: the same difference on every request, so the "
                                "test counts once)")
    assert _same_rows(rows[:2]).startswith(" (1 row repeats another row's test")
    assert _same_rows(rows[:1]) == ""


def test_without_rules_the_report_and_compare_set_the_ranker_against_the_best_baseline():
    """A tester's `--engines ranker,random,popular,user-history`: compare and the report led
    with ranker vs random (the first engine listed, the most flattering pair), above a
    verdict that judged the ranker against user-history."""
    from suggest.report.content import report_engines

    engines = {"ranker": {"ndcg@5": 0.62}, "random": {"ndcg@5": 0.11},
               "popular": {"ndcg@5": 0.17}, "user-history": {"ndcg@5": 0.51}}
    summary = {"engines": engines}
    assert report_engines(summary, None, None, "ndcg@5") == ("user-history", "ranker", "user-history")
    assert report_engines(summary, "random", None, "ndcg@5")[:2] == ("random", "ranker")
    # the best baseline asked for as b: a is another engine, not itself
    assert report_engines(summary, None, "user-history", "ndcg@5")[0] != "user-history"
    with_rules = {"engines": {**engines, "rules": {"ndcg@5": 0.2}}}
    assert report_engines(with_rules, None, None, "ndcg@5")[:2] == ("rules", "ranker")
