"""Paired tests of two engines over the same requests: effect, interval, p-value, power.

Every comparison the tool prints goes through :func:`paired_test`:

* the **effect** is the mean of the per-request differences ``b - a``;
* the **95% interval** is the paired t interval, ``mean ± t(0.975, n-1) * sd / sqrt(n)``
  (for the sample sizes of a replay it is the bootstrap interval's limit, and it
  costs nothing to compute per segment);
* the **p-value** is the paired sign-flip (randomisation) test: under "no
  difference" each request's difference is as likely to have either sign. It is
  computed **exactly** when the distinct differences allow it (ranking metrics
  take few distinct values, so the sign flips of ``m`` requests sharing a value
  ``v`` sum to ``v * (2 * Binomial(m, 1/2) - m)``: the exact distribution is a
  short convolution; ``n`` differences all of one sign give ``2 / 2^n``), by the
  **normal approximation** of the same distribution
  (``z = (|sum(d)| - min|d|) / sqrt(sum(d**2))``, with a continuity correction)
  when many requests carry the sum, and in
  between by Hoeffding's bound ``2 exp(-z**2 / 2)`` when that is below 1e-4 (a
  bound the true p-value never exceeds), else by up to 50,000 seeded sign flips
  (fewer once the p-value is clearly above 0.1). A p-value is therefore as small as the
  data supports: a large effect over thousands of requests gets a p-value near
  0, never a floor of ``1 / (resamples + 1)``.

Corrections are Holm's step-down over a *family* the caller chooses (a replay's
headline tests; its other overall comparisons; each segment column on its own); in a
replay's families, two tests on the same requests with the same difference on every
request (a hybrid that scores as the ranker does, against the same baseline) are one test,
counted once (:func:`test_family`'s ``identical_once``). The
minimum detectable effect (:func:`mde`) says what a "no significant difference" could
have found: the true difference that this sample would find significant at the
family's level with 80% power.

>>> t = paired_test([0, 0, 1, 1, 0, 1], [1, 0, 1, 1, 1, 1])
>>> round(t.diff, 4), t.method, round(t.p_value, 4)   # 2 of 6 requests gained, none lost
(0.3333, 'exact', 0.5)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

#: Largest number of sums the exact sign-flip distribution may hold while it is built.
EXACT_LIMIT = 1 << 17
#: Most sums the exact distribution may compute in all (its cost), summed over its steps.
EXACT_WORK = 1 << 22
#: The normal approximation is used when no request carries more than this share of
#: the sum of squared differences (Lindeberg's condition, in practice: >= 50 requests).
NORMAL_MAX_SHARE = 0.02
#: Below this, Hoeffding's bound on the sign-flip tail is the (conservative) p-value.
HOEFFDING_BELOW = 1e-4
#: Sign flips drawn when neither the exact nor the normal p-value applies.
FLIPS = 50_000
#: Sign flips a round; the p-value is checked between rounds.
ROUND = 2_000


class PairedTest(NamedTuple):
    """The paired comparison of ``b`` against ``a`` on one metric."""

    diff: float          # mean of b - a
    ci_low: float        # 95% paired t interval (or the ``confidence`` asked for)
    ci_high: float
    p_value: float       # two-sided sign-flip test, uncorrected
    n: int               # requests compared
    sd: float            # standard deviation of the differences (ddof=1)
    method: str          # "exact", "normal", "bound", "sign flips" or "none" (nothing to test)
    differing: int = 0   # requests whose two values differ (the others cannot flip a sign)


def paired_test(a, b, *, confidence: float = 0.95, seed: int = 0,
                with_p: bool = True) -> PairedTest:
    """Effect, interval and p-value of ``b - a`` over paired per-request values (without
    ``with_p``, the p-value is not computed: NaN, method "none").

    >>> paired_test([0.0] * 40, [1.0] * 40).p_value < 1e-11   # exact: 2 / 2**40
    True
    """
    from scipy import stats

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diff = b - a
    if not np.isfinite(diff).all():
        from suggest.errors import SuggestError

        raise SuggestError(f"{int((~np.isfinite(diff)).sum())} paired values are missing or infinite",
                           hint="compare per-request metric values: every request needs both")
    diff = _differences(a, b)  # checked first: the noise rule reads an infinity as noise
    n = len(diff)
    if n == 0:
        nan = float("nan")
        return PairedTest(nan, nan, nan, nan, 0, nan, "none")
    mean = float(diff.mean())
    sd = float(diff.std(ddof=1)) if n > 1 else float("nan")
    if n > 1 and sd > 0:
        half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / np.sqrt(n)
        low, high = mean - half, mean + half
    elif n > 1:  # every difference the same: the interval is the point
        low = high = mean
    else:  # one request: no spread to read, no interval (a zero-width one read as certain)
        low = high = float("nan")
    p, method = sign_flip_p(diff, seed=seed) if with_p else (float("nan"), "none")
    return PairedTest(mean, float(low), float(high), p, n, sd, method, int(np.count_nonzero(diff)))


#: Up to this many differing requests all one way, the exact p-value 2 / 2^n is a float
#: above zero (it underflows past 1,074).
ONE_WAY_MAX = 1000


def sign_flip_p(diff: np.ndarray, *, seed: int = 0) -> tuple[float, str]:
    """Two-sided p-value of the paired sign-flip test on the differences, and how it was had."""
    from scipy import stats

    diff = np.asarray(diff, dtype=float)
    nonzero = diff[diff != 0]
    if len(nonzero) == 0:
        return 1.0, "exact"
    if len(nonzero) <= ONE_WAY_MAX and ((nonzero > 0).all() or (nonzero < 0).all()):
        # every request that differs, one way: no other signs reach the observed sum, so
        # exactly 2 of the 2^n flips do (a tester's 24 wins read Hoeffding's 7e-5, not 1.2e-7)
        return float(min(1.0, 2.0 ** (1 - len(nonzero)))), "exact"
    observed = abs(float(nonzero.sum()))
    values, counts = np.unique(np.abs(nonzero), return_counts=True)
    if len(values) == 1:  # one magnitude: the count of positive signs is Binomial(m, 1/2)
        m = int(counts[0])
        heads = int(round((observed / values[0] + m) / 2))
        return float(min(1.0, 2 * stats.binom.cdf(m - heads, m, 0.5))), "exact"
    exact = _exact_tail(values, counts, observed)
    if exact is not None:
        return exact, "exact"
    squares = float((values ** 2 * counts).sum())
    if values[-1] ** 2 <= NORMAL_MAX_SHARE * squares:
        # continuity correction: flipping one sign moves the sum by at least twice the
        # smallest difference, so the tail starts half a step (the smallest one) inside
        z = max(0.0, observed - float(values[0])) / np.sqrt(squares)
        return float(min(1.0, 2 * stats.norm.sf(z))), "normal"
    # Hoeffding: P(|S| >= s) <= 2 exp(-s^2 / (2 sum d^2)) for any sign-flip sum, a bound
    # that holds with few requests too; when it is already small it is the p-value
    bound = 2 * np.exp(-observed * observed / squares / 2)
    if bound <= HOEFFDING_BELOW:
        return float(bound), "bound"
    return _flipped_tail(values, counts, observed, seed), "sign flips"


def _exact_tail(values: np.ndarray, counts: np.ndarray, observed: float) -> float | None:
    """P(|S| >= observed) for S = sum over values of v * (2 * Binomial(m, 1/2) - m), or
    None when the distribution would hold more than ``EXACT_LIMIT`` distinct sums, or
    building it would take more than ``EXACT_WORK`` steps (values on a coarse lattice,
    like a ranking metric's, merge into few sums, so many requests can stay exact)."""
    from scipy import stats

    scale = float(values.max())
    sums, probs, work = np.zeros(1), np.ones(1), 0
    for value, m in zip(values[::-1], counts[::-1]):  # largest first: the coarse sums early
        work += len(sums) * (m + 1)
        if len(sums) * (m + 1) > EXACT_LIMIT or work > EXACT_WORK:
            return None
        heads = np.arange(m + 1)
        step = value * (2 * heads - m)
        sums = (sums[:, None] + step[None, :]).ravel()
        probs = (probs[:, None] * stats.binom.pmf(heads, m, 0.5)[None, :]).ravel()
        # equal sums (up to rounding) merge, so lattice-valued differences stay short
        # (a merged sum keeps one of its own values, so rounding does not pile up)
        _, first, where = np.unique(np.round(sums / scale, 9), return_index=True,
                                    return_inverse=True)
        probs = np.bincount(where, weights=probs)
        sums = sums[first]
    tail = probs[np.abs(sums) >= observed - 1e-7 * scale].sum()
    return float(min(1.0, tail))


def _flipped_tail(values: np.ndarray, counts: np.ndarray, observed: float, seed: int) -> float:
    """Monte Carlo sign flips, per distinct value (a count of heads each) when values repeat,
    else per request (a random sign each); drawn in rounds until the p-value is resolved:
    ``FLIPS`` in all, or fewer once it is clearly above 0.1 (no correction makes it small)."""
    rng = np.random.default_rng(seed)
    per_value = 4 * len(values) <= counts.sum()
    width = len(values) if per_value else int(counts.sum())
    magnitudes = values if per_value else np.repeat(values, counts)
    extreme, done, step = 0, 0, max(1, min(ROUND, (1 << 22) // width))
    while done < FLIPS:
        size = min(step, FLIPS - done)
        if per_value:
            sums = (2 * rng.binomial(counts, 0.5, size=(size, width)) - counts) @ magnitudes
        else:
            sums = (2.0 * rng.integers(0, 2, size=(size, width), dtype=np.int8) - 1) @ magnitudes
        extreme += int((np.abs(sums) >= observed - 1e-7 * values.max()).sum())
        done += size
        p = extreme / done
        if p - 3.3 * np.sqrt(p * (1 - p) / done) > 0.1:
            break
    return (extreme + 1) / (done + 1)


def test_family(samples, *, alpha: float = 0.05, seed: int = 0, with_p: bool = True,
                identical_once: bool = False) -> list[dict]:
    """Paired tests of ``y`` against ``x`` for each ``(x, y)`` in ``samples``, as one Holm
    family: one dict a test with ``requests, mean_a, mean_b, diff, ci_low, ci_high,
    p_value, method, sd``, then ``p_holm``, ``family`` (its size), ``significant`` (at
    ``alpha``, corrected) and ``mde`` (80% power at ``alpha / family``, the level of
    Holm's first step). Without ``with_p``: the figures alone, no test (p NaN, family 0).

    ``identical_once``, for samples that are all of the same requests in the same order:
    a test whose differences are another's on every request (or their negation: the same
    pair reversed) is the same test, its statistic and decision the other's; it counts once
    in the family and takes that test's corrected p-value (``same_as``: the index of the
    first such test, else None). A hybrid that scores as the ranker does on every request
    would otherwise double the family against each baseline, and raise every p-value in it;
    so would two metrics equal on every request (recall and hit rate when each request has
    one engaged item). Tests with no request that differs, or no p-value, stay apart.

    This is Holm over the distinct hypotheses when the twins are the same by construction.
    Two engines alike on this sample only make the family's size depend on the data: a
    null simulation of hybrids equal to the ranker on 95-100% of requests kept the
    family's error at 2.3-3.7% (5% asked). A hybrid that differs on even one request is a
    test of its own, and the family counts it (Holm does not read how alike two tests are).

    >>> [r["significant"] for r in test_family([([0] * 30, [1] * 30), ([0, 1], [1, 0])])]
    [True, False]
    >>> [(r["family"], r["same_as"]) for r in test_family(   # a twin, the pair reversed, another
    ...     [([0, 0, 1], [1, 1, 1]), ([0, 0, 1], [1, 1, 1]), ([1, 1, 1], [0, 0, 1]),
    ...      ([0, 0, 0], [1, 0, 0])], identical_once=True)]
    [(2, None), (2, 0), (2, 0), (2, None)]
    """
    rows, keys = [], []
    for x, y in samples:
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        test = paired_test(x, y, seed=seed, with_p=with_p)
        # no twin of a test with nothing tested or no request that differs (p = 1 whatever
        # the pair: two unrelated pairs' zeros are not one hypothesis)
        keys.append(_differences_key(x, y) if identical_once and test.differing
                    and test.p_value == test.p_value else len(keys))
        nan = float("nan")
        low, high = test.ci_low, test.ci_high
        if len(x) and min(x.min(), y.min()) >= 0 and max(x.max(), y.max()) <= 1:
            low, high = max(low, -1.0), min(high, 1.0)  # metrics in [0, 1] differ by at most 1
        rows.append({"requests": test.n, "mean_a": float(x.mean()) if len(x) else nan,
                     "mean_b": float(y.mean()) if len(y) else nan, "diff": test.diff,
                     "ci_low": low, "ci_high": high, "p_value": test.p_value,
                     "method": test.method, "sd": test.sd, "differing": test.differing})
    first: dict = {}
    same = [first.setdefault(key, i) for i, key in enumerate(keys)]  # each test's first twin
    distinct = list(first.values())
    adjusted = dict(zip(distinct, holm([rows[i]["p_value"] for i in distinct])))
    family = sum(1 for p in adjusted.values() if p == p)  # a group with nothing to test is no test
    for i, row in enumerate(rows):
        p_holm = adjusted[same[i]]
        row.update(p_holm=p_holm, family=family, significant=bool(p_holm < alpha),
                   mde=mde(row["sd"], row["requests"], differing=row["differing"],
                           alpha=alpha / max(family, 1)))
        if identical_once:
            row["same_as"] = same[i] if same[i] != i else None
    return rows


def _differences(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``b - a`` per request, differences within 1e-12 of the values compared taken as the
    float noise they are (0.1 + 0.2 - 0.3): ties. ``+ 0.0``: no negative zeros."""
    diff = b - a
    size = max(np.abs(a).max(initial=0.0), np.abs(b).max(initial=0.0)) if len(diff) else 0.0
    return np.where(np.abs(diff) <= 1e-12 * size, 0.0, diff) + 0.0


def _differences_key(x: np.ndarray, y: np.ndarray) -> bytes:
    """What two paired tests of the same requests share when they are the same test: the
    per-request differences (:func:`_differences`), signed so that the first nonzero one is
    positive (a pair reversed is the same test)."""
    d = _differences(x, y)
    nonzero = np.flatnonzero(d)
    if len(nonzero) and d[nonzero[0]] < 0:
        d = -d + 0.0
    return hashlib.blake2b(d.tobytes(), digest_size=16).digest()


def holm(p_values) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the order given (missing values stay missing,
    and do not count as tests).

    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(len(p), np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    adjusted = np.maximum.accumulate((len(order) - np.arange(len(order))) * p[order])
    out[order] = np.minimum(adjusted, 1.0)
    # 12 significant digits (not decimals: a p-value of 1e-18 stays 1e-18, not 0)
    return [float(f"{v:.12g}") if not np.isnan(v) else float("nan") for v in out]


def mde(sd: float, n: int, *, differing: int | None = None, alpha: float = 0.05,
        power: float = 0.8) -> float:
    """Minimum detectable effect: the true mean difference a two-sided test at level
    ``alpha`` finds with probability ``power`` on ``n`` paired requests whose
    differences have standard deviation ``sd``:
    ``(t(1 - alpha/2, n-1) + t(power, n-1)) * sd / sqrt(n)``.

    It is infinite when no difference at all could be significant: the sign-flip test
    flips only the requests whose two values differ (``differing`` of them, default
    ``n``), so its smallest p-value is ``2 ** (1 - differing)``; when that is not below
    ``alpha`` (two engines that differ on a handful of requests, or on none, whatever
    their number) the spread of the differences says nothing of what could be detected.

    >>> round(mde(1.0, 100), 4)   # (1.984 + 0.845) / 10
    0.2829
    >>> mde(0.5, 4)               # 4 requests: p >= 1/8 whatever happens
    inf
    >>> mde(0.016, 7485, differing=5, alpha=0.05 / 6)   # 5 differ: p >= 1/16
    inf
    """
    from scipy import stats

    if n < 2 or not np.isfinite(sd):
        return float("nan")
    if (1 - (n if differing is None else differing)) * np.log(2) >= np.log(alpha):
        return float("inf")
    return float((stats.t.isf(alpha / 2, n - 1) + stats.t.ppf(power, n - 1)) * sd / np.sqrt(n))


def format_mde(value: float, digits: int = 3) -> str:
    """An MDE for people: ``'0.0123'``, ``'none possible'`` when no difference could be
    significant at this size, ``'n/a'`` when there is nothing to measure.

    >>> format_mde(0.01234), format_mde(float("inf")), format_mde(float("nan"))
    ('0.012', 'none possible', 'n/a')
    """
    if value is None or value != value:
        return "n/a"
    return "none possible" if np.isinf(value) else f"{value:.{digits}f}"


#: What a test that no sample this small could pass says instead of its MDE.
TOO_FEW = "too few requests that differ to detect any difference"
#: Said of two engines no request scores differently (a rule set's copy on 772 requests had
#: read "too few requests that differ", as if more requests could tell them apart).
SAME = "the same score on every request"


def detectable(value: float | None, digits: int = 3, prefix: str = "MDE ",
               differing: int | None = None) -> str:
    """The MDE as a clause: ``'MDE 0.012'``, :data:`TOO_FEW` when no difference could be
    detected (an infinite MDE), so no sentence says "MDE none possible", or :data:`SAME` when
    no request's two values differ (``differing`` 0)."""
    if differing == 0:
        return SAME
    if value is not None and value == value and np.isinf(value):
        return TOO_FEW
    return prefix + format_mde(value, digits)


def format_p(p: float) -> str:
    """A p-value for people: three significant digits, '< 0.001' below that.

    >>> format_p(0.04321), format_p(3e-9), format_p(float("nan"))
    ('0.0432', '< 0.001', 'n/a')
    """
    if p is None or not np.isfinite(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3g}"


def p_phrase(p: float) -> str:
    """``p < 0.001`` or ``p = 0.0432``, for a sentence.

    >>> p_phrase(1e-9), p_phrase(0.25)
    ('p < 0.001', 'p = 0.25')
    """
    text = format_p(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


# -- engines compared: the headline tests one family, every other pair and metric another

@dataclass
class Paired:
    """A paired comparison of two engines on one metric over the same requests
    (:func:`test_family`: ``p_holm`` over the family it was tested in, ``family`` its size;
    ``headline``: whether that family is the headline's, see :func:`compare_by_place`)."""

    a: str
    b: str
    metric: str
    requests: int
    mean_a: float
    mean_b: float
    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    method: str
    sd: float
    p_holm: float
    family: int
    significant: bool
    mde: float
    differing: int = 0
    headline: bool = False
    same_as: list | None = None  # [a, b, metric] of the same test earlier in its family

    def to_dict(self) -> dict:
        """The fields, and ``mde_none_possible``: JSON writes an infinite MDE (no difference
        could be significant on so few differing requests) as null, as it writes one not
        computed (a significant difference, or no spread): the flag tells them apart."""
        return {**self.__dict__, "mde_none_possible": bool(np.isinf(self.mde))}


def compare_engines(per_request: dict[str, pd.DataFrame], metrics: list[str],
                    pairs: list[tuple[str, str]], *, seed: int = 0,
                    alpha: float = 0.05) -> list[Paired]:
    """Paired tests of ``b`` against ``a`` for each pair and metric, all one Holm family
    (``headline`` False on every one). ``per_request`` maps engine -> its
    :attr:`suggest.evaluate.Evaluation.per_request`.

    Raises
    ------
    SuggestError
        For a pair naming an engine ``per_request`` does not hold, or a metric one of its
        evaluations did not compute.
    """
    from suggest.errors import SuggestError, did_you_mean

    for name in dict.fromkeys(n for pair in pairs for n in pair):
        if name not in per_request:
            raise SuggestError(f"the pair's engine {name!r} is not among the evaluations given "
                               f"({', '.join(map(repr, per_request)) or 'none'})",
                               hint=did_you_mean(name, list(per_request))
                               or "evaluate it first and add its per_request frame")
        lacking = [m for m in metrics if m not in per_request[name].columns]
        if lacking:
            raise SuggestError(f"{name}'s evaluation has no {', '.join(map(repr, lacking))}",
                               hint="evaluate it with those metrics (evaluate(run, truth, "
                                    "metrics=[...]))")

    def sample(a, b, metric):
        joined = per_request[a].merge(per_request[b], on="request_id", suffixes=("_a", "_b"))
        return joined[f"{metric}_a"].to_numpy(), joined[f"{metric}_b"].to_numpy()
    return _families(pairs, metrics, sample, alpha, seed)


def compare_by_place(values, metrics: list[str], pairs: list[tuple[str, str]], *,
                     seed: int = 0, alpha: float = 0.05, headline=()) -> list[Paired]:
    """:func:`compare_engines` when every engine's values are of the same requests in the
    same order: ``values(engine, metric)`` gives them, and is asked for one pair's metric
    at a time (so they may be read when asked, not held).

    ``headline``: the ``(a, b, metric)`` tests that answer the question asked first (a
    replay's: :func:`suggest.verdict.headline_tests`). They are one Holm family and every
    other test another, each at ``alpha`` (as a trial's primary and secondary endpoints):
    the other tests never change the headline's p-values or minimum detectable effects.
    Without ``headline``, every test is one family.

    Within a family, a test with the same difference on every request as another (two
    engines that score alike on every request, each against the same third) counts once,
    with that test's corrected p-value; its ``same_as`` names the other.
    """
    return _families(pairs, metrics, lambda a, b, metric: (values(a, metric), values(b, metric)),
                     alpha, seed, frozenset(headline), identical_once=True)


def _families(pairs, metrics, sample, alpha: float, seed: int,
              headline: frozenset = frozenset(), identical_once: bool = False) -> list[Paired]:
    names = [(a, b, metric) for a, b in pairs for metric in metrics]
    found = {}
    for key in (True, False):
        group = [name for name in names if (name in headline) == key]
        rows = test_family((sample(*name) for name in group), alpha=alpha, seed=seed,
                           identical_once=identical_once)
        for name, row in zip(group, rows):
            twin = row.pop("same_as", None)
            found[name] = Paired(*name, **row, headline=key,
                                 same_as=None if twin is None else list(group[twin]))
    return [found[name] for name in names]
