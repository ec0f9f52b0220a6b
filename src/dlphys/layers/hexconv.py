r"""Hexagonal group convolutions for the rotation group p6 ("HexaConv", book §8.5).

**Grid.** Hexagonal data live on an *axial* grid stored as a rectangular array (see
:mod:`dlphys.hexgrid`): array axis 1 is :math:`r`, axis 2 is :math:`q`, and the six neighbours of
:math:`(r, q)` are :math:`(r, q\pm1), (r\pm1, q), (r-1, q+1), (r+1, q-1)`. The hexagonal (cube)
distance of an offset :math:`d = (\Delta r, \Delta q)` is

.. math::

    |d|_\mathrm{hex} = \tfrac12\bigl(|\Delta q| + |\Delta r| + |\Delta q + \Delta r|\bigr),

so the filter of radius :math:`R` has :math:`1 + 3R(R+1)` cells (7 for :math:`R = 1`, 19 for
:math:`R = 2`). Cells outside the detector hold zero, and so does the "same" padding.

**Rotation.** With the cell centres at :math:`x = q + r/2`, :math:`y = r\sqrt3/2` (rows drawn
upwards, as :func:`dlphys.hexgrid.offset_positions` places the stations), the rotation by
:math:`+60^\circ` (counter-clockwise) about the origin is the lattice map

.. math::

    \rho:\ (q, r) \mapsto (-r,\; q + r), \qquad \rho^{-1}:\ (q, r) \mapsto (q + r,\; -q),
    \qquad \rho^6 = 1 .

It acts on a feature map :math:`f` by :math:`(\rho f)(p) = f(\rho^{-1} p)` (about a chosen centre
cell) and on a p6 feature map :math:`f_\varphi(p)`, :math:`\varphi \in \mathbb Z_6`, by
:math:`(\rho f)_\varphi(p) = f_{\varphi-1}(\rho^{-1} p)` — the map is rotated *and* its orientation
axis is shifted cyclically by one (:func:`rotate_axial` with ``orientation_axis``).

**Lifting layer** (:class:`HexConv2D`, :math:`\mathbb Z^2 \to` p6). One hexagonal filter
:math:`K(d)` is correlated with the input in its six rotated versions,

.. math::

    y_\theta(p) = \sum_{d} K(\rho^{-\theta} d)\, x(p + d), \qquad \theta = 0, \dots, 5 .

**Group layer** (:class:`GroupHexConv2D`, p6 :math:`\to` p6). The filter has its own orientation
axis; rotating it by :math:`\theta` rotates the cells *and* shifts that axis,

.. math::

    y_\theta(p) = \sum_{\varphi}\sum_{d} K_{\varphi - \theta}(\rho^{-\theta} d)\, x_\varphi(p + d) .

Substituting shows :math:`y[\rho x] = \rho\, y[x]` for both layers (Cohen & Welling 2016): rotating
the input by 60° rotates every output map and shifts the orientation axis by one. A pointwise
activation, a bias shared by the six orientations and a pooling over the orientation axis
(:class:`OrientationPooling`) keep this, so HexConv2D → GroupHexConv2D → … → OrientationPooling is
exactly rotation-*equivariant* (rotating the input rotates the output) on a hexagonal region far
enough from the array border. "Exactly" means up to float rounding: ~1e-6 of the output scale in
float32 on a CPU; GPUs that compute float32 convolutions in TF32 (the default of TensorFlow and
PyTorch on Ampere and newer) reach only ~1e-4 (measured on an H100).

**Implementation.** The trainable kernel holds only the hexagon cells, shape
``(n_cells, C_in, F)`` (lifting) or ``(n_cells, 6, C_in, F)`` (group). One zero row is appended,
and a single ``keras.ops.take`` with a constant index array (built once in NumPy) scatters the cells
into a :math:`(2R+1)\times(2R+1)` square kernel (corner cells outside the hexagon point at the zero
row), rotates it six times and rolls the filter's orientation axis; the six rotated kernels are
stacked along the output channels and the layer does **one** ``keras.ops.conv``. The group layer
merges the input's orientation axis into the channel axis (:math:`6 C_\mathrm{in}` channels), so its
cost is that of a plain ``Conv2D`` with a :math:`(2R+1)^2` kernel, :math:`6 C_\mathrm{in}` inputs and
:math:`6F` outputs, with :math:`6\times` fewer free parameters.

References:
    E. Hoogeboom, J. W. T. Peters, T. S. Cohen, M. Welling, "HexaConv", ICLR 2018,
    arXiv:1803.02108 (p6 group convolutions on axial hexagonal grids).
    T. S. Cohen, M. Welling, "Group Equivariant Convolutional Networks", ICML 2016,
    arXiv:1602.07576 (lifting and group correlation, orientation pooling).
    M. Erdmann, J. Glombitza, G. Kasieczka, U. Klemradt, *Deep Learning for Physics Research*,
    World Scientific (2021), §8.5 and Fig. 8.13.
    A. Patel, "Hexagonal Grids", Red Blob Games (2013–2021), https://www.redblobgames.com/grids/hexagons/
    (axial and cube coordinates, hex distance, rotation by 60°).
"""

