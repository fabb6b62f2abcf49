"""A fair schedule study in one command: per schedule an LR search on a validation split (Optuna), then seeds
at the tuned LR scored on the test set, then the comparison, its power and an HTML report.

    python scripts/study.py --dir multiruns/study_digits --schedules cosine,step,plateau,constant --trials 6 --seeds 5
    python scripts/study.py --dir multiruns/study_digits --schedules cosine,step trainer.max_epochs=10 hydra/launcher=parallel
    python scripts/study.py --dir multiruns/suite --workloads digits_tiny,digits_wrn,digits_mlp --schedules cosine,step,wsd \
        --studies 3 --trials 5 --seeds 3 [--budgets 4,8,16]

With --workloads (conf/workload/), S studies (--studies) per workload and schedule, steps to each workload's target,
performance profiles, the benchmark score and the verdict across workloads (analysis.workload_study).

Trailing arguments are Hydra overrides for every run. Kill it at any time and run the same command
again: it continues (nothing finished runs again). The protocol: docs/comparison.md.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional

# (This script never imports oneflow: the runs are train.py subprocesses.)

from analysis.study import StudySpec, StudyRunError, run_study
from analysis.workload_study import SuiteSpec, run_suite
from analysis.study_report import check_reproduction
from common.errors import ConfigError


def _lr_range(text: str) -> tuple:
    low, high = (float(v) for v in text.split(","))
    return low, high


def _budgets(text: str) -> list:
    try:
        return [int(b) for b in text.split(",") if b]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of whole epochs, e.g. 4,8,16") from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", type=Path, required=True, help="the study directory (runs, optuna.db, report/)")
    p.add_argument("--schedules", required=True, help="comma-separated schedules, e.g. cosine,step,plateau,constant")
    p.add_argument("--experiment", default="digits", help="base experiment (conf/experiment/); <experiment>_<schedule> is used when it exists")
    p.add_argument("--trials", type=int, default=6, help="LR-search trials per schedule, the same for every schedule (default 6)")
    p.add_argument("--seeds", type=int, default=5, help="seeds per schedule at its tuned LR (default 5)")
    p.add_argument("--lr-range", type=_lr_range, default=(0.005, 1.0), help="LR search range, log scale (default 0.005,1.0)")
    p.add_argument("--val-split", type=float, default=0.2, help="share (or number) of training images held out to tune on (default 0.2)")
    p.add_argument("--objective", default="final_acc1", help="validation score to maximise: final_acc1 (default) or best_acc1")
    p.add_argument("--storage", default=None, help="Optuna storage URL (default sqlite:///<dir>/optuna.db; postgresql://... to share)")
    p.add_argument("--report", type=Path, default=None, help="where the report goes (default <dir>/report; e.g. results/study)")
    p.add_argument("--check-against", type=Path, default=None, metavar="REPORT_DIR",
                   help="after the study, check that it reproduces that report (e.g. results/study): the same verdict and "
                        "each schedule's mean inside its prediction interval; exit 1 if not")
    p.add_argument("--workloads", default=None, help="comma-separated conf/workload/ names: a study over workloads (S studies each)")
    p.add_argument("--studies", type=int, default=3, help="with --workloads: independent studies (search seeds) per workload (default 3)")
    p.add_argument("--budgets", type=_budgets, default=[], help="with --workloads: epochs, e.g. 4,8,16: every schedule tuned at each")
    p.add_argument("--baseline", default="cosine", help="with --workloads: the schedule speedups are against (default cosine)")
    p.add_argument("--parallel", type=int, default=1,
                   help="multiruns (schedules' and workloads' phases) at once (default 1); more where the launcher has room "
                        "for more jobs than one multirun gives it, e.g. hydra/launcher=slurm")
    p.add_argument("overrides", nargs="*", help="Hydra overrides for every run, e.g. trainer.max_epochs=10 hydra/launcher=parallel")
    return p


def main(argv: Optional[list] = None) -> int:
    args = parser().parse_args(argv)
    val_split = int(args.val_split) if args.val_split >= 1 else args.val_split
    spec = StudySpec(study_dir=args.dir, schedules=[s for s in args.schedules.split(",") if s], experiment=args.experiment,
                     trials=args.trials, seeds=args.seeds, lr_low=args.lr_range[0], lr_high=args.lr_range[1],
                     val_split=val_split, objective=args.objective, overrides=list(args.overrides), storage=args.storage,
                     report_dir=args.report)
    suite = None if args.workloads is None else SuiteSpec(
        study_dir=args.dir, workloads=[w for w in args.workloads.split(",") if w], schedules=spec.schedules,
        studies=args.studies, trials=args.trials, seeds=args.seeds, lr_low=spec.lr_low, lr_high=spec.lr_high,
        val_split=val_split, objective=args.objective, baseline=args.baseline, budgets=args.budgets,
        overrides=spec.overrides, storage=args.storage, report_dir=args.report)
    try:
        report = (run_study(spec, parallel=args.parallel) if suite is None else run_suite(suite, parallel=args.parallel))
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except StudyRunError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.check_against is not None:
        problems = check_reproduction(json.loads((args.check_against / "reproduction.json").read_text()),
                                      json.loads((report.parent / "reproduction.json").read_text()))
        print(f"reproduces {args.check_against}" if not problems else
              f"does NOT reproduce {args.check_against}: " + "; ".join(problems))
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
