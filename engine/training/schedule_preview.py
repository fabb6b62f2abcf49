"""A run's planned schedule without data or a model: its LR per optimizer step and the resolved schedule.

The one preview behind scripts/plot_schedules.py, the explorer and its browser test: steps per epoch come from
the run builder (engine.training.run.steps_per_epoch), the curve from the schedule factory.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Optional

import numpy as np
from omegaconf import DictConfig, OmegaConf

from common.files import json_text
from engine.training.run import steps_per_epoch
from engine.run_dir.events import EVENT_FILES, has_events, last_per_step, read_scalars
from schedulers.factory import ScheduleConfigError
from schedulers.preview import build_preview_schedule, example_val_curve, schedule_lrs


@dataclass
class SchedulePreview:
    """One schedule's preview: its curve and the resolved schedule, as the files below hold them."""

    name: str
    lrs: np.ndarray  # the LR of every optimizer step (float64)
    steps_per_epoch: int
    monitor: Optional[str]
    val_curve: Optional[list]  # the replayed metric of a plateau schedule
    resolved: dict  # <name>.json

    @cached_property
    def curve(self) -> list:
        """(step, epoch, lr) per optimizer step, `epoch` 0-based: built when asked (the explorer draws from `lrs`)."""
        return [(step, step // self.steps_per_epoch, lr) for step, lr in enumerate(self.lrs.tolist())]

    @property
    def csv_text(self) -> str:
        """<name>.csv: step,epoch,lr with the LR's exact repr."""
        return "step,epoch,lr\n" + "".join(f"{s},{e},{lr!r}\n" for s, e, lr in self.curve)

    @property
    def json_text(self) -> str:
        return json_text(self.resolved)

    @property
    def title(self) -> str:
        return f"{self.name}: {len(self.lrs) // self.steps_per_epoch} epochs x {self.steps_per_epoch} steps, " \
               f"lr {self.resolved['run']['base_lr']}"


def read_val_curve(run_dir: Path, metric: str) -> list[float]:
    """The per-epoch values of `metric` that a run logged to TensorBoard, in epoch order (a plateau preview replays them)."""
    run_dir = Path(run_dir)
    if not has_events(run_dir):
        raise ScheduleConfigError(f"--val-curve-from {run_dir}: no TensorBoard event files ({EVENT_FILES}) "
                                  f"there; give a run directory such as runs/<date>/<time>.")
    scalars = read_scalars(run_dir)
    if metric not in scalars:
        raise ScheduleConfigError(f"--val-curve-from {run_dir}: the run logged no {metric!r} scalars (it has "
                                  f"{sorted(scalars)}); plateau previews replay the schedule's monitor metric.")
    by_step = last_per_step(scalars[metric])  # a resumed run may repeat steps
    return [by_step[step] for step in sorted(by_step)]


def preview(cfg: DictConfig, val_curve_from: Optional[Path] = None) -> SchedulePreview:
    """The curve and resolved schedule of `cfg`, stepped as train.py steps it (nothing written)."""
    name = cfg.scheduler.get("name") or "custom"
    spe = steps_per_epoch(cfg)  # the run builder's count: validation split held out, graph mode's dropped batch
    monitor = cfg.scheduler.get("monitor")
    val_curve, val_source = None, None
    if monitor:
        if val_curve_from is not None:
            val_curve, val_source = read_val_curve(val_curve_from, monitor), str(val_curve_from)
        else:
            val_curve, val_source = example_val_curve(monitor, cfg.trainer.max_epochs), "built-in example"
    schedule = build_preview_schedule(cfg, spe)
    resolved = schedule.describe()  # before stepping it (a plateau's state changes)
    lrs = schedule_lrs(schedule, spe, cfg.trainer.max_epochs, val_curve)
    resolved["run"] = {"max_epochs": cfg.trainer.max_epochs, "steps_per_epoch": spe, "total_steps": len(lrs),
                       "base_lr": cfg.optimizer.lr, "batch_size": cfg.data.batch_size, "train_size": cfg.data.train_size}
    if monitor:
        resolved["run"]["val_curve"] = {"metric": monitor, "source": val_source, "values": list(val_curve)}
    resolved["config"] = OmegaConf.to_container(cfg.scheduler, resolve=True)
    return SchedulePreview(name, lrs, spe, monitor, val_curve, resolved)
