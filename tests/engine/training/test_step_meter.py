"""StepMeter: the per-step bookkeeping that keeps losses and logits on the device until a check.

The epoch's train/loss_epoch and train/acc1 must equal what a per-step computation gives, and the
LR of every step must reach TensorBoard at that step, with no device read until `check()`.
"""
import math

import numpy as np
import oneflow as flow
import oneflow.nn.functional as F

from engine.training.progress import Progress, StepMeter


class Scalars:
    def __init__(self) -> None:
        self.calls: list[tuple[str, float, int]] = []

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.calls.append((tag, value, step))


def batches(seed: int, steps: int, sizes=(8, 8, 5)):
    rng = np.random.default_rng(seed)
    for i in range(steps):
        n = sizes[i % len(sizes)]  # a short last batch counts with its own weight
        logits = flow.tensor(rng.normal(size=(n, 10)).astype(np.float32))
        labels = flow.tensor(rng.integers(0, 10, n).astype(np.int64))
        yield F.cross_entropy(logits, labels), logits, labels


def test_sums_between_checks_equal_the_per_step_computation():
    writer, progress = Scalars(), Progress()
    meter = StepMeter(writer, progress)
    expected_loss, expected_correct, seen = 0.0, 0, 0
    for step, (loss, logits, labels) in enumerate(batches(0, 7)):
        meter.record([0.1 * (step + 1), 0.01], loss, logits, labels)
        progress.advance(labels.shape[0], 0.1 * (step + 1))  # as the loop does after each step
        expected_loss += float(loss.numpy()) * labels.shape[0]
        expected_correct += int((logits.argmax(1) == labels).sum().numpy())
        seen += labels.shape[0]
        if step == 3:  # a mid-epoch check, as every log_every_n_steps
            diverged, last = meter.check(epoch=1)
            assert diverged is None and math.isclose(last, float(loss.numpy()), rel_tol=1e-6)
            assert progress.epoch_correct == expected_correct  # the checked steps are in the host record
            assert math.isclose(progress.epoch_loss_sum, expected_loss, rel_tol=1e-5)
            checked_correct = expected_correct
    assert progress.epoch_correct == checked_correct  # the last three steps still wait on the device
    meter.check(epoch=1)
    metrics = progress.epoch_train_metrics()
    assert progress.global_step == 7 and progress.epoch_seen == seen
    assert math.isclose(metrics["train/loss_epoch"], expected_loss / seen, rel_tol=1e-5)
    assert math.isclose(metrics["train/acc1"], 100.0 * expected_correct / seen, rel_tol=1e-9)
    # Every step's LR at its own step; the second parameter group as lr/group1.
    assert [(t, s) for t, _, s in writer.calls if t == "lr"] == [("lr", s) for s in range(7)]
    assert [v for t, v, _ in writer.calls if t == "lr"] == [0.1 * (s + 1) for s in range(7)]
    assert {t for t, _, _ in writer.calls} == {"lr", "lr/group1"}


def test_the_first_non_finite_step_is_reported_with_its_lr_then_checks_go_on():
    progress = Progress(global_step=7)
    meter = StepMeter(Scalars(), progress)
    losses = [1.0, 2.0, float("inf"), float("nan")]
    for value, (_, logits, labels) in zip(losses, batches(1, 4)):
        meter.record([0.1 * progress.global_step], flow.tensor(value), logits, labels)
        progress.advance(labels.shape[0], 0.1 * progress.global_step)
    diverged, last = meter.check(epoch=2)
    assert diverged == {"step": 9, "epoch": 2, "lr": diverged["lr"], "loss": "inf"} and math.isclose(diverged["lr"], 0.9)
    assert math.isinf(last)  # the loss of the first bad step
    assert progress.epoch_seen == 8 + 8 + 5 + 8 and progress.epoch_loss_sum == 0.0  # a diverged batch adds nothing to the sums
    loss, logits, labels = next(batches(2, 1))
    meter.record([0.1], loss, logits, labels)
    assert meter.check(epoch=2) == (None, float(loss.numpy()))
    assert meter.check(epoch=2) == (None, None)
