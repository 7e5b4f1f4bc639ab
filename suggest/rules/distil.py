"""A trained ranker distilled into a short rule list (``suggest rules distil``): rules a
product manager can read that imitate the ranker's top choices over the contexts it was
trained on, with their fidelity and what no rule can hold.

How:

1. The ranker suggests its top ``k`` for each of its own training requests (the model
   folder carries them; at most ``sample`` of them, the latest when they have time).
2. Conditions are those of :mod:`suggest.rules.mine` (each value, quartile range, time
   window and weekday/weekend of one column, and pairs of two), holding on at least
   ``min_support`` of those requests. Rules are about context: none names a user.
3. A **decision list** (``conflict: first``: the first rule that fires gives the list) is
   grown greedily: each step puts in front the condition whose best ``k`` items (the ones
   the ranker puts in its top ``k`` most often where the condition holds) reproduce the
   most of the ranker's choices beyond what those requests get from the list so far, so
   general rules end up last and their exceptions before them. Each rule then keeps the
   best ``k`` items for the requests it is the first to take; the last rule is the
   default: the items the ranker chooses most often among the requests left. A rule's items are ordered as the ranker
   places them there (by their summed NDCG discount, ``1 / log2(rank + 1)``).
4. **Fidelity** is the share of the ranker's top ``k`` the rules reproduce, averaged over the
   requests (order aside), measured by running the written file through the rules engine.
   The **ceiling** is the fidelity of the best list for each cell of the one-column
   conditions (every column's condition fixed): no rule over these conditions, however many,
   can do better, so ``1 - ceiling`` of the ranker's choices varies between requests in the
   same context cell: personal history, or finer context than the conditions read.

>>> distilled = distil(RankerEngine.load("models/w"), requests, context, zone=None)   # doctest: +SKIP
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from suggest.errors import SuggestError
from suggest.rules.mine import comment, conditions_on, rule_ids, slug, yaml_flow

CURVE_SIZES = (1, 3, 10, 30, 100)  # the rule counts (before the default) whose fidelity is reported


@dataclass
class Distilled:
    """``text`` (the rule file), ``rules`` (one dict a rule, the default last), ``curve`` (the
    fidelity of the list of the first 1, 3, 10, ... rules chosen, with a default, and of the
    whole list), ``summary``, and the ``requests`` distilled on with the ranker's ``lists``."""

    text: str
    rules: list[dict] = field(default_factory=list)
    curve: dict[int, float] = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    requests: pd.DataFrame | None = None
    lists: pd.DataFrame | None = None


def distil(model, requests: pd.DataFrame, context: dict[str, str], *, zone=None, k: int = 5,
           max_rules: int = 30, min_support: int = 20, sample: int = 200_000,
           source: str = "") -> Distilled:
    """Distil ``model`` (a fitted ranker) into at most ``max_rules`` rules (the default
    included) over the contexts of ``requests`` (its training requests), as the module
    docstring says; ``context`` is the dataset's context columns and kinds."""
    if min_support < 1:
        raise SuggestError(f"--min-support must be at least 1 context, not {min_support}",
                           hint="e.g. --min-support 20")
    if max_rules < 2:
        raise SuggestError(f"--max-rules must be at least 2 (a rule and the default), not {max_rules}")
    if k < 1:
        raise SuggestError(f"--k must be at least 1, not {k}")
    if not context:
        raise SuggestError("the log has no context columns: there is nothing for rules to read",
                           hint="describe its context columns under `context:` in the dataset description")
    requests = _sampled(requests, sample)
    if getattr(model, "explain", False):  # the reasons are not needed, and cost most of the time
        model = copy.copy(model)
        model.explain = False
    lists = model.suggest(requests, k)
    items, votes, placed = _votes(requests, lists)
    codes, ids, conditions = conditions_on(requests, context, zone, min_support)
    rows, cols = np.nonzero(ids >= 0)
    member = _membership(rows, ids[rows, cols], len(requests), len(conditions.specs))
    inserted = _grow(member, votes, k, max_rules - 1)
    final = _finish(inserted[::-1], member, votes, k)
    # keyed by the rules a file of that size holds (the default among them): a grown
    # condition whose requests later ones all took is dropped by _finish
    curve = {}
    for n in [m for m in CURVE_SIZES if m < len(inserted)]:
        shorter = _finish(inserted[:n][::-1], member, votes, k)
        curve[len(shorter["order"]) + 1] = shorter["fidelity"]
    curve[len(final["order"]) + 1] = final["fidelity"]
    rules = []
    for c, taken, top in zip(final["order"], final["taken"], final["lists"]):
        top = _ordered(top, placed, taken)
        rules.append({"condition": conditions.labels[c], "when": conditions.specs[c],
                      "suggest": [items[i] for i in top], "slug": conditions.slugs[c],
                      "requests": int(taken.sum()),
                      "agreement": _agreement(votes, taken, top, k)})
    ids_ = rule_ids([f"{r['slug']}-{slug(r['suggest'][0])}" for r in rules])
    for rule, rule_id in zip(rules, ids_):
        rule["id"] = rule_id
    left, default = final["left"], _ordered(final["default"], placed, final["left"])
    rules.append({"id": "default", "condition": "any other context", "suggest": [items[i] for i in default],
                  "when": _always(context), "requests": int(left.sum()),
                  "agreement": _agreement(votes, left, default, k)})
    summary = {"requests": int(len(requests)), "k": k, "rules": len(rules), "min_support": min_support,
               "conditions": len(conditions.specs), "fidelity": final["fidelity"],
               "curve": curve,
               "ceiling": _ceiling(codes, votes, k)}
    text = _yaml(rules, summary, source, k)
    return Distilled(text, rules, curve, summary, requests, lists)


