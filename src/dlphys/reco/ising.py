"""The physicist's view of Ising phase classification: labels, the |m| cut, and the crossing temperature.

Shared by the phase-classification exercises (7.1 fully connected, 8.1 convolutional, 12.3 explained):

* :func:`phase_labels` — the label convention, 1 for the ordered phase (T < Tc) and 0 for the
  disordered one (T ≥ Tc), with Tc = 2/ln(1+√2) ≈ 2.269 J/k_B of the infinite lattice
  (:data:`dlphys.datasets.ising.TC`).
* :func:`fit_magnetization_cut` / :func:`magnetization_cut_predict` — the classical baseline: call a
  configuration ordered when its magnetisation per spin |m| = |Σ s_i| / L² exceeds a cut, the cut
  chosen to maximise the accuracy on the *training* set. |m| is the order parameter of the model:
  close to Onsager–Yang's m₀(T) below Tc, of order 1/L above. Both take spins (N, L, L) as
  ``ising.simulate`` returns them, or (N, L, L, 1) with the channel axis of a Keras ``Conv2D`` input.
* :func:`per_temperature` — mean and standard error of any per-configuration value at each
  temperature, e.g. a network's output P(ordered) averaged at fixed T, or the accuracy.
* :func:`crossing_temperature` — the temperature where such a mean falls through 1/2, linearly
  interpolated between the two neighbouring temperatures. For a classifier of the ordered phase it
  estimates the transition temperature of the lattice the classifier sees (Carrasquilla & Melko,
  Nature Physics 13 (2017) 431).
"""

from __future__ import annotations

import numpy as np

from dlphys.datasets.ising import TC, magnetization


def phase_labels(T, tc: float = TC) -> np.ndarray:
    """Labels (N,) int: 1 for the ordered phase (T < ``tc``), 0 for the disordered phase (T ≥ ``tc``).

    ``T`` (N,) temperatures in units of J/k_B; ``tc`` defaults to Onsager's 2/ln(1+√2).
    """
    return (np.asarray(T, dtype=float) < tc).astype(np.int64)


def _without_channel_axis(spins) -> np.ndarray:
    """``spins`` (..., L, L) unchanged; (..., L, L, 1), a lattice with one channel, without that axis."""
    s = np.asarray(spins)
    if s.ndim >= 3 and s.shape[-1] == 1 and s.shape[-3] == s.shape[-2] > 1:
        return s[..., 0]
    return s


def fit_magnetization_cut(spins, labels) -> float:
    """The cut on |m| that classifies ``spins`` (N, L, L) best against ``labels`` (N,) of 0/1.

    ``spins`` may also carry a trailing channel axis of size 1, (N, L, L, 1), as a CNN input does.

    A configuration counts as ordered (1) when |m| > cut. Every cut between two neighbouring
    sorted |m| values is tried; the best one (highest accuracy, the lowest such cut on a tie) is
    returned as the midpoint of its two neighbours, so it is a value of |m| in [0, 1].
    """
    m = magnetization(_without_channel_axis(spins), absolute=True)
    y = np.asarray(labels).astype(bool).ravel()
    if m.shape != y.shape:
        raise ValueError(f"need one label per configuration: spins give {m.shape[0]}, labels {y.shape[0]}")
    order = np.argsort(m, kind="stable")
    m, y = m[order], y[order]
    # a cut after the k lowest values calls those k disordered and the rest ordered
    disordered_right = np.concatenate([[0], np.cumsum(~y)])  # disordered among the k lowest
    ordered_right = y.sum() - np.concatenate([[0], np.cumsum(y)])  # ordered among the others
    correct = disordered_right + ordered_right
    distinct = np.concatenate([[True], m[1:] > m[:-1], [True]])  # a cut cannot split equal values
    k = int(np.argmax(np.where(distinct, correct, -1)))
    if k == 0:
        return float(max(m[0] - 1e-6, 0.0))
    if k == m.size:
        return float(m[-1])
    return float(0.5 * (m[k - 1] + m[k]))


def magnetization_cut_predict(spins, cut: float) -> np.ndarray:
    """Labels (N,) int of ``spins`` (N, L, L) or (N, L, L, 1) by the cut: 1 (ordered) where |m| > ``cut``."""
    m = magnetization(_without_channel_axis(spins), absolute=True)
    return (np.atleast_1d(m) > cut).astype(np.int64)


def per_temperature(T, values) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean of ``values`` (N,) at each temperature of ``T`` (N,): ``(temperatures, mean, error)``.

    ``temperatures`` are the sorted distinct values of T; ``error`` is the standard error of the
    mean (samples taken as independent; 0 where a temperature has a single sample).
    """
    T = np.asarray(T, dtype=float).ravel()
    values = np.asarray(values, dtype=float).ravel()
    if T.shape != values.shape:
        raise ValueError(f"need one value per temperature: T has shape {T.shape}, values {values.shape}")
    temps, index, counts = np.unique(T, return_inverse=True, return_counts=True)
    mean = np.bincount(index, values) / counts
    square = np.bincount(index, values**2) / counts
    var = np.clip(square - mean**2, 0.0, None) * counts / np.maximum(counts - 1, 1)
    return temps, mean, np.sqrt(var / counts)


def crossing_temperature(T, p, level: float = 0.5, clamp: bool = False) -> float:
    """Temperature where the mean of ``p`` at fixed T first falls through ``level``, going up in T.

    ``T`` (N,) temperatures [J/k_B] and ``p`` (N,) per-configuration values (e.g. P(ordered) of a
    classifier). The means per temperature are interpolated linearly between the last temperature
    at or above ``level`` and the next one below it. Returns NaN when the mean never crosses; with
    ``clamp``, the lowest temperature when the mean starts below ``level`` and the highest when it
    never falls below it (a classifier that calls everything disordered, or everything ordered).
    """
    temps, mean, _ = per_temperature(T, p)
    if clamp and mean[0] < level:
        return float(temps[0])
    down = np.flatnonzero((mean[:-1] >= level) & (mean[1:] < level))
    if down.size == 0:
        return float(temps[-1]) if clamp else float("nan")
    i = down[0]
    t0, t1, p0, p1 = temps[i], temps[i + 1], mean[i], mean[i + 1]
    return float(t0 + (p0 - level) / (p0 - p1) * (t1 - t0))
