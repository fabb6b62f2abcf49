"""CIFAR-100 ("python version"): download, verify, extract atomically, and read safely.

The archive holds `cifar-100-python/{train,test,meta}`, Python pickles of dicts whose `data` is a
uint8 array [N, 3072] (1024 red, then green, then blue values per image, row-major) with
`fine_labels` and `coarse_labels` lists. Pickles can execute code, so they are read with an
unpickler that only reconstructs what this format holds.
"""
from __future__ import annotations

import hashlib
import io
import os
import pickle
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path
from typing import Any, Optional

import numpy as np

from input_pipeline.arrays import DataError, DatasetArrays

ARCHIVE_NAME = "cifar-100-python.tar.gz"
FOLDER_NAME = "cifar-100-python"
OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
OFFICIAL_MD5 = "eb9058c3a382ffc7106e4002c42a8d85"
SPLITS = ("train", "test", "meta")


class _CifarUnpickler(pickle.Unpickler):
    """Allows the globals a CIFAR pickle needs (numpy array reconstruction) and nothing else."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: CIFAR batches hold only dicts, lists, bytes, strings, numbers and arrays")


def safe_unpickle(data: bytes, source: str) -> dict:
    try:
        obj = _CifarUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as error:  # any failure here means the file is not a CIFAR batch
        raise DataError(f"{source} is not a valid CIFAR-100 batch ({error}). Delete it and download the dataset again.") from error
    if not isinstance(obj, dict):
        raise DataError(f"{source} is not a valid CIFAR-100 batch (holds a {type(obj).__name__}, expected a dict).")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _how_to_get(root: Path, url: str) -> str:
    return (f"Download {url} and place it at {root / ARCHIVE_NAME} (or its extracted folder at {root / FOLDER_NAME}), "
            f"set data.dataset.root to where it is, or run with data.dataset.download=true on a machine with internet; "
            f"for an offline run use data=synthetic.")


def download_file(url: str, destination: Path) -> None:
    """Fetch `url` to a temporary file beside `destination`, renamed into place only when complete."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=destination.name + ".", suffix=".part", dir=destination.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            expected = response.headers.get("Content-Length")
            shutil.copyfileobj(response, out, length=1 << 20)
            written = out.tell()
        if expected is not None and written != int(expected):
            raise DataError(f"download of {url} stopped after {written} of {expected} bytes; run again to retry.")
        os.replace(tmp, destination)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _extract(archive: Path, root: Path) -> Path:
    """Extract the three batches into root/cifar-100-python via a temporary folder and one rename."""
    target = root / FOLDER_NAME
    staging = Path(tempfile.mkdtemp(prefix=FOLDER_NAME + ".", suffix=".part", dir=root))
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for split in SPLITS:
                try:
                    member = tar.getmember(f"{FOLDER_NAME}/{split}")
                except KeyError:
                    raise DataError(f"{archive} has no {FOLDER_NAME}/{split}; it is not the CIFAR-100 python archive. {_how_to_get(root, OFFICIAL_URL)}")
                extracted = tar.extractfile(member)
                if extracted is None:
                    raise DataError(f"{archive}: {FOLDER_NAME}/{split} is not a regular file.")
                (staging / split).write_bytes(extracted.read())
        os.replace(staging, target)
    except Exception as error:  # tarfile/gzip/zlib errors all mean a damaged archive
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(error, DataError):
            raise
        raise DataError(f"{archive} is truncated or corrupt ({error}); delete it and download it again. {_how_to_get(root, OFFICIAL_URL)}") from error
    return target


def _read_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    path = folder / split
    batch = safe_unpickle(path.read_bytes(), str(path))
    try:
        data = np.asarray(batch["data"], dtype=np.uint8)
        labels = np.asarray(batch["fine_labels"], dtype=np.int64)
    except KeyError as missing:
        raise DataError(f"{path} lacks the key {missing}; it is not a CIFAR-100 batch.")
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise DataError(f"{path} holds data of shape {data.shape} with {len(labels)} labels; expected [N, 3072] with N labels.")
    if labels.size and (labels.min() < 0 or labels.max() > 99):
        raise DataError(f"{path} has fine labels outside 0..99.")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # CHW planes -> HWC
    return np.ascontiguousarray(images), labels


def load_cifar100(root: str = "./data", url: str = OFFICIAL_URL, md5: Optional[str] = OFFICIAL_MD5,
                  download: bool = True) -> DatasetArrays:
    """Load CIFAR-100 from `root`, downloading and verifying the archive first when needed."""
    root_path = Path(root).expanduser().resolve()
    folder, archive = root_path / FOLDER_NAME, root_path / ARCHIVE_NAME
    if not all((folder / split).is_file() for split in SPLITS):
        if not archive.exists():
            if not download:
                raise DataError(f"CIFAR-100 was not found: neither {archive} nor {folder} exists. {_how_to_get(root_path, url)}")
            try:
                download_file(url, archive)
            except DataError:
                raise
            except OSError as error:
                raise DataError(f"could not download CIFAR-100 from {url} ({error}). {_how_to_get(root_path, url)}") from error
        if md5:
            actual = md5_of(archive)
            if actual != md5:
                raise DataError(f"{archive} has md5 {actual}, expected {md5}: the file is truncated, corrupt or not the official archive. "
                                f"Delete it and download it again (or set data.dataset.md5 to the checksum of a trusted mirror's copy).")
        folder = _extract(archive, root_path)
    train_images, train_labels = _read_split(folder, "train")
    test_images, test_labels = _read_split(folder, "test")
    meta = safe_unpickle((folder / "meta").read_bytes(), str(folder / "meta"))
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in meta.get("fine_label_names", [])]
    return DatasetArrays(train_images, train_labels, test_images, test_labels, class_names=names)
