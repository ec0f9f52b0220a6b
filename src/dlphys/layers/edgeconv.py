r"""EdgeConv: the graph convolution of the dynamic graph CNN (book ch. 10).

A point cloud of :math:`P` points is turned into a graph by connecting every point :math:`i` to its
:math:`k` nearest neighbours :math:`j \in \mathcal{N}_k(i)` (Euclidean distance, the point itself
excluded). EdgeConv (Wang et al. 2019) computes for every directed edge :math:`(i, j)` the edge feature

.. math::

    e_{ij} = h_\Theta\bigl(x_i,\; x_j - x_i\bigr),

where :math:`h_\Theta` (the *kernel*, any Keras layer or model) sees the centre :math:`x_i` (global
shape information) and the relative vector :math:`x_j - x_i` (local neighbourhood), and aggregates
the edges of each point with a symmetric function,

.. math::

    x_i' = \square_{j \in \mathcal{N}_k(i)} e_{ij}, \qquad \square \in \{\text{mean}, \max, \sum\}.

Because the aggregation is symmetric and the kernel is shared by all edges, the layer is
*permutation equivariant*: permuting the input points permutes the output rows the same way.

Two ways to build the graph:

* **dynamic** (one input tensor): the neighbours are found in the space of the current features, so
  stacked EdgeConv layers rebuild the graph in every layer (the "dynamic graph" of DGCNN);
* **fixed coordinates** (input ``[points, features]``): the graph comes from ``points`` (e.g. the
  :math:`(\eta, \phi)` or :math:`(x, y, z)` positions of detector hits, in their own units) and the
  convolution acts on ``features``. Such a graph is invariant under translations of ``points``.

**Geometry of the edge** (``geometry``, for ``[points, features]`` input). With fixed coordinates the
kernel sees only the features, :math:`[f_i, f_j - f_i]`. ``geometry="offset"`` appends the offset
of the neighbour, :math:`p_j - p_i`, and ``geometry="distance"`` its distance
:math:`|p_j - p_i|` (one channel), both in the units of ``points``. Where the absolute position of a
point carries no information (a sky map, a detector without preferred place), pass the position as
``points`` only and the kernel gets translation (``"offset"``) or also rotation (``"distance"``)
invariant edges, without the absolute coordinates, whose size would swamp the small offsets
between neighbours. Scale ``points`` so that a typical neighbour distance is of order one: the
graph does not change under a common scale factor.

**The graph.** On a CPU-only TensorFlow (the usual laptop, JupyterHub or Colab CPU session) a
small numba kernel finds the neighbours: for every point it computes the :math:`P` squared
distances :math:`d_{ij} = \sum_c (x_{jc} - x_{ic})^2` in one vectorised pass per coordinate and keeps
the :math:`k` smallest (:math:`j \ne i`) in a sorted buffer during one scan, so ties keep the lower
index and a point never picks itself, not even when duplicate points exist. It runs through
``tf.numpy_function`` (indices need no gradient) on all cores, two to three times faster than
``top_k`` over the :math:`(B, P, P)` distance matrix. Elsewhere (GPU, XLA, other backends)
:func:`knn_indices` uses ``keras.ops`` only: the distances come from
:math:`d_{ij} = |x_i|^2 - 2\,x_i\cdot x_j + |x_j|^2` after subtracting the centroid of every cloud
(translation invariant; centring keeps the float32 cancellation small); within row :math:`i` the
score :math:`s_{ij} = 2\,x_i\cdot x_j - |x_j|^2 = |x_i|^2 - d_{ij}` ranks the points as
:math:`-d_{ij}` does, ``keras.ops.top_k`` takes the :math:`k + 1` best and the point itself is
removed from that list (when more than :math:`k` duplicates tie with it and it fell out, the last
one is dropped). Both give the same graph up to the order of exact ties. ``knn="top_k"`` selects the
second everywhere, e.g. before ``model.export()``: a SavedModel cannot carry ``tf.numpy_function``.

**Factorised kernel.** When the kernel is a ``Dense`` layer, or a ``Sequential`` that starts
with one (the usual design), its first affine map is split over the two halves of the edge,
:math:`W\,[x_i, x_j - x_i] + b = (W_1 - W_2)\,x_i + b + W_2\,x_j`, and applied to the
:math:`P` points *before* the neighbour gather: the gather picks rows of :math:`W_2 x`, and
the :math:`(B, P, k, 2C)` edge tensor is never built (:math:`k` times fewer multiply-adds in the
first layer, one large tensor fewer in memory). The rest of the kernel then acts on the
:math:`(B, P, k, F)` edges, with one more saving: a ``BatchNormalization`` is an affine map per
channel, :math:`a\,x + c` (with :math:`a, c` from the batch statistics in training, from the moving
ones in inference), so it is not applied to the edges but folded into the following ``Dense``
(:math:`W' = \mathrm{diag}(a)\,W`, :math:`b' = c\,W + b`) or, at the end of the kernel, moved
through the mean or sum over the :math:`k` edges; its moving statistics are updated as the layer
itself would. The book's kernel (three ``Dense`` + ``BatchNormalization``) thus costs three matrix
products and three batch statistics on the edge tensor. The result equals the explicit edge computation
(the kernel called on the edge tensor) up to float rounding, outputs, gradients and moving
statistics alike (tested); ``factorize=False`` forces the explicit path. The neighbour gather is
one flat ``take`` on the :math:`(B \cdot P, F)` table.

Memory is :math:`\mathcal{O}(B P k F)` for the edges (and :math:`\mathcal{O}(B P^2)` for the
distances of the ``top_k`` path). ``benchmarks/bench_edgeconv.py`` measures the book's model of
exercise 10.1: on two CPU cores one training step of batch 64 takes about 2.5 times less time
than the book repository's Keras 2 layer, with 40 % less peak memory. Compiling the model with
XLA (``jit_compile=True``) does not help on a CPU: it needs the ``top_k`` path, whose sort XLA
compiles slowly.

References:
    Y. Wang, Y. Sun, Z. Liu, S. E. Sarma, M. M. Bronstein, J. M. Solomon, "Dynamic Graph CNN for
    Learning on Point Clouds", ACM Trans. Graph. 38, 146 (2019), arXiv:1801.07829.
    H. Qu, L. Gouskos, "ParticleNet: Jet tagging via particle clouds", Phys. Rev. D 101, 056019
    (2020), arXiv:1902.08570 (EdgeConv with ``[points, features]`` input, mean aggregation).
    M. Erdmann, J. Glombitza, G. Kasieczka, U. Klemradt, *Deep Learning for Physics Research*,
    World Scientific (2021), ch. 10.
"""

