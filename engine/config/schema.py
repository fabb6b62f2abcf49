"""The one schema of train.py's user-facing config: every field's type, range and choices, checked at config time.

`validate_config(cfg)` runs first, before any model, data or schedule is built, and raises one
ConfigError listing every field that cannot work (its value and what would be valid), so a typo in
`optimizer.lr=abc` or `data.batch_size=0` ends the run in one paragraph instead of a traceback deep
in the training loop. Fields absent from a config are not required here (composition decides which
keys exist); a field that is present must satisfy its rule. The schedule (conf/scheduler) has its own
validator, schedulers.factory.build_lr_schedule, which needs the steps per epoch.
"""
from __future__ import annotations

import importlib
import inspect
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from common.errors import ConfigError
from common.files import can_write_in
from engine.config.keys import flatten
from input_pipeline.cifar100 import FOLDER_NAME as CIFAR_FOLDER
from input_pipeline.loaders import validation_images
from schedulers.spec import SCHEDULER_KEYS  # the top-level keys schedulers.factory reads

MAX_SEED = 2**32 - 1  # numpy's and OneFlow's seed range
LOADER_CHOICES = ("device", "dataloader")  # input_pipeline.loaders.LOADERS
BACKEND_CHOICES = ("auto", "numpy", "oneflow")  # input_pipeline.device_loader.BACKENDS
AMP_DTYPE_CHOICES = ("float16", "bfloat16")  # engine.training.steps.AMP_DTYPES
LABEL_CHOICES = ("fine", "coarse")  # input_pipeline.cifar100.LABEL_SETS
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")
Check = Callable[[Any], bool]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)


def whole(low: int, high: Optional[int] = None) -> Check:
    return lambda v: _is_int(v) and v >= low and (high is None or v <= high)


