"""The tables of a bench run: Markdown for ``results.md``, plain text for the terminal."""

from __future__ import annotations

LABELS = {"ndcg@5": "NDCG@5", "precision@5": "P@5", "recall@10": "R@10", "mrr@10": "MRR@10",
          "answered_rate": "answered", "catalog_coverage@5": "coverage@5"}


def markdown(result: dict) -> str:
    """``results.md``: the machine, the precision tables and the speed tables."""
    m = result["machine"]
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items())
    lines = [f"# suggest bench ({result['plan']['name']})", "",
             f"Run {m['date']} with `{result['command'] or 'run_bench'}` in {result['seconds']:.0f} s.", "",
             f"Machine: {m['cpu']}, {m['cpus']} CPUs ({m['cpus_usable']} usable), {m['memory_gib']} GiB, "
             f"{m['system']}; Python {m['python']}; {packages}.", ""]
    if "precision" in result:
        lines += precision_markdown(result["precision"])
    if "speed" in result:
        lines += speed_markdown(result["speed"])
    return "\n".join(lines) + "\n"


def _ci(entry: dict, digits: int = 3) -> str:
    low, high = entry["ci"]
    if entry["mean"] is None:
        return "n/a"
    if low is None:
        return f"{entry['mean']:.{digits}f}"
    return f"{entry['mean']:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _verdict(v: dict | None) -> tuple[str, str, str]:
    if v is None:
        return "no rule set", "", "-"
    diff = f"{v['diff']:+.3f} [{v['ci'][0]:+.3f}, {v['ci'][1]:+.3f}]"
    winner = {"ranker": "**ranker**", "rules": "**rules**", "neither": "neither (not significant)"}[v["winner"]]
    return diff, f"{v['p_holm']:.2g}", winner


def _best_baseline(world: dict) -> str:
    others = {n: e["ndcg@5"]["mean"] for n, e in world["engines"].items()
              if n not in ("rules", "ranker", "hybrid") and e["ndcg@5"]["mean"] is not None}
    if not others:
        return ""
    name = max(others, key=others.get)
    return f"{name} {others[name]:.3f}"


def precision_markdown(p: dict) -> list[str]:
    lines = ["## Precision: who wins, rules or the ranker", "",
             "Every engine replayed on the latest 20% of requests by time (a seeded 20% of requests "
             "for logs without time), fitted on the rest. NDCG@5 over held-out requests with a "
             "positive; the difference is ranker minus rules with a 95% paired t interval and "
             "the paired sign-flip test's p-value, Holm-corrected over the replay's headline tests "
             "(winner: p < 0.05). "
             "Rules answer: share of held-out requests the rules suggest anything for. Best baseline: "
             "the best of popular, context-popular, user-history and random.", "",
             "| world | what drives engagement | held out (with a positive) | rules answer | rules | ranker "
             "| best baseline | ranker - rules, NDCG@5 | p | winner |",
             "|---|---|---:|---:|---:|---:|---|---|---:|---|"]
    for w in p["worlds"]:
        engines = w["engines"]
        truth = w.get("truth") or ("real log" + (", no time: seeded split" if "seeded" in w["split"] else ""))
        rules = engines.get("rules")
        diff, pv, winner = _verdict(w["ranker_vs_rules"])
        lines.append(f"| {w['name']} | {truth} | {w['test_requests']:,} ({w['requests_scored']:,}) | "
                     + (f"{rules['answered_rate']['mean']:.0%} | {rules['ndcg@5']['mean']:.3f}" if rules
                        else "- | -")
                     + f" | {engines['ranker']['ndcg@5']['mean']:.3f} | {_best_baseline(w)} | {diff} | {pv} | "
                     f"{winner} |")
    cautions = _cautions(p["worlds"])
    if cautions:
        lines += ["", "What the table does not show:", ""] + [f"- {c}." for c in cautions]
    for note in p["notes"]:
        lines.append(f"\nNot replayed: {note}.")
    for w in p["worlds"]:
        lines += ["", f"### {w['name']}", ""]
        if w["kind"] == "synthetic":
            knobs = ", ".join(f"{k} {v}" for k, v in w["knobs"].items())
            lines += [f"Synthetic world: {w['truth']}; expected: {w['expect']}. Rules: `{w['rules']}`. "
                      f"Knobs: {knobs}.", ""]
        else:
            lines += [f"Real log `{w['log']}`; rules: `{w['rules'] or 'none'}`; {w['split']}.", ""]
        lines += [f"{w['requests']:,} requests, {w['test_requests']:,} held out, {w['requests_scored']:,} of them "
                  f"with a positive; {w['items']:,} items. 95% bootstrap intervals over requests. "
                  f"Run folder: `{w['run']}` (try `suggest compare {w['run']} --by ...`).", "",
                  "| engine | " + " | ".join(LABELS[f] for f in p["figures"]) + " |",
                  "|---|" + "---:|" * len(p["figures"])]
        ranked = sorted(w["engines"].items(), key=lambda e: -(e[1]["ndcg@5"]["mean"] or 0))
        for name, e in ranked:
            lines.append(f"| {name} | " + " | ".join(_ci(e[f]) for f in p["figures"]) + " |")
        if w.get("by_group"):
            groups = w["by_group"]
            lines += ["", "NDCG@5 by group of users (held-out requests with a positive):", "",
                      "| engine | " + " | ".join(f"{g} ({v['requests']:,})" for g, v in groups.items()) + " |",
                      "|---|" + "---:|" * len(groups)]
            for name, _ in ranked:
                lines.append(f"| {name} | " + " | ".join(_ci(v["engines"][name]) for v in groups.values()
                                                          if name in v["engines"]) + " |")
    lines.append("")
    return lines


