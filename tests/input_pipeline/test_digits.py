"""data=digits: scikit-learn's digits as CIFAR-shaped arrays, split deterministically."""
import numpy as np
import pytest

from input_pipeline import DataError
from input_pipeline.digits import load_digits


def test_digits_are_cifar_shaped_stratified_and_deterministic():
    data = load_digits()
    assert data.train_images.shape == (1437, 32, 32, 3) and data.test_images.shape == (360, 32, 32, 3)
    assert data.train_images.dtype == np.uint8 and data.train_labels.dtype == np.int64
    assert set(np.unique(data.train_labels)) == set(range(10)) == set(np.unique(data.test_labels))
    assert np.bincount(data.test_labels).min() >= 35  # stratified: ~36 test images per digit
    assert data.train_images.max() == 255 and data.train_images.min() == 0
    assert (data.train_images[..., 0] == data.train_images[..., 2]).all()  # grey in three channels
    again = load_digits()
    assert (again.train_images == data.train_images).all() and (again.test_labels == data.test_labels).all()
    other = load_digits(split_seed=1)
    assert not (other.test_labels == data.test_labels).all()


def test_bad_test_size_names_the_field_and_the_valid_range():
    with pytest.raises(DataError, match=r"data.dataset.test_size=5000 .* between 10 and 1787"):
        load_digits(test_size=5000)
