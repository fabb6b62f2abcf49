"""Where does a training step's time go? Measures, side by side in one process:

  (a) floor:   a bare OneFlow forward + backward + SGD step on one fixed, pre-made batch
  (b) project: the project's real training step (engine.training.steps.train_step: input pipeline, the step,
               scheduler step, on-device metric sums, LR to TensorBoard, the loss check every N steps)
  (c) graph:   the same step compiled with nn.Graph (trainer.graph=true)
  (d) every conf/scheduler/*.yaml: the cost of one scheduler step
  and the fixed cost of a run before its first training step (imports, config, dataset, model, loaders,
  graph compile) plus its first evaluation.

Usage: python scripts/bench.py [--backend oneflow] [--model tiny] [--batch-size 128] [--device auto] [--steps 20] [--repeats 3]
`--backend oneflow,torch` runs the same benchmark on each backend (one child process each) and writes them side by side
to results/bench/backends_<model>_<device>.md (benchmarks/backends.py); a torch run alone writes <model>_<device>_torch.md.
The three loops are timed in turns (a, b, c, a, b, c, ...) so a change in machine load hits all three;
warm-up steps (and the graph's compile) are excluded, and each figure is the median over the repeats.
Prints images/s and the ratios (b)/(a), (c)/(b); writes results/bench/<model>_<device>.md; the last
line of output is one JSON object with every figure. The benchmark itself: benchmarks/step.py.
"""
from __future__ import annotations

import engine.platform.oneflow_env  # noqa: F401  (before oneflow: loads the CUDA libraries it links against)

import argparse
import sys
from pathlib import Path

import backend
from engine.platform.errors import user_errors

OUT = Path(__file__).resolve().parents[1] / "results" / "bench"  # benchmarks.step.OUT (imported once a backend is chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", default=backend.DEFAULT,
                        help=f"{' or '.join(backend.NAMES)}, or several separated by commas (side by side)")
    parser.add_argument("--model", default="tiny", help="a conf/model choice")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N, or auto (cuda when OneFlow sees a GPU)")
    parser.add_argument("--scheduler", default="cosine", help="the schedule of (b) and (c)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per repeat of each loop")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps of each loop before the first repeat")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--images", type=int, default=50000, help="training images of the synthetic stand-in for CIFAR-100")
    parser.add_argument("--test-images", type=int, default=10000)
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="a Hydra override for (b) and (c), e.g. data.loader=dataloader (repeatable)")
    parser.add_argument("--no-graph", action="store_true", help="skip (c)")
    parser.add_argument("--no-cifar-archive", action="store_true", help="skip the CIFAR-100 reader on a real-size archive")
    parser.add_argument("--out", default=str(OUT), help="folder for <model>_<device>.md ('' to skip)")
    args = parser.parse_args()
    for name in ("batch_size", "steps", "repeats", "images", "test_images"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive whole number, not {getattr(args, name)}")
    if args.warmup < 0:
        parser.error(f"--warmup must be 0 or more, not {args.warmup}")
    names = args.backend.split(",")
    if not names or any(name not in backend.NAMES for name in names):
        parser.error(f"--backend {args.backend}: give {' or '.join(backend.NAMES)}, or both separated by a comma")
    if len(names) > 1:  # one process per framework: each backend in its own child, then the comparison
        from benchmarks.backends import benchmark_backends

        argv = [a for i, a in enumerate(sys.argv[1:]) if not _backend_flag(sys.argv[1:], i)]
        benchmark_backends(names, _without_out(argv), args.out)
        return
    backend.select(names[0])
    from benchmarks.step import StepBench, benchmark

    benchmark(StepBench(**{k: v for k, v in vars(args).items() if k != "backend"}))


def _backend_flag(argv: list, i: int) -> bool:
    """Whether argv[i] is --backend, its value, or --backend=<value>."""
    return argv[i] == "--backend" or argv[i].startswith("--backend=") or (i > 0 and argv[i - 1] == "--backend")


def _without_out(argv: list) -> list:
    return [a for i, a in enumerate(argv) if not (a == "--out" or a.startswith("--out=") or (i > 0 and argv[i - 1] == "--out"))]


if __name__ == "__main__":
    with user_errors():  # a schedule or data setting that cannot work: one paragraph, exit 2
        main()
