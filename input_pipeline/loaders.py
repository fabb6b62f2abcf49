"""Build the training and evaluation loaders a run asks for (`data.loader`) from the data config."""
from __future__ import annotations

from typing import Any, Callable, Iterator, Mapping, Optional, Protocol

import numpy as np
from backend import flow

from input_pipeline.arrays import DataError, DatasetArrays
from input_pipeline.device_loader import DeviceLoader
from input_pipeline.options import LoaderKind
from input_pipeline.splits import hold_out_validation, validation_images


class Loader(Protocol):
    """What the training loop and evaluation use of a loader; DeviceLoader and TransformsLoader both provide it."""

    labels: np.ndarray  # int64 [N], in dataset order: the images one pass covers (evaluation divides by their count)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order (and augmentation) the next pass yields."""

    def __iter__(self) -> Iterator[tuple[flow.Tensor, flow.Tensor]]:
        """(images float32 [B, 3, H, W], labels int64 [B]) on the run's device."""

    def __len__(self) -> int:
        """Batches per pass."""


def _transforms_loader() -> type:
    """The DataLoader + flowvision path, imported only when asked for: flowvision costs a run without it ~0.3 s."""
    from input_pipeline.transforms_loader import TransformsLoader
    return TransformsLoader


# data.loader (one of input_pipeline.options.LoaderKind) -> (the class, imported on demand; the data fields only
# that loader takes). The config's value was checked against LoaderKind (engine.config.schema), not again here.
LOADERS: dict[LoaderKind, tuple[Callable[[], type], tuple[str, ...]]] = {
    "device": (lambda: DeviceLoader, ("backend",)),
    "dataloader": (_transforms_loader, ("num_workers",)),
}


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
    num_classes = data_cfg.get("num_classes")
    highest = max(int(dataset.train_labels.max(initial=0)), int(dataset.test_labels.max(initial=0)))
    if num_classes is not None and highest >= num_classes:
        raise DataError(f"data.num_classes={num_classes} but the dataset has labels up to {highest}; "
                        f"set data.num_classes={highest + 1} (20 for CIFAR-100's coarse labels, 100 for its fine ones).")
    import_class, own_fields = LOADERS[data_cfg.get("loader", "device")]
    loader_class = import_class()
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
                         **data_cfg.get("augment", {}), **common)  # absent augment keys: Augment's defaults
    return train, evaluation
