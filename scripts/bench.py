"""Where does a training step's time go? Measures, side by side in one process:

  (a) floor:   a bare OneFlow forward + backward + SGD step on one fixed, pre-made batch
  (b) project: the project's real training step (engine.training.steps.train_step: input pipeline, the step,
               scheduler step, on-device metric sums, LR to TensorBoard, the loss check every N steps)
  (c) graph:   the same step compiled with nn.Graph (trainer.graph=true)
  (d) every conf/scheduler/*.yaml: the cost of one scheduler step
  and the fixed cost of a run before its first training step (imports, config, dataset, model, loaders,
  graph compile) plus its first evaluation.

Usage: python scripts/bench.py [--model tiny] [--batch-size 128] [--device auto] [--steps 20] [--repeats 3]
The three loops are timed in turns (a, b, c, a, b, c, ...) so a change in machine load hits all three;
warm-up steps (and the graph's compile) are excluded, and each figure is the median over the repeats.
Prints images/s and the ratios (b)/(a), (c)/(b); writes results/bench/<model>_<device>.md; the last
line of output is one JSON object with every figure.
"""
from __future__ import annotations

import engine.platform.oneflow_env  # noqa: F401  (before oneflow: loads the CUDA libraries it links against)

import argparse
import sys
from pathlib import Path
import json
import os
import statistics
import subprocess
import tempfile
import time
from typing import Any, Callable, Iterator, Optional

import oneflow as flow
import oneflow.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig

from engine.training.seeding import seed_epoch
from engine.config.compose import CONF, compose_config
from engine.platform.device import resolve_device
from engine.platform.errors import user_errors
from engine.training.progress import Progress, StepMeter
from common.files import atomic_write_text
from engine.run_dir.files import open_event_writer, record_run_info
from engine.training.run import build_run, steps_per_epoch
from engine.training.steps import train_step
from input_pipeline import DatasetArrays
from input_pipeline.cifar100 import load_cifar100
from input_pipeline.synthetic import make_synthetic
from schedulers import build_lr_schedule
from engine.platform.machine import machine

ROOT = Path(__file__).resolve().parents[1]


