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
``_``. An engine that reads context columns says which in ``columns_read()``
(default: none): ``suggest`` then refuses a batch frame without one of them,
where the engine would read the column as missing on every row.
"""

from __future__ import annotations

import functools
import inspect
import re
from importlib.metadata import entry_points
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from suggest.contexts import ONE_CONTEXT
from suggest.data.timefields import TIME_FIELDS
from suggest.errors import SuggestError, did_you_mean, one_of
from suggest.registry import BUILT_IN, ENTRY_POINT_GROUP  # noqa: F401  (ENTRY_POINT_GROUP: re-exported)

#: Keys a single context may have besides the context columns the engine was fitted on.
CONTEXT_KEYS = ("user_id", "timestamp", "timezone", "request_id", "group_id")
SUGGESTION_COLUMNS = ["request_id", "engine", "rank", "item_id", "score", "reason"]


@runtime_checkable
class Engine(Protocol):
    """What replay, compare and serving call on an engine (BaseEngine gives the last two)."""

    name: str

    def fit(self, requests: pd.DataFrame, truth: pd.DataFrame,
            catalog: pd.DataFrame | None = None) -> "Engine": ...

    def suggest(self, requests: pd.DataFrame, k: int) -> pd.DataFrame: ...

    def suggest_one(self, context: dict, k: int) -> pd.DataFrame: ...

    def get_params(self) -> dict: ...


def check_frame(frame, needed: tuple[str, ...], what: str) -> None:
    """A :class:`SuggestError` naming what a caller's frame lacks (instead of pandas'
    KeyError from deep inside an engine)."""
    if not isinstance(frame, pd.DataFrame):
        raise SuggestError(f"the {what} must be a pandas DataFrame, not {type(frame).__name__}",
                           hint=f"with the columns {', '.join(needed)} (suggest.load gives them)")
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        shown = ", ".join(map(str, frame.columns[:12])) or "none"
        raise SuggestError(f"the {what} frame has no column {', '.join(map(repr, missing))}",
                           hint=f"it has {shown}; suggest.load gives the columns an engine reads")


#: The columns a Truth frame has.
TRUTH_COLUMNS = ("request_id", "item_id", "relevance")


def checked_fit(method):
    """``fit(requests, truth, ...)`` with both frames' columns checked first, and ``truth``
    cut to the engagements of ``requests``: an engine learns from the requests it is given,
    never from a whole log's engagements passed beside a training part's requests (popular
    counted the held-out part's, and the ranker's candidates followed)."""
    @functools.wraps(method)
    def fit(self, requests, truth, *args, **kwargs):
        check_frame(requests, self.request_columns(), "requests")
        check_frame(truth, TRUTH_COLUMNS, "truth")
        catalog = args[0] if args else kwargs.get("catalog")
        if catalog is not None:  # its item column named as a Truth frame's is
            check_frame(catalog, ("item_id",), "catalog")
        self.zone_ = None  # a previous fit's
        fitted = method(self, requests, training_truth(requests, truth), *args, **kwargs)
        if self.zone_ is None:  # not found by a fit that read the rows (from counts: none)
            self.zone_ = single_zone(requests)
        return fitted
    return fit


def training_truth(requests: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``truth`` whose request is one of ``requests`` (``truth`` itself when all
    are)."""
    from suggest.ids import isin

    keep = isin(truth["request_id"], requests["request_id"])
    return truth if keep.all() else truth[keep].reset_index(drop=True)


def zoned_one(method):
    """``suggest_one(context, k)`` reading a context as the batch path reads its row: one
    that names no ``timezone`` in the zone every training request was in (``zone_``: a log
    read in its description's one zone; a context's hour was its written offset's, or UTC,
    while the engine learnt hours in that zone: 43% of one tester's one-context lists
    differed from the replay's), and numpy scalars (a frame's row) as Python values."""
    @functools.wraps(method)
    def suggest_one(self, context, k):
        return method(self, as_served(self, context), k)
    return suggest_one


