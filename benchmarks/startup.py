"""The start-up benchmark of scripts/bench_startup.py: `python train.py ...` in fresh processes, stopped at the first
training step, and `import train`, timed in turns."""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RUN = ["data=synthetic", "model=tiny", "data.train_size=64", "trainer.max_epochs=1", "trainer.progress=false"]
# The child: train.py as `python train.py <args>` runs it, ended at the first training step (nothing is trained).
# The step is replaced once train.py has chosen the config's framework: importing engine.training.steps earlier would
# choose OneFlow, and backend=torch would be refused.
CHILD = """
import os, runpy, sys
import engine.platform.oneflow_env
import engine.training.backend_choice as choice
chosen = choice.use_backend
def use_backend(name):
    chosen(name)
    import engine.training.steps
    engine.training.steps.train_step = lambda *args, **kwargs: os._exit(0)
choice.use_backend = use_backend
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

def benchmark(overrides: Sequence[str], repeats: int) -> dict:
    """Time `repeats` fresh runs of train.py with `overrides` to their first step, and `import train`; print and return the report."""
    overrides = list(overrides)
    load_before = os.getloadavg()[0]
    first_step, imports = [], []
    with tempfile.TemporaryDirectory() as runs:
        for repeat in range(repeats):  # in turns, so a change of load hits both figures
            run_dir = f"hydra.run.dir={Path(runs) / str(repeat)}"
            first_step.append(seconds_of([sys.executable, "-c", CHILD, *overrides, run_dir]))
            imports.append(seconds_of([sys.executable, "-c", "import engine.platform.oneflow_env, train"]))
            print(f"repeat {repeat + 1}/{repeats}: first step after {first_step[-1]:.2f} s, "
                  f"import train {imports[-1]:.2f} s", flush=True)
    report = {"overrides": overrides, "repeats": repeats, "cores": os.cpu_count(),
              "load_average_before": round(load_before, 2), "load_average_after": round(os.getloadavg()[0], 2),
              "first_step_s_median": round(statistics.median(first_step), 2),
              "import_train_s_median": round(statistics.median(imports), 2)}
    print(json.dumps(report))
    return report