class Clock:
    """Named wall-clock phases: `with clock("model build"): ...`."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str) -> "Clock":
        self.name = name
        return self

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: Any) -> None:
        wait_for_device()  # OneFlow queues work (weight init, copies): count it in the phase that queued it
        self.seconds[self.name] = time.perf_counter() - self.start


def wait_for_device() -> None:
    """Wait until every queued OneFlow instruction has run. Reading a loss is not enough: the last
    step's backward and update come after it and would spill into the next loop's timing."""
    flow._oneflow_internal.eager.Sync()
    if flow.cuda.is_available():
        flow.cuda.synchronize()


def synced(fn: Callable[[], Any]) -> float:
    """Seconds `fn` takes, its queued device work included (OneFlow runs ops asynchronously)."""
    wait_for_device()
    start = time.perf_counter()
    fn()
    wait_for_device()
    return time.perf_counter() - start


# ---------------------------------------------------------------- (a) the floor

class FloorLoop:
    """(a) forward + backward + SGD step on one fixed batch: no input pipeline, scheduler or logging."""

    def __init__(self, cfg: DictConfig, device: str, batch: tuple[flow.Tensor, flow.Tensor]) -> None:
        flow.manual_seed(cfg.seed)
        self.model = instantiate(cfg.model).to(device)
        self.optimizer = instantiate(cfg.optimizer)(self.model.parameters())  # the run's optimizer (SGD, momentum, wd)
        # A real augmented, normalised batch (copied once): the same values the project's step sees.
        self.images, self.labels = (t.clone() for t in batch)

    def block(self, steps: int) -> None:
        for _ in range(steps):
            loss = F.cross_entropy(self.model(self.images), self.labels)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()


# ---------------------------------------------------------------- (b), (c) the project's step

class ProjectLoop:
    """(b)/(c) the objects train.py builds, built by the same functions, stepped by engine.training.steps.train_step."""

    def __init__(self, cfg: DictConfig, device: str, dataset: DatasetArrays, logdir: Path, clock: Clock) -> None:
        mode = "graph" if cfg.trainer.graph else "eager"
        with clock(f"{mode}: build_run (model, optimizer, schedule, steps)"):  # what train.py builds, built the same way
            run = build_run(cfg)
            self.model, self.schedule, self.steps = run.model, run.schedule, run.steps
        with clock(f"{mode}: loaders"):
            self.train_loader, eval_loaders = run.loaders(dataset)
            self.eval_loader = eval_loaders["val"]
        with clock(f"{mode}: run files + event writer"):
            logdir.mkdir(parents=True, exist_ok=True)
            record_run_info(logdir, device, resumed_from_step=None)
            self.writer = open_event_writer(logdir, 0, {})
        self.progress = Progress()
        self.meter = StepMeter(self.writer, self.progress)
        self.cfg, self.seed = cfg, cfg.seed
        self.model.train()
        self.batches = self._batches()
        with clock(f"{mode}: first batch"):
            self.first = next(self.batches)

    def _batches(self) -> Iterator[tuple[flow.Tensor, flow.Tensor]]:
        """Epoch after epoch, as the loop visits them (set_epoch, reseed, iterate)."""
        epoch = 0
        while True:
            self.train_loader.set_epoch(epoch)
            seed_epoch(self.seed, epoch)
            yield from self.train_loader
            epoch += 1

    def first_step(self) -> float:
        """The run's first training step (in graph mode: the compile) on the batch fetched at build time."""
        return synced(lambda: (train_step(self.steps, self.schedule, self.meter, *self.first), self.meter.check(1)))

    def block(self, steps: int) -> None:
        log_every = self.cfg.trainer.log_every_n_steps
        for _ in range(steps):
            images, labels = next(self.batches)
            lrs = train_step(self.steps, self.schedule, self.meter, images, labels)
            self.progress.advance(len(labels), lrs[0])
            if self.progress.global_step % log_every == 0:  # the loop's only host sync inside an epoch
                _, last_loss = self.meter.check(1)
                self.writer.add_scalar("train/loss", last_loss, self.progress.global_step - 1)

    def eval_batches(self) -> tuple[float, float, int]:
        """(first eval batch s, a later one s, batches in the test set): evaluation is timed per batch,
        and a full first evaluation estimated from them (a CPU ResNet-18 pass over 10,000 images takes minutes)."""
        self.model.eval()
        images = next(iter(self.eval_loader))[0]
        first = synced(lambda: self.steps.predict(images))
        later = synced(lambda: self.steps.predict(images))
        self.model.train()
        return first, later, len(self.eval_loader)


# ---------------------------------------------------------------- where (b)'s time goes besides (a)

def per_call_seconds(fn: Callable[[], Any], calls: int, sync: Callable[[], Any] = lambda: None) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    sync()
    return (time.perf_counter() - start) / calls


def step_parts(run: ProjectLoop, batch_size: int, num_classes: int, device: str, calls: int) -> dict[str, float]:
    """Seconds per step of each piece (b) adds to the model's own step, measured alone."""
    loader = iter(run.train_loader)
    next(loader)  # the epoch plan, once per epoch: amortised below
    batches = min(calls, len(run.train_loader) - 1)
    input_s = per_call_seconds(lambda: next(loader), batches)
    epoch_plan_s = synced(lambda: next(iter(run.train_loader))) - input_s
    with tempfile.TemporaryDirectory() as tmp:
        writer = open_event_writer(Path(tmp), 0, {})
        meter = StepMeter(writer, Progress())
        loss, logits = flow.tensor(2.3, device=device), flow.randn(batch_size, num_classes, device=device)
        labels = flow.randint(0, num_classes, (batch_size,), device=device)
        record_s = per_call_seconds(lambda: meter.record([0.1], loss, logits, labels), calls, lambda: meter.check(1))
        add_scalar_s = per_call_seconds(lambda: writer.add_scalar("lr", 0.1, 0), calls)
        lrs_s = per_call_seconds(lambda: [g["lr"] for g in run.steps.optimizer.param_groups], calls)
        for _ in range(run.cfg.trainer.log_every_n_steps):
            meter.record([0.1], loss, logits, labels)
        check_s = synced(lambda: meter.check(1))
        writer.close()
    # Before StepMeter, the loop summed loss and correct predictions on the device at every step (three
    # small device ops per step); kept here as the "before" figure of that change.
    loss_sum, correct = flow.zeros(1, device=device), flow.zeros(1, dtype=flow.int64, device=device)

    def old_sums() -> None:
        nonlocal loss_sum, correct
        loss_sum = loss_sum + loss.float() * batch_size
        correct = correct + (logits.argmax(1) == labels).sum()

    old_sums_s = per_call_seconds(old_sums, calls, wait_for_device)
    plan_s = epoch_plan_s / len(run.train_loader)
    return {"input_pipeline": input_s + plan_s, "epoch_plan_amortised": plan_s, "read_lrs": lrs_s,
            "meter_record": record_s, "of_which_add_scalar_lr": add_scalar_s,
            "loss_check_amortised": check_s / run.cfg.trainer.log_every_n_steps, "removed_per_step_device_sums": old_sums_s}


