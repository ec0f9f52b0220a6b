"""Tests of the toy air-shower footprint simulator (dlphys.datasets.airshower)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from dlphys.datasets import _cache
from dlphys.datasets import airshower as A


@pytest.fixture(scope="module")
def events():
    return A.simulate(4000, seed=11)


def _zenith(ev):
    return A.zenith_of(ev["axis"])


def test_station_positions_are_a_9x9_triangular_grid_with_1500_m_spacing():
    pos = A.station_positions()
    assert pos.shape == (9, 9, 2)
    assert np.allclose(pos[4, 4], 0.0)
    flat = pos.reshape(-1, 2)
    dist = np.linalg.norm(flat[:, None] - flat[None], axis=-1)
    np.fill_diagonal(dist, np.inf)
    # every station's nearest neighbour is exactly one spacing away (floating point only)
    assert np.allclose(dist.min(axis=1), 1500.0, atol=1e-6)
    # an inner station of a triangular grid has exactly six neighbours at 1500 m
    assert np.sum(np.isclose(dist[4 * 9 + 4], 1500.0)) == 6


def test_simulate_returns_documented_keys_shapes_and_ranges(events):
    n = 4000
    assert events["time"].shape == events["signal"].shape == events["triggered"].shape == (n, 9, 9)
    assert events["axis"].shape == (n, 3) and events["core"].shape == (n, 2)
    assert events["logE"].shape == events["s1000"].shape == (n,)
    assert events["triggered"].dtype == bool
    assert events["logE"].min() >= 18.5 and events["logE"].max() <= 20.0
    # the central-hexagon cores stay within one spacing of the middle station
    assert np.linalg.norm(events["core"], axis=1).max() <= 1500.0 + 1e-9


def test_axes_are_unit_vectors_pointing_to_the_sky(events):
    norm = np.linalg.norm(events["axis"], axis=1)
    assert np.allclose(norm, 1.0, atol=1e-12)  # constructed from sin/cos: rounding only
    assert np.all(events["axis"][:, 2] > 0)


def test_zenith_is_at_most_60_deg_and_sin2_zenith_is_uniform(events):
    zenith = _zenith(events)
    assert np.degrees(zenith.max()) <= 60.0 + 1e-9
    u = np.sin(zenith) ** 2 / np.sin(np.radians(60.0)) ** 2
    # KS test against U(0, 1); a correct sampler fails at p < 1e-3 only once in 1000 seeds
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    # and it is not the isotropic-in-solid-angle law (uniform cos θ), which the KS test rejects
    cos_u = (1 - np.cos(zenith)) / (1 - np.cos(np.radians(60.0)))
    assert stats.kstest(cos_u, "uniform").pvalue < 1e-6


def test_cores_are_uniform_over_the_central_hexagon(events):
    core = events["core"]
    # the hexagon with corners at the six neighbours: |projection on each edge normal| <= 1500 cos 30°
    normals = np.array([[np.cos(a), np.sin(a)] for a in np.radians([30, 90, 150])])
    assert np.all(np.abs(core @ normals.T) <= 1500.0 * np.cos(np.radians(30)) + 1e-9)
    # uniform density: the fraction within 750 m is the area ratio (π/4) / (3√3/2) = 0.3023;
    # the binomial 1σ for n = 4000 is 0.0073, so allow 4σ = 0.03
    inside = np.mean(np.linalg.norm(core, axis=1) < 750.0)
    assert abs(inside - (np.pi / 4) / (3 * np.sqrt(3) / 2)) < 0.03


def test_number_of_triggered_stations_grows_with_energy(events):
    n_trig = events["triggered"].sum(axis=(1, 2))
    low = n_trig[events["logE"] < 18.8].mean()
    high = n_trig[events["logE"] > 19.7].mean()
    # S1000 grows 10^1.2-fold, so the footprint above 3 VEM widens: expect far more than +50 %
    assert high > 1.5 * low
    assert low >= 3  # Auger-like arrays are fully efficient (>= 3 stations) above 10^18.5 eV


def test_mean_signal_falls_with_core_distance(events):
    r = A.shower_plane_distance(
        A.station_positions()[None], events["core"][:, None, None], events["axis"][:, None, None]
    )
    edges = np.array([300.0, 700.0, 1200.0, 1800.0, 2500.0, 3500.0])
    means = [events["signal"][(r >= lo) & (r < hi)].mean() for lo, hi in itertools.pairwise(edges)]
    # the LDF falls by a factor > 3 between consecutive bins; strictly decreasing means no sign error
    assert np.all(np.diff(means) < 0), means


def test_s1000_scales_linearly_with_energy(events):
    # remove the zenith attenuation, then fit log S38 vs log E: slope 1/B = 0.97 (Auger's B = 1.031)
    s38 = events["s1000"] / A.cic(_zenith(events))
    slope = np.polyfit(events["logE"], np.log10(s38), 1)[0]
    # the 10 % log-normal scatter over 1.5 decades and 4000 events gives a slope error of ~0.002
    assert abs(slope - 1.0) < 0.1
    assert abs(slope - 1.0 / A.ENERGY_B) < 0.01


def test_silent_stations_have_zero_signal_and_time_and_triggered_ones_reach_threshold(events):
    trig = events["triggered"]
    assert np.all(events["signal"][~trig] == 0) and np.all(events["time"][~trig] == 0)
    assert np.all(events["signal"][trig] >= 3.0)


def test_arrival_times_follow_the_plane_front(events):
    pos = A.station_positions()
    d = pos[None] - events["core"][:, None, None]
    plane = -(d[..., 0] * events["axis"][:, None, None, 0] + d[..., 1] * events["axis"][:, None, None, 1]) / A.C
    trig = events["triggered"]
    residual = events["time"][trig] - plane[trig]
    # the residual is the curvature delay r²/(2Rc) >= 0 (6 µs at 6 km) plus a jitter of < 1 µs;
    # a sign or unit error in the plane term would give residuals of ~10 µs and a bad correlation
    assert np.median(residual) > 0
    assert np.quantile(np.abs(residual), 0.99) < 8e-6
    assert np.corrcoef(events["time"][trig], plane[trig])[0, 1] > 0.95


def test_signal_fluctuations_are_poisson_like(events):
    # With the true geometry and S1000 the mean signal μ of every station is known; the compound
    # Poisson-Gamma sampling must give Var = 1.1225 μ (σ_S = 1.06 √μ). Stations with μ > 30 VEM
    # are never cut by the 3 VEM threshold.
    r = A.shower_plane_distance(
        A.station_positions()[None], events["core"][:, None, None], events["axis"][:, None, None]
    )
    mu = A.ldf(r, events["s1000"][:, None, None], A.ldf_beta(_zenith(events))[:, None, None])
    sel = mu > 30
    pull = (events["signal"][sel] - mu[sel]) / np.sqrt(A.SIGNAL_VARIANCE_FACTOR * mu[sel])
    assert sel.sum() > 5000
    # ~10^4 pulls: the standard error of the std is < 1 %, of the mean < 0.01; allow 3 % and 0.03
    assert abs(pull.std() - 1) < 0.03
    assert abs(pull.mean()) < 0.03
    assert abs(np.sqrt(A.SIGNAL_VARIANCE_FACTOR) - 1.06) < 0.005  # the documented 1.06 √S


def test_same_seed_gives_same_events_and_other_seed_differs():
    a, b, c = A.simulate(300, seed=5), A.simulate(300, seed=5), A.simulate(300, seed=6)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["signal"], c["signal"])


def test_more_than_one_chunk_concatenates_correctly():
    ev = A.simulate(A._CHUNK + 5, seed=1)
    assert ev["signal"].shape == (A._CHUNK + 5, 9, 9)
    # the second chunk is a fresh stream, not a copy of the first
    assert not np.array_equal(ev["logE"][:5], ev["logE"][A._CHUNK :])


def test_load_caches_and_rebuilds_a_corrupt_file(data_dir):
    first = A.load(fast=True)
    assert first["signal"].shape == (A.N_FAST, 9, 9)
    files = list((data_dir / "airshower").glob("*.npz"))
    assert len(files) == 1
    np.testing.assert_array_equal(A.load(fast=True)["time"], first["time"])
    files[0].write_bytes(files[0].read_bytes()[:1000])  # truncate
    with pytest.warns(_cache.CorruptCacheWarning):
        again = A.load(fast=True)
    np.testing.assert_array_equal(again["signal"], first["signal"])


def test_saturation_records_large_signals_at_the_saturation_value_and_changes_nothing_else():
    settings = {"log_energy_range": (19.5, 20.5), "s1000_fluctuation": 0.05}
    ideal = A.simulate(500, seed=3, **settings)
    assert all(np.array_equal(ideal[k], A.simulate(500, seed=3, saturation=None, **settings)[k]) for k in ideal)
    saturated = A.simulate(500, seed=3, saturation=1000.0, **settings)
    above = ideal["signal"] > 1000.0
    assert np.all(saturated["signal"][above] == 1000.0)
    assert np.array_equal(saturated["signal"][~above], ideal["signal"][~above])
    for key in ("time", "triggered", "axis", "core", "logE", "s1000"):
        assert np.array_equal(saturated[key], ideal[key]), key
    # as documented: above 3·10^19 eV the station nearest the core saturates in most showers
    assert 0.7 < np.mean(above.reshape(500, -1).any(axis=1)) < 1.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n": 0},
        {"n": -3},
        {"n": 2.5},
        {"n": 10, "max_zenith_deg": 80.0},
        {"n": 10, "log_energy_range": (20, 19)},
        {"n": 10, "threshold": 0.0},
        {"n": 10, "core_radius": -1.0},
        {"n": 10, "s1000_fluctuation": 2.0},
        {"n": 10, "saturation": 2.0},
        {"n": 10, "saturation": -100.0},
    ],
)
def test_bad_arguments_raise_value_error(kwargs):
    bad = [key for key in kwargs if key != "n"] or ["n"]
    with pytest.raises(ValueError, match=bad[-1].removesuffix("_deg")):
        A.simulate(**kwargs)


def test_plot_footprint_draws_every_station_in_km():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dlphys.plotting import plot_footprint

    ev = A.simulate(1, seed=3)
    ax = plot_footprint(ev["signal"][0], ev["time"][0], core=ev["core"][0], axis=ev["axis"][0])
    silent, hit = ax.collections[:2]
    # one marker per station, triggered ones coloured, positions in km
    assert len(silent.get_offsets()) + len(hit.get_offsets()) == 81
    assert len(hit.get_offsets()) == ev["triggered"][0].sum()
    assert np.abs(np.asarray(hit.get_offsets())).max() < 10.0
    assert ax.get_xlabel() == "x / km" and ax.get_ylabel() == "y / km"
    with pytest.raises(ValueError, match="time"):
        plot_footprint(ev["signal"][0], color="time")  # colour by time without times
    plt.close("all")


# --- network inputs and rotations ------------------------------------------------------------------


def test_network_input_is_log_signal_and_time_after_first_station_with_silent_stations_zero(events):
    ev = {k: v[:50] for k, v in events.items()}
    x = A.network_input(ev, channels=("signal", "time", "triggered"))
    assert x.shape == (50, 9, 9, 3) and x.dtype == np.float32
    trig = ev["triggered"]
    np.testing.assert_allclose(x[..., 0], np.log10(1.0 + ev["signal"]), rtol=1e-6)  # silent: log10(1) = 0
    assert np.all(x[..., 0][trig] >= np.log10(4.0) - 1e-6)  # threshold 3 VEM
    assert np.all(x[..., 1][~trig] == 0) and np.all(x[..., 2] == trig)
    # the earliest triggered station of every event is at 0, all others later (in µs)
    t = np.where(trig, x[..., 1], np.inf)
    np.testing.assert_allclose(t.min(axis=(1, 2)), 0.0, atol=1e-6)
    i = 7
    first = ev["time"][i][trig[i]].min()
    np.testing.assert_allclose(x[i, ..., 1][trig[i]], (ev["time"][i][trig[i]] - first) * 1e6, rtol=1e-4, atol=1e-4)


def test_axial_network_input_is_the_offset_input_on_the_axial_grid(events):
    from dlphys import hexgrid

    ev = {k: v[:20] for k, v in events.items()}
    off = A.network_input(ev)
    ax = A.network_input(ev, layout="axial")
    assert ax.shape == (20, 9, 13, 2)
    np.testing.assert_array_equal(hexgrid.axial_to_offset(np.moveaxis(ax, -1, 1)), np.moveaxis(off, -1, 1))
    assert ax.sum() == pytest.approx(off.sum(), rel=1e-6)  # empty axial cells hold 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"layout": "hex"}, "layout"),
        ({"channels": ("energy",)}, "channels"),
        ({"channels": ()}, "channels"),
        ({"time_unit": 0}, "time_unit"),
    ],
)
def test_network_input_rejects_bad_arguments(events, kwargs, message):
    with pytest.raises(ValueError, match=message):
        A.network_input({k: v[:2] for k, v in events.items()}, **kwargs)


def test_rotation_by_60_degrees_turns_stations_core_and_axis_together(events):
    ev = {k: v[:200] for k, v in events.items()}
    turned = A.rotate(ev, 1)
    pos = A.station_positions()
    index, valid = A.rotation_index(1)
    # the station a source is carried to sits at the source position turned by +60°
    c, s = np.cos(np.pi / 3), np.sin(np.pi / 3)
    src = pos[index[..., 0], index[..., 1]]
    np.testing.assert_allclose((src @ np.array([[c, -s], [s, c]]).T)[valid], pos[valid], atol=1e-6)
    # 61 stations of the central hexagon and more survive; the corners of the 9 x 9 rhombus do not
    assert 61 <= valid.sum() < 81
    # energy is unchanged, the zenith too; the core keeps its distance from the centre
    np.testing.assert_array_equal(turned["logE"], ev["logE"])
    np.testing.assert_allclose(A.zenith_of(turned["axis"]), A.zenith_of(ev["axis"]), atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(turned["core"], axis=1), np.linalg.norm(ev["core"], axis=1))
    # the simulator's physics is isotropic: turned showers obey the same relation of time and position
    trig = turned["triggered"]
    assert not trig[:, ~valid].any() and np.all(turned["signal"][:, ~valid] == 0)
    d = pos[None] - turned["core"][:, None, None, :]
    plane = -(d[..., 0] * turned["axis"][:, None, None, 0] + d[..., 1] * turned["axis"][:, None, None, 1]) / A.C
    resid = (turned["time"] - plane)[trig]
    assert np.median(np.abs(resid)) < 1e-6  # < 1 µs: front curvature and jitter only


def test_six_rotations_are_the_identity_and_agree_with_rotate_axial(events):
    from dlphys import hexgrid
    from dlphys.layers.hexconv import rotate_axial

    ev = {k: v[:30] for k, v in events.items()}
    six = ev
    for _ in range(6):
        six = A.rotate(six, 1)
    once = A.rotate(ev, 1)
    back = A.rotate(A.rotate(ev, 1), -1)
    # a turn there and back keeps exactly the stations that stay in the array (at least the central
    # hexagon of 61): ev on those, silent elsewhere; a turn by 360° is the identity
    kept = A.rotate(A.rotate({"signal": np.ones((1, 9, 9))}, 1), -1)["signal"][0] > 0
    assert 61 <= kept.sum() < 81
    np.testing.assert_array_equal(back["signal"], np.where(kept, ev["signal"], 0))
    np.testing.assert_array_equal(back["time"], np.where(kept, ev["time"], 0))
    np.testing.assert_array_equal(A.rotate(ev, 6)["signal"], ev["signal"])
    np.testing.assert_allclose(six["core"], ev["core"], atol=1e-9)
    # on the axial grid the same turn is dlphys.layers.hexconv.rotate_axial about the middle station (4, 6)
    ax = hexgrid.offset_to_axial(ev["signal"])
    np.testing.assert_array_equal(hexgrid.offset_to_axial(once["signal"]), rotate_axial(ax, 1, center=(4, 6)))
