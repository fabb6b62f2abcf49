"""Which device a run uses: `device=auto|cpu|cuda|cuda:N`."""
from __future__ import annotations

import oneflow as flow

from common.errors import ConfigError


def resolve_device(name: str) -> str:
    if name == "auto":
        return "cuda" if flow.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not flow.cuda.is_available():
        raise ConfigError(f"device={name!r} was asked for, but OneFlow sees no CUDA device here; use device=cpu or device=auto.")
    if name != "cpu" and not name.startswith("cuda"):
        raise ConfigError(f"device={name!r} is not valid; use auto, cpu, cuda or cuda:N.")
    return name
