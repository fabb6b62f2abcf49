"""LR curves without training: the schedule train.py would build, stepped as train.py steps it.

`lr_curve` builds the optimizer from the config around one dummy parameter (no data, no model),
builds the schedule through `build_lr_schedule` exactly as train.py does, and records the LR of
every optimizer step (read before the step, like train.py's `lr` scalar). Plateau schedules are fed
a validation curve after every epoch: a built-in example, or one a run logged (engine.training.schedule_preview
reads it from the run's TensorBoard events and passes it in).

Speed: stepping a OneFlow scheduler costs a few microseconds, so a 200-epoch x 391-step run takes
~0.3 s. Schedulers whose LR is a pure function of the step (CLOSED_FORM: the specs' `closed_form`, and
SequentialLR/WarmupLR compositions of them) are evaluated directly: LRScheduler.step sets the LR of step s
to get_lr(base_lr, s), which is what the loop would record. Those with a form in schedulers/array_forms.py are
evaluated over every step at once (bit for bit get_lr's values), the others one get_lr call per step.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import oneflow as flow
from hydra.utils import instantiate
from oneflow.nn.optimizer.lr_scheduler import LRScheduler
from omegaconf import DictConfig

from common.files import atomic_save_figure
from schedulers import array_forms
from schedulers.factory import LRSchedule, ScheduleConfigError, build_lr_schedule
from schedulers.spec import SPECS

# Exact classes (not subclasses, which may keep state) whose spec says get_lr(base_lr, step) reads only the step and
# arguments fixed at construction (and callables whose value does: a LambdaLR of one is evaluated too); other LambdaLRs,
# plateau schedules and compositions other than SEQUENCES of them are stepped.
CLOSED_FORM = frozenset(spec.cls for spec in SPECS if spec.closed_form)
# Exact classes whose step() picks the child of step s by milestones (the specs' `sequence`: OneFlow's SequentialLR and
# WarmupLR, which inherits its step): a pure function of the step when every child is CLOSED_FORM.
SEQUENCES = frozenset(spec.cls for spec in SPECS if spec.sequence)
# Exact classes whose step() sets base_lr * lr_lambda(step) (the specs' `lambdas`: OneFlow's LambdaLR): a pure function
# of the step when the callable's class is CLOSED_FORM (Noam).
LAMBDAS = frozenset(spec.cls for spec in SPECS if spec.lambdas)


def example_val_curve(metric: str, epochs: int) -> list[float]:
    """A plausible validation curve at a constant LR: fast early progress, then a noisy plateau that
    slowly worsens (overfitting) from epoch 50 on."""
    def drift(e: int) -> float:
        return max(0, e - 50) / 500 + 0.03 * math.sin(1.7 * e)

    if metric.endswith("loss"):
        return [0.9 + 3.7 * math.exp(-e / 12) + drift(e) for e in range(epochs)]
    return [75.0 - 70.0 * math.exp(-e / 12) - 10 * drift(e) for e in range(epochs)]


def build_preview_schedule(cfg: DictConfig, steps_per_epoch: int, max_epochs: Optional[int] = None,
                           base_lr: Optional[float] = None) -> LRSchedule:
    """The schedule train.py builds for `cfg` (graph mode's rules included), around a dummy parameter (no data,
    no model). `steps_per_epoch` is the run's (engine.training.run.steps_per_epoch computes it from the config)."""
    parameter = flow.nn.Parameter(flow.zeros(1))
    optimizer_factory = instantiate(cfg.optimizer) if base_lr is None else instantiate(cfg.optimizer, lr=base_lr)
    optimizer = optimizer_factory([parameter])
    return build_lr_schedule(cfg.scheduler, optimizer, steps_per_epoch, max_epochs=max_epochs or cfg.trainer.max_epochs,
                             graph=bool(cfg.trainer.get("graph", False)))


def lr_values(cfg: DictConfig, steps_per_epoch: int, max_epochs: Optional[int] = None,
              base_lr: Optional[float] = None, val_curve: Optional[Sequence[float]] = None) -> np.ndarray:
    """The LR of every optimizer step of the run `cfg` describes (float64, read before each step).

    `steps_per_epoch` is the run's (engine.training.run.steps_per_epoch); max_epochs and base_lr default to the config's.
    Plateau schedules step on `val_curve` (one value of the monitored metric per epoch; the last value is held if it is
    shorter than the run), or on `example_val_curve` when it is None."""
    epochs = int(max_epochs or cfg.trainer.max_epochs)
    return schedule_lrs(build_preview_schedule(cfg, steps_per_epoch, epochs, base_lr), steps_per_epoch, epochs, val_curve)


def schedule_lrs(schedule: LRSchedule, steps_per_epoch: int, epochs: int,
                 val_curve: Optional[Sequence[float]] = None) -> np.ndarray:
    """The LR of every optimizer step of a fresh `schedule`: evaluated when it is a closed form, else stepped."""
    lrs = closed_form_lrs(schedule, epochs * steps_per_epoch)
    return lrs if lrs is not None else np.array(stepped_lrs(schedule, steps_per_epoch, epochs, val_curve), dtype=np.float64)


