"""Sweep folders as train.py leaves them, written directly (no training): for the comparison's tests."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import yaml
from tensorboardX import SummaryWriter

EPOCHS = 4


def write_run(sweep: Path, name: str, scheduler: str, seed: int, accs: list, status: str = "completed",
              lrs: list = (), config: Optional[dict] = None, **extra) -> Path:
    """A run directory as train.py leaves it: .hydra/config.yaml (`config` adds keys), summary.json (full contract),
    events with `lr`."""
    run = sweep / name
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"seed": seed, "scheduler": {"name": scheduler}, **(config or {})}))
    summary = {
        "status": status, "scheduler": scheduler, "scheduler_params": {"class": "X"}, "seed": seed, "model": "tiny",
        "optimizer": "sgd", "base_lr": 0.1, "batch_size": 64, "device": "cpu", "max_epochs": EPOCHS, "epochs": len(accs),
        "global_step": 10 * len(accs), "best_acc1": max(accs), "best_acc5": 99.0, "best_epoch": accs.index(max(accs)) + 1,
        "final_acc1": accs[-1], "final_acc5": 98.0, "final_loss": 0.5, "wall_time_s": 12.0, "images_per_s": 100.0,
        "epochs_to_threshold": {"acc1>=50": next((i + 1 for i, a in enumerate(accs) if a >= 50), None)},
        "history": {"epoch": list(range(1, len(accs) + 1)), "val/acc1": accs, "val/acc5": [99.0] * len(accs),
                    "val/loss": [0.5] * len(accs), "train/loss_epoch": [0.6] * len(accs), "lr": [0.1] * len(accs)},
        "diverged": None, **extra,
    }
    (run / "summary.json").write_text(json.dumps(summary))
    if lrs:
        with SummaryWriter(logdir=str(run)) as writer:
            for step, lr in enumerate(lrs):
                writer.add_scalar("lr", lr, step)
    return run
