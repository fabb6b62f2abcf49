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
from tests.engine_runs import FAST, TINY, read_scalars, read_summary
from tests.test_run_ends import FULL_DISK, RUN as SLOW

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


def pasted_command(stderr):
    """The line after the message that ends "... with:": the command, exactly as the user would paste it."""
    lines = stderr.splitlines()
    (at,) = [i for i, line in enumerate(lines) if line.endswith(" with:")]
    return lines[at + 1]


def paste(command, cwd=ROOT):
    return subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_sigterm_in_a_sweep_prints_its_resume_command_alone_and_unprefixed(tmp_path):
    process = subprocess.Popen([sys.executable, "-u", str(ROOT / "train.py"), "-m", *SLOW, "seed=0,1",
                                f"hydra.sweep.dir={tmp_path}"], cwd=ROOT, text=True, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    for line in process.stdout:  # past the first checkpoint
        if line.startswith("[seed=0] epoch 1/"):  # each console line starts with its job's name
            break
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 130 and "Traceback" not in err, err
    command = pasted_command(err)
    assert not command.startswith("[") and "resume=" in command and "seed=0" in command, err
    resumed = paste(command)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from" in resumed.stdout and read_summary(tmp_path / "seed=0")["status"] == "completed"


def test_a_disk_full_before_the_first_checkpoint_says_there_is_none_and_its_command_starts_over(tmp_path, train):
    (tmp_path / "sitecustomize.py").write_text(FULL_DISK)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}:{ROOT}", "CHECKPOINTS_THAT_FIT": "0"}
    run_dir = tmp_path / "run"
    process = start(*TINY, f"hydra.run.dir={run_dir}", env=env)
    _, err = process.communicate(timeout=600)
    assert process.returncode == 1 and "Traceback" not in err, err
    message = " ".join(err.split())
    assert "No space left on device" in message and "intact" not in message
    assert "No checkpoint had been written yet; once the cause is fixed, start the run again (from step 0) with:" in message
    assert read_summary(run_dir)["status"] == "failed"
    again = paste(pasted_command(err))  # the disk has room again
    assert again.returncode == 0, again.stderr[-3000:]
    assert "no checkpoint yet, starting the run from the beginning" in again.stdout
    assert read_summary(run_dir)["status"] == "completed" and read_summary(run_dir)["global_step"] == 4

    refused = train(f"resume={run_dir}", "trainer.max_epochs=3", cwd=tmp_path)  # "start a longer run", pasted
    assert refused.returncode == 2 and refused.stderr.splitlines()[-2].endswith("in a new directory with:")
    longer = paste(refused.stderr.splitlines()[-1], cwd=tmp_path)
    assert longer.returncode == 0, longer.stderr[-3000:]
    (new_run,) = [p.parent for p in (tmp_path / "runs").glob("*/*/summary.json")]
    assert read_summary(new_run)["status"] == "completed" and read_summary(new_run)["epochs"] == 3
