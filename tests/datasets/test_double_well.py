"""The double-well Boltzmann distribution: normalisation, exact well weights, and exact samples."""

import numpy as np
import pytest
from scipy import integrate, stats

from dlphys.datasets import double_well


@pytest.mark.parametrize("tilt", [0.0, 0.2, -1.0])
def test_the_density_integrates_to_one(tilt):
    axis = np.linspace(-7, 7, 1401)
    x = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1)
    density = np.exp(double_well.log_density(x, tilt))
    total = integrate.trapezoid(integrate.trapezoid(density, axis, axis=1), axis)
    assert abs(total - 1) < 1e-6


def test_the_default_wells_hold_the_documented_weights_and_a_symmetric_well_holds_half():
    assert round(double_well.well_fraction(), 3) == 0.722
    assert abs(double_well.well_fraction(0.0) - 0.5) < 1e-9
    assert double_well.well_fraction(-0.2) == pytest.approx(1 - double_well.well_fraction(0.2), abs=1e-9)


def test_the_barrier_is_the_maximum_between_the_two_minima():
    u = np.linspace(-1, 1, 20001)
    energy = u**4 / 4 - 3 * u**2 + 0.2 * u
    assert double_well.barrier() == pytest.approx(u[np.argmax(energy)], abs=1e-4)


def test_samples_have_the_exact_well_fraction_and_u_marginal():
    x = double_well.simulate(100_000, seed=3)
    lower = np.mean(double_well.well_of(x) == 0)
    p = double_well.well_fraction()
    assert abs(lower - p) < 4 * np.sqrt(p * (1 - p) / len(x))
    u = (x[:, 0] + x[:, 1]) / np.sqrt(2)
    z = np.exp(double_well.log_partition() - 0.5 * np.log(2 * np.pi))

    def cdf(values):
        return np.array([integrate.quad(lambda t: np.exp(-(t**4 / 4 - 3 * t**2 + 0.2 * t)), -6, b)[0] for b in values])

    knots = np.linspace(-6, 6, 481)
    exact = cdf(knots) / z
    assert abs(exact[-1] - 1) < 1e-9
    assert stats.kstest(u[:20_000], lambda t: np.interp(t, knots, exact)).pvalue > 1e-3


def test_v_is_a_unit_normal_and_independent_of_the_well():
    x = double_well.simulate(50_000, seed=4)
    v = (x[:, 1] - x[:, 0]) / np.sqrt(2)
    assert stats.kstest(v, "norm").pvalue > 1e-3
    well = double_well.well_of(x)
    assert abs(v[well == 0].std() - v[well == 1].std()) < 0.03


def test_the_mean_negative_log_density_of_a_sample_is_the_entropy():
    """−E[ln p] = ∫ p (−ln p): the exact NLL a generative model can only approach (a quadrature, not a sample)."""
    axis = np.linspace(-7, 7, 1401)
    x = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1)
    log_p = double_well.log_density(x)
    entropy = -integrate.trapezoid(integrate.trapezoid(np.exp(log_p) * log_p, axis, axis=1), axis)
    sample = -double_well.log_density(double_well.simulate(200_000, seed=5))
    assert abs(sample.mean() - entropy) < 4 * sample.std() / np.sqrt(len(sample))


def test_samples_are_reproducible_and_bad_input_is_refused():
    assert np.array_equal(double_well.simulate(10, seed=1), double_well.simulate(10, seed=1))
    with pytest.raises(ValueError, match="n must be"):
        double_well.simulate(0)
    with pytest.raises(ValueError, match="tilt"):
        double_well.simulate(10, tilt=float("nan"))
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        double_well.log_density(np.zeros((4, 3)))


def test_load_caches_the_default_sample(data_dir):
    first = double_well.load(fast=True)
    assert first.shape == (double_well.N_FAST, 2)
    assert np.array_equal(first, double_well.simulate(double_well.N_FAST, seed=0))
    assert np.array_equal(double_well.load(fast=True), first)
