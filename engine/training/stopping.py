"""Stopping a run at the next step boundary, whatever asked for it: Ctrl-C, SIGTERM, SIGHUP, a cluster's notice.

A signal handler only records the request; the training loop reads `stop_requested()` after every
optimizer step and ends the run through its one `finish` path (checkpoint, summary status, resume
command). Nothing is raised inside a OneFlow op, which is what made Ctrl-C crash before: importing
OneFlow replaces Python's SIGINT handler at the C level, so `graceful_stop` installs its own after.
A second Ctrl-C exits at once (code 130), leaving the run as its last checkpoint left it; its summary says
`interrupted` and the resume command is printed (`on_exit_at_once`). While the run records its end (`finish`),
stop signals wait (`stop_signals_deferred`), so that no second Ctrl-C cuts those writes short.

SIGHUP (a closed terminal, a dropped ssh session) is handled like SIGTERM; when the terminal is
gone, the console lines from then on go to train.log only. SIGUSR1 and SIGUSR2 (a pre-timeout
notice some schedulers send) do the same, unless something else claimed them first: under the
Slurm launcher one of them means "requeue" (`stop_on_signal`).

Before the loop starts (imports, composing the config, building the run), `stop_start_up_on_signals`
makes the same signals end the process with exit code 130 and one line saying nothing was started;
once a run directory may exist, the SystemExit it raises lets engine.run_dir.files.discard_if_stopped_early
remove the new directory on the way out.
"""
from __future__ import annotations

import os
import signal
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional

from engine.run_dir.status import RunStatus, StartUpInterrupted  # standard library only, like this module

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
NOTICE_SIGNALS = (signal.SIGUSR1, signal.SIGUSR2)  # stop like SIGTERM when nothing else claimed them

_request: Optional[RunStatus] = None
_record_exit_at_once: Optional[Callable[[], None]] = None  # the run's record of a second Ctrl-C (RunRecorder's)
_start_up_stop: Optional[str] = None  # the signal that stopped the start-up
_clean_up = False  # whether a start-up stop must unwind (a run directory may exist) or may exit at once


def request_stop(status: RunStatus = RunStatus.INTERRUPTED) -> None:
    """Ask the loop to stop at the next step boundary and record `status` (INTERRUPTED, REQUEUED)."""
    global _request
    if _request is None:
        _request = RunStatus(status)


def stop_requested() -> Optional[RunStatus]:
    """The status a stop was requested with, or None."""
    return _request


def _signal_name(signum: int) -> str:
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


def _tell(text: str) -> None:
    """`text` on stderr; when the terminal is gone (SIGHUP, a closed pipe), stdout and stderr go to /dev/null
    from then on, so that no later line fails the run (they still reach train.log)."""
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except OSError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        for fd in (1, 2):
            os.dup2(devnull, fd)
        os.close(devnull)


def _on_start_up_signal(signum: int, frame: Any) -> None:
    global _start_up_stop
    if _start_up_stop is not None:  # a repeated Ctrl-C must not cut short the clean-up on the way out
        return
    _start_up_stop = _signal_name(signum)
    _tell(f"\n{_start_up_stop} during start-up: stopped before the first training step; nothing was started "
          f"(a new run leaves no directory).\n")
    if _clean_up:
        raise StartUpInterrupted(130)
    # Exit at once (raising inside an import would become an ImportError traceback), after removing the run
    # directory Hydra may have just made for a job whose main has not begun.
    _discard_hydra_run_dir()
    os._exit(130)


def _discard_hydra_run_dir() -> None:
    hydra_config = sys.modules.get("hydra.core.hydra_config")
    try:
        run_dir = hydra_config.HydraConfig.get().runtime.output_dir if hydra_config else None
    except Exception:  # noqa: BLE001  (not composed yet, or no output directory chosen yet)
        return
    if isinstance(run_dir, str) and run_dir != "???":
        from engine.run_dir.files import discard_if_never_begun  # only now: it imports more than the standard library
        discard_if_never_begun(run_dir)


def _unclaimed(signum: int) -> bool:
    """Whether `signum` has Python's default handler or one of this module's (not, e.g., submitit's or a launcher's)."""
    return signal.getsignal(signum) in (signal.SIG_DFL, signal.default_int_handler, _on_start_up_signal, _on_signal)


