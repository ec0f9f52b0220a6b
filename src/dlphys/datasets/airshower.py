"""Toy air-shower footprints on a hexagonal array of water-Cherenkov stations (Auger-like).

The observatory is a 9 × 9 array of surface stations on a triangular ("hexagonal") grid with
1500 m spacing, like the surface detector of the Pierre Auger Observatory. Stations are stored
as ``(9, 9)`` arrays in the odd-r offset layout of :mod:`dlphys.hexgrid`; station ``(row, col)``
sits at ``station_positions()[row, col]`` (metres, ground plane z = 0, the middle station
``(4, 4)`` at the origin). Used by exercises 7.2, 8.2, 11.1 and 18.2.

Geometry and conventions
------------------------
* ``axis`` is the unit vector pointing **to where the shower comes from** (up into the sky):
  ``axis = (sin θ cos φ, sin θ sin φ, cos θ)`` with zenith θ and azimuth φ; the shower particles
  travel along ``-axis``.
* Arrival directions are isotropic on the sky, seen through a flat detector: the rate through a
  horizontal surface is ∝ cos θ dΩ, so dN/dcos θ ∝ cos θ, i.e. **sin²θ is uniform** in
  [0, sin² θ_max] with θ_max = 60° (the flat-detector acceptance used by Auger for the vertical
  data set, Pierre Auger Collab., PRD 102, 062005 (2020)). φ is uniform in [0, 2π).
* log10(E/eV) is uniform in [18.5, 20] (a flat "training" spectrum, not the steep physical one).
* The core (where the shower axis hits the ground) is uniform inside the hexagon whose corners
  are the six neighbours of the middle station (circumradius 1500 m, area 5.85 km²), so every
  footprint lies well inside the array, and the core takes every position relative to the
  stations (the hexagon contains three whole unit cells of the grid).

Signal (unit VEM, the signal of a vertical through-going muon)
--------------------------------------------------------------
The mean signal at distance ``r`` from the shower axis, **measured in the shower plane**
(r² = |d|² − (d·axis)² for the station's offset ``d`` from the core), is the modified NKG
lateral distribution function used by Auger,

    S(r) = S1000 · (r / 1000 m)^β · ((r + 700 m) / 1700 m)^β,

held constant below r_min = 150 m (the parametrisation is not meant for the core region; real
stations there saturate). The slope steepens for vertical showers,
β(θ) = −2.6 + 0.6 (sec θ − 1), which runs from −2.6 (vertical) to −2.0 (60°), the range of the
Auger parametrisation (Pierre Auger Collab., JINST 15, P10021 (2020)).

S1000 follows the Auger energy calibration of S38, the signal the shower would have had at
θ = 38°, E = A · S38^B with A = 1.86·10^17 eV, B = 1.031 (PRD 102, 062005 (2020)), and the
zenith attenuation of a constant-intensity cut,

    S1000 = S38 · f_CIC(θ),  f_CIC = 1 + a x + b x²,  x = cos²θ − cos²38°,

with a = 0.98, b = −1.68 (the size of the Auger CIC coefficients; f_CIC runs from 1.13 at 0°
to 0.41 at 60°). Shower-to-shower fluctuations (mainly of the depth of maximum) scatter S1000
by a log-normal factor of width ``s1000_fluctuation`` (default 10 %; the median is unchanged).
So S1000 ≈ 16 VEM at 10^18.5 eV and ≈ 450 VEM at 10^20 eV for θ = 38°.

The measured signal is a compound Poisson sum: the number of particles is Poisson(S(r)), and
each deposits a Gamma-distributed signal of mean 1 VEM and 35 % spread, so that
σ_S = 1.06 √S, the Poisson-like resolution of an Auger station. A station triggers when its
signal reaches ``threshold`` = 3 VEM.

Arrival time (unit s) of the first particle
-------------------------------------------
Relative to the moment the core reaches the ground (t = 0):

    t = −(d · axis) / c + r² / (2 R c) + δt,

a plane front plus the delay of a spherical front of radius R = 10 km, and a Gaussian jitter
δt of width σ_t = sqrt(σ_0² + T(r)² / max(S, 1)) with σ_0 = 10 ns (GPS clock) and the front
thickness T(r) = 50 ns + 0.3 ns/m · r: small signals (few particles) far from the core have
the largest jitter, σ_t ∝ 1/√S.

Saturation (``saturation=...``, off by default)
----------------------------------------------
A real station's electronics has a finite range: in showers above about 3·10^19 eV the station
nearest the core saturates (A. C. Fauth for the Pierre Auger Collab., "Use of small photomultiplier
tube to extend dynamic range of Pierre Auger Observatory surface detector", RENAFAE 2018; the
AugerPrime small photomultiplier extends the range 25-fold). With ``saturation`` [VEM] every signal
above it is recorded as ``saturation``; the default ``None`` keeps the ideal linear station. A
value of 1000 VEM saturates the nearest station of most showers above 3·10^19 eV, as described
there (a choice of this toy, not a measured electronics range). The classical fits of
:mod:`dlphys.reco.airshower` do not model it.

Silent stations
---------------
A station below threshold reports **signal 0 and time 0**; the boolean ``triggered`` array
tells them apart from a triggered station that happens to fire at t = 0.

Validation (``tests/datasets/test_airshower.py``): sin²θ uniform (KS test), unit axes, the
multiplicity grows with energy, the signal falls with distance, S38 ∝ E^(1/B), the arrival
times follow the plane front, 1500 m spacing, reproducibility, and the cache.
"""

