"""Batches straight from a dataset held whole on the run's device: no per-image Python on the hot path.

The uint8 images are padded once and kept on the device. Every random choice of an epoch (order,
crop offsets, flips, rotation angles, cutout centres) is drawn up front on the host from
(seed, epoch) and moved to the device once; each batch is then one gather that applies crop, flip
and rotation together, followed by a per-channel affine normalisation and the cutout mask.

One augmentation routine serves two array backends, chosen per device because each is the fastest
there: NumPy fancy indexing on CPU (OneFlow's CPU kernels are ~20x slower at this gather) and
OneFlow tensor ops on CUDA, where the same gather runs on the GPU-resident uint8 tensor.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator, Optional, Sequence

import numpy as np
from backend import flow

from input_pipeline.options import Augment, Backend


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The training order of epoch `epoch`: a pure function of (seed, epoch), shared by every loader."""
    return np.random.default_rng([seed, epoch, 0]).permutation(n)


@dataclass
class EpochPlan:
    """Every random choice of one epoch, indexed by position in the epoch (host NumPy arrays)."""

    order: np.ndarray  # int64 [N]: dataset index of each position
    dy: np.ndarray  # int64 [N]: crop offset in the padded image, 0..2*padding
    dx: np.ndarray
    flip: np.ndarray  # bool [N]
    cos: Optional[np.ndarray]  # float32 [N] of the rotation angle, or None without rotation
    sin: Optional[np.ndarray]
    cutout_y: Optional[np.ndarray]  # int64 [N]: cutout centre, or None without cutout
    cutout_x: Optional[np.ndarray]


def plan_epoch(seed: int, epoch: int, n: int, padding: int, flip: bool, rotation: float, cutout: int,
               size: int) -> EpochPlan:
    """Draw an epoch's augmentation from (seed, epoch) alone, so a resumed run repeats it exactly."""
    rng = np.random.default_rng([seed, epoch, 1])
    angles = np.deg2rad(rng.uniform(-rotation, rotation, size=n)) if rotation else None
    return EpochPlan(
        order=epoch_order(seed, epoch, n),
        dy=rng.integers(0, 2 * padding + 1, size=n),
        dx=rng.integers(0, 2 * padding + 1, size=n),
        flip=rng.random(n) < 0.5 if flip else np.zeros(n, bool),
        cos=None if angles is None else np.cos(angles).astype(np.float32),
        sin=None if angles is None else np.sin(angles).astype(np.float32),
        cutout_y=rng.integers(0, size, size=n) if cutout else None,
        cutout_x=rng.integers(0, size, size=n) if cutout else None,
    )


class NumpyOps:
    """Array operations on host memory (the CPU path)."""

    def __init__(self, device: str) -> None:
        self.device = device

    def put(self, array: np.ndarray) -> np.ndarray:
        return array

    def arange(self, n: int) -> np.ndarray:
        return np.arange(n)

    def as_index(self, x: np.ndarray) -> np.ndarray:
        return x.astype(np.int64)

    def as_float(self, x: np.ndarray) -> np.ndarray:
        return x.astype(np.float32)

    floor = staticmethod(np.floor)
    where = staticmethod(np.where)

    def to_flow(self, x: np.ndarray) -> flow.Tensor:
        return flow.from_numpy(np.ascontiguousarray(x))


class OneFlowOps:
    """The same operations as OneFlow tensors on `device` (the CUDA path)."""

    def __init__(self, device: str) -> None:
        self.device = device

    def put(self, array: np.ndarray) -> flow.Tensor:
        return flow.tensor(array, device=self.device)

    def arange(self, n: int) -> flow.Tensor:
        return flow.arange(n, device=self.device)

    def as_index(self, x: flow.Tensor) -> flow.Tensor:
        return x.to(flow.int64)

    def as_float(self, x: flow.Tensor) -> flow.Tensor:
        return x.to(flow.float32)

    floor = staticmethod(flow.floor)
    where = staticmethod(flow.where)

    def to_flow(self, x: flow.Tensor) -> flow.Tensor:
        return x


def augment_batch(ops: Any, images: Any, plan: dict, start: int, stop: int, size: int, scale: Any, shift: Any,
                  rotate: bool, cutout: int) -> Any:
    """Crop + flip (+ rotation) as one gather from padded uint8 images, then normalise (+ cutout).

    `plan` holds the epoch's choices as `ops` arrays; positions start..stop form the batch. Written
    once for both backends: only operations NumPy arrays and OneFlow tensors share are used.
    """
    idx = plan["order"][start:stop]
    dy, dx, flip = plan["dy"][start:stop], plan["dx"][start:stop], plan["flip"][start:stop]
    span = plan["span"]  # 0..size-1
    m = idx.shape[0]
    if rotate:
        # Nearest-neighbour rotation about the image centre, as RandomRotation(interpolation=NEAREST):
        # output pixel (i, j) reads the rotated-back position of the cropped and flipped image;
        # positions outside it are black (fill 0), as in torchvision/flowvision.
        cos, sin = plan["cos"][start:stop].reshape(m, 1, 1), plan["sin"][start:stop].reshape(m, 1, 1)
        centre = (size - 1) / 2.0
        y = ops.as_float(span).reshape(1, size, 1) - centre
        x = ops.as_float(span).reshape(1, 1, size) - centre
        # Positive angles turn the image counter-clockwise, as PIL's Image.rotate (matches it pixel for pixel).
        src_y = ops.as_index(ops.floor(cos * y + sin * x + (centre + 0.5)))  # [B, S, S]
        src_x = ops.as_index(ops.floor(cos * x - sin * y + (centre + 0.5)))
        inside = (src_y >= 0) & (src_y < size) & (src_x >= 0) & (src_x < size)
        src_y, src_x = ops.where(inside, src_y, 0), ops.where(inside, src_x, 0)
    else:
        src_y, src_x = span.reshape(1, size, 1), span.reshape(1, 1, size)  # separable: [1, S, 1], [1, 1, S]
    src_x = ops.where(flip.reshape(m, 1, 1), size - 1 - src_x, src_x)
    rows = (src_y + dy.reshape(m, 1, 1)).reshape(m, 1, -1, src_y.shape[2])
    cols = (src_x + dx.reshape(m, 1, 1)).reshape(m, 1, src_x.shape[1], -1)
    batch = images[idx.reshape(m, 1, 1, 1), plan["channels"], rows, cols]  # uint8 [B, 3, S, S]
    out = ops.as_float(batch) * scale + shift
    if rotate:
        out = ops.where(inside.reshape(m, 1, size, size), out, shift)  # black (0), normalised
    if cutout:
        # Cutout (DeVries & Taylor 2017) on the normalised image: a square of side `cutout`, centred
        # anywhere in the image and clipped at its border, is set to 0 (the dataset mean).
        half = cutout // 2
        cy, cx = plan["cutout_y"][start:stop].reshape(m, 1), plan["cutout_x"][start:stop].reshape(m, 1)
        in_rows = (span.reshape(1, size) >= cy - half) & (span.reshape(1, size) < cy - half + cutout)
        in_cols = (span.reshape(1, size) >= cx - half) & (span.reshape(1, size) < cx - half + cutout)
        hole = in_rows.reshape(m, 1, size, 1) & in_cols.reshape(m, 1, 1, size)
        out = ops.where(hole, plan["zero"], out)
    return out