def as_served(engine, context, kinds: dict[str, str] | None = None):
    """A context as :func:`zoned_one` gives it to ``suggest_one`` (and ``rules explain`` and
    ``rules test`` read it: their times without an offset were UTC where ``suggest_one`` read
    them in the dataset's zone): numpy scalars as Python values, a boolean field's word as
    the log reads it ("yes", "false": explain took them where suggest_one refused them), and
    in the engine's ``zone_`` when it names no ``timezone``. ``kinds``: the columns' kinds
    (default: those the engine was fitted on)."""
    if not isinstance(context, dict):
        return context
    if any(isinstance(v, np.generic) for v in context.values()):
        # a row of a frame gives numpy scalars: np.True_ is not True to the rules'
        # one-context path, which then missed rules a batch fired
        context = {key: v.item() if isinstance(v, np.generic) else v for key, v in context.items()}
    kinds = kinds or getattr(engine, "context_columns_", None) or {}
    words = {key: _log_word(value) for key, value in context.items()
             if kinds.get(key) == "boolean" and isinstance(value, str)}
    if any(w is not None for w in words.values()):  # another word is refused by check_values
        context = {**context, **{k: w for k, w in words.items() if w is not None}}
    zone = getattr(engine, "zone_", None)
    if zone and context.get("timestamp") is not None and not context.get("timezone"):
        context = {**context, "timezone": zone}
    return context


def single_zone(requests: pd.DataFrame | None) -> str | None:
    """The one zone every row of a Requests frame is in, or None (several, or none)."""
    if requests is None or "timezone" not in requests.columns or not len(requests):
        return None
    zones = pd.unique(requests["timezone"].dropna().astype(str))
    return str(zones[0]) if len(zones) == 1 else None


def checked_suggest(method):
    """``suggest(requests, k, ...)`` with the Requests frame's columns checked first."""
    @functools.wraps(method)
    def suggest(self, requests, k, *args, **kwargs):
        check_frame(requests, self.request_columns(), "requests")
        check_complete(requests, self)
        check_kinds(requests, getattr(self, "context_columns_", None))
        return method(self, requests, k, *args, **kwargs)
    return suggest


def check_complete(requests: pd.DataFrame, engine) -> None:
    """Refuse a batch Requests frame without a column the fitted engine reads
    (:meth:`BaseEngine.columns_read`: its context columns, the timestamp it learnt times
    from): the engines read an absent column as missing on every row, and their lists changed
    without a word (a tester's rules lost 38% of their NDCG to a dropped column). A single
    context (:data:`ONE_CONTEXT`) may leave fields out."""
    if requests.attrs.get(ONE_CONTEXT):
        return
    read = engine.columns_read()
    missing = [c for c in read if c != "timestamp" and c not in requests.columns]
    # the time: its timestamp, or the local fields themselves (a frame may hold those alone)
    if "timestamp" in read and "timestamp" not in requests.columns and not all(
            f in requests.columns for f in TIME_FIELDS):
        missing.append("timestamp")
    if missing:
        raise SuggestError(
            f"the requests frame has no column {', '.join(map(repr, missing))}, which the "
            f"{engine.name} engine was fitted with",
            hint="give every column fit saw (a missing value is an empty cell, not a missing "
                 "column); suggest.load gives them, and suggest_one takes a context that "
                 "leaves fields out")


def check_kinds(requests: pd.DataFrame, kinds: dict[str, str] | None) -> None:
    """Refuse a column of text where ``fit`` saw numbers or booleans (a CSV read without
    dtypes gives 'true'/'false' and '40' as text): read as text, context-popular's lists
    changed without a word and the ranker failed inside pyarrow. By dtype, and the first
    value of a column of objects: no pass over the rows."""
    for column, kind in (kinds or {}).items():
        if kind == "categorical" or column not in requests.columns:
            continue
        values = requests[column]
        textual = pd.api.types.is_string_dtype(values.dtype) or (
            values.dtype == object and isinstance(values.dropna().iloc[0] if values.notna().any()
                                                  else None, str))
        if textual:
            raise SuggestError(f"the requests' column '{column}' is text; the engine was fitted "
                               f"with it {kind}", hint="read the log with suggest.load, or convert "
                               "the column (e.g. .astype(float) for numbers, .map({'true': True, "
                               "'false': False}) for booleans)")


