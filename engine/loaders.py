"""The run's loaders: training, plus the evaluation sets (`val` and, with a validation split, `test`)."""
from __future__ import annotations

from omegaconf import DictConfig

from engine.errors import ConfigError

from input_pipeline import DatasetArrays
from input_pipeline.device_loader import DeviceLoader
from input_pipeline.splits import hold_out_validation


def build_loaders(data_cfg: DictConfig, data: DatasetArrays, device: str, seed: int,
                  drop_last: bool) -> tuple[DeviceLoader, dict[str, DeviceLoader]]:
    """(train loader, {metric prefix: eval loader}); without a validation split, `val` is the test set."""
    train_images, train_labels = data.train_images, data.train_labels
    evaluation = {}
    if data_cfg.val_split:
        split = hold_out_validation(train_images, train_labels, data_cfg.val_split)
        train_images, train_labels = split.train_images, split.train_labels
        evaluation["val"] = _eval_loader(data_cfg, split.val_images, split.val_labels, device)
    evaluation["test" if evaluation else "val"] = _eval_loader(data_cfg, data.test_images, data.test_labels, device)
    aug = data_cfg.augment
    train = DeviceLoader(train_images, train_labels, data_cfg.batch_size, device, data_cfg.mean, data_cfg.std, train=True,
                         crop_padding=aug.crop_padding, horizontal_flip=aug.horizontal_flip, drop_last=drop_last, seed=seed)
    return train, evaluation


def _eval_loader(data_cfg: DictConfig, images, labels, device: str) -> DeviceLoader:
    return DeviceLoader(images, labels, data_cfg.eval_batch_size, device, data_cfg.mean, data_cfg.std, train=False)


def training_images(data_cfg: DictConfig) -> int:
    """Images trained on per epoch: the training set minus the validation split (known before any data loads)."""
    val_split, train_size = data_cfg.val_split, data_cfg.train_size
    if not isinstance(val_split, int) or isinstance(val_split, bool) or not 0 <= val_split < train_size:
        raise ConfigError(f"data.val_split={val_split!r} must be a whole number of images from 0 (no validation split) "
                          f"to {train_size - 1} (data.train_size is {train_size}); e.g. data.val_split=5000 for CIFAR-100.")
    return train_size - val_split
