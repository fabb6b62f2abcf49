"""The statistics of a comparison: mean ± sample std, a t-based 95 % interval, a test against the best row.

Each setting is a sample of seeds. Its interval is mean ± t(0.975, n-1)·s/√n. The best row (highest
mean) is compared with every other row by a two-sided t-test: paired over seeds when both rows
completed exactly the same seeds (seed s of one row shares data order and initialisation with seed s
of the other), else Welch's unequal-variance test. The k-1 p-values are Holm-adjusted, because the
best row was picked after looking at the data and k-1 tests are made; a winner is named only when
every adjusted p-value is below ALPHA and every row has at least MIN_SEEDS completed seeds.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Hashable, Mapping, Optional, Sequence

from scipy import stats as scipy_stats

ALPHA = 0.05
CONFIDENCE = 0.95
MIN_SEEDS = 3
WELCH, PAIRED, EQUAL = "Welch's t-test", "paired t-test", "equal means"


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


def spread(values: Sequence[float], confidence: float = CONFIDENCE) -> Spread:
    n = len(values)
    if n == 0:
        return Spread(0, None, None, None, None)
    mean = statistics.fmean(values)
    if n == 1:
        return Spread(1, mean, None, None, None)
    std = statistics.stdev(values)
    half = scipy_stats.t.ppf((1 + confidence) / 2, n - 1) * std / math.sqrt(n)
    return Spread(n, mean, std, mean - half, mean + half)


def compare_with_best(best: Mapping[Hashable, float], other: Mapping[Hashable, float]) -> Test:
    """Test `other` (values by seed) against `best`: equal means are a tie (p = 1); paired when the seeds match."""
    if not best or not other:
        return Test(None, None)
    if statistics.fmean(best.values()) == statistics.fmean(other.values()):
        return Test(EQUAL, 1.0)
    if len(best) < 2 or len(other) < 2:
        return Test(None, None)  # no spread to test against
    if set(best) == set(other):
        seeds = sorted(best, key=str)
        name, result = PAIRED, scipy_stats.ttest_rel([best[s] for s in seeds], [other[s] for s in seeds])
    else:
        name, result = WELCH, scipy_stats.ttest_ind(list(best.values()), list(other.values()), equal_var=False)
    p = float(result.pvalue)
    return Test(name, None if math.isnan(p) else p)


def holm(pvalues: Sequence[Optional[float]]) -> list[Optional[float]]:
    """Holm-Bonferroni adjusted p-values (None stays None and does not count as a test)."""
    order = sorted((i for i, p in enumerate(pvalues) if p is not None), key=lambda i: pvalues[i])
    adjusted: list[Optional[float]] = [None] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def method_note(metric: str) -> str:
    """The sentences under the table that state the method."""
    return (f"Mean ± sample std of the {metric} over each setting's completed seeds, with a {CONFIDENCE:.0%} t-interval "
            f"(mean ± t·s/√n). Each row is compared with the best row by a two-sided {PAIRED} when both completed "
            f"the same seeds, else {WELCH}; p-values are Holm-adjusted over the comparisons, a winner is named only "
            f"when every other row is lower at α = {ALPHA} and every row has at least {MIN_SEEDS} completed seeds, "
            f"and equal means are always a tie.")


@dataclass(frozen=True)
class Ranked:
    """One row as the verdict sees it: its label, its spread and its test against the best row (p Holm-adjusted)."""

    label: str
    spread: Spread
    test: Test
    p_adjusted: Optional[float]

    def shown(self, with_p: bool = False) -> str:
        s = self.spread
        text = f"{s.mean:.2f}" if s.std is None else f"{s.mean:.2f} ± {s.std:.2f}"
        return f"**{self.label}** ({text}, n={s.n}" + (f"; {p_text(self.p_adjusted)}" if with_p else "") + ")"


def verdict(rows: Sequence[Ranked], metric: str) -> str:
    """One paragraph: the winner, or why there is none. `rows` are sorted by mean, best first."""
    rows = [r for r in rows if r.spread.n > 0]
    if not rows:
        return "No setting has a completed run yet: nothing to compare."
    best = rows[0]
    if len(rows) == 1:
        return f"Only one setting, {best.shown()}: nothing to compare it with."
    thin = [r for r in rows if r.spread.n < MIN_SEEDS]
    if thin:
        return (f"Evidence too thin: {', '.join(r.shown() for r in thin)} {'has' if len(thin) == 1 else 'have'} fewer "
                f"than {MIN_SEEDS} completed seeds, so no winner is named. The highest mean {metric} is {best.shown()}; "
                f"run at least {MIN_SEEDS} seeds of every setting (seed=0,1,2).")
    tied = [r for r in rows if r.spread.mean == best.spread.mean]
    if len(tied) > 1:
        return (f"No clear winner: {', '.join(r.shown() for r in tied)} tie at the highest mean {metric} (equal means "
                f"are a tie whatever their spread).")
    close = [r for r in rows[1:] if r.p_adjusted is None or r.p_adjusted >= ALPHA]
    if close:
        listed = ", ".join(r.shown(with_p=True) for r in close)
        return (f"No clear winner: {best.shown()} has the highest mean {metric}, but {listed} "
                f"{'is' if len(close) == 1 else 'are'} indistinguishable from it at α = {ALPHA} (Holm-adjusted).")
    worst_p = max(r.p_adjusted for r in rows[1:])
    return (f"{best.shown()} has the highest mean {metric}, and every other setting is lower at α = {ALPHA} "
            f"(Holm-adjusted {p_text(worst_p).replace('p =', 'p ≤')}).")


def p_text(p: Optional[float]) -> str:
    """`p = 0.0123`, `p < 0.0001`, or `untestable` (no spread to test against)."""
    if p is None:
        return "untestable"
    return f"p = {p:.3g}" if p >= 1e-4 else "p < 0.0001"
