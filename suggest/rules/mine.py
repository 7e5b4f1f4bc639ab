"""Rule candidates mined from a log (``suggest rules mine``): context conditions under which
an item, or a slice of the catalog, is chosen clearly more often than elsewhere, written as a
rule file for a person to read, edit and keep.

How (everything on the training part of the replay's split, ``--test-share``, ``--seed``,
``--split``: the requests a replay holds out never reach the file):

1. **Conditions.** One context column: each categorical value, each boolean value, each
   quartile range of a numeric column (``lt``, ``between``, ``gte`` on rounded quartiles);
   with time, each three-hour window of the day (``time: {between: [...]}``, in the zone a
   replay reads the rules in) and weekday or weekend (``is_weekend``). Two columns: the
   conjunction of two of those. A condition is kept when it holds on at least
   ``min_support`` requests of the *fitting* part (the earlier 80% of the training part,
   by time when the log has it; seeded otherwise); the later 20% is the *check* part.
2. **Targets.** Items, and each value of a categorical catalog attribute (a slice,
   ``{category: News, top: N}``), engaged in at least ``MIN_HITS`` fitting requests.
3. **Test.** Among the fitting requests with an engagement, is the target chosen more
   often where the condition holds than elsewhere *by the same users*? The count where it
   holds is compared with its expectation given each user's own engagements (Cochran,
   Mantel and Haenszel's, stratified by user), so that a user
   who likes an item and often is at the gym does not make the gym look like a reason for
   the item, and its lift (below) at least ``min_lift`` (default 1: any over-representation
   the test is sure of; ``--min-lift 1.5`` keeps only strong ones, which on the 200-user
   context world cost the mined rules 0.07 ndcg@5, 0.370 against 0.299). Its p-value is a binomial bound on the tail of the stratified count
   (Hoeffding 1956), never too small: the usual normal approximation is far too small
   where few engagements are expected (with it, 16 of 40 logs without context effects
   gave a rule). A pair is significant when its Benjamini-Hochberg adjusted p-value (q) over
   every (condition, target) pair tested is at most ``alpha``: at most ``alpha`` of the
   pairs found are expected to be false, and on a log without context effects the file
   is empty in at least ``1 - alpha`` of logs (under the complete null the procedure
   controls the chance of any discovery). Benjamini-Hochberg's guarantee assumes tests
   independent or positively dependent; the counts of one target under the disjoint values
   of one column lean the other way, so the guarantee is not proven here, and it is
   measured instead: on 100 logs whose engagements were shuffled within users, 1 gave a
   significant pair and none a rule (``benchmarks/mine_null.py``). Engagement share conditioned
   on there being an engagement keeps contexts where people engage with anything more
   often from lifting every item.
4. **Rules.** A condition's significant targets, picked highest lift first (lift: the
   target's share of the engagements where the condition holds over its share of all of
   them), up to ``k``, and written most chosen there first; a two-column condition keeps only targets neither of its one-column parts
   already proposes, and is dropped when none is left (redundant).
5. **Check.** Each rule is fitted as a replay fits rules (slices filled by the fitting
   part's popularity) and scored on the check part: its *held-out precision* is the share
   of its suggestions engaged where it fires; a rule whose suggestions are engaged no more
   often where it fires than anywhere in the check part did not hold and is dropped. The
   priority is the share of the check requests where it fires that engaged its *first*
   suggestion (so a rule with more suggestions is not diluted), in percent, taken at the
   lower end of its 95% Wilson interval (:func:`wilson_low`: a share measured on a few
   requests counts for little); the ``max_rules`` with the highest are written, each with
   a comment giving its support, lift and held-out precision.

>>> mined = mine(load_log("world/dataset.yaml"), max_rules=20)    # doctest: +SKIP
>>> print(mined.text)                                              # doctest: +SKIP
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import yaml

from suggest.errors import SuggestError
from suggest.ids import isin

MIN_HITS = 5                 # engaged fitting requests a target needs to be tested
MIN_LIFT = 1.0               # the smallest lift proposed (--min-lift): by default, any that is sure
#: What a rule file mined from a log of what was shown must say first.
SHOWN_LOG = ("this log holds what was shown: people could engage only with what the logging "
             "policy showed, so the rules found lean towards rediscovering that policy's "
             "choices, and items it never showed cannot be found")
CHECK_SHARE = 0.2            # the later part of the training requests each rule is checked on
WINDOW_HOURS = 3             # the day's windows tried as time conditions
QUARTILES = (0.25, 0.5, 0.75)


@dataclass
class Mined:
    """A mined rule file: ``text`` (YAML with comments), ``rules`` (one dict a rule: id,
    condition, suggestions, support, lift, p-value, held-out precision) and ``summary``
    (what was tested and found)."""

    text: str
    rules: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)


@dataclass
class _Conditions:
    """Candidate conditions: ``specs`` (rule-format ``when`` values), ``labels`` (readable),
    ``slugs`` (for ids), ``parents`` (the one-column conditions of each, as indices)."""

    specs: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    slugs: list = field(default_factory=list)
    parents: list = field(default_factory=list)


def mine(log, *, test_share: float = 0.2, seed: int = 0, split_by: str = "auto", gap=None,
         k: int = 5, max_rules: int = 30, min_support: int = 20, alpha: float = 0.05,
         min_lift: float = MIN_LIFT, source: str = "") -> Mined:
    """Mine a rule file from the training part of ``log`` (a loaded :class:`~suggest.data.load.Log`)
    as the module docstring says; ``source`` names the log in the file's header."""
    from suggest.splits import split

    _check_settings(k, max_rules, min_support, alpha, min_lift)
    part = split(log.requests, log.truth, test_share, seed, how=split_by, gap=gap)
    inner = split(part.train, part.train_truth, CHECK_SHARE, seed, how="auto")
    fit, check = inner.train, inner.test
    zone = rules_zone(log)
    _, ids, conditions = conditions_on(fit, log.context, zone, min_support)
    engaged = isin(fit["request_id"], inner.train_truth["request_id"])
    targets, hits, members = _targets(fit, inner.train_truth, log.catalog)
    users = pd.factorize(fit["user_id"])[0]
    stats = _cmh(ids, users, engaged, hits, len(conditions.specs), len(targets))
    family = np.broadcast_to(stats["target_hits"][None, :] >= MIN_HITS, stats["p"].shape)
    tested = int(family.sum())
    stats["q"] = _false_discovery(stats["p"], family)
    significant = (stats["q"] <= alpha) & (stats["observed"] >= MIN_HITS) & (stats["lift"] >= min_lift)
    proposals = _proposals(significant, stats, conditions, targets, members, k)
    summary = {"training_requests": int(len(part.train)), "fitting_requests": int(len(fit)),
               "check_requests": int(len(check)), "split": part.how,
               "conditions": len(conditions.specs),  # each holds on min_support requests
               "targets": int((stats["target_hits"] >= MIN_HITS).sum()), "tests": tested,
               "alpha": alpha, "min_lift": min_lift, "min_support": min_support,
               "engaged_fitting_requests": int(engaged.sum()),
               "significant_pairs": int(significant.sum()),
               "candidate_rules": len(proposals)}
    rules = _checked(proposals, fit, inner.train_truth, check, inner.test_truth, log.catalog, zone, k)
    summary["did_not_hold"] = sum(r["held_out"]["lift"] is not None and r["held_out"]["lift"] <= 1
                                  for r in rules)
    summary["not_checked"] = sum(r["held_out"]["lift"] is None for r in rules)
    kept = [r for r in rules if r["held_out"]["lift"] is None or r["held_out"]["lift"] > 1]
    kept.sort(key=lambda r: (-r["priority"], -r["lift"], r["id"]))
    summary["rules"] = min(len(kept), max_rules)
    summary["left_out_by_max_rules"] = max(0, len(kept) - max_rules)
    kept = kept[:max_rules]
    summary["replay_options"] = split_options(test_share, seed, split_by, gap)
    if getattr(log.dataset, "position", None):
        summary["shown_log"] = SHOWN_LOG
    text = _yaml(kept, summary, source, k, summary["replay_options"], min_support)
    return Mined(text, kept, summary)


