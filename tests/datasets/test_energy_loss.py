"""Energy loss in silicon: PDG numbers for a minimum-ionising particle, and the exact references by quadrature."""

import numpy as np
import pytest
from scipy import stats

from dlphys.datasets import energy_loss

MIP_BG = 3.5  # βγ of minimum ionisation in silicon


def _p(bg, species="pion"):
    return bg * energy_loss.MASSES[energy_loss.SPECIES.index(species)] / 1e3


def test_bethe_minimum_is_the_pdg_value_for_silicon():
    """PDG table of silicon: minimum ionisation 1.664 MeV cm²/g (388 eV/µm); we allow 0.3 % for the grid in βγ."""
    bg = np.geomspace(1.0, 10.0, 4001)
    loss = energy_loss.bethe_mean_loss(_p(bg), "pion", thickness=300.0)  # keV
    per_mass = loss / (energy_loss.SILICON["density"] * 300e-4) / 1e3  # MeV cm²/g
    assert per_mass.min() == pytest.approx(1.664, rel=3e-3)
    assert 3.0 < bg[np.argmin(per_mass)] < 4.0
    assert per_mass.min() * energy_loss.SILICON["density"] * 100 == pytest.approx(388, rel=3e-3)  # eV/µm


def test_most_probable_loss_of_a_mip_in_300_um():
    """Δp ≈ 79 keV (0.26 keV/µm, ~21 800 electron-hole pairs at 3.6 eV), about 0.7 of the mean, ξ ≈ 5.8 keV."""
    p = _p(MIP_BG)
    delta_p = float(energy_loss.most_probable_loss(p, "pion"))
    assert 76.0 < delta_p < 84.0
    assert 0.65 < delta_p / float(energy_loss.bethe_mean_loss(p, "pion")) < 0.72
    assert float(energy_loss.xi(p, "pion")) == pytest.approx(5.80, abs=0.05)
    # Δp/x grows with thickness like ln x + const: 4 × thicker is 4(1 + ln 4/ ...) i.e. more than 4 × Δp
    assert float(energy_loss.most_probable_loss(p, "pion", thickness=1200.0)) > 4.4 * delta_p


def test_loss_depends_on_beta_gamma_only():
    """At equal βγ a pion, a kaon and a proton lose the same energy (up to nothing: W_max is not in Δp)."""
    for bg in (0.5, 1.0, 4.0):
        values = [float(energy_loss.most_probable_loss(_p(bg, s), s)) for s in energy_loss.SPECIES]
        assert np.allclose(values, values[0], rtol=1e-12)


def test_density_effect_is_continuous_and_approaches_its_asymptote():
    x0, x1 = energy_loss.SILICON["x0"], energy_loss.SILICON["x1"]
    for x in (x0, x1):
        below, above = energy_loss.density_effect(10 ** (x - 1e-9)), energy_loss.density_effect(10 ** (x + 1e-9))
        assert abs(below - above) < 2e-3  # Sternheimer's fit is continuous within its rounding (δ0 = 0.14)
    assert float(energy_loss.density_effect(10**4)) == pytest.approx(2 * np.log(10) * 4 - 4.4355)


def test_moyal_width_equals_landau_fwhm():
    """The Moyal scale gives the Landau FWHM of 4.018 ξ; SciPy's landau (if present, SciPy ≥ 1.15) agrees."""
    z = np.linspace(-5, 20, 250001)
    f = stats.moyal.pdf(z, scale=energy_loss.WIDTH_FACTOR)
    half = z[f >= f.max() / 2]
    assert half[-1] - half[0] == pytest.approx(4.018, rel=1e-4)
    if hasattr(stats, "landau"):
        g = stats.landau.pdf(z, scale=np.pi / 2)  # ξ = 1 in the PDG form of the Landau density
        half = z[g >= g.max() / 2]
        assert half[-1] - half[0] == pytest.approx(4.018, rel=2e-3)


def test_quadrature_matches_moyal_closed_forms_for_pions():
    """Mean loc + σ(γ_E + ln 2), median, mode loc, std σπ/√2, entropy: all to 1e-5 or better."""
    p = np.geomspace(0.2, 5.0, 7)
    exact = energy_loss.conditional_statistics(p, "pion")
    loc, scale = energy_loss.moyal_parameters(p, "pion")
    np.testing.assert_allclose(exact["mean"], stats.moyal.mean(loc, scale), rtol=1e-6)
    np.testing.assert_allclose(exact["std"], stats.moyal.std(loc, scale), rtol=1e-5)
    np.testing.assert_allclose(exact["median"], stats.moyal.median(loc, scale), rtol=1e-9)
    np.testing.assert_allclose(exact["mode"], loc, rtol=1e-6)
    np.testing.assert_allclose(exact["entropy"], stats.moyal.entropy(loc, scale), atol=1e-5)
    # the figures: mean and median lie 9-11 % and 6-7 % above the most probable value
    assert np.all((exact["mean"] / loc > 1.09) & (exact["mean"] / loc < 1.12))
    assert np.all((exact["median"] / loc > 1.055) & (exact["median"] / loc < 1.07))


