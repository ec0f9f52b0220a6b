"""Tests for ``dlphys.layers.gcn``: the propagation matrix, the layer's value in every mode, dense and
sparse adjacency, saving, and agreement with ``spektral.layers.GCNConv`` (run under tf-keras)."""

from __future__ import annotations

import doctest
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import scipy.sparse as sp
import tensorflow as tf

from dlphys.layers import GCNConv, gcn
from dlphys.layers.gcn import gcn_filter

# float32 products of O(1) numbers over at most 12 nodes and 5 features: results that are equal
# mathematically differ by a few ulp when the summation order changes; 1e-5 is ~100 ulp of margin.
ATOL = 1e-5


def _graph(seed, n_nodes=12, p_edge=0.3, weighted=False):
    """A random symmetric adjacency matrix without self loops (float32), with one isolated node."""
    rng = np.random.default_rng(seed)
    upper = np.triu(rng.random((n_nodes, n_nodes)) < p_edge, k=1).astype("float32")
    if weighted:
        upper *= rng.uniform(0.5, 3.0, size=upper.shape).astype("float32")
    a = upper + upper.T
    a[-1, :] = a[:, -1] = 0.0  # an isolated node: its row of the filter is its self loop only
    return a


def _features(seed, *shape):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _reference(x, a_filter, kernel, bias, activation=np.tanh):
    """The propagation rule in NumPy float64: activation(A_f X W + b)."""
    return activation(np.asarray(a_filter, "float64") @ (np.asarray(x, "float64") @ kernel) + bias)


def _sparse(a):
    coo = sp.coo_matrix(a)
    return tf.sparse.reorder(
        tf.SparseTensor(np.stack([coo.row, coo.col], 1).astype("int64"), coo.data.astype("float32"), coo.shape)
    )


def _layer_with_random_weights(n_features, channels, seed, **kwargs):
    layer = GCNConv(channels, activation="tanh", **kwargs)
    layer.build([(None, n_features), (None, None)])
    layer.set_weights([_features(seed, n_features, channels), _features(seed + 1, channels)])
    return layer


# --- the propagation matrix ----------------------------------------------------------------------
@pytest.mark.parametrize("weighted", [False, True])
def test_gcn_filter_is_the_symmetrically_normalised_adjacency_with_self_loops(weighted):
    a = _graph(0, weighted=weighted)
    a_hat = a.astype("float64") + np.eye(len(a))
    d = a_hat.sum(axis=1)
    expected = a_hat / np.sqrt(d[:, None] * d[None, :])
    np.testing.assert_allclose(gcn_filter(a), expected, rtol=1e-6)
    # Its eigenvalues lie in (-1, 1], the largest is 1 (eigenvector sqrt(d)): repeated layers neither
    # blow up nor shrink the features; 1e-6 is float32 rounding.
    eigenvalues = np.linalg.eigvalsh(gcn_filter(a).astype("float64"))
    assert eigenvalues.max() == pytest.approx(1.0, abs=1e-6) and eigenvalues.min() > -1.0
    assert gcn_filter(a)[-1, -1] == pytest.approx(1.0)  # isolated node: only its self loop


def test_gcn_filter_of_a_sparse_matrix_equals_the_dense_one_and_stays_sparse():
    a = _graph(1, weighted=True)
    out = gcn_filter(sp.csr_matrix(a))
    assert sp.issparse(out) and out.has_sorted_indices and out.dtype == np.float32
    np.testing.assert_allclose(out.toarray(), gcn_filter(a), rtol=1e-6)


def test_gcn_filter_of_a_stack_filters_each_graph():
    stack = np.stack([_graph(2), _graph(3)])
    np.testing.assert_allclose(gcn_filter(stack), np.stack([gcn_filter(stack[0]), gcn_filter(stack[1])]))


def test_gcn_filter_rejects_a_non_square_matrix():
    with pytest.raises(ValueError, match=r"\(N, N\).*received shape \(3, 4\)"):
        gcn_filter(np.zeros((3, 4)))


# --- the layer's value in the three modes, dense and sparse ---------------------------------------
def test_single_mode_is_the_kipf_welling_propagation_rule():
    a_f, x = gcn_filter(_graph(4)), _features(5, 12, 5)
    layer = _layer_with_random_weights(5, 3, seed=6)
    kernel, bias = (w.astype("float64") for w in layer.get_weights())
    expected = _reference(x, a_f, kernel, bias)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer([x, a_f])), expected, atol=ATOL)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer([x, _sparse(a_f)])), expected, atol=ATOL)


@pytest.mark.parametrize("sparse", [False, True])
def test_mixed_mode_applies_one_graph_to_every_sample(sparse):
    a_f, x = gcn_filter(_graph(7)), _features(8, 4, 12, 5)
    layer = _layer_with_random_weights(5, 3, seed=9)
    kernel, bias = (w.astype("float64") for w in layer.get_weights())
    out = keras.ops.convert_to_numpy(layer([x, _sparse(a_f) if sparse else a_f]))
    assert out.shape == (4, 12, 3)
    for b in range(4):
        np.testing.assert_allclose(out[b], _reference(x[b], a_f, kernel, bias), atol=ATOL)


