"""Tests of the cosmic-ray sky-map simulator (dlphys.datasets.skymap)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from dlphys.datasets import skymap

N_EVENTS = 500


@pytest.fixture(scope="module")
def background():
    """400 isotropic maps (200,000 events)."""
    return skymap.simulate(400, signal_fraction=0.0, seed=11)


@pytest.fixture(scope="module")
def mixed():
    """200 maps, half with sources, default physics."""
    return skymap.simulate(200, seed=12)


def test_directions_are_unit_vectors_and_shapes_match(mixed):
    assert mixed["directions"].shape == (200, N_EVENTS, 3)
    assert mixed["energy"].shape == (200, N_EVENTS)
    assert mixed["label"].shape == (200,)
    assert mixed["source_id"].shape == (200, N_EVENTS)
    assert mixed["source_directions"].shape == mixed["street_directions"].shape == (200, 5, 3)
    # float32 storage: |n| = 1 to a few float32 ulps (6e-8 each)
    np.testing.assert_allclose(np.linalg.norm(mixed["directions"], axis=-1), 1.0, atol=1e-6)


def test_background_dipole_per_map_follows_chi2_with_three_dof(background):
    # d = 3 <n> has per-component sigma sqrt(3/N), so N |d|^2 / 3 ~ chi2(3): mean 3, std sqrt(6).
    # Over 400 maps the mean has std sqrt(6/400) = 0.12; allow 5 sigma = 0.6.
    d = 3.0 * background["directions"].astype(np.float64).mean(axis=1)
    q = N_EVENTS * np.sum(d**2, axis=1) / 3.0
    assert abs(q.mean() - 3.0) < 0.6
    # and the distribution itself is chi2(3) (KS; p > 1e-3 fails with probability 0.1 % if correct)
    assert stats.kstest(q, "chi2", args=(3,)).pvalue > 1e-3


def test_background_dipole_of_all_events_is_consistent_with_zero(background):
    n = background["directions"].shape[0] * N_EVENTS
    d = 3.0 * background["directions"].astype(np.float64).reshape(-1, 3).mean(axis=0)
    # each component has std sqrt(3/N) = 0.0039 for N = 200,000; 4 sigma per component
    assert np.all(np.abs(d) < 4.0 * np.sqrt(3.0 / n)), d


def test_background_cos_theta_and_longitude_are_uniform(background):
    z = background["directions"][..., 2].astype(np.float64).ravel()
    lon, _ = skymap.to_lonlat(background["directions"].reshape(-1, 3))
    # KS against the isotropic law; p > 1e-3 (false alarm 0.1 %), a latitude-uniform sampler gives p ~ 0
    assert stats.kstest(z, "uniform", args=(-1.0, 2.0)).pvalue > 1e-3
    assert stats.kstest(lon, "uniform", args=(-180.0, 360.0)).pvalue > 1e-3
    # <cos theta> = 0 with std 1/sqrt(3N) = 0.0013; 4 sigma
    assert abs(z.mean()) < 4.0 / np.sqrt(3.0 * z.size)


@pytest.mark.parametrize("gamma", [2.7, 3.0])
def test_energies_exceed_threshold_and_ml_spectral_index_recovers_gamma(gamma):
    e_min = 40.0
    e = skymap.simulate(200, gamma=gamma, e_min=e_min, seed=13)["energy"].astype(np.float64).ravel()
    assert e.min() >= e_min * (1 - 1e-6)  # float32 rounding of the threshold
    # ML estimate of a pure power law: gamma = 1 + N / sum ln(E/E_min), std (gamma - 1)/sqrt(N) = 0.004
    g_hat = 1.0 + e.size / np.sum(np.log(e / e_min))
    sigma = (g_hat - 1.0) / np.sqrt(e.size)
    assert abs(g_hat - gamma) < 4.0 * sigma, (g_hat, sigma)


def test_labels_are_exactly_balanced_and_shuffled():
    label = skymap.simulate(101, seed=14, source_event_fraction=0.0)["label"]
    assert label.sum() == round(0.5 * 101)
    # not sorted: signal maps appear in both halves
    assert 0 < label[:50].sum() < 50


def test_only_signal_maps_carry_source_events(mixed):
    n_src = round(0.03 * N_EVENTS)
    per_map = np.sum(mixed["source_id"] >= 0, axis=1)
    assert np.all(per_map[mixed["label"] == 1] == n_src)
    assert np.all(per_map[mixed["label"] == 0] == 0)
    assert np.all(np.isnan(mixed["source_directions"][mixed["label"] == 0]))
    assert np.all(np.isfinite(mixed["source_directions"][mixed["label"] == 1]))
    # events are shuffled: the mean list position of source events is near the middle, 249.5;
    # its std over 100 maps x 15 events is 144/sqrt(1500) = 3.7, allow 5 sigma
    positions = np.nonzero(mixed["source_id"] >= 0)[1]
    assert abs(positions.mean() - (N_EVENTS - 1) / 2) < 5 * 144.3 / np.sqrt(positions.size)


def test_multiplet_deflection_is_linear_in_inverse_energy_without_turbulence():
    deflection = 150.0
    d = skymap.simulate(
        20, signal_fraction=1.0, seed=15, n_sources=2, source_event_fraction=0.1, deflection=deflection, turbulence=0.0
    )
    checked = 0
    for m in range(20):
        for k in range(2):
            sel = d["source_id"][m] == k
            if sel.sum() < 5:
                continue
            inv_e = 1.0 / d["energy"][m, sel].astype(np.float64)
            angle = skymap.angle_between(d["directions"][m, sel], d["source_directions"][m, k])
            slope, intercept = np.polyfit(inv_e, angle, 1)
            # exact relation angle = D / E; float32 storage limits the precision to ~1e-5 relative
            assert slope == pytest.approx(deflection, rel=1e-3)
            assert abs(intercept) < 1e-3  # deg
            assert np.corrcoef(inv_e, angle)[0, 1] > 0.99
            # and the events lie on the street's great circle: n . (s x t) = 0
            normal = np.cross(d["source_directions"][m, k], d["street_directions"][m, k])
            assert np.all(np.abs(d["directions"][m, sel] @ normal) < 1e-5)
            checked += 1
    assert checked >= 20


def test_turbulent_smearing_across_the_street_scales_as_inverse_energy():
    turbulence = 50.0
    d = skymap.simulate(
        100, signal_fraction=1.0, seed=16, n_sources=3, source_event_fraction=0.1, turbulence=turbulence
    )
    m, e = np.nonzero(d["source_id"] >= 0)
    k = d["source_id"][m, e]
    s = d["source_directions"][m, k].astype(np.float64)
    t = d["street_directions"][m, k].astype(np.float64)
    across = np.degrees(np.arcsin(np.sum(d["directions"][m, e] * np.cross(s, t), axis=-1)))
    pull = across * d["energy"][m, e] / turbulence  # should be N(0, 1) per event
    # 5,000 events: std of the std is 1/sqrt(2*5000) = 0.01; allow 5 %
    assert pull.std() == pytest.approx(1.0, abs=0.05)
    assert abs(pull.mean()) < 0.05


def test_pair_count_matches_brute_force_and_isotropic_expectation(background):
    dirs = background["directions"][:3].astype(np.float64)
    cos = np.einsum("mik,mjk->mij", dirs, dirs)
    brute = [(np.count_nonzero(c > np.cos(np.radians(3.0))) - N_EVENTS) // 2 for c in cos]
    assert list(skymap.pair_count(dirs, 3.0)) == brute
    # isotropic expectation N(N-1)/2 (1 - cos 3 deg)/2 = 85.4; mean of 400 maps has std 9.2/20 = 0.46
    expected = N_EVENTS * (N_EVENTS - 1) / 2 * (1 - np.cos(np.radians(3.0))) / 2
    assert skymap.pair_count(background["directions"]).mean() == pytest.approx(expected, abs=2.5)


def test_signal_maps_have_more_close_pairs_than_background(mixed):
    # the classes must be separable at all: with defaults the mean excess is ~17 pairs (std 9 per map)
    pc = skymap.pair_count(mixed["directions"])
    assert pc[mixed["label"] == 1].mean() - pc[mixed["label"] == 0].mean() > 8.0


def test_lonlat_round_trip():
    rng = np.random.default_rng(0)
    n = skymap.isotropic((1000,), rng)
    lon, lat = skymap.to_lonlat(n)
    np.testing.assert_allclose(skymap.from_lonlat(lon, lat), n, atol=1e-12)
    lon0, lat0 = skymap.to_lonlat([1.0, 0.0, 0.0])  # x axis = Galactic centre
    assert lon0 == 0.0 and lat0 == 0.0


def test_simulation_is_reproducible_and_seed_dependent():
    a, b = skymap.simulate(10, seed=3), skymap.simulate(10, seed=3)
    c = skymap.simulate(10, seed=4)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["directions"], c["directions"])


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"n_maps": 0}, "n_maps"),
        ({"n_maps": 2.5}, "n_maps"),
        ({"n_events": 1}, "n_events"),
        ({"signal_fraction": 1.5}, "signal_fraction"),
        ({"gamma": 1.0}, "gamma"),
        ({"e_min": 0.0}, "e_min"),
        ({"n_sources": 0}, "n_sources"),
        ({"source_event_fraction": -0.1}, "source_event_fraction"),
        ({"deflection": -1.0}, "deflection"),
        ({"deflection": 1e6}, "deflection"),
        ({"turbulence": -1.0}, "turbulence"),
    ],
)
def test_bad_input_raises_naming_the_argument(kwargs, argument):
    args = {"n_maps": 4} | kwargs
    with pytest.raises(ValueError, match=argument):
        skymap.simulate(**args)


def test_load_fast_builds_the_cache_once(data_dir):
    first = skymap.load(fast=True)
    assert first["directions"].shape == (skymap.N_MAPS_FAST, N_EVENTS, 3)
    assert first["label"].sum() == skymap.N_MAPS_FAST // 2
    files = list((data_dir / "skymap").glob("*.npz"))
    assert len(files) == 1
    again = skymap.load(fast=True)
    np.testing.assert_array_equal(first["directions"], again["directions"])


def test_plot_skymap_draws_hammer_map_with_energy_colourbar():
    import matplotlib.pyplot as plt

    from dlphys.plotting import plot_skymap

    d = skymap.simulate(2, signal_fraction=1.0, seed=1)
    ax = plot_skymap(d["directions"][0], d["energy"][0], sources=d["source_directions"][0])
    assert ax.name == "hammer"
    assert "longitude" in ax.get_xlabel() and "[deg]" in ax.get_ylabel()
    assert any("EeV" in other.get_xlabel() for other in ax.figure.axes if other is not ax)
    with pytest.raises(ValueError, match="ax"):
        plot_skymap(d["directions"][0], ax=plt.figure().add_subplot())
    plt.close("all")
