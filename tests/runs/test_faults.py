"""Run-time faults (issue 20): kill -9 at any moment, signals, Ctrl-C during start-up, read-only and full disks.

Real subprocesses of train.py on a tiny model; docs/reliability.md lists every fault and what happens."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from tests.support.runs import FAST, ROOT, TINY, file_hashes, read_scalars, read_summary
from tests.support.runs import FULL_DISK_SITECUSTOMIZE as FULL_DISK
from tests.support.runs import SLOW_RUN as SLOW

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


# Loaded by the child at start-up (PYTHONPATH): the process kills itself (SIGKILL) when it makes durable the temporary
# file of the checkpoint named in KILL_AT: the epoch's points are in the event file, its checkpoint is a `.tmp`.
KILL_WHILE_A_CHECKPOINT_IS_WRITTEN = """
import os, signal
_fsync = os.fsync
def fsync(fd):
    if os.environ["KILL_AT"] in os.readlink(f"/proc/self/fd/{fd}"):
        os.kill(os.getpid(), signal.SIGKILL)
    return _fsync(fd)
os.fsync = fsync
"""


def hparams_sessions(run_dir):
    """How many HParams session starts the run's event files hold, every one counted (TensorBoard shows the last)."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    return sum(value.tag == "_hparams_/session_start_info" for path in run_dir.glob("events.out.tfevents.*")
               for event in EventFileLoader(str(path)).Load() for value in event.summary.value)


@pytest.mark.parametrize("backend", ["oneflow", "torch"])
def test_kill_9_at_any_moment_then_resume_keeps_every_point_of_every_series_once(backend, tmp_path, train):
    if backend == "torch":
        pytest.importorskip("torch", reason="backend=torch is installed by `bash scripts/setup.sh --with-torch`")
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    assert train(*EVERY_POINT, f"backend={backend}", f"hydra.run.dir={reference}").returncode == 0
    # Killed right after a mid-epoch checkpoint, right after an epoch's checkpoint, and between two checkpoints.
    for min_step, delay in ((8, 0.0), (20, 0.0), (24, 0.15)):
        process = start(*EVERY_POINT, f"backend={backend}", f"hydra.run.dir={killed}")
        wait_for_checkpoint(process, killed, min_step)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert read_summary(killed)["status"] == "running"
    # Then killed while the last epoch's checkpoint is written: its points are logged, its checkpoint is not.
    (tmp_path / "sitecustomize.py").write_text(KILL_WHILE_A_CHECKPOINT_IS_WRITTEN)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}:{ROOT}", "KILL_AT": ".epoch=0003-step=000000030.ckpt."}
    assert start(*EVERY_POINT, f"backend={backend}", f"hydra.run.dir={killed}", env=env).wait(timeout=600) == -signal.SIGKILL
    assert list((killed / "checkpoints").glob(".epoch=0003-step=000000030.ckpt.*"))
    assert [step for step, _ in read_scalars(killed)["val/acc1"]] == [1, 2, 3]
    result = train(f"resume={killed}")
    assert result.returncode == 0, result.stderr[-3000:]
    expected, actual = read_scalars(reference), read_scalars(killed)
    assert [step for step, _ in actual["train/loss"]] == list(range(30))
    assert {tag: len(points) for tag, points in actual.items()} == {tag: len(points) for tag, points in expected.items()}
    assert actual == expected  # every tag, every step, every value, each point once
    assert hparams_sessions(killed) == hparams_sessions(reference) == 1  # one session, however many resumes


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
    before_command = " ".join(" ".join(refused.stderr.splitlines()[:-1]).split())  # the paragraph wraps by its paths' length
    assert refused.returncode == 2 and before_command.endswith("in a new directory with:")
    longer = paste(refused.stderr.splitlines()[-1], cwd=tmp_path)
    assert longer.returncode == 0, longer.stderr[-3000:]
    (new_run,) = [p.parent for p in (tmp_path / "runs").glob("*/*/summary.json")]
    assert read_summary(new_run)["status"] == "completed" and read_summary(new_run)["epochs"] == 3


