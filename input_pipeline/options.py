"""What the loaders can be asked for: the loader and backend choices, and the augmentation with its defaults and ranges.

Each fact lives here once: the loaders read it, and engine.config.schema builds the config's `data`
group from it, so `data.loader=threads` is refused at config time and `data.augment.rotation=400` in the
same words a direct `DeviceLoader(..., rotation=400)` gets. Light on purpose: no OneFlow import.
"""
from dataclasses import dataclass
from typing import ClassVar, Literal

from common.checked import Checked, boolean, number, rule, whole

LoaderKind = Literal["device", "dataloader"]  # input_pipeline.loaders.LOADERS
Backend = Literal["auto", "numpy", "oneflow"]  # input_pipeline.device_loader.DeviceLoader


@dataclass(frozen=True)
class Augment(Checked):
    """The training augmentation (`data.augment`); evaluation loaders ignore it. Every step is off at 0/false."""

    GROUP: ClassVar[str] = "data.augment"
    # random crop after zero-padding by this many pixels
    crop_padding: int = rule(whole(0), "a whole number of pixels >= 0 (0: no random crop)", 4)
    horizontal_flip: bool = rule(boolean, "true or false", True)
    # RandomRotation(+-degrees), nearest, black fill
    rotation: float = rule(number(0, 180), "degrees in 0..180 (0: off; 15 in the pytorch-cifar100 recipe)", 0)
    # side of the square Cutout (DeVries & Taylor 2017) sets to the mean
    cutout: int = rule(whole(0), "a whole number of pixels >= 0 (0: off; 8 or 16 are usual)", 0)
