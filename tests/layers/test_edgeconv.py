"""Tests for ``dlphys.layers.edgeconv``: the kNN graph, EdgeConv symmetries, values and saving."""

from __future__ import annotations

import doctest

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.neighbors import NearestNeighbors

from dlphys.layers import edgeconv
from dlphys.layers.edgeconv import EdgeConv, gather_neighbours, knn_indices

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
# knn_indices runs the numba kernel on a CPU-only TensorFlow and keras.ops' top_k elsewhere (GPU,
# XLA, other backends): every graph test runs both.
KNN_IMPLEMENTATIONS = {"compiled": edgeconv._knn_compiled, "top_k": edgeconv._knn_top_k}


@pytest.fixture(params=sorted(KNN_IMPLEMENTATIONS))
def knn(request):
    implementation = KNN_IMPLEMENTATIONS[request.param]

    def knn(points, k):
        return implementation(keras.ops.convert_to_tensor(points), k)

    knn.implementation = implementation
    return knn


def test_knn_indices_takes_the_compiled_kernel_on_this_cpu_and_top_k_under_xla():
    assert edgeconv._compiled_knn_applies() == (not tf.config.list_logical_devices("GPU"))
    inside = tf.function(lambda: tf.constant(edgeconv._compiled_knn_applies()), jit_compile=True)
    assert not bool(inside())
    points = _cloud(29)
    eager = keras.ops.convert_to_numpy(knn_indices(points, 5))
    xla = tf.function(lambda p: knn_indices(p, 5), jit_compile=True)(tf.constant(points)).numpy()
    np.testing.assert_array_equal(xla, eager)


def test_knn_indices_equal_sklearn_nearest_neighbours(knn):
    k = 6
    points = _cloud(0)
    # Precondition: no near-ties, so the order of neighbours is unique even in float32 (the
    # distance errors of the expanded formula are ~1e-6 for O(1) coordinates).
    assert _min_neighbour_gap(points, k) > 1e-5
    idx = keras.ops.convert_to_numpy(knn(points, k))
    assert idx.shape == (3, 40, k)
    for b in range(points.shape[0]):
        nn = NearestNeighbors(n_neighbors=k + 1).fit(points[b])
        _, ref = nn.kneighbors(points[b])
        assert np.all(ref[:, 0] == np.arange(40))  # sklearn returns the point itself first
        np.testing.assert_array_equal(idx[b], ref[:, 1:])
    np.testing.assert_array_equal(idx, _numpy_knn(points, k))


def test_duplicate_points_never_choose_themselves(knn):
    # Points 0 and 1 coincide, as do 2, 3 and 4: self must be excluded although its distance (0)
    # ties with the duplicate's; the duplicates must be the nearest neighbours of each other.
    rng = np.random.default_rng(1)
    points = rng.normal(size=(1, 12, 2)).astype("float32") * 10
    points[0, 1] = points[0, 0]
    points[0, 3] = points[0, 4] = points[0, 2]
    idx = keras.ops.convert_to_numpy(knn(points, 3))[0]
    assert np.all(idx != np.arange(12)[:, None])
    assert idx[0, 0] == 1 and idx[1, 0] == 0
    assert set(idx[2, :2]) == {3, 4} and set(idx[3, :2]) == {2, 4} and set(idx[4, :2]) == {2, 3}


def test_more_duplicates_than_k_still_exclude_the_point_itself(knn):
    # Six coincident points and k = 3: the point itself ties with five others at distance 0 and
    # may fall out of the k + 1 candidates; its neighbours must still be three of the other five.
    rng = np.random.default_rng(19)
    points = rng.normal(size=(2, 15, 3)).astype("float32") * 10
    points[:, 1:6] = points[:, :1]
    idx = keras.ops.convert_to_numpy(knn(points, 3))
    for b in range(2):
        for i in range(6):
            assert i not in idx[b, i] and set(idx[b, i]) <= set(range(6)) - {i}, (b, i, idx[b, i])
            assert len(set(idx[b, i])) == 3


