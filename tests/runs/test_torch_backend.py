"""backend=torch: train.py trains, logs, checkpoints and resumes exactly as on OneFlow, with the same LR curve;
a checkpoint of one backend is refused by the other; OneFlow-only parts are refused in one paragraph."""
import json

import numpy as np
import pytest

from engine.run_dir.checkpoint import load_checkpoint
from tests.support.runs import FAST, kill_after_checkpoint, read_scalars, read_summary, start_resumable_run

pytest.importorskip("torch", reason="backend=torch is installed by `bash scripts/setup.sh --with-torch`")

EPOCHS = 4  # tests.support.runs.RESUMABLE_EPOCHS: 10 optimizer steps each
RUN = (*FAST, "scheduler=cosine", f"trainer.max_epochs={EPOCHS}")


@pytest.fixture(scope="module")
def oneflow_run(tmp_path_factory):
    from tests.support.runs import run_train

    run_dir = tmp_path_factory.mktemp("oneflow") / "run"
    result = run_train(*RUN, f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


def test_a_torch_run_logs_the_oneflow_runs_lr_curve_and_records_its_backend(oneflow_run, tmp_path, train):
    run_dir = tmp_path / "torch"
    result = train(*RUN, "backend=torch", f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = read_summary(run_dir)
    assert summary["status"] == "completed" and summary["backend"] == "torch" and summary["backend_version"]
    assert read_summary(oneflow_run)["backend"] == "oneflow"
    info = json.loads((run_dir / "run_info.json").read_text())
    assert info["backend"] == "torch" and info["backend_version"] == info["torch"]
    torch_curves, oneflow_curves = read_scalars(run_dir), read_scalars(oneflow_run)
    assert torch_curves["lr"] == oneflow_curves["lr"] and len(torch_curves["lr"]) == EPOCHS * 10
    assert len({lr for _, lr in torch_curves["lr"]}) > 1
    assert summary["final_acc1"] > 20  # it learned (synthetic data: 10 classes)
    state = load_checkpoint(run_dir / "checkpoints" / f"epoch={EPOCHS:04d}-step={EPOCHS * 10:09d}.ckpt")
    assert state["config"]["backend"] == "torch"


def test_a_killed_torch_run_resumes_exactly(tmp_path, train):
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    result = train(*RUN, "backend=torch", f"hydra.run.dir={reference}")
    assert result.returncode == 0, result.stderr[-3000:]
    kill_after_checkpoint(start_resumable_run(resumed, "scheduler=cosine", "backend=torch",
                                              "trainer.checkpoint_every_n_steps=3"), resumed, min_step=13)
    result = train(f"resume={resumed}")
    assert result.returncode == 0 and "resuming from" in result.stdout, result.stderr[-3000:]
    expected, actual = read_scalars(reference), read_scalars(resumed)
    assert actual["lr"] == expected["lr"]
    for tag in ("val/acc1", "val/loss", "train/loss_epoch", "train/loss"):
        assert actual[tag] == expected[tag], tag  # bit-exact on one machine, as on OneFlow
    final = {name: load_checkpoint(run / "checkpoints" / f"epoch={EPOCHS:04d}-step={EPOCHS * 10:09d}.ckpt")
             for name, run in (("reference", reference), ("resumed", resumed))}
    for key, value in final["reference"]["model"].items():
        np.testing.assert_array_equal(final["resumed"]["model"][key].numpy(), value.numpy())


def test_another_backends_run_is_refused_in_one_paragraph(oneflow_run, tmp_path, train):
    for args in ([f"fork={oneflow_run}", "fork.at_epoch=4", "trainer.max_epochs=6", f"hydra.run.dir={tmp_path / 'fork'}"],
                 [f"resume={oneflow_run}"]):
        result = train(*args, "backend=torch")
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
        assert "backend: 'oneflow' -> 'torch'" in " ".join(result.stderr.split()), args
    assert not (tmp_path / "fork").exists()  # nothing left behind


def test_a_checkpoint_of_the_other_backend_is_refused_with_the_reason():
    from engine.platform.errors import ConfigError
    from engine.training.run import check_same_backend

    check_same_backend({"backend": "oneflow"}, "x.ckpt")
    check_same_backend({}, "old.ckpt")  # written before the torch backend: OneFlow's
    with pytest.raises(ConfigError) as refused:
        check_same_backend({"backend": "torch"}, "epoch=0001-step=000000010.ckpt")
    message = " ".join(str(refused.value).split())
    assert "written by backend=torch" in message and "this run uses backend=oneflow" in message
    assert "Resume or fork it with backend=torch" in message


@pytest.mark.parametrize("overrides, named", [(("model=flowvision", "model.name=resnet18"), "model=models.flowvision_models"),
                                              (("data.loader=dataloader",), "data.loader=dataloader")])
def test_oneflow_only_parts_are_refused_on_torch(overrides, named, tmp_path, train):
    result = train(*FAST, "trainer.max_epochs=1", "backend=torch", *overrides, f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert named in result.stderr and "backend=oneflow" in " ".join(result.stderr.split())
