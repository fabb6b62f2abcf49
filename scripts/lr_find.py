"""The LR range test (Smith 2017; fastai's lr_find): loss against an exponentially growing LR, and what to pick from it.

    python scripts/lr_find.py experiment=digits --steps 200 --out lr_find/digits
    python scripts/lr_find.py experiment=digits --steps 150 --seeds 3        # how much the suggestion moves with the seed
    python scripts/lr_find.py model=resnet18 optimizer=adamw --min-lr 1e-6 --max-lr 1 --steps 300

Builds the run train.py would build for the same overrides (engine.training.run.build_run: model, optimizer,
data), then trains `--steps` optimizer steps with the LR of step i set to min_lr * (max_lr/min_lr)^(i/(steps-1))
in every parameter group (the config's schedule is not used), reading the loss after every step. It stops early
once the raw loss, averaged over the last few steps, exceeds 4x its lowest such average (divergence). The model
is a fresh one, thrown away afterwards: no run's weights are read or changed. Writes lr_find.csv (step, lr, loss,
smoothed), lr_find.png and lr_find.json with, on the smoothed loss (a centred running mean over ~1/15 of the steps):
  valley_lr         fastai's default: halfway down the longest stretch over which the loss falls
  minimum_lr        the LR of the lowest smoothed loss (min_loss_lr) / 10 (fastai's rule for a peak LR)
  steepest_lr       the LR where the loss falls fastest per decade of LR
  suggested_lr      the one --suggest picks (valley by default)
  search_interval   [onset_lr, min_loss_lr]: Smith's range, from where the loss has made 10% of its drop to where
                    it stops falling; tune the base LR inside it (the printed hparams_search=lr command)
  seed_spread       with --seeds N: each suggestion for N seeds and max/min, how far the seed alone moves it
The test is a pure function of the config and the seed (fixed init and data order), so it repeats exactly.
"""
import engine.platform.oneflow_env  # noqa: F401  (before oneflow: loads the CUDA libraries it links against)

import argparse
from pathlib import Path
from typing import Optional

from engine.training.lr_find import SUGGESTIONS, lr_range_test


def main(argv: Optional[list] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, as for train.py (e.g. experiment=digits)")
    parser.add_argument("--min-lr", type=float, default=1e-5, help="the LR of the first step (default 1e-5)")
    parser.add_argument("--max-lr", type=float, default=10.0, help="the LR of the last step (default 10)")
    parser.add_argument("--steps", type=int, default=200, help="optimizer steps (default 200)")
    parser.add_argument("--suggest", choices=SUGGESTIONS, default="valley",
                        help="which suggestion the printed train.py command uses (default valley, fastai's default)")
    parser.add_argument("--seeds", type=int, default=1, help="run the test for this many seeds and report the spread "
                                                             "of each suggestion (default 1)")
    parser.add_argument("--out", type=Path, default=Path("lr_find"), help="output folder (default ./lr_find, "
                                                                          "which git ignores)")
    args = parser.parse_args(argv)
    if not 0 < args.min_lr < args.max_lr:
        parser.error(f"--min-lr {args.min_lr} and --max-lr {args.max_lr}: need 0 < min-lr < max-lr")
    if args.steps < 3:
        parser.error(f"--steps {args.steps}: a range test needs at least 3 steps (a few hundred are usual)")
    if args.seeds < 1:
        parser.error(f"--seeds {args.seeds}: give 1 or more")
    lr_range_test(args.overrides, args.min_lr, args.max_lr, args.steps, args.out, suggest=args.suggest, seeds=args.seeds)


if __name__ == "__main__":
    main()
