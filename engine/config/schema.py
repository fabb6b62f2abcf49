"""The one schema of train.py's user-facing config: a checked dataclass per config group, checked at config time.

`validate_config(cfg)` runs first, before any model, data or schedule is built, and raises one
ConfigError listing every field that cannot work (its value and what would be valid), so a typo in
`optimizer.lr=abc` or `data.batch_size=0` ends the run in one paragraph instead of a traceback deep
in the training loop. It builds the groups below from the composed config (common.checked: each field's
rule in the dataclass, choices from the `Literal` aliases of the modules that use them); fields absent
from a config are not required (composition decides which keys exist), a field that is present must
satisfy its rule. The schema is registered in Hydra's ConfigStore as `schema` (`train.py --config-name
schema --cfg job` prints its fields and types). The schedule (conf/scheduler) has its own validator,
schedulers.factory.build_lr_schedule, which needs the steps per epoch.
"""
import importlib
import inspect
import math
import re
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, List, Literal, Optional, Union, get_args

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from backend import BackendName
from common.checked import (Checked, FieldProblems, boolean, choice, group, is_int, number, numbers, rule,
                            whole)
from common.errors import ConfigError
from common.files import can_write_in
from engine.config.keys import flatten
from engine.config.suggest import all_keys, did_you_mean
from input_pipeline.cifar100 import FOLDER_NAME as CIFAR_FOLDER, LabelSet
from input_pipeline.options import Augment, Backend, LoaderKind
from input_pipeline.splits import VAL_SPLIT_VALID, is_val_split, val_split_problem, validation_images
from schedulers.fields import SCHEDULER_KEYS  # the top-level keys schedulers.factory reads

MAX_SEED = 2**32 - 1  # numpy's and OneFlow's seed range
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")
FRAMEWORKS = ("oneflow", "torch")  # the backends' frameworks (backend/): imported only once a run has chosen one
# Packages whose modules import the framework: a `_target_` there is checked once the run has imported it (build_run).
IMPORT_FRAMEWORK = (*FRAMEWORKS, "models", "optimizers", "schedulefree", "flowvision")
AmpDtype = Literal["float16", "bfloat16"]  # engine.training.steps.AMP_DTYPES maps these to OneFlow dtypes
BOOL = "true or false"


@dataclass
class OptimizerConfig(Checked):
    """conf/optimizer: the arguments the shipped optimizers take (each optional: SGD has no betas, AdamW no momentum)."""

    GROUP: ClassVar[str] = "optimizer"
    lr: float = rule(number(0, low_open=True), "a finite number > 0 (the base/peak learning rate, e.g. 0.1)")
    momentum: float = rule(number(0, 1, high_open=True), "a number in [0, 1), e.g. 0.9")
    dampening: float = rule(number(0, 1), "a number in [0, 1]")
    weight_decay: float = rule(number(0), "a finite number >= 0, e.g. 5e-4")
    nesterov: bool = rule(boolean, BOOL)
    betas: List[float] = rule(numbers(2, number(0, 1, high_open=True)), "two numbers in [0, 1), e.g. [0.9, 0.999]")
    eps: float = rule(number(0, low_open=True), "a finite number > 0, e.g. 1e-8")


@dataclass
class DatasetConfig(Checked):
    """data.dataset's keys the readers share (its other keys are checked against the reader's arguments)."""

    GROUP: ClassVar[str] = "data.dataset"
    labels: str = choice(LabelSet, "fine (100 classes) or coarse (20 superclasses)")
    download: bool = rule(boolean, BOOL)
    test_size: int = rule(whole(1), "a whole number >= 1")


@dataclass
class DataConfig(Checked):
    """conf/data (its loader and augmentation keys from conf/data/_base.yaml)."""

    GROUP: ClassVar[str] = "data"
    train_size: int = rule(whole(1), "a whole number >= 1 (training images per epoch)")
    num_classes: int = rule(whole(2), "a whole number >= 2")
    batch_size: int = rule(whole(1), "a whole number >= 1 (images per training batch)")
    eval_batch_size: int = rule(whole(1), "a whole number >= 1 (images per evaluation batch)")
    val_split: Union[int, float] = rule(is_val_split, VAL_SPLIT_VALID)
    loader: str = choice(LoaderKind)
    backend: str = choice(Backend, ", ".join(get_args(Backend)))
    num_workers: int = rule(whole(0), "a whole number >= 0 (DataLoader worker processes; 0: load in the main process)")
    drop_last: bool = rule(boolean, BOOL)
    mean: List[float] = rule(numbers(3, number()), "three numbers (per-channel mean)")
    std: List[float] = rule(numbers(3, number(0, low_open=True)), "three numbers > 0 (per-channel std)")
    augment: Augment = group(Augment)
    dataset: DatasetConfig = group(DatasetConfig)

    def cross_field_problems(self) -> list[str]:
        """The validation split must leave training images (a val_split of the wrong kind is named by its rule)."""
        if whole(1)(self.train_size) and is_val_split(self.val_split):
            problem = val_split_problem(self.val_split, self.train_size)
            return [problem] if problem else []
        return []


