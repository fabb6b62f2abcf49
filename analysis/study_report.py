"""The study's outputs: the comparison of its seed runs, the LR-sensitivity figure and one HTML page."""
from __future__ import annotations

from pathlib import Path

from analysis import comparison


def write(spec, tuned: dict) -> Path:
    out = Path(spec.report_dir or Path(spec.study_dir) / "report")
    comparison.compare(Path(spec.study_dir) / "seeds", out=out)
    return out / "comparison.md"
