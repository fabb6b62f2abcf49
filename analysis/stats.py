"""The statistics of a comparison: mean ± sample std, a t-based 95 % interval, a test against the best row.

Each setting is a sample of seeds. Its interval is mean ± t(0.975, n-1)·s/√n, bounded to [0, 100]
(an accuracy). The best row (highest mean) is compared with every other row by a two-sided t-test:
paired over the seeds both rows completed (seed s of one row shares data order and initialisation
with seed s of the other; a seed one row lacks leaves the pair out), else, with fewer than two shared
seeds, Welch's unequal-variance test. A difference that is the same on every shared seed (or two rows
without spread) has no spread: no t-test is defined, and it is reported as describing this test set
only. Spreads below SAME are float noise around zero (accuracies are 100·k/n_test) and count as zero.
The best row was picked after looking at every row, so the p-values are Holm-adjusted over all
k(k-1)/2 pairs of rows (`tests_against_best`): that bounds the chance of calling any row "lower than the
best" under the null at ALPHA, which Holm over the k-1 comparisons with the best alone does not (the
selection inflates it to 7-12 % for 3-10 rows). Power (`detectable_difference`, `seeds_needed`): the paired
t-test's, from the spread of the observed paired differences. What the verdict says with these numbers,
and when it names a winner: analysis.verdict.
"""
from __future__ import annotations

import functools
import math
import statistics
from dataclasses import dataclass
from typing import Hashable, Mapping, Optional, Sequence

import numpy as np
from scipy import stats as scipy_stats

ALPHA = 0.05
CONFIDENCE = 0.95
MIN_SEEDS = 3
POWER = 0.80
WELCH, PAIRED, EQUAL = "Welch's t-test", "paired t-test", "equal means"
CONSTANT = "constant difference"  # the same difference on every shared seed: no spread, no t-test
SAME = 1e-9  # points: accuracies are image counts, so gaps (and spreads) below this are the same count of images
SCALE = 100.0  # points: an accuracy's whole range; a difference beyond it cannot be detected or missed


@dataclass(frozen=True)
class Spread:
    """Mean, sample std and the t-based confidence interval of one setting's values (None where undefined)."""

    n: int
    mean: Optional[float]
    std: Optional[float]
    ci_low: Optional[float]
    ci_high: Optional[float]


@dataclass(frozen=True)
class Test:
    """How a row compares with the best row: the test used (None: not testable) and its two-sided p-value."""

    name: Optional[str]
    p: Optional[float]


@functools.lru_cache(maxsize=1024)
def t_quantile(q: float, df: float) -> float:
    """Student's t quantile (scipy), cached: the same few degrees of freedom recur in every row and simulation."""
    return float(scipy_stats.t.ppf(q, df))


def stdev(values: Sequence[float]) -> float:
    """The sample std, 0 when below SAME: one-image gaps differ in float by ~1e-14, which is no spread."""
    std = statistics.stdev(values)
    return 0.0 if std < SAME else std


def spread(values: Sequence[float], confidence: float = CONFIDENCE) -> Spread:
    n = len(values)
    if n == 0:
        return Spread(0, None, None, None, None)
    mean = statistics.fmean(values)
    if n == 1:
        return Spread(1, mean, None, None, None)
    std = stdev(values)
    half = t_quantile((1 + confidence) / 2, n - 1) * std / math.sqrt(n)
    return Spread(n, mean, std, max(0.0, mean - half), min(100.0, mean + half))  # an accuracy lies in [0, 100]


def shared_seeds(best: Mapping[Hashable, float], other: Mapping[Hashable, float]) -> list:
    return sorted(set(best) & set(other), key=str)


def compare_with_best(best: Mapping[Hashable, float], other: Mapping[Hashable, float]) -> Test:
    """Test `other` (values by seed) against `best`: equal means are a tie (p = 1); paired over the shared seeds
    when there are at least two, else Welch; a difference without spread over the shared seeds is CONSTANT."""
    return compare_pairs([(best, other)])[0]


