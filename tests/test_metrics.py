"""Sample-quality figures: the Fréchet distance."""

import doctest

import numpy as np
import pytest

from dlphys import metrics
from dlphys.metrics import frechet_distance, gaussian_frechet_distance


def _random_covariance(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def test_identical_gaussians_are_at_distance_zero():
    rng = np.random.default_rng(0)
    mu, cov = rng.normal(size=8), _random_covariance(rng, 8)
    # round-off of sqrtm on an 8 x 8 matrix of order-1 entries: ~1e-12 of the trace (~8)
    assert gaussian_frechet_distance(mu, cov, mu, cov) == pytest.approx(0.0, abs=1e-9)


def test_one_dimension_gives_squared_mean_and_std_differences():
    # d^2 = (mu1 - mu2)^2 + (sigma1 - sigma2)^2 = 1.5^2 + (2 - 0.5)^2 = 4.5 exactly
    assert gaussian_frechet_distance([1.0], [[4.0]], [-0.5], [[0.25]]) == pytest.approx(4.5, rel=1e-12)


def test_diagonal_covariances_give_the_sum_over_axes():
    s1, s2 = np.array([1.0, 2.0, 3.0]), np.array([0.5, 2.0, 4.0])
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((s1 - s2) ** 2)  # 5 + 1.25 = 6.25
    assert gaussian_frechet_distance(mu1, np.diag(s1**2), mu2, np.diag(s2**2)) == pytest.approx(expected, rel=1e-10)


def test_rotation_of_both_gaussians_leaves_the_distance_unchanged():
    # The same rotation applied to both distributions is an isometry: d is invariant, although the rotated
    # covariances are no longer diagonal (this exercises the matrix square root of a non-symmetric product).
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    cov1, cov2 = _random_covariance(rng, 5), _random_covariance(rng, 5)
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    d = gaussian_frechet_distance(mu1, cov1, mu2, cov2)
    d_rot = gaussian_frechet_distance(q @ mu1, q @ cov1 @ q.T, q @ mu2, q @ cov2 @ q.T)
    assert d > 0.1 and d_rot == pytest.approx(d, rel=1e-8)


def test_trace_term_agrees_with_scipy_sqrtm_of_the_product():
    # the textbook formula with scipy.linalg.sqrtm(cov1 @ cov2), for well-conditioned covariances
    from scipy import linalg

    rng = np.random.default_rng(6)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    cov1, cov2 = _random_covariance(rng, 6), _random_covariance(rng, 6)
    reference = np.sum((mu1 - mu2) ** 2) + np.trace(cov1 + cov2 - 2 * np.real(linalg.sqrtm(cov1 @ cov2)))
    assert gaussian_frechet_distance(mu1, cov1, mu2, cov2) == pytest.approx(reference, rel=1e-9)


def test_singular_covariances_give_the_exact_value():
    # a feature that never varies (a ReLU unit that never fires) makes both covariances singular; the closed form
    # of the remaining axes still holds exactly: (2 - 0.5)^2 + (1 - 3)^2 + mean shift 1^2 = 2.25 + 4 + 1 = 7.25
    cov1, cov2 = np.diag([4.0, 1.0, 0.0]), np.diag([0.25, 9.0, 0.0])
    value = gaussian_frechet_distance([0.0, 0.0, 0.0], cov1, [1.0, 0.0, 0.0], cov2)
    assert value == pytest.approx(7.25, rel=1e-12)


def test_distance_is_symmetric():
    rng = np.random.default_rng(2)
    args = rng.normal(size=4), _random_covariance(rng, 4), rng.normal(size=4), _random_covariance(rng, 4)
    assert gaussian_frechet_distance(*args) == pytest.approx(gaussian_frechet_distance(*args[2:], *args[:2]), rel=1e-9)


def test_samples_of_shifted_gaussians_give_the_squared_shift():
    rng = np.random.default_rng(3)
    a = rng.normal(0.0, 1.0, size=(50_000, 3))
    b = rng.normal([2.0, 0.0, 0.0], 1.0, size=(50_000, 3))
    # exact value 4; the finite-sample bias and noise at n = 50,000 in 3 dimensions are a few 1e-3
    assert frechet_distance(a, b) == pytest.approx(4.0, abs=0.03)


def test_two_samples_of_one_distribution_are_close_and_the_bias_falls_with_n():
    rng = np.random.default_rng(4)
    small = [frechet_distance(rng.normal(size=(200, 10)), rng.normal(size=(200, 10))) for _ in range(5)]
    large = [frechet_distance(rng.normal(size=(5000, 10)), rng.normal(size=(5000, 10))) for _ in range(5)]
    # the bias is about d^2/n-ish (~0.1-0.3 at n = 200, ~0.01 at n = 5000): it must shrink by a large factor
    assert 0 < np.mean(large) < np.mean(small) / 5


def test_fewer_samples_than_features_still_gives_a_finite_distance():
    rng = np.random.default_rng(5)
    value = frechet_distance(rng.normal(size=(10, 30)), rng.normal(size=(10, 30)))
    assert np.isfinite(value) and value >= 0


@pytest.mark.parametrize(
    "a, b, message",
    [
        (np.zeros((10, 3)), np.zeros((10, 4)), "same number of features"),
        (np.zeros(10), np.zeros((10, 1)), "2-D array"),
        (np.zeros((1, 3)), np.zeros((10, 3)), "n_samples >= 2"),
        (np.full((10, 2), np.nan), np.zeros((10, 2)), "NaN"),
    ],
)
def test_bad_feature_arrays_are_rejected_with_the_reason(a, b, message):
    with pytest.raises(ValueError, match=message):
        frechet_distance(a, b)


def test_mismatched_gaussian_shapes_are_rejected():
    with pytest.raises(ValueError, match="shape"):
        gaussian_frechet_distance(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2))


def test_docstring_example_runs():
    assert doctest.testmod(metrics).failed == 0
