"""Tests of the Ising phase-classification helpers (dlphys.reco.ising)."""

from __future__ import annotations

import numpy as np
import pytest

from dlphys.datasets import ising
from dlphys.reco import ising as R


def test_phase_labels_call_only_temperatures_below_tc_ordered():
    labels = R.phase_labels([1.0, 2.25, ising.TC, 2.3, 3.5])
    assert labels.tolist() == [1, 1, 0, 0, 0]
    assert labels.dtype == np.int64


def _lattices_with_magnetization(values, size=10):
    """Lattices (N, size, size) whose first k spins are -1 so that |m| = |1 - 2k/size²| = each value."""
    out = np.ones((len(values), size * size), dtype=np.int8)
    for row, m in zip(out, values, strict=False):
        row[: round((1 - m) / 2 * size * size)] = -1
    return out.reshape(-1, size, size)


def test_magnetization_cut_separates_separable_data_perfectly():
    m = np.array([0.02, 0.1, 0.2, 0.3, 0.6, 0.7, 0.9, 1.0])
    spins = _lattices_with_magnetization(m)
    labels = (m > 0.45).astype(int)
    cut = R.fit_magnetization_cut(spins, labels)
    # the midpoint between the largest disordered (0.3) and smallest ordered (0.6) value
    assert cut == pytest.approx(0.45)
    assert (R.magnetization_cut_predict(spins, cut) == labels).all()


def test_magnetization_cut_is_optimal_on_overlapping_data():
    rng = np.random.default_rng(3)
    m = np.concatenate([rng.uniform(0.0, 0.6, 40), rng.uniform(0.4, 1.0, 40)])
    labels = np.r_[np.zeros(40, int), np.ones(40, int)]
    spins = _lattices_with_magnetization(m, size=20)
    cut = R.fit_magnetization_cut(spins, labels)
    best = (R.magnetization_cut_predict(spins, cut) == labels).mean()
    # brute force over every observed |m| as a cut: none may do better
    m_obs = ising.magnetization(spins, absolute=True)
    brute = max(((m_obs > c) == labels).mean() for c in np.r_[-1.0, m_obs])
    assert best == pytest.approx(brute)
    assert 0.4 <= cut <= 0.6  # the overlap region of the two uniform distributions


def test_magnetization_cut_accepts_a_trailing_channel_axis_of_size_one():
    m = np.array([0.02, 0.1, 0.3, 0.6, 0.9, 1.0])
    spins = _lattices_with_magnetization(m)
    labels = (m > 0.45).astype(int)
    with_channel = spins.astype("float32")[..., np.newaxis]  # (N, L, L, 1), the layout of a Conv2D input
    cut = R.fit_magnetization_cut(spins, labels)
    # the channel axis carries no information: the same cut and the same labels, exactly
    assert R.fit_magnetization_cut(with_channel, labels) == cut
    assert R.magnetization_cut_predict(with_channel, cut).tolist() == R.magnetization_cut_predict(spins, cut).tolist()
    # a single lattice (L, L, 1) too; a lattice that is not square stays an error
    assert R.magnetization_cut_predict(with_channel[-1], cut).tolist() == [1]
    with pytest.raises(ValueError, match="shape"):
        R.magnetization_cut_predict(np.ones((2, 10, 10, 3)), cut)


def test_magnetization_cut_on_simulated_configurations_is_a_good_classifier():
    spins, T = ising.simulate([1.5, 2.0, 2.75, 3.5], 30, size=16, seed=5, progress=False)
    labels = R.phase_labels(T)
    cut = R.fit_magnetization_cut(spins, labels)
    # far from Tc the order parameter separates the phases of a 16×16 lattice almost perfectly
    assert (R.magnetization_cut_predict(spins, cut) == labels).mean() > 0.95
    assert 0.2 < cut < 0.9


def test_per_temperature_gives_means_and_standard_errors():
    T = np.array([2.0, 1.0, 2.0, 1.0, 2.0])
    v = np.array([1.0, 5.0, 3.0, 7.0, 5.0])
    temps, mean, err = R.per_temperature(T, v)
    assert temps.tolist() == [1.0, 2.0]
    assert mean == pytest.approx([6.0, 3.0])
    assert err == pytest.approx([np.std([5, 7], ddof=1) / np.sqrt(2), np.std([1, 3, 5], ddof=1) / np.sqrt(3)])


def test_crossing_temperature_finds_the_midpoint_of_a_logistic_step():
    temps = np.linspace(1.0, 3.5, 21)
    T = np.repeat(temps, 3)
    p = 1.0 / (1.0 + np.exp((T - 2.3) / 0.1))
    # the logistic is nearly linear within ±0.0625 of its midpoint: linear interpolation is good to 1e-3
    assert R.crossing_temperature(T, p) == pytest.approx(2.3, abs=1e-3)


def test_crossing_temperature_takes_the_first_downward_crossing_and_nan_without_one():
    T = np.array([1.0, 2.0, 3.0, 4.0])
    assert R.crossing_temperature(T, [1.0, 0.0, 0.6, 0.4]) == pytest.approx(1.5)
    assert np.isnan(R.crossing_temperature(T, [0.9, 0.8, 0.7, 0.6]))


def test_crossing_temperature_clamped_to_the_grid_when_the_mean_never_crosses():
    T = np.array([1.0, 2.0, 3.0, 4.0])
    assert R.crossing_temperature(T, [0.4, 0.9, 0.2, 0.1], clamp=True) == 1.0  # starts below: the lowest T
    assert R.crossing_temperature(T, [0.9, 0.8, 0.7, 0.6], clamp=True) == 4.0  # never below: the highest T
    assert R.crossing_temperature(T, [1.0, 0.0, 0.6, 0.4], clamp=True) == pytest.approx(1.5)
