"""Every choice of every config group composes and builds its objects; every experiment trains a step."""

import oneflow as flow
import pytest
from hydra.utils import instantiate

from engine.config.compose import CONF, compose_config
from engine.training.progress import Progress, StepMeter
from engine.training.run import build_run, planned_lr_curve, steps_per_epoch
from engine.training.steps import train_step
from schedulers import build_lr_schedule

GROUPS = ["data", "model", "optimizer", "scheduler", "trainer", "experiment"]


def choices(group):
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.mark.parametrize("group,choice", [(g, c) for g in GROUPS for c in choices(g)])
def test_every_group_choice_composes(group, choice):
    cfg = compose_config(f"{group}={choice}")
    for key in ("data", "model", "optimizer", "scheduler", "trainer"):
        assert key in cfg
    if group == "model":
        model = instantiate(cfg.model)
        assert model(flow.randn(2, 3, 32, 32)).shape == (2, cfg.data.num_classes)
    if group in ("optimizer", "scheduler"):
        optimizer = instantiate(cfg.optimizer)(instantiate(cfg.model).parameters())
        schedule = build_lr_schedule(cfg.scheduler, optimizer, steps_per_epoch(cfg), max_epochs=cfg.trainer.max_epochs)
        assert schedule.interval in ("step", "epoch")


def test_defaults_are_the_standard_recipe():
    cfg = compose_config()
    assert cfg.model._target_ == "models.resnet.resnet18" and cfg.data.num_classes == 100
    assert cfg.optimizer.momentum == 0.9 and cfg.optimizer.weight_decay == 5e-4
    assert cfg.data.batch_size == 128 and cfg.device == "auto"


class NoWriter:
    def add_scalar(self, *args):
        pass


@pytest.mark.parametrize("experiment", choices("experiment"))
def test_every_experiment_builds_and_cpu_sized_ones_train_a_step(experiment):
    """A broken experiment (a Results command) fails here, not in front of a user."""
    cfg = compose_config(f"experiment={experiment}", "device=cpu")
    run = build_run(cfg)  # every config check: device, model, optimizer, schedule, graph rules
    assert run.steps_per_epoch == steps_per_epoch(cfg) >= 1
    if cfg.data.dataset._target_.endswith("load_cifar100"):
        return  # CIFAR-100 cannot be downloaded here, and one ResNet step takes ~14 s on this CPU
    train_loader, eval_loaders = run.loaders()
    assert len(train_loader) == run.steps_per_epoch and "val" in eval_loaders
    train_loader.set_epoch(0)
    images, labels = next(iter(train_loader))
    lrs = train_step(run.steps, run.schedule, StepMeter(NoWriter(), Progress()), images, labels)
    assert lrs[0] == pytest.approx(planned_lr_curve(cfg)[0][2])  # the previewed schedule's first LR
