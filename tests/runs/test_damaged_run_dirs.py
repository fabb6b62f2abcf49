"""Run directories damaged outside a run's control (issue 30): a saved config cut by a full disk or a kill at
start-up, and files that only look like a run's (garbage run_info.json, a FIFO named like a checkpoint)."""
from tests.support.runs import TINY, assert_clean_failure


def message(result):
    return " ".join(result.stderr.split())


def test_an_empty_saved_config_is_named_and_the_directory_holding_nothing_else_is_freed(tmp_path, train):
    run_dir = tmp_path / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "config.yaml").write_text("")  # Hydra's write at start-up hit a full disk
    refused = train(*TINY, "trainer.max_epochs=1", f"hydra.run.dir={run_dir}")
    assert refused.returncode == 2
    assert_clean_failure(refused)
    said = message(refused)
    assert f"the saved config of {run_dir} cannot be read: {run_dir}/.hydra/config.yaml is empty" in said
    assert "another config" not in said and "<absent>" not in said
    assert f"Nothing of a run was in {run_dir}, so it has been removed: run the command again." in said
    assert not run_dir.exists()
    again = train(*TINY, "trainer.max_epochs=1", f"hydra.run.dir={run_dir}")  # as the paragraph says
    assert again.returncode == 0, again.stderr[-3000:]


def test_a_cut_saved_config_beside_checkpoints_is_named_by_a_rerun_and_by_resume(tmp_path, train):
    run_dir = tmp_path / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "config.yaml").write_text("seed: 0\ndevice: cpu\nmodel:\n")  # killed mid-write
    (run_dir / "checkpoints").mkdir()
    (run_dir / "checkpoints" / "epoch=0001-step=000000002.ckpt").write_bytes(b"a run's state")
    for command in ((*TINY, f"hydra.run.dir={run_dir}"), (f"resume={run_dir}",)):
        refused = train(*command)
        assert refused.returncode == 2
        assert_clean_failure(refused)
        said = message(refused)
        assert f"{run_dir}/.hydra/config.yaml is incomplete (.hydra/overrides.yaml" in said, said
        assert f"restore {run_dir}/.hydra from a copy of the run, or start the run again in another directory" in said
        assert "not a run directory" not in said and "another config" not in said
    assert (run_dir / "checkpoints" / "epoch=0001-step=000000002.ckpt").is_file()
