"""How a run directory's run ended, read from its summary.json without importing OneFlow (launchers use it)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

FINAL_STATUSES = ("completed", "diverged")


def run_status(run_dir: Path) -> Optional[str]:
    """summary.json's status ('running', 'completed', 'diverged', 'interrupted', 'requeued'), None without one."""
    try:
        return json.loads((Path(run_dir) / "summary.json").read_text()).get("status")
    except (OSError, ValueError, AttributeError):
        return None


def finished_status(run_dir: Path) -> Optional[str]:
    """'completed' or 'diverged' when the run in `run_dir` already ended that way, else None."""
    status = run_status(run_dir)
    return status if status in FINAL_STATUSES else None
