"""Closed forms over every step at once: `lrs(scheduler, base_lr, steps)` equal, bit for bit, to
`[scheduler.get_lr(base_lr, s) for s in steps]`, at a fraction of the cost (the explorer redraws six curves of
78,200 steps after every run-length edit; one Python get_lr call per step took most of that).

Why they are exact, not close: each form repeats its get_lr's operations in the same order. numpy's +, -, *, / on
float64 round like Python's floats (IEEE 754, one rounding per operation), and an int converts exactly; powers,
cosines and square roots go through Python itself (`each`), because numpy's own may differ from libm's in the last
bit (its float64 power does, on AVX-512). Branches become masks, so a branch is computed only on the steps that take
it. tests/schedulers/test_array_forms.py compares every form with get_lr at every step, over many arguments.

A class without a form here (LambdaLR, or a new spec) is evaluated step by step, as before: a form is a speed-up,
never a requirement.
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np
from oneflow.optim import lr_scheduler as oneflow_schedulers

from schedulers import extra, oneflow_fixes

Form = Callable[[object, float, np.ndarray], np.ndarray]


def each(function: Callable[[float], float], values: np.ndarray) -> np.ndarray:
    """`function` applied by Python to every value (math.cos, a power): libm's result, as get_lr gets it."""
    return np.fromiter(map(function, values.tolist()), dtype=np.float64, count=len(values))


def powers(base: float, exponents: np.ndarray) -> np.ndarray:
    """`base ** k` for integer exponents, as Python computes it, once per distinct exponent."""
    distinct, where = np.unique(exponents, return_inverse=True)
    return np.array([base ** int(k) for k in distinct.tolist()], dtype=np.float64)[where]


def cosine(values: np.ndarray) -> np.ndarray:
    return each(math.cos, values)


def _constant(s: oneflow_schedulers.ConstantLR, base_lr: float, steps: np.ndarray) -> np.ndarray:
    return np.where(steps < s.total_iters, base_lr * s.factor, base_lr).astype(np.float64)


def _linear(s: oneflow_schedulers.LinearLR, base_lr: float, steps: np.ndarray) -> np.ndarray:
    multiplier = np.full(len(steps), s.end_factor, dtype=np.float64)
    rising = steps < s.total_iters
    multiplier[rising] = s.start_factor + (s.end_factor - s.start_factor) * (steps[rising] / s.total_iters)
    return base_lr * multiplier


def _exponential(s: oneflow_schedulers.ExponentialLR, base_lr: float, steps: np.ndarray) -> np.ndarray:
    return base_lr * powers(s.gamma, steps)


def _step(s: oneflow_schedulers.StepLR, base_lr: float, steps: np.ndarray) -> np.ndarray:
    return base_lr * powers(s.gamma, np.floor(steps / s.step_size).astype(np.int64))


def _multistep(s: oneflow_schedulers.MultiStepLR, base_lr: float, steps: np.ndarray) -> np.ndarray:
    # OneFlow asserts increasing milestones, so searchsorted finds what bisect_right does
    return base_lr * powers(s.gamma, np.searchsorted(np.asarray(s.milestones), steps, side="right"))


def _cosine_decay(s: oneflow_schedulers.CosineDecayLR, base_lr: float, steps: np.ndarray) -> np.ndarray:
    factor = np.full(len(steps), s.alpha, dtype=np.float64)
    decaying = steps < s.decay_steps
    cos_decay = 0.5 * (1 + cosine(math.pi * steps[decaying] / s.decay_steps))
    factor[decaying] = (1 - s.alpha) * cos_decay + s.alpha
    return base_lr * factor


def _cosine_annealing(s: oneflow_schedulers.CosineAnnealingLR, base_lr: float, steps: np.ndarray) -> np.ndarray:
    cos_decay = 0.5 * (1 + cosine(math.pi * steps / s.T_max))
    return s.eta_min + (base_lr - s.eta_min) * cos_decay


def _polynomial(s: oneflow_fixes.PolynomialLR, base_lr: float, steps: np.ndarray) -> np.ndarray:
    if s.cycle:  # the fix: multiplier max(1, ceil(step / decay_batch))
        decay_batch = s.max_decay_steps * np.maximum(1, np.ceil(steps / s.max_decay_steps))
        progress = steps / decay_batch
    else:  # OneFlow's own get_lr
        progress = np.minimum(steps, s.max_decay_steps) / s.max_decay_steps
    factor = each(lambda x: x ** s.power, 1 - progress)
    return (base_lr - s.end_learning_rate) * factor + s.end_learning_rate


def _warm_restarts(s: oneflow_fixes.CosineAnnealingWarmRestarts, base_lr: float, steps: np.ndarray) -> np.ndarray:
    if s.T_mult == 1:
        cycle = steps // s.T_0
        cycle_start, cycle_length = cycle * s.T_0, np.full(len(steps), s.T_0)
    else:  # the cycles' starts, as the fix's integer loop finds them
        starts, lengths = [0], [s.T_0]
        while starts[-1] + lengths[-1] <= (steps.max() if len(steps) else 0):
            starts.append(starts[-1] + lengths[-1])
            lengths.append(lengths[-1] * s.T_mult)
        cycle = np.searchsorted(np.asarray(starts), steps, side="right") - 1
        cycle_start, cycle_length = np.asarray(starts)[cycle], np.asarray(lengths)[cycle]
    peak = base_lr * powers(s.decay_rate, cycle)
    lrs = s.eta_min + (peak - s.eta_min) * 0.5 * (1 + cosine(math.pi * (steps - cycle_start) / cycle_length))
    if s.restart_limit > 0:
        lrs[cycle >= s.restart_limit] = s.eta_min
    return lrs


