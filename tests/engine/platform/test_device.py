"""resolve_device refuses a GPU the installed OneFlow cannot run, before anything is written (no GPU needed).

The GPU list and the probe are injected, or simulated with engine.platform.device.SIMULATE_UNUSABLE_GPU, which makes
the real probe child abort the way OneFlow 0.9.0 aborts on a Hopper GPU.
"""
import os
import subprocess
import sys

import pytest

from engine.platform import device as device_module
from engine.platform.device import (CUDA_PROBE_PASSED, SIMULATE_UNUSABLE_GPU, Gpu, ProbeResult, resolve_device, run_probe, runs_on,
                           unusable_gpu_message)
from engine.platform.errors import ConfigError, paragraph
from tests.support.runs import ROOT

H100 = Gpu(0, "NVIDIA H100 80GB HBM3", (9, 0), 80 * 2**30)
A100 = Gpu(1, "NVIDIA A100-SXM4-40GB", (8, 0), 40 * 2**30)
SIMULATED = {SIMULATE_UNUSABLE_GPU: "NVIDIA H100 80GB HBM3,9.0"}
NO_KERNEL_IMAGE = "the probe process was killed by SIGABRT: Error: no kernel image is available for execution on the device (209)"


@pytest.fixture(autouse=True)
def fresh_verdicts(monkeypatch):
    """Each test is a new process as far as the probe caches are concerned."""
    monkeypatch.setattr(device_module, "_verdicts", {})
    monkeypatch.delenv(CUDA_PROBE_PASSED, raising=False)
    monkeypatch.delenv(SIMULATE_UNUSABLE_GPU, raising=False)


class CountingProbe:
    def __init__(self, ok: bool, detail: str = "passed") -> None:
        self.ok, self.detail, self.devices = ok, detail, []

    def __call__(self, device: str) -> ProbeResult:
        self.devices.append(device)
        return ProbeResult(self.ok, self.detail if not self.ok else "passed", 0.1)


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "auto:0", "cpu:1", "cuda0", ""])
def test_invalid_device_names_are_refused_naming_the_value(name):
    with pytest.raises(ConfigError, match="is not valid; use auto .* cpu, cuda or cuda:N"):
        resolve_device(name, gpus=[])


def test_cpu_and_auto_without_gpu_need_no_probe():
    probe = CountingProbe(ok=False)
    assert resolve_device("cpu", gpus=[H100], probe=probe) == "cpu"
    assert resolve_device("auto", gpus=[], probe=probe) == "cpu"
    assert probe.devices == []
    with pytest.raises(ConfigError, match="OneFlow sees no CUDA device"):
        resolve_device("cuda", gpus=[], probe=probe)


def test_a_gpu_index_beyond_the_visible_gpus_is_refused():
    with pytest.raises(ConfigError, match="sees 2 GPU.*cuda:0, cuda:1"):
        resolve_device("cuda:2", gpus=[H100, A100], probe=CountingProbe(ok=True))


def test_auto_refuses_a_gpu_whose_probe_fails_instead_of_falling_back_to_the_cpu():
    probe = CountingProbe(ok=False, detail=NO_KERNEL_IMAGE)
    with pytest.raises(ConfigError) as refused:
        resolve_device("auto", gpus=[H100], probe=probe)
    message = " ".join(str(refused.value).split())
    assert probe.devices == ["cuda"]
    for fact in ("device=auto", "NVIDIA H100 80GB HBM3", "compute capability 9.0", "OneFlow 0.9.0", "built with CUDA 11.7",
                 "no kernel image is available", "sm_60, sm_61, sm_70, sm_75, sm_80, sm_86 and no PTX", "does not cover this GPU",
                 "does not fall back to the CPU", "ONEFLOW_SPEC=", "docs/gpu.md", "device=cpu"):
        assert fact in message, fact
    assert "\n" not in paragraph(str(refused.value)).replace("\n  ", " ")  # one paragraph


def test_a_covered_gpu_that_fails_is_reported_as_another_cause():
    message = unusable_gpu_message("cuda:1", A100, ProbeResult(False, "the probe process exited with code 1: out of memory", 2.0))
    assert "GPU 1, NVIDIA A100-SXM4-40GB (compute capability 8.0" in message and "another cause" in message
    assert "does not fall back" not in message  # only auto could have fallen back


def test_a_passing_probe_runs_once_per_process_and_once_per_gpu_model_for_child_processes(monkeypatch):
    probe = CountingProbe(ok=True)
    assert resolve_device("auto", gpus=[H100], probe=probe) == "cuda"
    assert resolve_device("cuda", gpus=[H100], probe=probe) == "cuda"
    assert probe.devices == ["cuda"]
    assert "NVIDIA H100 80GB HBM3/9.0/oneflow 0.9.0" in os.environ[CUDA_PROBE_PASSED]
    monkeypatch.setattr(device_module, "_verdicts", {})  # a sweep's worker: new process, inherited environment
    assert resolve_device("cuda:0", gpus=[H100], probe=probe) == "cuda:0"
    assert probe.devices == ["cuda"]
    assert resolve_device("cuda:1", gpus=[H100, A100], probe=probe) == "cuda:1"  # another model: probed
    assert probe.devices == ["cuda", "cuda:1"]


