"""Writes small archives in the real CIFAR-100 "python version" format: reader tests and benchmarks (no download here)."""
from __future__ import annotations

import hashlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np


def cifar_batch(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {
        b"filenames": [f"img_{i}.png".encode() for i in range(n)],
        b"batch_label": b"training batch 1 of 1",
        b"fine_labels": rng.integers(0, 100, size=n).tolist(),
        b"coarse_labels": rng.integers(0, 20, size=n).tolist(),
        b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
    }


def cifar_meta() -> dict:
    return {b"fine_label_names": [f"fine_{i}".encode() for i in range(100)],
            b"coarse_label_names": [f"coarse_{i}".encode() for i in range(20)]}


def write_archive(path: Path, train_size: int = 60, test_size: int = 20, train_payload: bytes | None = None,
                  meta_payload: bytes | None = None) -> str:
    """Write a CIFAR-100-format tar.gz at `path`; return its md5. `train_payload` / `meta_payload` replace those pickles."""
    members = {
        "train": train_payload if train_payload is not None else pickle.dumps(cifar_batch(train_size, 0), protocol=2),
        "test": pickle.dumps(cifar_batch(test_size, 1), protocol=2),
        "meta": meta_payload if meta_payload is not None else pickle.dumps(cifar_meta(), protocol=2),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(f"cifar-100-python/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return hashlib.md5(path.read_bytes()).hexdigest()
