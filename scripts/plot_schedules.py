"""Preview learning-rate schedules before training: PNG, CSV (step,epoch,lr) and JSON per schedule.

    python scripts/plot_schedules.py scheduler=onecycle trainer.max_epochs=100 data.batch_size=256
    python scripts/plot_schedules.py --all                       # every conf/scheduler/*.yaml + overview.png
    python scripts/plot_schedules.py scheduler=plateau --val-curve-from runs/2026-01-01/12-00-00

Takes the same overrides as train.py, composes the same Hydra config and builds the schedule through
the same factory (schedulers.preview.lr_curve), without loading data or a model. With --all, a
schedule this run cannot hold (e.g. multistep's milestones in a 30-epoch run) is listed with its reason
and the others are rendered: the exit code is 0 when any rendered, 2 when none could.
"""
import engine.platform.oneflow_env  # noqa: F401  (before oneflow: loads the CUDA libraries it links against)

import argparse
import sys
from pathlib import Path

from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from common.files import atomic_write_text
from engine.config.compose import CONF, compose_config
from engine.platform.errors import UserError, fail, paragraph, user_errors
from engine.training.schedule_preview import preview
from schedulers.preview import constant_lr_warning, plot_curve, plot_overview

ROOT = Path(__file__).resolve().parents[1]


def render(cfg: DictConfig, out: Path, val_curve_from: Path = None) -> tuple:
    """Write <name>.png/.csv/.json for the schedule of `cfg`; return (curve, steps_per_epoch)."""
    shown = preview(cfg, val_curve_from)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / f"{shown.name}.csv", shown.csv_text)
    atomic_write_text(out / f"{shown.name}.json", shown.json_text)
    plot_curve(shown.curve, shown.steps_per_epoch, shown.title, out / f"{shown.name}.png", val_curve=shown.val_curve,
               val_label=shown.monitor or "")
    curve = shown.curve
    peak_step, _, peak = max(curve, key=lambda point: point[2])  # the first step at the peak: a warmup's end
    print(f"{shown.name}: {len(curve)} steps, lr first {curve[0][2]:.4g}, peak {peak:.4g} (step {peak_step}), "
          f"last {curve[-1][2]:.4g}  ({out / shown.name}.png/.csv/.json)")
    return curve, shown.steps_per_epoch


def main(argv: list = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, as for train.py (e.g. scheduler=cosine)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "schedules", help="output folder")
    parser.add_argument("--all", action="store_true", help="every conf/scheduler/*.yaml, plus overview.png")
    parser.add_argument("--val-curve-from", type=Path, default=None, metavar="RUN_DIR",
                        help="plateau schedules replay the monitored metric logged in this run directory")
    args = parser.parse_args(argv)

    if args.all and any(o.lstrip("+~").startswith("scheduler=") for o in args.overrides):
        fail("--all renders every schedule in conf/scheduler/; drop the scheduler=... override (or drop --all).")
    names = sorted(p.stem for p in (CONF / "scheduler").glob("*.yaml")) if args.all else [None]
    curves, refused = {}, {}
    with user_errors():
        for name in names:
            cfg = compose_config(*args.overrides, *([f"scheduler={name}"] if name else []))  # ConfigError: one paragraph
            try:
                curves[cfg.scheduler.get("name") or name] = render(cfg, args.out, args.val_curve_from)
                constant = constant_lr_warning(cfg, curves[cfg.scheduler.get("name") or name][1])
                if constant:
                    print(paragraph(constant, prefix="warning: "), file=sys.stderr)
            except OmegaConfBaseException as error:  # e.g. an interpolation to a missing key
                fail(f"the config cannot be resolved: {error}")
            except UserError as error:  # --all: a preset this run cannot hold (multistep's epoch-160 milestone in 30 epochs)
                if not args.all:
                    raise
                refused[name] = str(error)
                print(paragraph(str(error), prefix=f"refused: {name}: "), file=sys.stderr)
        if args.all:
            report_refused(curves, refused, args.out / "overview.png")


def report_refused(curves: dict, refused: dict, overview: Path) -> None:
    """--all: the overview of what rendered, and the refused schedules listed; exit 2 only when none rendered."""
    if not curves:
        fail(f"no schedule could be rendered with these overrides; each was refused ({len(refused)} reasons above), "
             f"e.g. {next(iter(refused))}: {next(iter(refused.values()))}")
    plot_overview(curves, overview)
    print(f"overview: {overview}")
    if refused:
        print(f"rendered {len(curves)} of {len(curves) + len(refused)} schedules; refused (reasons above): "
              f"{', '.join(refused)}", file=sys.stderr)


if __name__ == "__main__":
    main()
