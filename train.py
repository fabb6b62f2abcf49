"""Train one model under one learning-rate schedule: `python train.py scheduler=cosine`.

Reads top to bottom: build everything from the Hydra config (conf/), continue from the run
directory's last checkpoint if it has one, then epochs of training and evaluation, logging the LR of
every optimizer step and the metrics of every epoch to TensorBoard and summary.json, with a
checkpoint at the end of every epoch. `python train.py resume=<run dir>` continues a killed run.
"""
import engine.oneflow_env  # noqa: F401  (first: loads the CUDA libraries oneflow links against)

import itertools
import sys
import time
from pathlib import Path
from typing import Optional

import hydra
import oneflow as flow
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig
from tqdm import tqdm

from engine import distributed
from engine.checkpoint import CheckpointDir, seed_epoch, seed_everything
from engine.device import resolve_device
from engine.errors import ConfigError, user_errors
from engine.hparams import log_hparams_end, log_hparams_start, objective
from engine.progress import Progress, StepMeter, describe_run, evaluate
from engine.resume import finished_status, restore_run, resume_argv, run_state
from engine.run_files import RunSummary, open_event_writer, record_run_info, recording_interrupts
from engine.steps import build_schedule, build_steps, train_step
from input_pipeline import steps_per_epoch
from input_pipeline.loaders import build_loaders, training_images


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> Optional[float]:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    ended = finished_status(run_dir)
    if ended:  # e.g. a sweep re-run to finish its killed jobs
        print(f"{run_dir} already ended ({ended}); nothing to do.")
        return
    with user_errors():
        device = resolve_device(cfg.device)
        seed_everything(cfg.seed)
        model = distributed.wrap_model(instantiate(cfg.model).to(device))  # DDP when launched on several ranks
        optimizer = instantiate(cfg.optimizer)(model.parameters())
        # Graph mode compiles one batch shape, so it drops the last partial batch of every epoch.
        drop_last = cfg.data.drop_last or cfg.trainer.graph
        steps_per_ep = steps_per_epoch(distributed.shard_size(training_images(cfg.data)), cfg.data.batch_size, drop_last=drop_last)
        # The schedule is built (and validated) before any data is loaded: bad configs fail fast.
        schedule = build_schedule(cfg.scheduler, optimizer, steps_per_ep, cfg.trainer.max_epochs, graph=cfg.trainer.graph)
        steps = build_steps(cfg.trainer, model, optimizer, schedule, device, cfg.data.eval_batch_size)
        rank0 = distributed.is_rank_zero()  # only rank 0 writes files; other ranks of a distributed run discard
        checkpoints = CheckpointDir(run_dir / "checkpoints", keep_last=cfg.trainer.keep_last, read_only=not rank0)
        resumed = restore_run(checkpoints.latest(), cfg, model, steps, schedule, device)
        data = instantiate(cfg.data.dataset)
        if len(data.train_labels) != cfg.data.train_size:
            raise ConfigError(f"data.train_size={cfg.data.train_size} but the dataset holds {len(data.train_labels)} training images; set data.train_size={len(data.train_labels)}.")
        train_loader, eval_loaders = build_loaders(cfg.data, data, device, cfg.seed, drop_last=drop_last,
                                                  shard=distributed.shard_train)  # this rank's part of the training set
    progress = resumed or Progress()
    if rank0:
        record_run_info(run_dir, device, resumed_from_step=progress.global_step if resumed else None)
    writer = open_event_writer(run_dir, progress.global_step, progress.history) if rank0 else distributed.Discard()
    log_hparams_start(writer, cfg)
    summary = (RunSummary if rank0 else distributed.Discard)(run_dir, **describe_run(cfg, HydraConfig.get().runtime.choices, schedule, device),
                         **progress.summary_fields(cfg.trainer.acc1_thresholds))
    meter, every_n = StepMeter(writer, progress), cfg.trainer.checkpoint_every_n_steps
    started = time.time() - progress.wall_time_s

    with recording_interrupts(summary):
        while progress.epoch < cfg.trainer.max_epochs:
            epoch, diverged = progress.epoch, None
            model.train()
            train_loader.set_epoch(epoch)
            seed_epoch(cfg.seed, epoch)
            # After a mid-epoch checkpoint, skip the batches already trained (same order and augmentation).
            batches = itertools.islice(train_loader, progress.batch_in_epoch, None)
            bar = tqdm(batches, desc=f"epoch {epoch + 1}/{cfg.trainer.max_epochs}", total=len(train_loader),
                       initial=progress.batch_in_epoch, disable=not cfg.trainer.progress, leave=False)
            epoch_start = time.time()
            for images, labels in bar:
                # Forward, backward, update, schedule, LR to TensorBoard; loss and logits wait for the next check.
                lrs = train_step(steps, schedule, meter, images, labels)
                at_log = progress.global_step % cfg.trainer.log_every_n_steps == 0
                at_checkpoint = every_n > 0 and progress.global_step % every_n == 0 and progress.batch_in_epoch < len(train_loader)
                if at_log or at_checkpoint:  # the only host syncs inside an epoch
                    diverged, last_loss = meter.check(epoch + 1)
                    if diverged:
                        break
                    if at_log:
                        writer.add_scalar("train/loss", last_loss, progress.global_step)
                        bar.set_postfix(loss=f"{last_loss:.3f}", lr=f"{lrs[0]:.4g}")
                    if at_checkpoint:
                        writer.flush()  # every event before the checkpoint is on disk
                        checkpoints.save(run_state(cfg, model, steps, schedule, progress), epoch, progress.global_step)
            progress.train_seconds += time.time() - epoch_start
            diverged = diverged or meter.check(epoch + 1)[0]
            if diverged:  # stop at once, exit 0: a sweep over learning rates goes on to its next member
                progress.wall_time_s = time.time() - started
                summary.update(status="diverged", diverged=diverged, **progress.summary_fields(cfg.trainer.acc1_thresholds))
                log_hparams_end(writer, summary.fields)
                writer.close()
                print(f"diverged: non-finite loss at step {diverged['step']} (epoch {diverged['epoch']}, lr {diverged['lr']:.4g}); "
                      f"run directory: {run_dir}")
                return objective(cfg, summary.fields)

            model.eval()
            metrics = progress.epoch_train_metrics()  # the check above brought in the last steps
            for split, loader in eval_loaders.items():
                metrics.update(evaluate(steps.predict, loader, split))
            schedule.after_epoch(metrics)
            for name, value in metrics.items():
                writer.add_scalar(name, value, epoch + 1)
            is_best = progress.record_epoch(metrics)
            progress.wall_time_s = time.time() - started
            summary.update(**progress.summary_fields(cfg.trainer.acc1_thresholds))
            writer.flush()
            checkpoints.save(run_state(cfg, model, steps, schedule, progress), progress.epoch, progress.global_step, is_best)
            print(f"epoch {progress.epoch}/{cfg.trainer.max_epochs}  loss {metrics['train/loss_epoch']:.4f}  "
                  f"val/acc1 {metrics['val/acc1']:.2f}  val/acc5 {metrics['val/acc5']:.2f}  lr {progress.last_lr:.4g}")

    summary.update(status="completed")
    distributed.check_replicas(model, summary)  # several ranks: did DDP keep their weights identical?
    log_hparams_end(writer, summary.fields)
    writer.close()
    print(f"run directory: {run_dir}")
    with user_errors():
        return objective(cfg, summary.fields)  # for sweepers that optimise (hparams_search); None otherwise


if __name__ == "__main__":
    sys.argv = resume_argv(sys.argv)  # resume=<run dir>: that run's overrides, and its directory as the output
    main()