# ---------------------------------------------------------------- (d) scheduler steps

def bench_scheduler_steps(steps_per_epoch_: int, calls: int = 2000) -> dict[str, float]:
    """(d) microseconds per scheduler step for every schedule config (per-epoch hooks for plateau)."""
    results = {}
    for path in sorted((CONF / "scheduler").glob("*.yaml")):
        cfg = compose_config(f"scheduler={path.stem}")
        optimizer = flow.optim.SGD([flow.nn.Parameter(flow.zeros(1))], lr=cfg.optimizer.lr)
        schedule = build_lr_schedule(cfg.scheduler, optimizer, steps_per_epoch_, max_epochs=cfg.trainer.max_epochs)
        if schedule.interval == "step":  # what runs after every optimizer step (warmup_plateau: its warmup)
            step = schedule.after_optimizer_step
        else:  # epoch-stepped and plateau schedules: their per-epoch hook (plateau: on a validation metric)
            metrics = {"val/loss": 1.0, "val/acc1": 50.0, "val/acc5": 80.0, "train/loss_epoch": 1.0, "train/acc1": 50.0}
            step = lambda: schedule.after_epoch(metrics)  # noqa: E731
        n = min(calls, max(1, cfg.trainer.max_epochs * (steps_per_epoch_ if schedule.interval == "step" else 1) - 2))
        start = time.perf_counter()
        for _ in range(n):
            step()
        results[path.stem] = (time.perf_counter() - start) / n * 1e6
    return results


# ---------------------------------------------------------------- fixed cost

