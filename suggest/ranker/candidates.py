"""Candidate generation: the items the ranker may order for a request (DESIGN section 5).

The union of four sources, each a baseline or the rule set: the user's own
past items (``history``), the rules' suggestions (``rules``), the most
engaged items in the request's context slice (``context``) and overall
(``popular``). Each source contributes up to its quota; the union is capped
at ``cap`` per request, keeping items in source order (history, rules,
context, popular) then by their rank in the source. Each candidate carries a
flag per source and the rules' rank for the item (NaN when no rule proposed
it). The ranker can never beat its candidates: ``recall`` measures that.

A log without time has no "before": given the features' ``folds``, the
history source of a *training* request is the user's items in the other
folds (as its history features are), so a request's own engagement never
makes its answer a history candidate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from suggest.engines.baselines import ContextPopular, Popular, UserHistory
from suggest.history import nanoseconds
from suggest.ids import isin

SOURCES = ("history", "rules", "context", "popular")
DEFAULT_QUOTAS = {"history": 20, "rules": 10, "context": 25, "popular": 25}
COUNT = "\x00count"  # the counts' column in a model folder (no context column is named so)


class Candidates:
    """Fit the sources on the training window, then generate candidates for requests.

    Training requests must not get candidates from data they could not have
    seen. With time, the training window is cut into ``blocks`` equal shares of
    requests; a training request in block b gets its popular, context-popular
    and rule-slice candidates from sources fitted on requests *before* block b
    starts (its history source is point-in-time already). Without time, each
    training request's sources are fitted on the other folds. Requests being
    served use sources fitted on the whole window.
    """

    def __init__(self, cap: int = 50, quotas: dict[str, int] | None = None, blocks: int = 4):
        self.cap = cap
        self.quotas = dict(DEFAULT_QUOTAS if quotas is None else quotas)
        self.blocks = blocks

    def fit(self, requests: pd.DataFrame, truth: pd.DataFrame, catalog: pd.DataFrame | None = None,
            rules=None, folds: pd.Series | None = None) -> "Candidates":
        """``rules`` is a fitted RulesEngine (refitted per group for its catalog slices);
        ``folds`` (fold by request id) is used when the log has no time."""
        self.counted_ = {}
        self.sources_ = self._sources(requests, truth, catalog, rules, self.counted_)
        self.by_group_, self.group_of_, self.cuts_ = {}, None, None
        if "timestamp" in requests.columns and len(requests):
            # nanoseconds, not the column's values: a zoned column's are Timestamp objects,
            # compared one by one (17 of a million-request log's 65 s of preparing)
            when = nanoseconds(requests["timestamp"])
            stamps = np.sort(when, kind="stable")
            cuts = stamps[[int(len(stamps) * b / self.blocks) for b in range(1, self.blocks)]]
            # a training request's block follows from its time: the cuts are all the state
            # kept, not a block per request (shipped to every worker that builds features)
            self.cuts_ = cuts
            for g in range(self.blocks):
                seen = when < cuts[g - 1] if g else np.zeros(len(requests), bool)
                sources = self._sources(requests[seen], truth[isin(truth["request_id"],
                    requests["request_id"][seen])], catalog, rules, history=False)
                sources["history"] = self.sources_["history"]  # point-in-time by itself
                self.by_group_[g] = sources
        elif folds is not None:
            self.group_of_ = folds
            for f in np.unique(folds.to_numpy()):
                others = folds.reindex(requests["request_id"]).to_numpy() != f
                self.by_group_[f] = self._sources(requests[others], truth[isin(truth["request_id"],
                    requests["request_id"][others])], catalog, rules)
        return self

    @staticmethod
    def _sources(requests, truth, catalog, rules, counted: dict | None = None,
                 history: bool = True) -> dict:
        """The sources fitted on ``requests``; ``counted`` (given) receives the counts the
        count-fitted ones learnt from (by source). ``history`` False leaves user history
        out (a block's: the whole window's is point-in-time by itself)."""
        counted = {} if counted is None else counted
        sources = {"history": UserHistory().fit(requests, truth, catalog)} if history else {}
        for name, engine in (("context", ContextPopular()), ("popular", Popular())):
            counted[name] = engine.counts(requests, truth)
            sources[name] = engine.fit_counts(counted[name], requests.iloc[:0], catalog)
        if rules is not None:
            sources["rules"] = type(rules)(rules.rule_set_, rules.timezone).fit(requests, truth, catalog)
        return sources

    # -- a model folder's state ----------------------------------------------------------
    def state(self) -> tuple[dict, dict[str, np.ndarray], dict[str, pd.DataFrame]]:
        """What serving needs (the sources fitted on the whole window) as a JSON-able dict,
        numeric arrays and frames (for a model folder: never pickled): the history's pairs
        and counts, and the counts popular, context-popular and the rules' catalog slices
        learnt from. The per-block or per-fold sources of training requests are not kept:
        a restored model serves, it is not trained further. :meth:`restore` reads them."""
        pairs, arrays = self.sources_["history"].state()
        popular = self.counted_["popular"]
        context = self.counted_["context"]
        frames = {"history_pairs": pairs,
                  "item_counts": pd.DataFrame({"item_id": popular.index.astype(str),
                                               COUNT: popular.to_numpy(dtype=np.int64)}),
                  "context_counts": context.rename(COUNT).reset_index()}
        return ({"cap": self.cap, "quotas": self.quotas, "blocks": self.blocks,
                 "history_time": self.sources_["history"].has_time_,
                 "context_levels": list(context.index.names)},
                {f"history.{name}": values for name, values in arrays.items()}, frames)

    @classmethod
    def restore(cls, state: dict, arrays: dict, frames: dict, requests: pd.DataFrame,
                catalog: pd.DataFrame | None, rules=None) -> "Candidates":
        """The candidates :meth:`state` gave of; ``requests``: the Requests frame's columns
        and types (no rows); ``rules``: the rule set's engine (the model's copy of its file),
        not fitted."""
        self = cls(cap=state["cap"], quotas=state["quotas"], blocks=state["blocks"])
        self.by_group_, self.group_of_, self.cuts_, self.restored_ = {}, None, None, True
        history = {name.split(".", 1)[1]: values for name, values in arrays.items()
                   if name.startswith("history.")}
        items = frames["item_counts"]
        item_counts = pd.Series(items[COUNT].to_numpy(), name="count",
                                index=pd.Index(items["item_id"].astype(str).to_numpy(dtype=object),
                                               name="item_id"))
        table = frames["context_counts"]
        levels = state["context_levels"]
        keys = {c: table[c].astype(object).where(table[c].notna(), None) for c in levels}
        context = pd.Series(table[COUNT].to_numpy(),
                            index=pd.MultiIndex.from_arrays(list(keys.values()), names=levels))
        self.counted_ = {"popular": item_counts, "context": context}
        self.sources_ = {
            "history": UserHistory.restore(frames["history_pairs"], history, state["history_time"],
                                           requests),
            "context": ContextPopular().fit_counts(context, requests, catalog),
            "popular": Popular().fit_counts(item_counts, requests, catalog)}
        if rules is not None:
            self.sources_["rules"] = rules.fit_counts(item_counts, requests, catalog)
        return self

    def _groups(self, requests: pd.DataFrame) -> np.ndarray | None:
        """Each training request's block (by its time) or fold (without time; NaN: a request
        the folds do not know), or None when the sources are not split."""
        if self.cuts_ is not None:
            return np.searchsorted(self.cuts_, nanoseconds(requests["timestamp"]), side="right")
        if self.group_of_ is not None:
            return self.group_of_.reindex(requests["request_id"]).to_numpy()
        return None

    def _suggest(self, source: str, requests: pd.DataFrame, quota: int, training: bool) -> pd.DataFrame:
        """The source's suggestions; for training requests, each group's own source."""
        group = self._groups(requests) if training else None
        if group is None:
            return self.sources_[source].suggest(requests, quota)
        parts = [self.sources_[source].suggest(requests[pd.isna(group)], quota)]
        parts += [engines[source].suggest(requests[group == g], quota)
                  for g, engines in self.by_group_.items() if (group == g).any()]
        return pd.concat([p[["request_id", "item_id", "rank"]].astype({"item_id": object}) for p in parts],
                         ignore_index=True)

    def _blocked(self, requests: pd.DataFrame, row: np.ndarray, item: pd.Series,
                 training: bool) -> np.ndarray:
        """Whether a block rule removes each candidate (``item`` of the request at ``row``);
        for training requests, their group's rules."""
        group = self._groups(requests) if training else None
        if group is None:
            return self.sources_["rules"].blocks_at(requests, row, item)
        hit = np.zeros(len(row), bool)
        groups = [(pd.isna(group), self.sources_["rules"])] + [
            (group == g, engines["rules"]) for g, engines in self.by_group_.items()]
        for mine, rules in groups:
            if not mine.any():
                continue
            at = np.flatnonzero(mine[row])  # the candidates of the group's requests
            local = np.cumsum(mine) - 1  # a request's position among the group's
            hit[at] = rules.blocks_at(requests[mine], local[row[at]], item.iloc[at])
        return hit

    def generate(self, requests: pd.DataFrame, training: bool = False) -> pd.DataFrame:
        """One row per (request position ``row``, ``item_id``) with source flags, ``rule_rank``
        and ``rule_blocked`` (a block rule removes the item for this request).

        ``training=True`` marks training requests: their sources are the ones
        fitted on what they could have seen (see the class docstring)."""
        if training and getattr(self, "restored_", False):
            raise RuntimeError("candidates loaded from a model folder serve; they hold no "
                               "training request's sources")
        position = pd.Index(requests["request_id"])
        rows, items, sources, ranks = [np.zeros(0, np.int64)], [np.zeros(0, object)], [], []
        for order, source in enumerate(SOURCES):
            quota = self.quotas.get(source, 0)
            if source not in self.sources_ or quota <= 0:
                continue
            out = self._suggest(source, requests, quota, training)
            rows.append(position.get_indexer(out["request_id"]))
            items.append(out["item_id"].to_numpy(dtype=object))  # item ids as text, kept as objects
            sources.append(np.full(len(out), order, dtype=np.int64))
            ranks.append(out["rank"].to_numpy(dtype=np.int64))
        row, item = np.concatenate(rows).astype(np.int64), np.concatenate(items)
        source = np.concatenate(sources) if sources else np.zeros(0, np.int64)
        rank = np.concatenate(ranks) if ranks else np.zeros(0, np.int64)
        key = source * 10_000 + rank
        item_code, item_names = pd.factorize(item)
        pair, pair_values = pd.factorize(row * max(len(item_names), 1) + item_code)
        n_pairs = len(pair_values)
        best = pd.Series(key).groupby(pair).min().to_numpy() if n_pairs else np.zeros(0, np.int64)
        cand = pd.DataFrame({"row": pair_values // max(len(item_names), 1),
                             "item_id": pd.Series(np.asarray(item_names, dtype=object)[
                                 pair_values % max(len(item_names), 1)], dtype=object),
                             "key": best, "pair": np.arange(n_pairs)})
        cand = cand.sort_values(["row", "key", "item_id"], kind="stable")
        cand = cand[cand.groupby("row", sort=False).cumcount() < self.cap]
        for order, name in enumerate(SOURCES):
            present = np.bincount(pair[source == order], minlength=n_pairs) > 0
            cand[f"src_{name}"] = present[cand["pair"].to_numpy()].astype(np.float32)
        rule_rank = np.full(n_pairs, np.nan)
        from_rules = source == SOURCES.index("rules")
        rule_rank[pair[from_rules]] = rank[from_rules]
        cand["rule_rank"] = rule_rank[cand["pair"].to_numpy()]
        cand = cand.drop(columns="pair")
        cand["rule_blocked"] = np.float32(0)
        if "rules" in self.sources_ and len(cand):
            cand["rule_blocked"] = self._blocked(requests, cand["row"].to_numpy(dtype=np.int64),
                                                 cand["item_id"], training).astype(np.float32)
        return cand.drop(columns="key").reset_index(drop=True)


def recall(cand: pd.DataFrame, requests: pd.DataFrame, truth: pd.DataFrame) -> float:
    """Share of engaged (request, item) pairs that are among the candidates."""
    rows = pd.Index(requests["request_id"]).get_indexer(truth["request_id"])
    wanted = pd.MultiIndex.from_arrays([rows, truth["item_id"].astype(str)])[rows >= 0]
    if len(wanted) == 0:
        return float("nan")
    return float(wanted.isin(pd.MultiIndex.from_frame(cand[["row", "item_id"]])).mean())
