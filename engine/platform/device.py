"""The device a run uses, and the check that the installed OneFlow can really run kernels on its GPU.

OneFlow 0.9.0 from PyPI carries GPU machine code for sm_60..sm_86 and no PTX, so on a Hopper or
Blackwell GPU `flow.cuda.is_available()` is True but the first kernel aborts the whole process from
C++ ("no kernel image is available for execution on the device"): no Python exception, nothing to
catch, a run directory left at status "running". So before a run writes anything,
`resolve_device` runs a tiny convolution forward and backward in a child process
(`python -m engine.platform.device cuda:N`) and refuses the GPU with one paragraph if that child fails.

Once per process, and once per sweep: a passed probe is remembered in the environment variable
CUDA_PROBE_PASSED, keyed by GPU model, compute capability, OneFlow build and driver, which the
child processes of a sweep inherit.

For tests on machines without a GPU, SIMULATE_UNUSABLE_GPU="<name>,<major>.<minor>" makes this
module see one GPU of that name whose probe fails the way OneFlow 0.9.0 fails on a Hopper GPU. It
can only make the check stricter: it never makes a real GPU pass.
"""
from __future__ import annotations

import engine.platform.oneflow_env  # noqa: F401  (before oneflow: loads the CUDA libraries it links against)

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Optional, Sequence

import backend
from common.errors import ConfigError
from engine.platform.oneflow_env import DISTRIBUTED_VARIABLES  # the probe child must not join the job with them

SIMULATE_UNUSABLE_GPU = "LRS_SIMULATE_UNUSABLE_GPU"
CUDA_PROBE_PASSED = "LRS_CUDA_PROBE_PASSED"
CUDA_PROBE_TIMEOUT = "LRS_CUDA_PROBE_TIMEOUT"
# A healthy probe takes a few seconds (import oneflow, CUDA context, cuDNN); the timeout only bounds a hang.
DEFAULT_PROBE_TIMEOUT_S = 60.0
PROBE_OK = "cuda probe ok"
ROOT = Path(__file__).resolve().parents[2]

# `cuobjdump --list-elf` / `--list-ptx` on PyPI's oneflow 0.9.0 (liboneflow-6f2d67ec.so), measured on an H100 machine.
ONEFLOW_090_ARCHITECTURES = ("sm_60", "sm_61", "sm_70", "sm_75", "sm_80", "sm_86")
ONEFLOW_090_ABORT = ("terminate called after throwing an instance of 'oneflow::RuntimeException'\n"
                     "  what():  Error: no kernel image is available for execution on the device (209)\n")


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    capability: tuple[int, int]
    memory_bytes: Optional[int] = None

    @property
    def compute_capability(self) -> str:
        return f"{self.capability[0]}.{self.capability[1]}"


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str  # "passed" or what went wrong, e.g. OneFlow's error line
    seconds: float


Probe = Callable[[str], ProbeResult]
_verdicts: dict[str, ProbeResult] = {}  # this process's probes, by device


def resolve_device(name: str, *, gpus: Optional[Sequence[Gpu]] = None, probe: Optional[Probe] = None) -> str:
    """`device=` of the config as a OneFlow device string; a GPU is returned only once a kernel ran on it.

    auto: cuda when OneFlow sees a GPU (never a silent fall-back to the CPU when that GPU cannot run
    OneFlow's kernels), else cpu. `gpus` and `probe` replace the real GPU list and child-process
    probe (tests). Raises ConfigError with one paragraph.
    """
    kind, index = _parse(name)
    if kind == "cpu":
        return "cpu"
    if backend.name() == "torch" and gpus is None:
        return torch_device(name, kind, index)
    gpus = visible_gpus() if gpus is None else list(gpus)
    if not gpus:
        if kind == "auto":
            return "cpu"
        raise ConfigError(f"device={name!r} was asked for, but OneFlow sees no CUDA device here "
                          f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r}); use device=cpu or device=auto.")
    if index is not None and index >= len(gpus):
        raise ConfigError(f"device={name!r}: OneFlow sees {len(gpus)} GPU(s), so valid devices are "
                          f"{', '.join(f'cuda:{i}' for i in range(len(gpus)))} (or cuda, auto, cpu).")
    device = "cuda" if index is None else f"cuda:{index}"
    # In a multi-process run, "cuda" is the rank's own GPU (LOCAL_RANK); otherwise the first one.
    gpu = gpus[index if index is not None else min(int(os.environ.get("LOCAL_RANK", 0)), len(gpus) - 1)]
    check_gpu_runs_kernels(device, gpu, asked=name, probe=probe)
    return device


