"""Performance profiles, the AlgoPerf benchmark score, speedups against a baseline, and the agreement of rankings.

Inputs are steps to a workload's validation target, per schedule and workload, `math.inf` when never reached
(Dolan & Moré 2002; MLCommons AlgoPerf, scoring/performance_profile.py):

- the performance ratio of schedule s on workload w is r(s, w) = t(s, w) / min over schedules of t(., w): 1 for the
  fastest (every schedule tied for fastest gets 1), inf when s never reached the target (also when none did);
- the profile rho_s(tau) is the share of workloads with r(s, w) <= tau;
- the benchmark score is B_s = 1/(tau_max - 1) * integral from 1 to tau_max of rho_s(tau) dtau, tau_max = 4. rho_s is a
  step function, so the integral is exact here: a workload with ratio r <= tau_max adds (tau_max - r) / (tau_max - 1)
  / (number of workloads); AlgoPerf samples tau on a grid, which this equals as the grid gets fine;
- the speedup of s over a baseline b on w is t(b, w) / t(s, w); their geometric mean over the workloads where both
  reached the target (the others are counted apart, never averaged in).
"""
from __future__ import annotations

import itertools
import math
from typing import Mapping, Optional, Sequence

TAU_MAX = 4.0


def performance_ratios(steps: Mapping[str, Mapping[str, float]]) -> dict:
    """{schedule: {workload: ratio}} from {workload: {schedule: steps to target (inf: never)}}."""
    ratios: dict = {}
    for workload, by_schedule in steps.items():
        best = min(by_schedule.values())
        for schedule, value in by_schedule.items():
            ratio = math.inf if math.isinf(value) or math.isinf(best) else (1.0 if value == best else value / best)
            ratios.setdefault(schedule, {})[workload] = ratio
    return ratios


def profile(ratios: Mapping[str, float], taus: Sequence[float]) -> list:
    """rho(tau) for each tau: the share of workloads whose ratio is at most tau."""
    values = list(ratios.values())
    return [sum(r <= tau for r in values) / len(values) if values else 0.0 for tau in taus]


def benchmark_score(ratios: Mapping[str, float], tau_max: float = TAU_MAX) -> float:
    """B = 1/(tau_max - 1) * integral_1^tau_max rho(tau) dtau, exactly (rho is a step function of the ratios)."""
    values = list(ratios.values())
    if not values:
        return 0.0
    return sum((tau_max - r) / (tau_max - 1) for r in values if r <= tau_max) / len(values)


def geometric_mean_speedup(steps: Mapping[str, Mapping[str, float]], schedule: str, baseline: str) -> tuple:
    """(geometric mean of t(baseline, w) / t(schedule, w) over the workloads where both reached the target, or None
    when there is none; how many workloads were left out because one or both never reached it)."""
    speedups, left_out = [], 0
    for by_schedule in steps.values():
        mine, theirs = by_schedule.get(schedule, math.inf), by_schedule.get(baseline, math.inf)
        if math.isinf(mine) or math.isinf(theirs):
            left_out += 1
        else:
            speedups.append(theirs / mine)
    if not speedups:
        return None, left_out
    return math.exp(sum(math.log(s) for s in speedups) / len(speedups)), left_out


def kendall_taus(rankings: Sequence[Mapping[str, float]]) -> list:
    """Kendall's tau-b between every pair of the studies' scores ({schedule: score}, higher better); nan when a study
    scored every schedule alike (no ranking to agree with)."""
    from scipy.stats import kendalltau

    taus = []
    for one, other in itertools.combinations(rankings, 2):
        shared = sorted(set(one) & set(other))
        if len(shared) < 2:
            taus.append(math.nan)
            continue
        result = kendalltau([one[s] for s in shared], [other[s] for s in shared])
        taus.append(float(result.statistic if hasattr(result, "statistic") else result[0]))
    return taus


def stability_text(taus: Sequence[float], threshold: float = 0.6) -> str:
    """One sentence on whether the S rankings agree (the mean pairwise Kendall tau, and its smallest)."""
    finite = [t for t in taus if not math.isnan(t)]
    if not taus:
        return "one study only: no replication to measure the ranking's stability."
    if not finite:
        return "Kendall tau undefined: a study scored every schedule alike, so its ranking says nothing."
    mean, low = sum(finite) / len(finite), min(finite)
    verdict = ("the ranking is stable across the studies" if low >= threshold else
               "**the ranking is not stable**: studies with another search seed order the schedules differently")
    pairs = "the 1 pair" if len(taus) == 1 else f"the {len(taus)} pairs"
    return f"Kendall tau between {pairs} of studies: mean {mean:+.2f}, lowest {low:+.2f}; {verdict}."


def median(values: Sequence[float]) -> float:
    """The median, with inf (never reached) sorting last: inf when a middle value is inf (as numpy's median)."""
    ordered = sorted(values)
    if not ordered:
        return math.inf
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    low, high = ordered[middle - 1], ordered[middle]
    return math.inf if math.isinf(high) else (low + high) / 2


def steps_to_target(history: Optional[Sequence[float]], target: float, steps_per_epoch: float,
                    by_step: Optional[Sequence[Sequence[float]]] = None) -> float:
    """Optimizer steps until validation top-1 first reached `target`: at an epoch's end (`history`, per epoch) or, with
    trainer.val_every_n_steps, at a validation inside an epoch (`by_step`, [step, top-1] pairs); inf when never."""
    measured = [(epoch * steps_per_epoch, value) for epoch, value in enumerate(history or [], start=1)]
    measured += [(float(step), value) for step, value in by_step or []]
    return min((step for step, value in measured if value is not None and value >= target), default=math.inf)
