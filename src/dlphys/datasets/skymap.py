"""Cosmic-ray sky maps: isotropic skies versus skies with magnetically deflected multiplets.

Exercise 10.1 classifies maps of ``n_events`` = 500 ultra-high-energy cosmic rays (UHECR) with a
graph network (EdgeConv): is the map isotropic (label 0) or does it contain "multiplets" from a
few point sources (label 1)? The scenario follows Bister et al. (2021) in a simplified form.

Coordinates
    Arrival directions are unit vectors in the **Galactic frame**: x towards the Galactic centre
    (l = 0°, b = 0°), y towards l = 90°, z towards the north Galactic pole (b = 90°). Longitude
    l = atan2(y, x), latitude b = arcsin(z) (see :func:`to_lonlat`). The exposure is taken as
    uniform over the full sky (an idealised full-sky observatory).

Energy spectrum
    Every event (background and source) has an energy drawn from a power law
    dN/dE ∝ E^-γ for E ≥ ``e_min``, sampled by inversion, E = e_min · (1 - u)^(-1/(γ-1)).
    Defaults γ = 3.0, e_min = 40 EeV. The Pierre Auger Observatory measures γ = 3.05 ± 0.05
    between 13 and 46 EeV and a steepening to γ = 5.1 ± 0.3 above about 46 EeV (Aab et al.
    2020); the single power law with γ = 3 is therefore a simplification that gives somewhat
    more high-energy (= little-deflected) events than nature. The maximum-likelihood estimate
    γ̂ = 1 + N / Σ ln(E_i / e_min) with standard error (γ̂ - 1) / √N recovers γ (tested).

Background maps (label 0)
    ``n_events`` directions uniform on the sphere (cos θ and azimuth uniform). For N events the
    dipole estimator d = 3 ⟨n̂⟩ has, per Cartesian component, mean 0 and standard deviation
    √(3/N); N |d|² / 3 follows χ² with 3 degrees of freedom (tested).

Signal maps (label 1)
    A fraction ``source_event_fraction`` of the events, n_src = round(source_event_fraction ·
    n_events) (default 0.03 · 500 = 15), is replaced by events from ``n_sources`` (default 5)
    point sources at isotropically drawn positions ŝ; each source event picks its source
    uniformly at random, so the multiplicities are multinomial (on average 3 per source, some
    sources may get none). The other events stay isotropic. Each source has a "street":
    a random unit tangent vector t̂ ⟂ ŝ (the direction of the coherent deflection by the
    Galactic magnetic field). An event of energy E [EeV] arrives at

        n̂ = cos δ · ŝ + sin δ · t̂,   δ = D / E   (D = ``deflection`` in deg·EeV, default 200),

    i.e. it is displaced along the great circle of the street by δ (5° at 40 EeV). On top,
    turbulent fields smear n̂ by a 2-D Gaussian angle with standard deviation σ = T / E per
    axis (T = ``turbulence`` in deg·EeV, default 50: 1.25° at 40 EeV). With ``turbulence=0``
    the angle between ŝ and n̂ is exactly D / E, i.e. linear in 1/E (tested). D = 100-200
    deg·EeV means 2.5-5° at 40 EeV, the order of magnitude expected for light nuclei (several
    degrees per unit charge; see Bister et al. 2021 and references therein).
    Events within each map are shuffled, so the position in the list carries no label.

Difficulty knobs
    ``source_event_fraction`` (signal strength: 0 gives indistinguishable classes),
    ``n_sources`` (fewer sources = larger, more visible multiplets), ``deflection`` (longer
    streets are spread thinner and mix with background), ``turbulence`` (blurs the streets and
    the energy ordering), ``e_min`` and ``gamma`` (a steeper spectrum has more low-energy,
    strongly deflected events). With the defaults a classical statistic, the number of event
    pairs closer than 3° (:func:`pair_count`), separates the classes with a ROC AUC of about
    0.88 (``benchmarks/bench_skymap_radio.py`` prints it): learnable, with room for a network
    that also uses the energy ordering along the streets. For comparison, 25 source events
    (0.05) from 5 sources with D = 150, T = 30 deg·EeV give a pair-count AUC of 0.9999.

Outputs of :func:`simulate` (float32 unless stated)
    ``directions`` (n_maps, n_events, 3) unit vectors, Galactic frame;
    ``energy`` (n_maps, n_events) [EeV];
    ``label`` (n_maps,) int64, 1 = map with sources;
    ``source_id`` (n_maps, n_events) int16, index of the source of each event, -1 = isotropic;
    ``source_directions`` (n_maps, n_sources, 3) unit vectors ŝ, NaN for background maps;
    ``street_directions`` (n_maps, n_sources, 3) unit tangent vectors t̂, NaN for background maps.

References
    T. Bister, M. Erdmann, J. Glombitza, N. Langner, J. Schulte, M. Wirtz, "Identification of
    patterns in cosmic-ray arrival directions using dynamic graph convolutional neural
    networks", Astropart. Phys. 126 (2021) 102527, arXiv:2003.13038.
    Pierre Auger Collaboration (A. Aab et al.), "Measurement of the cosmic-ray energy spectrum
    above 2.5×10^18 eV using the Pierre Auger Observatory", Phys. Rev. D 102 (2020) 062005, and
    "Features of the energy spectrum of cosmic rays above 2.5×10^18 eV ...", Phys. Rev. Lett.
    125 (2020) 121106.
    M. Erdmann, J. Glombitza, G. Kasieczka, U. Klemradt, *Deep Learning for Physics
    Research* (World Scientific, 2021), exercise 10.1.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from dlphys import config
from dlphys.datasets._cache import cached

#: Generator version; bump when :func:`simulate` changes its output.
VERSION = 1

#: Default sizes of :func:`load` (full mode, fast mode).
N_MAPS_FULL = 10_000
N_MAPS_FAST = 500
SEED = 1001


def isotropic(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Unit vectors uniform on the sphere, shape ``shape + (3,)`` (float64)."""
    z = rng.uniform(-1.0, 1.0, size=shape)
    phi = rng.uniform(0.0, 2.0 * np.pi, size=shape)
    r = np.sqrt(1.0 - z * z)
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=-1)


