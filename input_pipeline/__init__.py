"""Datasets as uint8 arrays, and the loader that turns them into augmented batches on the device."""
from input_pipeline.arrays import DatasetArrays, DataError

__all__ = ["DatasetArrays", "DataError", "steps_per_epoch"]


def steps_per_epoch(train_size: int, batch_size: int, drop_last: bool = False) -> int:
    """Optimizer steps in one epoch; known from the config alone, before any data is loaded."""
    return train_size // batch_size if drop_last else -(-train_size // batch_size)
