"""The statistics of a comparison: mean ± sample std, a t-based 95 % interval, a test against the best row.

Each setting is a sample of seeds. Its interval is mean ± t(0.975, n-1)·s/√n, bounded to [0, 100]
(an accuracy). The best row (highest mean) is compared with every other row by a two-sided t-test:
paired over the seeds both rows completed (seed s of one row shares data order and initialisation
with seed s of the other; a seed one row lacks leaves the pair out), else, with fewer than two shared
seeds, Welch's unequal-variance test. A difference that is the same on every shared seed has no
spread: no t-test is defined, and it is reported as describing this test set only. The k-1 p-values
are Holm-adjusted, because the best row was picked after looking at the data and k-1 tests are made;
a winner is named only when every adjusted p-value is below ALPHA, every row has at least MIN_SEEDS
completed seeds and the best row lost no run to divergence or failure. Power (`detectable_difference`,
`seeds_needed`): the paired t-test's, from the spread of the observed paired differences.
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
POWER = 0.80
WELCH, PAIRED, EQUAL = "Welch's t-test", "paired t-test", "equal means"
CONSTANT = "constant difference"  # the same difference on every shared seed: no spread, no t-test
SAME = 1e-9  # points: accuracies are image counts, so gaps closer than this are the same count of images


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
    return Spread(n, mean, std, max(0.0, mean - half), min(100.0, mean + half))  # an accuracy lies in [0, 100]


def shared_seeds(best: Mapping[Hashable, float], other: Mapping[Hashable, float]) -> list:
    return sorted(set(best) & set(other), key=str)


def compare_with_best(best: Mapping[Hashable, float], other: Mapping[Hashable, float]) -> Test:
    """Test `other` (values by seed) against `best`: equal means are a tie (p = 1); paired over the shared seeds
    when there are at least two, else Welch; a difference without spread over the shared seeds is CONSTANT."""
    if not best or not other:
        return Test(None, None)
    if statistics.fmean(best.values()) == statistics.fmean(other.values()):
        return Test(EQUAL, 1.0)
    seeds = shared_seeds(best, other)
    if len(seeds) >= 2:
        differences = [best[s] - other[s] for s in seeds]
        if max(differences) - min(differences) < SAME:
            return Test(CONSTANT, None)
        name, result = PAIRED, scipy_stats.ttest_rel([best[s] for s in seeds], [other[s] for s in seeds])
    elif len(best) < 2 or len(other) < 2:
        return Test(None, None)  # no spread to test against
    else:
        name, result = WELCH, scipy_stats.ttest_ind(list(best.values()), list(other.values()), equal_var=False)
    p = float(result.pvalue)
    return Test(name, None if math.isnan(p) else p)


@dataclass(frozen=True)
class Difference:
    """best − other in points, with its 95 % interval (paired over shared seeds, else Welch), within [−100, 100]."""

    mean: Optional[float]
    low: Optional[float]
    high: Optional[float]
    method: Optional[str]
    n: int


def difference(best: Mapping[Hashable, float], other: Mapping[Hashable, float], confidence: float = CONFIDENCE) -> Difference:
    """How far `other` is below `best`, and the interval of that gap (the effect size the verdict is about)."""
    if not best or not other:
        return Difference(None, None, None, None, 0)
    seeds = shared_seeds(best, other)
    q = (1 + confidence) / 2
    if len(seeds) >= 2:
        d = [best[s] - other[s] for s in seeds]
        mean, sd = statistics.fmean(d), statistics.stdev(d)
        half = scipy_stats.t.ppf(q, len(d) - 1) * sd / math.sqrt(len(d))
        method = CONSTANT if max(d) - min(d) < SAME else PAIRED
        return Difference(mean, max(-100.0, mean - half), min(100.0, mean + half), method, len(d))
    mean = statistics.fmean(best.values()) - statistics.fmean(other.values())
    if len(best) < 2 or len(other) < 2:
        return Difference(mean, None, None, None, min(len(best), len(other)))
    va, vb = statistics.variance(best.values()) / len(best), statistics.variance(other.values()) / len(other)
    if va + vb == 0:
        return Difference(mean, mean, mean, CONSTANT, min(len(best), len(other)))
    df = (va + vb) ** 2 / (va ** 2 / (len(best) - 1) + vb ** 2 / (len(other) - 1))
    half = scipy_stats.t.ppf(q, df) * math.sqrt(va + vb)
    return Difference(mean, max(-100.0, mean - half), min(100.0, mean + half), WELCH, min(len(best), len(other)))


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
    """The smallest true difference a paired t-test with n seeds detects with `power`, given the spread `sd`."""
    if n < 2 or sd is None:
        return None
    if sd == 0:
        return 0.0
    from scipy.optimize import brentq

    return float(brentq(lambda delta: paired_power(n, delta, sd, alpha) - power, 1e-9 * sd, 50.0 * sd))


def seeds_needed(delta: float, sd: float, power: float = POWER, alpha: float = ALPHA, limit: int = 10_000) -> Optional[int]:
    """The fewest seeds at which a paired t-test detects a true difference `delta` with `power` (None: over `limit`)."""
    if sd is None:
        return None
    n = 2
    while n <= limit:
        if paired_power(n, delta, sd, alpha) >= power:
            return n
        n = n + 1 if n < 100 else int(n * 1.1)
    return None


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
            f"(mean ± t·s/√n, bounded to [0, 100]). Each row is compared with the best row by a two-sided {PAIRED} over "
            f"the seeds both completed (a seed one row lacks is left out of the pairs), else {WELCH}; the gap to the best "
            f"row is shown with its {CONFIDENCE:.0%} interval by the same method. p-values are Holm-adjusted over the "
            f"comparisons; a winner is named only when every other row is lower at α = {ALPHA}, every row has at least "
            f"{MIN_SEEDS} completed seeds and the best row lost no run; equal means are always a tie, and a gap that is "
            f"the same on every seed (no spread) is no claim beyond this test set.")


@dataclass(frozen=True)
class Power:
    """What the study could detect: n seeds, the spread of the paired differences, and what follows from them."""

    n: int
    sd: Optional[float]
    detectable: Optional[float]  # the smallest true difference detected with POWER at ALPHA, at n seeds
    needed: dict  # {difference in points: seeds needed for POWER}
    against: Optional[str] = None  # the row compared with the best (the runner-up)
    others: Optional[dict] = None  # {other row: its smallest detectable difference}


def power_of(n: int, sd: Optional[float], differences: Sequence[float] = (0.5, 1.0), against: Optional[str] = None,
             others: Optional[dict] = None) -> Power:
    if sd is None or n < 2:
        return Power(n, sd, None, {d: None for d in differences}, against, others)
    return Power(n, sd, detectable_difference(n, sd), {d: (2 if sd == 0 else seeds_needed(d, sd)) for d in differences},
                 against, others)


def power_sentence(power: Power) -> str:
    """The sentence under the table (and after every "no clear winner")."""
    if power.sd is None or power.n < 2:
        return ("Power: not estimable (fewer than 2 completed seeds in some row, or no shared seeds): the study cannot say "
                "what difference it could have detected.")
    if power.sd == 0:
        return (f"Power: the paired differences have no spread over these {power.n} seeds (every seed gives the same gap), "
                f"so seed noise cannot be estimated from them; the gaps describe this test set only.")
    needed = "; ".join(f"{d:g} point{'s' if d != 1 else ''}: {'over 10,000' if k is None else k} seeds"
                       for d, k in power.needed.items())
    against = f" (the best row against the runner-up, {power.against})" if power.against else ""
    others = ""
    if power.others:
        others = (" Against the other rows, the smallest detectable difference is: "
                  + ", ".join(f"{label} {'—' if d is None else f'{d:.2f} points'}" for label, d in power.others.items()) + ".")
    return (f"Power{against}: with n = {power.n} seeds and paired differences of std {power.sd:.2f} points, a difference "
            f"smaller than about **{power.detectable:.2f} points** would be missed more than {1 - POWER:.0%} of the time "
            f"(two-sided paired t-test, α = {ALPHA}, before the Holm adjustment). Seeds needed to detect a true difference "
            f"with {POWER:.0%} power: {needed}.{others}")


@dataclass(frozen=True)
class Ranked:
    """One row as the verdict sees it: its label, its spread and its test against the best row (p Holm-adjusted)."""

    label: str
    spread: Spread
    test: Test
    p_adjusted: Optional[float]
    failures: int = 0  # diverged or failed runs: results, never averaged in
    unfinished: int = 0  # running, interrupted or never started
    runs: int = 0
    difference: Optional[Difference] = None  # best − this row

    def shown(self, with_p: bool = False) -> str:
        s = self.spread
        text = f"{s.mean:.2f}" if s.std is None else f"{s.mean:.2f} ± {s.std:.2f}"
        extra = ""
        if with_p and self.test.name == CONSTANT:
            extra = "; the same gap on every seed"
        elif with_p:
            extra = f"; {p_text(self.p_adjusted)}"
        return f"**{self.label}** ({text}, n={s.n}{extra})"


def _failures_text(rows: Sequence[Ranked]) -> str:
    failing = [r for r in rows if r.failures]
    if not failing:
        return ""
    listed = ", ".join(f"**{r.label}** lost {r.failures} of {r.runs} runs ({r.failures / max(r.runs, 1):.0%})" for r in failing)
    return (f" Failures are results: {listed} to divergence or failure; its mean covers only the runs that completed.")


def verdict(rows: Sequence[Ranked], metric: str, power: Optional[Power] = None) -> str:
    """One paragraph: the winner, or why there is none. `rows` are sorted by mean, best first."""
    all_rows = list(rows)
    unfinished = sum(r.unfinished for r in all_rows)
    prefix = (f"**Provisional:** {unfinished} run{'s are' if unfinished != 1 else ' is'} still running or not finished, so "
              f"this can change. " if unfinished else "")
    text = _verdict(all_rows, metric, power)
    return prefix + text + _failures_text(all_rows)


def _verdict(all_rows: Sequence[Ranked], metric: str, power: Optional[Power]) -> str:
    rows = [r for r in all_rows if r.spread.n > 0]
    no_winner = " " + power_sentence(power) if power is not None else ""
    if not rows:
        return "No setting has a completed run yet: nothing to compare."
    best = rows[0]
    if len(rows) == 1:
        return f"Only one setting, {best.shown()}: nothing to compare it with."
    thin = [r for r in rows if r.spread.n < MIN_SEEDS]
    if thin:
        return (f"Evidence too thin: {', '.join(r.shown() for r in thin)} {'has' if len(thin) == 1 else 'have'} fewer "
                f"than {MIN_SEEDS} completed seeds, so no winner is named. The highest mean {metric} is {best.shown()}; "
                f"run at least {MIN_SEEDS} seeds of every setting (seed=0,1,2).{no_winner}")
    tied = [r for r in rows if r.spread.mean == best.spread.mean]
    if len(tied) > 1:
        return (f"No clear winner: {', '.join(r.shown() for r in tied)} tie at the highest mean {metric} (equal means "
                f"are a tie whatever their spread).{no_winner}")
    if best.failures:
        return (f"No clear winner: {best.shown()} has the highest mean {metric} over its completed runs, but "
                f"{best.failures} of its {best.runs} runs diverged or failed, and a setting that fails that often is not "
                f"named the winner on the runs it finished.{no_winner}")
    constant = [r for r in rows[1:] if r.test.name == CONSTANT]
    close = [r for r in rows[1:] if r.test.name == CONSTANT or r.p_adjusted is None or r.p_adjusted >= ALPHA]
    if close:
        listed = ", ".join(r.shown(with_p=True) for r in close)
        text = (f"No clear winner: {best.shown()} has the highest mean {metric}, but {listed} "
                f"{'is' if len(close) == 1 else 'are'} not distinguishable from it at α = {ALPHA} (Holm-adjusted).")
        if constant:
            gaps = ", ".join(f"{r.label} is {r.difference.mean:.2f} points lower" for r in constant if r.difference)
            text += (f" A gap that is the same on every shared seed ({gaps}) has no spread, so no t-test applies: it "
                     f"describes this test set only, not what another test sample would show.")
        return text + no_winner
    worst_p = max(r.p_adjusted for r in rows[1:])
    return (f"{best.shown()} has the highest mean {metric}, and every other setting is lower at α = {ALPHA} "
            f"(Holm-adjusted {p_text(worst_p).replace('p =', 'p ≤')}).")


def p_text(p: Optional[float]) -> str:
    """`p = 0.0123`, `p < 0.0001`, or `untestable` (no spread to test against)."""
    if p is None:
        return "untestable"
    return f"p = {p:.3g}" if p >= 1e-4 else "p < 0.0001"
