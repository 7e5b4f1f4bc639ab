"""The verdict: is the learned ranker worth it, over the rules and over the simplest thing?

Every output opens with it (DESIGN section 6): the terminal summary of
``suggest replay``, ``summary.json``'s ``verdict`` object and the top of the
report. It is built from a replay's summary alone:

* the **primary metric** (``ndcg@5`` unless ``--metric`` says otherwise);
* the **best engine** on it;
* the **best baseline**: the best engine that is neither learned (``ranker``,
  ``hybrid``) nor the team's ``rules`` (popular, context-popular,
  user-history, random or a team's own engine);
* each learned engine **against the rules and against the best baseline**:
  the difference, its 95% interval and its Holm-corrected p-value; "better"
  only when significant, and otherwise the minimum detectable effect, so "no
  significant difference" is not read as "no difference";
* the rules' **answered rate** and their precision where they answer;
* the **cost**: one-context latency p50/p99 and training time;
* the **segments where a learned engine significantly loses** (each segment
  column its own Holm family), largest effect times size first.
"""

from __future__ import annotations

from suggest.errors import listed, percent
from suggest.stats import detectable, p_phrase
from suggest.splits import new_items_caution, top_user_caution

LEARNED = ("ranker", "hybrid")
TEAM = "rules"
ALPHA = 0.05


#: Held-out candidate recall below which the verdict says a learned engine's ceiling.
LOW_RECALL = 0.6
#: A best baseline answering fewer held-out requests than this is said to be silent on the
#: rest (user-history on new users): a win over it may be a win over its silence alone.
SILENT_BASELINE = 0.95


def baseline_names(engines: dict[str, dict]) -> list[str]:
    """The engines that are neither learned nor a rule set (the team's rules or another
    replayed beside them): the simple baselines."""
    return [name for name, entry in engines.items()
            if name not in LEARNED and name != TEAM and not entry.get("rule_set")]


def best_baseline(engines: dict[str, dict], metric: str,
                  comparisons: list[dict] | None = None) -> str | None:
    """The best baseline (:func:`baseline_names`) on ``metric`` (without ``comparisons``,
    ties go by name).

    Given the run's ``comparisons``: of the baselines level with the best to the three
    decimals shown (:func:`level_with`), the one the first learned engine (else the rules)
    is least clearly ahead of: one it significantly loses to, else the largest corrected
    p-value. "Beats the best baseline" then
    holds of every baseline that could be the best; by name, a tie's answer hung on which
    name sorts first (a statistician's review: "Yes" against one, "Not shown" against its
    twin)."""
    simple = [(-engines[name].get(metric, float("-inf")), name) for name in baseline_names(engines)
              if engines[name].get(metric) == engines[name].get(metric)]
    if not simple:
        return None
    best = min(simple)[1]
    against = next((n for n in (*LEARNED, TEAM) if n in engines), None)
    if comparisons is None or against is None:
        return best

    def doubt(name: str) -> tuple:  # a significant loss to it first, then the largest p
        c = _find(comparisons, name, against, metric)
        if c is None or c["p_holm"] != c["p_holm"]:
            return (0, -1.0)
        return (int(c["p_holm"] < ALPHA and c["diff"] < 0), c["p_holm"])
    level = [best, *level_with(engines, best, metric)]
    return max(level, key=lambda n: (*doubt(n), -level.index(n)))


def level_with(engines: dict[str, dict], baseline: str, metric: str) -> list[str]:
    """The other baselines whose ``metric`` reads as ``baseline``'s to the three decimals the
    verdict shows."""
    value = (engines.get(baseline) or {}).get(metric)
    if value is None or value != value:
        return []
    return [n for n in baseline_names(engines) if n != baseline
            and f"{engines[n].get(metric, float('nan')):.3f}" == f"{value:.3f}"]


def other_rule_sets(engines: dict[str, dict]) -> list[str]:
    """The rule sets replayed beside the team's (``--rules NAME=FILE``), in order."""
    return [name for name, entry in engines.items() if name != TEAM and entry.get("rule_set")]


def verdict_pairs(names: list[str], metric: str, engines: dict[str, dict]) -> list[tuple[str, str]]:
    """The pairs every summary compares: each engine against the rules (or the first engine
    when there are no rules), then each learned engine against every baseline (the best
    first) and against each other rule set, and each other rule set against every baseline.

    Every baseline, not only the best: the best is picked on the held-out requests the
    tests use, so the headline's family (:func:`headline_tests`) holds each of them."""
    base = TEAM if TEAM in names else names[0]
    pairs = [(base, n) for n in names if n != base]
    baselines = _baselines_best_first(names, metric, engines)
    for other in baselines + other_rule_sets(engines):
        for n in (n for n in LEARNED if n in names and (other, n) not in pairs):
            if (n, other) in pairs:  # the first engine's pair the other way: tested once
                pairs.remove((n, other))
            pairs.append((other, n))
    for baseline in baselines:  # does a rule set beat the simplest thing that could work?
        pairs += [(baseline, n) for n in other_rule_sets(engines) if n in names
                  and (baseline, n) not in pairs and (n, baseline) not in pairs]
    return pairs


def _baselines_best_first(names: list[str], metric: str, engines: dict[str, dict]) -> list[str]:
    best = best_baseline(engines, metric)
    return ([best] if best in names else []) + [n for n in baseline_names(engines)
                                                if n in names and n != best]


