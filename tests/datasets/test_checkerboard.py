"""Checkerboard / XOR generator."""

import numpy as np
import pytest

from dlphys.datasets import checkerboard


def test_noise_free_labels_are_xor_of_signs():
    x, y = checkerboard.simulate(2000, noise=0.0, seed=1)
    np.testing.assert_array_equal(y, (x[:, 0] * x[:, 1] > 0).astype(int))
    assert abs(y.mean() - 0.5) < 0.05  # binomial sigma is 0.011 for 2000 points


def test_noise_moves_points_across_boundaries():
    x, y = checkerboard.simulate(5000, noise=0.5, seed=1)
    wrong = np.mean(y != (x[:, 0] * x[:, 1] > 0))
    # displacements up to ±2.5 on a ±6 board put roughly a fifth of the points on the wrong side
    assert 0.1 < wrong < 0.35


def test_same_seed_same_points():
    a = checkerboard.simulate(10, noise=0.3, seed=5)
    b = checkerboard.simulate(10, noise=0.3, seed=5)
    np.testing.assert_array_equal(a[0], b[0])


def test_extra_features():
    x = np.array([[1.0, 2.0]])
    f = checkerboard.features(x, ["x1", "x2", "x1^2", "x1*x2", "sin(x2)"])
    np.testing.assert_allclose(f, [[1, 2, 1, 2, np.sin(2.0)]], rtol=1e-6)
    with pytest.raises(ValueError, match="unknown feature"):
        checkerboard.features(x, ["x3"])


@pytest.mark.parametrize(
    "kwargs, message", [({"n": 0}, "n must"), ({"n": 5, "noise": 2}, "noise"), ({"n": 5, "tiles": 3}, "tiles")]
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        checkerboard.simulate(**kwargs)
