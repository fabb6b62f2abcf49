"""What defines a schedule study: its spec (saved as <dir>/study.json), the checks on it, the config each schedule
name resolves to, and the quasi-random LR plan every schedule shares. No training here (analysis.study runs it)."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from common.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
OBJECTIVES = ("final_acc1", "best_acc1")


@dataclass
class StudySpec:
    """Everything that defines a study; saved as <dir>/study.json so a re-run can refuse a changed one."""

    study_dir: Path
    schedules: list
    experiment: str = "digits"
    trials: int = 6
    seeds: int = 5
    lr_low: float = 0.005
    lr_high: float = 1.0
    val_split: float = 0.2
    objective: str = "final_acc1"
    plan_seed: int = 0
    overrides: list = field(default_factory=list)  # Hydra overrides for every run (trainer.max_epochs=10, hydra/launcher=...)
    storage: Optional[str] = None  # default sqlite:///<dir>/optuna.db
    report_dir: Optional[Path] = None  # default <dir>/report
    workload: Optional[str] = None  # conf/workload/<name>.yaml instead of the experiment (scripts/study.py --workloads)
    name_prefix: str = ""  # before the Optuna study names (lr_<prefix><schedule>), so studies can share one storage

    @property
    def storage_url(self) -> str:
        return self.storage or f"sqlite:///{(Path(self.study_dir) / 'optuna.db').resolve()}"

    def defining(self) -> dict:
        """What makes two invocations the same study. The budget and the schedules may change: every schedule
        runs the same plan independently, and the first k trials of a longer plan are the plan of k."""
        d = asdict(self)
        for key in ("study_dir", "schedules", "trials", "seeds", "storage", "report_dir"):
            d.pop(key)
        d["overrides"] = [o for o in self.overrides if not _is_launcher_override(o)]
        for key in ("workload", "name_prefix"):  # absent when unused: a study saved before they existed stays the same
            if not d[key]:
                d.pop(key)
        return d


def _is_launcher_override(override: str) -> bool:
    return override.lstrip("+~").startswith(("hydra/launcher", "hydra.launcher", "trainer.progress", "device="))


def check_spec(spec: StudySpec) -> None:
    """Refuse a study that cannot be run, naming the bad value and what would be valid (ConfigError: exit 2)."""
    if not spec.schedules:
        raise ConfigError("--schedules is empty; name at least two schedules, e.g. --schedules cosine,step,plateau.")
    if len(set(spec.schedules)) != len(spec.schedules):
        raise ConfigError(f"--schedules {','.join(spec.schedules)} names a schedule twice; name each once.")
    if spec.trials < 1 or spec.seeds < 1:
        raise ConfigError(f"--trials {spec.trials} and --seeds {spec.seeds} must both be at least 1 "
                          f"(the verdict needs 3 seeds per schedule to name a winner).")
    if not 0 < spec.lr_low < spec.lr_high:
        raise ConfigError(f"--lr-range {spec.lr_low},{spec.lr_high} must be two LRs with 0 < low < high, e.g. 0.005,1.0.")
    if spec.objective not in OBJECTIVES:
        raise ConfigError(f"--objective {spec.objective} is not one of {', '.join(OBJECTIVES)}.")
    if not spec.val_split or spec.val_split <= 0:
        raise ConfigError(f"--val-split {spec.val_split} must hold images out of the training set (a fraction such as 0.2, "
                          f"or a number of images): the LR is chosen on them, never on the test set.")
    if spec.workload is not None and not (ROOT / "conf" / "workload" / f"{spec.workload}.yaml").is_file():
        raise ConfigError(f"workload {spec.workload!r} is not in conf/workload/; valid workloads: {', '.join(known_workloads())}.")
    for schedule in spec.schedules:
        if not (schedule_overrides(spec.experiment, schedule) and _exists(spec.experiment, schedule)):
            raise ConfigError(f"schedule {schedule!r} is neither conf/experiment/{spec.experiment}_{schedule}.yaml nor "
                              f"conf/scheduler/{schedule}.yaml; valid schedules: {', '.join(known_schedules())}.")
    if not (ROOT / "conf" / "experiment" / f"{spec.experiment}.yaml").is_file():
        raise ConfigError(f"--experiment {spec.experiment} is not in conf/experiment/ (e.g. digits).")


def known_schedules() -> list:
    return sorted(p.stem for p in (ROOT / "conf" / "scheduler").glob("*.yaml"))


def known_workloads() -> list:
    return sorted(p.stem for p in (ROOT / "conf" / "workload").glob("*.yaml"))


def _exists(experiment: str, schedule: str) -> bool:
    return ((ROOT / "conf" / "experiment" / f"{experiment}_{schedule}.yaml").is_file()
            or (ROOT / "conf" / "scheduler" / f"{schedule}.yaml").is_file())


def schedule_overrides(experiment: str, schedule: str) -> list:
    """`experiment=digits_step` when the experiment has a variant for the schedule (its lengths rescaled), else
    `experiment=digits scheduler=step`."""
    if (ROOT / "conf" / "experiment" / f"{experiment}_{schedule}.yaml").is_file():
        return [f"experiment={experiment}_{schedule}"]
    return [f"experiment={experiment}", f"scheduler={schedule}"]


# A workload's run is a few epochs: wsd's preset warmup of 5 epochs (the CIFAR recipe's) becomes a share of the run.
WORKLOAD_SCHEDULE_OVERRIDES = {"wsd": ["scheduler.lr_scheduler.warmup_iters=10%"]}


def spec_overrides(spec: "StudySpec", schedule: str) -> list:
    """What `schedule` runs as in the study: its workload and `scheduler=<schedule>`, else schedule_overrides."""
    if spec.workload:
        return [f"+workload={spec.workload}", f"scheduler={schedule}", *WORKLOAD_SCHEDULE_OVERRIDES.get(schedule, [])]
    return schedule_overrides(spec.experiment, schedule)


def lr_plan(trials: int, low: float, high: float, seed: int = 0) -> list:
    """The LRs of the search, the same for every schedule: a scrambled 1-D Halton sequence on a log scale.

    Quasi-random points cover the range evenly at any budget, and the first k points of a longer plan
    are the plan of k trials, so raising --trials continues a study. Rounded to 3 significant digits
    (they name the run directories)."""
    from scipy.stats import qmc

    points = qmc.Halton(d=1, scramble=True, seed=seed).random(trials)[:, 0]
    return [float(f"{math.exp(math.log(low) + u * (math.log(high) - math.log(low))):.3g}") for u in points]



def save_spec(spec: StudySpec) -> None:
    """Write <dir>/study.json, or refuse a re-run whose study differs from the one the directory holds."""
    from common.files import atomic_write_text

    path = Path(spec.study_dir) / "study.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        if saved.get("defining") != json.loads(json.dumps(spec.defining())):
            raise ConfigError(f"{spec.study_dir} holds a different study ({path}: {json.dumps(saved.get('defining'))}); "
                              f"this command asks for {json.dumps(spec.defining())}. Use another --dir, or the same options "
                              f"(--trials, --seeds, --schedules and launcher overrides may change).")
    Path(spec.study_dir).mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps({"defining": spec.defining(), "trials": spec.trials, "seeds": spec.seeds,
                                        "storage": spec.storage_url}, indent=2) + "\n")


