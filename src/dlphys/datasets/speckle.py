"""X-ray speckle: coherent and incoherent small-angle scattering patterns of random nanostructures.

Exercise 17.1 denoises speckle patterns with an autoencoder / U-Net: the input is a pattern
measured with coherent X-rays (``speckled``), the target the smooth pattern the same kind of
sample gives with incoherent illumination (``clean``).

**Sample.** A thick sample of randomly placed particles: spheroids with in-plane semi-axes
``R`` and ``aspect·R`` (nm), all aligned at one angle in the detector plane, a Gaussian radius
distribution of relative width ``polydispersity``, and hard-sphere interactions at volume fraction
``volume_fraction``. In the Born approximation the far-field (Fraunhofer) amplitude is the Fourier
transform of the electron density; for a thin projection the detector plane is the ``q_z = 0``
plane of reciprocal space, so the projected density's 2-D FFT gives it.

**Incoherent pattern** (the ensemble average over many sample realisations):
``P(q) = <V² Φ²(q R_eff)>_R · S(q)`` with the sphere form factor
``Φ(x) = 3 (sin x − x cos x) / x³`` evaluated at the spheroid's direction-dependent radius
``R_eff(ψ) = R sqrt(cos²ψ + aspect² sin²ψ)`` (Guinier & Fournet 1955; Pedersen 1997), the average
over the radius distribution (weight ``R⁶`` from ``V²``), and the Percus–Yevick hard-sphere
structure factor ``S(q)`` for spheres of the volume-equivalent diameter (Percus & Yevick 1958;
Wertheim 1963; Kinning & Thomas 1984), in the decoupling approximation ``I = <|F|²> S``.
``P(q) = P(−q)``: the pattern is centro-symmetric (Friedel's law for a real density).

**Coherent pattern.** With many particles in the beam the scattered field is a sum of many
random phasors, a circular complex Gaussian (Goodman 2007). We draw a real Gaussian random
density with power spectrum ``P`` (white noise filtered by ``sqrt(P)``), multiply it by the beam
profile ``g(r) = exp(−r² / 2w²)`` of width ``w`` (real-space pixels) and take ``|FFT|²``. This is
exact for a Gaussian random density; it gives

* a speckle pattern whose ensemble mean is ``clean = P ⊛ K``, the incoherent pattern smeared by
  ``K(q) ∝ |ĝ(q)|²``, the coherence function of the beam (a Gaussian a few pixels wide);
* fully developed speckle: the intensity at fixed ``q`` is exponentially distributed with mean
  ``clean(q)`` and **contrast** std/mean = 1 (Goodman 2007, first-order statistics), except
  within a few speckle sizes of ``q = 0`` (and of the Nyquist points ``q = (±N/2, 0)``,
  ``(0, ±N/2)``, ``(±N/2, ±N/2)``), where the field is not circular and the contrast rises to √2;
* a Gaussian intensity autocorrelation ``1 + exp(−Δq² / 2σ_s²)`` with
  ``σ_s = N / (2π w)`` detector pixels (the van Cittert–Zernike theorem: the speckle size is the
  inverse of the illuminated area). ``speckle_size`` is its full width at half maximum,
  ``2 sqrt(2 ln 2) σ_s``;
* exactly centro-symmetric speckle, ``I(q) = I(−q)``, because the density is real.

**Partial coherence.** A beam of ``modes`` mutually incoherent modes, each illuminating a
statistically independent region of the sample, gives the mean of ``modes`` independent speckle
patterns: gamma-distributed intensity of shape ``M = modes`` and contrast ``1/sqrt(M)``
(Goodman 2007, sums of independent speckle patterns). The mean pattern is unchanged.

**Photon counts.** The expected intensity is normalised so that a pattern holds ``photons``
photons on average (``clean.sum() == photons``); the detector counts are Poisson distributed
given the speckle intensity (so the counts as a whole follow a negative-binomial law,
Goodman 2007). Detector pixels are point samples: the pixel area does not average the speckle.

**Units and geometry.** ``size × size`` detector pixels, ``q = 0`` at pixel ``(size//2, size//2)``
(``np.fft.fftshift`` layout), ``q_pixel`` nm⁻¹ per pixel; radii in nm; ``angle`` in rad from the
``q_x`` (column) axis; counts in photons. Defaults: ``q_pixel = 0.05`` nm⁻¹ (so ``|q| ≤ 1.6``
nm⁻¹ along the axes), ``R`` 4–12 nm (first form-factor minimum at 7–22 pixels), speckle FWHM
3 pixels, 10⁶ photons per pattern.

The default data set (:func:`load`): ``kind="train"``, fully coherent (``modes=1``), 10⁶ photons;
``kind="experimental"``, partially coherent (``modes=4``, contrast 0.5) with 3·10⁵ photons, the
stand-in for the exercise's experimental data (its ``clean`` patterns are for scoring only).

Validation (``tests/datasets/test_speckle.py``): contrast 1 and 1/√M, mean over realisations
equals ``clean``, Friedel symmetry, integer counts, Percus–Yevick ``S(0) = (1−η)⁴/(1+2η)²``.

References:
    J. W. Goodman, *Speckle Phenomena in Optics: Theory and Applications*, Roberts & Co. (2007).
    M. Sutton et al., "Observation of speckle by diffraction with coherent X-rays", Nature 352,
    608 (1991).
    A. Guinier, G. Fournet, *Small-Angle Scattering of X-Rays*, Wiley (1955).
    J. S. Pedersen, Adv. Colloid Interface Sci. 70, 171 (1997) (form factors).
    J. K. Percus, G. J. Yevick, Phys. Rev. 110, 1 (1958); M. S. Wertheim, Phys. Rev. Lett. 10,
    321 (1963); D. J. Kinning, E. L. Thomas, Macromolecules 17, 1712 (1984) (hard-sphere S(q)).
    M. Kotlarchyk, S.-H. Chen, J. Chem. Phys. 79, 2461 (1983) (decoupling approximation).
"""

