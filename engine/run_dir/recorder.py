"""What a run leaves behind, and the one way it ends.

`RunRecorder` owns the run directory's files: checkpoints, summary.json, TensorBoard events and
run_info.json (on rank 0 only). `restore_newest()` is the run's start: the newest checkpoint loaded
(or none), and the files opened at the step the run continues from. `finish(outcome)` is the single exit of a run,
whatever ended it:
completed, diverged, interrupted (Ctrl-C, SIGTERM), requeued (a cluster's preemption notice) or
failed (a full disk, any unexpected error). Each ends with one message, a final status in
summary.json and, when the run stopped mid-epoch, a checkpoint at the step boundary it stopped at.
"""
from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Any, Optional

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

from common.files import atomic_write_text
from engine.platform import distributed
from engine.run_dir.checkpoint import CheckpointDir
from engine.platform.errors import SweepJobFailed, paragraph
from engine.training.fork import fork_progress
from engine.run_dir.hparams import log_hparams_end, log_hparams_start, objective
from engine.training.progress import Progress, StepMeter
from engine.training.run import Run
from engine.platform.console import command as print_command
from engine.platform.console import error as print_error
from engine.platform.console import say, warn
from engine.run_dir.resume import newest_valid_state, resume_command
from engine.run_dir.events import EarlierEvents, earlier_events, open_event_writer
from engine.run_dir.files import record_run_info
from engine.run_dir.status import Outcome, RunStatus
from engine.run_dir.summary import RunSummary, describe_run, replace_status
from engine.training.stopping import on_exit_at_once, stop_signals_deferred

INTERRUPTED_EXIT, FAILED_EXIT = 130, 1


def in_sweep() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


