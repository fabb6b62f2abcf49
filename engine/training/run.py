"""The one run builder: train.py, scripts/bench.py, the schedule preview and resume all build a run here.

`validated(cfg)` is the one validation entry (every field, and the planned LR of every step); `build_run` takes
only what it returns and turns it into a `Run`: device, model, optimizer, LR schedule and the train/eval
step functions, with the optimizer steps per epoch computed once (`steps_per_epoch`, which the preview uses
too, without building a model or loading data). Both run before any data is loaded and before anything is
written. Loaders are built on demand.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf

import backend
from backend import flow

from common.errors import ConfigError
from engine.platform import distributed
from engine.config.schema import ValidatedConfig, validate_config
from engine.training.seeding import restore_rng_states, rng_states, seed_everything
from engine.platform.device import resolve_device
from engine.training.progress import Progress
from engine.run_dir.checkpoint import RunState
from engine.run_dir.resume import check_same_experiment, resolved_config
from engine.training.steps import EagerSteps, GraphSteps, build_steps
from optimizers import AdamWScheduleFree, SGDScheduleFree
from input_pipeline import DatasetArrays, steps_per_epoch as count_steps
from input_pipeline.loaders import Loader, build_loaders, training_images
from schedulers import LRSchedule, build_lr_schedule
from schedulers.preview import constant_lr_warning, lr_curve, lr_plan_problem, lr_values


def drops_last_batch(cfg: DictConfig) -> bool:
    """Graph mode compiles one batch shape, so it drops the last partial batch of every epoch, like data.drop_last."""
    return bool(cfg.data.drop_last or cfg.trainer.graph)


def steps_per_epoch(cfg: DictConfig) -> int:
    """Optimizer steps per epoch of the run `cfg` describes: this rank's share of the training images
    (the validation split held out) in batches of data.batch_size, the last one dropped when it must be."""
    return count_steps(distributed.shard_size(training_images(cfg.data)), cfg.data.batch_size, drop_last=drops_last_batch(cfg))


def lr_never_changes(cfg: DictConfig) -> Optional[str]:
    """A warning when the run's schedule keeps the LR constant over the whole run (schedulers.preview), else None."""
    return constant_lr_warning(cfg, steps_per_epoch(cfg))


SCHEDULE_FREE = (SGDScheduleFree, AdamWScheduleFree)


def schedule_free_decays(cfg: DictConfig) -> Optional[str]:
    """A warning when a Schedule-Free optimizer (optimizers.schedule_free) is given a schedule that decays the LR."""
    target = str(OmegaConf.select(cfg, "optimizer._target_", default=""))
    try:
        optimizer_class = get_class(target)
    except Exception:  # noqa: BLE001  (a target that does not import: building the optimizer says why)
        return None
    if not issubclass(optimizer_class, SCHEDULE_FREE):
        return None
    lrs = planned_lrs(cfg)
    peak = int(np.argmax(lrs))  # the first step at the highest LR
    if lrs[peak:].min() >= lrs[peak] * (1 - 1e-9):  # constant after its warmup: what Schedule-Free is meant for
        return None
    low = peak + int(np.argmin(lrs[peak:]))
    return (f"optimizer {target.rsplit('.', 1)[-1]} is Schedule-Free, but scheduler {cfg.scheduler.get('name')!r} decays "
            f"its LR from {lrs[peak]:g} (step {peak}) to {lrs[low]:g} (step {low}). Schedule-Free replaces the decay: "
            f"its evaluated weights are an average of the iterates, meant to run at a constant LR after a warmup "
            f"(Defazio et al. 2024), so a decay on top of it is not the method the paper measures. Use scheduler=constant, "
            f"or a warmup into a constant LR (docs/schedules.md).")


def schedule_warnings(cfg: DictConfig) -> list[str]:
    """What train.py warns about at the start: a schedule that never changes the LR, Schedule-Free with a decay."""
    return [w for w in (lr_never_changes(cfg), schedule_free_decays(cfg)) if w]


