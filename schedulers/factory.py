"""Build a learning-rate schedule from its Hydra config, converting epochs to optimizer steps.

A scheduler config (conf/scheduler/<name>.yaml) holds:
  name:      the schedule's name (file names, TensorBoard, summary.json)
  interval:  step | epoch   advance after every optimizer step (default) or after every epoch
  monitor:   null | <metric> plateau schedules step on this validation metric after each validation
  lr_scheduler:             a `_target_` node; nested `_target_` nodes (or lists of them) for compositions

Units. Lengths (the `lengths` of each class's ScheduleSpec in schedulers/spec.py, e.g. T_max, milestones,
total_iters, warmup_iters) are in epochs, fractions allowed, or a share of the run written `<p>%` (e.g. `30%`:
30% of trainer.max_epochs, so a preset keeps its shape in a run of any length); an argument named `<x>_epochs`
is converted and passed as `<x>_steps` (e.g. CosineDecayLR's decay_steps); one named `<x>_steps` is already in
optimizer steps. Per-epoch decay rates (the spec's `rates`) become per-step rates. With interval: step lengths
become optimizer steps; with interval: epoch they stay epochs (and must be whole; a share of the run is rounded
to whole epochs). Every warmup (the spec's `warmups`: a length over which the LR rises) must end before the run does.

Nodes are located by import path and called directly (not with hydra's instantiate) because
every node's arguments are converted and checked first, and the same optimizer object must reach
every nested scheduler. Every check runs here, before any data is loaded.
"""
from __future__ import annotations

import copy
import importlib
import inspect
import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from oneflow.nn.optimizer.lr_scheduler import LRScheduler
from oneflow.optim import Optimizer as OneFlowOptimizer
from oneflow.optim import lr_scheduler as oneflow_schedulers
from omegaconf import DictConfig, ListConfig, OmegaConf

from common.errors import ConfigError
from schedulers.extra import WarmupPlateau
from schedulers.follow import FollowedOptimizer
from schedulers.graph_rules import check_runs_in_graph, graph_config, runs_in_graph
from schedulers.spec import INTERVALS, METRIC_MODES, SPECS, VALID_TARGETS, Arg, ScheduleSpec, spec_of

RUN_SHARE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*%\s*")  # `30%`: a length as a share of trainer.max_epochs
# What a built schedule may be: any LRScheduler (a subclass without a spec is refused by name), or a spec'd class
# that steps otherwise (ReduceLROnPlateau, WarmupPlateau).
SCHEDULER_TYPES = (LRScheduler, *(s.cls for s in SPECS if s.scheduler and not issubclass(s.cls, LRScheduler)))


class ScheduleConfigError(ConfigError):
    """A scheduler config that cannot describe a valid schedule for this run."""


@dataclass
class _Context:
    steps_per_unit: int        # optimizer steps per scheduler step-unit: steps_per_epoch, or 1 per epoch
    steps_per_epoch: int
    interval: str
    max_epochs: Optional[float]


@dataclass
class _Node:
    """One resolved `_target_` node: class, and arguments in scheduler steps (children as _Node)."""

    path: str
    target: str
    cls: type
    args: dict = field(default_factory=dict)
    out_of_range: list = field(default_factory=list)  # what the class accepted but its spec's range does not


def _fail(path: str, value: Any, problem: str) -> ScheduleConfigError:
    return ScheduleConfigError(f"scheduler.{path} = {value!r} {problem}")


def _in_epochs(path: str, value: Any, ctx: _Context) -> Any:
    """A length (number or list) in epochs: a share of the run such as `30%` becomes that part of trainer.max_epochs."""
    if isinstance(value, (list, tuple, ListConfig)):
        return [_in_epochs(f"{path}[{i}]", v, ctx) for i, v in enumerate(value)]
    share = RUN_SHARE.fullmatch(value) if isinstance(value, str) else None
    if share is None and (not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0):
        raise _fail(path, value, "is not a valid length: lengths are positive numbers of epochs (fractions allowed, "
                                 "e.g. 0.5 for half an epoch) or a share of the run such as '30%'.")
    if share is None:
        return value
    if not 0 < float(share.group(1)) <= 100:
        raise _fail(path, value, "is not a valid share of the run: give more than 0% and at most 100%.")
    if ctx.max_epochs is None:
        raise _fail(path, value, "is a share of the run, but the run length (trainer.max_epochs) is not known here.")
    return float(share.group(1)) * ctx.max_epochs / 100  # 30% of 15 is exactly 4.5


