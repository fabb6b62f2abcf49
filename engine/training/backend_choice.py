"""Import the framework the config chose (backend=oneflow|torch), once the config is read: train.py and every script
that builds a run call `use_backend(cfg.backend)` after composing the config and before importing anything that uses
the framework (engine.training.run and what it imports bind `backend.flow` at import, which would choose OneFlow)."""
from __future__ import annotations

import backend
from engine.platform.oneflow_env import import_oneflow_quietly
from engine.training.stopping import signals_held


def use_backend(name: str) -> None:
    """Select `name` for this process and import it (and OneFlow, whose schedulers both backends drive)."""
    with signals_held():  # importing OneFlow replaces the SIGINT handler at the C level: a Ctrl-C meanwhile waits
        # the schedules are OneFlow's on both backends (schedulers/follow.py); on torch OneFlow runs alone in each rank
        import_oneflow_quietly(alone=name == "torch")
        backend.select(name)
