"""Which schedules nn.Graph computes exactly: the graph-mode rules, read from each class's ScheduleSpec.

OneFlow's nn.Graph turns a scheduler into its own LR job through `_generate_conf_for_graph`. It
rejects some classes outright (the specs' `graph_rejected`), and it advances the LR once per optimizer
step, so a per-epoch schedule can only run there as the same staircase counted in optimizer steps
(the specs' `staircase`).
"""
from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from common.errors import ConfigError
from schedulers.spec import SPECS, exact_spec


def graph_config(cfg: DictConfig) -> DictConfig:
    """`cfg` (a conf/scheduler node) as graph mode runs it: per-epoch staircases become per-step; other
    per-epoch schedules raise ConfigError naming eager mode."""
    if cfg.get("monitor") is not None or cfg.get("interval", "step") != "epoch":
        return cfg
    target = str(cfg.lr_scheduler._target_).rsplit(".", 1)[-1]
    staircases = list(dict.fromkeys(spec.name for spec in SPECS if spec.staircase))
    if target not in staircases:
        raise ConfigError(f"scheduler={cfg.get('name', 'custom')} ({target}) steps once per epoch, which nn.Graph cannot "
                          f"do (its LR advances every optimizer step). Use trainer.graph=false (eager mode), or "
                          f"scheduler.interval=step for a smooth per-step curve; graph mode steps "
                          f"{', '.join(staircases)} per epoch exactly.")
    return OmegaConf.merge(cfg, {"interval": "step"})  # the same staircase, counted in optimizer steps


def runs_in_graph(scheduler: Any) -> bool:
    """True when nn.Graph computes exactly what `scheduler` computes eagerly: the spec of its exact class allows
    graph mode, its arguments keep OneFlow's formula (`graph_matches_eager`, schedulers.oneflow_fixes), and so do
    the schedulers it composes (SequentialLR, WarmupLR)."""
    spec = exact_spec(type(scheduler))
    if spec is None or not spec.graph or not getattr(scheduler, "graph_matches_eager", True):
        return False
    return all(runs_in_graph(inner) for inner in getattr(scheduler, "schedulers", ()))


def check_runs_in_graph(name: str, scheduler: Any) -> None:
    if not runs_in_graph(scheduler):
        rejected = ", ".join(dict.fromkeys(spec.name for spec in SPECS if spec.graph_rejected))
        raise ConfigError(f"scheduler={name} ({type(scheduler).__name__}) cannot run inside nn.Graph: OneFlow 0.9 "
                          f"rejects {rejected} and plateau schedules there. Use trainer.graph=false (eager mode).")
