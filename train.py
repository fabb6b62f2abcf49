"""Train one model under one learning-rate schedule: `python train.py scheduler=cosine`.

Reads top to bottom: build the run from the Hydra config (conf/) and continue from its newest
checkpoint if it has one; then epochs of training steps and an evaluation, logging the LR of every
optimizer step and the metrics of every epoch to TensorBoard and summary.json, with a checkpoint at
the end of every epoch (engine/training/loop.py holds one epoch's steps). The epochs end in one
outcome (completed, diverged, interrupted by Ctrl-C, failed on a full disk) and one `recorder.finish`.
`python train.py resume=<run dir>` continues a stopped run.
"""
from __future__ import annotations

from engine.training.stopping import stop_start_up_on_signals  # first (standard library only):

stop_start_up_on_signals()  # until the first step, Ctrl-C / SIGTERM / SIGHUP exit 130 with nothing started or left
import engine.platform.oneflow_env  # noqa: E402,F401  (before oneflow: loads the CUDA libraries oneflow links against)

import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Optional  # noqa: E402

import hydra  # noqa: E402
from hydra.core.hydra_config import HydraConfig  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from engine.platform import distributed  # noqa: E402
from engine.config.compose import refuse_multirun_inspection
from engine.config.schema import ValidatedConfig, validate_config
from engine.config.suggest import check_overrides
from engine.platform.console import say, warn
from engine.platform.errors import paragraph, user_errors
from engine.run_dir.resume import check_run_dir, fork_argv, resume_argv
from engine.run_dir.status import Outcome, RunStatus
from engine.run_dir.summary import finished_status
from engine.run_dir.files import discard_if_stopped_early
from engine.run_dir.lock import hold_run_dir
from engine.training.backend_choice import use_backend
from engine.training.stopping import graceful_stop, stop_requested
from engine.config.sweep_names import varying_names_argv

if TYPE_CHECKING:  # the framework is imported once the config has chosen it (use_backend)
    from engine.run_dir.recorder import RunRecorder
    from engine.training.run import Run
    from input_pipeline.loaders import Loader


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> Optional[float]:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    stop_start_up_on_signals(clean_up=True)  # from here a start-up stop also removes the new run directory
    # A run stopped before it began (a bad value, a changed config, Ctrl-C during start-up) leaves no directory.
    with discard_if_stopped_early(run_dir), user_errors():
        validate_config(cfg, ranks=distributed.world_size())  # first, with no framework: a bad value is named as such
        # A finished run is never rewritten; a changed config is refused (by the writing rank: the other ranks of a
        # distributed run only read the atomically written summary.json, never a .hydra/config.yaml that rank 0's
        # Hydra may still be writing). Before the framework: a finished run is told so without a second of imports.
        ended = check_run_dir(run_dir, cfg) if distributed.is_rank_zero() else finished_status(run_dir)
    if ended:  # e.g. a sweep re-run to finish its killed jobs
        say(f"{run_dir} already ended ({ended}); nothing to do.")
        return None
    with discard_if_stopped_early(run_dir), user_errors():
        use_backend(cfg.backend)  # only now the framework (oneflow|torch): --help, a bad value, a finished run need none
        from engine.training.run import validated  # (the schedules are the framework's: imported after use_backend)
        config = validated(cfg)  # the one validation entry: every field and the planned LR of every step
    with discard_if_stopped_early(run_dir), user_errors(), hold_run_dir(run_dir, writer=distributed.is_rank_zero()):
        return train(config, run_dir)  # one writer per run directory


def train(config: ValidatedConfig, run_dir: Path) -> Optional[float]:
    from engine.run_dir.recorder import RunRecorder
    from engine.training.run import build_run, schedule_warnings

    cfg = config.cfg
    with user_errors():
        run = build_run(config)  # device, model, optimizer, schedule, train/eval steps
        for warning in schedule_warnings(cfg) if distributed.is_rank_zero() else []:  # e.g. step_size: 60 in 3 epochs
            warn(paragraph(warning, prefix="warning: "))
        train_loader, eval_loaders = run.loaders()  # before the recorder: data that cannot be read leaves no run
        recorder = RunRecorder(run_dir, run)  # checkpoints, summary.json, events, run_info.json
        recorder.restore_newest()  # the newest valid checkpoint (a fork: its parent's) loaded into the run; none: step 0
    started = time.time() - recorder.progress.wall_time_s
    with graceful_stop():  # Ctrl-C / SIGTERM only ask to stop; the loop stops at the next step boundary
        outcome = run_epochs(run, recorder, train_loader, eval_loaders, started)
    with user_errors():
        return recorder.finish(outcome, time.time() - started)  # the run's one end, whatever the outcome


def run_epochs(run: Run, recorder: RunRecorder, train_loader: Loader, eval_loaders: dict[str, Loader],
               started: float) -> Outcome:
    """Epochs until the last one or until one ends the run: completed, diverged, interrupted/requeued or failed."""
    from engine.training.loop import evaluate_epoch, train_epoch

    progress, max_epochs = recorder.progress, run.cfg.trainer.max_epochs
    try:
        while progress.epoch < max_epochs:
            stopped = train_epoch(run, recorder, train_loader, eval_loaders)  # the steps; None: the epoch trained to its end
            if stopped:  # a stop asked for mid-epoch, or a non-finite loss
                return stopped
            metrics = evaluate_epoch(run, progress, eval_loaders)  # the epoch's training metrics, then every eval split
            run.schedule.after_epoch(metrics)  # epoch-based schedules step (plateau reads the metrics)
            recorder.end_epoch(metrics, time.time() - started)  # TensorBoard, summary.json, the epoch's checkpoint
            if stop_requested() and progress.epoch < max_epochs:  # after the last epoch: just complete
                return Outcome(stop_requested())
    except Exception as error:  # noqa: BLE001  (a full disk, a bug: recorded as failed, never left "running")
        return Outcome(RunStatus.FAILED, error=error)
    return Outcome(RunStatus.COMPLETED)


if __name__ == "__main__":
    refuse_multirun_inspection(sys.argv)  # --cfg/--info print one config: Hydra refuses them with --multirun
    sys.argv = resume_argv(sys.argv)  # resume=<run dir>: that run's overrides, and its directory as the output
    sys.argv = fork_argv(sys.argv)  # fork=<run dir>: that run's overrides; engine/training/fork.py starts from its checkpoint
    with user_errors():
        check_overrides(sys.argv)  # a wrong key or choice named with what was meant (Hydra would advise `+key`)
    sys.argv = varying_names_argv(sys.argv)  # sweep job names show only the overrides that vary
    main()
