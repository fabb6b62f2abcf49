"""One GPU per worker process of a parallel sweep: an exclusive lock on a slot file, held for the process's life.

The claim lives here, not in the launcher's module under `hydra_plugins/`, because Hydra's plugin scanner (on
Python >= 3.10) executes every `hydra_plugins` module again, into the same module object, whenever a process first
asks for its plugins, as a sweep's job does. A module-level claim there was reset to None by that, its lock file
closed, and a second worker was then given the same GPU while the first still ran on it.
"""
from __future__ import annotations

import fcntl
from pathlib import Path
from typing import IO, Optional

# This process's claim: (slot directory, slot index, the open lock file that holds the lock).
_claimed: Optional[tuple[str, int, IO[str]]] = None


def claim_slot(slot_dir: str, n_slots: int) -> int:
    """Lock the first free slot file in `slot_dir` for the life of this process; return its index.

    A process keeps the slot it claimed first: its later jobs run on the GPU it already initialised."""
    global _claimed
    if _claimed is not None and _claimed[0] == slot_dir:
        return _claimed[1]
    for slot in range(n_slots):
        handle = open(Path(slot_dir) / f"slot-{slot}.lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        _claimed = (slot_dir, slot, handle)
        return slot
    raise RuntimeError(f"all {n_slots} device slots in {slot_dir} are taken; n_jobs must not exceed the number of GPUs")