def _to_units(path: str, value: Any, ctx: _Context) -> Any:
    """Epochs or shares of the run (number, `<p>%`, or a list of them) -> scheduler steps."""
    if isinstance(value, (list, tuple, ListConfig)):
        return [_to_units(f"{path}[{i}]", v, ctx) for i, v in enumerate(value)]
    units = _in_epochs(path, value, ctx) * ctx.steps_per_unit
    if isinstance(value, str):  # a share of the run: the nearest whole step (or epoch), halves rounded up
        return max(1, math.floor(units + 0.5))
    if ctx.interval == "epoch" and abs(units - round(units)) > 1e-9:
        raise _fail(path, value, "epochs is fractional, but the schedule steps once per epoch (interval: epoch); use "
                                 "a whole number of epochs or interval: step.")
    return max(1, int(round(units)))


def _steps_to_units(path: str, value: Any, ctx: _Context) -> int:
    """A length already in optimizer steps -> scheduler steps."""
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise _fail(path, value, "is not a valid length: arguments named *_steps are positive whole numbers of "
                                 "optimizer steps.")
    if ctx.interval == "epoch":
        if value % ctx.steps_per_epoch:
            raise _fail(path, value, f"optimizer steps is not a whole number of epochs ({ctx.steps_per_epoch} steps "
                                     f"each), but the schedule steps once per epoch; use interval: step.")
        return value // ctx.steps_per_epoch
    return value


def _check_run_bounds(path: str, key: str, value: Any, ctx: _Context) -> None:
    """Milestones strictly increasing inside the run (values in epochs)."""
    if key == "milestones":
        values = list(value)
        if any(b <= a for a, b in zip(values, values[1:])):
            raise _fail(path, values, "is not strictly increasing: milestones are epochs in increasing order, "
                                      "e.g. [60, 120, 160].")
        if ctx.max_epochs is not None and any(not 0 < m < ctx.max_epochs for m in values):
            raise _fail(path, values, f"has milestones outside the run: each must lie strictly between 0 and "
                                      f"trainer.max_epochs = {ctx.max_epochs} epochs.")


def _check_warmups(node: DictConfig, cls: type, path: str, ctx: _Context) -> None:
    """Every warmup of the node (its spec's warmups: the LR rises over them) ends before the run does."""
    spec = checked_spec(path, cls)
    if ctx.max_epochs is None or not spec.warmups:
        return
    defaults = {name: p.default for name, p in inspect.signature(cls).parameters.items() if p.default is not p.empty}
    if not spec.rises(lambda name: node.get(name, defaults.get(name))):
        return
    for key in spec.warmups:
        value = node.get(key, defaults.get(key))
        if value is not None and _in_epochs(f"{path}.{key}", value, ctx) >= ctx.max_epochs:
            raise _fail(f"{path}.{key}", value, f"is a warmup (the LR rises over it) that is not shorter than the run "
                                                f"(trainer.max_epochs = {ctx.max_epochs} epochs), so the LR would "
                                                f"never reach its peak; use a shorter one, e.g. a share of the run "
                                                f"such as '5%', or a longer run.")


def _locate(path: str, target: Any) -> type:
    """The class a `_target_` names (importlib directly: hydra's get_class also logs a traceback-like error)."""
    module_name, _, attr = str(target).rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as error:
        raise _fail(f"{path}._target_", target, f"cannot be imported ({error}); valid targets: {VALID_TARGETS}.") from None
    if not isinstance(cls, type):
        raise _fail(f"{path}._target_", target, f"is not a class; valid targets: {VALID_TARGETS}.")
    return cls


