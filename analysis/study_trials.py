"""Optuna as the record of a study's search: one study per schedule (`lr_<schedule>`) in one storage, each finished
trial added with its validation score, and the tuned LR read back from it."""
from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Optional

from analysis.study_runs import Job, is_result, machine_fault
from analysis.study_spec import StudySpec
from engine.run_dir.status import RunStatus
from engine.run_dir.summary import read_summary


# Studies whose phases fan out (analysis.study_runs.fan_out) share one storage from several threads: Optuna creating
# a new SQLite storage from two threads at once fails (its schema's version row, inserted twice), so every storage
# call of this module goes through one lock. They take milliseconds beside minutes of training.
STORAGE_LOCK = threading.RLock()


def optuna_study(spec: StudySpec, schedule: str):
    with STORAGE_LOCK:
        return _create_or_load(spec, schedule)


def _create_or_load(spec: StudySpec, schedule: str):
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # add_trial, create_trial (2.x)
    return optuna.create_study(study_name=f"lr_{spec.name_prefix}{schedule}", storage=spec.storage_url, direction="maximize",
                               load_if_exists=True)


def recorded_trials(study) -> dict:
    """{lr: FrozenTrial} of the trials that are results: complete, or failed by divergence or by their config.

    A failed trial whose run failed for its machine (recorded so by an older version of the study, which took it
    for a result) is left out: its run is run again, and that run's trial replaces it."""
    from optuna.trial import TrialState

    with STORAGE_LOCK:
        trials = study.get_trials(deepcopy=False)
    return {float(t.params["lr"]): t for t in trials
            if "lr" in t.params and (t.state == TrialState.COMPLETE or (t.state == TrialState.FAIL and _failure_is_result(t)))}


def _failure_is_result(trial) -> bool:
    if "error" in trial.user_attrs or trial.user_attrs.get("status") == RunStatus.DIVERGED:
        return machine_fault({"status": RunStatus.FAILED, "error": trial.user_attrs.get("error")}) is None
    summary = read_summary(Path(trial.user_attrs.get("run_dir", "")))  # an older record: what its run says now
    return is_result(summary) and RunStatus.of(summary.get("status")) != RunStatus.COMPLETED


def record_trial(study, spec: StudySpec, job: Job, summary: dict) -> None:
    """Add the finished run as an Optuna trial: complete with its validation score, or failed (diverged/failed)."""
    with STORAGE_LOCK:
        _add_trial(study, spec, job, summary)


def _add_trial(study, spec: StudySpec, job: Job, summary: dict) -> None:
    import optuna
    from optuna.distributions import LogUniformDistribution
    from optuna.trial import TrialState

    if job.lr in recorded_trials(study) or not is_result(summary):  # a machine fault is no trial: it runs again
        return
    value = summary.get(spec.objective)
    completed = summary.get("status") == RunStatus.COMPLETED and isinstance(value, (int, float)) and math.isfinite(value)
    study.add_trial(optuna.trial.create_trial(
        params={"lr": job.lr}, distributions={"lr": LogUniformDistribution(spec.lr_low, spec.lr_high)},
        value=float(value) if completed else None, state=TrialState.COMPLETE if completed else TrialState.FAIL,
        user_attrs={"status": summary.get("status"), "error": summary.get("error"), "run_dir": str(job.run_dir), "seed": job.seed,
                    "test_acc1": summary.get("test_acc1"), "objective": spec.objective}))


def tuned_lr(trials: list) -> Optional[float]:
    """The best trial's LR; among equally good trials the median LR (lower median), the most central of them."""
    scored = [(t.value, float(t.params["lr"])) for t in trials if t.value is not None]
    if not scored:
        return None
    best = max(v for v, _ in scored)
    tied = sorted(lr for v, lr in scored if v == best)
    return tied[(len(tied) - 1) // 2]