from __future__ import annotations

import functools
import numbers

import numpy as np
import scipy.fft as sfft
from tqdm import tqdm

from dlphys import config
from dlphys.datasets import _cache

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))

#: Structure parameters drawn per pattern, uniform in ``(low, high)`` (a number fixes them).
STRUCTURE_DEFAULTS = {
    "radius": (4.0, 12.0),  # nm, mean in-plane semi-axis R
    "polydispersity": (0.03, 0.15),  # relative std of the radius distribution
    "aspect": (1.0, 1.6),  # ratio of the second in-plane semi-axis to R
    "volume_fraction": (0.0, 0.3),  # hard-sphere volume fraction eta
    "angle": (0.0, float(np.pi)),  # rad, orientation of the R axis from the q_x axis
}

N_TRAIN, N_TRAIN_FAST = 10_000, 300
N_EXPERIMENTAL, N_EXPERIMENTAL_FAST = 1_000, 50
#: The two kinds of :func:`load`: keyword arguments of :func:`simulate` and the seed.
KINDS = {
    "train": {"modes": 1, "photons": 1e6, "speckle_size": 3.0, "seed": 1},
    "experimental": {"modes": 4, "photons": 3e5, "speckle_size": 3.0, "seed": 2},
}

_CHUNK = 256  # patterns per vectorised block (about 20 MB of complex work arrays at size 64)
_DT = 0.01  # grid of relative radii t = R_i / R for the polydispersity average
_DU = 0.02  # grid of q·R_eff for the tabulated form factor
_MAX_PHOTONS = 1e8  # keeps the int32 counts far from overflow


# --- scattering physics -------------------------------------------------------------------------


