"""The training-step benchmark of scripts/bench.py, end to end: (a) the floor, (b) the project's step, (c) its graph,
timed in turns; the step's parts, (d) scheduler steps, the fixed cost and the first evaluation; the report."""
from __future__ import annotations

import engine.platform.oneflow_env  # noqa: F401  (before oneflow: loads the CUDA libraries it links against)

import json
import os
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from omegaconf import DictConfig

import backend

from benchmarks.step_loops import (ROOT, Clock, FloorLoop, ProjectLoop, bench_scheduler_steps, import_seconds,
                                   load_datasets, step_parts, synced)
from benchmarks.step_report import markdown, print_report
from common.files import atomic_write_text
from engine.config.compose import compose_config
from engine.platform.device import resolve_device
from engine.platform.errors import UserError, user_errors
from engine.platform.machine import machine
from engine.training.run import steps_per_epoch
from input_pipeline import DatasetArrays

OUT = ROOT / "results" / "bench"


@dataclass
class StepBench:
    """What to measure (scripts/bench.py's flags, by the same names)."""

    model: str = "tiny"
    batch_size: int = 128
    device: str = "auto"
    scheduler: str = "cosine"
    steps: int = 20
    warmup: int = 2
    repeats: int = 3
    images: int = 50000
    test_images: int = 10000
    override: list = field(default_factory=list)
    no_graph: bool = False
    no_cifar_archive: bool = False
    out: str = str(OUT)


def benchmark(args: StepBench) -> dict:
    """Measure, print the report, write <model>_<device>.md to args.out (unless ''); the last line printed is the JSON."""
    info = machine()
    with user_errors():
        device = args.device = resolve_device(args.device)  # a GPU this OneFlow cannot run is refused here
    overrides = [f"backend={backend.name()}", f"model={args.model}", f"device={device}", f"scheduler={args.scheduler}",
                 f"data.batch_size={args.batch_size}", f"data.train_size={args.images}", "trainer.progress=false", *args.override]
    print(f"machine: {info['cpu']}, {info['cores_available']} cores (load average {info['load_average_at_start']:.2f}), "
          f"backend {backend.name()} {backend.version()}; model={args.model} batch {args.batch_size} on {device}; "
          f"{args.steps} steps x {args.repeats} repeats after {args.warmup} warm-up steps", flush=True)

    clock = Clock()
    with clock("config (hydra compose)"):  # first: a bad setting fails before anything is measured
        cfg = compose_config(*overrides)
    fixed: dict[str, Any] = {"interpreter + imports (fresh process)": import_seconds(),
                             "config (hydra compose)": clock.seconds["config (hydra compose)"]}
    dataset, data_seconds = load_datasets(args.images, args.test_images, not args.no_cifar_archive)
    fixed.update(data_seconds)
    step_s, seconds, parts, first_step, evaluation, graph_error = time_loops(args, cfg, overrides, dataset, clock)

    scheduler_us = bench_scheduler_steps(steps_per_epoch(cfg))
    result = summarise(args, info, cfg, step_s, seconds, parts, first_step, evaluation, fixed, clock.seconds, scheduler_us)
    result["graph_unavailable"] = graph_error  # why (c) is missing when the compiler failed (None: measured or --no-graph)
    print_report(result)
    if args.out:
        suffix = "" if backend.name() == "oneflow" else f"_{backend.name()}"  # OneFlow's reports keep their names
        path = Path(args.out) / f"{args.model}_{device.replace(':', '')}{suffix}.md"
        atomic_write_text(path, markdown(result))
        print(f"wrote {path}")
    print(json.dumps(result))
    return result


def time_loops(args: StepBench, cfg: DictConfig, overrides: list, dataset: DatasetArrays, clock: Clock) -> tuple:
    """(median s/step per loop, every repeat's s/step, (b)'s parts, first steps, evaluation batches)."""
    device = args.device
    with tempfile.TemporaryDirectory() as logs:
        project = ProjectLoop(cfg, device, dataset, Path(logs) / "eager", clock)
        first_step = {"eager": project.first_step()}
        floor = FloorLoop(cfg, device, project.first)
        loops: dict[str, Any] = {"floor": floor, "project": project}
        graph_error = None
        if not args.no_graph:
            try:  # (c) compiles on its first step: nn.Graph, or torch.compile, which needs a working C++ compiler
                graph = ProjectLoop(compose_config(*overrides, "trainer.graph=true"), device, dataset, Path(logs) / "graph", clock)
                first_step["graph"] = graph.first_step()
                loops["graph"] = graph
            except UserError:
                raise
            except Exception as error:  # noqa: BLE001  (the compiler failed: (a) and (b) still measure, the report says why)
                graph_error = f"{type(error).__name__}: {' '.join(str(error).split())[:300]}"
                print(f"graph mode ({backend.impl().GRAPH}) could not run here, so (c) is not measured: {graph_error}", flush=True)
        print("built; warming up", flush=True)
        for loop in loops.values():
            loop.block(args.warmup)
        seconds: dict[str, list[float]] = {name: [] for name in loops}
        for repeat in range(args.repeats):  # in turns, so load changes hit every loop alike
            for name, loop in loops.items():
                seconds[name].append(synced(lambda: loop.block(args.steps)) / args.steps)
            print(f"repeat {repeat + 1}/{args.repeats}: " + "  ".join(f"{n} {s[-1] * 1e3:,.1f} ms/step" for n, s in seconds.items()),
                  flush=True)
        step_s = {name: statistics.median(s) for name, s in seconds.items()}
        parts = step_parts(project, args.batch_size, cfg.data.num_classes, device, calls=min(200, 20 * args.steps))
        evaluation = {mode: loops[name].eval_batches() for mode, name in (("eager", "project"), ("graph", "graph")) if name in loops}
        for loop in loops.values():
            if isinstance(loop, ProjectLoop):
                loop.writer.close()
    return step_s, seconds, parts, first_step, evaluation, graph_error


