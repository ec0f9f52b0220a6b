"""Spin configurations of the two-dimensional Ising model, sampled with the Wolff cluster algorithm.

**Model.** Spins :math:`s_i = \\pm 1` on an ``size`` × ``size`` square lattice with periodic
boundaries and energy

.. math::  H = -J \\sum_{\\langle ij \\rangle} s_i s_j ,

the sum running over the 2 L² nearest-neighbour bonds. Units: J = k_B = 1, so energies are in
units of J and the temperature T is in units of J/k_B. Configurations are drawn from the
Boltzmann distribution :math:`p(s) \\propto e^{-H(s)/T}`. In the thermodynamic limit the model
orders below the critical temperature :data:`TC` = 2 / ln(1 + √2) ≈ 2.269 (Onsager 1944).

**Observables.** :func:`energy_per_spin` is H/L² (between -2 and 2); :func:`magnetization` is
m = Σ s_i / L² (signed, or |m|). The exact infinite-lattice references are

* :func:`onsager_energy` (Onsager 1944):
  u(T) = -coth(2β) [1 + (2/π)(2 tanh²(2β) - 1) K(k)],  k = 2 sinh(2β) / cosh²(2β), β = 1/T,
  with the complete elliptic integral K(k) = ∫₀^{π/2} dθ (1 - k² sin²θ)^{-1/2}. SciPy's
  ``ellipk(m)`` takes the *parameter* m = k², not the modulus k; u(Tc) = -√2.
* :func:`onsager_magnetization` (Onsager 1949, proved by Yang 1952):
  m₀(T) = (1 - sinh(2β)^{-4})^{1/8} below Tc and 0 above.

**The exact finite lattice.** :func:`log_partition_function` is ln Z(T) of the L × L torus from Kaufman's
solution (1949) in Beale's form (1996), summed in log space (Z overflows a float for L = 32); it equals the sum over
all 2^(L²) configurations for L = 2, 3, 4 to 1e-12 and gives Onsager's u(T) at L = 128 as −∂ln Z/∂β to 1e-7.
Since the energy is a sufficient statistic, p(s | T) = e^{−E(s)/T} / Z(T) makes :func:`temperature_posterior`
p(T | s) exact for any prior: the reference a network's temperature estimate with an error bar can be judged by.

**An imperfect detector.** :func:`readout` misreads each spin with a given probability p: the readout's
magnetisation is (1 − 2p) m on average and its energy (1 − 2p)² E, a known shift between simulation and "data".

**Algorithm.** Wolff's single-cluster update (Wolff 1989): pick a random seed spin, grow a cluster
by adding each aligned neighbour with probability p = 1 - exp(-2/T), and flip the whole cluster.
It is rejection free and nearly free of critical slowing down (dynamic exponent z ≈ 0.25 against
≈ 2.17 for local Metropolis updates), so samples decorrelate quickly also at Tc. The cluster
kernel is compiled with numba, grows the cluster breadth first, uses unsigned indices and has no
data-dependent branches in the neighbour loop (a mispredicted branch costs more than a random
number); together that is about 2.7x faster than a depth-first loop with ``if`` tests.
``benchmarks/bench_ising.py`` measures about 1.4·10⁸ flipped spins per second at Tc, roughly 150
times the flip rate of a pure-Python Metropolis loop.

Random numbers come from SplitMix64 (Steele, Lea & Flood 2014; passes BigCrush), one 64-bit output
giving two 32-bit uniforms, so probabilities have a resolution of 2⁻³². Cluster algorithms are
known to expose weak generators (Ferrenberg, Landau & Wong 1992), hence a well-tested one and the
validation below. Each temperature gets its own child of ``np.random.default_rng(seed)``
(``Generator.spawn``), which draws the random start and the 64-bit SplitMix64 state, so a
temperature's chain does not depend on the others and no global random state is used.

Per temperature, :func:`simulate`

1. starts from a random (T = ∞) configuration;
2. equilibrates for ``equilibration_sweeps`` (default 100) lattice volumes of *flipped* spins
   (one "sweep" = L² flipped spins); the second half of this phase (at least 500 clusters) also
   measures the mean cluster size ⟨C⟩(T);
3. stores ``n_per_temperature`` configurations, separated by a **fixed** number of clusters
   n_c = ceil(``sweeps_between`` · L² / ⟨C⟩) (at least 1). A fixed count keeps the chain a
   proper Markov chain: stopping on an accumulated-flip criterion would bias the stored states
   towards those just after a large cluster. With the default ``sweeps_between = 6`` about six
   lattice volumes of spins (5.4 to 7.0 for the default dataset) are flipped between stored
   samples: n_c = 7 clusters at T = 1 (⟨C⟩ ≈ L²), 13 near Tc (⟨C⟩ ≈ 470 for L = 32), about
   1000 at T = 3.5 (⟨C⟩ ≈ 6). Six, not the one or two often used, because at Tc the energy of
   the Wolff chain has τ ≈ 3 to 3.5 lattice volumes flipped (|m|: 2.3 to 2.8): with two
   volumes between samples the stored samples have τ ≈ 3, with four ≈ 1.3, with six ≈ 1.0
   (independent).
   Generation is cheap either way (the full dataset takes about 1.5 s).

**Autocorrelation.** :func:`integrated_autocorrelation_time` returns τ = 1 + 2 Σ_t ρ(t) (which is
2 τ_int in Sokal's convention): the number of correlated samples worth one independent sample,
so the standard error of a mean of n samples is σ √(τ / n). The sum is cut at Sokal's automatic
window, the smallest W with W ≥ c τ(W) (c = 5). :func:`autocorrelation_times` measures τ of |m|
and E for the Wolff update, local Metropolis sweeps, or the stored samples of :func:`simulate`.

**Dataset.** :func:`load` gives 21 temperatures T = 1.0, 1.125, …, 3.5 (``DEFAULT_TEMPERATURES``)
× 1000 configurations of 32 × 32 spins (fast mode: × 50), cached under ``data_dir()/ising``.

**Validation** (``tests/datasets/test_ising.py``): on 32 × 32 the mean energy per spin agrees with
Onsager's u(T) at T = 1.5, 2.0, 3.0, 3.5 within 4 standard errors (τ-corrected) plus 0.001 J for
finite size, and ⟨|m|⟩ with Yang's m₀ at T = 1.5 and 2.0; ⟨|m|⟩ falls like 1/L above Tc; the
stored samples at T = 2.27 have τ < 2 samples for both |m| and E (measured: about 1.0). The
exact formulas are checked against a numerical derivative of Onsager's free energy and the
low-temperature series. Over the whole default dataset the largest deviation from Onsager's
energy for |T - Tc| > 0.3 is 1.8 standard errors (``benchmarks/bench_ising.py`` prints the table).

References:
    L. Onsager, Phys. Rev. 65, 117 (1944) - exact solution, internal energy.
    C. N. Yang, Phys. Rev. 85, 808 (1952) - spontaneous magnetisation.
    U. Wolff, Phys. Rev. Lett. 62, 361 (1989) - single-cluster algorithm.
    A. D. Sokal, "Monte Carlo methods in statistical mechanics: foundations and new algorithms",
    in Functional Integration, NATO ASI Series B 361, 131 (1997) - autocorrelation windows.
    B. Kaufman, Phys. Rev. 76, 1232 (1949) - the partition function of the finite lattice.
    P. D. Beale, Phys. Rev. Lett. 76, 78 (1996) - Kaufman's Z in the form used here (exact density of states).
    G. L. Steele, D. Lea, C. H. Flood, OOPSLA 2014, 453 - SplitMix64.
    A. M. Ferrenberg, D. P. Landau, Y. J. Wong, Phys. Rev. Lett. 69, 3382 (1992) - generator
    defects show up in Wolff simulations.
    M. E. J. Newman, G. T. Barkema, Monte Carlo Methods in Statistical Physics (OUP 1999), ch. 4.
"""

