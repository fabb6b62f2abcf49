"""summary.json: the machine-readable outcome of a run, and the only code that reads or writes it.

The run (engine.run_dir.recorder) rewrites it, atomically, whenever something changes: what ran
(`describe_run`), its progress (engine.training.progress.Progress.summary_fields) and its status
(engine.run_dir.status.RunStatus). Everything else (a failure recorded from outside the loop, the
Slurm launcher's requeue bookkeeping, a finished run's check, the comparison and the study) goes
through the functions below. Oneflow-free: analysis/ and the launchers import it.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Mapping, Optional

from omegaconf import DictConfig

from backend import version as version_of
from common.files import atomic_write_json
from engine.run_dir.status import RunStatus

SUMMARY_NAME = "summary.json"


def summary_path(run_dir: Path) -> Path:
    return Path(run_dir) / SUMMARY_NAME


def has_summary(run_dir: Path) -> bool:
    """Whether the run in `run_dir` has begun (it wrote a summary.json)."""
    return summary_path(run_dir).is_file()


def run_dirs_with_summary(folder: Path) -> list[Path]:
    """Every directory under `folder` (itself included) holding a summary.json, sorted."""
    return sorted({path.parent for path in Path(folder).rglob(SUMMARY_NAME)})


class RunSummary:
    """The summary.json a run writes: its fields, rewritten whole on every update."""

    def __init__(self, run_dir: Path, **fields: Any) -> None:
        self.path = summary_path(run_dir)
        self.fields: dict[str, Any] = {"status": RunStatus.RUNNING, **fields}
        self.write()

    def update(self, **fields: Any) -> None:
        self.fields.update(fields)
        self.write()

    def write(self) -> None:
        atomic_write_json(self.path, self.fields)


def read_summary(run_dir: Path) -> Optional[dict]:
    """The fields of `run_dir`'s summary.json; None when it has none, or one that does not parse as an object."""
    try:
        fields = json.loads(summary_path(run_dir).read_text())
    except (OSError, ValueError):
        return None
    return fields if isinstance(fields, dict) else None


def run_status(run_dir: Path) -> Optional[str]:
    """The status summary.json records (a RunStatus value, or whatever an unknown writer put there); None without one."""
    fields = read_summary(run_dir)
    if fields is None or "status" not in fields:
        return None
    return RunStatus.of(fields["status"]) or fields["status"]


def finished_status(run_dir: Path) -> Optional[RunStatus]:
    """COMPLETED or DIVERGED when the run in `run_dir` already ended that way, else None."""
    status = RunStatus.of((read_summary(run_dir) or {}).get("status"))
    return status if status is not None and status.is_final else None


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def record_failure(run_dir: Path, reason: str) -> None:
    """summary.json of the run in `run_dir` (which this process writes) says status failed with `reason`.

    For a failure outside the training loop's RunSummary (e.g. no usable checkpoint to resume from):
    the existing fields are kept (a new file has just these two). Best effort: a disk that cannot take it leaves the file as it was."""
    fields = read_summary(run_dir) or {}
    try:
        atomic_write_json(summary_path(run_dir), {**fields, "status": RunStatus.FAILED, "error": _one_line(reason)})
    except OSError as error:
        print(f"({SUMMARY_NAME} could not record the failure: {error})", file=sys.stderr)


def replace_status(run_dir: Path, old: RunStatus, new: RunStatus) -> None:
    """Status `new` in `run_dir`'s summary.json when it says `old` (e.g. a stop that could not be continued as
    planned); nothing when it says anything else, has none, or cannot be written."""
    fields = read_summary(run_dir)
    if fields is None or fields.get("status") != old:
        return
    try:
        atomic_write_json(summary_path(run_dir), {**fields, "status": new})
    except OSError:
        pass


def describe_run(cfg: DictConfig, choices: Mapping[str, Optional[str]], schedule: Any, device: str) -> dict[str, Any]:
    """The summary.json fields that say what was run (fixed for the whole run)."""
    return {
        "scheduler": schedule.name, "scheduler_params": schedule.describe(), "seed": cfg.seed,
        "model": choices.get("model"), "optimizer": choices.get("optimizer"), "data": choices.get("data"),
        "base_lr": cfg.optimizer.lr, "batch_size": cfg.data.batch_size, "val_split": cfg.data.val_split,
        "backend": cfg.get("backend", "oneflow"), "backend_version": version_of(cfg.get("backend", "oneflow")),
        "device": device, "graph": cfg.trainer.graph, "amp": cfg.trainer.amp, "max_epochs": cfg.trainer.max_epochs,
        "diverged": None,
    }