def test_equal_distances_pick_neighbours_as_far_as_the_reference(knn):
    # Integer coordinates on a small grid: many neighbours tie exactly. Whichever of the tied
    # points is taken, the distances must be the reference's; the compiled kernel also keeps the
    # stable argsort's order (lower index first), top_k's may differ after its centring rounds.
    rng = np.random.default_rng(30)
    points = rng.integers(0, 4, size=(3, 50, 2)).astype("float32")
    idx, ref = keras.ops.convert_to_numpy(knn(points, 7)), _numpy_knn(points, 7)
    cloud = np.arange(3)[:, None, None]
    dist = np.linalg.norm(points[cloud, idx] - points[:, :, None], axis=-1)
    np.testing.assert_array_equal(dist, np.linalg.norm(points[cloud, ref] - points[:, :, None], axis=-1))
    assert np.all(idx != np.arange(50)[None, :, None])
    if knn.implementation is edgeconv._knn_compiled:
        np.testing.assert_array_equal(idx, ref)


def test_knn_of_a_book_sized_batch_equals_the_float64_reference(knn):
    points = _cloud(31, batch=4, n_points=500, channels=16)
    idx = keras.ops.convert_to_numpy(knn(points, 8))
    ref = _numpy_knn(points.astype("float64"), 8)
    assert np.mean(idx == ref) > 0.999
    # Where they differ, the two neighbours are equally far up to float32 rounding (they swapped
    # places in a near-tie); the k-th distance of every point is the reference's.
    x = points.astype("float64")
    cloud = np.arange(4)[:, None, None]
    dist = np.linalg.norm(x[cloud, idx] - x[:, :, None], axis=-1)
    dist_ref = np.linalg.norm(x[cloud, ref] - x[:, :, None], axis=-1)
    np.testing.assert_allclose(dist, dist_ref, rtol=1e-5)


def test_compiled_knn_accepts_float64_and_keeps_indices_valid_for_nan_points():
    points = _cloud(32, n_points=30)
    idx64 = keras.ops.convert_to_numpy(edgeconv._knn_compiled(tf.constant(points.astype("float64")), 4))
    np.testing.assert_array_equal(idx64, _numpy_knn(points.astype("float64"), 4))
    points[0, 3] = np.nan
    idx = keras.ops.convert_to_numpy(edgeconv._knn_compiled(tf.constant(points), 4))
    assert idx.shape == (3, 30, 4) and idx.min() >= 0 and idx.max() < 30
    assert np.all(idx != np.arange(30)[None, :, None])


def test_gather_neighbours_equals_numpy_indexing():
    rng = np.random.default_rng(20)
    table = rng.normal(size=(3, 9, 4)).astype("float32")
    idx = rng.integers(0, 9, size=(3, 9, 5)).astype("int32")
    out = keras.ops.convert_to_numpy(gather_neighbours(table, idx))
    np.testing.assert_array_equal(out, table[np.arange(3)[:, None, None], idx])


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


def test_translating_points_leaves_graph_and_output_unchanged(knn):
    keras.utils.set_random_seed(6)
    k = 5
    points, feats = _cloud(7), _cloud(8, channels=4)
    # Gaps > 1e-4 keep the neighbour order unique under the float32 rounding of the shift
    # (~1e-6 after the centroid is subtracted).
    assert _min_neighbour_gap(points, k) > 1e-4
    shifted = points + np.array([12.5, -7.25, 3.0], dtype="float32")
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(knn(shifted, k)), keras.ops.convert_to_numpy(knn(points, k))
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


# --- factorised first Dense ----------------------------------------------------------------------
def _dense_bn_kernel(width):
    layers = []
    for _ in range(3):  # the book's kernel design: three Dense + BatchNormalization
        layers += [keras.layers.Dense(width, activation="relu"), keras.layers.BatchNormalization()]
    return keras.Sequential(layers)


def _unusual_bn_kernel(width):
    # BN without scale and centre, two BNs in a row, a BN before a layer that is not a Dense, a
    # Dense without bias after a BN, and no BN at the end.
    return keras.Sequential(
        [
            keras.layers.Dense(width, activation="relu"),
            keras.layers.BatchNormalization(center=False, scale=False),
            keras.layers.BatchNormalization(momentum=0.5, epsilon=0.1),
            keras.layers.Activation("tanh"),
            keras.layers.BatchNormalization(),
            keras.layers.Dense(width, use_bias=False),
        ]
    )