class DeviceLoader:
    """Iterates (images float32 [B, 3, 32, 32], labels int64 [B]) on `device`, augmented when `train`.

    Training batches follow `epoch_order(seed, epoch)`; `set_epoch` selects the epoch, so order and
    augmentation are a pure function of (seed, epoch). Evaluation batches are the images in order,
    only normalised. `augment` takes the fields of `Augment` (crop_padding, horizontal_flip, rotation,
    cutout), which holds their defaults and ranges. `backend` "auto" uses NumPy on CPU and OneFlow tensor
    ops elsewhere; both give identical batches. The batch size and statistics come checked from the
    config (engine.config.schema).
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, batch_size: int, device: str,
                 mean: Sequence[float], std: Sequence[float], train: bool, drop_last: bool = False, seed: int = 0,
                 backend: Backend = "auto", **augment: Any) -> None:
        aug = Augment(**augment)  # a bad value is refused in the config's words (data.augment.rotation=...)
        if backend == "auto":
            backend = "numpy" if flow.device(device).type == "cpu" else "oneflow"
        self.ops = NumpyOps(device) if backend == "numpy" else OneFlowOps(device)
        self.backend, self.batch_size, self.device, self.train = backend, batch_size, device, train
        self.drop_last, self.seed, self.epoch = drop_last, seed, 0
        self.padding = aug.crop_padding if train else 0
        self.flip = bool(aug.horizontal_flip) and train
        self.rotation = float(aug.rotation) if train else 0.0
        self.cutout = int(aug.cutout) if train else 0
        self.labels = np.asarray(labels, dtype=np.int64)
        self.size = images.shape[1]
        p = self.padding
        # The whole set, once: uint8 [N, 3, H + 2p, W + 2p], zero-padded as in the standard CIFAR recipe.
        self.images = self.ops.put(np.pad(images.transpose(0, 3, 1, 2), ((0, 0), (0, 0), (p, p), (p, p))))
        self.labels_on_device = self.ops.put(self.labels)
        mean_arr, std_arr = np.asarray(mean, np.float32), np.asarray(std, np.float32)
        self.scale = self.ops.put((1.0 / (255.0 * std_arr)).reshape(1, 3, 1, 1))
        self.shift = self.ops.put((-mean_arr / std_arr).reshape(1, 3, 1, 1))

    def __len__(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    @property
    def num_examples(self) -> int:
        """Images one pass yields (fewer than the dataset holds when drop_last drops a partial batch)."""
        return len(self) * self.batch_size if self.drop_last else len(self.labels)

    def set_epoch(self, epoch: int) -> None:
        """Shuffling and augmentation depend only on (seed, epoch): reproducible and resumable."""
        self.epoch = epoch

    def plan(self) -> EpochPlan:
        """The current epoch's random choices (order and augmentation parameters)."""
        n = len(self.labels)
        if not self.train:
            zeros = np.zeros(n, np.int64)
            return EpochPlan(np.arange(n), zeros, zeros, np.zeros(n, bool), None, None, None, None)
        return plan_epoch(self.seed, self.epoch, n, self.padding, self.flip, self.rotation, self.cutout, self.size)

    def __iter__(self) -> Iterator[tuple[flow.Tensor, flow.Tensor]]:
        plan = {k: self.ops.put(v) for k, v in vars(self.plan()).items() if v is not None}  # one transfer per epoch
        plan["span"] = self.ops.arange(self.size)
        plan["channels"] = self.ops.arange(3).reshape(1, 3, 1, 1)
        plan["zero"] = self.ops.put(np.zeros((1, 1, 1, 1), np.float32))
        for b in range(len(self)):
            start, stop = b * self.batch_size, min((b + 1) * self.batch_size, len(self.labels))
            images = augment_batch(self.ops, self.images, plan, start, stop, self.size, self.scale, self.shift,
                                   rotate=bool(self.rotation), cutout=self.cutout)
            labels = self.labels_on_device[plan["order"][start:stop]]
            yield self.ops.to_flow(images).to(self.device), self.ops.to_flow(labels).to(self.device)

