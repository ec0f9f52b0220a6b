"""A cosmic-ray energy spectrum seen through a detector that smears: the simulation and "data" of an unfolding.

**Truth.** t = log₁₀(E/eV) on [:data:`T_MIN`, :data:`T_MAX`] = [18.2, 20.2]. The simulation follows one power law,
dN/dt ∝ 10^(−2.3 t) (dN/dE ∝ E^−3.3); the "data" have an ankle at t = 18.9, where the slope of dN/dt changes from
2.6 to 1.8 (dN/dE ∝ E^−3.6 below, E^−2.8 above): a toy with the ankle exaggerated so that an unfolding has
something to find. Both densities are normalised on the truth range; :func:`truth_density` gives them.

**Detector.** The reconstructed r = t + b(t) + σ(t) ε with ε ~ N(0, 1), a resolution σ(t) that improves from 0.08 dex
at 18.2 to 0.05 dex at 20.2 and a bias b(t) = +0.01 dex at 18.2 falling to 0 at 20.2 — of the size the classical
air-shower reconstruction of this package has (``dlphys.reco``, exercise 7.2: about 13 % in energy). No event is
lost: every simulated event has a reconstructed value.

**Exact references.** :func:`reco_density` is the density of r, ∫ dt p(t) N(r; t + b(t), σ(t)), by quadrature on
a grid of 4001 truth values (it integrates to 1 within 1e-6; for more than 2201 values of r at once, a cubic
spline through it, relative error below 2e-6); its ratio for data and simulation is the exact
refinement weight (:func:`refinement_weight`), which a data-versus-simulation classifier can at best learn;
:func:`truth_weight` is the truth-level ratio an unfolding recovers.

Validation (``tests/datasets/test_spectrum.py``): the densities integrate to 1; samples follow them (KS tests); the
smearing has the stated bias and width.
"""

from __future__ import annotations

import functools
import numbers

import numpy as np
from scipy import integrate, interpolate

from dlphys import config
from dlphys.datasets import _cache

T_MIN, T_MAX = 18.2, 20.2
ANKLE = 18.9
SLOPE_SIMULATION = 2.3
SLOPES_DATA = (2.6, 1.8)  # below and above the ankle
KINDS = ("simulation", "data")
N_FULL = {"simulation": 400_000, "data": 100_000}
N_FAST = {"simulation": 100_000, "data": 25_000}
_T_GRID = np.linspace(T_MIN, T_MAX, 4001)
_R_GRID = np.linspace(17.0, 21.4, 2201)  # r beyond it has a density below 1e-30


def resolution(t) -> np.ndarray:
    """σ(t) in dex: 0.08 at t = 18.2, falling linearly to 0.05 at t = 20.2."""
    return 0.08 - 0.015 * (np.asarray(t, dtype=float) - T_MIN)


def bias(t) -> np.ndarray:
    """b(t) in dex: +0.01 at t = 18.2, falling linearly to 0 at t = 20.2."""
    return 0.01 * (T_MAX - np.asarray(t, dtype=float)) / (T_MAX - T_MIN)


def truth_density(t, kind: str = "simulation") -> np.ndarray:
    """The normalised density of t = log₁₀(E/eV) (per unit t) for ``kind`` 'simulation' or 'data'; 0 outside."""
    t = np.asarray(t, dtype=float)
    density = np.exp(_log_shape(t, _kind(kind)) - _log_norm(kind))
    return np.where((t >= T_MIN) & (t <= T_MAX), density, 0.0)


def reco_density(r, kind: str = "simulation") -> np.ndarray:
    """The exact density of the reconstructed r (per unit r), by quadrature over the truth."""
    r = np.asarray(r, dtype=float)
    if r.size > _R_GRID.size:  # many values: a cubic spline through the quadrature on a grid of 0.002 (rel. 2e-6)
        return np.nan_to_num(_reco_spline(_kind(kind))(r), nan=0.0)
    return _reco_quadrature(r, kind)


def _reco_quadrature(r: np.ndarray, kind: str) -> np.ndarray:
    p_t = truth_density(_T_GRID, kind)
    sigma, mean = resolution(_T_GRID), _T_GRID + bias(_T_GRID)
    kernel = np.exp(-0.5 * ((r[..., None] - mean) / sigma) ** 2) / (np.sqrt(2 * np.pi) * sigma)
    return integrate.trapezoid(kernel * p_t, _T_GRID, axis=-1)