from __future__ import annotations

import operator

import keras
import numpy as np
from keras import ops

__all__ = [
    "N_ORIENTATIONS",
    "GroupHexConv2D",
    "HexConv2D",
    "OrientationPooling",
    "hex_distance",
    "hex_mask",
    "hex_offsets",
    "rotate_axial",
    "rotate_offsets",
]

N_ORIENTATIONS = 6  # rotations by multiples of 60° in p6
POOLING_MODES = ("max", "mean")


# --- hexagonal geometry (NumPy) --------------------------------------------------------------------
def hex_distance(dr, dq):
    """Hexagonal distance (in cells) of axial offsets ``(dr, dq)``; integer arrays of any equal shape."""
    dr, dq = np.asarray(dr), np.asarray(dq)
    return (np.abs(dr) + np.abs(dq) + np.abs(dr + dq)) // 2


def hex_offsets(radius: int) -> np.ndarray:
    """The ``1 + 3 R (R+1)`` axial offsets ``(dr, dq)`` with hex distance ``<= radius``, shape ``(n, 2)``.

    Ordered row by row (``dr`` ascending, then ``dq`` ascending); this is the order of the cells in
    the kernels of :class:`HexConv2D` and :class:`GroupHexConv2D`.
    """
    radius = _positive_int("radius", radius)
    d = np.arange(-radius, radius + 1)
    dr, dq = np.meshgrid(d, d, indexing="ij")
    inside = hex_distance(dr, dq) <= radius
    return np.stack([dr[inside], dq[inside]], axis=-1)


