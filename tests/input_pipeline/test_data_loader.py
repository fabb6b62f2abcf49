"""The device loader's augmentation statistics, its two backends, and its agreement with the DataLoader path."""
from dataclasses import asdict, astuple
from typing import get_args

import numpy as np
import pytest
from PIL import Image
from scipy import stats

from common.errors import ConfigError
from input_pipeline import DataError, DatasetArrays
from input_pipeline.arrays import channel_stats
from input_pipeline.device_loader import DeviceLoader, NumpyOps, augment_batch, epoch_order
from input_pipeline.loaders import LOADERS, Loader, build_loaders
from input_pipeline.options import Augment, LoaderKind
from input_pipeline.transforms_loader import TransformsLoader

PAD = 4
IDENTITY = dict(mean=[0.0, 0.0, 0.0], std=[1 / 255] * 3)  # normalisation that keeps pixel values


def position_images(n: int) -> np.ndarray:
    """Images whose red channel is row + 1 and green channel column + 1: crops and flips can be read back."""
    images = np.zeros((n, 32, 32, 3), np.uint8)
    images[..., 0] = np.arange(1, 33)[:, None]
    images[..., 1] = np.arange(1, 33)[None, :]
    images[..., 2] = np.arange(n)[:, None, None] % 251
    return images


