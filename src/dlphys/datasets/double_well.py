"""A two-dimensional Boltzmann distribution with two wells, sampled exactly: a target for normalizing flows.

In coordinates (u, v) the energy (units of kT, so the density is e^{−U}) is

    U(u, v) = u⁴/4 − 3 u² + c·u + v²/2 ,

a double well along u, tilted by c, times a unit Gaussian along v. The data are the points rotated by 45°,
x = R(45°)·(u, v), so that neither axis of x separates the wells: x₁ = (u − v)/√2, x₂ = (u + v)/√2. With the
default tilt c = 0.2 the well at u < 0 holds 72.2 % of the probability and the one at u > 0 27.8 %; the barrier
between them lies 9.5 kT above the lower well's minimum.

Everything a generative model is judged against is known: :func:`log_partition` is ln Z = ln ∫ e^{−U} du dv by
quadrature (the v integral is √(2π)), :func:`log_density` is the exact normalised log density of x, so the mean
of −``log_density`` over a sample is the exact negative log-likelihood a flow or a VAE can only approach, and
:func:`well_fraction` is the exact weight of the lower well. :func:`simulate` draws u by inverting its
cumulative distribution, tabulated on a grid of 2·10⁵ steps of 6·10⁻⁵ (interpolation error below 10⁻⁸ in
probability), and v from a unit normal: independent exact samples, no Markov chain.

Validation (``tests/datasets/test_double_well.py``): the density integrates to 1 on a grid in x, the sample's
lower-well fraction and its u marginal agree with the quadrature (binomial and Kolmogorov–Smirnov tests).
"""

from __future__ import annotations

import functools
import numbers

import numpy as np
from scipy import integrate

from dlphys import config
from dlphys.datasets import _cache

TILT = 0.2
"""Default tilt c of the double well (units of kT)."""

N_FULL, N_FAST = 50_000, 5_000
_U_RANGE = (-6.0, 6.0)  # e^{−U} < 1e-40 outside: U(±6) = 216 ± 6c


def potential(x, tilt: float = TILT) -> np.ndarray:
    """The energy U (units of kT) at points ``x`` (..., 2) in the data's (rotated) coordinates."""
    u, v = _to_uv(x)
    return u**4 / 4 - 3 * u**2 + _tilt(tilt) * u + v**2 / 2


def log_density(x, tilt: float = TILT) -> np.ndarray:
    """The exact normalised log density ln p(x) = −U(x) − ln Z of points ``x`` (..., 2); returns shape (...)."""
    return -potential(x, tilt) - log_partition(tilt)


@functools.lru_cache(maxsize=32)
def log_partition(tilt: float = TILT) -> float:
    """ln Z = ln ∫∫ e^{−U(u, v)} du dv (dimensionless) by adaptive quadrature; the v integral is √(2π)."""
    c = _tilt(tilt)
    z_u, _ = integrate.quad(lambda u: np.exp(-_potential_u(u, c)), *_U_RANGE, points=_stationary(c), limit=200)
    return float(np.log(z_u) + 0.5 * np.log(2 * np.pi))


def barrier(tilt: float = TILT) -> float:
    """The position u of the barrier top between the wells (the middle root of U′(u) = u³ − 6u + c = 0)."""
    return float(_stationary(_tilt(tilt))[1])


def well_fraction(tilt: float = TILT) -> float:
    """The exact probability of the lower-u well, u < :func:`barrier` (0.722 for the default tilt)."""
    c = _tilt(tilt)
    left, _ = integrate.quad(lambda u: np.exp(-_potential_u(u, c)), _U_RANGE[0], barrier(c), limit=200)
    return float(left / np.exp(log_partition(c) - 0.5 * np.log(2 * np.pi)))


def well_of(x, tilt: float = TILT) -> np.ndarray:
    """0 for points ``x`` (..., 2) in the lower-u well, 1 for the other; shape (...), int."""
    u, _ = _to_uv(x)
    return (u >= barrier(tilt)).astype(int)


def simulate(n: int, tilt: float = TILT, seed=0) -> np.ndarray:
    """``n`` independent exact samples x (n, 2) float64 of p(x) ∝ e^{−U}; ``seed``: int or NumPy Generator."""
    if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer number of samples, got {n!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    grid, cdf = _u_table(_tilt(tilt))
    u = np.interp(rng.random(n), cdf, grid)
    v = rng.standard_normal(n)
    return np.column_stack([(u - v) / np.sqrt(2), (u + v) / np.sqrt(2)])


def load(fast: bool | None = None, refresh: bool = False) -> np.ndarray:
    """The default sample (50,000 points; 5,000 in fast mode; tilt 0.2, seed 0) from the cache, (n, 2)."""
    fast = config.fast_mode() if fast is None else fast
    n = N_FAST if fast else N_FULL
    params = {"n": n, "tilt": TILT, "seed": 0}
    stored = _cache.cached("double_well", params, lambda: {"x": simulate(n, TILT, seed=0)}, version=1, refresh=refresh)
    return stored["x"]


def _tilt(tilt) -> float:
    c = float(tilt)
    if not np.isfinite(c) or abs(c) > 5:
        raise ValueError(f"tilt must be a finite number in [-5, 5] (units of kT), got {tilt!r}")
    return c


def _to_uv(x) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=float)
    if x.ndim == 0 or x.shape[-1] != 2:
        raise ValueError(f"points must have shape (..., 2), got {x.shape}")
    return (x[..., 0] + x[..., 1]) / np.sqrt(2), (x[..., 1] - x[..., 0]) / np.sqrt(2)


def _potential_u(u, c):
    return u**4 / 4 - 3 * u**2 + c * u


def _stationary(c: float) -> np.ndarray:
    """The three real roots of U′(u) = u³ − 6u + c, increasing (|c| ≤ 5 keeps all three real)."""
    return np.sort(np.roots([1.0, 0.0, -6.0, c]).real)


@functools.lru_cache(maxsize=8)
def _u_table(c: float) -> tuple[np.ndarray, np.ndarray]:
    """The cumulative distribution of u on a fine grid (Simpson-accurate cumulative trapezoid)."""
    grid = np.linspace(*_U_RANGE, 200_001)
    energy = _potential_u(grid, c)
    density = np.exp(-(energy - energy.min()))
    cdf = integrate.cumulative_trapezoid(density, grid, initial=0.0)
    return grid, cdf / cdf[-1]