def sphere_amplitude(x: np.ndarray) -> np.ndarray:
    """Normalised sphere form-factor amplitude ``Φ(x) = 3 (sin x − x cos x) / x³``, ``Φ(0) = 1``."""
    x = np.abs(np.asarray(x, dtype=np.float64))
    out = np.empty_like(x)
    small = x < 1e-2
    xs = x[small]
    out[small] = 1.0 - xs**2 / 10.0 + xs**4 / 280.0
    xl = x[~small]
    out[~small] = 3.0 * (np.sin(xl) - xl * np.cos(xl)) / xl**3
    return out


@functools.cache
def _gauss_legendre_unit(order: int = 160) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes and weights on [0, 1]."""
    nodes, weights = np.polynomial.legendre.leggauss(order)
    return 0.5 * (nodes + 1.0), 0.5 * weights


def _py_integrals(x: np.ndarray) -> np.ndarray:
    """``I_k(x) = ∫₀¹ s^(2+k) sin(xs)/(xs) ds`` for k = 0, 1, 3, shape (3, len(x)) (Gauss-Legendre)."""
    s, w = _gauss_legendre_unit()
    sinc = np.sinc(np.outer(x, s) / np.pi)  # np.sinc(t) = sin(pi t) / (pi t)
    return np.stack([sinc @ (w * s ** (2 + k)) for k in (0, 1, 3)])


def _py_coefficients(eta: np.ndarray) -> np.ndarray:
    """Percus-Yevick direct-correlation coefficients (alpha, beta, gamma), shape (3, len(eta))."""
    eta = np.asarray(eta, dtype=np.float64)
    alpha = (1.0 + 2.0 * eta) ** 2 / (1.0 - eta) ** 4
    beta = -6.0 * eta * (1.0 + eta / 2.0) ** 2 / (1.0 - eta) ** 4
    gamma = eta * alpha / 2.0
    return np.stack([alpha, beta, gamma])


def hard_sphere_structure_factor(q_diameter: np.ndarray, volume_fraction: float) -> np.ndarray:
    """Percus-Yevick structure factor ``S`` of hard spheres at ``q·σ`` (σ the diameter).

    ``S = 1 / (1 − n ĉ(q))`` with the PY direct correlation function
    ``c(r) = −(α + β r/σ + γ (r/σ)³)`` for ``r < σ`` (Wertheim 1963), so that
    ``n ĉ = −24 η ∫₀¹ (α + β s + γ s³) s² sin(qσs)/(qσs) ds``. ``S(0) = (1−η)⁴ / (1+2η)²``.
    """
    eta = float(volume_fraction)
    if not 0.0 <= eta < 0.5:
        raise ValueError(f"volume_fraction must lie in [0, 0.5) for the Percus-Yevick closure, got {eta}")
    x = np.asarray(q_diameter, dtype=np.float64)
    integrals = _py_integrals(x.ravel())
    coef = _py_coefficients(np.array([eta]))[:, 0]
    return (1.0 / (1.0 + 24.0 * eta * (coef @ integrals))).reshape(x.shape)


def q_grid(size: int, q_pixel: float) -> tuple[np.ndarray, np.ndarray]:
    """Scattering vectors ``(q_x, q_y)`` in nm⁻¹ on the unshifted FFT grid, each (size, size)."""
    k = np.fft.fftfreq(size, d=1.0 / size) * q_pixel
    qy, qx = np.meshgrid(k, k, indexing="ij")
    return qx, qy


def beam_profile(size: int, speckle_size: float) -> np.ndarray:
    """Gaussian beam ``g`` (size, size) centred on pixel 0 (periodic), ``Σ g² = 1``, for the speckle FWHM."""
    width = FWHM_PER_SIGMA * size / (2.0 * np.pi * speckle_size)  # real-space pixels
    r = np.fft.fftfreq(size, d=1.0 / size)
    g1 = np.exp(-(r**2) / (2.0 * width**2))
    g = np.outer(g1, g1)
    return g / np.sqrt((g**2).sum())


def coherence_kernel(size: int, speckle_size: float) -> np.ndarray:
    """``K(q) = |FFT g|² / size²`` (unshifted, sums to 1): the smearing of the mean coherent pattern."""
    ghat = np.fft.fft2(beam_profile(size, speckle_size))
    return np.abs(ghat) ** 2 / size**2


def _interp(table: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Linear interpolation of ``table`` (G,) or (B, G) at fractional grid positions ``pos`` (B, P)."""
    i0 = np.minimum(pos.astype(np.int64), table.shape[-1] - 2)
    frac = pos - i0
    if table.ndim == 2:  # one table per row: index the flattened table
        i0 += np.arange(table.shape[0])[:, None] * table.shape[1]
        table = table.ravel()
    lo = table[i0]
    return lo + frac * (table[i0 + 1] - lo)


