"""The comparison written out: comparison.md's table and verdict, comparison.csv, and the console summary.

The table's columns are `Column`s (a header and how a row's cell is written), so the markdown table and the
console's shorter one cannot disagree about what a column holds; comparison.csv's columns are named in one place,
`csv_record`, from the typed `Row`. Every gap is this row − the best, in the table, the verdict and the CSV.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

from analysis import grouping, stats
from analysis import verdict as verdict_text
from analysis.comparison.rows import Row, other_ranking, power_summary, verdict
from analysis.comparison.runs import (DIVERGED, FAILED, HELD_OUT, MISSING, RUNNING, VAL_IS_TEST, Run, Scoring,
                                      constant_lr_settings, provenance_warnings, settings, threshold_label)
from engine.config.keys import HARMLESS_KEYS

SUMMARY_COLUMNS = 7  # rank .. vs best: the columns the console prints


@dataclass(frozen=True)
class Column:
    """One column of the settings table: its header and its cell for a row."""

    header: str
    cell: Callable[[Row], str]


def _fmt(mean: Optional[float], std: Optional[float], digits: int = 2) -> str:
    if mean is None:
        return "—"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if std is not None else f"{mean:.{digits}f}"


def _rank(row: Row) -> str:
    return "—" if row.rank is None else (f"={row.rank}" if row.tie_with else str(row.rank))


def _interval(row: Row) -> str:
    return "—" if row.spread.ci_low is None else f"[{row.spread.ci_low:.2f}, {row.spread.ci_high:.2f}]"


def _versus_best(row: Row) -> str:
    if row.rank is None:
        return "—"
    if row.indistinguishable_from_best is None:
        return "best"
    if row.test.name == stats.EQUAL:
        return "tie (equal means)"
    if row.test.name == stats.CONSTANT:
        return "same gap on every seed (no test: this test set only)"
    if row.test.name is None:
        return "untestable (n < 2)"
    short = "paired" if row.test.name == stats.PAIRED else "Welch"
    text = f"{verdict_text.p_text(row.test.p)} ({short}); Holm-adjusted {verdict_text.p_text(row.p_holm)}"
    return text + ("; not lower on the shared seeds" if row.gap.mean is not None and row.gap.mean >= 0 else "")


def _epochs(label: str) -> Callable[[Row], str]:
    def cell(row: Row) -> str:
        reach = row.epochs_to[label]
        if reach.mean is None:
            return "—"
        return f"{reach.mean:.1f}" + ("" if reach.reached == row.completed else f" ({reach.reached}/{row.completed} reached)")
    return cell


def _metric(key: str) -> Callable[[Row], str]:
    return lambda row: _fmt(row.metrics[key].mean, row.metrics[key].std)


def _unfinished(row: Row) -> str:
    counts = {"running": row.running, "interrupted": row.interrupted, "missing": row.missing}
    return ", ".join(f"{count} {what}" for what, count in counts.items() if count) or "0"


def columns(scoring: Scoring, sort_by: str, thresholds: list) -> list[Column]:
    """The settings table's columns, the first SUMMARY_COLUMNS of them what the console shows."""
    other = "best" if sort_by == "final" else "final"
    extra = [("final_acc1", "final val top-1"), ("best_acc1", "best val top-1")] if scoring is HELD_OUT else []
    return ([Column("rank", _rank), Column("setting", lambda r: r.setting), Column("runs", lambda r: f"{r.completed}/{r.runs}"),
             Column(scoring.label(sort_by), lambda r: _fmt(r.spread.mean, r.spread.std)), Column("95% CI", _interval),
             Column("gap to best [95% CI]", lambda r: verdict_text.gap_text(r.gap)), Column("vs best", _versus_best),
             Column(scoring.label(other), _metric(scoring.key(other)))]
            + [Column(name, _metric(key)) for key, name in extra] + [Column("final top-5", _metric("final_acc5"))]
            + [Column(f"epochs to {label}", _epochs(label)) for label in (threshold_label(t) for t in thresholds)]
            + [Column("wall time (s)", lambda r: "—" if r.wall_time_s.mean is None else f"{r.wall_time_s.mean:.0f}"),
               Column("diverged", lambda r: str(r.diverged)), Column("failed", lambda r: str(r.failed)),
               Column("not finished", _unfinished)])