def number(low: float = -math.inf, high: float = math.inf, low_open: bool = False, high_open: bool = False) -> Check:
    def check(v: Any) -> bool:
        return _is_number(v) and (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    return check


def one_of(*choices: Any) -> Check:
    return lambda v: v in choices and not isinstance(v, bool)


def boolean(v: Any) -> bool:
    return isinstance(v, bool)


def numbers(count: Optional[int], each: Check) -> Check:
    return lambda v: isinstance(v, (list, tuple)) and (count is None or len(v) == count) and all(each(x) for x in v)


def fraction_or_count(v: Any) -> bool:
    return (_is_int(v) and v >= 0) or (_is_number(v) and 0 < v < 1)


@dataclass(frozen=True)
class Field:
    """One config field: where it is, the rule its value must satisfy, and that rule in words."""

    key: str
    check: Check
    valid: str


SCHEMA = (
    Field("seed", whole(0, MAX_SEED), f"a whole number from 0 to {MAX_SEED} (2**32-1)"),
    Field("device", lambda v: isinstance(v, str) and DEVICE_PATTERN.fullmatch(v) is not None,
          "auto, cpu, cuda or cuda:N (N a GPU index)"),
    Field("optimizer.lr", number(0, low_open=True), "a finite number > 0 (the base/peak learning rate, e.g. 0.1)"),
    Field("optimizer.momentum", number(0, 1, high_open=True), "a number in [0, 1), e.g. 0.9"),
    Field("optimizer.dampening", number(0, 1), "a number in [0, 1]"),
    Field("optimizer.weight_decay", number(0), "a finite number >= 0, e.g. 5e-4"),
    Field("optimizer.nesterov", boolean, "true or false"),
    Field("optimizer.betas", numbers(2, number(0, 1, high_open=True)), "two numbers in [0, 1), e.g. [0.9, 0.999]"),
    Field("optimizer.eps", number(0, low_open=True), "a finite number > 0, e.g. 1e-8"),
    Field("data.train_size", whole(1), "a whole number >= 1 (training images per epoch)"),
    Field("data.num_classes", whole(2), "a whole number >= 2"),
    Field("data.batch_size", whole(1), "a whole number >= 1 (images per training batch)"),
    Field("data.eval_batch_size", whole(1), "a whole number >= 1 (images per evaluation batch)"),
    Field("data.val_split", fraction_or_count,
          "a whole number of images >= 0 (0: no validation split) or a fraction between 0 and 1, e.g. 0.1"),
    Field("data.loader", one_of(*LOADER_CHOICES), " or ".join(LOADER_CHOICES)),
    Field("data.backend", one_of(*BACKEND_CHOICES), ", ".join(BACKEND_CHOICES)),
    Field("data.num_workers", whole(0), "a whole number >= 0 (DataLoader worker processes; 0: load in the main process)"),
    Field("data.drop_last", boolean, "true or false"),
    Field("data.mean", numbers(3, number()), "three numbers (per-channel mean)"),
    Field("data.std", numbers(3, number(0, low_open=True)), "three numbers > 0 (per-channel std)"),
    Field("data.augment.crop_padding", whole(0), "a whole number of pixels >= 0 (0: no random crop)"),
    Field("data.augment.horizontal_flip", boolean, "true or false"),
    Field("data.augment.rotation", number(0, 180), "degrees in 0..180 (0: off; 15 in the pytorch-cifar100 recipe)"),
    Field("data.augment.cutout", whole(0), "a whole number of pixels >= 0 (0: off; 8 or 16 are usual)"),
    Field("data.dataset.labels", one_of(*LABEL_CHOICES), "fine (100 classes) or coarse (20 superclasses)"),
    Field("data.dataset.download", boolean, "true or false"),
    Field("data.dataset.test_size", whole(1), "a whole number >= 1"),
    Field("trainer.max_epochs", whole(1), "a whole number of epochs >= 1"),
    Field("fork.at_epoch", lambda v: v == "auto" or whole(1)(v), "auto or a whole number of epochs >= 1 (an epoch checkpoint of the parent)"),
    Field("trainer.log_every_n_steps", whole(1), "a whole number of optimizer steps >= 1"),
    Field("trainer.checkpoint_every_n_steps", whole(0), "a whole number of optimizer steps >= 0 (0: only at epoch ends)"),
    Field("trainer.keep_last", whole(1), "a whole number >= 1 (checkpoints kept besides best.ckpt)"),
    Field("trainer.progress", lambda v: isinstance(v, bool) or v == "auto", "true, false or auto (bars only when stderr is a terminal of its own)"),
    Field("trainer.strict_resume", boolean, "true or false (true: refuse to resume past a corrupt checkpoint)"),
    Field("trainer.graph", boolean, "true or false"),
    Field("trainer.amp", boolean, "true or false"),
    Field("trainer.amp_dtype", one_of(*AMP_DTYPE_CHOICES), " or ".join(AMP_DTYPE_CHOICES)),
    Field("trainer.acc1_thresholds", numbers(None, number(0, 100)), "a list of accuracies in 0..100 (%), e.g. [50, 60, 70]"),
    # conf/model: the arguments the shipped architectures take (a bad one fails deep in a constructor otherwise)
    Field("model.num_classes", whole(2), "a whole number >= 2 (classifier outputs; data.num_classes by default)"),
    Field("model.width", whole(1), "a whole number of channels >= 1 (model=tiny's first block, 16 by default)"),
    Field("model.depth", lambda v: _is_int(v) and v >= 10 and (v - 4) % 6 == 0,
          "a whole number 6n+4 >= 10 (Wide ResNet depth, e.g. 16, 22, 28, 40)"),
    Field("model.widen_factor", whole(1), "a whole number >= 1 (Wide ResNet width multiplier, e.g. 10)"),
    Field("model.dropout", number(0, 1, high_open=True), "a dropout probability in [0, 1), e.g. 0.3"),
    Field("model.name", lambda v: isinstance(v, str) and bool(v), "a flowvision architecture name, e.g. resnet50"),
    Field("model.adapt_stem", boolean, "true or false"),
)
# Groups whose keys are all listed above (or, for scheduler, read by schedulers.factory): a key added with
# `+trainer.typo=1` would be read by nothing. Nodes with a `_target_` take their constructor's arguments instead.
CLOSED_GROUPS = ("trainer", "data", "data.augment")
TARGET_NODES = ("model", "optimizer", "data.dataset")
HYDRA_KEYS = ("_target_", "_partial_", "_recursive_", "_convert_", "_args_")
_ABSENT = object()


def _value(cfg: DictConfig, key: str) -> Any:
    """The resolved value at `key` (plain Python), _ABSENT when the config has no such key."""
    node = OmegaConf.select(cfg, key, default=_ABSENT, throw_on_missing=True)
    if node is _ABSENT:
        return _ABSENT
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def field_problems(cfg: DictConfig) -> list[str]:
    """`key=value must be ...` for every schema field whose value breaks its rule."""
    problems = []
    for field in SCHEMA:
        try:
            value = _value(cfg, field.key)
        except OmegaConfBaseException as error:  # a `???` or an interpolation that does not resolve
            problems.append(f"{field.key} cannot be read ({' '.join(str(error).split())}); it must be {field.valid}")
            continue
        if value is not _ABSENT and not field.check(value):
            problems.append(f"{field.key}={value!r} is not valid: it must be {field.valid}")
    return problems


def non_finite_problems(cfg: DictConfig) -> list[str]:
    """`key=nan` for every number outside the schema that is NaN or infinite (the schema's own fields say more)."""
    try:
        tree = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    except OmegaConfBaseException:  # an interpolation that does not resolve: field_problems names schema fields
        tree = OmegaConf.to_container(cfg, resolve=False)
    checked = {f.key for f in SCHEMA}

    def bad(value: Any) -> bool:
        if isinstance(value, (list, tuple)):
            return any(bad(v) for v in value)
        return isinstance(value, float) and not math.isfinite(value)

    return [f"{key}={value!r} is not valid: every number in the config must be finite (not nan or inf)"
            for key, value in flatten(tree).items() if key not in checked and bad(value)]


def _arguments(target: Any, partial: bool) -> Optional[list[str]]:
    """The keyword arguments the callable `target` names (None: it takes **kwargs, or cannot be imported: instantiate
    says why). `partial`: the first argument is the caller's (an optimizer's parameters), not the config's."""
    module, _, name = str(target).rpartition(".")
    try:
        parameters = list(inspect.signature(getattr(importlib.import_module(module), name)).parameters.values())
    except (ImportError, AttributeError, ValueError, TypeError):
        return None
    if any(p.kind == p.VAR_KEYWORD for p in parameters):
        return None
    named = [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return sorted(named[1:] if partial else named)


def unknown_key_problems(cfg: DictConfig) -> list[str]:
    """Keys under a group the project owns that nothing reads (e.g. `+trainer.nosuchkey=1`), with the valid names."""
    known: dict[str, tuple[list[str], str]] = {
        group: (sorted({f.key[len(group) + 1:].split(".")[0] for f in SCHEMA if f.key.startswith(group + ".")}), "")
        for group in CLOSED_GROUPS}
    known["scheduler"] = (list(SCHEDULER_KEYS), "")
    for node in TARGET_NODES:
        target = OmegaConf.select(cfg, f"{node}._target_", default=None)
        partial = bool(OmegaConf.select(cfg, f"{node}._partial_", default=False))
        arguments = _arguments(target, partial) if target is not None else None
        if arguments is not None:
            known[node] = (arguments, f"the arguments of {target}")
    problems = []
    for group, (valid, what) in known.items():
        node = OmegaConf.select(cfg, group, default=None)
        if not isinstance(node, DictConfig):
            continue
        for key in node.keys():
            if key not in valid and key not in HYDRA_KEYS:
                problems.append(f"{group}.{key} is not a key of {group}, so nothing would read it; valid keys"
                                f"{f' ({what})' if what else ''}: {', '.join(valid)}")
    return problems


def cross_field_problems(cfg: DictConfig, ranks: int = 1) -> list[str]:
    """Rules between fields: the validation split must leave training images, and a batch must not exceed them."""
    train_size, val_split = _value(cfg, "data.train_size"), _value(cfg, "data.val_split")
    val_split = 0 if val_split is _ABSENT else val_split
    if _is_int(train_size) and _is_int(val_split) and train_size >= 1 and val_split >= train_size:
        return [f"data.val_split={val_split} holds out every training image (data.train_size={train_size}); it must "
                f"be below {train_size}, or a fraction between 0 and 1"]
    batch_size = _value(cfg, "data.batch_size")
    if not (whole(1)(train_size) and whole(1)(batch_size) and fraction_or_count(val_split)):
        return []
    images = (train_size - validation_images(val_split, train_size)) // ranks
    if batch_size > images:  # one short step per epoch (none with drop_last): not the batch the run says it uses
        shared = f" per rank ({ranks} ranks share them)" if ranks > 1 else ""
        return [f"data.batch_size={batch_size} is larger than the {images} images trained on per epoch{shared} "
                f"(data.train_size={train_size}, data.val_split={val_split}): every epoch would be a single optimizer "
                f"step; use data.batch_size={images} or less ({images}: full-batch training)"]
    return []


def data_root_problem(root: Any) -> Optional[str]:
    """Why `data.dataset.root` cannot hold a dataset (None when it can): it must be a directory, or creatable."""
    if not isinstance(root, str) or not root:
        return f"data.dataset.root={root!r} is not valid: it must be a path to a directory"
    path = Path(root).expanduser()
    if path.exists() and not path.is_dir():
        return (f"data.dataset.root={root} is a file, not a directory; point it at a directory that holds (or may "
                f"receive) the dataset, e.g. data.dataset.root=./data")
    existing = path if path.exists() else next((p for p in path.absolute().parents if p.exists()), None)
    if existing is None or not existing.is_dir():
        return f"data.dataset.root={root} cannot be created: {existing} is not a directory"
    if not can_write_in(existing):
        what = "is a directory this process cannot write in" if existing == path else f"cannot be created in {existing}, which is not writable"
        return (f"data.dataset.root={root} {what} (the dataset is downloaded and extracted there); use a writable "
                f"directory, e.g. data.dataset.root=./data")
    return None


def validate_config(cfg: DictConfig, ranks: int = 1) -> None:
    """Raise one ConfigError naming every field of `cfg` that cannot work, its value and what is valid.

    `ranks`: the processes of a distributed run, which split the training images between them."""
    problems = field_problems(cfg) + non_finite_problems(cfg) + unknown_key_problems(cfg) + cross_field_problems(cfg, ranks)
    root = _value(cfg, "data.dataset.root")
    if root is not _ABSENT and not _dataset_present(root):
        problem = data_root_problem(root)
        if problem:
            problems.append(problem)
    if problems:
        raise ConfigError("invalid config: " + "; ".join(problems) + ".")


def _dataset_present(root: Any) -> bool:
    """A root that already holds the extracted CIFAR-100 folder need not be writable (a shared read-only copy)."""
    return isinstance(root, str) and bool(root) and (Path(root).expanduser() / CIFAR_FOLDER).is_dir()