def headline_words(engines: dict[str, dict]) -> str:
    """What the headline family of a replay of ``engines`` holds (:func:`headline_tests`), in
    words; empty when it holds nothing (no learned engine, and no rules or no baseline)."""
    learned = any(n in engines for n in LEARNED)
    rules, baselines = TEAM in engines, bool(baseline_names(engines))
    against = " and against ".join((["the rules"] if rules else [])
                                   + (["every baseline"] if baselines else []))
    said = (f"each learned engine against {against}" if learned and against
            else "the rules against every baseline" if rules and baselines else "")
    others = [w for w, present in (("the rules", rules), ("every baseline", baselines),
                                   ("the first learned engine", learned)) if present]
    if other_rule_sets(engines) and others:
        said += ("; " if said else "") + "each other rule set against " + (
            ", ".join(others[:-1]) + " and " + others[-1] if len(others) > 1 else others[0])
    if not said:
        return ""
    return said + " on the primary metric" + (
        ": the best baseline is picked on the same requests, so each one is in the family"
        if baselines else "")


def caution_sentences(summary: dict) -> list[str]:
    """The summary's ``cautions`` (the caller's words on what the comparison is) as the
    verdict says them."""
    return [f"Caution: {c}" + ("" if c.endswith(".") else ".") for c in summary.get("cautions") or ()]


def holm_family(c: dict) -> str:
    """The Holm family comparison ``c`` was tested in, in words: "the 4 headline tests", "the
    44 other overall tests" ("48 tests" from a replay before the two families)."""
    n = c.get("family", "?")
    if "headline" not in c:
        return f"{n} tests"
    return (f"the {n} headline test{'s' if n != 1 else ''}" if c["headline"]
            else f"the {n} other overall test{'s' if n != 1 else ''}")


def tests_text(tests: dict, marked: str = "", same: bool = True) -> str:
    """How a replay's overall tests were corrected (its summary's ``tests``), in words;
    ``marked``: how a table marks the headline tests, said beside them; ``same``: with the
    tests counted once as the same as another (:func:`same_tests_text`)."""
    said = same_tests_text(tests) if same else ""
    if "headline" not in tests:  # a replay before the two families
        return f"Holm-corrected over the {tests.get('family', '?')} overall tests (every pair and metric)"
    if not tests["headline"]:  # nothing the headline asks was replayed: one family
        return (f"Holm-corrected over the {tests['other']} overall tests (every pair and metric "
                f"at the primary metric's cutoff){said}")
    return (f"Holm-corrected within two families: {holm_family({'family': tests['headline'], 'headline': True})} "
            f"({marked}{tests.get('headline_tests', '')}) and "
            f"{holm_family({'family': tests['other'], 'headline': False})} (every other "
            f"pair and metric at the primary metric's cutoff){said}")


#: Why a test was the same as another (:func:`same_kinds`), in words.
SAME_KINDS = {"engines": "an engine that scores as another on every request, against the same "
                         "engine",
              "metrics": "two metrics equal on every request, as recall and hit rate are when "
                         "each request has one engaged item",
              "reversed": "a pair compared both ways round"}


def same_kinds(comparisons: list[dict]) -> list[str]:
    """Why the ``comparisons`` that are the same test as another (``same_as``) are: engines
    alike, metrics equal, or a pair reversed (keys of :data:`SAME_KINDS`)."""
    kinds = set()
    for c in comparisons:
        a, b, metric = c.get("same_as") or (None, None, None)
        if metric is None:
            continue
        if metric != c["metric"]:
            kinds.add("metrics")
        if (a, b) == (c["b"], c["a"]):
            kinds.add("reversed")
        elif (a, b) != (c["a"], c["b"]):
            kinds.add("engines")
    return [k for k in SAME_KINDS if k in kinds]


def twin_text(c: dict) -> str:
    """``' (the test of ranker - rules)'`` for a comparison that is the same test as another
    (its ``same_as``), said beside its figures; else nothing."""
    twin = c.get("same_as")
    if not twin:
        return ""
    if isinstance(twin, str):  # a pair's own family: another metric of the same pair
        return f" (the test of {twin})"
    a, b, metric = twin
    return (f" (the test of {b} - {a})" if metric == c["metric"]
            else f" (the test of {metric})" if [a, b] == [c["a"], c["b"]]
            else f" (the test of {b} - {a} on {metric})")


def same_tests_text(tests: dict) -> str:
    """The tests a replay counted once as the same as another, in words ("" when none)."""
    same = tests.get("same") or {}
    counts = [f"{n} {family}" for family, n in same.items() if n]
    if not counts:
        return ""
    many = sum(same.values()) != 1
    why = [SAME_KINDS[k] for k in tests.get("same_kinds") or ("engines",)]
    return (f"; a further {' and '.join(counts)} test{'s' if many else ''} had the same "
            f"difference on every request as one of those ({'; or '.join(why)}): "
            f"{'each counts' if many else 'it counts'} once, with that test's p-value")


def families_text(rows: list[dict]) -> str:
    """The Holm families of ``rows`` (a pair's comparisons on several metrics), in words,
    each with its metrics when they are not all of one family."""
    groups: dict[str, list[str]] = {}
    for row in sorted(rows, key=lambda r: not r.get("headline")):  # the headline's first
        groups.setdefault(holm_family(row), []).append(row["metric"])
    if len(groups) == 1:
        return next(iter(groups))
    return " and ".join(f"{text} ({', '.join(metrics)})" for text, metrics in groups.items())


