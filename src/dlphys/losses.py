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

import functools

import numpy as np
from keras import ops
from scipy.integrate import quad

__all__ = ["barron_log_partition", "distance_correlation"]


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


# --- the normalisation of Barron's adaptive robust loss ------------------------------------------------------------

#: α nodes of the table of ln Z(α) (Barron's density is normalisable for α ≥ 0; the table covers [0, 2]).
BARRON_ALPHA = np.linspace(0.0, 2.0, 401)


def _barron_rho_numpy(x, alpha):
    """Barron's ρ(x, α, c = 1) in NumPy (float64) for 0 < α < 2; α = 0 is the Cauchy limit ln(1 + x²/2)."""
    if alpha == 0.0:
        return np.log1p(0.5 * x**2)
    b = abs(alpha - 2.0)
    return b / alpha * np.expm1(0.5 * alpha * np.log1p(x**2 / b))


@functools.cache
def _barron_log_z_table() -> np.ndarray:
    """ln Z(α) = ln ∫ exp(−ρ(x, α, 1)) dx at :data:`BARRON_ALPHA` (α = 2: ln √(2π))."""
    values = []
    for alpha in BARRON_ALPHA:
        if alpha >= 2.0:
            values.append(0.5 * np.log(2 * np.pi))
            continue
        half, _ = quad(
            lambda x, a=alpha: np.exp(-_barron_rho_numpy(x, a)), 0.0, np.inf, limit=400, epsabs=0, epsrel=1e-10
        )
        values.append(np.log(2 * half))
    return np.array(values)


def barron_log_partition(alpha):
    """ln Z(α) of Barron's density p(x | μ, α, c) = exp(−ρ((x − μ)/c, α)) / (c Z(α)), for 0 ≤ α ≤ 2.

    Z(α) = ∫ exp(−ρ(x, α, 1)) dx is computed once by quadrature (``scipy.integrate.quad``, relative 1e-10) on 401
    nodes in [0, 2] and interpolated linearly in ``keras.ops`` (error below 5e-5, largest near α = 0; differentiable
    in α almost everywhere): ln Z(0) = ln(π √2) (the Cauchy limit), ln Z(1) = ln(2 e K₁(1)) ≈ 1.1855 (checked in
    the tests), ln Z(2) = ln √(2π) (the Gaussian). Minimising ρ((y − μ)/c, α) + ln c + ln Z(α) over μ, c and α is
    Barron's adaptive loss: without ln Z(α) a learned α would simply run to the least penalising shape.

    Args:
        alpha: tensor or array of shape-parameter values; values outside [0, 2] are clipped to it.

    Returns:
        float32 tensor of ln Z(α), the shape of ``alpha``.

    Reference: J. T. Barron, "A General and Adaptive Robust Loss Function", CVPR 2019, arXiv:1701.03077.
    """
    table = ops.convert_to_tensor(_barron_log_z_table().astype("float32"))
    step = float(BARRON_ALPHA[1] - BARRON_ALPHA[0])
    a = ops.clip(ops.cast(alpha, "float32"), 0.0, 2.0)
    position = a / step
    index = ops.clip(ops.cast(ops.floor(position), "int32"), 0, len(BARRON_ALPHA) - 2)
    weight = position - ops.cast(index, "float32")
    return ops.take(table, index) * (1.0 - weight) + ops.take(table, index + 1) * weight
