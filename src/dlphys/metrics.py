r"""Sample-quality figures for generative models (exercise 18.1).

**Fréchet distance.** Two distributions are summarised by Gaussians with means :math:`\mu_1, \mu_2` and
covariances :math:`\Sigma_1, \Sigma_2` of some features (for images: the activations of a classifier's
last hidden layer). The squared Wasserstein-2 distance between the two Gaussians has the closed form
(Dowson & Landau 1982)

.. math::

    d^2 = \lVert \mu_1 - \mu_2 \rVert^2
          + \operatorname{Tr}\bigl(\Sigma_1 + \Sigma_2 - 2\,(\Sigma_1 \Sigma_2)^{1/2}\bigr),

which is zero only for identical means and covariances. In one dimension it is
:math:`(\mu_1 - \mu_2)^2 + (\sigma_1 - \sigma_2)^2`; for commuting (e.g. diagonal) covariances the
trace term is :math:`\sum_i (\sqrt{\lambda_{1,i}} - \sqrt{\lambda_{2,i}})^2`. Heusel et al. (2017)
introduced it, in the feature space of the Inception network, as the FID ("Fréchet Inception
distance"); :func:`frechet_distance` returns :math:`d^2` in the units of the features squared,
as the FID does. The trace of the matrix square root is computed from the eigenvalues of the symmetric
matrix :math:`\Sigma_1^{1/2}\Sigma_2\Sigma_1^{1/2}` (similar to :math:`\Sigma_1\Sigma_2`), which stays exact when
a covariance is singular (a feature that never varies), where ``scipy.linalg.sqrtm`` of the product warns.

The estimate from samples is biased upwards: finite samples of the *same* distribution give a
positive value that falls roughly like 1/n. Compare models only at the same number of samples, and
quote the distance between two independent real samples of that size as the floor.

References:
    D. C. Dowson, B. V. Landau, "The Fréchet distance between multivariate normal distributions",
    J. Multivariate Anal. 12 (1982) 450.
    M. Heusel, H. Ramsauer, T. Unterthiner, B. Nessler, S. Hochreiter, "GANs trained by a two
    time-scale update rule converge to a local Nash equilibrium", NeurIPS 30 (2017), arXiv:1706.08500.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

__all__ = ["frechet_distance", "gaussian_frechet_distance"]


def _moments(name: str, features) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"{name} must be a 2-D array (n_samples >= 2, n_features); received shape {x.shape}.")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False))


def _symmetric(matrix: np.ndarray) -> np.ndarray:
    return 0.5 * (matrix + matrix.T)


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix (negative round-off clipped)."""
    eigenvalues, eigenvectors = linalg.eigh(_symmetric(matrix))
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T


def gaussian_frechet_distance(mu1, cov1, mu2, cov2) -> float:
    r"""Squared Fréchet (Wasserstein-2) distance between :math:`N(\mu_1, \Sigma_1)` and :math:`N(\mu_2, \Sigma_2)`.

    Args:
        mu1, mu2: means, shape (d,).
        cov1, cov2: symmetric positive semi-definite covariances, shape (d, d).

    Returns:
        :math:`\lVert\mu_1-\mu_2\rVert^2 + \operatorname{Tr}(\Sigma_1+\Sigma_2-2(\Sigma_1\Sigma_2)^{1/2})`, a float
        >= 0 in the units of the variables squared.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, dtype=np.float64)), np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    cov1, cov2 = np.atleast_2d(np.asarray(cov1, dtype=np.float64)), np.atleast_2d(np.asarray(cov2, dtype=np.float64))
    d = mu1.shape[0]
    if mu1.ndim != 1 or mu2.shape != (d,):
        raise ValueError(
            f"mu1 and mu2 must be vectors of the same length; received shapes {mu1.shape} and {mu2.shape}."
        )
    if cov1.shape != (d, d) or cov2.shape != (d, d):
        raise ValueError(f"cov1 and cov2 must have shape ({d}, {d}); received {cov1.shape} and {cov2.shape}.")
    # Tr (Σ1 Σ2)^{1/2} = Tr (Σ1^{1/2} Σ2 Σ1^{1/2})^{1/2}: the product Σ1 Σ2 is similar to the symmetric PSD
    # matrix on the right, so the trace is the sum of the square roots of its eigenvalues. Unlike
    # scipy.linalg.sqrtm of the non-symmetric product, this stays exact for singular covariances (e.g. features
    # of ReLU units that never fire), which are common.
    root1 = _sqrt_psd(cov1)
    eigenvalues = linalg.eigvalsh(_symmetric(root1 @ cov2 @ root1))
    trace_covmean = float(np.sum(np.sqrt(np.clip(eigenvalues, 0.0, None))))
    value = float(np.sum((mu1 - mu2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2.0 * trace_covmean)
    return max(value, 0.0)  # round-off can give -1e-12 for identical Gaussians


def frechet_distance(features1, features2) -> float:
    """Squared Fréchet distance between Gaussians fitted to two samples of features.

    Args:
        features1, features2: arrays (n1, d) and (n2, d), one row per sample (e.g. a classifier's
            hidden-layer activations for real and for generated images); n1, n2 >= 2.

    Returns:
        :func:`gaussian_frechet_distance` of the sample means and covariances (float >= 0).

    Example:
        >>> import numpy as np
        >>> from dlphys.metrics import frechet_distance
        >>> rng = np.random.default_rng(0)
        >>> a, b = rng.normal(0, 1, (20000, 2)), rng.normal([3, 0], 1, (20000, 2))
        >>> round(frechet_distance(a, b), 1)  # |mu1 - mu2|^2 = 9, equal covariances
        9.0
    """
    mu1, cov1 = _moments("features1", features1)
    mu2, cov2 = _moments("features2", features2)
    if mu1.shape != mu2.shape:
        raise ValueError(
            f"features1 and features2 must have the same number of features; received "
            f"{mu1.shape[0]} and {mu2.shape[0]}."
        )
    return gaussian_frechet_distance(mu1, cov1, mu2, cov2)
