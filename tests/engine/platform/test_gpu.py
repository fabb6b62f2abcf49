"""The GPU test set: `pytest -m gpu` on a machine with a GPU that the installed OneFlow can run.

Every test here needs such a GPU and is skipped, with the reason, where there is none (no GPU, or a GPU
whose probe fails: engine.platform.device), so CI on CPU-only machines stays green. What they prove on a GPU:
the probe passes; the device loader's OneFlow CUDA backend yields exactly the NumPy backend's batches;
a 2-epoch tiny run completes in eager, graph, AMP bf16 and AMP fp16 + graph with finite losses and the
CPU run's LR curve; a run killed mid-epoch resumes exactly; bench.py --device cuda writes its report;
the parallel launcher gives each job its own GPU.
"""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from engine.platform.device import check_gpu_runs_kernels, run_probe, visible_gpus
from engine.platform.errors import ConfigError
from tests.support.runs import ROOT, run_train
from tests.support.runs import FAST, RESUMABLE_EPOCHS, kill_after_checkpoint, read_scalars, read_summary, start_resumable_run

pytestmark = pytest.mark.gpu
EPOCHS = 2


@pytest.fixture(scope="session")
def gpus():
    """The GPUs OneFlow sees and can run kernels on; skips every test with the reason when there are none."""
    seen = visible_gpus()
    if not seen:
        pytest.skip("no CUDA GPU visible to OneFlow (flow.cuda.is_available() is False); the GPU tests need one")
    usable, refusals = [], []
    for gpu in seen:
        try:
            check_gpu_runs_kernels(f"cuda:{gpu.index}", gpu, asked=f"cuda:{gpu.index}")
            usable.append(gpu)
        except ConfigError as refusal:
            refusals.append(" ".join(str(refusal).split()))
    if not usable:
        pytest.skip(f"no GPU the installed OneFlow can run: {refusals[0]}")
    return usable


def test_the_probe_passes_on_every_usable_gpu(gpus):
    for gpu in gpus:
        result = run_probe(f"cuda:{gpu.index}")  # a fresh child, not the cached verdict
        assert result.ok, result.detail
        assert result.seconds < 60


@pytest.mark.parametrize("options", [{}, {"rotation": 15}, {"cutout": 8}, {"rotation": 15, "cutout": 8, "drop_last": True}])
def test_the_oneflow_cuda_backend_yields_the_numpy_backends_batches(gpus, options):
    from input_pipeline.device_loader import DeviceLoader

    rng = np.random.default_rng(1)
    images, labels = rng.integers(0, 256, (300, 32, 32, 3), dtype=np.uint8), rng.integers(0, 100, 300)
    kwargs = dict(batch_size=64, device="cuda", mean=[0.5071, 0.4865, 0.4409], std=[0.2673, 0.2564, 0.2762], train=True, seed=3, **options)
    on_numpy = DeviceLoader(images, labels, backend="numpy", **kwargs)
    on_cuda = DeviceLoader(images, labels, backend="oneflow", **kwargs)
    for epoch in (0, 3):
        on_numpy.set_epoch(epoch), on_cuda.set_epoch(epoch)
        batches = 0
        for (x1, y1), (x2, y2) in zip(on_numpy, on_cuda):
            assert x2.device.type == "cuda" and x1.dtype == x2.dtype and tuple(x1.shape) == tuple(x2.shape)
            np.testing.assert_array_equal(x1.numpy(), x2.numpy())
            np.testing.assert_array_equal(y1.numpy(), y2.numpy())
            batches += 1
        assert batches == len(on_numpy) == len(on_cuda) > 1