from __future__ import annotations

import numpy as np

from dlphys import config, hexgrid
from dlphys.datasets import _cache

#: Array layout: rows, columns (odd-r offset) and station spacing [m].
ROWS, COLS = 9, 9
SPACING = 1500.0
#: Speed of light [m/s].
C = 299_792_458.0

#: Energy calibration E = A · S38^B (Auger, PRD 102, 062005 (2020)). A [eV], B dimensionless.
ENERGY_A = 1.86e17
ENERGY_B = 1.031
#: Constant-intensity-cut attenuation f = 1 + a x + b x², x = cos²θ − cos²(38°).
CIC_A = 0.98
CIC_B = -1.68
CIC_REF_ZENITH = np.deg2rad(38.0)

#: Lateral distribution: scale radius [m], reference distance [m], flat below r_min [m].
LDF_R_SCALE = 700.0
LDF_R_REF = 1000.0
LDF_R_MIN = 150.0

#: Relative spread of one particle's signal; the station resolution is σ_S² = (1 + k²) S.
PARTICLE_SPREAD = 0.35
SIGNAL_VARIANCE_FACTOR = 1.0 + PARTICLE_SPREAD**2

#: Radius of the spherical shower front [m].
FRONT_RADIUS = 10_000.0
#: Timing: clock resolution [s]; front thickness T(r) = T0 + T1 · r with T0 [s], T1 [s/m].
TIME_SIGMA_0 = 10e-9
FRONT_T0 = 50e-9
FRONT_T1 = 0.3e-9

#: Default physics parameters of :func:`simulate`.
DEFAULTS = {
    "log_energy_range": (18.5, 20.0),
    "max_zenith_deg": 60.0,
    "core_radius": SPACING,
    "threshold": 3.0,
    "s1000_fluctuation": 0.10,
}

#: Events per internal chunk; fixed so that the output does not depend on memory settings.
_CHUNK = 10_000

#: Default sizes of :func:`load`.
N_FULL = 100_000
N_FAST = 2_000


# --- geometry -----------------------------------------------------------------------------------


def station_positions() -> np.ndarray:
    """Station positions ``(9, 9, 2)`` [m] on the ground (z = 0), odd-r offset layout, centre at 0."""
    return hexgrid.offset_positions(ROWS, COLS, SPACING)


def zenith_of(axis: np.ndarray) -> np.ndarray:
    """Zenith angle [rad] of unit vectors ``axis`` (..., 3) pointing to the sky."""
    axis = np.asarray(axis, dtype=float)
    return np.arccos(np.clip(axis[..., 2], -1.0, 1.0))


