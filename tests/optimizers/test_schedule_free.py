"""Schedule-Free SGD and AdamW: every iterate against the paper's equations and the authors' PyTorch optimizers.

The problem: least squares in float64 (tests/reference/make_torch_references.py's PROBLEM), with an
external LR warmup (as scheduler=linear gives) and train/eval switches mid-run. The equations are
written here in their plain form, keeping x, y and z (the optimizers keep only z and the parameters).
"""
import json
import math
from pathlib import Path

import numpy as np
import oneflow as flow
import pytest

from optimizers import AdamWScheduleFree, SGDScheduleFree
from tests.support.runs import TINY, read_summary

REFERENCES = json.loads((Path(__file__).parents[1] / "reference" / "torch_references.json").read_text())
PROBLEM = REFERENCES["problem"]
CLASSES = {"SGDScheduleFree": SGDScheduleFree, "AdamWScheduleFree": AdamWScheduleFree}


def problem_arrays():
    rng = np.random.default_rng(PROBLEM["seed"])
    return rng.normal(size=(PROBLEM["n"], PROBLEM["d"])), rng.normal(size=(PROBLEM["n"], PROBLEM["m"])), \
        rng.normal(size=(PROBLEM["d"], PROBLEM["m"]))


def lr_at(step, peak):
    return peak * min(1.0, (step + 1) / 6)


def paper_iterates(name, options):
    """(y after every step, {step: x}) from the equations of Defazio et al. 2024 (their Algorithm 1)."""
    X, Y, w0 = problem_arrays()
    beta = options["momentum"] if name == "SGDScheduleFree" else options["betas"][0]
    x, z, v = w0.copy(), w0.copy(), np.zeros_like(w0)
    weight_sum, lr_max, ys, xs = 0.0, -1.0, [], {}
    for t in range(PROBLEM["steps"]):
        lr = lr_at(t, options["lr"])
        y = (1 - beta) * z + beta * x
        g = X.T @ (X @ y - Y) / PROBLEM["n"]
        if name == "AdamWScheduleFree":
            beta2 = options["betas"][1]
            v = beta2 * v + (1 - beta2) * g * g
            g = g / (np.sqrt(v / (1 - beta2 ** (t + 1))) + options["eps"])
        g = g + options["weight_decay"] * y
        z = z - lr * g
        lr_max = max(lr_max, lr)
        weight_sum += lr_max ** 2
        c = lr_max ** 2 / weight_sum
        x = (1 - c) * x + c * z
        ys.append((1 - beta) * z + beta * x)
        if t in PROBLEM["eval_after"]:
            xs[t] = x
    return ys, xs


def oneflow_iterates(name, options, stop_at=None):
    X, Y, w0 = (flow.tensor(a, dtype=flow.float64) for a in problem_arrays())
    w = flow.nn.Parameter(w0.clone())
    optimizer = CLASSES[name]([w], **{k: tuple(v) if isinstance(v, list) else v for k, v in options.items()})
    optimizer.train()
    ys, xs = [], {}
    for t in range(PROBLEM["steps"]):
        optimizer.param_groups[0]["lr"] = lr_at(t, options["lr"])
        optimizer.zero_grad()
        (0.5 * ((flow.matmul(X, w) - Y) ** 2).sum() / PROBLEM["n"]).backward()
        optimizer.step()
        ys.append(w.numpy().copy())
        if t in PROBLEM["eval_after"]:
            optimizer.eval()
            xs[t] = w.numpy().copy()
            optimizer.train()
        if t == stop_at:
            return w, optimizer, ys, xs
    return w, optimizer, ys, xs


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_every_step_follows_the_papers_equations_and_the_authors_pytorch_optimizer(name):
    reference = REFERENCES["schedule_free"][name]
    _, _, ys, xs = oneflow_iterates(name, reference["options"])
    paper_ys, paper_xs = paper_iterates(name, {"momentum": 0.9, **reference["options"]})
    for t, (y, paper_y, torch_y) in enumerate(zip(ys, paper_ys, reference["y"])):
        np.testing.assert_allclose(y, paper_y, rtol=1e-10, atol=1e-12, err_msg=f"y at step {t}")
        np.testing.assert_allclose(y, np.array(torch_y), rtol=1e-10, atol=1e-12, err_msg=f"y at step {t} (PyTorch)")
    assert sorted(xs) == PROBLEM["eval_after"]
    for t, x in xs.items():
        np.testing.assert_allclose(x, paper_xs[t], rtol=1e-10, atol=1e-12, err_msg=f"x at step {t}")
        np.testing.assert_allclose(x, np.array(reference["x"][str(t)]), rtol=1e-10, atol=1e-12)
    assert not np.allclose(xs[PROBLEM["eval_after"][-1]], ys[-1])  # x and y really differ


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_state_dict_keeps_the_mode_and_continues_the_iterates(name):
    options = REFERENCES["schedule_free"][name]["options"]
    w, optimizer, _, _ = oneflow_iterates(name, options, stop_at=9)
    optimizer.eval()  # as at an epoch end: the checkpoint holds x and says so
    saved = optimizer.state_dict()
    assert saved["param_groups"][0]["_options"]["train_mode"] is False and saved["param_groups"][0]["_options"]["k"] == 10
    fresh = flow.nn.Parameter(w.detach().clone())
    restored = CLASSES[name]([fresh], **{k: tuple(v) if isinstance(v, list) else v for k, v in options.items()})
    restored.load_state_dict(saved)
    restored.train()
    optimizer.train()
    np.testing.assert_array_equal(fresh.numpy(), w.numpy())


