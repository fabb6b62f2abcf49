"""A validation split held out from the training set, so model selection never looks at the test set.

The split depends only on the labels and a fixed seed, not on the run's `seed`: every run and every
seed of a sweep trains on the same images and selects on the same held-out ones. It is stratified
(each class keeps its share) whenever the sizes allow it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Union

import numpy as np

from common.checked import is_int, is_number
from input_pipeline.arrays import DataError

SPLIT_SEED = 0
# `data.val_split`'s rule, here once: engine.config.schema checks the config with it, and the readers below
# apply the same rule to a value that did not come through the schema (a schedule preview, a saved run's config)
VAL_SPLIT_VALID = "a whole number of images >= 0 (0: no validation split) or a fraction between 0 and 1, e.g. 0.1"


def is_val_split(value: Any) -> bool:
    """A count of images (>= 0) or a fraction in (0, 1): what `data.val_split` may be, before the set's size is known."""
    return (is_int(value) and value >= 0) or (is_number(value) and 0 < value < 1)


def val_split_problem(val_split: Any, train_size: int) -> Optional[str]:
    """Why `data.val_split` cannot split `train_size` training images (None when it leaves some to train on)."""
    if not is_val_split(val_split):
        return f"data.val_split={val_split!r} is not valid: it must be {VAL_SPLIT_VALID}"
    if _held_out(val_split, train_size) < train_size:
        return None
    return (f"data.val_split={val_split} holds out every training image (data.train_size={train_size}); it must "
            f"be below {train_size}, or a fraction between 0 and 1")


def _held_out(val_split: Union[int, float], train_size: int) -> int:
    return int(round(val_split * train_size)) if isinstance(val_split, float) else val_split


def validation_images(val_split: Union[int, float], train_size: int) -> int:
    """Images `data.val_split` holds out of `train_size` training images: a whole number, or a fraction in (0, 1)."""
    problem = val_split_problem(val_split, train_size)
    if problem:
        raise DataError(problem + ".")
    return _held_out(val_split, train_size)


@dataclass
class TrainValSplit:
    train_images: np.ndarray
    train_labels: np.ndarray
    val_images: np.ndarray
    val_labels: np.ndarray


def hold_out_validation(images: np.ndarray, labels: np.ndarray, val_size: int) -> TrainValSplit:
    """Move `val_size` images (chosen deterministically) from the training set into a validation set."""
    n = len(labels)
    if not isinstance(val_size, int) or isinstance(val_size, bool) or not 0 < val_size < n:
        raise DataError(f"data.val_split={val_size!r} must be a whole number of images between 1 and {n - 1} "
                        f"(the training set holds {n}), or 0 for no validation split.")
    from sklearn.model_selection import train_test_split  # only runs that hold out a split pay its import

    counts = np.bincount(labels)
    classes = int((counts > 0).sum())
    stratify = labels if counts[counts > 0].min() >= 2 and classes <= val_size <= n - classes else None
    train_idx, val_idx = train_test_split(np.arange(n), test_size=val_size, random_state=SPLIT_SEED, stratify=stratify)
    train_idx, val_idx = np.sort(train_idx), np.sort(val_idx)
    return TrainValSplit(images[train_idx], labels[train_idx], images[val_idx], labels[val_idx])
