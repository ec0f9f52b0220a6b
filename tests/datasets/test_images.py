"""The image loaders (MNIST, Fashion-MNIST, CIFAR-10): tiny files in the original formats, served from a
local HTTP server and a mirror directory, and the real files of ../shared/data where present."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import threading
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from dlphys.datasets import _images, cifar10, fashion_mnist, mnist
from dlphys.datasets._cache import CorruptCacheWarning
from dlphys.datasets._download import DataUnavailableError

MIRROR = Path(__file__).resolve().parents[3] / "shared" / "data"
needs_fashion = pytest.mark.skipif(not (MIRROR / "fashion-mnist").is_dir(), reason="no offline mirror of Fashion-MNIST")
needs_mnist_5k = pytest.mark.skipif(not (MIRROR / "mnist-5k").is_dir(), reason="no offline MNIST subset")


def idx(array: np.ndarray) -> bytes:
    """Uncompressed IDX bytes of a uint8 array."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


# --- the IDX format --------------------------------------------------------------------------------


def test_idx_round_trip_keeps_shape_and_values():
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(_images.parse_idx(idx(a)), a)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda raw: b"\x01\x00" + raw[2:], "bad IDX magic"),
        (lambda raw: raw[:2] + b"\x0d" + raw[3:], "not unsigned byte"),
        (lambda raw: raw[:-5], "truncated"),
        (lambda raw: raw + b"\x00", "trailing data"),
        (lambda raw: b"", "bad IDX magic"),
    ],
)
def test_malformed_idx_is_rejected_with_the_reason(mutate, message):
    raw = idx(np.zeros((3, 2, 2), np.uint8))
    with pytest.raises(ValueError, match=message):
        _images.parse_idx(mutate(raw))


