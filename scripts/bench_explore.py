"""Schedule explorer benchmark: from a widget change to a computed curve, at 200 epochs x 391 steps (78,200 points).

    python scripts/bench_explore.py            # writes results/bench/explore.md and explore.json
    python scripts/bench_explore.py --quick    # fewer repeats, printed only
    python scripts/bench_explore.py --browser  # every kind of edit -> drawn chart, 6 curves, headless Chromium:
                                               # median and 90th percentile per kind in explore_browser.md
    python scripts/bench_explore.py --browser --busy 2 --out results/bench/explore_busy   # the same under load

Two measurements, in one process on this machine:
1. For every conf/scheduler choice at the default run (CIFAR-100, batch 128, 200 epochs: 391 steps per
   epoch), what one new setting costs the explorer: compose the config (explorer.core.compose: the group
   choices composed once by engine.config.compose.compose_config, the edited values applied by Hydra), then
   preview it (engine.training.schedule_preview.preview: steps per epoch, lr_curve, resolved schedule). The curve of
   an unchanged setting is cached, so this is the whole recomputation. Median of --repeats, each with a
   value never seen before (no cache hit).
2. The app itself, headless (streamlit.testing.v1.AppTest): the slowest schedule of (1), then cosine, in the
   first tab, a field changed, the full script rerun timed (widgets, compose, curve, downsampling, chart spec,
   table). The browser's drawing is not included.
"""
from __future__ import annotations

import engine.platform.oneflow_env  # noqa: F401  (before oneflow: loads the CUDA libraries it links against)

import argparse
import sys
from pathlib import Path

from benchmarks.explorer import OUT, benchmark


def main(argv: list = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 repeats, printed only")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--browser", action="store_true", help="time edit -> drawn chart in headless Chromium only")
    parser.add_argument("--busy", type=int, default=0, metavar="N",
                        help="with --browser: N processes spinning beside the measurement (the figure under load)")
    args = parser.parse_args(argv)
    if args.busy < 0 or (args.busy and not args.browser):
        parser.error(f"--busy {args.busy}: give a number of processes >= 0, with --browser (it loads the machine "
                     f"while the browser edits are timed)")
    command = " ".join(["python scripts/bench_explore.py", *(argv if argv is not None else sys.argv[1:])])
    benchmark(2 if args.quick else args.repeats, args.out, browser=args.browser, quick=args.quick, command=command,
              busy_loops=args.busy)


if __name__ == "__main__":
    main()
