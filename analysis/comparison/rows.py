"""One typed row per setting, ranked and tested against the best: the statistics and the verdict's inputs.

A `Row` holds what the table and comparison.csv show of one setting (analysis.comparison.table names the CSV's
columns from it, in one place): its run counts, mean ± std of every summary metric, the ranked metric's values by
seed and their spread, epochs to each threshold, and, once ranked, its rank, its test against the best row
(p-values Holm-adjusted over every pair of rows, analysis.stats.tests_against_best) and its gap to the best,
this row − the best, paired over the seeds both completed.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Optional

from analysis import stats
from analysis import verdict as verdict_text
from analysis.comparison.runs import (DIVERGED, FAILED, INTERRUPTED, METRICS, MISSING, RUNNING, Run, Scoring,
                                      one_per_seed, scoring_of, settings, threshold_label, values_of)

NO_TEST = stats.Test(None, None)
NO_GAP = stats.Difference(None, None, None, None, 0)


@dataclass(frozen=True)
class MeanStd:
    """Mean and sample std of one summary value over a setting's counted runs (None where undefined)."""

    mean: Optional[float]
    std: Optional[float]

    @classmethod
    def of(cls, values: list) -> "MeanStd":
        values = [v for v in values if isinstance(v, (int, float)) and not (isinstance(v, float) and math.isnan(v))]
        if not values:
            return cls(None, None)
        return cls(statistics.fmean(values), stats.stdev(values) if len(values) > 1 else None)


@dataclass(frozen=True)
class Reached:
    """Epochs to one accuracy threshold: the mean over the counted runs that reached it, and how many did."""

    mean: Optional[float]
    reached: int


@dataclass
class Row:
    """One setting of the comparison; the fields after `wall_time_s` are set when the rows are ranked."""

    setting: str  # its label: the schedule and what sets it apart from the other rows
    schedule: str
    metric: str  # the summary.json key it is ranked on (Scoring.key)
    runs: int
    completed: int
    diverged: int
    failed: int
    running: int
    interrupted: int
    missing: int
    seeds: list  # the counted (completed) runs' seeds
    metrics: dict[str, MeanStd]  # every summary metric in runs.METRICS
    values: dict  # {seed: the ranked metric}, the samples every statistic is computed from
    spread: stats.Spread  # of `values`
    epochs_to: dict[str, Reached]  # {threshold label (acc1>=50): epochs to reach it}
    wall_time_s: MeanStd
    rank: Optional[int] = None  # by mean; equal means share one
    tie_with: Optional[str] = None  # a row with the same mean
    test: stats.Test = NO_TEST  # against the best row
    p_holm: Optional[float] = None  # Holm-adjusted over every pair of rows
    gap: stats.Difference = NO_GAP  # this row − the best
    indistinguishable_from_best: Optional[bool] = None  # None for the best row and rows without a completed run

    @property
    def unfinished(self) -> int:
        return self.running + self.interrupted + self.missing


def make_row(label: str, group: list[Run], thresholds: list, metric: str) -> Row:
    """The row of one setting's runs (statistics on its completed runs, one per seed)."""
    counted = one_per_seed(group)
    values = values_of(counted, metric)
    epochs_to = {}
    for threshold in thresholds:
        key = threshold_label(threshold)
        reached = [r.epochs_to.get(key) for r in counted if r.epochs_to.get(key) is not None]
        epochs_to[key] = Reached(statistics.fmean(reached) if reached else None, len(reached))
    return Row(setting=label, schedule=group[0].schedule, metric=metric, runs=len(group), completed=len(counted),
               diverged=sum(r.status == DIVERGED for r in group), failed=sum(r.status == FAILED for r in group),
               running=sum(r.status == RUNNING for r in group), interrupted=sum(r.status == INTERRUPTED for r in group),
               missing=sum(r.status == MISSING for r in group), seeds=sorted((r.seed for r in counted), key=str),
               metrics={name: MeanStd.of([r.summary.get(name) for r in counted]) for name in METRICS},
               values=values, spread=stats.spread(list(values.values())), epochs_to=epochs_to,
               wall_time_s=MeanStd.of([r.summary.get("wall_time_s") for r in counted]))


