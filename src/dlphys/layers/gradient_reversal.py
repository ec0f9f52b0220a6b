"""GradientReversal: the identity on the way forward, −λ × the gradient on the way back (Ganin et al. 2016).

Domain-adversarial training (DANN; Y. Ganin et al., "Domain-adversarial training of neural networks", JMLR 17, 59
(2016)) puts this layer between a feature extractor and a domain classifier. The classifier learns to tell the
domains apart; the reversed gradient makes the features *worse* for it, i.e. domain invariant.

Backend agnostic, with ``keras.ops`` only:

    y = stop_gradient((1 + λ) x) − λ x      (value: x;   ∂y/∂x = −λ).

λ is a non-trainable weight (``layer.lam``), not a Python float: a float would be frozen into the traced (compiled)
train function, while a weight is read at every step, so a callback can follow a schedule such as Ganin's
λ_p = λ_max (2 / (1 + e^{−10 p}) − 1) with ``layer.lam.assign(value)``.
"""

from __future__ import annotations

import math

import keras
from keras import ops

__all__ = ["GradientReversal"]


@keras.saving.register_keras_serializable(package="dlphys")
class GradientReversal(keras.layers.Layer):
    """Identity forward, gradient multiplied by −λ backward.

    Args:
        lam: initial λ >= 0 (a finite float); stored in the non-trainable weight ``lam`` and changed with
            ``layer.lam.assign(value)``.

    Input shape:
        any; the output has the same shape and values.

    Example:
        >>> import numpy as np
        >>> layer = GradientReversal(0.5)
        >>> np.asarray(layer(np.array([[1.0, -2.0]]))).tolist()
        [[1.0, -2.0]]
    """

    def __init__(self, lam: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        try:
            value = float(lam)
        except (TypeError, ValueError):
            raise ValueError(f"lam must be a finite number >= 0, got {lam!r}") from None
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"lam must be a finite number >= 0, got {lam!r}")
        self.initial_lam = value
        self.supports_masking = True

    def build(self, input_shape):
        self.lam = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(self.initial_lam), trainable=False, name="lam"
        )

    def call(self, inputs):
        lam = ops.cast(self.lam, inputs.dtype)
        return ops.stop_gradient((1.0 + lam) * inputs) - lam * inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "lam": self.initial_lam}
