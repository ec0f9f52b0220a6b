"""CIFAR-10: 60,000 colour 32×32 images in 10 classes (exercise 12.1).

50,000 training and 10,000 test images, 6,000 per class, uint8 RGB. Source: A. Krizhevsky,
"Learning Multiple Layers of Features from Tiny Images", tech. report, University of Toronto (2009).

Read from the **binary** distribution ``cifar-10-binary.tar.gz`` with NumPy (nothing downloaded is
ever unpickled): the archive holds ``data_batch_1.bin`` … ``data_batch_5.bin`` and
``test_batch.bin``, each 10,000 records of 3,073 bytes (one label byte, then the 1,024 red, 1,024
green and 1,024 blue pixel values of the image, rows first), and ``batches.meta.txt`` with the
class names. The archive is taken from the cache, the ``DLPHYS_MIRROR`` directories (as
``cifar10/<file>`` or ``<file>``) or the authors' address, and accepted only with the MD5 the
authors publish and with the expected members, record counts and labels 0-9.

CIFAR-10 cannot be had offline on the machines that run the tests. There, in **fast mode only**,
:func:`load` returns an announced *stand-in* of the same shapes and dtype (a ``StandInWarning`` says
so): Fashion-MNIST images (available offline) padded to 32×32 and given a random tint per image in 3
colour channels, with the Fashion-MNIST class names. It exercises the code of a notebook, not its physics
or accuracy. In full mode a missing CIFAR-10 is a ``DataUnavailableError`` that says how to get it.
"""

from __future__ import annotations

import io
import tarfile
import warnings

import numpy as np

from dlphys import config
from dlphys.datasets._download import DataUnavailableError, fetch
from dlphys.datasets._images import ImageData, fast_subset

FILENAME = "cifar-10-binary.tar.gz"
SUBDIR = "cifar10"
URLS = ("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",)
MD5 = "c32a1d4ab5d03f1284b67883e8d87530"  # published on the authors' page
TRAIN_MEMBERS = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_MEMBER = "test_batch.bin"
RECORDS_PER_BATCH = 10000
RECORD_BYTES = 1 + 32 * 32 * 3
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
FAST_SIZES = (6000, 1000)


class StandInWarning(UserWarning):
    """Fast mode uses a stand-in because the real CIFAR-10 is not available."""


def _members(payload: bytes) -> dict[str, bytes]:
    """Name (without directory) -> bytes of every regular file of the archive."""
    try:
        with tarfile.open(fileobj=io.BytesIO(payload), mode="r:gz") as archive:
            return {
                m.name.rsplit("/", 1)[-1]: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()
            }
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ValueError(f"not a complete .tar.gz archive ({type(exc).__name__}: {exc})") from None


def parse_batch(raw: bytes, name: str = "batch", records: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One binary batch -> images uint8 (records, 32, 32, 3), labels int64 (records,).

    ``records`` defaults to :data:`RECORDS_PER_BATCH` (10,000).
    """
    records = RECORDS_PER_BATCH if records is None else records
    if len(raw) != records * RECORD_BYTES:
        raise ValueError(
            f"{name} has {len(raw)} bytes, expected {records} records of {RECORD_BYTES} bytes "
            f"({records * RECORD_BYTES})"
        )
    table = np.frombuffer(raw, dtype=np.uint8).reshape(records, RECORD_BYTES)
    labels = table[:, 0].astype(np.int64)
    if labels.max() >= len(CLASS_NAMES):
        raise ValueError(f"{name} holds label {labels.max()}, outside 0..{len(CLASS_NAMES) - 1}")
    images = table[:, 1:].reshape(records, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def parse(payload: bytes) -> ImageData:
    """The whole archive -> ``ImageData``; ``ValueError`` names a missing member or a bad record."""
    members = _members(payload)
    missing = [m for m in (*TRAIN_MEMBERS, TEST_MEMBER) if m not in members]
    if missing:
        raise ValueError(f"archive lacks {missing} (is it the *binary* version, cifar-10-binary.tar.gz?)")
    train = [parse_batch(members[m], m) for m in TRAIN_MEMBERS]
    x_test, y_test = parse_batch(members[TEST_MEMBER], TEST_MEMBER)
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return ImageData((x_train, y_train), (x_test, y_test), CLASS_NAMES)


def _validate(payload: bytes) -> None:
    parse(payload)


def stand_in(seed: int = 0) -> ImageData:
    """Fast-mode stand-in of CIFAR-10's shapes: Fashion-MNIST, padded to 32×32, randomly tinted (RGB)."""
    from dlphys.datasets import fashion_mnist

    (x_train, y_train), (x_test, y_test), names = fashion_mnist.load(fast=True, seed=seed)
    rng = np.random.default_rng(seed)

    def colour(x):  # a random tint per image, independent of the class
        padded = np.pad(x, ((0, 0), (2, 2), (2, 2)))[..., None].astype(np.float32)
        return np.round(padded * rng.uniform(0.4, 1.0, size=(len(x), 1, 1, 3))).astype(np.uint8)

    return ImageData((colour(x_train), y_train), (colour(x_test), y_test), names)


def load(fast=None, seed: int = 0, refresh: bool = False) -> ImageData:
    """``(x_train, y_train), (x_test, y_test), class_names``: images uint8 (N, 32, 32, 3), labels (N,).

    Full mode: all 50,000 + 10,000 images; fast mode a random 6,000 + 1,000 (``seed``), or the
    announced stand-in when CIFAR-10 is not available (see the module docstring).

    ``refresh`` is accepted for the loaders' common signature: files are verified on every load.
    """
    fast = config.fast_mode() if fast is None else fast
    try:
        path = fetch(FILENAME, URLS, subdir=SUBDIR, md5=MD5, validate=_validate)
    except DataUnavailableError as exc:
        if not fast:
            raise DataUnavailableError(
                f"{exc}\n  CIFAR-10 ({FILENAME}, 163 MB) is needed in full mode: download it from "
                f"https://www.cs.toronto.edu/~kriz/cifar.html into {config.data_dir() / SUBDIR}, or into a "
                f"directory listed in {config.MIRROR_ENV}."
            ) from None
        warnings.warn(
            "CIFAR-10 is not available (offline): fast mode uses a STAND-IN of the same shapes, "
            "Fashion-MNIST images padded to 32x32 with a random tint, with Fashion-MNIST class "
            "names. Accuracies on it say nothing about CIFAR-10.",
            StandInWarning,
            stacklevel=2,
        )
        return stand_in(seed)
    return fast_subset(parse(path.read_bytes()), fast, *FAST_SIZES, seed=seed)