def headline_tests(pairs: list[tuple[str, str]], metric: str,
                   engines: dict[str, dict]) -> set[tuple[str, str, str]]:
    """The tests the verdict's key comparisons rest on, among ``pairs`` (either way round),
    on ``metric``: each learned engine against the rules and against every baseline
    (without one, the rules against every baseline), and each other rule set against the
    rules, every baseline and the first learned engine. Every baseline, not the best alone:
    the best is picked on the requests the tests use, and testing the winner alone would
    find a difference among equal engines more often than 5% (a statistician's simulation:
    11% with 8 baselines). A replay tests them as one Holm family: the metrics and the other
    pairs compared beside them never change their p-values."""
    baselines = baseline_names(engines)
    learned = [n for n in LEARNED if n in engines]
    wanted = {(other, n) for n in learned for other in (TEAM, *baselines)}
    if not learned:
        wanted |= {(TEAM, b) for b in baselines}
    for name in other_rule_sets(engines):
        wanted |= {(TEAM, name), *((b, name) for b in baselines), *((name, n) for n in learned[:1])}
    return {(a, b, metric) for a, b in pairs if (a, b) in wanted or (b, a) in wanted}


def _find(comparisons: list[dict], a: str, b: str, metric: str) -> dict | None:
    """The comparison of ``b`` against ``a`` on ``metric``; one compared the other way round
    (``replay(compare=[(b, a)])``) is turned to read as ``b - a``."""
    for c in comparisons:
        if c["metric"] == metric and (c["a"], c["b"]) == (a, b):
            return c
    for c in comparisons:
        if c["metric"] == metric and (c["a"], c["b"]) == (b, a):
            return {**c, "a": a, "b": b, "diff": -c["diff"], "ci_low": -c["ci_high"],
                    "ci_high": -c["ci_low"], "mean_a": c.get("mean_b"), "mean_b": c.get("mean_a")}
    return None