def test_a_failed_probe_is_not_remembered_as_passed():
    probe = CountingProbe(ok=False, detail=NO_KERNEL_IMAGE)
    for _ in range(2):
        with pytest.raises(ConfigError):
            resolve_device("cuda", gpus=[H100], probe=probe)
    assert probe.devices == ["cuda"] and CUDA_PROBE_PASSED not in os.environ


@pytest.mark.parametrize("capability, runs", [((6, 0), True), ((7, 5), True), ((8, 6), True), ((8, 9), True), ((7, 2), True),
                                              ((5, 2), False), ((9, 0), False), ((10, 0), False), ((12, 0), False)])
def test_oneflow_090_architectures_cover_pascal_to_ada_only(capability, runs):
    assert runs_on({"sm": list(device_module.ONEFLOW_090_ARCHITECTURES), "ptx": []}, capability) is runs


def test_ptx_runs_on_later_gpus():
    assert runs_on({"sm": ["sm_80"], "ptx": ["sm_80"]}, (9, 0)) and not runs_on({"sm": [], "ptx": ["sm_90"]}, (8, 6))


def test_the_real_probe_child_reports_the_abort_of_a_simulated_hopper_gpu(monkeypatch):
    monkeypatch.setenv(SIMULATE_UNUSABLE_GPU, SIMULATED[SIMULATE_UNUSABLE_GPU])
    result = run_probe("cuda", timeout=120)
    assert not result.ok and result.detail == NO_KERNEL_IMAGE


def test_a_hung_probe_is_a_failure_after_the_timeout(monkeypatch):
    monkeypatch.setattr(device_module, "probe_command", lambda device: [sys.executable, "-c", "import time; time.sleep(60)"])
    result = run_probe("cuda", timeout=1)
    assert not result.ok and "did not finish within 1 s" in result.detail and result.seconds < 30


def test_the_probe_child_of_a_distributed_rank_is_a_single_process_on_the_ranks_gpu(monkeypatch):
    for name, value in {"RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}.items():
        monkeypatch.setenv(name, value)
    # A stand-in child that passes only if it would not join the distributed job and was asked for the rank's GPU.
    child = (f"import os, sys\njoined = [n for n in {device_module.DISTRIBUTED_VARIABLES!r} if n in os.environ]\n"
             f"sys.exit(f'joined {{joined}} on {{sys.argv[1]}}') if joined or sys.argv[1] != 'cuda:1' else print({device_module.PROBE_OK!r})")
    monkeypatch.setattr(device_module, "probe_command", lambda device: [sys.executable, "-c", child, device])
    result = run_probe("cuda", timeout=60)
    assert result.ok, result.detail


def _run(*argv, cwd=ROOT):
    return subprocess.run([sys.executable, *argv], cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, **SIMULATED, "PYTHONPATH": str(ROOT)})


def _assert_refused(result):
    assert result.returncode == 2, result.stderr[-3000:]
    text = " ".join(result.stderr.split())
    assert "Traceback" not in text and "NVIDIA H100 80GB HBM3 (compute capability 9.0" in text and "device=cpu" in text


def test_train_py_stops_before_writing_anything_on_an_unusable_gpu(tmp_path):
    run_dir = tmp_path / "run"
    result = _run(str(ROOT / "train.py"), "data=synthetic", "model=tiny", f"hydra.run.dir={run_dir}")
    _assert_refused(result)
    assert "device=auto" in result.stderr
    # Hydra creates the run directory (.hydra/, train.log) before main() runs; train.py removes it when it stops at config time.
    assert not run_dir.exists(), sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*"))


def test_a_parallel_sweep_stops_once_before_any_job(tmp_path):
    sweep = tmp_path / "sweep"
    result = _run(str(ROOT / "train.py"), "-m", "hydra/launcher=parallel", "data=synthetic", "model=tiny", "scheduler=cosine,step",
                  f"hydra.sweep.dir={sweep}")
    _assert_refused(result)
    assert result.stderr.count("error: device=auto") == 1 and not sweep.exists()


def test_bench_scripts_refuse_an_unusable_gpu_and_write_no_report(tmp_path):
    for script in ("bench.py", "bench_data.py"):
        result = _run(str(ROOT / "scripts" / script), "--device", "auto", "--out", str(tmp_path / script))
        _assert_refused(result)
        assert not (tmp_path / script).exists()


def test_the_verdict_is_known_to_run_info_in_the_process_and_in_its_children(monkeypatch):
    from engine.platform.device import known_verdict

    assert known_verdict(H100) is None
    resolve_device("auto", gpus=[H100], probe=CountingProbe(ok=True))
    assert known_verdict(H100) == {"ok": True, "detail": "passed", "seconds": 0.1}
    monkeypatch.setattr(device_module, "_verdicts", {})  # a child process: only the environment is inherited
    assert known_verdict(H100)["ok"] and CUDA_PROBE_PASSED in known_verdict(H100)["detail"]
    assert known_verdict(A100) is None
