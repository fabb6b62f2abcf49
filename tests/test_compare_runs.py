"""compare_runs.py on fixture sweeps in the summary.json contract's format (no training)."""
import csv
import json
import statistics
from pathlib import Path

import pytest
from tensorboardX import SummaryWriter

ROOT = Path(__file__).resolve().parents[1]
from scripts import compare_runs

EPOCHS = 4


def write_run(sweep: Path, name: str, scheduler: str, seed: int, accs: list, status: str = "completed",
              lrs: list = (), **extra) -> Path:
    """A run directory as train.py leaves it: .hydra/config.yaml, summary.json (full contract), events with `lr`."""
    run = sweep / name
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text(f"seed: {seed}\nscheduler:\n  name: {scheduler}\n")
    summary = {
        "status": status, "scheduler": scheduler, "scheduler_params": {"class": "X"}, "seed": seed, "model": "tiny",
        "optimizer": "sgd", "base_lr": 0.1, "batch_size": 64, "device": "cpu", "max_epochs": EPOCHS, "epochs": len(accs),
        "global_step": 10 * len(accs), "best_acc1": max(accs), "best_acc5": 99.0, "best_epoch": accs.index(max(accs)) + 1,
        "final_acc1": accs[-1], "final_acc5": 98.0, "final_loss": 0.5, "wall_time_s": 12.0, "images_per_s": 100.0,
        "epochs_to_threshold": {"acc1>=50": next((i + 1 for i, a in enumerate(accs) if a >= 50), None)},
        "history": {"epoch": list(range(1, len(accs) + 1)), "val/acc1": accs, "val/acc5": [99.0] * len(accs),
                    "val/loss": [0.5] * len(accs), "train/loss_epoch": [0.6] * len(accs), "lr": [0.1] * len(accs)},
        "diverged": None, **extra,
    }
    (run / "summary.json").write_text(json.dumps(summary))
    if lrs:
        with SummaryWriter(logdir=str(run)) as writer:
            for step, lr in enumerate(lrs):
                writer.add_scalar("lr", lr, step)
    return run


@pytest.fixture
def sweep(tmp_path):
    """cosine: 3 seeds; step: 2 completed, 1 diverged; plateau: 1 completed, 1 still running, 1 crashed (no summary)."""
    sweep = tmp_path / "sweep"
    for seed, final in enumerate([70.0, 72.0, 74.0]):
        write_run(sweep, f"scheduler=cosine,seed={seed}", "cosine", seed, [30.0, 55.0, 65.0, final], lrs=[0.1, 0.05, 0.0])
    for seed, final in enumerate([60.0, 62.0]):
        write_run(sweep, f"scheduler=step,seed={seed}", "step", seed, [40.0, 52.0, 58.0, final], lrs=[0.1, 0.1, 0.02])
    write_run(sweep, "scheduler=step,seed=2", "step", 2, [20.0, 10.0], status="diverged",
              diverged={"step": 17, "epoch": 2, "lr": 0.1})
    write_run(sweep, "scheduler=plateau,seed=0", "plateau", 0, [35.0, 50.0, 60.0, 71.0])
    write_run(sweep, "scheduler=plateau,seed=1", "plateau", 1, [35.0, 51.0], status="running")
    crashed = sweep / "scheduler=plateau,seed=2" / ".hydra"
    crashed.mkdir(parents=True)
    (crashed / "config.yaml").write_text("seed: 2\nscheduler:\n  name: plateau\n")
    return sweep


def read_rows(out: Path) -> dict:
    return {row["schedule"]: row for row in csv.DictReader((out / "comparison.csv").open())}


