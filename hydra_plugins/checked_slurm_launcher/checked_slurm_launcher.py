"""hydra-submitit-launcher's SlurmLauncher, made safe to use: `python train.py -m hydra/launcher=slurm ...`.

In the launching process:
  * preflight: no Slurm, a missing partition, or a job no node of the partition can ever hold is
    refused in one paragraph (exit 2, nothing submitted) instead of a traceback or a job pending forever;
  * a re-run of a sweep with `hydra.sweep.dir=<its dir>` submits only the jobs whose run has not
    completed or diverged (the others continue from their last checkpoint: exact resume);
  * job states come from squeue when the cluster has no accounting (one log line, not a warning per poll);
  * Ctrl-C cancels the submitted jobs with scancel (or, with `hydra.launcher.on_interrupt=leave`,
    leaves them running and says how to watch them).
In each job (a Slurm array task):
  * Slurm's notice before the time limit or a preemption (submitit asks for it with
    `--signal=USR2@signal_delay_s`) becomes `engine.training.stopping.request_stop("requeued")`: the training
    loop saves a checkpoint at the next step boundary, records `requeued` in summary.json and returns;
    only then is the job requeued (`scontrol requeue`, as submitit does), and the requeued job resumes
    from that checkpoint in the same run directory. Requeues after time limits are bounded by
    `hydra.launcher.max_num_timeout`; preemptions are not counted.
"""
# (no `from __future__ import annotations`: Hydra's plugin scan runs this module outside sys.modules,
# where dataclasses cannot resolve string annotations)

import logging
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from omegaconf import DictConfig, OmegaConf

from common.errors import ConfigError
from engine.platform.console import command as print_command
from engine.platform.errors import paragraph, user_errors
from engine.run_dir.resume import resume_command
from engine.run_dir.status import RunStatus
from engine.run_dir.summary import finished_status, read_summary, replace_status
from hydra_plugins.checked_slurm_launcher import preflight
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf, SlurmQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher

log = logging.getLogger(__name__)

# Config keys of this launcher that are not sbatch/submitit parameters.
OWN_KEYS = ("preflight", "on_interrupt", "skip_finished")


@dataclass
class CheckedSlurmQueueConf(SlurmQueueConf):
    _target_: str = "hydra_plugins.checked_slurm_launcher.checked_slurm_launcher.CheckedSlurmLauncher"
    # Compare the request with the partition (sinfo/scontrol) before submitting anything.
    preflight: bool = True
    # Ctrl-C of the launching process: "cancel" the submitted jobs (scancel), or "leave" them running.
    on_interrupt: str = "cancel"
    # Do not submit jobs whose run directory says completed or diverged (a re-run of the sweep).
    skip_finished: bool = True


ConfigStore.instance().store(group="hydra/launcher", name="checked_slurm", node=CheckedSlurmQueueConf(),
                             provider="checked_slurm_launcher")


