"""A schedule's preview as files (scripts/plot_schedules.py): <name>.png/.csv/.json per schedule, and with every
conf/scheduler/*.yaml an overview.png, a schedule this run cannot hold listed with its reason."""
import engine.platform.oneflow_env  # noqa: F401  (before oneflow: loads the CUDA libraries it links against)

import sys
from pathlib import Path
from typing import Optional, Sequence

from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from common.files import atomic_write_text
from engine.config.compose import CONF, compose_config
from engine.platform.errors import UserError, fail, paragraph, user_errors
from engine.training.schedule_preview import preview
from schedulers.preview import constant_lr_warning, plot_curve, plot_overview


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

def render_schedules(overrides: Sequence[str], out: Path, every: bool = False, val_curve_from: Optional[Path] = None) -> None:
    """Render the schedule of `overrides` (every: each conf/scheduler/*.yaml with them, plus overview.png) into `out`;
    a config that cannot work is one paragraph and exit 2 (with every: only when no schedule renders)."""
    if every and any(o.lstrip("+~").startswith("scheduler=") for o in overrides):
        fail("--all renders every schedule in conf/scheduler/; drop the scheduler=... override (or drop --all).")
    names = sorted(p.stem for p in (CONF / "scheduler").glob("*.yaml")) if every else [None]
    curves, refused = {}, {}
    with user_errors():
        for name in names:
            cfg = compose_config(*overrides, *([f"scheduler={name}"] if name else []))  # ConfigError: one paragraph
            try:
                curves[cfg.scheduler.get("name") or name] = render(cfg, out, val_curve_from)
                constant = constant_lr_warning(cfg, curves[cfg.scheduler.get("name") or name][1])
                if constant:
                    print(paragraph(constant, prefix="warning: "), file=sys.stderr)
            except OmegaConfBaseException as error:  # e.g. an interpolation to a missing key
                fail(f"the config cannot be resolved: {error}")
            except UserError as error:  # --all: a preset this run cannot hold (multistep's epoch-160 milestone in 30 epochs)
                if not every:
                    raise
                refused[name] = str(error)
                print(paragraph(str(error), prefix=f"refused: {name}: "), file=sys.stderr)
        if every:
            report_refused(curves, refused, out / "overview.png")


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
