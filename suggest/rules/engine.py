"""The rules engine: a compiled rule set behind the Engine protocol (DESIGN sections 3, 4).

``suggest`` evaluates every rule over all requests at once (a boolean
rules x requests matrix), packs each request's fired rules into 64-bit words
and hashes them into distinct *patterns*: what a rule set suggests depends
only on which rules fired. The lists of all patterns are then built together
by one walk over the rule set's proposals in key order (a few array
operations per proposal, over the patterns), and gathered back to the
requests with array indexing. ``conflict: sum``, whose scores depend on the
fired set, resolves pattern by pattern. No step loops over requests.

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

from suggest.engines.base import (BaseEngine, check_frame, check_k, checked_suggest, list_width,
                                  zoned_one)
from suggest.errors import SuggestError
from suggest.rules.compile import Evaluator
from suggest.rules.model import RuleSet, load_rules

class RulesEngine(BaseEngine):
    """Suggest with a YAML rule set.

    Parameters
    ----------
    rules : str, Path or RuleSet
        The rule file (or a parsed rule set).
    timezone : str, optional
        Zone for time conditions when the rule set names none and a request names none
        (the dataset's: a request's own ``timezone`` wins). Without any, UTC.

    Examples
    --------
    >>> engine = RulesEngine("rules/phone.yaml").fit(requests, truth, catalog)  # doctest: +SKIP
    >>> engine.suggest(requests, k=5).head()                                     # doctest: +SKIP
    """

    name = "rules"

    def __init__(self, rules: str | Path | RuleSet, timezone: str | None = None,
                 name: str = "rules"):
        self.rules = rules
        self.timezone = timezone
        self.name = name  # the engine's name in a replay: another rule set replayed beside the team's

    def get_params(self) -> dict:
        """``rules`` as given: a path as text, a parsed rule set as itself (its ``source``
        may be ``<string>``, from which nothing can be rebuilt)."""
        rules = self.rules if isinstance(self.rules, RuleSet) else str(self.rules)
        return {"rules": rules, "timezone": self.timezone,
                **({"name": self.name} if self.name != "rules" else {})}

    # -- fitting -----------------------------------------------------------------------
    def fit(self, requests: pd.DataFrame | None = None, truth: pd.DataFrame | None = None,
            catalog: pd.DataFrame | None = None) -> "RulesEngine":
        """Resolve catalog slices (``{category: News, top: 3}``) by training popularity."""
        if catalog is not None:
            check_frame(catalog, ("item_id",), "catalog")
        return self.fit_counts(self.counts(requests, truth), requests, catalog)

    def counts(self, requests: pd.DataFrame | None, truth: pd.DataFrame | None) -> pd.Series:
        """Engagements per item of ``requests`` (all of ``truth`` without requests): the
        order of a catalog slice's items. None are counted for rules that name no slice."""
        from suggest.engines.base import training_truth
        from suggest.engines.baselines import item_counts

        rs = self.rules if isinstance(self.rules, RuleSet) else load_rules(self.rules)
        slices = any(pick.item is None for rule in rs.rules for pick in (*rule.suggest, *rule.block))
        if truth is None or not len(truth) or not slices:
            return pd.Series(dtype=float)
        return item_counts(truth if requests is None else training_truth(requests, truth))

    def fit_counts(self, counts, requests, catalog=None) -> "RulesEngine":
        self._remember_context(requests)
        rs = self.rules if isinstance(self.rules, RuleSet) else load_rules(self.rules)
        counts = counts[counts > 0] if len(counts) else counts
        self.rule_set_ = rs
        self.proposals_ = [self._expand(rule.id, rule.suggest, catalog, counts) for rule in rs.rules]
        self.blocks_ = [{item for item, _ in self._expand(rule.id, rule.block, catalog, counts)}
                        for rule in rs.rules]
        items = sorted({i for p in self.proposals_ for i, _ in p} | set().union(*self.blocks_))
        self.items_ = np.array(items, dtype=object)
        self._cache: dict[tuple[bytes, int], tuple] = {}
        self._one = None  # the one-context memos belong to the previous fit
        self._tables()
        return self

    def _tables(self) -> None:
        """Static arrays for the vectorised conflict step.

        Every (rule, item) proposal sorted once by its key (priority desc, score
        desc, rule order, place in the rule); ``proposes`` and ``blocks`` as
        rules x items matrices.
        """
        rules, code = self.rule_set_.rules, {item: i for i, item in enumerate(self.items_)}
        keys = [(-rule.priority, -score, rule.order, pos, j, code[item])
                for j, (rule, proposals) in enumerate(zip(rules, self.proposals_))
                for pos, (item, score) in enumerate(proposals)]
        keys.sort()
        self._prop_rule = np.array([k[4] for k in keys], dtype=np.int64)
        self._prop_item = np.array([k[5] for k in keys], dtype=np.int64)
        shape = (len(rules), len(self.items_))
        self._proposes, self._blocks = np.zeros(shape, bool), np.zeros(shape, bool)
        self._proposes[self._prop_rule, self._prop_item] = True
        for j, items in enumerate(self.blocks_):
            self._blocks[j, [code[i] for i in items]] = True

    @staticmethod
    def _expand(rule_id: str, picks, catalog: pd.DataFrame | None, counts: pd.Series) -> list:
        out = []
        for pick in picks:
            if pick.item is not None:
                out.append((pick.item, pick.score))
                continue
            attr, value = pick.slice
            if catalog is None or attr not in catalog.columns:
                missing = "no catalog was given" if catalog is None or len(catalog.columns) <= 1 \
                    else f"the catalog has no attribute '{attr}'"
                raise SuggestError(f"rule '{rule_id}' › {pick.path}: the slice {attr}={value} needs a "
                                   f"catalog, and {missing}", where=pick.where or None,
                                   hint="pass --dataset with the dataset description that has the "
                                        "catalog; `suggest rules check --dataset` lists every such problem")
            members = slice_members(catalog, attr, value)
            ranked = pd.DataFrame({"item": members, "n": counts.reindex(members).fillna(0).to_numpy()})
            ranked = ranked.sort_values(["n", "item"], ascending=[False, True])
            out += [(item, pick.score) for item in ranked["item"].head(pick.top or len(ranked))]
        return out

    # -- suggesting --------------------------------------------------------------------
    def fired(self, requests: pd.DataFrame) -> np.ndarray:
        """Boolean matrix (requests x rules): where each rule's condition is true."""
        self.check_fitted()
        return self.fired_by_rule(requests).T

    def fired_by_rule(self, requests: pd.DataFrame, evaluator: Evaluator | None = None) -> np.ndarray:
        """Boolean matrix (rules x requests); a rule's row is written in one piece.
        ``evaluator``: one of ``requests`` to reuse (:meth:`evaluator`), else a new one."""
        evaluator = evaluator or self.evaluator(requests)
        fired = np.zeros((len(self.rule_set_.rules), len(requests)), dtype=bool)
        for j, rule in enumerate(self.rule_set_.rules):
            fired[j] = evaluator.evaluate(rule.when, need_known=False).true
        return fired

    def columns_read(self) -> list[str]:
        """The context columns its conditions read (of those ``fit`` saw: a field the log
        lacks is unknown everywhere, as ``rules check`` warns), and the timestamp when a
        condition reads the time (a frame's own local fields serve too)."""
        from suggest.data.timefields import TIME_FIELDS
        from suggest.rules.model import leaves

        if not hasattr(self, "rule_set_"):  # not fitted: suggest says so
            return []
        seen = getattr(self, "context_columns_", None) or {}
        fields = {leaf.field for rule in self.rule_set_.rules for leaf in leaves(rule.when)}
        timed = getattr(self, "timed_", False) and bool(fields & {"time", *TIME_FIELDS})
        return sorted(fields & set(seen)) + (["timestamp"] if timed else [])

    def evaluator(self, requests: pd.DataFrame, *, remember: set[int] | None = None) -> Evaluator:
        """The conditions' evaluator over ``requests``, in the rule set's time zone, else in
        each request's (its ``timezone`` column), else in the engine's ``timezone`` (the
        dataset's: a default, which a context's own zone overrides); ``remember``: the
        conditions, by id, whose results it keeps."""
        zone = self.rule_set_.timezone or (None if "timezone" in requests.columns else self.timezone)
        return Evaluator(requests, zone, remember=remember)

    @checked_suggest
    def suggest(self, requests: pd.DataFrame, k: int) -> pd.DataFrame:
        """Suggestions frame: at most ``min(k, max_suggestions)`` rows per request."""
        self.check_fitted()
        k = min(check_k(k), self.rule_set_.max_suggestions)
        patterns, inverse = unique_columns(self.fired_by_rule(requests))
        if self.rule_set_.conflict == "sum":  # scores depend on the fired set: resolved one by one
            items, reasons, names = self._resolve_each(patterns, k)
        else:
            items, reasons, names = self._resolve_all(patterns, k)
        items = items.astype(np.int16 if len(self.items_) < 2**15 else np.int32)  # fewer bytes to gather
        reasons = reasons.astype(np.int16 if len(names) < 2**15 else np.int32)
        # a pattern's list fills its first slots: each request's rows are its pattern's
        # first ``length`` slots, by request then rank (no requests x k matrix is built)
        lengths = (items >= 0).sum(axis=1)[inverse]
        rows = np.repeat(np.arange(len(inverse)), lengths)
        n = len(rows)
        starts = np.cumsum(lengths) - lengths
        slots = np.arange(n) - np.repeat(starts, lengths)
        chosen = inverse[rows]
        return pd.DataFrame({
            "request_id": pd.Series(requests["request_id"].array.take(rows)),
            "engine": pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=[self.name]),
            "rank": (slots + 1).astype(np.int64),
            "item_id": pd.Categorical.from_codes(items[chosen, slots], categories=self.items_),
            "score": 1.0 - slots / max(k, 1),
            "reason": pd.Categorical.from_codes(reasons[chosen, slots], categories=names or ["-"]),
        })

    @zoned_one
    def suggest_one(self, context: dict, k: int) -> pd.DataFrame:
        """One context, without the batch path's fixed cost (about 10 ms of pandas): its
        conditions are tested leaf by leaf with the batch evaluator's own comparisons and
        its list comes from the same resolver, so the items, scores and reasons are the
        batch path's (tests compare); a context it would read otherwise than a one-row
        frame (a time field as its own key, NaN, a zone that is not a name) goes through
        the batch path. ``context`` is read and checked as
        :meth:`BaseEngine.suggest_one <suggest.engines.base.BaseEngine.suggest_one>` says.

        Examples
        --------
        >>> engine.suggest_one({"location": "commute", "activity": "in_vehicle",   # doctest: +SKIP
        ...                     "timestamp": "2026-03-03T08:10:00-05:00"}, k=5)
        """
        from suggest.rules.one import OneRules

        one = getattr(self, "_one", None)
        if one is None or one.engine is not self:
            self.check_fitted()
            one = self._one = OneRules(self)
        return one.suggest(context, check_k(k))  # k read as every engine reads it

    def __getstate__(self) -> dict:  # a copy or a pickle carries no one-context memos
        state = self.__dict__.copy()
        state.pop("_one", None)
        return state

    def lists(self, patterns: np.ndarray, k: int, block: int = 20_000) -> np.ndarray:
        """The final lists' item codes (patterns x k, -1 after a list's end) of fired-rule
        ``patterns`` (patterns x rules), as :meth:`resolve` gives them one by one, resolved
        ``block`` patterns at a time."""
        self.check_fitted()
        out = np.full((len(patterns), list_width(k, len(self.items_))), -1, dtype=np.int64)
        how = self._resolve_each if self.rule_set_.conflict == "sum" else self._resolve_all
        for start in range(0, len(patterns), block):
            part = how(patterns[start:start + block], k)[0]  # as wide as its longest list
            out[start:start + len(part), :part.shape[1]] = part
        return out

    def _resolve_all(self, patterns: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, list]:
        """Lists for every distinct fired pattern at once (``priority`` and ``first``).

        Walks the proposals in key order, once, over all patterns together: a
        proposal enters a pattern's list when its rule fired there, its item is
        neither blocked nor already listed, and the list is not full.
        """
        n_pat = len(patterns)
        taken = np.zeros((n_pat, len(self.items_)), dtype=bool)
        for j in np.flatnonzero(self._blocks.any(axis=1)):
            taken[patterns[:, j]] |= self._blocks[j]
        count = np.zeros(n_pat, dtype=np.int64)
        allowed = patterns
        if self.rule_set_.conflict == "first":  # only the first firing rule that suggests
            suggesting = patterns & self._proposes.any(axis=1)
            first = np.where(suggesting.any(axis=1), suggesting.argmax(axis=1), -1)
            allowed = np.arange(len(self.rule_set_.rules)) == first[:, None]
        # no list holds more than the items its allowed rules propose (summed a million
        # pattern-rule cells at a time)
        per_rule = self._proposes.sum(axis=1).astype(np.int32)
        step = max(1, (1 << 20) // max(len(per_rule), 1))
        most = max((int((allowed[i:i + step].astype(np.int32) @ per_rule).max(initial=0))
                    for i in range(0, n_pat, step)), default=0)
        width = list_width(k, min(most, len(self.items_)))
        items = np.full((n_pat, width), -1, dtype=np.int64)
        for rule, item in zip(self._prop_rule, self._prop_item):
            if k == 0:
                break
            take = np.flatnonzero(allowed[:, rule] & ~taken[:, item] & (count < k))
            items[take, count[take]] = item
            count[take] += 1
            taken[take, item] = True
        # reasons: every rule allowed in that pattern that proposes the item
        p, slot = np.nonzero(items >= 0)
        who = allowed[p] & self._proposes[:, items[p, slot]].T
        reasons = np.full((n_pat, width), -1, dtype=np.int64)
        if len(p):
            distinct, code = unique_columns(who.T)
            ids = [r.id for r in self.rule_set_.rules]
            names = [",".join(ids[j] for j in np.flatnonzero(row)) for row in distinct]
            reasons[p, slot] = code
            return items, reasons, names
        return items, reasons, []

    def _resolve_each(self, patterns: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, list]:
        lists = [self.resolve(p, k) for p in patterns]
        width = list_width(k, max((len(ids) for ids, _ in lists), default=0))
        items = np.full((len(lists), width), -1, dtype=np.int64)
        reasons = np.full((len(lists), width), -1, dtype=np.int64)
        names: dict[str, int] = {}
        for p, (ids, why) in enumerate(lists):
            items[p, :len(ids)] = ids
            reasons[p, :len(why)] = [names.setdefault(w, len(names)) for w in why]
        return items, reasons, list(names)

    def blocked(self, requests: pd.DataFrame) -> pd.DataFrame:
        """(request_id, item_id, rules) for every item a block rule removed."""
        self.check_fitted()
        blockers = np.flatnonzero(self._blocks.any(axis=1))
        if len(blockers) == 0 or len(requests) == 0:
            return pd.DataFrame({"request_id": pd.Series(dtype=object),
                                 "item_id": pd.Series(dtype=object), "rules": pd.Series(dtype=object)})
        evaluator = self.evaluator(requests)
        rows, items, rules = [], [], []
        for j in blockers:
            where = np.flatnonzero(evaluator.evaluate(self.rule_set_.rules[j].when,
                                                      need_known=False).true)
            codes = np.flatnonzero(self._blocks[j])
            rows.append(np.repeat(where, len(codes)))
            items.append(np.tile(codes, len(where)))
            rules.append(np.full(len(where) * len(codes), j))
        row, item, rule = np.concatenate(rows), np.concatenate(items), np.concatenate(rules)
        order = np.lexsort((rule, item, row))
        row, item, rule = row[order], item[order], rule[order]
        starts = np.ones(len(row), dtype=bool)  # the first row of each (request, item)
        starts[1:] = (row[1:] != row[:-1]) | (item[1:] != item[:-1])
        first = np.flatnonzero(starts)
        size = np.diff(np.r_[first, len(row)])
        ids = np.array([r.id for r in self.rule_set_.rules], dtype=object)
        joined = ids[rule[first]]  # each (request, item)'s rules in file order, joined by commas
        for extra in range(1, int(size.max()) if len(size) else 1):  # at most one round per rule
            more = np.flatnonzero(size > extra)
            joined[more] = joined[more] + "," + ids[rule[first[more] + extra]]
        return pd.DataFrame({"request_id": requests["request_id"].to_numpy()[row[first]],
                             "item_id": self.items_[item[first]], "rules": joined})

    def block_fired(self, requests: pd.DataFrame) -> np.ndarray:
        """Which block rules fire on each request: (block rules x requests), the rules that
        remove at least one item, in file order (:meth:`blocked_shown` reads it)."""
        self.check_fitted()
        blockers = np.flatnonzero(self._blocks.any(axis=1))
        evaluator = self.evaluator(requests) if len(blockers) and len(requests) else None
        return np.stack([evaluator.evaluate(self.rule_set_.rules[j].when, need_known=False).true
                         for j in blockers]) if evaluator is not None else \
            np.zeros((len(blockers), len(requests)), bool)

    def blocked_shown(self, requests: pd.DataFrame, lists: pd.DataFrame,
                      fired: np.ndarray) -> np.ndarray:
        """For another engine's ``lists`` (a Suggestions frame of ``requests``, whose block
        rules fire as ``fired``: :meth:`block_fired`, once for every engine's lists): whether
        each row shows an item a block rule removes for its request. (block x row) lookups,
        never the (request x item) pairs a slice block would make."""
        row = pd.Index(requests["request_id"]).get_indexer(lists["request_id"])
        return self._blocked_at(fired, row, lists["item_id"])

    def blocks_at(self, requests: pd.DataFrame, row: np.ndarray, item_id) -> np.ndarray:
        """Whether a block rule removes ``item_id`` (per pair) for the request at position
        ``row`` of ``requests``: a lookup per pair and block rule, never the (request x item)
        pairs :meth:`blocked` lists (a block of 4,000 items over a training part was 55M
        of them, 13 GiB)."""
        self.check_fitted()
        return self._blocked_at(self.block_fired(requests), np.asarray(row, dtype=np.int64), item_id)

    def _blocked_at(self, fired: np.ndarray, row: np.ndarray, item_id) -> np.ndarray:
        blocks = self._blocks[self._blocks.any(axis=1)]
        code = pd.Index(self.items_).get_indexer(pd.Series(item_id).astype(str))
        known = np.flatnonzero((row >= 0) & (code >= 0))
        at, code = row[known], code[known]
        hit = np.zeros(len(row), bool)
        for j in range(len(blocks)):  # one block rule at a time: (pairs), not (blocks x pairs)
            hit[known] |= fired[j, at] & blocks[j, code]
        return hit

    def resolve(self, pattern: np.ndarray, k: int) -> tuple[list[int], list[str]]:
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


def unique_columns(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct columns of a boolean (rules x requests) matrix, as rows, and per request
    the index of its distinct column.

    Each column is packed into 64-bit words and hashed (``pd.factorize``), which is
    linear in the number of requests; the distinct columns are unpacked from the words.
    """
    n_rules = matrix.shape[0]
    if n_rules == 0:
        return np.zeros((1, 0), bool), np.zeros(matrix.shape[1], dtype=np.int64)
    words = _pack_columns(matrix).T.view(">u8")  # (requests x 64-bit words), big-endian bits
    if words.shape[1] == 1:
        inverse, distinct = pd.factorize(words[:, 0].astype(np.uint64))
        distinct = np.asarray(distinct, dtype=">u8").reshape(-1, 1)
    else:
        distinct, inverse = np.unique(words, axis=0, return_inverse=True)
    rows = np.unpackbits(np.ascontiguousarray(distinct).view(np.uint8), axis=1)[:, :n_rules]
    return rows.astype(bool), np.asarray(inverse).reshape(-1)


def _pack_columns(matrix: np.ndarray) -> np.ndarray:
    """Pack a boolean (rules x requests) matrix into bytes, 8 rules a byte, first rule in
    the top bit: (bytes padded to whole 64-bit words x requests).

    One shift-and-or per rule over contiguous rows; ``np.packbits`` along the
    strided axis is several times slower here.
    """
    n_rules, n = matrix.shape
    n_bytes = -(-n_rules // 64) * 8  # whole 64-bit words
    out = np.zeros((n_bytes, n), dtype=np.uint8)
    bits = np.ascontiguousarray(matrix).view(np.uint8)
    for j in range(n_rules):
        out[j // 8] |= bits[j] << np.uint8(7 - j % 8)
    return np.ascontiguousarray(out.T).T


def slice_members(catalog: pd.DataFrame, attr: str, value: str) -> pd.Series:
    """The item ids of a catalog slice (``{attr: value}``), in the catalog's order."""
    return catalog.loc[catalog[attr].astype(str) == value, "item_id"].astype(str)
