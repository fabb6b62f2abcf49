"""Which schedule wins? One table and two figures from a sweep directory.

    python scripts/compare_runs.py multiruns/2026-11-25/09-30-00 [--out results/comparison]

Reads every run under the sweep (its summary.json, its .hydra/config.yaml and its TensorBoard
events) and writes to --out, each file atomically:
  comparison.md / comparison.csv  one row per schedule: runs, mean ± std of best and final top-1/top-5,
                                  epochs to reach each accuracy threshold, wall time, diverged /
                                  running / missing counts; sorted by mean final top-1 (or --sort-by
                                  best); rows whose difference to the row above is smaller than the
                                  seed spread share a rank ("=2") and are reported as ties;
                                  then one line per run.
  val_acc1.png                    validation top-1 against epoch, mean per schedule with a ±1 std band over seeds
  lr.png                          LR against optimizer step, every schedule on one axis

Means use completed runs only; diverged, interrupted, still-running and missing runs are counted
and listed, never averaged in. A run is "missing" when its job directory has no summary.json, or
(for grid sweeps, from multirun.yaml) when the job directory does not exist at all.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import statistics
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

# (This script never imports oneflow, so it skips engine.oneflow_env and its CUDA library loading.)

from common.files import atomic_save_figure, atomic_write_text

COMPLETED, DIVERGED, RUNNING, INTERRUPTED, MISSING = "completed", "diverged", "running", "interrupted", "missing"
METRICS = ("best_acc1", "final_acc1", "best_acc5", "final_acc5")


class CompareError(ValueError):
    """A sweep directory that cannot be compared; the message says why and what to pass instead."""


@dataclass
class Run:
    """One job of the sweep, as far as its files tell."""

    name: str  # path relative to the sweep dir, e.g. "scheduler=cosine,seed=1"
    path: Optional[Path]
    status: str
    schedule: str
    seed: Optional[int] = None
    summary: dict = field(default_factory=dict)
    val_acc1: list = field(default_factory=list)  # [(epoch, acc)]
    lr: list = field(default_factory=list)  # [(step, lr)]
    epochs_to: dict = field(default_factory=dict)  # threshold label -> epoch or None


# ----------------------------------------------------------------------------- reading runs

def _load_yaml(path: Path) -> Optional[Any]:
    from omegaconf import OmegaConf
    try:
        return OmegaConf.load(path)
    except Exception:  # an unreadable config only costs us the fallbacks it would provide
        return None


def _scalars(run_dir: Path, tags: tuple) -> dict:
    """Scalars of `tags` from the run's TensorBoard events (empty when there are none)."""
    if not any(run_dir.glob("events.out.tfevents.*")):
        return {}
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    try:
        events.Reload()
    except Exception:  # a truncated event file of a killed run: use what we have
        return {}
    available = set(events.Tags().get("scalars", []))
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in tags if tag in available}


def _threshold_label(threshold: float) -> str:
    return f"acc1>={threshold:g}"


def _epochs_to(curve: list, threshold: float) -> Optional[int]:
    return next((int(epoch) for epoch, acc in curve if acc >= threshold), None)


def read_run(run_dir: Path, sweep_dir: Path, thresholds: list) -> Run:
    summary: dict = {}
    status = MISSING
    if (run_dir / "summary.json").is_file():
        try:
            summary = json.loads((run_dir / "summary.json").read_text())
            status = summary.get("status", RUNNING)
        except (OSError, json.JSONDecodeError):
            status = MISSING
    config = _load_yaml(run_dir / ".hydra" / "config.yaml")
    schedule = summary.get("scheduler") or (config.scheduler.get("name") if config is not None and "scheduler" in config else None)
    seed = summary.get("seed", config.get("seed") if config is not None else None)
    run = Run(name=str(run_dir.relative_to(sweep_dir)) if run_dir != sweep_dir else run_dir.name, path=run_dir,
              status=status, schedule=schedule or "unknown", seed=seed, summary=summary)

    scalars = _scalars(run_dir, ("lr", "val/acc1"))
    history = summary.get("history") or {}
    if history.get("epoch") and history.get("val/acc1"):
        run.val_acc1 = list(zip(history["epoch"], history["val/acc1"]))
    else:
        run.val_acc1 = scalars.get("val/acc1", [])
    run.lr = scalars.get("lr", [])
    recorded = summary.get("epochs_to_threshold") or {}
    for threshold in thresholds:
        label = _threshold_label(threshold)
        run.epochs_to[label] = recorded[label] if label in recorded else _epochs_to(run.val_acc1, threshold)
    return run


