"""The classic CIFAR input path, kept for comparison: per-image flowvision transforms in DataLoader workers.

Same interface and same epoch order as DeviceLoader (`epoch_order(seed, epoch)`), so the two can be
swapped with `data.loader=dataloader` to compare statistics and speed. Augmentation randomness comes
from the workers' generators (seeded by OneFlow's DataLoader), not from the (seed, epoch) plan.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

import numpy as np
import oneflow as flow
from flowvision import transforms
from oneflow.utils.data import DataLoader, Dataset, Sampler
from PIL import Image

from input_pipeline.device_loader import epoch_order
from input_pipeline.options import Augment


class ImageArrayDataset(Dataset):
    """uint8 HWC images as PIL images through `transform`, with int labels."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: Callable) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[flow.Tensor, int]:
        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


class EpochSampler(Sampler):
    """Yields `epoch_order(seed, epoch, n)`: the device loader's order for the same seed and epoch."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        return iter(epoch_order(self.seed, self.epoch, self.n).tolist())


class Cutout:
    """Cutout (DeVries & Taylor 2017) on a normalised [3, H, W] tensor: a square clipped at the border, set to 0."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, image: flow.Tensor) -> flow.Tensor:
        h, w = image.shape[1], image.shape[2]
        cy, cx = np.random.randint(h), np.random.randint(w)
        y0, y1 = max(cy - self.size // 2, 0), min(cy - self.size // 2 + self.size, h)
        x0, x1 = max(cx - self.size // 2, 0), min(cx - self.size // 2 + self.size, w)
        mask = np.ones((1, h, w), np.float32)
        mask[:, y0:y1, x0:x1] = 0.0
        return image * flow.from_numpy(mask)


def cifar_transforms(train: bool, mean: Sequence[float], std: Sequence[float], aug: Augment) -> transforms.Compose:
    """The pytorch-cifar100 recipe: RandomCrop(32, padding), flip, RandomRotation, ToTensor, Normalize, Cutout."""
    steps = []
    if train and aug.crop_padding:
        steps.append(transforms.RandomCrop(32, padding=int(aug.crop_padding)))
    if train and aug.horizontal_flip:
        steps.append(transforms.RandomHorizontalFlip())
    if train and aug.rotation:
        steps.append(transforms.RandomRotation(float(aug.rotation)))
    steps += [transforms.ToTensor(), transforms.Normalize(list(mean), list(std))]
    if train and aug.cutout:
        steps.append(Cutout(int(aug.cutout)))
    return transforms.Compose(steps)


class TransformsLoader:
    """DataLoader with `num_workers` worker processes; yields (images, labels) on `device` like DeviceLoader.

    `augment` takes the fields of `Augment`, as DeviceLoader does."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, batch_size: int, device: str,
                 mean: Sequence[float], std: Sequence[float], train: bool, drop_last: bool = False, seed: int = 0,
                 num_workers: int = 2, **augment: Any) -> None:
        self.labels = np.asarray(labels, dtype=np.int64)
        self.device, self.batch_size, self.drop_last = device, batch_size, drop_last
        transform = cifar_transforms(train, mean, std, Augment(**augment))
        self.sampler = EpochSampler(len(self.labels), seed) if train else None
        self.loader = DataLoader(ImageArrayDataset(images, self.labels, transform), batch_size=batch_size,
                                 sampler=self.sampler, shuffle=False, drop_last=drop_last,
                                 num_workers=int(num_workers), persistent_workers=int(num_workers) > 0)

    def __len__(self) -> int:
        return len(self.loader)

    @property
    def num_examples(self) -> int:
        return len(self) * self.batch_size if self.drop_last else len(self.labels)

    def set_epoch(self, epoch: int) -> None:
        if self.sampler is not None:
            self.sampler.epoch = epoch

    def __iter__(self) -> Iterator[tuple[flow.Tensor, flow.Tensor]]:
        for images, labels in self.loader:
            yield images.to(self.device), labels.to(flow.int64).to(self.device)
