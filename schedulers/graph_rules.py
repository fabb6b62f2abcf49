"""Which schedules nn.Graph computes exactly: the one place for graph-mode rules.

OneFlow's nn.Graph turns a scheduler into its own LR job through `_generate_conf_for_graph`. It
rejects LambdaLR, ChainedScheduler and ReduceLROnPlateau, and it advances the LR once per optimizer
step, so a per-epoch schedule can only run there as the same staircase counted in optimizer steps.
"""
from __future__ import annotations

from typing import Any

from oneflow.optim import lr_scheduler as oneflow_schedulers
from omegaconf import DictConfig, OmegaConf

from common.errors import ConfigError

# Classes whose graph version computes the eager curve.
GRAPH_CLASSES = (oneflow_schedulers.ConstantLR, oneflow_schedulers.LinearLR, oneflow_schedulers.ExponentialLR,
                 oneflow_schedulers.StepLR, oneflow_schedulers.MultiStepLR, oneflow_schedulers.PolynomialLR,
                 oneflow_schedulers.CosineDecayLR, oneflow_schedulers.CosineAnnealingLR,
                 oneflow_schedulers.CosineAnnealingWarmRestarts, oneflow_schedulers.SequentialLR)
GRAPH_REJECTED = ("LambdaLR", "ChainedScheduler", "ReduceLROnPlateau")
# Per-epoch schedules whose staircase is reproduced exactly by stepping every optimizer step with
# lengths multiplied by the steps per epoch.
STAIRCASE_SCHEDULES = ("StepLR", "MultiStepLR", "ConstantLR")


def graph_config(cfg: DictConfig) -> DictConfig:
    """`cfg` (a conf/scheduler node) as graph mode runs it: per-epoch staircases become per-step; other
    per-epoch schedules raise ConfigError naming eager mode."""
    if cfg.get("monitor") is not None or cfg.get("interval", "step") != "epoch":
        return cfg
    target = str(cfg.lr_scheduler._target_).rsplit(".", 1)[-1]
    if target not in STAIRCASE_SCHEDULES:
        raise ConfigError(f"scheduler={cfg.get('name', 'custom')} ({target}) steps once per epoch, which nn.Graph cannot "
                          f"do (its LR advances every optimizer step). Use trainer.graph=false (eager mode), or "
                          f"scheduler.interval=step for a smooth per-step curve; graph mode steps "
                          f"{', '.join(STAIRCASE_SCHEDULES)} per epoch exactly.")
    return OmegaConf.merge(cfg, {"interval": "step"})  # the same staircase, counted in optimizer steps


def runs_in_graph(scheduler: Any) -> bool:
    """True when nn.Graph computes exactly what `scheduler` computes eagerly."""
    if isinstance(scheduler, oneflow_schedulers.SequentialLR):  # WarmupLR included
        return type(scheduler) in (oneflow_schedulers.SequentialLR, oneflow_schedulers.WarmupLR) and \
            all(runs_in_graph(s) for s in scheduler.schedulers)
    if not isinstance(scheduler, GRAPH_CLASSES):
        return False
    return getattr(scheduler, "graph_matches_eager", type(scheduler) in GRAPH_CLASSES)


def check_runs_in_graph(name: str, scheduler: Any) -> None:
    if not runs_in_graph(scheduler):
        raise ConfigError(f"scheduler={name} ({type(scheduler).__name__}) cannot run inside nn.Graph: OneFlow 0.9 "
                          f"rejects {', '.join(GRAPH_REJECTED)} and plateau schedules there. Use trainer.graph=false "
                          f"(eager mode).")
