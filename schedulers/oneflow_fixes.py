"""OneFlow 0.9 schedulers that deviate from their documented formula, fixed in small subclasses.

Each subclass changes only `get_lr`; state_dict and arguments are OneFlow's. `graph_matches_eager`
says whether nn.Graph (which compiles OneFlow's own C++ version from `_generate_conf_for_graph`)
computes the same curve, i.e. whether the fix changes anything for these arguments.
Deviations kept as OneFlow computes them (SequentialLR, ChainedScheduler) are documented in the
README and pinned by tests/schedulers/test_schedulers_oneflow.py.
"""
from __future__ import annotations

import math

from oneflow.optim import lr_scheduler


class PolynomialLR(lr_scheduler.PolynomialLR):
    """OneFlow's PolynomialLR with `cycle=True` replaces step 0 by step 1 in the numerator too, so the
    schedule never starts at the base LR: (1 - 1/decay_batch)^power instead of 1. TensorFlow's
    polynomial_decay (which this class copies) only keeps the *multiplier* ceil(step/decay_batch) at
    least 1. Here: multiplier = max(1, ceil(step / decay_batch)); everything else unchanged."""

    @property
    def graph_matches_eager(self) -> bool:
        return not self.cycle

    def get_lr(self, base_lr: float, step: int) -> float:
        if not self.cycle:
            return super().get_lr(base_lr, step)
        decay_batch = self.max_decay_steps * max(1, math.ceil(step / self.max_decay_steps))
        factor = (1 - step / decay_batch) ** self.power
        return (base_lr - self.end_learning_rate) * factor + self.end_learning_rate


class CosineAnnealingWarmRestarts(lr_scheduler.CosineAnnealingWarmRestarts):
    """OneFlow finds the cycle of a step with floor(log(1 + step*(T_mult-1)/T_0, T_mult)) in floating
    point, which rounds down exactly at some restarts (T_mult=3: log(243, 3) = 4.999...), so the LR
    drops to eta_min for one step where SGDR restarts it at the peak. Here the cycle is found with
    integer arithmetic (a loop over at most ~log(step) cycles)."""

    @property
    def graph_matches_eager(self) -> bool:
        return self.T_mult == 1

    def get_lr(self, base_lr: float, step: int) -> float:
        cycle, cycle_start, cycle_length = 0, 0, self.T_0
        if self.T_mult == 1:
            cycle, cycle_start = step // self.T_0, (step // self.T_0) * self.T_0
        else:
            while step >= cycle_start + cycle_length:
                cycle_start += cycle_length
                cycle_length *= self.T_mult
                cycle += 1
        if self.restart_limit > 0 and cycle >= self.restart_limit:
            return self.eta_min
        peak = base_lr * self.decay_rate ** cycle
        return self.eta_min + (peak - self.eta_min) * 0.5 * (1 + math.cos(math.pi * (step - cycle_start) / cycle_length))
