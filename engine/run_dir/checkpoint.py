"""Checkpoints: one file per save, written to a temporary name and renamed, so a kill never corrupts one.

A file is one header line, `lrs-checkpoint v2 sha256=<hex> bytes=<n>`, then the pickled state: the
checksum is verified before anything is unpickled, so a truncated file, a flipped bit (a bad disk, a
bad copy) or a file of another program is reported, and resuming falls back to the previous
checkpoint (`CheckpointDir.latest_valid`; trainer.strict_resume=true refuses instead).

`oneflow.save` writes a directory of files, which cannot be replaced atomically; a checkpoint here is
a single pickle in which every OneFlow tensor is stored as a numpy array (and turned back into a
tensor on the run's device when loaded). Loading goes through an unpickler that rebuilds only
containers, numbers, strings and numpy arrays, so a checkpoint file cannot run code.
"""
from __future__ import annotations

import hashlib
import pickle
import re
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional

import numpy as np
import backend

from common.errors import ConfigError
from common.files import atomic_write_bytes, restricted_unpickle
from engine.platform.console import warn

CHECKPOINT_NAME = re.compile(r"^epoch=(\d+)-step=(\d+)\.ckpt$")
BEST_NAME = "best.ckpt"
MAGIC = b"lrs-checkpoint v2 "
HEADER = re.compile(rb"^lrs-checkpoint v2 sha256=([0-9a-f]{64}) bytes=(\d+)\n")


class RunState(NamedTuple):
    """What a run's checkpoint holds (engine.training.run.Run.state builds it): the one list of its keys."""

    config: dict  # the resolved config, compared on resume (engine.run_dir.resume.check_same_experiment)
    progress: dict  # engine.training.progress.Progress.state_dict()
    model: dict
    steps: dict  # optimizer (and AMP scaler) state
    schedule: dict
    rng: dict  # every random generator (engine.training.seeding.rng_states)


STATE_KEYS = RunState._fields


class CheckpointError(ConfigError):
    """A checkpoint that cannot be used: unreadable, truncated, corrupted, or not written by this train.py."""


