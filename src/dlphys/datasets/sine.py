"""Sine-wave series: windows of noisy sine waves and their continuation, for recurrent networks.

Exercise 9.1 predicts how a time series continues. Each series is

    s(t) = A sin(2π f t + φ) + σ ε(t),    t = 0, 1, ..., length + horizon − 1,

with time ``t`` the sample index (dimensionless; one sample is one time step), a random
frequency ``f = 1 / T`` for a period ``T`` drawn uniformly in ``period`` (samples; at least 2,
the Nyquist limit), a phase ``φ`` uniform in [0, 2π), an amplitude ``A`` uniform in ``amplitude``
and white Gaussian measurement noise ``ε ~ N(0, 1)`` of standard deviation ``σ = noise`` (same
unit as A). The first ``length`` samples are the input ``x``, the next ``horizon`` the target
``y``; both carry the noise (they are measurements), and ``y_clean`` is the noiseless
continuation, the best any predictor can do (its mean squared error on ``y`` is ``σ²``).

Defaults: 50 input samples, 10 targets, periods 10–50 samples, amplitudes 0.5–1.5, σ = 0.05.

Validation (``tests/datasets/test_sine.py``): without noise the targets satisfy the sine
recurrence ``s(t+1) = 2 cos(2πf) s(t) − s(t−1)`` continued from the inputs.
"""

from __future__ import annotations

import numbers

import numpy as np

from dlphys import config
from dlphys.datasets import _cache

DEFAULTS = {"length": 50, "horizon": 10, "period": (10.0, 50.0), "amplitude": (0.5, 1.5), "noise": 0.05}
N_FULL, N_FAST = 20_000, 1_000


def simulate(
    n: int,
    length: int = DEFAULTS["length"],
    seed: int = 0,
    noise: float = DEFAULTS["noise"],
    *,
    horizon: int = DEFAULTS["horizon"],
    period=DEFAULTS["period"],
    amplitude=DEFAULTS["amplitude"],
) -> dict[str, np.ndarray]:
    """``n`` windows of sine waves and their next ``horizon`` values.

    Args:
        n: number of series.
        length: input samples per series.
        seed: seed of ``np.random.default_rng``.
        noise: standard deviation of the Gaussian noise on every sample (units of the amplitude).
        horizon: number of target samples following the window.
        period: ``(low, high)`` range of periods in samples, low >= 2.
        amplitude: ``(low, high)`` range of amplitudes, low >= 0.

    Returns:
        dict with ``x`` (n, length, 1) float32, ``y`` and ``y_clean`` (n, horizon) float32, and per
        series (n,) float32 ``frequency`` (cycles per sample), ``phase`` (rad), ``amplitude``.
    """
    for name, value, least in (("n", n, 1), ("length", length, 2), ("horizon", horizon, 1)):
        if not isinstance(value, numbers.Integral) or value < least:
            raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    if not (isinstance(noise, numbers.Real) and noise >= 0):
        raise ValueError(f"noise must be a non-negative standard deviation, got {noise!r}")
    (t_lo, t_hi), (a_lo, a_hi) = _pair("period", period), _pair("amplitude", amplitude)
    if not 2.0 <= t_lo <= t_hi:
        raise ValueError(f"period must be (low, high) samples with 2 <= low <= high, got {period!r}")
    if not 0.0 <= a_lo <= a_hi:
        raise ValueError(f"amplitude must be (low, high) with 0 <= low <= high, got {amplitude!r}")

    rng = np.random.default_rng(seed)
    frequency = 1.0 / rng.uniform(t_lo, t_hi, size=n)
    phase = rng.uniform(0.0, 2.0 * np.pi, size=n)
    amp = rng.uniform(a_lo, a_hi, size=n)
    t = np.arange(length + horizon)
    clean = amp[:, None] * np.sin(2.0 * np.pi * frequency[:, None] * t[None, :] + phase[:, None])
    series = clean + noise * rng.standard_normal(clean.shape)
    return {
        "x": series[:, :length, None].astype(np.float32),
        "y": series[:, length:].astype(np.float32),
        "y_clean": clean[:, length:].astype(np.float32),
        "frequency": frequency.astype(np.float32),
        "phase": phase.astype(np.float32),
        "amplitude": amp.astype(np.float32),
    }


def _pair(name, value) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (low, high) pair, got {value!r}") from None
    return lo, hi


def load(fast: bool | None = None, refresh: bool = False) -> dict[str, np.ndarray]:
    """The default series (20,000 windows; 1,000 in fast mode, seed 0) from the cache.

    Returns the dict of :func:`simulate` with its defaults. ``fast=None`` follows ``DLPHYS_FAST``.
    """
    fast = config.fast_mode() if fast is None else fast
    n = N_FAST if fast else N_FULL
    params = {"n": n, "seed": 0, **DEFAULTS}
    return _cache.cached("sine", params, lambda: simulate(n, seed=0), version=1, refresh=refresh)
