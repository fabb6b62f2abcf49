"""Evaluation: mean loss and top-1/top-5 accuracy of a model on one split, with one host sync per split."""
from __future__ import annotations

from typing import Any

from backend import flow, F


def evaluate(predict: Any, loader: Any, prefix: str) -> dict[str, float]:
    """Mean loss and top-1/top-5 accuracy (%) of `predict` on `loader`; sums stay on the device until the end."""
    loss_sum = correct1 = correct5 = None
    for images, labels in loader:
        logits = predict(images).float()
        batch = (F.cross_entropy(logits, labels, reduction="sum"),
                 *(hits.sum() for hits in _topk_hits(logits, labels)))
        sums = batch if loss_sum is None else (loss_sum + batch[0], correct1 + batch[1], correct5 + batch[2])
        loss_sum, correct1, correct5 = sums
    n = len(loader.labels)
    values = flow.stack([loss_sum.float(), correct1.float(), correct5.float()]).cpu().numpy()
    return {f"{prefix}/loss": float(values[0]) / n, f"{prefix}/acc1": 100.0 * float(values[1]) / n,
            f"{prefix}/acc5": 100.0 * float(values[2]) / n}


def _topk_hits(logits: flow.Tensor, labels: flow.Tensor) -> tuple[flow.Tensor, flow.Tensor]:
    top5 = logits.topk(min(5, logits.shape[1]), dim=1)[1] == labels.unsqueeze(1)
    return top5[:, 0], top5  # a label appears at most once among the top five
