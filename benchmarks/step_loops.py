"""The loops and pieces of the training-step benchmark (scripts/bench.py): (a) the floor, (b)/(c) the project's
step, what (b) adds per step, (d) scheduler steps, and the fixed cost of a run before its first step."""
from __future__ import annotations

import engine.platform.oneflow_env  # noqa: F401  (before oneflow: loads the CUDA libraries it links against)

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from hydra.utils import instantiate
from omegaconf import DictConfig

import backend
from backend import F, flow

from engine.config.compose import CONF, compose_config
from engine.run_dir.events import open_event_writer
from engine.run_dir.files import record_run_info
from engine.training.progress import Progress, StepMeter
from engine.training.run import build_run, for_backend, validated
from engine.training.seeding import seed_epoch
from engine.training.steps import train_step
from input_pipeline import DatasetArrays
from input_pipeline.cifar100 import load_cifar100
from input_pipeline.synthetic import make_synthetic
from schedulers import build_lr_schedule

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
        wait_for_device()  # OneFlow (and CUDA) queue work (weight init, copies): count it in the phase that queued it
        self.seconds[self.name] = time.perf_counter() - self.start


def wait_for_device() -> None:
    """Wait until every queued OneFlow (or CUDA) instruction has run. Reading a loss is not enough: the last
    step's backward and update come after it and would spill into the next loop's timing. torch on a CPU runs
    each op before returning."""
    if backend.name() == "oneflow":
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
        self.optimizer = instantiate(for_backend(cfg.optimizer))(self.model.parameters())  # the run's optimizer (SGD, momentum, wd)
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
            run = build_run(validated(cfg))
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
    """Interpreter start + every import a run of train.py makes (its framework, Hydra, tensorboardX, ...), in a fresh process."""
    imports = (f"import train, backend; backend.select({backend.name()!r}); "
               "import oneflow, engine.run_dir.recorder, engine.training.loop, engine.training.run")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", imports], cwd=ROOT, check=True, capture_output=True)
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

