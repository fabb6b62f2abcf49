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
the final table equals an uninterrupted study's.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional

from common.errors import ConfigError
from engine.run_dir.status import RunStatus
from engine.run_dir.summary import read_summary, run_status

ROOT = Path(__file__).resolve().parents[1]
FINISHED = (RunStatus.COMPLETED, RunStatus.DIVERGED, RunStatus.FAILED)  # a run in one of these states never runs again
OBJECTIVES = ("final_acc1", "best_acc1")
POLL_SECONDS = 2.0


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
    for schedule in spec.schedules:
        if not (schedule_overrides(spec.experiment, schedule) and _exists(spec.experiment, schedule)):
            raise ConfigError(f"schedule {schedule!r} is neither conf/experiment/{spec.experiment}_{schedule}.yaml nor "
                              f"conf/scheduler/{schedule}.yaml; valid schedules: {', '.join(known_schedules())}.")
    if not (ROOT / "conf" / "experiment" / f"{spec.experiment}.yaml").is_file():
        raise ConfigError(f"--experiment {spec.experiment} is not in conf/experiment/ (e.g. digits).")


def known_schedules() -> list:
    return sorted(p.stem for p in (ROOT / "conf" / "scheduler").glob("*.yaml"))


def _exists(experiment: str, schedule: str) -> bool:
    return ((ROOT / "conf" / "experiment" / f"{experiment}_{schedule}.yaml").is_file()
            or (ROOT / "conf" / "scheduler" / f"{schedule}.yaml").is_file())


def schedule_overrides(experiment: str, schedule: str) -> list:
    """`experiment=digits_step` when the experiment has a variant for the schedule (its lengths rescaled), else
    `experiment=digits scheduler=step`."""
    if (ROOT / "conf" / "experiment" / f"{experiment}_{schedule}.yaml").is_file():
        return [f"experiment={experiment}_{schedule}"]
    return [f"experiment={experiment}", f"scheduler={schedule}"]


def lr_plan(trials: int, low: float, high: float, seed: int = 0) -> list:
    """The LRs of the search, the same for every schedule: a scrambled 1-D Halton sequence on a log scale.

    Quasi-random points cover the range evenly at any budget, and the first k points of a longer plan
    are the plan of k trials, so raising --trials continues a study. Rounded to 3 significant digits
    (they name the run directories)."""
    from scipy.stats import qmc

    points = qmc.Halton(d=1, scramble=True, seed=seed).random(trials)[:, 0]
    return [float(f"{math.exp(math.log(low) + u * (math.log(high) - math.log(low))):.3g}") for u in points]


# ----------------------------------------------------------------------------- the runs

@dataclass
class Job:
    """One training run of the study: its phase, schedule, LR, seed and directory."""

    phase: str  # "search" or "seeds"
    schedule: str
    lr: float
    seed: int
    run_dir: Path


def _sweep_command(spec: StudySpec, schedule: str, jobs: list, python: str) -> list:
    """One `train.py -m` multirun for the pending jobs of one schedule and phase (they differ in LR or in seed)."""
    phase = jobs[0].phase
    lrs, seeds = sorted({j.lr for j in jobs}), sorted({j.seed for j in jobs})
    subdir = "'lr=${optimizer.lr}'" if phase == "search" else "'seed=${seed}'"
    return [python, str(ROOT / "train.py"), "-m", *schedule_overrides(spec.experiment, schedule),
            f"data.val_split={spec.val_split}", "trainer.progress=false",
            f"optimizer.lr={','.join(repr(lr) for lr in lrs)}", f"seed={','.join(map(str, seeds))}",
            *spec.overrides, f"hydra.sweep.dir={jobs[0].run_dir.parent.resolve()}", f"hydra.sweep.subdir={subdir}"]