def test_a_closed_terminal_stops_the_run_like_sigterm(tmp_path):
    """SIGHUP from a real hang-up: the run's terminal (a pseudo-terminal, with progress bars) is closed under it."""
    import fcntl
    import pty
    import termios
    master, slave = pty.openpty()
    process = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *SLOW, "trainer.progress=true",
                                f"hydra.run.dir={tmp_path}"], cwd=ROOT, stdin=slave, stdout=slave, stderr=slave,
                               start_new_session=True, preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
    os.close(slave)
    seen = b""
    while not re.search(rb"(^|[\r\n])epoch 1/3 ", seen):  # the first epoch's line: past its checkpoint
        assert process.poll() is None, seen.decode(errors="replace")[-3000:]
        seen += os.read(master, 4096)
    os.close(master)  # the terminal goes away: the kernel sends SIGHUP
    assert process.wait(timeout=300) == 130
    summary = read_summary(tmp_path)
    assert summary["status"] == "interrupted" and 63 <= summary["global_step"] < 189
    log = (tmp_path / "train.log").read_text()  # the terminal is gone; the resume command is in the run's log
    assert f"resume={tmp_path}" in log and "Traceback" not in log
    assert f"step={summary['global_step']:09d}" in " ".join(p.name for p in (tmp_path / "checkpoints").iterdir())


USER_SIGNALS = """
import signal
from engine.training import stopping
with stopping.graceful_stop():
    signal.raise_signal(signal.SIG{unclaimed})
    print(stopping.stop_requested())
    stopping._request = None
    stopping.stop_on_signal(signal.SIG{claimed}, "requeued")  # as the Slurm launcher does in its jobs
with stopping.graceful_stop():
    signal.raise_signal(signal.SIG{claimed})
    print(stopping.stop_requested())
"""