class BaseEngine:
    """Parameters from ``__init__``, a fitted check, and the one-context wrapper."""

    name = "base"

    def request_columns(self) -> tuple[str, ...]:
        """The columns this engine reads from every Requests frame."""
        return ("request_id",)

    def columns_read(self) -> list[str]:
        """The columns beyond :meth:`request_columns` the fitted engine reads from a batch
        of requests (its context columns; ``timestamp`` when it reads time), which a frame
        passed to ``suggest`` must hold: none for an engine blind to the context."""
        return []

    def get_params(self) -> dict:
        """The constructor's parameters and their current values."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {n: getattr(self, n) for n in names}

    def counts(self, requests: pd.DataFrame, truth: pd.DataFrame) -> pd.Series | None:
        """The engagement counts ``fit`` learns from, for an engine whose counts add up over
        any cut of the training requests (:func:`add_counts`), so that a cluster can fit it
        without one process holding the log (:meth:`fit_counts`); None for an engine that
        learns from whole frames."""
        return None

    def fit_counts(self, counts: pd.Series, requests: pd.DataFrame,
                   catalog: pd.DataFrame | None = None) -> "BaseEngine":
        """Fit from :meth:`counts` (added up over the training requests); ``requests`` needs
        only the Requests frame's columns and types (a frame of no rows will do)."""
        raise NotImplementedError(f"{type(self).__name__} learns from whole frames")

    def check_fitted(self) -> None:
        if not any(key.endswith("_") and not key.startswith("_") for key in vars(self)):
            name = type(self).__name__
            raise SuggestError(f"this {name}{'' if name.endswith('Engine') else ' engine'} is not "
                               "fitted yet", hint="call fit(requests, truth, catalog) first")

    @zoned_one
    def suggest_one(self, context: dict, k: int) -> pd.DataFrame:
        """Suggestions for one context, through the batch path.

        Parameters
        ----------
        context : dict
            ``field: value`` for the context columns the engine was fitted on,
            plus optional ``user_id``, ``timestamp``, ``timezone`` and
            ``request_id``. A context that names no ``timezone`` is in the zone
            every training request was in (a log read in its description's one
            zone), else its time is read at its written offset, or in UTC
            without one; with a zone per row in the log, give each context its
            own. A field left out, or ``None``, is missing; a category value
            the engine never saw is unseen. Both are legitimate in production
            and treated exactly as the batch path treats them.
        k : int
            At most this many suggestions.

        Raises
        ------
        SuggestError
            For a key that is not one of those (with the closest one), a
            timestamp or time zone that does not parse, or text that is not a
            number for a numeric field.

        Examples
        --------
        >>> engine.suggest_one({"user_id": "u1", "location": "commute",   # doctest: +SKIP
        ...                     "timestamp": "2026-03-03T08:10:00-05:00"}, k=5)
        """
        from suggest.contexts import context_frame

        check_context(context, getattr(self, "context_columns_", None))
        return self.suggest(context_frame(context), k)

    def _remember_context(self, requests: pd.DataFrame | None) -> None:
        """Record the context columns ``fit`` saw, so that ``suggest_one`` can check keys."""
        self.context_columns_ = context_columns(requests) if requests is not None else None
        self.timed_ = requests is not None and "timestamp" in requests.columns
        self.zone_ = single_zone(requests)


def adopt_fitted(engine, fitted):
    """``engine`` with the fitted state (attributes ending in ``_``) of ``fitted``, an
    engine of the same settings: the hybrid of a ranker already trained."""
    engine.__dict__.update({key: value for key, value in vars(fitted).items()
                            if key.endswith("_")})
    return engine


def learns_from_counts(engine) -> bool:
    """Whether ``engine`` fits from :meth:`BaseEngine.counts` (it overrides ``fit_counts``)."""
    return _overrides(engine, "fit_counts")


def learns_from_events(engine) -> bool:
    """Whether ``engine`` fits from its training engagements alone, one row each (it has
    ``events`` and ``fit_events``, as :class:`~suggest.engines.baselines.UserHistory`)."""
    return _overrides(engine, "fit_events")


