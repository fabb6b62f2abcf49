"""OneFlow 0.9, the default backend: what only OneFlow does (the CUDA libraries it links are preloaded by
engine/platform/oneflow_env.py, which every entry point imports before anything imports oneflow)."""
from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import oneflow

GRAPH = "nn.Graph"  # what trainer.graph=true compiles with (engine/training/steps.py GraphSteps)
AMP_ON_CPU = False  # OneFlow 0.9's autocast and GradScaler are CUDA features
REFUSED_TARGETS: dict[str, str] = {}


def framework() -> Any:
    return oneflow


def optimizer_target(target: str) -> str:
    """The class a conf/optimizer `_target_` builds on this backend: the configs name OneFlow's, used as written."""
    return target


def autocast(device_type: str, dtype: Any) -> AbstractContextManager:
    return oneflow.autocast(device_type, dtype=dtype)


def wrap_ddp(model: Any) -> Any:
    """DistributedDataParallel over the ranks `python -m oneflow.distributed.launch` started (connected at import)."""
    return oneflow.nn.parallel.DistributedDataParallel(model, broadcast_buffers=True)


def broadcast(tensor: Any, src: int) -> None:
    oneflow.comm.broadcast(tensor, src)


def all_reduce(tensor: Any) -> None:
    oneflow.comm.all_reduce(tensor)
