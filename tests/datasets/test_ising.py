"""Ising-model dataset: exact results, Wolff sampling against Onsager/Yang, decorrelation, cache."""

import warnings

import numpy as np
import pytest
from numpy.polynomial.legendre import leggauss

from dlphys.datasets import _cache, ising

L = 32
N_SAMPLES = 2000
TEST_TEMPERATURES = (1.5, 2.0, 3.0, 3.5)


@pytest.fixture(scope="module")
def samples():
    """2000 configurations of 32 × 32 at each test temperature (about 1 s with compiled kernels)."""
    spins, t = ising.simulate(TEST_TEMPERATURES, N_SAMPLES, size=L, seed=11, progress=False)
    return {temp: spins[t == temp] for temp in TEST_TEMPERATURES}


def mean_and_error(series):
    """Mean and its standard error, inflated by the integrated autocorrelation time."""
    tau = max(1.0, ising.integrated_autocorrelation_time(series))
    return series.mean(), series.std(ddof=1) * np.sqrt(tau / series.size)


# --- exact results -------------------------------------------------------------------------------
def test_observables_of_known_configurations_are_exact():
    up = np.ones((4, 4), dtype=np.int8)
    checker = np.indices((4, 4)).sum(axis=0) % 2 * 2 - 1
    one_down = up.copy()
    one_down[1, 2] = -1
    assert ising.energy_per_spin(up) == -2.0
    assert ising.energy_per_spin(checker) == 2.0
    assert ising.energy_per_spin(one_down) == -2.0 + 8 / 16  # four broken bonds, 2J each
    np.testing.assert_array_equal(ising.energy_per_spin(np.stack([up, checker])), [-2.0, 2.0])
    assert ising.magnetization(-up) == -1.0 and ising.magnetization(-up, absolute=True) == 1.0
    assert ising.magnetization(checker) == 0.0
    assert ising.magnetization(one_down) == 14 / 16


def test_int8_lattices_do_not_overflow_in_sums():
    big = np.ones((2, 64, 64), dtype=np.int8)  # 4096 bonds per direction: far beyond int8's range
    np.testing.assert_array_equal(ising.energy_per_spin(big), [-2.0, -2.0])
    np.testing.assert_array_equal(ising.magnetization(big), [1.0, 1.0])


def test_onsager_energy_is_the_derivative_of_onsagers_free_energy():
    # -βf = ln 2 + 1/(2π²) ∫∫ ln[cosh²(2β) - sinh(2β)(cos θ1 + cos θ2)] dθ1 dθ2 over [0, π]²;
    # u = -d(-βf)/dβ by central differences. Quadrature and differencing are good to ~1e-8, and a
    # wrong elliptic-integral convention (modulus k instead of parameter m = k²) is off by ~1e-2.
    x, w = leggauss(400)
    theta, w = (x + 1) * np.pi / 2, w * np.pi / 2
    cos_sum = np.cos(theta)[:, None] + np.cos(theta)[None, :]

    def minus_beta_f(beta):
        integrand = np.log(np.cosh(2 * beta) ** 2 - np.sinh(2 * beta) * cos_sum)
        return np.log(2.0) + (w[:, None] * w[None, :] * integrand).sum() / (2 * np.pi**2)

    for temperature in (1.5, 2.0, 3.0, 3.5):
        beta, h = 1 / temperature, 1e-5
        u = -(minus_beta_f(beta + h) - minus_beta_f(beta - h)) / (2 * h)
        assert ising.onsager_energy(temperature) == pytest.approx(u, abs=1e-7)


def test_onsager_energy_limits():
    # u(Tc) = -√2 exactly (the elliptic integral diverges there, its prefactor vanishes)
    assert ising.onsager_energy(ising.TC) == pytest.approx(-np.sqrt(2), abs=1e-12)
    assert ising.onsager_energy([ising.TC * (1 - 1e-9), ising.TC * (1 + 1e-9)]) == pytest.approx(-np.sqrt(2), abs=1e-6)
    # low-T series u = -2 + 8 e^{-8β} + 24 e^{-12β} + O(e^{-16β}); at T = 1 the rest is ~1e-5
    assert ising.onsager_energy(1.0) == pytest.approx(-2 + 8 * np.exp(-8) + 24 * np.exp(-12), abs=3e-5)
    assert ising.onsager_energy(50.0) == pytest.approx(-2 * np.tanh(1 / 50), rel=1e-3)  # high-T leading term


def test_yang_magnetization_limits():
    # low-T series m = 1 - 2 e^{-8β} - 8 e^{-12β} + O(e^{-16β}); at T = 1 the rest is ~1e-5
    assert ising.onsager_magnetization(1.0) == pytest.approx(1 - 2 * np.exp(-8) - 8 * np.exp(-12), abs=2e-5)
    m = ising.onsager_magnetization([1.0, 2.0, ising.TC - 1e-6, ising.TC, 3.0])
    assert np.all(np.diff(m) <= 0) and m[-2] == 0 and m[-1] == 0
    assert m[2] < 0.25  # critical exponent 1/8: m ≈ 1.22 (1 - T/Tc)^{1/8} ≈ 0.2 at 1 - T/Tc = 4e-7


