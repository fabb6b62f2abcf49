"""Same seed, same run: identical LR and loss curves on CPU; the run directory says what produced it."""
import json

import numpy as np
import pytest

from input_pipeline import DataError
from input_pipeline.splits import hold_out_validation
from tests.support.runs import FAST, read_scalars, read_summary, train_once

ARGS = (*FAST, "trainer.max_epochs=2", "trainer.log_every_n_steps=1")


def test_same_seed_gives_identical_curves_and_another_seed_does_not(finished_run, tmp_path):
    # the session's finished run (seed 3) against a second run of it and one of seed 4
    curves = {"a": read_scalars(finished_run)}
    for name, overrides in (("b", ()), ("c", ("seed=4",))):
        curves[name] = read_scalars(train_once(tmp_path / name, *overrides))
    for tag in ("lr", "train/loss", "val/loss", "val/acc1", "train/loss_epoch"):
        assert curves["a"][tag] == curves["b"][tag], tag
    assert curves["a"]["train/loss"] != curves["c"]["train/loss"]  # the seed changes init, data order and augmentation

    info = json.loads((finished_run / "run_info.json").read_text())
    assert info["oneflow"] == "0.9.0" and info["flowvision"] and info["started"]["device"] == "cpu"
    assert "seed=3" in (finished_run / ".hydra" / "overrides.yaml").read_text()
    assert (finished_run / ".hydra" / "config.yaml").is_file()
    summary = read_summary(finished_run)
    assert summary["seed"] == 3 and summary["scheduler_params"]
    assert summary["history"]["epoch"] == [1, 2, 3] and len(summary["history"]["lr"]) == 3
    assert set(summary["epochs_to_threshold"]) == {"acc1>=50", "acc1>=60", "acc1>=70"}


def test_validation_split_selects_on_held_out_training_images(tmp_path, train):
    result = train(*ARGS, "data.val_split=128", "trainer.acc1_thresholds=[20]", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    scalars, summary = read_scalars(tmp_path), read_summary(tmp_path)
    assert [s for s, _ in scalars["lr"]] == list(range(2 * 8))  # 512 training images: 8 steps per epoch
    assert {"val/acc1", "test/acc1", "test/acc5", "test/loss"} <= set(scalars)
    assert summary["final_acc1"] == pytest.approx(scalars["val/acc1"][-1][1], abs=1e-3)
    assert summary["test_acc1"] == pytest.approx(scalars["test/acc1"][-1][1], abs=1e-3)
    assert summary["test_acc1_at_best_epoch"] is not None and summary["epochs_to_threshold"]["acc1>=20"] in (1, 2, None)


def test_hold_out_is_deterministic_disjoint_and_stratified():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 100)
    images = rng.integers(0, 255, size=(1000, 2, 2, 3), dtype=np.uint8)
    images[:, 0, 0, 0] = np.arange(1000) % 256  # make rows tellable apart together with the label
    first, second = hold_out_validation(images, labels, 200), hold_out_validation(images, labels, 200)
    assert np.array_equal(first.val_images, second.val_images) and np.array_equal(first.val_labels, second.val_labels)
    assert len(first.val_labels) == 200 and len(first.train_labels) == 800
    assert np.bincount(first.val_labels).tolist() == [20] * 10
    train_rows = {r.tobytes() + bytes([label]) for r, label in zip(first.train_images, first.train_labels)}
    assert not any(r.tobytes() + bytes([label]) in train_rows for r, label in zip(first.val_images, first.val_labels))
    with pytest.raises(DataError, match="data.val_split=1000"):
        hold_out_validation(images, labels, 1000)
