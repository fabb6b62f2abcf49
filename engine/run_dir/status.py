"""How a run stands, as summary.json's `status` says it: one name per state, shared by every reader and writer.

A `str` enum, so a status compares equal to its old bare string ("completed"), keys dicts by it, and
goes into JSON as that string. Standard library only: the stop signal handlers (engine.training.stopping)
and the oneflow-free readers (analysis/, the Slurm launcher) import it too.

Also the two ways a run's end travels between the training loop and the run directory (here, below both,
so that neither imports the other): the `Outcome` a run ends with, and `StartUpInterrupted`.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Optional


class RunStatus(str, Enum):
    RUNNING = "running"  # training, or killed without a chance to say otherwise (kill -9, a lost node)
    COMPLETED = "completed"  # every epoch trained
    DIVERGED = "diverged"  # stopped at a non-finite loss (a result: the LR was too high)
    INTERRUPTED = "interrupted"  # stopped and saved (Ctrl-C, SIGTERM); resumable
    REQUEUED = "requeued"  # stopped and saved for a cluster's requeue; the job continues it
    FAILED = "failed"  # a user error, a full disk, a bug; resumable once the cause is fixed

    def __str__(self) -> str:  # the bare string in messages and f-strings, on every Python version
        return self.value

    @property
    def is_final(self) -> bool:
        """A run that ended this way is never continued or rewritten (completed, diverged)."""
        return self in FINAL_STATUSES

    @property
    def stopped_mid_run(self) -> bool:
        """A run that ends this way saves a checkpoint at the step it stopped at (interrupted, requeued, failed)."""
        return self in (RunStatus.INTERRUPTED, RunStatus.REQUEUED, RunStatus.FAILED)

    @classmethod
    def of(cls, value: Any) -> Optional["RunStatus"]:
        """The status `value` names (a string read from a file), or None for anything else."""
        try:
            return cls(value)
        except (TypeError, ValueError):  # not a status (a number, a list, an unknown word)
            return None


FINAL_STATUSES = frozenset({RunStatus.COMPLETED, RunStatus.DIVERGED})


@dataclass(frozen=True)
class Outcome:
    """How a run ended: its status (completed, diverged, interrupted, requeued, failed) and what says why.

    engine.training.loop and train.py make it; engine.run_dir.recorder.RunRecorder.finish records it."""
    status: RunStatus
    diverged: Optional[dict] = None  # the first non-finite step (StepMeter.diverged), for status diverged
    error: Optional[BaseException] = None  # what failed the run, for status failed


class StartUpInterrupted(SystemExit):
    """A stop signal before the training loop began: exit 130, nothing started.

    engine.training.stopping raises it; engine.run_dir.files.discard_if_stopped_early removes the new run directory."""