@functools.lru_cache(maxsize=2)
def _reco_spline(kind: str) -> interpolate.CubicSpline:
    return interpolate.CubicSpline(_R_GRID, _reco_quadrature(_R_GRID, kind), extrapolate=False)


def refinement_weight(r) -> np.ndarray:
    """The exact detector-level weight p_data(r)/p_simulation(r) that refines the simulation into the data."""
    return reco_density(r, "data") / reco_density(r, "simulation")


def truth_weight(t) -> np.ndarray:
    """The exact truth-level weight p_data(t)/p_simulation(t) (what an unfolding of the data recovers)."""
    return truth_density(t, "data") / truth_density(t, "simulation")


def simulate(n: int, kind: str = "simulation", seed=0) -> dict[str, np.ndarray]:
    """``n`` events of ``kind``: ``truth`` and ``reco`` (n,) float64, log₁₀(E/eV); ``seed``: int or Generator."""
    if not isinstance(n, numbers.Integral) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n must be a positive integer number of events, got {n!r}")
    kind = _kind(kind)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    truth = _sample_truth(rng.random(n), kind)
    reco = truth + bias(truth) + resolution(truth) * rng.standard_normal(n)
    return {"truth": truth, "reco": reco}


def load(fast: bool | None = None, refresh: bool = False) -> dict[str, np.ndarray]:
    """The default samples: ``sim_truth``, ``sim_reco`` (400,000 events; 100,000 fast) and ``data_truth``,
    ``data_reco`` (100,000; 25,000 fast), seeds 0 and 1, from the cache."""
    fast = config.fast_mode() if fast is None else fast
    sizes = N_FAST if fast else N_FULL

    def build():
        sim, data = simulate(sizes["simulation"], "simulation", 0), simulate(sizes["data"], "data", 1)
        return {
            "sim_truth": sim["truth"],
            "sim_reco": sim["reco"],
            "data_truth": data["truth"],
            "data_reco": data["reco"],
        }

    return _cache.cached("spectrum", dict(sizes), build, version=1, refresh=refresh)


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return kind


def _log_shape(t, kind: str) -> np.ndarray:
    """ln of the unnormalised density: ln 10 × (−slope × (t − ankle)), continuous at the ankle."""
    if kind == "simulation":
        return -np.log(10) * SLOPE_SIMULATION * (t - ANKLE)
    below, above = SLOPES_DATA
    return -np.log(10) * np.where(t < ANKLE, below, above) * (t - ANKLE)


def _segments(kind: str) -> list[tuple[float, float, float]]:
    """(start, end, slope) of the power-law pieces of ``kind``."""
    if kind == "simulation":
        return [(T_MIN, T_MAX, SLOPE_SIMULATION)]
    return [(T_MIN, ANKLE, SLOPES_DATA[0]), (ANKLE, T_MAX, SLOPES_DATA[1])]


def _segment_integrals(kind: str) -> np.ndarray:
    """∫ of the unnormalised density over each piece (analytic: a power law is an exponential in t)."""
    k = np.log(10)
    return np.array(
        [(np.exp(-k * s * (a - ANKLE)) - np.exp(-k * s * (b - ANKLE))) / (k * s) for a, b, s in _segments(kind)]
    )


def _log_norm(kind: str) -> float:
    return float(np.log(_segment_integrals(kind).sum()))


def _sample_truth(u: np.ndarray, kind: str) -> np.ndarray:
    """Inverse CDF of the piecewise power law, analytic per piece."""
    k = np.log(10)
    parts = _segment_integrals(kind)
    edges = np.concatenate([[0.0], np.cumsum(parts)]) / parts.sum()
    out = np.empty_like(u)
    for i, (a, _, s) in enumerate(_segments(kind)):
        inside = (u >= edges[i]) & (u <= edges[i + 1])
        mass = (u[inside] - edges[i]) * parts.sum()  # unnormalised mass above the piece's start
        out[inside] = a - np.log1p(-mass * k * s * np.exp(k * s * (a - ANKLE))) / (k * s)
    return out
