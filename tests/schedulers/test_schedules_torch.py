"""backend=torch: every conf/scheduler file gives a torch optimizer the same LR at every optimizer step as OneFlow's.

The torch optimizer's LR is driven by the same OneFlow schedule objects through a shadow optimizer
(schedulers/follow.py), so the curves must be equal, compared here to 1e-12 relative: at the default run
(CIFAR-100: 200 epochs x 391 steps) and at a short one (10 epochs x 7 steps), plateau schedules fed the same
metric curve; and with two parameter groups. The LR read is the one the torch optimizer holds when it steps.
"""
import math

import oneflow as flow
import pytest
from hydra.utils import instantiate

from engine.config.compose import compose_config
from schedulers import build_lr_schedule
from schedulers.preview import example_val_curve
from tests.support.schedules import SCHEDULES

torch = pytest.importorskip("torch", reason="backend=torch is installed by `bash scripts/setup.sh --with-torch`")

RUNS = {"default": (391, 200), "short": (7, 10)}  # (steps per epoch, epochs); wsd warms up for 5 epochs


def curve(schedule, optimizer, spe, epochs):
    """The LR of every optimizer step of every param group, as the loop steps the schedule."""
    metrics = example_val_curve(schedule.monitor, epochs) if schedule.monitor else None
    lrs = []
    for epoch in range(epochs):
        for _ in range(spe):
            lrs.append(tuple(group["lr"] for group in optimizer.param_groups))
            schedule.after_optimizer_step()
        schedule.after_epoch({schedule.monitor: metrics[epoch]} if metrics else {})
    return lrs


def build(cfg, framework, spe, epochs, groups=1):
    params = [framework.nn.Parameter(framework.zeros(2)), framework.nn.Parameter(framework.zeros(3))]
    target = str(cfg.optimizer._target_).replace("oneflow.", framework.__name__ + ".")
    param_groups = [{"params": [params[0]]}, {"params": [params[1]], "lr": 0.03}][:groups]
    optimizer = instantiate(cfg.optimizer, _target_=target)(param_groups)
    schedule = build_lr_schedule(cfg.scheduler, optimizer, spe, max_epochs=epochs)
    return schedule, optimizer


@pytest.mark.parametrize("run", sorted(RUNS))
@pytest.mark.parametrize("name", SCHEDULES)
def test_torch_optimizer_follows_the_oneflow_schedule_exactly(name, run):
    spe, epochs = RUNS[run]
    cfg = compose_config(f"scheduler={name}", f"trainer.max_epochs={epochs}")
    oneflow_lrs = curve(*build(cfg, flow, spe, epochs), spe, epochs)
    schedule, optimizer = build(cfg, torch, spe, epochs)
    assert isinstance(optimizer, torch.optim.SGD) and schedule.follower is not None
    torch_lrs = curve(schedule, optimizer, spe, epochs)
    assert len(torch_lrs) == len(oneflow_lrs) == spe * epochs
    worst = max(abs(t - o) / max(abs(o), 1e-300) for ts, os_ in zip(torch_lrs, oneflow_lrs) for t, o in zip(ts, os_))
    assert worst <= 1e-12, f"{name} ({run} run): LRs differ by {worst:.3g} relative"
    if run == "default":  # a real curve, not a constant by accident (a plateau's patience outlasts the short run)
        assert len(set(torch_lrs)) > 1 or name == "constant"


@pytest.mark.parametrize("name", ["cosine", "step", "onecycle"])
def test_every_param_group_follows(name):
    cfg = compose_config(f"scheduler={name}", "trainer.max_epochs=3")
    oneflow_lrs = curve(*build(cfg, flow, 7, 3, groups=2), 7, 3)
    torch_lrs = curve(*build(cfg, torch, 7, 3, groups=2), 7, 3)
    assert torch_lrs == oneflow_lrs and len({lrs[1] for lrs in torch_lrs}) > 1


def test_a_restored_schedule_sets_the_torch_optimizers_lr():
    cfg = compose_config("scheduler=step", "trainer.max_epochs=3")
    schedule, optimizer = build(cfg, torch, 7, 3, groups=2)
    for _ in range(15):
        schedule.after_optimizer_step()
    state = schedule.state_dict()
    fresh, fresh_optimizer = build(cfg, torch, 7, 3, groups=2)
    assert fresh_optimizer.param_groups[0]["lr"] != optimizer.param_groups[0]["lr"]
    fresh.load_state_dict(state)
    assert [g["lr"] for g in fresh_optimizer.param_groups] == [g["lr"] for g in optimizer.param_groups]
    assert math.isclose(optimizer.param_groups[0]["lr"], 0.1 * 0.2 ** 2)  # step_size 30% of 21 steps = 6: two drops
