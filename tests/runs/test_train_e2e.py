"""train.py end to end, as a subprocess: event files, accuracy, summary.json (the session's finished run)."""
import pytest

from tests.support.runs import read_scalars, read_summary

EPOCHS, STEPS_PER_EPOCH = 3, 10  # tests.support.runs.FINISHED: 640 images in batches of 64


def test_synthetic_tiny_run_logs_every_step_and_learns(finished_run):
    scalars = read_scalars(finished_run)
    lr = scalars["lr"]
    assert [s for s, _ in lr] == list(range(EPOCHS * STEPS_PER_EPOCH))
    assert lr[0][1] == pytest.approx(0.1, rel=1e-6)  # cosine starts at the base LR ...
    assert all(b[1] < a[1] for a, b in zip(lr, lr[1:]))  # ... and decreases every step
    assert [s for s, _ in scalars["val/acc1"]] == list(range(1, EPOCHS + 1))
    assert {"val/acc5", "val/loss", "train/loss"} <= set(scalars)
    assert scalars["val/acc1"][-1][1] > 50.0  # 10 classes: chance is 10%

    summary = read_summary(finished_run)
    assert summary["status"] == "completed" and summary["epochs"] == EPOCHS
    assert summary["final_acc1"] == pytest.approx(scalars["val/acc1"][-1][1], abs=1e-3)
    assert summary["best_acc1"] >= summary["final_acc1"] and summary["images_per_s"] > 0


def test_validation_inside_epochs_is_recorded_at_its_steps_and_changes_nothing_the_run_trains(finished_run, tmp_path):
    """trainer.val_every_n_steps (issue 28: steps to a target finer than an epoch): the same run as the session's,
    validated every 4 of its 10 steps per epoch, trains the same weights (every per-epoch figure equal) and records
    val/acc1 at steps 4, 8, 14, ... but not at an epoch's end, which the epoch's own validation covers."""
    from tests.support.runs import train_once

    run = train_once(tmp_path / "run", "trainer.val_every_n_steps=4")
    summary, reference = read_summary(run), read_summary(finished_run)
    assert summary["history"] == reference["history"]
    assert [step for step, _ in summary["val_acc1_by_step"]] == [4, 8, 12, 16, 24, 28]
    assert "val_acc1_by_step" not in reference  # 0, the default: epoch ends only
    logged = read_scalars(run)["val/acc1_by_step"]
    assert [(s, pytest.approx(v, abs=1e-4)) for s, v in logged] == [tuple(x) for x in summary["val_acc1_by_step"]]