def test_validator_checks_gzip_hash_shape_and_label_range():
    labels = np.array([0, 3, 9], np.uint8)
    raw = idx(labels)
    good = gzip.compress(raw)
    validate = _images.idx_validator((3,), hashlib.sha256(raw).hexdigest(), n_classes=10)
    validate(good)
    validate(gzip.compress(raw, compresslevel=1))  # re-compressed: same content, accepted
    with pytest.raises(ValueError, match="gzip"):
        validate(good[: len(good) // 2])
    with pytest.raises(ValueError, match="SHA-256 of the decompressed"):
        validate(gzip.compress(idx(np.array([0, 3, 8], np.uint8))))
    with pytest.raises(ValueError, match="shape"):
        _images.idx_validator((4,))(good)
    with pytest.raises(ValueError, match="label 9 out of range"):
        _images.idx_validator((3,), n_classes=5)(good)


# --- a fake Fashion-MNIST behind a local HTTP server ------------------------------------------------
rng = np.random.default_rng(0)
TINY = {
    "train-images-idx3-ubyte.gz": rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
    "train-labels-idx1-ubyte.gz": np.arange(12, dtype=np.uint8) % 10,
    "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
    "t10k-labels-idx1-ubyte.gz": np.arange(5, dtype=np.uint8),
}
SERVED: dict[str, bytes] = {}


class _Handler(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self):
        type(self).hits.append(self.path)
        body = SERVED.get(self.path.rsplit("/", 1)[-1])
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    _Handler.hits = []
    SERVED.clear()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def tiny_fashion(monkeypatch, server):
    """Fashion-MNIST's loader pointed at the local server, expecting the tiny files' shapes and hashes."""
    files = {name: (a.shape, hashlib.sha256(idx(a)).hexdigest()) for name, a in TINY.items()}
    monkeypatch.setattr(fashion_mnist, "FILES", files)
    monkeypatch.setattr(fashion_mnist, "BASE_URLS", (server,))
    SERVED.update({name: gzip.compress(idx(a)) for name, a in TINY.items()})
    return server


def test_download_is_verified_cached_and_read_back(tiny_fashion, data_dir):
    (x_train, y_train), (_x_test, y_test), names = fashion_mnist.load(fast=False)
    np.testing.assert_array_equal(x_train, TINY["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(y_test, TINY["t10k-labels-idx1-ubyte.gz"])
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int64 and names[9] == "Ankle boot"
    assert sorted(p.name for p in (data_dir / "fashion-mnist").iterdir()) == sorted(TINY)
    hits = len(_Handler.hits)
    fashion_mnist.load(fast=False)
    assert len(_Handler.hits) == hits == 4, "a second load must come from the cache"


@pytest.mark.parametrize(
    "damage, reason",
    [
        (lambda b: b[: len(b) // 2], "gzip"),
        (lambda b: gzip.compress(b"\x00\x00\x08\x01" + b"\x00" * 8), "SHA-256"),
        (lambda b: b"<html>rate limit</html>", "gzip"),
    ],
)
def test_bad_download_is_rejected_naming_the_file(tiny_fashion, data_dir, damage, reason):
    name = "train-labels-idx1-ubyte.gz"
    SERVED[name] = damage(SERVED[name])
    with pytest.raises(DataUnavailableError, match=rf"(?s){name}.*{reason}.*DLPHYS_MIRROR"):
        fashion_mnist.load(fast=False)
    assert not (data_dir / "fashion-mnist" / name).exists(), "a rejected file must not be cached"


def test_corrupt_cache_entry_is_fetched_again(tiny_fashion, data_dir):
    fashion_mnist.load(fast=False)
    cached = data_dir / "fashion-mnist" / "t10k-images-idx3-ubyte.gz"
    cached.write_bytes(cached.read_bytes()[:100])
    with pytest.warns(CorruptCacheWarning, match="damaged"):
        (_, _), (x_test, _), _ = fashion_mnist.load(fast=False)
    np.testing.assert_array_equal(x_test, TINY["t10k-images-idx3-ubyte.gz"])


def test_mirror_directory_is_used_before_the_network(tiny_fashion, data_dir, tmp_path, monkeypatch):
    mirror = tmp_path / "mirror" / "fashion-mnist"
    mirror.mkdir(parents=True)
    for name, array in TINY.items():  # a mirror may re-compress: the content hash still matches
        (mirror / name).write_bytes(gzip.compress(idx(array), compresslevel=1))
    monkeypatch.setenv("DLPHYS_MIRROR", str(tmp_path / "mirror"))
    fashion_mnist.load(fast=False)
    assert _Handler.hits == []


def test_fast_mode_subset_is_seeded_and_sized(tiny_fashion, data_dir, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "FAST_SIZES", (6, 2))
    a = fashion_mnist.load(fast=True, seed=1)
    b = fashion_mnist.load(fast=True, seed=1)
    assert a.train[0].shape == (6, 28, 28) and a.test[1].shape == (2,)
    np.testing.assert_array_equal(a.train[1], b.train[1])


# --- MNIST -----------------------------------------------------------------------------------------


def test_full_mnist_offline_says_how_to_use_the_subset(data_dir, monkeypatch):
    monkeypatch.setattr(mnist, "BASE_URLS", ("http://127.0.0.1:9/",))  # nothing listens on port 9
    with pytest.raises(DataUnavailableError, match=r"(?s)train-images-idx3-ubyte.gz.*subset=True"):
        mnist.load()


@needs_mnist_5k
def test_real_mnist_subset_is_shuffled_balanced_and_split(data_dir, monkeypatch):
    monkeypatch.setenv("DLPHYS_MIRROR", str(MIRROR))
    (x_train, y_train), (x_test, y_test), names = mnist.load(subset=True)
    assert x_train.shape == (4000, 28, 28) and x_test.shape == (1000, 28, 28) and x_train.dtype == np.uint8
    counts = np.bincount(np.concatenate([y_train, y_test]), minlength=10)
    assert counts.tolist() == [500] * 10 and names == tuple("0123456789")
    # stored ordered by class: the split must mix all classes into the test set
    assert len(np.unique(y_test)) == 10 and len(np.unique(y_test[:50])) > 5


# --- real Fashion-MNIST ----------------------------------------------------------------------------


@needs_fashion
def test_real_fashion_mnist_has_the_published_sizes(data_dir, monkeypatch):
    monkeypatch.setenv("DLPHYS_MIRROR", str(MIRROR))
    (x_train, y_train), (x_test, y_test), names = fashion_mnist.load(fast=False)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert np.bincount(y_train).tolist() == [6000] * 10 and np.bincount(y_test).tolist() == [1000] * 10
    assert 0 < x_train.mean() < 255 and len(names) == 10


# --- CIFAR-10 --------------------------------------------------------------------------------------


def _cifar_batch(labels, seed):
    images = np.random.default_rng(seed).integers(0, 256, (len(labels), 32, 32, 3), dtype=np.uint8)
    planes = images.transpose(0, 3, 1, 2).reshape(len(labels), -1)  # R, G, B planes, rows first
    return images, np.concatenate([np.asarray(labels, np.uint8)[:, None], planes], axis=1).tobytes()


def _cifar_archive(records=2, skip=(), short=None):
    buffer, expected = io.BytesIO(), {}
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        names = (*cifar10.TRAIN_MEMBERS, cifar10.TEST_MEMBER, "batches.meta.txt")
        for i, name in enumerate(names):
            if name in skip:
                continue
            if name.endswith(".txt"):
                payload = "\n".join(cifar10.CLASS_NAMES).encode()
            else:
                expected[name], payload = _cifar_batch([(i + k) % 10 for k in range(records)], seed=i)
                payload = payload[:-1] if name == short else payload
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return buffer.getvalue(), expected


def test_cifar_binary_records_become_channels_last_images(monkeypatch):
    monkeypatch.setattr(cifar10, "RECORDS_PER_BATCH", 2)
    payload, expected = _cifar_archive()
    (x_train, y_train), (x_test, _y_test), names = cifar10.parse(payload)
    assert x_train.shape == (10, 32, 32, 3) and x_test.shape == (2, 32, 32, 3)
    np.testing.assert_array_equal(x_train[:2], expected["data_batch_1.bin"])
    np.testing.assert_array_equal(x_test, expected["test_batch.bin"])
    assert y_train[:2].tolist() == [0, 1] and names[0] == "airplane"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"skip": ("data_batch_3.bin",)}, "lacks"),
        ({"short": "test_batch.bin"}, "expected 2 records"),
    ],
)
def test_cifar_archive_with_missing_member_or_wrong_record_size_is_rejected(monkeypatch, kwargs, message):
    monkeypatch.setattr(cifar10, "RECORDS_PER_BATCH", 2)
    with pytest.raises(ValueError, match=message):
        cifar10.parse(_cifar_archive(**kwargs)[0])


def test_cifar_download_is_checked_against_the_published_md5(server, data_dir, monkeypatch):
    monkeypatch.setattr(cifar10, "RECORDS_PER_BATCH", 2)
    monkeypatch.setattr(cifar10, "URLS", (server + cifar10.FILENAME,))
    payload, _ = _cifar_archive()
    SERVED[cifar10.FILENAME] = payload
    with pytest.raises(DataUnavailableError, match="MD5 mismatch"):  # the tiny archive is not the real file
        cifar10.load(fast=False)
    monkeypatch.setattr(cifar10, "MD5", hashlib.md5(payload).hexdigest())
    (x_train, _), (_x_test, _), _ = cifar10.load(fast=False)
    assert x_train.shape == (10, 32, 32, 3) and (data_dir / "cifar10" / cifar10.FILENAME).is_file()


def test_cifar_offline_full_mode_is_a_clear_error(data_dir, monkeypatch):
    monkeypatch.setattr(cifar10, "URLS", ("http://127.0.0.1:9/cifar-10-binary.tar.gz",))
    with pytest.raises(DataUnavailableError, match=r"(?s)needed in full mode.*cifar\.html"):
        cifar10.load(fast=False)


@needs_fashion
def test_cifar_offline_fast_mode_announces_a_stand_in_of_the_same_shapes(data_dir, monkeypatch):
    monkeypatch.setattr(cifar10, "URLS", ("http://127.0.0.1:9/cifar-10-binary.tar.gz",))
    monkeypatch.setenv("DLPHYS_MIRROR", str(MIRROR))
    with pytest.warns(cifar10.StandInWarning, match="STAND-IN"):
        (x_train, y_train), (x_test, y_test), names = cifar10.load(fast=True)
    assert x_train.shape[1:] == (32, 32, 3) and x_train.dtype == np.uint8 and x_test.shape[1:] == (32, 32, 3)
    assert len(names) == 10 and set(np.unique(y_train)) == set(range(10))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(cifar10.stand_in(seed=0).test[1], y_test)
