"""Every choice of every config group composes and builds its objects; every experiment trains a step."""

import numpy as np
import oneflow as flow
import pytest
from hydra.utils import instantiate

from common.errors import ConfigError
from engine.config.compose import CONF, compose_config
from engine.training.progress import Progress, StepMeter
from engine.training.run import build_run, planned_lr_curve, steps_per_epoch, validated
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
    run = build_run(validated(cfg))  # every config check: device, model, optimizer, schedule, graph rules
    assert run.steps_per_epoch == steps_per_epoch(cfg) >= 1
    if cfg.data.dataset._target_.endswith("load_cifar100"):
        return  # CIFAR-100 cannot be downloaded here, and one ResNet step takes ~14 s on this CPU
    train_loader, eval_loaders = run.loaders()
    assert len(train_loader) == run.steps_per_epoch and "val" in eval_loaders
    train_loader.set_epoch(0)
    images, labels = next(iter(train_loader))
    lrs = train_step(run.steps, run.schedule, StepMeter(NoWriter(), Progress()), images, labels)
    assert lrs[0] == pytest.approx(planned_lr_curve(cfg)[0][2])  # the previewed schedule's first LR


def test_schedule_free_with_a_decaying_schedule_is_warned_about_with_the_reason():
    from engine.training.run import schedule_warnings
    run = ("experiment=digits", "trainer.max_epochs=3")
    (warning,) = schedule_warnings(compose_config(*run, "optimizer=sgd_schedule_free", "scheduler=cosine"))
    assert "SGDScheduleFree is Schedule-Free" in warning and "'cosine' decays its LR" in warning
    assert "constant LR after a warmup" in warning
    assert "AdamWScheduleFree" in schedule_warnings(compose_config(*run, "optimizer=adamw_schedule_free", "scheduler=step",
                                                                   "scheduler.lr_scheduler.step_size=1"))[0]
    warmup_then_constant = ("scheduler=linear", "scheduler.lr_scheduler.total_iters=1")
    assert schedule_warnings(compose_config(*run, "optimizer=sgd_schedule_free", *warmup_then_constant)) == []
    assert schedule_warnings(compose_config(*run, "optimizer=sgd_schedule_free", "scheduler=constant")) == []
    assert schedule_warnings(compose_config(*run, "scheduler=cosine")) == []  # plain SGD: a decay is the point


def test_a_planned_lr_that_is_negative_or_not_finite_is_refused_at_config_time_with_its_step(monkeypatch):
    """Every schedule's LR is known before training: a bad one is refused by `validated`, naming the step and value."""
    from schedulers import preview
    cfg = compose_config("data=synthetic", "model=tiny", "data.train_size=256", "data.batch_size=64",
                         "trainer.max_epochs=2", "scheduler=linear_to_zero")
    validated(cfg, ranks=1)
    for lrs, needles in (([0.1, 0.05, -0.02, 0.0], ["plans LR -0.02 at optimizer step 2", "finite and >= 0"]),
                         ([0.1, float("inf")], ["plans LR inf at optimizer step 1"])):
        monkeypatch.setattr(preview, "lr_values", lambda cfg, spe, lrs=lrs: np.array(lrs))
        with pytest.raises(ConfigError) as error:
            validated(cfg, ranks=1)
        assert all(needle in str(error.value) for needle in needles), str(error.value)

    def divides_by_zero(cfg, spe):
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(preview, "lr_values", divides_by_zero)
    with pytest.raises(ConfigError, match="cannot be computed over the run"):
        validated(cfg, ranks=1)
