"""What the schedule explorer (scripts/explore.py) shows, without Streamlit: fields, overrides, curves, runs.

Every curve comes from the project's own code: the config is composed as engine.config.compose.compose_config
composes it (`compose` below) from the overrides the widgets produce, the steps per epoch by
engine.training.run.steps_per_epoch, the curve and the resolved schedule by engine.training.schedule_preview.preview
(schedulers.preview.lr_curve). The overrides are the command line shown to the user, so what is on
screen is what `train.py` runs.
"""
from __future__ import annotations

import engine.platform.oneflow_env  # noqa: F401  (before oneflow: loads the CUDA libraries it links against)

import math
import pickle
import re
import shlex
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from itertools import product
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException, InstantiationException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from common.errors import ConfigError, UserError
from engine.config.compose import CONF, compose_config
from engine.platform.errors import paragraph
from engine.training.run import lr_never_changes, planned_lrs, steps_per_epoch
from schedulers.factory import RUN_SHARE
from schedulers.spec import FREE, SCHEDULER_FIELDS, Arg, target_spec
from engine.run_dir.events import EVENT_FILES, import_reader, last_per_step, read_scalars
from engine.training.schedule_preview import SchedulePreview, preview, read_val_curve

import_reader()  # TensorBoard's event reader with the app, not at its first overlay (~0.2 s)

RUN_FIELDS = ("trainer.max_epochs", "data.train_size", "data.batch_size", "data.val_split", "trainer.graph", "optimizer.lr")
DISPLAY_POINTS = 2000  # per curve on the chart (~2 per pixel of a wide chart); exports keep every step
# The longest curve the explorer computes: 200,000 steps (511 epochs of CIFAR's 391) take 0.12-0.15 s per curve when
# evaluated or per-epoch (cosine, onecycle, plateau), 0.56 s stepped (chained), 4-16 MB at the peak.
# epochs = 100000 (39 million steps) ran for minutes past 2.5 GB with no answer; train.py has no such limit.
MAX_STEPS = 200_000


@dataclass(frozen=True)
class Section:
    """A nested `_target_` node (a composition's inner schedule): a heading in the form."""

    key: str
    label: str
    depth: int


@dataclass(frozen=True)
class Field:
    """One YAML value of a scheduler config and the widget that edits it."""

    key: str  # the override key, e.g. scheduler.lr_scheduler.schedulers.0.total_iters
    name: str
    default: Any  # the YAML value; an interpolation stays a "${...}" string
    kind: str  # bool | int | float | length | choice | list | text | nullable
    depth: int = 0
    choices: tuple = ()
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    interpolation: Optional[str] = None  # "${trainer.max_epochs}" or a share of the run ("30%"): the widget may follow it

    @property
    def step(self) -> float:
        if self.kind in ("int", "length"):
            return 1
        magnitude = abs(self.default) if isinstance(self.default, (int, float)) and self.default else 0.1
        exponent = math.floor(math.log10(magnitude))  # a tenth of the value's order of magnitude: 0.97 -> 0.1, 25 -> 1
        return 10.0 ** (exponent - 1 if magnitude >= 1 else exponent)


def scheduler_choices() -> list[str]:
    """Every conf/scheduler/*.yaml, read on each call: a new YAML shows up without code changes."""
    return group_choices("scheduler")


def group_choices(group: str) -> list[str]:
    """The choices of a conf/ group; `_*.yaml` files are bases the choices inherit, not choices."""
    return sorted(p.stem for p in (CONF / group).glob("*.yaml") if not p.stem.startswith("_"))


def _spec_arg(target: str, name: str) -> tuple[bool, Arg]:
    """(is `name` a length in epochs, its choices and range) from the ScheduleSpec of the `_target_` class, or, for
    the top-level keys of the scheduler node (no target), from SCHEDULER_FIELDS."""
    spec = target_spec(target) if target else None  # None for an unknown target: the factory will say so
    args = spec.args if spec else {} if target else SCHEDULER_FIELDS
    return name in (spec.lengths if spec else ()) or name.endswith("_epochs"), args.get(name, FREE)


