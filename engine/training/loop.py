"""One epoch of the training loop (train.py runs the epochs), and the one outcome a run ends with.

`train_epoch` runs the epoch's optimizer steps and returns None when the epoch trained to its end,
or the run's `Outcome` when it ends inside it: a stop asked for (Ctrl-C, SIGTERM, a cluster's notice;
honoured at the next step boundary) or a non-finite loss. `evaluate_epoch` gives the epoch's metrics.
train.py passes the one Outcome of the run to `RunRecorder.finish`.
"""
from __future__ import annotations

import itertools
import time
from typing import TYPE_CHECKING, Mapping, Optional

from tqdm import tqdm

from engine.platform.console import show_progress
from engine.training.evaluate import evaluate
from engine.training.progress import Progress
from engine.training.run import Run
from engine.training.seeding import seed_epoch
from engine.training.steps import train_step
from engine.training.stopping import stop_requested
from engine.run_dir.status import Outcome, RunStatus
from input_pipeline.loaders import Loader

if TYPE_CHECKING:  # for the annotations only: the recorder never imports this module
    from engine.run_dir.recorder import RunRecorder


def train_epoch(run: Run, recorder: RunRecorder, loader: Loader,
                eval_loaders: Optional[Mapping[str, Loader]] = None) -> Optional[Outcome]:
    """Train the current epoch (after a mid-epoch checkpoint, the batches it had not trained yet), validating every
    trainer.val_every_n_steps steps inside it when that is set.

    None when the epoch trained to its end; the run's Outcome when a stop was asked for or the loss went non-finite."""
    progress, meter, trainer = recorder.progress, recorder.meter, run.cfg.trainer
    epoch = progress.epoch
    run.train_mode()  # model.train(); a schedule-free optimizer's training weights
    loader.set_epoch(epoch)
    seed_epoch(run.cfg.seed, epoch)
    batches = itertools.islice(loader, progress.batch_in_epoch, None)
    bar = tqdm(batches, desc=f"epoch {epoch + 1}/{trainer.max_epochs}", total=len(loader),
               initial=progress.batch_in_epoch, disable=not show_progress(trainer.progress), leave=False)
    epoch_start = time.time()
    for images, labels in bar:
        lrs = train_step(run.steps, run.schedule, meter, images, labels)  # forward, backward, update, LR
        progress.advance(len(labels), lrs[0])
        every = trainer.val_every_n_steps
        if every and eval_loaders and progress.global_step % every == 0 and progress.batch_in_epoch < len(loader):
            validate_mid_epoch(run, recorder, eval_loaders["val"])  # before a checkpoint of this step, which keeps it
        at_log = progress.global_step % trainer.log_every_n_steps == 0
        at_checkpoint = trainer.checkpoint_every_n_steps > 0 and progress.global_step % trainer.checkpoint_every_n_steps == 0
        if at_log or at_checkpoint:  # the only host syncs inside an epoch
            _, last_loss = meter.check(epoch + 1)
            if meter.diverged:  # no further step, no checkpoint: the run ends below
                break
            if at_log:  # x is the step's own index, as for `lr` (so a resume never purges it)
                recorder.writer.add_scalar("train/loss", last_loss, progress.global_step - 1)
                bar.set_postfix(loss=f"{last_loss:.3f}", lr=f"{lrs[0]:.4g}")
            if at_checkpoint and progress.batch_in_epoch < len(loader):
                recorder.save_checkpoint()
        if stop_requested():  # finish checkpoints this step boundary
            return Outcome(stop_requested())
    progress.train_seconds += time.time() - epoch_start
    meter.check(epoch + 1)  # the epoch's last steps join its metrics (or show the loss went non-finite)
    return Outcome(RunStatus.DIVERGED, diverged=meter.diverged) if meter.diverged else None


def validate_mid_epoch(run: Run, recorder: RunRecorder, val_loader: Loader) -> None:
    """Validation top-1 at this step (an epoch's end is evaluate_epoch's): into summary.json and TensorBoard."""
    run.eval_mode()
    acc1 = evaluate(run.steps.predict, val_loader, "val")["val/acc1"]
    run.train_mode()
    progress = recorder.progress
    progress.val_acc1_by_step.append([progress.global_step, acc1])
    recorder.writer.add_scalar("val/acc1_by_step", acc1, progress.global_step)


def evaluate_epoch(run: Run, progress: Progress, eval_loaders: Mapping[str, Loader]) -> dict[str, float]:
    """The trained epoch's metrics: its training loss and accuracy, then those of every evaluation split."""
    run.eval_mode()  # model.eval(); a schedule-free optimizer's averaged weights, which the checkpoint keeps
    metrics = progress.epoch_train_metrics()  # train_epoch's last check brought in the last steps
    for split, loader in eval_loaders.items():
        metrics.update(evaluate(run.steps.predict, loader, split))
    return metrics
