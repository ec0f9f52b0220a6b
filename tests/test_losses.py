"""Distance correlation (the DisCo penalty): reference values, weights, invariances, gradient."""

import keras
import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform

from dlphys.losses import distance_correlation


def _reference_dcorr(x, y):
    """Székely's V-statistic dCorr from plain NumPy/SciPy (uniform weights), in float64."""

    def centred(v):
        a = squareform(pdist(np.asarray(v, dtype=np.float64).reshape(-1, 1)))  # |v_i - v_j|
        return a - a.mean(axis=0)[None, :] - a.mean(axis=1)[:, None] + a.mean()

    a, b = centred(x), centred(y)
    return np.sqrt((a * b).mean() / np.sqrt((a * a).mean() * (b * b).mean()))


def _bivariate_normal_dcorr2(rho):
    """Population dCorr² of a bivariate normal with correlation rho (Székely et al. 2007, Theorem 7)."""
    num = rho * np.arcsin(rho) + np.sqrt(1 - rho**2) - rho * np.arcsin(rho / 2) - np.sqrt(4 - rho**2) + 1
    return num / (1 + np.pi / 3 - np.sqrt(3))


def _value(t):
    return float(keras.ops.convert_to_numpy(t))


def test_agrees_with_scipy_reference_for_dependent_and_independent_samples():
    rng = np.random.default_rng(1)
    x = rng.normal(size=400)
    for y in (x**2 + 0.3 * rng.normal(size=400), rng.exponential(size=400), np.sin(3 * x)):
        # float32 sums over 160 000 pairs: a relative error of 1e-4 is ample, 1e-3 would hide a wrong centring
        assert _value(distance_correlation(x, y)) == pytest.approx(_reference_dcorr(x, y), rel=1e-4)
    assert _value(distance_correlation(x, x**2, squared=True)) == pytest.approx(
        _reference_dcorr(x, x**2) ** 2, rel=1e-4
    )


def test_linear_relation_gives_one_and_is_invariant_under_shift_and_scale():
    rng = np.random.default_rng(2)
    x, noise = rng.normal(size=500), rng.normal(size=500)
    assert _value(distance_correlation(x, -2.5 * x + 7.0)) == pytest.approx(1.0, abs=1e-5)
    y = x + noise
    base = _value(distance_correlation(x, y))
    assert _value(distance_correlation(100.0 * x - 3.0, 0.01 * y + 5.0)) == pytest.approx(base, rel=1e-4)
    assert _value(distance_correlation(y, x)) == pytest.approx(base, rel=1e-5)  # symmetric


def test_independent_samples_give_nearly_zero_and_nonlinear_dependence_does_not():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(2, 2000))
    # the V-statistic of independent samples is positive: 0.034-0.047 for n = 2000 over five seeds
    independent = _value(distance_correlation(x, y))
    assert 0.0 <= independent < 0.07
    # y = x² for symmetric x: Pearson's r is ~0, the distance correlation is large (population value 0.49)
    assert abs(np.corrcoef(x, x**2)[0, 1]) < 0.1
    assert _value(distance_correlation(x, x**2)) > 0.4


@pytest.mark.parametrize("rho", [0.3, 0.6, 0.9])
def test_matches_bivariate_normal_closed_form(rho):
    rng = np.random.default_rng(4)
    x, e = rng.normal(size=(2, 3000))
    y = rho * x + np.sqrt(1 - rho**2) * e
    # dCorr² of 3000 pairs scatters by about 0.01 around the closed form (+0.005 bias, six seeds): 0.03 is three of it
    assert _value(distance_correlation(x, y, squared=True)) == pytest.approx(_bivariate_normal_dcorr2(rho), abs=0.03)


def test_integer_weights_act_as_repetitions_and_zero_weights_as_removal():
    rng = np.random.default_rng(5)
    x = rng.normal(size=120)
    y = np.abs(x) + rng.normal(size=120)
    counts = rng.integers(0, 4, size=120)  # 0, 1, 2 or 3 copies of each event
    weighted = _value(distance_correlation(x, y, weights=counts))
    repeated = _reference_dcorr(np.repeat(x, counts), np.repeat(y, counts))
    assert weighted == pytest.approx(repeated, rel=1e-4)
    # weights 1 - label keep only the background events (label 0), as DisCo does
    label = (rng.random(120) < 0.5).astype("float32")
    keep = label == 0
    assert _value(distance_correlation(x, y, weights=1 - label)) == pytest.approx(
        _reference_dcorr(x[keep], y[keep]), rel=1e-4
    )


def test_constant_sample_gives_zero_and_finite_gradient():
    import tensorflow as tf  # the project's backend; the function itself only uses keras.ops

    x = tf.Variable(np.random.default_rng(6).normal(size=64).astype("float32"))
    assert _value(distance_correlation(x, np.ones(64))) == pytest.approx(0.0, abs=1e-5)
    y = tf.constant(np.random.default_rng(7).normal(size=64).astype("float32"))
    with tf.GradientTape() as tape:
        value = distance_correlation(x**3, y, squared=True)
    grad = tape.gradient(value, x).numpy()
    assert np.all(np.isfinite(grad))
    assert np.any(grad != 0)


# --- Barron's partition function -----------------------------------------------------------------------------------


def test_barron_log_partition_matches_the_closed_forms():
    """Z(0) = π√2 (Cauchy), Z(1) = 2e K₁(1) (Charbonnier: ∫ exp(1 − √(x² + 1)) dx), Z(2) = √(2π) (Gaussian)."""
    from scipy.special import k1

    from dlphys.losses import barron_log_partition

    got = np.asarray(barron_log_partition(np.array([0.0, 1.0, 2.0])))
    expected = np.log([np.pi * np.sqrt(2), 2 * np.e * k1(1.0), np.sqrt(2 * np.pi)])
    np.testing.assert_allclose(got, expected, atol=1e-6)  # nodes of the table: quadrature to 1e-10, float32 storage


def test_barron_log_partition_between_the_nodes_is_accurate_and_differentiable():
    """Between nodes the linear interpolation is within 5e-5 of a direct quadrature (node step 0.005; measured 2e-5)."""
    import tensorflow as tf
    from scipy.integrate import quad

    from dlphys.losses import _barron_rho_numpy, barron_log_partition

    for alpha in (0.0025, 0.7777, 1.5031):
        direct = np.log(2 * quad(lambda x, a=alpha: np.exp(-_barron_rho_numpy(x, a)), 0, np.inf, limit=400)[0])
        assert abs(float(barron_log_partition(alpha)) - direct) < 5e-5
    a = tf.Variable(1.0)
    with tf.GradientTape() as tape:
        value = barron_log_partition(a)
    slope = float(tape.gradient(value, a))
    finite = (float(barron_log_partition(1.05)) - float(barron_log_partition(0.95))) / 0.1
    assert np.isfinite(slope) and abs(slope - finite) < 0.01 * abs(finite) + 1e-4
