"""Every model in conf/model/ and a few flowvision architectures: [N, 100] logits from 32x32 inputs."""

import oneflow as flow
import pytest
from hydra.utils import instantiate

from engine.config.compose import CONF, compose_config
from engine.platform.errors import ConfigError
from models.flowvision_models import adapt_stem_to_32x32, flowvision_model

CIFAR_MODELS = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))
# Sizes reported for these CIFAR-100 networks (WRN-28-10: 36.5M in Zagoruyko & Komodakis; the others as CIFAR recipes list them).
PUBLISHED_MILLIONS = {"wrn28_10": 36.5, "resnet18": 11.2, "densenet121": 7.0, "mobilenetv2": 2.4, "resnet50": 23.7}


def build(model_choice: str, *overrides: str) -> flow.nn.Module:
    return instantiate(compose_config(f"model={model_choice}", *overrides).model)


def parameters(model: flow.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("choice", CIFAR_MODELS)
def test_forward_gives_one_logit_per_cifar100_class(choice):
    model = build(choice)
    model.eval()
    with flow.no_grad():
        assert tuple(model(flow.randn(2, 3, 32, 32)).shape) == (2, 100)
    if choice in PUBLISHED_MILLIONS:
        assert parameters(model) / 1e6 == pytest.approx(PUBLISHED_MILLIONS[choice], abs=0.05)


def test_num_classes_follows_the_data_config():
    model = build("tiny", "data=synthetic")
    assert tuple(model(flow.randn(3, 3, 32, 32)).shape) == (3, 10)


@pytest.mark.parametrize("name,stem_changes", [
    ("resnet18", ["conv1: 7x7 stride 2 -> 3x3 stride 1", "maxpool: removed"]),
    ("mobilenet_v2", ["features.0.0: 3x3 stride 2 -> 3x3 stride 1"]),
])
def test_flowvision_architectures_by_name(name, stem_changes):
    model = build("flowvision", f"model.name={name}")
    assert model.stem_changes == stem_changes
    model.eval()
    with flow.no_grad():
        assert tuple(model(flow.randn(2, 3, 32, 32)).shape) == (2, 100)


def test_patch_embedding_stems_are_left_as_they_are():
    patchify = flow.nn.Sequential(flow.nn.Conv2d(3, 8, 4, stride=4), flow.nn.Flatten(), flow.nn.Linear(8 * 64, 100))
    assert adapt_stem_to_32x32(patchify) == [] and patchify[0].stride == (4, 4)


def test_flowvision_resnet_with_adapted_stem_is_the_cifar_resnet():
    assert parameters(flowvision_model("resnet18")) == parameters(build("resnet18"))
    assert flowvision_model("resnet18", adapt_stem=False).conv1.kernel_size == (7, 7)


def test_unknown_flowvision_name_suggests_close_matches():
    with pytest.raises(ConfigError, match="model.name='resnet51'.*close matches: .*resnet50"):
        flowvision_model("resnet51")


def test_every_cifar_model_has_the_same_parameters_on_torch():
    """backend=torch builds the same modules (same names, shapes, counts); the initial values differ (docs/backends.md)."""
    from tests.support.torch_side import MODELS, on_torch

    torch_shapes = on_torch("models")
    assert sorted(torch_shapes) == sorted(MODELS) == [c for c in CIFAR_MODELS if c != "flowvision"]
    for choice in MODELS:
        oneflow_shapes = [[name, list(p.shape)] for name, p in build(choice).named_parameters()]
        assert torch_shapes[choice] == oneflow_shapes, choice
