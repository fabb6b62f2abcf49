"""Stopping a run at the next step boundary, whatever asked for it: Ctrl-C, SIGTERM, a cluster's preemption notice.

A signal handler only records the request; the training loop reads `stop_requested()` after every
optimizer step and ends the run through its one `finish` path (checkpoint, summary status, resume
command). Nothing is raised inside a OneFlow op, which is what made Ctrl-C crash before: importing
OneFlow replaces Python's SIGINT handler at the C level, so `graceful_stop` installs its own after.
A second Ctrl-C exits at once (code 130); the last checkpoint is intact either way.
"""
from __future__ import annotations

import os
import signal
import sys
from contextlib import contextmanager
from typing import Any, Iterator, Optional

_request: Optional[str] = None


def request_stop(status: str = "interrupted") -> None:
    """Ask the loop to stop at the next step boundary and record `status` ('interrupted', 'requeued')."""
    global _request
    if _request is None:
        _request = status


def stop_requested() -> Optional[str]:
    """The status a stop was requested with, or None."""
    return _request


def _on_signal(signum: int, frame: Any) -> None:
    if _request is not None and signum == signal.SIGINT:  # the second Ctrl-C: the user means now
        sys.stderr.write("\nsecond interrupt: exiting now; the last checkpoint is intact.\n")
        sys.stderr.flush()
        os._exit(130)
    request_stop("interrupted")
    name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
    sys.stderr.write(f"\n{name}: stopping at the next step boundary (press Ctrl-C again to exit at once)\n")
    sys.stderr.flush()


def stop_on_signal(signum: int, status: str) -> Any:
    """From now on, signal `signum` requests a stop with `status` (e.g. a cluster's pre-timeout or preemption
    notice: 'requeued'); returns the previous handler. Unlike Ctrl-C, a repeat never exits at once."""
    def on_notice(received: int, frame: Any) -> None:
        request_stop(status)
        sys.stderr.write(f"\n{signal.Signals(received).name}: stopping at the next step boundary ({status})\n")
        sys.stderr.flush()
    return signal.signal(signum, on_notice)


@contextmanager
def graceful_stop() -> Iterator[None]:
    """SIGINT and SIGTERM request a stop (see module doc) inside the block; previous handlers come back after."""
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