class _Incoherent:
    """The incoherent intensity ``<V²Φ²> S`` on one detector grid, with tables shared by all patterns.

    Evaluated on the half plane ``q_x >= 0`` (rfft layout), the rest from ``P(-q) = P(q)``.

    The polydispersity average of ``t⁶ Φ²(u t)`` (``t = R_i/R`` on a grid of step 0.01) is
    tabulated in ``u = q R_eff`` (step 0.02), the Percus-Yevick integrals in ``x = qσ``.
    """

    def __init__(self, size: int, q_pixel: float, r_max: float, aspect_max: float, sigma_max: float):
        half = size // 2 + 1
        qx, qy = (a[:, :half] for a in q_grid(size, q_pixel))  # q_x <= 0 pixels follow from Friedel's law
        self.size, self.half = size, half
        self.mirror = (-np.arange(size)) % size  # row of -q_y
        self.q = np.hypot(qx, qy).ravel()
        phi = np.arctan2(qy, qx).ravel()
        self.cos2, self.sin2 = np.cos(2 * phi), np.sin(2 * phi)
        self.q_unique, self.q_index = np.unique(self.q, return_inverse=True)
        self.t = np.arange(1, int(np.ceil((1.0 + 5.0 * max(sigma_max, _DT)) / _DT)) + 1) * _DT
        u_grid = np.arange(0.0, self.q.max() * r_max * aspect_max + 2 * _DU, _DU)
        self.form_table = sphere_amplitude(np.outer(u_grid, self.t)) ** 2  # (U, T)
        x_grid = np.arange(0.0, self.q.max() * 2.0 * r_max * aspect_max ** (1 / 3) + 2 * _DU, _DU)
        self.py_table = _py_integrals(x_grid)  # (3, X)

    def __call__(self, radius, polydispersity, aspect, angle, eta) -> np.ndarray:
        """Intensity (B, size, size), arbitrary units, unshifted FFT layout, Friedel-symmetric."""
        # spheroid: R_eff² = R² (cos²ψ + a² sin²ψ) = R² (1 + (a²-1) sin²ψ), ψ = φ - angle
        sin2psi = 0.5 * (
            1.0 - np.cos(2 * angle)[:, None] * self.cos2[None, :] - np.sin(2 * angle)[:, None] * self.sin2[None, :]
        )
        r_eff = radius[:, None] * np.sqrt(1.0 + (aspect[:, None] ** 2 - 1.0) * sin2psi)
        sig = polydispersity[:, None]
        t = self.t[None, :]
        weights = (
            np.where(sig >= _DT, np.exp(-((t - 1.0) ** 2) / (2.0 * np.maximum(sig, _DT) ** 2)), np.isclose(t, 1.0))
            * t**6
        )
        weights /= weights.sum(axis=1, keepdims=True)
        form = _interp(weights @ self.form_table.T, self.q[None, :] * r_eff / _DU)  # (B, P)
        # hard-sphere structure factor (isotropic) at the volume-equivalent diameter
        diameter = 2.0 * radius * aspect ** (1.0 / 3.0)
        pos = self.q_unique[None, :] * diameter[:, None] / _DU
        coef = _py_coefficients(eta)
        nc = sum(coef[k][:, None] * _interp(self.py_table[k], pos) for k in range(3))
        structure = (1.0 / (1.0 + 24.0 * eta[:, None] * nc))[:, self.q_index]
        size, half, mirror = self.size, self.half, self.mirror
        part = (form * structure).reshape(-1, size, half)
        # columns q_x = 0 and Nyquist hold both members of Friedel pairs: make them exactly equal
        for col in (0, half - 1):
            part[:, :, col] = 0.5 * (part[:, :, col] + part[:, mirror, col])
        power = np.empty((part.shape[0], size, size))
        power[:, :, :half] = part
        power[:, :, half:] = part[:, mirror, 1 : half - 1][:, :, ::-1]  # P(-q) = P(q)
        return power


