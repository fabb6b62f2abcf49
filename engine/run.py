"""The one run builder: everything train.py, scripts/bench.py, the schedule preview and resume need, built one way."""
from __future__ import annotations

from omegaconf import DictConfig

from engine import distributed
from input_pipeline import steps_per_epoch as count_steps
from input_pipeline.loaders import training_images


def drops_last_batch(cfg: DictConfig) -> bool:
    """Graph mode compiles one batch shape, so it drops the last partial batch of every epoch, like data.drop_last."""
    return bool(cfg.data.drop_last or cfg.trainer.graph)


def steps_per_epoch(cfg: DictConfig) -> int:
    """Optimizer steps per epoch of the run `cfg` describes: this rank's share of the training images
    (the validation split held out) in batches of data.batch_size, the last one dropped when it must be."""
    return count_steps(distributed.shard_size(training_images(cfg.data)), cfg.data.batch_size, drop_last=drops_last_batch(cfg))
