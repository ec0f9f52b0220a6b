"""Tests for ``dlphys.layers.edgeconv``: the kNN graph, EdgeConv symmetries, values and saving."""

from __future__ import annotations

import doctest
import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.neighbors import NearestNeighbors

from dlphys.layers import edgeconv
from dlphys.layers.edgeconv import EdgeConv, knn_indices

# float32 forward passes through a Dense kernel: results that are mathematically equal differ by a
# few ulp when summation order changes; 1e-5 absolute on O(1) outputs is ~100 ulp of margin.
ATOL = 1e-5


def _cloud(seed, batch=3, n_points=40, channels=3):
    return np.random.default_rng(seed).normal(size=(batch, n_points, channels)).astype("float32")


def _min_neighbour_gap(points, k):
    """Smallest gap between consecutive sorted distances among the k+1 closest (self excluded)."""
    d = np.linalg.norm(points[:, :, None, :] - points[:, None, :, :], axis=-1)
    d_sorted = np.sort(d, axis=-1)[..., 1 : k + 2]  # skip self (distance 0)
    return np.diff(d_sorted, axis=-1).min()


def _numpy_knn(points, k):
    """Brute-force reference: argsort of the full distance matrix with self excluded."""
    d = np.linalg.norm(points[:, :, None, :] - points[:, None, :, :], axis=-1)
    n = points.shape[1]
    d[:, np.arange(n), np.arange(n)] = np.inf
    return np.argsort(d, axis=-1, kind="stable")[..., :k]


# --- the graph ----------------------------------------------------------------------------------
def test_knn_indices_equal_sklearn_nearest_neighbours():
    k = 6
    points = _cloud(0)
    # Precondition: no near-ties, so the order of neighbours is unique even in float32 (the
    # distance errors of the expanded formula are ~1e-6 for O(1) coordinates).
    assert _min_neighbour_gap(points, k) > 1e-5
    idx = keras.ops.convert_to_numpy(knn_indices(points, k))
    assert idx.shape == (3, 40, k)
    for b in range(points.shape[0]):
        nn = NearestNeighbors(n_neighbors=k + 1).fit(points[b])
        _, ref = nn.kneighbors(points[b])
        assert np.all(ref[:, 0] == np.arange(40))  # sklearn returns the point itself first
        np.testing.assert_array_equal(idx[b], ref[:, 1:])
    np.testing.assert_array_equal(idx, _numpy_knn(points, k))


def test_duplicate_points_never_choose_themselves():
    # Points 0 and 1 coincide, as do 2, 3 and 4: self must be excluded although its distance (0)
    # ties with the duplicate's; the duplicates must be the nearest neighbours of each other.
    rng = np.random.default_rng(1)
    points = rng.normal(size=(1, 12, 2)).astype("float32") * 10
    points[0, 1] = points[0, 0]
    points[0, 3] = points[0, 4] = points[0, 2]
    idx = keras.ops.convert_to_numpy(knn_indices(points, 3))[0]
    assert np.all(idx != np.arange(12)[:, None])
    assert idx[0, 0] == 1 and idx[1, 0] == 0
    assert set(idx[2, :2]) == {3, 4} and set(idx[3, :2]) == {2, 4} and set(idx[4, :2]) == {2, 3}


# --- symmetries ---------------------------------------------------------------------------------
@pytest.mark.parametrize("aggregation", ["mean", "max", "sum"])
def test_permuting_points_permutes_output(aggregation):
    keras.utils.set_random_seed(2)
    points, feats = _cloud(3), _cloud(4, channels=4)
    perm = np.random.default_rng(5).permutation(40)
    for layer, args, args_perm in (
        (EdgeConv(keras.layers.Dense(8, activation="relu"), k=5, aggregation=aggregation), points, points[:, perm]),
        (
            EdgeConv(keras.layers.Dense(8, activation="relu"), k=5, aggregation=aggregation),
            [points, feats],
            [points[:, perm], feats[:, perm]],
        ),
    ):
        out = keras.ops.convert_to_numpy(layer(args))
        out_perm = keras.ops.convert_to_numpy(layer(args_perm))
        np.testing.assert_allclose(out_perm, out[:, perm], atol=ATOL)


def test_translating_points_leaves_graph_and_output_unchanged():
    keras.utils.set_random_seed(6)
    k = 5
    points, feats = _cloud(7), _cloud(8, channels=4)
    # Gaps > 1e-4 keep the neighbour order unique under the float32 rounding of the shift
    # (~1e-6 after the centroid is subtracted).
    assert _min_neighbour_gap(points, k) > 1e-4
    shifted = points + np.array([12.5, -7.25, 3.0], dtype="float32")
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(knn_indices(shifted, k)), keras.ops.convert_to_numpy(knn_indices(points, k))
    )
    layer = EdgeConv(keras.layers.Dense(8, activation="tanh"), k=k)
    out = keras.ops.convert_to_numpy(layer([points, feats]))
    out_shifted = keras.ops.convert_to_numpy(layer([shifted, feats]))
    # Same graph and same features: the outputs must agree to the last bit of the same computation.
    np.testing.assert_allclose(out_shifted, out, atol=ATOL)


