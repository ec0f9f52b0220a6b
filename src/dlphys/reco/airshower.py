"""Classical reconstruction of air-shower footprints: arrival direction, core and energy.

The baseline that the networks of exercises 7.2, 11.1 and 18.2 are compared with. It follows the
standard surface-detector chain (e.g. Pierre Auger Collab., JINST 15, P10021 (2020)), using the
same parametrisations as the simulator :mod:`dlphys.datasets.airshower`:

1. **Direction** from the arrival times of the triggered stations: a weighted linear least-squares
   fit of a plane front, ``c t_i = c t_0 − u x_i − v y_i`` with ``(u, v)`` the ground components
   of the axis, solved for all events at once through their 3 × 3 normal equations. Weights are
   1/σ_t² from the timing model. With a known core the spherical-front delay r²/(2Rc) is
   subtracted first (``curvature_radius``), which removes the bias of the plane approximation.
2. **Core and S(1000)** by maximum likelihood of the lateral distribution function
   S(r) = S1000 · f(r, β(θ)) (scipy L-BFGS-B per event, analytic gradient): triggered stations
   have a Gaussian likelihood of variance 1.12 S (the Poisson-like station resolution), silent
   stations the Poisson probability of fewer particles than the threshold.
3. **Energy** by inverting the calibration: S38 = S1000 / f_CIC(θ), E = A · S38^B.

:func:`reconstruct` runs 1 → 2 → 1 (curved, with the fitted core) → 2 → 3 on a batch, and
:func:`resolution` summarises the result as the 68 % quantiles that the book quotes.

Units: positions and cores [m], times [s], signals and S(1000) [VEM], angles [rad] unless a name
says ``_deg``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize
from threadpoolctl import threadpool_limits

from dlphys.datasets import airshower as sim

_MIN_STATIONS = 3


# --- input handling -----------------------------------------------------------------------------


def _batch(name: str, x, trailing: int) -> tuple[np.ndarray, bool]:
    """``x`` as float array with a leading batch axis; also whether one was added."""
    x = np.asarray(x, dtype=float)
    if x.ndim == trailing:
        return x[None], True
    if x.ndim != trailing + 1:
        raise ValueError(
            f"{name} must have shape (n, ...) with {trailing} trailing dimensions "
            f"or be a single event; got shape {x.shape}"
        )
    return x, False


def _stations(signal, positions, triggered):
    """Batched signals (n, N), triggered mask (n, N), station positions (N, 2), and 'single'."""
    s, single = _batch("signal", signal, 2)
    grid = s.shape[1:]
    pos = sim.station_positions() if positions is None else np.asarray(positions, dtype=float)
    if pos.shape != (*grid, 2):
        raise ValueError(f"positions must have shape {(*grid, 2)} to match signal {s.shape}; got {pos.shape}")
    if triggered is None:
        trig = s > 0
    else:
        trig = np.asarray(triggered, dtype=bool)
        if single and trig.ndim == 2:
            trig = trig[None]
        if trig.shape != s.shape:
            raise ValueError(f"triggered must have the shape of signal {s.shape}; got {trig.shape}")
    n = s.shape[0]
    return s.reshape(n, -1), trig.reshape(n, -1), pos.reshape(-1, 2), single


def _per_event(name: str, x, n: int, width: int | None) -> np.ndarray:
    """Check a per-event array: shape (n,) or (n, width); a single event may omit the batch axis."""
    x = np.asarray(x, dtype=float)
    want = (n,) if width is None else (n, width)
    if x.shape == want[1:] and n == 1:
        x = x[None]
    if x.shape != want:
        raise ValueError(f"{name} must have shape {want} (one row per event); got {x.shape}")
    return x


# --- 1. direction -------------------------------------------------------------------------------


def fit_plane_front(
    time, signal, positions=None, triggered=None, core=None, curvature_radius: float | None = None
) -> dict[str, np.ndarray]:
    """Arrival directions from arrival times by a weighted least-squares plane (or curved) front.

    Args:
        time: ``(n, 9, 9)`` arrival times [s] (or one event ``(9, 9)``).
        signal: ``(n, 9, 9)`` signals [VEM]; used for the weights 1/σ_t².
        positions: ``(9, 9, 2)`` station positions [m]; default the simulator's array.
        triggered: ``(n, 9, 9)`` bool; default ``signal > 0``.
        core: ``(n, 2)`` core positions [m]; with it the weights use the axis distance, and the
            spherical-front delay of ``curvature_radius`` [m] is subtracted if that is given.
        curvature_radius: radius [m] of the shower front (the simulator's is ``FRONT_RADIUS``).

    Returns:
        dict with ``axis`` (n, 3) unit vectors to the source, ``t0`` (n,) [s] the time at which
        the front passes the core (without ``core``: the signal-weighted station barycentre),
        ``ok`` (n,) bool (at least 3 non-collinear triggered stations). Failed events have NaN
        entries. A single event gives un-batched results.
    """
    t, _ = _batch("time", time, 2)
    s, trig, pos, single = _stations(signal, positions, triggered)
    if t.reshape(t.shape[0], -1).shape != s.shape:
        raise ValueError(f"time {np.shape(time)} and signal {np.shape(signal)} must have the same shape")
    if curvature_radius is not None and core is None:
        raise ValueError("curvature_radius needs the core positions (core=...) to compute axis distances")
    if curvature_radius is not None and not curvature_radius > 0:
        raise ValueError(f"curvature_radius must be a positive length in m, got {curvature_radius}")
    n = s.shape[0]
    ct = t.reshape(n, -1) * sim.C  # [m]
    w = trig.astype(float)
    n_trig = w.sum(axis=1)

    # Reference point: signal-weighted barycentre (decorrelates t0 from the direction).
    if core is None:
        ref = np.einsum("ni,ij->nj", w * s, pos) / np.maximum((w * s).sum(axis=1), 1e-12)[:, None]
    else:
        ref = _per_event("core", core, n, 2)
    x = pos[None] - ref[:, None, :]  # (n, N, 2) [m]

    axis = None
    for _ in range(3 if core is not None else 1):  # with a core: refine the axis distances twice
        if axis is None:  # first pass: ground distance as a proxy of the axis distance
            r = np.hypot(x[..., 0], x[..., 1])
        else:
            r = sim.shower_plane_distance(pos[None], ref[:, None, :], axis[:, None, :])
        y = ct - (sim.front_delay(r, curvature_radius) * sim.C if curvature_radius else 0.0)
        weight = w / (sim.time_sigma(r, s) * sim.C) ** 2
        design = np.stack([np.ones_like(r), -x[..., 0], -x[..., 1]], axis=-1) / 1000.0  # km units
        normal = np.einsum("ni,nij,nik->njk", weight, design, design)
        rhs = np.einsum("ni,nij,ni->nj", weight, design, y / 1000.0)
        scale = np.maximum(np.abs(normal).max(axis=(1, 2)), 1e-300)
        cond = np.linalg.cond(normal / scale[:, None, None])
        ok = (n_trig >= _MIN_STATIONS) & np.isfinite(cond) & (cond < 1e8)
        normal[~ok] = np.eye(3)
        rhs[~ok] = 0.0
        params = np.linalg.solve(normal, rhs[..., None])[..., 0]
        u, v = params[:, 1], params[:, 2]
        horizontal = np.hypot(u, v)
        shrink = np.where(horizontal > 1.0, 1.0 / np.maximum(horizontal, 1e-300), 1.0)
        u, v = u * shrink, v * shrink
        axis = np.stack([u, v, np.sqrt(np.maximum(1.0 - u * u - v * v, 0.0))], axis=1)

    t0 = params[:, 0] * 1000.0 / sim.C
    axis[~ok] = np.nan
    t0[~ok] = np.nan
    out = {"axis": axis, "t0": t0, "ok": ok}
    return {k: v[0] for k, v in out.items()} if single else out


# --- 2. core and S(1000) ------------------------------------------------------------------------


def _poisson_below(m: int, mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log P(N <= m | mu) for Poisson N, and its derivative with respect to mu."""
    term = np.ones_like(mu)
    total = np.ones_like(mu)  # sum_{j <= m} mu^j / j!
    partial = np.zeros_like(mu)  # sum_{j < m} mu^j / j!
    for j in range(1, m + 1):
        partial = total.copy()
        term = term * mu / j
        total = total + term
    return -mu + np.log(total), -1.0 + partial / total


def _ldf_nll(params, signal, trig, pos, axis2, beta, m):
    """Negative log-likelihood and gradient in (core_x [km], core_y [km], ln S1000)."""
    core = params[:2] * 1000.0
    s1000 = math.exp(params[2])
    d = pos - core
    along = d @ axis2
    r = np.sqrt(np.maximum(np.sum(d * d, axis=1) - along**2, 1e-6))
    shape = sim.ldf_shape(r, beta)
    mu = s1000 * shape
    dlnmu_dr = np.where(r > sim.LDF_R_MIN, beta / r + beta / (r + sim.LDF_R_SCALE), 0.0)
    dr_dcore = (-d + along[:, None] * axis2[None, :]) / r[:, None]  # (N, 2) [m/m]

    k = sim.SIGNAL_VARIANCE_FACTOR
    var = k * mu
    res = signal - mu
    nll_trig = 0.5 * res**2 / var + 0.5 * np.log(var)
    dnll_dmu_trig = -res / var - 0.5 * res**2 / (var * mu) + 0.5 / mu
    logp, dlogp = _poisson_below(m, mu)
    nll = np.where(trig, nll_trig, -logp)
    dnll_dmu = np.where(trig, dnll_dmu_trig, -dlogp)

    g = dnll_dmu * mu  # d nll / d ln mu
    grad_core = (g * dlnmu_dr) @ dr_dcore * 1000.0  # per km
    grad_lns = g.sum()
    return nll.sum(), np.array([grad_core[0], grad_core[1], grad_lns])


def _initial_guess(signal, trig, pos, axis2, beta):
    w = np.where(trig, signal, 0.0)
    core = (w[:, None] * pos).sum(axis=0) / w.sum()
    d = pos - core
    along = d @ axis2
    r = np.sqrt(np.maximum(np.sum(d * d, axis=1) - along**2, 0.0))
    s1000 = np.median(signal[trig] / sim.ldf_shape(r[trig], beta))
    return core, s1000


def fit_ldf(
    signal, positions=None, axis=None, triggered=None, core0=None, threshold: float = 3.0, progress: bool = False
) -> dict[str, np.ndarray]:
    """Core and S(1000) by a maximum-likelihood fit of the lateral distribution, event by event.

    Args:
        signal: ``(n, 9, 9)`` signals [VEM] (or one event ``(9, 9)``).
        positions: ``(9, 9, 2)`` station positions [m]; default the simulator's array.
        axis: ``(n, 3)`` shower axes (unit vectors to the source), e.g. from :func:`fit_plane_front`;
            they fix the shower plane and β(θ). Required.
        triggered: ``(n, 9, 9)`` bool; default ``signal > 0``.
        core0: ``(n, 2)`` starting cores [m]; default the signal-weighted barycentre.
        threshold: trigger threshold [VEM] used for the likelihood of silent stations.
        progress: show a tqdm bar over events.

    Returns:
        dict with ``core`` (n, 2) [m], ``s1000`` (n,) [VEM], ``ok`` (n,) bool; NaN where a fit
        was impossible (fewer than 3 stations, no axis) or failed.
    """
    s, trig, pos, single = _stations(signal, positions, triggered)
    n = s.shape[0]
    if axis is None:
        raise ValueError("axis is required: fit the direction first, e.g. with fit_plane_front")
    axis = _per_event("axis", axis, n, 3)
    if core0 is not None:
        core0 = _per_event("core0", core0, n, 2)
    if not threshold > 0:
        raise ValueError(f"threshold must be a positive signal in VEM, got {threshold}")
    m = max(math.ceil(threshold) - 1, 0)  # silent: at most m particles
    beta = sim.ldf_beta(sim.zenith_of(axis))
    core = np.full((n, 2), np.nan)
    s1000 = np.full(n, np.nan)
    ok = np.zeros(n, dtype=bool)
    events = range(n)
    if progress:
        from tqdm import tqdm

        events = tqdm(events, desc="LDF fits", unit="event")
    bounds = [(-20.0, 20.0), (-20.0, 20.0), (math.log(1e-3), math.log(1e7))]
    # A multi-threaded BLAS costs far more than it saves on 3-parameter problems (40x slower on
    # a busy 2-core machine), so the fits run single-threaded.
    with threadpool_limits(limits=1, user_api="blas"):
        for i in events:
            if trig[i].sum() < _MIN_STATIONS or not np.all(np.isfinite(axis[i])):
                continue
            guess_core, guess_s = _initial_guess(s[i], trig[i], pos, axis[i, :2], beta[i])
            if core0 is not None and np.all(np.isfinite(core0[i])):
                guess_core = core0[i]
            x0 = np.array([guess_core[0] / 1000.0, guess_core[1] / 1000.0, math.log(max(guess_s, 1e-3))])
            res = optimize.minimize(
                _ldf_nll,
                x0,
                args=(s[i], trig[i], pos, axis[i, :2], beta[i], m),
                jac=True,
                method="L-BFGS-B",
                bounds=bounds,
            )
            if np.all(np.isfinite(res.x)):
                core[i] = res.x[:2] * 1000.0
                s1000[i] = math.exp(res.x[2])
                ok[i] = True
    out = {"core": core, "s1000": s1000, "ok": ok}
    return {k: v[0] for k, v in out.items()} if single else out


# --- 3. energy ----------------------------------------------------------------------------------


def energy_from_s1000(s1000, zenith) -> np.ndarray:
    """Energy [eV] from S(1000) [VEM] and zenith [rad]: E = A · (S1000 / f_CIC(θ))^B."""
    s1000 = np.asarray(s1000, dtype=float)
    zenith = np.asarray(zenith, dtype=float)
    if np.any(s1000 < 0):
        raise ValueError(f"s1000 must be non-negative signals in VEM; got minimum {np.nanmin(s1000)}")
    if np.any(np.abs(zenith) > np.pi / 2):
        raise ValueError(f"zenith must be in radians within [0, pi/2]; got maximum {np.nanmax(np.abs(zenith))}")
    return sim.ENERGY_A * (s1000 / sim.cic(zenith)) ** sim.ENERGY_B


# --- full chain and figures of merit -----------------------------------------------------------


def reconstruct(events: dict, positions=None, threshold: float = 3.0, progress: bool = True) -> dict[str, np.ndarray]:
    """Reconstruct direction, core and energy of a batch of events.

    Args:
        events: dict with ``time`` and ``signal`` (n, 9, 9), optionally ``triggered``
            (as returned by :func:`dlphys.datasets.airshower.simulate`).
        positions: ``(9, 9, 2)`` station positions [m]; default the simulator's array.
        threshold: trigger threshold [VEM].
        progress: show tqdm bars over the per-event LDF fits.

    Returns:
        dict with ``axis`` (n, 3), ``core`` (n, 2) [m], ``s1000`` (n,) [VEM], ``logE`` (n,)
        log10(E/eV) and ``ok`` (n,) bool; NaN where ``ok`` is False.
    """
    for key in ("time", "signal"):
        if key not in events:
            raise ValueError(f"events must contain {key!r}; got keys {sorted(events)}")
    time, signal = events["time"], events["signal"]
    triggered = events.get("triggered")
    plane = fit_plane_front(time, signal, positions, triggered)
    first = fit_ldf(signal, positions, plane["axis"], triggered, threshold=threshold, progress=progress)
    curved = fit_plane_front(
        time, signal, positions, triggered, core=np.nan_to_num(first["core"]), curvature_radius=sim.FRONT_RADIUS
    )
    axis = np.where(first["ok"][..., None], curved["axis"], plane["axis"])
    second = fit_ldf(signal, positions, axis, triggered, core0=first["core"], threshold=threshold, progress=progress)
    ok = plane["ok"] & first["ok"] & curved["ok"] & second["ok"]
    zenith = sim.zenith_of(axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        log_e = np.log10(energy_from_s1000(np.nan_to_num(second["s1000"]), np.nan_to_num(zenith)))
    out = {"axis": axis, "core": second["core"], "s1000": second["s1000"], "logE": log_e, "ok": ok}
    for key in ("axis", "core", "s1000", "logE"):
        out[key] = np.where(ok.reshape(ok.shape + (1,) * (out[key].ndim - ok.ndim)), out[key], np.nan)
    return out


def opening_angle(a, b) -> np.ndarray:
    """Angle [deg] between unit vectors ``a`` and ``b`` (..., 3)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape[-1] != 3 or b.shape[-1] != 3:
        raise ValueError(f"a and b must be (..., 3) vectors; got shapes {a.shape} and {b.shape}")
    cross = np.linalg.norm(np.cross(a, b), axis=-1)
    return np.degrees(np.arctan2(cross, np.sum(a * b, axis=-1)))


def resolution(truth: dict, reco: dict, quantile: float = 0.68) -> dict[str, float]:
    """Resolutions of ``reco`` against ``truth`` (dicts with ``axis``, ``core``, ``logE``).

    Only events with ``reco["ok"]`` (if present) and finite values enter. Returns ``angle_68``
    [deg] and ``core_68`` [m] (the ``quantile`` of the opening angle and core distance),
    ``dlogE_mean``, ``dlogE_std`` (of log10 E_rec − log10 E_true), ``energy_68`` (quantile of
    |E_rec/E_true − 1|), ``energy_std`` (std of E_rec/E_true − 1), ``n`` and ``fraction_ok``.
    Keys whose inputs are missing are left out.
    """
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must lie in (0, 1), got {quantile}")
    n = len(truth["logE"]) if "logE" in truth else len(truth["axis"])
    ok = np.asarray(reco.get("ok", np.ones(n, dtype=bool)), dtype=bool)
    if ok.shape != (n,):
        raise ValueError(f"reco['ok'] must have shape ({n},) like the truth; got {ok.shape}")
    out: dict[str, float] = {}
    if "axis" in truth and "axis" in reco:
        angle = opening_angle(truth["axis"], reco["axis"])
        ok = ok & np.isfinite(angle)
    if "core" in truth and "core" in reco:
        dist = np.linalg.norm(np.asarray(reco["core"], dtype=float) - np.asarray(truth["core"], dtype=float), axis=-1)
        ok = ok & np.isfinite(dist)
    if "logE" in truth and "logE" in reco:
        dloge = np.asarray(reco["logE"], dtype=float) - np.asarray(truth["logE"], dtype=float)
        ok = ok & np.isfinite(dloge)
    if not ok.any():
        raise ValueError("no event with a valid reconstruction to compare")
    if "axis" in truth and "axis" in reco:
        out["angle_68"] = float(np.quantile(angle[ok], quantile))
    if "core" in truth and "core" in reco:
        out["core_68"] = float(np.quantile(dist[ok], quantile))
    if "logE" in truth and "logE" in reco:
        rel = 10.0 ** dloge[ok] - 1.0
        out["dlogE_mean"] = float(dloge[ok].mean())
        out["dlogE_std"] = float(dloge[ok].std())
        out["energy_68"] = float(np.quantile(np.abs(rel), quantile))
        out["energy_std"] = float(rel.std())
    out["n"] = int(ok.sum())
    out["fraction_ok"] = float(ok.mean())
    return out


def energy_resolution(log_e_true, log_e_pred, edges=None, ok=None) -> dict[str, np.ndarray | float]:
    """Relative energy resolution and bias, overall and in bins of the true energy.

    With ``ratio = E_pred / E_true − 1``, the **resolution** is ``std(ratio)`` and the **bias**
    ``mean(ratio)``, in each bin of log10(E_true / eV). Their statistical uncertainties are the
    Gaussian estimates ``std / sqrt(2 (n − 1))`` and ``std / sqrt(n)``.

    Args:
        log_e_true, log_e_pred: ``(n,)`` log10(E / eV), true and reconstructed (any estimator:
            a network, :func:`reconstruct`).
        edges: bin edges in log10(E_true / eV); default 6 equal bins over the range of ``log_e_true``.
        ok: ``(n,)`` bool, events to use (default: all with a finite ``log_e_pred``; ``ok`` is
            combined with that). The fraction used is returned as ``fraction_ok``.

    Returns:
        dict with ``edges`` (m+1,), ``centers`` (m,), ``count`` (m,), ``resolution``,
        ``resolution_err``, ``bias``, ``bias_err`` (m,) (NaN in bins with fewer than 2 events), and
        the overall ``resolution_all``, ``bias_all`` (floats) and ``fraction_ok``.
    """
    log_e_true = np.asarray(log_e_true, dtype=float).ravel()
    log_e_pred = np.asarray(log_e_pred, dtype=float).ravel()
    if log_e_true.shape != log_e_pred.shape or log_e_true.size == 0:
        raise ValueError(
            f"log_e_true and log_e_pred must be non-empty and of equal length; got "
            f"{log_e_true.shape} and {log_e_pred.shape}"
        )
    use = np.isfinite(log_e_pred) & np.isfinite(log_e_true)
    if ok is not None:
        ok = np.asarray(ok, dtype=bool).ravel()
        if ok.shape != use.shape:
            raise ValueError(f"ok must have shape {use.shape} like the energies; got {ok.shape}")
        use &= ok
    if use.sum() < 2:
        raise ValueError("energy_resolution needs at least 2 events with a valid reconstruction")
    if edges is None:
        edges = np.linspace(log_e_true.min(), log_e_true.max(), 7)
    edges = np.asarray(edges, dtype=float)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError(f"edges must be an increasing 1-D array of at least 2 bin edges; got {edges}")
    ratio = 10.0 ** (log_e_pred[use] - log_e_true[use]) - 1.0
    which = np.digitize(log_e_true[use], edges[1:-1])  # 0 .. m-1; the outer edges are inclusive
    inside = (log_e_true[use] >= edges[0]) & (log_e_true[use] <= edges[-1])
    m = edges.size - 1
    out = {k: np.full(m, np.nan) for k in ("resolution", "resolution_err", "bias", "bias_err")}
    count = np.zeros(m, dtype=int)
    for i in range(m):
        r = ratio[inside & (which == i)]
        count[i] = r.size
        if r.size >= 2:
            std = r.std(ddof=1)
            out["resolution"][i], out["resolution_err"][i] = std, std / np.sqrt(2.0 * (r.size - 1))
            out["bias"][i], out["bias_err"][i] = r.mean(), std / np.sqrt(r.size)
    out.update(
        {
            "edges": edges,
            "centers": 0.5 * (edges[1:] + edges[:-1]),
            "count": count,
            "resolution_all": float(ratio.std(ddof=1)),
            "bias_all": float(ratio.mean()),
            "fraction_ok": float(use.mean()),
        }
    )
    return out
