"""A finished run is immutable: a different config is refused with its differences, and nothing in it is rewritten."""
import json
import subprocess
import sys
import threading

import pytest
from omegaconf import OmegaConf

from engine.config.compose import compose_config
from engine.platform.errors import ConfigError
from engine.run_dir.resume import check_run_dir, rerun_command
from tests.support.runs import FINISHED, FRAMEWORK_PROBE, ROOT, TINY, file_hashes


def test_rerunning_a_finished_run_changes_nothing_in_it(finished_run, train):
    assert "epoch 3/3" in (finished_run / "train.log").read_text()  # the console lines, kept with the run
    before = file_hashes(finished_run)

    changed = train(*FINISHED, "trainer.max_epochs=8", "optimizer.lr=0.5", f"hydra.run.dir={finished_run}")
    assert changed.returncode == 2 and "Traceback" not in changed.stderr
    message = " ".join(changed.stderr.split())
    assert "already ended (completed)" in message
    assert "optimizer.lr: 0.1 -> 0.5; trainer.max_epochs: 3 -> 8" in message
    assert "Start a longer run in a new directory with:" in message
    assert changed.stderr.splitlines()[-1] == rerun_command(finished_run, "trainer.max_epochs=8")  # alone on the last line
    assert file_hashes(finished_run) == before

    grown = train(f"resume={finished_run}", "trainer.max_epochs=4")  # extending with resume= is refused the same way
    assert grown.returncode == 2 and "trainer.max_epochs: 3 -> 4" in " ".join(grown.stderr.split())
    assert "leave out resume=" in " ".join(grown.stderr.split()) and "hydra.run.dir" not in grown.stderr  # never typed
    assert file_hashes(finished_run) == before

    same = train(*FINISHED, "trainer.progress=true", f"hydra.run.dir={finished_run}")  # a harmless change: nothing to do
    assert same.returncode == 0 and "already ended (completed); nothing to do" in same.stdout
    assert file_hashes(finished_run) == before


def test_rerunning_a_finished_run_imports_no_framework(finished_run):
    """The finished run was found only after ~1 s of importing OneFlow (or torch): the check now comes first."""
    before = file_hashes(finished_run)
    result = subprocess.run([sys.executable, "-c", FRAMEWORK_PROBE, *FINISHED, f"hydra.run.dir={finished_run}"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "already ended (completed); nothing to do" in result.stdout
    assert "frameworks imported: []" in result.stdout
    assert file_hashes(finished_run) == before


def test_check_run_dir_compares_with_the_saved_config(tmp_path):
    cfg = compose_config(*TINY)
    assert check_run_dir(tmp_path, cfg) is None  # a new directory
    (tmp_path / ".hydra").mkdir()
    OmegaConf.save(cfg, tmp_path / ".hydra" / "config.yaml")
    (tmp_path / ".hydra" / "overrides.yaml").write_text("[]\n")  # Hydra writes it after config.yaml
    (tmp_path / "summary.json").write_text(json.dumps({"status": "diverged"}))
    assert check_run_dir(tmp_path, compose_config(*TINY, "device=cpu", "trainer.strict_resume=true")) == "diverged"
    (tmp_path / "summary.json").write_text(json.dumps({"status": "interrupted"}))
    assert check_run_dir(tmp_path, cfg) is None  # unfinished: the task resumes it
    with pytest.raises(ConfigError, match="continues only with it.*seed: 0 -> 3"):
        check_run_dir(tmp_path, compose_config(*TINY, "seed=3"))


def test_a_config_another_rank_is_still_writing_is_read_when_complete(tmp_path):
    cfg = compose_config(*TINY)
    text = OmegaConf.to_yaml(cfg)
    (tmp_path / ".hydra").mkdir()
    saved = tmp_path / ".hydra" / "config.yaml"
    saved.write_text(text[: len(text) // 2])  # Hydra writes in place: the other rank sees half a file
    def finish_writing() -> None:  # as Hydra does: config.yaml in place, then overrides.yaml
        saved.write_text(text)
        (tmp_path / ".hydra" / "overrides.yaml").write_text("[]\n")

    finish = threading.Timer(0.5, finish_writing)
    finish.start()
    try:
        assert check_run_dir(tmp_path, cfg) is None  # neither a YAML error nor differences
    finally:
        finish.join()
