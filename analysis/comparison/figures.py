"""The comparison's figures: top-1 against epoch (mean per setting, ±1 std band over seeds) and the LR applied."""
from __future__ import annotations

from pathlib import Path

from analysis.comparison.rows import Row
from analysis.comparison.runs import COMPLETED, HELD_OUT, RUNNING, VAL_IS_TEST, Run, Scoring, settings
from common.files import atomic_save_figure


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _colors(rows: list[Row]) -> dict:
    plt = _pyplot()
    return {row.setting: plt.cm.tab10(i % 10) for i, row in enumerate(rows)}


def accuracy_figure(rows: list[Row], runs: list[Run], scoring: Scoring = VAL_IS_TEST):
    """Top-1 against epoch (the test set, named so), mean per setting with a ±1 std band over seeds."""
    import numpy as np

    plt, label_runs, colors = _pyplot(), settings(runs), _colors(rows)
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for name in colors:
        curves = [dict(r.test_acc1 if scoring is HELD_OUT else r.val_acc1) for r in label_runs[name]
                  if (r.test_acc1 if scoring is HELD_OUT else r.val_acc1) and r.status in (COMPLETED, RUNNING)]
        if not curves:
            continue
        epochs = sorted(set().union(*curves))
        table = np.array([[c.get(e, np.nan) for e in epochs] for c in curves], dtype=float)
        mean = np.nanmean(table, axis=0)
        counts = (~np.isnan(table)).sum(axis=0)  # runs still going have shorter curves
        spread = np.sqrt(np.nansum((table - mean) ** 2, axis=0) / np.maximum(counts - 1, 1))
        std = np.where(counts > 1, spread, 0.0)
        line, = ax.plot(epochs, mean, color=colors[name], label=f"{name} (n={len(curves)})")
        line.set_gid(f"curve-{name}")
        ax.fill_between(epochs, mean - np.nan_to_num(std), mean + np.nan_to_num(std), color=colors[name], alpha=0.2, linewidth=0)
    ax.set(xlabel="epoch", ylabel=scoring.curve_label, title=f"{scoring.curve_label.split(' (')[0].capitalize()}: mean over seeds, band ±1 std")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def lr_figure(rows: list[Row], runs: list[Run]):
    """The LR every optimizer step applied (from the runs' events), one colour per setting."""
    plt, label_runs, colors = _pyplot(), settings(runs), _colors(rows)
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for name in colors:
        # The LR curve is the same for every seed of a setting, except for metric-driven schedules
        # (plateau): draw the lowest seed's run, the others faintly.
        with_lr = sorted([r for r in label_runs[name] if r.lr], key=lambda r: (str(r.seed), r.name))
        for i, run in enumerate(with_lr):
            steps, values = zip(*run.lr)
            line, = ax.plot(steps, values, color=colors[name], linewidth=1.5 if i == 0 else 0.6, alpha=1.0 if i == 0 else 0.35,
                            label=name if i == 0 else None)
            line.set_gid(f"lr-{name}-{i}")
    ax.set(xlabel="optimizer step", ylabel="learning rate", title="LR schedules (as logged by the optimizer)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot(rows: list[Row], runs: list[Run], out: Path, scoring: Scoring = VAL_IS_TEST) -> list:
    plt = _pyplot()
    written = []
    for name, fig in (("val_acc1.png", accuracy_figure(rows, runs, scoring)), ("lr.png", lr_figure(rows, runs))):
        atomic_save_figure(fig, out / name, dpi=130, bbox_inches="tight")
        plt.close(fig)
        written.append(out / name)
    return written
