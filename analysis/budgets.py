"""Accuracy against training budget (scripts/budgets.py): separate cosine runs vs one WSD stable run with cooldown
branches (+ schedule-free), trained as train.py sweeps, tabulated from their summaries with a figure."""
from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from analysis.stats import spread
from common.files import atomic_save_figure, atomic_write_text
from engine.run_dir.status import RunStatus
from engine.run_dir.summary import read_summary, run_dirs_with_summary

ROOT = Path(__file__).resolve().parents[1]

SETTINGS = {  # schedule -> the overrides of its runs (the experiment presets of the digits comparison)
    "cosine": ["experiment=digits_cosine"],
    "wsd": ["experiment=digits_wsd"],
    # a 1-epoch warmup from 0.1x, then constant; LR 10x the presets' SGD 0.05, as SGD's 0.1 -> the authors' 1.0
    "schedule_free": ["experiment=digits", "optimizer=sgd_schedule_free", "optimizer.lr=0.5", "scheduler=linear",
                      "scheduler.lr_scheduler.total_iters=1"],
}


def train(*overrides: str) -> None:
    command = [sys.executable, str(ROOT / "train.py"), "-m", *overrides]
    print("+", " ".join(command[1:]), flush=True)
    if subprocess.run(command, cwd=ROOT).returncode != 0:
        raise SystemExit(f"budgets: a sweep failed: {' '.join(command[1:])}")


def summaries(sweep: Path) -> list[dict]:
    found = []
    for run_dir in run_dirs_with_summary(sweep):
        summary = read_summary(run_dir)
        if summary is not None and summary.get("status") == RunStatus.COMPLETED:
            found.append({**summary, "run_dir": str(run_dir)})
    return found


def run_all(budgets: Sequence[int], seeds: Sequence[int], runs: Path, extra: Sequence[str]) -> None:
    seed_list, longest = ",".join(map(str, seeds)), max(budgets)
    train(*SETTINGS["cosine"], *extra, f"trainer.max_epochs={','.join(map(str, budgets))}", f"seed={seed_list}",
          f"hydra.sweep.dir={runs / 'cosine'}")
    train(*SETTINGS["wsd"], *extra, f"trainer.max_epochs={longest}", f"seed={seed_list}", f"hydra.sweep.dir={runs / 'wsd'}")
    shorter = ",".join(str(b) for b in budgets if b != longest)
    for stable in summaries(runs / "wsd"):
        if shorter and "forked_from" not in stable and stable["max_epochs"] == longest:
            branches = runs / "wsd_branches" / f"seed_{stable['seed']}"  # no "=": Hydra would parse it
            train(f"fork={stable['run_dir']}", f"trainer.max_epochs={shorter}", f"hydra.sweep.dir={branches}")
    train(*SETTINGS["schedule_free"], *extra, f"trainer.max_epochs={longest}", f"seed={seed_list}",
          f"hydra.sweep.dir={runs / 'schedule_free'}")


def accuracy_and_cost(budgets: Sequence[int], runs: Path) -> dict[str, dict]:
    """{schedule: {"acc": {budget: [val/acc1 per seed]}, "steps": [steps trained per seed], "epochs": ...}}."""
    table: dict[str, dict] = {}
    cosine = summaries(runs / "cosine")
    wsd = summaries(runs / "wsd") + summaries(runs / "wsd_branches")
    free = summaries(runs / "schedule_free")
    for name, found in (("cosine", cosine), ("wsd", wsd)):
        acc = {b: [s["final_acc1"] for s in found if s["max_epochs"] == b] for b in budgets}
        own = {}
        for s in found:  # a branch costs only the steps it trained after its fork
            own[s["seed"]] = own.get(s["seed"], 0) + s["global_step"] - (s.get("forked_from") or {}).get("step", 0)
        table[name] = {"acc": acc, "steps": list(own.values())}
    table["schedule_free"] = {"acc": {b: [s["history"]["val/acc1"][b - 1] for s in free] for b in budgets},
                              "steps": [s["global_step"] for s in free]}
    return table


def _fmt(values: list) -> str:
    s = spread(values)
    if s.mean is None:
        return "–"
    return f"{s.mean:.2f}" + (f" ± {s.std:.2f}" if s.std is not None else "") + \
        (f" [{s.ci_low:.1f}, {s.ci_high:.1f}]" if s.ci_low is not None else "")


def markdown(table: dict, budgets: Sequence[int], seeds: int) -> str:
    head = "| schedule | " + " | ".join(f"val/acc1 at {b} epochs" for b in budgets) + " | optimizer steps for all budgets (per seed) |"
    lines = [head, "|" + "---|" * (len(budgets) + 2)]
    for name, row in table.items():
        steps = spread(row["steps"]).mean
        lines.append(f"| {name} | " + " | ".join(_fmt(row["acc"][b]) for b in budgets) +
                     (f" | {steps:.0f} |" if steps is not None else " | – |"))
    return ("\n".join(lines) + f"\n\nMean ± std [95% t-interval] of the final val/acc1 (%) over {seeds} seeds; "
            f"the last column counts the optimizer steps each schedule trained to produce every budget's result.\n")


def csv_text(table: dict, budgets: Sequence[int]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["schedule", "budget_epochs", "n", "acc1_mean", "acc1_std", "steps_per_seed"])
    for name, row in table.items():
        for b in budgets:
            s = spread(row["acc"][b])
            writer.writerow([name, b, s.n, s.mean, s.std, spread(row["steps"]).mean])
    return out.getvalue()


def plot(table: dict, budgets: Sequence[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for name, row in table.items():
        spreads = [spread(row["acc"][b]) for b in budgets]
        ax.errorbar(budgets, [s.mean for s in spreads], yerr=[s.std or 0 for s in spreads], marker="o", capsize=3,
                    label=f"{name} ({spread(row['steps']).mean:.0f} steps)")
    ax.set_xlabel("budget (epochs)")
    ax.set_ylabel("final val/acc1 (%)")
    ax.set_xticks(list(budgets))
    ax.grid(True, color="0.9")
    ax.legend()
    fig.tight_layout()
    atomic_save_figure(fig, path, dpi=110)
    plt.close(fig)


def budget_study(budgets: Sequence[int], seeds: Sequence[int], runs: Path, out: Path, overrides: Sequence[str] = (),
                 table_only: bool = False) -> str:
    """Train what `runs` lacks (unless table_only), write budgets.md/.csv/.png to `out`; return the markdown table."""
    if not table_only:
        run_all(budgets, seeds, runs, overrides)
    table = accuracy_and_cost(budgets, runs)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "budgets.md", markdown(table, budgets, len(seeds)))
    atomic_write_text(out / "budgets.csv", csv_text(table, budgets))
    plot(table, budgets, out / "budgets.png")
    return (out / "budgets.md").read_text()