def planned_lr_curve(cfg: DictConfig, val_curve: Optional[Sequence[float]] = None) -> list[tuple[int, int, float]]:
    """(step, epoch, lr) of every optimizer step the run `cfg` describes would take: the preview."""
    return lr_curve(cfg, steps_per_epoch(cfg), val_curve=val_curve)


def planned_lrs(cfg: DictConfig, val_curve: Optional[Sequence[float]] = None) -> np.ndarray:
    """The LR of every optimizer step the run `cfg` describes would take (float64): the preview's values alone."""
    return lr_values(cfg, steps_per_epoch(cfg), val_curve=val_curve)


def validated(cfg: DictConfig, ranks: Optional[int] = None) -> ValidatedConfig:
    """The one validation entry of train.py and the scripts: every field (engine.config.schema) and the planned LR of
    every step (finite, >= 0), before anything is built or written. `ranks`: by default this launch's processes."""
    ranks = distributed.world_size() if ranks is None else ranks
    validate_config(cfg, ranks=ranks)
    problem = lr_plan_problem(cfg, steps_per_epoch(cfg))
    if problem:
        raise ConfigError(problem)
    return ValidatedConfig(cfg, ranks)


@dataclass
class Run:
    """Everything a run trains with; `state()`/`restore()` are what a checkpoint holds."""

    cfg: DictConfig
    device: str
    model: flow.nn.Module
    schedule: LRSchedule
    steps: EagerSteps | GraphSteps
    steps_per_epoch: int

    def loaders(self, dataset: Optional[DatasetArrays] = None) -> tuple[Loader, dict[str, Loader]]:
        """(training loader, {metric prefix: evaluation loader}) of `dataset`, by default data.dataset loaded now."""
        data_cfg = self.cfg.data
        dataset = dataset if dataset is not None else instantiate(data_cfg.dataset)
        if len(dataset.train_labels) != data_cfg.train_size:
            raise ConfigError(f"data.train_size={data_cfg.train_size} but the dataset holds {len(dataset.train_labels)} "
                              f"training images; set data.train_size={len(dataset.train_labels)}.")
        return build_loaders(data_cfg, dataset, self.device, self.cfg.seed, drop_last=drops_last_batch(self.cfg),
                             shard=distributed.shard_train)  # this rank's part of the training set

    def train_mode(self) -> None:
        """Before training steps: the model in train mode, and a schedule-free optimizer's parameters at y."""
        self.model.train()
        if switches_weights(self.steps.optimizer):
            self.steps.optimizer.train()

    def eval_mode(self) -> None:
        """Before evaluation and the end-of-epoch checkpoint: eval mode, a schedule-free optimizer's parameters at x."""
        self.model.eval()
        if switches_weights(self.steps.optimizer):
            self.steps.optimizer.eval()

    def state(self, progress: Progress) -> dict:
        """Everything a checkpoint holds to continue the run exactly."""
        return RunState(config=resolved_config(self.cfg), progress=progress.state_dict(), model=self.model.state_dict(),
                        steps=self.steps.state_dict(), schedule=self.schedule.state_dict(), rng=rng_states())._asdict()

    def restore(self, state: dict, source: Any) -> Progress:
        """Load a checkpoint's `state` (read from `source`) into the run; refuses one of another experiment."""
        check_same_experiment(state["config"], self.cfg, source)
        check_same_backend(state["config"], source)
        progress = self.load_training_state(state)  # optimizer first: it holds the LR the schedule continues from
        self.schedule.load_state_dict(state["schedule"])
        return progress

    def load_training_state(self, state: dict) -> Progress:
        """A checkpoint's weights, optimizer state and random generators (not its schedule: a fork builds its own)."""
        check_same_backend(state["config"], "a checkpoint")
        self.model.load_state_dict(state["model"])
        self.steps.load_state_dict(state["steps"])
        restore_rng_states(state["rng"])
        return Progress.from_state_dict(state["progress"])