def _random_weights(layer, seed):
    """Random values for every weight (positive moving variances): no gradient vanishes by symmetry."""
    rng = np.random.default_rng(seed)
    values = []
    for weight in layer.weights:
        shape = tuple(weight.shape)
        if "moving_variance" in weight.path:
            values.append(rng.uniform(0.5, 2.0, size=shape).astype("float32"))
        else:
            values.append((rng.normal(size=shape) * 0.5 + ("gamma" in weight.path)).astype("float32"))
    return values


@pytest.mark.parametrize("aggregation", ["mean", "max", "sum"])
@pytest.mark.parametrize(
    "make_kernel",
    [
        lambda: keras.layers.Dense(6, activation="tanh"),
        lambda: keras.layers.Dense(5, use_bias=False),
        lambda: _dense_bn_kernel(7),
        lambda: _unusual_bn_kernel(6),
    ],
    ids=["dense", "dense-no-bias", "dense-bn-sequential", "unusual-bn-sequential"],
)
@pytest.mark.parametrize("graph", ["fixed", "dynamic"])
def test_factorised_path_equals_explicit_edge_tensor(aggregation, make_kernel, graph):
    # (W1 - W2) x_i + b + W2 x_j must equal W [x_i, x_j - x_i] + b for every edge, and a
    # BatchNormalization folded into the next Dense or through the aggregation must equal the
    # layer applied to the edges: the output, the gradients and the moving statistics must not
    # depend on the path, in training mode (batch statistics over the same edges) and inference.
    # Tolerance: float32 rounding of sums taken in another order, amplified by BN's division by
    # the batch standard deviation.
    keras.utils.set_random_seed(21)
    points, feats = _cloud(22), _cloud(23, channels=4)
    args = [points, feats] if graph == "fixed" else feats
    layer = EdgeConv(make_kernel(), k=5, aggregation=aggregation)
    layer(args)  # build
    weights = _random_weights(layer, 33)
    results = {}
    for factorize in (True, False):
        layer.factorize = factorize
        for training in (False, True):
            layer.set_weights(weights)  # BN's moving statistics change in training mode: restore them
            with tf.GradientTape() as tape:
                out = layer(args, training=training)
                loss = keras.ops.sum(keras.ops.square(out))
            grads = tape.gradient(loss, layer.trainable_weights)
            results[factorize, training] = (
                keras.ops.convert_to_numpy(out),
                [keras.ops.convert_to_numpy(g) for g in grads],
                [keras.ops.convert_to_numpy(w) for w in layer.non_trainable_weights],
            )
    assert layer._leading_dense() is not None  # the kernel qualifies, so the True runs were factorised
    for training in (False, True):
        (out_f, grads_f, stats_f), (out_e, grads_e, stats_e) = results[True, training], results[False, training]
        np.testing.assert_allclose(out_f, out_e, rtol=1e-4, atol=1e-4)
        for s_f, s_e in zip(stats_f, stats_e, strict=True):
            np.testing.assert_allclose(s_f, s_e, rtol=1e-4, atol=1e-5)
        if aggregation == "max":
            # Two edges whose messages tie exactly (it happens here) make the gradient of max
            # depend on the rounding of each path; the aggregation code is shared by both paths,
            # so mean and sum test the factorised backward pass.
            continue
        for g_f, g_e in zip(grads_f, grads_e, strict=True):
            np.testing.assert_allclose(g_f, g_e, rtol=1e-3, atol=1e-3 * max(1.0, np.abs(g_e).max()))
    # Training mode moved the moving statistics (the comparison above is not between two no-ops).
    stats_initial = [w for w, v in zip(weights, layer.weights, strict=True) if not v.trainable]
    if stats_initial:
        assert max(np.abs(a - b).max() for a, b in zip(results[True, True][2], stats_initial, strict=True)) > 1e-3


