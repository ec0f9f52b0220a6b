"""``dlphys.checking.input_gradient``, the gradient the visible LRP check of 12.3 compares LRP-ε with."""

import keras
import numpy as np

from dlphys.checking import input_gradient


def test_gradient_of_a_linear_model_is_its_weights_for_every_sample():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, use_bias=True)])
    kernel = np.array([[1.5], [-2.0], [0.25]], dtype="float32")
    model.layers[-1].set_weights([kernel, np.array([0.7], dtype="float32")])
    x = np.random.default_rng(0).normal(size=(4, 3))
    grad = input_gradient(model, x)
    # a linear map: the gradient is the kernel, the same for each sample (float32 weights: exact to ~1e-7)
    assert grad.shape == (4, 3)
    np.testing.assert_allclose(grad, np.broadcast_to(kernel[:, 0], (4, 3)), atol=1e-6)


def test_gradient_times_input_is_lrp_zero_of_a_relu_network():
    from dlphys.explain import lrp

    model = keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(1),
        ]
    )
    rng = np.random.default_rng(1)
    for layer in (model.layers[0], model.layers[-1]):  # non-zero biases: the identity holds with them too
        kernel, bias = layer.get_weights()
        layer.set_weights([kernel, rng.normal(scale=0.3, size=bias.shape).astype("float32")])
    x = rng.choice([-1.0, 1.0], size=(3, 6, 6, 1))
    # LRP-0 equals gradient × input for a ReLU network, biases or not: agreement to float32 round-off (~1e-6)
    relevance = lrp(model, x, rule="epsilon", epsilon=1e-9)
    np.testing.assert_allclose(relevance, input_gradient(model, x) * x, atol=1e-5)


def test_samples_do_not_mix():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, activation="relu"), keras.layers.Dense(1)])
    x = np.random.default_rng(2).normal(size=(5, 2))
    together = input_gradient(model, x)
    one_by_one = np.concatenate([input_gradient(model, x[i : i + 1]) for i in range(5)])
    np.testing.assert_allclose(together, one_by_one, atol=1e-6)
