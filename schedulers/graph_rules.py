"""Which schedules nn.Graph computes exactly: the graph-mode rules, read from each class's ScheduleSpec.

OneFlow's nn.Graph turns a scheduler into its own LR job through `_generate_conf_for_graph`. It
rejects some classes outright (the specs' `graph_rejected`), and it advances the LR once per optimizer
step, so a per-epoch schedule can only run there as the same staircase counted in optimizer steps
(the specs' `staircase`).
"""
from __future__ import annotations

from typing import Any, Optional

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
    return why_not_in_graph(scheduler) is None


def why_not_in_graph(scheduler: Any) -> Optional[str]:
    """Why nn.Graph cannot compute `scheduler` exactly, naming the class at fault (the scheduler itself or one it
    composes); None when it can."""
    spec = exact_spec(type(scheduler))
    name = type(scheduler).__name__
    if spec is None:
        return f"{name} is no class the project knows the graph rules of"
    if spec.graph_rejected:
        return f"OneFlow 0.9 rejects {name} there ({spec.graph_rejected})"
    if not spec.graph:
        return f"{name} ({type(scheduler).__module__}) is the project's own class, which nn.Graph cannot compile"
    if not getattr(scheduler, "graph_matches_eager", True):
        return f"with these arguments, OneFlow's graph formula for {name} differs from the eager one"
    return next(filter(None, (why_not_in_graph(inner) for inner in getattr(scheduler, "schedulers", ()))), None)


def check_runs_in_graph(name: str, scheduler: Any) -> None:
    why = why_not_in_graph(scheduler)
    if why:  # its own class named: the message listed the classes OneFlow rejects, onecycle's not among them
        raise ConfigError(f"scheduler={name} ({type(scheduler).__name__}) cannot run inside nn.Graph: {why}. Use "
                          f"trainer.graph=false (eager mode).")
