"""Batches straight from a dataset held whole in memory: no per-image Python on the hot path.

The uint8 images are padded once; each batch is one fancy-indexing gather that applies the random
crop and the horizontal flip together, followed by a per-channel affine normalisation.
"""
from __future__ import annotations

import math
from typing import Iterator, Sequence

import numpy as np
import oneflow as flow


class DeviceLoader:
    """Iterates (images float32 [B, 3, 32, 32], labels int64 [B]) on `device`, augmented when `train`."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, batch_size: int, device: str,
                 mean: Sequence[float], std: Sequence[float], train: bool, crop_padding: int = 4,
                 horizontal_flip: bool = True, drop_last: bool = False, seed: int = 0) -> None:
        self.batch_size, self.device, self.train = batch_size, device, train
        self.drop_last, self.seed, self.epoch = drop_last, seed, 0
        self.padding = crop_padding if train else 0
        self.flip = horizontal_flip and train
        p = self.padding
        # [N, 3, H + 2p, W + 2p] uint8, reflect-free zero padding as in the standard CIFAR recipe.
        self.images = np.pad(images.transpose(0, 3, 1, 2), ((0, 0), (0, 0), (p, p), (p, p)))
        self.labels = labels.astype(np.int64)
        self.size = images.shape[1]
        mean_arr, std_arr = np.asarray(mean, np.float32), np.asarray(std, np.float32)
        self.scale = (1.0 / (255.0 * std_arr)).reshape(1, 3, 1, 1)
        self.shift = (-mean_arr / std_arr).reshape(1, 3, 1, 1)

    def __len__(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    @property
    def num_examples(self) -> int:
        return len(self) * self.batch_size if self.drop_last else len(self.labels)

    def set_epoch(self, epoch: int) -> None:
        """Shuffling and augmentation depend only on (seed, epoch): reproducible and resumable."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[flow.Tensor, flow.Tensor]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        n = len(self.labels)
        order = rng.permutation(n) if self.train else np.arange(n)
        channels = np.arange(3)[None, :, None, None]
        span = np.arange(self.size)
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            m = len(idx)
            dy = rng.integers(0, 2 * self.padding + 1, size=m) if self.padding else np.zeros(m, np.int64)
            dx = rng.integers(0, 2 * self.padding + 1, size=m) if self.padding else np.zeros(m, np.int64)
            rows = dy[:, None] + span  # [B, 32]
            cols = dx[:, None] + span
            if self.flip:
                flipped = rng.random(m) < 0.5
                cols = np.where(flipped[:, None], cols[:, ::-1], cols)
            batch = self.images[idx[:, None, None, None], channels, rows[:, None, :, None], cols[:, None, None, :]]
            x = batch.astype(np.float32) * self.scale + self.shift
            yield (flow.tensor(x, device=self.device), flow.tensor(self.labels[idx], device=self.device))