class CheckedSlurmLauncher(SlurmLauncher):
    """SlurmLauncher with preflight, finish-only re-runs, Ctrl-C handling and requeue at a step boundary."""

    def __init__(self, preflight: bool = True, on_interrupt: str = "cancel", skip_finished: bool = True, **params: Any) -> None:
        super().__init__(**params)
        if on_interrupt not in ("cancel", "leave"):
            with user_errors():
                raise ConfigError(f"hydra.launcher.on_interrupt={on_interrupt}: use cancel (scancel the submitted jobs on "
                                  f"Ctrl-C) or leave (keep them running).")
        self.preflight, self.on_interrupt, self.skip_finished = preflight, on_interrupt, skip_finished

    # ---- in the launching process ----

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        assert self.config is not None and self.hydra_context is not None
        with user_errors():
            if self.preflight:
                partition = preflight.check_request(self.params)
                log.info(f"Slurm preflight: partition '{partition.name}' ({partition.node_count} node(s), up to "
                         f"{partition.cpus_per_node} CPUs, {partition.mem_mb_per_node // 1024} GB, {partition.gpus_per_node} GPUs "
                         f"per node) can run these jobs")
                if partition.state != "UP":
                    log.warning(f"partition '{partition.name}' is {partition.state}: its jobs wait until an admin sets it UP")
            else:
                preflight.require_slurm_commands()
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        numbered = [(initial_job_idx + i, list(overrides)) for i, overrides in enumerate(job_overrides)]
        done: Dict[int, JobReturn] = {}
        if self.skip_finished and sweep_dir.is_dir():
            with user_errors():
                refuse_while_jobs_active(sweep_dir)
            done = {num: ret for num, ret in ((num, self._finished_job(num, overrides)) for num, overrides in numbered) if ret}
        to_submit = [(num, overrides) for num, overrides in numbered if num not in done]
        submitted = self._submit_and_wait(to_submit, sweep_dir) if to_submit else {}
        return [done.get(num) or submitted[num] for num, _ in numbered]

    def _job_config(self, overrides: List[str]) -> DictConfig:
        return self.hydra_context.config_loader.load_sweep_config(self.config, overrides)

    def _finished_job(self, num: int, overrides: List[str]) -> Optional[JobReturn]:
        """A JobReturn for job `num` when its run directory already ended (completed/diverged), else None."""
        sweep_config = self._job_config(overrides)
        saved = HydraConfig.instance().cfg
        try:
            HydraConfig.instance().set_config(sweep_config)  # the subdir may interpolate hydra.job.* keys
            run_dir = Path(str(sweep_config.hydra.sweep.dir)) / str(sweep_config.hydra.sweep.subdir)
        except Exception:  # a subdir that can only be resolved inside the job (e.g. ${hydra.job.id}): submit it
            return None
        finally:
            HydraConfig.instance().cfg = saved
        status = finished_status(run_dir)
        if status is None:
            return None
        log.info(f"\t#{num} : {' '.join(filter_overrides(overrides))} already {status} in {run_dir}; not submitted")
        from engine.run_dir.hparams import objective  # what a sweeper optimises comes from the run's summary.json

        ret = JobReturn(overrides=overrides, working_dir=os.getcwd(), task_name=str(sweep_config.hydra.job.name),
                        status=JobStatus.COMPLETED)
        ret.return_value = objective(sweep_config, read_summary(run_dir) or {})
        return ret

    def _executor(self) -> Any:
        """submitit's executor with this launcher's parameters (as BaseSubmititLauncher.launch builds it)."""
        import submitit
        from submitit.slurm.slurm import SlurmJob

        from hydra_plugins.checked_slurm_launcher.job_states import AccountingFreeWatcher

        if not isinstance(SlurmJob.watcher, AccountingFreeWatcher):
            SlurmJob.watcher = AccountingFreeWatcher(delay_s=60)
        params = {k: v for k, v in self.params.items() if k not in OWN_KEYS}
        executor = submitit.AutoExecutor(cluster="slurm", folder=params.pop("submitit_folder"),
                                         slurm_max_num_timeout=params.pop("max_num_timeout", 0))
        base = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{k if k in base else f"slurm_{k}": v for k, v in params.items()})
        return executor

    def _submit_and_wait(self, numbered: List[tuple], sweep_dir: Path) -> Dict[int, JobReturn]:
        executor = self._executor()
        log.info(f"Submitit 'slurm' sweep output dir : {sweep_dir}")
        sweep_dir.mkdir(parents=True, exist_ok=True)
        args = []
        for num, overrides in numbered:
            log.info(f"\t#{num} : {' '.join(filter_overrides(overrides))}")
            args.append((overrides, "hydra.sweep.dir", num, f"job_id_for_{num}", Singleton.get_state()))
        jobs = executor.map_array(self, *zip(*args))
        job_ids = ", ".join(sorted({job.job_id.split("_")[0] for job in jobs}))
        log.info(f"Submitted Slurm job(s) {job_ids}; logs in {sweep_dir}/.submitit/<job id>/")
        # OneFlow, imported by the task's module, replaces Python's SIGINT handler: Ctrl-C must reach this wait.
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            return {num: job_result(job) for (num, _), job in zip(numbered, jobs)}
        except KeyboardInterrupt:
            self._interrupted(jobs, sweep_dir)
            raise
        finally:
            signal.signal(signal.SIGINT, previous)

    def _interrupted(self, jobs: Sequence[Any], sweep_dir: Path) -> None:
        ids = sorted({job.job_id.split("_")[0] for job in jobs})
        again = f"re-run the same command with hydra.sweep.dir={sweep_dir}"
        if self.on_interrupt == "cancel":
            subprocess.run(["scancel", *ids], capture_output=True, timeout=60)
            message = (f"Ctrl-C: cancelled this sweep's {len(jobs)} Slurm job(s) with `scancel {' '.join(ids)}`. Each run "
                       f"keeps its last checkpoint; to finish the sweep, {again} (it submits only the unfinished jobs). "
                       f"To leave jobs running on Ctrl-C instead, add hydra.launcher.on_interrupt=leave.")
        else:
            message = (f"Ctrl-C: this sweep's {len(jobs)} Slurm job(s) keep running (hydra.launcher.on_interrupt=leave). "
                       f"Watch them with `squeue -j {','.join(ids)}`, their logs are in {sweep_dir}/.submitit/; cancel "
                       f"them with `scancel {' '.join(ids)}`. When they have ended, {again} to resubmit any that did not finish.")
        print("\n" + paragraph(message, prefix=""), file=sys.stderr)
        sys.stderr.flush()
        sys.exit(130)

    # ---- in the Slurm job ----

    def __call__(self, sweep_overrides: List[str], job_dir_key: str, job_num: int, job_id: str,
                 singleton_state: Dict[type, Singleton]) -> JobReturn:
        import submitit

        from engine.training import stopping

        # Replaces submitit's own handler, which would checkpoint and exit at once, in the middle of a step.
        stopping.stop_on_signal(submitit.JobEnvironment._usr_sig(), RunStatus.REQUEUED)
        job_return = super().__call__(sweep_overrides, job_dir_key, job_num, job_id, singleton_state)
        if stopping.stop_requested() == RunStatus.REQUEUED and job_return.status == JobStatus.COMPLETED:
            run_dir = Path(job_return.hydra_cfg.hydra.runtime.output_dir)
            status = finished_status(run_dir)
            if status:
                log.info(f"the stop request came after the run had ended ({status}); not requeued")
            else:
                self._requeue(run_dir)  # exits the process when the job was requeued
        return job_return

    def _requeue(self, run_dir: Path) -> None:
        """Requeue this job (its run saved a checkpoint and returned); bounded by max_num_timeout after time limits."""
        import submitit
        from submitit.core.job_environment import _checkpoint
        from submitit.core.utils import DelayedSubmission

        env = submitit.JobEnvironment()
        if env.global_rank != 0:  # only the first task of a job requeues it
            return
        delayed = DelayedSubmission.load(env.paths.submitted_pickle)
        timed_out = near_time_limit(env.job_id, int(self.params.get("signal_delay_s") or 120))
        countdown = delayed._timeout_countdown - int(timed_out)
        if countdown < 0:
            log.warning(f"not requeued: this job reached its time limit more than hydra.launcher.max_num_timeout="
                        f"{self.params.get('max_num_timeout')} times. Its last checkpoint is in {run_dir}; re-run the "
                        f"sweep command with its hydra.sweep.dir, or continue this run with:")
            print_command(resume_command(run_dir))
            mark_not_requeued(run_dir)
            return
        _checkpoint(delayed, env.paths.submitted_pickle, countdown)  # the same job again, one timeout fewer to go
        # Requeueing a running job makes Slurm SIGTERM every process of the job, scontrol included (submitit's
        # own requeue dies of it now and then, and its error would be taken for the job's result): both ignore it.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        requeue = subprocess.run(["scontrol", "requeue", env.job_id], capture_output=True, text=True, timeout=60,
                                 preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN))
        if requeue.returncode != 0:
            log.warning(f"could not requeue job {env.job_id} ({' '.join(requeue.stderr.split())}); its last checkpoint is in "
                        f"{run_dir}: re-run the sweep command with its hydra.sweep.dir, or continue this run with:")
            print_command(resume_command(run_dir))
            mark_not_requeued(run_dir)
            return
        reason = "time limit" if timed_out else "preemption"
        log.info(f"requeued job {env.job_id} after its {reason} notice ({countdown} more requeue(s) after a time limit "
                 f"allowed); it resumes from its checkpoint in {run_dir}")
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        # No result file may be written (the launcher would take the job for finished), and OneFlow's
        # interpreter teardown is not needed: everything is on disk.
        os._exit(0)


