"""Reading the runs of a folder and grouping them into settings: the first step of a comparison.

Reads every run under the folder (its summary.json, .hydra/config.yaml, .hydra/hydra.yaml, run_info.json and
TensorBoard events) into a `Run`. Rows are settings, never mixtures: runs whose resolved configs are equal except
for the seed and keys that change nothing about the result (engine.config.keys.HARMLESS_KEYS; more with --ignore)
are the seeds of one setting, labelled by what sets it apart (analysis.grouping). A run is "missing" when its job
directory has no summary.json, or (for grid sweeps, from multirun.yaml) when the job directory does not exist at
all. `Scoring` says which summary.json keys the comparison ranks on, and what "val" is.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

# (This package never imports oneflow, so it skips engine.platform.oneflow_env and its CUDA library loading.)

from analysis import grouping
from engine.run_dir.events import read_scalars
from engine.run_dir.status import RunStatus
from engine.run_dir.summary import read_summary, run_dirs_with_summary

COMPLETED, DIVERGED, RUNNING, INTERRUPTED, FAILED = (RunStatus.COMPLETED, RunStatus.DIVERGED, RunStatus.RUNNING,
                                                     RunStatus.INTERRUPTED, RunStatus.FAILED)
MISSING = "missing"  # not a run's status: a job with no summary.json, or no directory at all
UNFINISHED = (RUNNING, INTERRUPTED, MISSING)
METRICS = ("best_acc1", "final_acc1", "best_acc5", "final_acc5", "test_acc1", "test_acc1_at_best_epoch")


@dataclass(frozen=True)
class Scoring:
    """Which summary.json keys a comparison ranks on, and what to call them (what "val" is, said plainly)."""

    final: str  # the key ranked with --sort-by final
    best: str  # ... with --sort-by best
    final_label: str
    best_label: str
    curve: str  # the history key the accuracy figure draws
    curve_label: str
    note: str  # one sentence above the table

    def key(self, sort_by: str) -> str:
        return self.final if sort_by == "final" else self.best

    def label(self, sort_by: str) -> str:
        return self.final_label if sort_by == "final" else self.best_label


HELD_OUT = Scoring("test_acc1", "test_acc1_at_best_epoch", "final test top-1", "test top-1 at the best validation epoch",
                   "test/acc1", "test top-1 (%)",
                   "The runs hold a validation split out of the training set (`data.val_split`): every choice (the LR, the "
                   "best epoch) was made on it, and the table reports the **test set**, which chose nothing.")
VAL_IS_TEST = Scoring("final_acc1", "best_acc1", "final test top-1", "best-epoch test top-1 (selected on the test set)",
                      "val/acc1", "test top-1 (%) (val/* is the test set)",
                      "The runs have no validation split (`data.val_split: 0`): their `val/*` metrics **are the test set**. "
                      "The final epoch's top-1 chose nothing, but a best epoch is picked on the very images it is scored on "
                      "(optimistic); tune on `data.val_split` instead (docs/sweeps.md).")
MIXED = Scoring("final_acc1", "best_acc1", "final val top-1 (mixed sets)", "best val top-1 (mixed sets)", "val/acc1",
                "val top-1 (%) (mixed: held-out split or test set)",
                "**Warning: some runs hold out a validation split and some do not**, so `val` means the held-out split in some "
                "rows and the test set in others: the rows are not comparable on it.")


def scoring_of(runs: list) -> Scoring:
    """HELD_OUT when every finished run has a validation split (summary.json has test_acc1), VAL_IS_TEST when none does."""
    ended = [r for r in runs if r.status == COMPLETED]
    with_split = [("test_acc1" in r.summary) for r in ended]
    if with_split and all(with_split):
        return HELD_OUT
    return MIXED if any(with_split) else VAL_IS_TEST


class CompareError(ValueError):
    """A sweep directory that cannot be compared; the message says why and what to pass instead."""


@dataclass
class Run:
    """One job of the sweep, as far as its files tell."""

    name: str  # path relative to the sweep dir, e.g. "scheduler=cosine,seed=1"
    path: Optional[Path]
    status: str
    schedule: str
    seed: Optional[int] = None
    summary: dict = field(default_factory=dict)
    setting: dict = field(default_factory=dict)  # flat resolved config minus seed, harmless and ignored keys
    choices: dict = field(default_factory=dict)  # Hydra config-group choices (data=..., model=...)
    val_acc1: list = field(default_factory=list)  # [(epoch, acc)]
    test_acc1: list = field(default_factory=list)  # [(epoch, acc)] with a validation split
    lr: list = field(default_factory=list)  # [(step, lr)]
    epochs_to: dict = field(default_factory=dict)  # threshold label -> epoch or None
    note: str = ""
    provenance: dict = field(default_factory=dict)  # run_info.json's environment.provenance (CPU, ISA, threads, versions)

    @property
    def group(self) -> str:
        return grouping.setting_key(self.setting)


# ----------------------------------------------------------------------------- reading runs

def _load_yaml(path: Path) -> Optional[Any]:
    from omegaconf import OmegaConf
    try:
        return OmegaConf.load(path)
    except Exception:  # an unreadable config only costs us the fallbacks it would provide
        return None


def _container(config: Any) -> Optional[dict]:
    """The config as plain dicts, interpolations resolved where they can be."""
    from omegaconf import OmegaConf
    if config is None:
        return None
    try:
        return OmegaConf.to_container(config, resolve=True)
    except Exception:  # e.g. a resolver this process does not register: compare the text instead
        return OmegaConf.to_container(config, resolve=False)


def _choices(run_dir: Path) -> dict:
    """The run's config-group choices from .hydra/hydra.yaml (hydra's own groups left out)."""
    from omegaconf import OmegaConf
    hydra_cfg = _load_yaml(run_dir / ".hydra" / "hydra.yaml")
    node = OmegaConf.select(hydra_cfg, "hydra.runtime.choices", default=None) if hydra_cfg is not None else None
    if node is None:
        return {}
    return {str(g): str(c) for g, c in OmegaConf.to_container(node, resolve=False).items()
            if c is not None and not str(g).startswith("hydra")}


def recorded_provenance(run_dir: Path) -> dict:
    """What the run's figures depend on beyond code and config, from run_info.json (older runs: what they recorded)."""
    try:
        info = json.loads((run_dir / "run_info.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    environment = (info.get("started") or {}).get("environment") or {}
    facts = dict(environment.get("provenance") or {})
    facts.setdefault("versions", {}).setdefault("oneflow", info.get("oneflow"))
    return facts


def provenance_warnings(runs: list) -> list:
    """One sentence per fact that differs between the compared runs: per-run figures then differ across them."""
    with_facts = [r for r in runs if r.provenance]
    checks = {"CPU model": lambda f: f.get("cpu_model"), "instruction-set flags": lambda f: " ".join(f.get("isa_flags") or []),
              "thread settings": lambda f: json.dumps(f.get("threads"), sort_keys=True)}
    warnings = []
    for what, get in checks.items():
        values = sorted({str(get(r.provenance)) for r in with_facts if get(r.provenance) is not None})
        if len(values) > 1:
            warnings.append(f"the runs mix {what}: {'; '.join(values)}")
    packages = sorted({p for r in with_facts for p in (r.provenance.get("versions") or {})})
    for package in packages:
        versions = sorted({str(r.provenance["versions"].get(package)) for r in with_facts})
        if len(versions) > 1:
            warnings.append(f"the runs mix {package} versions {', '.join(versions)}")
    return warnings


def threshold_label(threshold: float) -> str:
    return f"acc1>={threshold:g}"


def _epochs_to(curve: list, threshold: float) -> Optional[int]:
    return next((int(epoch) for epoch, acc in curve if acc >= threshold), None)


def read_run(run_dir: Path, sweep_dir: Path, thresholds: list, ignore: tuple = ()) -> Run:
    summary = read_summary(run_dir)
    status = MISSING if summary is None else RunStatus.of(summary.get("status", RUNNING)) or summary["status"]
    summary = summary or {}
    config = _container(_load_yaml(run_dir / ".hydra" / "config.yaml"))
    scheduler_cfg = (config or {}).get("scheduler") or {}
    schedule = summary.get("scheduler") or (scheduler_cfg.get("name") if isinstance(scheduler_cfg, dict) else None) or "unknown"
    seed = summary.get("seed", (config or {}).get("seed"))
    # Without a saved config the schedule's name is all that tells settings apart.
    setting = grouping.setting_of(config, ignore) if config is not None else {"scheduler.name": schedule}
    run = Run(name=str(run_dir.relative_to(sweep_dir)) if run_dir != sweep_dir else run_dir.name, path=run_dir,
              status=status, schedule=schedule, seed=seed, summary=summary, setting=setting, choices=_choices(run_dir))

    scalars = read_scalars(run_dir, ("lr", "val/acc1"))
    history = summary.get("history") or {}
    if history.get("epoch") and history.get("val/acc1"):
        run.val_acc1 = list(zip(history["epoch"], history["val/acc1"]))
    else:
        run.val_acc1 = scalars.get("val/acc1", [])
    if history.get("epoch") and history.get("test/acc1"):
        run.test_acc1 = list(zip(history["epoch"], history["test/acc1"]))
    run.provenance = recorded_provenance(run_dir)
    run.lr = scalars.get("lr", [])
    recorded = summary.get("epochs_to_threshold") or {}
    for threshold in thresholds:
        label = threshold_label(threshold)
        run.epochs_to[label] = recorded[label] if label in recorded else _epochs_to(run.val_acc1, threshold)
    return run


def expected_job_names(sweep_dir: Path) -> Optional[list]:
    """Job directory names a grid sweep should produce (from multirun.yaml), or None when unknowable."""
    multirun = _load_yaml(sweep_dir / "multirun.yaml")
    if multirun is None:
        return None
    try:
        from omegaconf import OmegaConf

        import engine.config.resolvers  # noqa: F401  (exclude_keys may be conf/config.yaml's ${job_name_excluded_keys:})

        hydra_cfg = multirun.hydra
        if "BasicSweeper" not in str(hydra_cfg.sweeper.get("_target_", "")):
            return None  # e.g. Optuna: trials are chosen while the sweep runs
        if OmegaConf.to_container(hydra_cfg.sweep, resolve=False).get("subdir") != "${hydra.job.override_dirname}":
            return None
        params = hydra_cfg.sweeper.get("params") or {}
        arguments = [f"{k}={v}" for k, v in params.items()] + list(hydra_cfg.overrides.task)
        naming = hydra_cfg.job.config.override_dirname
        return grid_override_dirnames(arguments, list(naming.exclude_keys), naming.item_sep, naming.kv_sep)
    except Exception:  # an unusual sweep config: fall back to the directories that exist
        return None


def grid_override_dirnames(arguments: list, exclude_keys: list, item_sep: str, kv_sep: str) -> list:
    """The `hydra.job.override_dirname` of every job Hydra's BasicSweeper launches for `arguments`, in its order.

    Hydra 1.3 has no public function for this: the expansion is BasicSweeper.split_arguments and the name
    get_overrides_dirname, both in hydra._internal. It is rebuilt here from the public override grammar
    (hydra.core.override_parser, what Hydra's own example sweeper plugin expands sweeps with): each override
    gives `key=value` per value of its sweep, a key given twice keeps its last values at its first place, the jobs
    are the product in command-line order; a job's name is its texts but exclude_keys, sorted, joined by item_sep,
    each `=` written as kv_sep. tests/analysis/test_sweep_dirnames.py pins it to the directories a real multirun makes.
    A sweep BasicSweeper refuses (interval(...)) raises ValueError."""
    import itertools

    from hydra.core.override_parser.overrides_parser import OverridesParser

    by_key: dict = {}  # key as written (+key, key@package) -> (its key or group, its `key=value` texts)
    for override in OverridesParser.create().parse_overrides(arguments):
        key = override.get_key_element()
        if override.is_sweep_override() and not override.is_discrete_sweep():
            raise ValueError(f"a grid sweep cannot expand {override.input_line}")
        values = override.sweep_string_iterator() if override.is_sweep_override() else [override.get_value_element_as_str()]
        by_key[key] = (override.key_or_group, [f"{key}={value}" for value in values])
    groups = [group for group, _ in by_key.values()]
    names = []
    for job in itertools.product(*(texts for _, texts in by_key.values())):
        kept = sorted(text for group, text in zip(groups, job) if group not in exclude_keys)
        names.append(item_sep.join(kept).replace("=", kv_sep))
    return names


def _without_seed(name: str) -> str:
    return ",".join(kv for kv in name.split(",") if not kv.startswith("seed="))


def _missing_runs(runs: list, expected: list) -> list:
    """Runs for the jobs a grid sweep expected but that left no directory, each in the setting of a sibling.

    A job that never started has no config: it belongs to the row of a run that differs only in the
    seed; failing that, it is a row of its own named by its overrides."""
    known = {_without_seed(r.name): r for r in runs if r.path is not None}
    present = {r.name for r in runs}
    missing = []
    for name in expected:
        if name in present:
            continue
        sibling = known.get(_without_seed(name))
        seed = next((kv.split("=", 1)[1] for kv in name.split(",") if kv.startswith("seed=")), None)
        if sibling is not None:
            missing.append(Run(name=name, path=None, status=MISSING, schedule=sibling.schedule, seed=seed,
                               setting=dict(sibling.setting), choices=dict(sibling.choices)))
        else:
            schedule = next((kv.split("=", 1)[1] for kv in name.split(",") if kv.startswith("scheduler=")), _without_seed(name))
            missing.append(Run(name=name, path=None, status=MISSING, schedule=schedule, seed=seed,
                               setting={"job": _without_seed(name)}))
    return missing


def find_runs(sweep_dir: Path, thresholds: list, ignore: tuple = ()) -> list:
    if not sweep_dir.is_dir():
        raise CompareError(f"{sweep_dir} is not a directory; pass a sweep directory such as multiruns/<date>/<time> "
                           f"(or any folder holding run directories with summary.json files).")
    run_dirs = sorted(set(run_dirs_with_summary(sweep_dir)) | {p.parent.parent for p in sweep_dir.rglob(".hydra/config.yaml")})
    runs = [read_run(d, sweep_dir, thresholds, ignore) for d in run_dirs]
    expected = expected_job_names(sweep_dir)
    if expected:
        runs += _missing_runs(runs, expected)
    if not runs:
        raise CompareError(f"no runs found under {sweep_dir}: no summary.json or .hydra/config.yaml in it or its sub-directories. "
                           f"Pass the directory a multirun wrote (multiruns/<date>/<time>) or a run directory.")
    return runs


# ----------------------------------------------------------------------------- settings

def one_per_seed(runs: list) -> list:
    """The completed runs of a row that count: one per seed (the last by name); repeats are noted, not averaged."""
    by_seed: dict = {}
    for run in sorted((r for r in runs if r.status == COMPLETED), key=lambda r: r.name):
        key = run.seed if run.seed is not None else run.name
        if key in by_seed:
            by_seed[key].note = f"seed {run.seed} again in `{run.name}`: not counted twice"
        by_seed[key] = run
    return list(by_seed.values())


def values_of(counted: list, metric: str) -> dict:
    """{seed: value of `metric`} of the counted runs (finite values only)."""
    return {(r.seed if r.seed is not None else r.name): r.summary.get(metric) for r in counted
            if isinstance(r.summary.get(metric), (int, float)) and math.isfinite(r.summary[metric])}


def settings(runs: list) -> dict[str, list]:
    """{label: the runs of that setting}, labelled by what sets each setting apart from the others."""
    groups: dict[str, list] = {}
    for run in runs:
        groups.setdefault(run.group, []).append(run)
    # Jobs that never started and have no sibling to take a setting from are named by their overrides.
    unknown = [g for g in groups.values() if set(g[0].setting) == {"job"}]
    known = [g for g in groups.values() if set(g[0].setting) != {"job"}]
    names = grouping.labels([g[0].setting for g in known], [g[0].choices for g in known], [g[0].schedule for g in known])
    return {**dict(zip(names, known)), **{f"{g[0].setting['job']} (never started)": g for g in unknown}}


def constant_lr_settings(runs: list) -> list[str]:
    """Labels of the settings (other than `constant`) whose every run logged one LR for all its steps: in this
    sweep such a schedule is the constant one, whatever its name says (e.g. step_size: 60 in a 15-epoch run)."""
    def flat(run: Run) -> bool:
        return len(run.lr) > 1 and len({value for _, value in run.lr}) == 1

    return [label for label, group in settings(runs).items()
            if group[0].schedule != "constant" and any(r.lr for r in group) and all(flat(r) for r in group if r.lr)]
