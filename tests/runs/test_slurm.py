"""Sweeps on a real Slurm cluster (scripts/slurm_local.sh: one node, partition `debug`), through hydra/launcher=slurm.

The `slurm` tests submit real jobs and skip, with the reason, where a local cluster cannot be started
(not root, no apt-get, no slurm-wlm package). The unmarked ones need no cluster: the preflight's
reading of Slurm's formats and its refusal without Slurm.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hydra_plugins.checked_slurm_launcher.preflight import Partition, Request, count_gpus, parse_seconds, refusals
from scripts import compare_runs
from tests.support.runs import ROOT, run_train
from tests.support.runs import read_scalars

SCRIPT = ROOT / "scripts" / "slurm_local.sh"
# What the local partition can hold (2 CPUs here): one CPU per job, so two jobs run side by side.
FITS = ["hydra/launcher=slurm", "hydra.launcher.partition=debug", "hydra.launcher.gpus_per_node=0",
        "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=2", "hydra.launcher.timeout_min=20"]
SMALL = ["data=synthetic", "model=tiny", "data.train_size=256", "data.batch_size=64", "data.dataset.test_size=100",
         "trainer.progress=false", "trainer.log_every_n_steps=1", "trainer.max_epochs=1"]


@pytest.fixture(scope="session")
def slurm_cluster():
    """The local cluster, started for the session (and stopped after, unless it was already running)."""
    if not SCRIPT.exists() or shutil.which("bash") is None:
        pytest.skip("scripts/slurm_local.sh needs bash")
    was_running = subprocess.run(["bash", str(SCRIPT), "status"], capture_output=True).returncode == 0
    if not was_running:
        started = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True, timeout=900)
        if started.returncode != 0:
            pytest.skip(f"no local Slurm cluster: scripts/slurm_local.sh start failed: {(started.stderr or started.stdout).strip()[-500:]}")
    yield
    if not was_running:
        subprocess.run(["bash", str(SCRIPT), "stop"], capture_output=True, timeout=120)


def run_dirs(sweep: Path) -> dict[str, Path]:
    return {p.name: p for p in sweep.iterdir() if p.is_dir() and not p.name.startswith(".")}


def status_of(run_dir: Path) -> str:
    return json.loads((run_dir / "summary.json").read_text())["status"]


def submitted_ids(sweep: Path) -> set[str]:
    """Slurm job ids (array task ids) that submitit made log folders for."""
    folder = sweep / ".submitit"
    return {p.name for p in folder.iterdir() if re.fullmatch(r"\d+(_\d+)?", p.name)} if folder.is_dir() else set()


def said(result: subprocess.CompletedProcess) -> str:
    """stderr with the paragraph's line breaks undone."""
    return " ".join(result.stderr.split())


def queued() -> str:
    return subprocess.run(["squeue", "-h", "-r", "-o", "%i %T"], capture_output=True, text=True).stdout


# ---- no cluster needed

def test_slurm_formats_are_read_as_slurm_means_them():
    assert parse_seconds("30") == 1800 and parse_seconds("4:05") == 245 and parse_seconds("1:00:00") == 3600
    assert parse_seconds("2-00:30:00") == 2 * 86400 + 1800 and parse_seconds("1-12") == 36 * 3600
    assert parse_seconds("UNLIMITED") is None and parse_seconds("infinite") is None
    assert count_gpus("(null)") == 0 and count_gpus("gpu:4") == 4
    assert count_gpus("gpu:a100:2(S:0-1),gpu:v100:1,shard:8") == 3