# --- the sampler ---------------------------------------------------------------------------------
def test_shapes_dtypes_and_spin_values():
    spins, t = ising.simulate([1.5, 3.0, 2.0], 7, size=8, seed=3, progress=False)
    assert spins.shape == (21, 8, 8) and spins.dtype == np.int8
    assert set(np.unique(spins)) <= {-1, 1}
    assert t.shape == (21,) and t.dtype == np.float64
    np.testing.assert_array_equal(t, np.repeat([1.5, 3.0, 2.0], 7))


def test_same_seed_gives_identical_arrays_and_another_seed_does_not():
    a = ising.simulate([2.2, 3.0], 20, size=16, seed=5, progress=False)
    b = ising.simulate([2.2, 3.0], 20, size=16, seed=5, progress=False)
    c = ising.simulate([2.2, 3.0], 20, size=16, seed=6, progress=False)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert np.mean(a[0] != c[0]) > 0.2  # independent chains at T >= 2.2 disagree on ~half the spins


def test_progress_bar_names_the_temperatures(capsys):
    ising.simulate([2.0, 3.0], 2, size=4, progress=True)
    assert "Ising (Wolff)" in capsys.readouterr().err


@pytest.mark.parametrize("temperature", TEST_TEMPERATURES)
def test_energy_matches_onsager_away_from_tc(samples, temperature):
    mean, error = mean_and_error(ising.energy_per_spin(samples[temperature]))
    # 4 standard errors (about 1e-3 J here) plus 0.001 J for finite size: corrections on a periodic
    # 32 × 32 lattice decay like exp(-L/ξ) with ξ < 2 spacings at these temperatures (negligible).
    assert abs(mean - ising.onsager_energy(temperature)) < 4 * error + 1e-3


@pytest.mark.parametrize("temperature", (1.5, 2.0))
def test_abs_magnetization_matches_yang_below_tc(samples, temperature):
    mean, error = mean_and_error(ising.magnetization(samples[temperature], absolute=True))
    exact = ising.onsager_magnetization(temperature)
    # statistical: 4 standard errors (~2e-3 at T = 2). Finite size: <|m|> of a finite lattice lies
    # slightly *above* m0 (fluctuations away from zero cannot cancel); allow 0.01 upwards only.
    assert exact - 4 * error < mean < exact + 4 * error + 0.01


def test_abs_magnetization_above_tc_falls_like_one_over_size(samples):
    for temperature in (3.0, 3.5):
        m_abs = ising.magnetization(samples[temperature], absolute=True).mean()
        # paramagnet: m is Gaussian with variance χT/L², so <|m|> = sqrt(2χT/π)/L; χ(3.0) ≈ 4
        # gives 2.8/L. Below Tc the same quantity is ~0.9, about 30/L.
        assert m_abs * L < 4
    small, _ = ising.simulate([3.5], 1000, size=16, seed=2, progress=False)
    ratio = ising.magnetization(small, absolute=True).mean() / ising.magnetization(samples[3.5], absolute=True).mean()
    assert 1.7 < ratio < 2.3  # halving L doubles <|m|>; each mean has ~2 % statistical error


def test_stored_samples_are_decorrelated_near_tc():
    result = ising.autocorrelation_times(2.27, "dataset", size=L, n_measurements=N_SAMPLES, seed=4)
    # τ = 1 + 2 Σρ is 1 for independent samples; the estimate scatters by ~0.1 at n = 2000
    assert result["tau_abs_m"] < 2 and result["tau_energy"] < 2
    assert result["sweeps_per_measurement"] >= 5  # about sweeps_between = 6 lattice volumes flipped


def test_wolff_beats_metropolis_near_tc_and_metropolis_is_also_correct():
    wolff = ising.autocorrelation_times(2.27, "wolff", size=L, n_measurements=5000, seed=1)
    metropolis = ising.autocorrelation_times(2.27, "metropolis", size=L, n_measurements=5000, seed=1)
    # measured τ(|m|): ~3 sweeps (Wolff) against ~80 (Metropolis, z ≈ 2.17 against ≈ 0.25)
    assert metropolis["tau_abs_m_sweeps"] > 5 * wolff["tau_abs_m_sweeps"]
    hot = ising.autocorrelation_times(3.0, "metropolis", size=L, n_measurements=4000, seed=1)
    mean, error = mean_and_error(hot["energy"])
    assert abs(mean - ising.onsager_energy(3.0)) < 4 * error + 1e-3  # same tolerance as for Wolff


