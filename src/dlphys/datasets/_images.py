"""What the image loaders (``mnist``, ``fashion_mnist``, ``cifar10``) share: the IDX format, the
returned split, and the fast-mode subsample.

IDX (LeCun et al., the MNIST file format): a big-endian header ``0x00 0x00 <type> <ndim>``
(type ``0x08`` = unsigned byte), then ``ndim`` big-endian uint32 sizes, then the data in C order.
The files are distributed gzip-compressed. Checksums are taken of the *decompressed* bytes, so a
file re-compressed by a mirror (Debian's copy of Fashion-MNIST, say) is accepted when its content
is the original.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from typing import NamedTuple

import numpy as np

from dlphys import config


class ImageData(NamedTuple):
    """``(x_train, y_train), (x_test, y_test), class_names = loader.load()``.

    Images are uint8, shape (N, H, W) or (N, H, W, C), pixel values 0-255; labels int64 (N,).
    """

    train: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    class_names: tuple[str, ...]


def gunzip(payload: bytes) -> bytes:
    """The decompressed bytes of a gzip file; ``ValueError`` when it is not one or is cut short."""
    try:
        return gzip.decompress(payload)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"not a complete gzip file ({type(exc).__name__}: {exc})") from None


def parse_idx(raw: bytes) -> np.ndarray:
    """Decode uncompressed IDX bytes into a uint8 array; ``ValueError`` names what is wrong."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"bad IDX magic number {raw[:4].hex() or 'empty'} (expected 0000 08 0n)")
    if raw[2] != 0x08:
        raise ValueError(f"IDX data type 0x{raw[2]:02x} is not unsigned byte (0x08)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim < 1 or len(raw) < header:
        raise ValueError(f"IDX header for {ndim} dimensions is cut short ({len(raw)} bytes)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise ValueError(
            f"IDX of shape {shape} needs {expected} bytes, the file has {len(raw)} "
            f"({'truncated' if len(raw) < expected else 'trailing data'})"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def idx_validator(shape: tuple[int, ...], sha256: str | None = None, n_classes: int | None = None):
    """A ``validate(payload)`` for :func:`dlphys.datasets._download.fetch` of one gzipped IDX file.

    Checks the gzip stream, the IDX header and size against ``shape``, the SHA-256 of the
    decompressed bytes (when known) and, for label files, that every label is below ``n_classes``.
    """

    def validate(payload: bytes) -> None:
        raw = gunzip(payload)
        if sha256 is not None and hashlib.sha256(raw).hexdigest() != sha256:
            raise ValueError(
                f"SHA-256 of the decompressed content differs from the original "
                f"({hashlib.sha256(raw).hexdigest()[:12]}... instead of {sha256[:12]}...)"
            )
        array = parse_idx(raw)
        if array.shape != tuple(shape):
            raise ValueError(f"shape {array.shape}, expected {tuple(shape)}")
        if n_classes is not None and array.size and int(array.max()) >= n_classes:
            raise ValueError(f"label {int(array.max())} out of range 0..{n_classes - 1}")

    return validate


def read_idx_gz(path) -> np.ndarray:
    """The array of a (verified) gzipped IDX file on disk."""
    return parse_idx(gunzip(path.read_bytes()))


def fast_subset(data: ImageData, fast, n_train: int, n_test: int, seed: int = 0) -> ImageData:
    """In fast mode (``fast`` or ``DLPHYS_FAST``), a seeded random subset of ``n_train``/``n_test`` images."""
    if not (config.fast_mode() if fast is None else fast):
        return data
    rng = np.random.default_rng(seed)
    (x_train, y_train), (x_test, y_test) = data.train, data.test
    train = np.sort(rng.permutation(len(y_train))[:n_train])
    test = np.sort(rng.permutation(len(y_test))[:n_test])
    return ImageData((x_train[train], y_train[train]), (x_test[test], y_test[test]), data.class_names)
