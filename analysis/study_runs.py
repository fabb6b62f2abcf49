"""The runs of a study: one `train.py -m` multirun per schedule and phase, watched until each run ends, with the
console's progress lines. A run that ended for its machine (disk full, killed, out of memory) is no result: it is
pending again on the next invocation (machine_fault); a divergence or a failure the config caused is a result."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from analysis.study_spec import ROOT, StudySpec, lr_plan, spec_overrides
from engine.config.keys import hydra_quote
from engine.run_dir.status import RunStatus
from engine.run_dir.summary import read_summary, run_status

POLL_SECONDS = 2.0
STOPPING = threading.Event()  # set when one fanned-out phase failed or the study is stopping: the others stop their runs
ENDED = (RunStatus.COMPLETED, RunStatus.DIVERGED, RunStatus.FAILED)  # a run in one of these states has stopped for good
# What a failure's recorded error says when the machine, not the config, ended the run: errno names and numbers
# (ENOSPC, EDQUOT, ENOMEM, EIO, EROFS), and the out-of-memory errors of Python, the CUDA runtime and the kernel.
MACHINE_FAULT_MARKERS = ("No space left on device", "[Errno 28]", "Disk quota exceeded", "[Errno 122]",
                         "Cannot allocate memory", "[Errno 12]", "Input/output error", "[Errno 5]",
                         "Read-only file system", "[Errno 30]", "MemoryError", "out of memory", "Killed")


def machine_fault(summary: Optional[dict]) -> Optional[str]:
    """The recorded error when `summary` is a run that failed for its machine (disk full, out of memory, I/O), else None.

    Such a run is no result: it runs again (continuing from its checkpoint) on the study's next invocation."""
    if not summary or RunStatus.of(summary.get("status")) != RunStatus.FAILED:
        return None
    error = str(summary.get("error") or "")
    return error if any(marker in error for marker in MACHINE_FAULT_MARKERS) else None


def is_result(summary: Optional[dict]) -> bool:
    """Whether a run's summary is a result of the study: completed, diverged, or failed for its config."""
    return bool(summary) and RunStatus.of(summary.get("status")) in ENDED and machine_fault(summary) is None


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
    return [python, str(ROOT / "train.py"), "-m", *spec_overrides(spec, schedule),
            f"data.val_split={spec.val_split}", "trainer.progress=false",
            f"optimizer.lr={','.join(repr(lr) for lr in lrs)}", f"seed={','.join(map(str, seeds))}",
            *spec.overrides, f"hydra.sweep.dir={hydra_quote(str(jobs[0].run_dir.parent.resolve()))}", f"hydra.sweep.subdir={subdir}"]


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
        return sum(is_result(read_summary(d)) for d in self.run_dirs[(phase, schedule)])

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
        if machine_fault(summary):
            self.say(f"[study] {job.phase} {job.schedule} {what}: failed for its machine ({machine_fault(summary)}): "
                     f"not a result, it runs again on the next invocation | {self.status()}")
            return
        score = _score_text(job.phase, summary, self.spec.objective)
        self.say(f"[study] {job.phase} {job.schedule} {what}: {summary.get('status')}{score}"
                 f"{'' if fresh else ' (done before)'} | {self.status()}")


def record_fault(study_dir: Path, job: Job, summary: dict, error: Optional[str] = None) -> None:
    """Append the machine fault that ended `job` (its summary's error, or `error`) to <study dir>/faults.jsonl: the
    report counts and names them."""
    import json

    entry = {"phase": job.phase, "schedule": job.schedule, "lr": job.lr, "seed": job.seed, "run_dir": str(job.run_dir),
             "error": error or machine_fault(summary), "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    with open(Path(study_dir) / "faults.jsonl", "a") as out:
        out.write(json.dumps(entry) + "\n")


def read_faults(study_dir: Path) -> list:
    """Every machine fault the study met (faults.jsonl), each re-run afterwards; [] when none."""
    import json

    path = Path(study_dir) / "faults.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip().startswith("{")]


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
                    if job.run_dir not in reported and run_status(job.run_dir) in ENDED:
                        reported.add(job.run_dir)
                        on_finished(job, read_summary(job.run_dir))
                if returncode is not None:
                    break
                if STOPPING.is_set():  # another phase failed or the study stops: this run resumes next time
                    raise PhaseStopped(f"{jobs[0].phase} of {jobs[0].schedule} stopped")
                time.sleep(POLL_SECONDS)
        finally:
            if process.poll() is None:  # the study itself is stopping: stop its run too (it resumes next time)
                process.terminate()
                process.wait(timeout=60)
    unfinished = [j for j in jobs if j.run_dir not in reported]
    for job in unfinished:  # its process ended on its own without ending the run: killed (the OOM killer), crashed
        record_fault(spec.study_dir, job, {}, f"train.py exited {returncode} with the run unfinished (killed, e.g. out of memory)")
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


def fan_out(tasks: list, parallel: int = 1) -> list:
    """Run `tasks` (callables, each one or more phases that wait on nothing else) `parallel` at a time; their results in
    order. With 1, one after the other, as a study always ran. Otherwise each task's multiruns start as soon as a
    place is free, so no schedule waits on another's phase: use it where the launcher has room for more jobs than one
    multirun gives it (Slurm). The first failure, Ctrl-C or SIGTERM stops every other task's runs, which resume on the
    next invocation, and is raised."""
    if parallel <= 1 or len(tasks) <= 1:
        return [task() for task in tasks]
    STOPPING.clear()
    pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="study-phase")
    futures = [pool.submit(task) for task in tasks]
    try:
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = next((f for f in futures if f in done and f.exception() is not None), None)
        if failed is not None:
            raise failed.exception()
        return [f.result() for f in futures]
    finally:
        STOPPING.set()  # a no-op when all finished; otherwise the running multiruns stop (their runs resume next time)
        for future in futures:
            future.cancel()
        pool.shutdown(wait=True)
        STOPPING.clear()


class PhaseStopped(RuntimeError):
    """A fanned-out phase stopped because another failed or the study is stopping (its runs resume next time)."""


class StudyRunError(RuntimeError):
    """A multirun of the study ended with runs unfinished (its log says why); re-running continues."""