def test_table_means_ties_diverged_running_and_missing(sweep, tmp_path):
    out = tmp_path / "out"
    assert compare_runs.main([str(sweep), "--out", str(out)]) == 0
    rows = read_rows(out)
    cosine, step, plateau = rows["cosine"], rows["step"], rows["plateau"]
    assert float(cosine["final_acc1_mean"]) == pytest.approx(72.0)
    assert float(cosine["final_acc1_std"]) == pytest.approx(statistics.stdev([70.0, 72.0, 74.0]))
    assert (cosine["runs"], cosine["completed"], cosine["diverged"]) == ("3", "3", "0")
    # the diverged run is counted, not averaged
    assert (step["runs"], step["completed"], step["diverged"]) == ("3", "2", "1")
    assert float(step["final_acc1_mean"]) == pytest.approx(61.0)
    assert (plateau["completed"], plateau["running"], plateau["missing"]) == ("1", "1", "1")
    assert float(plateau["final_acc1_mean"]) == pytest.approx(71.0) and plateau["final_acc1_std"] == ""
    # sorted by mean final top-1; plateau (71) is within cosine's spread (std 2) of cosine (72): a tie
    assert [r["schedule"] for r in csv.DictReader((out / "comparison.csv").open())] == ["cosine", "plateau", "step"]
    assert (cosine["rank"], plateau["rank"], plateau["tie_with"], step["rank"]) == ("1", "1", "cosine", "3")
    # epochs to 50%: recorded per run in the contract's epochs_to_threshold
    assert float(cosine["epochs_to_acc1>=50_mean"]) == 2.0 and float(step["epochs_to_acc1>=50_mean"]) == 2.0
    table = (out / "comparison.md").read_text()
    assert "No clear winner" in table and "**cosine**" in table and "**plateau**" in table
    assert "| =1 | plateau | 1/3 |" in table and "1 running, 1 missing" in table
    assert "diverged at epoch 2, step 17, lr 0.1" in table and "no summary.json" in table
    assert (out / "val_acc1.png").stat().st_size > 10_000 and (out / "lr.png").stat().st_size > 10_000
    assert not list(out.glob("*.tmp*"))  # atomic writes leave no temporaries


def test_missing_job_directory_is_found_from_multirun_yaml(tmp_path):
    sweep = tmp_path / "sweep"
    for seed in (0, 1):
        write_run(sweep, f"scheduler=cosine,seed={seed}", "cosine", seed, [50.0, 60.0 + seed])
    write_run(sweep, "scheduler=step,seed=0", "step", 0, [40.0, 45.0])
    # Hydra's record of the sweep: 2 schedules x 2 seeds, so scheduler=step,seed=1 never started.
    (sweep / "multirun.yaml").write_text(
        "hydra:\n  sweep:\n    dir: x\n    subdir: ${hydra.job.override_dirname}\n"
        "  sweeper:\n    _target_: hydra._internal.core_plugins.basic_sweeper.BasicSweeper\n    max_batch_size: null\n    params: null\n"
        "  overrides:\n    task:\n    - scheduler=cosine,step\n    - seed=0,1\n    - trainer.progress=false\n"
        "  job:\n    config:\n      override_dirname:\n        kv_sep: '='\n        item_sep: ','\n        exclude_keys: [trainer.progress]\n")
    rows = compare_runs.compare(sweep, tmp_path / "out", figures=False)
    step = next(r for r in rows if r["schedule"] == "step")
    assert (step["runs"], step["completed"], step["missing"]) == (2, 1, 1)
    assert "`scheduler=step,seed=1` | missing" in (tmp_path / "out" / "comparison.md").read_text()


def test_epochs_to_threshold_falls_back_to_history_and_single_runs_rank_without_ties(tmp_path):
    sweep = tmp_path / "sweep"
    run = write_run(sweep, "a", "cosine", 0, [30.0, 45.0, 80.0])
    summary = json.loads((run / "summary.json").read_text())
    del summary["epochs_to_threshold"], summary["seed"]  # an older summary: history only, seed from .hydra
    (run / "summary.json").write_text(json.dumps(summary))
    write_run(sweep, "b", "step", 0, [30.0, 40.0, 50.0])
    rows = compare_runs.compare(sweep, tmp_path / "out", thresholds=[70.0], figures=False)
    assert [(r["schedule"], r["rank"], r["epochs_to_acc1>=70_mean"]) for r in rows] == [("cosine", 1, 3.0), ("step", 2, None)]
    assert "no spread" in (tmp_path / "out" / "comparison.md").read_text()


def test_bad_sweep_dir_is_one_clear_error(tmp_path, capsys):
    assert compare_runs.main([str(tmp_path / "nope"), "--out", str(tmp_path / "out")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert compare_runs.main([str(tmp_path / "empty"), "--out", str(tmp_path / "out")]) == 2
    assert "no runs found" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