from __future__ import annotations

import numbers

import keras
import numba
import numpy as np
from keras import ops

__all__ = ["AGGREGATIONS", "EdgeConv", "gather_neighbours", "knn_indices"]

AGGREGATIONS = ("mean", "max", "sum")
GEOMETRIES = (None, "offset", "distance")
KNN_METHODS = ("auto", "top_k")


def knn_indices(points, k: int, method: str = "auto"):
    """Indices of the ``k`` nearest neighbours of every point, the point itself excluded.

    Args:
        points: tensor (batch, P, C), coordinates in any common unit.
        k: number of neighbours, ``1 <= k < P``.
        method: ``"auto"`` (the numba kernel where it can run, see the module docstring) or
            ``"top_k"`` (``keras.ops`` only, e.g. for a graph exported with ``model.export()``).

    Returns:
        int32 tensor (batch, P, k); row ``[b, i]`` lists the neighbours of point ``i`` of cloud
        ``b``, closest first (on a CPU-only TensorFlow equal distances keep the lower index first).
    """
    k = _check_k(k)
    if method not in KNN_METHODS:
        raise ValueError(f"method must be one of {KNN_METHODS}; received method={method!r}.")
    points = ops.convert_to_tensor(points)
    if len(points.shape) != 3:
        raise ValueError(f"points must have shape (batch, P, C); received shape {tuple(points.shape)}.")
    n_points = points.shape[1]
    if n_points is not None and k >= n_points:
        raise ValueError(f"k={k} must be smaller than the number of points P={n_points} (1 <= k < P).")
    if method == "auto" and _compiled_knn_applies():
        return _knn_compiled(points, k)
    return _knn_top_k(points, k)


