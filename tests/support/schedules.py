"""The schedule tests' run: 200 epochs of 5 optimizer steps (train_size 640, batch 128), SGD lr 0.1."""
from __future__ import annotations

from omegaconf import DictConfig

from engine.config.compose import CONF, compose_config

SCHEDULES = sorted(p.stem for p in (CONF / "scheduler").glob("*.yaml"))
SPE, EPOCHS, LR = 5, 200, 0.1
RUN = ["data.train_size=640", "data.batch_size=128", f"trainer.max_epochs={EPOCHS}", f"optimizer.lr={LR}"]


def compose_run(*overrides: str) -> DictConfig:
    return compose_config(*RUN, *overrides)
