"""Dataset loaders and physics simulators, one module per dataset.

Every module has the same shape:

* ``simulate(..., seed=0)`` - pure function, NumPy in, NumPy out (generated datasets only);
* ``load(..., fast=None)`` - the default dataset from the cache in ``dlphys.config.data_dir()``,
  built on first use; ``fast=None`` follows the ``DLPHYS_FAST`` switch. Real data (wine, the
  image sets) come from the cache, the ``DLPHYS_MIRROR`` directories or a download, verified.

Build every cache with ``python -m dlphys.datasets generate all [--fast]`` (``make data``).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from dlphys.datasets._download import DataUnavailableError as DataUnavailableError  # raised by the loaders of real data

#: Every dataset module, in book order. ``load()`` of each builds its default cache.
NAMES = (
    "wine",
    "checkerboard",
    "mnist",
    "fashion_mnist",
    "cifar10",
    "sine",
    "ising",
    "airshower",
    "radio",
    "skymap",
    "planing",
    "energy_loss",
    "speckle",
    "double_well",
    "spectrum",
)


def get(name: str) -> ModuleType:
    """Return the dataset module called ``name`` (one of :data:`NAMES`)."""
    if name not in NAMES:
        raise ValueError(f"unknown dataset {name!r}; choose one of: {', '.join(NAMES)}")
    return importlib.import_module(f"dlphys.datasets.{name}")


def __getattr__(name: str) -> ModuleType:  # lazy submodule access: dlphys.datasets.ising
    if name in NAMES:
        return get(name)
    raise AttributeError(f"module 'dlphys.datasets' has no attribute {name!r}")
