"""Sine-wave series for the recurrent-network exercise."""

import numpy as np
import pytest

from dlphys.datasets import sine


def test_noise_free_targets_continue_the_sine_recurrence():
    d = sine.simulate(200, length=40, seed=1, noise=0.0, horizon=8)
    x, y = d["x"][:, :, 0].astype(np.float64), d["y"].astype(np.float64)
    np.testing.assert_array_equal(d["y"], d["y_clean"])
    for s, target in zip(x, y, strict=False):
        # s(t+1) + s(t-1) = 2 cos(w) s(t): fit 2 cos(w) from the window alone, then extrapolate
        k = np.dot(s[2:] + s[:-2], s[1:-1]) / np.dot(s[1:-1], s[1:-1])
        series = list(s[-2:])
        for _ in range(len(target)):
            series.append(k * series[-1] - series[-2])
        # float32 storage (~6e-8) amplified over 8 steps stays far below 1e-4; an off-by-one shift of
        # the targets would be off by ~A sin(2 pi / 50) > 0.06
        np.testing.assert_allclose(series[2:], target, atol=1e-4)


def test_targets_match_the_returned_wave_parameters():
    d = sine.simulate(50, seed=2, noise=0.0)
    t = np.arange(sine.DEFAULTS["length"], sine.DEFAULTS["length"] + sine.DEFAULTS["horizon"])
    f, phase, amp = (d[k].astype(np.float64)[:, None] for k in ("frequency", "phase", "amplitude"))
    # float32 parameters: phase error <= 60 * 2 pi * 6e-8 * f, far below the tolerance
    np.testing.assert_allclose(d["y"], amp * np.sin(2 * np.pi * f * t + phase), atol=1e-4)
    assert np.all((1 / d["frequency"] >= 10 - 1e-4) & (1 / d["frequency"] <= 50 + 1e-4))


def test_noise_has_the_requested_standard_deviation():
    d = sine.simulate(1000, seed=3, noise=0.2)
    residual = d["y"] - d["y_clean"]
    # 10,000 Gaussian residuals: relative standard error of their std is 1/sqrt(20000) = 0.7 %
    assert residual.std() == pytest.approx(0.2, rel=0.03)
    assert abs(residual.mean()) < 0.01  # 5 standard errors (0.002)


def test_shapes_dtypes_and_seed():
    a = sine.simulate(7, length=30, seed=5, horizon=4)
    assert a["x"].shape == (7, 30, 1) and a["y"].shape == (7, 4) and a["x"].dtype == np.float32
    b, c = sine.simulate(7, length=30, seed=5, horizon=4), sine.simulate(7, length=30, seed=6, horizon=4)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["x"], c["x"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n": 0}, "n must"),
        ({"n": 3, "length": 1}, "length must"),
        ({"n": 3, "horizon": 0}, "horizon must"),
        ({"n": 3, "noise": -0.1}, "noise must"),
        ({"n": 3, "period": (1.5, 10)}, "period must"),
        ({"n": 3, "amplitude": 1.0}, "amplitude must"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sine.simulate(**kwargs)


def test_load_caches_the_fast_data_set(data_dir):
    d = sine.load(fast=True)
    assert d["x"].shape == (sine.N_FAST, 50, 1) and d["y"].shape == (sine.N_FAST, 10)
    np.testing.assert_array_equal(sine.load(fast=True)["y"], d["y"])
    assert len(list((data_dir / "sine").glob("*.npz"))) == 1
