"""Build the training and evaluation loaders a run asks for (`data.loader`) from the data config."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping, Optional, Union

import numpy as np

from input_pipeline.arrays import DataError, DatasetArrays
from input_pipeline.device_loader import DeviceLoader
from input_pipeline.splits import hold_out_validation

if TYPE_CHECKING:
    from input_pipeline.transforms_loader import TransformsLoader

Loader = Union[DeviceLoader, "TransformsLoader"]


def _transforms_loader() -> type:
    """The DataLoader + flowvision path, imported only when asked for: flowvision costs a run without it ~0.3 s."""
    from input_pipeline.transforms_loader import TransformsLoader
    return TransformsLoader


# data.loader -> (the class, imported on demand; the data fields only that loader takes)
LOADERS = {
    "device": (lambda: DeviceLoader, ("backend",)),
    "dataloader": (_transforms_loader, ("num_workers",)),
}


def validation_images(val_split: Union[int, float], train_size: int) -> int:
    """Images `data.val_split` holds out of the training set: a whole number, or a fraction in (0, 1)."""
    if isinstance(val_split, float) and 0 < val_split < 1:
        val_split = int(round(val_split * train_size))
    if not isinstance(val_split, int) or isinstance(val_split, bool) or not 0 <= val_split < train_size:
        raise DataError(f"data.val_split={val_split!r} must be a whole number of images from 0 (no validation split) "
                        f"to {train_size - 1} (data.train_size is {train_size}), or a fraction between 0 and 1; "
                        f"e.g. data.val_split=5000 or data.val_split=0.1 for CIFAR-100.")
    return val_split


def training_images(data_cfg: Mapping[str, Any]) -> int:
    """Images trained on per epoch: the training set minus the validation split (known before any data loads)."""
    return data_cfg["train_size"] - validation_images(data_cfg.get("val_split", 0), data_cfg["train_size"])


Shard = Callable[[np.ndarray, np.ndarray], "tuple[np.ndarray, np.ndarray]"]


def build_loaders(data_cfg: Mapping[str, Any], dataset: DatasetArrays, device: str, seed: int,
                  drop_last: Optional[bool] = None, shard: Optional[Shard] = None) -> tuple[Loader, dict[str, Loader]]:
    """(training loader, {metric prefix: evaluation loader}).

    The training loader is shuffled by (seed, epoch) and augmented; evaluation loaders go in order,
    normalised only. With `data.val_split` images held out of the training set, `val` is that split
    and `test` the test set; without, `val` is the test set. `drop_last` overrides `data.drop_last`
    (graph mode needs full batches). `shard` picks this process's part of the training images in a
    distributed run (engine.platform.distributed.shard_train); evaluation sets stay whole on every process.
    """
    kind = data_cfg.get("loader", "device")
    if kind not in LOADERS:
        raise DataError(f"data.loader={kind!r} is not a loader; use 'device' (the whole dataset on the run's device, "
                        f"batched augmentation) or 'dataloader' (flowvision transforms in DataLoader workers).")
    num_classes = data_cfg.get("num_classes")
    highest = max(int(dataset.train_labels.max(initial=0)), int(dataset.test_labels.max(initial=0)))
    if num_classes is not None and highest >= num_classes:
        raise DataError(f"data.num_classes={num_classes} but the dataset has labels up to {highest}; "
                        f"set data.num_classes={highest + 1} (20 for CIFAR-100's coarse labels, 100 for its fine ones).")
    import_class, own_fields = LOADERS[kind]
    loader_class = import_class()
    aug = data_cfg.get("augment", {})
    common = dict(device=device, mean=list(data_cfg["mean"]), std=list(data_cfg["std"]),
                  **{field: data_cfg[field] for field in own_fields if field in data_cfg})
    eval_batch_size = data_cfg.get("eval_batch_size", data_cfg["batch_size"])

    def eval_loader(images, labels) -> Loader:
        return loader_class(images, labels, eval_batch_size, train=False, **common)

    train_images, train_labels, evaluation = dataset.train_images, dataset.train_labels, {}
    val_size = validation_images(data_cfg.get("val_split", 0), len(train_labels))
    if val_size:
        split = hold_out_validation(train_images, train_labels, val_size)
        train_images, train_labels = split.train_images, split.train_labels
        evaluation["val"] = eval_loader(split.val_images, split.val_labels)
    evaluation["test" if evaluation else "val"] = eval_loader(dataset.test_images, dataset.test_labels)
    if shard is not None:
        train_images, train_labels = shard(train_images, train_labels)
    train = loader_class(train_images, train_labels, data_cfg["batch_size"], train=True, seed=seed,
                         drop_last=bool(data_cfg.get("drop_last", False) if drop_last is None else drop_last),
                         crop_padding=aug.get("crop_padding", 4), horizontal_flip=aug.get("horizontal_flip", True),
                         rotation=aug.get("rotation", 0), cutout=aug.get("cutout", 0), **common)
    return train, evaluation
