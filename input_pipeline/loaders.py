"""Build the training and evaluation loaders a run asks for (`data.loader`) from the data config."""
from __future__ import annotations

from typing import Any, Mapping, Union

from input_pipeline.arrays import DataError, DatasetArrays
from input_pipeline.device_loader import DeviceLoader
from input_pipeline.transforms_loader import TransformsLoader

Loader = Union[DeviceLoader, TransformsLoader]

# data.loader -> (class, the data fields only that loader takes)
LOADERS = {
    "device": (DeviceLoader, ("backend",)),
    "dataloader": (TransformsLoader, ("num_workers",)),
}


def build_loaders(data_cfg: Mapping[str, Any], dataset: DatasetArrays, device: str, seed: int) -> tuple[Loader, Loader]:
    """(training loader: shuffled by (seed, epoch) and augmented; evaluation loader: in order, normalised only)."""
    kind = data_cfg.get("loader", "device")
    if kind not in LOADERS:
        raise DataError(f"data.loader={kind!r} is not a loader; use 'device' (the whole dataset on the run's device, "
                        f"batched augmentation) or 'dataloader' (flowvision transforms in DataLoader workers).")
    num_classes = data_cfg.get("num_classes")
    highest = max(int(dataset.train_labels.max(initial=0)), int(dataset.test_labels.max(initial=0)))
    if num_classes is not None and highest >= num_classes:
        raise DataError(f"data.num_classes={num_classes} but the dataset has labels up to {highest}; "
                        f"set data.num_classes={highest + 1} (20 for CIFAR-100's coarse labels, 100 for its fine ones).")
    loader_class, own_fields = LOADERS[kind]
    aug = data_cfg.get("augment", {})
    common = dict(device=device, mean=list(data_cfg["mean"]), std=list(data_cfg["std"]),
                  **{field: data_cfg[field] for field in own_fields if field in data_cfg})
    train = loader_class(dataset.train_images, dataset.train_labels, data_cfg["batch_size"], train=True, seed=seed,
                         drop_last=bool(data_cfg.get("drop_last", False)),
                         crop_padding=aug.get("crop_padding", 4), horizontal_flip=aug.get("horizontal_flip", True),
                         rotation=aug.get("rotation", 0), cutout=aug.get("cutout", 0), **common)
    test = loader_class(dataset.test_images, dataset.test_labels, data_cfg.get("eval_batch_size", data_cfg["batch_size"]),
                        train=False, **common)
    return train, test
