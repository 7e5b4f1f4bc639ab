"""The Engine protocol, the shared base class and the registry (DESIGN section 3).

An engine turns a Requests frame into a Suggestions frame: at most ``k`` rows
per request with ``request_id, engine, rank, item_id, score, reason``, ranks
1-based, scores strictly decreasing with rank inside a request (ties broken
by item id), so any evaluator that sorts by score keeps the engine's order.

Engines are found by name through the ``suggest.engines`` entry-point group,
so a team adds its own engine with no change to this package::

    [options.entry_points]
    suggest.engines =
        my-engine = my_package.engines:MyEngine

Constructors only store parameters (scikit-learn style): ``get_params()``
reads them back from the ``__init__`` signature, so ``type(e)(**e.get_params())``
is an unfitted copy. Work happens in ``fit``; attributes learned there end in
``_``.
"""

from __future__ import annotations

import inspect
from importlib.metadata import entry_points
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from suggest.errors import SuggestError, did_you_mean, one_of

SUGGESTION_COLUMNS = ["request_id", "engine", "rank", "item_id", "score", "reason"]
ENTRY_POINT_GROUP = "suggest.engines"
BUILT_IN = {
    "rules": "suggest.rules.engine:RulesEngine",
    "popular": "suggest.engines.baselines:Popular",
    "context-popular": "suggest.engines.baselines:ContextPopular",
    "user-history": "suggest.engines.baselines:UserHistory",
    "random": "suggest.engines.baselines:Random",
    "ranker": "suggest.ranker.model:RankerEngine",
    "hybrid": "suggest.ranker.model:HybridEngine",
}


@runtime_checkable
class Engine(Protocol):
    name: str

    def fit(self, requests: pd.DataFrame, truth: pd.DataFrame,
            catalog: pd.DataFrame | None = None) -> "Engine": ...

    def suggest(self, requests: pd.DataFrame, k: int) -> pd.DataFrame: ...


class BaseEngine:
    """Parameters from ``__init__``, a fitted check, and the one-context wrapper."""

    name = "base"

    def get_params(self) -> dict:
        """The constructor's parameters and their current values."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {n: getattr(self, n) for n in names}

    def check_fitted(self) -> None:
        if not any(key.endswith("_") and not key.startswith("_") for key in vars(self)):
            raise SuggestError(f"this {type(self).__name__} engine is not fitted yet",
                               hint="call fit(requests, truth, catalog) before suggest()")

    def suggest_one(self, context: dict, k: int) -> pd.DataFrame:
        """Suggestions for one context (a mapping of field: value), through the batch path."""
        from suggest.rules.explain import context_frame

        return self.suggest(context_frame(context), k)


def check_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise SuggestError(f"k must be a whole number >= 0, not {k!r}")
    return int(k)


def suggestions_frame(request_ids: pd.Series, rows: np.ndarray, ranks: np.ndarray,
                      item_codes: np.ndarray, items: np.ndarray, scores: np.ndarray,
                      reason_codes: np.ndarray, reasons: list[str], engine: str) -> pd.DataFrame:
    """Assemble a Suggestions frame from arrays (one entry per suggestion row).

    ``rows`` index ``request_ids``; ``item_codes`` index ``items`` and
    ``reason_codes`` index ``reasons``. Categoricals keep the frame small.
    """
    n = len(rows)
    return pd.DataFrame({
        "request_id": pd.Series(request_ids.array.take(rows)),
        "engine": pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), categories=[engine]),
        "rank": np.asarray(ranks, dtype=np.int64),
        "item_id": pd.Categorical.from_codes(item_codes, categories=pd.Index(items, dtype=object)),
        "score": np.asarray(scores, dtype=float),
        "reason": pd.Categorical.from_codes(reason_codes, categories=reasons or ["-"]),
    })


def gather_lists(request_ids: pd.Series, inverse: np.ndarray, item_codes: np.ndarray,
                 scores: np.ndarray, reason_codes: np.ndarray, items: np.ndarray,
                 reasons: list[str], engine: str) -> pd.DataFrame:
    """Suggestions for requests that share lists: request ``i`` gets list ``inverse[i]``.

    ``item_codes``, ``scores`` and ``reason_codes`` are (lists x k), padded
    with code -1 where a list is shorter than ``k``.
    """
    rows, slots = np.nonzero(item_codes[inverse] >= 0)  # row-major: by request, then rank
    chosen = inverse[rows]
    return suggestions_frame(request_ids, rows, slots + 1, item_codes[chosen, slots], items,
                             scores[chosen, slots], reason_codes[chosen, slots], reasons, engine)


def engine_names() -> list[str]:
    """Every engine name: built in, plus those other packages register."""
    return sorted(set(BUILT_IN) | {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})


def replay_params(name: str, rules: str | None, seed: int) -> dict:
    """The constructor parameters a replay gives built-in engine ``name``.

    The rule file goes to the engines that read one, the seed to those that
    draw at random or train; the ranker's per-suggestion explanations are off.

    >>> replay_params("hybrid", "rules/phone.yaml", 3)
    {'rules': 'rules/phone.yaml', 'seed': 3, 'explain': False}
    """
    params = {"rules": str(rules)} if rules is not None and name in ("rules", "ranker", "hybrid") else {}
    if name in ("ranker", "hybrid"):
        params.update(seed=seed, explain=False)
    if name == "random":
        params["seed"] = seed
    return params


def get_engine(name: str, **params) -> Engine:
    """An unfitted engine by name, with ``params`` passed to its constructor.

    >>> get_engine("popular").name
    'popular'
    """
    found = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    if name in found:
        cls = found[name].load()
    elif name in BUILT_IN:
        module, _, attr = BUILT_IN[name].partition(":")
        cls = getattr(__import__(module, fromlist=[attr]), attr)
    else:
        raise SuggestError(f"unknown engine '{name}'",
                           hint=did_you_mean(name, engine_names()) or f"use {one_of(engine_names())}")
    try:
        return cls(**params)
    except TypeError as exc:
        raise SuggestError(f"engine '{name}': {exc}") from None