class Progress:
    """Console lines: where the study is (trials and seeds done / planned per schedule), elapsed, an estimate.

    Counts come from the run directories on disk, so runs finished by an earlier invocation count from the start."""

    def __init__(self, spec: StudySpec, say: Callable[[str], None] = print) -> None:
        self.spec, self.say, self.started = spec, say, time.time()
        self.run_seconds: list = []  # wall time of runs finished by this invocation
        plan = lr_plan(spec.trials, spec.lr_low, spec.lr_high, spec.plan_seed)
        root = Path(spec.study_dir)
        self.run_dirs = {("search", s): [root / "search" / s / f"lr={lr!r}" for lr in plan] for s in spec.schedules}
        self.run_dirs.update({("seeds", s): [root / "seeds" / s / f"seed={k}" for k in range(spec.seeds)] for s in spec.schedules})

    def done(self, phase: str, schedule: str) -> int:
        return sum(run_status(d) in FINISHED for d in self.run_dirs[(phase, schedule)])

    @property
    def remaining(self) -> int:
        return sum(len(dirs) - self.done(*key) for key, dirs in self.run_dirs.items())

    def status(self) -> str:
        search = ", ".join(f"{s} {self.done('search', s)}/{self.spec.trials}" for s in self.spec.schedules)
        seeds = ", ".join(f"{s} {self.done('seeds', s)}/{self.spec.seeds}" for s in self.spec.schedules)
        elapsed = time.time() - self.started
        estimate = ""
        remaining = self.remaining
        if self.run_seconds and remaining:  # this invocation's time per run, process start-ups included
            per_run = (time.time() - self.started) / len(self.run_seconds)
            estimate = f", about {_duration(per_run * remaining)} left ({_duration(per_run)} per run)"
        return f"trials {search} | seeds {seeds} | elapsed {_duration(elapsed)}{estimate}"

    def finished(self, job: Job, summary: dict, fresh: bool) -> None:
        if fresh:
            self.run_seconds.append(float(summary.get("wall_time_s") or 0.0))
        what = f"lr={job.lr:g}" if job.phase == "search" else f"seed {job.seed} at lr={job.lr:g}"
        score = _score_text(job.phase, summary, self.spec.objective)
        self.say(f"[study] {job.phase} {job.schedule} {what}: {summary.get('status')}{score}"
                 f"{'' if fresh else ' (done before)'} | {self.status()}")


def _score_text(phase: str, summary: dict, objective: str) -> str:
    if summary.get("status") != RunStatus.COMPLETED:
        return ""
    if phase == "search":
        return f", validation {objective.replace('_acc1', '')} top-1 {summary.get(objective, float('nan')):.2f}"
    return f", test top-1 {summary.get('test_acc1', float('nan')):.2f}"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


def run_jobs(spec: StudySpec, jobs: list, on_finished: Callable[[Job, dict], None], log_path: Path,
             python: str = sys.executable) -> None:
    """Run the pending `jobs` of one schedule and phase as one multirun, reporting each as it finishes."""
    if not jobs:
        return
    command = _sweep_command(spec, jobs[0].schedule, jobs, python)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    reported: set = set()
    with open(log_path, "a") as log:
        log.write("$ " + " ".join(command) + "\n")
        log.flush()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, preexec_fn=_stop_with_parent,
                                   env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            while True:
                returncode = process.poll()
                for job in jobs:  # each run is recorded as soon as it ends, so a kill loses at most the running one
                    if job.run_dir not in reported and run_status(job.run_dir) in FINISHED:
                        reported.add(job.run_dir)
                        on_finished(job, read_summary(job.run_dir))
                if returncode is not None:
                    break
                time.sleep(POLL_SECONDS)
        finally:
            if process.poll() is None:  # the study itself is stopping: stop its run too (it resumes next time)
                process.terminate()
                process.wait(timeout=60)
    unfinished = [j for j in jobs if j.run_dir not in reported]
    if unfinished:
        raise StudyRunError(f"{len(unfinished)} run(s) of the {jobs[0].phase} of {jobs[0].schedule} did not finish "
                            f"(train.py exited {returncode}); see {log_path}. Run the same command again to continue.")


