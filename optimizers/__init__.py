"""Optimizers OneFlow 0.9 lacks: Schedule-Free SGD and AdamW (Defazio et al. 2024), chosen with optimizer=<name>."""
from optimizers.schedule_free import AdamWScheduleFree, SGDScheduleFree

__all__ = ["AdamWScheduleFree", "SGDScheduleFree"]