def judge(summary: dict, metric: str, losses: dict[str, list[dict]] | None = None,
          tested: dict[str, dict] | None = None) -> dict:
    """The ``verdict`` object of a summary: the judgement and its plain-text sentences.

    ``losses`` maps ``"b - a"`` to the significant segments where ``b`` loses to
    ``a``; ``tested`` maps the same keys to ``{"segments": n, "columns": c}``.
    """
    engines, comparisons = summary["engines"], summary["comparisons"]
    # the headline answers "is the learned engine worth it?" first; then the details
    losses, tested = losses or {}, tested or {}
    ranked = sorted(engines, key=lambda n: (-engines[n].get(metric, float("-inf")), n))
    baseline = best_baseline(engines, metric, comparisons)
    learned = [n for n in LEARNED if n in engines]
    out = {"primary_metric": metric, "best_engine": ranked[0] if ranked else None,
           "best_baseline": baseline, "learned": learned, "key_comparisons": [],
           "losses": {}, "sentences": []}
    say = out["sentences"]
    # the caller's: what the comparison is (a model trained with other rules than the
    # replay's: "ranker vs the rules" compares across rule sets), before the answer itself
    say += caution_sentences(summary)
    if summary.get("requests_scored") == 0:  # nothing to score: no figure, no comparison
        held = summary.get("requests")
        say.append(f"None of the{f' {held:,}' if held else ''} held-out requests has an engaged "
                   "item, so no engine can be scored and none compared: every figure below is "
                   "empty. Hold out a part of the log that has engagements (a larger "
                   "--test-share, another --split), or check which rows count as engaged "
                   "(the description's relevance and positive_min).")
        return out
    leaky = bool((summary.get("leakage") or {}).get("warning"))
    headline = (_headline(learned[0], baseline, comparisons, metric, leaky, engines) if learned
                else _rules_headline(baseline, comparisons, metric, engines))
    if headline:
        out["headline"] = headline
        say.append(headline)
    chance = _chance_best(engines, baseline, metric)
    if chance:
        say.append(chance)
    cut, size = metric.rsplit("@", 1)[-1], summary.get("catalog_items")
    if size and cut.isdigit() and size <= int(cut):  # a tester's 5-item catalog: random hit 100%
        say.append(f"Caution: the catalog has {size} items, so a list of {cut} can hold every "
                   f"one: figures at {cut} read as well for any engine that lists them all, "
                   "random included; the smaller cutoffs (--k) are the ones that tell.")
    short = _short_lists(engines, metric)
    if short:
        say.append(short)
    one = top_user_caution((summary.get("leakage") or {}).get("top_user") or 0.0)
    if one:
        out["top_user"] = one
        say.append(f"Caution: {one}.")
    churn = new_items_caution((summary.get("leakage") or {}).get("new_items") or 0.0)
    if churn:  # every engine is starved alike: the reason for what follows, said first
        out["new_items"] = churn
        say.append(f"Caution: {churn}.")
    # an engine that shows what the team's block rules remove; the best baseline too, as the
    # learned engines are judged against it (a PM's user-history showed one in 55% of them)
    for name in (*learned, *([baseline] if baseline in engines else [])):
        shown = engines[name].get("blocked_shown_rate")
        if shown:
            cut = metric.split("@")[1]
            kept = [n for n in learned if n != name and engines[n].get("blocked_shown_rate") == 0
                    ] if name in learned else []  # the baseline's sentence names no engine to ship
            who = name if name in learned else f"{name} (the best baseline)"
            # the team's blocks, not another rule set's (a tester counted the wrong file's)
            whose = " of the team's rules" if other_rule_sets(engines) else ""
            say.append(f"Caution: {who} shows an item a block rule{whose} removes in {percent(shown)} "
                       f"of the {engines[name]['block_requests']:,} held-out requests where one "
                       f"fires (in its top {cut})"
                       + (f"; {kept[0]} never does: ship {kept[0]} to keep the blocks"
                          if kept else "") + ".")
            out.setdefault("blocked_shown", {})[name] = shown
    below = summary.get("ranker_below_baseline") or {}
    if below.get("value"):
        out["ranker_below_baseline"] = below
        compared = next((c for c in comparisons if {c["a"], c["b"]} == {"ranker", below["baseline"]}
                         and c["metric"] == below["metric"]), None)
        paired = compared is not None and below["on"] == "the held-out requests"
        unfound = paired and compared["p_holm"] >= ALPHA  # 14 requests had read "learnt nothing"
        gap = ("" if not paired else ", a gap the paired test below does not find significant"
               if unfound else ", a significant gap")
        say.append(f"Warning: on {below['on']} the ranker scores below {below['baseline']} "
                   f"({below['metric']} {below['ranker']:.3f} against {below['baseline_score']:.3f}"
                   f"{gap}): " + ("random is the floor, not a default to ship: " + (
                                      "this sample does not show the ranker doing better than "
                                      "chance" if unfound else "the ranker has learnt nothing "
                                      "that holds on these requests")
                                  if below["baseline"] == "random" else
                                  "the simple baseline is the safer default until the ranker is "
                                  "shown to be better") + ".")
    from suggest.data.load import many_rejected

    data = summary.get("data") or {}
    lost = many_rejected(data.get("rows_in", 0), data.get("rows_rejected", 0),
                         data.get("reject_reasons") or {})
    if lost:  # the figures below are of a part of the log: say so before them
        say.append(f"Caution: {lost}.")
    warning = (summary.get("leakage") or {}).get("warning")
    if warning:  # the answer above may be flattered: say so before the details
        out["caution"] = warning
        say.append(f"Caution: {warning}.")
    if ranked:
        say.append(_highest(ranked, engines, metric))
        plain = _plainly(engines, [*learned[:1], TEAM, baseline], metric)
        if plain:
            say.append(plain)
        if learned:  # where a learned engine fails whatever it learns: items it never considers
            card = (summary.get("ranker") or {}).get(learned[0]) or {}
            recall = (card.get("candidate_recall") or {}).get("test")
            if recall is not None and recall < LOW_RECALL:
                say.append(f"{learned[0]}'s candidates hold {percent(recall)} of the held-out "
                           f"engagements (recall@{card.get('candidates_cap')}): the other "
                           f"{percent(1 - recall)} it never ranks, whatever it learns; its "
                           "candidate sources (popular, the context's, the user's history, the "
                           "rules) are its ceiling.")
    twins = {name: _twin(name, learned, comparisons) for name in learned}
    for name in learned:
        if twins[name]:
            say.append(_twin_sentence(name, twins[name], comparisons, metric))
            continue
        where, said = [], []
        for other, label in ((TEAM, "the rules"), (baseline, f"the best baseline ({baseline})")):
            c = _find(comparisons, other, name, metric) if other in engines else None
            if c is None:
                continue
            out["key_comparisons"].append(c)
            said.append((c, other, label))
            key = f"{name} - {other}"
            if key in losses:
                out["losses"][key] = losses[key]
                where.append((other, losses[key], tested.get(key, {})))
        first = learned[0]
        compact = name != first and bool(said) and _reads_as(name, first, said, comparisons,
                                                                 losses, metric)
        if compact:
            # the same readings as the first learned engine's, no loss anywhere: one sentence,
            # not its every sentence again (a PM read five repeated bullets as noise)
            say.append(f"{name} reads as {first} does: " + "; ".join(
                f"vs {label} {c['diff']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}], "
                f"{p_phrase(c['p_holm'])}" for c, _, label in said)
                + " (Holm as above); it significantly loses in no segment either.")
        else:
            say += [f"{name} vs {label}: " + _difference(c, name, other, comparisons)
                    for c, other, label in said]
            if where:
                say.append(_losses(name, where, (summary.get("segments") or {}).get("min_segment")))
        other = baseline if baseline in engines else TEAM
        newcomers = _new_users(summary, name, other, metric)
        if newcomers and not (compact and _same_newcomers(summary, name, first, other)):
            say.append(newcomers)
    if not learned and baseline is not None and TEAM in engines:
        c = _find(comparisons, TEAM, baseline, metric)
        if c is not None:  # no learned engine: is the simplest thing better than the rules?
            out["key_comparisons"].append(c)
            say.append(f"The best baseline, {baseline}, vs the rules: " + _difference(c, baseline, TEAM, comparisons))
    for name in other_rule_sets(engines):  # hand-written, mined, distilled rules side by side
        said = [(TEAM, name, f"{name} (rules from {engines[name]['rule_set']}) vs the rules: ", ""),
                (baseline, name, f"{name} vs the best baseline ({baseline}): ", ""),
                *((name, model, f"{model} vs {name}: ", _kept(engines, name, model, metric, comparisons))
                  for model in learned[:1])]
        for a, b, head, tail in said:
            c = _find(comparisons, a, b, metric) if a is not None else None
            if c is not None:
                out["key_comparisons"].append(c)
                say.append(head + _difference(c, b, a, comparisons) + tail)
    if TEAM in engines and engines[TEAM].get("answered_rate") is not None:
        say.append(_rules_sentence(engines[TEAM], metric, summary.get("requests"),
                                    summary.get("requests_scored")))
    if learned:
        say.append(cost_sentence([n for n in (*learned, TEAM, baseline) if n in engines], engines))
    return out


