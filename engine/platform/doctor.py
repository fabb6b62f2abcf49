"""The environment report of scripts/doctor.py: one line per fact, OK or PROBLEM with what is wrong and how to fix it,
from engine.platform.machine.environment (what run_info.json records for every run)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple, Optional

import backend
from engine.platform.machine import MIN_FREE_BYTES, environment, nvidia_smi_gpus

SETUP = "run `bash scripts/setup.sh` (it installs the pinned stack into .venv)"


class Line(NamedTuple):
    ok: bool
    topic: str
    text: str  # for a problem: what is wrong, then "fix: ..."


def software_lines(facts: dict) -> list[Line]:
    python_ok = tuple(int(p) for p in facts["python"].split(".")[:2]) in ((3, 8), (3, 9), (3, 10))
    build = facts["oneflow"]
    arch = facts["oneflow_architectures"]
    carries = (f"; carries {', '.join(arch['sm'])}, {'PTX ' + ', '.join(arch['ptx']) if arch['ptx'] else 'no PTX'} ({arch['source']})"
               if arch else "; GPU architectures unknown (no cuobjdump)")
    lines = [Line(python_ok, "python", f"Python {facts['python']} on {facts['platform']}" +
                  ("" if python_ok else f": OneFlow 0.9.0 needs Python 3.8-3.10; fix: {SETUP} with PYTHON=python3.10")),
             Line(True, "oneflow", f"OneFlow {build['version']} (git {build['git_commit']}), "
                                   f"{'built with CUDA ' + build['cuda'] if build['with_cuda'] else 'a CPU-only build'}{carries}")]
    for topic, version in (("flowvision", facts["flowvision"]), ("hydra", facts["hydra_core"])):
        lines.append(Line(version is not None, topic, f"{topic} {version}" if version else f"{topic} is not installed; fix: {SETUP}"))
    torch_version = backend.version("torch")
    lines.append(Line(True, "torch", f"PyTorch {torch_version}: backend=torch available (docs/backends.md)" if torch_version else
                      "PyTorch is not installed (optional): backend=torch, for GPUs OneFlow cannot run, needs "
                      "`bash scripts/setup.sh --with-torch`"))
    return lines


def library_lines(facts: dict) -> list[Line]:
    lines = []
    for topic, prefix in (("cudnn", "libcudnn"), ("cublas", "libcublas")):
        loaded = [lib for lib in facts["cuda_libraries"] if lib["name"].startswith(prefix)]
        if loaded:
            wheels = sorted({lib["wheel"] or "system" for lib in loaded})
            folders = sorted({str(Path(lib["path"]).parent) for lib in loaded})
            lines.append(Line(True, topic, f"{', '.join(lib['name'] for lib in loaded)} from {', '.join(wheels)} ({', '.join(folders)})"))
        elif facts["oneflow"]["with_cuda"]:
            lines.append(Line(False, topic, f"no {prefix} library is loaded although OneFlow is a CUDA build; fix: {SETUP}, "
                                            f"or for another OneFlow build install the nvidia-*-cu<NN> wheel it links (docs/gpu.md)"))
    return lines


def gpu_lines(facts: dict, listed: Optional[list[dict]]) -> list[Line]:
    driver = f", driver {facts['driver']}" if facts["driver"] else ""
    if not facts["gpus"]:
        if listed:
            return [Line(False, "gpu", f"nvidia-smi lists {len(listed)} GPU(s) ({listed[0].get('name')}{driver}) but OneFlow sees none: "
                                       f"the driver may be too old for OneFlow's CUDA {facts['oneflow']['cuda']}; fix: update the "
                                       f"NVIDIA driver, or install a OneFlow build for this driver (docs/gpu.md)")]
        return [Line(True, "gpu", "no GPU visible (CPU-only machine): runs use the CPU, device=auto picks cpu")]
    lines = []
    for gpu in facts["gpus"]:
        memory = f", {gpu['memory_gib']} GiB" if gpu["memory_gib"] else ""
        what = f"GPU {gpu['index']}: {gpu['name']}, compute capability {gpu['compute_capability']}{memory}{driver}"
        probe = gpu["probe"]
        if probe is None:
            lines.append(Line(True, "gpu", f"{what}; probe not run"))
        elif probe["ok"]:
            lines.append(Line(True, "gpu", f"{what}; probe passed (conv forward + backward in {probe['seconds']:.1f} s)"))
        else:
            lines.append(Line(False, "gpu", f"{what}; probe FAILED: {probe['detail']}; fix: train with backend=torch "
                                            f"(PyTorch supports this GPU; bash scripts/setup.sh --with-torch, docs/backends.md), install "
                                            f"a OneFlow build made for this GPU (ONEFLOW_SPEC=... bash scripts/setup.sh, docs/gpu.md) "
                                            f"or train with device=cpu"))
    return lines


def data_lines(data: dict) -> list[Line]:
    free_gib = data["free_bytes"] / 2**30
    lines = [Line(data["free_bytes"] >= MIN_FREE_BYTES, "disk", f"{free_gib:.1f} GiB free at the data root {data['data_root']}" +
                  ("" if data["free_bytes"] >= MIN_FREE_BYTES else f"; CIFAR-100 and checkpoints need about "
                   f"{MIN_FREE_BYTES / 2**30:.0f} GiB; fix: free space or set data.dataset.root to another disk"))]
    if data["archive_present"]:
        ok = data["archive_md5_ok"] is not False
        lines.append(Line(ok, "cifar100", f"archive {data['archive']} " + ("present, md5 correct" if data["archive_md5_ok"]
                          else "present, md5 not checked" if ok else
                          "has the wrong md5 (truncated or corrupt); fix: delete it and run again (it is downloaded anew)")))
    elif data["extracted_present"]:
        lines.append(Line(True, "cifar100", f"extracted copy present in {data['data_root']} (the archive is not kept there)"))
    else:
        lines.append(Line(True, "cifar100", f"not downloaded yet: the first data=cifar100 run downloads {data['archive']} "
                                            f"(161 MB), or place the archive there"))
    return lines


def report(data_root: str, as_json: bool = False) -> int:
    """Probe this machine, print one line per fact (and the facts as JSON); 0 when every line is OK, else 1."""
    facts = environment(run_probes=True, data_root=data_root, verify_md5=True)
    lines = software_lines(facts) + library_lines(facts) + gpu_lines(facts, nvidia_smi_gpus()) + data_lines(facts["data"])
    for line in lines:
        print(f"{'OK' if line.ok else 'PROBLEM':<8} {line.topic:<11} {line.text}")
    problems = sum(not line.ok for line in lines)
    print(f"doctor: {'all OK' if not problems else f'{problems} problem(s), each with its fix above'}")
    if as_json:
        print(json.dumps(facts))
    return 0 if not problems else 1
