"""The GPU tests of backend=torch (`pytest -m gpu`): skipped where torch is not installed or sees no GPU.

On a GPU (Hopper and Blackwell included, which OneFlow 0.9 cannot run): a 2-epoch tiny run completes in eager,
torch.compile, AMP bf16 and AMP fp16 modes with finite losses and the LR curve of the same run on the CPU.
scripts/gpu_check.sh runs these, OneFlow's GPU tests and one benchmark line in a few minutes.
"""
import math

import pytest

from tests.support.runs import FAST, read_scalars, read_summary, run_train

pytestmark = pytest.mark.gpu
EPOCHS = 2
RUN = (*FAST, f"trainer.max_epochs={EPOCHS}", "backend=torch")


@pytest.fixture(scope="session")
def cpu_run(tmp_path_factory):
    torch = pytest.importorskip("torch", reason="backend=torch is installed by `bash scripts/setup.sh --with-torch`")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU visible to PyTorch (torch.cuda.is_available() is False); the GPU tests need one")
    run_dir = tmp_path_factory.mktemp("cpu") / "run"
    result = run_train(*RUN, "device=cpu", f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


@pytest.mark.parametrize("mode", [(), ("trainer.graph=true",), ("trainer.amp=true", "trainer.amp_dtype=bfloat16"),
                                  ("trainer.amp=true", "trainer.amp_dtype=float16")], ids=["eager", "compile", "bf16", "fp16"])
def test_a_torch_run_trains_on_the_gpu_with_the_cpu_runs_lr_curve(cpu_run, mode, tmp_path):
    run_dir = tmp_path / "gpu"
    result = run_train(*RUN, "device=cuda", *mode, f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = read_summary(run_dir)
    assert summary["status"] == "completed" and summary["device"].startswith("cuda") and summary["backend"] == "torch"
    assert all(math.isfinite(v) for v in summary["history"]["train/loss_epoch"])
    if "trainer.graph=true" not in mode:  # graph mode drops the last partial batch: another step count
        assert read_scalars(run_dir)["lr"] == read_scalars(cpu_run)["lr"]