def _kept(engines: dict, name: str, learned: str, metric: str,
          comparisons: list[dict] | None = None) -> str:
    """How much of the learned engine's gain over the rules the rule set ``name`` keeps, as a
    clause; empty when the learned engine does not score above the rules."""
    rules, mine, model = (engines.get(n, {}).get(metric) for n in (TEAM, name, learned))
    if None in (rules, mine, model) or not model > rules:
        return ""
    if mine < rules:  # below the rules: no share of a gain to keep
        c = _find(comparisons or [], TEAM, name, metric)
        how = ("" if c is None else " significantly" if c["p_holm"] < ALPHA
               else ", though not significantly,")
        return (f" {name} scores{how} below the rules ({metric} {mine:.3f} against {rules:.3f}; "
                f"{model:.3f} for {learned}).")
    share = (mine - rules) / (model - rules)
    return (f" {name} keeps {share:.0%} of {learned}'s gain over the rules ({metric} {mine:.3f}, "
            f"against {rules:.3f} for the rules and {model:.3f} for {learned}).")


def _plainly(engines: dict, names: list, metric: str) -> str | None:
    """The headline's engines in the plainest figure: how often an engaged item is in the top
    k (``hit_rate@k``), for readers to whom NDCG means nothing."""
    k = metric.split("@")[1]
    shown = [(n, engines[n].get(f"hit_rate@{k}")) for n in dict.fromkeys(names)
             if n is not None and n in engines]
    shown = [(n, v) for n, v in shown if v is not None and v == v]
    if len(shown) < 2:
        return None
    return (f"In plain terms, an engaged item is in the top {k} for "
            + ", ".join(f"{percent(v)}{' of requests' if i == 0 else ''} with {n}"
                        for i, (n, v) in enumerate(shown))
            + " (hit rate, over the requests with one).")


def _highest(ranked: list[str], engines: dict, metric: str) -> str:
    """Who is best, naming a tie at the three decimals shown."""
    shown = [f"{engines[n][metric]:.3f}" for n in ranked]
    tied = [n for n, v in zip(ranked, shown) if v == shown[0]]
    rest = ", ".join(f"{n} {v}" for n, v in zip(ranked[len(tied):len(tied) + 3],
                                                 shown[len(tied):len(tied) + 3]))
    exact = len({engines[n][metric] for n in tied}) == 1  # the same mean, not only as shown
    best = (f"{ranked[0]} ({shown[0]})" if len(tied) == 1 else
            listed(tied) + f" tie at {shown[0]}" + (" exactly" if exact else
                                                    " (to the three decimals shown)"))
    return f"Highest {metric}: {best}" + (f"; next {rest}." if rest else ".")


def _twin(name: str, learned: list[str], comparisons: list[dict]) -> str | None:
    """The earlier learned engine that ``name`` matches on every comparison, if any."""
    for other in learned[:learned.index(name)]:
        # against every other engine (not each other, which the one has and the other not)
        mine = {(c["a"], c["metric"]): (c.get("mean_b"), c["diff"]) for c in comparisons
                if c["b"] == name and c["a"] != other}
        theirs = {(c["a"], c["metric"]): (c.get("mean_b"), c["diff"]) for c in comparisons
                  if c["b"] == other and c["a"] != name}
        if mine and mine == theirs:
            return other
    return None


def _reads_as(name: str, first: str, said: list, comparisons: list[dict], losses: dict,
              metric: str) -> bool:
    """Whether ``name``'s key comparisons read as ``first``'s (both significant the same way,
    or neither) and neither loses in any segment: its sentences would repeat ``first``'s."""
    def reading(c: dict | None):
        return None if c is None else (c["p_holm"] < ALPHA, c["diff"] > 0 if c["p_holm"] < ALPHA
                                       else None)
    for c, other, _ in said:
        if reading(c) != reading(_find(comparisons, other, first, metric)):
            return False
        if losses.get(f"{name} - {other}") or losses.get(f"{first} - {other}"):
            return False
    return all(f"{n} - {o}" in losses for n in (name, first) for _, o, _ in said)


def _same_newcomers(summary: dict, name: str, first: str, other: str) -> bool:
    """Whether ``name``'s sentence on users new to the engines would show ``first``'s figures
    (to the three decimals shown): one that reads as the first says it once."""
    from suggest.segments import RETURNING

    def shown(r: dict | None):
        return None if r is None else (r.get("baseline"), r.get("requests"), *(
            round(r[k], 3) if r.get(k) == r.get(k) and r.get(k) is not None else None
            for k in ("diff", "ci_low", "ci_high")))

    def returning(n: str):
        pair = ((summary.get("segments") or {}).get("pairs") or {}).get(f"{n} - {other}") or {}
        rows = (pair.get(RETURNING) or {}).get("rows", [])
        return shown(next((r for r in rows if r["value"] == "true"), None))

    new = summary.get("newcomers") or {}
    return (shown(new.get(name)) == shown(new.get(first))
            and returning(name) == returning(first))


def _twin_sentence(name: str, twin: str, comparisons: list[dict], metric: str) -> str:
    """``name`` scores as ``twin`` does: on every request when their paired comparison finds
    no request scored differently (their lists may still differ: a hybrid's rules block items
    that no request engaged), else on average only."""
    c = _find(comparisons, twin, name, metric)
    # each of its tests the twin's, against the same engine on the same metric: the same
    # score on every request, as a paired comparison of the two would find
    mine = [o for o in comparisons if name in (o["a"], o["b"]) and twin not in (o["a"], o["b"])]
    copied = bool(mine) and all(o.get("same_as") and o["same_as"][2] == o["metric"]
                                and twin in o["same_as"][:2] for o in mine)
    if copied or (c is not None and c.get("differing") == 0):
        return (f"{name} scores exactly as {twin}: the same {metric} on every request (where "
                f"their lists differ, no score changes) and the same means on every metric "
                f"compared: what is said of {twin} holds for it.")
    return (f"{name} has the same means as {twin} on every metric compared"
            + (f", though {c['differing']:,} requests score differently on {metric}"
               if c is not None and c.get("differing") else "")
            + f": what is said of {twin} holds for it on average.")


