"""A fair schedule study in one command: tune each schedule's LR on a validation split, then seeds, then the verdict.

    python scripts/study.py --dir multiruns/study_digits --schedules cosine,step,plateau --trials 6 --seeds 5

1. **Search.** Per schedule, `trials` training runs (seed 0) at LRs of one quasi-random plan (a
   scrambled Halton sequence on a log scale over [lr_low, lr_high]), the same plan and budget for every
   schedule. Each run holds `data.val_split` out of the training set and is scored on it (the
   `objective`, final-epoch validation top-1 by default). Every finished trial is recorded in an Optuna
   study per schedule (`lr_<schedule>` in `<dir>/optuna.db`, or any storage URL): the tuned LR is its
   best trial (ties: the median LR of the tied trials).
2. **Seeds.** Per schedule, `seeds` runs (seeds 0..N-1) at its tuned LR, with the same validation split
   held out, scored on the test set, which chose nothing.
3. **Comparison and report.** analysis.comparison on the seed runs (ranked by test top-1, paired tests,
   power), the LR-sensitivity figure from the Optuna trials, and one self-contained HTML page.

Runs are `train.py -m` multiruns (one per schedule and phase, so `hydra/launcher=...` overrides apply),
with their run directories under `<dir>/search/<schedule>/lr=<lr>` and `<dir>/seeds/<schedule>/seed=<s>`.
Kill the study at any moment and run the same command again: finished trials are read from the
Optuna storage (or from their summary.json), finished seed runs are skipped, a run stopped midway
resumes from its checkpoint (train.py does that in its directory), and the plan is deterministic, so
the final table equals an uninterrupted study's. A run that failed for its machine (disk full, out of memory) is
no result: it runs again on the next invocation (analysis.study_runs.machine_fault).

The parts: analysis.study_spec (the spec, its checks, the LR plan), study_plan (each schedule's plan checked against
the run length before any compute), study_runs (the multiruns and progress), study_trials (the Optuna record),
study_report and study_figures (the report); this module runs the phases. analysis.workload_study runs many
studies over workloads.
"""
from __future__ import annotations

import functools
import sys
import time
from pathlib import Path
from typing import Callable

from analysis import study_report
from analysis.study_plan import check_plans
from analysis.study_runs import (Job, Progress, StudyRunError, _duration, _exit_on_sigterm, fan_out, is_result,
                                 machine_fault, read_faults, record_fault, run_jobs)  # noqa: F401 (read_faults: the API)
from analysis.study_spec import (ROOT, StudySpec, check_spec, known_schedules, lr_plan, save_spec,  # noqa: F401 (the API)
                                 schedule_overrides)
from analysis.study_trials import optuna_study, record_trial, recorded_trials, tuned_lr
from common.errors import ConfigError  # noqa: F401  (callers catch it from here)
from engine.run_dir.summary import read_summary


def _on_finished(spec: StudySpec, progress: Progress, faults: list, record: Callable[[Job, dict], None]):
    """What happens when a run ends: a result is recorded; a machine fault is logged, and runs again next time."""
    def finished(job: Job, summary: dict) -> None:
        if machine_fault(summary):
            record_fault(Path(spec.study_dir), job, summary)
            faults.append(job)
        else:
            record(job, summary)
        progress.finished(job, summary, fresh=True)
    return finished


def _refuse_after_faults(faults: list, phase: str, schedule: str) -> None:
    """A phase that lost runs to the machine stops the study: a tuned LR or a verdict on the survivors would be wrong."""
    if faults:
        raise StudyRunError(f"{len(faults)} {phase} run(s) of {schedule} failed for their machine "
                            f"({'; '.join(str(j.run_dir) for j in faults)}): not results. Free the disk or memory and run the "
                            f"same command again: they run again (from their checkpoints), and nothing else does.")


