"""One ScheduleSpec per schedule class: the only table of what the project knows about each class.

The factory reads a spec's units (which arguments are lengths in epochs, which are per-epoch rates,
which are warmups) and generates VALID_TARGETS from SPECS; the preview evaluates `closed_form`
classes without stepping them; the graph rules read `graph`, `graph_rejected` and `staircase`; the
explorer's form reads `args` (choices and ranges) and SCHEDULER_FIELDS; engine.config.schema reads
SCHEDULER_KEYS. Adding a schedule class is one entry in SPECS, its conf/scheduler YAML and its test
(docs/schedules.md#adding-a-schedule).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Optional

from oneflow.optim import lr_scheduler as oneflow_schedulers

from schedulers import extra, oneflow_fixes
from schedulers.fields import (AT_LEAST_ONE, FRACTION, FREE, INTERVALS, METRIC_MODES, NON_NEGATIVE, POSITIVE,  # noqa: F401
                               SCHEDULER_FIELDS, SCHEDULER_KEYS, Arg, choice)

ONEFLOW_MODULE = "oneflow.optim.lr_scheduler"  # how a `_target_` names the classes of oneflow.nn.optimizer


def _always(arg: Callable[[str], Any]) -> bool:
    return True


@dataclass(frozen=True)
class ScheduleSpec:
    """What the factory, the preview, the graph rules and the explorer know about one schedule class.

    Lengths are converted from epochs (or a share of the run) to scheduler steps; an argument named
    `<x>_epochs` is converted and passed as `<x>_steps` without being listed. ReduceLROnPlateau's
    patience and cooldown count validations (epochs) in every mode, so they are not lengths."""

    cls: type
    lengths: tuple[str, ...] = ()  # in epochs in the YAML, scheduler steps for the class
    rates: tuple[str, ...] = ()  # per-epoch multiplicative rates, made per step
    warmups: tuple[str, ...] = ()  # lengths over which the LR rises: each must be shorter than the run
    rises: Callable[[Callable[[str], Any]], bool] = _always  # given arg(name) -> value: does the warmup rise?
    closed_form: bool = False  # get_lr(base_lr, step) reads only the step and the constructor's arguments (for a
    #                            callable, scheduler=False: its value does; a LambdaLR of it is then a closed form)
    # step() sets the LR of step s to the get_lr of the child whose milestone range holds s, at s or at s minus that
    # milestone (OneFlow's SequentialLR.step): a pure function of the step when every child is closed_form
    sequence: bool = False
    # step() sets the LR of step s to base_lr * lr_lambda(s) (OneFlow's LambdaLR.step): a pure function of the step
    # when the callable is closed_form
    lambdas: bool = False
    graph: bool = False  # nn.Graph computes the eager curve (narrowed by an instance's graph_matches_eager, and
    #                      for a composition by its inner schedulers)
    graph_rejected: str = ""  # why OneFlow 0.9's nn.Graph refuses the class outright ("": it does not)
    staircase: bool = False  # with interval: epoch, graph mode reproduces it stepped per optimizer step
    args: Mapping[str, Arg] = field(default_factory=dict)  # the explorer's choices and ranges, by argument
    scheduler: bool = True  # False: a callable a scheduler takes (LambdaLR's lr_lambda), not a schedule itself

    @property
    def name(self) -> str:
        return self.cls.__name__

    @property
    def module(self) -> str:
        """The module a `_target_` names the class by."""
        return ONEFLOW_MODULE if self.cls.__module__.startswith("oneflow.") else self.cls.__module__

    @property
    def target(self) -> str:
        return f"{self.module}.{self.name}"


_POLYNOMIAL = ScheduleSpec(oneflow_schedulers.PolynomialLR, lengths=("decay_batch",), closed_form=True, graph=True,
                           args={"end_learning_rate": NON_NEGATIVE, "power": POSITIVE})
_RESTARTS = ScheduleSpec(oneflow_schedulers.CosineAnnealingWarmRestarts, lengths=("T_0",), closed_form=True, graph=True,
                         args={"T_mult": AT_LEAST_ONE, "eta_min": NON_NEGATIVE, "decay_rate": NON_NEGATIVE,
                               "restart_limit": NON_NEGATIVE})
_PLATEAU_ARGS = {"mode": choice("min", "max"), "factor": POSITIVE, "patience": NON_NEGATIVE, "threshold": NON_NEGATIVE,
                 "threshold_mode": choice("rel", "abs"), "cooldown": NON_NEGATIVE, "min_lr": NON_NEGATIVE}

# Grouped by the module a `_target_` names (VALID_TARGETS lists them in this order).
SPECS: tuple[ScheduleSpec, ...] = (
    ScheduleSpec(oneflow_schedulers.ConstantLR, lengths=("total_iters",), warmups=("total_iters",),
                 rises=lambda arg: arg("factor") < 1, closed_form=True, graph=True, staircase=True,
                 args={"factor": POSITIVE}),
    ScheduleSpec(oneflow_schedulers.LinearLR, lengths=("total_iters",), warmups=("total_iters",),
                 rises=lambda arg: arg("start_factor") < arg("end_factor"), closed_form=True, graph=True,
                 args={"start_factor": FRACTION, "end_factor": FRACTION}),
    ScheduleSpec(oneflow_schedulers.ExponentialLR, rates=("gamma",), closed_form=True, graph=True,
                 args={"gamma": POSITIVE}),
    ScheduleSpec(oneflow_schedulers.StepLR, lengths=("step_size",), closed_form=True, graph=True, staircase=True,
                 args={"gamma": POSITIVE}),
    ScheduleSpec(oneflow_schedulers.MultiStepLR, lengths=("milestones",), closed_form=True, graph=True, staircase=True,
                 args={"gamma": POSITIVE}),
    _POLYNOMIAL,
    ScheduleSpec(oneflow_schedulers.CosineDecayLR, closed_form=True, graph=True,  # decay_epochs -> decay_steps
                 args={"alpha": FRACTION}),
    ScheduleSpec(oneflow_schedulers.CosineAnnealingLR, lengths=("T_max",), closed_form=True, graph=True,
                 args={"eta_min": NON_NEGATIVE}),
    _RESTARTS,
    ScheduleSpec(oneflow_schedulers.LambdaLR, lambdas=True,  # its callable may keep state: a closed form only when
                 #                                                 the callable's spec says it is one (Noam)
                 graph_rejected="OneFlow has no graph version of a Python lr_lambda (no _generate_conf_for_graph)"),
    ScheduleSpec(oneflow_schedulers.SequentialLR, lengths=("milestones",), graph=True, sequence=True),
    ScheduleSpec(oneflow_schedulers.WarmupLR, lengths=("warmup_iters",), warmups=("warmup_iters",), graph=True,
                 sequence=True,
                 args={"warmup_factor": FRACTION, "warmup_method": choice("linear", "constant")}),
    ScheduleSpec(oneflow_schedulers.ChainedScheduler,
                 graph_rejected="OneFlow raises NotImplementedError: not supported in graph mode yet"),
    ScheduleSpec(oneflow_schedulers.ReduceLROnPlateau, args=_PLATEAU_ARGS,
                 graph_rejected="not an LRScheduler: it steps on a validation metric, which add_optimizer cannot take"),
    # OneFlow's formula fixed; nn.Graph compiles OneFlow's own, so graph_matches_eager says when they agree.
    replace(_POLYNOMIAL, cls=oneflow_fixes.PolynomialLR),
    replace(_RESTARTS, cls=oneflow_fixes.CosineAnnealingWarmRestarts),
    ScheduleSpec(extra.OneCycleLR, lengths=("total_iters",), closed_form=True,
                 args={"pct_start": FRACTION, "div_factor": POSITIVE, "final_div_factor": POSITIVE,
                       "anneal_strategy": choice("cos", "linear")}),
    ScheduleSpec(extra.CyclicLR, lengths=("step_size_up", "step_size_down"), rates=("gamma",),
                 warmups=("step_size_up",), closed_form=True,
                 args={"mode": choice(*extra.CyclicLR.MODES), "gamma": POSITIVE, "min_factor": FRACTION}),
    ScheduleSpec(extra.WarmupPlateau, lengths=("warmup_iters",), warmups=("warmup_iters",)),
    ScheduleSpec(extra.Noam, lengths=("warmup_iters",), warmups=("warmup_iters",), scheduler=False, closed_form=True,
                 args={"d_model": AT_LEAST_ONE, "factor": POSITIVE}),
    ScheduleSpec(extra.WSD, lengths=("total_iters", "warmup_iters"),  # decay_fraction: a share of total_iters
                 warmups=("warmup_iters",), rises=lambda arg: bool(arg("warmup_iters")),  # 0 (the default): none
                 closed_form=True, args={"decay_fraction": FRACTION, "decay_shape": choice(*extra.WSD.SHAPES),
                                         "warmup_factor": FRACTION, "min_factor": FRACTION}),
)
_BY_CLASS = {spec.cls: spec for spec in SPECS}


def exact_spec(cls: type) -> Optional[ScheduleSpec]:
    """The spec of exactly `cls` (a subclass may change the formula a closed form or nn.Graph relies on)."""
    return _BY_CLASS.get(cls)


def spec_of(cls: type) -> Optional[ScheduleSpec]:
    """The spec of `cls` or of its nearest base class with one (a subclass keeps its base's units)."""
    return next((_BY_CLASS[c] for c in cls.__mro__ if c in _BY_CLASS), None)


def target_spec(target: Any) -> Optional[ScheduleSpec]:
    """spec_of the class a `_target_` string names; None when it names none (the factory says why)."""
    module, _, attr = str(target).rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError):
        return None
    return spec_of(cls) if isinstance(cls, type) else None


def _valid_targets() -> str:
    """The schedule classes a `_target_` may name, by module, for error messages."""
    modules: dict[str, list[str]] = {}
    for spec in SPECS:
        if spec.scheduler:
            modules.setdefault(spec.module, []).append(spec.name)
    parts = [f"{module} ({', '.join(names)})" for module, names in modules.items()]
    return "a class of " + (", of ".join(parts[:-1]) + " or of " if len(parts) > 1 else "") + parts[-1]


VALID_TARGETS = _valid_targets()