def _headline(name: str, baseline: str | None, comparisons: list[dict], metric: str,
              leaky: bool = False, engines: dict | None = None) -> str | None:
    """Is ``name`` worth it? Yes when it significantly beats the rules and the best baseline,
    no when either is significantly better, else not shown either way. A best baseline
    silent on some requests (``engines``' answered rates) is said to be."""
    found = [(other, _find(comparisons, other, name, metric)) for other in (TEAM, baseline)
             if other is not None]
    found = [(other, c) for other, c in found if c is not None]
    if not found:
        return None
    phrases, beats, loses = [], 0, 0
    for other, c in found:
        who = "the rules" if other == TEAM else (
            f"the best baseline ({other}{_silent(engines, other)}"
            f"{_tied(engines, other, metric, comparisons, name)})")
        if c["p_holm"] < ALPHA and c["diff"] > 0:
            beats += 1
            phrases.append(f"beats {who} by {c['diff']:+.3f}")
        elif c["p_holm"] < ALPHA:
            loses += 1
            phrases.append(f"loses to {who} by {c['diff']:+.3f}")
        else:
            phrases.append(f"is not significantly different from {who} ({c['diff']:+.3f}; "
                           f"{detectable(c['mde'], prefix='it could detect ', differing=c.get('differing'))})")
    behind = any(c["diff"] < 0 for _, c in found)  # "yet" would read as a lead to come
    answer = ("Yes" if beats == len(found) else "No" if loses
              else "Not shown" if behind else "Not shown yet")
    # "beats the rules ... but is not significantly different from the best baseline"
    joined = " but " if 0 < beats < len(found) or (loses and len(phrases) > loses) else " and "
    # ahead of the best baseline but not significantly: say what that means for a decision
    # (behind it, the warning on the ranker below the baseline says it)
    # (only where it beats the rules: else the rules, not the baseline, may be the choice)
    # (nor where the split may flatter both: the caution that follows comes first then)
    over_rules = all(c["p_holm"] < ALPHA and c["diff"] > 0 for other, c in found if other == TEAM)
    unseen = next(((other, c) for other, c in found if other != TEAM and c["p_holm"] >= ALPHA
                   and c["diff"] >= 0 and not loses and over_rules and not leaky), None)
    return (f"Is the {name} worth it? {answer}: it " + joined.join(phrases) + f" on {metric}"
            + (", both significant." if beats == len(found) == 2 else ".")
            + (f" Until it is shown better, {unseen[0]} is the simpler choice (nothing to "
               f"train), though this sample allows a gain of up to {unseen[1]['ci_high']:+.3f} "
               f"for the {name}." if unseen else ""))


def _short_lists(engines: dict, metric: str) -> str | None:
    """A caution when a rule set's lists (``max_suggestions``) are shorter than the primary
    metric's cutoff: a tester's `--k 3,10` judged rules of at most 5 items at 10, against
    baselines that fill all 10 places, and nothing said so."""
    cut = metric.rsplit("@", 1)[-1]
    if not cut.isdigit():
        return None
    short = [(name, e["max_suggestions"]) for name, e in engines.items()
             if e.get("max_suggestions") is not None and e["max_suggestions"] < int(cut)]
    if not short:
        return None
    said = " and ".join(f"{'the rules list' if name == TEAM else name + ' lists'} at most {n}"
                        for name, n in short)
    least = min(n for _, n in short)
    name = metric.rsplit("@", 1)[0]
    fix = (f"`suggest compare RUN --metric {name}@{least}` judges them at a cutoff they fill"
           if f"{name}@{least}" in next(iter(engines.values()), {}) else
           f"replay with --k {least} as well to judge them at a cutoff they fill")
    return (f"Caution: the primary metric is at {cut}, but {said} suggestions "
            f"(max_suggestions): the places they leave empty count as misses against engines "
            f"that fill all {cut}; {fix}.")


def _chance_best(engines: dict, baseline: str | None, metric: str) -> str | None:
    """When random is the best baseline, the words that say what that means: the simplest
    thing that could work is chance here (a tester's --split user: popular 0.013 and
    context-popular 0.029 under random's 0.038, user-history silent)."""
    if baseline != "random":
        return None
    others = [n for n in baseline_names(engines) if n != "random"
              and engines[n].get(metric) == engines[n].get(metric)]
    if not others:
        return None
    return ("No simple baseline does better than random on these requests ("
            + ", ".join(f"{n} {engines[n][metric]:.3f}" for n in others)
            + f", random {engines['random'][metric]:.3f} {metric}): the simple signals (what is "
            "popular, in the context, in the user's history) carry little here, and a lead over "
            "the best baseline is a lead over chance.")


def _rules_headline(baseline: str | None, comparisons: list[dict], metric: str,
                    engines: dict) -> str | None:
    """Without a learned engine, the question a team with rules asks first: do they beat the
    simplest thing that could work (the best baseline)?"""
    c = _find(comparisons, TEAM, baseline, metric) if baseline is not None else None
    if c is None or c["p_holm"] != c["p_holm"]:
        return None
    who = (f"the best baseline ({baseline}{_silent(engines, baseline)}"
           f"{_tied(engines, baseline, metric, comparisons, TEAM)})")
    if c["p_holm"] < ALPHA:
        said = (f"No: {who} beats them by {c['diff']:+.3f}" if c["diff"] > 0
                else f"Yes: they beat {who} by {-c['diff']:+.3f}")
    else:
        # signed as the sentence on the pair below says it: the baseline minus the rules
        said = (f"Not shown: they are not significantly different from {who} "
                f"({baseline} - rules {c['diff'] + 0.0:+.3f}; "
                f"{detectable(c['mde'], prefix='it could detect ', differing=c.get('differing'))})")
    return f"Do the rules beat the simplest thing that could work? {said} on {metric}."


