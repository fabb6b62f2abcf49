"""Schedule-Free SGD and AdamW (Defazio et al. 2024, "The Road Less Scheduled") as OneFlow optimizers.

Schedule-free training keeps two sequences and evaluates a third: z takes plain gradient steps, x is
a weighted running average of z, and the gradient is taken at y, an interpolation of the two:

    y_t     = (1 - beta) z_t + beta x_t               (the parameters hold y while training)
    z_{t+1} = z_t - lr_t g(y_t)                        (g: the gradient, Adam-normalised for AdamW, + wd * y_t)
    x_{t+1} = (1 - c_{t+1}) x_t + c_{t+1} z_{t+1},     c_{t+1} = w_{t+1} / sum_{i<=t+1} w_i,  w_i = max_{j<=i} lr_j ** 2

so no decay schedule is needed (a warmup still helps: give it with the LR schedule, e.g. scheduler=linear).
As in the authors' implementation (facebookresearch/schedule_free, whose memory-saving form this
follows: only z is stored, x is recovered from y and z), the parameters hold y in train mode and x
in eval mode: `train()` / `eval()` switch them, and the training loop calls them around evaluation
(engine.training.run.Run.train_mode / eval_mode), so evaluation, end-of-epoch checkpoints and best.ckpt hold
x. The mode is saved in the optimizer's state, so a resumed run switches back exactly.
tests/optimizers/test_schedule_free.py checks every iterate against the equations above and the authors'
PyTorch optimizers (tests/reference/).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Optional

import oneflow as flow
from oneflow.optim import Optimizer


class _ScheduleFree(Optimizer):
    """The shared update; subclasses give the interpolation weight beta and the step direction."""

    def __init__(self, params: Iterable[Any], options: dict) -> None:
        if options["lr"] < 0 or options["weight_decay"] < 0:
            raise ValueError(f"lr and weight_decay must be >= 0, got {options['lr']} and {options['weight_decay']}")
        # k: steps taken; weight_sum, lr_max: the averaging weights; train_mode: whether the parameters hold y
        super().__init__(params, {**options, "k": 0, "train_mode": False, "weight_sum": 0.0, "lr_max": -1.0})

    def _beta(self, group: Any) -> float:
        raise NotImplementedError

    def _direction(self, group: Any, state: dict, grad: flow.Tensor, k: int) -> flow.Tensor:
        raise NotImplementedError

    def _switch(self, to_train: bool) -> None:
        for group in self.param_groups:
            if group["train_mode"] == to_train:
                continue
            beta = self._beta(group)
            weight = 1 - beta if to_train else 1 - 1 / beta  # x -> y, or y -> x (y = (1 - beta) z + beta x)
            for p in group.parameters:
                z = self._state.get(p, {}).get("z")
                if z is not None:
                    p.add_(z - p, alpha=weight)
            group["train_mode"] = to_train

    @flow.no_grad()
    def train(self) -> None:
        """The parameters hold y, where gradients are taken (call before training)."""
        self._switch(True)

    @flow.no_grad()
    def eval(self) -> None:
        """The parameters hold x, the averaged iterate (call before evaluating or saving)."""
        self._switch(False)

    @flow.no_grad()
    def step(self, closure: Optional[Callable[[], Any]] = None) -> Any:
        if not self.param_groups[0]["train_mode"]:
            raise RuntimeError("a schedule-free optimizer steps only in train mode: call optimizer.train() before "
                               "training and optimizer.eval() before evaluating (the training loop does both).")
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            k, lr, beta = group["k"], group["lr"], self._beta(group)
            lr_max = group["lr_max"] = max(lr, group["lr_max"])
            weight = (k + 1) ** group["r"] * lr_max ** group["weight_lr_power"]
            weight_sum = group["weight_sum"] = group["weight_sum"] + weight
            c = weight / weight_sum if weight_sum else 0.0
            for p in group.parameters:
                if p.grad is None:
                    continue
                state = self._state.setdefault(p, {})
                if "z" not in state:
                    state["z"] = p.detach().clone()
                direction = self._direction(group, state, p.grad, k)
                if group["weight_decay"]:
                    direction = direction + group["weight_decay"] * p
                z = state["z"]
                p.add_(z - p, alpha=c)  # y moves with x's average ...
                p.add_(direction, alpha=lr * (beta * (1 - c) - 1))  # ... and with z's step
                z.add_(direction, alpha=-lr)
            group["k"] = k + 1
        self._state["step"] = self._state["step"] + 1
        return loss


class SGDScheduleFree(_ScheduleFree):
    """Schedule-Free SGD: `momentum` is the interpolation beta (0.9 as in the paper)."""

    def __init__(self, params: Iterable[Any], lr: float = 1.0, momentum: float = 0.9, weight_decay: float = 0.0,
                 r: float = 0.0, weight_lr_power: float = 2.0) -> None:
        if not 0 < momentum < 1:
            raise ValueError(f"momentum must lie strictly between 0 and 1, got {momentum}")
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, r=r, weight_lr_power=weight_lr_power))

    def _beta(self, group: Any) -> float:
        return group["momentum"]

    def _direction(self, group: Any, state: dict, grad: flow.Tensor, k: int) -> flow.Tensor:
        return grad


class AdamWScheduleFree(_ScheduleFree):
    """Schedule-Free AdamW: betas[0] is the interpolation beta, betas[1] Adam's second-moment decay."""

    def __init__(self, params: Iterable[Any], lr: float = 0.0025, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, r: float = 0.0, weight_lr_power: float = 2.0) -> None:
        if not 0 < betas[0] < 1 or not 0 <= betas[1] < 1:
            raise ValueError(f"betas must lie in (0, 1) and [0, 1), got {tuple(betas)}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, r=r,
                                      weight_lr_power=weight_lr_power))

    def _beta(self, group: Any) -> float:
        return group["betas"][0]

    def _direction(self, group: Any, state: dict, grad: flow.Tensor, k: int) -> flow.Tensor:
        beta2 = group["betas"][1]
        if "exp_avg_sq" not in state:
            state["exp_avg_sq"] = flow.zeros_like(grad)
        exp_avg_sq = state["exp_avg_sq"]
        exp_avg_sq.mul_(beta2).add_(grad * grad * (1 - beta2))
        return grad / ((exp_avg_sq / (1 - beta2 ** (k + 1))).sqrt() + group["eps"])
