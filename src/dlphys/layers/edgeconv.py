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

The nearest neighbours come from the matrix of squared distances
:math:`d_{ij} = |x_i|^2 - 2\,x_i\cdot x_j + |x_j|^2`, computed after subtracting the centroid of
every cloud (the distances are translation invariant; centring keeps the float32 cancellation
small). The diagonal is set to :math:`+\infty`, so a point never picks itself, not even when
duplicate points exist, and ``keras.ops.top_k`` on :math:`-d` gives the :math:`k` closest.
Memory is :math:`\mathcal{O}(B P^2)` for the distances and :math:`\mathcal{O}(B P k F)` for the
edges.

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
from keras import ops

__all__ = ["EdgeConv", "knn_indices", "AGGREGATIONS"]

AGGREGATIONS = ("mean", "max", "sum")


def knn_indices(points, k: int):
    """Indices of the ``k`` nearest neighbours of every point, the point itself excluded.

    Args:
        points: tensor (batch, P, C), coordinates in any common unit.
        k: number of neighbours, ``1 <= k < P``.

    Returns:
        int32 tensor (batch, P, k); row ``[b, i]`` lists the neighbours of point ``i`` of cloud
        ``b``, closest first.
    """
    k = _check_k(k)
    points = ops.convert_to_tensor(points)
    if len(points.shape) != 3:
        raise ValueError(f"points must have shape (batch, P, C); received shape {tuple(points.shape)}.")
    n_points = points.shape[1]
    if n_points is not None and k >= n_points:
        raise ValueError(f"k={k} must be smaller than the number of points P={n_points} (1 <= k < P).")
    centred = points - ops.mean(points, axis=1, keepdims=True)
    sq_norm = ops.sum(ops.square(centred), axis=-1)  # (B, P)
    inner = ops.matmul(centred, ops.transpose(centred, (0, 2, 1)))  # (B, P, P)
    # -d_ij directly (top_k picks the largest), self set to -inf so it is never among the k.
    neg_dist2 = 2.0 * inner - ops.expand_dims(sq_norm, 2) - ops.expand_dims(sq_norm, 1)
    index = ops.arange(ops.shape(points)[1])
    is_self = ops.expand_dims(ops.equal(ops.expand_dims(index, 1), ops.expand_dims(index, 0)), 0)
    neg_dist2 = ops.where(is_self, ops.cast(-float("inf"), neg_dist2.dtype), neg_dist2)
    _, idx = ops.top_k(neg_dist2, k)
    return ops.cast(idx, "int32")


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k must be an integer >= 1 (number of neighbours); received k={k!r}.")
    return int(k)


@keras.saving.register_keras_serializable(package="dlphys")
class EdgeConv(keras.layers.Layer):
    """Edge convolution on a k-nearest-neighbour graph (Wang et al. 2019).

    Args:
        kernel: a Keras layer or model mapping the last axis ``2 * Cf -> F``; it is applied to the
            edge tensor ``concat(x_i, x_j - x_i)`` of shape (batch, P, k, 2·Cf) in one call, so a
            ``Dense`` layer or a ``Sequential`` of ``Dense`` layers is the usual choice.
        k: number of nearest neighbours per point, ``1 <= k < P``.
        aggregation: how the ``k`` edges of a point are combined: ``"mean"``, ``"max"`` or
            ``"sum"``.
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

    def __init__(self, kernel, k: int, aggregation: str = "mean", **kwargs):
        super().__init__(**kwargs)
        if not isinstance(kernel, keras.layers.Layer):
            raise ValueError(
                f"kernel must be a Keras layer or model (e.g. keras.layers.Dense(64)); "
                f"received {type(kernel).__name__}: {kernel!r}."
            )
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {AGGREGATIONS}; received aggregation={aggregation!r}.")
        self.kernel = kernel
        self.k = _check_k(k)
        self.aggregation = aggregation

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

    def _edge_shape(self, features_shape):
        channels = features_shape[2]
        return (features_shape[0], features_shape[1], self.k, None if channels is None else 2 * channels)

    def build(self, input_shape):
        points_shape, features_shape = self._split_shapes(input_shape)
        n_points = points_shape[1] if points_shape[1] is not None else features_shape[1]
        if n_points is not None and self.k >= n_points:
            raise ValueError(f"k={self.k} must be smaller than the number of points P={n_points} (1 <= k < P).")
        if features_shape[2] is None:
            raise ValueError(f"the feature axis must be known when building EdgeConv; received {features_shape}.")
        if not self.kernel.built:
            self.kernel.build(self._edge_shape(features_shape))

    def compute_output_shape(self, input_shape):
        _, features_shape = self._split_shapes(input_shape)
        edge_out = self.kernel.compute_output_shape(self._edge_shape(features_shape))
        return (features_shape[0], features_shape[1], edge_out[-1])

    # -- forward ---------------------------------------------------------------------------------
    def call(self, inputs):
        if isinstance(inputs, (list, tuple)):
            if len(inputs) != 2:
                raise ValueError(f"EdgeConv takes one tensor or a list [points, features]; received {len(inputs)}.")
            points, features = inputs
        else:
            points = features = inputs
        idx = knn_indices(points, self.k)  # (B, P, k)
        n_points = ops.shape(features)[1]
        n_channels = features.shape[-1]
        flat_idx = ops.reshape(idx, (-1, n_points * self.k, 1))  # broadcast over channels
        neighbours = ops.take_along_axis(features, flat_idx, axis=1)
        neighbours = ops.reshape(neighbours, (-1, n_points, self.k, n_channels))  # x_j, (B, P, k, Cf)
        centre = ops.expand_dims(features, 2)  # x_i, (B, P, 1, Cf)
        centre = ops.broadcast_to(centre, ops.shape(neighbours))
        edges = ops.concatenate([centre, neighbours - centre], axis=-1)  # (B, P, k, 2 Cf)
        messages = self.kernel(edges)
        if self.aggregation == "mean":
            return ops.mean(messages, axis=2)
        if self.aggregation == "max":
            return ops.max(messages, axis=2)
        return ops.sum(messages, axis=2)

    # -- serialisation ---------------------------------------------------------------------------
    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "kernel": keras.saving.serialize_keras_object(self.kernel),
                "k": self.k,
                "aggregation": self.aggregation,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["kernel"] = keras.saving.deserialize_keras_object(config["kernel"])
        return cls(**config)
