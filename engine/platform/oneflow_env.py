"""Make `import oneflow` work on CPU-only and CUDA machines without user-set environment variables.

OneFlow's native library links cuDNN and cuBLAS even when no GPU is present (PyPI's 0.9.0: cuDNN 8
and cuBLAS 11; a CUDA 12 build: their CUDA 12 generations). Those libraries come from the
`nvidia-*-cu11` / `nvidia-*-cu12` wheels, which the dynamic loader does not search by itself.
Loading them here with RTLD_GLOBAL, before oneflow, lets oneflow's own dlopen find them.

Which libraries: the DT_NEEDED entries of the installed build's native libraries (read from their
ELF headers, without importing oneflow), those that an nvidia wheel provides, plus the sibling
libraries of the same family and major version in that wheel (cuDNN loads its sub-libraries by
name at run time). Nothing is hard-coded to one CUDA generation, so another OneFlow build installed
with scripts/setup.sh (ONEFLOW_SPEC) gets its own libraries. Every entry point (train.py, scripts,
tests) imports this module first; it is idempotent and cheap after the first call.
"""
from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import struct
import sys
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Optional

_loaded: list[str] = []

_PT_LOAD, _PT_DYNAMIC = 1, 2
_DT_NULL, _DT_NEEDED, _DT_STRTAB = 0, 1, 5


def needed_libraries(path: Path) -> list[str]:
    """The DT_NEEDED entries (sonames this library links) of a 64-bit little-endian ELF file; [] if unreadable.

    Hand-written because it runs in every process before anything else is imported: the standard
    library has no ELF reader, `readelf` is not on every machine, and only two tables are needed.
    Reads the headers only (liboneflow is 1.6 GB).
    """
    try:
        with open(path, "rb") as f:
            return _read_needed(f)
    except (OSError, struct.error, ValueError, UnicodeDecodeError):
        return []