def test_stepping_in_eval_mode_is_refused():
    w = flow.nn.Parameter(flow.zeros(2))
    optimizer = SGDScheduleFree([w], lr=0.1)
    w.sum().backward()
    with pytest.raises(RuntimeError, match="train mode"):
        optimizer.step()


def test_schedule_free_runs_end_to_end_and_its_checkpoints_hold_x(tmp_path, train):
    run = tmp_path / "sf"
    result = train(*TINY, "optimizer=sgd_schedule_free", "scheduler=linear", f"hydra.run.dir={run}")
    assert result.returncode == 0, result.stderr
    summary = read_summary(run)
    assert summary["status"] == "completed" and summary["optimizer"] == "sgd_schedule_free"
    assert all(math.isfinite(v) for v in summary["history"]["val/loss"])
    result = train(*TINY, "optimizer=sgd_schedule_free", "trainer.graph=true", f"hydra.run.dir={tmp_path / 'graph'}")
    assert result.returncode == 2 and "schedule-free" in result.stderr and "trainer.graph=false" in result.stderr


def torch_backend_iterates(name, options):
    """The iterates of the optimizer backend=torch builds for optimizers.<name> (the authors' schedulefree)."""
    import importlib

    torch = pytest.importorskip("torch", reason="backend=torch is installed by `bash scripts/setup.sh --with-torch`")
    from backend import torch_impl

    module, _, cls = torch_impl.optimizer_target(f"optimizers.{name}").rpartition(".")
    X, Y, w0 = (torch.tensor(a, dtype=torch.float64) for a in problem_arrays())
    w = torch.nn.Parameter(w0.clone())
    optimizer = getattr(importlib.import_module(module), cls)([w], **options)
    optimizer.train()
    ys, xs = [], {}
    for t in range(PROBLEM["steps"]):
        optimizer.param_groups[0]["lr"] = lr_at(t, options["lr"])
        optimizer.zero_grad()
        (0.5 * ((X @ w - Y) ** 2).sum() / PROBLEM["n"]).backward()
        optimizer.step()
        ys.append(w.detach().numpy().copy())
        if t in PROBLEM["eval_after"]:
            optimizer.eval()
            xs[t] = w.detach().numpy().copy()
            optimizer.train()
    return ys, xs


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_the_torch_backends_schedule_free_equals_the_projects_oneflow_one_in_float64(name):
    options = REFERENCES["schedule_free"][name]["options"]
    _, _, ys, xs = oneflow_iterates(name, options)
    torch_ys, torch_xs = torch_backend_iterates(name, {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()})
    worst = max(float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12))) for a, b in zip(torch_ys, ys))
    assert worst <= 1e-10, f"y differs by {worst:.3g} relative"
    for t in PROBLEM["eval_after"]:
        np.testing.assert_allclose(torch_xs[t], xs[t], rtol=1e-10, atol=1e-12)


def test_schedule_free_trains_on_the_torch_backend(tmp_path, train):
    pytest.importorskip("torch", reason="backend=torch is installed by `bash scripts/setup.sh --with-torch`")
    run = tmp_path / "sf"
    result = train(*TINY, "backend=torch", "optimizer=adamw_schedule_free", "scheduler=linear", f"hydra.run.dir={run}")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = read_summary(run)
    assert summary["status"] == "completed" and summary["backend"] == "torch"
    assert all(math.isfinite(v) for v in summary["history"]["val/loss"])