def _field(key: str, name: str, value: Any, depth: int, target: str) -> Field:
    """The widget for one YAML value, from its key and type; `target` is the `_target_` of the node holding it."""
    is_length, arg = _spec_arg(target, name)
    if isinstance(value, str) and (value.startswith("${") or (is_length and RUN_SHARE.fullmatch(value))):
        return Field(key, name, value, "length" if is_length else "float", depth, minimum=0.0, interpolation=value)
    if arg.choices:
        choices = arg.choices
        return Field(key, name, value, "choice", depth, choices=choices if value in choices else (value, *choices))
    if isinstance(value, bool):
        return Field(key, name, value, "bool", depth)
    if isinstance(value, list):
        return Field(key, name, value, "list", depth)
    if value is None:
        return Field(key, name, value, "nullable", depth)
    if isinstance(value, (int, float)):
        if is_length:
            return Field(key, name, value, "length", depth, minimum=0.0)
        return Field(key, name, value, "int" if isinstance(value, int) else "float", depth, minimum=arg.low,
                     maximum=arg.high)
    return Field(key, name, value, "text", depth)


def scheduler_form(node: dict, prefix: str = "scheduler", depth: int = 0, target: str = "") -> list:
    """Sections and Fields for every value of a scheduler config (its unresolved YAML), nested nodes included.

    Each `_target_` node is a Section followed by its own values, then its inner nodes, each a Section one level
    deeper: a composition's structure reads from the headings (WarmupLR's warmup fields under WarmupLR, not under
    the CosineAnnealingLR it wraps)."""
    items: list = []
    target = str(node.get("_target_", target))
    nested = []
    for name, value in node.items():
        key = f"{prefix}.{name}"
        if isinstance(value, dict) and "_target_" in value:
            nested.append((key, name, value))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            nested += [(f"{key}.{i}", f"{name}[{i}]", child) for i, child in enumerate(value)]
        else:
            items.append(_field(key, name, value, depth, target))
    for key, name, child in nested:
        items.append(Section(key, f"{name}: {str(child.get('_target_')).rsplit('.', 1)[-1]}", depth + 1))
        items += scheduler_form(child, key, depth + 1, str(child.get("_target_")))
    return items


@lru_cache(maxsize=64)
def _composed(overrides: tuple) -> DictConfig:
    return compose_config(*overrides)


def is_group_choice(override: str) -> bool:
    """`scheduler=cosine`, `data=synthetic`: a choice of a conf/ folder (not a value inside the config)."""
    key = override.split("=", 1)[0]
    return "." not in key and (CONF / key).is_dir()


def compose(overrides: Sequence[str]) -> DictConfig:
    """compose_config(*overrides), faster on the explorer's edits: the config of the group choices is composed once
    by compose_config (cached), then the value overrides are applied by apply_value_overrides, as compose applies
    them last. Saves ~0.15 s per edit; tests check it equals compose_config for every field of every conf/scheduler
    YAML. Errors are compose_config's ConfigError."""
    groups = tuple(o for o in overrides if is_group_choice(o))
    values = [o for o in overrides if not is_group_choice(o)]
    cfg = pickle.loads(pickle.dumps(_composed(groups)))  # a copy: OmegaConf pickles 4x faster than it deep-copies
    try:
        apply_value_overrides(cfg, values)
    except (HydraException, OmegaConfBaseException) as error:
        raise ConfigError(f"bad override in {list(overrides)}: {str(error).split('Config search path')[0]}") from error
    return cfg


@lru_cache(maxsize=64)
def composed(overrides: tuple) -> DictConfig:
    """compose(overrides), shared by the form, the run-length check and the curve (a tab's run before its edits is
    all three): read-only, so no reader can change what the next one reads."""
    cfg = compose(overrides)
    OmegaConf.set_readonly(cfg, True)
    return cfg


