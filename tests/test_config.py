"""Every choice of every config group composes, and builds its objects without loading data."""

import oneflow as flow
import pytest
from hydra.utils import instantiate

from engine.config import CONF, compose_config
from input_pipeline import steps_per_epoch
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
        schedule = build_lr_schedule(cfg.scheduler, optimizer, steps_per_epoch(cfg.data.train_size, cfg.data.batch_size),
                                     max_epochs=cfg.trainer.max_epochs)
        assert schedule.interval in ("step", "epoch")


def test_defaults_are_the_standard_recipe():
    cfg = compose_config()
    assert cfg.model._target_ == "models.resnet.resnet18" and cfg.data.num_classes == 100
    assert cfg.optimizer.momentum == 0.9 and cfg.optimizer.weight_decay == 5e-4
    assert cfg.data.batch_size == 128 and cfg.device == "auto"
