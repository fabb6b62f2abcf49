"""The CIFAR-100 reader on generated archives in the real format: read, verify, refuse, download."""
import functools
import http.server
import pickle
import threading
from pathlib import Path

import numpy as np
import pytest

from input_pipeline.arrays import DataError
from input_pipeline.cifar100 import ARCHIVE_NAME, FOLDER_NAME, load_cifar100
from tests.cifar_format import CallsFunction, cifar_batch, write_archive


def test_reads_archive_in_real_format(tmp_path):
    md5 = write_archive(tmp_path / ARCHIVE_NAME, train_size=60, test_size=20)
    data = load_cifar100(root=str(tmp_path), md5=md5, download=False)
    assert data.train_images.shape == (60, 32, 32, 3) and data.train_images.dtype == np.uint8
    assert data.test_images.shape == (20, 32, 32, 3)
    expected = cifar_batch(60, 0)
    assert data.train_labels.tolist() == expected[b"fine_labels"]
    # Pixel layout: the first 1024 values are the red plane, row-major.
    red_plane = expected[b"data"][0, :1024].reshape(32, 32)
    assert (data.train_images[0, :, :, 0] == red_plane).all()
    assert data.class_names[:2] == ["fine_0", "fine_1"]
    assert (tmp_path / FOLDER_NAME / "train").is_file()


def test_uses_extracted_folder_without_archive(tmp_path):
    md5 = write_archive(tmp_path / ARCHIVE_NAME)
    load_cifar100(root=str(tmp_path), md5=md5, download=False)
    (tmp_path / ARCHIVE_NAME).unlink()
    data = load_cifar100(root=str(tmp_path), md5=md5, download=False)
    assert len(data.train_labels) == 60


def test_missing_dataset_says_where_it_is_expected(tmp_path):
    with pytest.raises(DataError, match=ARCHIVE_NAME) as error:
        load_cifar100(root=str(tmp_path), download=False)
    assert "data=synthetic" in str(error.value)


def test_md5_mismatch_is_refused_and_nothing_is_extracted(tmp_path):
    write_archive(tmp_path / ARCHIVE_NAME)
    with pytest.raises(DataError, match="expected 0123456789abcdef0123456789abcdef"):
        load_cifar100(root=str(tmp_path), md5="0123456789abcdef0123456789abcdef", download=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [ARCHIVE_NAME]


def test_truncated_archive_is_refused_without_half_extraction(tmp_path):
    archive = tmp_path / ARCHIVE_NAME
    write_archive(archive, train_size=500)
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(DataError, match="truncated or corrupt"):
        load_cifar100(root=str(tmp_path), md5=None, download=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [ARCHIVE_NAME]


def test_pickle_that_calls_a_function_is_refused(tmp_path, capfd):
    md5 = write_archive(tmp_path / ARCHIVE_NAME, train_payload=pickle.dumps({b"data": CallsFunction()}, protocol=2))
    with pytest.raises(DataError, match="refusing to load posix.system|refusing to load os.system"):
        load_cifar100(root=str(tmp_path), md5=md5, download=False)
    assert "pwned" not in capfd.readouterr().out


def test_download_from_local_http_server(tmp_path):
    served = tmp_path / "served"
    md5 = write_archive(served / ARCHIVE_NAME)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        root = tmp_path / "root"
        url = f"http://127.0.0.1:{server.server_port}/{ARCHIVE_NAME}"
        data = load_cifar100(root=str(root), url=url, md5=md5, download=True)
        assert len(data.train_labels) == 60
        assert (root / ARCHIVE_NAME).read_bytes() == (served / ARCHIVE_NAME).read_bytes()
        assert not list(root.glob("*.part"))
        with pytest.raises(DataError, match="could not download"):
            load_cifar100(root=str(tmp_path / "other"), url=f"http://127.0.0.1:{server.server_port}/missing.tar.gz", download=True)
    finally:
        server.shutdown()