def test_batch_mode_uses_each_samples_own_graph():
    a_f = gcn_filter(np.stack([_graph(10), _graph(11), _graph(12)]))
    x = _features(13, 3, 12, 5)
    layer = _layer_with_random_weights(5, 2, seed=14)
    kernel, bias = (w.astype("float64") for w in layer.get_weights())
    out = keras.ops.convert_to_numpy(layer([x, a_f]))
    for b in range(3):
        np.testing.assert_allclose(out[b], _reference(x[b], a_f[b], kernel, bias), atol=ATOL)


def test_normalize_true_on_the_raw_adjacency_equals_the_prefiltered_matrix():
    a, x = _graph(15, weighted=True), _features(16, 12, 5)
    layer = _layer_with_random_weights(5, 3, seed=17)
    inside = _layer_with_random_weights(5, 3, seed=17, normalize=True)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(inside([x, a])), keras.ops.convert_to_numpy(layer([x, gcn_filter(a)])), atol=ATOL
    )
    stack = np.stack([a, _graph(18)])  # batch mode normalises each graph
    xs = _features(19, 2, 12, 5)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(inside([xs, stack])),
        keras.ops.convert_to_numpy(layer([xs, gcn_filter(stack)])),
        atol=ATOL,
    )
    with pytest.raises(ValueError, match="normalize=True needs a dense adjacency"):
        inside([x, _sparse(a)])


def test_relabelling_the_nodes_permutes_the_output_rows():
    # Graph convolution is permutation equivariant: P A P^T with P X gives P X'.
    a_f, x = gcn_filter(_graph(20)), _features(21, 12, 5)
    perm = np.random.default_rng(22).permutation(12)
    layer = _layer_with_random_weights(5, 4, seed=23)
    out = keras.ops.convert_to_numpy(layer([x, a_f]))
    out_perm = keras.ops.convert_to_numpy(layer([x[perm], a_f[perm][:, perm]]))
    np.testing.assert_allclose(out_perm, out[perm], atol=ATOL)


# --- Keras integration ----------------------------------------------------------------------------
def _single_mode_model(n_nodes, n_features, sparse):
    x_in = keras.Input((n_features,), name="x")
    a_in = keras.Input((n_nodes,), sparse=sparse, name="a")
    h = GCNConv(4, activation="relu", kernel_regularizer="l2", name="gcn_1")([x_in, a_in])
    h = GCNConv(2, activation="tanh", use_bias=False, name="gcn_2")([h, a_in])
    return keras.Model([x_in, a_in], h)


@pytest.mark.parametrize("sparse", [False, True])
def test_model_survives_save_and_load(tmp_path, sparse):
    keras.utils.set_random_seed(24)
    a_f, x = gcn_filter(_graph(25)), _features(26, 12, 5)
    a_in = sp.csr_matrix(a_f) if sparse else a_f
    model = _single_mode_model(12, 5, sparse)
    before = model.predict([x, a_in], batch_size=12, verbose=0)
    model.save(tmp_path / "gcn.keras")
    loaded = keras.saving.load_model(tmp_path / "gcn.keras")
    assert isinstance(loaded.get_layer("gcn_1"), GCNConv) and loaded.get_layer("gcn_2").use_bias is False
    np.testing.assert_allclose(loaded.predict([x, a_in], batch_size=12, verbose=0), before, atol=ATOL)


def test_single_mode_model_trains_on_a_masked_node_subset():
    # Semi-supervised node classification as in exercise 16.1: the loss sees two labelled nodes only.
    keras.utils.set_random_seed(27)
    a_f, x = gcn_filter(_graph(28)), np.eye(12, dtype="float32")
    x_in, a_in = keras.Input((12,)), keras.Input((12,))
    h = GCNConv(8, activation="relu")([x_in, a_in])
    out = GCNConv(2, activation="softmax")([h, a_in])
    model = keras.Model([x_in, a_in], out)
    model.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy")
    y = np.zeros(12, "int64")
    y[1] = 1
    mask = np.zeros(12, "float32")
    mask[[0, 1]] = 1.0
    loss = model.fit([x, a_f], y, sample_weight=mask, batch_size=12, shuffle=False, epochs=60, verbose=0)
    assert loss.history["loss"][-1] < 0.1 * loss.history["loss"][0]
    p = model.predict([x, a_f], batch_size=12, verbose=0)
    assert p[0].argmax() == 0 and p[1].argmax() == 1


def test_get_config_round_trip_keeps_every_argument():
    layer = GCNConv(
        7,
        activation="elu",
        use_bias=False,
        kernel_initializer="he_normal",
        kernel_regularizer=keras.regularizers.L2(0.01),
        normalize=True,
        name="g",
    )
    clone = GCNConv.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert clone.channels == 7 and clone.normalize is True and clone.name == "g"
    assert keras.saving.get_registered_object("dlphys>GCNConv") is GCNConv


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"channels": 0}, r"channels must be a positive integer.*channels=0"),
        ({"channels": 2.5}, r"channels=2.5"),
        ({"channels": True}, r"channels=True"),
        ({"channels": 2, "normalize": "yes"}, r"normalize must be True or False.*'yes'"),
    ],
)
def test_invalid_arguments_are_named_in_the_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GCNConv(**kwargs)


