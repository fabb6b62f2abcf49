"""Atomic file writes and the restricted unpickler: the one implementation the whole project uses.

A write goes to a temporary file beside its target, is fsynced and renamed over it, so a kill or
a full disk never leaves half a file. Files get the permissions of an ordinary `open()` (0666 less
the umask), so teammates can read a shared run or data folder when the umask lets them.
"""
from __future__ import annotations

import io
import json
import math
import os
import pickle
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Collection, Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode `open()` would give a new file: 0666 less the process's umask."""
    return 0o666 & ~_umask()


def folder_mode() -> int:
    """The mode `mkdir()` would give a new folder: 0777 less the process's umask."""
    return 0o777 & ~_umask()


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_output(path: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside `path`; when the block ends normally, fsync it and rename it to `path`.

    On any exception (a full disk included) the temporary file is deleted and `path` is untouched.
    `suffix` keeps the temporary file's type (e.g. ".tmp.png" for matplotlib, which reads it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, file_mode())  # mkstemp creates 0600
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)  # make the rename itself durable


def can_write_in(folder: Path) -> bool:
    """Whether this process can create a file in `folder` (tried, since os.access lets root 'write' into /proc)."""
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".write-probe-"):
            return True
    except OSError:
        return False


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    with atomic_output(path) as tmp:
        tmp.write_bytes(payload)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def json_text(obj: Any) -> str:
    """The text atomic_write_json writes: strict JSON, NaN and infinities (a diverged metric) as null."""
    return json.dumps(finite(obj), indent=2, allow_nan=False) + "\n"


def atomic_write_json(path: Path, obj: Any) -> None:
    """Strict JSON: NaN and infinities (a diverged metric) are written as null."""
    atomic_write_text(path, json_text(obj))


def atomic_save_figure(fig: Any, path: Path, **savefig_args: Any) -> None:
    """matplotlib's savefig, atomically: no half-written PNG."""
    path = Path(path)
    with atomic_output(path, suffix=".tmp" + path.suffix) as tmp:
        fig.savefig(tmp, **savefig_args)


def finite(obj: Any) -> Any:
    """`obj` with every non-finite float replaced by None (nested dicts, lists and tuples)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


# Globals that rebuild numpy arrays and scalars: all that the project's pickles (checkpoints, CIFAR batches) need.
NUMPY_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"), ("collections", "OrderedDict"),
})


BYTES_GLOBALS = frozenset({("__builtin__", "bytes"), ("builtins", "bytes")})  # how protocol 2 pickles b"" (an empty array's data)


def _bytes_copy(data: Any = b"") -> bytes:
    """`bytes` for a pickle: a copy of bytes only, never `bytes(n)` (n zero bytes: a pickle could ask for terabytes)."""
    if not isinstance(data, (bytes, bytearray)):
        raise pickle.UnpicklingError(f"refusing bytes({type(data).__name__}): only bytes are rebuilt")
    return bytes(data)


class _NdarrayClass:
    """What a pickle gets for `numpy.ndarray`: the class `_reconstruct` builds, never a constructor it may call
    (`ndarray(shape)` allocates whatever the shape asks for)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        raise pickle.UnpicklingError("refusing numpy.ndarray(...): arrays are rebuilt from their stored values only")


def _sized_reconstruct(reconstruct: Any, limit: int) -> Any:
    """numpy's `_reconstruct(ndarray, shape, dtype)`, refusing an array larger than the pickle it comes from (numpy's
    own pickles ask for shape (0,), then fill it from stored values): a pickle cannot make the reader allocate terabytes."""
    import numpy as np

    def sized(subtype: Any, shape: Any, dtype: Any) -> Any:
        if subtype is not _NdarrayClass:
            raise pickle.UnpicklingError(f"refusing _reconstruct({subtype!r}): only numpy arrays are rebuilt")
        size = math.prod(int(n) for n in shape) * np.dtype(dtype).itemsize
        if size > limit:
            raise pickle.UnpicklingError(f"refusing an array of shape {tuple(shape)} ({size} bytes) from a pickle of {limit} bytes")
        return reconstruct(np.ndarray, shape, dtype)
    return sized


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: Any, allowed: Collection[tuple[str, str]], what: str, limit: int, **kwargs: Any) -> None:
        super().__init__(file, **kwargs)
        self.allowed, self.what, self.limit = allowed, what, limit

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in BYTES_GLOBALS:
            return _bytes_copy
        if (module, name) == ("numpy", "ndarray"):
            return _NdarrayClass
        if (module, name) in self.allowed and name == "_reconstruct":
            return _sized_reconstruct(super().find_class(module, name), self.limit)
        if (module, name) in self.allowed:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: {self.what} hold only containers, numbers, "
                                     f"strings and arrays")


def restricted_unpickle(data: bytes, what: str, extra_globals: Collection[tuple[str, str]] = (),
                        encoding: str = "ASCII") -> Any:
    """Unpickle `data`, rebuilding only containers, numbers, strings, numpy arrays and `extra_globals`.

    A pickle that names any other global (the way pickles run code) raises pickle.UnpicklingError
    naming it; `what` says what the file should have been ("checkpoints", "CIFAR batches")."""
    allowed = NUMPY_GLOBALS | frozenset(extra_globals)
    return _RestrictedUnpickler(io.BytesIO(data), allowed, what, limit=len(data), encoding=encoding).load()
