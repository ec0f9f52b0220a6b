"""Shared test set-up: fast mode, quiet TensorFlow, an isolated data cache, notebook timings."""

from __future__ import annotations

import os
import time
from collections import defaultdict

# Before TensorFlow is imported anywhere (also inherited by the nbval notebook kernels).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("DLPHYS_FAST", "1")
os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")

import matplotlib
import pytest

# Unit tests draw off-screen. Not through MPLBACKEND: the notebook kernels inherit the environment, and
# there the inline backend must render every figure, so that a plot that fails to draw fails the test.
matplotlib.use("Agg")


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """An empty, private data cache (``DLPHYS_DATA_DIR``) and no mirror, for one test."""
    monkeypatch.setenv("DLPHYS_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("DLPHYS_MIRROR", raising=False)
    return tmp_path / "cache"


# --- per-notebook wall-clock times for nbval runs --------------------------------------------------
_notebook_seconds: dict[str, float] = defaultdict(float)


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _notebook_seconds[path] += report.duration


def pytest_sessionstart(session):
    session.config._dlphys_start = time.perf_counter()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if _notebook_seconds:
        terminalreporter.section("notebook execution times (fast mode)")
        for path, seconds in sorted(_notebook_seconds.items()):
            terminalreporter.write_line(f"{seconds:8.1f} s  {path}")
        terminalreporter.write_line(f"{sum(_notebook_seconds.values()):8.1f} s  all notebooks (summed over workers)")
    start = getattr(config, "_dlphys_start", None)
    if start is not None:
        terminalreporter.write_line(f"total test wall time: {time.perf_counter() - start:.1f} s")
