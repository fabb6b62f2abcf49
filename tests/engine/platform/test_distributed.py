"""Data-parallel runs (engine/platform/distributed.py): sharding, and a real 2-process run on CPU."""
import json
import re
import socket
import subprocess
import sys

import numpy as np
import pytest

from engine.platform import distributed
from input_pipeline import DatasetArrays
from tests.support.runs import ROOT
from tests.support.runs import SMALL


def arrays(n: int) -> DatasetArrays:
    images = np.zeros((n, 32, 32, 3), np.uint8)
    images[:, 0, 0, 0] = np.arange(n) % 256  # a tag per image
    return DatasetArrays(images, np.arange(n, dtype=np.int64), images[:4], np.arange(4, dtype=np.int64))


def test_one_process_keeps_everything():
    data = arrays(10)
    assert distributed.world_size() == 1 and distributed.is_rank_zero()
    images, labels = distributed.shard_train(data.train_images, data.train_labels)
    assert images is data.train_images and labels is data.train_labels and distributed.shard_size(10) == 10


@pytest.mark.parametrize("world", [2, 3])
def test_shards_are_disjoint_equal_and_cover_all_but_the_remainder(monkeypatch, world):
    data, shards = arrays(11), []
    monkeypatch.setattr(distributed, "world_size", lambda: world)
    for rank in range(world):
        monkeypatch.setattr(distributed, "rank", lambda rank=rank: rank)
        shards.append(distributed.shard_train(data.train_images, data.train_labels))
    sizes = {len(labels) for _, labels in shards}
    assert sizes == {11 // world} == {distributed.shard_size(11)}  # same number of steps on every rank
    seen = np.concatenate([labels for _, labels in shards])
    assert len(set(seen)) == len(seen) == (11 // world) * world
    assert all((images[:, 0, 0, 0] == labels).all() for images, labels in shards)  # images follow their labels


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LAUNCHERS = {  # each backend's own launcher, as docs/backends.md gives them
    "oneflow": lambda port: [sys.executable, "-m", "oneflow.distributed.launch", "--nproc_per_node", "2", "--master_port", port],
    "torch": lambda port: [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", port],
}


@pytest.mark.parametrize("backend", ["oneflow", "torch"])
def test_two_process_distributed_run_keeps_replicas_identical_and_logs_once(tmp_path, backend):
    """On torch each rank also imports OneFlow (its schedulers): OneFlow must not take torchrun's RANK and
    MASTER_PORT for a rendezvous of its own, which aborted rank 0 at import before the fix."""
    if backend == "torch":
        pytest.importorskip("torch", reason="backend=torch needs PyTorch (bash scripts/setup.sh --with-torch)")
    run_dir = tmp_path / "run"
    result = subprocess.run([*LAUNCHERS[backend](str(free_port())), str(ROOT / "train.py"), *SMALL, f"backend={backend}",
                             "trainer.max_epochs=2", f"hydra.run.dir={run_dir}"],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    # (rank, sha256, max |diff|) per rank; found anywhere in the output, which the two ranks share.
    reports = sorted(re.findall(r"rank (\d+): final weights sha256 ([0-9a-f]{64}), max \|diff\| to rank 0 (\S+)", result.stdout))
    assert [r[0] for r in reports] == ["0", "1"], result.stdout[-3000:]
    assert reports[0][1] == reports[1][1]  # the same sha256 of all weights and buffers on both ranks
    assert all(float(r[2]) == 0.0 for r in reports)
    # One set of logs: rank 0's events and summary; the other rank wrote nothing.
    assert len(list(run_dir.glob("events.out.tfevents.*"))) == 1
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["distributed"]["world_size"] == 2
    assert summary["global_step"] == 2 * 2  # 256 images / 2 ranks / batch 64 = 2 steps per epoch
    assert [p.name for p in tmp_path.iterdir()] == ["run"]