def _sampled(requests: pd.DataFrame, sample: int) -> pd.DataFrame:
    if len(requests) <= sample:
        return requests.reset_index(drop=True)
    if "timestamp" in requests.columns:
        from suggest.splits import latest

        return requests[latest(requests["timestamp"], sample)].reset_index(drop=True)
    return requests.sample(sample, random_state=0).sort_index().reset_index(drop=True)


def _votes(requests: pd.DataFrame, lists: pd.DataFrame):
    """``(items, votes, placed)``: the items the ranker suggests, and sparse requests x items
    matrices of 1 where the item is in the request's list and of its discounted gain there
    (``1 / log2(rank + 1)``, as NDCG weighs a place)."""
    from scipy import sparse

    rows = pd.Index(requests["request_id"]).get_indexer(lists["request_id"])
    codes, items = pd.factorize(lists["item_id"].astype(str), sort=True)
    keep = rows >= 0
    votes = sparse.csr_matrix((np.ones(int(keep.sum())), (rows[keep], codes[keep])),
                              shape=(len(requests), len(items)))
    placed = sparse.csr_matrix((1 / np.log2(lists["rank"].to_numpy(float)[keep] + 1),
                                (rows[keep], codes[keep])), shape=votes.shape)
    votes.data[:] = 1.0  # an item twice in a list counts once
    return list(items), votes, placed


def _ordered(top: np.ndarray, placed, rows: np.ndarray) -> np.ndarray:
    """The items ``top`` in the order the ranker places them over ``rows``: by their summed
    discounted gain there, so the rule's first item is the one the ranker puts first most."""
    gain = np.asarray(placed[rows][:, top].sum(axis=0)).ravel()
    return top[np.lexsort((np.arange(len(top)), -gain))]


def _membership(rows, conds, n_rows: int, n_conditions: int):
    from scipy import sparse

    return sparse.csc_matrix((np.ones(len(rows), dtype=bool), (rows, conds)),
                             shape=(n_rows, n_conditions))