def speed_markdown(s: dict) -> list[str]:
    from suggest.bench import metrics_speed, ranker_speed, replay_speed, rules_speed

    return ["## Speed", "", "Each figure against the reference measured in the same run. The targets are "
            "the project's goals at the full sizes (`suggest bench` without --quick); smaller runs "
            "say less about them.", "",
            f"### Rules engine (peak RSS of the measuring process: {s['rules']['peak_rss_mib']:,.0f} MiB)", "",
            rules_speed.markdown(s["rules"]), "",
            f"### Ranker (peak RSS of the measuring process: {s['ranker']['peak_rss_mib']:,.0f} MiB)", "",
            ranker_speed.markdown(s["ranker"]), "",
            "### Metrics against ranx and ir-measures", "", metrics_speed.markdown(s["metrics"]), "",
            "### End-to-end replay", "", replay_speed.markdown(s["replay"]), ""]


def _cautions(worlds: list[dict]) -> list[str]:
    """What the table of ranker against rules does not show: a world where the best baseline
    is ahead of the ranker, and one whose held-out requests repeat what training saw."""
    lines = []
    for w in worlds:
        b = w.get("ranker_vs_baseline")
        if b and b["diff"] < 0:
            significant = b["winner"] == b["baseline"]
            lines.append(f"{w['name']}: {b['baseline']} {b['baseline_score']:.3f} is above the "
                         f"ranker {b['ranker']:.3f} ("
                         + ("significantly" if significant else "not significantly")
                         + f", Holm p {b['p_holm']:.2g}): "
                         + ("the simple baseline is the better default there" if significant
                            else "the simple baseline is the safer default there until the "
                                 "ranker is shown to be better"))
        if w.get("leakage"):
            lines.append(f"{w['name']}: {w['leakage'].split(':')[0]}: its figures read high "
                         f"(see {w['run']}/summary.json)")
    return lines


def terminal(result: dict) -> str:
    """A one-screen summary: the precision verdicts and the headline speed ratios."""
    lines = []
    if "precision" in result:
        lines += ["precision (NDCG@5; ranker - rules with 95% CI, Holm-corrected p):",
                  f"  {'world':<14}{'held out':>9}{'rules':>8}{'ranker':>8}  {'ranker - rules':<34}{'p':>8}  winner"]
        for w in result["precision"]["worlds"]:
            e, v = w["engines"], w["ranker_vs_rules"]
            rules = f"{e['rules']['ndcg@5']['mean']:.3f}" if "rules" in e else "-"
            diff = (f"{v['diff']:+.3f} [{v['ci'][0]:+.3f}, {v['ci'][1]:+.3f}]" if v else "no rule set")
            lines.append(f"  {w['name'][:13]:<14}{w['test_requests']:>9,}{rules:>8}"
                         f"{e['ranker']['ndcg@5']['mean']:>8.3f}  {diff:<34}"
                         f"{(format(v['p_holm'], '.2g') if v else ''):>8}  {v['winner'] if v else '-'}")
        cautions = _cautions(result["precision"]["worlds"])
        if cautions:
            lines += ["", "what the table does not show:", *(f"  {c}" for c in cautions)]
        for note in result["precision"]["notes"]:
            lines.append(f"  not replayed: {note}")
    if "speed" in result:
        s = result["speed"]
        r, rk, m, rp = s["rules"], s["ranker"], s["metrics"], s["replay"]
        re_ = r["rule_engine"]
        lines += ["", "speed (each against its reference in the same run):",
                  f"  rules: {r['end_to_end']['requests_per_s']:,.0f} requests/s, "
                  f"{r['per_row_loop']['ratio']:.1f}x a per-row loop, "
                  + (f"{re_['ratio']:,.0f}x rule-engine" if re_["available"] else "rule-engine not installed")
                  + f"; suggest step peak {r['memory']['suggest_traced_peak_mib']:,.0f} MiB",
                  f"  ranker: suggest_one p50 {rk['single']['suggest_one']['p50_ms']:.2f} ms / p99 "
                  f"{rk['single']['suggest_one']['p99_ms']:.2f} ms ({rk['single']['ratio_p99']:.1f}x raw predict "
                  f"at p99); batch score {rk['batch']['share_of_raw']:.0%} of raw predict's rows/s",
                  "  metrics: " + _metrics_line(m),
                  "  replay: " + "; ".join(f"{z['requests']:,} requests in {z['replay']['seconds']:.1f} s, "
                                           f"peak {z['replay']['peak_rss_mib']:,.0f} MiB" for z in rp["sizes"])]
    return "\n".join(lines)


def _metrics_line(m: dict) -> str:
    parts = [f"{m['config']['requests']:,} requests in {m['ours']['seconds']:.2f} s"]
    rx, irm = m["ranx"], m["ir_measures"]
    parts.append(f"{rx['ratio_to_warm_evaluate']:.2f}x ranx's warm evaluate"
                 + ("" if rx["agrees"] else " (VALUES DIFFER)") if rx["available"] else "ranx not installed")
    parts.append(f"{irm['ratio']:.2f}x ir-measures" + ("" if irm["agrees"] else " (VALUES DIFFER)")
                 if irm["available"] else "ir-measures not installed")
    return ", ".join(parts) + " (time ours / theirs)"
