"""Learning-rate schedules built from Hydra configs by one factory, in optimizer steps.

spec: one ScheduleSpec per schedule class (units, closed form, graph support, explorer fields): the only table
factory: build_lr_schedule / LRSchedule (units, cadence, config-time checks, state, describe)
graph_rules: what nn.Graph runs exactly, from the specs
extra: what OneFlow 0.9 lacks (OneCycleLR, CyclicLR, Noam, WarmupPlateau)
oneflow_fixes: OneFlow classes whose formula deviates from their documentation, fixed
preview: LR curves without training (scripts/plot_schedules.py)
fields: the top-level keys of a scheduler node (framework-free: the config schema imports them before OneFlow)
follow: a torch optimizer's LR driven by these OneFlow schedules (backend=torch)
"""
from typing import Any

__all__ = ["LRSchedule", "ScheduleConfigError", "build_lr_schedule"]


def __getattr__(name: str) -> Any:
    """The factory's names, imported on first use: `import schedulers.fields` must not import OneFlow."""
    if name in __all__:
        from schedulers import factory

        return getattr(factory, name)
    raise AttributeError(f"module 'schedulers' has no attribute {name!r}")