def torch_device(name: str, kind: str, index: Optional[int]) -> str:
    """backend=torch: PyTorch's CUDA builds carry PTX and current architectures, so the GPU it sees is used as is."""
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        if kind == "auto":
            return "cpu"
        raise ConfigError(f"device={name!r} was asked for, but PyTorch sees no CUDA device here "
                          f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r}); use device=cpu or device=auto.")
    if index is not None and index >= count:
        raise ConfigError(f"device={name!r}: PyTorch sees {count} GPU(s), so valid devices are "
                          f"{', '.join(f'cuda:{i}' for i in range(count))} (or cuda, auto, cpu).")
    if index is None and "LOCAL_RANK" in os.environ:  # a multi-process run: the rank's own GPU
        return f"cuda:{min(int(os.environ['LOCAL_RANK']), count - 1)}"
    return "cuda" if index is None else f"cuda:{index}"


def _parse(name: str) -> tuple[str, Optional[int]]:
    match = re.fullmatch(r"(auto|cpu|cuda)(?::(\d+))?", str(name).strip())
    if match is None or (match.group(2) is not None and match.group(1) != "cuda"):
        raise ConfigError(f"device={name!r} is not valid; use auto (a GPU when OneFlow sees one, else the CPU), cpu, cuda or cuda:N.")
    return match.group(1), None if match.group(2) is None else int(match.group(2))


def check_gpu_runs_kernels(device: str, gpu: Gpu, asked: str = "cuda", probe: Optional[Probe] = None) -> None:
    """Raise ConfigError (the paragraph of unusable_gpu_message) unless a probe kernel ran on `device`."""
    key, simulated = verdict_key(gpu), bool(os.environ.get(SIMULATE_UNUSABLE_GPU))
    if key in os.environ.get(CUDA_PROBE_PASSED, "").split(";") and not simulated:
        return
    if device not in _verdicts:
        _verdicts[device] = (probe or run_probe)(device)
    result = _verdicts[device]
    if not result.ok:
        raise ConfigError(unusable_gpu_message(asked, gpu, result))
    if not simulated:
        passed = [k for k in os.environ.get(CUDA_PROBE_PASSED, "").split(";") if k]
        os.environ[CUDA_PROBE_PASSED] = ";".join([*passed, key])


def probe_verdicts() -> dict[str, dict]:
    """The probes this process ran, by device (for doctor and run_info.json)."""
    return {device: asdict(result) for device, result in _verdicts.items()}


def known_verdict(gpu: Gpu) -> Optional[dict]:
    """What is known, without probing, about whether kernels run on `gpu`: this process's probe, a parent's, or None."""
    verdicts = probe_verdicts()
    mine = verdicts.get(f"cuda:{gpu.index}") or (verdicts.get("cuda") if gpu.index == int(os.environ.get("LOCAL_RANK", 0)) else None)
    if mine is None and verdict_key(gpu) in os.environ.get(CUDA_PROBE_PASSED, "").split(";"):
        return {"ok": True, "detail": f"passed in a parent process ({CUDA_PROBE_PASSED})", "seconds": None}
    return mine


def verdict_key(gpu: Gpu) -> str:
    """What a passed probe depends on: the GPU model, the OneFlow build and the driver, not the GPU's index."""
    build = oneflow_build()
    return f"{gpu.name}/{gpu.compute_capability}/oneflow {build['version']} {build['git_commit']}/driver {driver_version()}"


def _simulated_gpu() -> Optional[Gpu]:
    value = os.environ.get(SIMULATE_UNUSABLE_GPU)
    if not value:
        return None
    name, _, capability = value.rpartition(",")
    major, _, minor = capability.partition(".")
    return Gpu(0, name.strip() or "simulated GPU", (int(major), int(minor or 0)))