def _resolve(node: DictConfig, ctx: _Context, path: str) -> _Node:
    if "_target_" not in node:
        raise _fail(path, OmegaConf.to_container(node), f"has no _target_; give one: {VALID_TARGETS}.")
    cls = _locate(path, node._target_)
    spec = checked_spec(path, cls)
    _check_warmups(node, cls, path, ctx)  # before the children: a wrapper's warmup is named, not its inner one's
    args: dict[str, Any] = {}
    out_of_range: list[str] = []
    for key, value in node.items():
        if key in ("_target_", "_partial_"):
            continue
        arg_path = f"{path}.{key}"
        if isinstance(value, DictConfig) and "_target_" in value:
            args[key] = _resolve(value, ctx, arg_path)
        elif isinstance(value, ListConfig) and len(value) and all(isinstance(v, DictConfig) for v in value):
            args[key] = [_resolve(v, ctx, f"{arg_path}[{i}]") for i, v in enumerate(value)]
        else:
            value = OmegaConf.to_object(value) if isinstance(value, (DictConfig, ListConfig)) else value
            if key in spec.lengths:
                args[key] = _to_units(arg_path, value, ctx)
                _check_run_bounds(arg_path, key, _in_epochs(arg_path, value, ctx), ctx)
            elif key.endswith("_epochs"):
                args[key[: -len("_epochs")] + "_steps"] = _to_units(arg_path, value, ctx)
            elif key.endswith("_steps"):
                args[key] = _steps_to_units(arg_path, value, ctx)
            elif key in spec.rates and value is not None:
                if not isinstance(value, (int, float)) or value <= 0:
                    raise _fail(arg_path, value, "is not a valid rate: a positive factor per epoch.")
                args[key] = value ** (1.0 / ctx.steps_per_unit)
            else:
                out_of_range += _range_problem(arg_path, value, spec.args.get(key), spec.name)
                args[key] = value
    return _Node(path, str(node._target_), cls, args, out_of_range)


def _range_problem(path: str, value: Any, arg: Optional[Arg], class_name: str) -> list[str]:
    """A number outside its spec's range (e.g. PolynomialLR's end_learning_rate -1 or power -2), which would train a
    negative or infinite LR or fail mid-run; refused once the class has had its say (its messages say more)."""
    if arg is None or not isinstance(value, (int, float)) or isinstance(value, bool):
        return []
    if (arg.low is None or value >= arg.low) and (arg.high is None or value <= arg.high):
        return []
    bounds = (f"from {arg.low:g} to {arg.high:g}" if arg.low is not None and arg.high is not None
              else f"at least {arg.low:g}" if arg.low is not None else f"at most {arg.high:g}")
    return [f"scheduler.{path} = {value!r} is out of range for {class_name}: it must be {bounds}."]


def checked_spec(path: str, cls: type) -> ScheduleSpec:
    """The spec of `cls` (or of its nearest base class with one); a scheduler class without one is refused."""
    spec = spec_of(cls)
    if spec is None and not issubclass(cls, SCHEDULER_TYPES):
        raise _fail(f"{path}._target_", cls.__name__, f"is not a learning-rate scheduler; valid targets: {VALID_TARGETS}.")
    if spec is None:
        raise _fail(f"{path}._target_", f"{cls.__module__}.{cls.__name__}", "has no spec (schedulers/spec.py SPECS), "
                    "so its length arguments would stay in epochs; add a ScheduleSpec for the class there with its "
                    f"length and rate arguments (docs/schedules.md#adding-a-schedule). Valid targets: {VALID_TARGETS}.")
    return spec


def _check_plateau_placement(root: _Node, monitor: Optional[str], interval: str) -> None:
    """ReduceLROnPlateau steps on a metric after validation: alone (interval: epoch) or as WarmupPlateau.plateau."""
    def plateaus(node: _Node, parent: Optional[_Node], key: str) -> list:
        found = [(node, parent, key)] if issubclass(node.cls, oneflow_schedulers.ReduceLROnPlateau) else []
        for k, v in node.args.items():
            for child in (v if isinstance(v, list) else [v]):
                if isinstance(child, _Node):
                    found += plateaus(child, node, k)
        return found

    found = plateaus(root, None, "")
    if not found:
        if monitor is not None:
            raise _fail("monitor", monitor, "is set, but the schedule has no ReduceLROnPlateau: only plateau schedules "
                                            "step on a metric; set monitor: null.")
        return
    for node, parent, key in found:
        if parent is not None and not (issubclass(parent.cls, WarmupPlateau) and key == "plateau" and parent is root):
            raise _fail(f"{node.path}._target_", node.cls.__name__, "cannot be nested here: a plateau scheduler steps "
                        "on a metric after validation, so it can only be the whole schedule or the `plateau` of a "
                        "schedulers.extra.WarmupPlateau at the top.")
    if monitor not in METRIC_MODES:
        raise _fail("monitor", monitor, f"is not a metric this run logs; ReduceLROnPlateau needs one of "
                                        f"{sorted(METRIC_MODES)}.")
    if root is found[0][0] and interval != "epoch":
        raise _fail("interval", interval, "is not valid for ReduceLROnPlateau, which steps only after validation "
                                          "(once per epoch); set interval: epoch.")
    node = found[0][0]
    mode = METRIC_MODES[monitor]
    if node.args.setdefault("mode", mode) != mode:
        raise _fail(f"{node.path}.mode", node.args["mode"], f"contradicts monitor = {monitor!r}, which is better when "
                                                            f"{'lower' if mode == 'min' else 'higher'}: use mode: {mode} "
                                                            f"(or leave mode out).")


