"""Seeding: a run's random streams as pure functions of (seed, epoch), and the generator states a checkpoint keeps."""
from __future__ import annotations

import random

import numpy as np
from backend import flow


def seed_everything(seed: int) -> None:
    """Fix model initialisation and any other randomness (the loader derives its own from the seed and epoch)."""
    random.seed(seed)
    np.random.seed(seed)
    flow.manual_seed(seed)


def seed_epoch(seed: int, epoch: int) -> None:
    """Reseed OneFlow at every epoch start, so its random ops (dropout, ...) are a pure function of (seed, epoch).

    OneFlow 0.9's get_rng_state/set_rng_state do not restore a generator that has been used since it
    was seeded, so a resumed run gets the same random stream from this, not from the saved state.
    """
    flow.manual_seed(int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0]))


def rng_states() -> dict:
    """The Python and numpy generators (data order and augmentation are pure functions of seed and epoch)."""
    return {"python": random.getstate(), "numpy": np.random.get_state()}


def restore_rng_states(states: dict) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