@dataclass
class TrainerConfig(Checked):
    """conf/trainer."""

    GROUP: ClassVar[str] = "trainer"
    max_epochs: int = rule(whole(1), "a whole number of epochs >= 1")
    log_every_n_steps: int = rule(whole(1), "a whole number of optimizer steps >= 1")
    checkpoint_every_n_steps: int = rule(whole(0), "a whole number of optimizer steps >= 0 (0: only at epoch ends)")
    val_every_n_steps: int = rule(whole(0), "a whole number of optimizer steps >= 0 (0: validation at epoch ends only)")
    keep_last: int = rule(whole(1), "a whole number >= 1 (checkpoints kept besides best.ckpt)")
    progress: Union[bool, str] = rule(lambda v: isinstance(v, bool) or v == "auto",
                                      "true, false or auto (bars only when stderr is a terminal of its own)")
    strict_resume: bool = rule(boolean, "true or false (true: refuse to resume past a corrupt checkpoint)")
    graph: bool = rule(boolean, BOOL)
    amp: bool = rule(boolean, BOOL)
    amp_dtype: str = choice(AmpDtype)
    acc1_thresholds: List[float] = rule(numbers(None, number(0, 100)), "a list of accuracies in 0..100 (%), e.g. [50, 60, 70]")


@dataclass
class ForkConfig(Checked):
    GROUP: ClassVar[str] = "fork"
    at_epoch: Union[int, str] = rule(lambda v: v == "auto" or whole(1)(v),
                                     "auto or a whole number of epochs >= 1 (an epoch checkpoint of the parent)")


@dataclass
class ModelConfig(Checked):
    """conf/model: the arguments the shipped architectures take (a bad one fails deep in a constructor otherwise)."""

    GROUP: ClassVar[str] = "model"
    num_classes: int = rule(whole(2), "a whole number >= 2 (classifier outputs; data.num_classes by default)")
    width: int = rule(whole(1), "a whole number of channels >= 1 (model=tiny's first block, 16 by default)")
    depth: int = rule(lambda v: is_int(v) and v >= 10 and (v - 4) % 6 == 0,
                      "a whole number 6n+4 >= 10 (Wide ResNet depth, e.g. 16, 22, 28, 40)")
    widen_factor: int = rule(whole(1), "a whole number >= 1 (Wide ResNet width multiplier, e.g. 10)")
    dropout: float = rule(number(0, 1, high_open=True), "a dropout probability in [0, 1), e.g. 0.3")
    name: str = rule(lambda v: isinstance(v, str) and bool(v), "a flowvision architecture name, e.g. resnet50")
    adapt_stem: bool = rule(boolean, BOOL)


@dataclass
class ConfigSchema(Checked):
    """The whole config: the top-level keys and one nested group per config group."""

    seed: int = rule(whole(0, MAX_SEED), f"a whole number from 0 to {MAX_SEED} (2**32-1)")
    backend: str = choice(BackendName)
    device: str = rule(lambda v: isinstance(v, str) and DEVICE_PATTERN.fullmatch(v) is not None,
                       "auto, cpu, cuda or cuda:N (N a GPU index)")
    optimizer: OptimizerConfig = group(OptimizerConfig)
    data: DataConfig = group(DataConfig)
    trainer: TrainerConfig = group(TrainerConfig)
    fork: ForkConfig = group(ForkConfig)
    model: ModelConfig = group(ModelConfig)


ConfigStore.instance().store(name="schema", node=ConfigSchema, provider="engine.config.schema")

# Groups whose keys are all fields above (or, for scheduler, read by schedulers.factory): a key added with
# `+trainer.typo=1` would be read by nothing. Nodes with a `_target_` take their constructor's arguments instead.
CLOSED_GROUPS = (TrainerConfig, DataConfig, Augment)
TARGET_NODES = ("model", "optimizer", "data.dataset")
HYDRA_KEYS = ("_target_", "_partial_", "_recursive_", "_convert_", "_args_")
# Every top-level key something reads: the schema's, the schedule (schedulers.factory), resume and fork (train.py),
# and the metric hparams_search=lr tells Optuna to optimize.
TOP_LEVEL_KEYS = (*(f.name for f in fields(ConfigSchema)), "scheduler", "resume", "optimized_metric")
_ABSENT = object()


def field_keys(kind: type = ConfigSchema) -> list[str]:
    """The dotted key of every checked field of `kind` and its nested groups, e.g. `data.augment.rotation`."""
    keys = []
    for f in fields(kind):
        keys += field_keys(f.metadata["group"]) if "group" in f.metadata else [kind.key(f.name)]
    return keys


