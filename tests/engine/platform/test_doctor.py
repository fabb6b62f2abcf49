"""scripts/doctor.py reports the environment line by line (OK or the problem and its fix); run_info.json records it."""
import json
import os
import subprocess
import sys
import time

from engine.platform.device import SIMULATE_UNUSABLE_GPU
from engine.run_dir.files import record_run_info
from input_pipeline.cifar100 import ARCHIVE_NAME
from engine.platform.doctor import data_lines
from tests.support.runs import ROOT


def doctor(*args, env=None):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "doctor.py"), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


def test_a_healthy_cpu_only_machine_is_all_ok_and_reports_no_gpu(tmp_path):
    result = doctor("--data-root", str(tmp_path), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    report = {line.split()[1]: line for line in lines[:-2]}
    assert all(line.startswith("OK ") for line in report.values())
    assert set(report) == {"python", "oneflow", "flowvision", "torch", "hydra", "cudnn", "cublas", "gpu", "disk", "cifar100"}
    assert "no GPU visible" in report["gpu"] and "OneFlow 0.9.0" in report["oneflow"] and "CUDA 11.7" in report["oneflow"]
    assert "libcudnn_cnn_infer.so.8" in report["cudnn"] and "nvidia-cudnn-cu11" in report["cudnn"]
    assert "not downloaded yet" in report["cifar100"] and lines[-2] == "doctor: all OK"
    facts = json.loads(lines[-1])
    assert facts["gpus"] == [] and facts["data"]["data_root"] == str(tmp_path)


def test_a_gpu_oneflow_cannot_run_and_a_corrupt_archive_are_problems_with_fixes(tmp_path):
    (tmp_path / ARCHIVE_NAME).write_bytes(b"truncated download")
    result = doctor("--data-root", str(tmp_path), env={SIMULATE_UNUSABLE_GPU: "NVIDIA H100 80GB HBM3,9.0"})
    assert result.returncode == 1
    problems = [line for line in result.stdout.splitlines() if line.startswith("PROBLEM")]
    assert len(problems) == 2, result.stdout
    gpu, archive = problems
    assert "NVIDIA H100 80GB HBM3, compute capability 9.0" in gpu and "no kernel image" in gpu
    assert "fix: train with backend=torch" in gpu and "install a OneFlow build" in gpu
    assert "wrong md5" in archive and "fix: delete it" in archive
    assert "2 problem(s)" in result.stdout


def test_low_disk_space_is_a_problem():
    data = {"data_root": "/d", "free_bytes": 300 * 2**20, "archive": "/d/a.tar.gz", "archive_present": False,
            "extracted_present": True, "archive_md5_ok": None}
    disk, archive = data_lines(data)
    assert not disk.ok and "0.3 GiB free" in disk.text and "fix:" in disk.text
    assert archive.ok and "extracted copy present" in archive.text


def test_run_info_records_the_environment_cheaply(tmp_path):
    start = time.perf_counter()
    record_run_info(tmp_path, "cpu", resumed_from_step=None, data_root=str(tmp_path))
    seconds = time.perf_counter() - start
    record_run_info(tmp_path, "cpu", resumed_from_step=20)
    info = json.loads((tmp_path / "run_info.json").read_text())
    started, resumed = info["started"]["environment"], info["resumed"][0]["environment"]
    assert started["oneflow"]["version"] == "0.9.0" and started["oneflow"]["cuda"] == "11.7" and started["gpus"] == []
    assert {"libcudnn_cnn_infer.so.8", "libcublas.so.11"} <= {lib["name"] for lib in started["cuda_libraries"]}
    assert started["data"]["archive_present"] is False and started["data"]["free_bytes"] > 0
    assert "data" not in resumed and resumed["python"] == started["python"]
    assert seconds < 5, f"record_run_info took {seconds:.1f} s"  # generous: no probe, no md5, only local reads