def stop_start_up_on_signals(clean_up: bool = False) -> None:
    """From now until `graceful_stop`, Ctrl-C, SIGTERM, SIGHUP (and unclaimed SIGUSR1/2) exit 130 (see module doc).

    `clean_up` False (imports, composing the config: nothing is written yet): the process exits at once.
    True (a run directory may exist): StartUpInterrupted is raised, so that it is removed on the way out.
    Import OneFlow inside `signals_held()`: its import replaces the SIGINT handler at the C level."""
    global _clean_up
    _clean_up = clean_up
    for signum in (*STOP_SIGNALS, *NOTICE_SIGNALS):
        if _unclaimed(signum):  # e.g. in a Slurm job, submitit's SIGTERM handler and the launcher's notice stay
            signal.signal(signum, _on_start_up_signal)


@contextmanager
def signals_held() -> Iterator[None]:
    """Inside the block, stop signals wait; after it, the handlers from before it are installed again and then the
    signals that came meanwhile are delivered. For importing OneFlow, which replaces the SIGINT handler at the C level."""
    signals = {*STOP_SIGNALS, *NOTICE_SIGNALS}
    handlers = {signum: signal.getsignal(signum) for signum in signals}
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        for signum, handler in handlers.items():
            if handler is not None:
                signal.signal(signum, handler)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, signals)


def on_exit_at_once(record: Optional[Callable[[], None]]) -> None:
    """`record` (None: nothing) runs when a second Ctrl-C exits at once: the run's summary and resume command."""
    global _record_exit_at_once
    _record_exit_at_once = record


@contextmanager
def stop_signals_deferred() -> Iterator[None]:
    """Inside the block, stop signals wait (none is lost): each is delivered to its handler when the block ends normally
    or with an error. A block that exits the process (SystemExit) drops them: the process ends with its end recorded.

    A Python-level handler that only notes the signal, not pthread_sigmask: a signal sent to the process reaches
    whichever thread does not block it (OneFlow's own), and Python then runs its handler in the main thread anyway."""
    pending: list[int] = []
    handlers = {signum: signal.getsignal(signum) for signum in (*STOP_SIGNALS, *NOTICE_SIGNALS)}
    handlers = {signum: handler for signum, handler in handlers.items() if handler is not None}  # None: set in C
    def deliver() -> None:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        for signum in pending:
            signal.raise_signal(signum)

    for signum in handlers:
        signal.signal(signum, lambda received, frame: pending.append(received))
    try:
        yield
    except SystemExit:
        raise
    except BaseException:
        deliver()
        raise
    deliver()


def _on_signal(signum: int, frame: Any) -> None:
    if _request is not None and signum == signal.SIGINT:  # the second Ctrl-C: the user means now
        _tell("\nsecond interrupt: exiting now; the run is as its last checkpoint left it.\n")
        if _record_exit_at_once is not None:
            try:
                _record_exit_at_once()
            except Exception:  # noqa: BLE001  (the exit must happen; the run's files are as the last write left them)
                pass
        os._exit(130)
    request_stop(RunStatus.INTERRUPTED)
    _tell(f"\n{_signal_name(signum)}: stopping at the next step boundary (press Ctrl-C again to exit at once)\n")


def stop_on_signal(signum: int, status: RunStatus) -> Any:
    """From now on, signal `signum` requests a stop with `status` (e.g. a cluster's pre-timeout or preemption
    notice: 'requeued'); returns the previous handler. Unlike Ctrl-C, a repeat never exits at once."""
    def on_notice(received: int, frame: Any) -> None:
        request_stop(status)
        _tell(f"\n{signal.Signals(received).name}: stopping at the next step boundary ({status})\n")
    return signal.signal(signum, on_notice)


@contextmanager
def graceful_stop() -> Iterator[None]:
    """From the block on (the training loop), SIGINT, SIGTERM, SIGHUP and unclaimed SIGUSR1/2 request a stop.

    They keep doing so after the block (while the run finishes; in a sweep, through the next jobs), so a
    start-up handler never takes a finished run for one that started nothing."""
    for signum in (*STOP_SIGNALS, *(s for s in NOTICE_SIGNALS if _unclaimed(s))):
        signal.signal(signum, _on_signal)
    yield
