"""Checkpoints: one file per save, written to a temporary name and renamed, so a kill never corrupts one.

`oneflow.save` writes a directory of files, which cannot be replaced atomically; a checkpoint here is
a single pickle in which every OneFlow tensor is stored as a numpy array (and turned back into a
tensor on the run's device when loaded). Loading goes through an unpickler that rebuilds only
containers, numbers, strings and numpy arrays, so a checkpoint file cannot run code.
"""
from __future__ import annotations

import pickle
import random
import re
from pathlib import Path
from typing import Any, Optional

import numpy as np
import oneflow as flow

from common.errors import ConfigError
from common.files import atomic_write_bytes, restricted_unpickle

CHECKPOINT_NAME = re.compile(r"^epoch=(\d+)-step=(\d+)\.ckpt$")
BEST_NAME = "best.ckpt"


class _TensorData:
    """A OneFlow tensor's values in a checkpoint (tensors are not picklable without OneFlow's runtime)."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array


def to_storable(obj: Any) -> Any:
    """A copy of `obj` (nested dicts/lists/tuples) with every OneFlow tensor replaced by its numpy values."""
    if isinstance(obj, flow.Tensor):
        return _TensorData(obj.detach().cpu().numpy().copy())
    if isinstance(obj, dict):
        return {k: to_storable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_storable(v) for v in obj)
    return obj


def from_storable(obj: Any, device: str = "cpu") -> Any:
    """Inverse of `to_storable`: tensors come back on `device`."""
    if isinstance(obj, _TensorData):
        return flow.tensor(obj.array, device=device)
    if isinstance(obj, dict):
        return {k: from_storable(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(from_storable(v, device) for v in obj)
    return obj


def serialize(state: dict) -> bytes:
    """The bytes of a checkpoint holding `state` (tensors allowed anywhere in it)."""
    return pickle.dumps(to_storable(state), protocol=pickle.HIGHEST_PROTOCOL)


def save_checkpoint(state: dict, path: Path) -> None:
    atomic_write_bytes(path, serialize(state))


def load_checkpoint(path: Path, device: str = "cpu") -> dict:
    try:
        state = restricted_unpickle(Path(path).read_bytes(), "checkpoints", extra_globals=[(__name__, "_TensorData")])
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
        raise ConfigError(f"checkpoint {path} cannot be read ({error}); it was not written by this train.py. "
                          f"Move it out of the checkpoints folder to continue from the previous one.") from error
    return from_storable(state, device)


def seed_everything(seed: int) -> None:
    """Fix model initialisation and any other randomness (the loader derives its own from the seed and epoch)."""
    random.seed(seed)
    np.random.seed(seed)
    flow.manual_seed(seed)


def seed_epoch(seed: int, epoch: int) -> None:
    """Reseed OneFlow at every epoch start, so its random ops (dropout, ...) are a pure function of (seed, epoch).

    OneFlow 0.9's get_rng_state/set_rng_state do not restore a generator that has been used since it
    was seeded, so a resumed run gets the same random stream from this, not from the saved state.
    """
    flow.manual_seed(int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0]))


def rng_states() -> dict:
    """The Python and numpy generators (data order and augmentation are pure functions of seed and epoch)."""
    return {"python": random.getstate(), "numpy": np.random.get_state()}


def restore_rng_states(states: dict) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])


class CheckpointDir:
    """`<run dir>/checkpoints/`: `epoch=E-step=S.ckpt` files (the newest `keep_last` kept) and `best.ckpt`."""

    def __init__(self, folder: Path, keep_last: int = 2, read_only: bool = False) -> None:
        if keep_last < 1:
            raise ConfigError(f"trainer.keep_last={keep_last} would delete every checkpoint; use 1 or more.")
        # read_only: ranks other than 0 of a distributed run resume from checkpoints but never write them
        self.folder, self.keep_last, self.read_only = Path(folder), keep_last, read_only

    def checkpoints(self) -> list[Path]:
        """Complete checkpoints, oldest first (temporary files of an interrupted save are not listed)."""
        if not self.folder.is_dir():
            return []
        found = [(int(m.group(2)), p) for p in self.folder.iterdir() if (m := CHECKPOINT_NAME.match(p.name))]
        return [p for _, p in sorted(found)]

    def latest(self) -> Optional[Path]:
        found = self.checkpoints()
        return found[-1] if found else None

    def save(self, state: dict, epoch: int, global_step: int, is_best: bool = False) -> Optional[Path]:
        if self.read_only:
            return None
        path = self.folder / f"epoch={epoch:04d}-step={global_step:09d}.ckpt"
        payload = serialize(state)
        atomic_write_bytes(path, payload)
        if is_best:
            atomic_write_bytes(self.folder / BEST_NAME, payload)
        for old in self.checkpoints()[: -self.keep_last]:
            old.unlink(missing_ok=True)
        for stale in self.folder.glob("*.tmp"):  # left by a save that was killed
            stale.unlink(missing_ok=True)
        return path
