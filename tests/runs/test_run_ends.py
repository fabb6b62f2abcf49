"""Every way a run ends goes through one path: Ctrl-C, a full disk, completion. Real subprocesses, real signals."""
import json
import os
import re
import signal
import subprocess
import sys

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
