"""Schedules OneFlow 0.9 lacks, in OneFlow's own style: closed-form `get_lr(base_lr, step)`.

The optimizer's `lr` is always the *peak* LR; factors below are relative to it. Lengths arrive here
in scheduler steps (the factory has converted the epochs of the YAML); `get_lr` is plain arithmetic.

- OneCycleLR: super-convergence (Smith & Topin 2018), PyTorch's phase boundaries, cos/linear
  annealing, optional three-phase variant. LR only: momentum is not cycled.
- CyclicLR: cyclical learning rates (Smith 2017) triangular / triangular2 / exp_range.
- Noam: the Transformer warmup-then-inverse-sqrt factor, a picklable callable for LambdaLR.
- WarmupPlateau: a warmup scheduler followed by ReduceLROnPlateau (OneFlow's WarmupLR only wraps
  closed-form schedulers, and ReduceLROnPlateau is not one).
- WSD: warmup-stable-decay (MiniCPM; Hägele et al. 2024), a cooldown of shape linear, cosine or
  1-sqrt over the last `decay_fraction` of the run.
"""
from __future__ import annotations

import math
from typing import Any, Optional

from oneflow.nn.optimizer.lr_scheduler import LRScheduler
from oneflow.optim import Optimizer
from oneflow.optim.lr_scheduler import ReduceLROnPlateau


class OneCycleLR(LRScheduler):
    """Rise from lr/div_factor to lr over pct_start of `total_iters`, then anneal to
    lr/(div_factor*final_div_factor). With three_phase: rise, fall back to lr/div_factor over the
    same length, then anneal to the minimum. The peak is reached at step pct_start*total_iters and
    the minimum at total_iters (as OneFlow's schedules reach their end value at total_iters), so a
    per-step and a per-epoch curve agree at epoch boundaries; PyTorch's OneCycleLR ends each phase
    one step earlier. Steps past the end hold the minimum."""

    def __init__(self, optimizer: Optimizer, total_iters: int, pct_start: float = 0.3, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, anneal_strategy: str = "cos", three_phase: bool = False,
                 last_step: int = -1, verbose: bool = False):
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        if not 0 < pct_start < (0.5 if three_phase else 1):
            raise ValueError(f"pct_start must lie in (0, {0.5 if three_phase else 1}), got {pct_start}")
        if div_factor <= 0 or final_div_factor <= 0:
            raise ValueError("div_factor and final_div_factor must be positive")
        rise_end = pct_start * total_iters
        ends = [rise_end, 2 * rise_end, total_iters] if three_phase else [rise_end, total_iters]
        if rise_end < 1 or any(b - a < 1 for a, b in zip(ends, ends[1:])):
            raise ValueError(f"total_iters={total_iters} steps with pct_start={pct_start} leaves a phase shorter than one step")
        self.total_iters, self.pct_start = total_iters, pct_start
        self.div_factor, self.final_div_factor = div_factor, final_div_factor
        self.anneal_strategy, self.three_phase = anneal_strategy, three_phase
        self.phase_ends = ends
        super().__init__(optimizer, last_step, verbose)

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self, base_lr: float, step: int) -> float:
        initial = base_lr / self.div_factor
        minimum = initial / self.final_div_factor
        levels = [initial, base_lr, initial, minimum] if self.three_phase else [initial, base_lr, minimum]
        start = 0.0
        for i, end in enumerate(self.phase_ends):
            if step <= end or i == len(self.phase_ends) - 1:
                return self._anneal(levels[i], levels[i + 1], min(1.0, (step - start) / (end - start)))
            start = end
        raise AssertionError("unreachable")