def power_law(shape: tuple[int, ...], gamma: float, e_min: float, rng: np.random.Generator) -> np.ndarray:
    """Energies [EeV] with dN/dE ∝ E^-gamma above ``e_min``, shape ``shape`` (float64)."""
    u = rng.random(size=shape)
    return e_min * (1.0 - u) ** (-1.0 / (gamma - 1.0))


def to_lonlat(directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Longitude in (-180°, 180°] and latitude in [-90°, 90°] of unit vectors ``(..., 3)`` [deg]."""
    d = np.asarray(directions, dtype=np.float64)
    if d.shape[-1:] != (3,):
        raise ValueError(f"directions must have shape (..., 3), got {d.shape}")
    lon = np.degrees(np.arctan2(d[..., 1], d[..., 0]))
    lat = np.degrees(np.arcsin(np.clip(d[..., 2], -1.0, 1.0)))
    return lon, lat


def from_lonlat(lon, lat) -> np.ndarray:
    """Unit vectors ``(..., 3)`` from longitude and latitude [deg] (inverse of :func:`to_lonlat`)."""
    lon, lat = np.radians(np.asarray(lon, dtype=np.float64)), np.radians(np.asarray(lat, dtype=np.float64))
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=-1)


def angle_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle [deg] between unit vectors ``a`` and ``b`` (..., 3), accurate also for tiny angles."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.degrees(np.arctan2(np.linalg.norm(np.cross(a, b), axis=-1), np.sum(a * b, axis=-1)))


def _check(
    n_maps, n_events, signal_fraction, gamma, e_min, n_sources, source_event_fraction, deflection, turbulence
) -> None:
    if int(n_maps) != n_maps or n_maps < 1:
        raise ValueError(f"n_maps must be a positive integer, got {n_maps!r}")
    if int(n_events) != n_events or n_events < 2:
        raise ValueError(f"n_events must be an integer >= 2, got {n_events!r}")
    if not 0.0 <= signal_fraction <= 1.0:
        raise ValueError(f"signal_fraction must lie in [0, 1] (fraction of maps with sources), got {signal_fraction}")
    if not gamma > 1.0:
        raise ValueError(f"gamma must be > 1 for a normalisable power law E^-gamma, got {gamma}")
    if not e_min > 0.0:
        raise ValueError(f"e_min must be a positive energy threshold in EeV, got {e_min}")
    if int(n_sources) != n_sources or n_sources < 1:
        raise ValueError(f"n_sources must be a positive integer, got {n_sources!r}")
    if not 0.0 <= source_event_fraction <= 1.0:
        raise ValueError(
            f"source_event_fraction must lie in [0, 1] (fraction of events from sources), got {source_event_fraction}"
        )
    if not 0.0 <= deflection <= 180.0 * e_min:
        raise ValueError(
            f"deflection must lie in [0, 180 * e_min] = [0, {180.0 * e_min:g}] deg EeV so that D/E <= 180 deg, "
            f"got {deflection}"
        )
    if not turbulence >= 0.0:
        raise ValueError(f"turbulence must be >= 0 deg EeV, got {turbulence}")


def simulate(
    n_maps: int,
    n_events: int = 500,
    signal_fraction: float = 0.5,
    seed: int = 0,
    *,
    gamma: float = 3.0,
    e_min: float = 40.0,
    n_sources: int = 5,
    source_event_fraction: float = 0.03,
    deflection: float = 200.0,
    turbulence: float = 50.0,
) -> dict[str, np.ndarray]:
    """Simulate ``n_maps`` sky maps of ``n_events`` cosmic rays each (see the module docstring).

    Args:
        n_maps: number of maps.
        n_events: cosmic rays per map.
        signal_fraction: fraction of maps with sources; exactly round(signal_fraction · n_maps)
            maps get label 1, in random order.
        seed: seed of ``np.random.default_rng``.
        gamma: spectral index γ of dN/dE ∝ E^-γ.
        e_min: energy threshold [EeV].
        n_sources: point sources per signal map.
        source_event_fraction: fraction of the events of a signal map that come from the sources.
        deflection: coherent deflection D [deg·EeV]; an event is moved by D / E along its street.
        turbulence: turbulent smearing T [deg·EeV]; Gaussian σ = T / E per axis.

    Returns:
        dict with ``directions`` (n_maps, n_events, 3), ``energy`` (n_maps, n_events) [EeV],
        ``label`` (n_maps,), ``source_id`` (n_maps, n_events), ``source_directions`` and
        ``street_directions`` (n_maps, n_sources, 3).
    """
    _check(n_maps, n_events, signal_fraction, gamma, e_min, n_sources, source_event_fraction, deflection, turbulence)
    n_maps, n_events, n_sources = int(n_maps), int(n_events), int(n_sources)
    rng = np.random.default_rng(seed)

    n_signal_maps = round(signal_fraction * n_maps)
    label = np.zeros(n_maps, dtype=np.int64)
    label[rng.permutation(n_maps)[:n_signal_maps]] = 1

    directions = isotropic((n_maps, n_events), rng)
    energy = power_law((n_maps, n_events), gamma, e_min, rng)
    source_id = np.full((n_maps, n_events), -1, dtype=np.int16)
    source_dirs = np.full((n_maps, n_sources, 3), np.nan)
    street_dirs = np.full((n_maps, n_sources, 3), np.nan)

    n_src = round(source_event_fraction * n_events)
    signal_maps = np.flatnonzero(label == 1)
    if n_signal_maps and n_src:
        m = signal_maps.size
        s = isotropic((m, n_sources), rng)
        # A uniformly random tangent direction: project a Gaussian vector onto the tangent plane.
        g = rng.normal(size=(m, n_sources, 3))
        t = g - np.sum(g * s, axis=-1, keepdims=True) * s
        t /= np.linalg.norm(t, axis=-1, keepdims=True)
        source_dirs[signal_maps], street_dirs[signal_maps] = s, t

        k = rng.integers(0, n_sources, size=(m, n_src))  # which source each signal event comes from
        s_ev = np.take_along_axis(s, k[..., None], axis=1)
        t_ev = np.take_along_axis(t, k[..., None], axis=1)
        e_ev = energy[signal_maps, :n_src]  # i.i.d. energies, so the first n_src serve as well
        delta = np.radians(deflection / e_ev)[..., None]
        n_hat = np.cos(delta) * s_ev + np.sin(delta) * t_ev
        # Turbulent smearing in the orthonormal tangent basis at n_hat: along (u) and across (w) the street.
        u = -np.sin(delta) * s_ev + np.cos(delta) * t_ev
        w = np.cross(s_ev, t_ev)
        sigma = np.radians(turbulence / e_ev)
        a = rng.normal(size=e_ev.shape) * sigma
        b = rng.normal(size=e_ev.shape) * sigma
        rho = np.hypot(a, b)[..., None]
        sinc = np.sinc(rho / np.pi)  # sin(rho)/rho, = 1 at rho = 0
        n_hat = np.cos(rho) * n_hat + sinc * (a[..., None] * u + b[..., None] * w)
        n_hat /= np.linalg.norm(n_hat, axis=-1, keepdims=True)
        directions[signal_maps, :n_src] = n_hat
        source_id[signal_maps, :n_src] = k

    # Shuffle the events of every map so that the list position carries no information.
    order = np.argsort(rng.random((n_maps, n_events)), axis=1)
    directions = np.take_along_axis(directions, order[..., None], axis=1)
    energy = np.take_along_axis(energy, order, axis=1)
    source_id = np.take_along_axis(source_id, order, axis=1)
    return {
        "directions": directions.astype(np.float32),
        "energy": energy.astype(np.float32),
        "label": label,
        "source_id": source_id,
        "source_directions": source_dirs.astype(np.float32),
        "street_directions": street_dirs.astype(np.float32),
    }


def pair_count(directions: np.ndarray, max_angle: float = 3.0) -> np.ndarray:
    """Number of event pairs closer than ``max_angle`` [deg] in each map, shape (n_maps,) int64.

    A classical autocorrelation statistic and baseline for the classifier: for N isotropic
    events the expectation is N(N-1)/2 · (1 - cos max_angle)/2 (85 pairs for N = 500 at 3°).
    ``directions`` has shape (n_maps, n_events, 3) or (n_events, 3). Uses a k-d tree on the
    chord distance 2 sin(angle/2).
    """
    d = np.asarray(directions, dtype=np.float64)
    if d.ndim == 2:
        d = d[None]
    if d.ndim != 3 or d.shape[-1] != 3:
        raise ValueError(f"directions must have shape (n_maps, n_events, 3) or (n_events, 3), got {d.shape}")
    if not 0.0 < max_angle <= 180.0:
        raise ValueError(f"max_angle must lie in (0, 180] deg, got {max_angle}")
    chord = 2.0 * np.sin(np.radians(max_angle) / 2.0)
    return np.array([len(cKDTree(x).query_pairs(chord, output_type="ndarray")) for x in d], dtype=np.int64)


def load(fast: bool | None = None, refresh: bool = False) -> dict[str, np.ndarray]:
    """The default sky-map dataset: 10,000 maps (500 in fast mode), half with sources, cached.

    Returns the dict of :func:`simulate` with its default physics parameters and seed 1001.
    """
    fast = config.fast_mode() if fast is None else fast
    n_maps = N_MAPS_FAST if fast else N_MAPS_FULL
    params = {
        "n_maps": n_maps,
        "n_events": 500,
        "signal_fraction": 0.5,
        "seed": SEED,
        "gamma": 3.0,
        "e_min": 40.0,
        "n_sources": 5,
        "source_event_fraction": 0.03,
        "deflection": 200.0,
        "turbulence": 50.0,
    }
    return cached("skymap", params, lambda: simulate(**params), version=VERSION, refresh=refresh)
