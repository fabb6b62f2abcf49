"""Which setting trains best? One table and two figures from a sweep (or any folder of runs).

    python scripts/compare_runs.py multiruns/2026-11-25/09-30-00            # writes multiruns/.../comparison/
    python scripts/compare_runs.py runs/ --ignore data.batch_size --out /tmp/cmp

Writes comparison.md / comparison.csv (one row per setting, the verdict with its power, one line per run),
val_acc1.png, lr.png and mean_curves/ (each setting's mean over its seeds, as TensorBoard runs;
analysis/mean_curves.py), and prints the verdict and the table's leading columns. What a row is, the statistics
and every column: analysis/comparison/ and docs/comparison.md.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

# (This script never imports oneflow, so it skips engine.platform.oneflow_env and its CUDA library loading.)

from analysis.comparison import CompareError, compare, console_text, default_out, settings
from analysis.mean_curves import write_mean_curves


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
        kept: dict = {}
        rows = compare(args.sweep_dir, out, args.thresholds, args.sort_by, figures=not args.no_figures,
                       ignore=tuple(args.ignore), keep=kept)
    except CompareError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(console_text(rows, args.sort_by, kept["scoring"]))
    if not args.no_figures:  # TensorBoard runs of each setting's mean over its seeds
        write_mean_curves({label: [r.path for r in group if r.status == "completed"]
                           for label, group in settings(kept["runs"]).items()}, out)
    print(f"{len(rows)} settings compared; wrote {out}/comparison.md, comparison.csv"
          + ("" if args.no_figures else ", val_acc1.png, lr.png, mean_curves/"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