def test_refusals_name_each_field_its_limit_and_the_override():
    small = Partition(name="debug", state="UP", node_count=1, cpus_per_node=2, mem_mb_per_node=8000, gpus_per_node=0, max_time_min=30)
    found = dict(refusals(Request(partition="debug", cpus_per_task=8, mem_gb=32, gpus_per_node=1, timeout_min=1440, nodes=2),
                          small, gpu_partitions=["gpu"]))
    assert set(found.values()) == {"hydra.launcher.nodes=1", "hydra.launcher.cpus_per_task=2", "hydra.launcher.mem_gb=7",
                                   "hydra.launcher.gpus_per_node=0", "hydra.launcher.timeout_min=30"}
    problems = " ".join(found)
    assert "has 2" in problems and "8000 MB" in problems and "partitions with GPUs: gpu" in problems and "(30 min)" in problems
    assert refusals(Request(partition="debug", cpus_per_task=1, mem_gb=4, gpus_per_node=0, timeout_min=30), small) == []


def test_without_slurm_the_launcher_says_so_in_one_paragraph(tmp_path):
    # A PATH with this Python but none of Slurm's commands.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    env = {**os.environ, "PATH": f"{bin_dir}:/usr/bin/nonexistent"}
    result = subprocess.run([sys.executable, str(ROOT / "train.py"), "-m", "hydra/launcher=slurm", *SMALL,
                             f"hydra.sweep.dir={tmp_path / 'sweep'}"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "this machine has no Slurm" in said(result) and "scripts/slurm_local.sh start" in said(result)
    # Hydra's sweeper writes multirun.yaml before it calls the launcher; nothing else may be there.
    assert "Traceback" not in result.stderr and [p.name for p in (tmp_path / "sweep").iterdir()] == ["multirun.yaml"]


# ---- on the local cluster

@pytest.mark.slurm
def test_a_request_that_cannot_fit_is_refused_in_seconds(slurm_cluster, tmp_path):
    sweep = tmp_path / "sweep"
    before = queued()
    started = time.monotonic()
    # The launcher config's GPU-cluster defaults (8 CPUs, 32 GB, 1 GPU) on a partition without GPUs.
    result = run_train("-m", "hydra/launcher=slurm", "hydra.launcher.partition=debug", *SMALL, f"hydra.sweep.dir={sweep}")
    assert result.returncode == 2, result.stderr[-2000:]
    assert time.monotonic() - started < 60
    error = said(result)
    assert "hydra.launcher.gpus_per_node=1" in error and "'debug' have no GPUs" in error
    assert "hydra.launcher.gpus_per_node=0" in error and "Nothing was submitted" in error and "Traceback" not in error
    assert queued() == before and not submitted_ids(sweep)

    missing = run_train("-m", *[o for o in FITS if "partition" not in o], "hydra.launcher.partition=nosuch", *SMALL,
                        f"hydra.sweep.dir={sweep}")
    assert missing.returncode == 2 and "hydra.launcher.partition=nosuch" in said(missing)
    assert "its partitions are debug" in said(missing) and not submitted_ids(sweep)


@pytest.mark.slurm
def test_a_sweep_runs_as_slurm_jobs_and_a_rerun_submits_only_unfinished_ones(slurm_cluster, tmp_path):
    sweep = tmp_path / "sweep"
    command = ["-m", *FITS, *SMALL, "scheduler=cosine,step", f"hydra.sweep.dir={sweep}"]
    result = run_train(*command)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = run_dirs(sweep)
    assert sorted(runs) == ["scheduler=cosine", "scheduler=step"]  # named by what varies
    assert all(status_of(run) == "completed" for run in runs.values())
    jobs = submitted_ids(sweep)
    assert len(jobs) == 3  # the array and its two tasks, e.g. 7, 7_0, 7_1
    logs = {job: (sweep / ".submitit" / job / f"{job}_0_log.out").read_text() for job in jobs if "_" in job}
    assert sorted("scheduler=cosine" in log for log in logs.values()) == [False, True]
    assert all("run directory: " + str(sweep) in log for log in logs.values())
    # No accounting here: one line says so, instead of a warning per poll.
    output = result.stdout + result.stderr  # Hydra logs to stdout
    assert output.count("sacct") == 1 and "status may be inaccurate" not in output
    assert compare_runs.main([str(sweep), "--out", str(tmp_path / "table")]) == 0
    table = (tmp_path / "table" / "comparison.csv").read_text()
    assert "cosine" in table and "step" in table

    # The cosine run counts as unfinished again: only its job is submitted, and it finishes from its checkpoint.
    cosine = next(run for name, run in runs.items() if "scheduler=cosine" in name)
    summary = json.loads((cosine / "summary.json").read_text())
    (cosine / "summary.json").write_text(json.dumps({**summary, "status": "interrupted"}))
    again = run_train(*command)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("not submitted") == 1 and "scheduler=step already completed" in again.stdout
    assert len(submitted_ids(sweep) - jobs) == 1
    assert status_of(cosine) == "completed" and len(run_dirs(sweep)) == 2


@pytest.mark.slurm
def test_a_preempted_job_is_requeued_and_ends_with_the_same_curves(slurm_cluster, tmp_path):
    sweep = tmp_path / "sweep"
    # Two jobs of one experiment (keep_last changes nothing that is trained); job #0 gets the preemption notice.
    launcher = subprocess.Popen([sys.executable, str(ROOT / "train.py"), "-m", *FITS, *SMALL, "data.train_size=1024", "data.batch_size=8",
                                 "trainer.max_epochs=2", "trainer.keep_last=2,3", f"hydra.sweep.dir={sweep}"],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        target = wait_for_run_start(sweep, "trainer.keep_last=2", launcher)
        job = next(job for job in submitted_ids(sweep) if job.endswith("_0"))
        # What Slurm sends before a time limit or a preemption (submitit's --signal, USR2 by default).
        subprocess.run(["scancel", "--signal=USR2", job], check=True)
        _, err = launcher.communicate(timeout=600)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode == 0, err[-3000:]
    log = (sweep / ".submitit" / job / f"{job}_0_log.out").read_text()
    assert "requeued at step" in log and "requeued job" in log and "resuming from" in log
    runs = run_dirs(sweep)
    assert [status_of(run) for run in runs.values()] == ["completed", "completed"]
    info = json.loads((target / "run_info.json").read_text())
    assert len(info.get("resumed", [])) == 1
    signalled, reference = read_scalars(target), read_scalars(next(r for r in runs.values() if r != target))
    assert len(signalled["lr"]) == 256 and signalled == reference


def wait_for_run_start(sweep: Path, name_part: str, launcher: subprocess.Popen, timeout: float = 300) -> Path:
    """The run directory of the job named by `name_part`, once its run has started (summary.json written)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if launcher.poll() is not None:
            pytest.fail(f"the launcher ended before the run started: {launcher.stderr.read()[-3000:]}")
        for run in (run_dirs(sweep) if sweep.is_dir() else {}).values():
            if name_part in run.name and (run / "summary.json").exists():
                return run
        time.sleep(0.5)
    pytest.fail(f"no run {name_part} started in {sweep} within {timeout} s; queue: {queued()}")


def active_tasks(array: str) -> list[str]:
    return [line for line in queued().splitlines() if line.split()[0].split("_")[0] == array and line.split()[1] in ("PENDING", "RUNNING")]


@pytest.mark.slurm
@pytest.mark.parametrize("on_interrupt", ["cancel", "leave"])
def test_ctrl_c_of_the_launcher_says_what_happens_to_the_submitted_jobs(slurm_cluster, tmp_path, on_interrupt):
    sweep = tmp_path / "sweep"
    launcher = subprocess.Popen([sys.executable, str(ROOT / "train.py"), "-m", *FITS, f"hydra.launcher.on_interrupt={on_interrupt}",
                                 *SMALL, "trainer.max_epochs=50", "scheduler=cosine,step", f"hydra.sweep.dir={sweep}"],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not submitted_ids(sweep) and time.monotonic() < deadline and launcher.poll() is None:
            time.sleep(0.5)
        array = min(submitted_ids(sweep), key=len)
        launcher.send_signal(signal.SIGINT)
        _, err = launcher.communicate(timeout=120)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    message = " ".join(err.split())
    assert launcher.returncode == 130, err[-3000:]
    assert f"hydra.sweep.dir={sweep}" in message
    if on_interrupt == "leave":
        assert f"keep running (hydra.launcher.on_interrupt=leave). Watch them with `squeue -j {array}`" in message
        assert active_tasks(array)  # still queued or running
        subprocess.run(["scancel", array], check=True)
        return
    assert f"cancelled this sweep's 2 Slurm job(s) with `scancel {array}`" in message
    deadline = time.monotonic() + 60
    while active_tasks(array) and time.monotonic() < deadline:
        time.sleep(1)
    assert not active_tasks(array)


@pytest.mark.slurm
def test_requeues_after_time_limits_are_bounded_by_max_num_timeout(slurm_cluster, tmp_path):
    sweep = tmp_path / "sweep"
    # A 2-minute limit with a 60 s notice: any notice now is a time-limit notice; none may be followed by a requeue.
    launcher = subprocess.Popen([sys.executable, str(ROOT / "train.py"), "-m", *FITS, "hydra.launcher.timeout_min=2",
                                 "hydra.launcher.signal_delay_s=60", "hydra.launcher.max_num_timeout=0", *SMALL,
                                 "data.train_size=1024", "data.batch_size=8", f"hydra.sweep.dir={sweep}"],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        run = wait_for_run_start(sweep, "data.train_size=1024", launcher)
        (job,) = submitted_ids(sweep)
        subprocess.run(["scancel", "--signal=USR2", job], check=True)
        _, err = launcher.communicate(timeout=300)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode == 0, err[-3000:]
    logs = [(sweep / ".submitit" / job / f"{job}_0_log.{kind}").read_text() for kind in ("out", "err")]
    log = " ".join(" ".join(logs).split())  # the run's lines on stdout, the launcher's warning on stderr
    assert "requeued at step" in log and "not requeued" in log and "hydra.launcher.max_num_timeout=0" in log
    assert f"resume={run}" in log and "resuming from" not in log
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "interrupted" and 0 < summary["global_step"] < 128


@pytest.mark.slurm
def test_a_job_requeued_by_slurm_itself_resumes_from_its_stop(slurm_cluster, tmp_path):
    # `scontrol requeue` (an admin, or preemption with PreemptMode=REQUEUE): Slurm sends SIGTERM, the run stops at a
    # step boundary as 'interrupted' with a checkpoint, and Slurm starts the job again in the same directory.
    sweep = tmp_path / "sweep"
    # A checkpoint after every step (changes nothing that is trained) shows when the training loop runs: SIGTERM
    # before it (while the run is being built) is ignored, as submitit does, and the job simply starts over.
    launcher = subprocess.Popen([sys.executable, str(ROOT / "train.py"), "-m", *FITS, *SMALL, "data.train_size=1024", "data.batch_size=8",
                                 "trainer.checkpoint_every_n_steps=1", f"hydra.sweep.dir={sweep}"],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        run = wait_for_run_start(sweep, "data.train_size=1024", launcher)
        deadline = time.monotonic() + 120
        while not list((run / "checkpoints").glob("*.ckpt")) and time.monotonic() < deadline:
            time.sleep(0.2)
        (job,) = submitted_ids(sweep)
        subprocess.run(["scontrol", "requeue", job], check=True)
        _, err = launcher.communicate(timeout=300)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert launcher.returncode == 0, err[-3000:]
    assert status_of(run) == "completed"
    (resumed,) = json.loads((run / "run_info.json").read_text())["resumed"]
    log = (sweep / ".submitit" / job / f"{job}_0_log.out").read_text() + (sweep / ".submitit" / job / f"{job}_0_log.err").read_text()
    assert f"interrupted at step {resumed['from_global_step']}" in log and "resuming from" in log
    assert [step for step, _ in read_scalars(run)["lr"]] == list(range(128))  # every step once, none lost or repeated
