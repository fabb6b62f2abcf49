"""CIFAR-100 ("python version"): download, verify, extract atomically, and read safely.

The archive holds `cifar-100-python/{train,test,meta}`, Python pickles of dicts whose `data` is a
uint8 array [N, 3072] (1024 red, then green, then blue values per image, row-major) with
`fine_labels` and `coarse_labels` lists. Pickles can execute code, so they are read with an
unpickler that only reconstructs what this format holds.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.request
import zlib
from pathlib import Path
from typing import Literal, Optional

import numpy as np
from tqdm import tqdm

from common.files import atomic_output, can_write_in, folder_mode, restricted_unpickle
from input_pipeline.arrays import DataError, DatasetArrays

ARCHIVE_NAME = "cifar-100-python.tar.gz"
FOLDER_NAME = "cifar-100-python"
OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
OFFICIAL_MD5 = "eb9058c3a382ffc7106e4002c42a8d85"
SPLITS = ("train", "test", "meta")
LabelSet = Literal["fine", "coarse"]  # the training target, data.dataset.labels (checked by engine.config.schema)
MAX_MEMBER_BYTES = 1 << 30  # the real train batch is 155 MB; anything far larger is not CIFAR


def safe_unpickle(data: bytes, source: str) -> dict:
    try:
        obj = restricted_unpickle(data, "CIFAR batches", encoding="bytes")
    except Exception as error:  # any failure here means the file is not a CIFAR batch
        raise DataError(f"{source} is not a valid CIFAR-100 batch ({error}). Delete it and download the dataset again.") from error
    if not isinstance(obj, dict):
        raise DataError(f"{source} is not a valid CIFAR-100 batch (holds a {type(obj).__name__}, expected a dict).")
    batch = {}
    for key, value in obj.items():
        if isinstance(key, bytes):
            try:
                key = key.decode("utf-8")
            except UnicodeDecodeError:
                raise DataError(f"{source} has the key {key!r}, which is not UTF-8 text: it is not a CIFAR-100 batch. "
                                f"Delete it and download the dataset again.") from None
        batch[key] = value
    return batch


def md5_of(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _how_to_get(root: Path, url: str) -> str:
    return (f"Download {url} and place it at {root / ARCHIVE_NAME} (or its extracted folder at {root / FOLDER_NAME}), "
            f"set data.dataset.root to where it is, run with data.dataset.download=true on a machine with internet, "
            f"or point data.dataset.url at a mirror (http(s)://, ftp:// or file://); for an offline run use data=synthetic.")


def download_file(url: str, destination: Path, md5: Optional[str] = None, progress: Optional[bool] = None) -> None:
    """Fetch `url` to a temporary file beside `destination`; rename it into place only when complete and verified.

    A short read (fewer bytes than the server announced) or an md5 other than `md5` deletes the
    temporary file and raises DataError naming the URL, the byte counts and both checksums.
    """
    digest = hashlib.md5()
    with atomic_output(destination, suffix=".part") as tmp:
        with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            expected = response.headers.get("Content-Length")
            expected = int(expected) if expected is not None else None
            # tqdm's disable=None hides the bar when stderr is not a terminal (logs, sweeps).
            with tqdm(total=expected, unit="B", unit_scale=True, desc=f"downloading {destination.name}",
                      disable=None if progress is None else not progress, leave=False) as bar:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
            written = out.tell()
        actual = digest.hexdigest()
        truncated = expected is not None and written != expected
        if truncated or (md5 and actual != md5):
            what = (f"stopped after {written} of {expected} bytes" if truncated else f"delivered {written} bytes")
            raise DataError(f"the download of {url} {what}; its md5 is {actual}, expected {md5 or 'none given'}. "
                            f"Nothing was kept (the partial file {tmp} was deleted) and {destination} was not written. "
                            f"Run again to retry, point data.dataset.url at another mirror, or, if this mirror's copy is "
                            f"trusted, set data.dataset.md5={actual}.")


def _verify_archive(archive: Path, md5: Optional[str]) -> None:
    if md5:
        actual = md5_of(archive)
        if actual != md5:
            raise DataError(f"{archive} has md5 {actual}, expected {md5}: the file is truncated, corrupt or not the official archive, "
                            f"and nothing was extracted from it. Delete it and run again to download it, or, if it is a trusted "
                            f"mirror's copy, set data.dataset.md5={actual}.")


def _read_member(tar: tarfile.TarFile, archive: Path, split: str) -> bytes:
    name = f"{FOLDER_NAME}/{split}"
    try:
        member = tar.getmember(name)
    except KeyError:
        raise DataError(f"{archive} has no {name}; it is not the CIFAR-100 python archive. Delete it and download it again.") from None
    if not member.isfile() or member.size > MAX_MEMBER_BYTES:
        raise DataError(f"{archive}: {name} is not a regular file of at most {MAX_MEMBER_BYTES} bytes; it is not the CIFAR-100 archive.")
    return tar.extractfile(member).read()


def _extract(archive: Path, root: Path, url: str) -> dict[str, dict]:
    """Read and validate the three batches in memory, then write them to root/cifar-100-python in one rename.

    Nothing reaches the data root unless every batch unpickled safely and has the CIFAR-100 layout,
    so a truncated, corrupt or tampered archive leaves the root as it was.
    """
    try:
        with tarfile.open(archive, "r:gz") as tar:
            payloads = {split: _read_member(tar, archive, split) for split in SPLITS}
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise DataError(f"{archive} is truncated or corrupt ({error}); nothing was extracted. Delete it and download it again. "
                        f"{_how_to_get(root, url)}") from error
    batches = {split: _parse_batch(payload, f"{archive}:{FOLDER_NAME}/{split}", split) for split, payload in payloads.items()}
    staging = Path(tempfile.mkdtemp(prefix="." + FOLDER_NAME + ".", suffix=".part", dir=root))
    staging.chmod(folder_mode())  # mkdtemp makes it owner-only; teammates share a data root
    try:
        for split, payload in payloads.items():
            (staging / split).write_bytes(payload)  # open() honours the umask
        os.replace(staging, root / FOLDER_NAME)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return batches


def _parse_batch(payload: bytes, source: str, split: str) -> dict:
    """Unpickle one batch safely and check it has the CIFAR-100 layout; return its arrays (or names, for meta)."""
    batch = safe_unpickle(payload, source)
    if split == "meta":
        return {key: _label_names(batch.get(key), key, count, source) for key, count in (("fine_label_names", 100),
                                                                                       ("coarse_label_names", 20))}
    try:
        data, fine, coarse = batch["data"], batch["fine_labels"], batch["coarse_labels"]
    except KeyError as missing:
        raise DataError(f"{source} lacks the key {missing}; it is not a CIFAR-100 batch. Delete it and download the dataset again.") from None
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"{source} holds data of type {getattr(data, 'dtype', type(data).__name__)} and shape "
                        f"{getattr(data, 'shape', '?')}; expected uint8 [N, 3072]. Delete it and download the dataset again.")
    if not len(data):  # a cut-short or placeholder file, not a tampered one
        raise DataError(f"{source} is empty: it holds 0 images, where a CIFAR-100 batch holds thousands (a truncated "
                        f"or incomplete copy of the dataset?). Delete it and download the dataset again.")
    labels = {key: _labels(values, key, len(data), classes, source)
              for key, values, classes in (("fine_labels", fine, 100), ("coarse_labels", coarse, 20))}
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # CHW planes -> HWC
    return {"images": np.ascontiguousarray(images), **labels}


def _is_whole(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _labels(values: object, key: str, count: int, classes: int, source: str) -> np.ndarray:
    """`values` as int64 labels, or a DataError naming the first value that is not a whole number in 0..classes-1."""
    rule = f"{key} must be {count} values in 0..{classes - 1} (whole numbers, one per image)"
    advice = "Delete it and download the dataset again."
    if isinstance(values, np.ndarray) and values.ndim == 1:
        values = values.tolist() if values.dtype.kind in "iub" else list(values)
    if not isinstance(values, (list, tuple)):
        raise DataError(f"{source}: {key} is a {type(values).__name__}, not a list; {rule}. {advice}")
    if len(values) != count:
        raise DataError(f"{source}: {key} holds {len(values)} values for {count} images; {rule}. {advice}")
    for i, value in enumerate(values):
        if not _is_whole(value):
            raise DataError(f"{source}: {key}[{i}] is {value!r:.40} (a {type(value).__name__}), not a class index; "
                            f"{rule}. {advice}")
        if not 0 <= value < classes:
            raise DataError(f"{source}: {key}[{i}] is {value}, outside 0..{classes - 1}; {rule}. {advice}")
    return np.asarray(values, dtype=np.int64).reshape(count)


def _label_names(names: object, key: str, count: int, source: str) -> list[str]:
    """The `count` class names of a meta batch as text, or a DataError naming what is wrong with them."""
    rule = f"{key} must be a list of {count} names (UTF-8 text)"
    advice = "Delete it and download the dataset again."
    if not isinstance(names, (list, tuple)):
        what = "is missing" if names is None else f"is {names!r:.40} (a {type(names).__name__})"
        raise DataError(f"{source}: {key} {what}; {rule}. {advice}")
    if len(names) != count:
        raise DataError(f"{source} lists {len(names)} {key.replace('_', ' ')}; CIFAR-100 has {count}: {rule}. {advice}")
    decoded = []
    for i, name in enumerate(names):
        if isinstance(name, bytes):
            try:
                name = name.decode("utf-8")
            except UnicodeDecodeError:
                raise DataError(f"{source}: {key}[{i}] is {name!r:.40}, which is not UTF-8 text; {rule}. {advice}") from None
        if not isinstance(name, str):
            raise DataError(f"{source}: {key}[{i}] is {name!r:.40} (a {type(name).__name__}); {rule}. {advice}")
        decoded.append(name)
    return decoded


def _read_folder(folder: Path) -> dict[str, dict]:
    missing = [split for split in SPLITS if not (folder / split).is_file()]
    if missing:
        raise DataError(f"{folder} exists but lacks {', '.join(missing)}: an incomplete copy. Delete the folder and run "
                        f"again; it is extracted again from {ARCHIVE_NAME}.")
    return {split: _parse_batch((folder / split).read_bytes(), str(folder / split), split) for split in SPLITS}


def _writable_root(root: str, root_path: Path) -> None:
    """Create the data root when it does not exist (and say so); refuse one this process cannot write in."""
    if not root_path.exists():
        try:
            root_path.mkdir(parents=True)
        except OSError as error:
            raise DataError(f"data.dataset.root={root}: the directory {root_path} cannot be created ({error.strerror}); "
                            f"use a directory you can write in, e.g. data.dataset.root=./data.") from None
        print(f"data.dataset.root: created {root_path} (it did not exist) for CIFAR-100")
    if not can_write_in(root_path):
        raise DataError(f"data.dataset.root={root}: cannot write in {root_path}, where CIFAR-100 would be downloaded "
                        f"and extracted (it holds no {FOLDER_NAME} folder yet). Use a writable directory, e.g. "
                        f"data.dataset.root=./data, or one that already holds the extracted {FOLDER_NAME}.")


def load_cifar100(root: str = "./data", url: str = OFFICIAL_URL, md5: Optional[str] = OFFICIAL_MD5,
                  download: bool = True, labels: LabelSet = "fine") -> DatasetArrays:
    """Load CIFAR-100 from `root`, downloading and verifying the archive first when needed.

    `labels` picks the training target (`train_labels`, `test_labels`, `class_names`): "fine" (100
    classes) or "coarse" (the 20 superclasses; set data.num_classes=20 too). The superclass of every
    image is always in `train_coarse_labels` / `test_coarse_labels` / `coarse_class_names`.
    """
    root_path = Path(root).expanduser().resolve()
    folder, archive = root_path / FOLDER_NAME, root_path / ARCHIVE_NAME
    if root_path.exists() and not root_path.is_dir():
        raise DataError(f"data.dataset.root={root} is a file, not a directory ({root_path}); point data.dataset.root at "
                        f"a directory that holds (or may receive) {ARCHIVE_NAME}, e.g. data.dataset.root=./data.")
    if folder.exists():
        batches = _read_folder(folder)
    else:
        if not archive.exists() and not download:
            raise DataError(f"CIFAR-100 was not found: neither {archive} nor {folder} exists. {_how_to_get(root_path, url)}")
        _writable_root(root, root_path)  # the archive is downloaded, or extracted, into the root
        if not archive.exists():
            try:
                download_file(url, archive, md5)
            except DataError:
                raise
            except (OSError, http.client.HTTPException) as error:  # network errors, refused or cut connections
                raise DataError(f"could not download CIFAR-100 from {url} ({error}). {_how_to_get(root_path, url)}") from error
        else:
            _verify_archive(archive, md5)
        batches = _extract(archive, root_path, url)
    train, test, meta = batches["train"], batches["test"], batches["meta"]
    return DatasetArrays(train["images"], train[f"{labels}_labels"], test["images"], test[f"{labels}_labels"],
                         class_names=meta[f"{labels}_label_names"],
                         train_coarse_labels=train["coarse_labels"], test_coarse_labels=test["coarse_labels"],
                         coarse_class_names=meta["coarse_label_names"])
