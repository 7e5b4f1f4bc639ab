"""How rules behave over a log: how often each fired, was shadowed (fired but put nothing
in the final list), or was missed by a single condition of its top-level ``all`` (a near
miss), and which never fire (``suggest rules coverage``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from suggest.rules.compile import Evaluator, Truth3
from suggest.rules.engine import RulesEngine, unique_columns
from suggest.rules.explain import describe
from suggest.rules.model import Group, Leaf, Rule, leaves


# -- coverage ----------------------------------------------------------------------------

@dataclass
class Coverage:
    """Per-rule firing counts over a log; ``to_table()`` and ``to_dict()``."""

    requests: int
    rows: list[dict] = field(default_factory=list)
    answered: int = 0

    @property
    def never_fire(self) -> list[str]:
        return [r["id"] for r in self.rows if r["fired"] == 0]

    def to_dict(self) -> dict:
        return {"requests": self.requests, "answered": self.answered, "rules": self.rows,
                "never_fire": self.never_fire}

    def to_table(self) -> str:
        width = max([len(r["id"]) for r in self.rows] + [4])
        head = (f"{'rule':<{width}} {'fired':>8} {'fired %':>8} {'shadowed':>9} {'near miss':>10}"
                "  most missed by")
        silent = self.requests - self.answered
        lines = [f"{self.requests:,} requests; the rules suggest something for {self.answered:,} "
                 f"({100 * self.answered / max(self.requests, 1):.1f}%) and are silent for {silent:,}",
                 "", head, "-" * len(head)]
        for r in self.rows:
            lines.append(f"{r['id']:<{width}} {r['fired']:>8,} {100 * r['fired_rate']:>7.1f}% "
                         f"{r['shadowed']:>9,} {r['near_misses']:>10,}  {r['top_near_miss'] or ''}")
        if self.never_fire:
            lines.append(f"never fire: {', '.join(self.never_fire)}")
        lines += ["",
                  "fired: requests where the rule's condition is true.",
                  "shadowed: a suggesting rule fired, but the final list is the same without it",
                  "  (other rules placed its items higher, the list was full, or its items were",
                  "  blocked); a rule that only blocks is not counted (0).",
                  "near miss: every condition of its top-level `all` held but one (those on one",
                  "  field count as one), which was false or its field missing; the last column",
                  "  names the one that most often failed."]
        return "\n".join(lines)


def coverage(engine: RulesEngine, requests: pd.DataFrame, k: int | None = None) -> Coverage:
    """How each rule behaves over ``requests`` (see the module docstring).

    A rule is *shadowed* on a request when it fired but the request's final
    list would be the same without it (other rules already placed its items
    higher, or ``k`` cut them).
    """
    rs = engine.rule_set_
    k = k or rs.max_suggestions
    # the near misses ask the parts of each top-level `all` again: those are remembered
    parts = {id(c) for r in rs.rules if isinstance(r.when, Group) and r.when.kind == "all"
             and len(r.when.children) >= 2 for c in r.when.children}
    ev = engine.evaluator(requests, remember=parts)
    by_rule = engine.fired_by_rule(requests, ev)
    fired = by_rule.T
    patterns, inverse = unique_columns(by_rule)
    per_pattern = np.bincount(inverse, minlength=len(patterns))
    # every pattern's list, and the list of each pattern without each of its fired rules
    # that suggests something, all resolved together (not one pattern at a time)
    lists = engine.lists(patterns, k)
    suggests = np.array([bool(p) for p in engine.proposals_], dtype=bool)
    at, rule_of = np.nonzero(patterns & suggests)
    without = patterns[at]
    without[np.arange(len(at)), rule_of] = False
    same = (engine.lists(without, k) == lists[at]).all(axis=1)
    shadowed = np.bincount(rule_of, weights=same * per_pattern[at], minlength=len(rs.rules))
    rows = []
    for j, rule in enumerate(rs.rules):
        misses, top = _near_misses(rule, ev)
        rows.append({"id": rule.id, "fired": int(fired[:, j].sum()),
                     "fired_rate": float(fired[:, j].mean()) if len(requests) else 0.0,
                     "shadowed": int(shadowed[j]), "near_misses": misses, "top_near_miss": top})
    answered = int(per_pattern[lists[:, 0] >= 0].sum()) if k > 0 else 0
    return Coverage(len(requests), rows, answered)


def _near_misses(rule: Rule, ev: Evaluator) -> tuple[int, str | None]:
    """Requests where exactly one part of the top-level ``all`` does not hold (false, or
    unknown: its field is missing) and the rest are true.
    The conditions on one field are one part (``hour >= 18`` and ``hour < 23`` are one window:
    apart, every hour would hold one of them, and every miss would be a near miss)."""
    node = rule.when
    if not isinstance(node, Group) or node.kind != "all":
        return 0, None
    groups: dict[frozenset, list] = {}
    for child in node.children:
        groups.setdefault(frozenset(leaf.field for leaf in leaves(child)), []).append(child)
    if len(groups) < 2:
        return 0, None
    parts = []
    for children in groups.values():  # a part holds where all its conditions hold
        truths: list[Truth3] = [ev.evaluate(c) for c in children]
        parts.append((np.logical_and.reduce([t.true for t in truths]),
                      np.logical_or.reduce([t.false for t in truths])))
    # how many parts are true per request, counted in bytes (a rule has far fewer than 256
    # parts); not a (parts x requests) stack summed in int64. The one part that does not
    # hold is false, or unknown where its field is missing: a rule joining two columns a log
    # never fills together misses by the missing one (InCarMusic: one factor a row)
    trues = np.zeros(ev.n, np.uint8)
    for true, _ in parts:
        trues += true
    one_off = trues == len(parts) - 1
    if not one_off.any():
        return 0, None
    culprit = [np.count_nonzero(one_off & ~true) for true, _ in parts]
    at = int(np.argmax(culprit))
    worst = list(groups.values())[at]
    label = " and ".join(f"{c.field} {c}" if isinstance(c, Leaf) else describe(c) for c in worst)
    true, false = parts[at]
    missing = np.count_nonzero(one_off & ~true & ~false)
    if missing * 2 > culprit[at]:
        fields = sorted({leaf.field for c in worst for leaf in leaves(c)})
        label += f" ({' or '.join(fields)} missing on {missing:,} of them)"
    return int(one_off.sum()), f"{worst[0].path}: {label}"