class CyclicLR(LRScheduler):
    """Triangular cycles between min_factor*lr and lr (Smith 2017, PyTorch's formula): each cycle
    rises over step_size_up and falls over step_size_down (default: the same). triangular2 halves the
    amplitude every cycle; exp_range scales it by gamma per scheduler step (the factory converts a
    per-epoch gamma)."""

    MODES = ("triangular", "triangular2", "exp_range")

    def __init__(self, optimizer: Optimizer, step_size_up: int, step_size_down: Optional[int] = None,
                 mode: str = "triangular", gamma: float = 1.0, min_factor: float = 0.1,
                 last_step: int = -1, verbose: bool = False):
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {self.MODES}, got {mode!r}")
        if not 0 <= min_factor < 1:
            raise ValueError(f"min_factor must lie in [0, 1), got {min_factor}")
        if not 0 < gamma <= 1:
            raise ValueError(f"gamma must lie in (0, 1], got {gamma}")
        self.step_size_up = step_size_up
        self.step_size_down = step_size_up if step_size_down is None else step_size_down
        self.mode, self.gamma, self.min_factor = mode, gamma, min_factor
        super().__init__(optimizer, last_step, verbose)

    def get_lr(self, base_lr: float, step: int) -> float:
        total = self.step_size_up + self.step_size_down
        up_ratio = self.step_size_up / total
        cycle = math.floor(1 + step / total)
        x = 1.0 + step / total - cycle
        scale = x / up_ratio if x <= up_ratio else (x - 1) / (up_ratio - 1)
        if self.mode == "triangular2":
            scale *= 1 / (2.0 ** (cycle - 1))
        elif self.mode == "exp_range":
            scale *= self.gamma ** step
        low = base_lr * self.min_factor
        return low + (base_lr - low) * scale


class Noam:
    """`factor * d_model^-0.5 * min(step^-0.5, step * warmup_iters^-1.5)` (Vaswani et al. 2017), step clamped to >= 1.
    factor=None picks sqrt(d_model * warmup_iters), so the factor peaks at exactly 1 at the end of
    warmup and the optimizer's lr is the peak LR. Step 0 is computed as step 1, as the PyTorch recipes do
    (the Annotated Transformer's `rate`: `if step == 0: step = 1`): the formula's own 0 would make the first
    optimizer step a no-op (and with interval: epoch, the whole first epoch). The factor at step 0 is thus
    1/warmup_iters in scheduler steps: 1/1955 of the LR per optimizer step, 1/5 per epoch for the preset.
    A class, not a lambda, so LambdaLR's state_dict saves it."""

    def __init__(self, d_model: int, warmup_iters: int, factor: Optional[float] = None):
        if d_model <= 0:
            raise ValueError(f"d_model must be positive, got {d_model}")
        self.d_model, self.warmup_iters = d_model, warmup_iters
        self.factor = math.sqrt(d_model * warmup_iters) if factor is None else factor

    def __call__(self, step: int) -> float:
        step = max(step, 1)
        return self.factor * self.d_model ** -0.5 * min(step ** -0.5, step * self.warmup_iters ** -1.5)


class WarmupPlateau:
    """Run `warmup` (any closed-form LRScheduler) for warmup_iters scheduler steps, then hand the LR
    to `plateau` (a ReduceLROnPlateau). `step()` advances the warmup clock (a no-op once warmup is
    over); `step(metric)` feeds a validation metric to the plateau scheduler, ignored while warming
    up so that warmup epochs neither set the best value nor count as bad epochs."""

    def __init__(self, optimizer: Optimizer, warmup: LRScheduler, plateau: ReduceLROnPlateau, warmup_iters: int):
        if not isinstance(warmup, LRScheduler):
            raise TypeError(f"warmup must be a closed-form LRScheduler, got {type(warmup).__name__}")
        if not isinstance(plateau, ReduceLROnPlateau):
            raise TypeError(f"plateau must be a ReduceLROnPlateau, got {type(plateau).__name__}")
        if warmup.optimizer is not optimizer or plateau.optimizer is not optimizer:
            raise ValueError("warmup and plateau must wrap the same optimizer")
        self.optimizer, self.warmup, self.plateau, self.warmup_iters = optimizer, warmup, plateau, warmup_iters

    @property
    def warming_up(self) -> bool:
        return self.warmup.last_step < self.warmup_iters

    def step(self, metrics: Any = None) -> None:
        if metrics is None:
            if self.warming_up:
                self.warmup.step()
        elif not self.warming_up:
            self.plateau.step(metrics)

    def get_last_lr(self) -> list:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        return {"warmup_iters": self.warmup_iters, "warmup": self.warmup.state_dict(), "plateau": self.plateau.state_dict()}

    def load_state_dict(self, state_dict: dict) -> None:
        self.warmup_iters = state_dict["warmup_iters"]
        self.warmup.load_state_dict(dict(state_dict["warmup"]))
        self.plateau.load_state_dict(dict(state_dict["plateau"]))


