"""Facts about the machine: machine() beside every benchmark figure; environment() for doctor and run_info.json."""
from __future__ import annotations

import engine.platform.oneflow_env  # noqa: F401  (before oneflow: loads the CUDA libraries it links against)

import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
from dataclasses import asdict
from functools import lru_cache
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import numpy as np
import oneflow as flow

from engine.platform.threads import THREAD_VARIABLES


def _cpuinfo_field(name: str) -> Optional[str]:
    if not Path("/proc/cpuinfo").exists():
        return None
    return next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.split(":", 1)[0].strip() == name), None)


def cpu_model() -> str:
    return _cpuinfo_field("model name") or platform.processor() or platform.machine()


# The instruction-set extensions numeric kernels dispatch on: two CPUs differing in these can give different floats.
ISA_FLAGS = ("sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
             "avx512_bf16", "amx_tile", "amx_bf16", "neon", "asimd", "sve")
NUMERIC_PACKAGES = ("oneflow", "flowvision", "torch", "schedulefree", "numpy", "scipy", "scikit-learn", "pillow", "hydra-core", "optuna")


def provenance() -> dict:
    """What per-run figures depend on beyond the code and the config: the CPU, its ISA, threads, numeric libraries.

    Runs are bit-identical on one machine but not across CPU models (or library versions), so every run
    records these and a comparison can warn when its runs mix them (analysis.comparison)."""
    flags = set((_cpuinfo_field("flags") or _cpuinfo_field("Features") or "").split())
    return {"cpu_model": cpu_model(), "machine": platform.machine(), "cpu_count": os.cpu_count(),
            "cores_available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "isa_flags": sorted(f for f in ISA_FLAGS if f in flags),
            "threads": {name: os.environ.get(name) for name in THREAD_VARIABLES},
            "versions": {name: package_version(name) for name in NUMERIC_PACKAGES}}


def machine() -> dict:
    cpu = cpu_model()
    return {"cpu": cpu, "cores_available": len(os.sched_getaffinity(0)), "load_average_at_start": os.getloadavg()[0],
            "python": platform.python_version(), "oneflow": flow.__version__, "numpy": np.__version__,
            "cuda": flow.cuda.is_available(), "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"),
            # the thread-pool variables (engine.platform.threads): unset means each framework's pool takes every core
            "thread_variables": {name: os.environ[name] for name in THREAD_VARIABLES if name in os.environ}}


# ---- The environment a run or a bug report depends on (scripts/doctor.py, run_info.json) ----

MIN_FREE_BYTES = 2 * 2**30  # CIFAR-100 archive + extracted copy + checkpoints of a few runs
_CUDA_LIBRARY = re.compile(r"/(lib(?:cudnn|cublas|cublasLt|cudart|nvrtc|nccl|cufft|curand)[^/]*\.so[^/]*)$")


def package_version(name: str) -> Optional[str]:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


@lru_cache(maxsize=None)
def _wheel_of(path: str) -> Optional[str]:
    """Where a library came from: "nvidia-cudnn-cu11 8.9.6.50" for site-packages/nvidia/cudnn/lib/, or bundled with oneflow."""
    if "/oneflow.libs/" in path:
        return "bundled with oneflow"
    match = re.search(r"/nvidia/([^/]+)/lib/", path)
    if not match:
        return None
    for cuda in ("cu11", "cu12", "cu13"):  # looked up by name: scanning every distribution's metadata takes seconds
        name = f"nvidia-{match.group(1).replace('_', '-')}-{cuda}"
        version = package_version(name)
        if version:
            return f"{name} {version}"
    return None


def cuda_libraries_loaded() -> list[dict]:
    """The CUDA libraries mapped into this process (/proc/self/maps): what OneFlow really runs with."""
    maps = Path("/proc/self/maps")
    paths = sorted({line.split(None, 5)[5].strip() for line in maps.read_text().splitlines()
                    if len(line.split(None, 5)) == 6 and _CUDA_LIBRARY.search(line.strip())}) if maps.exists() else []
    return [{"name": Path(p).name, "path": p, "wheel": _wheel_of(p)} for p in paths]


def nvidia_smi_gpus() -> Optional[list[dict]]:
    """GPUs as the driver lists them (also those OneFlow cannot see); None without nvidia-smi."""
    if not shutil.which("nvidia-smi"):
        return None
    for fields in ("index,name,compute_cap,memory.total,driver_version", "index,name,memory.total,driver_version"):
        try:
            done = subprocess.run(["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader,nounits"],
                                  capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None
        if done.returncode == 0:  # older drivers do not know compute_cap: ask again without it
            keys = fields.split(",")
            return [dict(zip(keys, (v.strip() for v in line.split(",")))) for line in done.stdout.splitlines() if line.strip()]
    return None


def gpu_facts(run_probes: bool = False) -> list[dict]:
    """Each GPU OneFlow sees: name, compute capability, memory, and its probe verdict (run now if `run_probes`)."""
    from engine.platform.device import known_verdict, run_probe, visible_gpus

    facts = []
    for gpu in visible_gpus():
        verdict = asdict(run_probe(f"cuda:{gpu.index}")) if run_probes else known_verdict(gpu)
        facts.append({"index": gpu.index, "name": gpu.name, "compute_capability": gpu.compute_capability,
                      "memory_gib": round(gpu.memory_bytes / 2**30, 1) if gpu.memory_bytes else None, "probe": verdict})
    return facts


def data_root_facts(root: str, verify_md5: bool = False) -> dict:
    """Free disk at the data root and the CIFAR-100 archive's presence (and md5, which reads 161 MB, if asked)."""
    from input_pipeline.cifar100 import ARCHIVE_NAME, FOLDER_NAME, OFFICIAL_MD5, md5_of

    path = Path(root).expanduser().resolve()
    existing = next(p for p in (path, *path.parents) if p.exists())
    archive = path / ARCHIVE_NAME
    facts = {"data_root": str(path), "free_bytes": shutil.disk_usage(existing).free, "archive": str(archive),
             "archive_present": archive.is_file(), "extracted_present": (path / FOLDER_NAME).is_dir(), "archive_md5_ok": None}
    if verify_md5 and archive.is_file():
        facts["archive_md5_ok"] = md5_of(archive) == OFFICIAL_MD5
    return facts


def environment(run_probes: bool = False, data_root: Optional[str] = None, verify_md5: bool = False) -> dict:
    """The facts scripts/doctor.py reports; run_info.json records the cheap ones (no new probe, no md5)."""
    from engine.platform.device import carried_architectures, driver_version, oneflow_build

    facts = {"python": platform.python_version(), "platform": platform.platform(), "oneflow": oneflow_build(),
             "oneflow_architectures": carried_architectures() if run_probes else None,
             "flowvision": package_version("flowvision"), "hydra_core": package_version("hydra-core"),
             "cuda_libraries": cuda_libraries_loaded(), "driver": driver_version(), "gpus": gpu_facts(run_probes),
             "provenance": provenance()}
    if data_root is not None:
        facts["data"] = data_root_facts(data_root, verify_md5)
    return facts