def _compiled_knn_applies() -> bool:
    """True where the numba kernel can run: TensorFlow on a CPU-only machine, outside XLA."""
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return not tf.config.list_logical_devices("GPU") and tf.__internal__.get_enclosing_xla_context() is None


def _knn_compiled(points, k: int):
    """``knn_indices`` through the numba kernel, as one ``tf.numpy_function`` (no gradient needed)."""
    import tensorflow as tf

    dtype = tf.float64 if points.dtype == tf.float64 else tf.float32
    idx = tf.numpy_function(lambda x: _knn_kernel(x, k), [tf.cast(points, dtype)], tf.int32, stateful=False)
    idx.set_shape((points.shape[0], points.shape[1], k))
    return idx


@numba.njit(parallel=True, cache=True)
def _knn_kernel(points, k):  # pragma: no cover - compiled; tested through knn_indices
    """(B, P, C) float -> (B, P, k) int32: the k smallest squared distances of every row, self excluded.

    Per point: the P squared distances in one vectorised pass per coordinate, then one scan that
    keeps the k best in a sorted buffer (insertion behind equal values, so ties keep the lower
    index). After the first k the scan only compares with the current k-th distance.
    """
    n_clouds, n_points, n_channels = points.shape
    out = np.empty((n_clouds, n_points, k), np.int32)
    for b in numba.prange(n_clouds):
        coords = np.ascontiguousarray(points[b].T)  # (C, P): the distance loop runs over P
        dist = np.empty(n_points, points.dtype)
        best = np.empty(k, points.dtype)
        best_j = np.empty(k, np.int32)
        for i in range(n_points):
            dist[:] = 0.0
            for c in range(n_channels):
                row, centre = coords[c], coords[c, i]
                for j in range(n_points):
                    delta = row[j] - centre
                    dist[j] += delta * delta
            filled, j = 0, 0
            while filled < k:  # the first k points other than i, sorted; NaN counts as infinitely far
                if j != i:
                    value = dist[j] if dist[j] == dist[j] else np.inf
                    m = filled
                    while m > 0 and best[m - 1] > value:
                        best[m], best_j[m] = best[m - 1], best_j[m - 1]
                        m -= 1
                    best[m], best_j[m] = value, j
                    filled += 1
                j += 1
            dist[i] = np.inf  # self never beats the k-th distance below (strict comparison)
            worst, start = best[k - 1], j
            for j in range(start, n_points):
                value = dist[j]
                if value < worst:
                    m = k - 1
                    while m > 0 and best[m - 1] > value:
                        best[m], best_j[m] = best[m - 1], best_j[m - 1]
                        m -= 1
                    best[m], best_j[m] = value, j
                    worst = best[k - 1]
            out[b, i] = best_j
    return out


def _knn_top_k(points, k: int):
    """``knn_indices`` with ``keras.ops`` only: a score matrix and ``top_k`` (any backend, XLA, GPU)."""
    centred = points - ops.mean(points, axis=1, keepdims=True)
    sq_norm = ops.sum(ops.square(centred), axis=-1)  # (B, P)
    # s_ij = 2 x_i.x_j - |x_j|^2 = |x_i|^2 - d_ij: ranks row i like -d_ij (top_k picks the largest).
    score = ops.matmul(centred + centred, ops.transpose(centred, (0, 2, 1))) - ops.expand_dims(sq_norm, 1)
    _, candidates = ops.top_k(score, k + 1)  # the point itself (s_ii = max of the row) is among them
    candidates = ops.cast(candidates, "int32")
    index = ops.reshape(ops.arange(ops.shape(points)[1], dtype="int32"), (1, -1, 1))
    is_self = ops.equal(candidates, index)  # (B, P, k + 1), at most one True per row
    # Column of the point itself; k (drop the last candidate) if more than k duplicates pushed it out.
    self_column = ops.where(ops.any(is_self, axis=-1), ops.argmax(ops.cast(is_self, "int32"), axis=-1), k)
    column = ops.arange(k, dtype="int32")
    column = column + ops.cast(column >= ops.expand_dims(ops.cast(self_column, "int32"), -1), "int32")
    return ops.take_along_axis(candidates, column, axis=-1)


