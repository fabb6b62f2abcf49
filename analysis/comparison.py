"""Which setting trains best? One table and two figures from a sweep (or any folder of runs).

The library behind scripts/compare_runs.py and scripts/study.py:

    python scripts/compare_runs.py multiruns/2026-11-25/09-30-00            # writes multiruns/.../comparison/
    python scripts/compare_runs.py runs/ --ignore data.batch_size --out /tmp/cmp

Reads every run under the folder (its summary.json, .hydra/config.yaml, .hydra/hydra.yaml and TensorBoard
events). Rows are settings, never mixtures: runs whose resolved configs are equal except for the seed
and keys that change nothing about the result (engine.config.keys.HARMLESS_KEYS; more with --ignore,
which the table states) are the seeds of one row, labelled by what sets it apart (`cosine,
optimizer.lr=0.02`). Writes, each file atomically, into --out (default: <folder>/comparison/; the
repository's results/ only when --out says so):
  comparison.md / comparison.csv  one row per setting: completed/all runs, mean ± sample std of the ranked
                                  top-1 (test_acc1 when the runs hold a validation split, and the header says
                                  what "val" is), its 95 % t-interval in [0, 100], the gap to the best row
                                  with its interval and a test (paired over shared seeds, Holm-adjusted;
                                  analysis.stats), epochs to each accuracy threshold, wall time, diverged /
                                  failed / running / missing counts; a verdict that names a winner only when
                                  the data support one, with the study's power; one line per run.
  val_acc1.png                    test top-1 against epoch, mean per setting with a ±1 std band over seeds
  lr.png                          LR against optimizer step, every setting on one axis

Statistics use completed runs only, one per seed; diverged, failed, interrupted, still-running and
missing runs are counted and listed, never averaged in. A comparison mixing CPUs or library versions
(run_info.json) says so. A run is "missing" when its job directory has no
summary.json, or (for grid sweeps, from multirun.yaml) when the job directory does not exist at all.
"""
from __future__ import annotations

import csv
import io
import json
import math
import statistics
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

# (This script never imports oneflow, so it skips engine.platform.oneflow_env and its CUDA library loading.)

from analysis import grouping, stats
from common.files import atomic_save_figure, atomic_write_text
from engine.config.keys import HARMLESS_KEYS
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
REPO_RESULTS = Path(__file__).resolve().parents[1] / "results"
DEFAULT_OUT_NAME = "comparison"


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


def _provenance(run_dir: Path) -> dict:
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


def _threshold_label(threshold: float) -> str:
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
    run.provenance = _provenance(run_dir)
    run.lr = scalars.get("lr", [])
    recorded = summary.get("epochs_to_threshold") or {}
    for threshold in thresholds:
        label = _threshold_label(threshold)
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


# ----------------------------------------------------------------------------- rows and statistics

def mean_std(values: list) -> tuple:
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def one_per_seed(runs: list) -> list:
    """The completed runs of a row that count: one per seed (the last by name); repeats are noted, not averaged."""
    by_seed: dict = {}
    for run in sorted((r for r in runs if r.status == COMPLETED), key=lambda r: r.name):
        key = run.seed if run.seed is not None else run.name
        if key in by_seed:
            by_seed[key].note = f"seed {run.seed} again in `{run.name}`: not counted twice"
        by_seed[key] = run
    return list(by_seed.values())


def _values(counted: list, metric: str) -> dict:
    """{seed: value of `metric`} of the counted runs (finite values only)."""
    return {(r.seed if r.seed is not None else r.name): r.summary.get(metric) for r in counted
            if isinstance(r.summary.get(metric), (int, float)) and math.isfinite(r.summary[metric])}


def _row(label: str, group: list, counted: list, thresholds: list, metric: str) -> dict:
    row: dict = {"setting": label, "schedule": group[0].schedule, "runs": len(group), "completed": len(counted),
                 "diverged": sum(r.status == DIVERGED for r in group), "failed": sum(r.status == FAILED for r in group),
                 "running": sum(r.status == RUNNING for r in group),
                 "interrupted": sum(r.status == INTERRUPTED for r in group), "missing": sum(r.status == MISSING for r in group),
                 "seeds": " ".join(str(r.seed) for r in sorted(counted, key=lambda r: str(r.seed)))}
    for name in METRICS:
        row[f"{name}_mean"], row[f"{name}_std"] = mean_std([r.summary.get(name) for r in counted])
    values = _values(counted, metric)
    row["_values"] = values
    row["_spread"] = spread = stats.spread(list(values.values()))
    row["n"], row[f"{metric}_ci95_low"], row[f"{metric}_ci95_high"] = spread.n, spread.ci_low, spread.ci_high
    for threshold in thresholds:
        key = _threshold_label(threshold)
        reached = [r.epochs_to.get(key) for r in counted if r.epochs_to.get(key) is not None]
        row[f"epochs_to_{key}_mean"] = statistics.fmean(reached) if reached else None
        row[f"epochs_to_{key}_reached"] = len(reached)
    row["wall_time_s_mean"], _ = mean_std([r.summary.get("wall_time_s") for r in counted])
    return row


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