def _instantiate(node: _Node, optimizer: Any) -> Any:
    args = {k: ([_instantiate(c, optimizer) for c in v] if isinstance(v, list) and v and isinstance(v[0], _Node)
                else _instantiate(v, optimizer) if isinstance(v, _Node) else v)
            for k, v in node.args.items()}
    is_scheduler = issubclass(node.cls, SCHEDULER_TYPES)
    if is_scheduler:
        first = next(iter(inspect.signature(node.cls).parameters))
        if first not in args:  # the optimizer, unless the node wraps a scheduler given in the YAML
            args[first] = optimizer
    if "lr_lambda" in args:
        lambdas = args["lr_lambda"] if isinstance(args["lr_lambda"], list) else [args["lr_lambda"]]
        if not all(callable(fn) for fn in lambdas):
            raise _fail(f"{node.path}.lr_lambda", node.args["lr_lambda"], "is not callable: LambdaLR needs a "
                        "`_target_` node naming a callable class, e.g. {_target_: schedulers.extra.Noam, d_model: 512, "
                        "warmup_iters: 5}.")
    try:
        built = node.cls(**args)
    except (ValueError, TypeError, AssertionError, KeyError) as error:
        shown = {k: v for k, v in node.args.items() if not isinstance(v, (_Node, list)) or k == "milestones"}
        raise ScheduleConfigError(f"scheduler.{node.path} ({node.cls.__name__}) rejected its arguments {shown} "
                                  f"(lengths in scheduler steps): {error}") from None
    if node.out_of_range:
        raise ScheduleConfigError(" ".join(node.out_of_range))
    if not is_scheduler and not callable(built):
        raise _fail(f"{node.path}._target_", node.cls.__name__, f"is not a learning-rate scheduler; valid targets: "
                                                                f"{VALID_TARGETS}.")
    return built


def _describe(node: _Node) -> dict:
    def value(v: Any) -> Any:
        if isinstance(v, _Node):
            return _describe(v)
        if isinstance(v, list):
            return [value(x) for x in v]
        return v if v is None or isinstance(v, (bool, int, float, str)) else repr(v)

    return {"class": node.cls.__name__, "target": node.target,
            "args": {k: value(v) for k, v in node.args.items()}}