class _TensorData:
    """A tensor's values in a checkpoint (OneFlow's or torch's: neither is picklable without its framework's runtime)."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array


def to_storable(obj: Any) -> Any:
    """A copy of `obj` (nested dicts/lists/tuples) with every tensor (either backend's) replaced by its numpy values."""
    if backend.is_tensor(obj):
        return _TensorData(obj.detach().cpu().numpy().copy())
    if isinstance(obj, dict):
        return {k: to_storable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_storable(v) for v in obj)
    return obj


def from_storable(obj: Any, device: str = "cpu") -> Any:
    """Inverse of `to_storable`: tensors come back on `device`, as tensors of the selected backend."""
    if isinstance(obj, _TensorData):
        return backend.flow.tensor(obj.array, device=device)
    if isinstance(obj, dict):
        return {k: from_storable(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(from_storable(v, device) for v in obj)
    return obj


def serialize(state: dict) -> bytes:
    """The bytes of a checkpoint holding `state` (tensors allowed anywhere in it): checksum header, then the pickle."""
    payload = pickle.dumps(to_storable(state), protocol=pickle.HIGHEST_PROTOCOL)
    return MAGIC + f"sha256={hashlib.sha256(payload).hexdigest()} bytes={len(payload)}\n".encode() + payload


def save_checkpoint(state: dict, path: Path) -> None:
    atomic_write_bytes(path, serialize(state))


def _verified_payload(data: bytes, path: Path) -> bytes:
    header = HEADER.match(data[:200])
    if header is None:
        what = ("an older train.py's checkpoint (no checksum)" if data[:1] == b"\x80" else
                "empty" if not data else "not a checkpoint of this train.py")
        raise CheckpointError(f"checkpoint {path} is {what}; it cannot be trusted.")
    payload, expected = data[header.end():], int(header.group(2))
    if len(payload) != expected:
        raise CheckpointError(f"checkpoint {path} is truncated: it holds {len(payload)} of its {expected} bytes.")
    if hashlib.sha256(payload).hexdigest() != header.group(1).decode():
        raise CheckpointError(f"checkpoint {path} is corrupt: its content does not match its SHA-256 checksum "
                              f"(changed on disk or in a copy after it was written).")
    return payload


def _header(path: Path) -> Optional[bytes]:
    """The header line of the checkpoint at `path` (its checksum and length), or None when it has none."""
    try:
        with open(path, "rb") as f:
            header = HEADER.match(f.read(200))
    except OSError:
        return None
    return header.group(0) if header else None


def load_checkpoint(path: Path, device: str = "cpu") -> dict:
    """The state saved at `path`, tensors on `device`; CheckpointError (one paragraph) if it cannot be trusted."""
    try:
        if Path(path).exists() and not Path(path).is_file():  # a FIFO would block the read forever, a device never end
            raise CheckpointError(f"checkpoint {path} is not a regular file; it was not written by this train.py.")
        data = Path(path).read_bytes()
    except OSError as error:
        raise CheckpointError(f"checkpoint {path} cannot be read ({error.strerror or error}).") from error
    payload = _verified_payload(data, path)
    try:
        state = restricted_unpickle(payload, "checkpoints", extra_globals=[(__name__, "_TensorData")])
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError, IndexError) as error:
        raise CheckpointError(f"checkpoint {path} has a valid checksum but cannot be unpickled ({error}); "
                              f"it was not written by this train.py.") from error
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(state).__name__}, not a run's state; "
                              f"it was not written by this train.py.")
    return from_storable(state, device)


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

    def latest_valid(self, device: str = "cpu", strict: bool = False,
                     accept: Optional[Callable[[dict], Optional[str]]] = None) -> Optional[tuple[Path, dict]]:
        """The newest checkpoint that loads, passes its checksum and `accept` (None: fine, else why not), with its state.

        A bad newer one is reported and skipped (strict: CheckpointError instead); None when there is
        no checkpoint at all; CheckpointError when there are some and none can be used."""
        problems: list[str] = []
        bad: list[Path] = []
        for path in reversed(self.checkpoints()):
            try:
                state = load_checkpoint(path, device)
                reason = accept(state) if accept else None
                if reason:
                    raise CheckpointError(f"checkpoint {path} {reason}.")
            except CheckpointError as error:
                if strict:
                    raise CheckpointError(f"{error} trainer.strict_resume=true, so the run does not fall back to an older "
                                          f"checkpoint: set trainer.strict_resume=false to continue from the previous valid "
                                          f"one, or move {path.name} out of {self.folder}.") from error
                problems.append(str(error))
                bad.append(path)
                continue
            if problems:
                set_aside = "".join(self._set_aside(p) for p in bad)
                warn(" ".join(problems) + set_aside + f" Continuing from the previous valid checkpoint instead: {path.name}.")
            return path, state
        if problems:
            raise CheckpointError(" ".join(problems) + f" No checkpoint in {self.folder} can be used; move the folder away "
                                  f"to start the run over from the beginning.")
        return None

    def _set_aside(self, path: Path) -> str:
        """Rename a bad checkpoint out of the sequence (kept for inspection): else, being the newest by name,
        it would outlive the valid checkpoints the resumed run writes before reaching its step (keep_last)."""
        if self.read_only:
            return ""
        aside = path.with_name(path.name + ".corrupt")
        try:
            path.rename(aside)
        except OSError:
            return ""
        return f" {path.name} was renamed {aside.name}."

    def repair_best(self, best_epoch_checkpoint: Path) -> bool:
        """Make best.ckpt a copy of `best_epoch_checkpoint` (the checkpoint that ended the best epoch) unless it already
        is one (the same checksum); True when it was rewritten.

        `save` writes the epoch's checkpoint, then best.ckpt: a kill or a full disk between the two leaves best.ckpt
        holding an earlier epoch, and the run resumes from the epoch's checkpoint, which repairs it here."""
        best = self.folder / BEST_NAME
        if self.read_only or _header(best) == _header(best_epoch_checkpoint):
            return False
        atomic_write_bytes(best, Path(best_epoch_checkpoint).read_bytes())
        return True

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