def setting_rows(runs: list, thresholds: list, sort_by: str, scoring: Optional[Scoring] = None) -> list:
    """One row per setting, sorted by mean top-1 (`sort_by`: final or best), each tested against the best row."""
    scoring = scoring or scoring_of(runs)
    metric = scoring.key(sort_by)
    rows = [_row(label, group, one_per_seed(group), thresholds, metric) for label, group in settings(runs).items()]
    rows.sort(key=lambda row: (row["_spread"].mean is None, -(row["_spread"].mean or 0.0), row["setting"]))
    best = rows[0]
    tests = [stats.compare_with_best(best["_values"], row["_values"]) if row is not best else stats.Test(None, None)
             for row in rows]
    adjusted = [None] + stats.holm([t.p for t in tests[1:]])
    for row, test, p_adjusted in zip(rows, tests, adjusted):
        mean = row["_spread"].mean
        row["rank"] = None if mean is None else 1 + sum(1 for r in rows if r["_spread"].mean is not None and r["_spread"].mean > mean)
        equal = [r["setting"] for r in rows if r is not row and mean is not None and r["_spread"].mean == mean]
        row["tie_with"] = equal[0] if equal else None
        row["test"], row["p_value"], row["p_holm"] = test.name, test.p, p_adjusted
        row["indistinguishable_from_best"] = None if row is best or mean is None else (
            test.name in (stats.EQUAL, stats.CONSTANT) or p_adjusted is None or p_adjusted >= stats.ALPHA)
        gap = stats.difference(best["_values"], row["_values"]) if row is not best else stats.Difference(None, None, None, None, 0)
        row["_difference"] = gap
        row["diff_from_best"], row["diff_ci95_low"], row["diff_ci95_high"] = gap.mean, gap.low, gap.high
    return rows


def other_ranking(runs: list, rows: list, sort_by: str, scoring: Scoring) -> Optional[str]:
    """A sentence when ranking by the other metric (best epoch instead of final, or back) orders the rows differently."""
    other = "best" if sort_by == "final" else "final"
    key = scoring.key(other)
    by_label = settings(runs)
    means = {row["setting"]: stats.spread(list(_values(one_per_seed(by_label[row["setting"]]), key).values())).mean for row in rows}
    ranked_here = [row["setting"] for row in rows if row["_spread"].mean is not None]
    ranked_other = sorted((s for s in ranked_here if means.get(s) is not None), key=lambda s: -means[s])
    if len(ranked_other) < 2 or ranked_other == ranked_here[:len(ranked_other)]:
        return None
    shown = " > ".join(f"{s} ({means[s]:.2f})" for s in ranked_other)
    return (f"Ranked by {scoring.label(other)} instead, the order differs: {shown}. The two rankings disagree, so which "
            f"schedule is \"best\" depends on whether a best epoch may be picked (this table ranks by {scoring.label(sort_by)}).")


def power_summary(rows: list) -> stats.Power:
    """The study's power against the runner-up (the comparison that decides the verdict), from the spread of the paired
    differences over their shared seeds; the smallest detectable difference against every other row besides."""
    def sd_and_n(row: dict) -> tuple:
        seeds = stats.shared_seeds(rows[0]["_values"], row["_values"])
        if len(seeds) >= 2:
            return statistics.stdev([rows[0]["_values"][s] - row["_values"][s] for s in seeds]), len(seeds)
        spreads = [r["_spread"] for r in (rows[0], row) if r["_spread"].std is not None]
        if len(spreads) < 2:  # no shared seeds: two independent rows' spread
            return None, 0
        return math.sqrt(spreads[0].std ** 2 + spreads[1].std ** 2), min(s.n for s in spreads)

    scored = [row for row in rows[1:] if row["_spread"].n]
    if not rows or not rows[0]["_spread"].n or not scored:
        return stats.power_of(0, None)
    sd, n = sd_and_n(scored[0])
    others = {}
    for row in scored[1:]:
        other_sd, other_n = sd_and_n(row)
        others[row["setting"]] = stats.detectable_difference(other_n, other_sd) if other_sd is not None else None
    return stats.power_of(n, sd, against=scored[0]["setting"], others=others)


