"""train.py and the schedule: bad schedules stop before any data is read; the logged `lr` is the preview."""
import math

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from engine.config.compose import compose_config
from engine.training.run import planned_lr_curve
from tests.support.runs import assert_clean_failure


def test_bad_schedule_fails_before_data_is_loaded(tmp_path, train):
    # the dataset does not exist: had the run got as far as loading data it would report that instead
    result = train("scheduler=warmup_cosine", "scheduler.lr_scheduler.warmup_iters=5", "trainer.max_epochs=3",
                   f"data.dataset.root={tmp_path / 'none'}",
                   "data.dataset.download=false", "model=tiny", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "scheduler.lr_scheduler.warmup_iters = 5" in result.stderr and "CIFAR" not in result.stderr


def test_logged_lr_is_the_previewed_curve(tmp_path, train):
    overrides = ["experiment=smoke", "scheduler=onecycle", "trainer.max_epochs=2", "data.train_size=320",
                 "data.batch_size=64", "trainer.progress=false"]
    result = train(*overrides, f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    events = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0})
    events.Reload()
    logged = [(e.step, e.value) for e in events.Scalars("lr")]
    preview = planned_lr_curve(compose_config(*overrides))
    assert [s for s, _ in logged] == [s for s, _, _ in preview] == list(range(10))
    for (_, value), (_, _, lr) in zip(logged, preview):
        assert math.isclose(value, lr, rel_tol=1e-6)  # TensorBoard stores float32
    assert preview[0][2] == pytest.approx(0.05 / 25)  # smoke's lr 0.05 is the peak; onecycle starts at peak/25


def test_a_schedule_whose_lr_never_changes_is_warned_about_at_start_and_a_missing_dataset_is_one_paragraph(tmp_path, train):
    # step_size 60 in a 3-epoch run; the data is absent, so the run stops right after the start (the warning came first)
    result = train("scheduler=step", "scheduler.lr_scheduler.step_size=60", "trainer.max_epochs=3", "model=tiny",
                   f"data.dataset.root={tmp_path / 'none'}", "data.dataset.download=false", f"hydra.run.dir={tmp_path / 'run'}")
    assert_clean_failure(result, "error: CIFAR-100 was not found", "cifar-100-python.tar.gz", "data=synthetic")
    message = " ".join(result.stderr.split())
    assert "warning: scheduler 'step' keeps the LR at 0.1 for the whole run" in message
    assert message.index("warning:") < message.index("error:")