def mark_not_requeued(run_dir: Path) -> None:
    """summary.json said 'requeued', but the job ends here: the run is 'interrupted' (stopped and saved, resumable)."""
    replace_status(run_dir, RunStatus.REQUEUED, RunStatus.INTERRUPTED)


def job_result(job: Any) -> JobReturn:
    """The job's JobReturn; a job that ended without one (killed, exit 2 on a bad config) becomes a failed JobReturn."""
    from submitit.core.utils import UncompletedJobError

    try:
        return job.results()[0]
    except UncompletedJobError as error:
        ret = JobReturn(status=JobStatus.FAILED)
        ret.return_value = RuntimeError(f"Slurm job {job.job_id} ended without a result; its logs: {job.paths.stdout} and "
                                        f"{job.paths.stderr}\n{error}")
        return ret


def near_time_limit(job_id: str, signal_delay_s: int) -> bool:
    """Whether job `job_id` is within its time-limit notice (Slurm may send it up to 60 s early), i.e. not preempted."""
    try:
        left = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%L"], capture_output=True, text=True, timeout=30).stdout
        seconds = preflight.parse_seconds(left.strip().splitlines()[0]) if left.strip() else None
    except (OSError, subprocess.SubprocessError, ValueError):
        return True  # unknown: count it, so that max_num_timeout still bounds the requeues
    return seconds is not None and seconds <= signal_delay_s + 90


def refuse_while_jobs_active(sweep_dir: Path) -> None:
    """A re-run must not submit a second job into a run directory that a job of the first one still writes to."""
    earlier = {p.name.split("_")[0] for p in (sweep_dir / ".submitit").glob("*") if p.name.split("_")[0].isdigit()}
    if not earlier:
        return
    listing = subprocess.run(["squeue", "-h", "--me", "-o", "%F"], capture_output=True, text=True, timeout=60).stdout
    active = sorted(earlier & {line.strip() for line in listing.splitlines()})
    if active:
        raise ConfigError(f"hydra.sweep.dir={sweep_dir} still has Slurm job(s) {', '.join(active)} queued or running "
                          f"(`squeue -j {','.join(active)}`); re-running the sweep now would start the same runs twice. Wait "
                          f"until they end, or cancel them with `scancel {' '.join(active)}`, then run the command again.")
