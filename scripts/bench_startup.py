"""The fixed cost of `python train.py ...` before its first training step, measured as a user pays it.

    python scripts/bench_startup.py                          # data=synthetic model=tiny, 5 fresh processes
    python scripts/bench_startup.py --repeats 3 data=digits  # any train.py overrides

Each repeat starts a fresh interpreter that runs train.py exactly as the command line would (Hydra's
parsing and compose, the config checks, model, optimizer, data, run files), stopped by a hook at the
first call of the training step, and times it from spawn to that call. It also times `import train` in a
fresh process, and prints the load average, since on a shared machine every figure moves with the load.
The last output line is one JSON object. `python -X importtime -c "import train"` breaks the imports down.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RUN = ["data=synthetic", "model=tiny", "data.train_size=64", "trainer.max_epochs=1", "trainer.progress=false"]
# The child: train.py as `python train.py <args>` runs it, ended at the first training step (nothing is trained).
CHILD = """
import os, runpy, sys
import engine.platform.oneflow_env
import engine.training.steps
engine.training.steps.train_step = lambda *args, **kwargs: os._exit(0)
sys.argv = ["train.py", *sys.argv[1:]]
runpy.run_path("train.py", run_name="__main__")
os._exit(3)  # train.py returned without taking a step
"""


def seconds_of(command: list[str]) -> float:
    """Wall seconds of `command` in a fresh process (in the project folder); its failure is an error."""
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"error: {' '.join(command[:3])} ... exited {result.returncode}:\n{result.stderr[-2000:]}")
    return time.perf_counter() - start


def main(argv: list = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("overrides", nargs="*", help=f"train.py overrides (default: {' '.join(DEFAULT_RUN)})")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    overrides = args.overrides or DEFAULT_RUN
    load_before = os.getloadavg()[0]
    first_step, imports = [], []
    with tempfile.TemporaryDirectory() as runs:
        for repeat in range(args.repeats):  # in turns, so a change of load hits both figures
            run_dir = f"hydra.run.dir={Path(runs) / str(repeat)}"
            first_step.append(seconds_of([sys.executable, "-c", CHILD, *overrides, run_dir]))
            imports.append(seconds_of([sys.executable, "-c", "import engine.platform.oneflow_env, train"]))
            print(f"repeat {repeat + 1}/{args.repeats}: first step after {first_step[-1]:.2f} s, "
                  f"import train {imports[-1]:.2f} s", flush=True)
    report = {"overrides": overrides, "repeats": args.repeats, "cores": os.cpu_count(),
              "load_average_before": round(load_before, 2), "load_average_after": round(os.getloadavg()[0], 2),
              "first_step_s_median": round(statistics.median(first_step), 2),
              "import_train_s_median": round(statistics.median(imports), 2)}
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