# --- values -------------------------------------------------------------------------------------
@pytest.mark.parametrize("aggregation", ["mean", "max", "sum"])
def test_dynamic_graph_output_shape(aggregation):
    keras.utils.set_random_seed(9)
    layer = EdgeConv(keras.layers.Dense(7), k=4, aggregation=aggregation)
    out = layer(_cloud(10, batch=2, n_points=15, channels=3))
    assert tuple(out.shape) == (2, 15, 7)
    assert layer.compute_output_shape((None, 15, 3)) == (None, 15, 7)
    assert layer.compute_output_shape([(None, 15, 2), (None, 15, 3)]) == (None, 15, 7)


@pytest.mark.parametrize("aggregation", ["mean", "max", "sum"])
def test_aggregation_equals_numpy_reference(aggregation):
    k, n_out = 2, 3
    rng = np.random.default_rng(11)
    points = rng.normal(size=(2, 6, 2)).astype("float32")
    feats = rng.normal(size=(2, 6, 3)).astype("float32")
    w = rng.normal(size=(6, n_out)).astype("float32")
    bias = rng.normal(size=(n_out,)).astype("float32")

    dense = keras.layers.Dense(n_out)
    layer = EdgeConv(dense, k=k, aggregation=aggregation)
    layer.build([points.shape, feats.shape])
    dense.set_weights([w, bias])
    out = keras.ops.convert_to_numpy(layer([points, feats]))

    nbr = _numpy_knn(points.astype("float64"), k)  # (B, P, k)
    ref = np.empty((2, 6, n_out))
    for b in range(2):
        for i in range(6):
            edges = [np.concatenate([feats[b, i], feats[b, j] - feats[b, i]]) @ w + bias for j in nbr[b, i]]
            ref[b, i] = {"mean": np.mean, "max": np.max, "sum": np.sum}[aggregation](edges, axis=0)
    np.testing.assert_allclose(out, ref, atol=ATOL)


# --- saving and training ------------------------------------------------------------------------
def _dense_kernel():
    return keras.layers.Dense(6, activation="relu")


def _sequential_kernel():
    return keras.Sequential([keras.layers.Dense(8, activation="relu"), keras.layers.Dense(5)])


@pytest.mark.parametrize("make_kernel", [_dense_kernel, _sequential_kernel], ids=["dense", "sequential"])
def test_save_load_round_trip_gives_identical_outputs(tmp_path, make_kernel):
    keras.utils.set_random_seed(12)
    points_in = keras.Input((20, 3))
    feats_in = keras.Input((20, 4))
    x = EdgeConv(make_kernel(), k=4, aggregation="max")([points_in, feats_in])
    x = EdgeConv(make_kernel(), k=3)(x)  # dynamic graph on the learned features
    model = keras.Model([points_in, feats_in], keras.layers.GlobalAveragePooling1D()(x))
    points, feats = _cloud(13, n_points=20), _cloud(14, n_points=20, channels=4)
    expected = model.predict([points, feats], verbose=0)

    path = tmp_path / "edgeconv.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert sum(isinstance(layer, EdgeConv) for layer in loaded.layers) == 2
    # Same weights and same graph: bitwise-equal outputs are expected; 0 tolerance would be fair,
    # but allow float32 ulp-level differences from a different graph trace.
    np.testing.assert_allclose(loaded.predict([points, feats], verbose=0), expected, rtol=0, atol=1e-6)
    config = loaded.get_layer(model.layers[2].name).get_config()
    assert config["k"] == 4 and config["aggregation"] == "max"


def test_gradients_reach_every_kernel_weight():
    keras.utils.set_random_seed(15)
    layer = EdgeConv(_sequential_kernel(), k=3)
    points, feats = _cloud(16, n_points=10), _cloud(17, n_points=10, channels=4)
    with tf.GradientTape() as tape:
        loss = keras.ops.sum(keras.ops.square(layer([points, feats])))
    grads = tape.gradient(loss, layer.trainable_weights)
    assert len(layer.trainable_weights) == 4  # two Dense layers, kernel + bias each
    for var, grad in zip(layer.trainable_weights, grads):
        assert grad is not None, var.path
        assert np.abs(keras.ops.convert_to_numpy(grad)).max() > 0, var.path


# --- bad arguments ------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [5, 6])
def test_k_not_smaller_than_number_of_points_raises_at_build(k):
    layer = EdgeConv(keras.layers.Dense(3), k=k)
    with pytest.raises(ValueError, match=rf"k={k} must be smaller than the number of points P=5"):
        layer(_cloud(18, batch=1, n_points=5))
    with pytest.raises(ValueError, match=r"P=5"):
        knn_indices(_cloud(18, batch=1, n_points=5), k)


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_k_below_one_or_not_integer_raises(k):
    with pytest.raises(ValueError, match=r"k must be an integer >= 1"):
        EdgeConv(keras.layers.Dense(3), k=k)


def test_unknown_aggregation_raises():
    message = r"aggregation must be one of \('mean', 'max', 'sum'\); received aggregation='median'"
    with pytest.raises(ValueError, match=message):
        EdgeConv(keras.layers.Dense(3), k=2, aggregation="median")


def test_kernel_that_is_not_a_layer_raises():
    with pytest.raises(ValueError, match=r"kernel must be a Keras layer"):
        EdgeConv(lambda x: x, k=2)


def test_docstring_examples_run():
    result = doctest.testmod(edgeconv, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 5 and result.failed == 0