from __future__ import annotations

import math
import operator
import warnings

import numba
import numpy as np
from scipy.integrate import trapezoid
from scipy.special import ellipk
from tqdm import tqdm

from dlphys import config
from dlphys.datasets import _cache

#: Critical temperature of the infinite square lattice, 2 / ln(1 + √2) ≈ 2.269 J/k_B (Onsager 1944).
TC = 2.0 / math.log1p(math.sqrt(2.0))

#: Temperatures of the default dataset (J/k_B): 1.0 to 3.5 in steps of 0.125.
DEFAULT_TEMPERATURES = np.linspace(1.0, 3.5, 21)

#: Generator version for the cache key; bump whenever the output of :func:`simulate` changes.
VERSION = 1

SCHEMES = ("wolff", "metropolis", "dataset")

# --- random numbers: SplitMix64 (a Weyl sequence through a 64-bit mixing function) ---------------
_WEYL = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_LOW32 = np.uint64(0xFFFFFFFF)
_S27, _S30, _S31, _S32 = np.uint64(27), np.uint64(30), np.uint64(31), np.uint64(32)
_U1, _U2, _U3, _U4 = np.uint64(1), np.uint64(2), np.uint64(3), np.uint64(4)


@numba.njit(cache=True, inline="always")
def _mix64(x):
    """SplitMix64 output function: 64 well-mixed bits from the Weyl state ``x`` (uint64)."""
    z = (x ^ (x >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@numba.njit(cache=True, inline="always")
def _try_join(flat, n, s, r, threshold, queue, top):
    """Add site ``n`` to the cluster if aligned with ``s`` and ``r < threshold``; return new top.

    Branch free: the spin is negated arithmetically and the site is always written to the queue,
    but the queue only grows when the site joined (a mispredicted branch costs more than this).
    """
    v = np.int64(flat[n])
    join = np.int64((v == s) & (r < threshold))
    flat[n] = np.int8(v - 2 * join * v)
    queue[top] = n
    return top + join


@numba.njit(cache=True)
def _wolff_clusters(spins, n_clusters, threshold, state, queue, nbr):
    """Grow and flip ``n_clusters`` Wolff clusters in ``spins`` (L, L) int8 in place.

    ``threshold``: 2³² · (1 - e^{-2/T}) as uint64 (32-bit add probability); ``state``: (1,) uint64
    SplitMix64 state, advanced in place; ``queue``: (L² + 1,) uint32 work array (the cluster, in
    the order it grew); ``nbr``: (4 L²,) uint32 neighbour table (see :func:`_work_arrays`).
    Returns the number of flipped spins.

    The cluster grows breadth first (first in, first out): the next site to expand was stored
    long ago, so the CPU can overlap successive sites; depth first is 1.4x slower here. Indices
    are unsigned so that numba skips its negative-index checks (another 1.2x).
    """
    n_sites = spins.size
    flat = spins.reshape(n_sites)
    x = state[0]
    flipped = 0
    for _ in range(n_clusters):
        x += _WEYL
        site = ((_mix64(x) >> _S32) * np.uint64(n_sites)) >> _S32
        s = np.int64(flat[site])
        flat[site] = np.int8(-s)  # flipped when added: "aligned with s" then means "not yet in it"
        queue[0] = site
        top = 1
        head = 0
        while head < top:
            c = queue[head]
            head += 1
            x += _WEYL
            r01 = _mix64(x)
            x += _WEYL
            r23 = _mix64(x)
            base = _U4 * np.uint64(c)
            top = _try_join(flat, nbr[base], s, r01 >> _S32, threshold, queue, top)
            top = _try_join(flat, nbr[base + _U1], s, r01 & _LOW32, threshold, queue, top)
            top = _try_join(flat, nbr[base + _U2], s, r23 >> _S32, threshold, queue, top)
            top = _try_join(flat, nbr[base + _U3], s, r23 & _LOW32, threshold, queue, top)
        flipped += top
    state[0] = x
    return flipped


@numba.njit(cache=True)
def _wolff_until(spins, min_flipped, min_clusters, threshold, state, queue, nbr):
    """Flip clusters until >= ``min_flipped`` spins and >= ``min_clusters`` clusters; return both counts."""
    clusters = 0
    flipped = 0
    while flipped < min_flipped or clusters < min_clusters:
        flipped += _wolff_clusters(spins, 1, threshold, state, queue, nbr)
        clusters += 1
    return clusters, flipped


@numba.njit(cache=True)
def _wolff_chain(spins, out, clusters_between, threshold, state, queue, nbr):
    """Store ``out.shape[0]`` configurations into ``out``, ``clusters_between`` clusters apart."""
    flipped = 0
    size = spins.shape[0]
    for k in range(out.shape[0]):
        flipped += _wolff_clusters(spins, clusters_between, threshold, state, queue, nbr)
        for i in range(size):  # explicit copy: ``out[k] = spins`` triples the compile time
            for j in range(size):
                out[k, i, j] = spins[i, j]
    return flipped


@numba.njit(cache=True)
def _metropolis_sweeps(spins, n_sweeps, thr4, thr8, state, nbr):
    """``n_sweeps`` sequential single-spin Metropolis sweeps in place; return accepted flips.

    ``thr4``, ``thr8``: 2³² · e^{-ΔE/T} for ΔE = 4, 8 (uint64); moves with ΔE <= 0 always pass.
    """
    n_sites = spins.size
    flat = spins.reshape(n_sites)
    x = state[0]
    accepted = 0
    for _ in range(n_sweeps):
        for i in range(n_sites):
            s = np.int64(flat[i])
            h = np.int64(flat[nbr[4 * i]]) + flat[nbr[4 * i + 1]] + flat[nbr[4 * i + 2]] + flat[nbr[4 * i + 3]]
            delta = 2 * s * h
            ok = delta <= 0
            if not ok:
                x += _WEYL
                r = _mix64(x) >> _S32
                ok = r < (thr4 if delta == 4 else thr8)
            if ok:
                flat[i] = np.int8(-s)
                accepted += 1
    state[0] = x
    return accepted


@numba.njit(cache=True)
def _observables(spins, nbr):
    """(energy per spin, |m|) of one (L, L) configuration."""
    n_sites = spins.size
    flat = spins.reshape(n_sites)
    bonds = 0
    total = 0
    for i in range(n_sites):
        s = np.int64(flat[i])
        bonds += s * (np.int64(flat[nbr[4 * i]]) + flat[nbr[4 * i + 2]])
        total += s
    return -bonds / n_sites, abs(total) / n_sites


@numba.njit(cache=True)
def _series(spins, metropolis, n_measure, steps, threshold, thr8, state, queue, nbr, energy, abs_m):
    """Measure E/N and |m| ``n_measure`` times, ``steps`` updates apart; return spins changed.

    An update is one Wolff cluster (``metropolis=False``, ``threshold`` is the add probability) or
    one Metropolis sweep (``threshold``, ``thr8`` are the ΔE = 4, 8 acceptances).
    """
    changed = 0
    for k in range(n_measure):
        if metropolis:
            _metropolis_sweeps(spins, steps, threshold, thr8, state, nbr)
            changed += steps * spins.size
        else:
            changed += _wolff_clusters(spins, steps, threshold, state, queue, nbr)
        energy[k], abs_m[k] = _observables(spins, nbr)
    return changed


# --- helpers --------------------------------------------------------------------------------------
def _work_arrays(size: int) -> tuple[np.ndarray, np.ndarray]:
    """The kernels' work arrays for an L × L lattice: ``queue`` (L² + 1,) and ``nbr`` (4 L²,), uint32.

    ``nbr[4 k + d]`` is the flat index of neighbour d = (i+1, j), (i-1, j), (i, j+1), (i, j-1) of
    site k = i L + j, with periodic wrap-around.
    """
    idx = np.arange(size * size).reshape(size, size)
    table = [np.roll(idx, -1, 0), np.roll(idx, 1, 0), np.roll(idx, -1, 1), np.roll(idx, 1, 1)]
    nbr = np.stack(table, axis=-1).reshape(-1).astype(np.uint32)
    return np.empty(size * size + 1, dtype=np.uint32), nbr


def _threshold32(p: float) -> np.uint64:
    """The probability ``p`` in [0, 1] as a 32-bit integer threshold (resolution 2^-32)."""
    return np.uint64(math.floor(p * 2.0**32))


def _seed_state(rng: np.random.Generator) -> np.ndarray:
    """A (1,) uint64 SplitMix64 state drawn from ``rng``."""
    return rng.integers(0, np.iinfo(np.uint64).max, size=1, dtype=np.uint64, endpoint=True)


def _positive_int(value, name: str, minimum: int) -> int:
    try:
        number = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}") from None
    if number < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {number}")
    return number


def _check_size(size) -> int:
    size = _positive_int(size, "size", 2)
    if size > 65535:  # the random site index uses 32-bit arithmetic: L² < 2³²
        raise ValueError(f"size must be <= 65535 (L² < 2³²), got {size}")
    return size


def _check_temperatures(temperatures) -> np.ndarray:
    t = np.atleast_1d(np.asarray(temperatures, dtype=float))
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"temperatures must be a non-empty 1-D sequence, got shape {t.shape}")
    bad = ~(np.isfinite(t) & (t > 0))
    if bad.any():
        raise ValueError(
            f"temperatures must be finite and > 0 (units of J/k_B), got {t[bad].tolist()} among {t.tolist()}"
        )
    return t


