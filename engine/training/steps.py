"""One training step and one evaluation forward, in eager mode or compiled (`nn.Graph` on OneFlow, `torch.compile`).

Both kinds expose the same three calls to the loop: `train(images, labels) -> (loss, logits)`,
`predict(images) -> logits`, and `state_dict()` / `load_state_dict()` for what the optimizer keeps
(momentum buffers; in graph mode the graph's own optimizer variables and its step counter).

Graph mode compiles each graph once per run, on its first call, for fixed input shapes: training
drops the last partial batch, evaluation pads it. The schedule is attached with
`add_optimizer(lr_sch=...)`, so the graph computes the LR of every step from the schedule's closed
form; the Python scheduler is stepped alongside by the loop, so the logged LR is the one applied.
On backend=torch, graph mode is `torch.compile` of the model (CompiledSteps): the optimizer step stays eager and
reads the LR the schedule set, as in eager mode.
"""
from __future__ import annotations

from contextlib import nullcontext
from typing import Any, Optional, get_args

import oneflow  # nn.Graph, OneFlow's graph mode (GraphSteps), built only on backend=oneflow
from omegaconf import DictConfig

import backend
from backend import F, flow

from engine.config.schema import AmpDtype
from engine.platform.errors import ConfigError
from engine.training.progress import StepMeter
from schedulers import LRSchedule

AMP_DTYPES = {name: getattr(flow, name) for name in get_args(AmpDtype)}  # trainer.amp_dtype, checked by the schema


def amp_dtype(trainer: DictConfig, device: str) -> Optional[flow.dtype]:
    """The autocast dtype when `trainer.amp` is on (CUDA only on OneFlow; bfloat16 on CPU too on torch), else None."""
    if not trainer.amp:
        return None
    if not device.startswith("cuda") and backend.impl().AMP_ON_CPU:
        if trainer.amp_dtype == "float16":
            raise ConfigError(f"trainer.amp_dtype=float16 on device={device!r} is not supported: CPU autocast runs "
                              f"bfloat16. Use trainer.amp_dtype=bfloat16, or a CUDA device.")
        return AMP_DTYPES[trainer.amp_dtype]
    if not device.startswith("cuda"):
        raise ConfigError(f"trainer.amp=true needs a CUDA device, but this run uses device={device!r}: OneFlow's "
                          f"autocast and GradScaler are CUDA features. Use trainer.amp=false on CPU, or backend=torch "
                          f"(bfloat16 autocast on CPU).")
    if trainer.amp_dtype == "float16" and not trainer.graph and backend.name() == "oneflow":
        raise ConfigError("trainer.amp=true with trainer.amp_dtype=float16 in eager mode would train without loss "
                          "scaling (OneFlow 0.9's GradScaler only works inside nn.Graph), so small gradients would "
                          "underflow. Use trainer.graph=true, or trainer.amp_dtype=bfloat16 in eager mode.")
    return AMP_DTYPES[trainer.amp_dtype]


class EagerSteps:
    def __init__(self, model: flow.nn.Module, optimizer: Any, dtype: Optional[flow.dtype] = None, device: str = "cuda") -> None:
        self.model, self.optimizer = model, optimizer
        device_type = flow.device(device).type
        self.autocast = (lambda: backend.impl().autocast(device_type, dtype)) if dtype is not None else nullcontext
        # torch's float16 autocast needs loss scaling (OneFlow's eager float16 is refused in amp_dtype)
        self.scaler = flow.amp.GradScaler() if dtype == flow.float16 and backend.name() == "torch" else None

    def train(self, images: flow.Tensor, labels: flow.Tensor) -> tuple[flow.Tensor, flow.Tensor]:
        with self.autocast():
            logits = self.model(images)
            loss = F.cross_entropy(logits, labels)
        self.optimizer.zero_grad()
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        return loss.detach(), logits.detach()

    def predict(self, images: flow.Tensor) -> flow.Tensor:
        with flow.no_grad(), self.autocast():
            return self.model(images)

    def state_dict(self) -> dict:
        state = {"optimizer": self.optimizer.state_dict()}
        if self.scaler is not None:
            state["scaler"] = self.scaler.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scaler is not None and "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])