def gather_neighbours(table, idx):
    """Rows ``table[b, idx[b, i, j]]``: (batch, P, C) and (batch, P, k) int -> (batch, P, k, C).

    One flat ``take`` on the (batch·P, C) table with the cloud offsets ``b·P`` added to the
    indices (cheaper than a batched gather, and its gradient is one scatter-add).
    """
    n_points = ops.shape(table)[1]
    n_channels = table.shape[-1]
    k = idx.shape[-1]
    offsets = ops.reshape(ops.arange(ops.shape(table)[0], dtype="int32") * n_points, (-1, 1, 1))
    flat = ops.take(ops.reshape(table, (-1, n_channels)), ops.reshape(idx + offsets, (-1,)), axis=0)
    return ops.reshape(flat, (-1, n_points, k, n_channels))


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k must be an integer >= 1 (number of neighbours); received k={k!r}.")
    return int(k)


def _is_plain_dense(layer) -> bool:
    """A float ``keras.layers.Dense`` with a 2-D kernel (not quantised, not a subclass)."""
    return (
        type(layer) is keras.layers.Dense
        and getattr(layer.dtype_policy, "quantization_mode", None) is None
        and len(layer.kernel.shape) == 2
    )


def _is_plain_batch_norm(layer, messages) -> bool:
    """A float32 ``BatchNormalization`` over the last axis without renorm or synchronisation."""
    return (
        type(layer) is keras.layers.BatchNormalization
        and layer.axis in (-1, len(messages.shape) - 1)
        and not getattr(layer, "renorm", False)
        and not getattr(layer, "synchronized", False)
        and layer.compute_dtype == "float32"
        and messages.dtype == "float32"
    )