def test_autocorrelation_time_of_known_processes():
    rng = np.random.default_rng(0)
    white = rng.normal(size=100_000)
    assert ising.integrated_autocorrelation_time(white) == pytest.approx(1.0, abs=0.1)  # error ~0.02
    phi, n = 0.8, 200_000  # AR(1): ρ(t) = φ^t, τ = (1 + φ)/(1 - φ) = 9
    noise = rng.normal(size=n)
    ar = np.empty(n)
    ar[0] = noise[0]
    for i in range(1, n):
        ar[i] = phi * ar[i - 1] + noise[i]
    # relative error sqrt(2(2W+1)/n) ≈ 3 % for the window W ≈ 45; allow 12 %
    assert ising.integrated_autocorrelation_time(ar) == pytest.approx(9.0, rel=0.12)
    assert np.isnan(ising.integrated_autocorrelation_time(np.ones(10)))


# --- the cached dataset --------------------------------------------------------------------------
def test_load_builds_then_reads_the_cache(data_dir, monkeypatch):
    spins, t = ising.load(fast=True, progress=False)
    n = len(ising.DEFAULT_TEMPERATURES) * 50
    assert spins.shape == (n, 32, 32) and spins.dtype == np.int8 and t.shape == (n,)
    assert t.min() == 1.0 and t.max() == 3.5
    files = list((data_dir / "ising").glob("*.npz"))
    assert len(files) == 1

    def no_simulation(*args, **kwargs):
        raise AssertionError("load() simulated although a valid cache file exists")

    monkeypatch.setattr(ising, "simulate", no_simulation)
    again, t_again = ising.load(fast=True)
    np.testing.assert_array_equal(again, spins)
    np.testing.assert_array_equal(t_again, t)


def test_corrupted_cache_file_is_rebuilt(data_dir):
    spins, _ = ising.load(fast=True, progress=False)
    (path,) = (data_dir / "ising").glob("*.npz")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # truncate it
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rebuilt, _ = ising.load(fast=True, progress=False)
    assert any(issubclass(w.category, _cache.CorruptCacheWarning) for w in caught)
    np.testing.assert_array_equal(rebuilt, spins)  # same seed: the same data again
    assert _cache.load_arrays(path)["spins"].shape == spins.shape  # and the file is valid again


# --- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        (([2.0, 0.0], 5), {}, r"temperatures must be finite and > 0.*0\.0"),
        (([-1.0], 5), {}, "temperatures must be finite and > 0"),
        (([np.nan], 5), {}, "temperatures must be finite and > 0"),
        (([], 5), {}, "non-empty"),
        (([2.0], 0), {}, "n_per_temperature must be an integer >= 1, got 0"),
        (([2.0], 2.5), {}, "n_per_temperature must be an integer"),
        (([2.0], 5), {"size": 1}, "size must be an integer >= 2, got 1"),
        (([2.0], 5), {"sweeps_between": 0}, "sweeps_between must be a positive"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ising.simulate(*args, progress=False, **kwargs)


def test_bad_arguments_of_helpers_raise_value_error():
    with pytest.raises(ValueError, match="temperature must be > 0"):
        ising.onsager_energy(0.0)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        ising.onsager_magnetization(-1.0)
    with pytest.raises(ValueError, match="scheme must be one of"):
        ising.autocorrelation_times(2.0, "heatbath")
    with pytest.raises(ValueError, match=r"spins must have shape \(\.\.\., L, L\)"):
        ising.energy_per_spin(np.ones((3, 4)))
    with pytest.raises(ValueError, match="series must be 1-D"):
        ising.integrated_autocorrelation_time(np.ones((2, 2)))


# --- plots ---------------------------------------------------------------------------------------
def test_plot_lattice_shows_two_colours_without_ticks():
    import matplotlib.pyplot as plt

    from dlphys import plotting

    spins = np.ones((8, 8), dtype=np.int8)
    spins[:4] = -1
    ax = plotting.plot_lattice(spins, title="T = 2.0")
    image = ax.get_images()[0].get_array()
    rgba = ax.get_images()[0].to_rgba(image)
    assert len({tuple(c) for c in rgba.reshape(-1, 4)}) == 2  # exactly two colours for ±1
    assert list(ax.get_xticks()) == [] and list(ax.get_yticks()) == []
    assert ax.get_title() == "T = 2.0" and "8 × 8 sites" in ax.get_ylabel()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["$s=+1$", "$s=-1$"]
    plt.close(ax.figure)


def test_plot_ising_observables_draws_data_exact_curves_and_tc():
    import matplotlib.pyplot as plt

    from dlphys import plotting

    spins, t = ising.simulate([1.5, 3.0], 20, size=8, seed=0, progress=False)
    fig, ax_in = plt.subplots()
    ax = plotting.plot_ising_observables(t, spins, ax=ax_in)
    assert ax is ax_in
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert any("Onsager $u$" in s for s in labels) and any("T_c" in s for s in labels)
    tc_lines = [line for line in ax.get_lines() if np.allclose(line.get_xdata(), ising.TC)]
    assert tc_lines  # the dashed Tc marker
    assert "J/k_B" in ax.get_xlabel()
    plt.close(fig)
