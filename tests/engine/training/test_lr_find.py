"""scripts/lr_find.py: the exponential sweep, the suggestions on a known curve, and one real range test end to end."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from engine.training.lr_find import DivergenceWatch, exponential_lrs, follow_up, smoothed, suggestions, valley
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
    assert math.isclose(found["minimum_lr"], found["min_loss_lr"] / 10)
    assert 1e-3 < found["steepest_lr"] < 1e-1
    assert 1e-3 < found["valley_lr"] < 1e-1  # halfway down the fall: between its start and the minimum
    low, high = found["search_interval"]
    assert 1e-3 <= low < 3e-3 and high == found["min_loss_lr"]


def fastai_ema(losses, beta=0.98):  # fastai's bias-corrected EMA: what the old divergence check watched
    average, out = 0.0, []
    for i, loss in enumerate(losses, 1):
        average = beta * average + (1 - beta) * loss
        out.append(average / (1 - beta ** i))
    return out


def test_divergence_is_read_on_the_raw_loss_not_a_lagging_ema():
    """At its defaults the test ran on while the raw loss reached 53x its minimum: the EMA stayed under 4x its best."""
    losses = [2.3 - 1.8 * min(1.0, i / 100) for i in range(150)] + [0.5 * 1.5 ** k for k in range(1, 12)]
    watch = DivergenceWatch(window=7)
    stop = next(i for i in range(1, len(losses) + 1) if watch.diverged(losses[:i]))
    assert stop < len(losses) and losses[stop - 1] < 53 * min(losses)
    ema = fastai_ema(losses[:stop])
    assert ema[-1] < 4 * min(ema)  # the old rule would not have stopped yet
    assert DivergenceWatch(window=7).diverged([1.0, float("nan")])


def fastai_valley(losses):  # fastai.callback.schedule.valley, copied (its index arithmetic)
    n = len(losses)
    max_start, max_end = 0, 0
    lds = [1] * n
    for i in range(1, n):
        for j in range(0, i):
            if (losses[i] < losses[j]) and (lds[i] < lds[j] + 1):
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    return max_start + int(sections) + int(sections / 2)


def test_valley_is_fastais():
    import random
    rng = random.Random(0)
    for _ in range(20):
        curve = smoothed([2 - math.sin(i / 20) + rng.random() * 0.3 for i in range(90)])
        assert valley(curve) == fastai_valley(curve)


def test_the_printed_follow_up_commands_compose_with_the_tests_own_overrides():
    """It printed `hydra.sweeper.params.optimizer.lr=...`, which Hydra refuses, and dropped experiment=digits."""
    import shlex
    from engine.config.compose import compose_config
    from engine.config.suggest import check_overrides
    found = {"valley_lr": 0.0123, "search_interval": [0.01, 0.5]}
    train, tune = (line.split(": ", 1)[1] for line in follow_up(["experiment=digits", "seed=1"], found, "valley").splitlines())
    train_args, tune_args = shlex.split(train)[2:], shlex.split(tune)[2:]
    assert train_args == ["experiment=digits", "seed=1", "optimizer.lr=0.0123"]
    assert compose_config(*train_args).optimizer.lr == 0.0123
    assert tune_args == ["-m", "hparams_search=lr", "experiment=digits", "seed=1", "optimizer.lr=tag(log, interval(0.01, 0.5))"]
    check_overrides(["train.py", *tune_args])  # Hydra's parser takes the sweep; the keys exist
    one_trial = [*tune_args[1:-1], "optimizer.lr=0.05"]  # the config a trial composes
    cfg = compose_config(*one_trial, hydra_config=True)
    assert cfg.data.num_classes == 10 and cfg.hydra.sweeper.params["optimizer.lr"] == "tag(log, interval(0.005, 1.0))"


def test_a_range_test_runs_end_to_end_and_writes_its_files(tmp_path):
    out = tmp_path / "lr_find"
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "lr_find.py"), *TINY, "--steps", "24",
                             "--min-lr", "1e-4", "--max-lr", "100", "--out", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    found = json.loads((out / "lr_find.json").read_text())
    assert 3 <= found["steps_run"] <= 24 and found["search_interval"][0] <= found["search_interval"][1]
    assert "hparams_search=lr" in result.stdout and (out / "lr_find.png").stat().st_size > 10_000
    assert "hydra.sweeper.params" not in result.stdout and "'optimizer.lr=tag(log, interval(" in result.stdout
    assert found["suggestion"] == "valley" and found["suggested_lr"] == found["valley_lr"]
    rows = (out / "lr_find.csv").read_text().splitlines()
    assert rows[0] == "step,lr,loss,smoothed" and len(rows) == found["steps_run"] + 1


def test_a_range_test_runs_on_the_backend_its_config_names(tmp_path):
    """backend=torch was refused: the script imported OneFlow (through engine.training.run) before reading the config."""
    pytest.importorskip("torch", reason="backend=torch is installed by `bash scripts/setup.sh --with-torch`")
    out = tmp_path / "lr_find"
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "lr_find.py"), "backend=torch", *TINY, "--steps", "12",
                             "--out", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads((out / "lr_find.json").read_text())
    assert found["backend"] == "torch" and found["backend_version"] and found["steps_run"] == 12
    assert "train.py backend=torch" in result.stdout  # the follow-up commands keep the backend


def test_bad_bounds_are_refused(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "lr_find.py"), "--min-lr", "1", "--max-lr", "0.1"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2 and "--min-lr 1.0 and --max-lr 0.1" in result.stderr


def test_seeds_report_the_spread_of_each_suggestion(tmp_path):
    out = tmp_path / "lr_find"
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "lr_find.py"), *TINY, "--steps", "12", "--seeds", "2",
                             "--suggest", "steepest", "--out", str(out)], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    found = json.loads((out / "lr_find.json").read_text())
    spread = found["seed_spread"]
    assert spread["seeds"] == [0, 1] and found["suggested_lr"] == found["steepest_lr"] == spread["steepest"]["values"][0]
    for name in ("valley", "minimum", "steepest"):
        values = spread[name]["values"]
        assert len(values) == 2 and math.isclose(spread[name]["max_over_min"], max(values) / min(values))
    assert "valley over seeds [0, 1]" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lr_find"]  # no run directory: no run's weights touched


def test_the_default_output_folder_is_ignored_by_git():
    ignored = subprocess.run(["git", "check-ignore", "-q", "lr_find/lr_find.json"], cwd=ROOT)
    assert ignored.returncode == 0
