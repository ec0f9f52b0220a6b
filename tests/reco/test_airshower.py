"""Tests of the classical air-shower reconstruction (dlphys.reco.airshower)."""

from __future__ import annotations

import numpy as np
import pytest

from dlphys.datasets import airshower as A
from dlphys.reco import airshower as R


@pytest.fixture(scope="module")
def events():
    return A.simulate(300, seed=21)


@pytest.fixture(scope="module")
def reco(events):
    return R.reconstruct(events, progress=False)


def _direction(zenith_deg, azimuth_deg):
    z, a = np.radians(zenith_deg), np.radians(azimuth_deg)
    return np.array([np.sin(z) * np.cos(a), np.sin(z) * np.sin(a), np.cos(z)])


def test_plane_fit_is_exact_on_a_noise_free_plane_front():
    pos = A.station_positions()
    axis = _direction(47.0, 123.0)
    time = -(pos @ axis[:2]) / A.C + 3e-6
    signal = np.full((9, 9), 10.0)
    fit = R.fit_plane_front(time, signal, pos)
    # linear least squares on exact data: only rounding errors remain
    assert fit["ok"] and R.opening_angle(fit["axis"], axis) < 1e-6
    assert fit["axis"].shape == (3,)


def test_curved_fit_is_exact_on_a_noise_free_spherical_front():
    pos = A.station_positions()
    axis, core = _direction(35.0, -60.0), np.array([400.0, -250.0])
    r = A.shower_plane_distance(pos, core, axis)
    time = -((pos - core) @ axis[:2]) / A.C + A.front_delay(r)
    signal = np.full((9, 9), 10.0)
    curved = R.fit_plane_front(time, signal, pos, core=core, curvature_radius=A.FRONT_RADIUS)
    plane = R.fit_plane_front(time, signal, pos)
    # the curvature model is the simulator's, so the iterations recover the axis to < 1e-3 deg,
    # while ignoring the curvature biases the plane fit by more than that
    assert R.opening_angle(curved["axis"], axis) < 1e-3
    assert R.opening_angle(plane["axis"], axis) > 1e-2


def test_plane_fit_recovers_direction_within_2_deg_for_5_or_more_stations(events):
    fit = R.fit_plane_front(events["time"], events["signal"], triggered=events["triggered"])
    many = events["triggered"].sum(axis=(1, 2)) >= 5
    angle = R.opening_angle(events["axis"], fit["axis"])[many & fit["ok"]]
    # measured 68 % quantile ≈ 1.4° (plane only, no curvature correction); the book's bound is 2°
    assert many.sum() > 250 and np.quantile(angle, 0.68) < 2.0


def test_ldf_fit_recovers_core_and_s1000_from_noise_free_signals():
    pos = A.station_positions()
    axis, core, s1000 = _direction(30.0, 10.0), np.array([-300.0, 520.0]), 40.0
    r = A.shower_plane_distance(pos, core, axis)
    signal = A.ldf(r, s1000, A.ldf_beta(np.radians(30.0)))
    signal = np.where(signal >= 3.0, signal, 0.0)
    fit = R.fit_ldf(signal, pos, axis)
    # Noise-free ("Asimov") signals: the Gaussian likelihood with variance 1.12 μ is unbiased on
    # average over fluctuations (its mean-bias is tested on simulated events below), but on exact
    # means its 0.5 log V term pulls μ low by ~k/2 = 0.56 VEM per station, -3 % here; 5 m and 5 %
    # are still well below the resolution of noisy events (37 m, 7 %).
    assert np.linalg.norm(fit["core"] - core) < 5.0
    assert abs(fit["s1000"] / s1000 - 1) < 0.05


def test_energy_from_s1000_inverts_the_calibration():
    log_e = np.array([18.5, 19.0, 19.7, 20.0])
    zenith = np.radians([0.0, 25.0, 45.0, 60.0])
    energy = R.energy_from_s1000(A.s1000_from_energy(log_e, zenith), zenith)
    np.testing.assert_allclose(np.log10(energy), log_e, atol=1e-12)  # analytic inverse: rounding only


def test_reconstruction_reaches_auger_like_resolutions(events, reco):
    res = R.resolution(events, reco)
    # measured on 1000 events: angle 0.83°, core 37 m, energy 12 % (10 % of it are the simulated
    # S1000 fluctuations); bounds leave room for the 300-event statistics and are still tight
    # enough that ignoring curvature (1.4°) or a wrong calibration (bias) would fail
    assert res["fraction_ok"] > 0.99
    assert res["angle_68"] < 1.1
    assert res["core_68"] < 60.0
    assert res["energy_std"] < 0.16
    assert abs(res["dlogE_mean"]) < 0.015  # 300 events × 0.055 dex scatter → 0.003 dex standard error


