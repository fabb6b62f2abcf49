"""Learning-rate schedules built from Hydra configs by one factory, in optimizer steps.

spec: one ScheduleSpec per schedule class (units, closed form, graph support, explorer fields): the only table
factory: build_lr_schedule / LRSchedule (units, cadence, config-time checks, state, describe)
graph_rules: what nn.Graph runs exactly, from the specs
extra: what OneFlow 0.9 lacks (OneCycleLR, CyclicLR, Noam, WarmupPlateau)
oneflow_fixes: OneFlow classes whose formula deviates from their documentation, fixed
preview: LR curves without training (scripts/plot_schedules.py)
"""
from schedulers.factory import LRSchedule, ScheduleConfigError, build_lr_schedule

__all__ = ["LRSchedule", "ScheduleConfigError", "build_lr_schedule"]
