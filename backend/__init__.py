"""The one place that names the deep-learning framework: OneFlow (the default) or PyTorch (`backend=torch`).

OneFlow mirrors PyTorch's API, so the rest of the project writes `from backend import flow, nn, F` and runs on
either. The framework is chosen once per process, from the config's `backend` key, before anything imports it
(train.py calls `select(cfg.backend)` after composing and validating the config): `flow`, `nn` and `F` resolve
to the selected framework on first use, and the default is OneFlow. What differs between the two lives in
backend/oneflow_impl.py and backend/torch_impl.py behind the functions below (`impl()`): graph mode (nn.Graph vs
torch.compile), autocast, DDP, the names of optimizers. The schedules are OneFlow's classes on both backends
(schedulers/follow.py drives a torch optimizer's LR from them). docs/backends.md says which backend to pick when.
"""
from __future__ import annotations

import importlib
import importlib.metadata
from types import ModuleType
from typing import Any, Literal, Optional, get_args

BackendName = Literal["oneflow", "torch"]  # conf/config.yaml `backend`, checked by engine/config/schema.py
NAMES: tuple[str, ...] = get_args(BackendName)
DEFAULT = "oneflow"
PACKAGES = {"oneflow": "oneflow", "torch": "torch"}  # the pip distribution (and import name) of each backend

_selected: Optional[str] = None


class BackendError(RuntimeError):
    """The framework was asked for twice with different names in one process (a bug, never a user's input)."""


def select(name: str) -> ModuleType:
    """Choose this process's framework (idempotent); import it and return its module.

    Selecting another one after a first choice raises BackendError: modules have bound `flow`/`nn` already."""
    global _selected
    if name not in NAMES:
        raise ValueError(f"backend {name!r} is not one of {NAMES}")
    if _selected is not None and _selected != name:
        raise BackendError(f"this process already uses backend={_selected}; it cannot switch to backend={name}")
    _selected = name
    return impl().framework()


def name() -> str:
    """The selected framework's name (the default, OneFlow, once anything used `flow` without selecting)."""
    return _selected or DEFAULT


def is_selected() -> bool:
    return _selected is not None


def version(backend: Optional[str] = None) -> Optional[str]:
    """The installed version of `backend` (default: the selected one), read without importing it; None if absent."""
    try:
        return importlib.metadata.version(PACKAGES[backend or name()])
    except importlib.metadata.PackageNotFoundError:
        return None


def impl() -> ModuleType:
    """The selected backend's implementation module (backend.oneflow_impl or backend.torch_impl)."""
    if _selected is None:
        select(DEFAULT)
    return importlib.import_module(f"backend.{_selected}_impl")


def is_tensor(obj: Any) -> bool:
    """A tensor of either framework (checkpoints store both as numpy arrays), checked without importing either."""
    module = type(obj).__module__
    return (module.startswith("oneflow") or module.startswith("torch")) and hasattr(obj, "detach") and hasattr(obj, "numpy")


def __getattr__(attr: str) -> Any:
    """`flow`, `nn` and `F`: the selected framework, its nn and its nn.functional (resolved on first use)."""
    if attr == "flow":
        return impl().framework()
    if attr == "nn":
        return impl().framework().nn
    if attr == "F":
        return importlib.import_module(f"{PACKAGES[name()]}.nn.functional")
    raise AttributeError(f"module 'backend' has no attribute {attr!r}")