def test_kernels_without_a_leading_dense_use_the_explicit_path():
    keras.utils.set_random_seed(24)
    inputs = keras.Input((None, None, 8))
    functional = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    starts_with_bn = keras.Sequential([keras.layers.BatchNormalization(), keras.layers.Dense(3)])
    for kernel in (functional, starts_with_bn, keras.layers.Dense(3)):
        layer = EdgeConv(kernel, k=3, factorize=kernel is not functional)
        out = layer(_cloud(25, channels=4))
        assert tuple(out.shape) == (3, 40, 3)
    assert EdgeConv(functional, k=3)._leading_dense() is None
    assert EdgeConv(starts_with_bn, k=3)._leading_dense() is None
    assert EdgeConv(keras.layers.Dense(3), k=3, factorize=False).get_config()["factorize"] is False


def test_book_sized_model_trains_with_factorised_kernels():
    # Three EdgeConv layers with Dense+BN kernels of widths 8, 16, 32 as in the book's exercise
    # 10.1, at a small size: one training step runs and changes the loss.
    keras.utils.set_random_seed(26)
    points_in, feats_in = keras.Input((30, 3)), keras.Input((30, 4))
    x = EdgeConv(_dense_bn_kernel(8), k=4)([points_in, feats_in])
    x = EdgeConv(_dense_bn_kernel(16), k=4)(x)
    x = EdgeConv(_dense_bn_kernel(32), k=4)(x)
    out = keras.layers.Dense(1, activation="sigmoid")(keras.layers.GlobalAveragePooling1D()(x))
    model = keras.Model([points_in, feats_in], out)
    model.compile(keras.optimizers.Adam(1e-2), "binary_crossentropy")
    data = [_cloud(27, batch=8, n_points=30), _cloud(28, batch=8, n_points=30, channels=4)]
    labels = np.arange(8) % 2
    first = model.train_on_batch(data, labels)
    for _ in range(5):
        last = model.train_on_batch(data, labels)
    assert np.isfinite(first) and last < first


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
    assert config["k"] == 4 and config["aggregation"] == "max" and config["factorize"] is True
    # A config saved before the ``factorize`` option existed still loads (default True).
    del config["factorize"]
    assert EdgeConv.from_config(config).factorize is True


def test_gradients_reach_every_kernel_weight():
    keras.utils.set_random_seed(15)
    layer = EdgeConv(_sequential_kernel(), k=3)
    points, feats = _cloud(16, n_points=10), _cloud(17, n_points=10, channels=4)
    with tf.GradientTape() as tape:
        loss = keras.ops.sum(keras.ops.square(layer([points, feats])))
    grads = tape.gradient(loss, layer.trainable_weights)
    assert len(layer.trainable_weights) == 4  # two Dense layers, kernel + bias each
    for var, grad in zip(layer.trainable_weights, grads, strict=False):
        assert grad is not None, var.path
        assert np.abs(keras.ops.convert_to_numpy(grad)).max() > 0, var.path


def test_knn_top_k_option_gives_the_same_layer_output_and_an_exportable_graph(tmp_path):
    # The numba kernel runs through tf.numpy_function, which a SavedModel cannot carry; with
    # knn="top_k" the exported graph holds TensorFlow ops only and the output is unchanged.
    keras.utils.set_random_seed(34)
    points_in = keras.Input((20, 3))
    layer = EdgeConv(_dense_bn_kernel(4), k=3)
    model = keras.Model(points_in, keras.layers.GlobalAveragePooling1D()(layer(points_in)))
    points = _cloud(35, n_points=20)
    assert _min_neighbour_gap(points, 3) > 1e-5  # the same graph from both methods
    expected = model.predict(points, verbose=0)
    layer.knn = "top_k"
    np.testing.assert_allclose(model.predict(points, verbose=0), expected, atol=ATOL)
    assert layer.get_config()["knn"] == "top_k"
    model.export(tmp_path / "top_k", verbose=False)
    assert b"PyFunc" not in (tmp_path / "top_k" / "saved_model.pb").read_bytes()
    if edgeconv._compiled_knn_applies():  # the reason for the option
        layer.knn = "auto"
        model.export(tmp_path / "auto", verbose=False)
        assert b"PyFunc" in (tmp_path / "auto" / "saved_model.pb").read_bytes()


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