def _value(cfg: DictConfig, key: str) -> Any:
    """The resolved value at `key` (plain Python), _ABSENT when the config has no such key."""
    node = OmegaConf.select(cfg, key, default=_ABSENT, throw_on_missing=True)
    if node is _ABSENT:
        return _ABSENT
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def build_group(kind: type, cfg: DictConfig, problems: list[str]) -> Optional[Checked]:
    """The group `kind` built from `cfg`'s values (nested groups first), or None with its problems added to `problems`."""
    values = {}
    for f in fields(kind):
        if "group" in f.metadata:
            nested = build_group(f.metadata["group"], cfg, problems)
            if nested is not None:
                values[f.name] = nested
            continue
        key = kind.key(f.name)
        try:
            value = _value(cfg, key)
        except OmegaConfBaseException as error:  # a `???` or an interpolation that does not resolve
            problems.append(f"{key} cannot be read ({' '.join(str(error).split())}); it must be {f.metadata['rule'].valid}")
            continue
        if value is not _ABSENT:
            values[f.name] = value
    try:
        return kind(**values)
    except FieldProblems as error:
        problems += error.problems
        return None


def non_finite_problems(cfg: DictConfig) -> list[str]:
    """`key=nan` for every number outside the schema that is NaN or infinite (the schema's own fields say more)."""
    try:
        tree = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    except OmegaConfBaseException:  # an interpolation that does not resolve: build_group names schema fields
        tree = OmegaConf.to_container(cfg, resolve=False)
    checked = set(field_keys())

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
    if module.split(".")[0] in IMPORT_FRAMEWORK and not any(name in sys.modules for name in FRAMEWORKS):
        return None  # checked by the second validation, once the run has imported its framework (build_run)
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
    known: dict[str, tuple[list[str], str]] = {kind.GROUP: (sorted(f.name for f in fields(kind)), "")
                                               for kind in CLOSED_GROUPS}
    known["scheduler"] = (list(SCHEDULER_KEYS), "")
    for node in TARGET_NODES:
        target = OmegaConf.select(cfg, f"{node}._target_", default=None)
        partial = bool(OmegaConf.select(cfg, f"{node}._partial_", default=False))
        arguments = _arguments(target, partial) if target is not None else None
        if arguments is not None:
            known[node] = (arguments, f"the arguments of {target}")
    problems = top_level_problems(cfg)
    for group_key, (valid, what) in known.items():
        node = OmegaConf.select(cfg, group_key, default=None)
        if not isinstance(node, DictConfig):
            continue
        for key in node.keys():
            if key not in valid and key not in HYDRA_KEYS:
                meant = did_you_mean(f"{group_key}.{key}", all_keys(cfg))
                problems.append(f"{group_key}.{key} is not a key of {group_key}, so nothing would read it"
                                f"{f' (did you mean {meant}?)' if meant else ''}; valid keys"
                                f"{f' ({what})' if what else ''}: {', '.join(valid)}")
    return problems


def top_level_problems(cfg: DictConfig) -> list[str]:
    """Top-level keys nothing reads (`+lr=0.5`, `+max_epochs=10`, `+seeds=3`): the run would train with the defaults."""
    problems = []
    for key in cfg.keys():
        if key not in TOP_LEVEL_KEYS:
            meant = did_you_mean(str(key), all_keys(cfg))
            problems.append(f"{key} is not a top-level key of the config, so nothing would read it (the run would train "
                            f"with the defaults){f'; did you mean {meant}?' if meant else ''}; the top-level keys: "
                            f"{', '.join(TOP_LEVEL_KEYS)}")
    return problems


def batch_problems(cfg: DictConfig, ranks: int = 1) -> list[str]:
    """A training batch must not exceed the images trained on per epoch (after the validation split, per rank)."""
    train_size, batch_size, val_split = (_value(cfg, f"data.{key}") for key in ("train_size", "batch_size", "val_split"))
    val_split = 0 if val_split is _ABSENT else val_split
    if not (whole(1)(train_size) and whole(1)(batch_size) and is_val_split(val_split)) \
            or val_split_problem(val_split, train_size):  # that one is named as such (DataConfig)
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


@dataclass(frozen=True)
class ValidatedConfig:
    """A config every config-time check has passed, for `ranks` processes: what build_run takes. Made only by
    engine.training.run.validated, the one validation entry of train.py and the scripts."""

    cfg: DictConfig
    ranks: int


def validate_config(cfg: DictConfig, ranks: int = 1) -> None:
    """Raise one ConfigError naming every field of `cfg` that cannot work, its value and what is valid.

    `ranks`: the processes of a distributed run, which split the training images between them."""
    problems: list[str] = []
    build_group(ConfigSchema, cfg, problems)
    problems += non_finite_problems(cfg) + unknown_key_problems(cfg) + batch_problems(cfg, ranks)
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
