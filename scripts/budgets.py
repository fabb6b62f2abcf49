"""Accuracy against training budget: separate cosine runs vs one WSD stable run with cooldown branches (+ schedule-free).

For budgets B1 < ... < Bk epochs and each seed, this trains (with train.py, as sweeps, so a re-run
continues what a killed one left):
  cosine         one run per budget: trainer.max_epochs=B                       cost: the sum of the budgets
  wsd            one run of the largest budget (its stable phase and its own cooldown), and a cooldown
                 branch for every other budget forked off that stable phase: `train.py -m fork=<run>
                 trainer.max_epochs=B1,...` (engine/training/fork.py)                     cost: Bk + the branches' own steps
  schedule_free  one run of the largest budget, read at every budget (its LR does not depend on the
                 run length, so its epoch B is a B-epoch run)                    cost: Bk
and writes budgets.md / budgets.csv (final val/acc1 per budget: mean, std, 95% CI over seeds; the optimizer
steps each schedule cost) and budgets.png.

    python scripts/budgets.py --budgets 4 6 8 --seeds 0 1 2 --runs multiruns/budgets --out results/budgets
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis.stats import spread  # noqa: E402
from common.files import atomic_save_figure, atomic_write_text  # noqa: E402

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
    for path in sorted(sweep.glob("**/summary.json")):
        summary = json.loads(path.read_text())
        if summary.get("status") == "completed":
            found.append({**summary, "run_dir": str(path.parent)})
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


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budgets", type=int, nargs="+", required=True, help="run lengths in epochs, e.g. 4 6 8")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds (default: 0)")
    parser.add_argument("--runs", type=Path, default=Path("multiruns/budgets"), help="where the sweeps' runs go")
    parser.add_argument("--out", type=Path, default=None, help="where budgets.md/.csv/.png go (default: --runs)")
    parser.add_argument("--table-only", action="store_true", help="only tabulate the runs already in --runs")
    parser.add_argument("overrides", nargs="*", help="train.py overrides added to every run, e.g. trainer.graph=false")
    args = parser.parse_args(argv)
    budgets = sorted(set(args.budgets))
    if budgets[0] < 1:
        parser.error(f"--budgets {budgets[0]} is not a run length: budgets are whole numbers of epochs >= 1")
    if not args.table_only:
        run_all(budgets, args.seeds, args.runs, args.overrides)
    table = accuracy_and_cost(budgets, args.runs)
    out = args.out or args.runs
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "budgets.md", markdown(table, budgets, len(args.seeds)))
    atomic_write_text(out / "budgets.csv", csv_text(table, budgets))
    plot(table, budgets, out / "budgets.png")
    print((out / "budgets.md").read_text())


if __name__ == "__main__":
    main()
