"""Environment report to paste into a bug report: `python scripts/doctor.py [--data-root DIR] [--json]`.

One line per fact: OK, or PROBLEM with what is wrong and how to fix it. Covers Python; OneFlow's version,
CUDA build and GPU architectures; flowvision and Hydra; the cuDNN and cuBLAS libraries this process
really loaded; each GPU (name, compute capability, memory) with the result of the kernel probe that
resolve_device runs (engine.platform.device); the free disk at the data root; the CIFAR-100 archive and its md5.
Exit code 0 when every line is OK (a CPU-only machine is healthy), 1 otherwise. The facts come from
engine.platform.machine.environment, which run_info.json records for every run; the report: engine/platform/doctor.py.
"""
from __future__ import annotations

import engine.platform.oneflow_env  # noqa: F401  (before oneflow: loads the CUDA libraries it links against)

import argparse
import sys
from typing import Optional

from omegaconf import OmegaConf

from engine.config.compose import CONF
from engine.platform.doctor import report


def default_data_root() -> str:
    return str(OmegaConf.load(CONF / "data" / "cifar100.yaml").dataset.root)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", default=default_data_root(), help="data.dataset.root of your runs (default: conf/data/cifar100.yaml's)")
    parser.add_argument("--json", action="store_true", help="print the facts as one JSON object as well")
    args = parser.parse_args(argv)
    return report(args.data_root, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())
