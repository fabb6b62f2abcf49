"""scripts/lr_find.py: the exponential sweep, the suggestions on a known curve, and one real range test end to end."""
import json
import math
import subprocess
import sys
from pathlib import Path


from engine.training.lr_find import exponential_lrs, smoothed, suggestions
from tests.support.runs import TINY

ROOT = Path(__file__).resolve().parents[3]


def test_the_sweep_is_exponential_from_min_to_max():
    lrs = exponential_lrs(1e-4, 1.0, 5)
    assert [round(math.log10(lr), 12) for lr in lrs] == [-4, -3, -2, -1, 0]


def test_suggestions_on_a_curve_whose_answer_is_known():
    lrs = exponential_lrs(1e-5, 10.0, 121)  # 20 steps per decade
    # flat until 1e-3, falls linearly in log10(lr) to its minimum at 1e-1, then climbs steeply
    loss = [2.0 if lr < 1e-3 else 2.0 - 0.5 * math.log10(lr / 1e-3) if lr <= 1e-1 else 1.0 + 3 * math.log10(lr / 1e-1)
            for lr in lrs]
    found = suggestions(lrs, smoothed(loss))
    assert abs(math.log10(found["min_loss_lr"]) - (-1)) <= 0.2  # within the smoothing window (4 steps, 0.2 decade)
    assert math.isclose(found["suggested_max_lr"], found["min_loss_lr"] / 10)
    assert 1e-3 < found["steepest_lr"] < 1e-1
    low, high = found["search_interval"]
    assert 1e-3 <= low < 3e-3 and high == found["min_loss_lr"]


def test_a_range_test_runs_end_to_end_and_writes_its_files(tmp_path):
    out = tmp_path / "lr_find"
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "lr_find.py"), *TINY, "--steps", "24",
                             "--min-lr", "1e-4", "--max-lr", "100", "--out", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    found = json.loads((out / "lr_find.json").read_text())
    assert 3 <= found["steps_run"] <= 24 and found["search_interval"][0] <= found["search_interval"][1]
    assert "hparams_search=lr" in result.stdout and (out / "lr_find.png").stat().st_size > 10_000
    rows = (out / "lr_find.csv").read_text().splitlines()
    assert rows[0] == "step,lr,loss,smoothed" and len(rows) == found["steps_run"] + 1


def test_bad_bounds_are_refused(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "lr_find.py"), "--min-lr", "1", "--max-lr", "0.1"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2 and "--min-lr 1.0 and --max-lr 0.1" in result.stderr