@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("cpu") / "run"
    result = run_train(*FAST, f"trainer.max_epochs={EPOCHS}", "trainer.log_every_n_steps=1", "device=cpu", f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    return read_scalars(run_dir)


MODES = {"eager": [], "graph": ["trainer.graph=true"], "amp_bf16": ["trainer.amp=true", "trainer.amp_dtype=bfloat16"],
         "amp_fp16_graph": ["trainer.amp=true", "trainer.amp_dtype=float16", "trainer.graph=true"]}


@pytest.mark.parametrize("mode", sorted(MODES))
def test_a_tiny_run_completes_on_cuda_with_finite_losses_and_the_cpu_lr_curve(gpus, cpu_run, mode, tmp_path):
    result = run_train(*FAST, f"trainer.max_epochs={EPOCHS}", "trainer.log_every_n_steps=1", "device=cuda", *MODES[mode],
                       f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    summary, scalars = read_summary(tmp_path), read_scalars(tmp_path)
    assert summary["status"] == "completed" and summary["global_step"] == EPOCHS * 10
    assert json.loads((tmp_path / "run_info.json").read_text())["started"]["device"] == "cuda"
    losses = [v for _, v in scalars["train/loss"]] + [v for _, v in scalars["train/loss_epoch"]]
    assert losses and all(math.isfinite(v) for v in losses)
    assert [s for s, _ in scalars["lr"]] == [s for s, _ in cpu_run["lr"]] == list(range(EPOCHS * 10))
    np.testing.assert_allclose([v for _, v in scalars["lr"]], [v for _, v in cpu_run["lr"]], rtol=1e-6)


def test_a_run_killed_mid_epoch_on_cuda_resumes_exactly(gpus, tmp_path):

    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    result = run_train(*FAST, f"trainer.max_epochs={RESUMABLE_EPOCHS}", "device=cuda", f"hydra.run.dir={reference}")
    assert result.returncode == 0, result.stderr[-3000:]
    kill_after_checkpoint(start_resumable_run(resumed, "device=cuda", "trainer.checkpoint_every_n_steps=3"), resumed, min_step=13)
    assert read_summary(resumed)["status"] == "running"
    result = run_train(f"resume={resumed}")
    assert result.returncode == 0 and "resuming from" in result.stdout, result.stderr[-3000:]

    expected, actual = read_scalars(reference), read_scalars(resumed)
    assert [s for s, _ in actual["lr"]] == list(range(RESUMABLE_EPOCHS * 10))
    assert actual["lr"] == expected["lr"]
    for tag in ("val/acc1", "val/loss", "train/loss_epoch"):
        assert [s for s, _ in actual[tag]] == list(range(1, RESUMABLE_EPOCHS + 1))
        # cuDNN may pick non-deterministic algorithms (atomics in the weight gradients): close, not bit-equal.
        np.testing.assert_allclose([v for _, v in actual[tag]], [v for _, v in expected[tag]], rtol=1e-3, atol=1e-4)
    assert read_summary(resumed)["status"] == "completed"


def test_bench_on_cuda_writes_its_report(gpus, tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench.py"), "--device", "cuda", "--model", "tiny", "--batch-size", "32",
                             "--steps", "2", "--warmup", "1", "--repeats", "1", "--images", "256", "--test-images", "64",
                             "--no-cifar-archive", "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["device"] == "cuda" and all(v > 0 for v in figures["images_per_s"].values())
    assert "(b)/(a)" in (tmp_path / "tiny_cuda.md").read_text()


def test_the_parallel_launcher_gives_each_job_its_own_gpu(gpus, tmp_path):
    if len(gpus) < 2:
        pytest.skip(f"needs 2 usable GPUs, this machine has {len(gpus)}")
    sweep, probe = tmp_path / "sweep", tmp_path / "probe"
    probe.mkdir()
    ids = ",".join(str(g.index) for g in gpus[:2])
    result = subprocess.run([sys.executable, str(ROOT / "train.py"), "-m", "hydra/launcher=parallel", f"hydra.launcher.gpus=[{ids}]",
                             "hydra.launcher.preload=[engine.platform.oneflow_env,tests.support.sweeps_pin_probe]", *FAST, "trainer.max_epochs=2",
                             "device=cuda", "scheduler=cosine,step", f"hydra.sweep.dir={sweep}"],
                            cwd=ROOT, env={**os.environ, "SWEEPS_PIN_PROBE_DIR": str(probe)}, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = [p for p in sweep.iterdir() if p.is_dir()]
    assert len(runs) == 2 and all(read_summary(r)["status"] == "completed" for r in runs)
    workers = [json.loads(p.read_text()) for p in probe.glob("worker-*.json")]
    assert sorted(w["cuda_visible_devices"] for w in workers) == sorted(ids.split(","))