def table(rows: list[Row], chosen: list[Column]) -> str:
    """A markdown table of `rows` in the `chosen` columns."""
    lines = ["| " + " | ".join(c.header for c in chosen) + " |", "|" + "---|" * len(chosen)]
    lines += ["| " + " | ".join(c.cell(row) for c in chosen) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _header(rows: list[Row], runs: list[Run], sort_by: str, sweep_dir: Path, ignore: tuple, scoring: Scoring = VAL_IS_TEST) -> str:
    shared = grouping.shared_choices([r.choices for r in runs if r.path is not None])
    text = (f"# Comparison: `{sweep_dir}`\n\nGenerated {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC} by "
            f"`scripts/compare_runs.py` from {len(runs)} runs in {len(rows)} settings. A row is one setting: runs whose "
            f"resolved configs are equal except for the seed and keys that change nothing about the result "
            f"({', '.join(f'`{k}`' for k in HARMLESS_KEYS)}); its label names what sets it apart from the other rows. "
            f"Sorted by mean **{scoring.label(sort_by)}**.\n\n{scoring.note}\n\n")
    warnings = provenance_warnings(runs)
    if warnings:
        text += ("**Warning: this comparison mixes machines or library versions** (from each run's run_info.json): "
                 + "; ".join(warnings) + ". Per-run figures differ across CPUs and versions even for the same seed; compare "
                 "means with their intervals, not runs one by one.\n\n")
    if shared:
        text += "All rows share: " + ", ".join(f"{g}={c}" for g, c in shared.items()) + ".\n\n"
    if ignore:
        text += (f"**Pooled over {', '.join(f'`{k}`' for k in ignore)}** (declared irrelevant with --ignore): a row may mix "
                 f"runs that differ in these keys.\n\n")
    return text


def markdown(rows: list[Row], runs: list[Run], thresholds: list, sort_by: str, sweep_dir: Path, ignore: tuple = (),
             scoring: Scoring = VAL_IS_TEST) -> str:
    """comparison.md: the header, the verdict, the settings table with its power and method, one line per run."""
    out = io.StringIO()
    label = scoring.label(sort_by)
    out.write(_header(rows, runs, sort_by, sweep_dir, ignore, scoring))
    out.write("**Verdict.** " + verdict(rows, label) + "\n\n")
    disagreement = other_ranking(runs, rows, sort_by, scoring)
    if disagreement:
        out.write(disagreement + "\n\n")
    for flagged in constant_lr_settings(runs):
        out.write(f"**Warning: `{flagged}` kept its LR constant over the whole run**, so here it is the constant "
                  f"schedule; its lengths do not fit in the run (give them as shares of the run, e.g. `30%`).\n\n")
    out.write(table(rows, columns(scoring, sort_by, thresholds)))
    out.write("\n" + verdict_text.power_sentence(power_summary(rows)) + "\n\n")
    out.write(verdict_text.method_note(label) + " `runs` is completed/all jobs of the setting; diverged, failed, running and "
              "missing runs are counted, never averaged in. Epochs to a threshold (on `val/acc1`) average the runs that "
              "reached it.\n\n## Runs\n\n")
    out.write(_runs_table(runs, scoring))
    return out.getvalue()


def console_text(rows: list[Row], sort_by: str, scoring: Scoring = VAL_IS_TEST) -> str:
    """What compare_runs.py prints: the verdict and the table's leading columns (comparison.md has the rest)."""
    return (f"Verdict. {verdict(rows, scoring.label(sort_by))}\n\n"
            + table(rows, columns(scoring, sort_by, [])[:SUMMARY_COLUMNS]))


def _runs_table(runs: list[Run], scoring: Scoring = VAL_IS_TEST) -> str:
    group_label = {run.group: label for label, members in settings(runs).items() for run in members}
    out = io.StringIO()
    out.write(f"| run | setting | status | seed | {scoring.final_label} | best val top-1 (epoch) | epochs | note |\n"
              "|---|---|---|---|---|---|---|---|\n")
    for run in sorted(runs, key=lambda r: (group_label[r.group], str(r.seed), r.name)):
        s = run.summary
        best = "—" if s.get("best_acc1") is None else f"{s['best_acc1']:.2f} ({s.get('best_epoch', '?')})"
        final = "—" if s.get(scoring.final) is None else f"{s[scoring.final]:.2f}"
        note = run.note
        if run.status == DIVERGED and isinstance(s.get("diverged"), dict):
            d = s["diverged"]
            note = f"diverged at epoch {d.get('epoch')}, step {d.get('step')}, lr {d.get('lr')}"
        elif run.status == MISSING:
            note = "no job directory" if run.path is None else "no summary.json (failed before its first epoch, or not started)"
        elif run.status == FAILED:
            note = f"failed: {s.get('error', '?')}"[:200]
        elif run.status == RUNNING:
            note = f"still running: {s.get('epochs', 0)}/{s.get('max_epochs', '?')} epochs"
        epochs = f"{s.get('epochs', '—')}/{s.get('max_epochs', '?')}" if s else "—"
        out.write(f"| `{run.name}` | {group_label[run.group]} | {run.status} | {run.seed if run.seed is not None else '—'} | "
                  f"{final} | {best} | {epochs} | {note} |\n")
    return out.getvalue()


def csv_record(row: Row) -> dict:
    """comparison.csv's columns for one row, in their order: the one place they are named. Gaps are row − best."""
    record = {"rank": row.rank, "tie_with": row.tie_with, "setting": row.setting, "schedule": row.schedule, "runs": row.runs,
              "completed": row.completed, "diverged": row.diverged, "failed": row.failed, "running": row.running,
              "interrupted": row.interrupted, "missing": row.missing, "seeds": " ".join(str(s) for s in row.seeds)}
    for name, value in row.metrics.items():
        record[f"{name}_mean"], record[f"{name}_std"] = value.mean, value.std
    record.update({"n": row.spread.n, f"{row.metric}_ci95_low": row.spread.ci_low, f"{row.metric}_ci95_high": row.spread.ci_high})
    for label, reach in row.epochs_to.items():
        record[f"epochs_to_{label}_mean"], record[f"epochs_to_{label}_reached"] = reach.mean, reach.reached
    record.update({"wall_time_s_mean": row.wall_time_s.mean, "test": row.test.name, "p_value": row.test.p,
                   "p_holm": row.p_holm, "indistinguishable_from_best": row.indistinguishable_from_best,
                   "diff_from_best": row.gap.mean, "diff_ci95_low": row.gap.low, "diff_ci95_high": row.gap.high})
    return record


def csv_text(rows: list[Row]) -> str:
    records = [csv_record(row) for row in rows]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(records[0]) if records else ["setting"], lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: "" if v is None else (format(v, ".10g") if isinstance(v, float) else v) for k, v in record.items()})
    return out.getvalue()
