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
from tests.support.cifar_format import CallsFunction, cifar_batch, cifar_meta, write_archive


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
    assert data.train_coarse_labels.tolist() == expected[b"coarse_labels"]
    assert data.test_coarse_labels.tolist() == cifar_batch(20, 1)[b"coarse_labels"]
    assert data.coarse_class_names == [f"coarse_{i}" for i in range(20)]
    assert sorted(p.name for p in (tmp_path / FOLDER_NAME).iterdir()) == ["meta", "test", "train"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [FOLDER_NAME, ARCHIVE_NAME]  # no staging leftovers


def test_coarse_labels_as_the_training_target(tmp_path):
    md5 = write_archive(tmp_path / ARCHIVE_NAME)
    data = load_cifar100(root=str(tmp_path), md5=md5, download=False, labels="coarse")
    assert data.train_labels.tolist() == cifar_batch(60, 0)[b"coarse_labels"]
    assert data.class_names == [f"coarse_{i}" for i in range(20)]  # other labels: refused by the schema


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


def test_pickle_that_calls_a_function_is_refused_without_touching_the_root(tmp_path, capfd):
    md5 = write_archive(tmp_path / ARCHIVE_NAME, train_payload=pickle.dumps({b"data": CallsFunction()}, protocol=2))
    with pytest.raises(DataError, match="refusing to load posix.system|refusing to load os.system"):
        load_cifar100(root=str(tmp_path), md5=md5, download=False)
    assert "pwned" not in capfd.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == [ARCHIVE_NAME]


def test_batch_with_wrong_layout_is_refused(tmp_path):
    batch = cifar_batch(10, 0)
    batch[b"fine_labels"] = [150] * 10
    md5 = write_archive(tmp_path / ARCHIVE_NAME, train_payload=pickle.dumps(batch, protocol=2))
    with pytest.raises(DataError, match="fine_labels must be 10 values in 0..99"):
        load_cifar100(root=str(tmp_path), md5=md5, download=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [ARCHIVE_NAME]


def test_incomplete_extracted_folder_is_reported(tmp_path):
    (tmp_path / FOLDER_NAME).mkdir()
    (tmp_path / FOLDER_NAME / "train").write_bytes(b"")
    with pytest.raises(DataError, match="lacks test, meta"):
        load_cifar100(root=str(tmp_path), download=False)


class TruncatingHandler(http.server.SimpleHTTPRequestHandler):
    """Announces the whole file but sends only half of it, then closes: a dropped connection."""

    def do_GET(self):
        payload = (Path(self.directory) / self.path.lstrip("/")).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload[: len(payload) // 2])
        self.close_connection = True


@pytest.fixture
def serve(tmp_path):
    """serve(folder, handler) -> base URL of a loopback HTTP server for `folder`."""
    servers = []

    def start(folder: Path, handler=http.server.SimpleHTTPRequestHandler) -> str:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(folder)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()


def test_download_from_local_http_server(tmp_path, serve):
    served = tmp_path / "served"
    md5 = write_archive(served / ARCHIVE_NAME)
    base = serve(served)
    root = tmp_path / "root"
    data = load_cifar100(root=str(root), url=f"{base}/{ARCHIVE_NAME}", md5=md5, download=True)
    assert len(data.train_labels) == 60
    assert (root / ARCHIVE_NAME).read_bytes() == (served / ARCHIVE_NAME).read_bytes()
    assert sorted(p.name for p in root.iterdir()) == [FOLDER_NAME, ARCHIVE_NAME]
    with pytest.raises(DataError, match="could not download"):
        load_cifar100(root=str(tmp_path / "other"), url=f"{base}/missing.tar.gz", download=True)


def test_truncated_download_is_reported_and_nothing_is_kept(tmp_path, serve):
    served = tmp_path / "served"
    md5 = write_archive(served / ARCHIVE_NAME, train_size=300)
    size = (served / ARCHIVE_NAME).stat().st_size
    root = tmp_path / "root"
    with pytest.raises(DataError) as error:
        load_cifar100(root=str(root), url=f"{serve(served, TruncatingHandler)}/{ARCHIVE_NAME}", md5=md5, download=True)
    message = str(error.value)
    assert f"stopped after {size // 2} of {size} bytes" in message and f"expected {md5}" in message
    assert "Run again to retry" in message and str(root / ARCHIVE_NAME) in message
    assert list(root.iterdir()) == []


def test_download_with_wrong_md5_is_not_kept(tmp_path, serve):
    served = tmp_path / "served"
    actual = write_archive(served / ARCHIVE_NAME)
    root = tmp_path / "root"
    with pytest.raises(DataError, match=f"md5 is {actual}, expected 0123456789abcdef0123456789abcdef"):
        load_cifar100(root=str(root), url=f"{serve(served)}/{ARCHIVE_NAME}", md5="0123456789abcdef0123456789abcdef")
    assert list(root.iterdir()) == []


def test_mirror_can_be_a_local_file_url(tmp_path):
    mirror = tmp_path / "mirror" / ARCHIVE_NAME
    md5 = write_archive(mirror)
    data = load_cifar100(root=str(tmp_path / "root"), url=mirror.as_uri(), md5=md5)
    assert len(data.test_labels) == 20


def _train_batch_with(key: bytes, values) -> bytes:
    batch = cifar_batch(10, 0)
    batch[key] = values
    return pickle.dumps(batch, protocol=2)


def _refused(tmp_path, *needles, **archive_args):
    """Load an archive written with `archive_args`: one DataError paragraph holding `needles`, nothing extracted."""
    md5 = write_archive(tmp_path / ARCHIVE_NAME, **archive_args)
    with pytest.raises(DataError) as error:
        load_cifar100(root=str(tmp_path), md5=md5, download=False)
    message = str(error.value)
    for needle in needles:
        assert needle in message, message
    assert "\n" not in message and sorted(p.name for p in tmp_path.iterdir()) == [ARCHIVE_NAME]
    return message


@pytest.mark.parametrize("label,shown", [(0.7, "fine_labels[3] is 0.7 (a float)"), (3.0, "fine_labels[3] is 3.0 (a float)"),
                                         ("cat", "fine_labels[3] is 'cat' (a str)"), (None, "fine_labels[3] is None (a NoneType)"),
                                         (True, "fine_labels[3] is True (a bool)"), (-1, "fine_labels[3] is -1, outside 0..99"),
                                         (100, "fine_labels[3] is 100, outside 0..99")])
def test_label_that_is_not_a_class_index_is_refused(tmp_path, label, shown):
    labels = cifar_batch(10, 0)[b"fine_labels"]
    labels[3] = label
    _refused(tmp_path, shown, "fine_labels must be 10 values in 0..99", "train",
             train_payload=_train_batch_with(b"fine_labels", labels))


def test_float_label_array_and_wrong_count_are_refused(tmp_path):
    _refused(tmp_path, "coarse_labels[0] is 0.5", train_payload=_train_batch_with(b"coarse_labels", np.full(10, 0.5)))
    (tmp_path / ARCHIVE_NAME).unlink()
    _refused(tmp_path, "coarse_labels holds 9 values for 10 images", train_payload=_train_batch_with(b"coarse_labels", [1] * 9))
    (tmp_path / ARCHIVE_NAME).unlink()
    _refused(tmp_path, "fine_labels is a int, not a list", train_payload=_train_batch_with(b"fine_labels", 7))


def test_integer_labels_in_a_numpy_array_are_read(tmp_path):
    labels = np.arange(10, dtype=np.int32)
    md5 = write_archive(tmp_path / ARCHIVE_NAME, train_payload=_train_batch_with(b"fine_labels", labels))
    assert load_cifar100(root=str(tmp_path), md5=md5, download=False).train_labels.tolist() == list(range(10))


@pytest.mark.parametrize("fields,needles", [
    ({b"fine_label_names": 7}, ["fine_label_names is 7 (a int)", "list of 100 names"]),
    ({b"fine_label_names": None}, ["fine_label_names is missing"]),
    ({b"coarse_label_names": [b"x"] * 19}, ["lists 19 coarse label names; CIFAR-100 has 20"]),
    ({b"fine_label_names": [b"ok"] * 99 + [5]}, ["fine_label_names[99] is 5 (a int)"]),
    ({b"fine_label_names": [b"\xff\xfe"] * 100}, ["fine_label_names[0] is b'\\xff\\xfe', which is not UTF-8 text"]),
    ({b"\xff": [b"x"]}, ["has the key b'\\xff', which is not UTF-8 text"]),
], ids=["int", "none", "coarse-count", "int-name", "non-utf8-name", "non-utf8-key"])
def test_malformed_meta_is_refused(tmp_path, fields, needles):
    _refused(tmp_path, "meta", *needles, meta_payload=pickle.dumps({**cifar_meta(), **fields}, protocol=2))


def test_data_root_that_is_a_file_is_not_called_a_failed_download(tmp_path):
    a_file = tmp_path / "data"
    a_file.write_text("x")
    with pytest.raises(DataError, match="is a file, not a directory") as error:
        load_cifar100(root=str(a_file), url="http://127.0.0.1:9/none")
    assert "download" not in str(error.value).split(";")[0]


def test_unwritable_data_root_is_not_called_a_failed_download():
    with pytest.raises(DataError, match="cannot write in /proc") as error:
        load_cifar100(root="/proc", url="http://127.0.0.1:9/none")
    assert "could not download" not in str(error.value)
    with pytest.raises(DataError, match="cannot be created"):
        load_cifar100(root="/proc/no/such/dir", url="http://127.0.0.1:9/none")


def test_missing_data_root_is_created_and_said(tmp_path, capsys):
    root = tmp_path / "new" / "data"
    md5 = write_archive(tmp_path / "elsewhere" / ARCHIVE_NAME)
    data = load_cifar100(root=str(root), url=(tmp_path / "elsewhere" / ARCHIVE_NAME).as_uri(), md5=md5)
    assert len(data.train_labels) == 60 and (root / FOLDER_NAME).is_dir()
    assert f"created {root}" in capsys.readouterr().out


def test_an_empty_batch_is_called_empty_not_malicious(tmp_path):
    """Protocol 2 pickles an empty array's data as a `bytes()` call: it was refused like a pickle that runs code."""
    md5 = write_archive(tmp_path / ARCHIVE_NAME, train_payload=pickle.dumps(cifar_batch(0, 0), protocol=2))
    with pytest.raises(DataError) as error:
        load_cifar100(root=str(tmp_path), md5=md5, download=False)
    assert "train is empty: it holds 0 images" in str(error.value) and "refusing" not in str(error.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == [ARCHIVE_NAME]


def test_bytes_in_a_pickle_rebuild_bytes_only():
    from common.files import restricted_unpickle
    assert restricted_unpickle(pickle.dumps({b"k": b""}, protocol=2), "CIFAR batches", encoding="bytes") == {b"k": b""}

    class AllocatesBytes:  # bytes(10**12) would allocate a terabyte
        def __reduce__(self):
            return (bytes, (10**12,))

    with pytest.raises(pickle.UnpicklingError, match="refusing bytes"):
        restricted_unpickle(pickle.dumps(AllocatesBytes(), protocol=2), "CIFAR batches")
