"""Planing toy data: a resonance on a falling background, with mass-correlated features.

Data for exercise 13.1 (decorrelating a classifier from a mass-like variable): the invariant mass of a
narrow signal resonance on a smoothly falling background, and four further observables.
**Planing** (Chang, Cohen, Ostdiek 2018)
reweights training events so that the mass distribution of each class is flat; :func:`planing_weights`
computes such weights.

**Generator** (all parameters are keyword arguments of :func:`simulate`):

* feature 0, the mass ``m`` in GeV, in the window ``[60, 200]`` GeV: signal a Gaussian peak
  (mean 125 GeV, width 10 GeV, truncated to the window), background a falling exponential
  ``exp(−m / 40 GeV)`` truncated to the window (mean 95.6 GeV, std 31.2 GeV);
* features 1–3 (dimensionless), for background ``x_i = c_i ĝ(m) + sqrt(1 − c_i²) ε_i`` with
  ``ε_i ~ N(0, 1)`` and the *mass response* ``g(m) = exp(−(m − 125 GeV)² / 2 (25 GeV)²)``,
  standardised over the background (``ĝ``: mean 0, variance 1), modelled on jet-substructure
  variables (Dolen et al. 2016); ``corr(x_i, ĝ) = c_i`` with ``c = (0.8, 0.7, −0.6)``. For signal
  ``x_i ~ N(μ_i, 1)`` with ``μ = (1.0, 0.8, −0.8)``;
* feature 4: ``N(0, 1)`` for background and ``N(0.7, 1)`` for signal.

Labels ``y`` are drawn per event (1 = signal with probability ``signal_fraction``), so events
come in random order.

:func:`planing_weights` gives per-event weights ``w = N_c / (K_c h_c(bin))`` (``h_c`` the class's
mass histogram, ``K_c`` its number of non-empty bins): each class's weighted histogram is flat
and its total weight stays ``N_c``.

Validation: ``tests/datasets/test_planing.py``.

References:
    J. Dolen, P. Harris, S. Marzani, S. Rappoccio, N. Tran, "Thinking outside the ROCs: Designing
    decorrelated taggers (DDT) for jet substructure", JHEP 05 (2016) 156 (mass sculpting).
    S. Chang, T. Cohen, B. Ostdiek, "What is the machine learning?", Phys. Rev. D 97, 056009
    (2018), arXiv:1709.10106 (planing).
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy import special, stats

from dlphys import config
from dlphys.datasets import _cache

# np.trapz was renamed np.trapezoid in NumPy 2.0; TensorFlow < 2.18 needs NumPy 1.x.
_trapezoid = getattr(np, "trapezoid", None) or np.trapz  # noqa: NPY201

FEATURE_NAMES = ("mass", "x1", "x2", "x3", "x4")
DEFAULTS = {
    "window": (60.0, 200.0),  # GeV
    "signal_mass": 125.0,  # GeV
    "signal_width": 10.0,  # GeV
    "background_scale": 40.0,  # GeV, exponential slope
    "response_width": 25.0,  # GeV, width of the background features' mass response g(m)
    "correlations": (0.8, 0.7, -0.6),  # background corr(x1..x3, g(m))
    "signal_means": (1.0, 0.8, -0.8, 0.7),  # signal means of x1..x4
    "signal_fraction": 0.5,
}
N_FULL, N_FAST = 200_000, 10_000


def truncated_exponential_moments(scale: float, low: float, high: float) -> tuple[float, float]:
    """Mean and standard deviation of ``exp(−m/scale)`` restricted to ``[low, high]`` (same units)."""
    width = high - low
    tail = np.exp(-width / scale)
    mean_offset = scale - width * tail / (1.0 - tail)  # E[m - low]
    second = 2 * scale**2 - (width**2 + 2 * scale * width) * tail / (1.0 - tail)  # E[(m - low)^2]
    return low + mean_offset, float(np.sqrt(second - mean_offset**2))


def _response_moments(low, high, scale, centre, width) -> tuple[float, float]:
    """Mean and std of ``g(m) = exp(−(m − centre)² / 2 width²)`` over the truncated exponential."""
    m = np.linspace(low, high, 20_001)
    p = np.exp(-(m - low) / scale)
    p /= _trapezoid(p, m)
    g = np.exp(-((m - centre) ** 2) / (2 * width**2))
    mean = _trapezoid(p * g, m)
    return float(mean), float(np.sqrt(_trapezoid(p * (g - mean) ** 2, m)))


def _pair(name, value, length=2):
    try:
        values = tuple(float(v) for v in value)
    except TypeError:
        raise ValueError(f"{name} must be a sequence of {length} numbers, got {value!r}") from None
    if len(values) != length:
        raise ValueError(f"{name} must hold {length} numbers, got {len(values)}: {value!r}")
    return values


def simulate(
    n: int,
    seed: int = 0,
    *,
    window=DEFAULTS["window"],
    signal_mass: float = DEFAULTS["signal_mass"],
    signal_width: float = DEFAULTS["signal_width"],
    background_scale: float = DEFAULTS["background_scale"],
    response_width: float = DEFAULTS["response_width"],
    correlations=DEFAULTS["correlations"],
    signal_means=DEFAULTS["signal_means"],
    signal_fraction: float = DEFAULTS["signal_fraction"],
) -> dict[str, np.ndarray]:
    """``n`` events: ``x`` (n, 5) float32 (mass in GeV, then x1..x4), ``y`` (n,) int32 (1 = signal).

    Args:
        n: number of events.
        seed: seed of ``np.random.default_rng``.
        window: ``(low, high)`` mass window in GeV.
        signal_mass, signal_width: mean and standard deviation of the signal peak, GeV.
        background_scale: slope of the falling background ``exp(−m/scale)``, GeV.
        response_width: width in GeV of the background features' mass response ``g(m)``, a
            Gaussian centred on ``signal_mass``.
        correlations: Pearson correlations of background x1..x3 with ``g(m)``, each in (−1, 1).
        signal_means: signal means of x1..x4 (background means are 0, all widths 1).
        signal_fraction: probability that an event is signal, in [0, 1].

    Returns:
        dict with ``x``, ``y`` and ``feature_names`` (5,) str.
    """
    if not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a positive number of events, got {n!r}")
    low, high = _pair("window", window)
    if not 0 <= low < high:
        raise ValueError(f"window must be (low, high) GeV with 0 <= low < high, got {window!r}")
    if not signal_width > 0:
        raise ValueError(f"signal_width must be positive (GeV), got {signal_width!r}")
    if not response_width > 0:
        raise ValueError(f"response_width must be positive (GeV), got {response_width!r}")
    if not background_scale > 0:
        raise ValueError(f"background_scale must be positive (GeV), got {background_scale!r}")
    corr = np.array(_pair("correlations", correlations, 3))
    if np.any(np.abs(corr) >= 1):
        raise ValueError(f"correlations must lie in (-1, 1), got {correlations!r}")
    means = np.array(_pair("signal_means", signal_means, 4))
    if not 0.0 <= signal_fraction <= 1.0:
        raise ValueError(f"signal_fraction must lie in [0, 1], got {signal_fraction!r}")

    rng = np.random.default_rng(seed)
    y = (rng.random(n) < signal_fraction).astype(np.int32)
    sig = y == 1
    u = rng.random(n)
    m = np.empty(n)
    # background: inverse CDF of the truncated exponential
    tail = np.exp(-(high - low) / background_scale)
    m[~sig] = low - background_scale * np.log1p(-u[~sig] * (1.0 - tail))
    # signal: inverse CDF of the truncated Gaussian
    a, b = special.ndtr((np.array([low, high]) - signal_mass) / signal_width)
    m[sig] = signal_mass + signal_width * special.ndtri(a + u[sig] * (b - a))

    eps = rng.standard_normal((n, 4))
    x = np.empty((n, 5))
    x[:, 0] = m
    mean_g, std_g = _response_moments(low, high, background_scale, signal_mass, response_width)
    z = (np.exp(-((m[~sig] - signal_mass) ** 2) / (2 * response_width**2)) - mean_g) / std_g
    x[~sig, 1:4] = corr * z[:, None] + np.sqrt(1.0 - corr**2) * eps[~sig, :3]
    x[~sig, 4] = eps[~sig, 3]
    x[sig, 1:] = means + eps[sig]
    return {"x": x.astype(np.float32), "y": y, "feature_names": np.array(FEATURE_NAMES)}


def signal_probability(features, params: dict | None = None) -> np.ndarray:
    """Exact P(signal | x) of the generator's densities: the best classifier there is for these events.

    Args:
        features: (n, 5) events as :func:`simulate` returns them (mass in GeV, then x1..x4).
        params: the generator's parameters (keys of ``DEFAULTS``); default ``DEFAULTS``.

    Returns:
        (n,) float64 probabilities, from Bayes' theorem with the truncated signal Gaussian and background
        exponential in the mass, the Gaussian features of each class and the signal fraction as prior.
    """
    p = {**DEFAULTS, **(params or {})}
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 5:
        raise ValueError(f"features must have shape (n, 5) as simulate returns them, got {x.shape}")
    m, xs = x[:, 0], x[:, 1:]
    low, high = p["window"]
    centre, width, scale = p["signal_mass"], p["signal_width"], p["background_scale"]
    mean_g, std_g = _response_moments(low, high, scale, centre, p["response_width"])
    g_hat = (np.exp(-((m - centre) ** 2) / (2 * p["response_width"] ** 2)) - mean_g) / std_g
    corr = np.asarray(p["correlations"], dtype=np.float64)
    log_signal = stats.truncnorm.logpdf(
        m, (low - centre) / width, (high - centre) / width, loc=centre, scale=width
    ) + stats.norm.logpdf(xs, loc=np.asarray(p["signal_means"])).sum(axis=1)
    log_background = (
        stats.truncexpon.logpdf(m, b=(high - low) / scale, loc=low, scale=scale)
        + stats.norm.logpdf(xs[:, :3], loc=corr * g_hat[:, None], scale=np.sqrt(1 - corr**2)).sum(axis=1)
        + stats.norm.logpdf(xs[:, 3])
    )
    f = p["signal_fraction"]
    return 1.0 / (1.0 + np.exp(np.clip(log_background - log_signal, -50, 50)) * (1 - f) / f)


def planing_weights(x0, y, bins=40, range=None, reference=None) -> np.ndarray:
    """Per-event weights that make the histogram of ``x0`` flat for each class of ``y``.

    Args:
        x0: (n,) the variable to plane, e.g. the mass in GeV.
        y: (n,) integer class labels.
        bins: number of bins or a sequence of bin edges (same unit as ``x0``).
        range: ``(low, high)`` for integer ``bins``; default the range of the reference ``x0``.
        reference: optional ``(x0_ref, y_ref)`` whose histograms define the weights, to plane an
            independent sample (e.g. the test set with the training set's weights).

    Returns:
        (n,) float64 weights ``w = N_c / (K_c h_c(bin))`` with ``h_c`` the class's histogram of the
        reference sample, ``N_c`` its number of events in range and ``K_c`` its number of
        non-empty bins: each class's weighted histogram is flat at ``N_c / K_c`` per bin.
        Events outside the bins, or in a bin empty for their class in the reference, get weight 0.
    """
    x0, y = np.asarray(x0, dtype=np.float64), np.asarray(y)
    if x0.ndim != 1 or x0.shape != y.shape:
        raise ValueError(f"x0 and y must be 1-d arrays of one length, got shapes {x0.shape} and {y.shape}")
    ref_x, ref_y = (x0, y) if reference is None else (np.asarray(a) for a in reference)
    ref_x = np.asarray(ref_x, dtype=np.float64)
    if ref_x.ndim != 1 or ref_x.shape != np.shape(ref_y):
        raise ValueError(
            f"reference must be (x0, y) 1-d arrays of one length, got shapes {ref_x.shape} and {np.shape(ref_y)}"
        )
    if isinstance(bins, numbers.Integral) and bins < 1:
        raise ValueError(f"bins must be a positive number of bins or a sequence of edges, got {bins!r}")
    edges = np.histogram_bin_edges(ref_x, bins=bins, range=range)
    if len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError(f"bins must give increasing edges, got {edges!r}")

    def bin_index(values):
        idx = np.searchsorted(edges, values, side="right") - 1
        idx[values == edges[-1]] = len(edges) - 2  # the last bin includes its upper edge
        idx[(values < edges[0]) | (values > edges[-1])] = -1
        return idx

    ref_idx, idx = bin_index(ref_x), bin_index(x0)
    weights = np.zeros(len(x0))
    for c in np.unique(ref_y):
        counts = np.bincount(ref_idx[(ref_y == c) & (ref_idx >= 0)], minlength=len(edges) - 1)
        filled = counts > 0
        per_bin = np.zeros(len(counts))
        per_bin[filled] = counts.sum() / (filled.sum() * counts[filled])
        sel = (y == c) & (idx >= 0)
        weights[sel] = per_bin[idx[sel]]
    return weights


def load(fast: bool | None = None, refresh: bool = False) -> dict[str, np.ndarray]:
    """The default planing data set (200,000 events; 10,000 in fast mode, seed 0) from the cache.

    Returns the dict of :func:`simulate`. ``fast=None`` follows ``DLPHYS_FAST``.
    """
    fast = config.fast_mode() if fast is None else fast
    n = N_FAST if fast else N_FULL
    params = {"n": n, "seed": 0, **DEFAULTS}
    return _cache.cached("planing", params, lambda: simulate(n, seed=0), version=1, refresh=refresh)
