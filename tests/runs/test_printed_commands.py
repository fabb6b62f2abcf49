"""Printed resume commands run as printed, for sweep job folders whose names hold `=`, `,` and spaces."""
import json
import subprocess

from engine.run_dir.resume import hydra_quote, resume_argv, resume_command
from tests.support.runs import ROOT
from tests.support.runs import TINY, read_scalars, read_summary


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


def test_printed_commands_name_the_interpreter_the_users_shell_reaches(tmp_path, monkeypatch):
    import os
    import sys

    from engine.run_dir.resume import python_command
    venv_bin = tmp_path / "project" / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").symlink_to(sys.executable)  # a venv's python: a link to the base interpreter
    monkeypatch.setattr(sys, "executable", str(venv_bin / "python"))
    monkeypatch.chdir(tmp_path / "project")
    monkeypatch.setenv("PATH", "/nonexistent")
    assert python_command() == ".venv/bin/python"  # not activated: the path, relative to the working directory
    monkeypatch.setenv("PATH", f"{os.path.dirname(os.path.realpath(sys.executable))}:/usr/bin")
    assert python_command() == ".venv/bin/python"  # `python` there is the base interpreter, without the venv
    monkeypatch.setenv("PATH", f"{venv_bin}:/usr/bin")
    assert python_command() == "python"  # an activated venv
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", "/nonexistent")
    assert python_command() == "project/.venv/bin/python"
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert python_command() == str(venv_bin / "python")  # outside the working directory: absolute
    assert resume_command(tmp_path / "run").startswith(python_command() + " ")
