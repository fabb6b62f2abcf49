"""How entry points present user errors: one paragraph on stderr and exit code 2, never a traceback.

The error classes themselves live in the leaf module common.errors, so that every package can raise
them without importing the engine.
"""
from __future__ import annotations

import sys
import textwrap
from contextlib import contextmanager
from typing import Iterator, NoReturn, Optional

from hydra.errors import CompactHydraException, InstantiationException

from common.errors import ConfigError, DataError, UserError

__all__ = ["ConfigError", "DataError", "UserError", "SweepJobFailed", "fail", "paragraph", "user_errors"]


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

    When this process holds a run directory (engine.run_dir.lock) whose run has begun (it has a
    summary.json), that file says status failed with the message; a run that never began leaves no
    summary (engine.run_dir.files.discard_if_stopped_early removes its directory). In a sweep job, SweepJobFailed is raised instead of exiting, so the sweep's
    other jobs still run (a process exit would end them all)."""
    from engine.platform.console import command as print_command
    from engine.platform.console import error
    error(paragraph(message))
    if command:
        print_command(command)
        message = f"{message} {command}"
    from engine.run_dir.lock import held_run_dir
    from engine.run_dir.summary import has_summary, record_failure
    if held_run_dir() is not None and has_summary(held_run_dir()):
        record_failure(held_run_dir(), one_line(message))
    if _in_sweep_job():
        raise SweepJobFailed(f"a job of this sweep failed (its error is above, and in its summary.json): "
                             f"{one_line(message)[:300]}")
    sys.exit(code)


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