def _one_cycle(s: extra.OneCycleLR, base_lr: float, steps: np.ndarray) -> np.ndarray:
    initial = base_lr / s.div_factor
    minimum = initial / s.final_div_factor
    levels = [initial, base_lr, initial, minimum] if s.three_phase else [initial, base_lr, minimum]
    phase = np.minimum(np.searchsorted(np.asarray(s.phase_ends), steps, side="left"), len(s.phase_ends) - 1)
    lrs = np.empty(len(steps), dtype=np.float64)
    start = 0.0
    for i, end in enumerate(s.phase_ends):
        here = phase == i
        pct = np.minimum(1.0, (steps[here] - start) / (end - start))
        first, last = levels[i], levels[i + 1]
        if s.anneal_strategy == "cos":
            lrs[here] = last + (first - last) / 2.0 * (cosine(math.pi * pct) + 1)
        else:
            lrs[here] = (last - first) * pct + first
        start = end
    return lrs


def _cyclic(s: extra.CyclicLR, base_lr: float, steps: np.ndarray) -> np.ndarray:
    total = s.step_size_up + s.step_size_down
    up_ratio = s.step_size_up / total
    cycle = np.floor(1 + steps / total)
    x = 1.0 + steps / total - cycle
    rising = x <= up_ratio
    scale = np.empty(len(steps), dtype=np.float64)
    scale[rising] = x[rising] / up_ratio
    scale[~rising] = (x[~rising] - 1) / (up_ratio - 1)
    if s.mode == "triangular2":
        scale *= 1 / powers(2.0, cycle.astype(np.int64) - 1)
    elif s.mode == "exp_range":
        scale *= powers(s.gamma, steps)
    low = base_lr * s.min_factor
    return low + (base_lr - low) * scale


def _wsd(s: extra.WSD, base_lr: float, steps: np.ndarray) -> np.ndarray:
    factor = np.ones(len(steps), dtype=np.float64)
    warming = steps < s.warmup_iters
    warm = np.maximum(steps[warming], 1) if s.warmup_factor == 0 else steps[warming]
    factor[warming] = s.warmup_factor + (1 - s.warmup_factor) * warm / s.warmup_iters
    cooling = ~warming & (steps >= s.decay_start)
    progress = np.minimum(1.0, (steps[cooling] - s.decay_start) / (s.total_iters - s.decay_start))
    shape = {"linear": lambda: 1 - progress, "cosine": lambda: 0.5 * (1 + cosine(math.pi * progress)),
             "1-sqrt": lambda: 1 - each(math.sqrt, progress)}[s.decay_shape]()
    factor[cooling] = s.min_factor + (1 - s.min_factor) * shape
    return base_lr * factor


def _noam(noam: extra.Noam, base_lr: float, steps: np.ndarray) -> np.ndarray:
    """A LambdaLR of Noam: base_lr * noam(step), as LambdaLR.step computes it."""
    step = np.maximum(steps, 1)
    factor = noam.factor * noam.d_model ** -0.5 * np.minimum(each(lambda k: int(k) ** -0.5, step),
                                                             step * noam.warmup_iters ** -1.5)
    return base_lr * factor


# By exact class (a subclass may change get_lr): OneFlow's PolynomialLR and CosineAnnealingWarmRestarts are not here,
# since the factory builds the fixed ones (schedulers/oneflow_fixes.py).
FORMS: dict[type, Form] = {
    oneflow_schedulers.ConstantLR: _constant,
    oneflow_schedulers.LinearLR: _linear,
    oneflow_schedulers.ExponentialLR: _exponential,
    oneflow_schedulers.StepLR: _step,
    oneflow_schedulers.MultiStepLR: _multistep,
    oneflow_schedulers.CosineDecayLR: _cosine_decay,
    oneflow_schedulers.CosineAnnealingLR: _cosine_annealing,
    oneflow_fixes.PolynomialLR: _polynomial,
    oneflow_fixes.CosineAnnealingWarmRestarts: _warm_restarts,
    extra.OneCycleLR: _one_cycle,
    extra.CyclicLR: _cyclic,
    extra.WSD: _wsd,
    extra.Noam: _noam,  # a LambdaLR's callable, given the LambdaLR's base_lr
}


def lrs(scheduler: object, base_lr: float, steps: np.ndarray) -> Optional[np.ndarray]:
    """The LRs get_lr gives at `steps` (int64) (for a LambdaLR's callable: base_lr * callable(step)), or None when
    the class has no form or get_lr may raise at some step (a division by zero, where numpy would give inf; a power
    Python refuses): then the caller calls get_lr step by step, which raises what train.py's LR check reports.
    Underflow and overflow give what Python's floats give."""
    form = FORMS.get(type(scheduler))
    if form is None:
        return None
    with np.errstate(divide="raise", invalid="raise", over="ignore", under="ignore"):
        try:
            return form(scheduler, base_lr, steps)
        except (ArithmeticError, FloatingPointError, ValueError, TypeError):
            return None
