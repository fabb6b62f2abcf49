"""Reference numbers from PyTorch for tests/optimizers/test_schedule_free.py and tests/schedulers/test_schedulers.py (WSD),
written to torch_references.json.

OneFlow and PyTorch cannot share this project's Python (the PyTorch 2.13 CPU wheel is for Python 3.11),
so the numbers are made once, with PyTorch and the Schedule-Free authors' package, and committed:

    python3.11 -m venv /tmp/torch311 && /tmp/torch311/bin/pip install torch==2.13.0 numpy schedulefree==1.4.1
    /tmp/torch311/bin/python tests/reference/make_torch_references.py

- wsd: PyTorch's SequentialLR of LinearLR warmup, constant, and a LinearLR or CosineAnnealingLR cooldown
  (the WSD shapes PyTorch can compose), LR of every step for the run of tests/schedulers/test_schedulers.py.
- schedule_free: schedulefree.SGDScheduleFree / AdamWScheduleFree on PROBLEM (least squares in float64),
  with an external LR ramp and a train/eval switch mid-run: y after every step, x at every eval.
"""
import json
from pathlib import Path

import numpy as np
import schedulefree
import torch

OUT = Path(__file__).with_name("torch_references.json")
SPE, EPOCHS, LR = 5, 200, 0.1  # tests/schedulers/test_schedulers.py's run
PROBLEM = {"seed": 0, "n": 32, "d": 5, "m": 3, "steps": 24, "eval_after": [7, 15, 23]}


def problem_arrays(p: dict) -> tuple:
    rng = np.random.default_rng(p["seed"])
    return rng.normal(size=(p["n"], p["d"])), rng.normal(size=(p["n"], p["m"])), rng.normal(size=(p["d"], p["m"]))


def lr_at(step: int, peak: float) -> float:  # an external warmup over 6 steps, then constant
    return peak * min(1.0, (step + 1) / 6)


def wsd_lrs(shape: str) -> list:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=LR)
    total, warmup = SPE * EPOCHS, 5 * SPE
    decay = round(0.2 * total)
    cooldown = (torch.optim.lr_scheduler.LinearLR(optimizer, 1.0, 0.0, total_iters=decay) if shape == "linear" else
                torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=decay, eta_min=0.0))
    schedule = torch.optim.lr_scheduler.SequentialLR(optimizer, [
        torch.optim.lr_scheduler.LinearLR(optimizer, 0.01, 1.0, total_iters=warmup),
        torch.optim.lr_scheduler.ConstantLR(optimizer, 1.0, total_iters=1), cooldown], milestones=[warmup, total - decay])
    lrs = []
    for _ in range(total):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    return lrs


def schedule_free(name: str, options: dict) -> dict:
    X, Y, W0 = (torch.tensor(a) for a in problem_arrays(PROBLEM))
    w = torch.nn.Parameter(W0.clone())
    optimizer = getattr(schedulefree, name)([w], foreach=False, **options)
    optimizer.train()
    ys, xs = [], {}
    for step in range(PROBLEM["steps"]):
        optimizer.param_groups[0]["lr"] = lr_at(step, options["lr"])
        optimizer.zero_grad()
        (0.5 * ((X @ w - Y) ** 2).sum() / PROBLEM["n"]).backward()
        optimizer.step()
        ys.append(w.detach().numpy().tolist())
        if step in PROBLEM["eval_after"]:
            optimizer.eval()
            xs[str(step)] = w.detach().numpy().tolist()
            optimizer.train()
    return {"options": options, "y": ys, "x": xs}


def main() -> None:
    torch.set_default_dtype(torch.float64)
    references = {
        "versions": {"torch": torch.__version__, "schedulefree": "1.4.1"},
        "wsd": {"run": {"steps_per_epoch": SPE, "epochs": EPOCHS, "lr": LR, "warmup_epochs": 5, "warmup_factor": 0.01,
                        "decay_fraction": 0.2}, "linear": wsd_lrs("linear"), "cosine": wsd_lrs("cosine")},
        "problem": PROBLEM,
        "schedule_free": {
            "SGDScheduleFree": schedule_free("SGDScheduleFree", {"lr": 0.5, "momentum": 0.9, "weight_decay": 0.01}),
            "AdamWScheduleFree": schedule_free("AdamWScheduleFree", {"lr": 0.05, "betas": [0.9, 0.999], "eps": 1e-8,
                                                                     "weight_decay": 0.01}),
        },
    }
    OUT.write_text(json.dumps(references))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
