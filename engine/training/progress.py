"""Where a run stands (saved in every checkpoint), its per-epoch history, and the summary.json fields it sets."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Optional

from backend import flow

HISTORY_KEYS = ("epoch", "val/acc1", "val/acc5", "val/loss", "train/loss_epoch", "train/acc1", "lr")


@dataclass
class Progress:
    epoch: int = 0  # completed epochs
    global_step: int = 0  # completed optimizer steps
    batch_in_epoch: int = 0  # batches of the current epoch already trained (a mid-epoch checkpoint)
    epoch_loss_sum: float = 0.0  # running sums of the checked steps of the current epoch, for train/loss_epoch
    epoch_correct: float = 0.0  # and train/acc1 (the steps since the last check wait in StepMeter)
    epoch_seen: int = 0
    train_images: int = 0
    train_seconds: float = 0.0
    wall_time_s: float = 0.0
    last_lr: Optional[float] = None  # the LR the latest optimizer step applied
    best: dict = field(default_factory=lambda: {"acc1": None, "acc5": None, "epoch": None, "test_acc1": None})
    history: dict = field(default_factory=lambda: {key: [] for key in HISTORY_KEYS})
    forked_from: Optional[dict] = None  # a fork's parent: run, epoch, step (engine/training/fork.py)
    val_acc1_by_step: list = field(default_factory=list)  # [step, val/acc1] inside epochs (trainer.val_every_n_steps)

    def state_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_state_dict(cls, state: dict) -> "Progress":
        return cls(**state)

    def advance(self, batch_size: int, lr: float) -> None:
        """Count one optimizer step of `batch_size` images at `lr`."""
        self.global_step += 1
        self.batch_in_epoch += 1
        self.epoch_seen += batch_size
        self.train_images += batch_size
        self.last_lr = lr

    def epoch_train_metrics(self) -> dict[str, float]:
        """The epoch's mean training loss and top-1 accuracy (%) from the running sums."""
        seen = max(self.epoch_seen, 1)
        return {"train/loss_epoch": self.epoch_loss_sum / seen, "train/acc1": 100.0 * self.epoch_correct / seen}

    def record_epoch(self, metrics: dict) -> bool:
        """Close the epoch: append its metrics and LR to the history; True when it is the best so far (by val/acc1)."""
        self.epoch += 1
        self.batch_in_epoch, self.epoch_loss_sum, self.epoch_correct, self.epoch_seen = 0, 0.0, 0.0, 0
        self.history.setdefault("epoch", []).append(self.epoch)
        for key, value in {**metrics, "lr": self.last_lr}.items():
            self.history.setdefault(key, []).append(value)
        improved = self.best["acc1"] is None or metrics["val/acc1"] > self.best["acc1"]
        if improved:
            self.best = {"acc1": metrics["val/acc1"], "acc5": metrics["val/acc5"], "epoch": self.epoch,
                         "test_acc1": metrics.get("test/acc1")}
        return improved

    def summary_fields(self, acc1_thresholds: Iterable[float]) -> dict[str, Any]:
        last = {key: values[-1] for key, values in self.history.items() if values}
        fields = {
            "epochs": self.epoch, "global_step": self.global_step,
            "best_acc1": self.best["acc1"], "best_acc5": self.best["acc5"], "best_epoch": self.best["epoch"],
            "final_acc1": last.get("val/acc1"), "final_acc5": last.get("val/acc5"), "final_loss": last.get("val/loss"),
            "wall_time_s": round(self.wall_time_s, 3),
            "images_per_s": round(self.train_images / self.train_seconds, 1) if self.train_seconds > 0 else None,
            "epochs_to_threshold": {f"acc1>={t:g}": epochs_to_reach(self.history.get("val/acc1", []), t) for t in acc1_thresholds},
            "history": self.history,
        }
        if self.forked_from:
            fields["forked_from"] = self.forked_from
        if self.val_acc1_by_step:
            fields["val_acc1_by_step"] = self.val_acc1_by_step
        if "test/acc1" in self.history:  # a validation split is in use: val/* is on it, test/* on the test set
            fields.update(test_acc1=last.get("test/acc1"), test_acc5=last.get("test/acc5"),
                          test_acc1_at_best_epoch=self.best.get("test_acc1"))
        return fields


def epochs_to_reach(acc1_per_epoch: list[float], threshold: float) -> Optional[int]:
    """The first epoch (1-based) whose top-1 accuracy reaches `threshold`, or None."""
    return next((i + 1 for i, acc in enumerate(acc1_per_epoch) if acc >= threshold), None)


class StepMeter:
    """What the loop records at every optimizer step, without a host sync or a device op.

    The step's LR goes to TensorBoard at once (a Python float, already on the host); its loss, logits
    and labels wait on the device until `check()`, which reads every pending step in one transfer. The
    check is the one place divergence is found: the first non-finite step becomes the divergence record,
    returned and kept in `diverged` (the run stops knowing exactly where the loss went bad, at most N
    steps late); otherwise the steps' summed loss and correct top-1 count join the Progress record, so
    the epoch's training metrics cost one argmax per check, not ops per step.
    """

    def __init__(self, writer: Any, progress: Progress) -> None:
        self.writer, self.progress = writer, progress
        self.losses: list[flow.Tensor] = []
        self.logits: list[flow.Tensor] = []
        self.labels: list[flow.Tensor] = []
        self.lrs: list[float] = []
        self.first_step = 0
        self.diverged: Optional[dict] = None  # the first non-finite step a check found (step, epoch, lr, loss)

    def record(self, lrs: list[float], loss: flow.Tensor, logits: flow.Tensor, labels: flow.Tensor) -> None:
        """Log the step's LR at its own index (global_step before the loop advances it) and keep its outputs."""
        step = self.progress.global_step
        self.writer.add_scalar("lr", lrs[0], step)
        for i, lr in enumerate(lrs[1:], start=1):
            self.writer.add_scalar(f"lr/group{i}", lr, step)
        if not self.losses:
            self.first_step = step
        self.losses.append(loss)
        self.logits.append(logits)
        self.labels.append(labels)
        self.lrs.append(lrs[0])

    def check(self, epoch: int) -> tuple[Optional[dict], Optional[float]]:
        """One host sync: (divergence record or None, the latest loss or the first non-finite one) of the
        steps since the last check, whose loss and accuracy sums then join the epoch's; then forgets them."""
        if not self.losses:
            return None, None
        device = self.losses[-1].device
        hits = flow.cat(self.logits).argmax(1) == flow.cat(self.labels)
        values = flow.stack([loss.float().to(device) for loss in self.losses] + [hits.sum().float()]).cpu().numpy().tolist()
        correct, sizes = int(values.pop()), [labels.shape[0] for labels in self.labels]
        lrs, first = self.lrs, self.first_step
        self.losses, self.logits, self.labels, self.lrs = [], [], [], []
        for i, value in enumerate(values):
            if not math.isfinite(value):
                record = {"step": first + i, "epoch": epoch, "lr": lrs[i], "loss": str(value)}
                self.diverged = self.diverged or record
                return record, value
        self.progress.epoch_loss_sum += sum(v * n for v, n in zip(values, sizes))
        self.progress.epoch_correct += correct
        return None, values[-1]
