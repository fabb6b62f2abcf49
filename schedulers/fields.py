"""The top-level keys of a conf/scheduler node and the explorer's value kinds: framework-free, so that the config
schema (engine/config/schema.py) checks a config before OneFlow or torch is imported. schedulers.spec re-exports them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

INTERVALS = ("step", "epoch")
# Metrics the training loop passes to after_epoch, and which direction is better.
METRIC_MODES = {"val/loss": "min", "val/acc1": "max", "val/acc5": "max", "train/loss_epoch": "min", "train/acc1": "max"}


@dataclass(frozen=True)
class Arg:
    """How the explorer edits one value: a choice among `choices`, else a number in [low, high] (None: unbounded).
    The bounds are the widget's (inclusive); the factory and the class have the last word."""

    choices: tuple = ()
    low: Optional[float] = None
    high: Optional[float] = None


def choice(*values: Any) -> Arg:
    return Arg(choices=values)


FREE = Arg()
FRACTION = Arg(low=0.0, high=1.0)
NON_NEGATIVE = Arg(low=0.0)
POSITIVE = Arg(low=0.0)  # a widget's minimum is inclusive: the class itself refuses 0
AT_LEAST_ONE = Arg(low=1)

# The top-level keys of a conf/scheduler node (all that schedulers.factory reads), and how the explorer edits them.
SCHEDULER_FIELDS: dict[str, Arg] = {"name": FREE, "interval": choice(*INTERVALS),
                                    "monitor": choice(None, *sorted(METRIC_MODES)), "lr_scheduler": FREE}
SCHEDULER_KEYS = tuple(SCHEDULER_FIELDS)
