"""Build a learning-rate schedule from its Hydra config, converting epoch lengths to optimizer steps.

A scheduler config (conf/scheduler/<name>.yaml) has:
  interval: step | epoch   when the schedule advances: after every optimizer step, or every epoch
  monitor:  null | <metric> ReduceLROnPlateau-style schedules step on this validation metric
  lr_scheduler:            the schedule itself, a `_target_` node (nested nodes for compositions)

Lengths in `lr_scheduler` (see EPOCH_LENGTH_ARGS) are in epochs; the factory multiplies them by the
number of optimizer steps per epoch when the schedule runs per step, so a config means the same
curve whatever the batch size or dataset size.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from hydra.utils import instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf

# Arguments of OneFlow's schedulers that are lengths (in epochs in our configs).
EPOCH_LENGTH_ARGS = frozenset({"T_max", "T_0", "step_size", "milestones", "total_iters", "decay_batch", "decay_steps", "warmup_iters"})
INTERVALS = ("step", "epoch")


class ScheduleConfigError(ValueError):
    """A scheduler config that cannot describe a valid schedule for this run."""


@dataclass
class LRSchedule:
    """A built schedule plus when to step it; the training loop only calls the two hooks."""

    name: str
    scheduler: Any
    interval: str
    monitor: Optional[str] = None

    def after_optimizer_step(self) -> None:
        if self.interval == "step" and self.monitor is None:
            self.scheduler.step()

    def after_epoch(self, metrics: Mapping[str, float]) -> None:
        if self.monitor is not None:
            self.scheduler.step(metrics[self.monitor])
        elif self.interval == "epoch":
            self.scheduler.step()


def _to_steps(field: str, value: Any, steps_per_unit: int, path: str) -> Any:
    if isinstance(value, (list, tuple, ListConfig)):
        return [_to_steps(field, v, steps_per_unit, path) for v in value]
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        raise ScheduleConfigError(
            f"scheduler.{path}.{field} = {value!r} is not a valid length: lengths are positive numbers of epochs."
        )
    steps = value * steps_per_unit
    if abs(steps - round(steps)) > 1e-9 and steps_per_unit == 1:
        raise ScheduleConfigError(
            f"scheduler.{path}.{field} = {value!r} epochs is fractional, but the schedule steps once per epoch "
            f"(interval: epoch); use a whole number of epochs or interval: step."
        )
    return max(1, int(round(steps)))


def _build(node: DictConfig, optimizer: Any, steps_per_unit: int, path: str) -> Any:
    kwargs: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("_target_", "_partial_"):
            continue
        if isinstance(value, DictConfig) and "_target_" in value:
            kwargs[key] = _build(value, optimizer, steps_per_unit, f"{path}.{key}")
        elif isinstance(value, ListConfig) and len(value) and all(isinstance(v, DictConfig) and "_target_" in v for v in value):
            kwargs[key] = [_build(v, optimizer, steps_per_unit, f"{path}.{key}[{i}]") for i, v in enumerate(value)]
        elif key in EPOCH_LENGTH_ARGS:
            kwargs[key] = _to_steps(key, value, steps_per_unit, path)
        else:
            kwargs[key] = OmegaConf.to_object(value) if isinstance(value, (DictConfig, ListConfig)) else value
    target = OmegaConf.create({"_target_": node._target_})
    return instantiate(target, optimizer, **kwargs)


def build_lr_schedule(cfg: DictConfig, optimizer: Any, steps_per_epoch: int) -> LRSchedule:
    """Build `cfg` (a conf/scheduler node) for `optimizer`, with `steps_per_epoch` optimizer steps per epoch."""
    interval = cfg.get("interval", "step")
    if interval not in INTERVALS:
        raise ScheduleConfigError(f"scheduler.interval = {interval!r} is not valid; use one of {INTERVALS}.")
    if steps_per_epoch < 1:
        raise ScheduleConfigError(f"steps_per_epoch = {steps_per_epoch} must be at least 1.")
    steps_per_unit = steps_per_epoch if interval == "step" else 1
    scheduler = _build(cfg.lr_scheduler, optimizer, steps_per_unit, "lr_scheduler")
    return LRSchedule(name=cfg.get("name", "custom"), scheduler=scheduler, interval=interval, monitor=cfg.get("monitor"))