def test_resolution_of_the_truth_is_zero(events):
    truth = {k: events[k] for k in ("axis", "core", "logE")}
    res = R.resolution(truth, truth)
    assert res["angle_68"] < 1e-6 and res["core_68"] == 0 and res["energy_std"] == 0
    assert res["n"] == 300 and res["fraction_ok"] == 1.0


def test_failed_events_are_flagged_and_nan():
    ev = A.simulate(3, seed=0)
    ev["signal"][0] = 0.0
    ev["signal"][0, 4, 4] = 50.0  # a single station cannot fix a direction
    ev["triggered"] = ev["signal"] > 0
    out = R.reconstruct(ev, progress=False)
    assert not out["ok"][0] and np.all(np.isnan(out["axis"][0])) and np.isnan(out["logE"][0])
    assert out["ok"][1:].all()


@pytest.mark.parametrize(
    "call",
    [
        lambda: R.fit_plane_front(np.zeros((2, 9, 9)), np.ones((3, 9, 9))),
        lambda: R.fit_plane_front(np.zeros((9, 9)), np.ones((9, 9)), positions=np.zeros((8, 9, 2))),
        lambda: R.fit_plane_front(np.zeros((9, 9)), np.ones((9, 9)), curvature_radius=1e4),
        lambda: R.fit_ldf(np.ones((2, 9, 9)), axis=None),
        lambda: R.fit_ldf(np.ones((2, 9, 9)), axis=np.zeros((3, 3))),
        lambda: R.energy_from_s1000(10.0, 2.0),
        lambda: R.reconstruct({"signal": np.ones((2, 9, 9))}),
        lambda: R.resolution({"logE": np.zeros(2)}, {"logE": np.zeros(2), "ok": np.zeros(3, bool)}),
    ],
)
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):  # noqa: PT011 -- each call above breaks a different argument
        call()


def test_energy_resolution_recovers_a_known_gaussian_resolution_and_bias():
    rng = np.random.default_rng(3)
    log_e = rng.uniform(18.5, 20.0, 60_000)
    # E_pred / E = 1 + 0.05 + 0.1 N(0, 1) in every bin
    ratio = 1.05 + 0.10 * rng.standard_normal(log_e.size)
    res = R.energy_resolution(log_e, log_e + np.log10(ratio), edges=np.linspace(18.5, 20.0, 4))
    assert res["centers"].shape == res["resolution"].shape == (3,) and res["count"].sum() == log_e.size
    # 20,000 events per bin: σ of the std is 0.1/sqrt(40000) = 5e-4, of the mean 7e-4; allow 4σ
    np.testing.assert_allclose(res["resolution"], 0.10, atol=2e-3)
    np.testing.assert_allclose(res["bias"], 0.05, atol=3e-3)
    np.testing.assert_allclose(res["resolution_err"], 0.1 / np.sqrt(2 * 20_000), rtol=0.05)
    assert res["resolution_all"] == pytest.approx(0.10, abs=2e-3) and res["fraction_ok"] == 1.0


def test_energy_resolution_skips_failed_events_and_empty_bins():
    log_e = np.array([18.6, 18.7, 18.8, 19.9, 19.95])
    pred = np.array([18.6, 18.7, np.nan, 19.9, 19.95])
    res = R.energy_resolution(log_e, pred, edges=[18.5, 19.0, 19.5, 20.0])
    assert res["count"].tolist() == [2, 0, 2] and res["fraction_ok"] == pytest.approx(0.8)
    assert np.isnan(res["resolution"][1]) and res["resolution"][0] == 0.0
    with pytest.raises(ValueError, match="edges"):
        R.energy_resolution(log_e, pred, edges=[19.0, 18.5])
    with pytest.raises(ValueError, match="equal length"):
        R.energy_resolution(log_e, pred[:3])


def test_plot_energy_resolution_draws_every_estimator_in_percent():
    import matplotlib

    matplotlib.use("Agg")
    from dlphys.plotting import plot_energy_resolution

    rng = np.random.default_rng(0)
    log_e = rng.uniform(18.5, 20.0, 2000)
    results = {
        name: R.energy_resolution(log_e, log_e + rng.normal(0, s, log_e.size)) for name, s in (("a", 0.04), ("b", 0.06))
    }
    ax_res, ax_bias = plot_energy_resolution(results, floor=0.1)
    assert [t.get_text() for t in ax_res.get_legend().get_texts()] == ["S(1000) fluctuation", "a", "b"]
    # percent: a log10 spread of 0.04 is about 9 % in E
    y = ax_res.containers[0].lines[0].get_ydata()
    assert np.all((y > 5) & (y < 14)) and "%" in ax_res.get_ylabel() and "%" in ax_bias.get_ylabel()
