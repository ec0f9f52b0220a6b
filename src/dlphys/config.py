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

TensorFlow 2.21 also writes start-up lines from C++ while it is imported ("All log messages before
absl::InitializeLog() ...", the oneDNN notice, "Could not find cuda drivers ..."), whatever
``TF_CPP_MIN_LOG_LEVEL`` says; Jupyter shows them in the cell that imports Keras. While that log level
is 1 or more, importing dlphys first silences exactly these lines during the import of TensorFlow
(:class:`_QuietTensorFlowImport`); any other line TensorFlow writes then is passed on to stderr.
NumPy-only notebooks never import TensorFlow: :func:`seed_everything` seeds Keras only when Keras
is already in use.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import random
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

FAST_ENV = "DLPHYS_FAST"
DATA_DIR_ENV = "DLPHYS_DATA_DIR"
MIRROR_ENV = "DLPHYS_MIRROR"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # read by TensorFlow when it is first imported

# TensorFlow's C++ start-up lines that TF_CPP_MIN_LOG_LEVEL does not stop (see the module docstring).
_STARTUP_NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\)"
    r"|^[IW]\d{4} [\d:.]+\s+\d+ \S+:\d+\] "  # absl INFO/WARNING lines: I0000 00:00:... port.cc:153] ...
)


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Import ``tensorflow`` once with the process's stderr (fd 2) captured; pass on all but start-up noise."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # one import only; let the real finders locate TensorFlow
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        self._loader = spec.loader
        spec.loader = self
        return spec

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        module.__spec__.loader = module.__loader__ = self._loader
        if os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0").strip() in ("", "0"):
            return self._loader.exec_module(module)
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):  # no usable fd 2 (some embedded interpreters): import as is
            return self._loader.exec_module(module)
        with tempfile.TemporaryFile(mode="w+b") as capture:
            os.dup2(capture.fileno(), 2)
            try:
                self._loader.exec_module(module)
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                capture.seek(0)
                kept = [
                    line
                    for line in capture.read().decode(errors="replace").splitlines(keepends=True)
                    if not _STARTUP_NOISE.search(line)
                ]
                if kept:
                    sys.stderr.write("".join(kept))


if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietTensorFlowImport) for f in sys.meta_path):
    sys.meta_path.insert(0, _QuietTensorFlowImport())

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
    """Seed Python, NumPy and, when Keras is imported, its backend; return a NumPy ``Generator``.

    Import Keras before calling it in a notebook that trains networks. The generator has the same seed.

    With ``deterministic=True`` TensorFlow is also asked for deterministic kernels, so a
    notebook run twice gives the same numbers.
    """
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 -- the legacy global generator that students' code may still use
    os.environ["PYTHONHASHSEED"] = str(seed)
    keras = sys.modules.get("keras")  # seed Keras only where it is in use: NumPy notebooks never load TF
    if keras is not None:
        keras.utils.set_random_seed(seed)
        # Keras < 3.13 keeps its global SeedGenerator (used by keras.random.* without a seed) across
        # set_random_seed; drop it, so that it is rebuilt from the seed just set, as newer Keras does.
        try:
            from keras.src.backend.common import global_state
        except ImportError:  # a future Keras that moved it resets the generator itself
            pass
        else:
            global_state.set_global_attribute("global_seed_generator", None)
        if deterministic and keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.experimental.enable_op_determinism()
    return np.random.default_rng(seed)