class RunRecorder:
    """The run directory's files and the run's progress; `restore_newest` starts it, `finish` ends it."""

    def __init__(self, run_dir: Path, run: Run) -> None:
        """Nothing is read or written yet: `restore_newest` decides where the run starts and opens its files."""
        self.run_dir, self.run, self.cfg = Path(run_dir), run, run.cfg
        self.rank0 = distributed.is_rank_zero()  # other ranks of a distributed run write nothing
        self.checkpoints = CheckpointDir(self.run_dir / "checkpoints", keep_last=self.cfg.trainer.keep_last, read_only=not self.rank0)

    def restore_newest(self) -> Progress:
        """Load the newest valid checkpoint into the run (a fork's first start: the parent's), then open the run's
        files at the step it continues from (run_info.json, TensorBoard events, summary.json); returns its progress
        (a fresh one, from step 0, when there is no checkpoint)."""
        self.progress = self._restore()
        self._open_files()
        return self.progress

    def _open_files(self) -> None:
        """run_info.json (this start or resume), the event writer and summary.json, continuing at the run's step."""
        resumed = self.progress.global_step > 0
        if self.rank0:
            record_run_info(self.run_dir, self.run.device, resumed_from_step=self.progress.global_step if resumed else None,
                            data_root=self.cfg.data.dataset.get("root"))  # free disk and archive there (engine.platform.machine)
        earlier = earlier_events(self.run_dir) if self.rank0 else EarlierEvents({}, hparams_started=True)
        # a kill while the epoch's checkpoint was written leaves that epoch's points, which the resumed run skips
        self.logged_before = earlier.kept_past(self.progress.epoch, self.progress.global_step)
        self.writer = open_event_writer(self.run_dir, self.progress.global_step, self.progress.history) if self.rank0 else distributed.Discard()
        if not earlier.hparams_started:  # one HParams session per run, however often it resumes
            log_hparams_start(self.writer, self.cfg)
        choices = HydraConfig.get().runtime.choices if HydraConfig.initialized() else {}
        self.summary = (RunSummary if self.rank0 else distributed.Discard)(
            self.run_dir, **describe_run(self.cfg, choices, self.run.schedule, self.run.device), **self._progress_fields())
        self.meter = StepMeter(self.writer, self.progress)
        if self.rank0:
            on_exit_at_once(self._record_exit_at_once)

    def _restore(self) -> Progress:
        """The progress of the newest checkpoint, loaded into the run; a fresh Progress when there is none."""
        found = newest_valid_state(self.checkpoints, self.cfg, self.run.device)
        forked = fork_progress(self.run) if found is None else None  # fork=<run dir>: its first start
        if forked is not None:
            return forked
        if found is None:
            if self.cfg.get("resume"):
                say(f"resume={self.cfg.resume}: no checkpoint yet, starting the run from the beginning")
            return Progress()
        path, state = found
        progress = self.run.restore(state, path)
        say(f"resuming from {path} (epoch {progress.epoch}, step {progress.global_step})")
        if progress.batch_in_epoch == 0 and progress.epoch and progress.best["epoch"] == progress.epoch \
                and self.checkpoints.repair_best(path):  # the best epoch's own checkpoint: best.ckpt must equal it
            warn(paragraph(f"best.ckpt did not hold epoch {progress.epoch}, the best (the run stopped between saving "
                           f"that epoch's checkpoint and best.ckpt); it is now a copy of {path.name}.", prefix="warning: "))
        return progress

    def _progress_fields(self) -> dict:
        return self.progress.summary_fields(self.cfg.trainer.acc1_thresholds)

    def save_checkpoint(self, is_best: bool = False) -> None:
        """A checkpoint at the current step boundary; every event before it is on disk first."""
        self.writer.flush()
        self.checkpoints.save(self.run.state(self.progress), self.progress.epoch, self.progress.global_step, is_best)

    def end_epoch(self, metrics: dict[str, float], wall_time_s: float) -> None:
        """Log the epoch's metrics, close it in the progress record, update summary.json, checkpoint."""
        for name, value in metrics.items():
            if (name, self.progress.epoch + 1) not in self.logged_before:
                self.writer.add_scalar(name, value, self.progress.epoch + 1)
        is_best = self.progress.record_epoch(metrics)
        self.progress.wall_time_s = wall_time_s
        self.summary.update(**self._progress_fields())
        self.save_checkpoint(is_best)
        say(f"epoch {self.progress.epoch}/{self.cfg.trainer.max_epochs}  loss {metrics['train/loss_epoch']:.4f}  "
              f"val/acc1 {metrics['val/acc1']:.2f}  val/acc5 {metrics['val/acc5']:.2f}  lr {self.progress.last_lr:.4g}")

    def _record_exit_at_once(self) -> None:
        """A second Ctrl-C before `finish` (engine.training.stopping): the process exits at once, from inside a signal
        handler; summary.json says `interrupted` and the command that continues the run is printed."""
        replace_status(self.run_dir, RunStatus.RUNNING, RunStatus.INTERRUPTED)
        newest = self.checkpoints.latest()
        print_error(paragraph(f"interrupted at step {self.progress.global_step}; the run continues from its last checkpoint "
                              f"({newest.name}) with:" if newest else f"interrupted at step {self.progress.global_step}, "
                              f"before its first checkpoint; start it again (from step 0) with:", prefix=""))
        print_command(resume_command(self.run_dir))

    def finish(self, outcome: Outcome, wall_time_s: float) -> Optional[float]:
        """End the run with `outcome` (its status: see the module doc); returns the sweep objective, or exits.

        Stop signals wait meanwhile: a second Ctrl-C never cuts the end's record short (engine.training.stopping)."""
        on_exit_at_once(None)
        with stop_signals_deferred():
            return self._finish(outcome, wall_time_s)

    def _finish(self, outcome: Outcome, wall_time_s: float) -> Optional[float]:
        status, diverged, error = RunStatus(outcome.status), outcome.diverged, outcome.error
        self.progress.wall_time_s = wall_time_s
        if status.stopped_mid_run and self.progress.batch_in_epoch:
            self._save_stop_checkpoint(status)
        fields: dict[str, Any] = {"status": status, **self._progress_fields()}
        if diverged:
            fields["diverged"] = diverged
        if error is not None:
            fields["error"] = f"{type(error).__name__}: {error}".splitlines()[0]
        self._close(fields)
        return self._report(status, diverged, error)

    def _save_stop_checkpoint(self, status: RunStatus) -> None:
        try:
            self.meter.check(self.progress.epoch + 1)  # the pending steps join the epoch's sums first
            self.save_checkpoint()
        except OSError as error:  # e.g. the disk that just filled up: the previous checkpoint stays
            previous = "the previous one is intact" if self.checkpoints.latest() else "there is no earlier one"
            warn(paragraph(f"could not write a checkpoint at step {self.progress.global_step} ({error}); "
                            f"{previous}.", prefix="warning: "))

    def _close(self, fields: dict) -> None:
        try:
            self.summary.update(**fields)
            if fields["status"] == RunStatus.COMPLETED:
                replicas = distributed.check_replicas(self.run.model)  # several ranks: did DDP keep weights identical?
                if replicas is not None:
                    self.summary.update(distributed=replicas)
            if fields["status"].is_final:  # a stopped run's HParams end comes when it really ends (no duplicate)
                log_hparams_end(self.writer, self.summary.fields)
            self.writer.close()
        except OSError as error:
            warn(paragraph(f"could not record the run's end in {self.run_dir} ({error}).", prefix="warning: "))

    def _report(self, status: RunStatus, diverged: Optional[dict], error: Optional[BaseException]) -> Optional[float]:
        where = f"at step {self.progress.global_step} (epoch {self.progress.epoch + 1})"
        if status == RunStatus.COMPLETED:
            say(f"run directory: {self.run_dir}")
            return objective(self.cfg, self.summary.fields)
        if status == RunStatus.DIVERGED:  # exit 0: a sweep over learning rates goes on to its next member
            say(f"diverged: non-finite loss at step {diverged['step']} (epoch {diverged['epoch']}, lr {diverged['lr']:.4g}); "
                  f"run directory: {self.run_dir}")
            return objective(self.cfg, self.summary.fields)
        if status == RunStatus.REQUEUED:  # the cluster launcher requeues the job; it continues from this checkpoint
            say(f"requeued {where}; the job continues from its checkpoint in {self.run_dir}")
            return None
        if status == RunStatus.INTERRUPTED:
            print_error(paragraph(f"interrupted {where}; the run is saved. Continue with:", prefix=""))
            print_command(resume_command(self.run_dir))
            self._flush_and_exit(INTERRUPTED_EXIT)
        self._save_traceback(error)
        print_error(paragraph(f"the run failed {where}: {type(error).__name__}: {error}. {self._what_is_kept()}"))
        print_command(resume_command(self.run_dir))
        if in_sweep():  # Hydra runs the sweep's other jobs, then exits 1 with one line (as for a user error)
            raise SweepJobFailed(f"a job of this sweep failed (its error is above, and in its summary.json): "
                                 f"{type(error).__name__}: {error}"[:400])
        self._flush_and_exit(FAILED_EXIT)

    def _what_is_kept(self) -> str:
        """What a failed run keeps, and the advice its resume command (printed next) follows."""
        newest = self.checkpoints.latest()
        if newest is None:  # e.g. a disk full before the first checkpoint
            return "No checkpoint had been written yet; once the cause is fixed, start the run again (from step 0) with:"
        return f"Its last checkpoint ({newest.name}) is intact; once the cause is fixed, continue with:"

    def _save_traceback(self, error: Optional[BaseException]) -> None:
        if error is None or not distributed.is_rank_zero():
            return
        try:
            atomic_write_text(self.run_dir / "traceback.txt", "".join(traceback.format_exception(type(error), error, error.__traceback__)))
        except OSError:
            pass

    @staticmethod
    def _flush_and_exit(code: int) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        raise SystemExit(code)