def ranked(rows: list) -> list:
    return [stats.Ranked(r["setting"], r["_spread"], stats.Test(r["test"], r["p_value"]), r["p_holm"], failures=r["diverged"] + r["failed"],
                         unfinished=sum(r[k] for k in UNFINISHED), runs=r["runs"], difference=r["_difference"]) for r in rows]


# ----------------------------------------------------------------------------- writing

def _fmt(mean: Optional[float], std: Optional[float], digits: int = 2) -> str:
    if mean is None:
        return "—"
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if std is not None else f"{mean:.{digits}f}"


def _versus_best(row: dict) -> str:
    if row["rank"] is None:
        return "—"
    if row["indistinguishable_from_best"] is None:
        return "best"
    if row["test"] == stats.EQUAL:
        return "tie (equal means)"
    if row["test"] == stats.CONSTANT:
        return "same gap on every seed (no test: this test set only)"
    if row["test"] is None:
        return "untestable (n < 2)"
    short = "paired" if row["test"] == stats.PAIRED else "Welch"
    return f"{stats.p_text(row['p_value'])} ({short}); Holm-adjusted {stats.p_text(row['p_holm'])}"


def _gap(row: dict) -> str:
    gap = row["_difference"]
    if gap.mean is None:
        return "—"
    interval = "" if gap.low is None else f" [{-gap.high:+.2f}, {-gap.low:+.2f}]"  # this row − the best
    return f"{-gap.mean:+.2f}{interval}"


def _header(rows: list, runs: list, sort_by: str, sweep_dir: Path, ignore: tuple, scoring: Scoring = VAL_IS_TEST) -> str:
    shared = grouping.shared_choices([r.choices for r in runs if r.path is not None])
    text = (f"# Comparison: `{sweep_dir}`\n\nGenerated {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC} by "
            f"`scripts/compare_runs.py` from {len(runs)} runs in {len(rows)} settings. A row is one setting: runs whose "
            f"resolved configs are equal except for the seed and keys that change nothing about the result "
            f"({', '.join(f'`{k}`' for k in HARMLESS_KEYS)}); its label names what sets it apart from the other rows. "
            f"Sorted by mean **{scoring.label(sort_by)}**.\n\n{scoring.note}\n\n")
    warnings = provenance_warnings(runs)
    if warnings:
        text += ("**Warning: this comparison mixes machines or library versions** (from each run's run_info.json): "
                 + "; ".join(warnings) + ". Per-run figures differ across CPUs and versions even for the same seed; compare "
                 "means with their intervals, not runs one by one.\n\n")
    if shared:
        text += "All rows share: " + ", ".join(f"{g}={c}" for g, c in shared.items()) + ".\n\n"
    if ignore:
        text += (f"**Pooled over {', '.join(f'`{k}`' for k in ignore)}** (declared irrelevant with --ignore): a row may mix "
                 f"runs that differ in these keys.\n\n")
    return text


