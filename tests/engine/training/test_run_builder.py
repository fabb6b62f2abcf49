"""One run builder: the preview, train.py and bench.py agree on every run's steps, because they share it."""
import pytest

from engine.config.compose import compose_config
from engine.training.run import build_run, planned_lr_curve, steps_per_epoch, validated
from tests.support.runs import read_scalars

TINY = ["data=synthetic", "model=tiny", "data.batch_size=64", "trainer.max_epochs=2", "trainer.progress=false"]


@pytest.mark.parametrize("extra,expected_spe", [
    (["data.train_size=330", "data.val_split=64"], 5),  # (330 - 64) / 64 -> 5 steps, the last one short
    (["data.train_size=330", "data.val_split=64", "trainer.graph=true"], 4),  # graph mode drops the short batch
])
def test_the_preview_has_exactly_the_training_runs_steps(extra, expected_spe, tmp_path, train):
    cfg = compose_config(*TINY, *extra)
    assert steps_per_epoch(cfg) == build_run(validated(cfg)).steps_per_epoch == expected_spe
    result = train(*TINY, *extra, f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    logged = read_scalars(tmp_path)["lr"]
    preview = planned_lr_curve(cfg)
    assert [step for step, _ in logged] == [step for step, _, _ in preview] == list(range(2 * expected_spe))
    assert [value for _, value in logged] == pytest.approx([lr for _, _, lr in preview], rel=1e-6)


def test_a_config_error_leaves_no_run_directory(tmp_path, train):
    run_dir = tmp_path / "runs" / "day" / "time"
    result = train(*TINY, "scheduler=warmup_cosine", "scheduler.lr_scheduler.warmup_iters=5",  # in a 2-epoch run
                   f"hydra.run.dir={run_dir}")
    assert result.returncode == 2 and "Traceback" not in result.stderr and "warmup_iters" in result.stderr
    assert not run_dir.exists() and not run_dir.parent.exists()  # nor the empty date folder above it


def test_data_that_cannot_be_read_leaves_no_run_directory(tmp_path, train):
    run_dir = tmp_path / "runs" / "day" / "time"  # offline CIFAR-100: a DataError once the model and schedule are built
    result = train("model=tiny", "trainer.max_epochs=1", f"data.dataset.root={tmp_path / 'data'}",
                   f"data.dataset.url=file://{tmp_path / 'absent.tar.gz'}", f"hydra.run.dir={run_dir}")
    assert result.returncode == 2 and "Traceback" not in result.stderr and "absent.tar.gz" in result.stderr
    assert not run_dir.exists() and not run_dir.parent.exists()  # no summary.json "failed", events or .lock