def expected_job_names(sweep_dir: Path) -> Optional[list]:
    """Job directory names a grid sweep should produce (from multirun.yaml), or None when unknowable."""
    multirun = _load_yaml(sweep_dir / "multirun.yaml")
    if multirun is None:
        return None
    try:
        from hydra._internal.config_loader_impl import get_overrides_dirname
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
        from hydra.core.override_parser.overrides_parser import OverridesParser
        from omegaconf import OmegaConf

        hydra_cfg = multirun.hydra
        if "BasicSweeper" not in str(hydra_cfg.sweeper.get("_target_", "")):
            return None  # e.g. Optuna: trials are chosen while the sweep runs
        if OmegaConf.to_container(hydra_cfg.sweep, resolve=False).get("subdir") != "${hydra.job.override_dirname}":
            return None
        params = hydra_cfg.sweeper.get("params") or {}
        arguments = [f"{k}={v}" for k, v in params.items()] + list(hydra_cfg.overrides.task)
        parser = OverridesParser.create()
        batches = BasicSweeper.split_arguments(parser.parse_overrides(arguments), None)
        naming = hydra_cfg.job.config.override_dirname
        return [get_overrides_dirname(parser.parse_overrides(job), list(naming.exclude_keys), naming.item_sep, naming.kv_sep)
                for batch in batches for job in batch]
    except Exception:  # an unusual sweep config: fall back to the directories that exist
        return None


def find_runs(sweep_dir: Path, thresholds: list) -> list:
    if not sweep_dir.is_dir():
        raise CompareError(f"{sweep_dir} is not a directory; pass a sweep directory such as multiruns/<date>/<time> "
                           f"(or any folder holding run directories with summary.json files).")
    run_dirs = sorted({p.parent for p in sweep_dir.rglob("summary.json")} |
                      {p.parent.parent for p in sweep_dir.rglob(".hydra/config.yaml")})
    runs = [read_run(d, sweep_dir, thresholds) for d in run_dirs]
    expected = expected_job_names(sweep_dir)
    if expected:
        # A job that never started has no config to read its schedule from: take it from a run that
        # differs only in the seed, else from a `scheduler=` override, else name it by its overrides.
        def without_seed(name: str) -> str:
            return ",".join(kv for kv in name.split(",") if not kv.startswith("seed="))
        known = {without_seed(r.name): r.schedule for r in runs if r.schedule != "unknown"}
        present = {r.name for r in runs}
        for name in expected:
            if name not in present:
                schedule = known.get(without_seed(name)) or next(
                    (kv.split("=", 1)[1] for kv in name.split(",") if kv.startswith("scheduler=")), without_seed(name))
                runs.append(Run(name=name, path=None, status=MISSING, schedule=schedule))
    if not runs:
        raise CompareError(f"no runs found under {sweep_dir}: no summary.json or .hydra/config.yaml in it or its sub-directories. "
                           f"Pass the directory a multirun wrote (multiruns/<date>/<time>) or a run directory.")
    return runs


# ----------------------------------------------------------------------------- statistics

def mean_std(values: list) -> tuple:
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def schedule_rows(runs: list, thresholds: list, sort_by: str) -> list:
    rows = []
    for schedule in sorted({r.schedule for r in runs}):
        group = [r for r in runs if r.schedule == schedule]
        done = [r for r in group if r.status == COMPLETED]
        row: dict = {"schedule": schedule, "runs": len(group), "completed": len(done),
                     "diverged": sum(r.status == DIVERGED for r in group), "running": sum(r.status == RUNNING for r in group),
                     "interrupted": sum(r.status == INTERRUPTED for r in group), "missing": sum(r.status == MISSING for r in group)}
        for metric in METRICS:
            row[f"{metric}_mean"], row[f"{metric}_std"] = mean_std([r.summary.get(metric) for r in done])
        for threshold in thresholds:
            label = _threshold_label(threshold)
            reached = [r.epochs_to.get(label) for r in done if r.epochs_to.get(label) is not None]
            row[f"epochs_to_{label}_mean"] = statistics.fmean(reached) if reached else None
            row[f"epochs_to_{label}_reached"] = len(reached)
        row["wall_time_s_mean"], _ = mean_std([r.summary.get("wall_time_s") for r in done])
        rows.append(row)

    key = f"{sort_by}_acc1_mean"
    rows.sort(key=lambda row: (row[key] is None, -(row[key] or 0.0), row["schedule"]))
    # Ranks with ties: a row whose mean is within the seed spread (the larger std of the two rows)
    # of the row above shares that row's rank. Rows without completed runs are not ranked.
    for i, row in enumerate(rows):
        row["rank"], row["tie_with"] = None, None
        if row[key] is None:
            continue
        row["rank"] = i + 1
        if i and rows[i - 1][key] is not None:
            above = rows[i - 1]
            spread = max(above[f"{sort_by}_acc1_std"] or 0.0, row[f"{sort_by}_acc1_std"] or 0.0)
            if above[key] - row[key] < spread:
                row["rank"], row["tie_with"] = above["rank"], above["schedule"]
    return rows


