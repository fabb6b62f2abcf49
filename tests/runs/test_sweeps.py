"""Multiruns: job directories named by overrides, per-run HParams, the comparison table, the launchers."""
import csv
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from tests.support.runs import ROOT, SMALL, assert_clean_failure, run_train

from scripts import compare_runs

def hparams_of(run_dir: Path) -> dict:
    events = EventAccumulator(str(run_dir))
    events.Reload()
    contents = events.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(contents["_hparams_/session_start_info"]).session_start_info
    end = plugin_data_pb2.HParamsPluginData.FromString(contents["_hparams_/session_end_info"]).session_end_info
    values = {k: v.string_value or v.number_value for k, v in start.hparams.items()}
    metrics = {tag: events.Scalars(tag)[-1].value for tag in events.Tags()["scalars"] if tag.startswith("whole_run/")}
    return {"hparams": values, "metrics": metrics, "status": end.status, "experiment": "_hparams_/experiment" in contents}


def test_two_schedules_by_two_seeds_give_four_named_runs_and_a_two_row_table(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_train("-m", *SMALL, "trainer.max_epochs=1", "scheduler=cosine,step", "seed=0,1", f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr[-3000:]
    runs = {p.name for p in sweep.iterdir() if p.is_dir() and p.name != "comparison"}
    # Only what varies names a job: the shared overrides join hydra.job.config.override_dirname.exclude_keys (engine.config.sweep_names).
    assert runs == {f"scheduler={s},seed={n}" for s in ("cosine", "step") for n in (0, 1)}

    for name in runs:  # events directly in the run directory, HParams included (no timestamped sub-run)
        run_dir = sweep / name
        assert list(run_dir.glob("events.out.tfevents.*"))
        assert not [p for p in run_dir.iterdir() if p.is_dir() and p.name not in (".hydra", "checkpoints")]
        hp = hparams_of(run_dir)
        summary = json.loads((run_dir / "summary.json").read_text())
        assert hp["experiment"] and hp["status"] == 1  # STATUS_SUCCESS
        assert hp["hparams"]["scheduler"] == summary["scheduler"] and hp["hparams"]["optimizer"] == "sgd"
        assert hp["hparams"]["model"] == "tiny" and hp["hparams"]["seed"] == float(name.split("seed=")[1].split(",")[0])
        assert hp["hparams"]["base_lr"] == pytest.approx(0.1) and hp["hparams"]["batch_size"] == 64
        assert hp["metrics"]["whole_run/best_acc1"] == pytest.approx(summary["best_acc1"], abs=1e-4)
        assert hp["metrics"]["whole_run/final_acc1"] == pytest.approx(summary["final_acc1"], abs=1e-4)

    out = tmp_path / "results"
    assert compare_runs.main([str(sweep), "--out", str(out)]) == 0
    rows = list(csv.DictReader((out / "comparison.csv").open()))
    assert sorted(r["schedule"] for r in rows) == ["cosine", "step"]
    for row in rows:
        finals = [json.loads((sweep / n / "summary.json").read_text())["final_acc1"] for n in runs if f"scheduler={row['schedule']}," in n]
        assert len(finals) == 2 and int(row["completed"]) == 2
        assert float(row["final_acc1_mean"]) == pytest.approx(statistics.fmean(finals), abs=1e-3)
        assert float(row["final_acc1_std"]) == pytest.approx(statistics.stdev(finals), abs=1e-3)
    table = (out / "comparison.md").read_text()
    assert "| cosine | 2/2 |" in table and "| step | 2/2 |" in table
    assert (out / "val_acc1.png").stat().st_size > 0 and (out / "lr.png").stat().st_size > 0


def test_parallel_launcher_runs_two_jobs_at_once_each_pinned_before_oneflow(tmp_path):
    sweep, probe = tmp_path / "sweep", tmp_path / "probe"
    probe.mkdir()
    env = {**os.environ, "SWEEPS_PIN_PROBE_DIR": str(probe)}
    result = subprocess.run([sys.executable, str(ROOT / "train.py"), "-m", "hydra/launcher=parallel", "hydra.launcher.gpus=[5,7]",
                             "hydra.launcher.preload=[engine.platform.oneflow_env,tests.support.sweeps_pin_probe]", *SMALL, "data.train_size=512",
                             "trainer.max_epochs=3", "scheduler=cosine,step", f"hydra.sweep.dir={sweep}"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Joblib.Parallel(n_jobs=2) is launching 2 jobs" in result.stdout + result.stderr
    runs = [p for p in sweep.iterdir() if p.is_dir()]
    assert len(runs) == 2
    # Both jobs started (Hydra wrote .hydra/) before either finished (its last summary.json write).
    starts = [(r / ".hydra" / "config.yaml").stat().st_mtime for r in runs]
    ends = [(r / "summary.json").stat().st_mtime for r in runs]
    assert max(starts) < min(ends), f"jobs ran one after the other: starts {starts}, ends {ends}"
    assert all(json.loads((r / "summary.json").read_text())["status"] == "completed" for r in runs)
    # Two worker processes, each given its own GPU id before oneflow was imported in it (no GPU here: ids are fake).
    workers = [json.loads(p.read_text()) for p in probe.glob("worker-*.json")]
    assert sorted(w["cuda_visible_devices"] for w in workers) == ["5", "7"]
    assert not any(w["oneflow_already_imported"] for w in workers)


def test_device_slots_are_exclusive_between_processes(tmp_path):
    code = ("import sys, time; from engine.platform.gpu_slots import claim_slot\n"
            "print(claim_slot(sys.argv[1], 2), flush=True); time.sleep(300)")  # held until killed below, however slow the third
    holders = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        slots = sorted(int(p.stdout.readline()) for p in holders)
        third = subprocess.run([sys.executable, "-c", code.replace("time.sleep(300)", ""), str(tmp_path)], cwd=ROOT,
                               capture_output=True, text=True, timeout=60)
    finally:
        for p in holders:
            p.kill()
    assert slots == [0, 1]
    assert third.returncode != 0 and "n_jobs must not exceed the number of GPUs" in third.stderr


def test_a_worker_keeps_its_gpu_after_hydra_scans_its_plugins(tmp_path):
    # A job's first use of Hydra's plugins executes every hydra_plugins module again (Python >= 3.10). The slot a
    # worker claimed before must stay locked, and stay its own: a second worker once got the same GPU (CI, 2026-12-07).
    code = ("import sys, time; from hydra_plugins.device_pinned_launcher import device_pinned_launcher as launcher\n"
            "from hydra.core.plugins import Plugins\n"
            "print(launcher.claim_slot(sys.argv[1], 2), flush=True); Plugins.instance(); print('scanned', flush=True)\n"
            "sys.stdin.readline(); print(launcher.claim_slot(sys.argv[1], 2), flush=True); time.sleep(300)")
    worker = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        first, scanned = worker.stdout.readline().strip(), worker.stdout.readline().strip()
        other = subprocess.run([sys.executable, "-c", "import sys; from engine.platform.gpu_slots import claim_slot\n"
                                "print(claim_slot(sys.argv[1], 2))", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=60)
        worker.stdin.write("next job\n")
        worker.stdin.flush()
        next_job = worker.stdout.readline().strip()
    finally:
        worker.kill()
    assert (first, scanned) == ("0", "scanned")
    assert other.stdout.split() == ["1"], other.stderr[-2000:]  # the worker's GPU was still taken
    assert next_job == "0"  # and the worker's next job runs on the GPU its process already initialised


def test_more_parallel_jobs_than_gpus_is_one_paragraph_and_exit_2(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_train("-m", "hydra/launcher=parallel", "hydra.launcher.n_jobs=3", "hydra.launcher.gpus=[0,1]", *SMALL,
                       "scheduler=cosine,step", f"hydra.sweep.dir={sweep}")
    assert result.returncode == 2
    assert_clean_failure(result, "hydra.launcher.n_jobs=3 is more than the 2 GPUs ['0', '1']", "n_jobs<=2")
    assert "HYDRA_FULL_ERROR" not in result.stderr and not sweep.exists()


def test_submitit_local_launcher_job_succeeds(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_train("-m", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10", *SMALL, "trainer.max_epochs=1",
                       "scheduler=cosine", f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = [p for p in sweep.iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"
    logs = list((sweep / ".submitit").rglob("*_log.out"))
    assert logs and "run directory:" in logs[0].read_text()


def test_optuna_lr_search_runs_trials_and_reports_the_best_lr(tmp_path):
    sweep = tmp_path / "search"
    result = run_train("hparams_search=lr", *SMALL, "trainer.max_epochs=1", "hydra.sweeper.n_trials=2",
                       "hydra.sweeper.sampler.n_startup_trials=2", f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr[-3000:]
    import yaml
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert 0.005 <= best["best_params"]["optimizer.lr"] <= 1.0
    trials = [p for p in sweep.iterdir() if p.is_dir()]
    assert len(trials) == 2
    values = [json.loads((t / "summary.json").read_text())["best_acc1"] for t in trials]
    assert best["best_value"] == pytest.approx(max(values))
