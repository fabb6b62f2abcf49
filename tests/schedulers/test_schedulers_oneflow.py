"""Where OneFlow 0.9's schedulers deviate from their docs or the literature, and what this project does.

Fixed in schedulers.oneflow_fixes: PolynomialLR(cycle=True) at step 0, CosineAnnealingWarmRestarts'
floating-point cycle index. Kept as OneFlow computes them (docstrings are wrong, behaviour is a
clean closed form): SequentialLR without interval_rescaling, ChainedScheduler. Added because OneFlow
cannot: a warmup in front of ReduceLROnPlateau (schedulers.extra.WarmupPlateau).
"""
import math

import oneflow as flow
import pytest
from oneflow.optim import lr_scheduler as of

from schedulers import oneflow_fixes
from schedulers.extra import WarmupPlateau


def sgd(lr=1.0):
    return flow.optim.SGD([flow.nn.Parameter(flow.zeros(1))], lr=lr)


def lrs(scheduler, steps):
    out = []
    for _ in range(steps):
        out.append(scheduler.optimizer.param_groups[0]["lr"])
        scheduler.step()
    return out


def test_polynomial_cycle_starts_at_the_base_lr_only_when_fixed():
    kwargs = dict(decay_batch=10, end_learning_rate=0.0, power=2.0, cycle=True)
    oneflow_curve = lrs(of.PolynomialLR(sgd(), **kwargs), 40)
    fixed_curve = lrs(oneflow_fixes.PolynomialLR(sgd(), **kwargs), 40)
    assert math.isclose(oneflow_curve[0], (1 - 1 / 10) ** 2)  # OneFlow: step 0 computed as step 1
    assert fixed_curve[0] == 1.0  # TensorFlow's polynomial_decay(cycle=True) at step 0
    assert fixed_curve[1:] == oneflow_curve[1:]  # nothing else changes
    assert fixed_curve[10] == 0.0 and math.isclose(fixed_curve[11], (1 - 11 / 20) ** 2)  # TF-style cycle kept


def test_polynomial_without_cycle_is_oneflow_unchanged():
    kwargs = dict(decay_batch=10, end_learning_rate=0.01, power=0.9)
    assert lrs(oneflow_fixes.PolynomialLR(sgd(), **kwargs), 15) == lrs(of.PolynomialLR(sgd(), **kwargs), 15)


def test_warm_restarts_restart_where_sgdr_says_when_fixed():
    kwargs = dict(T_0=1, T_mult=3, eta_min=0.0)
    restarts = [(3 ** k - 1) // 2 for k in range(1, 7)]  # 1, 4, 13, 40, 121, 364
    oneflow_curve = lrs(of.CosineAnnealingWarmRestarts(sgd(), **kwargs), 400)
    fixed_curve = lrs(oneflow_fixes.CosineAnnealingWarmRestarts(sgd(), **kwargs), 400)
    assert all(fixed_curve[r] == 1.0 for r in restarts)
    # OneFlow: floor(log(243, 3)) = 4 (log gives 4.999...), so step 121 is the end of cycle 4: eta_min
    assert math.log(243, 3) < 5 and oneflow_curve[121] == 0.0
    differ = [s for s in range(400) if not math.isclose(fixed_curve[s], oneflow_curve[s], abs_tol=1e-12)]
    assert differ == [121]


def test_warm_restarts_with_decay_and_limit():
    curve = lrs(oneflow_fixes.CosineAnnealingWarmRestarts(sgd(), T_0=4, T_mult=2, decay_rate=0.5, restart_limit=2), 16)
    assert curve[0] == 1.0 and curve[4] == 0.5  # second cycle peaks at decay_rate
    assert math.isclose(curve[8], 0.5 * 0.5 * (1 + math.cos(math.pi * 4 / 8)))
    assert curve[12:] == [0.0] * 4  # after restart_limit cycles: eta_min


def test_sequential_lr_docstring_matches_neither_setting():
    def build(rescale):
        opt = sgd()
        parts = [of.ConstantLR(opt, factor=0.1, total_iters=2), of.ExponentialLR(opt, gamma=0.9)]
        return of.SequentialLR(opt, schedulers=parts, milestones=[2], interval_rescaling=rescale)

    docstring = [0.1, 0.1, 0.9, 0.81, 0.729]
    default = lrs(build(False), 5)
    assert default == pytest.approx([0.1, 0.1, 0.81, 0.729, 0.6561])  # the second scheduler sees the global step
    assert default != pytest.approx(docstring)
    # with rescaling each part starts at its own step 0 (ExponentialLR: 1.0, like the part alone);
    # our YAMLs spell interval_rescaling out and use this
    assert lrs(build(True), 5) == pytest.approx([0.1, 0.1, 1.0, 0.9, 0.81])


def test_chained_scheduler_multiplies_closed_forms_at_the_same_step():
    opt = sgd()
    chained = of.ChainedScheduler([of.ConstantLR(opt, factor=0.1, total_iters=2), of.ExponentialLR(opt, gamma=0.9)])
    docstring = [0.09, 0.081, 0.729, 0.6561, 0.59049]  # PyTorch's recursive, shifted-by-one numbers
    actual = lrs(chained, 5)
    assert actual == pytest.approx([0.1 * 0.9 ** s if s < 2 else 0.9 ** s for s in range(5)])
    assert actual != pytest.approx(docstring)


def test_warmup_lr_cannot_wrap_a_plateau_scheduler_but_warmup_plateau_can():
    opt = sgd(0.1)
    with pytest.raises(ValueError, match="LRScheduler or an Optimizer"):
        of.WarmupLR(of.ReduceLROnPlateau(opt), warmup_iters=3)
    opt = sgd(0.1)
    warmup = of.LinearLR(opt, start_factor=0.1, end_factor=1.0, total_iters=3)
    composed = WarmupPlateau(opt, warmup, of.ReduceLROnPlateau(opt, patience=0), warmup_iters=3)
    seen = []
    for value in [5.0, 5.0, 5.0, 4.0, 4.0]:  # metrics while warming up are ignored
        seen.append(opt.param_groups[0]["lr"])
        composed.step()
        composed.step(value)
    assert seen == pytest.approx([0.01, 0.04, 0.07, 0.1, 0.1])  # 4.0 starts the plateau's record
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01)  # the repeated 4.0 is a bad epoch: reduced