def markdown(rows: list, runs: list, thresholds: list, sort_by: str, sweep_dir: Path, ignore: tuple = (),
             scoring: Scoring = VAL_IS_TEST) -> str:
    out = io.StringIO()
    metric, label = scoring.key(sort_by), scoring.label(sort_by)
    power = power_summary(rows)
    out.write(_header(rows, runs, sort_by, sweep_dir, ignore, scoring))
    out.write("**Verdict.** " + stats.verdict(ranked(rows), label, power) + "\n\n")
    disagreement = other_ranking(runs, rows, sort_by, scoring)
    if disagreement:
        out.write(disagreement + "\n\n")
    for label in constant_lr_settings(runs):
        out.write(f"**Warning: `{label}` kept its LR constant over the whole run**, so here it is the constant "
                  f"schedule; its lengths do not fit in the run (give them as shares of the run, e.g. `30%`).\n\n")
    threshold_cols = [_threshold_label(t) for t in thresholds]
    other = scoring.key("best" if sort_by == "final" else "final")
    extra = [m for m in (("final_acc1", "final val top-1"), ("best_acc1", "best val top-1")) if scoring is HELD_OUT]
    head = (["rank", "setting", "runs", label, "95% CI", "gap to best [95% CI]", "vs best",
             scoring.label("best" if sort_by == "final" else "final")] + [name for _, name in extra] + ["final top-5"]
            + [f"epochs to {t}" for t in threshold_cols] + ["wall time (s)", "diverged", "failed", "not finished"])
    out.write("| " + " | ".join(head) + " |\n|" + "---|" * len(head) + "\n")
    for row in rows:
        rank = "—" if row["rank"] is None else (f"={row['rank']}" if row["tie_with"] else str(row["rank"]))
        low, high = row[f"{metric}_ci95_low"], row[f"{metric}_ci95_high"]
        cells = [rank, row["setting"], f"{row['completed']}/{row['runs']}", _fmt(row[f"{metric}_mean"], row[f"{metric}_std"]),
                 "—" if low is None else f"[{low:.2f}, {high:.2f}]", _gap(row), _versus_best(row)]
        cells += [_fmt(row[f"{m}_mean"], row[f"{m}_std"]) for m in (other, *(k for k, _ in extra), "final_acc5")]
        for t_label in threshold_cols:
            mean, reached = row[f"epochs_to_{t_label}_mean"], row[f"epochs_to_{t_label}_reached"]
            cells.append("—" if mean is None else f"{mean:.1f}" + ("" if reached == row["completed"] else f" ({reached}/{row['completed']} reached)"))
        cells.append("—" if row["wall_time_s_mean"] is None else f"{row['wall_time_s_mean']:.0f}")
        cells += [str(row["diverged"]), str(row["failed"])]
        unfinished = [f"{row[k]} {k}" for k in UNFINISHED if row[k]]
        cells.append(", ".join(unfinished) or "0")
        out.write("| " + " | ".join(cells) + " |\n")
    out.write("\n" + stats.power_sentence(power) + "\n\n")
    out.write(stats.method_note(label) + " `runs` is completed/all jobs of the setting; diverged, failed, running and "
              "missing runs are counted, never averaged in. Epochs to a threshold (on `val/acc1`) average the runs that "
              "reached it.\n\n## Runs\n\n")
    out.write(_runs_table(runs, scoring))
    return out.getvalue()


def _runs_table(runs: list, scoring: Scoring = VAL_IS_TEST) -> str:
    group_label = {run.group: label for label, members in settings(runs).items() for run in members}
    out = io.StringIO()
    out.write(f"| run | setting | status | seed | {scoring.final_label} | best val top-1 (epoch) | epochs | note |\n"
              "|---|---|---|---|---|---|---|---|\n")
    for run in sorted(runs, key=lambda r: (group_label[r.group], str(r.seed), r.name)):
        s = run.summary
        best = "—" if s.get("best_acc1") is None else f"{s['best_acc1']:.2f} ({s.get('best_epoch', '?')})"
        final = "—" if s.get(scoring.final) is None else f"{s[scoring.final]:.2f}"
        note = run.note
        if run.status == DIVERGED and isinstance(s.get("diverged"), dict):
            d = s["diverged"]
            note = f"diverged at epoch {d.get('epoch')}, step {d.get('step')}, lr {d.get('lr')}"
        elif run.status == MISSING:
            note = "no job directory" if run.path is None else "no summary.json (failed before its first epoch, or not started)"
        elif run.status == FAILED:
            note = f"failed: {s.get('error', '?')}"[:200]
        elif run.status == RUNNING:
            note = f"still running: {s.get('epochs', 0)}/{s.get('max_epochs', '?')} epochs"
        epochs = f"{s.get('epochs', '—')}/{s.get('max_epochs', '?')}" if s else "—"
        out.write(f"| `{run.name}` | {group_label[run.group]} | {run.status} | {run.seed if run.seed is not None else '—'} | "
                  f"{final} | {best} | {epochs} | {note} |\n")
    return out.getvalue()


def csv_text(rows: list) -> str:
    columns = [c for c in (rows[0].keys() if rows else ["setting"]) if not c.startswith("_")]
    columns = ["rank", "tie_with", "setting"] + [c for c in columns if c not in ("rank", "tie_with", "setting")]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else (format(row[k], ".10g") if isinstance(row[k], float) else row[k])) for k in columns})
    return out.getvalue()


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _colors(rows: list) -> dict:
    plt = _pyplot()
    return {row["setting"]: plt.cm.tab10(i % 10) for i, row in enumerate(rows)}


