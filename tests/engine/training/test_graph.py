"""Graph mode: the same LR curve as eager mode for every schedule nn.Graph supports, close losses on CPU.

Every supported schedule is checked in-process, on the project's own GraphSteps: the LR nn.Graph's compiled LR job
applies at each step (read back from the parameter's update) is the one the Python schedule logs. Two of them
(a staircase and a composite) also run through train.py in both modes, for the loop's logging and the losses."""
import json
import shutil

import numpy as np
import oneflow as flow
import pytest
from hydra.utils import instantiate

from engine.config.compose import CONF, compose_config
from engine.platform.errors import ConfigError
from engine.training.steps import GraphSteps
from schedulers import build_lr_schedule
from input_pipeline import steps_per_epoch
from tests.support.runs import FAST, read_scalars, read_summary

EPOCHS = 2
# Lengths fitted to the test's 2 epochs (the configs' own are for 200), so the LR changes within them.
SHORTER = {
    "step": ["scheduler.lr_scheduler.step_size=1"],
    "multistep": ["scheduler.lr_scheduler.milestones=[1]"],
    "linear": ["scheduler.lr_scheduler.total_iters=1"],
    "warmup_cosine": ["scheduler.lr_scheduler.warmup_iters=0.5"],
    "sequential": ["scheduler.lr_scheduler.milestones=[0.5,1.5]", "scheduler.lr_scheduler.schedulers.0.total_iters=0.5",
                   "scheduler.lr_scheduler.schedulers.2.total_iters=0.5"],
    "noam": ["scheduler.lr_scheduler.lr_lambda.warmup_iters=0.5"],
    "warmup_plateau": ["scheduler.lr_scheduler.warmup_iters=0.5"],
}


def _graph_support(choice):
    cfg = compose_config("data=synthetic", "model=tiny", f"scheduler={choice}", f"trainer.max_epochs={EPOCHS}",
                         *SHORTER.get(choice, []))
    optimizer = instantiate(cfg.optimizer)(instantiate(cfg.model).parameters())
    try:
        build_lr_schedule(cfg.scheduler, optimizer, steps_per_epoch(640, 64, drop_last=True), cfg.trainer.max_epochs, graph=True)
    except ConfigError:
        return False
    return True


CHOICES = sorted(p.stem for p in (CONF / "scheduler").glob("*.yaml"))
SUPPORTED = [c for c in CHOICES if _graph_support(c)]
REFUSED = [c for c in CHOICES if c not in SUPPORTED]


def test_the_usual_schedules_run_in_graph_mode():
    assert {"cosine", "step", "multistep", "constant", "linear", "exponential", "polynomial", "cosine_decay",
            "linear_to_zero", "sequential", "warmup_cosine"} <= set(SUPPORTED)
    assert {"plateau", "warmup_plateau", "noam", "chained"} <= set(REFUSED)