def visible_gpus() -> list[Gpu]:
    """The GPUs OneFlow sees, read in this process without launching a kernel (device properties only)."""
    simulated = _simulated_gpu()
    if simulated is not None:
        return [simulated]
    import oneflow as flow

    if not flow.cuda.is_available():
        return []
    gpus = []
    for index in range(flow.cuda.device_count()):
        props = flow.cuda.get_device_properties(index)
        gpus.append(Gpu(index, props.name, (props.major, props.minor), getattr(props, "total_memory", None)))
    return gpus


def probe_command(device: str) -> list[str]:
    return [sys.executable, "-m", "engine.platform.device", device]


def run_probe(device: str, timeout: Optional[float] = None) -> ProbeResult:
    """Run the probe (probe_kernels) in a child process: an abort there cannot take this process down."""
    timeout = float(os.environ.get(CUDA_PROBE_TIMEOUT, DEFAULT_PROBE_TIMEOUT_S)) if timeout is None else timeout
    if device == "cuda" and os.environ.get("LOCAL_RANK"):  # the child is a single process: name the rank's GPU
        device = f"cuda:{os.environ['LOCAL_RANK']}"
    env = {k: v for k, v in os.environ.items() if k not in DISTRIBUTED_VARIABLES}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    start = time.monotonic()
    try:
        done = subprocess.run(probe_command(device), capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return ProbeResult(False, f"the probe did not finish within {timeout:.0f} s (raise {CUDA_PROBE_TIMEOUT} on a slow machine)",
                           time.monotonic() - start)
    seconds = time.monotonic() - start
    if done.returncode == 0 and PROBE_OK in done.stdout:
        return ProbeResult(True, "passed", seconds)
    return ProbeResult(False, _failure_detail(done.returncode, done.stderr), seconds)


def _failure_detail(returncode: int, stderr: str) -> str:
    how = (f"was killed by {signal.Signals(-returncode).name}" if returncode < 0 and -returncode in signal.valid_signals()
           else f"exited with code {returncode}")
    # OneFlow's own words: a RuntimeException's "Error: ..." or a glog "Check failed: ..." (stack frames start with @).
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and not line.strip().startswith("@")]
    for pattern in (r"Error: .*", r"Check failed: .*", r"\w*Error\b.*", r".*rror.*"):
        error = next((m.group(0) for line in lines for m in [re.search(pattern, line)] if m), None)
        if error:
            break
    return f"the probe process {how}: {(error or (lines[-1] if lines else 'no output'))[:300].strip()}"


def probe_kernels(device: str) -> None:
    """In the child: a convolution forward and backward on `device`, synchronised, with a finite gradient."""
    if os.environ.get(SIMULATE_UNUSABLE_GPU):  # what OneFlow 0.9.0 does on the first kernel on a Hopper GPU
        sys.stderr.write(ONEFLOW_090_ABORT)
        sys.stderr.flush()
        os.abort()
    import oneflow as flow

    conv = flow.nn.Conv2d(3, 8, 3, padding=1).to(device)
    images = flow.randn(4, 3, 16, 16, device=device, requires_grad=True)
    conv(images).relu().mean().backward()
    flow.cuda.synchronize()
    gradient = float(images.grad.abs().sum().numpy())
    if not gradient == gradient or gradient in (float("inf"), 0.0):
        raise RuntimeError(f"the probe's gradient on {device} is {gradient}, not a finite non-zero number")
    print(PROBE_OK, flush=True)


@lru_cache(maxsize=1)
def oneflow_build() -> dict:
    """Version, git commit and CUDA version of the installed OneFlow (cached: it cannot change in a process)."""
    import oneflow as flow
    import oneflow.sysconfig as sysconfig

    cuda = sysconfig.get_cuda_version() if sysconfig.with_cuda() else None  # e.g. 11070
    return {"version": flow.__version__, "git_commit": getattr(flow, "__git_commit__", None),
            "with_cuda": bool(sysconfig.with_cuda()), "cuda": f"{cuda // 1000}.{cuda % 1000 // 10}" if cuda else None,
            "library": next((str(p) for p in engine.platform.oneflow_env.oneflow_native_libraries(Path(flow.__file__).parent)
                             if p.name.startswith("liboneflow")), None)}