def shuffled_within_users(log, seed: int = 0):
    """``log`` (a loaded Log) with each user's engagements moved to that user's other engaged
    requests at random: users keep their tastes and their contexts, items lose any tie to
    context. :func:`mine` should propose a rule on such a log in at most about ``alpha`` of
    seeds; try it on your own log to see the miner find nothing there."""
    rng = np.random.default_rng(seed)
    engaged = log.requests[isin(log.requests["request_id"], log.truth["request_id"])]
    moved = engaged.assign(key=rng.random(len(engaged))).sort_values(["user_id", "key"])
    by_user = engaged.sort_values(["user_id"], kind="stable")
    new_id = dict(zip(by_user["request_id"], moved["request_id"]))
    truth = log.truth.assign(request_id=log.truth["request_id"].map(new_id))
    return type(log)(**{**log.__dict__, "truth": truth})


def _false_discovery(p: np.ndarray, family: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q) over the ``family`` entries of ``p``; 1 elsewhere."""
    from scipy.stats import false_discovery_control

    q = np.ones_like(p)
    if family.any():
        q[family] = false_discovery_control(p[family], method="bh")
    return q


def split_options(test_share: float, seed: int, split_by: str = "auto", gap=None) -> str:
    """The options a replay needs to hold out the same requests."""
    return " ".join([f"--test-share {test_share:g}", f"--seed {seed}"]
                    + ([f"--split {split_by}"] if split_by != "auto" else [])
                    + ([f"--gap {gap}"] if gap else []))


def rules_zone(log) -> str | None:
    """The zone a replay reads a rule file's time conditions in for ``log``: the dataset's,
    unless each row names its own (then the request's local time)."""
    from suggest.data.timefields import OFFSET_ZONE

    ds = log.dataset
    return ds.timezone if not ds.timezone_column and ds.timezone != OFFSET_ZONE else None


def _check_settings(k: int, max_rules: int, min_support: int, alpha: float, min_lift: float) -> None:
    if not min_lift >= 1:
        raise SuggestError(f"--min-lift must be at least 1, not {min_lift:g}", hint="e.g. --min-lift 1.5")
    if k < 1:
        raise SuggestError(f"--k must be at least 1, not {k}", hint="e.g. --k 5")
    if max_rules < 1:
        raise SuggestError(f"--max-rules must be at least 1, not {max_rules}", hint="e.g. --max-rules 30")
    if min_support < 1:
        raise SuggestError(f"--min-support must be at least 1 request, not {min_support}",
                           hint="e.g. --min-support 30")
    if not 0 < alpha < 1:
        raise SuggestError(f"--alpha must be between 0 and 1, not {alpha:g}", hint="e.g. --alpha 0.05")


# -- conditions ---------------------------------------------------------------------------
def conditions_on(frame: pd.DataFrame, context: dict[str, str], zone, min_support: int):
    """``(codes, ids, conditions)``: the candidate conditions over one column and two (the
    module docstring) holding on at least ``min_support`` rows of ``frame``; per row and
    column, the one-column condition holding there (``codes``, -1: none), and per row and
    column or column pair, the condition holding there (``ids``)."""
    codes, conditions = _singles(frame, _columns(frame, context, min_support), zone, min_support)
    pair_codes = _pairs(codes, conditions, min_support)
    ids = np.concatenate([codes, pair_codes], axis=1) if pair_codes.size else codes
    return codes, ids, conditions


def _columns(fit: pd.DataFrame, context: dict[str, str], min_support: int) -> list[tuple[str, list]]:
    """Per column (and, with time, ``time`` and ``is_weekend``): its one-column conditions
    as ``(spec, label, slug)``. A context column named ``time`` is left out: in a rule,
    ``time:`` is the window of the day."""
    out = []
    for col, kind in context.items():
        if col == "time":
            continue
        values = fit[col]
        if kind == "boolean":
            conds = [({col: v}, f"{col} is {str(v).lower()}", f"{col}-{str(v).lower()}")
                     for v in (True, False)]
        elif kind == "numeric":
            conds = _ranges(col, pd.to_numeric(values, errors="coerce").dropna().to_numpy(float))
        else:
            seen = values.dropna().astype(str).value_counts()
            seen = seen[seen >= min_support]  # rarer values cannot be kept: never evaluated
            conds = [({col: v}, f"{col} is {v}", f"{col}-{v}") for v in sorted(seen.index)]
        out.append((col, conds))
    if "timestamp" in fit.columns:
        windows = [(f"{h:02d}:00", f"{(h + WINDOW_HOURS) % 24:02d}:00")
                   for h in range(0, 24, WINDOW_HOURS)]
        out.append(("time", [({"time": {"between": list(w)}}, f"{w[0]}-{w[1]}",
                              f"time-{w[0][:2]}h-{w[1][:2]}h") for w in windows]))
        out.append(("is_weekend", [({"is_weekend": True}, "weekend", "weekend"),
                                   ({"is_weekend": False}, "weekday", "weekday")]))
    return out


def _ranges(col: str, values: np.ndarray) -> list:
    """Quartile ranges of a numeric column, on cut points rounded to two significant digits of
    the spread (whole numbers for a column of whole numbers)."""
    if not len(values):
        return []
    quartiles = np.quantile(values, QUARTILES)
    spread = float(quartiles[-1] - quartiles[0]) or float(np.ptp(values))
    digits = max(0, 1 - int(np.floor(np.log10(spread)))) if spread > 0 else 0
    whole = bool(np.all(values == np.round(values)))
    cuts = sorted({float(np.ceil(q)) if whole else round(float(q), digits) for q in quartiles})
    cuts = [c for c in cuts if values.min() < c <= values.max()]
    if not cuts:
        return []
    conds = [({col: {"lt": _number(cuts[0])}}, f"{col} < {_number(cuts[0])}", f"{col}-below-{_number(cuts[0])}")]
    for a, b in zip(cuts, cuts[1:]):
        conds.append(({col: {"between": [_number(a), _number(b)]}}, f"{_number(a)} <= {col} < {_number(b)}",
                      f"{col}-{_number(a)}-to-{_number(b)}"))
    conds.append(({col: {"gte": _number(cuts[-1])}}, f"{col} >= {_number(cuts[-1])}",
                  f"{col}-from-{_number(cuts[-1])}"))
    return conds


def _number(x: float):
    return int(x) if float(x).is_integer() else x


def _singles(fit: pd.DataFrame, columns, zone, min_support: int) -> tuple[np.ndarray, _Conditions]:
    """``(codes, conditions)``: per request and column, the index of the one-column condition
    that holds there (-1: none, or one holding on fewer than ``min_support`` requests);
    the conditions kept, evaluated by the rules engine itself."""
    specs = [c for _, conds in columns for c in conds]
    fired = _fired([s for s, _, _ in specs], fit, zone) if specs else np.zeros((0, len(fit)), bool)
    codes = np.full((len(fit), len(columns)), -1, dtype=np.int64)
    conditions, at, seen = _Conditions(), 0, set()
    for j, (_, conds) in enumerate(columns):
        for spec, label, name in conds:
            mask = fired[at]
            at += 1
            if mask.sum() < min_support:
                continue
            # a condition holding on exactly the requests an earlier one holds on says the
            # same thing in other words (a log's own is_weekday and the weekdays of its time):
            # kept once, or every rule built on it came twice
            same = np.packbits(mask).tobytes()
            if same in seen:
                continue
            seen.add(same)
            codes[mask, j] = len(conditions.specs)  # a column's conditions never overlap
            conditions.specs.append(spec)
            conditions.labels.append(label)
            conditions.slugs.append(slug(name))
            conditions.parents.append((len(conditions.specs) - 1,))
    return codes, conditions


def _fired(specs: list, frame: pd.DataFrame, zone) -> np.ndarray:
    """Where each ``when`` of ``specs`` holds on ``frame`` (conditions x requests), by the
    rules engine a replay uses."""
    from suggest.rules import RulesEngine
    from suggest.rules.model import parse_rules

    doc = {"version": 1, "rules": [{"id": f"c{i}", "when": s, "suggest": ["-"]}
                                   for i, s in enumerate(specs)]}
    return RulesEngine(parse_rules(yaml.safe_dump(doc, sort_keys=False)), timezone=zone).fit() \
        .fired_by_rule(frame)


def _pairs(codes: np.ndarray, conditions: _Conditions, min_support: int) -> np.ndarray:
    """Two-column conditions holding on at least ``min_support`` requests, appended to
    ``conditions``; per request and column pair, the index of the one that holds (-1: none)."""
    singles = len(conditions.specs)
    out = []
    for a in range(codes.shape[1]):
        for b in range(a + 1, codes.shape[1]):
            both = (codes[:, a] >= 0) & (codes[:, b] >= 0)
            key = np.where(both, codes[:, a] * singles + codes[:, b], -1)
            found, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
            index = np.full(len(found), -1, dtype=np.int64)
            for at in np.flatnonzero((found >= 0) & (counts >= min_support)):
                i, j = divmod(int(found[at]), singles)
                index[at] = len(conditions.specs)
                conditions.specs.append({"all": [conditions.specs[i], conditions.specs[j]]})
                conditions.labels.append(f"{conditions.labels[i]} and {conditions.labels[j]}")
                conditions.slugs.append(f"{conditions.slugs[i]}-{conditions.slugs[j]}")
                conditions.parents.append((i, j))
            out.append(index[inverse.reshape(-1)])
    return np.stack(out, axis=1) if out else np.zeros((len(codes), 0), dtype=np.int64)


def slug(text: str) -> str:
    """``text`` as a piece of a rule id: lower case, runs of other characters as one hyphen."""
    return re.sub(r"[^\w.]+|_", "-", str(text).lower()).strip("-") or "value"


# -- targets and the test -------------------------------------------------------------------
def _targets(fit: pd.DataFrame, truth: pd.DataFrame, catalog: pd.DataFrame | None):
    """``(targets, hits, members)``: the items and catalog slices (``("item", id)``,
    ``("slice", attr, value)``), the (request row, target) engagements of the fitting part,
    each once, and each slice's items."""
    rows = pd.Index(fit["request_id"]).get_indexer(truth["request_id"])
    items = truth["item_id"].astype(str).to_numpy()
    keep = rows >= 0
    rows, items = rows[keep], items[keep]
    item_codes, item_names = pd.factorize(items, sort=True)
    targets = [("item", name) for name in item_names]
    pairs = [np.stack([rows, item_codes], 1)]
    members = {}
    if catalog is not None:
        table = catalog.assign(item_id=catalog["item_id"].astype(str)).drop_duplicates("item_id") \
            .set_index("item_id")
        for attr in table.columns:
            col = table[attr]
            if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
                continue
            values = col.reindex(item_names).astype("string")
            slice_codes, slice_names = pd.factorize(values.to_numpy()[item_codes], sort=True)
            known = slice_codes >= 0
            pairs.append(np.stack([rows[known], slice_codes[known] + len(targets)], 1))
            targets += [("slice", attr, str(v)) for v in slice_names]
            text = col.astype("string")
            members.update({("slice", attr, str(v)): set(text.index[text == v]) for v in slice_names})
    hits = np.unique(np.concatenate(pairs), axis=0) if len(rows) else np.zeros((0, 2), np.int64)
    return targets, hits, members


def _cmh(ids: np.ndarray, users: np.ndarray, engaged: np.ndarray, hits: np.ndarray,
         n_conditions: int, n_targets: int) -> dict:
    """Per (condition, target), among the engaged fitting requests: observed count, lift and
    the one-sided p-value of the count stratified by user, whose expectation is
    Cochran-Mantel-Haenszel's (see the module docstring); per condition its support (all
    fitting requests), per target its hits."""
    from scipy import sparse
    from scipy.stats import binom

    n_req = len(users)
    n_users = int(users.max(initial=-1)) + 1
    rows, cols = np.nonzero(ids >= 0)
    cond = ids[rows, cols]
    support = np.bincount(cond, minlength=n_conditions)
    A = sparse.csr_matrix((np.ones(len(rows)), (rows, cond)), shape=(n_req, n_conditions))
    A = A.multiply(engaged[:, None]).tocsr()  # the test's population: engaged requests
    Y = sparse.csr_matrix((np.ones(len(hits)), (hits[:, 0], hits[:, 1])), shape=(n_req, n_targets))
    G = sparse.csr_matrix((engaged.astype(float), (np.arange(n_req), users)), shape=(n_req, n_users))
    n_u = np.asarray(G.sum(axis=0)).ravel()
    n_cu = (A.T @ G).tocsr()          # conditions x users
    m_ut = (G.T @ Y).tocsr()          # users x targets
    observed = (A.T @ Y).toarray()
    inv = np.divide(1.0, n_u, out=np.zeros_like(n_u), where=n_u > 0)
    expected = (n_cu @ sparse.diags(inv) @ m_ut).toarray()
    target_hits = np.asarray(Y.multiply(engaged[:, None]).sum(axis=0)).ravel()
    in_condition = np.asarray(A.sum(axis=0)).ravel()
    # lift within users: how many times more often the target is chosen where the condition
    # holds than the same users' overall rates predict (observed over expected)
    lift = np.divide(observed, expected, out=np.zeros_like(observed), where=expected > 0)
    # The normal tail is far too thin where few engagements are expected (8 seen where 1.6
    # were expected reads as p 4e-7; the exact tail is near 3e-4). A sum of independent
    # hypergeometric counts is a Poisson-binomial count of at most min(engaged requests in
    # the condition, engaged requests with the target) trials, whose upper tail past its mean
    # is at most the binomial one of the same trials and mean (Hoeffding 1956): a p-value
    # that is never too small.
    # The bound holds from the mean + 1 up: below that (and below MIN_HITS) p is left at 1.
    p = np.ones_like(observed)
    at = np.nonzero((observed >= expected + 1) & (observed >= MIN_HITS))
    trials = np.minimum(in_condition[at[0]], target_hits[at[1]])
    p[at] = binom.sf(observed[at] - 1, trials, np.minimum(expected[at] / trials, 1.0))
    return {"observed": observed, "expected": expected, "p": p, "lift": lift,
            "support": support, "target_hits": target_hits}


# -- rules --------------------------------------------------------------------------------
def _proposals(significant: np.ndarray, stats: dict, conditions: _Conditions, targets,
               members: dict, k: int) -> list[dict]:
    """One candidate rule per condition with a significant target not already proposed by
    its one-column parts: its targets picked by lift (an item inside a slice already taken, or a
    slice holding an item already taken, is skipped), up to ``k``. A pair leaves out every
    target significant for either of its parts, whether or not the part's rule shows it: a
    slice whose items the part proposes one by one adds nothing."""
    out = []
    for c in np.flatnonzero(significant.any(axis=1)):
        parents = conditions.parents[c]
        chosen = set(np.flatnonzero(significant[c]))
        if len(parents) > 1:
            chosen -= {t for p in parents for t in np.flatnonzero(significant[p])}
        order = sorted(chosen, key=lambda t: (-stats["lift"][c, t], targets[t]))
        picks, items, slices = [], set(), set()
        for t in order:
            target = targets[t]
            if target[0] == "item":
                if any(target[1] in members[s] for s in slices):
                    continue
                items.add(target[1])
            else:
                if items & members[target]:
                    continue
                slices.add(target)
            picks.append(t)
            if len(picks) == k:
                break
        if not picks:
            continue
        # shown by how often each is chosen there: the lift picked them, a noisy lift order
        # put a rarer item first (a PM's news_3 before news_1, chosen twice as often)
        picks.sort(key=lambda t: -stats["observed"][c, t])
        out.append({"condition": int(c), "targets": [targets[t] for t in picks],
                    "lifts": [float(stats["lift"][c, t]) for t in picks],
                    "q": float(min(stats["q"][c, t] for t in picks)),
                    "support": int(stats["support"][c]), "when": conditions.specs[c],
                    "label": conditions.labels[c], "slug": conditions.slugs[c]})
    return out


def _checked(proposals: list[dict], fit, fit_truth, check, check_truth, catalog, zone,
             k: int) -> list[dict]:
    """The candidate rules fitted as a replay fits them (slices filled from the fitting part)
    with their held-out precision and lift on the check part, ids and priorities."""
    from scipy import sparse

    from suggest.rules import RulesEngine
    from suggest.rules.model import parse_rules

    if not proposals:
        return []
    ids = rule_ids([f"{p['slug']}-{slug(_target_text(p['targets'][0]))}" for p in proposals])
    doc = {"version": 1, "rules": [{"id": i, "when": p["when"], "suggest": _picks(p["targets"], k)}
                                   for i, p in zip(ids, proposals)]}
    engine = RulesEngine(parse_rules(yaml.safe_dump(doc, sort_keys=False)), timezone=zone) \
        .fit(fit, fit_truth, catalog)
    fired = engine.fired_by_rule(check)                                   # rules x requests
    items = {item: i for i, item in enumerate(engine.items_)}
    P, first = np.zeros((len(proposals), len(items))), np.zeros((len(proposals), len(items)))
    for j, proposed in enumerate(engine.proposals_):  # what a replay shows: the first k
        P[j, [items[i] for i, _ in proposed[:k]]] = 1
        first[j, items[proposed[0][0]]] = 1
    rows = pd.Index(check["request_id"]).get_indexer(check_truth["request_id"])
    cols = check_truth["item_id"].astype(str).map(items).to_numpy()
    keep = (rows >= 0) & pd.notna(cols)
    Y = sparse.csr_matrix((np.ones(int(keep.sum())), (rows[keep], cols[keep].astype(np.int64))),
                          shape=(len(check), len(items)))
    Y.data[:] = 1.0
    engaged_with = (Y @ sparse.csr_matrix(P).T).tocsr()                    # requests x rules
    size = np.maximum(P.sum(axis=1), 1)
    fires = fired.sum(axis=1)
    hits = np.asarray(engaged_with.multiply(fired.T).sum(axis=0)).ravel()
    precision = np.divide(hits, fires * size, out=np.full(len(proposals), np.nan), where=fires > 0)
    first_hits = np.asarray((Y @ sparse.csr_matrix(first).T).multiply(fired.T).sum(axis=0)).ravel()
    top = np.divide(first_hits, fires, out=np.full(len(proposals), np.nan), where=fires > 0)
    base = np.asarray(engaged_with.sum(axis=0)).ravel() / max(len(check), 1) / size
    out = []
    for j, (rule_id, p) in enumerate(zip(ids, proposals)):
        measured = fires[j] > 0
        # where its items are never engaged in the check part, the rule did not hold (lift 0)
        lift = (float(precision[j] / base[j]) if base[j] > 0 else 0.0) if measured else None
        out.append({**p, "id": rule_id, "suggest": _picks(p["targets"], k),
                    "lift": float(max(p["lifts"])),
                    "held_out": {"requests": int(fires[j]),
                                 "precision": float(precision[j]) if measured else None,
                                 "first": float(top[j]) if measured else None,
                                 "lift": lift},
                    "priority": int(round(100 * wilson_low(first_hits[j], fires[j])))
                    if measured else 0})
    return out


def wilson_low(hits: float, n: float, z: float = 1.96) -> float:
    """The lower end of the 95% Wilson interval of ``hits / n``: a share measured on a
    handful of requests counts for what it can be trusted to be (1 of 6 gives 0.03, 400 of
    1,000 gives 0.37), so a rule checked on 6 requests does not outrank one checked on 1,000.

    >>> round(wilson_low(1, 6), 3), round(wilson_low(400, 1000), 3), wilson_low(0, 0)
    (0.03, 0.37, 0.0)
    """
    if n <= 0:
        return 0.0
    share = hits / n
    centre = share + z * z / (2 * n)
    spread = z * np.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    return float(max(0.0, (centre - spread) / (1 + z * z / n)))


def _picks(targets, k: int) -> list:
    """The rule's ``suggest:`` list: items by id, a slice as its ``min(3, k)`` most engaged."""
    return [t[1] if t[0] == "item" else {t[1]: t[2], "top": min(3, k)} for t in targets]


def rule_ids(slugs: list[str]) -> list[str]:
    """``slugs`` made unique as rule ids: a repeated one gets the first free ``-2``, ``-3``..."""
    used, out = set(), []
    for s in slugs:
        candidate, n = s, 1
        while candidate in used:
            n += 1
            candidate = f"{s}-{n}"
        used.add(candidate)
        out.append(candidate)
    return out


def _yaml(rules: list[dict], summary: dict, source: str, k: int, settings: str,
          min_support: int) -> str:
    """The rule file: a header saying how it was mined (``settings``: the split's options, as
    a replay must repeat them), a comment on each rule."""
    head = [
        f"# Mined by `suggest rules mine` from {source or 'a log'}: {len(rules)} rules.",
        f"# Read only the {summary['training_requests']:,} training requests: the replay holds out "
        f"the rest ({summary['split']}; {settings}).",
        f"# Conditions tested on the earlier {summary['fitting_requests']:,} of them, each rule "
        f"checked on the later {summary['check_requests']:,}:",
        f"# {summary['conditions']:,} conditions x {summary['targets']:,} items and slices = "
        f"{summary['tests']:,} tests, false discovery rate {summary['alpha']}, lift at least "
        f"{summary['min_lift']:g},",
        f"# a condition holding on at least {min_support} requests."
        + (f" {summary['left_out_by_max_rules']} more rules held but --max-rules left them out."
           if summary["left_out_by_max_rules"] else ""),
        "# support: requests of the earlier part where the rule fires. lift: how many times more",
        "# often each suggestion is chosen there than the same users' overall rates predict (among",
        "# requests with an engagement). q: the false discovery rate at which it would still be",
        "# kept, over every test made (not the chance that this one is noise). later part: how",
        "# often its suggestions were engaged where it fired (these",
        "# chose which rules to keep, so a replay on the held-out requests reads lower).",
        "# Priority = how often its first suggestion was engaged there, in percent, at the low",
        "# end of its 95% interval (a share seen on a few requests counts for little). Edit freely;",
        f"# replay it with: suggest replay ... {settings} --rules hand=YOUR_RULES.yaml "
        "--rules mined=THIS_FILE.yaml",
        "version: 1", "conflict: priority", f"max_suggestions: {k}",
    ]
    if summary.get("shown_log"):
        head[1:1] = [comment(line, "") for line in
                     textwrap.wrap("Caution: " + summary["shown_log"] + ".", 90)]
    if not rules:
        return "\n".join(head + ["rules: []", ""])
    lines = head + ["rules:"]
    for r in rules:
        held = r["held_out"]
        checked = (f"later part: fired on {held['requests']:,}, first suggestion engaged in "
                   f"{held['first']:.0%}, all {held['precision']:.0%}"
                   if held["precision"] is not None else "did not fire in the later part (priority 0)")
        lifts = ", ".join(f"{_target_text(t)} {v:.1f}x" for t, v in zip(r["targets"], r["lifts"]))
        lines += [comment(f"support {r['support']:,}; lift {lifts}; {_q_text(r['q'])}; {checked}"),
                  f"  - id: {yaml_flow(r['id'])}",
                  f"    description: {yaml_flow('when ' + r['label'] + ': ' + ', '.join(_target_text(t) for t in r['targets']))}",
                  f"    priority: {r['priority']}",
                  f"    when: {yaml_flow(r['when'])}",
                  f"    suggest: {yaml_flow(r['suggest'])}"]
    return "\n".join(lines) + "\n"


def comment(text: str, indent: str = "  ") -> str:
    """``text`` as one YAML comment line: line breaks and other control characters (an item
    id may hold them) become spaces."""
    return f"{indent}# " + re.sub(r"[\x00-\x1f\x7f\x85\u2028\u2029]", " ", text)


def _q_text(q: float) -> str:
    return "q < 1e-16" if q < 1e-16 else f"q {q:.1g}"


def _target_text(target: tuple) -> str:
    return target[1] if target[0] == "item" else f"{target[1]}={target[2]}"


def yaml_flow(value) -> str:
    """``value`` as one line of YAML (flow style), quoted where YAML would misread it."""
    return yaml.safe_dump(value, default_flow_style=True, width=10_000, sort_keys=False).strip() \
        .removesuffix("\n...").strip()