# --- argument checks ----------------------------------------------------------------------------


def _range(name: str, value, low: float, high: float) -> tuple[float, float]:
    """``value`` as a (low, high) pair inside [low, high]; a single number means a fixed value."""
    if isinstance(value, numbers.Real):
        value = (value, value)
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or a (low, high) pair, got {value!r}") from None
    if not (low <= lo <= hi <= high):
        raise ValueError(f"{name} must satisfy {low} <= low <= high <= {high}, got ({lo}, {hi})")
    return lo, hi


def _check(n, size, modes, photons, speckle_size, q_pixel) -> None:
    if not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a positive number of patterns, got {n!r}")
    if not isinstance(size, numbers.Integral) or size < 8 or size % 2:
        raise ValueError(f"size must be an even number of pixels >= 8, got {size!r}")
    if not isinstance(modes, numbers.Integral) or modes < 1:
        raise ValueError(f"modes must be a positive integer number of coherent modes, got {modes!r}")
    if not (isinstance(photons, numbers.Real) and 0 < photons <= _MAX_PHOTONS):
        raise ValueError(f"photons must be a mean photon number per pattern in (0, {_MAX_PHOTONS:g}], got {photons!r}")
    if not (isinstance(speckle_size, numbers.Real) and 1.0 <= speckle_size <= size / 4):
        raise ValueError(
            f"speckle_size must be a FWHM in pixels within [1, size/4 = {size / 4:g}], got {speckle_size!r}"
        )
    if not (isinstance(q_pixel, numbers.Real) and q_pixel > 0):
        raise ValueError(f"q_pixel must be a positive pixel size in 1/nm, got {q_pixel!r}")


# --- the generator ------------------------------------------------------------------------------


