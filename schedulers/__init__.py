"""Learning-rate schedules: OneFlow's own classes, built from Hydra configs by one factory."""
from schedulers.factory import LRSchedule, ScheduleConfigError, build_lr_schedule

__all__ = ["LRSchedule", "ScheduleConfigError", "build_lr_schedule"]