@pytest.mark.parametrize("unclaimed, claimed", [("USR1", "USR2"), ("USR2", "USR1")])
def test_sigusr1_and_sigusr2_stop_like_sigterm_unless_claimed(unclaimed, claimed):
    result = subprocess.run([sys.executable, "-c", USER_SIGNALS.format(unclaimed=unclaimed, claimed=claimed)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["interrupted", "requeued"]  # a claimed notice keeps its meaning


# Loaded by the child at start-up (PYTHONPATH): start-up pauses at PAUSE_AT, so that a signal lands there:
# while OneFlow is imported (which replaces the SIGINT handler), or once the run's files exist (summary.json, events).
SLOW_START_UP = '''
import builtins, os, sys, time
_import, _where = builtins.__import__, os.environ["PAUSE_AT"]
def _pausing(name, *args, **kwargs):
    if _where == "oneflow import" and name == "oneflow" and "oneflow" not in sys.modules:
        print("paused", flush=True)
        time.sleep(3)
    module = _import(name, *args, **kwargs)
    recorder = sys.modules.get("engine.run_dir.recorder")
    if _where == "run files" and hasattr(recorder, "RunRecorder") and not hasattr(recorder, "_paused"):
        recorder._paused, restore = True, recorder.RunRecorder.restore_newest
        def paused_restore(self, *a, **k):
            progress = restore(self, *a, **k)
            print("paused", flush=True)
            time.sleep(30)
            return progress
        recorder.RunRecorder.restore_newest = paused_restore
    return module
builtins.__import__ = _pausing
'''


@pytest.mark.parametrize("pause_at", ["oneflow import", "run files"])
def test_ctrl_c_during_start_up_exits_130_and_leaves_nothing(pause_at, tmp_path):
    (tmp_path / "sitecustomize.py").write_text(SLOW_START_UP)
    runs = tmp_path / "runs"
    process = subprocess.Popen([sys.executable, "-u", str(ROOT / "train.py"), *TINY, f"hydra.run.dir={runs}/new"],
                               cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, "PYTHONPATH": f"{tmp_path}:{ROOT}", "PAUSE_AT": pause_at})
    assert process.stdout.readline() == "paused\n"
    assert (runs / "new" / "summary.json").is_file() == (pause_at == "run files")
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in err, err
    assert "Ctrl-C during start-up: stopped before the first training step; nothing was started" in err
    assert not runs.exists()  # neither the run directory nor the parent it made


def _read_only_command(folder, argv):
    """`argv` run with `folder` read-only: a read-only bind mount for root (whom permissions do not stop), else chmod."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return argv
    if subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode != 0:
        pytest.skip("root without a mount namespace: cannot make a folder read-only")
    return ["unshare", "--mount", "sh", "-c", 'mount --bind -o ro "$0" "$0" && exec "$@"', str(folder), *argv]


def train_read_only(folder, *overrides):
    try:
        return subprocess.run(_read_only_command(folder, [sys.executable, str(ROOT / "train.py"), *overrides]), cwd=ROOT,
                              capture_output=True, text=True, timeout=600)
    finally:
        folder.chmod(0o755)


def test_a_read_only_run_directory_or_parent_is_one_paragraph_and_exit_2(tmp_path, train):
    parent = tmp_path / "read-only"
    run_dir = parent / "run"
    assert train(*TINY, "trainer.max_epochs=1", f"hydra.run.dir={run_dir}").returncode == 0
    (parent / "empty").mkdir()
    cases = {  # what is read-only: the parent of a new run, of a new sweep, a new run's empty folder, a stopped run
        "parent": (*TINY, f"hydra.run.dir={parent}/new"),
        "sweep parent": ("-m", *TINY, "seed=0,1", f"hydra.sweep.dir={parent}/sweep"),
        "empty folder": (*TINY, f"hydra.run.dir={parent}/empty"),
    }
    for case, overrides in cases.items():
        result = train_read_only(parent, *overrides)
        assert result.returncode == 2 and "Traceback" not in result.stderr, (case, result.stderr)
        message = " ".join(result.stderr.split())
        assert "cannot be written" in message and ("read-only file system" in message or "permissions" in message)
    assert train_read_only(parent, f"resume={run_dir}").returncode == 0  # a finished run is only read: nothing to do
    summary = read_summary(run_dir)
    (run_dir / "summary.json").write_text(json.dumps({**summary, "status": "interrupted"}))  # as if stopped
    before = file_hashes(parent)
    result = train_read_only(parent, f"resume={run_dir}")
    assert result.returncode == 2 and "Traceback" not in result.stderr and "Logging error" not in result.stderr
    message = " ".join(result.stderr.split())
    assert f"{run_dir} is " in message and "so this run cannot continue there" in message
    assert file_hashes(parent) == before


def test_a_full_disk_between_the_epochs_checkpoint_and_best_ckpt_is_repaired_on_resume(tmp_path, train):
    """The epoch-2 checkpoint is written, best.ckpt's write then fails: best.ckpt holds epoch 1 while epoch 2 is the best."""
    from engine.run_dir.checkpoint import load_checkpoint
    (tmp_path / "sitecustomize.py").write_text(FULL_DISK)
    run_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}:{ROOT}", "CHECKPOINTS_THAT_FIT": "3"}  # epoch 1, its best, epoch 2
    _, err = start(*TINY, f"hydra.run.dir={run_dir}", env=env).communicate(timeout=600)
    assert "No space left on device" in err
    best, epoch_2 = run_dir / "checkpoints" / "best.ckpt", run_dir / "checkpoints" / "epoch=0002-step=000000004.ckpt"
    assert load_checkpoint(best)["progress"]["best"]["epoch"] == 1 and load_checkpoint(epoch_2)["progress"]["best"]["epoch"] == 2
    resumed = train(f"resume={run_dir}")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "best.ckpt did not hold epoch 2, the best" in " ".join(resumed.stderr.split())
    assert best.read_bytes() == epoch_2.read_bytes() and read_summary(run_dir)["best_epoch"] == 2
    again = train(f"resume={run_dir}")  # a finished run: nothing to do, nothing repaired
    assert again.returncode == 0 and "best.ckpt" not in again.stderr