def test_samples_follow_the_exact_quantiles_and_species_fractions():
    """200 000 particles: each quantile's coverage within 4 standard errors (at most 0.0045)."""
    d = energy_loss.simulate(200_000, seed=3)
    taus = (0.05, 0.5, 0.95)
    q = energy_loss.conditional_statistics(np.geomspace(0.2, 5.0, 400), quantiles=taus)["quantiles"]
    grid = np.log(np.geomspace(0.2, 5.0, 400))
    for j, tau in enumerate(taus):
        below = d["delta"] < np.interp(np.log(d["p"]), grid, q[:, j])
        assert abs(below.mean() - tau) < 4 * np.sqrt(tau * (1 - tau) / len(below))
    np.testing.assert_allclose(np.bincount(d["species"]) / len(d["species"]), energy_loss.FRACTIONS, atol=0.005)
    assert np.all((d["p"] >= 0.2) & (d["p"] <= 5.0))


def test_outliers_are_uniform_and_shift_mean_not_mode():
    d = energy_loss.simulate(100_000, "pion", seed=4, outlier_fraction=0.01)
    assert d["outlier"].mean() == pytest.approx(0.01, abs=0.0015)
    out = d["delta"][d["outlier"]]
    assert out.min() >= 0 and out.max() <= energy_loss.OUTLIER_MAX
    p = np.array([0.3, 1.0, 4.0])
    clean = energy_loss.conditional_statistics(p, "pion")
    noisy = energy_loss.conditional_statistics(p, "pion", outlier_fraction=0.01)
    # the mean moves by ε (500 keV − mean) ≈ 4 %; the mode does not move; the median by about 0.5 %
    np.testing.assert_allclose(noisy["mean"], 0.99 * clean["mean"] + 0.01 * 500.0, rtol=1e-5)
    np.testing.assert_allclose(noisy["mode"], clean["mode"], rtol=1e-5)
    assert np.all((noisy["median"] / clean["median"] - 1 > 0) & (noisy["median"] / clean["median"] - 1 < 0.01))


def test_species_posterior_is_normalised_and_calibrated():
    """Among particles with P(proton) in [0.4, 0.6] about half are protons (within 5 standard errors)."""
    d = energy_loss.simulate(200_000, seed=5)
    post = energy_loss.species_posterior(d["p"], d["delta"])
    np.testing.assert_allclose(post.sum(axis=1), 1.0, rtol=1e-12)
    middle = (post[:, 2] > 0.4) & (post[:, 2] < 0.6)
    assert middle.sum() > 200
    expected = post[middle, 2].mean()
    assert abs(np.mean(d["species"][middle] == 2) - expected) < 5 * np.sqrt(0.25 / middle.sum())


def test_expected_loss_minimisers_are_mean_and_median():
    p = np.array([0.25, 2.0])
    exact = energy_loss.conditional_statistics(p)
    np.testing.assert_allclose(energy_loss.minimise_expected_loss(np.square, p), exact["mean"], rtol=1e-5)
    # |r| has a kink: the trapezoid rule on the grid limits the median to about 2e-4 (measured 1.5e-4)
    np.testing.assert_allclose(energy_loss.minimise_expected_loss(np.abs, p), exact["median"], rtol=4e-4)


def test_mixture_entropy_is_the_expected_negative_log_density():
    """Monte Carlo: mean −ln f of 100 000 particles at one momentum equals the quadrature entropy (4 s.e.)."""
    p = 0.4
    d = energy_loss.simulate(100_000, seed=6, p_range=(p, p * (1 + 1e-9)))
    nll = -np.log(energy_loss.density(d["delta"], d["p"]))
    entropy = float(energy_loss.conditional_statistics(np.array([p]))["entropy"][0])
    assert abs(nll.mean() - entropy) < 4 * nll.std() / np.sqrt(len(nll))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, "positive integer"),
        ({"n": 10, "fractions": (0.5, 0.5, 0.5)}, "fractions"),
        ({"n": 10, "fractions": "muon"}, "unknown species"),
        ({"n": 10, "outlier_fraction": 1.5}, "outlier_fraction"),
        ({"n": 10, "p_range": (1.0, 0.5)}, "p_range"),
        ({"n": 10, "thickness": -1.0}, "thickness"),
    ],
)
def test_bad_input_gets_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        energy_loss.simulate(**kwargs)


def test_simulation_is_reproducible_and_load_is_cached(tmp_path, monkeypatch):
    a, b = energy_loss.simulate(1000, seed=9), energy_loss.simulate(1000, seed=9)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    monkeypatch.setenv("DLPHYS_DATA_DIR", str(tmp_path))
    first = energy_loss.load(fast=True)
    assert len(first["p"]) == energy_loss.N_FAST
    np.testing.assert_array_equal(energy_loss.load(fast=True)["delta"], first["delta"])
