"""Printed resume commands run as printed, for sweep job folders whose names hold `=`, `,` and spaces."""
import json
import subprocess

from engine.resume import hydra_quote, resume_argv, resume_command
from tests.conftest import ROOT
from tests.engine_runs import TINY, read_scalars, read_summary


def test_the_printed_resume_command_of_a_sweep_job_runs_as_printed(tmp_path, train):
    sweep = tmp_path / "my sweep"
    result = train("-m", *TINY, "seed=1", f"hydra.sweep.dir={hydra_quote(str(sweep))}")
    assert result.returncode == 0, result.stderr[-3000:]
    (job,) = [p for p in sweep.iterdir() if p.is_dir()]
    assert "=" in job.name and "," in job.name
    (job / "checkpoints" / "epoch=0002-step=000000004.ckpt").unlink()  # as if killed in its second epoch
    (job / "summary.json").write_text(json.dumps({**read_summary(job), "status": "interrupted"}))

    command = resume_command(job)
    assert "resume=" in command
    pasted = subprocess.run(["bash", "-c", command], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert pasted.returncode == 0, pasted.stderr[-3000:]
    assert "resuming from" in pasted.stdout and read_summary(job)["status"] == "completed"
    assert [step for step, _ in read_scalars(job)["lr"]] == list(range(4))


def test_resume_accepts_plain_and_hydra_quoted_folders(tmp_path):
    job = tmp_path / "scheduler=cosine,seed=1"
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text("- scheduler=cosine\n- seed=1\n")
    for given in (str(job), f"'{job}'", f'"{job}"'):
        argv = resume_argv(["train.py", f"resume={given}", "trainer.progress=false"])
        assert argv == ["train.py", "scheduler=cosine", "seed=1", "trainer.progress=false", f"resume='{job}'",
                        f"hydra.run.dir='{job}'"]
