"""How a run stands, as summary.json's `status` says it: one name per state, shared by every reader and writer.

A `str` enum, so a status compares equal to its old bare string ("completed"), keys dicts by it, and
goes into JSON as that string. Standard library only: the stop signal handlers (engine.training.stopping)
and the oneflow-free readers (analysis/, the Slurm launcher) import it too.
"""
from __future__ import annotations

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