# ----------------------------------------------------------------------------- writing

def _fmt(mean: Optional[float], std: Optional[float], digits: int = 2) -> str:
    if mean is None:
        return "—"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if std is not None else f"{mean:.{digits}f}"


def verdict(rows: list, sort_by: str) -> str:
    ranked = [r for r in rows if r["rank"] is not None]
    if not ranked:
        return "No schedule has a completed run yet."
    key = f"{sort_by}_acc1"
    winners = [r for r in ranked if r["rank"] == 1]
    top = winners[0]
    if len(winners) == 1 and top[key + "_std"] is None:
        return (f"**{top['schedule']}** has the highest {sort_by} top-1 ({_fmt(top[key + '_mean'], None)}), but from a single "
                f"completed run: no spread over seeds to tell a real difference from noise.")
    if len(winners) == 1:
        return (f"**{top['schedule']}** has the highest mean {sort_by} top-1 ({_fmt(top[key + '_mean'], top[key + '_std'])}); "
                f"the runner-up is further behind than the seed spread.")
    names = ", ".join(f"**{r['schedule']}** ({_fmt(r[key + '_mean'], r[key + '_std'])})" for r in winners)
    return (f"No clear winner: {names} differ in mean {sort_by} top-1 by less than their spread over seeds "
            f"(more seeds would be needed to separate them).")


def markdown(rows: list, runs: list, thresholds: list, sort_by: str, sweep_dir: Path) -> str:
    out = io.StringIO()
    out.write(f"# Schedule comparison: `{sweep_dir}`\n\n")
    out.write(f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC} by `scripts/compare_runs.py` from {len(runs)} runs. "
              f"Sorted by mean **{sort_by}** top-1 over completed runs (± sample std over seeds); "
              f"rank `=N`: the difference to the row above is smaller than the larger of the two spreads (a tie).\n\n")
    out.write(verdict(rows, sort_by) + "\n\n")
    threshold_cols = [_threshold_label(t) for t in thresholds]
    head = (["rank", "schedule", "runs", "final top-1", "best top-1", "final top-5", "best top-5"]
            + [f"epochs to {label}" for label in threshold_cols] + ["wall time (s)", "diverged", "not finished"])
    out.write("| " + " | ".join(head) + " |\n|" + "---|" * len(head) + "\n")
    for row in rows:
        rank = "—" if row["rank"] is None else (f"={row['rank']}" if row["tie_with"] else str(row["rank"]))
        cells = [rank, row["schedule"], f"{row['completed']}/{row['runs']}"]
        cells += [_fmt(row[f"{m}_mean"], row[f"{m}_std"]) for m in ("final_acc1", "best_acc1", "final_acc5", "best_acc5")]
        for label in threshold_cols:
            mean, reached = row[f"epochs_to_{label}_mean"], row[f"epochs_to_{label}_reached"]
            cells.append("—" if mean is None else f"{mean:.1f}" + ("" if reached == row["completed"] else f" ({reached}/{row['completed']} reached)"))
        cells.append("—" if row["wall_time_s_mean"] is None else f"{row['wall_time_s_mean']:.0f}")
        cells.append(str(row["diverged"]))
        unfinished = [f"{row[k]} {k}" for k in (RUNNING, INTERRUPTED, MISSING) if row[k]]
        cells.append(", ".join(unfinished) or "0")
        out.write("| " + " | ".join(cells) + " |\n")
    out.write("\n`runs` is completed/all jobs of the schedule; means use completed runs only. "
              "Epochs to a threshold average the runs that reached it.\n\n## Runs\n\n")
    out.write("| run | status | seed | final top-1 | best top-1 (epoch) | epochs | note |\n|---|---|---|---|---|---|---|\n")
    for run in sorted(runs, key=lambda r: (r.schedule, str(r.seed), r.name)):
        s = run.summary
        best = "—" if s.get("best_acc1") is None else f"{s['best_acc1']:.2f} ({s.get('best_epoch', '?')})"
        final = "—" if s.get("final_acc1") is None else f"{s['final_acc1']:.2f}"
        note = ""
        if run.status == DIVERGED and isinstance(s.get("diverged"), dict):
            d = s["diverged"]
            note = f"diverged at epoch {d.get('epoch')}, step {d.get('step')}, lr {d.get('lr')}"
        elif run.status == MISSING:
            note = "no job directory" if run.path is None else "no summary.json (failed before its first epoch, or not started)"
        elif run.status == RUNNING:
            note = f"still running: {s.get('epochs', 0)}/{s.get('max_epochs', '?')} epochs"
        epochs = f"{s.get('epochs', '—')}/{s.get('max_epochs', '?')}" if s else "—"
        out.write(f"| `{run.name}` | {run.status} | {run.seed if run.seed is not None else '—'} | {final} | {best} | {epochs} | {note} |\n")
    return out.getvalue()


