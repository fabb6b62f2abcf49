"""Mean-over-seeds curves per setting, as TensorBoard runs: <comparison dir>/mean_curves/<setting>/events.*.

TensorBoard shows one curve per run and cannot average runs. scripts/compare_runs.py writes, next to its table,
one event file per setting whose every scalar (lr, val/acc1, test/acc1, train/loss, ...) is the mean over that
setting's completed runs at each step, under the same tag as the runs' own curves, so `tensorboard --logdir
<sweep>` overlays the mean on its seeds, and the run filter `mean_curves` shows only the means (docs/comparison.md).
"""
from __future__ import annotations

import re
import shutil
import statistics
from pathlib import Path
from typing import Iterable, Mapping

from engine.run_dir.events import read_scalars, write_scalars

FOLDER = "mean_curves"


def mean_series(runs: Iterable[Mapping[str, list]]) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, mean over the runs that logged the step)]} of several runs' {tag: [(step, value)]}."""
    by_tag: dict[str, dict[int, list[float]]] = {}
    for scalars in runs:
        for tag, series in scalars.items():
            for step, value in dict(series).items():  # a step logged twice (a resume): the last value
                by_tag.setdefault(tag, {}).setdefault(step, []).append(value)
    return {tag: [(step, statistics.fmean(values)) for step, values in sorted(steps.items())] for tag, steps in by_tag.items()}


def folder_name(label: str) -> str:
    """A setting's label as one directory name (TensorBoard's run name): path separators and spaces replaced."""
    return re.sub(r"[\\/\s]+", "_", label).strip("_") or "setting"


def write_mean_curves(settings: Mapping[str, Iterable[Path]], out: Path) -> list[Path]:
    """Write the mean curves of each setting's run directories into out/mean_curves/<setting>/; return the folders.
    The folder is rewritten as a whole, so a re-run never stacks its points on an earlier comparison's."""
    root = Path(out) / FOLDER
    shutil.rmtree(root, ignore_errors=True)
    written = []
    for label, run_dirs in settings.items():
        curves = mean_series(read_scalars(run_dir) for run_dir in run_dirs)
        if not curves:
            continue
        folder = root / folder_name(label)
        write_scalars(folder, curves)
        written.append(folder)
    return written