def accuracy_figure(rows: list, runs: list, scoring: Scoring = VAL_IS_TEST):
    """Top-1 against epoch (the test set, named so), mean per setting with a ±1 std band over seeds."""
    import numpy as np

    plt, label_runs, colors = _pyplot(), settings(runs), _colors(rows)
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for name in colors:
        curves = [dict(r.test_acc1 if scoring is HELD_OUT else r.val_acc1) for r in label_runs[name]
                  if (r.test_acc1 if scoring is HELD_OUT else r.val_acc1) and r.status in (COMPLETED, RUNNING)]
        if not curves:
            continue
        epochs = sorted(set().union(*curves))
        table = np.array([[c.get(e, np.nan) for e in epochs] for c in curves], dtype=float)
        mean = np.nanmean(table, axis=0)
        counts = (~np.isnan(table)).sum(axis=0)  # runs still going have shorter curves
        spread = np.sqrt(np.nansum((table - mean) ** 2, axis=0) / np.maximum(counts - 1, 1))
        std = np.where(counts > 1, spread, 0.0)
        line, = ax.plot(epochs, mean, color=colors[name], label=f"{name} (n={len(curves)})")
        line.set_gid(f"curve-{name}")
        ax.fill_between(epochs, mean - np.nan_to_num(std), mean + np.nan_to_num(std), color=colors[name], alpha=0.2, linewidth=0)
    ax.set(xlabel="epoch", ylabel=scoring.curve_label, title=f"{scoring.curve_label.split(' (')[0].capitalize()}: mean over seeds, band ±1 std")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def lr_figure(rows: list, runs: list):
    """The LR every optimizer step applied (from the runs' events), one colour per setting."""
    plt, label_runs, colors = _pyplot(), settings(runs), _colors(rows)
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for name in colors:
        # The LR curve is the same for every seed of a setting, except for metric-driven schedules
        # (plateau): draw the lowest seed's run, the others faintly.
        with_lr = sorted([r for r in label_runs[name] if r.lr], key=lambda r: (str(r.seed), r.name))
        for i, run in enumerate(with_lr):
            steps, values = zip(*run.lr)
            line, = ax.plot(steps, values, color=colors[name], linewidth=1.5 if i == 0 else 0.6, alpha=1.0 if i == 0 else 0.35,
                            label=name if i == 0 else None)
            line.set_gid(f"lr-{name}-{i}")
    ax.set(xlabel="optimizer step", ylabel="learning rate", title="LR schedules (as logged by the optimizer)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def plot(rows: list, runs: list, out: Path, scoring: Scoring = VAL_IS_TEST) -> list:
    plt = _pyplot()
    written = []
    for name, fig in (("val_acc1.png", accuracy_figure(rows, runs, scoring)), ("lr.png", lr_figure(rows, runs))):
        atomic_save_figure(fig, out / name, dpi=130, bbox_inches="tight")
        plt.close(fig)
        written.append(out / name)
    return written


def default_out(sweep_dir: Path) -> Path:
    """<sweep>/comparison, unless that lies in the repository's results/ (writing there takes an explicit --out)."""
    out = sweep_dir / DEFAULT_OUT_NAME
    if out.resolve().is_relative_to(REPO_RESULTS):
        raise CompareError(f"the default output {out} would be inside the repository's results/ ({REPO_RESULTS}), "
                           f"which holds the committed comparison; pass --out explicitly to write there (or elsewhere).")
    return out


def compare(sweep_dir: Path, out: Optional[Path] = None, thresholds: Optional[list] = None, sort_by: str = "final",
            figures: bool = True, ignore: tuple = (), keep: Optional[dict] = None) -> list:
    """Write the comparison of `sweep_dir` into `out` (default: <sweep_dir>/comparison); return the rows."""
    sweep_dir, ignore = Path(sweep_dir), tuple(ignore)
    out = default_out(sweep_dir) if out is None else Path(out)
    if thresholds is None:  # the thresholds the runs recorded, else 50%
        probe = find_runs(sweep_dir, [], ignore)
        recorded = {k for r in probe for k in (r.summary.get("epochs_to_threshold") or {})}
        thresholds = sorted(float(k.split(">=")[1]) for k in recorded if k.startswith("acc1>=")) or [50.0]
    runs = find_runs(sweep_dir, thresholds, ignore)
    scoring = scoring_of(runs)
    rows = setting_rows(runs, thresholds, sort_by, scoring)
    for label in constant_lr_settings(runs):
        print(f"warning: {label}: every run kept the LR constant over the whole run, so here it is the constant "
              f"schedule (its lengths do not fit in the run; give them as shares of the run, e.g. 30%).", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "comparison.md", markdown(rows, runs, thresholds, sort_by, sweep_dir, ignore, scoring))
    atomic_write_text(out / "comparison.csv", csv_text(rows))
    if figures:
        plot(rows, runs, out, scoring)
    if keep is not None:  # for a caller that draws more from the same reading (analysis.study_report)
        keep.update(runs=runs, scoring=scoring, markdown=(out / "comparison.md").read_text(), power=power_summary(rows))
    return rows
