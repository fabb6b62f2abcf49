"""The run's console lines: printed, and kept in the run directory's train.log.

`say` (progress, epoch summaries), `warn` and `error` go through the logger "run". Under Hydra,
conf/hydra/job_logging/run_log.yaml routes them: INFO to stdout, WARNING and above to stderr, and
every line to `<run dir>/train.log` (opened at the first line, so a run that prints nothing leaves no
file). In a sweep each console line starts with its job's name (`[scheduler=cosine,seed=1] ...`), and
every line is flushed as it is written, so parallel jobs sharing one terminal neither glue their
lines together nor lose them. A command the user is told to paste (`command`) is the exception: it is
printed alone on its line, never wrapped or prefixed. Outside Hydra (scripts, tests) the lines are
simply printed.
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any, Optional, TextIO, Union

from omegaconf import DictConfig, OmegaConf

from common.errors import ConfigError

LOGGER = logging.getLogger("run")
PARALLEL_JOB_ENV = "LRS_PARALLEL_JOB"  # set by hydra_plugins/device_pinned_launcher in its worker processes


class BelowWarning(logging.Filter):
    """Keeps DEBUG and INFO records (for the stdout handler; warnings and errors go to stderr)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.WARNING


class JobLineFormatter(logging.Formatter):
    """The message with `prefix` (the job's name in a sweep) at the start of every line, continuation lines too."""

    def __init__(self, prefix: str = "") -> None:
        super().__init__("%(message)s")
        self.prefix = prefix

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if getattr(record, "command", False):  # a command to paste: exactly as given
            return text
        return "\n".join(self.prefix + line for line in text.split("\n")) if self.prefix else text


class ConsoleHandler(logging.StreamHandler):
    """The terminal handlers of conf/hydra/job_logging/run_log.yaml (a StreamHandler, flushed after every line)."""


def _configured() -> bool:
    """Whether run_log's handlers are installed (under Hydra); otherwise lines are printed directly
    (a handler someone else installed, e.g. pytest's log capture, must not swallow them)."""
    return any(isinstance(handler, ConsoleHandler) for handler in logging.getLogger().handlers)


def _emit(level: int, message: str, stream: TextIO, is_command: bool = False) -> None:
    if _configured():
        LOGGER.log(level, message, extra={"command": is_command})
    else:
        print(message, file=stream, flush=True)


def say(message: str) -> None:
    """A line on stdout (and in train.log): progress, epoch summaries, the run directory."""
    _emit(logging.INFO, message, sys.stdout)


def warn(message: str) -> None:
    """A line on stderr (and in train.log): something the user should know, the run goes on."""
    _emit(logging.WARNING, message, sys.stderr)


def error(message: str) -> None:
    """A line on stderr (and in train.log): why the run stops."""
    _emit(logging.ERROR, message, sys.stderr)


def command(line: str, on_stderr: bool = True) -> None:
    """`line`, a shell command the user is told to paste, alone on its own line: never wrapped, never
    prefixed with a sweep job's name (the message before it says what it does)."""
    _emit(logging.ERROR if on_stderr else logging.INFO, " ".join(line.split("\n")), sys.stderr if on_stderr else sys.stdout,
          is_command=True)


def stop_run_log(run_dir: Union[str, Path]) -> None:
    """Write nothing more into `run_dir`'s log file (a finished run, or one another process is writing).

    The handler was opened with delay, so if nothing was logged yet the file is never created."""
    folder = Path(run_dir).resolve()
    for logger in (logging.getLogger(), LOGGER):
        for handler in list(logger.handlers):
            if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename).resolve().parent == folder:
                logger.removeHandler(handler)
                handler.close()


def job_prefix(*, _root_: DictConfig) -> str:
    """The OmegaConf resolver `${job_prefix:}`: `[<job name>] ` in a sweep, nothing in a single run.

    The job name is its override_dirname (the job folder's name), or `#<job number>` when that is
    empty."""
    mode = OmegaConf.select(_root_, "hydra.mode", default=None)
    if getattr(mode, "name", str(mode)) != "MULTIRUN":
        return ""
    name = OmegaConf.select(_root_, "hydra.job.override_dirname", default="") or \
        f"#{OmegaConf.select(_root_, 'hydra.job.num', default='?')}"
    return f"[{name}] "


def show_progress(setting: Any, stream: Optional[TextIO] = None) -> bool:
    """Whether to draw tqdm bars for trainer.progress=`setting` (true, false or auto).

    auto: only when the bars' stream (stderr) is a terminal and the run is not one of several
    parallel jobs sharing it (their bars would overwrite each other's lines)."""
    if isinstance(setting, bool):
        return setting
    if str(setting).lower() != "auto":
        raise ConfigError(f"trainer.progress={setting!r} is not valid; use true, false or auto "
                          f"(bars only when the output is a terminal).")
    stream = stream if stream is not None else sys.stderr
    is_terminal = hasattr(stream, "isatty") and stream.isatty()
    return is_terminal and not os.environ.get(PARALLEL_JOB_ENV)