def _which_test(best: Mapping[Hashable, float], other: Mapping[Hashable, float]) -> tuple[Optional[str], list]:
    """The test a pair gets, and for a paired test the differences over the shared seeds."""
    if not best or not other:
        return None, []
    if statistics.fmean(best.values()) == statistics.fmean(other.values()):
        return EQUAL, []
    seeds = shared_seeds(best, other)
    if len(seeds) >= 2:
        differences = [best[s] - other[s] for s in seeds]
        return (CONSTANT if max(differences) - min(differences) < SAME else PAIRED), differences
    if len(best) < 2 or len(other) < 2:
        return None, []  # no spread to test against
    if stdev(list(best.values())) == 0 and stdev(list(other.values())) == 0:
        return CONSTANT, []  # Welch's t would be infinite (p = 0): two constants describe this test set only
    return WELCH, []


def compare_pairs(pairs: Sequence[tuple[Mapping[Hashable, float], Mapping[Hashable, float]]]) -> list[Test]:
    """compare_with_best for many pairs: the paired t-tests (a one-sample t-test of the differences, as scipy's
    ttest_rel computes it) in one scipy call per number of shared seeds, which keeps simulations of the verdict fast."""
    kinds = [_which_test(best, other) for best, other in pairs]
    tests: list[Test] = [Test(name, 1.0 if name == EQUAL else None) for name, _ in kinds]
    by_length: dict[int, list[int]] = {}
    for i, ((best, other), (name, differences)) in enumerate(zip(pairs, kinds)):
        if name == PAIRED:
            by_length.setdefault(len(differences), []).append(i)
        elif name == WELCH:
            tests[i] = _test(WELCH, scipy_stats.ttest_ind(list(best.values()), list(other.values()), equal_var=False).pvalue)
    for indices in by_length.values():
        pvalues = scipy_stats.ttest_1samp(np.array([kinds[i][1] for i in indices]), 0.0, axis=1).pvalue
        for i, p in zip(indices, np.atleast_1d(pvalues)):
            tests[i] = _test(PAIRED, p)
    return tests


def _test(name: str, p: float) -> Test:
    return Test(name, None if math.isnan(p) else float(p))


def tests_against_best(values: Sequence[Mapping[Hashable, float]]) -> tuple[list[Test], list[Optional[float]]]:
    """Each row's test against the first (the best; values by seed, sorted best first) and its p-value Holm-adjusted
    over every pair of rows. The best row is chosen by comparing all of them, so "lower than the best" is a claim
    about one of k(k-1)/2 pairs: adjusting over all pairs bounds the family-wise error of the verdict at ALPHA."""
    indices = [(i, j) for i in range(len(values)) for j in range(i + 1, len(values))]
    pairs = dict(zip(indices, compare_pairs([(values[i], values[j]) for i, j in indices])))
    adjusted = dict(zip(pairs, holm([test.p for test in pairs.values()])))
    tests = [Test(None, None)] + [pairs[(0, j)] for j in range(1, len(values))]
    return tests, [None] + [adjusted[(0, j)] for j in range(1, len(values))]


@dataclass(frozen=True)
class Difference:
    """a − b in points, with its 95 % interval (paired over shared seeds, else Welch), within [−100, 100]."""

    mean: Optional[float]
    low: Optional[float]
    high: Optional[float]
    method: Optional[str]
    n: int