def _difference(c: dict, b: str, a: str, comparisons: list[dict] | None = None) -> str:
    """One pair's difference on the primary metric, and what it means; a win said with the
    metrics at the same cutoff on which the loser is significantly better (``comparisons``):
    "rules is better" on NDCG, while popular found an engaged item more often."""
    metric = c["metric"]
    head = (f"{c['diff']:+.3f} {metric} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}], "
            f"{p_phrase(c['p_holm'])} (Holm over {holm_family(c)})")
    if c["p_holm"] < ALPHA:
        winner, loser = (b, a) if c["diff"] > 0 else (a, b)
        cut = metric.rsplit("@", 1)[-1]
        against = [o["metric"] for o in comparisons or () if o["a"] == a and o["b"] == b
                   and o["metric"] != metric and o["metric"].rsplit("@", 1)[-1] == cut
                   and o["p_holm"] < ALPHA and (o["diff"] > 0) != (c["diff"] > 0)]
        return (f"{head}: {winner} is better" + (f", though {loser} is significantly better on "
                                                f"{', '.join(against)}" if against else "") + ".")
    mde = c.get("mde")
    detect = (f"; the two score the same {metric} on every request" if c.get("differing") == 0
              else "" if mde is None or mde != mde else
              "; no difference could be significant on so few requests that differ"
              if mde == float("inf") else
              f"; this sample would find a true difference of {mde:.3f} with 80% power, so a "
              "smaller one can go unseen")
    return f"{head}: no significant difference{unadjusted(c)}{detect}."


def unadjusted(c: dict) -> str:
    """When a comparison's interval leaves out 0 but its corrected test is not significant,
    the words that say why they disagree (the interval is not adjusted for the family)."""
    if c["p_holm"] < ALPHA or not (c["ci_low"] > 0 or c["ci_high"] < 0):
        return ""
    raw = c.get("p_value")
    if raw is not None and raw < ALPHA and (c.get("family") or 1) > 1:
        return (f" (the interval is not adjusted for the {c['family']} tests, the p-value "
                "is)")
    # not the correction: the t interval and the sign-flip test read few requests that
    # differ otherwise, and the verdict goes by the test
    return " (the t interval leaves out 0, the sign-flip test does not find the difference)"


def _losses(b: str, where: list[tuple[str, list[dict], dict]], least: int | None = None) -> str:
    """One sentence: where ``b`` significantly loses, against each engine it was tested on."""
    parts, missing_only = [], False
    for a, rows, tested in where:
        scope = f" of {tested['segments']} segments" if tested else ""
        if tested and not tested["segments"]:  # "in none of 0 segments": none was testable
            parts.append(f"to {a}: " + ("no context column splits these requests into parts to "
                                        "test" if tested.get("small") == 0 else
                                        "no segment was large enough to test"))
            continue
        if tested and tested.get("values") == 0:  # what was tested is the missing values
            scope += " (each the requests missing a column's value)"
            missing_only = True
        if not rows:
            parts.append(f"to {a} in none{scope}")
            continue
        shown = "; ".join(f"{r['column']}={r['value']} {r['diff']:+.3f} [{r['ci_low']:+.3f}, "
                          f"{r['ci_high']:+.3f}], {r['requests']:,} requests" for r in rows[:3])
        more = f"; and {len(rows) - 3} more" if len(rows) > 3 else ""
        parts.append(f"to {a} in {len(rows)}{scope} ({shown}{more})")
    return (f"Where {b} significantly loses (Holm within each context column, Bonferroni over "
            "the columns): "
            + "; ".join(parts) + "."
            + (f" No value of a context column has {least} held-out requests, so the "
               "segments cannot say where on this log: `suggest compare` shows it rule by "
               "rule, and a smaller --min-segment tests smaller values." if missing_only else ""))


def _tied(engines: dict | None, baseline: str, metric: str, comparisons: list[dict],
          against: str) -> str:
    """``', tied on ndcg@5 with popular, taken as ...'`` when other baselines read as the best
    one does on ``metric`` (:func:`level_with`; the best is then the one ``against`` is least
    clearly ahead of, :func:`best_baseline`), and the test against a tied one that reads
    otherwise than the best one's; else nothing."""
    tied = level_with(engines or {}, baseline, metric)
    if not tied:
        return ""
    value = engines[baseline][metric]
    who = "the rules" if against == TEAM else against
    best = _find(comparisons, against, baseline, metric)
    said = []
    for name in tied:
        c = _find(comparisons, name, against, metric)  # against - name
        if c is None or best is None or (c["p_holm"] < ALPHA) == (best["p_holm"] < ALPHA):
            continue  # reads as the best one's test: nothing more to say
        reading = (f"is significantly {'better' if c['diff'] > 0 else 'worse'}"
                   if c["p_holm"] < ALPHA else "is not significantly different")
        said.append(f"against {name} {who} {reading} ({p_phrase(c['p_holm'])})")
    exact = all(engines[n][metric] == value for n in tied)
    return (f", tied on {metric} with {' and '.join(tied)}"
            + ("" if exact else " to the three decimals shown")
            + f", taken as the one {who} is least clearly ahead of" + "".join(f"; {s}" for s in said))


def _silent(engines: dict | None, name: str) -> str:
    """``', which answers 71.5% of requests'`` for an engine silent on more than
    1 - :data:`SILENT_BASELINE` of the held-out requests; else nothing."""
    rate = ((engines or {}).get(name) or {}).get("answered_rate")
    if rate is None or rate != rate or rate >= SILENT_BASELINE:
        return ""
    return f", which answers {percent(rate, 1)} of requests"


