"""The rules engine: a compiled rule set behind the Engine protocol (DESIGN sections 3, 4).

``suggest`` evaluates every rule over all requests at once (a boolean matrix
of fired rules), then resolves conflicts once per distinct *pattern* of fired
rules rather than once per request: what a rule set suggests depends only on
which rules fired, and real traffic shows few distinct patterns. The result
is gathered back to the requests with array indexing.

Order of a request's list: priority (high first), then score (high first),
then the rule's place in the file, then the item's place inside the rule.
``conflict: priority`` keeps each item's best (priority, score) and the ids
of every rule that proposed it; ``first`` keeps the first firing rule that
suggests anything; ``sum`` adds an item's scores across rules (its priority
is the highest). Blocked items are removed after conflicts are resolved.

The ``score`` column is the list's order as a number (1.0 for the first
suggestion, then 1 - (rank - 1) / k), so that any evaluator that sorts by
score reproduces the rule set's order exactly; ``reason`` lists the ids of
the rules that proposed the item.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from suggest.errors import SuggestError
from suggest.rules.compile import Evaluator
from suggest.rules.model import RuleSet, load_rules

SUGGESTION_COLUMNS = ["request_id", "engine", "rank", "item_id", "score", "reason"]


class RulesEngine:
    """Suggest with a YAML rule set.

    Parameters
    ----------
    rules : str, Path or RuleSet
        The rule file (or a parsed rule set).
    timezone : str, optional
        Zone for time conditions when the rule set names none (the dataset's).
        Without either, each request's own local time is used.

    Examples
    --------
    >>> engine = RulesEngine("rules/phone.yaml").fit(requests, truth, catalog)  # doctest: +SKIP
    >>> engine.suggest(requests, k=5).head()                                     # doctest: +SKIP
    """

    name = "rules"

    def __init__(self, rules: str | Path | RuleSet, timezone: str | None = None):
        self.rules = rules
        self.timezone = timezone

    def get_params(self) -> dict:
        rules = self.rules.source if isinstance(self.rules, RuleSet) else str(self.rules)
        return {"rules": rules, "timezone": self.timezone}

    # -- fitting -----------------------------------------------------------------------
    def fit(self, requests: pd.DataFrame | None = None, truth: pd.DataFrame | None = None,
            catalog: pd.DataFrame | None = None) -> "RulesEngine":
        """Resolve catalog slices (``{category: News, top: 3}``) by training popularity."""
        rs = self.rules if isinstance(self.rules, RuleSet) else load_rules(self.rules)
        counts = (truth.groupby(truth["item_id"].astype(str)).size() if truth is not None and len(truth)
                  else pd.Series(dtype=float))
        self.rule_set_ = rs
        self.proposals_ = [self._expand(rule.id, rule.suggest, catalog, counts) for rule in rs.rules]
        self.blocks_ = [{item for item, _ in self._expand(rule.id, rule.block, catalog, counts)}
                        for rule in rs.rules]
        items = sorted({i for p in self.proposals_ for i, _ in p} | set().union(*self.blocks_))
        self.items_ = np.array(items, dtype=object)
        self._cache: dict[tuple[bytes, int], tuple] = {}
        return self

    @staticmethod
    def _expand(rule_id: str, picks, catalog: pd.DataFrame | None, counts: pd.Series) -> list:
        out = []
        for pick in picks:
            if pick.item is not None:
                out.append((pick.item, pick.score))
                continue
            attr, value = pick.slice
            if catalog is None or attr not in catalog.columns:
                raise SuggestError(f"rule '{rule_id}' uses the catalog slice {attr}={value}, but "
                                   f"the catalog has no attribute '{attr}'",
                                   hint="give a dataset with a catalog, or name items")
            members = catalog.loc[catalog[attr].astype(str) == value, "item_id"].astype(str)
            ranked = pd.DataFrame({"item": members, "n": counts.reindex(members).fillna(0).to_numpy()})
            ranked = ranked.sort_values(["n", "item"], ascending=[False, True])
            out += [(item, pick.score) for item in ranked["item"].head(pick.top or len(ranked))]
        return out

    # -- suggesting --------------------------------------------------------------------
    def fired(self, requests: pd.DataFrame) -> np.ndarray:
        """Boolean matrix (requests x rules): where each rule's condition is true."""
        self._check_fitted()
        evaluator = Evaluator(requests, self.rule_set_.timezone or self.timezone)
        fired = np.zeros((len(requests), len(self.rule_set_.rules)), dtype=bool)
        for j, rule in enumerate(self.rule_set_.rules):
            fired[:, j] = evaluator.evaluate(rule.when).true
        return fired

    def suggest(self, requests: pd.DataFrame, k: int) -> pd.DataFrame:
        """Suggestions frame: at most ``min(k, max_suggestions)`` rows per request."""
        self._check_fitted()
        if int(k) < 0:
            raise SuggestError(f"k must be a whole number >= 0, not {k!r}")
        k = min(int(k), self.rule_set_.max_suggestions)
        fired = self.fired(requests)
        patterns, inverse = _unique_rows(fired)
        lists = [self._resolve(p, k) for p in patterns]
        items = np.full((len(lists), max(k, 1)), -1, dtype=np.int64)
        reasons = np.full((len(lists), max(k, 1)), -1, dtype=np.int64)
        reason_names: dict[str, int] = {}
        for p, (ids, why) in enumerate(lists):
            items[p, :len(ids)] = ids
            reasons[p, :len(why)] = [reason_names.setdefault(w, len(reason_names)) for w in why]
        lengths = (items >= 0).sum(axis=1)[inverse]
        row = np.repeat(np.arange(len(requests)), lengths)
        rank = np.arange(len(row)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        pattern = inverse[row]
        return pd.DataFrame({
            "request_id": requests["request_id"].to_numpy()[row],
            "engine": self.name,
            "rank": rank + 1,
            "item_id": pd.Categorical.from_codes(items[pattern, rank], categories=self.items_),
            "score": 1.0 - rank / max(k, 1),
            "reason": pd.Categorical.from_codes(reasons[pattern, rank],
                                                categories=list(reason_names) or ["-"]),
        })

    def blocked(self, requests: pd.DataFrame) -> pd.DataFrame:
        """(request_id, item_id, rules) for every item a block rule removed."""
        fired = self.fired(requests)
        rows = []
        for j, items in enumerate(self.blocks_):
            where = np.flatnonzero(fired[:, j])
            for item in sorted(items):
                rows.append(pd.DataFrame({"request_id": requests["request_id"].to_numpy()[where],
                                          "item_id": item, "rule": self.rule_set_.rules[j].id}))
        if not rows:
            return pd.DataFrame(columns=["request_id", "item_id", "rules"])
        both = pd.concat(rows, ignore_index=True)
        return both.groupby(["request_id", "item_id"], sort=False, as_index=False)["rule"] \
            .agg(",".join).rename(columns={"rule": "rules"})

    def _check_fitted(self) -> None:
        if not hasattr(self, "rule_set_"):
            raise SuggestError("this RulesEngine is not fitted yet",
                               hint="call fit(requests, truth, catalog) before suggest()")

    def _resolve(self, pattern: np.ndarray, k: int) -> tuple[list[int], list[str]]:
        """The ordered list for one set of fired rules: item codes and their reasons."""
        key = (pattern.tobytes(), k)
        if key in self._cache:
            return self._cache[key]
        rs = self.rule_set_
        fired = np.flatnonzero(pattern)
        blocked = set().union(*(self.blocks_[j] for j in fired)) if len(fired) else set()
        best: dict[str, list] = {}
        for j in fired:
            rule, proposals = rs.rules[j], self.proposals_[j]
            if not proposals:
                continue
            if rs.conflict == "first" and best:
                break
            for pos, (item, score) in enumerate(proposals):
                key_now = [-rule.priority, -score, rule.order, pos, [rule.id]]
                if item not in best:
                    best[item] = key_now
                elif rs.conflict == "sum":
                    entry = best[item]
                    entry[0] = min(entry[0], -rule.priority)
                    entry[1] -= score
                    entry[4].append(rule.id)
                else:
                    entry = best[item]
                    ids = entry[4] + [rule.id]
                    if key_now[:4] < entry[:4]:
                        best[item] = key_now
                    best[item][4] = ids
        ranked = sorted((v[:4], item, v[4]) for item, v in best.items() if item not in blocked)[:k]
        codes = np.searchsorted(self.items_, [item for _, item, _ in ranked]).tolist()
        result = (codes, [",".join(dict.fromkeys(ids)) for _, _, ids in ranked])
        self._cache[key] = result
        return result


def _unique_rows(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of a boolean matrix and, per row, the index of its distinct row."""
    if matrix.shape[1] == 0:
        return np.zeros((1, 0), bool), np.zeros(matrix.shape[0], dtype=np.int64)
    packed = np.packbits(matrix, axis=1)
    width = -(-packed.shape[1] // 8) * 8
    packed = np.pad(packed, ((0, 0), (0, width - packed.shape[1])))
    words = packed.view(">u8")
    if words.shape[1] == 1:
        keys, first, inverse = np.unique(words[:, 0], return_index=True, return_inverse=True)
    else:
        _, first, inverse = np.unique(words, axis=0, return_index=True, return_inverse=True)
    return matrix[first], inverse.reshape(-1)