def difference(a: Mapping[Hashable, float], b: Mapping[Hashable, float], confidence: float = CONFIDENCE) -> Difference:
    """a − b (values by seed) and the interval of that gap: the comparison's effect size, `difference(row, best)`."""
    if not a or not b:
        return Difference(None, None, None, None, 0)
    seeds = shared_seeds(a, b)
    q = (1 + confidence) / 2
    if len(seeds) >= 2:
        d = [a[s] - b[s] for s in seeds]
        mean, sd = statistics.fmean(d), stdev(d)
        half = t_quantile(q, len(d) - 1) * sd / math.sqrt(len(d))
        method = CONSTANT if sd == 0 else PAIRED
        return Difference(mean, max(-SCALE, mean - half), min(SCALE, mean + half), method, len(d))
    mean = statistics.fmean(a.values()) - statistics.fmean(b.values())
    if len(a) < 2 or len(b) < 2:
        return Difference(mean, None, None, None, min(len(a), len(b)))
    va, vb = stdev(list(a.values())) ** 2 / len(a), stdev(list(b.values())) ** 2 / len(b)
    if va + vb == 0:
        return Difference(mean, mean, mean, CONSTANT, min(len(a), len(b)))
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = t_quantile(q, df) * math.sqrt(va + vb)
    return Difference(mean, max(-SCALE, mean - half), min(SCALE, mean + half), WELCH, min(len(a), len(b)))


def paired_power(n: int, delta: float, sd: float, alpha: float = ALPHA) -> float:
    """Power of a two-sided paired t-test with n pairs to detect a true mean difference `delta` (differences' std `sd`)."""
    if n < 2:
        return 0.0
    if sd <= 0:
        return 1.0 if delta > 0 else 0.0
    df, noncentrality = n - 1, delta / (sd / math.sqrt(n))
    critical = scipy_stats.t.ppf(1 - alpha / 2, df)
    power = float(scipy_stats.nct.sf(critical, df, noncentrality) + scipy_stats.nct.cdf(-critical, df, noncentrality))
    return 1.0 if math.isnan(power) else min(1.0, power)  # scipy's nct gives NaN far in the tail, where power is 1


def detectable_difference(n: int, sd: float, power: float = POWER, alpha: float = ALPHA) -> Optional[float]:
    """The smallest true difference a paired t-test with n seeds detects with `power`, given the spread `sd`;
    math.inf when not even a difference of the whole scale (100 points) is (n = 2 with a few points of spread)."""
    if n < 2 or sd is None:
        return None
    if sd == 0:
        return 0.0
    if paired_power(n, SCALE, sd, alpha) < power:
        return math.inf
    from scipy.optimize import brentq

    return float(brentq(lambda delta: paired_power(n, delta, sd, alpha) - power, 1e-9 * sd, SCALE))


def seeds_needed(delta: float, sd: float, power: float = POWER, alpha: float = ALPHA, limit: int = 10_000) -> Optional[int]:
    """The fewest seeds at which a paired t-test detects a true difference `delta` with `power` (None: over `limit`).
    Exact: power grows with n, so a bisection over the integers finds the first n that reaches it."""
    if sd is None or paired_power(limit, delta, sd, alpha) < power:
        return None
    low, high = 1, limit  # power(low) < power <= power(high); power(1) is 0
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if paired_power(middle, delta, sd, alpha) >= power else (middle, high)
    return high


def holm(pvalues: Sequence[Optional[float]]) -> list[Optional[float]]:
    """Holm-Bonferroni adjusted p-values (None stays None and does not count as a test)."""
    order = sorted((i for i, p in enumerate(pvalues) if p is not None), key=lambda i: pvalues[i])
    adjusted: list[Optional[float]] = [None] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


@dataclass(frozen=True)
class Power:
    """What the study could detect: n seeds, the spread of the paired differences, and what follows from them."""

    n: int
    sd: Optional[float]
    detectable: Optional[float]  # the smallest true difference detected with POWER at ALPHA, at n seeds
    needed: dict  # {difference in points: seeds needed for POWER}
    # (detectable is math.inf when no difference within the 0-100 scale reaches POWER)
    against: Optional[str] = None  # the row compared with the best (the runner-up)
    others: Optional[dict] = None  # {other row: its smallest detectable difference}


def power_of(n: int, sd: Optional[float], differences: Sequence[float] = (0.5, 1.0), against: Optional[str] = None,
             others: Optional[dict] = None) -> Power:
    if sd is None or n < 2:
        return Power(n, sd, None, {d: None for d in differences}, against, others)
    return Power(n, sd, detectable_difference(n, sd), {d: (2 if sd == 0 else seeds_needed(d, sd)) for d in differences},
                 against, others)
