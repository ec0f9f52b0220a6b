"""Tests for ``dlphys.layers.periodic``: the wrapped values, translation symmetry of a convolution after it, saving."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from dlphys.layers import PeriodicPadding2D


def _lattices(seed, batch=3, size=8, channels=2):
    return np.random.default_rng(seed).choice([-1.0, 1.0], size=(batch, size, size, channels)).astype("float32")


def test_padding_wraps_rows_and_columns_around():
    x = _lattices(0, size=5)
    out = keras.ops.convert_to_numpy(PeriodicPadding2D(((1, 2), (3, 0)))(x))
    expected = np.take(np.take(x, np.arange(-1, 7) % 5, axis=1), np.arange(-3, 5) % 5, axis=2)
    assert out.shape == (3, 8, 8, 2) and np.array_equal(out, expected)


def test_a_valid_convolution_after_it_commutes_with_rolling_the_lattice():
    keras.utils.set_random_seed(1)
    net = keras.Sequential([keras.Input((8, 8, 2)), PeriodicPadding2D(1), keras.layers.Conv2D(4, 3)])
    zero = keras.Sequential([keras.Input((8, 8, 2)), keras.layers.Conv2D(4, 3, padding="same")])
    zero.set_weights(net.get_weights())
    x = _lattices(2)
    for shift in [(1, 0), (0, 3), (5, 7)]:
        rolled = np.roll(x, shift, axis=(1, 2))
        assert np.allclose(
            net.predict(rolled, verbose=0), np.roll(net.predict(x, verbose=0), shift, axis=(1, 2)), atol=1e-5
        )
        # zero padding breaks the symmetry at the border (the control this test can fail against)
        assert not np.allclose(
            zero.predict(rolled, verbose=0), np.roll(zero.predict(x, verbose=0), shift, axis=(1, 2)), atol=1e-3
        )


def test_model_with_the_layer_survives_save_and_load(tmp_path):
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [keras.Input((8, 8, 1)), PeriodicPadding2D((2, 1)), keras.layers.Conv2D(2, (5, 3)), keras.layers.Flatten()]
    )
    x = _lattices(4, channels=1)
    path = tmp_path / "periodic.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.layers[0], PeriodicPadding2D) and loaded.layers[0].padding == ((2, 2), (1, 1))
    assert np.allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert model.output_shape == (None, 8 * 8 * 2)


@pytest.mark.parametrize("padding", [-1, "same", ((1, 2, 3), (1, 1))])
def test_bad_padding_says_what_is_allowed(padding):
    with pytest.raises(ValueError, match="padding must be"):
        PeriodicPadding2D(padding)


def test_padding_larger_than_the_image_is_refused():
    with pytest.raises(ValueError, match="larger than the image"):
        PeriodicPadding2D(5)(_lattices(0, size=4))


def test_docstring_example_runs():
    import doctest

    from dlphys.layers import periodic

    assert doctest.testmod(periodic).attempted > 0 and doctest.testmod(periodic).failed == 0
