"""Data-parallel training over processes, GPUs and nodes, launched by `python -m oneflow.distributed.launch`
(backend=torch: `torchrun`).

The launcher starts one `train.py` per rank with RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and
MASTER_PORT set; `import oneflow` reads them and connects the ranks (torch: at the model's wrap). The rank and
world size are read from those variables, so the config is checked before either framework is imported. Then:
  * every rank loads the dataset and trains on its own shard of the training split (equal sizes, so all
    ranks take the same number of optimizer steps); `data.batch_size` is the per-rank batch;
  * the model is wrapped in DistributedDataParallel (gradients all-reduced, rank 0's parameters and
    buffers broadcast), so all ranks hold the same weights after every step;
  * only rank 0 writes logs, summary.json and checkpoints (other ranks get `Discard` objects).
On one process every function here is a no-op, so train.py reads the same either way.
"""
from __future__ import annotations

import hashlib
import os
import sys
from typing import Any, Optional

import numpy as np

import backend


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    # (importing OneFlow sets RANK=-1 in a single process)
    return int(os.environ.get("RANK", "0")) if world_size() > 1 else 0


def is_rank_zero() -> bool:
    return rank() == 0


def shard_size(train_size: int) -> int:
    """Training images each rank sees per epoch (the remainder of an uneven split is dropped)."""
    return train_size // world_size()


def shard_train(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """This rank's interleaved shard of the training images (after any validation split is held out)."""
    world = world_size()
    if world == 1:
        return images, labels
    keep = slice(rank(), shard_size(len(labels)) * world, world)
    return np.ascontiguousarray(images[keep]), labels[keep]


def wrap_model(model: Any) -> Any:
    """DistributedDataParallel when there are several ranks (broadcasts rank 0's weights first)."""
    if world_size() == 1:
        return model
    return backend.impl().wrap_ddp(model)


def replica_report(model: Any) -> dict:
    """Fingerprint of this rank's weights and the largest difference from rank 0's, over all ranks.

    A collective call: every rank must make it. Returns {"rank", "world_size", "weights_sha256",
    "max_abs_diff_to_rank0"}; a non-zero difference means the replicas drifted apart.
    """
    tensors = [t.detach() for t in list(model.parameters()) + list(model.buffers()) if t.is_floating_point()]
    flow = backend.flow
    flat = flow.cat([t.flatten().to(flow.float32) for t in tensors])
    digest = hashlib.sha256(flat.cpu().numpy().tobytes()).hexdigest()
    diff = 0.0
    if world_size() > 1:
        reference = flat.clone()
        backend.impl().broadcast(reference, 0)
        total = (flat - reference).abs().max().reshape(1)
        backend.impl().all_reduce(total)  # sum of per-rank maxima: zero iff every rank equals rank 0
        diff = float(total.item())
    return {"rank": rank(), "world_size": world_size(), "weights_sha256": digest, "max_abs_diff_to_rank0": diff}


def check_replicas(model: Any) -> Optional[dict]:
    """On several ranks: print each rank's weight fingerprint and return this rank's report (for summary.json); None on one."""
    if world_size() == 1:
        return None
    report = replica_report(model)
    # One write, newline included: the ranks share the launcher's stdout, and print()'s separate write of
    # the newline let another rank's line land in between (seen in CI: two reports on one line).
    sys.stdout.write(f"rank {report['rank']}: final weights sha256 {report['weights_sha256']}, "
                     f"max |diff| to rank 0 {report['max_abs_diff_to_rank0']}\n")
    sys.stdout.flush()
    return report


class Discard:
    """Stands in for a SummaryWriter or RunSummary on ranks other than 0: accepts every call, writes nothing."""

    def __init__(self, *args: Any, **fields: Any) -> None:
        self.fields = dict(fields)

    def update(self, **fields: Any) -> None:
        self.fields.update(fields)

    def __getattr__(self, name: str) -> "Discard":  # writer.file_writer.add_summary(...) works too
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        return None
