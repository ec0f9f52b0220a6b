"""Run-time configuration: the fast-mode switch, where data live, and seeding.

The **one** switch that makes everything small and quick is the environment variable
``DLPHYS_FAST``: ``DLPHYS_FAST=1`` (CI, ``make test``) selects small datasets and few epochs,
unset or ``0`` is full mode (what students run and benchmarks measure). Notebooks read it
through :func:`fast_mode` and :func:`pick`; dataset loaders honour it too.

Other environment variables:

``DLPHYS_DATA_DIR``
    the local data cache. Default: ``data/`` of the source checkout when dlphys runs from
    one, otherwise ``$XDG_CACHE_HOME/dlphys`` (``~/.cache/dlphys``).
``DLPHYS_MIRROR``
    offline mirror directories searched before any download, separated by ``os.pathsep``
    (``:`` on Linux/macOS). An instructor can serve a whole course offline with it.
``TF_CPP_MIN_LOG_LEVEL``
    TensorFlow's C++ log filter. Importing dlphys before TensorFlow (every notebook does, in its
    parameters cell) sets it to ``3`` unless it is already set, so that harmless C++ messages
    (e.g. one per ``fit`` about ``use_unbounded_threadpool`` in TF 2.21) do not fill the
    notebook. Python errors are unaffected; set it to ``0`` to see every message again.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np

FAST_ENV = "DLPHYS_FAST"
DATA_DIR_ENV = "DLPHYS_DATA_DIR"
MIRROR_ENV = "DLPHYS_MIRROR"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # read by TensorFlow when it is first imported

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def fast_mode() -> bool:
    """Return True when ``DLPHYS_FAST`` asks for the small, quick variant of everything."""
    value = os.environ.get(FAST_ENV, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"{FAST_ENV}={os.environ[FAST_ENV]!r} is not understood: use {FAST_ENV}=1 for fast mode "
        f"or {FAST_ENV}=0 (or leave it unset) for full mode."
    )


def pick(full, fast):
    """Return ``fast`` in fast mode and ``full`` otherwise, e.g. ``EPOCHS = pick(full=100, fast=3)``."""
    return fast if fast_mode() else full


def _checkout_root() -> Path | None:
    """The source checkout that contains this package, if dlphys runs from one."""
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file() and (root / "src" / "dlphys").is_dir():
        return root
    return None


def data_dir() -> Path:
    """The local data cache directory (created on demand)."""
    if os.environ.get(DATA_DIR_ENV):
        path = Path(os.environ[DATA_DIR_ENV]).expanduser()
    elif (root := _checkout_root()) is not None:
        path = root / "data"
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        path = Path(base) / "dlphys"
    path.mkdir(parents=True, exist_ok=True)
    return path


def mirror_dirs() -> list[Path]:
    """The offline mirror directories from ``DLPHYS_MIRROR``, in search order."""
    raw = os.environ.get(MIRROR_ENV, "")
    return [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]


def seed_everything(seed: int = 42, deterministic: bool = True) -> np.random.Generator:
    """Seed Python, NumPy and the Keras backend; return a NumPy ``Generator`` with the same seed.

    With ``deterministic=True`` TensorFlow is also asked for deterministic kernels, so a
    notebook run twice gives the same numbers.
    """
    random.seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    try:
        import keras
    except ImportError:  # pragma: no cover - keras is a hard dependency
        pass
    else:
        keras.utils.set_random_seed(seed)
        if deterministic and keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.experimental.enable_op_determinism()
    return np.random.default_rng(seed)