class _Bias(flow.nn.Module):
    """Logits that are one parameter: the cross-entropy gradient is known in closed form, so an SGD update tells the LR."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = flow.nn.Parameter(flow.tensor([0.3, -0.2]))

    def forward(self, images: flow.Tensor) -> flow.Tensor:
        return self.bias.unsqueeze(0).expand(images.shape[0], 2)


@pytest.mark.parametrize("choice", SUPPORTED)
def test_the_graph_applies_the_lr_the_schedule_logs(choice):
    """nn.Graph computes each step's LR in its own compiled job (OneFlow's `_generate_conf_for_graph`, one per
    class); the loop logs the Python scheduler's. Plain SGD on a bias with labels 0 moves it by exactly
    lr * (softmax(bias) - onehot(0)), so each update gives back the LR the graph applied."""
    cfg = compose_config("data=synthetic", "model=tiny", f"scheduler={choice}", f"trainer.max_epochs={EPOCHS}",
                         *SHORTER.get(choice, []))
    model = _Bias()
    optimizer = flow.optim.SGD(model.parameters(), lr=0.1)
    schedule = build_lr_schedule(cfg.scheduler, optimizer, 10, EPOCHS, graph=True)
    steps = GraphSteps(model, optimizer, schedule, eval_batch_size=4)
    images, labels = flow.zeros(4, 1), flow.zeros(4, dtype=flow.int64)
    logged, applied = [], []
    for _ in range(EPOCHS * 10):
        before = model.bias.numpy().copy()
        gradient = np.exp(before) / np.exp(before).sum() - np.array([1.0, 0.0])
        logged.append(optimizer.param_groups[0]["lr"])  # what train_step logs for the step, before it
        steps.train(images, labels)
        schedule.after_optimizer_step()
        applied.append(((before - model.bias.numpy()) / gradient)[0])
    np.testing.assert_allclose(applied, logged, rtol=1e-4, atol=1e-7)
    if choice != "constant":
        assert len({round(v, 9) for v in logged}) > 1, "the test schedule should change the LR"


# The loop in graph mode (the LR it logs, the losses of the LR it applies) is the same for every schedule; these two
# cover a staircase and a composite (SequentialLR of three) through train.py, the test above every schedule's LR job.
@pytest.mark.parametrize("choice", ["multistep", "sequential"])
def test_graph_and_eager_apply_the_same_lr_curve(choice, tmp_path, train):
    runs = {}
    for mode in ("eager", "graph"):
        run_dir = tmp_path / mode
        result = train(*FAST, f"scheduler={choice}", *SHORTER.get(choice, []), f"trainer.max_epochs={EPOCHS}",
                       "trainer.log_every_n_steps=1", f"trainer.graph={mode == 'graph'}", f"hydra.run.dir={run_dir}")
        assert result.returncode == 0, result.stderr[-3000:]
        runs[mode] = read_scalars(run_dir)
    eager, graph = runs["eager"], runs["graph"]
    assert [s for s, _ in graph["lr"]] == list(range(EPOCHS * 10))
    np.testing.assert_allclose([v for _, v in graph["lr"]], [v for _, v in eager["lr"]], rtol=1e-6)
    if choice != "constant":
        assert len({round(v, 9) for _, v in graph["lr"]}) > 1, "the test schedule should change the LR"
    # Close losses prove the graph applied the logged LRs (a stale LR would change every step after the first).
    for tag in ("train/loss", "val/loss"):
        np.testing.assert_allclose([v for _, v in graph[tag]], [v for _, v in eager[tag]], rtol=2e-3, atol=1e-4)


def test_graph_run_resumes_exactly(tmp_path, train):
    args = (*FAST, "trainer.max_epochs=2", "trainer.graph=true", "trainer.log_every_n_steps=1")
    reference = tmp_path / "reference"
    assert train(*args, f"hydra.run.dir={reference}").returncode == 0
    resumed = tmp_path / "resumed"
    shutil.copytree(reference, resumed)
    for path in resumed.glob("events.out.tfevents.*"):
        path.unlink()
    # The state after epoch 1: graph variables (momentum, the graph's step counter) come from the checkpoint.
    (resumed / "checkpoints" / "epoch=0002-step=000000020.ckpt").unlink()
    (resumed / "summary.json").write_text(json.dumps({**read_summary(reference), "status": "running"}))
    result = train(*args, f"hydra.run.dir={resumed}")
    assert result.returncode == 0 and "resuming from" in result.stdout, result.stderr[-3000:]
    expected, actual = read_scalars(reference), read_scalars(resumed)
    assert actual["lr"] == [p for p in expected["lr"] if p[0] >= 10]
    # x is the step index, as for lr
    np.testing.assert_allclose([v for s, v in actual["train/loss"]], [v for s, v in expected["train/loss"] if s >= 10], rtol=1e-5)
    np.testing.assert_allclose(actual["val/loss"][-1][1], expected["val/loss"][-1][1], rtol=1e-5)


def test_graph_mode_refuses_what_nn_graph_cannot_run(tmp_path, train):
    result = train(*FAST, "scheduler=plateau", "trainer.graph=true", f"hydra.run.dir={tmp_path}")
    message = " ".join(result.stderr.split())
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "scheduler=plateau" in message and "trainer.graph=false (eager mode)" in message


def test_epoch_stepped_smooth_schedules_are_refused_in_graph_mode():
    cfg = compose_config("model=tiny", "scheduler=cosine", "scheduler.interval=epoch")
    optimizer = instantiate(cfg.optimizer)(instantiate(cfg.model).parameters())
    with pytest.raises(ConfigError, match="eager mode"):
        build_lr_schedule(cfg.scheduler, optimizer, 10, cfg.trainer.max_epochs, graph=True)


def test_amp_is_refused_on_cpu(tmp_path, train):
    result = train(*FAST, "trainer.amp=true", "device=cpu", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "trainer.amp=true needs a CUDA device" in " ".join(result.stderr.split())


def test_amp_choices_on_cuda():
    """What trainer.amp resolves to on a CUDA device (decided from the config alone, so testable on a CPU)."""
    import oneflow as flow
    from omegaconf import OmegaConf

    from engine.training.steps import amp_dtype

    def trainer(**fields):
        return OmegaConf.create({"amp": True, "amp_dtype": "float16", "graph": False, **fields})

    assert amp_dtype(trainer(amp=False), "cpu") is None
    assert amp_dtype(trainer(graph=True), "cuda") == flow.float16  # the graph's GradScaler scales the loss
    assert amp_dtype(trainer(amp_dtype="bfloat16"), "cuda:1") == flow.bfloat16
    with pytest.raises(ConfigError, match="loss scaling"):
        amp_dtype(trainer(), "cuda")  # float16 in eager mode: OneFlow 0.9 has no eager GradScaler
    # A dtype OneFlow has no AMP for is the schema's to refuse (amp_dtype reads only values it passed)
    from engine.config.compose import compose_config
    from engine.config.schema import validate_config
    with pytest.raises(ConfigError, match="amp_dtype='int8'"):
        validate_config(compose_config("trainer.amp_dtype=int8", "trainer.graph=true"))
