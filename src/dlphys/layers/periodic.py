"""PeriodicPadding2D: pad an image on a torus, so that a convolution sees a lattice with periodic boundaries.

A lattice model with periodic boundaries (the Ising model of ``dlphys.datasets.ising``) has no edge: site (0, j)
neighbours site (L − 1, j). Zero padding ('same') gives the border sites fewer neighbours than the bulk and breaks
the lattice's translation symmetry. This layer wraps the rows and columns around instead:

    out[:, i, j, :] = x[:, (i − p_top) mod H, (j − p_left) mod W, :],   shape (B, H + p_top + p_bottom, W + ...).

A 'valid' convolution with a k × k kernel after ``PeriodicPadding2D(k // 2)`` (odd k) keeps the size H × W and
*commutes with translations*: ``conv(pad(roll(x)))`` = ``roll(conv(pad(x)))`` for every ``np.roll`` of the lattice
(tested), which zero padding does not. Padding up to the image size is allowed (one full wrap).
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["PeriodicPadding2D"]


def _pairs(padding) -> tuple[tuple[int, int], tuple[int, int]]:
    if isinstance(padding, int):
        padding = ((padding, padding), (padding, padding))
    elif len(padding) == 2 and all(isinstance(p, int) for p in padding):
        padding = ((padding[0], padding[0]), (padding[1], padding[1]))
    try:
        (top, bottom), (left, right) = padding
        values = tuple(int(v) for v in (top, bottom, left, right))
    except (TypeError, ValueError):
        raise ValueError(
            f"padding must be an int, (rows, cols) or ((top, bottom), (left, right)), got {padding!r}"
        ) from None
    if min(values) < 0:
        raise ValueError(f"padding must be >= 0, got {padding!r}")
    return (values[0], values[1]), (values[2], values[3])


@keras.saving.register_keras_serializable(package="dlphys")
class PeriodicPadding2D(keras.layers.Layer):
    """Periodic (toroidal) padding of channels-last images.

    Args:
        padding: int (the same on all four sides), (rows, cols) (symmetric), or ((top, bottom), (left, right));
            each at most the image's size along its axis.

    Input shape:
        (B, H, W, C).

    Output shape:
        (B, H + top + bottom, W + left + right, C).

    Example:
        >>> import numpy as np
        >>> x = np.arange(9.0).reshape(1, 3, 3, 1)
        >>> PeriodicPadding2D(1)(x)[0, :, :, 0].numpy().astype(int).tolist()
        [[8, 6, 7, 8, 6], [2, 0, 1, 2, 0], [5, 3, 4, 5, 3], [8, 6, 7, 8, 6], [2, 0, 1, 2, 0]]
    """

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        self.padding = _pairs(padding)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def build(self, input_shape):
        (top, bottom), (left, right) = self.padding
        height, width = input_shape[1], input_shape[2]
        too_high = height is not None and max(top, bottom) > height
        if too_high or (width is not None and max(left, right) > width):
            raise ValueError(f"padding {self.padding} is larger than the image ({height} × {width})")

    def call(self, inputs):
        (top, bottom), (left, right) = self.padding
        rows = [inputs[:, -top:]] if top else []
        x = ops.concatenate([*rows, inputs, *([inputs[:, :bottom]] if bottom else [])], axis=1)
        cols = [x[:, :, -left:]] if left else []
        return ops.concatenate([*cols, x, *([x[:, :, :right]] if right else [])], axis=2)

    def compute_output_shape(self, input_shape):
        (top, bottom), (left, right) = self.padding
        batch, height, width, channels = input_shape
        height = None if height is None else height + top + bottom
        width = None if width is None else width + left + right
        return (batch, height, width, channels)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}