def lr_curve(cfg: DictConfig, steps_per_epoch: int, max_epochs: Optional[int] = None,
             base_lr: Optional[float] = None, val_curve: Optional[Sequence[float]] = None) -> list[tuple[int, int, float]]:
    """(step, epoch, lr) for every optimizer step of lr_values(...); `epoch` is 0-based."""
    lrs = lr_values(cfg, steps_per_epoch, max_epochs, base_lr, val_curve)
    return [(step, step // steps_per_epoch, lr) for step, lr in enumerate(lrs.tolist())]


def lr_plan_problem(cfg: DictConfig, steps_per_epoch: int) -> Optional[str]:
    """Why the LR `cfg` plans is unusable (negative, NaN or infinite at some step, or not computable), else None.
    Every schedule's LR is known before training (plateaus: their example curve), so this is a config-time check."""
    name = cfg.scheduler.get("name") or "custom"
    try:
        lrs = lr_values(cfg, steps_per_epoch)
    except ArithmeticError as error:  # e.g. PolynomialLR with a negative power: 1/0 at the end of a cycle
        return (f"scheduler {name!r}: its LR cannot be computed over the run ({type(error).__name__}: {error}); "
                f"check scheduler.lr_scheduler's arguments (scripts/plot_schedules.py previews a schedule)")
    bad = np.flatnonzero(~(np.isfinite(lrs) & (lrs >= 0)))
    if not len(bad):
        return None
    step = int(bad[0])
    epoch, lr = step // steps_per_epoch, float(lrs[step])
    return (f"scheduler {name!r} plans LR {lr:g} at optimizer step {step} (epoch {epoch}): a learning rate must be "
            f"finite and >= 0; check scheduler.lr_scheduler's arguments (scripts/plot_schedules.py previews a schedule)")


def constant_lr_warning(cfg: DictConfig, steps_per_epoch: int) -> Optional[str]:
    """Why the schedule of `cfg` leaves the LR constant over the whole run, or None when it changes it (or is the
    `constant` schedule, constant by design). Plateau schedules are fed a metric that never improves, so their
    reductions come as early as they can: they are flagged only when no reduction fits in the run."""
    name = cfg.scheduler.get("name") or "custom"
    if name == "constant":
        return None
    lrs = lr_values(cfg, steps_per_epoch, val_curve=[0.0] if cfg.scheduler.get("monitor") else None)
    if lrs.max() - lrs.min() > 1e-9 * max(abs(lrs[0]), 1e-12):
        return None
    epochs = cfg.trainer.max_epochs
    return (f"scheduler {name!r} keeps the LR at {lrs[0]:g} for the whole run ({epochs} epochs x {steps_per_epoch} "
            f"steps): here it is the constant schedule, and a comparison cannot tell it from `constant`. Its lengths "
            f"(or a plateau's patience) do not fit in trainer.max_epochs = {epochs}: give them as shares of the run "
            f"(e.g. step_size: 30%), shorten them, or train longer; preview with scripts/plot_schedules.py.")


def stepped_lrs(schedule: LRSchedule, steps_per_epoch: int, epochs: int,
                val_curve: Optional[Sequence[float]] = None) -> list[float]:
    """The LR of every optimizer step, calling the schedule's hooks as the training loop does."""
    monitor = schedule.monitor
    if monitor is not None:
        val_curve = list(val_curve) if val_curve is not None else example_val_curve(monitor, epochs)
        if not val_curve:
            raise ScheduleConfigError(f"the validation curve for {monitor!r} is empty; a plateau preview needs one value per epoch.")
    options = schedule.optimizer.param_groups[0]
    after_step, lrs = schedule.after_optimizer_step, []
    record = lrs.append
    for epoch in range(epochs):
        if schedule.interval == "step":
            for _ in range(steps_per_epoch):
                record(options["lr"])
                after_step()
        else:  # after_optimizer_step does nothing: the LR holds for the epoch
            lrs += [options["lr"]] * steps_per_epoch
        schedule.after_epoch({monitor: val_curve[min(epoch, len(val_curve) - 1)]} if monitor else {})
    return lrs


def closed_form_lrs(schedule: LRSchedule, total_steps: int) -> Optional[np.ndarray]:
    """The LR of every optimizer step without stepping, for a fresh per-step schedule whose LR is a pure function of
    the step (CLOSED_FORM, a LambdaLR of a CLOSED_FORM callable, or a SequentialLR/WarmupLR of CLOSED_FORM children);
    else None."""
    scheduler = schedule.scheduler
    if (schedule.interval != "step" or schedule.monitor is not None
            or scheduler.last_step != 0 or len(scheduler.base_lrs) != 1):
        return None
    return evaluated(scheduler, scheduler.base_lrs[0], np.arange(total_steps, dtype=np.int64))


def evaluated(scheduler: LRScheduler, base_lr: float, steps: np.ndarray, child: bool = False) -> Optional[np.ndarray]:
    """The LRs `scheduler.step()` sets at `steps` (int64), without stepping it, or None when stepping is the only way.
    Each closed form by its array form (schedulers/array_forms.py) or, lacking one, by a get_lr call per step; a
    sequence piece by piece. `child`: a sequence's child, of which SequentialLR.step calls only get_lr."""
    kind = type(scheduler)
    if kind in CLOSED_FORM and (child or kind.step is LRScheduler.step):
        get_lr, fast = scheduler.get_lr, array_forms.lrs(scheduler, base_lr, steps)
    elif kind in LAMBDAS and len(scheduler.lr_lambdas) == 1 and type(scheduler.lr_lambdas[0]) in CLOSED_FORM:
        factor = scheduler.lr_lambdas[0]  # a callable whose value reads only the step (Noam): LambdaLR.step's LR

        def get_lr(base_lr: float, step: int) -> float:
            return base_lr * factor(step)
        fast = array_forms.lrs(factor, base_lr, steps)
    elif (kind in SEQUENCES and all(type(c) in CLOSED_FORM for c in scheduler.schedulers)
          and list(scheduler.milestones) == sorted(scheduler.milestones)):
        milestones, rescaled = list(scheduler.milestones), list(scheduler.interval_rescaling)
        piece = np.searchsorted(np.asarray(milestones, dtype=np.int64), steps, side="right")  # SequentialLR.step's bisect_right
        lrs = np.empty(len(steps), dtype=np.float64)
        for i, part in enumerate(scheduler.schedulers):
            here = piece == i
            lrs[here] = evaluated(part, base_lr, steps[here] - milestones[i - 1] if i > 0 and rescaled[i - 1]
                                  else steps[here], child=True)
        return lrs
    else:
        return None
    if fast is not None:
        return fast
    return np.array([get_lr(base_lr, step) for step in steps.tolist()], dtype=np.float64)


def plot_curve(curve: Sequence[tuple[int, int, float]], steps_per_epoch: int, title: str, path: Path,
               val_curve: Optional[Sequence[float]] = None, val_label: str = "") -> None:
    """PNG of LR against optimizer step, epoch boundaries marked (every k-th when there are many)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [s for s, _, _ in curve]
    epochs = curve[-1][1] + 1 if curve else 0
    every = next(k for k in (1, 2, 5, 10, 20, 50, 100, 200, 500, 10 ** 9) if epochs / k <= 40)
    fig, ax = plt.subplots(figsize=(9, 4.2))
    for e in range(every, epochs, every):
        ax.axvline(e * steps_per_epoch, color="0.88", linewidth=0.7, zorder=0)
    ax.plot(steps, [lr for _, _, lr in curve], color="tab:blue", linewidth=1.4, label="lr")
    ax.set_xlabel(f"optimizer step ({steps_per_epoch} per epoch; grey lines: every "
                  f"{'' if every == 1 else f'{every}th '}epoch boundary)")
    ax.set_ylabel("learning rate")
    ax.set_xlim(0, max(steps[-1], 1) if steps else 1)
    ax.set_ylim(bottom=0)
    top = ax.secondary_xaxis("top", functions=(lambda s: s / steps_per_epoch, lambda e: e * steps_per_epoch))
    top.set_xlabel("epoch")
    if val_curve:
        right = ax.twinx()
        right.plot([(e + 1) * steps_per_epoch for e in range(len(val_curve))], val_curve, color="tab:orange",
                   linewidth=1.0, linestyle="--", label=val_label)
        right.set_ylabel(f"{val_label} (replayed)", color="tab:orange")
    ax.set_title(title)
    fig.tight_layout()
    atomic_save_figure(fig, path, dpi=110)
    plt.close(fig)


def plot_overview(curves: dict, path: Path, columns: int = 3) -> None:
    """All curves in one grid, x in epochs, so schedules compare at a glance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = math.ceil(len(curves) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4.0 * columns, 2.3 * rows), squeeze=False)
    for ax, (name, (curve, spe)) in zip(axes.flat, curves.items()):
        ax.plot([s / spe for s, _, _ in curve], [lr for _, _, lr in curve], color="tab:blue", linewidth=1.2)
        ax.set_title(name, fontsize=10)
        ax.set_ylim(bottom=0)
        ax.set_xlim(0, len(curve) / spe)
        ax.tick_params(labelsize=8)
        ax.grid(True, color="0.92")
    for ax in list(axes.flat)[len(curves):]:
        ax.axis("off")
    fig.supxlabel("epoch")
    fig.supylabel("learning rate")
    fig.tight_layout()
    atomic_save_figure(fig, path, dpi=110)
    plt.close(fig)