def import_seconds() -> float:
    """Interpreter start + every import train.py makes (OneFlow, Hydra, tensorboardX, ...), in a fresh process."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import train"], cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def load_datasets(train_size: int, test_size: int, cifar_archive: bool) -> tuple[DatasetArrays, dict[str, Optional[float]]]:
    """(the synthetic stand-in for CIFAR-100 the loops train on, seconds of each way of loading data).

    Timed: generating that synthetic set; the CIFAR-100 reader on a generated archive of the real size
    (a run's first load: md5 + validate + extract; every later run: the extracted folder)."""
    seconds: dict[str, Optional[float]] = {"synthetic generate": None, "cifar100 first load (md5, validate, extract)": None,
                                           "cifar100 load (extracted)": None}
    start = time.perf_counter()
    dataset = make_synthetic(num_classes=100, train_size=train_size, test_size=test_size)
    seconds["synthetic generate"] = time.perf_counter() - start
    if cifar_archive:
        from input_pipeline.cifar_format import write_archive  # the test suite's writer of the real format

        with tempfile.TemporaryDirectory() as tmp:
            archive = Path(tmp) / "cifar-100-python.tar.gz"
            md5 = write_archive(archive, train_size=train_size, test_size=test_size)
            for key in ("cifar100 first load (md5, validate, extract)", "cifar100 load (extracted)"):
                start = time.perf_counter()
                load_cifar100(tmp, url=archive.as_uri(), md5=md5, download=False)
                seconds[key] = time.perf_counter() - start
    return dataset, seconds


# ---------------------------------------------------------------- main

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
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
    parser.add_argument("--out", default=str(ROOT / "results" / "bench"), help="folder for <model>_<device>.md ('' to skip)")
    args = parser.parse_args()
    for name in ("batch_size", "steps", "repeats", "images", "test_images"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive whole number, not {getattr(args, name)}")
    if args.warmup < 0:
        parser.error(f"--warmup must be 0 or more, not {args.warmup}")

    info = machine()
    with user_errors():
        device = args.device = resolve_device(args.device)  # a GPU this OneFlow cannot run is refused here
    overrides = [f"model={args.model}", f"device={device}", f"scheduler={args.scheduler}", f"data.batch_size={args.batch_size}",
                 f"data.train_size={args.images}", "trainer.progress=false", *args.override]
    print(f"machine: {info['cpu']}, {info['cores_available']} cores (load average {info['load_average_at_start']:.2f}), "
          f"oneflow {info['oneflow']}; model={args.model} batch {args.batch_size} on {device}; "
          f"{args.steps} steps x {args.repeats} repeats after {args.warmup} warm-up steps", flush=True)

    clock = Clock()
    with clock("config (hydra compose)"):  # first: a bad setting fails before anything is measured
        cfg = compose_config(*overrides)
    fixed: dict[str, Any] = {"interpreter + imports (fresh process)": import_seconds(),
                             "config (hydra compose)": clock.seconds["config (hydra compose)"]}
    dataset, data_seconds = load_datasets(args.images, args.test_images, not args.no_cifar_archive)
    fixed.update(data_seconds)

    with tempfile.TemporaryDirectory() as logs:
        project = ProjectLoop(cfg, device, dataset, Path(logs) / "eager", clock)
        first_step = {"eager": project.first_step()}
        floor = FloorLoop(cfg, device, project.first)
        loops: dict[str, Any] = {"floor": floor, "project": project}
        if not args.no_graph:
            graph = ProjectLoop(compose_config(*overrides, "trainer.graph=true"), device, dataset, Path(logs) / "graph", clock)
            first_step["graph"] = graph.first_step()
            loops["graph"] = graph
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

    scheduler_us = bench_scheduler_steps(steps_per_epoch(cfg))
    result = summarise(args, info, cfg, step_s, seconds, parts, first_step, evaluation, fixed, clock.seconds, scheduler_us)
    print_report(result)
    if args.out:
        path = Path(args.out) / f"{args.model}_{device.replace(':', '')}.md"
        atomic_write_text(path, markdown(result))
        print(f"wrote {path}")
    print(json.dumps(result))


def summarise(args: argparse.Namespace, info: dict, cfg: DictConfig, step_s: dict, seconds: dict, parts: dict,
              first_step: dict, evaluation: dict, fixed: dict, phases: dict, scheduler_us: dict) -> dict:
    b = args.batch_size
    ips = {name: b / s for name, s in step_s.items()}
    floor_s, project_s = step_s["floor"], step_s["project"]
    result: dict[str, Any] = {
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


def print_report(r: dict) -> None:
    ips, ms = r["images_per_s"], r["step_ms"]
    labels = {"floor": "(a) bare loop (floor)", "project": "(b) project step, eager", "graph": "(c) project step, graph"}
    for name, label in labels.items():
        if name in ips:
            print(f"{label:<26} {ips[name]:>10,.1f} images/s   {ms[name]:>10,.1f} ms/step")
    print(f"(b)/(a) {r['ratio_project_over_floor']:.4f}  (overhead {r['overhead_pct']:+.2f}%; best repeats {r['overhead_pct_best']:+.2f}%)"
          + (f"   (c)/(b) {r['ratio_graph_over_project']:.4f}" if r["ratio_graph_over_project"] is not None else ""))
    print("(d) scheduler step (us): " + "  ".join(f"{k} {v:.1f}" for k, v in r["scheduler_step_us"].items()))
    print("step parts (us): " + "  ".join(f"{k} {v:,.1f}" for k, v in r["step_parts_us"].items()))
    print("before the first training step (s): " + "  ".join(f"{k} {v:.2f}" for k, v in r["fixed_cost_s"]["before_first_training_step_s"].items()))


PARTS = {"input_pipeline": "input pipeline: next batch (device loader, epoch plan included)",
         "epoch_plan_amortised": "of which the epoch plan, amortised over the epoch's batches",
         "read_lrs": "reading the LRs the step applies (Python floats)",
         "meter_record": "`StepMeter.record`: LR to TensorBoard, keep loss/logits/labels, count the step",
         "of_which_add_scalar_lr": "of which tensorboardX `add_scalar('lr', ...)`",
         "loss_check_amortised": "loss check (one host sync; loss and accuracy sums), amortised over `log_every_n_steps`",
         "removed_per_step_device_sums": "*removed:* the earlier loop's per-step on-device loss and accuracy sums (not in (b))"}


def markdown(r: dict) -> str:
    m, ips, ms, parts, fc = r["machine"], r["images_per_s"], r["step_ms"], r["step_parts_us"], r["fixed_cost_s"]
    loops = [("floor", "(a) bare forward + backward + SGD step, one fixed batch"),
             ("project", "(b) the project's step, eager (`engine.training.steps.train_step` + device loader + loss check)"),
             ("graph", "(c) the same, `trainer.graph=true`")]
    loop_rows = "\n".join(f"| {label} | {ips[k]:,.1f} | {ms[k]:,.1f} | {r['images_per_s_best'][k]:,.1f} | {', '.join(f'{x:,.1f}' for x in r['step_ms_repeats'][k])} |"
                          for k, label in loops if k in ips)
    floor_us = ms["floor"] * 1e3
    part_rows = "\n".join(f"| {PARTS[k]} | {v:,.1f} | {100 * v / floor_us:.3f}% |" for k, v in parts.items())
    sched_rows = "\n".join(f"| `{k}` | {v:.1f} | {'yes' if v < 20 else '**no**'} |" for k, v in r["scheduler_step_us"].items())
    fixed_rows = "\n".join(f"| {k} | {v:.3f} |" for k, v in fc.items() if isinstance(v, (int, float)))
    first = fc["first_training_step_s"]
    eval_rows = "\n".join(f"| {mode} | {e['first_batch_s']:.3f} | {e['batch_s']:.3f} | {e['batches']} | {e['first_evaluation_s']:.1f} |"
                          for mode, e in r["evaluation"].items())
    graph_line = (f"(c)/(b) = **{r['ratio_graph_over_project']:.3f}** (graph images/s over eager); train graph compile "
                  f"{fc['train_graph_compile_s']:.2f} s (first graph step {first['graph']:.2f} s minus a steady one)."
                  if r["ratio_graph_over_project"] is not None else "Graph mode not measured (--no-graph).")
    return f"""# Training-step benchmark: model={r['model']}, batch {r['batch_size']}, {r['device']} (`scripts/bench.py`)

Machine: {m['cpu']}, {m['cores_available']} cores available, load average {m['load_average_at_start']:.2f} at start and
{m['load_average_at_end']:.2f} at end (other processes shared these cores), Python {m['python']}, OneFlow {m['oneflow']},
NumPy {m['numpy']}, CUDA: {m['cuda']}; {m['date_utc']} UTC. Data: synthetic stand-in for CIFAR-100
({r['images']:,} training images, 100 classes) through the real device loader and `data=cifar100` settings;
schedule `{r['scheduler']}`{f"; overrides {' '.join(r['overrides'])}" if r.get('overrides') else ''}. Each loop: {r['warmup']} warm-up steps (not timed), then {r['repeats']} repeats of
{r['steps']} steps, loops timed in turns, each timed block ending with a full device sync (the
last step's backward and update included); figures are medians over the repeats.

## Images per second

| loop | images/s (median) | ms/step (median) | images/s (best repeat) | ms/step per repeat |
|---|---|---|---|---|
{loop_rows}

(b)/(a) = **{r['ratio_project_over_floor']:.4f}**: the project's step costs **{r['overhead_pct']:+.2f}%** over the floor
(medians; **{r['overhead_pct_best']:+.2f}%** between the best repeats, the least disturbed by other processes).
{graph_line}

## Where (b)'s time goes besides the model (each piece timed alone, per step)

| piece | µs per step | share of the floor step |
|---|---|---|
{part_rows}

## (d) One scheduler step (target < 20 µs)

| schedule | µs | < 20 µs |
|---|---|---|
{sched_rows}

## Fixed cost of a run (seconds)

| phase | s |
|---|---|
{fixed_rows}
| first training step, eager | {first['eager']:.3f} |
{f"| first training step, graph (compile + step) | {first['graph']:.3f} |" if 'graph' in first else ''}

Before the first training step (imports + config + dataset from the extracted CIFAR-100 folder, or the
synthetic set when the archive was skipped + model, schedule, steps, loaders, run files, first batch;
graph: + train graph compile): {', '.join(f"**{k} {v:.2f} s**" for k, v in fc['before_first_training_step_s'].items())}.

## First evaluation (test set, eval batch size from `data=cifar100`)

| mode | first batch (s) | later batch (s) | batches | first evaluation ≈ first + (batches − 1) × later (s) |
|---|---|---|---|---|
{eval_rows}
"""


if __name__ == "__main__":
    with user_errors():  # a schedule or data setting that cannot work: one paragraph, exit 2
        main()
