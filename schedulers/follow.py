"""Drive another framework's optimizer (PyTorch's, `backend=torch`) with the project's OneFlow schedules, exactly.

The schedules are OneFlow's classes (and the project's fixes and additions to them), built by the one factory
from conf/scheduler and schedulers/spec.py. A torch optimizer gets a *shadow*: a OneFlow optimizer with one
placeholder parameter per param group of the torch optimizer, the same LRs, and nothing else. The schedule is
built on the shadow, exactly as for a OneFlow run; after the schedule sets an LR (at construction, after every
step, after a checkpoint is loaded) `FollowedOptimizer.sync` copies each group's LR into the torch optimizer. So
the LR of every optimizer step is computed by the same code on both backends: identical, not merely close
(tests/schedulers/test_schedules_torch.py checks every conf/scheduler file). Plateau schedules read the metric
the loop passes them, the same on both.
"""
from __future__ import annotations

from typing import Any

import oneflow as flow


class FollowedOptimizer:
    """A OneFlow shadow of `follower`'s param groups: schedules step the shadow, `sync` copies its LRs over."""

    def __init__(self, follower: Any) -> None:
        self.follower = follower
        groups = [{"params": [flow.nn.Parameter(flow.zeros(1))], "lr": float(group["lr"])}
                  for group in follower.param_groups]
        self.shadow = flow.optim.SGD(groups, lr=groups[0]["lr"])

    def sync(self) -> None:
        """Each follower group's LR := the shadow's (Python floats, as the schedule computed them)."""
        for shadow_group, group in zip(self.shadow.param_groups, self.follower.param_groups):
            group["lr"] = shadow_group["lr"]