def _overrides(engine, method: str) -> bool:
    own = getattr(type(engine), method, None)
    return own is not None and own is not getattr(BaseEngine, method, None)


def add_counts(parts: list[pd.Series]) -> pd.Series:
    """Counts of :meth:`BaseEngine.counts` from several cuts of the training requests, added
    up (a missing value in a key is a key of its own)."""
    kept = [p for p in parts if p is not None and len(p)]
    if not kept:  # nothing counted anywhere (rules that name no catalog slice count nothing)
        return next((p for p in parts if p is not None), pd.Series(dtype=float))
    every = pd.concat(kept)
    return every.groupby(level=list(range(every.index.nlevels)), dropna=False, sort=True,
                         observed=True).sum()


def context_columns(requests: pd.DataFrame) -> dict[str, str]:
    """The context columns of a Requests frame and their kinds (numeric, boolean, categorical).

    The local time fields are derived from ``timestamp`` when there is one, so
    they are not context then.

    >>> context_columns(pd.DataFrame({"request_id": ["r"], "battery": [40], "place": ["home"]}))
    {'battery': 'numeric', 'place': 'categorical'}
    """
    derived = TIME_FIELDS if "timestamp" in requests.columns else ()
    kinds = {}
    for col in requests.columns:
        if col in CONTEXT_KEYS or col in derived:
            continue
        dtype = requests[col].dtype
        kinds[col] = ("boolean" if pd.api.types.is_bool_dtype(dtype) else
                      "numeric" if pd.api.types.is_numeric_dtype(dtype) else "categorical")
    return kinds


def check_context(context: object, columns: dict[str, str] | None) -> None:
    """Refuse a single context that cannot mean what its caller intends.

    A key must be one of ``columns`` (the context columns seen at fit) or of
    :data:`CONTEXT_KEYS`; text for a numeric column must read as a number.
    With ``columns=None`` (an engine fitted without requests) keys are not
    checked. A few dict lookups per key: this runs on every ``suggest_one``.

    >>> check_context({"user": "u1"}, {"location": "categorical"})
    Traceback (most recent call last):
    ...
    suggest.errors.SuggestError: context key 'user' is not a context column of the data this engine was fitted on, nor one of 'user_id', 'timestamp', 'timezone', 'request_id' or 'group_id' (did you mean 'user_id'?)
    """
    if not isinstance(context, dict):
        raise SuggestError(f"a context must be a dict, not {type(context).__name__}",
                           hint='e.g. {"user_id": "u1", "location": "commute", "battery": 40}')
    stamp = context.get("timestamp")
    if stamp is not None:
        _check_year(stamp)
    if columns is None:
        return
    for key in context:
        if key not in columns and key not in CONTEXT_KEYS:
            _unknown_key(key, columns)
    check_values(context, columns)


def check_values(context: dict, columns: dict[str, str]) -> None:
    """Refuse a context value that does not fit its column's kind in ``columns`` (a number
    for a numeric one, true/false/1/0 for a boolean one, one value, not a list): what
    ``suggest_one`` and ``rules explain`` both read, so they agree on one context (explain
    took "yes" and true for a number where suggest_one refused them)."""
    for key, value in context.items():
        kind = columns.get(key)
        if kind is None:
            continue
        if isinstance(value, (list, tuple, dict, set)):  # read as missing, silently, before
            raise SuggestError(f"context field '{key}': {value!r} is a {type(value).__name__}; "
                               "a context holds one value a field",
                               hint=f"give '{key}' one {kind} value, or None when it is unknown")
        elif kind == "numeric" and isinstance(value, (bool, np.bool_)):  # True read as 1
            raise SuggestError(f"context field '{key}': {value!r} is not a number",
                               hint=f"'{key}' was numeric in the training data; give a number, "
                                    "or None when it is unknown")
        elif kind == "numeric" and isinstance(value, str):
            try:
                float(value)
            except ValueError:
                raise SuggestError(f"context field '{key}': {value!r} is not a number",
                                   hint=f"'{key}' was numeric in the training data; give a number, "
                                        "or None when it is unknown") from None
        elif kind == "boolean" and not _boolean_value(value):
            raise SuggestError(f"context field '{key}': {value!r} is not true or false",
                               hint=f"'{key}' was boolean in the training data; give true or false "
                                    "(yes/no, t/f, y/n and 1/0 read as in a log), or None when it "
                                    "is unknown")


