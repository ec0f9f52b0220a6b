"""``ising.readout``, a detector that misreads each spin with a known probability (groundwork for chapter 19)."""

import numpy as np
import pytest
from scipy import stats

from dlphys.datasets import ising


@pytest.fixture(scope="module")
def lattices():
    spins, _ = ising.simulate([1.8, 2.4, 3.2], 20, size=16, seed=5, progress=False)
    return spins


def test_the_number_of_misread_spins_is_binomial(lattices):
    p = 0.1
    read = ising.readout(np.repeat(lattices, 20, axis=0), p, seed=1)
    flips = (read != np.repeat(lattices, 20, axis=0)).sum(axis=(1, 2))  # 1200 lattices of 256 spins
    counts = np.bincount(flips, minlength=60)[:60]
    expected = stats.binom.pmf(np.arange(60), 256, p) * len(flips)
    keep = expected > 5
    chi2 = ((counts[keep] - expected[keep]) ** 2 / expected[keep]).sum()
    assert stats.chi2.sf(chi2, keep.sum() - 1) > 1e-3
    assert abs(flips.mean() - 256 * p) < 4 * np.sqrt(256 * p * (1 - p) / len(flips))


@pytest.mark.parametrize("p", [0.05, 0.2])
def test_magnetisation_scales_by_one_minus_2p_and_energy_by_its_square(lattices, p):
    ordered = np.ones((4000, 16, 16), dtype=np.int8)
    read = ising.readout(ordered, p, seed=2)
    m = ising.magnetization(read)
    assert abs(m.mean() - (1 - 2 * p)) < 4 * m.std() / np.sqrt(len(m))
    energy = ising.energy_per_spin(read)
    assert abs(energy.mean() - (1 - 2 * p) ** 2 * -2.0) < 4 * energy.std() / np.sqrt(len(energy))
    # and for thermal lattices, on average over many readouts of the same lattices
    many = ising.readout(np.repeat(lattices, 200, axis=0), p, seed=3).reshape(len(lattices), 200, 16, 16)
    m_read = ising.magnetization(many).mean(axis=1)
    assert np.allclose(m_read, (1 - 2 * p) * ising.magnetization(lattices), atol=0.02)


def test_readout_is_reproducible_and_keeps_the_lattice_without_noise(lattices):
    assert np.array_equal(ising.readout(lattices, 0.0, seed=9), lattices)
    first, again = ising.readout(lattices, 0.1, seed=9), ising.readout(lattices, 0.1, seed=9)
    assert first.dtype == np.int8 and first.shape == lattices.shape and np.array_equal(first, again)
    assert not np.array_equal(first, ising.readout(lattices, 0.1, seed=10))
    assert set(np.unique(first)) == {-1, 1}


@pytest.mark.parametrize("p", [-0.1, 0.6, float("nan")])
def test_a_probability_outside_0_to_one_half_is_refused(lattices, p):
    with pytest.raises(ValueError, match="flip_probability"):
        ising.readout(lattices, p)


def test_spins_that_are_not_plus_minus_one_are_refused():
    with pytest.raises(ValueError, match="±1"):
        ising.readout(np.zeros((2, 4, 4)), 0.1)