def csv_text(rows: list) -> str:
    columns = list(rows[0].keys()) if rows else ["schedule"]
    columns = ["rank", "tie_with"] + [c for c in columns if c not in ("rank", "tie_with")]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else (round(row[k], 4) if isinstance(row[k], float) else row[k])) for k in columns})
    return out.getvalue()


def plot(rows: list, runs: list, out: Path) -> list:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    order = [row["schedule"] for row in rows]
    colors = {name: plt.cm.tab10(i % 10) for i, name in enumerate(order)}
    written = []

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for name in order:
        curves = [dict(r.val_acc1) for r in runs if r.schedule == name and r.val_acc1 and r.status in (COMPLETED, RUNNING)]
        if not curves:
            continue
        epochs = sorted(set().union(*curves))
        table = np.array([[c.get(e, np.nan) for e in epochs] for c in curves], dtype=float)
        mean = np.nanmean(table, axis=0)
        counts = (~np.isnan(table)).sum(axis=0)  # runs still going have shorter curves
        spread = np.sqrt(np.nansum((table - mean) ** 2, axis=0) / np.maximum(counts - 1, 1))
        std = np.where(counts > 1, spread, 0.0)
        ax.plot(epochs, mean, color=colors[name], label=f"{name} (n={len(curves)})")
        ax.fill_between(epochs, mean - np.nan_to_num(std), mean + np.nan_to_num(std), color=colors[name], alpha=0.2, linewidth=0)
    ax.set(xlabel="epoch", ylabel="validation top-1 (%)", title="Validation accuracy: mean over seeds, band ±1 std")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    atomic_save_figure(fig, out / "val_acc1.png", dpi=130, bbox_inches="tight")
    plt.close(fig)
    written.append(out / "val_acc1.png")

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for name in order:
        # The LR curve is the same for every seed of a schedule, except for metric-driven ones
        # (plateau): draw the lowest seed's run, the others faintly.
        with_lr = sorted([r for r in runs if r.schedule == name and r.lr], key=lambda r: (str(r.seed), r.name))
        for i, run in enumerate(with_lr):
            steps, values = zip(*run.lr)
            ax.plot(steps, values, color=colors[name], linewidth=1.5 if i == 0 else 0.6, alpha=1.0 if i == 0 else 0.35,
                    label=name if i == 0 else None)
    ax.set(xlabel="optimizer step", ylabel="learning rate", title="LR schedules (as logged by the optimizer)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    atomic_save_figure(fig, out / "lr.png", dpi=130, bbox_inches="tight")
    plt.close(fig)
    written.append(out / "lr.png")
    return written


def compare(sweep_dir: Path, out: Path, thresholds: Optional[list] = None, sort_by: str = "final", figures: bool = True) -> list:
    """Write the comparison of `sweep_dir` into `out`; return the rows (one dict per schedule)."""
    if thresholds is None:  # the thresholds the runs recorded, else 50%
        probe = find_runs(sweep_dir, [])
        recorded = {k for r in probe for k in (r.summary.get("epochs_to_threshold") or {})}
        thresholds = sorted(float(k.split(">=")[1]) for k in recorded if k.startswith("acc1>=")) or [50.0]
    runs = find_runs(sweep_dir, thresholds)
    rows = schedule_rows(runs, thresholds, sort_by)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "comparison.md", markdown(rows, runs, thresholds, sort_by, sweep_dir))
    atomic_write_text(out / "comparison.csv", csv_text(rows))
    if figures:
        plot(rows, runs, out)
    return rows


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep_dir", type=Path, help="a multirun directory (multiruns/<date>/<time>) or any folder of runs")
    parser.add_argument("--out", type=Path, default=Path("results/comparison"), help="where to write (default: results/comparison)")
    parser.add_argument("--threshold", type=float, action="append", dest="thresholds",
                        help="top-1 accuracy (%%) for the epochs-to-threshold column; repeatable (default: what the runs recorded, else 50)")
    parser.add_argument("--sort-by", choices=("final", "best"), default="final",
                        help="rank by final-epoch top-1 (default; no selection on the evaluation set) or best-epoch top-1")
    parser.add_argument("--no-figures", action="store_true", help="write only the tables")
    args = parser.parse_args(argv)
    try:
        rows = compare(args.sweep_dir, args.out, args.thresholds, args.sort_by, figures=not args.no_figures)
    except CompareError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{len(rows)} schedules compared; wrote {args.out}/comparison.md, comparison.csv"
          + ("" if args.no_figures else ", val_acc1.png, lr.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