def read_back(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(crop row offset, crop column offset, flipped) of each image made by position_images."""
    rows, cols = batch[:, 0, 16, 16], batch[:, 1, 16, 16]  # the centre pixel is never padding at PAD=4
    flipped = batch[:, 1, 16, 17] < cols
    dy = rows - 1 - 16 + PAD
    dx = np.where(flipped, cols - 1 - 15 + PAD, cols - 1 - 16 + PAD)  # flipped: output column 16 reads 31 - 16
    return dy.astype(int), dx.astype(int), flipped


def collect(loader):
    batches = [(x.numpy(), y.numpy()) for x, y in loader]
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])


def test_crop_offsets_are_uniform_over_the_9x9_positions_and_flip_rate_is_half():
    n = 4050
    loader = DeviceLoader(position_images(n), np.arange(n), 512, "cpu", train=True, seed=7, **IDENTITY)
    offsets, flips = [], []
    for epoch in range(2):
        loader.set_epoch(epoch)
        images, _ = collect(loader)
        dy, dx, flipped = read_back(np.rint(images))
        plan = loader.plan()  # what the loader meant to do, position by position
        assert (dy == plan.dy).all() and (dx == plan.dx).all() and (flipped == plan.flip).all()
        offsets.append(dy * 9 + dx)
        flips.append(flipped)
    counts = np.bincount(np.concatenate(offsets), minlength=81)
    assert counts.shape == (81,) and counts.min() > 0
    assert stats.chisquare(counts).pvalue > 1e-3  # 8100 draws, 100 expected per position
    flips = np.concatenate(flips)
    assert abs(flips.mean() - 0.5) < 4 * np.sqrt(0.25 / len(flips))


def test_normalised_training_set_has_mean_0_and_std_1():
    rng = np.random.default_rng(0)
    images = (rng.beta(2, 5, size=(600, 32, 32, 3)) * 255).astype(np.uint8)
    mean, std = channel_stats(images)
    loader = DeviceLoader(images, np.zeros(600, np.int64), 128, "cpu", mean, std, train=False)
    x, _ = collect(loader)
    assert np.abs(x.mean(axis=(0, 2, 3))).max() < 1e-3
    assert np.abs(x.std(axis=(0, 2, 3)) - 1).max() < 1e-3


def test_evaluation_is_the_normalised_images_in_order():
    images = position_images(70)
    loader = DeviceLoader(images, np.arange(70), 32, "cpu", [0.5] * 3, [0.25] * 3, train=False, rotation=15, cutout=8)
    x, y = collect(loader)
    assert (y == np.arange(70)).all()
    np.testing.assert_allclose(x, (images.transpose(0, 3, 1, 2) / 255.0 - 0.5) / 0.25, atol=1e-5)


@pytest.mark.parametrize("options", [{}, {"rotation": 15}, {"cutout": 8}, {"rotation": 15, "cutout": 8, "drop_last": True}])
def test_oneflow_backend_gives_the_numpy_backends_batches(options):
    """The CUDA path runs the same code with OneFlow tensors; on CPU both must agree exactly."""
    rng = np.random.default_rng(1)
    images, labels = rng.integers(0, 256, (150, 32, 32, 3), dtype=np.uint8), rng.integers(0, 100, 150)
    kwargs = dict(batch_size=64, device="cpu", mean=[0.5] * 3, std=[0.25] * 3, train=True, seed=3, **options)
    on_numpy = DeviceLoader(images, labels, backend="numpy", **kwargs)
    on_oneflow = DeviceLoader(images, labels, backend="oneflow", **kwargs)
    on_numpy.set_epoch(2), on_oneflow.set_epoch(2)
    assert len(on_numpy) == len(on_oneflow) == (2 if options.get("drop_last") else 3)
    for (x1, y1), (x2, y2) in zip(on_numpy, on_oneflow):
        assert x1.dtype == x2.dtype and y1.dtype == y2.dtype and tuple(x1.shape) == tuple(x2.shape)
        assert (x1.numpy() == x2.numpy()).all() and (y1.numpy() == y2.numpy()).all()


def test_order_and_augmentation_are_a_function_of_seed_and_epoch():
    images, labels = position_images(100), np.arange(100)
    first = DeviceLoader(images, labels, 32, "cpu", train=True, seed=5, rotation=10, cutout=8, **IDENTITY)
    resumed = DeviceLoader(images, labels, 32, "cpu", train=True, seed=5, rotation=10, cutout=8, **IDENTITY)
    first.set_epoch(3), resumed.set_epoch(3)
    x1, y1 = collect(first)
    x2, y2 = collect(resumed)
    assert (x1 == x2).all() and (y1 == y2).all()
    assert (y1 == epoch_order(5, 3, 100)).all() and sorted(y1) == list(range(100))
    first.set_epoch(4)
    assert not (collect(first)[1] == y1).all()
    other_seed = DeviceLoader(images, labels, 32, "cpu", train=True, seed=6, **IDENTITY)
    other_seed.set_epoch(3)
    assert not (collect(other_seed)[1] == y1).all()


@pytest.mark.parametrize("angle", [-15, -7.5, 4, 15])
def test_rotation_matches_pil_nearest(angle):
    image = np.random.default_rng(2).integers(1, 256, (1, 32, 32, 3), dtype=np.uint8)
    theta = np.deg2rad(angle)
    plan = dict(order=np.array([0]), dy=np.array([0]), dx=np.array([0]), flip=np.array([False]),
                cos=np.array([np.cos(theta)], np.float32), sin=np.array([np.sin(theta)], np.float32),
                span=np.arange(32), channels=np.arange(3).reshape(1, 3, 1, 1))
    out = augment_batch(NumpyOps("cpu"), image.transpose(0, 3, 1, 2), plan, 0, 1, 32, np.ones((1, 3, 1, 1), np.float32),
                        np.zeros((1, 3, 1, 1), np.float32), rotate=True, cutout=0)
    expected = np.asarray(Image.fromarray(image[0]).rotate(angle, Image.NEAREST)).transpose(2, 0, 1)
    assert (out[0] == expected).mean() > 0.98  # ties in rounding may differ on a few pixels


def test_cutout_zeroes_one_clipped_square_per_image():
    images = np.full((200, 32, 32, 3), 200, np.uint8)  # no pixel is the mean, so zeros are the hole
    loader = DeviceLoader(images, np.zeros(200, np.int64), 64, "cpu", [0.5] * 3, [0.25] * 3, train=True,
                          crop_padding=0, horizontal_flip=False, cutout=8)
    x, _ = collect(loader)
    plan = loader.plan()
    for i in range(len(x)):
        hole = x[i, 0] == 0
        assert (hole == (x[i] == 0).all(axis=0)).all()  # the same square in every channel
        rows, cols = np.where(hole.any(axis=1))[0], np.where(hole.any(axis=0))[0]
        y0, x0 = max(plan.cutout_y[i] - 4, 0), max(plan.cutout_x[i] - 4, 0)
        assert rows.tolist() == list(range(y0, min(plan.cutout_y[i] + 4, 32)))
        assert cols.tolist() == list(range(x0, min(plan.cutout_x[i] + 4, 32)))
        assert hole.sum() == len(rows) * len(cols)


def test_drop_last_yields_full_batches_only():
    loader = DeviceLoader(position_images(100), np.arange(100), 32, "cpu", train=True, drop_last=True, **IDENTITY)
    sizes = [len(y) for _, y in loader]
    assert sizes == [32, 32, 32] and len(loader) == 3 and loader.num_examples == 96


def test_both_loaders_yield_the_same_labels_in_each_epoch_and_the_same_statistics():
    rng = np.random.default_rng(4)
    images, labels = (rng.beta(2, 3, size=(512, 32, 32, 3)) * 255).astype(np.uint8), rng.integers(0, 100, 512)
    mean, std = channel_stats(images)
    kwargs = dict(batch_size=128, device="cpu", mean=mean, std=std, train=True, seed=11, rotation=15)
    device_loader = DeviceLoader(images, labels, **kwargs)
    classic = TransformsLoader(images, labels, num_workers=2, **kwargs)
    assert len(device_loader) == len(classic) and classic.num_examples == device_loader.num_examples
    for epoch in (0, 1):
        device_loader.set_epoch(epoch), classic.set_epoch(epoch)
        x1, y1 = collect(device_loader)
        x2, y2 = collect(classic)
        assert x1.shape == x2.shape and x2.dtype == np.float32 and y2.dtype == np.int64
        assert (y1 == y2).all() and (y1 == labels[epoch_order(11, epoch, 512)]).all()
        # Same recipe, different random draws: per-channel statistics agree closely.
        np.testing.assert_allclose(x1.mean(axis=(0, 2, 3)), x2.mean(axis=(0, 2, 3)), atol=0.05)
        np.testing.assert_allclose(x1.std(axis=(0, 2, 3)), x2.std(axis=(0, 2, 3)), atol=0.05)
    test_x, test_y = collect(TransformsLoader(images, labels, 100, "cpu", mean, std, train=False, num_workers=0))
    ref_x, ref_y = collect(DeviceLoader(images, labels, 100, "cpu", mean, std, train=False))
    assert (test_y == ref_y).all()
    np.testing.assert_allclose(test_x, ref_x, atol=1e-4)


def test_build_loaders_picks_the_configured_loader():
    images, labels = position_images(40), np.arange(40) % 10
    data = DatasetArrays(images, labels, images[:10], labels[:10])
    cfg = {"loader": "dataloader", "num_workers": 0, "backend": "auto", "batch_size": 16, "eval_batch_size": 5,
           "drop_last": True, "mean": [0.5] * 3, "std": [0.25] * 3,
           "augment": {"crop_padding": 4, "horizontal_flip": True, "rotation": 0, "cutout": 0}}
    train, evaluation = build_loaders(cfg, data, "cpu", seed=0)
    assert isinstance(train, TransformsLoader) and len(train) == 2 and len(evaluation["val"]) == 2
    train, evaluation = build_loaders({**cfg, "loader": "device"}, data, "cpu", seed=0)
    assert isinstance(train, DeviceLoader) and train.backend == "numpy" and len(train) == 2
    assert list(evaluation) == ["val"] and len(evaluation["val"]) == 2  # no split: `val` is the test set
    train, evaluation = build_loaders({**cfg, "loader": "device", "val_split": 8}, data, "cpu", seed=0, drop_last=False)
    assert len(train.labels) == 32 and len(train) == 2 and list(evaluation) == ["val", "test"]
    assert len(evaluation["val"].labels) == 8 and len(evaluation["test"].labels) == 10
    with pytest.raises(DataError, match="data.num_classes=5 but the dataset has labels up to 9"):
        build_loaders({**cfg, "num_classes": 5}, data, "cpu", seed=0)


@pytest.mark.parametrize("field,value,message", [
    ("rotation", -5, "data.augment.rotation=-5 is not valid: it must be degrees in 0..180"),
    ("cutout", -1, "data.augment.cutout=-1 is not valid: it must be a whole number of pixels >= 0"),
    ("crop_padding", -2, "data.augment.crop_padding=-2 is not valid"),
    ("horizontal_flip", "yes", "data.augment.horizontal_flip='yes' is not valid: it must be true or false"),
])
def test_invalid_augmentation_is_refused_in_the_configs_words(field, value, message):
    """Augment holds the augmentation's ranges once: the loaders and the config schema both refuse with them."""
    kwargs = {**dict(batch_size=8, device="cpu", mean=[0.5] * 3, std=[0.25] * 3, train=True), field: value}
    for loader in (DeviceLoader, TransformsLoader):
        with pytest.raises(ConfigError, match=message):
            loader(position_images(8), np.arange(8), **kwargs)


def test_augmentation_defaults_are_augments_and_the_config_agrees():
    """The loaders' defaults are Augment's; conf/data/_base.yaml, which every data config starts from, sets the same."""
    from omegaconf import OmegaConf

    from engine.config.compose import CONF
    loader = DeviceLoader(position_images(8), np.arange(8), 8, "cpu", train=True, **IDENTITY)
    assert (loader.padding, loader.flip, loader.rotation, loader.cutout) == (4, True, 0, 0) == astuple(Augment())
    assert OmegaConf.to_container(OmegaConf.load(CONF / "data" / "_base.yaml").augment) == asdict(Augment())
    with pytest.raises(TypeError, match="mixup"):
        DeviceLoader(position_images(8), np.arange(8), 8, "cpu", train=True, mixup=1, **IDENTITY)


def test_every_loader_choice_has_a_loader_with_the_loop_protocol():
    assert list(LOADERS) == list(get_args(LoaderKind))  # the choices the schema accepts are the loaders there are
    images, labels = position_images(16), np.arange(16)
    for make, own in ((DeviceLoader, {"backend": "oneflow"}), (TransformsLoader, {"num_workers": 0})):
        loader: Loader = make(images, labels, 8, "cpu", train=True, **own, **IDENTITY)
        loader.set_epoch(1)
        assert len(loader) == 2 and len(list(loader)) == 2 and len(loader.labels) == 16


def test_train_py_runs_on_the_dataloader_path_with_drop_last(tmp_path, train):
    """200 images at batch 64 with drop_last: 3 optimizer steps per epoch, and the schedule knows it."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = train("data=synthetic", "model=tiny", "data.loader=dataloader", "data.num_workers=1", "data.train_size=200",
                   "data.batch_size=64", "data.drop_last=true", "data.augment.rotation=15", "data.augment.cutout=8",
                   "trainer.max_epochs=2", "trainer.progress=false", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    events = EventAccumulator(str(tmp_path), size_guidance={"scalars": 0})
    events.Reload()
    lrs = [e.value for e in events.Scalars("lr")]
    assert len(lrs) == 6 and lrs[0] == pytest.approx(0.1)
    assert '"status": "completed"' in (tmp_path / "summary.json").read_text()


def test_the_torch_backend_gets_the_same_batches():
    """Same seed and epoch, same batches on both backends, on both array paths (indices, crops, flips, rotation, cutout)."""
    from tests.support.torch_side import on_torch

    torch_batches = on_torch("batches")
    images = np.random.default_rng(0).integers(0, 256, size=(70, 32, 32, 3), dtype=np.uint8)
    for path in ("numpy", "oneflow"):
        loader = DeviceLoader(images, np.arange(70), 32, "cpu", [0.5] * 3, [0.25] * 3, train=True, seed=3,
                              backend=path, rotation=15, cutout=8)
        loader.set_epoch(2)
        batches = [(x.numpy(), y.numpy()) for x, y in loader]
        assert len(batches) == len(torch_batches[path]) == 3
        for (x, y), (tx, ty) in zip(batches, torch_batches[path]):
            np.testing.assert_array_equal(np.asarray(ty), y)
            np.testing.assert_allclose(np.asarray(tx, np.float32), x, rtol=0, atol=1e-6)
