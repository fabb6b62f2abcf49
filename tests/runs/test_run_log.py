"""Console lines: in train.log, prefixed with the job's name in parallel sweeps, none lost; bars only on terminals."""
import json
import os
import re

import pytest

from engine.platform.console import PARALLEL_JOB_ENV, show_progress
from engine.platform.errors import ConfigError
from tests.support.runs import TINY, read_summary


def test_progress_auto_draws_bars_only_on_a_terminal_of_its_own(monkeypatch, tmp_path):
    monkeypatch.delenv(PARALLEL_JOB_ENV, raising=False)
    _, tty = os.openpty()
    with open(tty, "w") as terminal, open(tmp_path / "log", "w") as file:
        assert show_progress("auto", terminal) and not show_progress("auto", file)
        assert show_progress(True, file) and not show_progress(False, terminal)
        monkeypatch.setenv(PARALLEL_JOB_ENV, "1")
        assert not show_progress("auto", terminal)
    with pytest.raises(ConfigError, match="trainer.progress='sometimes' is not valid"):
        show_progress("sometimes")


def test_parallel_jobs_lines_carry_their_job_name_and_none_is_lost(tmp_path, train):
    result = train("-m", "hydra/launcher=parallel", *TINY, "seed=0,1", f"hydra.sweep.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    for seed in (0, 1):
        (job,) = [p for p in tmp_path.iterdir() if p.is_dir() and re.search(rf"(^|,)seed={seed}(,|$)", p.name)]
        lines = [line for line in result.stdout.splitlines() if line.startswith(f"[{job.name}] ")]
        assert [line.split("] ", 1)[1].split("  ")[0] for line in lines] == ["epoch 1/2", "epoch 2/2", f"run directory: {job}"]
        log = (job / "train.log").read_text()  # each job's own lines, in its own train.log
        assert log.count("epoch ") == 2 and not re.search(rf"seed={1 - seed}\b", log)
        assert read_summary(job)["status"] == "completed"
    assert all(line.startswith("[") or line.startswith("#") or not line.strip() for line in result.stdout.splitlines()
               if "epoch" in line)


def test_a_failed_sweep_job_is_recorded_and_the_sweep_goes_on(tmp_path, train):
    sweep = ("-m", *TINY, "seed=0,1", f"hydra.sweep.dir={tmp_path}")
    assert train(*sweep).returncode == 0
    jobs = {int(p.name.split("seed=")[1].split(",")[0]): p for p in tmp_path.iterdir() if p.is_dir()}
    for checkpoint in (jobs[0] / "checkpoints").glob("epoch=*.ckpt"):  # job 0: nothing left to resume from
        checkpoint.write_bytes(b"garbage")
    (jobs[1] / "checkpoints" / "epoch=0002-step=000000004.ckpt").unlink()  # job 1: killed in its second epoch
    for job in jobs.values():
        (job / "summary.json").write_text(json.dumps({**read_summary(job), "status": "interrupted"}))

    result = train(*sweep)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "a job of this sweep failed" in result.stderr  # one line (and Hydra's HYDRA_FULL_ERROR hint), no traceback
    failed = read_summary(jobs[0])
    assert failed["status"] == "failed" and failed["error"].startswith(f"checkpoint {jobs[0] / 'checkpoints'}")
    assert "No checkpoint in" in failed["error"] and "No checkpoint in" in (jobs[0] / "train.log").read_text()
    paragraph = [line for line in result.stderr.splitlines()
                 if ("cannot be trusted" in line or "No checkpoint in" in line) and "sweep failed" not in line]
    assert paragraph and all(line.startswith(f"[{jobs[0].name}] ") for line in paragraph)  # each line names its job
    assert read_summary(jobs[1])["status"] == "completed"  # the job after the failed one ran