def _top(counts: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` largest of ``counts`` (ties: the lower index), largest first."""
    order = np.lexsort((np.arange(len(counts)), -counts))
    return order[:min(k, int((counts > 0).sum()) or k)]


def _grow(member, votes, k: int, most: int) -> list[int]:
    """Up to ``most`` conditions in the order the greedy search chose them. Each step puts in
    front of the list the condition whose best ``k`` items (over every request it holds on)
    most improve on what those requests get now (the later rules', or the overall default
    list), so general rules end up last and their exceptions before them."""
    by_condition = (member.T @ votes).toarray()                      # conditions x items
    best = np.argsort(-by_condition, axis=1, kind="stable")[:, :k]
    reach = np.take_along_axis(by_condition, best, axis=1).sum(axis=1)
    overall = np.asarray(votes.sum(axis=0)).ravel()
    current = np.asarray(votes[:, _top(overall, k)].sum(axis=1)).ravel()  # each request's agreement now
    order, used = [], np.zeros(len(reach), bool)
    for _ in range(most):
        gain = np.where(used, -np.inf, reach - member.T @ current)
        if not len(gain) or gain.max() <= 0:
            break
        c = int(np.argmax(gain))
        rows = member[:, c].nonzero()[0]
        current[rows] = np.asarray(votes[rows][:, best[c]].sum(axis=1)).ravel()
        used[c] = True
        order.append(c)
    return order


def _finish(order: list[int], member, votes, k: int) -> dict:
    """The decision list of conditions ``order`` (first fires first), each with the best
    ``k`` items for the requests it is the first to take, the default's for the rest, and
    its fidelity."""
    left = np.ones(member.shape[0], bool)
    taken_by, lists, agreed = [], [], 0.0
    kept = []
    for c in order:
        taken = left & member[:, c].toarray().ravel()
        if not taken.any():  # later rules took all its requests: it would only add filler
            continue
        kept.append(c)
        top = _top(np.asarray(votes[taken].sum(axis=0)).ravel(), k)
        agreed += float(votes[taken][:, top].sum())
        taken_by.append(taken)
        lists.append(top)
        left &= ~taken
    default = _top(np.asarray(votes[left].sum(axis=0)).ravel(), k)
    agreed += float(votes[left][:, default].sum())
    return {"order": kept, "taken": taken_by, "lists": lists, "left": left, "default": default,
            "fidelity": agreed / k / max(member.shape[0], 1)}


def _agreement(votes, rows: np.ndarray, top: np.ndarray, k: int) -> float:
    """The share of the ranker's top ``k`` that the list ``top`` reproduces on ``rows``."""
    return float(votes[rows][:, top].sum()) / k / max(int(rows.sum()), 1)


def _ceiling(codes: np.ndarray, votes, k: int) -> float:
    """The fidelity of the best list for each cell of the one-column conditions."""
    from scipy import sparse

    n = codes.shape[0]
    if not n:
        return 0.0
    cell = np.unique(codes, axis=0, return_inverse=True)[1].reshape(-1)
    by_cell = sparse.csr_matrix((np.ones(n), (cell, np.arange(n))), shape=(cell.max() + 1, n)) @ votes
    by_cell = by_cell.tocoo()
    order = np.lexsort((-by_cell.data, by_cell.row))      # each cell's counts, largest first
    cells, counts = by_cell.row[order], by_cell.data[order]
    rank = np.arange(len(cells)) - np.searchsorted(cells, cells, side="left")
    return float(counts[rank < k].sum()) / k / n


def _always(context: dict[str, str]) -> dict:
    """A condition true for every context: a context column that exists or is missing."""
    col = next(iter(context))
    return {"any": [{col: {"exists": True}}, {col: {"missing": True}}]}


def _yaml(rules: list[dict], summary: dict, source: str, k: int) -> str:
    ceiling = summary["ceiling"]
    head = [
        f"# Distilled by `suggest rules distil` from {source or 'a model'}: {len(rules)} rules "
        f"(the last is the default) imitate the ranker's top {k}",
        f"# on {summary['requests']:,} of the contexts it was trained and validated on. Fidelity "
        f"{summary['fidelity']:.2f}: "
        f"the share of the ranker's top {k} these rules reproduce there.",
        f"# Ceiling {ceiling:.2f}: the most any rules over these conditions could reproduce; the "
        f"other {1 - ceiling:.2f} of the ranker's",
        "# choices differ between requests in the same context (personal history, or finer context),",
        "# which rules about context cannot hold. The first rule that fires gives the list (conflict: first).",
        "# A condition can stand for the users who have it (a device some households own): the ranker",
        "# learnt their taste, not the context's effect. Before reading a rule as a product fact, replay",
        "# the file with --split user, or ask `suggest rules mine`, which compares each user with",
        "# themselves.",
        "# Fidelity by the number of rules (the default among them): "
        + ", ".join(f"{n}: {v:.2f}" for n, v in summary["curve"].items()) + ".",
        "version: 1", "conflict: first", f"max_suggestions: {k}", "rules:",
    ]
    lines = list(head)
    for r in rules:
        lines += [comment(f"first to fire on {r['requests']:,} of those contexts "
                          f"({r['requests'] / max(summary['requests'], 1):.1%}); reproduces "
                          f"{r['agreement']:.0%} of the ranker's top {k} there"),
                  f"  - id: {yaml_flow(r['id'])}",
                  f"    description: {yaml_flow('when ' + r['condition'] + ': ' + ', '.join(r['suggest']))}",
                  f"    when: {yaml_flow(r['when'])}",
                  f"    suggest: {yaml_flow(r['suggest'])}"]
    return "\n".join(lines) + "\n"


def fidelity(rules_lists: pd.DataFrame, ranker_lists: pd.DataFrame, k: int, requests: int) -> float:
    """The share of the ranker's top ``k`` (``ranker_lists``: request_id, rank, item_id) that
    ``rules_lists`` reproduce in their top ``k``, averaged over ``requests`` requests (an item
    twice in a list counts once, a request without a list reproduces nothing), as the
    distiller counts it."""
    mine = rules_lists[rules_lists["rank"] <= k][["request_id", "item_id"]].astype(str)
    theirs = ranker_lists[ranker_lists["rank"] <= k][["request_id", "item_id"]].astype(str)
    shared = theirs.drop_duplicates().merge(mine.drop_duplicates(), on=["request_id", "item_id"])
    return float(len(shared)) / k / max(requests, 1)
