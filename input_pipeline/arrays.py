from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from common.errors import DataError


@dataclass
class DatasetArrays:
    """A labelled image dataset held as arrays: images uint8 [N, 32, 32, 3] (HWC), labels int64 [N]."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: list = field(default_factory=list)
    # CIFAR-100 also labels every image with one of 20 superclasses; None for datasets without them.
    train_coarse_labels: Optional[np.ndarray] = None
    test_coarse_labels: Optional[np.ndarray] = None
    coarse_class_names: list = field(default_factory=list)

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            images, labels = getattr(self, f"{split}_images"), getattr(self, f"{split}_labels")
            if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3:
                raise DataError(f"{split} images must be uint8 [N, H, W, 3], got {images.dtype} {images.shape}")
            if len(images) != len(labels):
                raise DataError(f"{split} has {len(images)} images but {len(labels)} labels")
            coarse = getattr(self, f"{split}_coarse_labels")
            if coarse is not None and len(coarse) != len(labels):
                raise DataError(f"{split} has {len(labels)} labels but {len(coarse)} coarse labels")


def channel_stats(images: np.ndarray, chunk: int = 4096) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 HWC images, scaled to 0..1: the `data.mean`/`data.std` of a dataset."""
    total, total_sq = np.zeros(images.shape[-1]), np.zeros(images.shape[-1])
    for start in range(0, len(images), chunk):  # chunks keep the float64 copy small
        pixels = images[start:start + chunk].reshape(-1, images.shape[-1]).astype(np.float64) / 255.0
        total += pixels.sum(axis=0)
        total_sq += (pixels ** 2).sum(axis=0)
    count = images.size // images.shape[-1]
    mean = total / count
    return mean.tolist(), np.sqrt(total_sq / count - mean ** 2).tolist()
