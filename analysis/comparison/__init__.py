"""Which setting trains best? One table and two figures from a sweep (or any folder of runs).

The library behind scripts/compare_runs.py and scripts/study.py:

    python scripts/compare_runs.py multiruns/2026-11-25/09-30-00            # writes multiruns/.../comparison/
    python scripts/compare_runs.py runs/ --ignore data.batch_size --out /tmp/cmp

Reads every run under the folder (its summary.json, .hydra/config.yaml, .hydra/hydra.yaml and TensorBoard
events). Rows are settings, never mixtures: runs whose resolved configs are equal except for the seed
and keys that change nothing about the result (engine.config.keys.HARMLESS_KEYS; more with --ignore,
which the table states) are the seeds of one row, labelled by what sets it apart (`cosine,
optimizer.lr=0.02`). Writes, each file atomically, into --out (default: <folder>/comparison/; the
repository's results/ only when --out says so):
  comparison.md / comparison.csv  one row per setting: completed/all runs, mean ± sample std of the ranked
                                  top-1 (test_acc1 when the runs hold a validation split, and the header says
                                  what "val" is), its 95 % t-interval in [0, 100], the gap to the best row
                                  (this row − the best) with its interval and a test (paired over shared
                                  seeds, Holm-adjusted over all pairs of rows; analysis.stats), epochs to
                                  each accuracy threshold, wall time, diverged / failed / running / missing
                                  counts; a verdict that names a winner only when the data support one, with
                                  the study's power; one line per run. compare_runs.py prints the verdict
                                  and the table's leading columns too.
  val_acc1.png                    test top-1 against epoch, mean per setting with a ±1 std band over seeds
  lr.png                          LR against optimizer step, every setting on one axis

Statistics use completed runs only, one per seed; diverged, failed, interrupted, still-running and
missing runs are counted and listed, never averaged in. A comparison mixing CPUs or library versions
(run_info.json) says so. A run is "missing" when its job directory has no
summary.json, or (for grid sweeps, from multirun.yaml) when the job directory does not exist at all.

The package, by what each part does: runs (reading runs, grouping them into settings), rows (typed rows,
their statistics and the verdict's inputs), table (comparison.md, comparison.csv, the console summary) and
figures. `compare` runs them in that order.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

# (This package never imports oneflow, so it skips engine.platform.oneflow_env and its CUDA library loading.)

from analysis.comparison.figures import _pyplot, accuracy_figure, lr_figure, plot
from analysis.comparison.rows import MeanStd, Reached, Row, named_winner, other_ranking, power_summary, ranked, setting_rows
from analysis.comparison.runs import (COMPLETED, DIVERGED, FAILED, HELD_OUT, INTERRUPTED, METRICS, MISSING, MIXED, RUNNING,
                                      UNFINISHED, VAL_IS_TEST, CompareError, Run, Scoring, constant_lr_settings,
                                      expected_job_names, find_runs, grid_override_dirnames, one_per_seed,
                                      provenance_warnings, read_run, scoring_of, settings)
from analysis.comparison.table import console_text, csv_record, csv_text, markdown
from common.files import atomic_write_text

REPO_RESULTS = Path(__file__).resolve().parents[2] / "results"
DEFAULT_OUT_NAME = "comparison"

__all__ = ["COMPLETED", "DIVERGED", "FAILED", "HELD_OUT", "INTERRUPTED", "METRICS", "MISSING", "MIXED", "RUNNING",
           "UNFINISHED", "VAL_IS_TEST", "CompareError", "MeanStd", "Reached", "Row", "Run", "Scoring", "_pyplot",
           "accuracy_figure", "compare", "console_text", "constant_lr_settings", "csv_record", "csv_text", "default_out",
           "expected_job_names", "find_runs", "grid_override_dirnames", "lr_figure", "markdown", "named_winner",
           "one_per_seed", "other_ranking", "plot", "power_summary", "provenance_warnings", "ranked", "read_run",
           "scoring_of", "setting_rows", "settings"]


def default_out(sweep_dir: Path) -> Path:
    """<sweep>/comparison, unless that lies in the repository's results/ (writing there takes an explicit --out)."""
    out = sweep_dir / DEFAULT_OUT_NAME
    if out.resolve().is_relative_to(REPO_RESULTS):
        raise CompareError(f"the default output {out} would be inside the repository's results/ ({REPO_RESULTS}), "
                           f"which holds the committed comparison; pass --out explicitly to write there (or elsewhere).")
    return out


def compare(sweep_dir: Path, out: Optional[Path] = None, thresholds: Optional[list] = None, sort_by: str = "final",
            figures: bool = True, ignore: tuple = (), keep: Optional[dict] = None) -> list[Row]:
    """Write the comparison of `sweep_dir` into `out` (default: <sweep_dir>/comparison); return the rows."""
    sweep_dir, ignore = Path(sweep_dir), tuple(ignore)
    out = default_out(sweep_dir) if out is None else Path(out)
    if thresholds is None:  # the thresholds the runs recorded, else 50%
        probe = find_runs(sweep_dir, [], ignore)
        recorded = {k for r in probe for k in (r.summary.get("epochs_to_threshold") or {})}
        thresholds = sorted(float(k.split(">=")[1]) for k in recorded if k.startswith("acc1>=")) or [50.0]
    runs = find_runs(sweep_dir, thresholds, ignore)
    scoring = scoring_of(runs)
    rows = setting_rows(runs, thresholds, sort_by, scoring)
    for label in constant_lr_settings(runs):
        print(f"warning: {label}: every run kept the LR constant over the whole run, so here it is the constant "
              f"schedule (its lengths do not fit in the run; give them as shares of the run, e.g. 30%).", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "comparison.md", markdown(rows, runs, thresholds, sort_by, sweep_dir, ignore, scoring))
    atomic_write_text(out / "comparison.csv", csv_text(rows))
    if figures:
        plot(rows, runs, out, scoring)
    if keep is not None:  # for a caller that draws more from the same reading (analysis.study_report)
        keep.update(runs=runs, scoring=scoring, markdown=(out / "comparison.md").read_text(), power=power_summary(rows))
    return rows

