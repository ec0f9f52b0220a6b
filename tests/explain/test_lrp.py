"""Tests of layer-wise relevance propagation (``dlphys.explain.lrp``) on tiny seeded models.

Relevances are computed in float64 from float32 weights, so identities that hold exactly in
exact arithmetic (conservation, equality of equivalent models) are tested to ~1e-10 relative;
reference logits and gradients come from float64 Keras models.
"""

from __future__ import annotations

import doctest
import importlib

import keras
import matplotlib
import numpy as np
import pytest
import tensorflow as tf

from dlphys.explain import lrp
from dlphys.plotting import plot_relevance

L = keras.layers
lrp_module = importlib.import_module("dlphys.explain.lrp")  # the package re-exports the function as `lrp`
EXACT = 1e-10  # relative tolerance of float64 identities (round-off ~1e-15 per operation)


def _dense_net(seed=0, bias=False, out_activation=None, dtype="float32"):
    """Dense(6, relu) -> Dense(5) -> ReLU -> Dense(3); float64 models give exact reference logits."""
    keras.utils.set_random_seed(seed)
    init = keras.initializers.RandomNormal(stddev=0.3, seed=seed) if bias else "zeros"
    return keras.Sequential(
        [
            keras.Input((7,), dtype=dtype),
            L.Dense(6, activation="relu", use_bias=bias, bias_initializer=init, name="d1", dtype=dtype),
            L.Dense(5, use_bias=bias, bias_initializer=init, name="d2", dtype=dtype),
            L.ReLU(name="relu2", dtype=dtype),
            L.Dense(3, activation=out_activation, use_bias=bias, bias_initializer=init, name="d3", dtype=dtype),
        ]
    )


