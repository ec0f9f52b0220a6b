"""The generated-dataset cache: keys, atomic writes, integrity."""

import numpy as np
import pytest

from dlphys.datasets import _cache


def _build_counter():
    calls = []

    def build():
        calls.append(1)
        return {"x": np.arange(10.0), "y": np.ones((2, 3), dtype=np.int8)}

    return build, calls


def test_second_call_reads_the_cache(data_dir):
    build, calls = _build_counter()
    first = _cache.cached("demo", {"n": 10}, build)
    second = _cache.cached("demo", {"n": 10}, build)
    assert len(calls) == 1
    np.testing.assert_array_equal(first["y"], second["y"])


def test_parameters_and_version_change_the_key(data_dir):
    assert _cache.cache_path("d", {"n": 1}, 1) != _cache.cache_path("d", {"n": 2}, 1)
    assert _cache.cache_path("d", {"n": 1}, 1) != _cache.cache_path("d", {"n": 1}, 2)


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_corrupt_cache_file_is_detected_and_rebuilt(data_dir, damage):
    build, calls = _build_counter()
    _cache.cached("demo", {}, build)
    path = _cache.cache_path("demo", {}, 1)
    raw = bytearray(path.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) // 2]
    else:  # flip a byte of array data: zip CRCs or our SHA-256 must notice
        raw[100] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.warns(_cache.CorruptCacheWarning):
        out = _cache.cached("demo", {}, build)
    assert len(calls) == 2
    np.testing.assert_array_equal(out["x"], np.arange(10.0))
    _cache.load_arrays(path)  # the rebuilt file is valid


def test_failed_build_leaves_no_file(data_dir):
    def broken():
        raise RuntimeError("simulation crashed")

    with pytest.raises(RuntimeError):
        _cache.cached("demo", {}, broken)
    assert not _cache.cache_path("demo", {}, 1).exists()