def _log_word(value: str) -> bool | None:
    """A boolean as the log reads the word (true/false, yes/no, t/f, y/n, 1/0), else None."""
    from suggest.data.load import FALSE_WORDS, TRUE_WORDS

    word = value.strip().lower()
    return True if word in TRUE_WORDS else False if word in FALSE_WORDS else None


def _boolean_value(value) -> bool:
    """Whether ``value`` reads as a boolean (a bool, 1 or 0) or as missing."""
    if value is None or isinstance(value, (bool, np.bool_)):
        return True
    if isinstance(value, (int, float, np.integer, np.floating)):
        return value != value or value in (0, 1)
    return False


def _check_year(stamp: object) -> None:
    """Refuse a context time outside the years the frames' nanosecond clock holds (1678 to
    2261) before any engine reads it (pandas would read it at another unit, then fail)."""
    if isinstance(stamp, str):
        match = _YEAR.match(stamp)
        year = int(match.group(1)) if match else None
    else:
        year = getattr(stamp, "year", None)
    if isinstance(year, int) and not 1678 <= year <= 2261:
        raise SuggestError(f"context timestamp {stamp!r} is outside the years the tool holds "
                           "(1678 to 2261)", hint="give the request's real time, e.g. "
                           '"2026-03-03T08:10:00-05:00", or leave the timestamp out')


_YEAR = re.compile(r"\s*([+-]?\d{4,})-")


def _unknown_key(key: object, columns: dict[str, str]) -> None:
    known = [*CONTEXT_KEYS, *columns]
    derived = f"; '{key}' is derived from 'timestamp'" if key in TIME_FIELDS else ""
    raise SuggestError(f"context key {key!r} is not a context column of the data this engine was "
                       f"fitted on, nor one of {one_of(CONTEXT_KEYS)}{derived}",
                       hint=did_you_mean(key, known) or f"the context columns are {one_of(columns)}")


def check_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise SuggestError(f"k must be a whole number >= 0, not {k!r}")
    return int(k)


def list_width(k: int, most: int) -> int:
    """Columns a (lists x ``k``) table needs when no list can hold more than ``most`` items
    (a list holds distinct items): a ``k`` or ``max_suggestions`` of a billion then costs
    what the items cost, not a billion columns. Scores still divide by ``k``.

    >>> list_width(1_000_000_000, 3), list_width(2, 3), list_width(0, 3)
    (3, 2, 1)
    """
    return max(min(k, most), 1)


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
        "item_id": pd.Categorical.from_codes(item_codes, dtype=_item_dtype(items)),
        "score": np.asarray(scores, dtype=float),
        "reason": pd.Categorical.from_codes(reason_codes, categories=reasons or ["-"]),
    })


_ITEM_DTYPES: list = []  # (items, its categorical type) of the latest item arrays asked about


def _item_dtype(items: np.ndarray) -> pd.CategoricalDtype:
    """The categorical type of ``items``, made once for an engine's own item array: making
    one checks every item is distinct, most of 10 ms on a 20,000-item catalog, paid on every
    one-context list of an engine that draws from the whole catalog (random, popular)."""
    for held, dtype in _ITEM_DTYPES:
        if held is items:
            return dtype
    dtype = pd.CategoricalDtype(pd.Index(items, dtype=object))
    _ITEM_DTYPES[:] = [(items, dtype), *_ITEM_DTYPES[:3]]
    return dtype


_COLUMNS = pd.Index(SUGGESTION_COLUMNS, dtype=object)
_INDEXES: dict[int, pd.RangeIndex] = {}  # by length (at most the candidate cap or k); each frame gets a view
_TEXT, _RANK, _SCORE = (np.array([SUGGESTION_COLUMNS.index(c) for c in cols])
                        for cols in (("request_id", "engine", "item_id", "reason"), ("rank",), ("score",)))


