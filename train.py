"""Train one model under one learning-rate schedule: `python train.py scheduler=cosine`.

Reads top to bottom: build the run from the Hydra config (conf/) and continue from its newest
checkpoint if it has one; then epochs of training steps and an evaluation, logging the LR of every
optimizer step and the metrics of every epoch to TensorBoard and summary.json, with a checkpoint at
the end of every epoch. Every way a run ends (completed, diverged, Ctrl-C, a full disk) goes through
`recorder.finish`. `python train.py resume=<run dir>` continues a stopped run.
"""
from engine.training.stopping import signals_held, stop_start_up_on_signals  # first (standard library only):

stop_start_up_on_signals()  # until the first step, Ctrl-C / SIGTERM / SIGHUP exit 130 with nothing started or left
import engine.platform.oneflow_env  # noqa: E402,F401  (before oneflow: loads the CUDA libraries oneflow links against)
with signals_held():  # importing OneFlow replaces the SIGINT handler at the C level: a Ctrl-C meanwhile waits
    import oneflow  # noqa: F401

import itertools
import sys
import time
from pathlib import Path
from typing import Optional

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from tqdm import tqdm

from engine.platform import distributed
from engine.training.seeding import seed_epoch
from engine.config.compose import refuse_multirun_inspection
from engine.config.schema import validate_config
from engine.platform.console import say, show_progress, warn
from engine.platform.errors import paragraph, user_errors
from engine.training.evaluate import evaluate
from engine.run_dir.recorder import RunRecorder
from engine.run_dir.resume import check_run_dir, fork_argv, resume_argv
from engine.run_dir.summary import finished_status
from engine.training.run import build_run, lr_never_changes
from engine.run_dir.files import discard_if_stopped_early
from engine.run_dir.lock import hold_run_dir
from engine.training.steps import train_step
from engine.training.stopping import graceful_stop, stop_requested
from engine.config.sweep_names import varying_names_argv


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> Optional[float]:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    stop_start_up_on_signals(clean_up=True)  # from here a start-up stop also removes the new run directory
    # A run stopped before it began (a bad value, a changed config, Ctrl-C during start-up) leaves no directory.
    with discard_if_stopped_early(run_dir), user_errors():
        validate_config(cfg, ranks=distributed.world_size())  # first: a bad value is named as such, never as a change
        # A finished run is never rewritten; a changed config is refused (by the writing rank: the other ranks of a
        # distributed run only read the atomically written summary.json, never a .hydra/config.yaml that rank 0's
        # Hydra may still be writing)
        ended = check_run_dir(run_dir, cfg) if distributed.is_rank_zero() else finished_status(run_dir)
    if ended:  # e.g. a sweep re-run to finish its killed jobs
        say(f"{run_dir} already ended ({ended}); nothing to do.")
        return None
    with discard_if_stopped_early(run_dir), user_errors(), hold_run_dir(run_dir, writer=distributed.is_rank_zero()):
        return train(cfg, run_dir)  # one writer per run directory


def train(cfg: DictConfig, run_dir: Path) -> Optional[float]:
    with user_errors():
        run = build_run(cfg)  # device, model, optimizer, schedule, train/eval steps: every config check
        if distributed.is_rank_zero() and (constant := lr_never_changes(cfg)):  # e.g. step_size: 60 in a 3-epoch run
            warn(paragraph(constant, prefix="warning: "))
        train_loader, eval_loaders = run.loaders()  # before the recorder: data that cannot be read leaves no run
        recorder = RunRecorder(run_dir, run)  # checkpoints, summary.json, events, run_info.json
        recorder.restore_newest()  # the newest valid checkpoint (a fork: its parent's) loaded into the run; none: step 0
    progress, meter, trainer = recorder.progress, recorder.meter, cfg.trainer
    started = time.time() - progress.wall_time_s

    with graceful_stop():  # Ctrl-C / SIGTERM only ask to stop; the loop stops at the next step boundary
        try:
            while progress.epoch < trainer.max_epochs:
                # ---- train one epoch (after a mid-epoch checkpoint, skip the batches already trained)
                epoch, diverged = progress.epoch, None
                run.train_mode()  # model.train(); a schedule-free optimizer's training weights
                train_loader.set_epoch(epoch)
                seed_epoch(cfg.seed, epoch)
                batches = itertools.islice(train_loader, progress.batch_in_epoch, None)
                bar = tqdm(batches, desc=f"epoch {epoch + 1}/{trainer.max_epochs}", total=len(train_loader),
                           initial=progress.batch_in_epoch, disable=not show_progress(trainer.progress), leave=False)
                epoch_start = time.time()
                for images, labels in bar:
                    lrs = train_step(run.steps, run.schedule, meter, images, labels)  # forward, backward, update, LR
                    progress.advance(len(labels), lrs[0])
                    at_log = progress.global_step % trainer.log_every_n_steps == 0
                    at_checkpoint = trainer.checkpoint_every_n_steps > 0 and progress.global_step % trainer.checkpoint_every_n_steps == 0
                    if at_log or at_checkpoint:  # the only host syncs inside an epoch
                        diverged, last_loss = meter.check(epoch + 1)
                        if diverged:
                            break
                        if at_log:  # x is the step's own index, as for `lr` (so a resume never purges it)
                            recorder.writer.add_scalar("train/loss", last_loss, progress.global_step - 1)
                            bar.set_postfix(loss=f"{last_loss:.3f}", lr=f"{lrs[0]:.4g}")
                        if at_checkpoint and progress.batch_in_epoch < len(train_loader):
                            recorder.save_checkpoint()
                    if stop_requested():
                        return recorder.finish(stop_requested(), time.time() - started)
                progress.train_seconds += time.time() - epoch_start
                diverged = diverged or meter.check(epoch + 1)[0]
                if diverged:
                    return recorder.finish("diverged", time.time() - started, diverged=diverged)
                # ---- evaluate, step epoch-based schedules, end the epoch (metrics, summary, checkpoint)
                run.eval_mode()  # model.eval(); a schedule-free optimizer's averaged weights, which the checkpoint keeps
                metrics = progress.epoch_train_metrics()  # the check above brought in the last steps
                for split, loader in eval_loaders.items():
                    metrics.update(evaluate(run.steps.predict, loader, split))
                run.schedule.after_epoch(metrics)
                recorder.end_epoch(metrics, time.time() - started)
                if stop_requested() and progress.epoch < trainer.max_epochs:  # after the last epoch: just complete
                    return recorder.finish(stop_requested(), time.time() - started)
        except Exception as error:  # noqa: BLE001  (a full disk, a bug: recorded as failed, never left "running")
            return recorder.finish("failed", time.time() - started, error=error)
    with user_errors():
        return recorder.finish("completed", time.time() - started)


if __name__ == "__main__":
    refuse_multirun_inspection(sys.argv)  # --cfg/--info print one config: Hydra refuses them with --multirun
    sys.argv = resume_argv(sys.argv)  # resume=<run dir>: that run's overrides, and its directory as the output
    sys.argv = fork_argv(sys.argv)  # fork=<run dir>: that run's overrides; engine/training/fork.py starts from its checkpoint
    sys.argv = varying_names_argv(sys.argv)  # sweep job names show only the overrides that vary
    main()
