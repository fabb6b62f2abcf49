"""The verdict of a comparison, in words: the winner or why there is none, the power sentence and the method note.

The numbers come from analysis.stats; this module only states them, with the rules of docs/comparison.md
("Verdict rules"): a winner is named only when every other row is lower on the seeds both completed at ALPHA
(Holm over all pairs of rows), every row has MIN_SEEDS completed seeds and the best row lost no run.
`winner` is the same rule without the words, for callers that need the name (the study's reproduction check).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

from analysis.stats import (ALPHA, CONFIDENCE, CONSTANT, MIN_SEEDS, PAIRED, POWER, SCALE, WELCH, Difference, Power,
                            Spread, Test)


def method_note(metric: str) -> str:
    """The sentences under the table that state the method."""
    return (f"Mean ± sample std of the {metric} over each setting's completed seeds, with a {CONFIDENCE:.0%} t-interval "
            f"(mean ± t·s/√n, bounded to [0, 100]). Each row is compared with the best row by a two-sided {PAIRED} over "
            f"the seeds both completed (a seed one row lacks is left out of the pairs), else {WELCH}; the gap to the best "
            f"row (this row − the best) is shown with its {CONFIDENCE:.0%} interval by the same method. The best row is "
            f"chosen by comparing every row, so p-values are Holm-adjusted over all pairs of rows, which keeps the chance "
            f"of calling any row lower than the best when none is at α; a winner is named only when every other row is "
            f"lower on the seeds both completed at α = {ALPHA}, every row has at least "
            f"{MIN_SEEDS} completed seeds and the best row lost no run; equal means are always a tie, and a gap that is "
            f"the same on every seed (no spread) is no claim beyond this test set.")


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
                  + ", ".join(f"{label} {_detectable_text(d)}" for label, d in power.others.items()) + ".")
    if power.n == 2:  # one degree of freedom: the spread itself is a guess, and so is anything computed from it
        missed = ("the spread rests on one degree of freedom, so no bound on the difference that could be missed follows: "
                  "**2 seeds cannot bound anything**")
    elif math.isinf(power.detectable):
        missed = (f"not even a difference of the whole 0–{SCALE:g} scale would be detected with {POWER:.0%} power: "
                  f"**{power.n} seeds cannot bound anything**")
    else:
        missed = (f"a difference smaller than about **{power.detectable:.2f} points** would be missed more than "
                  f"{1 - POWER:.0%} of the time")
    return (f"Power{against}: with n = {power.n} seeds and paired differences of std {power.sd:.2f} points, {missed} "
            f"(two-sided paired t-test, α = {ALPHA}, before the Holm adjustment). Seeds needed to detect a true difference "
            f"with {POWER:.0%} power: {needed}.{others}")


def _detectable_text(detectable: Optional[float]) -> str:
    if detectable is None:
        return "—"
    return f"none within 0–{SCALE:g}" if math.isinf(detectable) else f"{detectable:.2f} points"


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
    difference: Optional[Difference] = None  # this row − the best, paired over shared seeds when there are two

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
    text = _why_no_winner(all_rows, metric, power)
    if text is None:
        worst_p = max(r.p_adjusted for r in all_rows[1:] if r.spread.n > 0)
        text = (f"{all_rows[0].shown()} has the highest mean {metric}, and every other setting is lower at α = {ALPHA} on "
                f"the seeds both completed (Holm-adjusted over all pairs of rows, {p_text(worst_p).replace('p =', 'p ≤')}).")
    return prefix + text + _failures_text(all_rows)


def winner(rows: Sequence[Ranked]) -> Optional[str]:
    """The label the verdict names as the winner, or None (no clear winner, evidence too thin, failures...)."""
    return rows[0].label if _why_no_winner(list(rows), "", None) is None else None


def _why_no_winner(all_rows: Sequence[Ranked], metric: str, power: Optional[Power]) -> Optional[str]:
    """The verdict when it names no winner; None when the best row (all_rows[0]) is the winner."""
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
    not_lower = [r for r in rows[1:] if r.difference and r.difference.mean is not None and r.difference.mean >= 0]
    if not_lower:  # higher mean over all seeds, but not on the seeds both completed: a lacking seed made the order
        listed = ", ".join(f"{r.shown()} is not lower on the {r.difference.n} seeds both completed (gap "
                           f"{gap_text(r.difference)})" for r in not_lower)
        return (f"No clear winner: {best.shown()} has the highest mean {metric} over its own seeds, but {listed}: the "
                f"ranking rests on seeds one row lacks, not on a paired difference.{no_winner}")
    constant = [r for r in rows[1:] if r.test.name == CONSTANT]
    close = [r for r in rows[1:] if r.test.name == CONSTANT or r.p_adjusted is None or r.p_adjusted >= ALPHA]
    if close:
        listed = ", ".join(r.shown(with_p=True) for r in close)
        text = (f"No clear winner: {best.shown()} has the highest mean {metric}, but {listed} "
                f"{'is' if len(close) == 1 else 'are'} not distinguishable from it at α = {ALPHA} (Holm-adjusted over all pairs of rows).")
        if constant:
            gaps = ", ".join(f"{r.label} is {-r.difference.mean:.2f} points lower" for r in constant if r.difference)
            text += (f" A gap that is the same on every shared seed ({gaps}) has no spread, so no t-test applies: it "
                     f"describes this test set only, not what another test sample would show.")
        return text + no_winner
    return None


def gap_text(gap: Difference) -> str:
    """`+0.60 [+0.35, +0.85]`: a row's gap to the best (row − best) with its interval; — when there is none."""
    if gap.mean is None:
        return "—"
    interval = "" if gap.low is None else f" [{gap.low:+.2f}, {gap.high:+.2f}]"
    return f"{gap.mean:+.2f}{interval}"


def p_text(p: Optional[float]) -> str:
    """`p = 0.0123`, `p < 0.0001`, or `untestable` (no spread to test against)."""
    if p is None:
        return "untestable"
    return f"p = {p:.3g}" if p >= 1e-4 else "p < 0.0001"
