"""schedulers/array_forms.py: each form gives get_lr's values bit for bit, at every step, over many arguments
(the preview, the explorer and train.py's LR check read these values, so "close" would not be exact)."""
from functools import partial

import numpy as np
import oneflow as flow
import pytest
from oneflow.optim import lr_scheduler as of

from schedulers import array_forms, extra, oneflow_fixes, preview
from schedulers.preview import CLOSED_FORM, evaluated
from schedulers.spec import SPECS

STEPS = np.arange(1200, dtype=np.int64)


def sgd(lr=0.1):
    return flow.optim.SGD([flow.nn.Parameter(flow.zeros(1))], lr=lr)


CASES = {
    "constant": [partial(of.ConstantLR, factor=f, total_iters=t) for f in (0.0, 1 / 3, 0.5, 1.0)
                 for t in (0, 1, 7, 500)],
    "linear": [partial(of.LinearLR, start_factor=a, end_factor=b, total_iters=t)
               for a, b in ((1 / 3, 1.0), (0.0, 1.0), (1.0, 0.0), (0.25, 0.7), (1, 1)) for t in (1, 13, 391, 5000)],
    "exponential": [partial(of.ExponentialLR, gamma=g) for g in (0.9, 0.97, 0.99937, 1.0, 1.001)],
    "step": [partial(of.StepLR, step_size=s, gamma=g) for s in (1, 7, 391) for g in (0.1, 0.5, 0.97, 1.0)],
    "multistep": [partial(of.MultiStepLR, milestones=m, gamma=g) for m in ([], [0], [10], [60, 120, 160],
                                                                                [391, 392, 1100])
                  for g in (0.1, 0.2, 0.5)],
    "cosine decay": [partial(of.CosineDecayLR, decay_steps=d, alpha=a) for d in (1, 17, 780, 5000)
                     for a in (0, 0.0, 0.01, 0.5)],
    "cosine": [partial(of.CosineAnnealingLR, T_max=t, eta_min=e) for t in (1, 17, 391, 1199, 5000)
               for e in (0, 0.0, 1e-5, 0.05)],
    "polynomial": [partial(oneflow_fixes.PolynomialLR, decay_batch=d, end_learning_rate=e, power=p, cycle=c)
                   for d in (1, 30, 700) for e in (0.0, 1e-4) for p in (0.5, 1.0, 2, 3.3) for c in (False, True)],
    "warm restarts": [partial(oneflow_fixes.CosineAnnealingWarmRestarts, T_0=t, T_mult=m, eta_min=e,
                                                                         decay_rate=r, restart_limit=lim)
                      for t in (1, 5, 97) for m in (1, 2, 3) for e in (0.0, 1e-3) for r in (1.0, 0.7)
                      for lim in (0, 2)],
    "one cycle": [partial(extra.OneCycleLR, total_iters=t, pct_start=p, div_factor=d, final_div_factor=f,
                                             anneal_strategy=a, three_phase=three)
                  for t in (10, 391, 1200, 3000) for p in (0.1, 0.3, 0.45) for d in (25.0, 10)
                  for f in (1e4, 3.0) for a in ("cos", "linear") for three in (False, True)],
    "cyclic": [partial(extra.CyclicLR, step_size_up=u, step_size_down=d, mode=m, gamma=g, min_factor=f)
               for u in (1, 7, 200) for d in (None, 0, 3, 90) for m in extra.CyclicLR.MODES for g in (1.0, 0.999)
               for f in (0.0, 0.1)],
    "wsd": [partial(extra.WSD, total_iters=t, decay_fraction=d, decay_shape=s, warmup_iters=w, warmup_factor=wf,
                                min_factor=m)
            for t in (100, 1200) for d in (0.05, 0.2, 1.0) for s in extra.WSD.SHAPES for w in (0, 1, 30)
            for wf in (0, 0.0, 0.1) for m in (0.0, 0.05) if w + max(1, round(d * t)) <= t],
}


@pytest.mark.parametrize("kind", CASES)
def test_each_form_is_get_lr_bit_for_bit(kind):
    checked = 0
    for make in CASES[kind]:
        for base_lr in (0.1, 0.4, 3e-4):
            scheduler = make(sgd(base_lr))
            fast = array_forms.lrs(scheduler, base_lr, STEPS)
            try:
                slow = [scheduler.get_lr(base_lr, step) for step in STEPS.tolist()]
            except ArithmeticError:  # e.g. triangular2's 2.0 ** 1199: then get_lr is called, and raises it
                assert fast is None, (kind, vars(scheduler))
                continue
            assert fast is not None and fast.dtype == np.float64, (kind, vars(scheduler))
            assert fast.tolist() == slow, (kind, vars(scheduler))
            checked += 1
    assert checked >= 12


def test_every_closed_form_the_factory_builds_has_a_form():
    replaced = {of.PolynomialLR, of.CosineAnnealingWarmRestarts}  # the factory builds oneflow_fixes' versions
    assert {spec.cls for spec in SPECS if spec.closed_form} - replaced == set(array_forms.FORMS)


def test_a_class_without_a_form_is_evaluated_by_its_get_lr(monkeypatch):
    class Halving(of.StepLR):  # a subclass: may change get_lr, so the StepLR form must not apply
        def get_lr(self, base_lr, step):
            return base_lr * 0.5 ** (step // self.step_size)

    scheduler = Halving(sgd(), step_size=3)
    assert array_forms.lrs(scheduler, 0.1, STEPS) is None and Halving not in CLOSED_FORM
    monkeypatch.setattr(preview, "CLOSED_FORM", CLOSED_FORM | {Halving})  # as a new spec with closed_form=True
    assert evaluated(scheduler, 0.1, STEPS).tolist() == [0.1 * 0.5 ** (s // 3) for s in STEPS.tolist()]


def test_arguments_get_lr_raises_on_fall_back_to_get_lr():
    scheduler = oneflow_fixes.PolynomialLR(sgd(), decay_batch=10, power=-1.0)  # 0 ** -1 at the end of the decay
    assert array_forms.lrs(scheduler, 0.1, STEPS) is None
    with pytest.raises(ZeroDivisionError):  # what get_lr raises, which lr_plan_problem reports
        evaluated(scheduler, 0.1, STEPS)


def test_a_lambda_lr_of_noam_is_evaluated_as_it_steps():
    """LambdaLR.step sets base_lr * lr_lambda(step); with Noam (its value reads only the step) that is a closed form."""
    for d_model, warmup, factor in ((512, 4000, None), (64, 1, None), (512, 390, 2.0), (1, 7, 0.5)):
        for base_lr in (1.0, 0.1, 3e-4):
            scheduler = of.LambdaLR(sgd(base_lr), lr_lambda=extra.Noam(d_model, warmup, factor))
            stepped = []
            for _ in range(len(STEPS)):
                stepped.append(scheduler.optimizer.param_groups[0]["lr"])
                scheduler.step()
            assert evaluated(of.LambdaLR(sgd(base_lr), lr_lambda=extra.Noam(d_model, warmup, factor)), base_lr,
                             STEPS).tolist() == stepped
    assert array_forms.lrs(extra.Noam(512, 4000), 0.1, STEPS) is not None


def test_a_lambda_lr_of_another_callable_is_stepped():
    assert evaluated(of.LambdaLR(sgd(), lr_lambda=lambda step: 0.5 ** step), 0.1, STEPS) is None