def test_unknown_knn_method_raises():
    with pytest.raises(ValueError, match="knn must be one of"):
        EdgeConv(keras.layers.Dense(3), k=3, knn="kdtree")
    with pytest.raises(ValueError, match="method must be one of"):
        knn_indices(_cloud(36), 3, method="kdtree")


def test_kernel_that_is_not_a_layer_raises():
    with pytest.raises(ValueError, match=r"kernel must be a Keras layer"):
        EdgeConv(lambda x: x, k=2)


def test_docstring_examples_run():
    result = doctest.testmod(edgeconv, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 5 and result.failed == 0


# --- geometry of the edge -------------------------------------------------------------------------
@pytest.mark.parametrize("geometry", ["offset", "distance"])
@pytest.mark.parametrize("factorize", [True, False])
def test_geometry_appends_offset_or_distance_to_every_edge(geometry, factorize):
    # Reference in NumPy: mean over the neighbours of tanh(W [f_i, f_j - f_i, g_ij] + b) with
    # g_ij = p_j - p_i or |p_j - p_i|, the neighbours from the brute-force kNN of the points.
    keras.utils.set_random_seed(31)
    k = 4
    points, feats = _cloud(32), _cloud(33, channels=2)
    assert _min_neighbour_gap(points, k) > 1e-4  # a unique neighbour order
    layer = EdgeConv(keras.layers.Dense(5, activation="tanh"), k=k, geometry=geometry, factorize=factorize)
    out = keras.ops.convert_to_numpy(layer([points, feats]))
    w, b = (keras.ops.convert_to_numpy(v) for v in layer.kernel.weights)
    assert w.shape == (2 * 2 + (3 if geometry == "offset" else 1), 5)
    idx = _numpy_knn(points, k)
    rows = np.arange(points.shape[0])[:, None, None]
    offset = points[rows, idx] - points[:, :, None]
    g = offset if geometry == "offset" else np.linalg.norm(offset, axis=-1, keepdims=True)
    centre = np.broadcast_to(feats[:, :, None], feats[rows, idx].shape)
    edges = np.concatenate([centre, feats[rows, idx] - centre, g], axis=-1)
    np.testing.assert_allclose(out, np.tanh(edges @ w + b).mean(axis=2), atol=ATOL)


def test_distance_geometry_is_invariant_under_rotations_and_translations_of_the_points():
    keras.utils.set_random_seed(34)
    k = 5
    points, feats = _cloud(35), _cloud(36, channels=2)
    assert _min_neighbour_gap(points, k) > 1e-4
    rotation, _ = np.linalg.qr(np.random.default_rng(37).normal(size=(3, 3)))
    moved = (points @ rotation.T + np.array([3.0, -1.5, 0.5])).astype("float32")
    for geometry in ("distance", "offset"):
        layer = EdgeConv(_dense_bn_kernel(6), k=k, geometry=geometry)
        out = keras.ops.convert_to_numpy(layer([points, feats]))
        out_moved = keras.ops.convert_to_numpy(layer([moved, feats]))
        if geometry == "distance":  # the kernel sees f_i, f_j - f_i and |p_j - p_i|: all invariant
            np.testing.assert_allclose(out_moved, out, atol=1e-4)
        else:  # the offsets p_j - p_i turn with the points: the output must change
            assert np.abs(out_moved - out).max() > 1e-3


def test_geometry_survives_save_and_load_and_unknown_geometry_raises(tmp_path):
    keras.utils.set_random_seed(38)
    points_in, feats_in = keras.Input((20, 3)), keras.Input((20, 2))
    x = EdgeConv(_dense_bn_kernel(4), k=3, geometry="distance")([points_in, feats_in])
    model = keras.Model([points_in, feats_in], x)
    data = [_cloud(39, n_points=20), _cloud(40, n_points=20, channels=2)]
    path = tmp_path / "geometry.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.layers[-1].geometry == "distance"
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(data)), keras.ops.convert_to_numpy(model(data)), atol=ATOL
    )
    with pytest.raises(ValueError, match=r"geometry must be one of"):
        EdgeConv(keras.layers.Dense(3), k=2, geometry="angle")
