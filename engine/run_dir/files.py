"""run_info.json (what ran where), and the run directory of a run stopped before it began (removed).

summary.json is engine.run_dir.summary's, the TensorBoard events engine.run_dir.events'."""
from __future__ import annotations

import importlib.metadata
import json
import platform
import shutil
import socket
import subprocess
import sys
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Optional

import backend
from common.files import atomic_write_json
from engine.platform.console import warn
from engine.platform.errors import paragraph
from engine.run_dir.lock import LOCK_NAME, held_by_another
from engine.run_dir.status import RunStatus, StartUpInterrupted
from engine.run_dir.summary import replace_status


def record_run_info(run_dir: Path, device: str, resumed_from_step: Optional[int], data_root: Optional[str] = None) -> None:
    """run_info.json: versions, device, host and command of the run, plus one entry per resume.

    Each start and resume also records its `environment` (engine.platform.machine.environment, what
    scripts/doctor.py reports: OneFlow build, CUDA libraries loaded, GPUs and their probe verdicts,
    and with `data_root` the free disk and CIFAR-100 archive there), without a new probe or md5.
    """
    from engine.platform.machine import environment  # imports oneflow: only when a run starts

    path = Path(run_dir) / "run_info.json"
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    here = {"at": now, "device": device, "hostname": socket.gethostname(), "command": sys.argv,
            "environment": environment(data_root=data_root)}
    info = _earlier_run_info(path)
    if info is None:
        info = {"started": here, "backend": backend.name(), "backend_version": backend.version(),
                "oneflow": _version("oneflow"), "flowvision": _version("flowvision"), "torch": _version("torch"),
                "python": platform.python_version(), "platform": platform.platform(), "git_commit": _git_commit()}
    if resumed_from_step is not None:
        info.setdefault("resumed", []).append({**here, "from_global_step": resumed_from_step})
    atomic_write_json(path, info)


def _earlier_run_info(path: Path) -> Optional[dict]:
    """The run_info.json a previous start wrote, or None; one that cannot be read is renamed `.corrupt` (and said)."""
    if not path.exists():
        return None
    try:
        info = json.loads(path.read_text())
        if isinstance(info, dict):
            return info
        problem = f"it holds a JSON {type(info).__name__}, not an object"
    except (OSError, UnicodeDecodeError, ValueError) as error:
        problem = str(error)
    aside = path.with_name(path.name + ".corrupt")
    path.replace(aside)
    warn(paragraph(f"{path} cannot be read ({problem}); it was renamed {aside.name}, and a new run_info.json is started.",
                   prefix="warning: "))
    return None


def _version(package: str) -> Optional[str]:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _git_commit() -> Optional[str]:
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


# What a run directory holds before its run began: Hydra's files, the lock, the console lines so far.
HYDRA_ONLY = {".hydra", "train.log", LOCK_NAME}


def holds_only_hydra_files(run_dir: Path) -> bool:
    try:
        entries = {p.name for p in Path(run_dir).iterdir()}
    except OSError:
        return False
    return entries <= HYDRA_ONLY


@contextmanager
def discard_if_stopped_early(run_dir: Path) -> Iterator[None]:
    """A run stopped before it began (a config error, a refused device, Ctrl-C during start-up) leaves no run
    directory behind.

    Hydra creates the directory and its .hydra/ files before train.py's main runs; if the block
    raises (or exits) while the directory still holds only those, it is removed, with its parent
    (e.g. runs/<date>) when that is left empty. A directory with anything of a run's own is kept,
    except after a start-up interrupt (engine.run_dir.status.StartUpInterrupted: no step was trained, and
    whatever the new directory holds this process wrote). A resumed run's directory is kept, its
    summary saying `interrupted` rather than `running`."""
    fresh = holds_only_hydra_files(run_dir)
    try:
        yield
    except BaseException as error:
        start_up = isinstance(error, StartUpInterrupted)
        if held_by_another(run_dir):  # never another live process's directory (one refused by the lock, say)
            raise
        if fresh and (start_up or holds_only_hydra_files(run_dir)):
            _remove_run_dir(run_dir)
        elif start_up:
            replace_status(run_dir, RunStatus.RUNNING, RunStatus.INTERRUPTED)
        raise


def discard_if_never_begun(run_dir: Path) -> None:
    """Remove `run_dir` if it holds only what Hydra writes before a run begins, and no other process holds it
    (a stop signal between Hydra making the directory and train.py's main)."""
    if holds_only_hydra_files(run_dir) and not held_by_another(run_dir):
        _remove_run_dir(run_dir)


def _remove_run_dir(run_dir: Path) -> None:
    """Remove `run_dir`, then its parent when left empty (runs/<date>), and every ancestor left empty below the
    working directory (runs/ itself: a refused config leaves nothing)."""
    shutil.rmtree(run_dir, ignore_errors=True)
    cwd = Path.cwd().resolve()
    for i, ancestor in enumerate(Path(run_dir).resolve().parents):
        if i > 0 and (ancestor == cwd or cwd not in ancestor.parents):
            break
        try:
            ancestor.rmdir()  # only succeeds when empty
        except OSError:
            break
