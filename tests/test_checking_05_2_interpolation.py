"""``dlphys.checking.deviation_from_model``: the visible checks' test that reported predictions are a model's own."""

import keras
import numpy as np
import pytest

from dlphys.checking import deviation_from_model


def _one_input_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input(shape=(1,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])


def test_a_models_own_predictions_deviate_by_nothing_flat_or_as_a_column():
    model = _one_input_model()
    t = np.linspace(0.0, 1.0, 11, dtype="float32")
    column = keras.ops.convert_to_numpy(model(t[:, None]))
    # the same float32 computation twice: exactly equal
    assert deviation_from_model(model, t, column) == 0.0
    assert deviation_from_model(model, t[:, None], column[:, 0]) == 0.0


def test_a_shifted_prediction_deviates_by_the_shift():
    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(2, activation="softmax")])
    x = np.random.default_rng(1).normal(size=(5, 3))
    p = keras.ops.convert_to_numpy(model(x.astype("float32"))).copy()
    p[2, 1] += 0.25
    # float32 outputs compared in float64: the shift is found to float32 precision (~1e-7)
    assert deviation_from_model(model, x, p) == pytest.approx(0.25, abs=1e-6)


def test_nan_in_the_reported_values_is_not_hidden():
    model = _one_input_model()
    outputs = np.full(4, np.nan)
    assert np.isnan(deviation_from_model(model, np.zeros(4), outputs))


def test_a_wrong_number_of_values_is_an_error_that_names_both_sizes():
    model = _one_input_model()
    with pytest.raises(ValueError, match=r"3 values, the model gives 4"):
        deviation_from_model(model, np.zeros(4), np.zeros(3))
