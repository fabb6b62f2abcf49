"""A small, learnable, CIFAR-shaped dataset generated in memory, for offline smoke runs and tests."""
from __future__ import annotations

import numpy as np

from input_pipeline.arrays import DatasetArrays


def make_synthetic(num_classes: int = 10, train_size: int = 2000, test_size: int = 500,
                   noise: float = 40.0, seed: int = 1234) -> DatasetArrays:
    """Each class is a smooth random colour pattern (a 4x4 grid upsampled to 32x32); samples add noise.

    Smooth patterns keep classes recognisable under the crop and flip augmentation, so a tiny CNN
    reaches far-above-chance accuracy in a few epochs.
    """
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, size=(num_classes, 4, 4, 3))
    prototypes = coarse.repeat(8, axis=1).repeat(8, axis=2)  # [C, 32, 32, 3]

    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.integers(0, num_classes, size=n)
        images = prototypes[labels] + rng.normal(0, noise, size=(n, 32, 32, 3))
        return np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.int64)

    train_images, train_labels = sample(train_size)
    test_images, test_labels = sample(test_size)
    return DatasetArrays(train_images, train_labels, test_images, test_labels,
                         class_names=[f"class_{i}" for i in range(num_classes)])
