"""Fetch a data file: local cache → offline mirrors → download, validated before it is cached.

Used by loaders of real (not simulated) datasets. Every candidate file, wherever it comes from,
must pass a SHA-256 check and an optional content check before it is used; a damaged cache file
is reported and replaced; downloads are written atomically; offline with no mirror, the error
tells the user what to do instead of showing a raw ``urllib`` traceback.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Sequence
from http.client import HTTPException
from pathlib import Path

from tqdm import tqdm

from dlphys import config
from dlphys.datasets._cache import CorruptCacheWarning, atomic_write_bytes


class DataUnavailableError(RuntimeError):
    """A data file could be found neither in the cache, nor in a mirror, nor online."""


def sha256_bytes(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def _problem(
    payload: bytes, sha256: str | None, validate: Callable[[bytes], None] | None, md5: str | None = None
) -> str | None:
    """Why ``payload`` is not the expected file, or None when it is."""
    if sha256 is not None and sha256_bytes(payload) != sha256:
        return f"SHA-256 mismatch ({len(payload)} bytes, expected hash {sha256[:12]}...)"
    if md5 is not None and hashlib.md5(payload, usedforsecurity=False).hexdigest() != md5:
        return f"MD5 mismatch ({len(payload)} bytes, expected the published checksum {md5})"
    if validate is not None:
        try:
            validate(payload)
        except ValueError as exc:
            return f"content check failed: {exc}"
    return None


def _download(url: str, timeout: float, desc: str) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        chunks = []
        with tqdm(total=total, unit="B", unit_scale=True, desc=desc, leave=False) as bar:
            while chunk := response.read(1 << 16):
                chunks.append(chunk)
                bar.update(len(chunk))
    payload = b"".join(chunks)
    if total is not None and len(payload) != total:
        raise HTTPException(f"connection closed after {len(payload)} of {total} bytes")
    return payload


def fetch(
    filename: str,
    urls: Sequence[str],
    sha256: str | None = None,
    validate: Callable[[bytes], None] | None = None,
    subdir: str = "",
    timeout: float = 30.0,
    md5: str | None = None,
) -> Path:
    """Return the local path of a verified copy of ``filename``.

    Sources in order: the cache ``config.data_dir()/subdir/filename``; each directory of
    ``DLPHYS_MIRROR`` (looked up as ``mirror/subdir/filename`` and ``mirror/filename``); the
    ``urls``. A file is accepted only if its SHA-256 equals ``sha256`` (when given), its MD5 equals
    ``md5`` (when given: for files whose authors publish only an MD5) and ``validate(payload)``
    raises no ``ValueError`` (when given).

    Raises:
        DataUnavailableError: no source had a valid copy; the message lists what was tried
            and how to fix it.
    """
    target = config.data_dir() / subdir / filename
    tried: list[str] = []

    if target.exists():
        problem = _problem(target.read_bytes(), sha256, validate, md5)
        if problem is None:
            return target
        warnings.warn(f"cached {target} is damaged ({problem}); fetching it again", CorruptCacheWarning, stacklevel=2)
        target.unlink(missing_ok=True)

    for mirror in config.mirror_dirs():
        candidates = [c for c in dict.fromkeys([mirror / subdir / filename, mirror / filename]) if c.is_file()]
        if not candidates:
            tried.append(f"mirror {mirror}: no {filename}")
        for candidate in candidates:
            payload = candidate.read_bytes()
            problem = _problem(payload, sha256, validate, md5)
            if problem is None:
                atomic_write_bytes(target, payload)
                return target
            tried.append(f"mirror file {candidate}: {problem}")

    for url in urls:
        try:
            payload = _download(url, timeout, desc=filename)
        except (TimeoutError, urllib.error.URLError, HTTPException, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            tried.append(f"download {url}: {reason}")
            continue
        problem = _problem(payload, sha256, validate, md5)
        if problem is None:
            atomic_write_bytes(target, payload)
            return target
        tried.append(f"download {url}: {problem}")

    mirrors = config.mirror_dirs()
    raise DataUnavailableError(
        f"could not obtain {filename!r}.\n  tried:\n    - "
        + "\n    - ".join(tried or ["nothing"])
        + f"\n  to fix: connect to the internet, or copy {filename} into {target.parent}, or point "
        f"{config.MIRROR_ENV} at a directory that holds it"
        + ("" if mirrors else f" (it is unset; e.g. export {config.MIRROR_ENV}=/path/to/shared/data)")
        + "."
    )