def apply_value_overrides(cfg: DictConfig, overrides: Sequence[str]) -> None:
    """Apply value overrides (`key=v`, `+key=v`, `++key=v`, `~key`) to `cfg` in place, as Hydra's compose applies them.

    The one use of private Hydra, kept here: Hydra 1.3 applies overrides publicly only while composing
    (hydra.compose: the whole config again, ~0.15 s an edit), and OmegaConf's from_dotlist/merge know none of the
    override grammar (+, ++, ~, quoting, typed values, refusing an unknown key). So this calls the function compose
    itself ends with. tests/explorer/test_explore_overrides.py pins it to compose_config, override kind by kind."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    ConfigLoaderImpl._apply_overrides_to_config(OverridesParser.create().parse_overrides(list(overrides)), cfg)


@lru_cache(maxsize=256)
def defaults(scheduler: str, data: str = "cifar100", optimizer: str = "sgd") -> tuple[dict, dict, dict]:
    """(unresolved scheduler YAML, its resolved values, the run's default RUN_FIELDS) for these choices (cached: read,
    never change, what it returns)."""
    cfg = _composed((f"scheduler={scheduler}", f"data={data}", f"optimizer={optimizer}"))
    run = {key: OmegaConf.select(cfg, key) for key in RUN_FIELDS}
    return (OmegaConf.to_container(cfg.scheduler, resolve=False), OmegaConf.to_container(cfg.scheduler, resolve=True),
            run)


@lru_cache(maxsize=64)
def resolved_scheduler(overrides: tuple) -> dict:
    """The scheduler node of these overrides with interpolations resolved ({} when they do not compose)."""
    try:
        return {"scheduler": OmegaConf.to_container(composed(overrides).scheduler, resolve=True)}
    except (UserError, OmegaConfBaseException):
        return {}


def in_epochs(value: Any, max_epochs: float) -> Any:
    """A share of the run (`30%`) as epochs of a `max_epochs` run, for the widget that shows it; other values as they are."""
    share = RUN_SHARE.fullmatch(value) if isinstance(value, str) else None
    return float(share.group(1)) * max_epochs / 100 if share else value


def select(container: Any, key: str) -> Any:
    """container[a][b][0]... for the dotted override key `a.b.0`; None when absent."""
    for part in key.split("."):
        if isinstance(container, dict) and part in container:
            container = container[part]
        elif isinstance(container, list) and part.isdigit() and int(part) < len(container):
            container = container[int(part)]
        else:
            return None
    return container


def hydra_value(value: Any) -> str:
    """`value` in Hydra's override syntax (what `key=<this>` parses back to)."""
    if value is None:
        return "null"
    if isinstance(value, BadValue):
        return value.text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("nan" if math.isnan(value) else ("inf" if value > 0 else "-inf"))
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    text = str(value)
    if RUN_SHARE.fullmatch(text):  # a share of the run reads as typed: `30%`, not `'30%'`
        return text
    if re.fullmatch(r"[A-Za-z_][\w./:-]*", text) and text not in ("null", "true", "false", "nan", "inf"):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def parse_hydra_value(text: str) -> Any:
    """A value typed in Hydra's override syntax (e.g. `60, 120` or `[true,false]` or `null`), as Hydra parses it."""
    try:
        return OverridesParser.create().parse_override(f"x={text}").value()
    except HydraException as error:
        raise ConfigError(f"{text!r} is not a value Hydra can parse: {str(error).splitlines()[0]}") from None


def parse_list(text: str) -> list:
    """The list typed in a list field: `60, 120, 160` (brackets optional)."""
    text = text.strip()
    value = parse_hydra_value(text if text.startswith("[") else f"[{text}]")
    return list(value)


