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

    python scripts/budgets.py --budgets 4 6 8 --seeds 0 1 2 --runs multiruns/budgets --out multiruns/budgets/report
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional, Sequence

from analysis.budgets import budget_study


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
    print(budget_study(budgets, args.seeds, args.runs, args.out or args.runs, args.overrides, table_only=args.table_only))


if __name__ == "__main__":
    main()
