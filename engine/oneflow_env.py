"""Make `import oneflow` work on CPU-only and CUDA machines without user-set environment variables.

The OneFlow 0.9.0 wheel is a CUDA 11.8 build whose native library links cuDNN 8 and cuBLAS 11 even
when no GPU is present. Those libraries come from the `nvidia-cudnn-cu11` / `nvidia-cublas-cu11`
wheels, which the dynamic loader does not search by itself. Loading them here with RTLD_GLOBAL,
before oneflow, lets oneflow's own dlopen find them. Every entry point (train.py, scripts, tests)
imports this module first; it is idempotent and cheap after the first call.
"""
from __future__ import annotations

import ctypes
import importlib.util
import os
import sys
from pathlib import Path

# Order matters: dependencies before dependants (cuBLASLt before cuBLAS, ops before cnn/adv).
_LIBRARIES = {
    "cublas": ["libcublasLt.so.11", "libcublas.so.11"],
    "cudnn": [
        "libcudnn_ops_infer.so.8",
        "libcudnn_ops_train.so.8",
        "libcudnn_cnn_infer.so.8",
        "libcudnn_cnn_train.so.8",
        "libcudnn_adv_infer.so.8",
        "libcudnn_adv_train.so.8",
        "libcudnn.so.8",
    ],
}
_loaded: list[str] = []


def _nvidia_lib_dirs() -> dict[str, Path]:
    """Folders of the nvidia-*-cu11 wheels, found through the import system (any site-packages)."""
    found = {}
    for name in _LIBRARIES:
        spec = importlib.util.find_spec(f"nvidia.{name}")
        if spec is not None and spec.submodule_search_locations:
            for location in spec.submodule_search_locations:
                lib_dir = Path(location) / "lib"
                if lib_dir.is_dir():
                    found[name] = lib_dir
                    break
    return found


def preload_cuda_libraries() -> list[str]:
    """Load the CUDA 11 libraries oneflow links against; return the paths loaded (once per process)."""
    if _loaded or "oneflow" in sys.modules:
        return list(_loaded)
    for name, lib_dir in _nvidia_lib_dirs().items():
        for lib in _LIBRARIES[name]:
            path = lib_dir / lib
            if path.exists():
                ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
                _loaded.append(str(path))
    return list(_loaded)


# oneflow logs through glog at INFO/WARNING level on import ("CUDA driver version is insufficient"
# on CPU-only machines); keep those out of the user's terminal unless they asked for them.
os.environ.setdefault("GLOG_minloglevel", "2")
preload_cuda_libraries()
