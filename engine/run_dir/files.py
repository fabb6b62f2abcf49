"""Files a run leaves in its directory (summary.json, run_info.json, events), each written atomically."""
from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Optional

from tensorboardX import SummaryWriter
from tensorboardX.event_file_writer import _EventLoggerThread

from common.files import atomic_write_json
from engine.run_dir.lock import LOCK_NAME, held_by_another
from engine.training.stopping import StartUpInterrupted


class RunSummary:
    """summary.json: the machine-readable outcome of a run, rewritten whenever it changes."""

    def __init__(self, run_dir: Path, **fields: Any) -> None:
        self.path = Path(run_dir) / "summary.json"
        self.fields: dict[str, Any] = {"status": "running", **fields}
        self.write()

    def update(self, **fields: Any) -> None:
        self.fields.update(fields)
        self.write()

    def write(self) -> None:
        atomic_write_json(self.path, self.fields)

    def fail(self, reason: str) -> None:
        """Status 'failed' with the one-line `reason` (why the run stopped: a user error, a full disk, ...)."""
        self.update(status="failed", error=" ".join(str(reason).split()))


def record_failure(run_dir: Path, reason: str) -> None:
    """summary.json of the run in `run_dir` (which this process writes) says status failed with `reason`.

    For a failure outside the training loop's RunSummary (e.g. no usable checkpoint to resume from):
    the existing fields are kept (a new file has just these two). Best effort: a disk that cannot take it leaves the file as it was."""
    path = Path(run_dir) / "summary.json"
    try:
        fields = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        fields = {}
    fields = fields if isinstance(fields, dict) else {}
    try:
        atomic_write_json(path, {**fields, "status": "failed", "error": " ".join(str(reason).split())})
    except OSError as error:
        print(f"(summary.json could not record the failure: {error})", file=sys.stderr)


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
    if path.exists():
        info = json.loads(path.read_text())
    else:
        info = {"started": here, "oneflow": _version("oneflow"), "flowvision": _version("flowvision"),
                "python": platform.python_version(), "platform": platform.platform(), "git_commit": _git_commit()}
    if resumed_from_step is not None:
        info.setdefault("resumed", []).append({**here, "from_global_step": resumed_from_step})
    atomic_write_json(path, info)


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


class EventWriter(SummaryWriter):
    """tensorboardX's SummaryWriter whose `flush()` returns only once every event added before it is in the file.

    tensorboardX 2.6 hands events to a writer thread through a queue, and its flush() flushes the file
    but not the queue: a kill -9 right after a checkpoint lost the events still queued (typically the
    last `train/loss` point before it, which a resume does not write again). Here flush stops the thread
    (it writes every queued event before the stop signal, in order), flushes the file, and starts a new one.
    """

    def flush(self) -> None:
        for file_writer in (self.all_writers or {}).values():
            events = file_writer.event_writer
            if events._closed:
                continue
            events._worker.stop()
            events._worker = _EventLoggerThread(events._event_queue, events._ev_writer, events._flush_secs)
            events._worker.start()
        super().flush()


def open_event_writer(run_dir: Path, global_step: int, history: dict) -> SummaryWriter:
    """A TensorBoard writer that continues the run's curves at `global_step` without duplicated steps.

    Events a killed run wrote after its last checkpoint are purged (TensorBoard drops every event at
    or after `purge_step` that precedes the purge marker); per-epoch scalars that the purge would
    also drop (their x is the epoch number) are written again from the checkpoint's history. The
    file name (`events.out.tfevents.<time>.<host>.<step>.<pid>`) keeps event files in write order even when
    two start within the same second, and no two processes ever share one.
    """
    # Always a purge marker: at step 0 it hides what a run killed before its first checkpoint wrote.
    writer = EventWriter(logdir=str(run_dir), purge_step=global_step,
                           filename_suffix=f".{global_step:012d}.{os.getpid()}")
    if global_step:
        for i, epoch in enumerate(history.get("epoch", [])):
            if epoch >= global_step:
                for key, values in history.items():
                    if key not in ("epoch", "lr"):
                        writer.add_scalar(key, values[i], epoch)
    return writer


# What a run directory holds before its run began: Hydra's files, the lock, the console lines so far.
HYDRA_ONLY = {".hydra", "train.log", LOCK_NAME}


def _holds_only_hydra_files(run_dir: Path) -> bool:
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
    except after a start-up interrupt (engine.training.stopping.StartUpInterrupted: no step was trained, and
    whatever the new directory holds this process wrote). A resumed run's directory is kept, its
    summary saying `interrupted` rather than `running`."""
    fresh = _holds_only_hydra_files(run_dir)
    try:
        yield
    except BaseException as error:
        start_up = isinstance(error, StartUpInterrupted)
        if held_by_another(run_dir):  # never another live process's directory (one refused by the lock, say)
            raise
        if fresh and (start_up or _holds_only_hydra_files(run_dir)):
            _remove_run_dir(run_dir)
        elif start_up:
            _mark_interrupted(run_dir)
        raise


def discard_if_never_begun(run_dir: Path) -> None:
    """Remove `run_dir` if it holds only what Hydra writes before a run begins, and no other process holds it
    (a stop signal between Hydra making the directory and train.py's main)."""
    if _holds_only_hydra_files(run_dir) and not held_by_another(run_dir):
        _remove_run_dir(run_dir)


def _remove_run_dir(run_dir: Path) -> None:
    shutil.rmtree(run_dir, ignore_errors=True)
    try:
        Path(run_dir).parent.rmdir()  # only succeeds when empty
    except OSError:
        pass


def _mark_interrupted(run_dir: Path) -> None:
    path = Path(run_dir) / "summary.json"
    try:
        fields = json.loads(path.read_text())
        if isinstance(fields, dict) and fields.get("status") == "running":
            atomic_write_json(path, {**fields, "status": "interrupted"})
    except (OSError, ValueError):
        pass
