"""One writer per run directory: an exclusive lock on `<run dir>/.lock`, held for the run's life.

The lock is an `flock` on the file, which the kernel releases when the holding process ends in any
way (kill -9 included), so a lock left by a dead process never blocks anyone: the next run takes it
over. The file holds the holder's PID and host, for the message a second process gets; it is
emptied (never deleted: deleting would let two processes lock two different files) when the run
ends. flock works across machines on NFS (Linux emulates it with POSIX locks there).
"""
from __future__ import annotations

import errno
import fcntl
import os
import socket
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from common.errors import UserError
from engine.platform.console import stop_run_log
from engine.platform.errors import failures_recorded_by, paragraph
from engine.run_dir.summary import has_summary, record_failure

LOCK_NAME = ".lock"

_held: Optional[Path] = None  # the run directory this process holds


class RunDirBusy(UserError):
    """Another live process is writing the run directory."""


class RunDirReadOnly(UserError):
    """The run directory, or the folder it would be made in, cannot be written."""


def _why_unwritable(folder: Path) -> str:
    if not folder.is_dir():
        return "a file, not a folder"
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "on a read-only file system"
    except OSError:
        pass
    return "not writable by this user (its permissions)"


def refuse_unwritable_output(folder: Any, key: str) -> None:
    """One paragraph and exit 2 when Hydra could not make or write `folder` (the `key` directory of a new run or
    sweep), instead of its traceback. An existing run directory is left to train.py (a finished run is only read)."""
    folder = Path(str(folder)).absolute()
    if (folder / ".hydra" / "config.yaml").is_file():
        return
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if existing.is_dir() and os.access(existing, os.W_OK | os.X_OK):
        return
    where = "it" if existing == folder else f"{existing}, the folder it would be made in,"
    print(paragraph(f"{key}={folder} cannot be written: {where} is {_why_unwritable(existing)}. A run writes its "
                    f"config, checkpoints, TensorBoard events and summary.json there; nothing was written. Give it a "
                    f"folder you can write ({key}=<path>), or make {existing} writable."), file=sys.stderr)
    sys.exit(2)


class WritableOutput(Callback):
    """Hydra callback (conf/config.yaml, hydra.callbacks): checks, before Hydra makes them, that the run or sweep
    directory can be written (`refuse_unwritable_output`)."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        refuse_unwritable_output(config.hydra.run.dir, "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        refuse_unwritable_output(config.hydra.sweep.dir, "hydra.sweep.dir")


def held_by_another(run_dir: Path) -> bool:
    """Whether a process other than this one holds `run_dir`'s lock now."""
    run_dir = Path(run_dir)
    if _held is not None and _held.resolve() == run_dir.resolve():
        return False
    try:
        fd = os.open(run_dir / LOCK_NAME, os.O_RDONLY)
    except OSError:  # no lock file: nobody ever held it
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # releases a lock just taken
    return False


def _holder(fd: int) -> tuple[str, str]:
    text = os.pread(fd, 200, 0).decode(errors="replace").split()
    return (text[0] if text else "?"), (text[1] if len(text) > 1 else "?")


def _pid_alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def run_dir_origin() -> str:
    """How this process's run directory was chosen: "resume" (resume=), "hydra.run.dir" (typed), "sweep" (a
    multirun job's folder) or "default" (conf/config.yaml's runs/<date>/<time>_<schedule>_<id>, unique per start)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return "default"
    hydra_cfg = HydraConfig.get()
    typed = [str(o).split("=", 1)[0].lstrip("+~") for o in (*hydra_cfg.overrides.task, *hydra_cfg.overrides.hydra)]
    if "resume" in typed:
        return "resume"
    if hydra_cfg.mode == RunMode.MULTIRUN:
        return "sweep"
    return "hydra.run.dir" if "hydra.run.dir" in typed else "default"


def other_dir_advice() -> str:
    """How to give this run a directory of its own, for the way its directory was chosen (run_dir_origin)."""
    return {"resume": "leave out resume= (a new run gets a directory of its own)",
            "hydra.run.dir": "give another hydra.run.dir, or leave it out (each new run then gets its own "
                             "runs/<date>/<time>_<schedule>_<id>)",
            "sweep": "run the sweep into another folder (hydra.sweep.dir=...)",
            "default": "start it again (each start gets a new runs/<date>/<time>_<schedule>_<id>)"}[run_dir_origin()]


def _busy_message(run_dir: Path, pid: str, host: str) -> str:
    here = socket.gethostname()
    message = (f"{run_dir} is in use: process {pid} on host {host} is writing it (it holds {run_dir / LOCK_NAME}). "
               f"Two processes on one run directory would mix their curves and checkpoints, so this one stops without "
               f"writing anything. Wait for that run to end, or stop it (kill -INT {pid}"
               f"{'' if host == here else f' on {host}'}), then resume it; to train alongside it, "
               f"{other_dir_advice()}.")
    if host == here and pid != "?" and not _pid_alive(pid):
        message += (f" Process {pid} is no longer running, so a process it started (a data loader worker, a "
                    f"launcher) still holds the lock: `fuser {run_dir / LOCK_NAME}` names it.")
    return message


def _record_failure(run_dir: Path, message: str) -> None:
    """A user error ends the run (engine.platform.errors.fail): its summary.json says so, once the run has begun
    (a run that never began leaves no summary: engine.run_dir.files.discard_if_stopped_early removes its directory)."""
    if has_summary(run_dir):
        record_failure(run_dir, message)


@contextmanager
def hold_run_dir(run_dir: Path, writer: bool = True) -> Iterator[None]:
    """Be the only process writing `run_dir` inside the block; a second one gets RunDirBusy (one paragraph).

    Call it as soon as the run directory is known and before anything is written there. `writer`
    False (ranks other than 0 of a distributed run, which only read the run directory): no lock,
    and the process's console lines stay out of train.log. While held, a `fail` is recorded in its summary.json."""
    global _held
    run_dir = Path(run_dir)
    if not writer:
        stop_run_log(run_dir)
        yield
        return
    run_dir.mkdir(parents=True, exist_ok=True)  # mkdir honours the umask
    try:
        fd = os.open(run_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)  # open() honours the umask
    except OSError as error:
        if error.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise
        fd = -1
    if fd < 0 or not os.access(run_dir, os.W_OK | os.X_OK):
        if fd >= 0:
            os.close(fd)
        stop_run_log(run_dir)  # its train.log cannot take the refusal either
        raise RunDirReadOnly(f"{run_dir} is {_why_unwritable(run_dir)}, so this run cannot continue there: it writes "
                             f"its lock, checkpoints, TensorBoard events and summary.json into it; nothing was written. "
                             f"Make it writable, or copy it to a folder you can write and resume the copy "
                             f"(resume=<copy>).")
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise
            stop_run_log(run_dir)  # the live run's train.log is its own: this refusal goes to the terminal only
            raise RunDirBusy(_busy_message(run_dir, *_holder(fd))) from None
        # Locked: whatever the file says is a dead process's (or empty, after a clean end): take it over.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        _held = run_dir
        try:
            with failures_recorded_by(lambda message: _record_failure(run_dir, message)):
                yield
        finally:
            _held = None
            try:
                os.ftruncate(fd, 0)
            except OSError:  # a disk gone read-only: the PID left in the file is harmless, the flock ends anyway
                pass
    finally:
        os.close(fd)  # releases the flock
