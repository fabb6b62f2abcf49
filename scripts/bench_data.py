"""Input pipeline benchmark: device loader vs the flowvision DataLoader path, and input's share of a training step.

    python scripts/bench_data.py                 # the full run recorded in results/bench/data.md
    python scripts/bench_data.py --quick         # a smaller run, printed only

Measures, in one process on this machine: images/s of DeviceLoader (crop + flip; and with
RandomRotation(15) + Cutout(8)) and of the DataLoader path with `--workers` workers, with their ratio;
then, for model=tiny and model=resnet18, the share of a training step (forward, backward, SGD step)
spent waiting for the next batch. The data is a synthetic CIFAR-shaped set of `--images` uint8 images
(throughput does not depend on pixel values), or CIFAR-100 itself with --cifar-root. The benchmark: benchmarks/data.py.
"""
from __future__ import annotations

import engine.platform.oneflow_env  # noqa: F401  (before oneflow: loads the CUDA libraries it links against)

import argparse

from benchmarks.data import DataBench, benchmark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=50000, help="training images (the CIFAR-100 train set size)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader worker processes")
    parser.add_argument("--device-batches", type=int, default=200)
    parser.add_argument("--classic-batches", type=int, default=40)
    parser.add_argument("--tiny-steps", type=int, default=40)
    parser.add_argument("--resnet18-steps", type=int, default=3, help="a CPU step at batch 128 takes ~16 s")
    parser.add_argument("--cifar-root", help="use CIFAR-100 from this data root instead of synthetic images")
    parser.add_argument("--device", default="cpu", help="cpu (the recorded figures), cuda, cuda:N or auto")
    parser.add_argument("--out", default="results/bench", help="folder for data.md / data.json ('' to skip; data_<device>.* off the CPU)")
    parser.add_argument("--quick", action="store_true", help="few batches and steps, nothing written")
    benchmark(DataBench(**vars(parser.parse_args())))


if __name__ == "__main__":
    main()
