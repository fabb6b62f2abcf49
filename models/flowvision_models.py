"""flowvision's ImageNet architectures by name, with the stem adapted to 32x32 inputs where that makes sense.

ImageNet stems shrink a 224x224 image 4x before the first stage (a strided 7x7 or 3x3 conv, often
followed by a max-pool); on 32x32 inputs that leaves 1x1 feature maps. The adaptation replaces the
first convolution, when it is strided and at most 7x7 (ResNet/ResNeXt/Wide-ResNet, DenseNet,
MobileNet, EfficientNet, GhostNet, RegNet, ...), with a 3x3 stride-1 conv of the same width, and removes
the max-pool that directly follows it in ResNet-style (`maxpool`) and DenseNet (`features.pool0`)
stems. Patch-embedding stems (ViT, Swin, ConvNeXt, MLP-Mixer: stride equal to kernel) are left as
they are.
"""
from __future__ import annotations

import difflib

import flowvision.models  # noqa: F401  (registers every architecture with ModelCreator)
import oneflow.nn as nn
from flowvision.models import ModelCreator

from common.errors import ConfigError

STEM_POOLS = ("maxpool", "features.pool0")  # max-pools that directly follow the stem conv


def _set_submodule(model: nn.Module, path: str, module: nn.Module) -> None:
    parent_path, _, name = path.rpartition(".")
    parent = dict(model.named_modules())[parent_path]  # "" is the model itself
    if isinstance(parent, nn.Sequential) and name.isdigit():
        parent[int(name)] = module
    else:
        setattr(parent, name, module)


def adapt_stem_to_32x32(model: nn.Module) -> list[str]:
    """Make an ImageNet stem keep 32x32 resolution; return what was changed (empty when nothing was)."""
    changed = []
    stem_name, stem = next(((n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d) and m.in_channels == 3), (None, None))
    if stem is None:
        return changed
    kernel, stride = stem.kernel_size[0], stem.stride[0]
    if stride > 1 and kernel <= 7 and kernel != stride:
        _set_submodule(model, stem_name, nn.Conv2d(3, stem.out_channels, 3, 1, 1, bias=stem.bias is not None))
        changed.append(f"{stem_name}: {kernel}x{kernel} stride {stride} -> 3x3 stride 1")
        names = dict(model.named_modules())
        for pool in STEM_POOLS:
            if isinstance(names.get(pool), nn.MaxPool2d):
                _set_submodule(model, pool, nn.Identity())
                changed.append(f"{pool}: removed")
    return changed


def flowvision_model(name: str, num_classes: int = 100, adapt_stem: bool = True) -> nn.Module:
    """Build flowvision's `name` (e.g. resnet50, densenet121, mobilenet_v2) with `num_classes` outputs, untrained."""
    available = ModelCreator.model_list()
    if name not in available:
        close = difflib.get_close_matches(name, available, n=5)
        hint = f"close matches: {', '.join(close)}" if close else "flowvision.models.ModelCreator.model_list() lists them all"
        raise ConfigError(f"model.name={name!r} is not a flowvision architecture ({hint}); "
                          f"or use a CIFAR model: model=resnet18, resnet34, resnet50, preact_resnet18, wrn28_10, vgg16_bn, "
                          f"mobilenetv2, densenet121, tiny.")
    model = ModelCreator.create_model(name, pretrained=False, num_classes=num_classes)
    model.stem_changes = adapt_stem_to_32x32(model) if adapt_stem else []
    return model