def test_wrong_input_ranks_are_refused():
    with pytest.raises(ValueError, match=r"expects two inputs \[x, a\]"):
        GCNConv(2)(np.zeros((3, 4), "float32"))
    with pytest.raises(ValueError, match=r"received x shape \(3, 4\) and a shape \(2, 3, 3\)"):
        GCNConv(2)([np.zeros((3, 4), "float32"), np.zeros((2, 3, 3), "float32")])


def test_docstring_examples_run():
    assert doctest.testmod(gcn, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0


# --- the same numbers as spektral -----------------------------------------------------------------
SPEKTRAL_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import scipy.sparse as sp
    import tf_keras
    from spektral.layers import GCNConv
    from spektral.utils.sparse import sp_matrix_to_sp_tensor
    from spektral.utils import gcn_filter

    # The legacy switch must have taken effect: spektral's layer is a tf-keras (Keras 2) layer.
    assert issubclass(GCNConv, tf_keras.layers.Layer), GCNConv.__mro__
    data = dict(np.load(sys.argv[1]))
    tf_keras.utils.set_random_seed(0)
    out = {"filter_dense": gcn_filter(data["a"].copy()),
           "filter_sparse": gcn_filter(sp.csr_matrix(data["a"])).toarray(),
           "filter_stack": gcn_filter(data["a_stack"].copy())}
    layer = GCNConv(3, activation="tanh", bias_initializer="glorot_uniform")
    out["single"] = layer([data["x"], out["filter_dense"]]).numpy()
    out["single_sparse"] = layer([data["x"], sp_matrix_to_sp_tensor(sp.csr_matrix(out["filter_dense"]))]).numpy()
    out["batch"] = layer([data["x_stack"], out["filter_stack"]]).numpy()
    out["mixed"] = layer([data["x_stack"], out["filter_dense"]]).numpy()
    out["kernel"], out["bias"] = (w.numpy() for w in layer.weights)
    np.savez(sys.argv[2], **out)
""")


def test_layer_gives_spektrals_output_for_the_same_weights(tmp_path):
    """spektral 1.3 needs Keras 2: it runs in a subprocess under tf-keras (TF_USE_LEGACY_KERAS=1),
    draws its own weights, and our Keras 3 layer, given those weights, must reproduce its outputs."""
    pytest.importorskip("spektral")
    pytest.importorskip("tf_keras")
    inputs = {
        "a": _graph(30, weighted=True),
        "a_stack": np.stack([_graph(31), _graph(32)]),
        "x": _features(33, 12, 5),
        "x_stack": _features(34, 2, 12, 5),
    }
    np.savez(tmp_path / "in.npz", **inputs)
    (tmp_path / "run.py").write_text(SPEKTRAL_SCRIPT)
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    run = subprocess.run(
        [sys.executable, str(tmp_path / "run.py"), str(tmp_path / "in.npz"), str(tmp_path / "out.npz")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, f"spektral subprocess failed:\n{run.stderr[-3000:]}"
    ref = dict(np.load(tmp_path / "out.npz"))

    # The same normalised adjacency (spektral.utils.gcn_filter), dense, sparse and stacked.
    np.testing.assert_allclose(gcn_filter(inputs["a"]), ref["filter_dense"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        gcn_filter(sp.csr_matrix(inputs["a"])).toarray(), ref["filter_sparse"], rtol=1e-6, atol=1e-7
    )
    np.testing.assert_allclose(gcn_filter(inputs["a_stack"]), ref["filter_stack"], rtol=1e-6, atol=1e-7)

    # The same outputs for spektral's weights, in every mode (a layer with a random bias, so that
    # the bias is tested too).
    layer = GCNConv(3, activation="tanh")
    layer.build([(None, 5), (None, None)])
    layer.set_weights([ref["kernel"], ref["bias"]])
    a_f = gcn_filter(inputs["a"])
    assert np.abs(ref["bias"]).max() > 0.1, "spektral's bias must be non-zero for this test to check it"
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer([inputs["x"], a_f])), ref["single"], atol=ATOL)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer([inputs["x"], _sparse(a_f)])), ref["single_sparse"], atol=ATOL
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer([inputs["x_stack"], gcn_filter(inputs["a_stack"])])), ref["batch"], atol=ATOL
    )
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer([inputs["x_stack"], a_f])), ref["mixed"], atol=ATOL)
    raw = GCNConv(3, activation="tanh", normalize=True)
    raw.build([(None, 5), (None, None)])
    raw.set_weights([ref["kernel"], ref["bias"]])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(raw([inputs["x"], inputs["a"]])), ref["single"], atol=ATOL)
