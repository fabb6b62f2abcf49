"""What the torch-backend tests compute in a child process (a process uses one framework: backend.select).

`python -m tests.support.torch_side models`: {model choice: [(name, shape), ...]} of every CIFAR model on torch;
`python -m tests.support.torch_side batches`: the device loader's batches (both array paths) as lists.
Printed as one JSON line."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

import backend

MODELS = ["densenet121", "mlp", "mobilenetv2", "preact_resnet18", "resnet18", "resnet34", "resnet50", "tiny", "vgg16_bn", "wrn28_10"]


def on_torch(what: str) -> dict:
    """`what` ("models" or "batches") computed in a child process on backend=torch; skips without torch."""
    import pytest

    pytest.importorskip("torch", reason="backend=torch is installed by `bash scripts/setup.sh --with-torch`")
    result = subprocess.run([sys.executable, "-m", "tests.support.torch_side", what], cwd=Path(__file__).resolve().parents[2],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def model_shapes() -> dict:
    from hydra.utils import instantiate

    from engine.config.compose import compose_config

    shapes = {}
    for choice in MODELS:
        model = instantiate(compose_config(f"model={choice}").model)
        shapes[choice] = [(name, list(p.shape)) for name, p in model.named_parameters()]
        logits = model.eval()(backend.flow.randn(2, 3, 32, 32))
        assert tuple(logits.shape) == (2, 100), choice
    return shapes


def loader_batches() -> dict:
    from input_pipeline.device_loader import DeviceLoader

    images = np.random.default_rng(0).integers(0, 256, size=(70, 32, 32, 3), dtype=np.uint8)
    out = {}
    for path in ("numpy", "oneflow"):  # "oneflow": the device-tensor path, here on torch's tensors
        loader = DeviceLoader(images, np.arange(70), 32, "cpu", [0.5] * 3, [0.25] * 3, train=True, seed=3,
                              backend=path, rotation=15, cutout=8)
        loader.set_epoch(2)
        out[path] = [(x.numpy().tolist(), y.numpy().tolist()) for x, y in loader]
    return out


if __name__ == "__main__":
    backend.select("torch")
    print(json.dumps(model_shapes() if sys.argv[1] == "models" else loader_batches()))
