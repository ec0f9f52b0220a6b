"""The exact finite-lattice partition function (Kaufman 1949) and the temperature posterior built on it."""

import numpy as np
import pytest
from scipy.integrate import trapezoid

from dlphys.datasets import ising

TEMPERATURES = np.array([0.5, 1.0, 1.5, 2.0, ising.TC, 2.5, 3.0, 5.0, 50.0])


def _all_lattices(size):
    """Every ±1 configuration of size × size spins, (2^(L²), L, L)."""
    n = size * size
    bits = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
    return (2 * bits - 1).reshape(-1, size, size).astype(np.int8)


def _brute_log_z(temperatures, size):
    energy = ising.energy_per_spin(_all_lattices(size)) * size * size
    exponent = -energy[None, :] / np.asarray(temperatures)[:, None]
    top = exponent.max(axis=1)
    return top + np.log(np.exp(exponent - top[:, None]).sum(axis=1))


@pytest.mark.parametrize("size", [2, 3, 4])
def test_log_partition_function_equals_the_sum_over_all_configurations(size):
    exact = ising.log_partition_function(TEMPERATURES, size)
    assert np.allclose(exact, _brute_log_z(TEMPERATURES, size), rtol=0, atol=1e-12)


def test_the_energy_from_ln_z_is_onsagers_on_a_large_lattice():
    """u = −∂ ln Z / ∂β / L²; at L = 128 the finite-size correction is far below 1e-8 away from Tc."""
    size, h = 128, 1e-5
    for t in (1.5, 2.0, 3.0):
        beta = 1.0 / t
        up = ising.log_partition_function(1.0 / (beta + h), size)
        down = ising.log_partition_function(1.0 / (beta - h), size)
        u = -(up - down) / (2 * h) / size**2
        assert u == pytest.approx(ising.onsager_energy(t), abs=1e-7)


def test_log_partition_function_stays_finite_where_the_products_overflow():
    values = ising.log_partition_function(np.linspace(0.2, 10.0, 50), 64)
    # d ln Z / dT = ⟨E⟩ / T² < 0 for the ferromagnet at every T
    assert np.all(np.isfinite(values)) and np.all(np.diff(values) < 0)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        ising.log_partition_function(0.0, 4)


def test_posterior_equals_bayes_with_the_brute_force_likelihood():
    size, grid = 4, np.linspace(1.0, 4.0, 301)
    lattices = _all_lattices(size)[[0, 5, 300, 4097, 65535]]
    prior = np.exp(-((grid - 2.5) ** 2))
    post = ising.temperature_posterior(lattices, grid, prior=prior)
    energy = ising.energy_per_spin(lattices) * size * size
    log_like = -energy[:, None] / grid - _brute_log_z(grid, size)
    density = prior * np.exp(log_like - log_like.max(axis=1, keepdims=True))
    density /= trapezoid(density, grid, axis=1)[:, None]
    assert np.allclose(post["density"], density, rtol=1e-9, atol=1e-12)
    assert np.allclose(post["cdf"][:, -1], 1.0) and np.all(np.diff(post["cdf"], axis=1) >= 0)
    assert np.allclose(post["mean"], trapezoid(density * grid, grid, axis=1))


def test_posterior_of_simulated_lattices_covers_their_temperature():
    """Lattices drawn at T (the validated Wolff sampler): the true T falls below the posterior's CDF value u with
    frequency u (here: inside the central 68 % for about 68 % of them)."""
    temperatures = np.array([1.8, 2.2, 2.6, 3.0])
    spins, labels = ising.simulate(temperatures, 40, size=32, seed=3, progress=False)
    grid = np.linspace(1.2, 3.8, 1301)
    inside = []
    for t in temperatures:
        post = ising.temperature_posterior(spins[labels == t], grid)
        at_truth = np.array([np.interp(t, grid, cdf) for cdf in post["cdf"]])
        inside.append((at_truth > 0.16) & (at_truth < 0.84))
        assert np.all(post["std"] < 0.1 * t)  # one L = 32 lattice pins T to a few per cent (sharpest near Tc)
    fraction = np.mean(inside)
    assert 0.55 < fraction < 0.81, fraction  # 160 lattices: 0.68 ± 0.04


def test_posterior_rejects_bad_input_with_the_reason():
    with pytest.raises(ValueError, match="grid must be"):
        ising.temperature_posterior(np.ones((4, 4)), [2.0, 1.0, 3.0])
    with pytest.raises(ValueError, match="prior must be"):
        ising.temperature_posterior(np.ones((4, 4)), [1.0, 2.0, 3.0], prior=[1.0, -1.0, 1.0])
