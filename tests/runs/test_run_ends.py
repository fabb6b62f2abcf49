"""Every way a run ends goes through one path: Ctrl-C, a full disk, completion. Real subprocesses, real signals."""
import json
import os
import re
import signal
import subprocess
import sys

import pytest

from engine.run_dir.checkpoint import CheckpointDir, load_checkpoint
from tests.support.runs import FULL_DISK_SITECUSTOMIZE, ROOT, SLOW_RUN, read_scalars, read_summary

# 63 optimizer steps per epoch of a tiny model: long enough for a signal to land mid-run.

def start_train(*overrides, env=None):
    return subprocess.Popen([sys.executable, "-u", str(ROOT / "train.py"), *overrides], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def interrupt_after_first_epoch(process):
    for line in process.stdout:  # the first epoch line (in a sweep, after its job's name): past the first checkpoint
        if re.match(r"(\[[^\]]*\] )?epoch 1/", line):
            break
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=300)
    return process.returncode, err


def test_ctrl_c_stops_at_a_step_boundary_and_the_printed_command_resumes_exactly(tmp_path, train):
    stopped, whole = tmp_path / "stopped", tmp_path / "whole"
    code, err = interrupt_after_first_epoch(start_train(*SLOW_RUN, f"hydra.run.dir={stopped}"))
    assert code == 130 and "Traceback" not in err, err
    assert read_summary(stopped)["status"] == "interrupted"
    command = err.split("Continue with:\n", 1)[1].splitlines()[0]  # the line after, alone
    resumed = subprocess.run(["bash", "-c", command], cwd=ROOT,
                             capture_output=True, text=True, timeout=600)  # the command exactly as printed
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert read_summary(stopped)["status"] == "completed"
    assert train(*SLOW_RUN, f"hydra.run.dir={whole}").returncode == 0
    assert read_scalars(stopped) == read_scalars(whole)  # every tag, every step, every value


def test_ctrl_c_stops_a_sweep(tmp_path):
    process = start_train("-m", *SLOW_RUN, "seed=0,1", f"hydra.sweep.dir={tmp_path}")
    code, err = interrupt_after_first_epoch(process)
    assert code == 130 and "Traceback" not in err, err
    jobs = {re.search(r"seed=(\d)", job.name).group(1): job for job in tmp_path.iterdir() if job.is_dir()}
    assert read_summary(jobs["0"])["status"] == "interrupted"
    assert "1" not in jobs  # the user stopped the sweep itself


# Loaded by the child's interpreter at start-up (PYTHONPATH): checkpoint writes after the first N
# fail as on a full disk, at the fsync that makes them durable; other files still write.
def test_a_full_disk_fails_the_run_with_a_paragraph_and_keeps_the_last_checkpoint(tmp_path, train):
    (tmp_path / "sitecustomize.py").write_text(FULL_DISK_SITECUSTOMIZE)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}:{ROOT}", "CHECKPOINTS_THAT_FIT": "2"}  # epoch 1 and best.ckpt
    run_dir = tmp_path / "run"
    process = start_train(*SLOW_RUN, f"hydra.run.dir={run_dir}", env=env)
    out, err = process.communicate(timeout=600)
    assert process.returncode == 1 and "Traceback" not in err, err
    assert "No space left on device" in err and "resume=" in err
    summary = read_summary(run_dir)
    assert summary["status"] == "failed" and "No space left on device" in summary["error"]
    checkpoints = CheckpointDir(run_dir / "checkpoints")
    assert [p.name for p in checkpoints.checkpoints()] == ["epoch=0001-step=000000063.ckpt"]
    assert load_checkpoint(checkpoints.latest())["progress"]["epoch"] == 1  # intact and readable
    assert not list((run_dir / "checkpoints").glob("*.tmp"))
    assert json.loads((run_dir / "summary.json").read_text())  # strict JSON, whole


# Loaded by the child at start-up (PYTHONPATH): it says "mid-epoch" at the 70th optimizer step (epoch 2 of SLOW_RUN);
# once a stop was asked for, the run pauses (saying "paused") at PAUSE_AT, so that the second Ctrl-C lands there: in
# the training loop (inside that step, before the boundary the first Ctrl-C waits for), or in `finish`, while the
# stop checkpoint is being written.
PAUSE_AFTER_THE_FIRST_CTRL_C = '''
import builtins, os, sys, time
_import, _where, _steps = builtins.__import__, os.environ["PAUSE_AT"], [0]
def _pause():
    if sys.modules["engine.training.stopping"].stop_requested():
        print("paused", flush=True)
        time.sleep(5)
def _step(step, *args, **kwargs):
    _steps[0] += 1
    if _steps[0] == 70:
        print("mid-epoch", flush=True)
        deadline = time.time() + 60
        while _where == "training" and not sys.modules["engine.training.stopping"].stop_requested() and time.time() < deadline:
            time.sleep(0.05)  # this step goes on once the first Ctrl-C came
        if _where == "training":
            _pause()
    return step(*args, **kwargs)
def _save(save, *args, **kwargs):
    _pause()
    return save(*args, **kwargs)
def _patch(module, name, wrapper):
    original = getattr(module, name)
    setattr(module, name, lambda *a, **k: wrapper(original, *a, **k))
def _pausing(name, *args, **kwargs):
    module = _import(name, *args, **kwargs)
    loop, checkpoint = sys.modules.get("engine.training.loop"), sys.modules.get("engine.run_dir.checkpoint")
    if hasattr(loop, "train_step") and not hasattr(loop, "_paused"):
        loop._paused = True
        _patch(loop, "train_step", _step)
    if hasattr(checkpoint, "CheckpointDir") and not hasattr(checkpoint, "_paused") and _where == "finish":
        checkpoint._paused = True
        _patch(checkpoint.CheckpointDir, "save", _save)
    return module
builtins.__import__ = _pausing
'''


@pytest.mark.parametrize("pause_at", ["training", "finish"])
def test_a_second_ctrl_c_still_records_interrupted_and_prints_the_resume_command(pause_at, tmp_path):
    (tmp_path / "sitecustomize.py").write_text(PAUSE_AFTER_THE_FIRST_CTRL_C)
    run_dir = tmp_path / "run"
    process = start_train(*SLOW_RUN, f"hydra.run.dir={run_dir}",
                          env={**os.environ, "PYTHONPATH": f"{tmp_path}:{ROOT}", "PAUSE_AT": pause_at})
    for line in process.stdout:
        if line == "mid-epoch\n":  # in epoch 2, past the first epoch's checkpoint
            break
    process.send_signal(signal.SIGINT)
    for line in process.stdout:
        if line == "paused\n":
            break
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 130 and "Traceback" not in err, err
    summary = read_summary(run_dir)
    assert summary["status"] == "interrupted"
    lines = err.splitlines()
    (at,) = [i for i, line in enumerate(lines) if line.endswith(" with:")]
    assert lines[at + 1].endswith(f"train.py resume={run_dir}")  # the resume command, alone on its line
    log = (run_dir / "train.log").read_text()
    assert f"resume={run_dir}" in log
    newest = CheckpointDir(run_dir / "checkpoints").latest().name
    if pause_at == "finish":  # the end was recorded in full: the stop checkpoint at the step it stopped at
        assert newest == f"epoch=0001-step={summary['global_step']:09d}.ckpt" and summary["global_step"] > 63
    else:  # exited at once, inside the step: the run continues from its last checkpoint, which the message names
        assert newest == "epoch=0001-step=000000063.ckpt" and f"last checkpoint ({newest}) with:" in " ".join(err.split())
