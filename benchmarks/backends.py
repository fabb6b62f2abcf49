"""The same training-step benchmark on each backend, side by side (scripts/bench.py --backend oneflow,torch).

A process runs one framework (backend.select), so each backend's figures come from its own child process
(`scripts/bench.py --backend <name>`, whose last line is its JSON result); this module runs them one after
another, with the same model, batch, schedule and steps, and writes results/bench/backends_<model>_<device>.md:
images/s of (a) the bare step, (b) the project's step and (c) its graph/compile mode on each backend, the
project's overhead over each backend's bare step, and the torch/oneflow ratios.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Sequence

from benchmarks.step_report import thread_settings
from common.files import atomic_write_text

ROOT = Path(__file__).resolve().parents[1]
LOOPS = {"floor": "(a) bare step", "project": "(b) project step, eager", "graph": "(c) project step, graph / compile"}


def run_backend(name: str, argv: Sequence[str]) -> dict:
    """scripts/bench.py for one backend in a child process; its JSON result (the last line it prints)."""
    command = [sys.executable, str(ROOT / "scripts" / "bench.py"), "--backend", name, *argv]
    print(f"--- {name}: {shlex.join(command[1:])}", flush=True)
    lines: list[str] = []
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as child:
        for line in child.stdout:
            print(f"  {line}", end="", flush=True)
            lines.append(line)
    if child.returncode != 0 or not lines:
        raise SystemExit(f"bench: the {name} run failed (exit {child.returncode}); see its output above.")
    return json.loads(lines[-1])


def compare(results: dict[str, dict], command: str) -> str:
    """The side-by-side report (markdown) of one result per backend."""
    first = next(iter(results.values()))
    names = list(results)
    head = "| loop | " + " | ".join(f"{n} {results[n]['backend_version']} images/s (best repeat)" for n in names)
    rows = [head + (" | torch / oneflow |" if {"oneflow", "torch"} <= set(names) else " |"),
            "|---" * (len(names) + 1 + ({"oneflow", "torch"} <= set(names))) + "|"]
    for loop, label in LOOPS.items():
        if not all(loop in r["images_per_s"] for r in results.values()):
            continue
        cells = [f"{r['images_per_s'][loop]:,.1f} ({r['images_per_s_best'][loop]:,.1f})" for r in results.values()]
        ratio = ([f"{results['torch']['images_per_s'][loop] / results['oneflow']['images_per_s'][loop]:.2f}x"]
                 if {"oneflow", "torch"} <= set(names) else [])
        rows.append(f"| {label} | " + " | ".join(cells + ratio) + " |")
    overhead = "\n".join(f"- {n}: the project's step costs {r['overhead_pct']:+.2f}% over its bare step "
                         f"({r['overhead_pct_best']:+.2f}% on the best repeats); graph mode ({r['graph_mode']}) "
                         + (f"runs at {r['ratio_graph_over_project']:.2f}x the eager step" if r["ratio_graph_over_project"]
                            else f"could not run here: {r['graph_unavailable']}" if r.get("graph_unavailable")
                            else "was not measured (--no-graph)")
                         + f"; threads: {thread_settings(r)}"
                         for n, r in results.items())
    loads = ", ".join(f"{n} {r['machine']['load_average_at_start']:.2f} -> {r['machine']['load_average_at_end']:.2f}"
                      for n, r in results.items())
    return (f"# Backends side by side: model={first['model']}, batch {first['batch_size']}, {first['device']}\n\n"
            f"Command: `{command}`\n\nMachine: {first['machine']['cpu']}, {first['machine']['cores_available']} cores, "
            f"shared with other jobs (1-minute load average at start -> end: {loads}). Median images/s over "
            f"{first['repeats']} repeats of {first['steps']} steps (the best repeat in brackets).\n\n"
            + "\n".join(rows) + "\n\n" + overhead + "\n")


def benchmark_backends(names: Sequence[str], argv: Sequence[str], out: str) -> dict[str, dict]:
    """Run each backend's benchmark, print and (unless `out` is '') write the comparison."""
    results = {name: run_backend(name, [*argv, "--out", ""]) for name in names}
    command = shlex.join(["python", "scripts/bench.py", "--backend", ",".join(names), *argv])
    report = compare(results, command)
    print(report)
    if out:
        first = next(iter(results.values()))
        path = Path(out) / f"backends_{first['model']}_{first['device'].replace(':', '')}.md"
        atomic_write_text(path, report)
        print(f"wrote {path}")
    print(json.dumps({"backends": results, "load_average_now": os.getloadavg()[0]}))
    return results