class WSD(LRScheduler):
    """Warmup-stable-decay: a linear warmup from warmup_factor*lr to lr over `warmup_iters`, the
    constant lr, then a cooldown to min_factor*lr over the last `decay_fraction` of `total_iters`
    (Hägele et al. 2024, "Scaling Laws and Compute-Optimal Training Beyond Fixed Training
    Durations"). A warmup from warmup_factor=0 computes step 0 as step 1, as Noam does: its formula's 0 would
    make the first optimizer step (with interval: epoch, the whole first epoch) train at LR 0. With p the
    cooldown's progress (0 at its first step, 1 at total_iters) the factor is
    linear: 1 - p; cosine: (1 + cos(pi p)) / 2; 1-sqrt: 1 - sqrt(p) (the paper's best shape).
    The cooldown starts at step total_iters - round(decay_fraction * total_iters), so every run of the
    same warmup and LR shares one stable phase whatever its length: a cooldown branch forked from it
    (train.py fork=<run dir>) trains exactly what a separate run of that length would. Steps past
    total_iters hold the minimum."""

    SHAPES = ("linear", "cosine", "1-sqrt")

    def __init__(self, optimizer: Optimizer, total_iters: int, decay_fraction: float = 0.2, decay_shape: str = "1-sqrt",
                 warmup_iters: int = 0, warmup_factor: float = 0.0, min_factor: float = 0.0,
                 last_step: int = -1, verbose: bool = False):
        if decay_shape not in self.SHAPES:
            raise ValueError(f"decay_shape must be one of {self.SHAPES}, got {decay_shape!r}")
        if not 0 < decay_fraction <= 1:
            raise ValueError(f"decay_fraction must lie in (0, 1] (a fraction of the run), got {decay_fraction}")
        if not 0 <= warmup_factor <= 1 or not 0 <= min_factor < 1:
            raise ValueError(f"warmup_factor must lie in [0, 1] and min_factor in [0, 1), got {warmup_factor}, {min_factor}")
        decay_iters = max(1, round(decay_fraction * total_iters))
        if warmup_iters + decay_iters > total_iters:
            raise ValueError(f"warmup ({warmup_iters} steps) and cooldown ({decay_iters} steps, decay_fraction="
                             f"{decay_fraction}) do not fit in the run's {total_iters} steps")
        self.total_iters, self.decay_fraction, self.decay_shape = total_iters, decay_fraction, decay_shape
        self.warmup_iters, self.warmup_factor, self.min_factor = warmup_iters, warmup_factor, min_factor
        self.decay_start = total_iters - decay_iters
        super().__init__(optimizer, last_step, verbose)

    def factor(self, step: int) -> float:
        if step < self.warmup_iters:  # a warmup from 0 computes step 0 as step 1 (as Noam does): never a step at LR 0
            step = max(step, 1) if self.warmup_factor == 0 else step
            return self.warmup_factor + (1 - self.warmup_factor) * step / self.warmup_iters
        if step < self.decay_start:
            return 1.0
        progress = min(1.0, (step - self.decay_start) / (self.total_iters - self.decay_start))
        shape = {"linear": 1 - progress, "cosine": 0.5 * (1 + math.cos(math.pi * progress)),
                 "1-sqrt": 1 - math.sqrt(progress)}[self.decay_shape]
        return self.min_factor + (1 - self.min_factor) * shape

    def get_lr(self, base_lr: float, step: int) -> float:
        return base_lr * self.factor(step)