class CompiledSteps(EagerSteps):
    """backend=torch's graph mode: the model's forward compiled with torch.compile (train and eval share it)."""

    def __init__(self, model: flow.nn.Module, optimizer: Any, dtype: Optional[flow.dtype] = None, device: str = "cuda") -> None:
        super().__init__(flow.compile(model), optimizer, dtype, device)


class _TrainGraph(oneflow.nn.Graph):
    def __init__(self, model: flow.nn.Module, optimizer: Any, scheduler: Any, dtype: Optional[flow.dtype]) -> None:
        super().__init__()
        self.model = model
        self.add_optimizer(optimizer, lr_sch=scheduler)
        if dtype is not None:
            self.config.enable_amp(True, dtype=dtype)
            if dtype == flow.float16:  # dynamic loss scaling, inside the graph (no host sync)
                self.set_grad_scaler(flow.amp.GradScaler(init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000))

    def build(self, images: flow.Tensor, labels: flow.Tensor) -> tuple[flow.Tensor, flow.Tensor]:
        logits = self.model(images)
        loss = F.cross_entropy(logits, labels)
        loss.backward()
        return loss, logits


class _EvalGraph(oneflow.nn.Graph):
    def __init__(self, model: flow.nn.Module, dtype: Optional[flow.dtype]) -> None:
        super().__init__()
        self.model = model
        if dtype is not None:
            self.config.enable_amp(True, dtype=dtype)

    def build(self, images: flow.Tensor) -> flow.Tensor:
        return self.model(images)


class GraphSteps:
    """Train and eval graphs sharing the model's parameters; each compiles on its first call."""

    def __init__(self, model: flow.nn.Module, optimizer: Any, schedule: LRSchedule, eval_batch_size: int,
                 dtype: Optional[flow.dtype] = None) -> None:
        self.model, self.optimizer, self.eval_batch_size = model, optimizer, eval_batch_size
        self.train_graph = _TrainGraph(model, optimizer, schedule.scheduler, dtype)
        self.eval_graph = _EvalGraph(model, dtype)

    def train(self, images: flow.Tensor, labels: flow.Tensor) -> tuple[flow.Tensor, flow.Tensor]:
        return self.train_graph(images, labels)

    def predict(self, images: flow.Tensor) -> flow.Tensor:
        n = images.shape[0]
        if n < self.eval_batch_size:  # the last batch: pad to the compiled shape, drop the padding after
            padding = flow.zeros(self.eval_batch_size - n, *images.shape[1:], dtype=images.dtype, device=images.device)
            return self.eval_graph(flow.cat([images, padding]))[:n]
        return self.eval_graph(images)

    def state_dict(self) -> dict:
        # The graph's own variables (momentum buffers, its step counter); parameters are the model's.
        graph_vars = {k: v for k, v in self.train_graph.state_dict().items() if isinstance(v, flow.Tensor)}
        return {"optimizer": self.optimizer.state_dict(), "graph": graph_vars}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.train_graph.load_state_dict(state["graph"], strict=False)


def build_steps(trainer: DictConfig, model: flow.nn.Module, optimizer: Any, schedule: LRSchedule, device: str,
                eval_batch_size: int) -> EagerSteps | GraphSteps:
    dtype = amp_dtype(trainer, device)
    if trainer.graph and backend.name() == "torch":
        return CompiledSteps(model, optimizer, dtype, device)
    if trainer.graph:
        return GraphSteps(model, optimizer, schedule, eval_batch_size, dtype)
    return EagerSteps(model, optimizer, dtype, device)


def train_step(steps: EagerSteps | GraphSteps, schedule: LRSchedule, meter: StepMeter, images: flow.Tensor,
               labels: flow.Tensor) -> list[float]:
    """One optimizer step as the loop runs it, bookkeeping included (no host sync); returns the LRs it applied.

    scripts/bench.py times this very function against a bare loop.
    """
    lrs = [group["lr"] for group in steps.optimizer.param_groups]  # Python floats: the LR this step applies
    loss, logits = steps.train(images, labels)
    schedule.after_optimizer_step()
    meter.record(lrs, loss, logits, labels)
    return lrs
