"""scripts/bench.py runs end to end on the tiny model and reports every figure (no timing assertions)."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_reports_every_figure_as_json_last_line(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench.py"), "--model", "tiny", "--batch-size", "32", "--steps", "2",
         "--warmup", "1", "--repeats", "1", "--images", "256", "--test-images", "64", "--no-cifar-archive",
         "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])

    loops = ("floor", "project", "graph")
    assert set(figures["images_per_s"]) == set(figures["step_ms"]) == set(loops)
    assert all(figures["images_per_s"][k] > 0 for k in loops)
    assert all(len(figures["step_ms_repeats"][k]) == 1 for k in loops)
    for ratio in ("ratio_project_over_floor", "ratio_graph_over_project", "overhead_pct"):
        assert isinstance(figures[ratio], float)
    schedules = {p.stem for p in (ROOT / "conf" / "scheduler").glob("*.yaml")}
    assert set(figures["scheduler_step_us"]) == schedules and all(v > 0 for v in figures["scheduler_step_us"].values())
    assert {"input_pipeline", "meter_record", "of_which_add_scalar_lr", "loss_check_amortised"} <= set(figures["step_parts_us"])

    fixed = figures["fixed_cost_s"]
    assert fixed["interpreter + imports (fresh process)"] > 0 and fixed["train_graph_compile_s"] is not None
    assert fixed["cifar100 load (extracted)"] is None  # --no-cifar-archive
    assert set(fixed["before_first_training_step_s"]) == {"eager", "graph"}
    assert set(figures["evaluation"]) == {"eager", "graph"} and figures["evaluation"]["graph"]["batches"] == 1
    machine = figures["machine"]
    assert machine["cores_available"] >= 1 and machine["oneflow"] and "load_average_at_start" in machine
    assert "thread_variables" in machine and figures["graph_mode"] == "nn.Graph" and figures["graph_unavailable"] is None

    report = (tmp_path / "tiny_cpu.md").read_text()
    assert "(b)/(a)" in report and "load average" in report and "| `multistep` |" in report


def test_bad_settings_end_with_one_paragraph_and_exit_2(tmp_path):
    for bad, says in ((["--model", "resnet7"], "model/resnet7"), (["--steps", "0"], "--steps must be a positive"),
                      (["--backend", "oneflow,tensorflow"], "--backend oneflow,tensorflow")):
        result = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench.py"), *bad, "--out", str(tmp_path)],
                                cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert result.returncode == 2 and says in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())  # nothing written


def test_backends_side_by_side_write_one_report_with_the_ratio(tmp_path):
    """scripts/bench.py --backend oneflow,torch: each backend in its own process, the same loops, one comparison."""
    import pytest

    pytest.importorskip("torch", reason="backend=torch is installed by `bash scripts/setup.sh --with-torch`")
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench.py"), "--backend", "oneflow,torch", "--model", "tiny", "--batch-size", "32",
         "--steps", "1", "--warmup", "0", "--repeats", "1", "--images", "256", "--test-images", "64", "--no-cifar-archive",
         "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])["backends"]
    assert [figures[n]["backend"] for n in ("oneflow", "torch")] == ["oneflow", "torch"]
    assert all(figures[n]["images_per_s"][loop] > 0 for n in figures for loop in ("project", "graph"))
    assert [figures[n]["graph_mode"] for n in ("oneflow", "torch")] == ["nn.Graph", "torch.compile"]
    assert figures["torch"]["framework_threads"] >= 1 and "thread_variables" in figures["torch"]["machine"]
    report = (tmp_path / "backends_tiny_cpu.md").read_text()
    assert "torch / oneflow" in report and "python scripts/bench.py --backend oneflow,torch --model tiny" in report
    assert "| (c) project step, graph / compile |" in report  # graph/compile mode measured on both
    assert "graph mode (nn.Graph) runs at" in report and "graph mode (torch.compile) runs at" in report
    assert report.count("threads: ") == 2 and "intra-op threads" in report
    assert "load average" in report and list(tmp_path.iterdir()) == [tmp_path / "backends_tiny_cpu.md"]


def test_a_compiler_that_cannot_run_is_reported_not_a_crash(tmp_path):
    """torch.compile needs a C++ compiler: without one, (a) and (b) are measured and the report says why (c) is not."""
    import os

    import pytest

    pytest.importorskip("torch", reason="backend=torch is installed by `bash scripts/setup.sh --with-torch`")
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench.py"), "--backend", "torch", "--model", "tiny", "--batch-size", "32",
         "--steps", "1", "--warmup", "0", "--repeats", "1", "--images", "256", "--test-images", "64", "--no-cifar-archive",
         "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=900,
        env={**os.environ, "CXX": str(tmp_path / "no-such-compiler")})  # inductor's compiler (torch/_inductor/config.py)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(figures["images_per_s"]) == {"floor", "project"} and figures["ratio_graph_over_project"] is None
    assert figures["graph_unavailable"] and "no-such-compiler" in figures["graph_unavailable"]
    report = (tmp_path / "tiny_cpu_torch.md").read_text()
    assert "Graph mode (torch.compile) could not run on this machine" in report


def test_bench_explore_busy_loops_load_the_machine_and_stop():
    """bench_explore --browser --busy N (results/bench/explore_busy): N spinning processes while it measures, none
    after; --busy without --browser is one paragraph and exit 2."""
    import multiprocessing
    import time

    from benchmarks.explorer import busy

    with busy(2):
        time.sleep(0.3)
        loops = multiprocessing.active_children()
        assert len(loops) == 2 and all(loop.is_alive() for loop in loops)
    assert not multiprocessing.active_children() and not any(loop.is_alive() for loop in loops)
    refused = subprocess.run([sys.executable, "scripts/bench_explore.py", "--busy", "2"], capture_output=True,
                             text=True, cwd=Path(__file__).resolve().parents[2])
    assert refused.returncode == 2 and "--busy 2" in refused.stderr and "with --browser" in refused.stderr