def _conv_net(seed=0, out_activation=None, dtype="float32"):
    """Conv(relu) -> MaxPool -> Conv -> relu -> AvgPool -> Flatten -> Dropout -> Dense, bias-free."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((8, 8, 2), dtype=dtype),
            L.Conv2D(4, 3, padding="same", activation="relu", use_bias=False, name="c1", dtype=dtype),
            L.MaxPooling2D(2, name="max", dtype=dtype),
            L.Conv2D(5, 2, use_bias=False, name="c2", dtype=dtype),
            L.Activation("relu", name="act", dtype=dtype),
            L.AveragePooling2D(2, padding="same", name="avg", dtype=dtype),
            L.Flatten(name="flat", dtype=dtype),
            L.Dropout(0.5, name="drop", dtype=dtype),
            L.Dense(3, activation=out_activation, use_bias=False, name="out", dtype=dtype),
        ]
    )


def _x(shape, seed=1, positive=False):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 1.0, shape) if positive else rng.normal(size=shape)


def _logits(model, x):
    """Pre-activation outputs of the last Dense layer (NumPy; exact for float64 models)."""
    body = keras.Model(model.inputs[0], model.layers[-2].output)  # keeps the input dtype
    h = keras.ops.convert_to_numpy(body(x.astype(model.inputs[0].dtype))).astype(np.float64)
    w = keras.ops.convert_to_numpy(model.layers[-1].kernel).astype(np.float64)
    return h @ w


def _relative(a, b):
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


# --- a NumPy reference of the rules for Dense/ReLU networks, independent of the gradient trick ---


def _safe(num, den):
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den != 0)


def _reference_dense_layer(a, w, b, r, rule, eps=1e-6, gamma=0.25, alpha=2.0, beta=1.0, low=None, high=None):
    """Relevance of the inputs ``a`` (N, J) of one Dense layer, from explicit contributions z_jk."""
    zjk = a[:, :, None] * w[None]  # (N, J, K)
    rk = r[:, None, :]
    if rule in ("zero", "epsilon"):
        z = zjk.sum(1) + b
        if rule == "epsilon":
            z = z + eps * np.where(z >= 0, 1.0, -1.0)
        return (_safe(zjk, z[:, None, :]) * rk).sum(2)
    if rule == "gamma":
        zz = zjk + gamma * np.clip(zjk, 0, None)
        return (_safe(zz, (zz.sum(1) + b + gamma * np.clip(b, 0, None))[:, None, :]) * rk).sum(2)
    if rule in ("alphabeta", "zplus"):
        if rule == "zplus":
            alpha, beta = 1.0, 0.0
        p, n = np.clip(zjk, 0, None), np.clip(zjk, None, 0)
        zp = p.sum(1) + np.clip(b, 0, None)
        zn = n.sum(1) + np.clip(b, None, 0)
        return (alpha * _safe(p, zp[:, None, :]) * rk - beta * _safe(n, zn[:, None, :]) * rk).sum(2)
    if rule == "zb":
        zz = zjk - low * np.clip(w, 0, None)[None] - high * np.clip(w, None, 0)[None]
        return (_safe(zz, zz.sum(1)[:, None, :]) * rk).sum(2)
    if rule == "flat":
        zz = np.ones_like(zjk)
    else:  # wsquare
        zz = np.broadcast_to(w[None] ** 2, zjk.shape)
    return (_safe(zz, zz.sum(1)[:, None, :]) * rk).sum(2)


def _reference_dense_net(model, x, rules, target, **params):
    """LRP through Dense(relu)/ReLU layers with ``rules[i]`` for the i-th Dense layer."""
    dense = [layer for layer in model.layers if isinstance(layer, L.Dense)]
    acts, a = [], x.astype(np.float64)
    for layer in dense:
        acts.append(a)
        w = keras.ops.convert_to_numpy(layer.kernel).astype(np.float64)
        b = np.zeros(w.shape[1]) if layer.bias is None else keras.ops.convert_to_numpy(layer.bias).astype(np.float64)
        a = a @ w + b
        if layer is not dense[-1]:
            a = np.maximum(a, 0)
    r = np.zeros_like(a)
    r[np.arange(len(a)), target] = a[np.arange(len(a)), target]
    for layer, a_in, rule in zip(dense[::-1], acts[::-1], rules[::-1], strict=False):
        w = keras.ops.convert_to_numpy(layer.kernel).astype(np.float64)
        b = np.zeros(w.shape[1]) if layer.bias is None else keras.ops.convert_to_numpy(layer.bias).astype(np.float64)
        r = _reference_dense_layer(a_in, w, b, r, rule, **params)
    return r


@pytest.mark.parametrize("rule", ["zero", "epsilon", "gamma", "alphabeta", "zplus", "flat", "wsquare"])
def test_every_rule_matches_explicit_numpy_reference_on_dense_net_with_biases(rule):
    # inputs of both signs and non-zero biases exercise every term of the rules (a+, a-, b+, b-)
    model = _dense_net(seed=3, bias=True)
    x = _x((9, 7), seed=4)
    target = np.argmax(_logits(model, x) + keras.ops.convert_to_numpy(model.layers[-1].bias), axis=1)
    params = {"epsilon": 0.05, "gamma": 0.3, "alpha": 3.0, "beta": 2.0}
    # flat/wsquare are first-layer rules: the reference uses epsilon above them
    rules = [rule, "epsilon", "epsilon"] if rule in ("flat", "wsquare") else [rule] * 3
    expected = _reference_dense_net(model, x, rules, target, eps=0.05, gamma=0.3, alpha=3.0, beta=2.0)
    if rule in ("flat", "wsquare"):
        got = lrp(model, x, rule="epsilon", first_layer_rule=rule, **params)
    else:
        got = lrp(model, x, rule=rule, **params)
    assert _relative(got, expected) < EXACT


def test_zb_first_layer_rule_matches_numpy_reference_with_given_bounds():
    model = _dense_net(seed=5, bias=True)
    x = _x((6, 7), seed=6, positive=True)
    target = np.argmax(_logits(model, x) + keras.ops.convert_to_numpy(model.layers[-1].bias), axis=1)
    expected = _reference_dense_net(model, x, ["zb", "zplus", "zplus"], target, low=0.0, high=1.0)
    got = lrp(model, x, rule="zplus", first_layer_rule="zb", low=0.0, high=1.0)
    assert _relative(got, expected) < EXACT


# --- conservation and the gradient × input identity ----------------------------------------------


@pytest.mark.parametrize("rule,epsilon", [("zero", 0.0), ("epsilon", 1e-9), ("zplus", 0.0), ("gamma", 0.0)])
def test_relevance_sums_to_target_logit_in_bias_free_dense_relu_net(rule, epsilon):
    model = _dense_net(seed=0, dtype="float64")
    x = _x((12, 7))
    logits = _logits(model, x)
    relevance = lrp(model, x, rule=rule, epsilon=epsilon)
    explained = logits.max(axis=1)
    # float64 sums of a few dozen terms: 1e-10 relative; eps=1e-9 against logits ~0.1 moves it by ~1e-8
    tol = EXACT if rule != "epsilon" else 1e-6
    assert np.allclose(relevance.sum(axis=1), explained, rtol=tol, atol=0)


@pytest.mark.parametrize("rule", ["zero", "epsilon"])
def test_relevance_sums_to_target_logit_in_conv_pool_dense_net(rule):
    model = _conv_net(seed=1, dtype="float64")
    x = _x((5, 8, 8, 2), seed=2)
    explained = _logits(model, x).max(axis=1)
    relevance = lrp(model, x, rule=rule, epsilon=1e-9)
    # conservation through conv, max (winner-take-all), average pooling, flatten and dropout;
    # eps=1e-9 with pre-activations of order 0.1..1 leaves relative deviations below 1e-6
    assert np.allclose(relevance.reshape(len(x), -1).sum(axis=1), explained, rtol=1e-6, atol=0)


def _gradient_times_input(model, x):
    body = keras.Model(model.inputs[0], model.layers[-2].output)  # keeps the input dtype
    w = model.layers[-1].kernel
    xt = tf.convert_to_tensor(x, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        logits = keras.ops.matmul(body(xt), w)
        chosen = tf.reduce_sum(tf.reduce_max(logits, axis=1))
    return tape.gradient(chosen, xt).numpy() * x


@pytest.mark.parametrize("make,shape", [(_dense_net, (10, 7)), (_conv_net, (4, 8, 8, 2))])
def test_lrp_zero_equals_gradient_times_input_for_bias_free_relu_net(make, shape):
    model = make(seed=2, dtype="float64")
    x = _x(shape, seed=3)
    relevance = lrp(model, x, rule="zero")
    # float64 gradient of the float64 model: equal up to round-off
    assert _relative(relevance, _gradient_times_input(model, x)) < EXACT


def test_linear_model_relevance_is_input_times_weight_of_target_column():
    keras.utils.set_random_seed(4)
    model = keras.Sequential([keras.Input((5,)), L.Dense(3, use_bias=False)])
    x = _x((4, 5), seed=5)
    w = keras.ops.convert_to_numpy(model.layers[0].kernel).astype(np.float64)
    target = np.array([0, 2, 1, 2])
    for rule in ("zero", "epsilon"):
        relevance = lrp(model, x, target=target, rule=rule, epsilon=1e-12)
        # R_i = x_i w_i,t exactly for LRP-0; eps=1e-12 perturbs by < 1e-10 relative
        assert _relative(relevance, x * w[:, target].T) < 1e-9


def test_zplus_relevance_is_non_negative_for_non_negative_inputs():
    model = _conv_net(seed=6)
    x = _x((6, 8, 8, 2), seed=7, positive=True)
    relevance = lrp(model, x, rule="zplus")
    # positive target logits, only positive contributions: R >= 0 up to float64 round-off
    explained = _logits(model, x).max(axis=1)
    assert np.all(explained > 0)
    assert relevance.min() >= -1e-12 * np.abs(relevance).max()
    assert relevance.max() > 0


def test_lrp_zero_has_negative_relevance_where_zplus_has_none():
    # the previous test can only fail if LRP-0 on the same data does produce negative relevance
    model = _conv_net(seed=6)
    x = _x((6, 8, 8, 2), seed=7, positive=True)
    assert lrp(model, x, rule="zero").min() < 0


def test_larger_epsilon_absorbs_more_relevance():
    model = _dense_net(seed=8)
    x = _x((6, 7), seed=9)
    sums = [np.abs(lrp(model, x, rule="epsilon", epsilon=e).sum(axis=1)) for e in (1e-6, 1e-3, 1e-2, 1e-1, 1.0)]
    sums = np.array(sums)  # (n_eps, N)
    # |z / (z + eps sign z)| < 1 shrinks monotonically with eps in every layer
    assert np.all(np.diff(sums, axis=0) < 0)
    assert np.all(sums[-1] < 0.9 * sums[0])  # eps = 1 is comparable to the pre-activations: visible loss


# --- targets --------------------------------------------------------------------------------------


def test_default_target_is_predicted_class_and_explicit_targets_are_explained():
    model = _dense_net(seed=10, dtype="float64")
    x = _x((8, 7), seed=11)
    logits = _logits(model, x)
    predicted = logits.argmax(axis=1)
    default = lrp(model, x, rule="zero")
    np.testing.assert_allclose(default, lrp(model, x, target=predicted, rule="zero"), rtol=0, atol=0)
    # an int target explains that logit for every sample (conservation identifies the explained output)
    for t in range(3):
        relevance = lrp(model, x, target=t, rule="zero")
        np.testing.assert_allclose(relevance.sum(axis=1), logits[:, t], rtol=EXACT, atol=1e-12)
    # per-sample targets: each row equals the single-sample explanation of its own target
    per_sample = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    relevance = lrp(model, x, target=per_sample, rule="zero", batch_size=3)
    for i, t in enumerate(per_sample):
        np.testing.assert_allclose(relevance[i], lrp(model, x[i], target=int(t), rule="zero"), rtol=EXACT, atol=1e-14)


def test_bad_targets_raise_naming_the_allowed_range():
    model = _dense_net(seed=10)
    x = _x((4, 7))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        lrp(model, x, target=3)
    with pytest.raises(ValueError, match="shape"):
        lrp(model, x, target=np.array([0, 1]))
    with pytest.raises(ValueError, match="integer"):
        lrp(model, x, target=np.array([0.0, 1.0, 1.0, 0.0]))


def test_softmax_output_is_explained_on_the_logit():
    x = _x((6, 7), seed=12)
    linear = _dense_net(seed=13, dtype="float64")
    soft = _dense_net(seed=13, out_activation="softmax", dtype="float64")
    layer_soft = keras.Sequential([keras.Input((8, 8, 2)), *_conv_net(seed=14).layers, L.Softmax(name="softmax")])
    for rule in ("zero", "epsilon", "zplus"):
        # identical weights (same seed): identical relevances, not the softmax probabilities
        np.testing.assert_allclose(lrp(soft, x, rule=rule), lrp(linear, x, rule=rule), rtol=0, atol=0)
    xc = _x((3, 8, 8, 2), seed=15)
    np.testing.assert_allclose(lrp(layer_soft, xc), lrp(_conv_net(seed=14), xc), rtol=0, atol=0)
    assert np.allclose(lrp(soft, x, rule="zero").sum(1), _logits(linear, x).max(1), rtol=EXACT)


# --- batch normalisation -------------------------------------------------------------------------


def _set_bn_statistics(bn, seed):
    rng = np.random.default_rng(seed)
    c = bn.moving_mean.shape[0]
    bn.moving_mean.assign(rng.normal(0, 0.5, c).astype("float32"))
    bn.moving_variance.assign(rng.uniform(0.5, 2.0, c).astype("float32"))
    bn.gamma.assign(rng.normal(1.0, 0.5, c).astype("float32"))
    bn.beta.assign(rng.normal(0, 0.3, c).astype("float32"))


def _bn_affine(bn):
    get = keras.ops.convert_to_numpy
    scale = get(bn.gamma).astype(np.float64) / np.sqrt(get(bn.moving_variance).astype(np.float64) + bn.epsilon)
    return scale, get(bn.beta).astype(np.float64) - get(bn.moving_mean).astype(np.float64) * scale


def _float32_close_rule_set():
    return ["zero", "epsilon", "gamma", "alphabeta", "zplus"]


def test_batchnorm_after_dense_is_folded_into_its_weights():
    keras.utils.set_random_seed(16)
    model = keras.Sequential(
        [
            keras.Input((7,)),
            L.Dense(6, name="d1"),
            L.BatchNormalization(name="bn"),
            L.ReLU(),
            L.Dense(3, use_bias=False, name="d2"),
        ]
    )
    _set_bn_statistics(model.get_layer("bn"), 17)
    scale, shift = _bn_affine(model.get_layer("bn"))
    w, b = (keras.ops.convert_to_numpy(v).astype(np.float64) for v in model.get_layer("d1").weights)
    folded = keras.Sequential(
        [keras.Input((7,)), L.Dense(6, activation="relu", name="f1"), L.Dense(3, use_bias=False, name="f2")]
    )
    folded.get_layer("f1").set_weights([w * scale, b * scale + shift])
    folded.get_layer("f2").set_weights(model.get_layer("d2").get_weights())
    x = _x((5, 7), seed=18)
    for rule in _float32_close_rule_set():
        # the folded weights were rounded to float32 by set_weights: 1e-6 relative
        assert _relative(lrp(model, x, rule=rule), lrp(folded, x, rule=rule)) < 1e-6, rule


def test_batchnorm_after_relu_acts_as_elementwise_affine_layer():
    keras.utils.set_random_seed(19)
    model = keras.Sequential(
        [
            keras.Input((7,)),
            L.Dense(6, activation="relu", name="d1"),
            L.BatchNormalization(name="bn"),
            L.Dense(3, use_bias=False, name="d2"),
        ]
    )
    _set_bn_statistics(model.get_layer("bn"), 20)
    scale, shift = _bn_affine(model.get_layer("bn"))
    diagonal = keras.Sequential(
        [
            keras.Input((7,)),
            L.Dense(6, activation="relu", name="d1"),
            L.Dense(6, name="diag"),
            L.Dense(3, use_bias=False, name="d2"),
        ]
    )
    diagonal.get_layer("d1").set_weights(model.get_layer("d1").get_weights())
    diagonal.get_layer("diag").set_weights([np.diag(scale), shift])
    diagonal.get_layer("d2").set_weights(model.get_layer("d2").get_weights())
    x = _x((5, 7), seed=21)
    for rule in _float32_close_rule_set():
        # a Dense layer with diagonal kernel is the same element-wise map: 1e-6 (float32 weights)
        assert _relative(lrp(model, x, rule=rule), lrp(diagonal, x, rule=rule)) < 1e-6, rule


def test_batchnorm_after_conv_is_folded_into_its_kernel():
    keras.utils.set_random_seed(22)
    model = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            L.Conv2D(3, 3, use_bias=False, name="c"),
            L.BatchNormalization(name="bn"),
            L.ReLU(),
            L.GlobalAveragePooling2D(),
            L.Dense(2, use_bias=False, name="d"),
        ]
    )
    _set_bn_statistics(model.get_layer("bn"), 23)
    scale, shift = _bn_affine(model.get_layer("bn"))
    kernel = keras.ops.convert_to_numpy(model.get_layer("c").kernel).astype(np.float64)
    folded = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            L.Conv2D(3, 3, activation="relu", name="c"),
            L.GlobalAveragePooling2D(),
            L.Dense(2, use_bias=False, name="d"),
        ]
    )
    folded.get_layer("c").set_weights([kernel * scale, shift])
    folded.get_layer("d").set_weights(model.get_layer("d").get_weights())
    x = _x((4, 6, 6, 2), seed=24)
    for rule in _float32_close_rule_set():
        # same map with float32-rounded folded weights: 1e-6 relative
        assert _relative(lrp(model, x, rule=rule), lrp(folded, x, rule=rule)) < 1e-6, rule


# --- composite rules ------------------------------------------------------------------------------


def test_composite_of_one_rule_by_class_or_name_equals_that_rule():
    model = _conv_net(seed=25)
    x = _x((3, 8, 8, 2), seed=26)
    for rule in ("zero", "zplus"):
        by_class = {L.Dense: rule, L.Conv2D: rule, L.AveragePooling2D: rule}
        by_name = {"c1": rule, "c2": rule, "avg": rule, "out": rule}
        reference = lrp(model, x, rule=rule)
        np.testing.assert_allclose(lrp(model, x, rule=by_class), reference, rtol=0, atol=0)
        np.testing.assert_allclose(lrp(model, x, rule=by_name), reference, rtol=0, atol=0)
        np.testing.assert_allclose(lrp(model, x, rule=lambda layer, rule=rule: rule), reference, rtol=0, atol=0)


def test_composite_applies_name_before_class_with_per_layer_parameters():
    model = _dense_net(seed=27, bias=True)
    x = _x((5, 7), seed=28)
    target = np.argmax(_logits(model, x) + keras.ops.convert_to_numpy(model.layers[-1].bias), axis=1)
    composite = {"d1": "zplus", "d3": "zero", L.Dense: ("epsilon", {"epsilon": 0.2})}
    expected = _reference_dense_net(model, x, ["zplus", "epsilon", "zero"], target, eps=0.2)
    assert _relative(lrp(model, x, rule=composite), expected) < EXACT
    # the same composite as a callable
    pick = {"d1": "zplus", "d2": ("epsilon", {"epsilon": 0.2}), "d3": "zero"}
    assert _relative(lrp(model, x, rule=lambda layer: pick[layer.name]), expected) < EXACT
    # and it is not simply one of its parts
    assert _relative(lrp(model, x, rule="zplus"), expected) > 1e-3


def test_first_layer_rule_equals_naming_the_first_layer():
    model = _dense_net(seed=29)
    x = _x((4, 7), seed=30)
    np.testing.assert_allclose(
        lrp(model, x, rule="epsilon", first_layer_rule="flat"), lrp(model, x, rule={"d1": "flat"}), rtol=0, atol=0
    )


# --- layers and models ----------------------------------------------------------------------------


def test_max_pooling_gives_all_relevance_to_the_window_winner():
    keras.utils.set_random_seed(31)
    model = keras.Sequential([keras.Input((4, 4, 1)), L.MaxPooling2D(2), L.Flatten(), L.Dense(1, use_bias=False)])
    x = _x((3, 4, 4, 1), seed=32)
    relevance = lrp(model, x, rule="zero")
    w = keras.ops.convert_to_numpy(model.layers[-1].kernel)[:, 0].reshape(2, 2)
    windows = x.reshape(3, 2, 2, 2, 2).transpose(0, 1, 3, 2, 4).reshape(3, 2, 2, 4)
    winner = windows.argmax(axis=-1)
    r_windows = relevance.reshape(3, 2, 2, 2, 2).transpose(0, 1, 3, 2, 4).reshape(3, 2, 2, 4)
    expected = np.zeros_like(r_windows)
    n, i, j = np.indices(winner.shape)
    expected[n, i, j, winner] = windows[n, i, j, winner] * w[None]
    # exactly one non-zero relevance per window, x_win * w: 1e-10 relative (float64)
    assert _relative(r_windows, expected) < EXACT


def test_functional_and_nested_models_equal_their_sequential_version():
    seq = _conv_net(seed=33)
    inp = keras.Input((8, 8, 2))
    h = inp
    for layer in seq.layers:
        h = layer(h)
    functional = keras.Model(inp, h)
    nested = keras.Sequential(
        [keras.Input((8, 8, 2)), keras.Sequential(seq.layers[:3]), keras.Sequential(seq.layers[3:])]
    )
    x = _x((3, 8, 8, 2), seed=34)
    reference = lrp(seq, x, rule="zplus")
    np.testing.assert_allclose(lrp(functional, x, rule="zplus"), reference, rtol=0, atol=0)
    np.testing.assert_allclose(lrp(nested, x, rule="zplus"), reference, rtol=0, atol=0)


def test_forward_pass_that_differs_from_the_model_raises():
    # a layer whose call was replaced computes something else than its weights say
    model = _dense_net(seed=40)
    layer = model.get_layer("d2")
    original = layer.call
    layer.call = lambda inputs, **kwargs: 2.0 * original(inputs)
    with pytest.raises(RuntimeError, match="not reproduced"):
        lrp(model, _x((8, 7), seed=40))


def test_float32_computation_agrees_with_float64():
    model = _conv_net(seed=41)
    x = _x((3, 8, 8, 2), seed=42)
    r64 = lrp(model, x, rule="epsilon", epsilon=1e-3)
    r32 = lrp(model, x, rule="epsilon", epsilon=1e-3, dtype="float32")
    assert r32.dtype == np.float32
    # float32 round-off through four layers, relative to the largest relevance
    assert _relative(r32.astype(np.float64), r64) < 1e-4


def test_single_sample_without_batch_axis_keeps_its_shape():
    model = _conv_net(seed=35)
    x = _x((2, 8, 8, 2), seed=36)
    one = lrp(model, x[1])
    assert one.shape == (8, 8, 2)
    np.testing.assert_allclose(one, lrp(model, x)[1], rtol=EXACT, atol=1e-15)


@pytest.mark.parametrize(
    "make,name,cls",
    [
        (lambda: keras.Sequential([keras.Input((5, 3)), L.LSTM(4, name="my_lstm"), L.Dense(2)]), "my_lstm", "LSTM"),
        (
            lambda: keras.Sequential([keras.Input((3,)), L.Dense(4, activation="tanh", name="th"), L.Dense(2)]),
            "th",
            "tanh",
        ),
        (
            lambda: keras.Sequential([keras.Input((3,)), L.Dense(4, name="d"), L.LeakyReLU(name="leaky"), L.Dense(2)]),
            "leaky",
            "LeakyReLU",
        ),
    ],
)
def test_unsupported_layer_or_activation_raises_naming_it(make, name, cls):
    model = make()
    x = np.ones((2, *model.inputs[0].shape[1:]))
    with pytest.raises(NotImplementedError, match=name) as info:
        lrp(model, x)
    assert cls in str(info.value)


def test_branching_model_and_inner_softmax_raise_naming_the_layer():
    inp = keras.Input((4,))
    a = L.Dense(3, name="left")(inp)
    b = L.Dense(3, name="right")(inp)
    branched = keras.Model(inp, L.Dense(2)(L.Add(name="merge")([a, b])))
    with pytest.raises(ValueError, match="merge"):
        lrp(branched, np.ones((2, 4)))
    inner = keras.Sequential([keras.Input((4,)), L.Dense(3, activation="softmax", name="inner"), L.Dense(2)])
    with pytest.raises(ValueError, match="inner"):
        lrp(inner, np.ones((2, 4)))


def test_wrong_input_shape_and_bad_rules_raise():
    model = _dense_net(seed=37)
    with pytest.raises(ValueError, match=r"shape \(2, 6\)"):
        lrp(model, np.ones((2, 6)))
    with pytest.raises(ValueError, match=r"shape \(1, 2, 7\)"):
        lrp(model, np.ones((1, 2, 7)))
    with pytest.raises(ValueError, match="not a known rule"):
        lrp(model, np.ones((2, 7)), rule="z-plus")
    with pytest.raises(ValueError, match="alpha - beta = 1"):
        lrp(model, np.ones((2, 7)), rule="alphabeta", alpha=2.0, beta=2.0)
    with pytest.raises(ValueError, match="not in model"):
        lrp(model, np.ones((2, 7)), rule={"dense_typo": "zero"})


# --- plotting --------------------------------------------------------------------------------------


def test_plot_relevance_is_symmetric_sums_channels_and_labels_colourbar():
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    relevance = np.zeros((5, 6, 3))
    relevance[1, 2] = [1.0, 0.5, 0.5]  # channel sum 2.0
    relevance[3, 4, 0] = -0.5
    image = np.arange(30.0).reshape(5, 6)
    ax = plot_relevance(relevance, image=image)
    heat = ax.images[0]
    assert heat.get_clim() == (-2.0, 2.0)
    assert heat.get_array()[1, 2] == 2.0
    assert ax.figure.axes[-1].get_ylabel() == "relevance"
    assert ax.get_xlabel() and ax.get_ylabel()
    assert ax.collections  # the image contour lines
    # contours of a peak at (row 2, column 3) are centred on that pixel of the heat map (0.5 pixel)
    rows, cols = np.mgrid[0:12, 0:10]
    peak = np.exp(-((rows - 2.0) ** 2 + (cols - 3.0) ** 2) / 4.0)
    ax_peak = plot_relevance(peak, image=peak, levels=[0.5])
    vertices = np.concatenate([path.vertices for path in ax_peak.collections[0].get_paths()])
    assert np.allclose(vertices.mean(axis=0), [3.0, 2.0], atol=0.5)  # a flipped contour would sit at row 9
    ax2 = plot_relevance(relevance[..., 0], image=image, overlay="image", colorbar=False)
    assert len(ax2.images) == 2
    with pytest.raises(ValueError, match="shape"):
        plot_relevance(np.zeros((2, 3, 4, 5)))
    with pytest.raises(ValueError, match="does not match"):
        plot_relevance(relevance, image=np.zeros((4, 6)))
    plt.close("all")


def test_docstring_examples_run():
    result = doctest.testmod(lrp_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 5 and result.failed == 0


# --- parameter-free pooling layers -------------------------------------------------------------------


def _pooled_and_flat_twins(seed):
    """Conv(relu, bias-free) -> GlobalAveragePooling -> Dense, and the same map with the average folded
    into a Dense on the flattened feature maps (kernel w / (H W) at every position)."""
    keras.utils.set_random_seed(seed)
    conv = {"filters": 3, "kernel_size": 3, "activation": "relu", "use_bias": False, "dtype": "float64"}
    pooled = keras.Sequential(
        [
            keras.Input((6, 6, 2), dtype="float64"),
            L.Conv2D(name="c", **conv),
            L.GlobalAveragePooling2D(name="gap", dtype="float64"),
            L.Dense(2, use_bias=False, name="d", dtype="float64"),
        ]
    )
    flat = keras.Sequential(
        [
            keras.Input((6, 6, 2), dtype="float64"),
            L.Conv2D(name="c", **conv),
            L.Flatten(dtype="float64"),
            L.Dense(2, use_bias=False, name="d", dtype="float64"),
        ]
    )
    flat.get_layer("c").set_weights(pooled.get_layer("c").get_weights())
    w = pooled.get_layer("d").get_weights()[0]  # (3, 2)
    flat.get_layer("d").set_weights([np.tile(w, (16, 1)) / 16.0])  # 4x4 positions, channels last
    return pooled, flat


@pytest.mark.parametrize("rule", ["alphabeta", ("epsilon", {"epsilon": 0.25}), "zplus", "zero"])
def test_average_pooling_redistributes_proportionally_whatever_the_rule(rule):
    pooled, flat = _pooled_and_flat_twins(seed=41)
    x = _x((4, 6, 6, 2), seed=42)
    np.testing.assert_allclose(_logits(pooled, x), _logits(flat, x), rtol=1e-12)
    r_pooled, r_flat = lrp(pooled, x, rule=rule), lrp(flat, x, rule=rule)
    # the pooling layer adds nothing: same relevance map as the equivalent net without it (float64)
    assert _relative(r_pooled, r_flat) < EXACT, rule


def test_alpha2_beta1_keeps_its_relevance_sum_through_a_pooling_layer():
    pooled, flat = _pooled_and_flat_twins(seed=43)
    x = _x((6, 6, 6, 2), seed=44)
    sums = [lrp(m, x, rule="alphabeta", alpha=2.0).reshape(len(x), -1).sum(axis=1) for m in (pooled, flat)]
    # with alpha-beta applied to the pooling layer too, its all-positive contributions double the relevance
    doubled = lrp(pooled, x, rule={L.GlobalAveragePooling2D: "alphabeta", L.Layer: "alphabeta"})
    np.testing.assert_allclose(sums[0], sums[1], rtol=EXACT)
    np.testing.assert_allclose(doubled.reshape(len(x), -1).sum(axis=1), 2 * sums[0], rtol=EXACT)