def _stop_with_parent() -> None:
    """In the child: a SIGTERM when the study process dies, even by SIGKILL (Linux), so no run is left orphaned
    holding its run directory; train.py stops at the next step and resumes there next time."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: a killed study may leave its current run to finish alone
        pass


def _exit_on_sigterm() -> None:
    """SIGTERM (kill, scancel) ends the study like Ctrl-C: its current run is stopped and resumes next time."""
    import signal

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


class StudyRunError(RuntimeError):
    """A multirun of the study ended with runs unfinished (its log says why); re-running continues."""


# ----------------------------------------------------------------------------- Optuna: the record of the search

def optuna_study(spec: StudySpec, schedule: str):
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # add_trial, create_trial (2.x)
    return optuna.create_study(study_name=f"lr_{schedule}", storage=spec.storage_url, direction="maximize",
                               load_if_exists=True)


def recorded_trials(study) -> dict:
    """{lr: FrozenTrial} of the finished trials in the Optuna study (complete or failed)."""
    from optuna.trial import TrialState

    return {float(t.params["lr"]): t for t in study.get_trials(deepcopy=False)
            if t.state in (TrialState.COMPLETE, TrialState.FAIL) and "lr" in t.params}


def record_trial(study, spec: StudySpec, job: Job, summary: dict) -> None:
    """Add the finished run as an Optuna trial: complete with its validation score, or failed (diverged/failed)."""
    import optuna
    from optuna.distributions import LogUniformDistribution
    from optuna.trial import TrialState

    if job.lr in recorded_trials(study):
        return
    value = summary.get(spec.objective)
    completed = summary.get("status") == RunStatus.COMPLETED and isinstance(value, (int, float)) and math.isfinite(value)
    study.add_trial(optuna.trial.create_trial(
        params={"lr": job.lr}, distributions={"lr": LogUniformDistribution(spec.lr_low, spec.lr_high)},
        value=float(value) if completed else None, state=TrialState.COMPLETE if completed else TrialState.FAIL,
        user_attrs={"status": summary.get("status"), "run_dir": str(job.run_dir), "seed": job.seed,
                    "test_acc1": summary.get("test_acc1"), "objective": spec.objective}))


def tuned_lr(trials: list) -> Optional[float]:
    """The best trial's LR; among equally good trials the median LR (lower median), the most central of them."""
    scored = [(t.value, float(t.params["lr"])) for t in trials if t.value is not None]
    if not scored:
        return None
    best = max(v for v, _ in scored)
    tied = sorted(lr for v, lr in scored if v == best)
    return tied[(len(tied) - 1) // 2]


# ----------------------------------------------------------------------------- the study

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


def search(spec: StudySpec, progress: Progress, python: str = sys.executable) -> dict:
    """Phase 1: every schedule's planned trials (finished ones are read back, never re-run); {schedule: tuned LR}."""
    plan, tuned = lr_plan(spec.trials, spec.lr_low, spec.lr_high, spec.plan_seed), {}
    for schedule in spec.schedules:
        study = optuna_study(spec, schedule)
        jobs = [Job("search", schedule, lr, 0, Path(spec.study_dir) / "search" / schedule / f"lr={lr!r}") for lr in plan]
        pending = []
        for job in jobs:
            summary = read_summary(job.run_dir)
            if job.lr not in recorded_trials(study) and summary and summary.get("status") in FINISHED:
                record_trial(study, spec, job, summary)  # finished before a kill, not yet recorded
            if job.lr in recorded_trials(study):
                progress.finished(job, summary or {"status": recorded_trials(study)[job.lr].user_attrs.get("status")}, fresh=False)
            else:
                pending.append(job)

        def finished(job: Job, summary: dict, study=study) -> None:
            record_trial(study, spec, job, summary)
            progress.finished(job, summary, fresh=True)

        run_jobs(spec, pending, finished, Path(spec.study_dir) / "logs" / f"search_{schedule}.log", python)
        trials = [t for lr, t in recorded_trials(study).items() if lr in plan]
        tuned[schedule] = tuned_lr(trials)
        if tuned[schedule] is None:
            raise StudyRunError(f"every search trial of {schedule} diverged or failed (LRs {', '.join(map(str, plan))}): "
                                f"no LR to run its seeds at. Lower --lr-range, or leave {schedule} out.")
        progress.say(f"[study] {schedule}: tuned lr={tuned[schedule]:g} (best validation {spec.objective} of "
                     f"{len(trials)} trials)")
    return tuned


def seed_runs(spec: StudySpec, tuned: dict, progress: Progress, python: str = sys.executable) -> None:
    """Phase 2: every schedule's seeds at its tuned LR (finished runs are skipped, stopped ones resume)."""
    for schedule in spec.schedules:
        jobs = [Job("seeds", schedule, tuned[schedule], seed, Path(spec.study_dir) / "seeds" / schedule / f"seed={seed}")
                for seed in range(spec.seeds)]
        pending = []
        for job in jobs:
            if run_status(job.run_dir) in FINISHED:
                progress.finished(job, read_summary(job.run_dir), fresh=False)
            else:
                pending.append(job)
        run_jobs(spec, pending, lambda job, summary: progress.finished(job, summary, fresh=True),
                 Path(spec.study_dir) / "logs" / f"seeds_{schedule}.log", python)


def run_study(spec: StudySpec, say: Callable[[str], None] = print, python: str = sys.executable) -> Path:
    """The whole study (search, seeds, comparison, report), resumable; returns the report's path."""
    from analysis import study_report

    check_spec(spec)
    save_spec(spec)
    _exit_on_sigterm()
    progress = Progress(spec, say)
    say(f"[study] {len(spec.schedules)} schedules x ({spec.trials} search trials + {spec.seeds} seeds) in {spec.study_dir}; "
        f"Optuna storage {spec.storage_url}")
    tuned = search(spec, progress, python)
    seed_runs(spec, tuned, progress, python)
    report = study_report.write(spec, tuned)
    say(f"[study] done in {_duration(time.time() - progress.started)}: {report}")
    return report