def setting_rows(runs: list[Run], thresholds: list, sort_by: str, scoring: Optional[Scoring] = None) -> list[Row]:
    """One row per setting, sorted by mean top-1 (`sort_by`: final or best), each tested against the best row."""
    metric = (scoring or scoring_of(runs)).key(sort_by)
    rows = [make_row(label, group, thresholds, metric) for label, group in settings(runs).items()]
    rows.sort(key=lambda row: (row.spread.mean is None, -(row.spread.mean or 0.0), row.setting))
    best = rows[0]
    tests, adjusted = stats.tests_against_best([row.values for row in rows])
    for row, test, p_adjusted in zip(rows, tests, adjusted):
        mean = row.spread.mean
        row.rank = None if mean is None else 1 + sum(1 for r in rows if r.spread.mean is not None and r.spread.mean > mean)
        row.tie_with = next((r.setting for r in rows if r is not row and mean is not None and r.spread.mean == mean), None)
        row.test, row.p_holm = test, p_adjusted
        if row is not best:
            row.gap = stats.difference(row.values, best.values)
            row.indistinguishable_from_best = None if mean is None else (
                test.name in (stats.EQUAL, stats.CONSTANT) or p_adjusted is None or p_adjusted >= stats.ALPHA
                or row.gap.mean is None or row.gap.mean >= 0)  # higher on the shared seeds: not lower, whatever p says
    return rows


def other_ranking(runs: list[Run], rows: list[Row], sort_by: str, scoring: Scoring) -> Optional[str]:
    """A sentence when ranking by the other metric (best epoch instead of final, or back) orders the rows differently."""
    other = "best" if sort_by == "final" else "final"
    key = scoring.key(other)
    by_label = settings(runs)
    means = {row.setting: stats.spread(list(values_of(one_per_seed(by_label[row.setting]), key).values())).mean for row in rows}
    ranked_here = [row.setting for row in rows if row.spread.mean is not None]
    ranked_other = sorted((s for s in ranked_here if means.get(s) is not None), key=lambda s: -means[s])
    if len(ranked_other) < 2 or ranked_other == ranked_here[:len(ranked_other)]:
        return None
    shown = " > ".join(f"{s} ({means[s]:.2f})" for s in ranked_other)
    return (f"Ranked by {scoring.label(other)} instead, the order differs: {shown}. The two rankings disagree, so which "
            f"schedule is \"best\" depends on whether a best epoch may be picked (this table ranks by {scoring.label(sort_by)}).")


def power_summary(rows: list[Row]) -> stats.Power:
    """The study's power against the runner-up (the comparison that decides the verdict), from the spread of the paired
    differences over their shared seeds; the smallest detectable difference against every other row besides."""
    def sd_and_n(row: Row) -> tuple:
        seeds = stats.shared_seeds(rows[0].values, row.values)
        if len(seeds) >= 2:
            return stats.stdev([rows[0].values[s] - row.values[s] for s in seeds]), len(seeds)
        spreads = [r.spread for r in (rows[0], row) if r.spread.std is not None]
        if len(spreads) < 2:  # no shared seeds: two independent rows' spread
            return None, 0
        return math.sqrt(spreads[0].std ** 2 + spreads[1].std ** 2), min(s.n for s in spreads)

    scored = [row for row in rows[1:] if row.spread.n]
    if not rows or not rows[0].spread.n or not scored:
        return stats.power_of(0, None)
    sd, n = sd_and_n(scored[0])
    others = {}
    for row in scored[1:]:
        other_sd, other_n = sd_and_n(row)
        others[row.setting] = stats.detectable_difference(other_n, other_sd) if other_sd is not None else None
    return stats.power_of(n, sd, against=scored[0].setting, others=others)


def ranked(rows: list[Row]) -> list[verdict_text.Ranked]:
    """The rows as the verdict sees them (analysis.verdict)."""
    return [verdict_text.Ranked(r.setting, r.spread, r.test, r.p_holm, failures=r.diverged + r.failed, unfinished=r.unfinished,
                         runs=r.runs, difference=r.gap) for r in rows]


def named_winner(rows: list[Row]) -> Optional[str]:
    """The setting the verdict names as the winner, or None ("no clear winner", too thin, failures...)."""
    return verdict_text.winner(ranked(rows))


def verdict(rows: list[Row], label: str) -> str:
    """The verdict paragraph (with its power sentence when there is no winner)."""
    return verdict_text.verdict(ranked(rows), label, power_summary(rows))
