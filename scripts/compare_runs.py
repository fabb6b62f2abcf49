"""Which setting trains best? One table and two figures from a sweep (or any folder of runs).

The library behind scripts/compare_runs.py and scripts/study.py:

    python scripts/compare_runs.py multiruns/2026-11-25/09-30-00            # writes multiruns/.../comparison/
    python scripts/compare_runs.py runs/ --ignore data.batch_size --out /tmp/cmp

Reads every run under the folder (its summary.json, .hydra/config.yaml, .hydra/hydra.yaml and TensorBoard
events). Rows are settings, never mixtures: runs whose resolved configs are equal except for the seed
and keys that change nothing about the result (engine.config_keys.HARMLESS_KEYS; more with --ignore,
which the table states) are the seeds of one row, labelled by what sets it apart (`cosine,
optimizer.lr=0.02`). Writes, each file atomically, into --out (default: <folder>/comparison/; the
repository's results/ only when --out says so):
  comparison.md / comparison.csv  one row per setting: completed/all runs, mean ± sample std of the ranked
                                  top-1 (test_acc1 when the runs hold a validation split, and the header says
                                  what "val" is), its 95 % t-interval in [0, 100], the gap to the best row
                                  with its interval and a test (paired over shared seeds, Holm-adjusted;
                                  analysis.stats), epochs to each accuracy threshold, wall time, diverged /
                                  failed / running / missing counts; a verdict that names a winner only when
                                  the data support one, with the study's power; one line per run.
  val_acc1.png                    test top-1 against epoch, mean per setting with a ±1 std band over seeds
  lr.png                          LR against optimizer step, every setting on one axis

Statistics use completed runs only, one per seed; diverged, failed, interrupted, still-running and
missing runs are counted and listed, never averaged in. A comparison mixing CPUs or library versions
(run_info.json) says so. A run is "missing" when its job directory has no
summary.json, or (for grid sweeps, from multirun.yaml) when the job directory does not exist at all.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

# (This script never imports oneflow, so it skips engine.oneflow_env and its CUDA library loading.)

from analysis.comparison import REPO_RESULTS, CompareError, compare, default_out  # noqa: F401  (tests use them from here)


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep_dir", type=Path, help="a multirun directory (multiruns/<date>/<time>) or any folder of runs")
    parser.add_argument("--out", type=Path, default=None,
                        help="where to write (default: <sweep_dir>/comparison; results/ only when given here)")
    parser.add_argument("--threshold", type=float, action="append", dest="thresholds",
                        help="top-1 accuracy (%%) for the epochs-to-threshold column; repeatable (default: what the runs recorded, else 50)")
    parser.add_argument("--sort-by", choices=("final", "best"), default="final",
                        help="rank and test by final-epoch top-1 (default; no selection on the evaluation set) or best-epoch top-1")
    parser.add_argument("--ignore", action="append", default=[], metavar="KEY",
                        help="a config key (or group, e.g. data.batch_size) declared irrelevant: runs differing only in it are "
                             "pooled into one row, and the table says so; repeatable")
    parser.add_argument("--no-figures", action="store_true", help="write only the tables")
    args = parser.parse_args(argv)
    try:
        out = default_out(args.sweep_dir) if args.out is None else args.out
        rows = compare(args.sweep_dir, out, args.thresholds, args.sort_by, figures=not args.no_figures, ignore=tuple(args.ignore))
    except CompareError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{len(rows)} settings compared; wrote {out}/comparison.md, comparison.csv"
          + ("" if args.no_figures else ", val_acc1.png, lr.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
