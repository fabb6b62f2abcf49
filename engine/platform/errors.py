"""How entry points present user errors: one paragraph on stderr and exit code 2, never a traceback.

The error classes themselves live in the leaf module common.errors, so that every package can raise
them without importing the engine.
"""
from __future__ import annotations

import sys
import textwrap
from contextlib import contextmanager
from typing import Callable, Iterator, NoReturn, Optional

from hydra.errors import CompactHydraException, InstantiationException

from common.errors import ConfigError, DataError, UserError

__all__ = ["ConfigError", "DataError", "UserError", "SweepJobFailed", "fail", "failures_recorded_by", "paragraph",
           "user_errors"]

# Who else hears of a `fail`: the run directory this process holds (engine.run_dir.lock registers it), which
# records the message in its summary.json. A hook, so that this bottom layer never imports the run directory.
_failure_recorders: list[Callable[[str], None]] = []


class SweepJobFailed(CompactHydraException):
    """A sweep job ended with a user error or failed (already printed). Hydra records the job as failed and runs the
    sweep's other jobs; when they are done it prints this one line and exits with code 1."""


def paragraph(message: str, prefix: str = "error: ") -> str:
    """`message` as one wrapped paragraph; words (paths, overrides) are never broken across lines."""
    return textwrap.fill(prefix + " ".join(message.split()), width=100, subsequent_indent="  ",
                         break_long_words=False, break_on_hyphens=False)


def one_line(message: str) -> str:
    return " ".join(message.split())


def _in_sweep_job() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def fail(message: str, code: int = 2, command: Optional[str] = None) -> NoReturn:
    """End with `message` as one paragraph on stderr (and in train.log), then `command` (if any) alone on a line; exit `code`.

    The recorders registered with `failures_recorded_by` get the one-line message first (the run directory
    this process holds: its summary.json then says status failed, when its run has begun). In a sweep job,
    SweepJobFailed is raised instead of exiting, so the sweep's other jobs still run (a process exit would
    end them all)."""
    from engine.platform.console import command as print_command
    from engine.platform.console import error
    error(paragraph(message))
    if command:
        print_command(command)
        message = f"{message} {command}"
    for record in list(_failure_recorders):
        record(one_line(message))
    if _in_sweep_job():
        raise SweepJobFailed(f"a job of this sweep failed (its error is above, and in its summary.json): "
                             f"{one_line(message)[:300]}")
    sys.exit(code)


@contextmanager
def failures_recorded_by(record: Callable[[str], None]) -> Iterator[None]:
    """Inside the block, every `fail` also hands its one-line message to `record`."""
    _failure_recorders.append(record)
    try:
        yield
    finally:
        _failure_recorders.remove(record)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn a UserError raised in the block (also one wrapped by Hydra's instantiate) into `fail`."""
    try:
        yield
    except UserError as error:
        fail(str(error), command=getattr(error, "command", None))
    except InstantiationException as error:  # hydra wraps what a `_target_` raised
        if isinstance(error.__cause__, UserError):
            fail(str(error.__cause__), command=getattr(error.__cause__, "command", None))
        raise
