"""Console lines: in train.log, prefixed with the job's name in parallel sweeps, none lost; bars only on terminals."""
import os

import pytest

from engine.console import PARALLEL_JOB_ENV, show_progress
from engine.errors import ConfigError
from tests.engine_runs import TINY, read_summary


def test_progress_auto_draws_bars_only_on_a_terminal_of_its_own(monkeypatch, tmp_path):
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
        (job,) = [p for p in tmp_path.iterdir() if p.is_dir() and p.name.endswith(f"seed={seed},trainer.max_epochs=2")]
        lines = [line for line in result.stdout.splitlines() if line.startswith(f"[{job.name}] ")]
        assert [line.split("] ", 1)[1].split("  ")[0] for line in lines] == ["epoch 1/2", "epoch 2/2", f"run directory: {job}"]
        log = (job / "train.log").read_text()  # each job's own lines, in its own train.log
        assert log.count("epoch ") == 2 and f"seed={1 - seed}," not in log
        assert read_summary(job)["status"] == "completed"
    assert all(line.startswith("[") or line.startswith("#") or not line.strip() for line in result.stdout.splitlines()
               if "epoch" in line)


def test_a_failed_sweep_job_is_recorded_and_the_sweep_goes_on(tmp_path, train):
    result = train("-m", *TINY, "trainer.amp=true,false", f"hydra.sweep.dir={tmp_path}")  # amp needs CUDA: job 0 fails
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "a job of this sweep failed" in result.stderr
    job_name = next(p.name for p in tmp_path.iterdir() if "trainer.amp=True" in p.name)
    paragraph = [line for line in result.stderr.splitlines() 
                 if ("needs a CUDA device" in line or "GradScaler" in line) and "sweep failed" not in line]
    assert paragraph and all(line.startswith(f"[{job_name}] ") for line in paragraph)  # every line names its job
    jobs = {p.name.split("trainer.amp=")[1].split(",")[0].lower(): p for p in tmp_path.iterdir() if p.is_dir()}
    failed = read_summary(jobs["true"])
    assert failed["status"] == "failed" and failed["error"].startswith("trainer.amp=true needs a CUDA device")
    assert "error: trainer.amp=true needs" in (jobs["true"] / "train.log").read_text()
    assert read_summary(jobs["false"])["status"] == "completed"  # the job after the failed one ran
