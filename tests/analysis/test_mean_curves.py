"""TensorBoard opened on the hparams/* cards and had no mean over seeds: the tags sort the curves first, and
compare_runs.py writes each setting's mean curves as a TensorBoard run (analysis/mean_curves.py)."""
import pytest

from analysis.mean_curves import FOLDER, folder_name, mean_series, write_mean_curves
from engine.run_dir.events import read_scalars, write_scalars
from engine.run_dir.hparams import METRICS


def test_the_hparams_metrics_sort_after_the_lr_and_accuracy_groups():
    groups = sorted({tag.split("/")[0] for tag in ["lr", "test/acc1", "train/loss", "val/acc1", "val/loss", *METRICS]})
    assert groups[0] == "lr" and groups[-1] == next(iter(METRICS)).split("/")[0] == "whole_run"


def test_the_mean_is_per_step_over_the_runs_that_logged_it():
    runs = [{"val/acc1": [(1, 50.0), (2, 60.0)], "lr": [(0, 0.1)]}, {"val/acc1": [(1, 70.0), (2, 80.0), (2, 90.0)]}]
    assert mean_series(runs) == {"val/acc1": [(1, 60.0), (2, 75.0)], "lr": [(0, 0.1)]}  # a step logged twice: the last


def test_mean_curves_are_written_as_one_tensorboard_run_per_setting(tmp_path):
    runs = {}
    for seed, offset in ((0, 0.0), (1, 10.0)):
        run_dir = tmp_path / f"scheduler=cosine,seed={seed}"
        write_scalars(run_dir, {"val/acc1": [(epoch, 50.0 + offset + epoch) for epoch in (1, 2)]})
        runs.setdefault("cosine / wd=0", []).append(run_dir)
    out = tmp_path / "comparison"
    (out / FOLDER / "stale").mkdir(parents=True)
    (folder,) = write_mean_curves(runs, out)
    assert folder == out / FOLDER / folder_name("cosine / wd=0") and folder.name == "cosine_wd=0"
    assert [p.name for p in (out / FOLDER).iterdir()] == ["cosine_wd=0"]  # rewritten as a whole
    assert read_scalars(folder) == {"val/acc1": [(1, pytest.approx(56.0)), (2, pytest.approx(57.0))]}