def one_request_frame(request_id: str, engine: str, items: np.ndarray, scores: np.ndarray,
                      reasons: np.ndarray | str) -> pd.DataFrame:
    """The Suggestions frame of one request (object columns stay object; ``reasons``: one
    per row, or one text for every row).

    For a handful of rows pandas' public constructor costs more than scoring
    (it infers a text type per column and groups columns by type); the
    frame is built from its three blocks instead (``create_dataframe_from_blocks``,
    pandas >= 3.0), else from the arrays.
    """
    m = len(items)
    text = np.empty((len(_TEXT), m), dtype=object)
    text[0], text[1], text[2], text[3] = request_id, engine, items, reasons
    ranks = np.arange(1, m + 1, dtype=np.int64)
    try:
        from pandas.api.internals import create_dataframe_from_blocks
    except ImportError:  # pragma: no cover - pandas < 3
        return pd.DataFrame({"request_id": text[0], "engine": text[1], "rank": ranks,
                             "item_id": text[2], "score": scores, "reason": text[3]}, copy=False)
    index = _INDEXES.get(m)
    if index is None:
        index = _INDEXES[m] = pd.RangeIndex(m)
    return create_dataframe_from_blocks([(text, _TEXT), (ranks[None], _RANK), (scores[None], _SCORE)],
                                        index=index.view(), columns=_COLUMNS.view())


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


def replay_params(name: str, rules: str | None, seed: int, split_by: str = "auto") -> dict:
    """The constructor parameters a replay gives built-in engine ``name``.

    The rule file goes to the engines that read one, the seed to those that
    draw at random or train; the ranker's per-suggestion explanations are off,
    and it validates as the replay splits (``split_by``, when not ``auto``).

    >>> replay_params("hybrid", "rules/phone.yaml", 3)
    {'rules': 'rules/phone.yaml', 'seed': 3, 'explain': False}
    """
    params = {"rules": str(rules)} if rules is not None and name in ("rules", "ranker", "hybrid") else {}
    if name in ("ranker", "hybrid"):
        params.update(seed=seed, explain=False)
        if split_by != "auto":
            params["validation_by"] = split_by
    if name == "random":
        params["seed"] = seed
    return params


def check_suggestions(frame, name: str) -> None:
    """A clear error when engine ``name``'s ``suggest`` did not return a Suggestions frame
    (a team's engine with a bug): what it returned and what it lacks."""
    needed = ("request_id", "rank", "item_id", "score")  # the rank: reports read lists by it
    missing = [c for c in needed if c not in getattr(frame, "columns", ())]
    if missing:
        what = (f"a frame without {', '.join(missing)}" if hasattr(frame, "columns")
                else f"a {type(frame).__name__}")
        raise SuggestError(f"engine '{name}' returned {what} from suggest()",
                           hint=f"an engine returns the Suggestions frame: columns "
                                f"{', '.join(SUGGESTION_COLUMNS)} (suggestions_frame builds one)")


def get_engine(name: str, **params) -> Engine:
    """An unfitted engine by name, with ``params`` passed to its constructor. A name another
    package also registers is refused rather than one of them taken silently; a registered
    engine that cannot be imported is named with its entry point.

    >>> get_engine("popular").name
    'popular'
    """
    registered = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if name in BUILT_IN:  # our own entry points name the built-in class
        registered = [ep for ep in registered if f"{ep.module}:{ep.attr}" != BUILT_IN[name]]
        if registered:
            raise SuggestError(f"engine '{name}' is built in, and {registered[0].value} registers "
                               "the same name", hint="give the team's engine its own name in its "
                                                     "package's entry points")
    elif len({ep.value for ep in registered}) > 1:
        raise SuggestError(f"engine '{name}' is registered twice: "
                           + " and ".join(sorted({ep.value for ep in registered})),
                           hint="keep one of the packages, or rename one engine")
    if registered:
        try:
            cls = registered[0].load()
        except Exception as exc:  # an import error, a missing class: the team's package
            raise SuggestError(f"engine '{name}' ({registered[0].value}) cannot be loaded: "
                               f"{type(exc).__name__}: {exc}",
                               hint="check the package that registers it: installed, and its "
                                    "entry point naming a module and class that exist") from None
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
