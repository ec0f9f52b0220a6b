r"""GCNConv: the graph convolution of Kipf & Welling (book ch. 10 and 16), as a Keras 3 layer.

A graph of :math:`N` nodes with adjacency matrix :math:`A` (:math:`N \times N`, symmetric, entries
:math:`a_{ij} \ge 0`) and node features :math:`X` (:math:`N \times F`). One layer of the graph
convolutional network (GCN) computes

.. math::

    X' = \sigma\bigl(\hat D^{-1/2} \hat A \hat D^{-1/2} \, X W + b\bigr),
    \qquad \hat A = A + I, \quad \hat D_{ii} = \textstyle\sum_j \hat A_{ij},

the *propagation rule* of Kipf & Welling (2017): every node mixes its own features (the self loop
of :math:`\hat A`) with those of its neighbours, weighted by :math:`1/\sqrt{\hat d_i \hat d_j}`, after
the same linear map :math:`W` (``kernel``, shape :math:`F \times` ``channels``) for all nodes. The
symmetric normalisation keeps the scale of the features when nodes have many neighbours (the
eigenvalues of :math:`\hat D^{-1/2} \hat A \hat D^{-1/2}` lie in :math:`(-1, 1]`). Stacking
:math:`L` layers lets information travel :math:`L` edges.

The layer takes ``[x, a]``. By default ``a`` is the *normalised* matrix
:math:`\hat D^{-1/2} \hat A \hat D^{-1/2}`, computed once outside the network with
:func:`gcn_filter` (NumPy or SciPy, dense or sparse), exactly as ``spektral.layers.GCNConv``
expects it (``spektral.utils.gcn_filter``): the weights of a trained spektral layer give the
same output here (tested). With ``normalize=True`` the layer takes the raw adjacency :math:`A`
(dense only) and normalises it itself on every call.

``a`` may be dense or sparse (a ``tf.SparseTensor``; in a functional model
``keras.Input((N,), sparse=True)``). Three modes, as in spektral:

* **single**: ``x`` (N, F), ``a`` (N, N); in a functional model the batch axis is the node axis
  (``keras.Input((F,))``, ``keras.Input((N,))``) and ``fit`` uses ``batch_size=N``, ``shuffle=False``;
* **batch**: ``x`` (B, N, F), ``a`` (B, N, N), one graph per sample;
* **mixed**: ``x`` (B, N, F), ``a`` (N, N), one graph shared by all samples.

References:
    T. N. Kipf, M. Welling, "Semi-Supervised Classification with Graph Convolutional Networks",
    ICLR 2017, arXiv:1609.02907.
    D. Grattarola, C. Alippi, "Graph Neural Networks in TensorFlow and Keras with Spektral",
    IEEE Comput. Intell. Mag. 16, 99 (2021), arXiv:2006.12138 (``spektral.layers.GCNConv``).
    M. Erdmann, J. Glombitza, G. Kasieczka, U. Klemradt, *Deep Learning for Physics Research*,
    World Scientific (2021), ch. 10 and exercise 16.1.
"""

from __future__ import annotations

import numbers

import keras
import numpy as np
from keras import ops

__all__ = ["GCNConv", "gcn_filter"]

_SPARSE_TYPES = {"SparseTensor", "SparseTensorValue", "BCOO"}


def gcn_filter(a):
    r"""The Kipf–Welling propagation matrix :math:`\hat D^{-1/2} (A + I) \hat D^{-1/2}`.

    Args:
        a: adjacency matrix (N, N) or a stack (B, N, N), a NumPy array or (2-D only) a SciPy sparse
            matrix; entries are edge weights (1 for an unweighted graph). Existing self loops are kept
            and get one more.

    Returns:
        float32 array of the same shape, or a SciPy CSR matrix (sorted indices) for sparse input.
        An isolated node keeps only its self loop, with weight 1.

    Example:
        >>> import numpy as np
        >>> gcn_filter(np.array([[0.0, 1.0], [1.0, 0.0]]))
        array([[0.5, 0.5],
               [0.5, 0.5]], dtype=float32)
    """
    if hasattr(a, "tocsr"):  # SciPy sparse
        import scipy.sparse as sp

        if a.ndim != 2 or a.shape[0] != a.shape[1]:
            raise ValueError(f"a must be a square adjacency matrix (N, N); received shape {a.shape}.")
        a_hat = sp.csr_matrix(a, dtype="float64") + sp.identity(a.shape[0], format="csr")
        d = np.asarray(a_hat.sum(axis=1)).ravel()
        scale = sp.diags(_inverse_sqrt(d))
        out = (scale @ a_hat @ scale).tocsr().astype("float32")
        out.sort_indices()
        return out
    a = np.asarray(a, dtype="float64")
    if a.ndim not in (2, 3) or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"a must have shape (N, N) or (B, N, N); received shape {a.shape}.")
    a_hat = a + np.eye(a.shape[-1])
    scale = _inverse_sqrt(a_hat.sum(axis=-1))
    return (scale[..., :, None] * a_hat * scale[..., None, :]).astype("float32")


def _inverse_sqrt(degree):
    with np.errstate(divide="ignore"):
        out = np.where(degree > 0, 1.0 / np.sqrt(np.where(degree > 0, degree, 1.0)), 0.0)
    return out


