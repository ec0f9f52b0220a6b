"""X-ray speckle generator: speckle statistics, scattering physics, data set and plot."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from dlphys.datasets import speckle
from dlphys.plotting import plot_image_pairs

# One fixed structure, so that every pattern of a call is a new speckle realisation of one clean pattern.
FIXED = {"radius": 8.0, "polydispersity": 0.1, "aspect": 1.3, "volume_fraction": 0.2, "angle": 0.5}


def _friedel(images):
    """``I(-q)`` of fftshift-layout images (..., N, N): pixel j <-> (N - j) mod N."""
    return np.roll(np.flip(images, axis=(-2, -1)), 1, axis=(-2, -1))


@pytest.fixture(scope="module")
def realisations():
    """400 speckle realisations of one clean pattern (about 1 s)."""
    return speckle.simulate(400, seed=3, photons=1e7, return_intensity=True, **FIXED)


def test_fully_coherent_speckle_has_unit_contrast():
    d = speckle.simulate(200, seed=1, return_intensity=True)
    contrast = speckle.speckle_contrast(d["intensity"], d["clean"], speckle_size=3.0)
    # ~180 independent speckles per pattern x 200 patterns: standard error of the contrast ~0.01
    assert contrast == pytest.approx(1.0, abs=0.04)


@pytest.mark.parametrize("modes", [2, 4])
def test_partially_coherent_speckle_contrast_is_one_over_sqrt_modes(modes):
    d = speckle.simulate(100, seed=2, modes=modes, return_intensity=True)
    contrast = speckle.speckle_contrast(d["intensity"], d["clean"])
    # gamma statistics of shape M; with ~18,000 independent speckles the relative error is < 1 %
    assert contrast == pytest.approx(1.0 / np.sqrt(modes), rel=0.04)


@pytest.mark.parametrize(("modes", "photons"), [(1, 5.0), (4, 20.0)])
def test_counts_contrast_above_min_photons_adds_poisson_to_speckle(modes, photons):
    """Counts of M-mode speckle of N expected photons: contrast² = 1/M + 1/N (negative binomial, Goodman 2007)."""
    d = speckle.simulate(100, seed=5, modes=modes, photons=1e6, **FIXED)
    clean = np.broadcast_to(d["clean"][:1], d["clean"].shape)  # FIXED: every pattern has the same clean pattern
    # only the pixels of N to 1.5 N expected photons: compare with the exact contrast, 1/N averaged over the band
    band = (clean > photons) & (clean < 1.5 * photons)
    assert band.sum() > 1000
    inverse_n = float(np.mean(1.0 / clean[band]))
    in_band = np.where(band, d["speckled"], 0.0)
    contrast = speckle.speckle_contrast(in_band, np.where(band, clean, 0.0), min_photons=photons)
    # thousands of independent speckles per band: statistical error about 1 %; without the Poisson term the
    # expected contrast would be 5 to 9 % lower
    assert contrast == pytest.approx(np.sqrt(1.0 / modes + inverse_n), rel=0.03)
    # the same counts without the cut include dim pixels: Poisson noise raises their contrast
    assert speckle.speckle_contrast(d["speckled"], clean) > contrast


def test_contrast_cut_that_leaves_no_pixel_is_an_error():
    clean = np.ones((1, 64, 64))
    with pytest.raises(ValueError, match="min_photons"):
        speckle.speckle_contrast(clean, clean, min_photons=5.0)
    with pytest.raises(ValueError, match="min_photons"):
        speckle.speckle_contrast(clean, clean, min_photons=-1.0)


def test_speckle_at_self_conjugate_points_is_real_gaussian_with_contrast_sqrt2(realisations):
    # q = 0 and the Nyquist points q = -q (mod N): the field is real Gaussian there, so I/<I> is
    # chi-squared with one degree of freedom, contrast sqrt(2) (Goodman 2007, polarised thermal light)
    points = (32, 32), (0, 32), (32, 0), (0, 0)
    ratio = np.concatenate([realisations["intensity"][:, i, j] / realisations["clean"][0, i, j] for i, j in points])
    # 1600 samples: standard error of the contrast ~0.07 (kurtosis 15 of chi2_1)
    assert ratio.std() / ratio.mean() == pytest.approx(np.sqrt(2.0), abs=0.2)


def test_mean_over_realisations_reproduces_the_clean_pattern(realisations):
    clean = realisations["clean"].astype(np.float64)
    assert np.ptp(clean, axis=0).max() == 0.0  # the fixed structure gives one clean pattern
    for key in ("intensity", "speckled"):
        ratio = realisations[key].astype(np.float64).mean(axis=0) / clean[0]
        # each pixel averages 400 exponential variates: relative scatter 1/sqrt(400) = 0.05 (Poisson
        # adds < 3 % at 1e7 photons); a wrong smearing kernel or symmetry would add a bias on top
        assert np.sqrt(np.mean((ratio - 1.0) ** 2)) < 0.06, key
        developed = speckle.developed_mask(64, 3.0)
        # ~180 independent speckles x 400 patterns: the mean ratio is known to ~0.4 %
        assert ratio[developed].mean() == pytest.approx(1.0, abs=0.015), key


def test_speckle_grain_has_the_requested_size(realisations):
    z = realisations["intensity"] / realisations["clean"] - 1.0
    mask = speckle.developed_mask(64, 3.0)
    sigma = 3.0 / speckle.FWHM_PER_SIGMA
    variance = np.mean(z[:, mask] ** 2)
    for lag in (1, 2, 3):
        both = mask[:, :-lag] & mask[:, lag:]
        corr = np.mean((z[:, :, :-lag] * z[:, :, lag:])[:, both]) / variance
        # Gaussian intensity autocorrelation exp(-lag^2 / 2 sigma^2); statistical error ~0.01
        assert corr == pytest.approx(np.exp(-(lag**2) / (2 * sigma**2)), abs=0.03), lag


def test_patterns_obey_friedels_law_and_photon_budget():
    d = speckle.simulate(20, seed=5, photons=2e5, return_intensity=True)
    clean, intensity = d["clean"], d["intensity"]
    assert clean.min() >= 0.0
    # a real electron density gives I(q) = I(-q); float32 storage limits the agreement to ~1e-6
    np.testing.assert_allclose(_friedel(clean), clean, rtol=1e-5, atol=1e-6 * clean.max())
    np.testing.assert_array_equal(_friedel(intensity), intensity)  # built symmetric, exactly
    np.testing.assert_allclose(clean.sum(axis=(1, 2)), 2e5, rtol=1e-5)  # float32 sums


def test_counts_are_non_negative_integers_with_poisson_variance():
    d = speckle.simulate(50, seed=6, photons=1e5, return_intensity=True)
    counts = d["speckled"]
    assert np.issubdtype(counts.dtype, np.integer) and counts.min() >= 0
    lam = d["intensity"].astype(np.float64)
    z = (counts - lam) / np.sqrt(np.maximum(lam, 1e-12))
    bright = lam > 20  # Poisson given the speckle intensity: standardised residuals have variance 1
    assert z[bright].mean() == pytest.approx(0.0, abs=0.02)
    assert z[bright].var() == pytest.approx(1.0, abs=0.03)


def test_sphere_form_factor_first_minimum_is_at_qr_4_49():
    assert speckle.sphere_amplitude(np.array([0.0, 4.4934]))[0] == 1.0
    assert abs(speckle.sphere_amplitude(np.array([4.4934]))[0]) < 1e-4
    d = speckle.simulate(1, seed=0, speckle_size=1.0, radius=10.0, polydispersity=0.0, aspect=1.0, volume_fraction=0.0)
    clean = d["clean"][0].astype(np.float64)
    k = np.arange(64) - 32
    r = np.rint(np.hypot(*np.meshgrid(k, k))).astype(int)
    profile = np.bincount(r.ravel(), clean.ravel()) / np.bincount(r.ravel())
    # q R = 4.493 at q = 0.449 nm^-1 = 9.0 pixels of 0.05 nm^-1 (1-pixel rings, slight smearing)
    assert 5 + np.argmin(profile[5:13]) == 9


@pytest.mark.parametrize("eta", [0.1, 0.3])
def test_percus_yevick_structure_factor_limits(eta):
    s0, s_far = speckle.hard_sphere_structure_factor(np.array([0.0, 200.0]), eta)
    assert s0 == pytest.approx((1 - eta) ** 4 / (1 + 2 * eta) ** 2, rel=1e-6)  # compressibility limit
    assert s_far == pytest.approx(1.0, abs=0.01)  # no correlations on short length scales


def test_same_seed_gives_same_patterns_and_other_seed_does_not():
    a, b = speckle.simulate(3, seed=7), speckle.simulate(3, seed=7)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    c = speckle.simulate(3, seed=8)
    assert not np.array_equal(a["speckled"], c["speckled"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n": 0}, "n must"),
        ({"n": 2, "size": 63}, "size must"),
        ({"n": 2, "modes": 0}, "modes must"),
        ({"n": 2, "photons": -1.0}, "photons must"),
        ({"n": 2, "speckle_size": 0.5}, "speckle_size must"),
        ({"n": 2, "radius": (5.0, 2.0)}, "radius must"),
        ({"n": 2, "polydispersity": 0.5}, "polydispersity must"),
        ({"n": 2, "volume_fraction": "dense"}, "volume_fraction must"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        speckle.simulate(**kwargs)


def test_load_gives_coherent_training_and_partially_coherent_experimental_sets(data_dir):
    train = speckle.load(fast=True)
    assert train["clean"].shape == train["speckled"].shape == (speckle.N_TRAIN_FAST, 64, 64)
    assert int(train["modes"]) == 1
    exp = speckle.load(fast=True, kind="experimental")
    assert exp["speckled"].shape == (speckle.N_EXPERIMENTAL_FAST, 64, 64) and int(exp["modes"]) == 4
    again = speckle.load(fast=True)  # from the cache file
    np.testing.assert_array_equal(again["speckled"], train["speckled"])
    assert len(list((data_dir / "speckle").glob("*.npz"))) == 2
    with pytest.raises(ValueError, match="kind must"):
        speckle.load(fast=True, kind="test")


def test_plot_image_pairs_labels_q_axes_and_shares_scales():
    d = speckle.simulate(3, seed=0)
    axes = plot_image_pairs(d["clean"], d["speckled"], n=3, q_pixel=0.05)
    assert axes.shape == (2, 3)
    assert axes[1, 0].get_xlabel() == "$q_x$ (nm$^{-1}$)" and "q_y" in axes[0, 0].get_ylabel()
    top, bottom = axes[0, 2].images[0], axes[1, 2].images[0]
    assert top.norm.vmin == bottom.norm.vmin and top.norm.vmax == bottom.norm.vmax
    assert axes[0, 0].images[0].get_extent()[1] == pytest.approx(31.5 * 0.05)
    with pytest.raises(ValueError, match="n must"):
        plot_image_pairs(d["clean"], d["speckled"], n=5)
    fig = plt.figure()
    axes = plot_image_pairs(d["speckled"], d["speckled"], n=2, log=False, ax=fig)
    assert axes.shape == (2, 2) and all(a.figure is fig for a in axes.ravel())
    plt.close("all")


def test_progress_bar_is_shown_on_request_and_changes_nothing(capsys):
    quiet = speckle.simulate(3, size=32, seed=3)
    shown = speckle.simulate(3, size=32, seed=3, progress=True)
    assert "speckle (M=1)" in capsys.readouterr().err
    np.testing.assert_array_equal(quiet["speckled"], shown["speckled"])
