"""GradientReversal: identity forward, −λ × the gradient backward, λ a weight that a traced train step reads."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from dlphys.layers import GradientReversal


def test_forward_pass_is_the_identity_for_any_shape():
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5)).astype("float32")
    y = keras.ops.convert_to_numpy(GradientReversal(0.7)(x))
    # (1 + λ)x − λx rounds twice in float32: a few ulp of (1 + 2λ)|x|, below 1e-6 for |x| < 4
    np.testing.assert_allclose(y, x, rtol=0, atol=1e-6)


@pytest.mark.parametrize("lam", [0.0, 0.3, 2.5])
def test_gradient_is_minus_lambda_times_the_upstream_gradient(lam):
    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(size=(4, 3)).astype("float32"))
    upstream = tf.constant(rng.normal(size=(4, 3)).astype("float32"))
    layer = GradientReversal(lam)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(layer(x) * upstream)
    # float32: the stop_gradient branch contributes nothing, −λ·upstream is one multiplication (exact to 1 ulp)
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), -lam * upstream.numpy(), rtol=1e-6, atol=1e-7)


def _mean_output(y_true, y_pred):
    return keras.ops.mean(y_pred)


def _one_weight_model(lam):
    """w·x → GradientReversal: minimising the output with SGD(1) moves w by +λ·x per step (the reversed gradient)."""
    model = keras.Sequential(
        [
            keras.Input(shape=(1,)),
            keras.layers.Dense(1, use_bias=False, kernel_initializer="ones"),
            GradientReversal(lam, name="reversal"),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss=_mean_output)
    return model


def test_assigning_lambda_changes_the_gradient_of_an_already_traced_train_step():
    model = _one_weight_model(0.5)
    x, y = np.ones((1, 1), "float32"), np.zeros((1, 1), "float32")
    model.fit(x, y, epochs=1, batch_size=1, verbose=0)  # traces the train step; w: 1 → 1 + 0.5
    np.testing.assert_allclose(model.layers[0].get_weights()[0], [[1.5]], rtol=1e-6)
    model.get_layer("reversal").lam.assign(2.0)
    model.fit(x, y, epochs=1, batch_size=1, verbose=0)  # the same traced step; a frozen float would add 0.5
    np.testing.assert_allclose(model.layers[0].get_weights()[0], [[3.5]], rtol=1e-6)
    assert not model.get_layer("reversal").trainable_weights  # λ itself is not trained


def test_survives_save_and_load_with_its_current_lambda(tmp_path):
    model = _one_weight_model(0.5)
    model.get_layer("reversal").lam.assign(1.25)
    model.save(tmp_path / "grl.keras")
    loaded = keras.saving.load_model(tmp_path / "grl.keras", compile=False)
    layer = loaded.get_layer("reversal")
    assert isinstance(layer, GradientReversal) and layer.get_config()["lam"] == 0.5
    assert float(keras.ops.convert_to_numpy(layer.lam)) == 1.25
    x = np.array([[2.0], [-3.0]], "float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("lam", [-0.1, float("nan"), "strong"])
def test_bad_lambda_is_refused_with_its_value(lam):
    with pytest.raises(ValueError, match="lam must be"):
        GradientReversal(lam)