@ops.custom_gradient
def _channel_moments(x):
    """Mean and (biased) variance of ``x`` (..., F) over all axes but the last, shape (F,) each.

    As ``keras.ops.moments``, with the gradient in one affine pass per channel,
    ``dx = (d_mean + 2 d_var (x - mean)) / N``, instead of the chain of broadcasts that automatic
    differentiation builds through the two means (fewer passes over the large edge tensor).
    """
    axes = list(range(len(x.shape) - 1))
    mean = ops.mean(x, axis=axes)
    variance = ops.mean(ops.square(x - mean), axis=axes)

    def grad(*args, upstream=None):
        d_mean, d_variance = args if upstream is None else upstream
        count = ops.cast(ops.size(x) // ops.shape(x)[-1], x.dtype)
        slope = 2.0 * d_variance / count
        return x * slope + (d_mean / count - slope * mean)

    return (mean, variance), grad


def _batch_norm_affine(layer, x, training):
    """``(a, c)`` with ``layer(x, training) == a * x + c``, updating the moving statistics like the layer.

    ``x`` has shape (B, P, k, F); ``a`` and ``c`` have shape (F,).
    """
    if training and layer.trainable:
        mean, variance = _channel_moments(x)
        momentum = layer.momentum
        layer.moving_mean.assign(layer.moving_mean * momentum + mean * (1.0 - momentum))
        layer.moving_variance.assign(layer.moving_variance * momentum + variance * (1.0 - momentum))
    else:
        mean, variance = ops.convert_to_tensor(layer.moving_mean), ops.convert_to_tensor(layer.moving_variance)
    scale = ops.rsqrt(variance + layer.epsilon)
    if layer.scale:
        scale = scale * layer.gamma
    shift = -mean * scale
    if layer.center:
        shift = shift + layer.beta
    return scale, shift


@keras.saving.register_keras_serializable(package="dlphys")
class EdgeConv(keras.layers.Layer):
    """Edge convolution on a k-nearest-neighbour graph (Wang et al. 2019).

    Args:
        kernel: a Keras layer or model mapping the last axis ``2 * Cf -> F`` (``2 * Cf + G`` with
            ``geometry``); it acts on the edge tensor ``concat(x_i, x_j - x_i)`` of shape
            (batch, P, k, 2·Cf), so a ``Dense`` layer or a ``Sequential`` of ``Dense`` (and e.g.
            ``BatchNormalization``) layers is the usual choice. A leading ``Dense`` is applied
            before the gather (``factorize``).
        k: number of nearest neighbours per point, ``1 <= k < P``.
        aggregation: how the ``k`` edges of a point are combined: ``"mean"``, ``"max"`` or
            ``"sum"``.
        geometry: ``None`` (default), ``"offset"`` or ``"distance"``: append to every edge the
            offset ``p_j - p_i`` (Cp channels) or the Euclidean distance ``|p_j - p_i|`` (one
            channel) of the two points, so that the kernel sees ``concat(f_i, f_j - f_i, g_ij)``
            (see the module docstring). Meant for ``[points, features]`` input; with one input
            tensor the points are the features.
        factorize: if the kernel is a ``Dense`` or a ``Sequential`` starting with a ``Dense``,
            apply that first ``Dense`` to the points before the neighbour gather and fold the
            kernel's ``BatchNormalization`` layers into the next ``Dense`` or the aggregation
            (same result, faster, less memory; see the module docstring). ``False`` always
            builds the edge tensor explicitly and calls the kernel on it.
        knn: how the neighbours are found: ``"auto"`` (default; the numba kernel on a CPU-only
            TensorFlow outside XLA, ``top_k`` elsewhere) or ``"top_k"`` (``keras.ops`` only). The
            numba kernel runs through ``tf.numpy_function``, which a SavedModel cannot carry: set
            ``layer.knn = "top_k"`` on every EdgeConv before ``model.export()``.
        **kwargs: standard layer arguments (``name``, ``dtype``, ...).

    Input shape:
        Either one tensor (batch, P, C): the graph is built from these features (dynamic graph)
        and the convolution acts on them (Cf = C); or a list ``[points, features]`` with
        ``points`` (batch, P, Cp) defining the graph and ``features`` (batch, P, Cf).

    Output shape:
        (batch, P, F), F the output width of ``kernel``.

    Example:
        >>> import numpy as np, keras
        >>> from dlphys.layers.edgeconv import EdgeConv
        >>> points = np.random.default_rng(0).normal(size=(2, 10, 3)).astype("float32")
        >>> feats = np.ones((2, 10, 4), dtype="float32")
        >>> layer = EdgeConv(keras.layers.Dense(8, activation="relu"), k=3)
        >>> tuple(layer([points, feats]).shape)
        (2, 10, 8)
        >>> tuple(EdgeConv(keras.layers.Dense(5), k=4, aggregation="max")(points).shape)
        (2, 10, 5)
    """

    def __init__(
        self,
        kernel,
        k: int,
        aggregation: str = "mean",
        factorize: bool = True,
        geometry=None,
        knn: str = "auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(kernel, keras.layers.Layer):
            raise ValueError(
                f"kernel must be a Keras layer or model (e.g. keras.layers.Dense(64)); "
                f"received {type(kernel).__name__}: {kernel!r}."
            )
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {AGGREGATIONS}; received aggregation={aggregation!r}.")
        if geometry not in GEOMETRIES:
            raise ValueError(f"geometry must be one of {GEOMETRIES}; received geometry={geometry!r}.")
        if knn not in KNN_METHODS:
            raise ValueError(f"knn must be one of {KNN_METHODS}; received knn={knn!r}.")
        self.kernel = kernel
        self.geometry = geometry
        self.k = _check_k(k)
        self.aggregation = aggregation
        self.factorize = bool(factorize)
        self.knn = knn

    # -- shapes ----------------------------------------------------------------------------------
    @staticmethod
    def _split_shapes(input_shape):
        """Return (points_shape, features_shape) for one shape or a pair of shapes."""
        input_shape = list(input_shape)
        if input_shape and hasattr(input_shape[0], "__len__"):  # a list of two shapes
            if len(input_shape) != 2:
                raise ValueError(
                    f"EdgeConv takes one tensor or a list [points, features]; received {len(input_shape)} inputs."
                )
            points_shape, features_shape = tuple(input_shape[0]), tuple(input_shape[1])
        else:
            points_shape = features_shape = tuple(input_shape)
        for name, shape in (("points", points_shape), ("features", features_shape)):
            if len(shape) != 3:
                raise ValueError(f"{name} must have shape (batch, P, C); received shape {shape}.")
        if None not in (points_shape[1], features_shape[1]) and points_shape[1] != features_shape[1]:
            raise ValueError(
                f"points and features must have the same number of points P; received {points_shape} and "
                f"{features_shape}."
            )
        return points_shape, features_shape

    def _geometry_channels(self, points_shape):
        if self.geometry is None:
            return 0
        if self.geometry == "distance":
            return 1
        if points_shape[2] is None:
            raise ValueError(f"the point axis must be known for geometry='offset'; received {points_shape}.")
        return points_shape[2]

    def _edge_shape(self, points_shape, features_shape):
        channels = features_shape[2]
        extra = self._geometry_channels(points_shape)
        return (features_shape[0], features_shape[1], self.k, None if channels is None else 2 * channels + extra)

    def build(self, input_shape):
        points_shape, features_shape = self._split_shapes(input_shape)
        n_points = points_shape[1] if points_shape[1] is not None else features_shape[1]
        if n_points is not None and self.k >= n_points:
            raise ValueError(f"k={self.k} must be smaller than the number of points P={n_points} (1 <= k < P).")
        if features_shape[2] is None:
            raise ValueError(f"the feature axis must be known when building EdgeConv; received {features_shape}.")
        if not self.kernel.built:
            self.kernel.build(self._edge_shape(points_shape, features_shape))

    def compute_output_shape(self, input_shape):
        points_shape, features_shape = self._split_shapes(input_shape)
        edge_out = self.kernel.compute_output_shape(self._edge_shape(points_shape, features_shape))
        return (features_shape[0], features_shape[1], edge_out[-1])

    # -- forward ---------------------------------------------------------------------------------
    def call(self, inputs, training=None):
        if isinstance(inputs, (list, tuple)):
            if len(inputs) != 2:
                raise ValueError(f"EdgeConv takes one tensor or a list [points, features]; received {len(inputs)}.")
            points, features = inputs
        else:
            points = features = inputs
        idx = knn_indices(points, self.k, self.knn)  # (B, P, k)
        geometry = None
        if self.geometry is not None:
            offset = gather_neighbours(points, idx) - ops.expand_dims(points, 2)  # p_j - p_i, (B, P, k, Cp)
            if self.geometry == "distance":
                geometry = ops.sqrt(ops.sum(ops.square(offset), axis=-1, keepdims=True))
            else:
                geometry = offset
        split = self._leading_dense() if self.factorize else None
        if split is None:
            neighbours = gather_neighbours(features, idx)  # x_j, (B, P, k, Cf)
            centre = ops.broadcast_to(ops.expand_dims(features, 2), ops.shape(neighbours))  # x_i
            parts = [centre, neighbours - centre] + ([] if geometry is None else [geometry])
            edges = ops.concatenate(parts, axis=-1)  # (B, P, k, 2 Cf [+ G])
            return self._aggregate(self.kernel(edges, training=training))
        dense, rest = split
        n_channels = features.shape[-1]
        w = dense.kernel  # (2 Cf, F): rows [0, Cf) act on x_i, rows [Cf, 2 Cf) on x_j - x_i
        w_centre, w_diff = w[:n_channels], w[n_channels : 2 * n_channels]
        # W [x_i, x_j - x_i] + b = ((W1 - W2) x_i + b) + W2 x_j, two (B, P, Cf) x (Cf, F) products.
        centre, table = ops.matmul(features, w_centre - w_diff), ops.matmul(features, w_diff)
        if dense.use_bias:
            centre = centre + dense.bias
        messages = ops.expand_dims(centre, 2) + gather_neighbours(table, idx)  # (B, P, k, F)
        if geometry is not None:  # rows [2 Cf, 2 Cf + G) act on the geometry of the edge
            messages = messages + ops.matmul(geometry, w[2 * n_channels :])
        if dense.activation is not None:
            messages = dense.activation(messages)
        return self._rest_of_kernel(messages, rest, training)

    def _aggregate(self, messages):
        if self.aggregation == "mean":
            return ops.mean(messages, axis=2)
        if self.aggregation == "max":
            return ops.max(messages, axis=2)
        return ops.sum(messages, axis=2)

    def _rest_of_kernel(self, messages, layers, training):
        """The kernel's layers after the factorised first ``Dense``, then the aggregation.

        A ``BatchNormalization`` is an affine map per channel, ``a * x + c``, with ``a`` and ``c``
        from the batch statistics (training) or the moving ones. It is not applied to the
        (B, P, k, F) edges but folded into what follows: into the next ``Dense``
        (``W' = diag(a) W``, ``b' = c W + b``) or, at the end, through the mean or sum over the
        ``k`` edges. Same result, two passes over the edge tensor fewer per BatchNormalization.
        """
        pending = None  # (a, c) of a BatchNormalization not applied yet
        for layer in layers:
            if pending is not None and _is_plain_dense(layer):
                scale, shift = pending
                pending = None
                kernel = ops.expand_dims(scale, 1) * layer.kernel
                bias = ops.matmul(shift, layer.kernel)
                if layer.use_bias:
                    bias = bias + layer.bias
                # As one (B P k, F) x (F, F') product: a plain matrix product with the bias and the
                # activation fused to it by TensorFlow's graph optimiser (faster than on 4-D).
                flat = ops.matmul(ops.reshape(messages, (-1, messages.shape[-1])), kernel) + bias
                shape = ops.shape(messages)
                messages = ops.reshape(layer.activation(flat), (-1, shape[1], shape[2], kernel.shape[-1]))
                continue
            if pending is not None:
                messages = messages * pending[0] + pending[1]
                pending = None
            if _is_plain_batch_norm(layer, messages):
                pending = _batch_norm_affine(layer, messages, training)
            else:
                messages = layer(messages, training=training)
        if pending is None or self.aggregation == "max":
            if pending is not None:
                messages = messages * pending[0] + pending[1]
            return self._aggregate(messages)
        scale, shift = pending
        if self.aggregation == "mean":  # mean_j (a x_ij + c) = a mean_j x_ij + c
            return ops.mean(messages, axis=2) * scale + shift
        return ops.sum(messages, axis=2) * scale + shift * messages.shape[2]

    def _leading_dense(self):
        """(first Dense, remaining layers) when the kernel starts with a plain Dense, else None."""
        kernel = self.kernel
        if isinstance(kernel, keras.Sequential):
            layers = list(kernel.layers)
            first, rest = (layers[0], layers[1:]) if layers else (None, [])
        else:
            first, rest = kernel, []
        return (first, rest) if _is_plain_dense(first) else None

    # -- serialisation ---------------------------------------------------------------------------
    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "kernel": keras.saving.serialize_keras_object(self.kernel),
                "k": self.k,
                "aggregation": self.aggregation,
                "factorize": self.factorize,
                "knn": self.knn,
                "geometry": self.geometry,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["kernel"] = keras.saving.deserialize_keras_object(config["kernel"])
        return cls(**config)