def _read_needed(f: BinaryIO) -> list[str]:
    header = f.read(64)
    if header[:4] != b"\x7fELF" or header[4] != 2 or header[5] != 1:  # ELFCLASS64, little-endian
        return []
    phoff, = struct.unpack_from("<Q", header, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", header, 0x36)
    loads, dynamic = [], None
    for i in range(phnum):
        f.seek(phoff + i * phentsize)
        p_type, _, p_offset, p_vaddr, _, p_filesz, _, _ = struct.unpack("<IIQQQQQQ", f.read(56))
        if p_type == _PT_LOAD:
            loads.append((p_vaddr, p_offset, p_filesz))
        elif p_type == _PT_DYNAMIC:
            dynamic = (p_offset, p_filesz)
    if dynamic is None:
        return []
    f.seek(dynamic[0])
    table = f.read(dynamic[1])
    entries = [struct.unpack_from("<qQ", table, i) for i in range(0, len(table) - 15, 16)]
    entries = entries[:next((i for i, (tag, _) in enumerate(entries) if tag == _DT_NULL), len(entries))]
    strtab_vaddr = next((value for tag, value in entries if tag == _DT_STRTAB), None)
    if strtab_vaddr is None:
        return []
    # DT_STRTAB is a virtual address: find the loaded segment holding it to get its file offset.
    strtab = next(offset + strtab_vaddr - vaddr for vaddr, offset, size in loads if vaddr <= strtab_vaddr < vaddr + size)
    names = []
    for tag, value in entries:
        if tag == _DT_NEEDED:
            f.seek(strtab + value)
            names.append(f.read(256).split(b"\0", 1)[0].decode())
    return names


def oneflow_native_libraries(oneflow_dir: Path) -> list[Path]:
    """The installed build's own native libraries: its Python extension and liboneflow (in oneflow.libs/ for
    auditwheel-repaired wheels such as PyPI's, beside the extension in some other builds)."""
    bundled = oneflow_dir.parent / "oneflow.libs"
    return (sorted(oneflow_dir.glob("_oneflow_internal*.so")) + sorted(oneflow_dir.glob("liboneflow*.so*"))
            + sorted(bundled.glob("liboneflow*.so*")))


def _family(soname: str) -> tuple[str, str]:
    """("libcudnn", ".so.8") for libcudnn_cnn_infer.so.8: the libraries a wheel ships together."""
    stem = re.match(r"lib[A-Za-z]+", soname)
    return (stem.group(0) if stem else soname), soname[soname.find(".so"):]


def plan_preload(oneflow_dir: Path, nvidia_lib_dirs: Iterable[Path]) -> list[Path]:
    """The nvidia-wheel libraries the build at `oneflow_dir` links, with their families, dependencies first."""
    bundled = {p.name for p in (oneflow_dir.parent / "oneflow.libs").glob("*.so*")}
    needed = {name for lib in oneflow_native_libraries(oneflow_dir) for name in needed_libraries(lib)} - bundled
    dirs = list(nvidia_lib_dirs)
    chosen: dict[str, Path] = {}
    for name in sorted(needed):
        lib_dir = next((d for d in dirs if (d / name).is_file()), None)
        if lib_dir is None:
            continue  # a system library (libc, libstdc++, ...) or one the dynamic loader finds by itself
        stem, suffix = _family(name)
        for sibling in sorted(lib_dir.glob(f"{stem}*{suffix}")):
            chosen.setdefault(sibling.name, sibling)
    return _dependencies_first(chosen)


def _dependencies_first(libraries: dict[str, Path]) -> list[Path]:
    order: list[Path] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in visiting or libraries[name] in order:
            return
        visiting.add(name)
        for dependency in needed_libraries(libraries[name]):
            if dependency in libraries:
                visit(dependency)
        order.append(libraries[name])

    for name in sorted(libraries):
        visit(name)
    return order


def nvidia_lib_dirs() -> list[Path]:
    """`lib` folders of the installed nvidia-* wheels (namespace package `nvidia`, any site-packages)."""
    spec = importlib.util.find_spec("nvidia")
    if spec is None or not spec.submodule_search_locations:
        return []
    return sorted(lib for location in spec.submodule_search_locations for lib in Path(location).glob("*/lib") if lib.is_dir())


def oneflow_package_dir() -> Optional[Path]:
    """Where oneflow is installed, found without importing it (importing it is what needs the preload)."""
    spec = importlib.util.find_spec("oneflow")
    return Path(spec.origin).parent if spec is not None and spec.origin else None


def preload_cuda_libraries() -> list[str]:
    """Load the CUDA libraries the installed oneflow links against; return the paths loaded (once per process)."""
    if _loaded or "oneflow" in sys.modules:
        return list(_loaded)
    oneflow_dir = oneflow_package_dir()
    if oneflow_dir is None:
        return []
    for path in plan_preload(oneflow_dir, nvidia_lib_dirs()):
        ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
        _loaded.append(str(path))
    return list(_loaded)


def require_oneflow() -> None:
    """Exit 2 with one line when this Python has no oneflow (e.g. the system python, run from another directory):
    the project's own interpreter is .venv/bin/python, which scripts/setup.sh makes."""
    if oneflow_package_dir() is not None:
        return
    root = Path(__file__).resolve().parents[2]
    venv_python = root / ".venv" / "bin" / "python"
    remedy = (f"run it with the project's interpreter, {venv_python}" if venv_python.exists()
              else f"create the project's environment first with `bash {root / 'scripts' / 'setup.sh'}`, then run "
                   f"{venv_python}")
    sys.stderr.write(f"error: this Python ({sys.executable}) has no oneflow installed; {remedy} (e.g. "
                     f"{venv_python} {Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else 'train.py'} ...).\n")
    sys.exit(2)


# What OneFlow's native library prints to stderr on import on every machine without InfiniBand: its RDMA support is
# off, which no run here uses (single-node runs, and multi-node DDP over TCP). Not an error.
IBVERBS_NOTICE = "libibverbs not available, ibv_fork_init skipped"


# Set by a distributed launcher for each rank (OneFlow's, and torchrun); `import oneflow` with them joins the job.
DISTRIBUTED_VARIABLES = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "MASTER_ADDR", "MASTER_PORT")


def import_oneflow_quietly(alone: bool = False) -> Any:
    """`import oneflow` without the IBVERBS_NOTICE line (anything else it prints on stderr is passed on).

    alone: OneFlow is only a library here (backend=torch drives its schedulers): it must not see torchrun's
    RANK, WORLD_SIZE and MASTER_ADDR/PORT, or it waits at import for a rendezvous of its own on torch's port
    and the rank aborts."""
    if "oneflow" in sys.modules:
        return sys.modules["oneflow"]
    hidden = {name: os.environ.pop(name) for name in DISTRIBUTED_VARIABLES if alone and name in os.environ}
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import oneflow
        finally:
            os.environ.update(hidden)
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = [line for line in captured.read().decode(errors="replace").splitlines(keepends=True)
                     if line.strip() != IBVERBS_NOTICE]
            sys.stderr.write("".join(lines))
    return oneflow


# oneflow logs through glog at INFO/WARNING level on import ("CUDA driver version is insufficient"
# on CPU-only machines); keep those out of the user's terminal unless they asked for them.
os.environ.setdefault("GLOG_minloglevel", "2")
require_oneflow()  # entry points import this module first: the system python gets one line, not a traceback
preload_cuda_libraries()