class BadValue(Exception):
    """A field's text that Hydra cannot parse: the form shows `message` at the field and in place of the curve,
    and the command shows the text as typed (train.py refuses it the same way)."""

    def __init__(self, item: "Field", text: str, reason: str, curve: str = ""):
        super().__init__(reason)
        self.item, self.text, self.reason, self.curve = item, text, reason, curve

    @property
    def message(self) -> str:
        example = {"list": "comma-separated numbers such as `60, 120, 160`", "nullable": "`null` or a number"}
        where = f"curve {self.curve}, " if self.curve else ""
        return (f"{where}field `{self.item.name}` (`{self.item.key}`): {self.reason} "
                f"Give {example.get(self.item.kind, 'a value in Hydra override syntax')}.")


def tidy_number(value: Any) -> Any:
    """Whole-number floats of length fields as ints, so the command reads `T_max=100`, not `T_max=100.0`."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


@dataclass
class Setup:
    """One curve on screen: choices, run overrides and scheduler edits, in command-line order."""

    scheduler: str
    data: str = "cifar100"
    optimizer: str = "sgd"
    run: dict = field(default_factory=dict)  # RUN_FIELDS keys that differ from the config's
    edits: dict = field(default_factory=dict)  # scheduler.* keys that differ from the YAML
    bad: list = field(default_factory=list)  # BadValue of fields whose text does not parse

    def overrides(self) -> list[str]:
        groups = [f"scheduler={self.scheduler}"]
        groups += [f"data={self.data}"] if self.data != "cifar100" else []
        groups += [f"optimizer={self.optimizer}"] if self.optimizer != "sgd" else []
        return groups + [f"{k}={hydra_value(v)}" for k, v in {**self.run, **self.edits}.items()]


def train_command(overrides: Sequence[str]) -> str:
    return " ".join(["python train.py", *(shlex.quote(o) for o in overrides)])


def multirun_command(setups: Sequence[Sequence[str]]) -> Optional[str]:
    """One `train.py --multirun` line whose sweep is exactly these override lists, or None when no single
    sweep is (a sweep runs the cartesian product of its comma-separated values)."""
    parsed = [dict(o.split("=", 1) for o in overrides) for overrides in setups]
    keys = list(dict.fromkeys(k for p in parsed for k in p))
    if any(set(p) != set(keys) for p in parsed):
        return None
    values = {k: list(dict.fromkeys(p[k] for p in parsed)) for k in keys}
    wanted = {tuple(p[k] for k in keys) for p in parsed}
    if set(product(*(values[k] for k in keys))) != wanted or len(wanted) != len(parsed):
        return None
    parts = [f"{k}={','.join(v)}" for k, v in values.items()]
    return " ".join(["python train.py --multirun", *(shlex.quote(p) for p in parts)])


@dataclass
class Computed:
    """A curve for the screen: the preview (exact, for exports) or the one-paragraph error that replaced it."""

    overrides: tuple
    preview: Optional[SchedulePreview] = None
    error: Optional[str] = None
    warning: Optional[str] = None  # e.g. a schedule that keeps the LR constant (multistep with no milestones)
    frames: dict = field(default_factory=dict, repr=False, compare=False)  # the chart's rows of it, built once

    @property
    def lrs(self) -> np.ndarray:
        return self.preview.lrs

    @cached_property
    def key_row(self) -> dict:
        """key_points of this curve without its label: computed once per curve, not on every rerun."""
        row = key_points("", self.preview)
        del row["curve"]
        return row

    @cached_property
    def shown_steps(self) -> np.ndarray:
        """The steps the chart draws (display_indices): computed once per curve, not on every rerun."""
        return display_indices(self.lrs)


def run_length_error(cfg: DictConfig) -> Optional[str]:
    """Why the explorer refuses to compute this run's curve (longer than MAX_STEPS), naming the longest it draws;
    None when it fits."""
    spe = steps_per_epoch(cfg)
    epochs = cfg.trainer.max_epochs
    if spe * epochs <= MAX_STEPS:
        return None
    return (f"trainer.max_epochs={epochs} x {spe:,} optimizer steps per epoch = {spe * epochs:,} steps per curve: the "
            f"explorer draws at most {MAX_STEPS:,} steps, here {MAX_STEPS // spe:,} epochs. Shorten the run (or give "
            f"fewer steps per epoch: a larger data.batch_size); train.py and scripts/plot_schedules.py have no such "
            f"limit.")


@lru_cache(maxsize=64)
def run_too_long(overrides: tuple) -> Optional[str]:
    """run_length_error of the run these overrides give (None when they do not compose: the curves say why)."""
    try:
        return run_length_error(composed(overrides))
    except (UserError, OmegaConfBaseException):
        return None


@lru_cache(maxsize=32)
def compute(overrides: tuple) -> Computed:
    """Compose `overrides` as train.py would and preview the schedule; a user error becomes its paragraph. A curve
    that keeps the LR constant carries the warning plot_schedules.py prints (multistep with no milestones)."""
    try:
        cfg = composed(overrides)
        too_long = run_length_error(cfg)
        if too_long:
            return Computed(overrides, error=paragraph(too_long))
        shown = preview(cfg)
        flat = shown.lrs.max() == shown.lrs.min()
        return Computed(overrides, preview=shown, warning=lr_never_changes(cfg) if flat else None)
    except UserError as error:
        return Computed(overrides, error=paragraph(str(error)))
    except InstantiationException as error:  # hydra wraps what a `_target_` (e.g. the optimizer) raised
        cause = error.__cause__
        return Computed(overrides, error=paragraph(str(cause) if isinstance(cause, UserError) else
                                                   f"the optimizer rejected its arguments: {cause or error}"))
    except OmegaConfBaseException as error:  # e.g. an interpolation to a missing key, as plot_schedules reports it
        return Computed(overrides, error=paragraph(f"the config cannot be resolved: {error}"))
    except Exception as error:  # noqa: BLE001  a scheduler failing in a way the factory does not check: shown, not a crash
        return Computed(overrides, error=paragraph(f"{type(error).__name__} while previewing {list(overrides)}: {error} "
                                                   f"(the factory should have caught this; please report it)"))


def key_points(name: str, preview_: SchedulePreview) -> dict:
    """Peak LR and its step, the LR at 25/50/75/100 % of the run, the LR budget (sum over steps), the final LR."""
    lrs = preview_.lrs
    total, spe = len(lrs), preview_.steps_per_epoch
    row = {"curve": name, "steps": total, "peak LR": float(lrs.max()), "peak step": int(lrs.argmax())}
    for pct in (25, 50, 75):
        row[f"LR at {pct}%"] = float(lrs[min(total - 1, round(pct / 100 * total))])
    row["LR at 100% (final)"] = float(lrs[-1])
    row["LR budget (sum over steps)"] = float(lrs.sum())
    row["LR budget (LR x epochs)"] = float(lrs.sum() / spe)
    return row


def display_indices(values: np.ndarray, points: int = DISPLAY_POINTS) -> np.ndarray:
    """Indices of at most ~`points` samples that keep every bucket's minimum and maximum (peaks, steps, restarts)
    plus the first and last step: the chart looks like the full curve; exports use every step."""
    n = len(values)
    if n <= points:
        return np.arange(n)
    buckets = max(1, points // 2)
    edges = np.linspace(0, n, buckets + 1).astype(int)
    picks = [0, n - 1]
    for start, stop in zip(edges[:-1], edges[1:]):
        chunk = values[start:stop]
        picks += [start + int(chunk.argmin()), start + int(chunk.argmax())]
    return np.unique(np.array(picks))


# ---- real runs -------------------------------------------------------------------------------------------


def find_runs(folder: Path, limit: int = 500) -> list[Path]:
    """Run directories under `folder` (the folder itself included): those with a .hydra/config.yaml."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"runs folder {str(folder)!r} is not a directory; give a runs/ or multiruns/ folder, "
                          f"or one run directory.")
    found = sorted({p.parent.parent for p in folder.glob("**/.hydra/config.yaml")})
    return found[:limit]


