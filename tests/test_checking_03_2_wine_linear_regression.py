"""``dlphys.checking.regression_figures``, the reference of the visible checks of 03_2, 04_1 and 04_2."""

import numpy as np
import pytest

from dlphys.checking import regression_figures


def test_figures_of_a_known_prediction_are_exact():
    truth = np.array([1.0, 2.0, 3.0, 4.0])
    prediction = np.array([1.0, 2.0, 3.0, 6.0])  # one miss by 2: MSE = 4 / 4 = 1
    figures = regression_figures(prediction, truth)
    assert figures["mse"] == pytest.approx(1.0, abs=1e-12)
    assert figures["rms"] == pytest.approx(1.0, abs=1e-12)
    # Pearson r by hand: centred vectors (-1.5, -0.5, 0.5, 1.5) and (-2, -1, 0, 3): 8 / sqrt(5 * 14)
    assert figures["r"] == pytest.approx(8 / np.sqrt(70), abs=1e-12)


def test_r_ignores_scale_and_offset_while_the_errors_do_not():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=50)
    figures = regression_figures(3.0 * truth + 2.0, truth)
    assert figures["r"] == pytest.approx(1.0, abs=1e-12)
    # the differences are 2 t + 2, so the MSE is the mean of (2 t + 2)^2
    assert figures["mse"] == pytest.approx(np.mean((2 * truth + 2) ** 2), rel=1e-12)


def test_a_column_of_predictions_counts_like_a_flat_array():
    truth = np.linspace(0.0, 1.0, 7)
    prediction = truth**2
    assert regression_figures(prediction[:, None], truth) == regression_figures(prediction, truth)


def test_different_numbers_of_values_are_refused():
    with pytest.raises(ValueError, match="same number of values"):
        regression_figures(np.zeros(3), np.zeros(4))
