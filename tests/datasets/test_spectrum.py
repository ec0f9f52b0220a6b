"""The unfolding toy: exact truth and detector-level densities, and samples that follow them."""

import numpy as np
import pytest
from scipy import integrate, stats

from dlphys.datasets import spectrum


@pytest.mark.parametrize("kind", spectrum.KINDS)
def test_the_densities_integrate_to_one(kind):
    t = np.linspace(spectrum.T_MIN, spectrum.T_MAX, 20001)
    assert abs(integrate.trapezoid(spectrum.truth_density(t, kind), t) - 1) < 1e-6
    r = np.linspace(17.6, 20.8, 8001)
    assert abs(integrate.trapezoid(spectrum.reco_density(r, kind), r) - 1) < 1e-5


def test_the_data_have_the_ankle_and_the_simulation_a_single_power_law():
    t = np.array([18.3, 18.5, 19.2, 19.6])
    for kind, slopes in (("simulation", (2.3, 2.3)), ("data", (2.6, 1.8))):
        log_p = np.log10(spectrum.truth_density(t, kind))
        assert np.allclose(-np.diff(log_p)[[0, 2]] / np.diff(t)[[0, 2]], slopes)


@pytest.mark.parametrize("kind", spectrum.KINDS)
def test_samples_follow_the_truth_and_detector_densities(kind):
    events = spectrum.simulate(50_000, kind, seed=4)
    t = np.linspace(spectrum.T_MIN, spectrum.T_MAX, 4001)
    cdf = integrate.cumulative_trapezoid(spectrum.truth_density(t, kind), t, initial=0)
    assert stats.kstest(events["truth"], lambda x: np.interp(x, t, cdf)).pvalue > 1e-3
    r = np.linspace(17.6, 20.8, 3201)
    cdf_r = integrate.cumulative_trapezoid(spectrum.reco_density(r, kind), r, initial=0)
    assert stats.kstest(events["reco"], lambda x: np.interp(x, r, cdf_r)).pvalue > 1e-3


def test_the_smearing_has_the_stated_bias_and_resolution():
    events = spectrum.simulate(200_000, "simulation", seed=5)
    low = events["truth"] < 18.3
    shift = (events["reco"] - events["truth"])[low]
    assert abs(shift.mean() - spectrum.bias(18.25)) < 0.002 and abs(shift.std() - spectrum.resolution(18.25)) < 0.002
    assert spectrum.resolution(18.2) == pytest.approx(0.08) and spectrum.resolution(20.2) == pytest.approx(0.05)


def test_the_refinement_weight_is_the_ratio_of_the_detector_level_samples():
    sim, data = spectrum.simulate(400_000, "simulation", 6), spectrum.simulate(100_000, "data", 7)
    bins = np.linspace(18.2, 19.0, 9)
    ratio = (np.histogram(data["reco"], bins)[0] / 1e5) / (np.histogram(sim["reco"], bins)[0] / 4e5)
    centres = 0.5 * (bins[1:] + bins[:-1])
    assert np.allclose(ratio, spectrum.refinement_weight(centres), rtol=0.05)
    assert np.allclose(
        spectrum.truth_weight(centres),
        spectrum.truth_density(centres, "data") / spectrum.truth_density(centres, "simulation"),
    )


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="kind"):
        spectrum.simulate(10, "mc")
    with pytest.raises(ValueError, match="positive integer"):
        spectrum.simulate(0)


def test_load_caches_the_default_samples(data_dir):
    first = spectrum.load(fast=True)
    assert first["sim_reco"].shape == (100_000,) and first["data_truth"].shape == (25_000,)
    assert np.array_equal(spectrum.load(fast=True)["data_reco"], first["data_reco"])


def test_many_values_at_once_use_a_spline_that_equals_the_quadrature():
    r = np.random.default_rng(8).uniform(17.6, 20.6, 5000)
    for kind in spectrum.KINDS:
        by_quadrature = np.concatenate([spectrum.reco_density(part, kind) for part in np.array_split(r, 5)])
        assert np.allclose(spectrum.reco_density(r, kind), by_quadrature, rtol=2e-6)