def rotate_offsets(dr, dq, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Rotate axial offsets ``(dr, dq)`` by ``k`` × 60° (counter-clockwise for ``k > 0``).

    One step is :math:`(q, r) \\mapsto (-r, q + r)`, i.e. ``(dr, dq) -> (dr + dq, -dr)``.
    """
    dr, dq = np.asarray(dr), np.asarray(dq)
    for _ in range(_integer("k", k) % N_ORIENTATIONS):
        dr, dq = dr + dq, -dr
    return dr, dq


def hex_mask(shape: tuple[int, int], radius: int, center: tuple[int, int] | None = None) -> np.ndarray:
    """Boolean ``(H, W)`` mask of the axial cells within hex distance ``radius`` of ``center``.

    ``center`` is an ``(r, q)`` array index and defaults to ``(H // 2, W // 2)``; ``radius = 0`` gives
    the centre cell alone.
    """
    height, width = (_positive_int("shape", n) for n in shape)
    if operator.index(radius) < 0:
        raise ValueError(f"radius must be a non-negative integer, got {radius!r}")
    cr, cq = _center(center, height, width)
    r, q = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    return hex_distance(r - cr, q - cq) <= radius


def rotate_axial(
    x,
    k: int = 1,
    center: tuple[int, int] | None = None,
    axes: tuple[int, int] = (1, 2),
    orientation_axis: int | None = None,
) -> np.ndarray:
    r"""Rotate axial-grid data by ``k`` × 60° about the cell ``center`` (counter-clockwise for ``k > 0``).

    ``y[..., r, q, ...] = x[..., c + \rho^{-k}((r, q) - c), ...]``, exactly on every cell whose source
    lies in the array; cells whose source lies outside become zero, and values rotated out of the
    array are dropped. The rotation is therefore a bijection on any hexagonal region around
    ``center`` that fits into the array (:func:`hex_mask`), and ``k = 6`` is the identity.

    Args:
        x: NumPy array whose axes ``axes = (r_axis, q_axis)`` are the axial grid, e.g.
            ``(batch, H, W, C)`` with the default ``axes=(1, 2)``; use ``axes=(0, 1)`` for ``(H, W)``.
        k: number of 60° steps, any integer (taken modulo 6).
        center: ``(r, q)`` array index of the rotation centre; default ``(H // 2, W // 2)``.
        axes: the two grid axes of ``x``.
        orientation_axis: for p6 feature maps, the axis of length 6 holding the orientations; it is
            rolled by ``k`` as well, which is how the group acts on the output of
            :class:`HexConv2D` / :class:`GroupHexConv2D` (``orientation_axis=3``).

    Returns:
        Array of the shape and dtype of ``x``.
    """
    x = np.asarray(x)
    k = _integer("k", k) % N_ORIENTATIONS
    if x.ndim < 2:
        raise ValueError(f"x must have at least 2 dimensions (the axial grid), got shape {x.shape}")
    try:
        r_axis, q_axis = (operator.index(a) % x.ndim for a in axes)
    except (TypeError, ValueError):
        raise ValueError(f"axes must be two integer axes of x (ndim {x.ndim}), got {axes!r}") from None
    if r_axis == q_axis:
        raise ValueError(f"axes must name two different axes of x, got {axes!r}")
    if orientation_axis is not None:
        o_axis = operator.index(orientation_axis) % x.ndim
        if o_axis in (r_axis, q_axis) or x.shape[o_axis] != N_ORIENTATIONS:
            raise ValueError(
                f"orientation_axis={orientation_axis!r} must be an axis of length "
                f"{N_ORIENTATIONS} other than the grid axes {axes!r}; x has shape {x.shape}"
            )
    height, width = x.shape[r_axis], x.shape[q_axis]
    cr, cq = _center(center, height, width)
    r, q = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    src_r, src_q = rotate_offsets(r - cr, q - cq, -k)
    src_r, src_q = src_r + cr, src_q + cq
    valid = (src_r >= 0) & (src_r < height) & (src_q >= 0) & (src_q < width)
    grid = np.moveaxis(x, (r_axis, q_axis), (0, 1))
    out = np.zeros_like(grid)
    out[valid] = grid[src_r[valid], src_q[valid]]
    out = np.moveaxis(out, (0, 1), (r_axis, q_axis))
    if orientation_axis is not None:
        out = np.roll(out, k, axis=o_axis)
    return out


def _kernel_index(radius: int, in_orientations: int) -> np.ndarray:
    """Gather indices ``(S, S, P, 6)`` that build the rotated square kernels from the hexagon cells.

    Entry ``[a, b, phi, theta]`` indexes the flattened ``(n_cells * P + 1)`` rows of the kernel
    ``(n_cells, P, ...)`` followed by one zero row: the cell :math:`\\rho^{-\\theta} d` with
    ``d = (a - R, b - R)`` and orientation ``(phi - theta) mod P`` (``P = 6``) or ``0`` (``P = 1``);
    cells outside the hexagon point at the zero row.
    """
    size = 2 * radius + 1
    offsets = hex_offsets(radius)
    cell_of = np.full((size, size), -1, dtype=np.int64)
    cell_of[offsets[:, 0] + radius, offsets[:, 1] + radius] = np.arange(len(offsets))
    zero_row = len(offsets) * in_orientations
    d = np.arange(-radius, radius + 1)
    dr, dq = np.meshgrid(d, d, indexing="ij")
    inside = hex_distance(dr, dq) <= radius
    phi = np.arange(in_orientations)
    index = np.full((size, size, in_orientations, N_ORIENTATIONS), zero_row, dtype=np.int32)
    for theta in range(N_ORIENTATIONS):  # build time only: six constant permutations
        src_r, src_q = rotate_offsets(dr, dq, -theta)
        cell = cell_of[np.where(inside, src_r, 0) + radius, np.where(inside, src_q, 0) + radius]
        shifted = (phi - theta) % in_orientations
        rows = cell[:, :, None] * in_orientations + shifted[None, None, :]
        index[..., theta] = np.where(inside[:, :, None], rows, zero_row)
    return index


# --- argument checks ---------------------------------------------------------------------------------
def _integer(name: str, value) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


def _positive_int(name: str, value) -> int:
    value_int = _integer(name, value)
    if value_int < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value_int


def _center(center, height: int, width: int) -> tuple[int, int]:
    if center is None:
        return height // 2, width // 2
    cr, cq = (_integer("center", c) for c in center)
    if not (0 <= cr < height and 0 <= cq < width):
        raise ValueError(f"center={center!r} must be an (r, q) index inside the grid of shape ({height}, {width})")
    return cr, cq


# --- layers ------------------------------------------------------------------------------------------
class _HexConvBase(keras.layers.Layer):
    """Shared configuration and computation of the lifting and the group hexagonal convolution."""

    _in_orientations = 1  # orientations of the input: 1 (plain grid) or 6 (p6 feature map)
    _input_description = "(batch, H, W, channels)"

    def __init__(
        self,
        filters: int,
        radius: int = 1,
        use_bias: bool = True,
        activation=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = _positive_int("filters", filters)
        self.radius = _positive_int("radius", radius)
        self.use_bias = bool(use_bias)
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.n_cells = 1 + 3 * self.radius * (self.radius + 1)
        self._gather_index = _kernel_index(self.radius, self._in_orientations)

    def _check_input_shape(self, input_shape) -> int:
        """Validate ``input_shape`` and return the number of input channels."""
        input_shape = tuple(input_shape)
        rank = 4 if self._in_orientations == 1 else 5
        name = type(self).__name__
        if len(input_shape) != rank:
            hint = (
                " (apply HexConv2D first to lift a plain grid to p6)"
                if rank == 5
                else " (a p6 feature map goes into GroupHexConv2D or OrientationPooling)"
            )
            raise ValueError(
                f"{name} expects input of shape {self._input_description} (rank {rank}); "
                f"got shape {input_shape} of rank {len(input_shape)}{hint}"
            )
        if rank == 5 and input_shape[3] != N_ORIENTATIONS:
            raise ValueError(
                f"{name} expects the orientation axis 3 of its input {self._input_description} "
                f"to have length {N_ORIENTATIONS}; got shape {input_shape}"
            )
        if input_shape[-1] is None:
            raise ValueError(f"{name} needs a known number of channels (last axis); got shape {input_shape}")
        return int(input_shape[-1])

    def build(self, input_shape):
        channels = self._check_input_shape(input_shape)
        kernel_shape = (
            (self.n_cells,) + ((N_ORIENTATIONS,) if self._in_orientations > 1 else ()) + (channels, self.filters)
        )
        self.kernel = self.add_weight(
            name="kernel",
            shape=kernel_shape,
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.filters,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None
        axes = {-1: channels} if self._in_orientations == 1 else {3: N_ORIENTATIONS, -1: channels}
        self.input_spec = keras.layers.InputSpec(ndim=len(input_shape), axes=axes)

    def call(self, inputs):
        if self._in_orientations > 1:  # merge (6, C) into 6*C channels, index phi * C + c
            shape = ops.shape(inputs)
            inputs = ops.reshape(inputs, (shape[0], shape[1], shape[2], shape[3] * shape[4]))
        outputs = ops.conv(inputs, self.dense_kernel(), strides=1, padding="same", data_format="channels_last")
        # bias and activation on the 4-D conv output (channel theta * F + f), where backends fuse them
        if self.use_bias:
            outputs = ops.add(outputs, ops.tile(self.bias, (N_ORIENTATIONS,)))  # shared by the 6 orientations
        if self.activation is not None:
            outputs = self.activation(outputs)
        shape = ops.shape(outputs)
        return ops.reshape(outputs, (shape[0], shape[1], shape[2], N_ORIENTATIONS, self.filters))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "radius": self.radius,
                "use_bias": self.use_bias,
                "activation": keras.activations.serialize(self.activation),
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
                "bias_constraint": keras.constraints.serialize(self.bias_constraint),
            }
        )
        return config

    def compute_output_shape(self, input_shape):
        self._check_input_shape(input_shape)
        return (input_shape[0], input_shape[1], input_shape[2], N_ORIENTATIONS, self.filters)

    def dense_kernel(self):
        """The kernel passed to ``keras.ops.conv``: shape ``(2R+1, 2R+1, P * C_in, 6 * filters)``.

        ``P`` is 1 for :class:`HexConv2D` and 6 for :class:`GroupHexConv2D`; input channel
        ``phi * C_in + c``, output channel ``theta * filters + f`` (orientation-major), kernel
        axis 0 is ``dr + R`` and axis 1 is ``dq + R``. The two corner triangles outside the hexagon
        are exactly zero.
        """
        kernel = self.kernel
        channels, filters = kernel.shape[-2], kernel.shape[-1]
        rows = ops.reshape(kernel, (self.n_cells * self._in_orientations, channels, filters))
        rows = ops.pad(rows, ((0, 1), (0, 0), (0, 0)))  # the zero row for cells outside the hexagon
        dense = ops.take(rows, self._gather_index, axis=0)  # (S, S, P, 6, C, F): one gather
        dense = ops.transpose(dense, (0, 1, 2, 4, 3, 5))  # (S, S, P, C, 6, F)
        size = 2 * self.radius + 1
        return ops.reshape(dense, (size, size, self._in_orientations * channels, N_ORIENTATIONS * filters))


@keras.saving.register_keras_serializable(package="dlphys")
class HexConv2D(_HexConvBase):
    """Lifting hexagonal convolution: a plain axial grid in, a p6 feature map (6 orientations) out.

    One hexagonal filter (all cells within hex distance ``radius``) is applied in its six
    orientations (rotated by 0°, 60°, …, 300°) with "same" zero padding; rotating the input by 60°
    about a cell rotates each output map about that cell and shifts the orientation axis by one.

    Args:
        filters: number of filters ``F`` (>= 1); each gives 6 orientation channels.
        radius: hexagon radius ``R`` in cells (>= 1): ``1 + 3R(R+1)`` weights per input channel
            and filter (7 for ``R = 1``).
        use_bias: add one bias per filter (shared by the six orientations, which keeps equivariance).
        activation: pointwise activation (name or callable), default none.
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
        kernel_constraint, bias_constraint: as in ``keras.layers.Conv2D``; the kernel has shape
            ``(n_cells, C_in, F)`` (cell order of :func:`hex_offsets`).

    Input shape:
        ``(batch, H, W, C_in)``: axis 1 is the axial ``r``, axis 2 the axial ``q``
        (:func:`dlphys.hexgrid.offset_to_axial`), cells outside the detector zero.

    Output shape:
        ``(batch, H, W, 6, F)``: orientation ``theta`` is the filter rotated by ``theta`` × 60°.

    Example:
        >>> import numpy as np
        >>> from dlphys.layers.hexconv import HexConv2D
        >>> x = np.random.default_rng(0).normal(size=(8, 9, 13, 2)).astype("float32")
        >>> tuple(HexConv2D(4, activation="relu")(x).shape)
        (8, 9, 13, 6, 4)
    """

    _in_orientations = 1
    _input_description = "(batch, H, W, channels)"


@keras.saving.register_keras_serializable(package="dlphys")
class GroupHexConv2D(_HexConvBase):
    """Hexagonal group convolution p6 → p6 (follows :class:`HexConv2D`).

    The filter has its own orientation axis of length 6; its rotation by ``theta`` × 60° rotates the
    hexagon cells and rolls that axis by ``theta`` (Hoogeboom et al. 2018, Fig. 8.13 of the book),
    so rotating the input (maps rotated, orientation axis shifted by one) does the same to the
    output. Cost: one ``Conv2D`` with ``6 C_in`` input and ``6 F`` output channels.

    Args:
        filters: number of filters ``F`` (>= 1); each gives 6 orientation channels.
        radius: hexagon radius ``R`` in cells (>= 1).
        use_bias: add one bias per filter (shared by the six orientations).
        activation: pointwise activation (name or callable), default none.
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
        kernel_constraint, bias_constraint: as in ``keras.layers.Conv2D``; the kernel has shape
            ``(n_cells, 6, C_in, F)``.

    Input shape:
        ``(batch, H, W, 6, C_in)``, a p6 feature map (output of :class:`HexConv2D` or of this layer).

    Output shape:
        ``(batch, H, W, 6, F)``.

    Example:
        >>> import numpy as np
        >>> from dlphys.layers.hexconv import GroupHexConv2D, HexConv2D, OrientationPooling
        >>> x = np.random.default_rng(0).normal(size=(8, 9, 13, 2)).astype("float32")
        >>> h = HexConv2D(4, activation="relu")(x)
        >>> h = GroupHexConv2D(5, radius=2, activation="relu")(h)
        >>> tuple(h.shape), tuple(OrientationPooling("max")(h).shape)
        ((8, 9, 13, 6, 5), (8, 9, 13, 5))
    """

    _in_orientations = N_ORIENTATIONS
    _input_description = "(batch, H, W, 6, channels)"


@keras.saving.register_keras_serializable(package="dlphys")
class OrientationPooling(keras.layers.Layer):
    """Pool a p6 feature map over its orientation axis: rotation-equivariant plain maps out.

    Because a rotation of the input rolls the orientation axis, the maximum (or mean) over that
    axis is only rotated, so the result transforms like an ordinary image.

    Args:
        mode: ``"max"`` or ``"mean"``.

    Input shape:
        ``(batch, H, W, 6, C)``.

    Output shape:
        ``(batch, H, W, C)``.

    Example:
        >>> import keras, numpy as np
        >>> from dlphys.layers.hexconv import OrientationPooling
        >>> x = np.arange(2 * 3 * 3 * 6 * 1, dtype="float32").reshape(2, 3, 3, 6, 1)
        >>> keras.ops.convert_to_numpy(OrientationPooling("mean")(x))[0, 0, 0]
        array([2.5], dtype=float32)
    """

    def __init__(self, mode: str = "max", **kwargs):
        super().__init__(**kwargs)
        if mode not in POOLING_MODES:
            raise ValueError(f"mode must be one of {POOLING_MODES}, got {mode!r}")
        self.mode = mode

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 5:
            raise ValueError(
                f"OrientationPooling expects input of shape (batch, H, W, 6, channels) (rank 5); "
                f"got shape {input_shape} of rank {len(input_shape)}"
            )
        self.input_spec = keras.layers.InputSpec(ndim=5)

    def call(self, inputs):
        if self.mode == "max":
            return ops.max(inputs, axis=3)
        return ops.mean(inputs, axis=3)

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode})
        return config

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape[:3]), input_shape[4])