def framework_threads() -> Optional[int]:
    """The intra-op threads of the selected framework: torch says; OneFlow 0.9 has no getter (its pool follows
    ONEFLOW_NUM_THREADS / OMP_NUM_THREADS, or takes every core when they are unset)."""
    getter = getattr(backend.flow, "get_num_threads", None)
    return getter() if callable(getter) else None


def summarise(args: StepBench, info: dict, cfg: DictConfig, step_s: dict, seconds: dict, parts: dict,
              first_step: dict, evaluation: dict, fixed: dict, phases: dict, scheduler_us: dict) -> dict:
    b = args.batch_size
    ips = {name: b / s for name, s in step_s.items()}
    floor_s, project_s = step_s["floor"], step_s["project"]
    result: dict[str, Any] = {
        "backend": backend.name(), "backend_version": backend.version(),
        "model": args.model, "device": args.device, "batch_size": b, "scheduler": args.scheduler, "overrides": args.override,
        "steps": args.steps, "warmup": args.warmup, "repeats": args.repeats,
        "images_per_s": {k: round(v, 2) for k, v in ips.items()},
        "step_ms": {k: round(v * 1e3, 3) for k, v in step_s.items()},
        "step_ms_repeats": {k: [round(x * 1e3, 3) for x in v] for k, v in seconds.items()},
        # The fastest repeat: the least disturbed by other processes on a shared machine.
        "images_per_s_best": {k: round(b / min(v), 2) for k, v in seconds.items()},
        "overhead_pct_best": round(100 * (min(seconds["project"]) / min(seconds["floor"]) - 1), 2),
        "ratio_project_over_floor": round(ips["project"] / ips["floor"], 4),
        "overhead_pct": round(100 * (project_s / floor_s - 1), 2),
        "ratio_graph_over_project": round(ips["graph"] / ips["project"], 4) if "graph" in ips else None,
        "graph_mode": backend.impl().GRAPH,
        "framework_threads": framework_threads(),
        "step_parts_us": {k: round(v * 1e6, 2) for k, v in parts.items()},
        "scheduler_step_us": {k: round(v, 2) for k, v in scheduler_us.items()},
    }
    first = {mode: round(s, 3) for mode, s in first_step.items()}
    compile_s = round(first_step["graph"] - step_s["graph"], 3) if "graph" in first_step else None
    evals = {mode: {"first_batch_s": round(f, 3), "batch_s": round(later, 3), "batches": n,
                    "first_evaluation_s": round(f + (n - 1) * later, 2)} for mode, (f, later, n) in evaluation.items()}
    for mode in evals:
        if mode == "graph":
            evals[mode]["eval_graph_compile_s"] = round(evaluation[mode][0] - evaluation[mode][1], 3)
    before_first_step = {}
    for mode in first:
        run_phases = {k.split(": ", 1)[1]: v for k, v in phases.items() if k.startswith(f"{mode}: ")}
        data_s = fixed["cifar100 load (extracted)"] if fixed["cifar100 load (extracted)"] is not None else fixed["synthetic generate"]
        before_first_step[mode] = round(fixed["interpreter + imports (fresh process)"] + fixed["config (hydra compose)"] + data_s
                                        + sum(run_phases.values()) + (compile_s if mode == "graph" else 0.0), 2)
    result["fixed_cost_s"] = {
        **{k: (round(v, 3) if v is not None else None) for k, v in fixed.items()},
        **{k: round(v, 3) for k, v in phases.items() if k != "config (hydra compose)"},
        "first_training_step_s": first, "train_graph_compile_s": compile_s,
        "before_first_training_step_s": before_first_step,
    }
    result["evaluation"] = evals
    result["machine"] = {**info, "load_average_at_end": round(os.getloadavg()[0], 2)}
    result["images"] = args.images
    return result