def search_schedule(spec: StudySpec, schedule: str, progress: Progress, python: str = sys.executable) -> float:
    """Phase 1 for one schedule: its planned trials (results are read back, never re-run; machine faults run again);
    its tuned LR."""
    plan = lr_plan(spec.trials, spec.lr_low, spec.lr_high, spec.plan_seed)
    study = optuna_study(spec, schedule)
    jobs = [Job("search", schedule, lr, 0, Path(spec.study_dir) / "search" / schedule / f"lr={lr!r}") for lr in plan]
    pending = []
    for job in jobs:
        summary = read_summary(job.run_dir)
        if job.lr not in recorded_trials(study) and is_result(summary):
            record_trial(study, spec, job, summary)  # finished before a kill, not yet recorded
        if job.lr in recorded_trials(study):
            progress.finished(job, summary or {"status": recorded_trials(study)[job.lr].user_attrs.get("status")}, fresh=False)
        else:
            pending.append(job)
    faults: list = []
    run_jobs(spec, pending, _on_finished(spec, progress, faults, lambda job, summary: record_trial(study, spec, job, summary)),
             Path(spec.study_dir) / "logs" / f"search_{schedule}.log", python)
    _refuse_after_faults(faults, "search", schedule)
    trials = [t for lr, t in recorded_trials(study).items() if lr in plan]
    tuned = tuned_lr(trials)
    if tuned is None:
        raise StudyRunError(f"every search trial of {schedule} diverged or failed (LRs {', '.join(map(str, plan))}): "
                            f"no LR to run its seeds at. Lower --lr-range, or leave {schedule} out.")
    progress.say(f"[study] {schedule}: tuned lr={tuned:g} (best validation {spec.objective} of {len(trials)} trials)")
    return tuned


def seeds_of_schedule(spec: StudySpec, schedule: str, lr: float, progress: Progress, python: str = sys.executable) -> None:
    """Phase 2 for one schedule: its seeds at its tuned LR (results are skipped; stopped runs and machine faults resume)."""
    jobs = [Job("seeds", schedule, lr, seed, Path(spec.study_dir) / "seeds" / schedule / f"seed={seed}")
            for seed in range(spec.seeds)]
    pending = []
    for job in jobs:
        summary = read_summary(job.run_dir)
        if is_result(summary):
            progress.finished(job, summary, fresh=False)
        else:
            pending.append(job)
    faults: list = []
    run_jobs(spec, pending, _on_finished(spec, progress, faults, lambda job, summary: None),
             Path(spec.study_dir) / "logs" / f"seeds_{schedule}.log", python)
    _refuse_after_faults(faults, "seed", schedule)


def seed_runs(spec: StudySpec, tuned: dict, progress: Progress, python: str = sys.executable) -> None:
    """Phase 2 for every schedule, one after the other, at its tuned LR in `tuned`."""
    for schedule in spec.schedules:
        seeds_of_schedule(spec, schedule, tuned[schedule], progress, python)


def search_then_seeds(spec: StudySpec, schedule: str, progress: Progress, python: str = sys.executable) -> float:
    """Both phases of one schedule, which wait on no other schedule: one task for fan_out. Its tuned LR."""
    tuned = search_schedule(spec, schedule, progress, python)
    seeds_of_schedule(spec, schedule, tuned, progress, python)
    return tuned


def search(spec: StudySpec, progress: Progress, python: str = sys.executable, parallel: int = 1) -> dict:
    """Phase 1 for every schedule; {schedule: tuned LR}."""
    tasks = [functools.partial(search_schedule, spec, s, progress, python) for s in spec.schedules]
    return dict(zip(spec.schedules, fan_out(tasks, parallel)))


def search_and_seeds(spec: StudySpec, progress: Progress, python: str = sys.executable, parallel: int = 1) -> dict:
    """Both phases for every schedule, `parallel` schedules at a time (1: search every schedule, then every schedule's
    seeds, as before); {schedule: tuned LR}."""
    if parallel <= 1:
        tuned = search(spec, progress, python)
        seed_runs(spec, tuned, progress, python)
        return tuned
    tasks = [functools.partial(search_then_seeds, spec, s, progress, python) for s in spec.schedules]
    return dict(zip(spec.schedules, fan_out(tasks, parallel)))


def run_study(spec: StudySpec, say: Callable[[str], None] = print, python: str = sys.executable, parallel: int = 1) -> Path:
    """The whole study (plan check, search, seeds, comparison, report), resumable; returns the report's path.
    `parallel`: how many schedules' multiruns may run at once (analysis.study_runs.fan_out)."""
    check_spec(spec)
    plans = check_plans(spec, say, python)  # before any compute: a schedule constant over the run is refused
    save_spec(spec)
    _exit_on_sigterm()
    progress = Progress(spec, say)
    say(f"[study] {len(spec.schedules)} schedules x ({spec.trials} search trials + {spec.seeds} seeds) in {spec.study_dir}; "
        f"Optuna storage {spec.storage_url}")
    tuned = search_and_seeds(spec, progress, python, parallel)
    report = study_report.write(spec, tuned, plans)
    say(f"[study] done in {_duration(time.time() - progress.started)}: {report}")
    return report
