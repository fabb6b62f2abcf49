"""Forking: a new run that starts from another run's checkpoint with a different schedule tail or length.

`python train.py fork=<run dir> trainer.max_epochs=6` trains the parent's experiment (its own
overrides, engine.run_dir.resume.fork_argv) with the changes typed now, starting from the parent's epoch
checkpoint `fork.at_epoch`: weights, optimizer state, random generators and progress, exactly as a
resume would. The new run's schedule is the one its config describes, positioned at the fork step
(stepped there as the loop would have stepped it, plateau schedules fed the parent's metrics).

`fork.at_epoch: auto` picks the latest parent epoch up to which the new run's planned LR curve equals
the parent's: a WSD cooldown branch then forks where the stable phase ends, and trains bit for bit
what a separate run of that length would (tests/runs/test_fork.py), at the cost of its own steps only.
The run records its parent in summary.json (`forked_from`); only scheduler.*, trainer.max_epochs
and the keys a resume may change may differ from the parent's config.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np
from omegaconf import DictConfig, OmegaConf

from common.errors import ConfigError
from engine.run_dir.checkpoint import CHECKPOINT_NAME, CheckpointDir, CheckpointError, load_checkpoint
from engine.config.keys import is_under
from engine.platform.console import say
from engine.training.progress import Progress
from engine.run_dir.resume import config_differences, missing_state, resolved_config
from engine.training.run import Run, planned_lrs

FORK_MAY_CHANGE = ("scheduler", "trainer.max_epochs", "fork")  # besides HARMLESS_KEYS


def epoch_checkpoints(parent: Path, steps_per_epoch: int) -> dict[int, Path]:
    """{epoch: the parent's checkpoint written at the end of that epoch}. A name holds the epochs completed and the
    step; a mid-epoch one (trainer.checkpoint_every_n_steps, or a stop) is left out: its step is not the end of its
    epoch. (Taking the first file of each epoch number listed a stop's `epoch=0000-step=15` as an epoch 0.)"""
    found: dict[int, Path] = {}
    for path in CheckpointDir(Path(parent) / "checkpoints", read_only=True).checkpoints():
        match = CHECKPOINT_NAME.match(path.name)
        epoch, step = int(match.group(1)), int(match.group(2))
        if epoch >= 1 and step == epoch * steps_per_epoch:
            found[epoch] = path
    return found


def agreeing_steps(parent_cfg: DictConfig, cfg: DictConfig) -> int:
    """How many optimizer steps, from the first, the planned LR curves of the two configs share."""
    parent_lrs, lrs = planned_lrs(parent_cfg), planned_lrs(cfg)
    shared = min(len(parent_lrs), len(lrs))
    a, b = parent_lrs[:shared], lrs[:shared]
    # math.isclose(a, b, rel_tol=1e-12) at every step: the tolerance is relative to the larger of the two
    differ = np.flatnonzero(np.abs(a - b) > 1e-12 * np.maximum(np.abs(a), np.abs(b)))
    return int(differ[0]) if len(differ) else shared


def _check_parent_config(saved: dict, cfg: DictConfig, parent: Path) -> None:
    differences = [d for d in config_differences(saved, resolved_config(cfg)) if not is_under(d.split(":")[0], FORK_MAY_CHANGE)]
    if differences:
        raise ConfigError(f"fork={parent}: this run changes more than the schedule and the run length ({'; '.join(differences)}). "
                          f"A fork continues the parent's training with another schedule tail; only scheduler.*, "
                          f"trainer.max_epochs and the keys a resume may change can differ. Start a new run for this config.")


def _fork_epoch(cfg: DictConfig, parent: Path, available: dict[int, Path], spe: int) -> tuple[int, int]:
    """(the epoch to fork at, the steps over which this run's planned LR agrees with the parent's)."""
    at_epoch = cfg.fork.get("at_epoch", "auto")
    parent_cfg = OmegaConf.create(load_checkpoint(available[max(available)])["config"])
    agree = agreeing_steps(parent_cfg, cfg)
    before_end = [e for e in available if e < cfg.trainer.max_epochs]
    if at_epoch == "auto":
        candidates = [e for e in before_end if e * spe <= agree]
        if not candidates:
            raise ConfigError(f"fork={parent} fork.at_epoch=auto: this run's LR differs from the parent's from step {agree} "
                              f"(epoch {agree // spe + 1}) on, and the parent has no epoch checkpoint before that (it has "
                              f"{sorted(available)}); give fork.at_epoch=<epoch> to branch off there anyway.")
        return max(candidates), agree
    if at_epoch not in before_end:
        raise ConfigError(f"fork.at_epoch={at_epoch}: {parent} has no end-of-epoch checkpoint there before this run's end "
                          f"(trainer.max_epochs={cfg.trainer.max_epochs}); it has epochs {sorted(available)}. Give one of "
                          f"those, or auto. (A run keeps trainer.keep_last checkpoints: start the parent with a larger "
                          f"trainer.keep_last to fork anywhere.)")
    return at_epoch, agree


def fast_forward(schedule: Any, progress: Progress, steps_per_epoch: int) -> None:
    """Step a fresh schedule through the first `progress.epoch` epochs as the loop would have (plateaus get the history)."""
    history = progress.history
    for epoch in range(progress.epoch):
        for _ in range(steps_per_epoch):
            schedule.after_optimizer_step()
        schedule.after_epoch({key: values[epoch] for key, values in history.items() if key != "epoch" and len(values) > epoch})


def fork_progress(run: Run) -> Optional[Progress]:
    """Load the parent's checkpoint into `run` when the config forks (cfg.fork.run), and return its progress; else None."""
    cfg = run.cfg
    parent = OmegaConf.select(cfg, "fork.run")
    if not parent:
        return None
    parent = Path(parent)
    available = epoch_checkpoints(parent, run.steps_per_epoch)
    if not available:
        raise ConfigError(f"fork={parent} has no epoch checkpoint to start from (checkpoints/epoch=*.ckpt).")
    epoch, agree = _fork_epoch(cfg, parent, available, run.steps_per_epoch)
    path = available[epoch]
    state = load_checkpoint(path, run.device)
    if missing_state(state):
        raise CheckpointError(f"checkpoint {path} {missing_state(state)}.")
    _check_parent_config(state["config"], cfg, parent)
    progress = run.load_training_state(state)
    if progress.batch_in_epoch or progress.epoch != epoch:
        raise CheckpointError(f"checkpoint {path} is not the end of epoch {epoch}; fork at another epoch.")
    parent_lr = run.steps.optimizer.param_groups[0]["lr"]
    fast_forward(run.schedule, progress, run.steps_per_epoch)
    lr = run.steps.optimizer.param_groups[0]["lr"]
    progress.forked_from = {"run": str(parent), "epoch": epoch, "step": progress.global_step, "checkpoint": str(path),
                            "same_lr_until_step": agree}
    note = "" if progress.global_step <= agree else (f"; note: this run's schedule differs from the parent's from step {agree}, "
                                                     f"so its first {epoch} epochs are the parent's, not this schedule's")
    say(f"forked from {path} (epoch {epoch}, step {progress.global_step}); lr there {lr:.4g} (the parent's {parent_lr:.4g}){note}")
    return progress