@lru_cache(maxsize=1)
def driver_version() -> Optional[str]:
    """The NVIDIA kernel driver's version (no GPU: None)."""
    proc = Path("/proc/driver/nvidia/version")
    if proc.exists():
        match = re.search(r"Kernel Module\s+(?:for \S+\s+)?([\d.]+)", proc.read_text())
        if match:
            return match.group(1)
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=20).stdout.split()
            return out[0] if out else None
        except (OSError, subprocess.SubprocessError):
            return None
    return None


@lru_cache(maxsize=1)
def carried_architectures() -> Optional[dict]:
    """GPU architectures the installed OneFlow carries: {"sm": [...], "ptx": [...], "source": ...}, or None if unknown."""
    library = oneflow_build()["library"]
    if shutil.which("cuobjdump") and library:
        found = {}
        for kind in ("elf", "ptx"):
            try:
                out = subprocess.run(["cuobjdump", f"--list-{kind}", library], capture_output=True, text=True, timeout=120).stdout
            except (OSError, subprocess.SubprocessError):
                return None
            found[kind] = sorted(set(re.findall(r"sm_\d+a?", out)), key=lambda sm: int(re.sub(r"\D", "", sm)))
        return {"sm": found["elf"], "ptx": found["ptx"], "source": f"cuobjdump on {Path(library).name}"}
    if oneflow_build()["version"] == "0.9.0":
        return {"sm": list(ONEFLOW_090_ARCHITECTURES), "ptx": [], "source": "measured with cuobjdump for PyPI's oneflow 0.9.0"}
    return None


def _capability_of(architecture: str) -> tuple[int, int]:
    digits = re.sub(r"\D", "", architecture)  # sm_86 -> (8, 6), sm_90a -> (9, 0), sm_120 -> (12, 0)
    return int(digits[:-1]), int(digits[-1])


def runs_on(architectures: dict, capability: tuple[int, int]) -> bool:
    """sm_XY machine code runs on compute capability X.Z for Z >= Y; PTX for sm_XY is compiled for any later GPU."""
    carried = [_capability_of(sm) for sm in architectures["sm"]]
    return (any(major == capability[0] and minor <= capability[1] for major, minor in carried)
            or any(_capability_of(sm) <= capability for sm in architectures["ptx"]))


def unusable_gpu_message(asked: str, gpu: Gpu, result: ProbeResult) -> str:
    """The refusal paragraph: which GPU, which build, why, and the ways out."""
    build = oneflow_build()
    what = (f"device={asked} picked GPU {gpu.index}, {gpu.name} (compute capability {gpu.compute_capability}, "
            f"driver {driver_version() or 'unknown'}), but the installed OneFlow {build['version']} "
            f"(built with CUDA {build['cuda'] or 'none'}) cannot run kernels on it: a test convolution in a child process "
            f"failed ({result.detail}).")
    architectures = carried_architectures()
    if architectures is None:
        carries = "Which GPU architectures this OneFlow build carries is unknown here (cuobjdump is not installed)."
    else:
        ptx = f"PTX for {', '.join(architectures['ptx'])}" if architectures["ptx"] else "no PTX"
        verdict = ("which does not cover this GPU" if not runs_on(architectures, gpu.capability)
                   else "which should cover this GPU, so the failure above has another cause")
        carries = (f"This build carries machine code for {', '.join(architectures['sm'])} and {ptx} ({architectures['source']}), "
                   f"{verdict} (compute capability {gpu.compute_capability}).")
    fallback = " device=auto does not fall back to the CPU by itself, because a CPU run is about 1000 times slower." if asked == "auto" else ""
    return (f"{what} {carries}{fallback} Ways out: install a OneFlow build made for this GPU, e.g. a CUDA 12 build with "
            f"`ONEFLOW_SPEC=... ONEFLOW_FIND_LINKS=... bash scripts/setup.sh` (docs/gpu.md); or run on PyTorch, whose builds support "
            f"current GPUs, with backend=torch (install it with `bash scripts/setup.sh --with-torch`; docs/backends.md); "
            f"or train on the CPU with device=cpu.")


if __name__ == "__main__":  # the probe's child process: python -m engine.platform.device cuda:N
    probe_kernels(sys.argv[1] if len(sys.argv) > 1 else "cuda")
