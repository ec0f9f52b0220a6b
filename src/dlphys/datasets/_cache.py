"""The on-disk cache shared by every generated dataset.

A dataset is a mapping ``name -> np.ndarray``. It is stored as one ``.npz`` file whose name is
keyed by dataset, parameters and generator version, so changing any of them never returns stale
data. Writes are atomic (temporary file + ``os.replace``), and every file carries a SHA-256 of
its arrays: a truncated or corrupt file is detected, reported, deleted and rebuilt, never loaded.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from dlphys import config

_META = "__dlphys_meta__"


class CorruptCacheWarning(UserWarning):
    """A cache file failed its integrity check and is being rebuilt."""


def cache_key(name: str, params: Mapping, version: int) -> str:
    """A short, stable hash of dataset name, parameters and generator version."""
    blob = json.dumps({"name": name, "params": params, "version": version}, sort_keys=True, default=repr)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def arrays_digest(arrays: Mapping[str, np.ndarray]) -> str:
    """SHA-256 over names, dtypes, shapes and bytes of the arrays (order independent)."""
    h = hashlib.sha256()
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        h.update(f"{key}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def cache_path(name: str, params: Mapping, version: int) -> Path:
    """Where the dataset with these parameters is (or will be) cached."""
    return config.data_dir() / name / f"{name}-v{version}-{cache_key(name, params, version)}.npz"


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` so that readers see either the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file private (0600); a cache is data anyone who may read the folder may read
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_arrays(path: Path, arrays: Mapping[str, np.ndarray], params: Mapping | None = None) -> None:
    """Atomically save ``arrays`` with an integrity digest to ``path`` (``.npz``)."""
    if _META in arrays:
        raise ValueError(f"array name {_META!r} is reserved")
    meta = {"sha256": arrays_digest(arrays), "params": params or {}}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, **{_META: np.array(json.dumps(meta, default=repr))})
    atomic_write_bytes(path, buffer.getvalue())


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    """Load a file written by :func:`save_arrays`; raise ``ValueError`` if it is damaged."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    if _META not in arrays:
        raise ValueError(f"{path} has no integrity record")
    meta = json.loads(str(arrays.pop(_META)))
    if arrays_digest(arrays) != meta.get("sha256"):
        raise ValueError(f"{path} failed its SHA-256 integrity check")
    return arrays


def cached(
    name: str,
    params: Mapping,
    build: Callable[[], Mapping[str, np.ndarray]],
    version: int = 1,
    refresh: bool = False,
) -> dict[str, np.ndarray]:
    """Return the dataset ``name`` with ``params`` from the cache, building and caching it if needed.

    Args:
        name: dataset name, also the cache sub-directory.
        params: everything that determines the content (sizes, physics parameters, seed).
        build: zero-argument function that simulates the dataset and returns its arrays.
        version: generator version; bump it whenever ``build`` changes its output.
        refresh: ignore an existing cache file and build anew.
    """
    path = cache_path(name, params, version)
    if path.exists() and not refresh:
        try:
            return load_arrays(path)
        except ValueError as exc:
            warnings.warn(f"{exc}; rebuilding the cached dataset {name!r}.", CorruptCacheWarning, stacklevel=2)
            with contextlib.suppress(OSError):  # a read-only cache: rebuilt below, not stored
                path.unlink(missing_ok=True)
    arrays = {k: np.asarray(v) for k, v in build().items()}
    try:
        save_arrays(path, arrays, params)
    except OSError as exc:  # a read-only course folder (a grading sandbox, a shared hub image): use, don't store
        warnings.warn(f"could not store dataset {name!r} in the cache ({exc}); using it without caching", stacklevel=2)
    return arrays
