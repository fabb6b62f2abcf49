"""PyTorch (`backend=torch`): the same configs on a framework with current GPU support (docs/backends.md).

The conf/optimizer files name OneFlow's classes; `optimizer_target` maps them to torch's (same arguments).
Schedule-Free SGD/AdamW are the authors' `schedulefree` package (pinned in requirements-torch.txt; the project's
OneFlow implementation is tested equal to it). The LR schedules stay OneFlow's classes (schedulers/follow.py).
"""
from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import torch

GRAPH = "torch.compile"  # what trainer.graph=true compiles with (engine/training/steps.py CompiledSteps)
AMP_ON_CPU = True  # torch's autocast runs bfloat16 on CPU too
# conf/optimizer `_target_`s that mean another class on torch (the rest: `oneflow.` becomes `torch.`)
OPTIMIZERS = {"optimizers.SGDScheduleFree": "schedulefree.SGDScheduleFree",
              "optimizers.AdamWScheduleFree": "schedulefree.AdamWScheduleFree",
              "optimizers.schedule_free.SGDScheduleFree": "schedulefree.SGDScheduleFree",
              "optimizers.schedule_free.AdamWScheduleFree": "schedulefree.AdamWScheduleFree"}
# Targets that exist on OneFlow only, and why (engine/training/run.py refuses them with this reason).
REFUSED_TARGETS = {"models.flowvision_models.flowvision_model": "flowvision's architectures are OneFlow modules "
                                                                 "(flowvision has no PyTorch build)"}


def framework() -> Any:
    return torch


def optimizer_target(target: str) -> str:
    """The torch class a conf/optimizer `_target_` (written with OneFlow's names) builds on this backend."""
    if target in OPTIMIZERS:
        return OPTIMIZERS[target]
    return "torch." + target[len("oneflow."):] if target.startswith("oneflow.") else target


def autocast(device_type: str, dtype: Any) -> AbstractContextManager:
    return torch.autocast(device_type, dtype=dtype)


def wrap_ddp(model: Any) -> Any:
    """DistributedDataParallel over the ranks torchrun started (RANK, WORLD_SIZE, MASTER_ADDR/PORT in the environment)."""
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    device = next(model.parameters()).device
    ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids, broadcast_buffers=True)


def broadcast(tensor: Any, src: int) -> None:
    torch.distributed.broadcast(tensor, src)


def all_reduce(tensor: Any) -> None:
    torch.distributed.all_reduce(tensor)

