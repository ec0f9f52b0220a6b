"""Fashion-MNIST: 70,000 greyscale 28×28 images of clothing in 10 classes (exercises 18.1, 20.1).

60,000 training and 10,000 test images, 6,000 / 1,000 per class, pixel values 0-255 (uint8).
Source: H. Xiao, K. Rasul, R. Vollgraf, "Fashion-MNIST: a Novel Image Dataset for Benchmarking
Machine Learning Algorithms", arXiv:1708.07747 (2017); Zalando Research, MIT licence.

The four IDX files are taken from the cache, then from the ``DLPHYS_MIRROR`` directories (as
``fashion-mnist/<file>`` or ``<file>``), then from the authors' download address. Each is accepted
only with the SHA-256 of the original decompressed content, a valid IDX header and the expected
shape, and labels 0-9; a damaged cache file is fetched again.
"""

from __future__ import annotations

import numpy as np

from dlphys.datasets._download import fetch
from dlphys.datasets._images import ImageData, fast_subset, idx_validator, read_idx_gz

SUBDIR = "fashion-mnist"
BASE_URLS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
)
#: file name -> (shape, SHA-256 of the decompressed IDX bytes)
FILES = {
    "train-images-idx3-ubyte.gz": ((60000, 28, 28), "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    "train-labels-idx1-ubyte.gz": ((60000,), "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    "t10k-images-idx3-ubyte.gz": ((10000, 28, 28), "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    "t10k-labels-idx1-ubyte.gz": ((10000,), "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
}
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
FAST_SIZES = (6000, 1000)  # training and test images in fast mode


def _read(filename: str) -> np.ndarray:
    shape, sha256 = FILES[filename]
    labels = len(shape) == 1
    path = fetch(
        filename,
        [base + filename for base in BASE_URLS],
        subdir=SUBDIR,
        validate=idx_validator(shape, sha256, n_classes=len(CLASS_NAMES) if labels else None),
    )
    array = read_idx_gz(path)
    return array.astype(np.int64) if labels else array


def load(fast=None, seed: int = 0, refresh: bool = False) -> ImageData:
    """``(x_train, y_train), (x_test, y_test), class_names``: images uint8 (N, 28, 28), labels (N,).

    Fast mode (``fast=True`` or ``DLPHYS_FAST=1``) returns a random subset of 6,000 training and
    1,000 test images drawn with ``seed``; full mode all 60,000 + 10,000 in the original order.

    ``refresh`` is accepted for the loaders' common signature: files are verified on every load.
    """
    names = list(FILES)
    data = ImageData((_read(names[0]), _read(names[1])), (_read(names[2]), _read(names[3])), CLASS_NAMES)
    return fast_subset(data, fast, *FAST_SIZES, seed=seed)
