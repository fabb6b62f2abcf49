"""Run-time faults (issue 20): kill -9 at any moment, signals, Ctrl-C during start-up, read-only and full disks.

Real subprocesses of train.py on a tiny model; docs/reliability.md lists every fault and what happens."""
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT
from tests.engine_runs import FAST, read_scalars, read_summary

# 10 steps per epoch, 3 epochs; the loss of every step is logged, a checkpoint every 4 steps and at each epoch's end.
EVERY_POINT = [*FAST, "trainer.max_epochs=3", "trainer.log_every_n_steps=1", "trainer.checkpoint_every_n_steps=4"]


def start(*overrides, cwd=ROOT, **popen):
    return subprocess.Popen([sys.executable, str(ROOT / "train.py"), *overrides], cwd=cwd, text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **popen)


def checkpoint_steps(run_dir):
    return [int(p.name.split("step=")[1].split(".")[0]) for p in (run_dir / "checkpoints").glob("epoch=*.ckpt")]


def wait_for_checkpoint(process, run_dir, min_step, timeout=180):
    deadline = time.time() + timeout
    while not any(step >= min_step for step in checkpoint_steps(run_dir)):
        assert process.poll() is None, process.stderr.read()[-3000:]
        assert time.time() < deadline, "no checkpoint in time"
        time.sleep(0.005)


def test_kill_9_at_any_moment_then_resume_keeps_every_point_of_every_series(tmp_path, train):
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    assert train(*EVERY_POINT, f"hydra.run.dir={reference}").returncode == 0
    # Killed right after a mid-epoch checkpoint, right after an epoch's checkpoint, and between two checkpoints.
    for min_step, delay in ((8, 0.0), (20, 0.0), (24, 0.15)):
        process = start(*EVERY_POINT, f"hydra.run.dir={killed}")
        wait_for_checkpoint(process, killed, min_step)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert read_summary(killed)["status"] == "running"
    result = train(f"resume={killed}")
    assert result.returncode == 0, result.stderr[-3000:]
    expected, actual = read_scalars(reference), read_scalars(killed)
    assert [step for step, _ in actual["train/loss"]] == list(range(30))
    assert actual == expected  # every tag, every step, every value
