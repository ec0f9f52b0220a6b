"""The Part I plot helpers of ``dlphys.plotting`` (the physics ones are tested with their datasets)."""

import matplotlib
import numpy as np
import pytest

from dlphys.plotting import plot_decision_regions, plot_history, plot_prediction_vs_truth

matplotlib.use("Agg")


def test_plot_history_draws_training_and_validation_curves_per_epoch():
    history = {"loss": [3.0, 2.0, 1.0], "val_loss": [3.5, 2.5, 2.0], "accuracy": [0.5, 0.6, 0.7]}
    ax = plot_history(history, metrics=("loss",), logy=True)
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["training loss", "validation loss"]
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [1, 2, 3])
    assert ax.get_xlabel() == "epoch" and ax.get_yscale() == "log"


def test_plot_decision_regions_evaluates_the_classifier_on_the_grid():
    calls = []

    def predict(inputs):  # class 1 where x1 > 0; records what the helper passed in
        calls.append(inputs)
        return (inputs[:, 0] > 0).astype(float)

    x = np.array([[-1.0, -1.0], [1.0, 1.0]])
    ax = plot_decision_regions(predict, x, y=[0, 1], resolution=20, transform=lambda g: g * 2)
    (grid,) = calls
    assert grid.shape == (400, 2)
    # the transform was applied: the grid spans the data range ±0.5 margin, doubled
    np.testing.assert_allclose([grid[:, 0].min(), grid[:, 0].max()], [-3.0, 3.0])
    assert ax.get_xlabel() == "$x_1$" and ax.get_ylabel() == "$x_2$"


def test_plot_prediction_vs_truth_reports_r_and_keeps_the_predictions():
    rng = np.random.default_rng(1)
    truth = rng.integers(3, 10, 300).astype(float)
    prediction = truth + rng.normal(0, 1.0, 300)
    ax = plot_prediction_vs_truth(truth, prediction, jitter=0.2, unit="points")
    r = np.corrcoef(truth, prediction)[0, 1]
    assert ax.get_title() == f"r = {r:.2f}"
    offsets = ax.collections[0].get_offsets()
    np.testing.assert_array_equal(offsets[:, 1], prediction)
    assert np.all(np.abs(offsets[:, 0] - truth) <= 0.2) and not np.array_equal(offsets[:, 0], truth)
    assert ax.get_xlabel() == "true quality [points] (jittered)"
    with pytest.raises(ValueError, match="same length"):
        plot_prediction_vs_truth(truth, prediction[:-1])
