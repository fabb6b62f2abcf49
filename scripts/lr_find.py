"""The LR range test (Smith 2017; fastai's lr_find): loss against an exponentially growing LR, and what to pick from it.

    python scripts/lr_find.py experiment=digits --steps 200 --out results/lr_find
    python scripts/lr_find.py model=resnet18 optimizer=adamw --min-lr 1e-6 --max-lr 1 --steps 300

Builds the run train.py would build for the same overrides (engine.training.run.build_run: model, optimizer,
data), then trains `--steps` optimizer steps with the LR of step i set to min_lr * (max_lr/min_lr)^(i/(steps-1))
in every parameter group (the config's schedule is not used), reading the loss after every step. It
stops early once the running loss (fastai's EMA) exceeds 4x its best (divergence). Writes lr_find.csv (step, lr,
loss, smoothed), lr_find.png and lr_find.json with:
  min_loss_lr       the LR where the smoothed loss (a centred running mean over ~1/15 of the steps) is lowest
  steepest_lr       the LR where it falls fastest per decade of LR
  suggested_max_lr  min_loss_lr / 10: the peak LR for onecycle, cyclic or WSD (fastai's rule)
  onset_lr          the LR where the smoothed loss has made 10% of its drop (it starts to fall)
  search_interval   [onset_lr, min_loss_lr]: Smith's range, from where the loss starts to fall to where it
                    stops; tune the base LR inside it (hparams_search=lr: hydra.sweeper.params)
The test is a pure function of the config and the seed (fixed init and data order), so it repeats exactly.
"""
import engine.platform.oneflow_env  # noqa: F401  (before oneflow: loads the CUDA libraries it links against)

import argparse
from pathlib import Path
from typing import Optional

from engine.training.lr_find import lr_range_test


def main(argv: Optional[list] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, as for train.py (e.g. experiment=digits)")
    parser.add_argument("--min-lr", type=float, default=1e-5, help="the LR of the first step (default 1e-5)")
    parser.add_argument("--max-lr", type=float, default=10.0, help="the LR of the last step (default 10)")
    parser.add_argument("--steps", type=int, default=200, help="optimizer steps (default 200)")
    parser.add_argument("--out", type=Path, default=Path("lr_find"), help="output folder (default ./lr_find)")
    args = parser.parse_args(argv)
    if not 0 < args.min_lr < args.max_lr:
        parser.error(f"--min-lr {args.min_lr} and --max-lr {args.max_lr}: need 0 < min-lr < max-lr")
    if args.steps < 3:
        parser.error(f"--steps {args.steps}: a range test needs at least 3 steps (a few hundred are usual)")
    lr_range_test(args.overrides, args.min_lr, args.max_lr, args.steps, args.out)


if __name__ == "__main__":
    main()
