"""One writer per run directory: a second process is refused, a dead holder's lock is taken over."""
import os
import re
import signal
import socket
import subprocess
import sys

import pytest

from engine.platform.errors import fail
from engine.run_dir.events import open_event_writer
from engine.run_dir.lock import RunDirBusy, hold_run_dir
from engine.run_dir.summary import RunSummary, read_summary
from tests.support.runs import ROOT
from tests.support.runs import TINY, file_hashes

HOLDER = """
import sys, time
from engine.run_dir.lock import hold_run_dir
with hold_run_dir(sys.argv[1]):
    print("holding", flush=True)
    time.sleep(120)
"""


def _start_holder(run_dir):
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(run_dir)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "holding"
    return child


def test_a_second_process_on_a_live_run_directory_is_refused_and_writes_nothing(tmp_path, train):
    first = train(*TINY, "trainer.max_epochs=1", f"hydra.run.dir={tmp_path}")  # a run that is "still running"
    assert first.returncode == 0, first.stderr[-3000:]
    (tmp_path / "summary.json").write_text('{"status": "running"}')
    holder = _start_holder(tmp_path)
    before = file_hashes(tmp_path)
    try:
        second = train(*TINY, "trainer.max_epochs=1", f"hydra.run.dir={tmp_path}")
    finally:
        holder.kill()
        holder.wait()
    assert second.returncode == 2 and "Traceback" not in second.stderr
    message = " ".join(second.stderr.split())
    assert f"process {holder.pid} on host {socket.gethostname()} is writing it" in message
    assert "give another hydra.run.dir, or leave it out" in message  # the advice fits how the directory was chosen
    assert file_hashes(tmp_path) == before  # not even train.log or the lock file changed


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    holder = _start_holder(tmp_path)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert (tmp_path / ".lock").read_text().split()[0] == str(holder.pid)  # the dead holder's PID stays in the file
    with hold_run_dir(tmp_path):
        assert (tmp_path / ".lock").read_text() == f"{os.getpid()} {socket.gethostname()}\n"
        with pytest.raises(RunDirBusy, match=f"process {os.getpid()}"):  # flock: even a second open in one process
            with hold_run_dir(tmp_path):
                pass
    assert (tmp_path / ".lock").read_text() == ""  # released: emptied, never deleted


def test_event_files_name_their_host_and_process_and_sort_in_write_order(tmp_path):
    for step in (0, 10):  # a run and its resume, started within one second
        open_event_writer(tmp_path, step, {}).close()
    names = sorted(p.name for p in tmp_path.glob("events.out.tfevents.*"))
    assert [name.split(".", 4)[4] for name in names] == [
        f"{socket.gethostname()}.{step:012d}.{os.getpid()}" for step in (0, 10)]


def test_runs_started_in_the_same_second_get_their_own_directories_named_by_their_schedule():
    show = ("from engine.config.compose import compose_config; cfg = compose_config('scheduler=step', hydra_config=True); "
            "print(cfg.hydra.run.dir, cfg.hydra.run.dir)")  # resolved twice in one process: the same directory
    starts = [subprocess.Popen([sys.executable, "-c", show], cwd=ROOT, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    dirs = [start.communicate(timeout=120)[0].split() for start in starts]
    assert all(len(d) == 2 and d[0] == d[1] for d in dirs)
    assert all(re.fullmatch(r"runs/\d{4}-\d\d-\d\d/\d\d-\d\d-\d\d_step_[0-9a-f]{6}", d[0]) for d in dirs)
    assert dirs[0][0] != dirs[1][0]


def test_a_user_error_is_recorded_in_the_summary_of_the_run_dir_held_and_only_while_it_is_held(tmp_path):
    """engine.platform.errors.fail knows nothing of run directories: hold_run_dir registers the recording."""
    with hold_run_dir(tmp_path):
        with pytest.raises(SystemExit):
            fail("before the run began")  # no summary.json yet: nothing written
        assert read_summary(tmp_path) is None
        RunSummary(tmp_path, epochs=1)
        with pytest.raises(SystemExit):
            fail("no usable   checkpoint", command="python train.py resume=x")
    assert read_summary(tmp_path) == {"status": "failed", "epochs": 1, "error": "no usable checkpoint python train.py resume=x"}
    with pytest.raises(SystemExit):
        fail("after the lock was released")
    assert read_summary(tmp_path)["error"] == "no usable checkpoint python train.py resume=x"
