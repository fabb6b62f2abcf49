"""Shared by the engine tests: small synthetic runs of train.py and readers for what they leave behind."""
from __future__ import annotations

import json
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

# A tiny model on 640 synthetic images in batches of 64: 10 optimizer steps per epoch, ~1 s per epoch on a CPU.
FAST = ("data=synthetic", "model=tiny", "data.train_size=640", "data.batch_size=64", "trainer.progress=false")


def read_scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar curve as TensorBoard shows it (purged steps removed), as (step, value) lists."""
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def read_summary(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / "summary.json").read_text())

# Smaller still, for tests of how runs start and end: 2 optimizer steps per epoch, 2 epochs.
TINY = ("data=synthetic", "model=tiny", "data.train_size=128", "data.batch_size=64", "trainer.max_epochs=2",
        "trainer.progress=false")


def file_hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under `folder` (hidden ones included), by relative path."""
    import hashlib
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}