@dataclass
class RunOverlay:
    """A finished run: the LR it logged next to the curve its own config plans."""

    run_dir: Path
    overrides: list
    planned: np.ndarray  # the LR its config plans for every optimizer step (float64)
    logged: dict  # step -> lr read back from TensorBoard (float32)
    steps_per_epoch: int
    monitor: Optional[str]

    @property
    def compared_steps(self) -> list[int]:
        return [s for s in sorted(self.logged) if s < len(self.planned)]

    @property
    def max_abs_difference(self) -> float:
        return max((abs(self.logged[s] - self.planned[s]) for s in self.compared_steps), default=float("nan"))

    @property
    def max_float32_difference(self) -> float:
        """Largest difference after rounding the plan to float32, as TensorBoard stores scalars: 0 when exact."""
        return max((abs(self.logged[s] - float(np.float32(self.planned[s]))) for s in self.compared_steps),
                   default=float("nan"))

    def summary(self) -> dict:
        steps = self.compared_steps
        return {"schedule": run_schedule_name(self.run_dir), "steps logged": len(self.logged),
                "steps planned": len(self.planned), "max |logged - planned|": self.max_abs_difference,
                "max |logged - float32(planned)|": self.max_float32_difference, "replayed metric": self.monitor or "",
                "compared steps": f"{steps[0]}..{steps[-1]}" if steps else "none", "run": str(self.run_dir)}


