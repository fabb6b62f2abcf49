"""scikit-learn's handwritten digits (1,797 8x8 images, 10 classes), shaped like CIFAR: 32x32x3 uint8.

The dataset ships inside scikit-learn, so it needs no download: a small *real* image dataset for CPU
comparisons. Images are upscaled with bilinear interpolation (PIL) from 16 grey levels to 0-255 and
repeated over three channels; the train/test split is stratified and fixed by `split_seed`.
"""
from __future__ import annotations

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits as _sklearn_digits
from sklearn.model_selection import train_test_split

from input_pipeline.arrays import DataError, DatasetArrays

NUM_IMAGES = 1797


def _to_cifar_shape(images: np.ndarray, size: int) -> np.ndarray:
    """[N, 8, 8] floats in 0..16 -> [N, size, size, 3] uint8."""
    grey = np.clip(images * (255.0 / 16.0), 0, 255).astype(np.uint8)
    resized = np.stack([np.asarray(Image.fromarray(img).resize((size, size), Image.BILINEAR)) for img in grey])
    return np.ascontiguousarray(np.repeat(resized[..., None], 3, axis=3))


def load_digits(test_size: int = 360, split_seed: int = 0, image_size: int = 32) -> DatasetArrays:
    """Train/test arrays of the digits dataset; `test_size` images (stratified by class) are held out."""
    if not 10 <= test_size <= NUM_IMAGES - 10:
        raise DataError(f"data.dataset.test_size={test_size} is not valid: the digits dataset holds {NUM_IMAGES} images "
                        f"and each split needs at least one image per class; use a value between 10 and {NUM_IMAGES - 10}.")
    digits = _sklearn_digits()
    images = _to_cifar_shape(digits.images, image_size)
    labels = digits.target.astype(np.int64)
    train_x, test_x, train_y, test_y = train_test_split(images, labels, test_size=test_size, stratify=labels,
                                                        random_state=split_seed)
    return DatasetArrays(train_x, train_y, test_x, test_y, class_names=[str(d) for d in range(10)])