def _is_sparse(x) -> bool:
    return bool(getattr(x, "sparse", False)) or type(x).__name__ in _SPARSE_TYPES


@keras.saving.register_keras_serializable(package="dlphys")
class GCNConv(keras.layers.Layer):
    r"""Graph convolution of Kipf & Welling: ``activation(a @ (x @ kernel) + bias)``.

    Args:
        channels: number of output features per node (a positive integer).
        activation: activation function (name or callable); ``None`` is linear.
        use_bias: add a bias vector after the propagation, as spektral does.
        kernel_initializer, bias_initializer: initializers of ``kernel`` (F, channels) and ``bias``.
        kernel_regularizer, bias_regularizer: optional regularizers.
        kernel_constraint, bias_constraint: optional constraints.
        normalize: ``False`` (default): ``a`` is the normalised matrix of :func:`gcn_filter`
            (dense or sparse). ``True``: ``a`` is the raw (dense) adjacency; the layer adds the self
            loops and normalises it, :math:`\hat D^{-1/2} (A + I) \hat D^{-1/2}`, on every call.
        **kwargs: passed on to ``keras.layers.Layer`` (``name``, ``dtype``, ...).

    Input shape:
        ``[x, a]``: single mode ``x`` (N, F), ``a`` (N, N); batch mode ``x`` (B, N, F),
        ``a`` (B, N, N); mixed mode ``x`` (B, N, F), ``a`` (N, N). ``a`` dense or sparse.

    Output shape:
        ``x`` with the last axis ``channels``: (N, channels) or (B, N, channels).

    Example:
        >>> import numpy as np
        >>> a = gcn_filter(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype="float32"))
        >>> x = np.eye(3, dtype="float32")
        >>> layer = GCNConv(2, activation="tanh")
        >>> tuple(layer([x, a]).shape)
        (3, 2)
    """

    def __init__(
        self,
        channels,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        normalize=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(channels, bool) or not isinstance(channels, numbers.Integral) or channels < 1:
            raise ValueError(
                f"channels must be a positive integer (output features per node); received channels={channels!r}."
            )
        if not isinstance(normalize, bool):
            raise ValueError(f"normalize must be True or False; received normalize={normalize!r}.")
        self.channels = int(channels)
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.normalize = normalize

    def build(self, input_shape):
        x_shape, _ = self._check_shapes(input_shape)
        n_features = x_shape[-1]
        if n_features is None:
            raise ValueError(f"The last axis of x (features per node) must be known; received x shape {x_shape}.")
        self.kernel = self.add_weight(
            name="kernel",
            shape=(n_features, self.channels),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.channels,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )

    @staticmethod
    def _check_shapes(input_shape):
        if (
            not isinstance(input_shape, (list, tuple))
            or len(input_shape) != 2
            or not isinstance(input_shape[0], (list, tuple))
        ):
            raise ValueError(f"GCNConv expects two inputs [x, a]; received input shape {input_shape}.")
        x_shape, a_shape = tuple(input_shape[0]), tuple(input_shape[1])
        if len(x_shape) not in (2, 3) or len(a_shape) not in (2, 3) or (len(x_shape), len(a_shape)) == (2, 3):
            raise ValueError(
                f"GCNConv expects x (N, F) with a (N, N), or x (B, N, F) with a (B, N, N) or "
                f"(N, N); received x shape {x_shape} and a shape {a_shape}."
            )
        return x_shape, a_shape

    def call(self, inputs):
        x, a = inputs
        if self.normalize:
            if _is_sparse(a):
                raise ValueError(
                    "normalize=True needs a dense adjacency matrix; normalise a sparse one "
                    "beforehand with dlphys.layers.gcn.gcn_filter and use normalize=False."
                )
            a = self._normalized(a)
        h = ops.matmul(x, self.kernel)
        if len(h.shape) == 3 and len(a.shape) == 2:  # mixed mode: one graph for the whole batch
            n_nodes = ops.shape(h)[1]
            stacked = ops.reshape(ops.transpose(h, (1, 0, 2)), (n_nodes, -1))  # (N, B * channels)
            h = ops.transpose(ops.reshape(ops.matmul(a, stacked), (n_nodes, -1, self.channels)), (1, 0, 2))
        else:
            h = ops.matmul(a, h)
        if self.use_bias:
            h = h + self.bias
        return self.activation(h)

    def _normalized(self, a):
        a = ops.cast(a, self.compute_dtype)
        a_hat = a + ops.eye(ops.shape(a)[-1], dtype=self.compute_dtype)
        degree = ops.sum(a_hat, axis=-1)
        scale = ops.where(degree > 0, ops.rsqrt(ops.where(degree > 0, degree, 1.0)), 0.0)
        return ops.expand_dims(scale, -1) * a_hat * ops.expand_dims(scale, -2)

    def compute_output_shape(self, input_shape):
        x_shape, _ = self._check_shapes(input_shape)
        return (*x_shape[:-1], self.channels)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "channels": self.channels,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
                "bias_constraint": keras.constraints.serialize(self.bias_constraint),
                "normalize": self.normalize,
            }
        )
        return config