def logged_lr(run_dir: Path) -> dict:
    """step -> `lr` scalar of a run's TensorBoard events (engine.run_dir.events, as read_val_curve reads metrics)."""
    logged = read_scalars(run_dir, ("lr",))
    if "lr" not in logged:
        raise ConfigError(f"run {str(run_dir)!r} logged no 'lr' scalar to TensorBoard (no {EVENT_FILES} with "
                          f"it); overlay a run that train.py wrote.")
    return last_per_step(logged["lr"])


def run_schedule_name(run_dir: Path) -> str:
    """The schedule a run trained with (its directory name may be a long sweep override list)."""
    try:
        return str(OmegaConf.load(Path(run_dir) / ".hydra" / "config.yaml").scheduler.get("name") or "custom")
    except (OSError, OmegaConfBaseException):
        return "unreadable config"


def run_overrides(run_dir: Path) -> list[str]:
    path = Path(run_dir) / ".hydra" / "overrides.yaml"
    return [str(o) for o in OmegaConf.load(path)] if path.is_file() else []


def overlay_run(run_dir: Path) -> RunOverlay:
    """The run's logged LR and the curve planned from its own .hydra/config.yaml (plateau: its metric replayed); read
    again only when one of its files changed (a run still training logs more), else from the cache."""
    run_dir = Path(run_dir)
    return _overlay_run(run_dir, files_state(run_dir))


def files_state(run_dir: Path) -> tuple:
    """(name, modification time, size) of the files an overlay reads: its config, overrides and event files."""
    paths = [run_dir / ".hydra" / "config.yaml", run_dir / ".hydra" / "overrides.yaml", *sorted(run_dir.glob(EVENT_FILES))]
    state = []
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            continue
        state.append((path.name, stat.st_mtime_ns, stat.st_size))
    return tuple(state)


@lru_cache(maxsize=32)
def _overlay_run(run_dir: Path, state: tuple) -> RunOverlay:
    try:
        cfg = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    except (OSError, OmegaConfBaseException) as error:
        raise ConfigError(f"run {str(run_dir)!r}: cannot read .hydra/config.yaml ({error}).") from None
    monitor = cfg.scheduler.get("monitor")
    val_curve = read_val_curve(run_dir, monitor) if monitor else None
    planned = planned_lrs(cfg, val_curve=val_curve)  # the run builder's own preview of this config
    return RunOverlay(run_dir, run_overrides(run_dir), planned, logged_lr(run_dir), steps_per_epoch(cfg), monitor)