def _new_users(summary: dict, name: str, other: str | None, metric: str) -> str | None:
    """The cold start in one sentence: ``name`` on the held-out requests whose user has no
    request in the training part, against the best baseline that answers them
    (``summary["newcomers"]``: the best baseline overall may need a user's past), beside the
    returning users against ``other`` (the ``returning_user`` segment), when both kinds are
    there."""
    from suggest.segments import RETURNING

    new = (summary.get("newcomers") or {}).get(name)
    pair = ((summary.get("segments") or {}).get("pairs") or {}).get(f"{name} - {other}") or {}
    old = {r["value"]: r for r in (pair.get(RETURNING) or {}).get("rows", [])}.get("true")
    if new is None:
        return None

    def diff(r: dict) -> str:
        if r.get("ci_low") is None or r["ci_low"] != r["ci_low"]:
            return f"{r['diff']:+.3f}"
        return f"{r['diff']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]"

    def reading(r: dict) -> str:
        if r.get("ci_low") is None or r["ci_low"] != r["ci_low"]:
            return ""
        return (", an interval holding 0: no difference shown" if r["ci_low"] <= 0 <= r["ci_high"]
                else f", {name} {'better' if r['diff'] > 0 else 'worse'} by an interval leaving "
                     "out 0")
    total = summary.get("requests_scored")
    least = (summary.get("segments") or {}).get("min_segment") or 0
    few = new["requests"] < least
    said = f"{diff(new)} {metric}" + (", too few to judge" if few else reading(new))
    overall = _find(summary.get("comparisons") or [], other, name, metric) if other else None
    # a win over a baseline silent on new users, with none on the users it answers: the win
    # is over its silence (a tester's ranker lost to "user-history, else popular")
    silence = (old is not None and overall is not None and overall["p_holm"] < ALPHA
               and overall["diff"] > 0 and _silent(summary.get("engines"), other)
               and old.get("ci_low") is not None and old["ci_low"] == old["ci_low"]
               and old["ci_low"] <= 0 and not (new.get("ci_low") or 0) > 0)
    return (f"Users new to the engines (no request in the training part: {new['requests']:,}"
            + (f" of the {total:,} requests with a positive" if total else " requests")
            + (f", under the {least} a segment needs to be tested" if few else "") + "): "
            f"{name} - {new['baseline']} (the best baseline that answers them) {said}"
            + (f"; returning users: {name} - {other} {diff(old)}{reading(old)}" if old else "")
            + f" (95% paired t intervals, not adjusted for the segments tested; the segment "
              f"'{RETURNING}')."
            + (f" So {name}'s lead over {other} is shown only where {other} is silent: {other} "
               f"for returning users and {new['baseline']} for new ones may do as well."
               if silence else ""))


def _rules_sentence(entry: dict, metric: str, requests: int | None = None,
                    scored: int | None = None) -> str:
    """The rules' answered rate (of every held-out request) and their precision where they
    answer (of the answered requests with an engaged item), each with its denominator."""
    k = metric.split("@")[1]
    answered, there = entry.get("answered_rate"), entry.get(f"precision@{k}_answered")
    overall = entry.get(f"precision@{k}")
    text = f"The rules answer {percent(answered, 1)} of " + (f"the {requests:,} held-out requests"
                                                      if requests else "requests")
    if there is not None and there == there:
        text += (f"; where they answer, precision@{k} is {there:.3f} (of the answered requests "
                 f"with an engaged item; {overall:.3f} over all "
                 + (f"{scored:,} " if scored else "") + "requests with an engaged item, silence "
                 "counted as a miss)")
    return text + "."


def cost_sentence(names: list[str], engines: dict) -> str:
    """The cost line: each engine's one-context p50 / p99 and training time, the number of
    timed calls said once when every engine had the same (it is what a p99 rests on)."""
    names = list(dict.fromkeys(names))
    calls = {engines[n].get("one_context_calls") for n in names
             if engines[n].get("one_context_us_p50") is not None}
    same = calls.pop() if len(calls) == 1 else None
    head = (f"Cost (one context, p50 / p99 over {same:,} calls each): " if same else "Cost: ")
    return head + "; ".join(_cost(n, engines[n], each=same is None) for n in names) + "."


def _cost(name: str, entry: dict, each: bool = True) -> str:
    p50, p99 = entry.get("one_context_us_p50"), entry.get("one_context_us_p99")
    parts = []
    if p50 is not None and not each:
        parts.append(f"{p50 / 1000:.2f} / {p99 / 1000:.2f} ms")
    elif p50 is not None:
        calls = entry.get("one_context_calls")
        parts.append(f"{p50 / 1000:.2f} ms p50 / {p99 / 1000:.2f} ms p99 for one context"
                     + (f" ({calls:,} calls)" if calls else ""))
    seconds = entry.get("fit_seconds")
    if seconds is not None:
        parts.append(f"{seconds:.1f} s to train" if seconds >= 0.1 else "under 0.1 s to train")
    return f"{name} " + (", ".join(parts) if parts else "not timed")


def lightgbm_figure(validation: dict) -> str:
    """What the validation's second NDCG is, for people: LightGBM's own figure, over the
    requests with a positive among the candidates and with its gains (2^grade - 1), so it
    can be lower than replay's over more requests; early stopping used it (not on Dask,
    which grows the trees asked for)."""
    use = ("the trees grown were set before it" if "dask" in validation
           else "the figure early stopping used")
    return ("LightGBM's own figure, on those with a positive among the candidates and with "
            f"gains 2^grade - 1: {use}")

