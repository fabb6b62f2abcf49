"""Checkpoints survive kills; a resumed run continues exactly where the uninterrupted one would be."""
import hashlib
import json
import os
import pickle
import signal
import subprocess
import sys
import time

import numpy as np
import oneflow as flow
import pytest

from engine.run_dir.checkpoint import CheckpointDir, load_checkpoint, save_checkpoint
from engine.training.seeding import restore_rng_states, rng_states
from engine.platform.errors import ConfigError
from engine.run_dir.resume import config_differences
from tests.support.runs import (FAST, RESUMABLE_EPOCHS, ROOT, kill_after_checkpoint, read_scalars, read_summary,
                                start_resumable_run)

EPOCHS = RESUMABLE_EPOCHS


def _model_and_optimizer():
    flow.manual_seed(0)
    model = flow.nn.Sequential(flow.nn.Linear(4, 8), flow.nn.ReLU(), flow.nn.Linear(8, 3))
    return model, flow.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)


def _train_step(model, optimizer, seed):
    x = flow.tensor(np.random.default_rng(seed).normal(size=(16, 4)).astype(np.float32))
    loss = model(x).square().mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def test_checkpoint_round_trips_model_momentum_and_rng(tmp_path):
    import random
    model, optimizer = _model_and_optimizer()
    for seed in range(3):
        _train_step(model, optimizer, seed)
    save_checkpoint({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "rng": rng_states()}, tmp_path / "c.ckpt")
    expected_draw = (random.random(), np.random.rand())
    _train_step(model, optimizer, 3)
    expected = {k: v.numpy() for k, v in model.state_dict().items()}

    restored_model, restored_optimizer = _model_and_optimizer()
    state = load_checkpoint(tmp_path / "c.ckpt")
    restored_model.load_state_dict(state["model"])
    restored_optimizer.load_state_dict(state["optimizer"])  # momentum buffers: without them the next step differs
    restore_rng_states(state["rng"])
    assert (random.random(), np.random.rand()) == expected_draw
    _train_step(restored_model, restored_optimizer, 3)
    for key, value in restored_model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), expected[key])


class _RunsCode:
    def __reduce__(self):
        return os.system, ("touch pwned",)


def test_checkpoint_loader_refuses_code(tmp_path):
    path = tmp_path / "evil.ckpt"
    payload = pickle.dumps({"model": _RunsCode()})  # behind a valid checksum header: the unpickler itself must refuse
    path.write_bytes(b"lrs-checkpoint v2 sha256=%s bytes=%d\n" % (hashlib.sha256(payload).hexdigest().encode(), len(payload)) + payload)
    with pytest.raises(ConfigError, match="refusing to load posix.system"):
        load_checkpoint(path)
    assert not (ROOT / "pwned").exists()


def test_keep_last_bounds_the_checkpoints_on_disk(tmp_path):
    folder = CheckpointDir(tmp_path, keep_last=2)
    for step in range(1, 6):
        folder.save({"step": step}, epoch=step, global_step=step * 10, is_best=step == 3)
    assert [p.name for p in folder.checkpoints()] == ["epoch=0004-step=000000040.ckpt", "epoch=0005-step=000000050.ckpt"]
    assert load_checkpoint(folder.latest()) == {"step": 5}
    assert load_checkpoint(tmp_path / "best.ckpt") == {"step": 3}
    with pytest.raises(ConfigError, match="keep_last=0"):
        CheckpointDir(tmp_path, keep_last=0)


WRITER = """
import engine.platform.oneflow_env, os, sys, time
import numpy as np
from engine.run_dir.checkpoint import CheckpointDir
folder = CheckpointDir(sys.argv[1], keep_last=3)
weights = np.arange(2_000_000, dtype=np.float32)
folder.save({"step": 1, "weights": weights}, epoch=1, global_step=1)
real_fsync = os.fsync
def slow_fsync(fd):  # a slow disk: the kill lands after the data is written, before the rename
    print("in fsync", flush=True)
    time.sleep(60)
os.fsync = slow_fsync
folder.save({"step": 2, "weights": weights + 1}, epoch=2, global_step=2)
"""