def shower_plane_distance(positions: np.ndarray, core: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Distance [m] of ground positions from the shower axis, measured in the shower plane.

    Args:
        positions: ``(..., 2)`` ground positions [m], broadcast against ``core``.
        core: ``(..., 2)`` core position [m].
        axis: ``(..., 3)`` unit axis; only its ground components enter (the stations are at z = 0).
    """
    d = np.asarray(positions) - np.asarray(core)
    axis = np.asarray(axis)
    along = d[..., 0] * axis[..., 0] + d[..., 1] * axis[..., 1]
    return np.sqrt(np.maximum(np.sum(d * d, axis=-1) - along * along, 0.0))


# --- physics parametrisations -------------------------------------------------------------------


def cic(zenith) -> np.ndarray:
    """Zenith attenuation f_CIC(θ) = S1000 / S38 (dimensionless); ``zenith`` [rad]."""
    x = np.cos(zenith) ** 2 - np.cos(CIC_REF_ZENITH) ** 2
    return 1.0 + CIC_A * x + CIC_B * x * x


def ldf_beta(zenith) -> np.ndarray:
    """Slope β(θ) = −2.6 + 0.6 (sec θ − 1) of the lateral distribution; ``zenith`` [rad]."""
    return -2.6 + 0.6 * (1.0 / np.cos(zenith) - 1.0)


def ldf_shape(r, beta) -> np.ndarray:
    """S(r) / S1000 of the modified NKG function, flat below ``LDF_R_MIN``; ``r`` [m]."""
    r = np.maximum(r, LDF_R_MIN)
    return ((r / LDF_R_REF) * ((r + LDF_R_SCALE) / (LDF_R_REF + LDF_R_SCALE))) ** beta


def ldf(r, s1000, beta) -> np.ndarray:
    """Mean signal [VEM] at shower-plane distance ``r`` [m] for S(1000 m) = ``s1000`` [VEM]."""
    return s1000 * ldf_shape(r, beta)


def s1000_from_energy(log_energy, zenith) -> np.ndarray:
    """Median S(1000) [VEM] of a shower with log10(E/eV) = ``log_energy`` at ``zenith`` [rad]."""
    s38 = (10.0 ** np.asarray(log_energy, dtype=float) / ENERGY_A) ** (1.0 / ENERGY_B)
    return s38 * cic(zenith)


def time_sigma(r, signal) -> np.ndarray:
    """Arrival-time jitter σ_t [s] at distance ``r`` [m] for a signal of ``signal`` [VEM]."""
    thickness = FRONT_T0 + FRONT_T1 * np.asarray(r)
    return np.sqrt(TIME_SIGMA_0**2 + thickness**2 / np.maximum(signal, 1.0))


def front_delay(r, radius: float = FRONT_RADIUS) -> np.ndarray:
    """Delay [s] of a spherical front of ``radius`` [m] behind the plane at axis distance ``r`` [m]."""
    return np.asarray(r) ** 2 / (2.0 * radius * C)


# --- simulation ---------------------------------------------------------------------------------


def _sample_core(rng: np.random.Generator, n: int, radius: float) -> np.ndarray:
    """``n`` points (n, 2) [m] uniform in the hexagon with corners at radius·(cos k60°, sin k60°)."""
    k = rng.integers(0, 6, size=n)
    u = rng.uniform(size=(n, 2))
    flip = u.sum(axis=1) > 1.0
    u[flip] = 1.0 - u[flip]
    a0, a1 = np.deg2rad(60.0 * k), np.deg2rad(60.0 * (k + 1))
    v0 = np.stack([np.cos(a0), np.sin(a0)], axis=1)
    v1 = np.stack([np.cos(a1), np.sin(a1)], axis=1)
    return radius * (u[:, :1] * v0 + u[:, 1:] * v1)


def _simulate_chunk(rng: np.random.Generator, n: int, p: dict) -> dict[str, np.ndarray]:
    lo, hi = p["log_energy_range"]
    log_e = rng.uniform(lo, hi, size=n)
    sin2 = rng.uniform(0.0, np.sin(np.deg2rad(p["max_zenith_deg"])) ** 2, size=n)
    zenith = np.arcsin(np.sqrt(sin2))
    phi = rng.uniform(0.0, 2.0 * np.pi, size=n)
    axis = np.stack([np.sin(zenith) * np.cos(phi), np.sin(zenith) * np.sin(phi), np.cos(zenith)], axis=1)
    core = _sample_core(rng, n, p["core_radius"])
    s1000 = s1000_from_energy(log_e, zenith) * np.exp(p["s1000_fluctuation"] * rng.standard_normal(n))

    pos = station_positions()[None]  # (1, 9, 9, 2)
    ax3 = axis[:, None, None, :]
    d = pos - core[:, None, None, :]  # (n, 9, 9, 2)
    along = d[..., 0] * ax3[..., 0] + d[..., 1] * ax3[..., 1]  # d·axis [m]
    r = np.sqrt(np.maximum(np.sum(d * d, axis=-1) - along * along, 0.0))

    mean = ldf(r, s1000[:, None, None], ldf_beta(zenith)[:, None, None])
    particles = rng.poisson(mean)
    shape = 1.0 / PARTICLE_SPREAD**2
    signal = rng.gamma(particles * shape, 1.0 / shape)
    triggered = signal >= p["threshold"]
    if p["saturation"] is not None:
        signal = np.minimum(signal, p["saturation"])

    time = -along / C + front_delay(r) + time_sigma(r, mean) * rng.standard_normal(r.shape)
    signal = np.where(triggered, signal, 0.0)
    time = np.where(triggered, time, 0.0)
    return {
        "time": time.astype(np.float32),
        "signal": signal.astype(np.float32),
        "triggered": triggered,
        "axis": axis,
        "core": core,
        "logE": log_e,
        "s1000": s1000,
    }


def _check_params(n, p: dict) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer number of events, got {n!r}")
    lo, hi = p["log_energy_range"]
    if not 15.0 <= lo < hi <= 21.0:
        raise ValueError(f"log_energy_range must satisfy 15 <= lo < hi <= 21 (log10 E/eV), got {(lo, hi)}")
    if not 0.0 < p["max_zenith_deg"] <= 65.0:
        raise ValueError(
            f"max_zenith_deg must lie in (0, 65] (f_CIC and the LDF are for non-horizontal showers), "
            f"got {p['max_zenith_deg']}"
        )
    if not 0.0 <= p["core_radius"] <= 3.0 * SPACING:
        raise ValueError(f"core_radius must lie in [0, {3 * SPACING:g}] m, got {p['core_radius']}")
    if not p["threshold"] > 0.0:
        raise ValueError(f"threshold must be a positive signal in VEM, got {p['threshold']}")
    if not 0.0 <= p["s1000_fluctuation"] <= 1.0:
        raise ValueError(f"s1000_fluctuation must lie in [0, 1], got {p['s1000_fluctuation']}")
    if p["saturation"] is not None and not p["saturation"] > p["threshold"]:
        raise ValueError(
            f"saturation must be a signal in VEM above the trigger threshold {p['threshold']}, or None; "
            f"got {p['saturation']}"
        )


def simulate(
    n: int,
    seed: int = 0,
    progress: bool = False,
    *,
    log_energy_range: tuple[float, float] = DEFAULTS["log_energy_range"],
    max_zenith_deg: float = DEFAULTS["max_zenith_deg"],
    core_radius: float = DEFAULTS["core_radius"],
    threshold: float = DEFAULTS["threshold"],
    s1000_fluctuation: float = DEFAULTS["s1000_fluctuation"],
    saturation: float | None = None,
) -> dict[str, np.ndarray]:
    """Simulate ``n`` air-shower footprints on the 9 × 9 array (see the module docstring).

    Args:
        n: number of events.
        seed: seed of ``np.random.default_rng``; the same seed gives the same events.
        progress: show a tqdm bar over chunks of 10,000 events.
        log_energy_range: range of the uniform log10(E/eV).
        max_zenith_deg: largest zenith angle [deg]; sin²θ is uniform below it.
        core_radius: circumradius [m] of the hexagon around the middle station holding the cores.
        threshold: trigger threshold [VEM].
        s1000_fluctuation: log-normal shower-to-shower spread of S1000 (0.1 = 10 %).
        saturation: largest signal a station records [VEM] (larger ones are recorded as this value);
            ``None`` (the default): no saturation.

    Returns:
        dict with ``time`` (n, 9, 9) float32 [s], ``signal`` (n, 9, 9) float32 [VEM] (both 0 for
        silent stations), ``triggered`` (n, 9, 9) bool, ``axis`` (n, 3) unit vectors to the
        source, ``core`` (n, 2) [m], ``logE`` (n,) log10(E/eV), ``s1000`` (n,) the true S(1000)
        [VEM] of each shower (before sampling).
    """
    p = {
        "log_energy_range": tuple(float(v) for v in log_energy_range),
        "max_zenith_deg": float(max_zenith_deg),
        "core_radius": float(core_radius),
        "threshold": float(threshold),
        "s1000_fluctuation": float(s1000_fluctuation),
        "saturation": None if saturation is None else float(saturation),
    }
    _check_params(n, p)
    sizes = [min(_CHUNK, n - start) for start in range(0, n, _CHUNK)]
    seeds = np.random.SeedSequence(seed).spawn(len(sizes))
    chunks = zip(sizes, seeds, strict=False)
    if progress:
        from tqdm import tqdm

        chunks = tqdm(chunks, total=len(sizes), desc="air showers", unit="chunk")
    parts = [_simulate_chunk(np.random.default_rng(s), size, p) for size, s in chunks]
    return {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}


def load(fast: bool | None = None, refresh: bool = False) -> dict[str, np.ndarray]:
    """The default data set (100,000 events; 2,000 in fast mode, seed 0) from the cache.

    Returns the dict of :func:`simulate`. ``fast=None`` follows ``DLPHYS_FAST``.
    """
    fast = config.fast_mode() if fast is None else fast
    n = N_FAST if fast else N_FULL
    params = {"n": n, "seed": 0, **DEFAULTS}
    return _cache.cached(
        "airshower", params, lambda: simulate(n, seed=0, progress=not fast), version=1, refresh=refresh
    )


# --- network inputs and symmetry operations (used by exercises 7.2, 8.2, 11.1, 12.4) ---------------

#: Channels :func:`network_input` can build, in the order they are stacked.
INPUT_CHANNELS = ("signal", "time", "triggered")


def network_input(
    events: dict, layout: str = "offset", channels=("signal", "time"), time_unit: float = 1e-6
) -> np.ndarray:
    """Station maps of a batch of events, prepared as network input (one channel per quantity).

    * ``"signal"``: log10(1 + S / VEM): 0.6 … 5.5 for triggered stations (3 VEM … ~3·10⁴ VEM),
      0 for silent stations (S = 0).
    * ``"time"``: arrival time after the **first triggered station** of the event (which gets 0), in
      units of ``time_unit`` [s] (default µs: 0 … ~40); silent stations give 0.
    * ``"triggered"``: 1 for triggered stations, 0 for silent ones.

    Args:
        events: dict with ``signal``, ``time`` (n, 9, 9) and optionally ``triggered`` (default
            ``signal > 0``), as returned by :func:`simulate`.
        layout: ``"offset"`` gives ``(n, 9, 9, C)`` (the stored odd-r layout, for ``Conv2D`` and
            dense networks); ``"axial"`` gives ``(n, 9, 13, C)`` on the axial grid of
            :mod:`dlphys.hexgrid` (for :class:`dlphys.layers.HexConv2D`), cells without a station 0.
        channels: names from :data:`INPUT_CHANNELS`, stacked along the last axis in this order.
        time_unit: unit of the time channel [s].

    Returns:
        float32 array ``(n, 9, 9, C)`` or ``(n, 9, 13, C)``.
    """
    for key in ("signal", "time"):
        if key not in events:
            raise ValueError(f"events must contain {key!r} (as returned by simulate); got keys {sorted(events)}")
    signal = np.asarray(events["signal"], dtype=float)
    time = np.asarray(events["time"], dtype=float)
    if signal.ndim != 3 or time.shape != signal.shape:
        raise ValueError(f"signal and time must both have shape (n, rows, cols); got {signal.shape} and {time.shape}")
    triggered = np.asarray(events.get("triggered", signal > 0), dtype=bool)
    if triggered.shape != signal.shape:
        raise ValueError(f"triggered must have the shape of signal {signal.shape}; got {triggered.shape}")
    if layout not in ("offset", "axial"):
        raise ValueError(f"layout must be 'offset' or 'axial', got {layout!r}")
    channels = tuple(channels)
    unknown = [c for c in channels if c not in INPUT_CHANNELS]
    if not channels or unknown:
        raise ValueError(f"channels must be a non-empty selection of {INPUT_CHANNELS}; got {channels}")
    if not time_unit > 0:
        raise ValueError(f"time_unit must be a positive time in s, got {time_unit}")

    maps = {"signal": np.log10(1.0 + np.where(triggered, signal, 0.0)), "triggered": triggered.astype(float)}
    if "time" in channels:
        first = np.min(np.where(triggered, time, np.inf), axis=(1, 2), keepdims=True)
        first = np.where(np.isfinite(first), first, 0.0)  # an event without triggered stations
        maps["time"] = np.where(triggered, (time - first) / time_unit, 0.0)
    x = np.stack([maps[c] for c in channels], axis=-1).astype(np.float32)
    if layout == "axial":
        x = np.moveaxis(hexgrid.offset_to_axial(np.moveaxis(x, -1, 1)), 1, -1)
    return x


def rotation_index(k: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Where each station's data come from when the array is turned by ``k`` × 60° about its centre.

    Returns ``(index, valid)``: ``index`` ``(9, 9, 2)`` holds the (row, col) of the station that the
    counter-clockwise rotation carries onto station ``(row, col)``; ``valid`` ``(9, 9)`` bool is False
    where that source would lie outside the array (``index`` is then meaningless).
    """
    k = int(k) % 6
    pos = station_positions().reshape(-1, 2)
    angle = -np.deg2rad(60.0 * k)  # the source of a station is the station rotated backwards
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    source = pos @ rot.T
    dist = np.linalg.norm(source[:, None, :] - pos[None, :, :], axis=-1)
    nearest = dist.argmin(axis=1)
    valid = dist[np.arange(len(pos)), nearest] < 1e-6 * SPACING  # a lattice rotation is exact
    index = np.stack(np.unravel_index(nearest, (ROWS, COLS)), axis=-1).reshape(ROWS, COLS, 2)
    return index, valid.reshape(ROWS, COLS)


def rotate(events: dict, k: int = 1) -> dict[str, np.ndarray]:
    """The same showers turned by ``k`` × 60° (counter-clockwise) about the middle station.

    A rotation by a multiple of 60° maps the triangular grid onto itself, so every station takes the
    signal and time of the station it is carried from; stations whose source lies outside the 9 × 9
    array become silent (signal and time 0, not triggered) and data carried out of the array are
    lost. ``core`` and ``axis`` are turned with the footprint; ``logE``, ``s1000`` (and any other
    per-event entry) are unchanged, because energy does not depend on the direction of the shower.
    Rotating back (``rotate(rotate(ev, k), -k)``) gives ``ev`` with the stations lost on the way
    made silent: the part of the footprint that both versions see.
    """
    k = int(k) % 6
    index, valid = rotation_index(k)
    out = dict(events)
    for key, empty in (("signal", 0.0), ("time", 0.0), ("triggered", False)):
        if key in events:
            x = np.asarray(events[key])
            out[key] = np.where(valid, x[:, index[..., 0], index[..., 1]], np.array(empty, dtype=x.dtype))
    angle = np.deg2rad(60.0 * k)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    if "core" in events:
        out["core"] = np.asarray(events["core"]) @ rot.T
    if "axis" in events:
        axis = np.asarray(events["axis"], dtype=float)
        out["axis"] = np.concatenate([axis[:, :2] @ rot.T, axis[:, 2:]], axis=1)
    return out
