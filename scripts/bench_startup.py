"""The fixed cost of `python train.py ...` before its first training step, measured as a user pays it.

    python scripts/bench_startup.py                          # data=synthetic model=tiny, 5 fresh processes
    python scripts/bench_startup.py --repeats 3 data=digits  # any train.py overrides

Each repeat starts a fresh interpreter that runs train.py exactly as the command line would (Hydra's
parsing and compose, the config checks, model, optimizer, data, run files), stopped by a hook at the
first call of the training step, and times it from spawn to that call. It also times `import train` in a
fresh process, and prints the load average, since on a shared machine every figure moves with the load.
The last output line is one JSON object (benchmarks/startup.py measures). `python -X importtime -c "import train"` breaks the imports down.
"""
from __future__ import annotations

import argparse

from benchmarks.startup import DEFAULT_RUN, benchmark


def main(argv: list = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("overrides", nargs="*", help=f"train.py overrides (default: {' '.join(DEFAULT_RUN)})")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    return benchmark(args.overrides or DEFAULT_RUN, args.repeats)


if __name__ == "__main__":
    main()
