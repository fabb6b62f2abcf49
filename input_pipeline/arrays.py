from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class DataError(RuntimeError):
    """A dataset that is missing, corrupt or unsafe; the message says where and what to do."""


@dataclass
class DatasetArrays:
    """A labelled image dataset held as arrays: images uint8 [N, 32, 32, 3] (HWC), labels int64 [N]."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: list = field(default_factory=list)

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            images, labels = getattr(self, f"{split}_images"), getattr(self, f"{split}_labels")
            if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3:
                raise DataError(f"{split} images must be uint8 [N, H, W, 3], got {images.dtype} {images.shape}")
            if len(images) != len(labels):
                raise DataError(f"{split} has {len(images)} images but {len(labels)} labels")
