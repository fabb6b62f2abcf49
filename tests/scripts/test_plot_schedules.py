"""scripts/plot_schedules.py: every conf/scheduler/*.yaml composes and previews; files; errors."""
import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from tensorboardX import SummaryWriter

from scripts import plot_schedules

ROOT = Path(__file__).resolve().parents[2]

SCHEDULES = sorted(p.stem for p in (ROOT / "conf" / "scheduler").glob("*.yaml"))
RUN = ["data.train_size=640", "data.batch_size=128", "trainer.max_epochs=200"]  # 5 steps per epoch


def read_csv(path):
    with open(path) as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["step", "epoch", "lr"]
    return [(int(s), int(e), float(lr)) for s, e, lr in rows[1:]]


def test_all_renders_every_schedule_and_the_overview(tmp_path):
    plot_schedules.main(["--all", "--out", str(tmp_path), *RUN])
    assert (tmp_path / "overview.png").stat().st_size > 10_000
    for name in SCHEDULES:
        for suffix in (".png", ".csv", ".json"):
            assert (tmp_path / f"{name}{suffix}").stat().st_size > 0, (name, suffix)
        rows = read_csv(tmp_path / f"{name}.csv")
        assert [s for s, _, _ in rows] == list(range(1000)) and [e for _, e, _ in rows] == [s // 5 for s in range(1000)]
        resolved = json.loads((tmp_path / f"{name}.json").read_text())
        assert resolved["name"] == name and resolved["run"]["total_steps"] == 1000
        assert resolved["lr_scheduler"]["class"] and resolved["config"]["name"] == name
    assert not list(tmp_path.glob("*.tmp*"))
    cosine = read_csv(tmp_path / "cosine.csv")
    assert all(math.isclose(lr, 0.05 * (1 + math.cos(math.pi * s / 1000)), rel_tol=1e-9, abs_tol=1e-15) for s, _, lr in cosine)


def test_overrides_change_the_run_like_train_py(tmp_path):
    plot_schedules.main(["scheduler=linear_to_zero", "trainer.max_epochs=10", "data.batch_size=256",
                         "optimizer=adamw", "--out", str(tmp_path)])
    rows = read_csv(tmp_path / "linear_to_zero.csv")
    steps = 10 * math.ceil(50_000 / 256)
    assert len(rows) == steps and rows[0][2] == pytest.approx(1e-3)  # adamw's lr, CIFAR-100's 50k images
    assert rows[-1][2] == pytest.approx(1e-3 / steps)


def test_plateau_replays_the_monitored_metric_of_a_run(tmp_path):
    run = tmp_path / "run"
    writer = SummaryWriter(logdir=str(run))
    for epoch in range(12):  # improves for 3 epochs, then stalls
        writer.add_scalar("val/loss", 2.0 - 0.1 * min(epoch, 2), epoch + 1)
    writer.close()
    out = tmp_path / "out"
    plot_schedules.main(["scheduler=plateau", "scheduler.lr_scheduler.patience=2", "trainer.max_epochs=20", *RUN[:2],
                         "--val-curve-from", str(run), "--out", str(out)])
    resolved = json.loads((out / "plateau.json").read_text())
    assert resolved["run"]["val_curve"]["source"] == str(run) and len(resolved["run"]["val_curve"]["values"]) == 12
    per_epoch = [lr for s, _, lr in read_csv(out / "plateau.csv") if s % 5 == 0]
    # bad epochs 3, 4, 5 -> reduce after epoch 5; again after 8, 11; the last value is held afterwards
    assert per_epoch[:6] == [0.1] * 6 and per_epoch[6] == pytest.approx(0.01) and per_epoch[9] == pytest.approx(1e-3)


def run_script(*args):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "plot_schedules.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("args,needle", [
    (["scheduler=no_such_schedule"], "Available options in 'scheduler'"),
    (["scheduler=multistep", "trainer.max_epochs=30", "scheduler.lr_scheduler.milestones=[60,120,160]"],
     "scheduler.lr_scheduler.milestones = [60, 120, 160]"),
])
def test_bad_input_is_one_paragraph_and_nonzero_exit(tmp_path, args, needle):
    result = run_script(*args, "--out", str(tmp_path))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and needle in result.stderr, result.stderr
    assert sum(line.startswith("error:") for line in result.stderr.splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_all_renders_what_a_short_run_can_hold_and_lists_the_refused(tmp_path, capsys):
    """--all stopped at the first refused schedule (multistep's epoch-60 milestone in 30 epochs); now the rest renders.
    Graph mode refuses the schedules nn.Graph cannot run whatever the presets' lengths, so some are always refused."""
    plot_schedules.main(["--all", "--out", str(tmp_path), *RUN[:2], "trainer.max_epochs=30", "trainer.graph=true"])
    out, err = capsys.readouterr()
    summary = err.strip().splitlines()[-1]
    refused = set(summary.split(": ")[-1].split(", "))
    rendered = {p.stem for p in tmp_path.glob("*.csv")}
    assert {"noam", "plateau", "onecycle"} <= refused and {"cosine", "linear", "step"} <= rendered
    assert refused == set(SCHEDULES) - rendered and (tmp_path / "overview.png").is_file()
    assert summary.startswith(f"rendered {len(rendered)} of {len(SCHEDULES)} schedules")
    assert all(f"refused: {name}: scheduler" in err for name in refused)  # each with its reason
    # first, peak and last, so a warmup's peak is visible (was "lr first -> last")
    assert "linear: 150 steps, lr first 0.01, peak 0.1 (step 4), last 0.1" in out  # warmup 2.5% of 30 epochs


def test_all_exits_2_when_no_schedule_can_be_rendered(tmp_path):
    with pytest.raises(SystemExit) as stopped:
        plot_schedules.main(["--all", "--out", str(tmp_path), *RUN[:2], "trainer.max_epochs=0"])
    assert stopped.value.code == 2 and not (tmp_path / "overview.png").exists()


def test_a_schedule_whose_lr_never_changes_in_the_run_is_warned_about(tmp_path):
    flat = run_script("experiment=smoke", "scheduler=step", "scheduler.lr_scheduler.step_size=60", "--out", str(tmp_path))
    assert flat.returncode == 0 and "warning: scheduler 'step' keeps the LR at 0.05 for the whole run" in flat.stderr
    scaled = run_script("experiment=smoke", "scheduler=plateau", "scheduler.lr_scheduler.patience=0", "--out", str(tmp_path))
    assert scaled.returncode == 0 and "warning" not in scaled.stderr  # a metric that never improves: reduced at once


def test_the_default_output_is_not_the_committed_results(monkeypatch):
    """Without --out it overwrote the committed results/schedules/; the default is now git-ignored runs/previews."""
    seen = {}
    monkeypatch.setattr(plot_schedules, "render_schedules", lambda overrides, out, **kw: seen.update(out=out))
    plot_schedules.main(["scheduler=cosine"])
    assert seen["out"] == Path("runs") / "previews"
    ignored = subprocess.run(["git", "check-ignore", "-q", "runs/previews/cosine.png"], cwd=Path(__file__).parents[2])
    assert ignored.returncode == 0