def test_kill_during_checkpoint_write_leaves_the_previous_one_loadable(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert child.stdout.readline().strip() == "in fsync"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert list(tmp_path.glob("*.tmp")), "the kill should have interrupted a write"
    folder = CheckpointDir(tmp_path)
    assert [p.name for p in folder.checkpoints()] == ["epoch=0001-step=000000001.ckpt"]
    state = load_checkpoint(folder.latest())
    assert state["step"] == 1 and np.array_equal(state["weights"], np.arange(2_000_000, dtype=np.float32))
    folder.save({"step": 3}, epoch=3, global_step=3)  # the next save clears what the killed one left
    assert not list(tmp_path.glob("*.tmp"))


# cosine: the LR changes every step. plateau: no epoch after the first beats the best by +100, so the LR drops
# after every epoch from the second on; after the kill in epoch 3 it drops again only if `best` survived.
PLATEAU = ["scheduler=plateau", "scheduler.monitor=val/acc1", "++scheduler.lr_scheduler.threshold_mode=abs",
           "scheduler.lr_scheduler.threshold=100", "scheduler.lr_scheduler.patience=0"]
SCHEDULES = {"cosine": (["scheduler=cosine"], 13), "plateau": (PLATEAU, 23)}


@pytest.mark.parametrize("schedule", sorted(SCHEDULES))
def test_killed_mid_epoch_then_resumed_equals_the_uninterrupted_run(schedule, tmp_path, train):
    overrides, kill_after_step = SCHEDULES[schedule]
    reference = tmp_path / "reference"
    result = train(*FAST, *overrides, f"trainer.max_epochs={EPOCHS}", f"hydra.run.dir={reference}")
    assert result.returncode == 0, result.stderr[-3000:]

    resumed = tmp_path / "resumed"
    kill_after_checkpoint(start_resumable_run(resumed, *overrides, "trainer.checkpoint_every_n_steps=3"), resumed, min_step=kill_after_step)
    assert read_summary(resumed)["status"] == "running"

    refused = train(f"resume={resumed}", "trainer.max_epochs=5")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "trainer.max_epochs: 4 -> 5" in " ".join(refused.stderr.split())

    result = train(f"resume={resumed}", "trainer.log_every_n_steps=3")  # a harmless change is allowed
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resuming from" in result.stdout
    assert "No path found" not in result.stdout + result.stderr  # TensorBoard's reader logs no INFO to the console

    expected, actual = read_scalars(reference), read_scalars(resumed)
    assert [step for step, _ in actual["lr"]] == list(range(EPOCHS * 10))  # no step missing or duplicated
    assert actual["lr"] == expected["lr"]  # the LR of every step equals the uninterrupted run's
    for tag in ("val/acc1", "val/loss", "train/loss_epoch"):
        assert [s for s, _ in actual[tag]] == list(range(1, EPOCHS + 1))
        np.testing.assert_allclose([v for _, v in actual[tag]], [v for _, v in expected[tag]], rtol=1e-5)
    final = {name: load_checkpoint(run / "checkpoints" / f"epoch={EPOCHS:04d}-step={EPOCHS * 10:09d}.ckpt")
             for name, run in (("reference", reference), ("resumed", resumed))}
    for key, value in final["reference"]["model"].items():
        np.testing.assert_allclose(final["resumed"]["model"][key].numpy(), value.numpy(), rtol=1e-5, atol=1e-6)
    assert len({value for _, value in expected["lr"]}) > 1  # the schedule did change the LR
    summary = read_summary(resumed)
    assert summary["status"] == "completed" and summary["global_step"] == EPOCHS * 10
    assert summary["history"]["lr"] == read_summary(reference)["history"]["lr"]
    info = (resumed / "run_info.json").read_text()
    assert '"resumed"' in info and (resumed / ".hydra" / "overrides.yaml").read_text().count("resume") == 0


def test_rerunning_a_sweep_continues_its_unfinished_jobs(tmp_path, train):
    sweep = ("-m", "scheduler=cosine", *FAST, "trainer.max_epochs=2", f"hydra.sweep.dir={tmp_path}")
    assert train(*sweep).returncode == 0
    (job,) = [p for p in tmp_path.iterdir() if p.is_dir()]  # named after the overrides
    # Make the job look killed after its first epoch: its last checkpoint gone, its status still running.
    (job / "checkpoints" / "epoch=0002-step=000000020.ckpt").unlink()
    summary = read_summary(job)
    (job / "summary.json").write_text(json.dumps({**summary, "status": "running"}))

    again = train(*sweep)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming from" in again.stdout and "epoch=0001-step=000000010" in again.stdout
    assert [s for s, _ in read_scalars(job)["lr"]] == list(range(20))
    assert read_summary(job)["status"] == "completed"
    assert "nothing to do" in train(*sweep).stdout  # finished jobs are left alone


def test_config_differences_ignore_only_harmless_keys():
    saved = {"trainer": {"max_epochs": 4, "progress": True}, "optimizer": {"lr": 0.1}, "resume": None}
    current = {"trainer": {"max_epochs": 4, "progress": False}, "optimizer": {"lr": 0.2}, "resume": "runs/x"}
    assert config_differences(saved, current) == ["optimizer.lr: 0.1 -> 0.2"]


def test_sigterm_marks_the_run_interrupted_and_keeps_its_checkpoint(tmp_path):
    process = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *FAST, "trainer.max_epochs=50", f"hydra.run.dir={tmp_path}"],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not list((tmp_path / "checkpoints").glob("epoch=*.ckpt")) and time.time() < deadline:
        assert process.poll() is None, process.stderr.read()[-3000:]
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in stderr, stderr[-3000:]
    assert read_summary(tmp_path)["status"] == "interrupted" and f"resume={tmp_path}" in stderr
    assert load_checkpoint(CheckpointDir(tmp_path / "checkpoints").latest())["progress"]["epoch"] >= 1
