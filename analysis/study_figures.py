"""The figures of a study report: one colour per schedule across every figure, identical curves marked as such.

matplotlib's colour cycle follows each figure's own drawing order (cosine blue in one figure, orange in the next),
and a curve drawn over an identical one hides it (plateau under constant when its patience never runs out). Every
figure of a study report goes through `unify`: its lines take their schedule's colour from `schedule_colors` (by
their gid, `<kind>-<setting>`), and a curve equal to one drawn before it is dashed and labelled "identical to ...".
"""
from __future__ import annotations

from typing import Optional

import numpy as np

IDENTICAL_DASHES = (0, (5, 4))


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def schedule_colors(schedules: list) -> dict:
    """{schedule: colour}, fixed by the order the study names them in (tab10, then tab20 past ten)."""
    plt = pyplot()
    cmap = plt.cm.tab10 if len(schedules) <= 10 else plt.cm.tab20
    return {schedule: cmap(i % cmap.N) for i, schedule in enumerate(schedules)}


def schedule_of(gid: str, kinds: tuple = ("curve-", "lr-", "sensitivity-", "failed-", "chosen-", "profile-", "budget-")) -> Optional[str]:
    """The schedule a line's gid names ("curve-cosine", "lr-cosine, lr=0.1-0" -> "cosine"), or None."""
    for kind in kinds:
        if gid and gid.startswith(kind):
            return gid[len(kind):].split(",")[0].rsplit("-", 1)[0] if kind == "lr-" else gid[len(kind):].split(",")[0]
    return None


def unify(fig, colors: dict) -> None:
    """Recolour every schedule's lines (and the bands drawn right after them) and mark identical curves; in place."""
    for ax in fig.axes:
        lines = [line for line in ax.get_lines() if schedule_of(line.get_gid() or "") in colors]
        for line in lines:
            line.set_color(colors[schedule_of(line.get_gid())])
        bands = [c for c in ax.collections if type(c).__name__ in ("PolyCollection", "FillBetweenPolyCollection")]
        curves = [line for line in lines if (line.get_gid() or "").startswith("curve-")]
        for line, band in zip(curves, bands):  # accuracy_figure draws each mean curve, then its band
            band.set_color(colors[schedule_of(line.get_gid())])
        mark_identical([line for line in lines if line.get_label() and not line.get_label().startswith("_")])
        legend = ax.get_legend()
        if legend is not None:
            ax.legend(loc=getattr(legend, "_loc", "best"), fontsize=8)


def mark_identical(lines: list) -> list:
    """Dash each line whose points equal an earlier line's and say so in its label; returns [(line, earlier label)]."""
    marked, seen = [], []
    for line in lines:
        data = np.asarray(line.get_xydata(), dtype=float)
        twin = next((other for other, other_data in seen
                     if other_data.shape == data.shape and np.array_equal(other_data, data, equal_nan=True)), None)
        if twin is not None:
            line.set_linestyle(IDENTICAL_DASHES)
            line.set_linewidth(max(line.get_linewidth(), 2.0))
            line.set_label(f"{line.get_label()} (identical to {twin.get_label()})")
            marked.append((line, twin.get_label()))
        else:
            seen.append((line, data))
    return marked