def switches_weights(optimizer: Any) -> bool:
    """Whether the optimizer keeps training and evaluation weights apart (optimizers.schedule_free: train()/eval())."""
    return callable(getattr(optimizer, "train", None)) and callable(getattr(optimizer, "eval", None))


def check_same_backend(saved_config: dict, source: Any) -> None:
    """A checkpoint holds one framework's optimizer state and RNG streams: the other backend refuses it."""
    saved = saved_config.get("backend", backend.DEFAULT)  # checkpoints from before the torch backend: OneFlow's
    if saved != backend.name():
        raise ConfigError(f"cannot load {source}: it was written by backend={saved}, and this run uses "
                          f"backend={backend.name()}. The two frameworks' optimizer states and random streams differ, "
                          f"so the run would not continue exactly. Resume or fork it with backend={saved}, or start a "
                          f"new run with backend={backend.name()}.")


def for_backend(optimizer_cfg: DictConfig) -> DictConfig:
    """conf/optimizer names OneFlow's classes; the selected backend's own class with the same arguments."""
    target = backend.impl().optimizer_target(str(optimizer_cfg._target_))
    return optimizer_cfg if target == optimizer_cfg._target_ else OmegaConf.merge(optimizer_cfg, {"_target_": target})


def refuse_backend_only_targets(cfg: DictConfig) -> None:
    """A process that already runs the other framework, or a model or input path that exists on the other backend
    only: one paragraph naming the way out."""
    asked = cfg.get("backend", backend.DEFAULT)
    if asked != backend.name():
        raise ConfigError(f"backend={asked} was asked for, but this process already runs backend={backend.name()} (a "
                          f"process uses one framework, chosen before the first model is built; this command imports "
                          f"it before reading the config). Run it with train.py, which chooses the framework from the "
                          f"config, or with backend={backend.name()}.")
    refused = backend.impl().REFUSED_TARGETS
    target = str(cfg.model.get("_target_", ""))
    if target in refused:
        raise ConfigError(f"model={target} cannot run on backend={backend.name()}: {refused[target]}. Use "
                          f"backend=oneflow for it, or one of the project's CIFAR models (model=resnet18, model=tiny, "
                          f"...), which build on both backends.")
    if backend.name() != "oneflow" and cfg.data.get("loader") == "dataloader":
        raise ConfigError(f"data.loader=dataloader cannot run on backend={backend.name()}: it is flowvision's transforms "
                          f"in OneFlow's DataLoader. Use data.loader=device (the default; the same batches on both "
                          f"backends), or backend=oneflow.")


def build_run(config: ValidatedConfig) -> Run:
    """The run a `validated(cfg)` describes; raises a UserError for what only building can find (the graph rules)."""
    if not isinstance(config, ValidatedConfig):  # every field's type and range is checked once, by `validated`
        raise TypeError(f"build_run takes validated(cfg) (engine.training.run.validated), not {type(config).__name__}")
    cfg = config.cfg
    refuse_backend_only_targets(cfg)
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)
    model = distributed.wrap_model(instantiate(cfg.model).to(device))  # DDP when launched on several ranks
    optimizer = instantiate(for_backend(cfg.optimizer))(model.parameters())
    if cfg.trainer.graph and switches_weights(optimizer) and backend.name() == "oneflow":
        raise ConfigError(f"optimizer={cfg.optimizer._target_} is schedule-free: it switches the model between training "
                          f"and evaluation weights, which nn.Graph's compiled optimizer cannot do. Use trainer.graph=false.")
    spe = steps_per_epoch(cfg)
    graph = cfg.trainer.graph and backend.name() == "oneflow"  # nn.Graph's schedule rules; torch.compile has none
    schedule = build_lr_schedule(cfg.scheduler, optimizer, spe, max_epochs=cfg.trainer.max_epochs, graph=graph)
    steps = build_steps(cfg.trainer, model, optimizer, schedule, device, cfg.data.eval_batch_size)
    return Run(cfg, device, model, schedule, steps, spe)