def _check_sweeps(value, name: str) -> float:
    value = float(value)
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number of lattice volumes, got {value}")
    return value


#: Clusters at least averaged over for the mean cluster size: at Tc the size fluctuates by about
#: its mean, so 500 clusters fix the sample spacing to about 5 %.
_CALIBRATION_CLUSTERS = 500


def _equilibrate(spins, temperature, equilibration_sweeps, state, queue, nbr) -> float:
    """Wolff-equilibrate ``spins`` in place at ``temperature``; return the mean cluster size.

    The first half of ``equilibration_sweeps`` is burn-in; the second half (at least
    ``_CALIBRATION_CLUSTERS`` clusters) also measures the mean cluster size.
    """
    threshold = _threshold32(-math.expm1(-2.0 / temperature))
    half = max(1, math.ceil(0.5 * equilibration_sweeps * spins.size))
    _wolff_until(spins, half, 1, threshold, state, queue, nbr)
    clusters, flipped = _wolff_until(spins, half, _CALIBRATION_CLUSTERS, threshold, state, queue, nbr)
    return flipped / clusters


# --- the simulator --------------------------------------------------------------------------------
def simulate(
    temperatures,
    n_per_temperature: int,
    size: int = 32,
    seed: int = 0,
    *,
    sweeps_between: float = 6.0,
    equilibration_sweeps: float = 100.0,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Equilibrium Ising configurations with the Wolff cluster algorithm (J = k_B = 1, periodic).

    Args:
        temperatures: 1-D sequence of temperatures T > 0 in units of J/k_B.
        n_per_temperature: configurations stored per temperature (>= 1).
        size: lattice side L (>= 2); configurations are L × L.
        seed: seed of ``np.random.default_rng``; same arguments give identical arrays.
        sweeps_between: lattice volumes (L² spins) flipped on average between stored samples.
        equilibration_sweeps: lattice volumes flipped before the first stored sample.
        progress: show a tqdm progress bar over the temperatures.

    Returns:
        ``spins`` (N, L, L) int8 of ±1 and ``T`` (N,) float64 with N = len(temperatures) ·
        n_per_temperature, ordered by temperature (as given) and, within one, by Monte Carlo time.
    """
    t = _check_temperatures(temperatures)
    n = _positive_int(n_per_temperature, "n_per_temperature", 1)
    size = _check_size(size)
    sweeps_between = _check_sweeps(sweeps_between, "sweeps_between")
    equilibration_sweeps = _check_sweeps(equilibration_sweeps, "equilibration_sweeps")

    spins_out = np.empty((t.size * n, size, size), dtype=np.int8)
    children = np.random.default_rng(seed).spawn(t.size)
    bar = tqdm(t, desc="Ising (Wolff)", unit="T", disable=not progress, leave=False)
    for i, (temperature, rng) in enumerate(zip(bar, children, strict=False)):
        bar.set_postfix(T=f"{temperature:.3f}")
        _wolff_samples(spins_out[i * n : (i + 1) * n], temperature, rng, sweeps_between, equilibration_sweeps)
    bar.close()
    return spins_out, np.repeat(t, n)


def _wolff_samples(out, temperature, rng, sweeps_between, equilibration_sweeps) -> dict:
    """Fill ``out`` (n, L, L) int8 with one temperature's chain (steps 1-3 of the module docstring).

    Returns the chain's bookkeeping: ``mean_cluster_size`` (from equilibration),
    ``clusters_between`` and ``flipped`` (spins flipped while storing samples).
    """
    size = out.shape[-1]
    queue, nbr = _work_arrays(size)
    spins = (2 * rng.integers(0, 2, size=(size, size)) - 1).astype(np.int8)
    state = _seed_state(rng)
    mean_cluster = _equilibrate(spins, temperature, equilibration_sweeps, state, queue, nbr)
    clusters_between = max(1, math.ceil(sweeps_between * size * size / mean_cluster))
    threshold = _threshold32(-math.expm1(-2.0 / temperature))
    flipped = _wolff_chain(spins, out, clusters_between, threshold, state, queue, nbr)
    return {"mean_cluster_size": mean_cluster, "clusters_between": clusters_between, "flipped": flipped}


# --- observables and exact results ----------------------------------------------------------------
def _as_lattices(spins) -> np.ndarray:
    """``spins`` as an array (..., L, L): int8 and floats as they are, other types as int64."""
    s = np.asarray(spins)
    if s.ndim < 2 or s.shape[-1] != s.shape[-2]:
        raise ValueError(f"spins must have shape (..., L, L), got {s.shape}")
    if s.dtype == np.int8 or np.issubdtype(s.dtype, np.floating):
        return s  # int8 products of ±1 spins stay in int8 range; sums below accumulate in 64 bits
    return s.astype(np.int64)


def energy_per_spin(spins) -> np.ndarray | float:
    """E/N = -(1/L²) Σ_<ij> s_i s_j (units of J) of ±1 ``spins`` (..., L, L), periodic boundaries.

    Returns shape (...) (a float for a single lattice). Range -2 (ordered) to 2.
    """
    s = _as_lattices(spins)
    bonds = s * np.roll(s, -1, axis=-1) + s * np.roll(s, -1, axis=-2)
    total = bonds.sum(axis=(-2, -1), dtype=np.float64)
    e = -total / (s.shape[-1] * s.shape[-2])
    return float(e) if e.ndim == 0 else e


def magnetization(spins, absolute: bool = False) -> np.ndarray | float:
    """Magnetisation per spin m = Σ s_i / L² of ``spins`` (..., L, L); |m| with ``absolute=True``."""
    m = _as_lattices(spins).mean(axis=(-2, -1), dtype=np.float64)
    m = np.abs(m) if absolute else m
    return float(m) if m.ndim == 0 else m


def readout(spins, flip_probability: float, seed=0) -> np.ndarray:
    """The spins as an imperfect detector reads them: each one misread (flipped) with ``flip_probability``.

    ``spins``: ±1 lattices (..., L, L); returns int8 lattices of the same shape. Flips are independent, so the
    number of misread spins of a lattice is binomial(L², p) and the mean magnetisation of the readout is
    (1 − 2p)·m, while the energy per spin is pulled towards 0 by (1 − 2p)²: a "detector" whose data differ from
    the simulation used for training (domain adaptation, chapter 19). ``seed``: an int or a NumPy Generator.
    """
    s = _as_lattices(spins)
    if not np.all(np.abs(s) == 1):
        raise ValueError("spins must be ±1 lattices (..., L, L), as ising.simulate returns them")
    p = float(flip_probability)
    if not 0.0 <= p <= 0.5:
        raise ValueError(f"flip_probability must lie in [0, 0.5] (0.5 erases the lattice), got {flip_probability!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    flips = rng.random(s.shape) < p
    return np.where(flips, -s, s).astype(np.int8)


def onsager_energy(temperature) -> np.ndarray | float:
    """Exact energy per spin u(T) (units of J) of the infinite lattice (Onsager 1944).

    u = -coth(2β) [1 + (2/π)(2 tanh²(2β) - 1) K(k)], k = 2 sinh(2β)/cosh²(2β); SciPy's ``ellipk``
    takes m = k². At T = Tc the product (2 tanh² - 1)·K → 0 and u = -√2.
    """
    t = np.asarray(temperature, dtype=float)
    if np.any(~(t > 0)):
        raise ValueError(f"temperature must be > 0 (units of J/k_B), got {temperature}")
    b2 = 2.0 / t
    k = 2.0 * np.sinh(b2) / np.cosh(b2) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        product = (2.0 * np.tanh(b2) ** 2 - 1.0) * ellipk(np.minimum(k * k, 1.0))
    product = np.where(np.isfinite(product), product, 0.0)  # only at k = 1, i.e. T = Tc exactly
    u = -(1.0 + 2.0 / np.pi * product) / np.tanh(b2)
    return float(u) if u.ndim == 0 else u


def onsager_magnetization(temperature) -> np.ndarray | float:
    """Spontaneous magnetisation per spin m₀(T) = (1 - sinh(2/T)^-4)^(1/8) below Tc, 0 above (Yang 1952)."""
    t = np.asarray(temperature, dtype=float)
    if np.any(~(t > 0)):
        raise ValueError(f"temperature must be > 0 (units of J/k_B), got {temperature}")
    with np.errstate(over="ignore"):
        inner = 1.0 - np.sinh(2.0 / t) ** -4.0
    m = np.where(t < TC, np.clip(inner, 0.0, None) ** 0.125, 0.0)
    return float(m) if m.ndim == 0 else m


# --- the exact finite lattice ----------------------------------------------------------------------
def _log_2cosh(x: np.ndarray) -> np.ndarray:
    """ln(2 cosh x) without overflow."""
    a = np.abs(x)
    return a + np.log1p(np.exp(-2.0 * a))


def _log_abs_2sinh(x: np.ndarray) -> np.ndarray:
    """ln|2 sinh x| without overflow (-inf at x = 0)."""
    a = np.abs(x)
    with np.errstate(divide="ignore"):
        return a + np.log(-np.expm1(-2.0 * a))


def log_partition_function(temperature, size: int) -> np.ndarray | float:
    """ln Z(T) of the ``size`` × ``size`` lattice with periodic boundaries, exact (J = k_B = 1).

    Kaufman's solution (1949) in the form of Beale (1996), for L = ``size`` and K = 1/T:

        Z = ½ (2 sinh 2K)^{L²/2} (Z₁ + Z₂ + Z₃ + Z₄),
        Z₁ = Π_{r=0}^{L-1} 2 cosh(L γ_{2r+1}/2),   Z₂ = Π 2 sinh(L γ_{2r+1}/2),
        Z₃ = Π_{r=0}^{L-1} 2 cosh(L γ_{2r}/2),     Z₄ = Π 2 sinh(L γ_{2r}/2),
        cosh γ_k = cosh 2K coth 2K − cos(πk/L) (γ_k > 0, k ≥ 1),   γ₀ = 2K + ln tanh K.

    γ₀ changes sign at Tc (sinh 2K = 1): Z₄ is negative above Tc. The products overflow for L = 32 (ln Z ~ 10³),
    so everything is summed in log space with signs. ``temperature`` may be an array; returns its shape.
    """
    t = np.asarray(temperature, dtype=float)
    if np.any(~(t > 0)):
        raise ValueError(f"temperature must be > 0 (units of J/k_B), got {temperature}")
    n = _positive_int(size, "size", 2)
    k = 1.0 / t[..., None]
    two_k = 2.0 * k
    c = np.cosh(two_k) / np.tanh(two_k) - np.cos(np.pi * np.arange(2 * n) / n)
    gamma = np.arccosh(np.maximum(c, 1.0))
    gamma[..., 0] = two_k[..., 0] + np.log(np.tanh(k[..., 0]))
    odd, even = 0.5 * n * gamma[..., 1::2], 0.5 * n * gamma[..., 0::2]
    logs = np.stack(
        [
            _log_2cosh(odd).sum(-1),
            _log_abs_2sinh(odd).sum(-1),
            _log_2cosh(even).sum(-1),
            _log_abs_2sinh(even).sum(-1),
        ],
        axis=-1,
    )
    signs = np.ones_like(logs)
    signs[..., 3] = np.prod(np.sign(even), axis=-1)  # only γ₀ can be negative (or zero, at Tc exactly)
    top = logs.max(axis=-1, keepdims=True)
    total = np.sum(signs * np.exp(logs - top), axis=-1)
    log_z = -math.log(2.0) + 0.5 * n * n * np.log(2.0 * np.sinh(two_k[..., 0])) + top[..., 0] + np.log(total)
    return float(log_z) if log_z.ndim == 0 else log_z


def temperature_posterior(spins, grid, prior=None) -> dict:
    """The exact posterior p(T | s) ∝ p(T) e^{−E(s)/T} / Z(T) of lattices ``spins`` (N, L, L) on a temperature grid.

    The energy E(s) is sufficient: the posterior depends on the lattice only through it. ``grid``: increasing
    temperatures (G,) in J/k_B, fine enough to resolve the posterior (its width is ~0.03 J/k_B for L = 32);
    ``prior``: None (flat on the grid's range), or prior densities on the grid (G,). Densities are normalised with
    the trapezoidal rule. Returns a dict of ``density`` (N, G), ``cdf`` (N, G), ``mean`` (N,) and ``std`` (N,),
    in J/k_B.
    """
    s = _as_lattices(spins)
    if s.ndim == 2:
        s = s[None]
    if s.ndim != 3:
        raise ValueError(f"spins must have shape (N, L, L) or (L, L), got {np.shape(spins)}")
    grid = np.asarray(grid, dtype=float)
    if grid.ndim != 1 or len(grid) < 3 or np.any(np.diff(grid) <= 0) or grid[0] <= 0:
        raise ValueError("grid must be at least 3 increasing positive temperatures (J/k_B)")
    log_prior = np.zeros_like(grid)
    if prior is not None:
        prior = np.asarray(prior, dtype=float)
        if prior.shape != grid.shape or np.any(prior < 0):
            raise ValueError(f"prior must be non-negative densities on the grid, shape {grid.shape}")
        with np.errstate(divide="ignore"):
            log_prior = np.log(prior)
    size = s.shape[-1]
    energy = energy_per_spin(s) * size * size  # total energy (N,), units of J
    log_post = log_prior - energy[:, None] / grid - log_partition_function(grid, size)
    log_post -= log_post.max(axis=1, keepdims=True)
    density = np.exp(log_post)
    widths = np.diff(grid)
    steps = 0.5 * (density[:, 1:] + density[:, :-1]) * widths
    norm = steps.sum(axis=1, keepdims=True)
    density /= norm
    cdf = np.concatenate([np.zeros((len(density), 1)), np.cumsum(steps / norm, axis=1)], axis=1)
    mean = trapezoid(density * grid, grid, axis=1)  # SciPy's: np.trapezoid needs NumPy >= 2
    var = trapezoid(density * (grid - mean[:, None]) ** 2, grid, axis=1)
    return {"density": density, "cdf": cdf, "mean": mean, "std": np.sqrt(var)}


# --- autocorrelation --------------------------------------------------------------------------------
def integrated_autocorrelation_time(series, c: float = 5.0) -> float:
    """Integrated autocorrelation time τ = 1 + 2 Σ_{t=1}^{W} ρ(t) of a 1-D ``series``, in samples.

    τ is the number of samples worth one independent sample (1 for uncorrelated data; Sokal's
    τ_int is τ/2). The window W is Sokal's automatic one, the smallest W with W >= c·τ(W). ρ is the
    normalised autocovariance estimated with an FFT. Returns NaN for a constant series; warns when
    the series is too short for the window (fewer than about 50 τ samples give a poor estimate).
    """
    x = np.asarray(series, dtype=float)
    if x.ndim != 1 or x.size < 2:
        raise ValueError(f"series must be 1-D with at least 2 values, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("series contains NaN or infinite values")
    if not c > 0:
        raise ValueError(f"c (the window factor) must be > 0, got {c}")
    n = x.size
    x = x - x.mean()
    if not np.any(x):
        return float("nan")
    f = np.fft.rfft(x, n=2 * n)  # zero padding: the circular correlation becomes the linear one
    acov = np.fft.irfft(f * np.conj(f))[:n]
    rho = acov / acov[0]
    tau = 1.0 + 2.0 * np.cumsum(rho[1:])  # tau[W-1] = τ(W)
    windows = np.arange(1, n)
    ok = windows >= c * tau
    if not ok.any():
        warnings.warn(f"series of {n} samples is too short for Sokal's window (tau ~ {tau[-1]:.3g})", stacklevel=2)
        return float(tau[-1])
    return float(tau[np.argmax(ok)])


def autocorrelation_times(
    temperature: float,
    scheme: str = "wolff",
    size: int = 32,
    n_measurements: int = 5000,
    steps_between: int = 1,
    seed: int = 0,
    *,
    sweeps_between: float = 6.0,
    equilibration_sweeps: float = 100.0,
) -> dict:
    """Integrated autocorrelation times τ of |m| and E/N at one temperature for an update scheme.

    Args:
        temperature: T in units of J/k_B.
        scheme: ``"wolff"`` (one step = one cluster flip), ``"metropolis"`` (one step = one
            sequential sweep of L² single-spin Metropolis updates) or ``"dataset"`` (one step = the
            spacing of stored samples in :func:`simulate` with ``sweeps_between``).
        size: lattice side L.
        n_measurements: length of the measured series (use >= 50 τ for a reliable estimate).
        steps_between: steps between measurements (ignored for ``"dataset"``).
        seed: seed of ``np.random.default_rng``.

    Returns:
        dict with ``tau_abs_m``, ``tau_energy`` (units of measurements), ``sweeps_per_measurement``
        (lattice volumes of spins flipped, or for Metropolis attempted, per measurement),
        ``tau_abs_m_sweeps``, ``tau_energy_sweeps`` (τ in those sweeps), ``clusters_per_measurement``
        and ``mean_cluster_size`` (NaN for Metropolis), ``abs_m`` and ``energy`` (the series).
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    temperature = float(_check_temperatures([temperature])[0])
    size = _check_size(size)
    n_measure = _positive_int(n_measurements, "n_measurements", 2)
    steps = _positive_int(steps_between, "steps_between", 1)
    n_sites = size * size

    equilibration_sweeps = _check_sweeps(equilibration_sweeps, "equilibration_sweeps")
    if scheme == "dataset":  # exactly simulate([temperature], n_measurements, size, seed, ...)
        sweeps_between = _check_sweeps(sweeps_between, "sweeps_between")
        spins = np.empty((n_measure, size, size), dtype=np.int8)
        rng = np.random.default_rng(seed).spawn(1)[0]
        info = _wolff_samples(spins, temperature, rng, sweeps_between, equilibration_sweeps)
        energy = energy_per_spin(spins)
        abs_m = magnetization(spins, absolute=True)
        clusters = info["clusters_between"]
        mean_cluster = info["flipped"] / (n_measure * clusters)
        sweeps_per = info["flipped"] / (n_measure * n_sites)
    else:
        rng = np.random.default_rng(seed)
        spins = (2 * rng.integers(0, 2, size=(size, size)) - 1).astype(np.int8)
        state = _seed_state(rng)
        queue, nbr = _work_arrays(size)
        energy = np.empty(n_measure)
        abs_m = np.empty(n_measure)
        mean_cluster = _equilibrate(spins, temperature, equilibration_sweeps, state, queue, nbr)
        if scheme == "metropolis":
            thr4 = _threshold32(math.exp(-4.0 / temperature))
            thr8 = _threshold32(math.exp(-8.0 / temperature))
            _metropolis_sweeps(spins, max(1, math.ceil(equilibration_sweeps)), thr4, thr8, state, nbr)
            _series(spins, True, n_measure, steps, thr4, thr8, state, queue, nbr, energy, abs_m)
            clusters, mean_cluster, sweeps_per = float("nan"), float("nan"), float(steps)
        else:
            threshold = _threshold32(-math.expm1(-2.0 / temperature))
            flipped = _series(spins, False, n_measure, steps, threshold, np.uint64(0), state, queue, nbr, energy, abs_m)
            mean_cluster = flipped / (n_measure * steps)
            clusters, sweeps_per = steps, flipped / (n_measure * n_sites)

    tau_m = integrated_autocorrelation_time(abs_m)
    tau_e = integrated_autocorrelation_time(energy)
    return {
        "temperature": temperature,
        "scheme": scheme,
        "tau_abs_m": tau_m,
        "tau_energy": tau_e,
        "sweeps_per_measurement": sweeps_per,
        "tau_abs_m_sweeps": tau_m * sweeps_per,
        "tau_energy_sweeps": tau_e * sweeps_per,
        "clusters_per_measurement": clusters,
        "mean_cluster_size": mean_cluster,
        "abs_m": abs_m,
        "energy": energy,
    }


# --- the cached default dataset ---------------------------------------------------------------------
def dataset_params(fast: bool) -> dict:
    """The parameters of the default dataset (full or fast); also its cache key."""
    return {
        "temperatures": DEFAULT_TEMPERATURES.tolist(),
        "n_per_temperature": 50 if fast else 1000,
        "size": 32,
        "seed": 0,
        "sweeps_between": 6.0,
        "equilibration_sweeps": 100.0,
    }


def load(fast=None, refresh: bool = False, progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The default dataset ``(spins, T)`` as :func:`simulate` returns it, from the cache.

    Full: 21 temperatures (``DEFAULT_TEMPERATURES``, 1.0-3.5 J/k_B) × 1000 configurations of
    32 × 32 (21,000 lattices, 21.5 MB); fast mode: × 50. Built on first use (seconds) and cached.
    ``fast=None`` follows ``DLPHYS_FAST``; ``refresh=True`` rebuilds.
    """
    fast = config.fast_mode() if fast is None else bool(fast)
    params = dataset_params(fast)

    def build():
        spins, t = simulate(
            params["temperatures"],
            params["n_per_temperature"],
            params["size"],
            params["seed"],
            sweeps_between=params["sweeps_between"],
            equilibration_sweeps=params["equilibration_sweeps"],
            progress=progress,
        )
        return {"spins": spins, "T": t}

    arrays = _cache.cached("ising", params, build, version=VERSION, refresh=refresh)
    return arrays["spins"], arrays["T"]
