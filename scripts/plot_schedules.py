"""Preview learning-rate schedules before training: PNG, CSV (step,epoch,lr) and JSON per schedule.

    python scripts/plot_schedules.py scheduler=onecycle trainer.max_epochs=100 data.batch_size=256
    python scripts/plot_schedules.py --all                       # every conf/scheduler/*.yaml + overview.png
    python scripts/plot_schedules.py --all --out results/schedules   # the committed previews (README, docs)
    python scripts/plot_schedules.py scheduler=plateau --val-curve-from runs/2026-01-01/12-00-00

Takes the same overrides as train.py, composes the same Hydra config and builds the schedule through
the same factory (schedulers.preview.lr_curve), without loading data or a model. With --all, a
schedule this run cannot hold (e.g. multistep's milestones in a 30-epoch run) is listed with its reason
and the others are rendered: the exit code is 0 when any rendered, 2 when none could
(engine/training/schedule_files.py).
"""
import engine.platform.oneflow_env  # noqa: F401  (before oneflow: loads the CUDA libraries it links against)

import argparse
from pathlib import Path

from engine.training.schedule_files import render_schedules

def main(argv: list = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, as for train.py (e.g. scheduler=cosine)")
    parser.add_argument("--out", type=Path, default=Path("runs") / "previews", help="output folder (default "
                        "runs/previews, which git ignores; the committed previews: --out results/schedules)")
    parser.add_argument("--all", action="store_true", help="every conf/scheduler/*.yaml, plus overview.png")
    parser.add_argument("--val-curve-from", type=Path, default=None, metavar="RUN_DIR",
                        help="plateau schedules replay the monitored metric logged in this run directory")
    args = parser.parse_args(argv)
    render_schedules(args.overrides, args.out, every=args.all, val_curve_from=args.val_curve_from)


if __name__ == "__main__":
    main()