def simulate(
    n: int,
    size: int = 64,
    seed: int = 0,
    modes: int = 1,
    *,
    photons: float = 1e6,
    speckle_size: float = 3.0,
    q_pixel: float = 0.05,
    radius=STRUCTURE_DEFAULTS["radius"],
    polydispersity=STRUCTURE_DEFAULTS["polydispersity"],
    aspect=STRUCTURE_DEFAULTS["aspect"],
    volume_fraction=STRUCTURE_DEFAULTS["volume_fraction"],
    angle=STRUCTURE_DEFAULTS["angle"],
    return_intensity: bool = False,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """``n`` pairs of incoherent (clean) and coherent (speckled) small-angle scattering patterns.

    Args:
        n: number of patterns.
        size: detector side in pixels (even); ``q = 0`` at pixel ``(size//2, size//2)``.
        seed: seed of ``np.random.default_rng``.
        modes: number M of mutually incoherent modes; speckle contrast ``1/sqrt(M)``.
        photons: mean number of photons per pattern (``clean.sum()``), at most 1e8.
        speckle_size: FWHM of the speckle (intensity autocorrelation) in pixels, 1 to size/4.
        q_pixel: pixel size in reciprocal space, nm⁻¹.
        radius, polydispersity, aspect, volume_fraction, angle: ``(low, high)`` ranges from which
            each pattern's structure is drawn uniformly (a single number fixes it): mean in-plane
            semi-axis R in nm (0.5–100), relative radius spread (0–0.3), axis ratio (1–3),
            hard-sphere volume fraction (0–0.45), orientation of the R axis from ``q_x`` in rad
            (−π to π; default 0 to π).
        return_intensity: also return ``intensity``, the speckle intensity before photon counting.
        progress: show a tqdm bar over blocks of 256 patterns.

    Returns:
        dict with ``clean`` (n, size, size) float32, expected photons per pixel (incoherent);
        ``speckled`` (n, size, size) int32, the coherent photon counts; optionally ``intensity``
        (n, size, size) float32; per pattern (n,) float32 ``radius`` (nm), ``polydispersity``,
        ``aspect``, ``angle`` (rad), ``volume_fraction``; and the scalars ``modes``, ``photons``,
        ``speckle_size`` (pixels), ``q_pixel`` (nm⁻¹) as 0-d arrays.
    """
    _check(n, size, modes, photons, speckle_size, q_pixel)
    ranges = {
        "radius": _range("radius", radius, 0.5, 100.0),
        "polydispersity": _range("polydispersity", polydispersity, 0.0, 0.3),
        "aspect": _range("aspect", aspect, 1.0, 3.0),
        "volume_fraction": _range("volume_fraction", volume_fraction, 0.0, 0.45),
        "angle": _range("angle", angle, -np.pi, np.pi),
    }
    rng = np.random.default_rng(seed)
    par = {name: rng.uniform(lo, hi, size=n) for name, (lo, hi) in ranges.items()}

    incoherent = _Incoherent(size, q_pixel, ranges["radius"][1], ranges["aspect"][1], ranges["polydispersity"][1])
    g = beam_profile(size, speckle_size)
    kernel_hat = sfft.rfft2(coherence_kernel(size, speckle_size))
    half = size // 2 + 1
    mirror = incoherent.mirror

    clean = np.empty((n, size, size), dtype=np.float32)
    counts = np.empty((n, size, size), dtype=np.int32)
    intensity = np.empty((n, size, size), dtype=np.float32) if return_intensity else None
    for start in tqdm(
        range(0, n, _CHUNK), desc=f"speckle (M={modes})", unit="block", disable=not progress, leave=False
    ):
        sl = slice(start, min(start + _CHUNK, n))
        power = incoherent(
            par["radius"][sl],
            par["polydispersity"][sl],
            par["aspect"][sl],
            par["angle"][sl],
            par["volume_fraction"][sl],
        )
        power *= photons / power.sum(axis=(1, 2), keepdims=True)  # smearing by K keeps the sum
        mean = sfft.irfft2(sfft.rfft2(power) * kernel_hat, s=(size, size))
        np.maximum(mean, 0.0, out=mean)  # round-off only
        amplitude = np.sqrt(power[:, :, :half])
        speckle = np.zeros_like(mean)
        for _ in range(modes):
            noise = rng.standard_normal(mean.shape)  # real white density fluctuations
            density = sfft.irfft2(sfft.rfft2(noise) * amplitude, s=(size, size))
            field = sfft.rfft2(density * g)  # half plane q_x >= 0; I(-q) = I(q) for the rest
            half_intensity = field.real**2 + field.imag**2
            speckle[:, :, :half] += half_intensity
            speckle[:, :, half:] += half_intensity[:, mirror, 1 : half - 1][:, :, ::-1]
        speckle /= modes
        clean[sl] = np.fft.fftshift(mean, axes=(1, 2))
        counts[sl] = np.fft.fftshift(rng.poisson(speckle), axes=(1, 2))
        if intensity is not None:
            intensity[sl] = np.fft.fftshift(speckle, axes=(1, 2))

    out = {"clean": clean, "speckled": counts}
    if intensity is not None:
        out["intensity"] = intensity
    out |= {
        name: par[name].astype(np.float32)
        for name in ("radius", "polydispersity", "aspect", "angle", "volume_fraction")
    }
    out |= {
        "modes": np.array(modes),
        "photons": np.array(float(photons)),
        "speckle_size": np.array(float(speckle_size)),
        "q_pixel": np.array(float(q_pixel)),
    }
    return out


def developed_mask(size: int, speckle_size: float, margin: float = 4.0) -> np.ndarray:
    """Boolean (size, size) mask (fftshift layout) of fully developed speckle.

    Excludes pixels closer than ``margin`` speckle σ (``speckle_size / 2.355``) to ``q = 0`` and to
    the Nyquist points, where the coherent field is not circular (contrast up to √2).
    """
    sigma = speckle_size / FWHM_PER_SIGMA
    k = np.arange(size) - size // 2
    ky, kx = np.meshgrid(k, k, indexing="ij")
    mask = np.ones((size, size), dtype=bool)
    for cy in (0, size // 2, -size // 2):
        for cx in (0, size // 2, -size // 2):
            mask &= np.hypot(ky - cy, kx - cx) > margin * sigma
    return mask


def speckle_contrast(
    intensity: np.ndarray,
    clean: np.ndarray,
    speckle_size: float = 3.0,
    margin: float = 4.0,
    min_photons: float = 0.0,
) -> float:
    """Speckle contrast std/mean of ``intensity / clean`` over the fully developed pixels.

    ``intensity`` and ``clean`` are (..., size, size) in fftshift layout; the ratio is pooled over
    the pixels of all patterns that are fully developed (:func:`developed_mask`) and have
    ``clean > min_photons`` expected photons. For photon counts Poisson noise adds ``1/clean`` to
    the squared contrast: ``sqrt(1/M + 1/N)`` for M modes and N expected photons per pixel (use
    ``min_photons`` of a few tens to keep it small). About 1 for fully coherent and ``1/sqrt(M)``
    for M-mode illumination.
    """
    intensity, clean = np.asarray(intensity, dtype=np.float64), np.asarray(clean, dtype=np.float64)
    if intensity.shape != clean.shape:
        raise ValueError(f"intensity and clean must have the same shape, got {intensity.shape} and {clean.shape}")
    if not min_photons >= 0.0:
        raise ValueError(f"min_photons must be non-negative, got {min_photons}")
    mask = developed_mask(clean.shape[-1], speckle_size, margin) & (clean > min_photons)
    if not mask.any():
        raise ValueError(f"no fully developed pixel has more than min_photons = {min_photons} expected photons")
    ratio = intensity[..., mask] / clean[..., mask]
    return float(ratio.std() / ratio.mean())


def load(fast: bool | None = None, refresh: bool = False, kind: str = "train") -> dict[str, np.ndarray]:
    """The default speckle data set of ``kind`` from the cache (the dict of :func:`simulate`).

    ``kind="train"``: 10,000 fully coherent pairs (300 in fast mode), 10⁶ photons per pattern;
    ``kind="experimental"``: 1,000 (50) partially coherent pairs, ``modes=4``, 3·10⁵ photons.
    ``fast=None`` follows ``DLPHYS_FAST``.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
    fast = config.fast_mode() if fast is None else fast
    if kind == "train":
        n = N_TRAIN_FAST if fast else N_TRAIN
    else:
        n = N_EXPERIMENTAL_FAST if fast else N_EXPERIMENTAL
    settings = dict(KINDS[kind])
    seed = settings.pop("seed")
    params = {"kind": kind, "n": n, "size": 64, "seed": seed, "q_pixel": 0.05, **settings, **STRUCTURE_DEFAULTS}
    return _cache.cached(
        "speckle",
        params,
        lambda: simulate(n, size=64, seed=seed, progress=not fast, **settings),
        version=1,
        refresh=refresh,
    )
