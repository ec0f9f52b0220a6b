"""Loss terms shared by the notebooks, written with ``keras.ops`` (any Keras 3 backend).

:func:`distance_correlation` is the sample distance correlation of Székely, Rizzo & Bakirov (2007), with
optional per-event weights. Unlike Pearson's coefficient it vanishes (for large samples) only when the two
variables are *independent*, so it also sees non-linear dependence (``y = x²`` for symmetric ``x``). It is
differentiable and can be added to a training loss: **DisCo** (Kasieczka & Shih 2020) adds
``λ · dCorr²(classifier output, mass)`` over the background events of each batch to the cross-entropy, to
train a classifier whose output carries no information about the mass (exercise 13.1).

Definition (weights ``w_i ≥ 0`` normalised to sum to 1; ``w_i = 1/n`` gives the usual V-statistic):
``a_ij = |x_i − x_j|``, double-centred ``A_ij = a_ij − ā_i − ā_j + ā`` with the weighted means
``ā_i = Σ_j w_j a_ij`` and ``ā = Σ_i w_i ā_i`` (likewise ``B`` from ``y``);
``dCov²(x, y) = Σ_ij w_i w_j A_ij B_ij`` and ``dCorr²(x, y) = dCov²(x, y) / sqrt(dCov²(x, x) dCov²(y, y))``.
An integer weight acts like repeating the event, a zero weight like leaving it out. ``dCorr`` lies in
[0, 1], is 1 for ``y = a x + b`` (``a ≠ 0``) and is invariant under shifts and scalings of ``x`` and ``y``.
The sample value of independent variables is positive, of order ``1/sqrt(n)`` for ``dCorr``.

Validation (``tests/test_losses.py``): agreement with a NumPy computation from
``scipy.spatial.distance``, weights as repetitions, the bivariate-normal closed form of the population
value, invariances, and a finite gradient.

References:
    G. J. Székely, M. L. Rizzo, N. K. Bakirov, "Measuring and testing dependence by correlation of
    distances", Ann. Statist. 35 (2007) 2769.
    G. Kasieczka, D. Shih, "Robust jet classifiers through distance correlation", Phys. Rev. Lett. 125
    (2020) 122001, arXiv:2001.05310.
"""

from __future__ import annotations

from keras import ops

__all__ = ["distance_correlation"]


def distance_correlation(x, y, weights=None, squared: bool = False, epsilon: float = 1e-12):
    """Sample distance correlation of two 1-d samples ``x`` and ``y`` (one pair per event).

    Args:
        x, y: tensors or arrays of ``n`` values each (any shape with ``n`` elements, e.g. ``(n, 1)``).
        weights: optional ``n`` non-negative event weights (normalised inside; they need not sum to 1).
            A weight of 0 removes the event, e.g. ``1 - label`` keeps only the background.
        squared: return ``dCorr²`` (the DisCo penalty) instead of ``dCorr``.
        epsilon: guards the division and the square root when a sample is constant (the result is 0).

    Returns:
        A float32 scalar tensor in [0, 1]. It builds ``(n, n)`` matrices: meant for batches (thousands
        of events), not for millions at once.

    Example:
        >>> import numpy as np
        >>> x = np.linspace(-1.0, 1.0, 101)
        >>> round(float(distance_correlation(x, 3 * x + 1)), 4)
        1.0
        >>> float(np.corrcoef(x, x**2)[0, 1]) < 1e-6 < float(distance_correlation(x, x**2))
        True
    """
    x = ops.reshape(ops.cast(x, "float32"), (-1,))
    y = ops.reshape(ops.cast(y, "float32"), (-1,))
    w = ops.ones_like(x) if weights is None else ops.reshape(ops.cast(weights, "float32"), (-1,))
    w = w / ops.maximum(ops.sum(w), epsilon)
    ww = w[:, None] * w[None, :]

    def centred(v):
        a = ops.abs(v[:, None] - v[None, :])
        row = ops.sum(a * w[None, :], axis=1)  # ā_i, the weighted mean of row i
        return a - row[:, None] - row[None, :] + ops.sum(w * row)

    a, b = centred(x), centred(y)
    dcov_xy = ops.sum(ww * a * b)
    dcov_xx = ops.sum(ww * a * a)
    dcov_yy = ops.sum(ww * b * b)
    dcorr2 = dcov_xy / ops.sqrt(ops.maximum(dcov_xx * dcov_yy, epsilon**2))
    dcorr2 = ops.clip(dcorr2, 0.0, 1.0)
    return dcorr2 if squared else ops.sqrt(ops.maximum(dcorr2, epsilon**2))