@dataclass
class LRSchedule:
    """A built schedule plus when to step it; the training loop only calls the two hooks."""

    name: str
    scheduler: Any
    interval: str
    monitor: Optional[str] = None
    supports_graph: bool = False
    description: dict = field(default_factory=dict)
    follower: Optional[FollowedOptimizer] = None  # another framework's optimizer, whose LRs copy the schedule's

    @property
    def optimizer(self) -> Any:
        return self.scheduler.optimizer

    def _sync(self) -> None:
        if self.follower is not None:
            self.follower.sync()

    @property
    def _steps_on_time(self) -> bool:
        return not isinstance(self.scheduler, oneflow_schedulers.ReduceLROnPlateau)

    def after_optimizer_step(self) -> None:
        if self.interval == "step" and self._steps_on_time:
            self.scheduler.step()
            self._sync()

    def after_epoch(self, metrics: Mapping[str, float]) -> None:
        if self.interval == "epoch" and self._steps_on_time:
            self.scheduler.step()
        if self.monitor is not None:
            if self.monitor not in metrics:
                raise ScheduleConfigError(f"scheduler.monitor = {self.monitor!r} is not among the metrics this run "
                                          f"computed ({sorted(metrics)}).")
            self.scheduler.step(metrics[self.monitor])
        self._sync()

    def describe(self) -> dict:
        """JSON-able resolved schedule: class names and arguments in scheduler steps, nested."""
        return copy.deepcopy(self.description)

    def state_dict(self) -> dict:
        return {"name": self.name, "interval": self.interval, "monitor": self.monitor,
                "lrs": [group["lr"] for group in self.optimizer.param_groups],
                "scheduler": copy.deepcopy(self.scheduler.state_dict())}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the schedule and the LR it had set (plateau schedules keep their LR only in the optimizer)."""
        if (state["name"], state["interval"]) != (self.name, self.interval):
            raise ScheduleConfigError(f"the saved schedule is {state['name']!r} (interval {state['interval']}), but the "
                                      f"config builds {self.name!r} (interval {self.interval}); resume with "
                                      f"scheduler={state['name']}.")
        self.scheduler.load_state_dict(copy.deepcopy(dict(state["scheduler"])))
        for group, lr in zip(self.optimizer.param_groups, state["lrs"]):
            group["lr"] = lr
        self._sync()


def build_lr_schedule(cfg: DictConfig, optimizer: Any, steps_per_epoch: int, max_epochs: Optional[float] = None,
                      graph: bool = False) -> LRSchedule:
    """Build `cfg` (a conf/scheduler node) for `optimizer`, with `steps_per_epoch` optimizer steps per epoch.

    `max_epochs` (the run length) enables the checks that need it: milestones inside the run, warmup
    shorter than the run. `graph`: the schedule as nn.Graph runs it (schedulers.graph_rules), or a
    ConfigError naming eager mode. Raises ScheduleConfigError, naming the field, for anything invalid.
    An optimizer of another framework (PyTorch's) is driven through a OneFlow shadow (schedulers.follow)."""
    follower = None if isinstance(optimizer, OneFlowOptimizer) else FollowedOptimizer(optimizer)
    if follower is not None:
        optimizer = follower.shadow
    if graph:
        cfg = graph_config(cfg)
    interval = cfg.get("interval", "step")
    if interval not in INTERVALS:
        raise _fail("interval", interval, f"is not valid; use one of {INTERVALS}.")
    if not isinstance(steps_per_epoch, int) or steps_per_epoch < 1:
        raise ScheduleConfigError(f"steps_per_epoch = {steps_per_epoch!r} must be a positive whole number.")
    if max_epochs is not None and not max_epochs > 0:
        raise ScheduleConfigError(f"trainer.max_epochs = {max_epochs!r} must be positive.")
    if not isinstance(cfg.get("lr_scheduler"), DictConfig):
        raise _fail("lr_scheduler", cfg.get("lr_scheduler"), f"must be a `_target_` node: {VALID_TARGETS}.")
    ctx = _Context(steps_per_epoch if interval == "step" else 1, steps_per_epoch, interval, max_epochs)
    root = _resolve(cfg.lr_scheduler, ctx, "lr_scheduler")
    monitor = cfg.get("monitor")
    _check_plateau_placement(root, monitor, interval)
    scheduler = _instantiate(root, optimizer)
    if not isinstance(scheduler, SCHEDULER_TYPES):
        raise _fail("lr_scheduler._target_", root.cls.__name__, f"is not a learning-rate scheduler; valid targets: "
                                                                f"{VALID_TARGETS}.")
    supports_graph = interval == "step" and runs_in_graph(scheduler)
    name = cfg.get("name", "custom")
    if graph:
        check_runs_in_graph(name, scheduler)
    description = {"name": name, "interval": interval, "monitor": monitor, "steps_per_epoch": steps_per_epoch,
                   "length_unit": "optimizer step" if interval == "step" else "epoch",
                   "supports_graph": supports_graph, "lr_scheduler": _describe(root)}
    schedule = LRSchedule(name=name, scheduler=scheduler, interval=interval, monitor=monitor,
                          supports_graph=supports_graph, description=description, follower=follower)
    schedule._sync()  # the LR of step 0, which the schedule set at construction
    return schedule
