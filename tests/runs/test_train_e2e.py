"""train.py end to end, as a subprocess: event files, accuracy, summary.json."""
import json
import math

import pytest

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

EPOCHS, TRAIN_SIZE, BATCH = 3, 640, 64


def read_scalars(run_dir):
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_synthetic_tiny_run_logs_every_step_and_learns(tmp_path, train):
    result = train("data=synthetic", "model=tiny", "scheduler=cosine", f"trainer.max_epochs={EPOCHS}",
                   f"data.train_size={TRAIN_SIZE}", f"data.batch_size={BATCH}", "trainer.progress=false",
                   f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    scalars = read_scalars(tmp_path)
    steps = EPOCHS * math.ceil(TRAIN_SIZE / BATCH)
    lr = scalars["lr"]
    assert [s for s, _ in lr] == list(range(steps))
    assert lr[0][1] == pytest.approx(0.1, rel=1e-6)  # cosine starts at the base LR ...
    assert all(b[1] < a[1] for a, b in zip(lr, lr[1:]))  # ... and decreases every step
    assert [s for s, _ in scalars["val/acc1"]] == list(range(1, EPOCHS + 1))
    assert {"val/acc5", "val/loss", "train/loss"} <= set(scalars)
    assert scalars["val/acc1"][-1][1] > 50.0  # 10 classes: chance is 10%

    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs"] == EPOCHS
    assert summary["final_acc1"] == scalars["val/acc1"][-1][1] or abs(summary["final_acc1"] - scalars["val/acc1"][-1][1]) < 1e-3
    assert summary["best_acc1"] >= summary["final_acc1"] and summary["images_per_s"] > 0
