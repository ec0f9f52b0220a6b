"""Plot helpers for every kind of data in the course.

Each helper draws into a Matplotlib ``Axes`` (a new figure when ``ax`` is None), labels its axes
with units, and returns the ``Axes`` so notebooks can add reference lines or titles.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def _axes(ax=None, figsize=(5, 4)):
    """Return ``ax`` or a fresh ``Axes`` on a new figure."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


# --- Part I: training curves, decision regions, regression results -------------------------------------------------


def plot_history(history, metrics=("loss",), ax=None, logy=False):
    """Training and validation curves of a Keras ``History`` (or its ``.history`` dict) against epoch."""
    ax = _axes(ax)
    curves = getattr(history, "history", history)
    for metric in metrics:
        for prefix, style in (("", "-"), ("val_", "--")):
            if prefix + metric in curves:
                values = curves[prefix + metric]
                ax.plot(
                    np.arange(1, len(values) + 1),
                    values,
                    style,
                    label=("validation " if prefix else "training ") + metric,
                )
    ax.set_xlabel("epoch")
    ax.set_ylabel(", ".join(metrics))
    if logy:
        ax.set_yscale("log")
    ax.legend()
    return ax


def plot_decision_regions(predict, x, y=None, ax=None, extent=None, resolution=200, transform=None):
    """Shade where a binary classifier says 1 (probability colour map) and scatter labelled points.

    Args:
        predict: a Keras model or a function mapping inputs (M, F) to probabilities (M,) or (M, 1).
        x: points (N, 2) in the plane (dimensionless, as the checkerboard data).
        y: labels (N,) 0/1 for colouring the points, or None.
        extent: (xmin, xmax, ymin, ymax); default from the data with a margin.
        transform: maps grid points (M, 2) to the network inputs (M, F), e.g. extra features.
    """
    ax = _axes(ax)
    x = np.asarray(x)
    if extent is None:
        lo, hi = x.min(axis=0) - 0.5, x.max(axis=0) + 0.5
        extent = (lo[0], hi[0], lo[1], hi[1])
    g1, g2 = np.meshgrid(np.linspace(extent[0], extent[1], resolution), np.linspace(extent[2], extent[3], resolution))
    grid = np.column_stack([g1.ravel(), g2.ravel()]).astype(np.float32)
    inputs = transform(grid) if transform is not None else grid
    fn = getattr(predict, "predict", None)
    p = fn(inputs, verbose=0) if fn is not None else predict(inputs)
    p = np.asarray(p).reshape(resolution, resolution)
    mesh = ax.contourf(g1, g2, p, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.6)
    ax.contour(g1, g2, p, levels=[0.5], colors="k", linewidths=1)
    if y is not None:
        ax.scatter(x[:, 0], x[:, 1], c=np.asarray(y).ravel(), cmap="RdBu_r", edgecolors="k", s=12, linewidths=0.3)
    ax.figure.colorbar(mesh, ax=ax, label="P(class 1)")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    return ax


def plot_prediction_vs_truth(truth, prediction, ax=None, jitter=0.0, quantity="quality", unit=None, seed=0):
    """Scatter predicted against true values (N,) with the diagonal and the correlation in the title.

    ``jitter`` spreads integer-valued truths (wine quality scores) uniformly by ±jitter so that the
    points do not pile up on a few vertical lines; it only moves the markers, not ``r``.
    """
    ax = _axes(ax)
    truth, prediction = np.asarray(truth, dtype=float).ravel(), np.asarray(prediction, dtype=float).ravel()
    if truth.shape != prediction.shape:
        raise ValueError(f"truth {truth.shape} and prediction {prediction.shape} must have the same length")
    shift = np.random.default_rng(seed).uniform(-jitter, jitter, len(truth)) if jitter else 0.0
    ax.scatter(truth + shift, prediction, s=4, alpha=0.4)
    lo, hi = min(truth.min(), prediction.min()), max(truth.max(), prediction.max())
    ax.plot([lo, hi], [lo, hi], "k--", label="prediction = truth")
    suffix = f" [{unit}]" if unit else ""
    ax.set_xlabel(f"true {quantity}{suffix}" + (" (jittered)" if jitter else ""))
    ax.set_ylabel(f"predicted {quantity}{suffix}")
    ax.set_title(f"r = {np.corrcoef(truth, prediction)[0, 1]:.2f}")
    ax.legend()
    return ax


# --- Ising lattices -------------------------------------------------------------------------------
_SPIN_COLOURS = ("#2b6cb0", "#f6e05e")  # spin -1, spin +1


def plot_lattice(spins, ax=None, title=None):
    """One Ising configuration ``spins`` (L, L) of ±1 as two colours, without ticks, with a legend."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    spins = np.asarray(spins)
    if spins.ndim != 2:
        raise ValueError(f"spins must be one lattice of shape (L, L), got shape {spins.shape}")
    ax = _axes(ax, figsize=(4, 4.4))
    # A list, not the tuple: Matplotlib 3.8.0 reads a 2-tuple as (colour, alpha).
    ax.imshow(spins, cmap=ListedColormap(list(_SPIN_COLOURS)), vmin=-1, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_ylabel(f"{spins.shape[0]} × {spins.shape[1]} sites")
    handles = [Patch(facecolor=_SPIN_COLOURS[1], label="$s=+1$"), Patch(facecolor=_SPIN_COLOURS[0], label="$s=-1$")]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=2, frameon=False)
    if title is not None:
        ax.set_title(title)
    return ax


def plot_ising_observables(T, spins, ax=None):
    """Mean |m| and E/N per temperature of ``spins`` (N, L, L) at ``T`` (N,) [J/k_B], with Onsager's curves.

    Error bars are standard errors of the mean (samples taken as independent); the dashed line is
    Tc = 2/ln(1+√2). The exact curves are for the infinite lattice.
    """
    from dlphys.datasets import ising

    T = np.asarray(T, dtype=float)
    spins = np.asarray(spins)
    if spins.ndim != 3 or T.shape != spins.shape[:1]:
        raise ValueError(f"need spins (N, L, L) and T (N,); got shapes {spins.shape} and {T.shape}")
    ax = _axes(ax, figsize=(8, 4))
    temps = np.unique(T)
    m_abs = ising.magnetization(spins, absolute=True)
    energy = ising.energy_per_spin(spins)
    for values, colour, label in ((m_abs, "C0", r"$\langle|m|\rangle$"), (energy, "C3", r"$\langle E\rangle/N$ [J]")):
        mean = np.array([values[T == t].mean() for t in temps])
        err = np.array([values[T == t].std() / np.sqrt(max(1, (T == t).sum() - 1)) for t in temps])
        ax.errorbar(temps, mean, yerr=err, fmt="o", ms=4, color=colour, label=f"{label} (L = {spins.shape[-1]})")
    fine = np.linspace(min(temps.min(), 1.0), max(temps.max(), 3.5), 400)
    ax.plot(fine, ising.onsager_magnetization(fine), color="C0", lw=1, label="Onsager/Yang $m_0$")
    ax.plot(fine, ising.onsager_energy(fine), color="C3", lw=1, label="Onsager $u$")
    ax.axvline(ising.TC, color="grey", ls="--", lw=1, label=r"$T_c = 2/\ln(1+\sqrt{2})$")
    ax.axhline(0.0, color="black", lw=0.5)
    ax.set_xlabel(r"temperature $T$ [$J/k_B$]")
    ax.set_ylabel(r"$\langle|m|\rangle$,  $\langle E\rangle/N$ [$J$]")
    ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return ax


# --- Air-shower footprints on the hexagonal array -------------------------------------------------


def plot_footprint(
    signal, time=None, ax=None, positions=None, core=None, axis=None, color=None, cmap="viridis", colorbar=True
):
    """One air-shower footprint: stations at their true positions (axes in km).

    Args:
        signal: ``(9, 9)`` signals [VEM]; stations with 0 are drawn as small grey silent stations.
        time: ``(9, 9)`` arrival times [s], optional.
        positions: ``(9, 9, 2)`` station positions [m]; default the array of
            :mod:`dlphys.datasets.airshower`.
        core: ``(2,)`` core position [m] to mark, optional.
        axis: ``(3,)`` unit vector to the source; an arrow from the core points towards where
            the shower comes from, its length ∝ sin θ (2 km for a horizontal shower).
        color: ``"time"`` (default when ``time`` is given; µs after the first station) or
            ``"signal"`` (log10 of the signal).
    Marker area ∝ log10(1 + S/VEM).
    """
    signal = np.asarray(signal, dtype=float)
    if positions is None:
        from dlphys.datasets.airshower import station_positions

        positions = station_positions()
    positions = np.asarray(positions, dtype=float)
    if signal.ndim != 2 or positions.shape != (*signal.shape, 2):
        raise ValueError(
            f"signal must be one event (rows, cols) matching positions (rows, cols, 2); got "
            f"signal {signal.shape} and positions {positions.shape}"
        )
    color = color or ("time" if time is not None else "signal")
    if color not in ("time", "signal"):
        raise ValueError(f"color must be 'time' or 'signal', got {color!r}")
    if color == "time" and time is None:
        raise ValueError("color='time' needs the arrival times (time=...)")
    ax = _axes(ax, figsize=(5.5, 4.5))
    hit = signal > 0
    xy = positions / 1000.0
    ax.scatter(
        xy[~hit, 0],
        xy[~hit, 1],
        s=12,
        marker="h",
        color="0.85",
        edgecolors="0.6",
        linewidths=0.5,
        label="silent station",
    )
    if color == "time":
        t = np.asarray(time, dtype=float)
        if t.shape != signal.shape:
            raise ValueError(f"time must have the shape of signal {signal.shape}; got {t.shape}")
        values = (t[hit] - t[hit].min()) * 1e6 if hit.any() else t[hit]
        label = "arrival time after first station / µs"
    else:
        values = np.log10(signal[hit])
        label = "log10(signal / VEM)"
    points = ax.scatter(
        xy[hit, 0],
        xy[hit, 1],
        c=values,
        s=60.0 * np.log10(1.0 + signal[hit]),
        marker="h",
        cmap=cmap,
        edgecolors="k",
        linewidths=0.5,
        zorder=3,
    )
    if colorbar and hit.any():
        ax.figure.colorbar(points, ax=ax, label=label)
    if core is not None:
        core = np.asarray(core, dtype=float) / 1000.0
        ax.plot(core[0], core[1], marker="*", color="tab:red", markersize=12, linestyle="none", zorder=4, label="core")
        if axis is not None:
            axis = np.asarray(axis, dtype=float)
            ax.annotate(
                "",
                xy=(core[0] + 2.0 * axis[0], core[1] + 2.0 * axis[1]),
                xytext=(core[0], core[1]),
                arrowprops={"arrowstyle": "->", "color": "tab:red", "lw": 1.5},
                zorder=4,
            )
    ax.set_aspect("equal")
    ax.set_xlabel("x / km")
    ax.set_ylabel("y / km")
    return ax


def plot_energy_resolution(results, axes=None, floor=None, floor_label="S(1000) fluctuation"):
    """Energy resolution and bias against energy for several estimators, in two panels.

    Args:
        results: dict label → output of :func:`dlphys.reco.airshower.energy_resolution` (same bins
            or not); each label is drawn with error bars, shifted slightly sideways so that the
            points of different estimators do not hide each other.
        axes: two Matplotlib ``Axes`` (resolution, bias); default a new 1 × 2 figure.
        floor: optional resolution drawn as a dashed reference line (e.g. the 10 % shower-to-shower
            fluctuation of S(1000) that no estimator can beat).
        floor_label: legend text of that line.

    Returns:
        The two ``Axes``.
    """
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 4))
    ax_res, ax_bias = axes
    if not results:
        raise ValueError("results must hold at least one estimator (label -> energy_resolution output)")
    widths = [np.min(np.diff(r["edges"])) for r in results.values()]
    step = 0.08 * min(widths)
    for i, (label, r) in enumerate(results.items()):
        x = np.asarray(r["centers"]) + (i - (len(results) - 1) / 2) * step
        ax_res.errorbar(
            x,
            100 * np.asarray(r["resolution"]),
            yerr=100 * np.asarray(r["resolution_err"]),
            marker="o",
            capsize=2,
            label=label,
        )
        ax_bias.errorbar(
            x, 100 * np.asarray(r["bias"]), yerr=100 * np.asarray(r["bias_err"]), marker="o", capsize=2, label=label
        )
    if floor is not None:
        ax_res.axhline(100 * floor, color="grey", linestyle="--", label=floor_label)
    ax_bias.axhline(0.0, color="k", linewidth=0.8)
    ax_res.set_ylim(bottom=0)
    ax_res.set_ylabel("resolution: std of $E_\\mathrm{pred}/E - 1$ / %")
    ax_bias.set_ylabel("bias: mean of $E_\\mathrm{pred}/E - 1$ / %")
    for ax in axes:
        ax.set_xlabel("true $\\log_{10}(E/\\mathrm{eV})$")
    ax_res.legend()
    return axes


# --- Cosmic-ray sky maps --------------------------------------------------------------------------


_SKY_PROJECTIONS = ("hammer", "mollweide", "aitoff", "lambert")


def plot_skymap(
    directions, energy=None, ax=None, sources=None, s=10, cmap="viridis", log_energy=True, lon_increases_left=True
):
    """Arrival directions (n, 3) [Galactic unit vectors] on a Hammer projection, coloured by ``energy`` [EeV].

    ``sources`` (k, 3) are marked by stars (rows with NaN are skipped). By the astronomers'
    convention Galactic longitude increases to the left (``lon_increases_left``); the tick labels
    show l in [0°, 360°). A new figure uses ``projection="hammer"``; a given ``ax`` must be a
    Matplotlib sky projection (hammer, mollweide, aitoff, lambert).
    """
    from matplotlib.colors import LogNorm, Normalize

    from dlphys.datasets.skymap import to_lonlat

    d = np.asarray(directions, dtype=np.float64)
    if d.ndim != 2 or d.shape[1] != 3:
        raise ValueError(f"directions must have shape (n_events, 3), got {d.shape}")
    if ax is None:
        ax = plt.figure(figsize=(8, 5)).add_subplot(projection="hammer")
    elif ax.name not in _SKY_PROJECTIONS:
        raise ValueError(f"ax must use a sky projection {_SKY_PROJECTIONS}, got projection {ax.name!r}")
    sign = -1.0 if lon_increases_left else 1.0
    lon, lat = to_lonlat(d)
    if energy is None:
        ax.scatter(np.radians(sign * lon), np.radians(lat), s=s, color="C0", edgecolors="none")
    else:
        e = np.asarray(energy, dtype=np.float64)
        if e.shape != d.shape[:1]:
            raise ValueError(f"energy must have shape ({d.shape[0]},) to match directions, got {e.shape}")
        norm = LogNorm(e.min(), e.max()) if log_energy else Normalize(e.min(), e.max())
        points = ax.scatter(np.radians(sign * lon), np.radians(lat), c=e, s=s, cmap=cmap, norm=norm, edgecolors="none")
        ax.figure.colorbar(points, ax=ax, orientation="horizontal", pad=0.1, shrink=0.6, label="energy E [EeV]")
    if sources is not None:
        src = np.asarray(sources, dtype=np.float64).reshape(-1, 3)
        src = src[np.all(np.isfinite(src), axis=1)]
        if len(src):
            s_lon, s_lat = to_lonlat(src)
            ax.scatter(
                np.radians(sign * s_lon),
                np.radians(s_lat),
                marker="*",
                s=12 * s,
                facecolors="none",
                edgecolors="C3",
                linewidths=1.2,
                label="sources",
            )
            ax.legend(loc="lower right", fontsize="small")
    ticks = np.arange(-150, 151, 30)
    ax.set_xticks(np.radians(ticks))
    ax.set_xticklabels([f"{(sign * t) % 360:.0f}°" for t in ticks], fontsize="small")
    ax.set_xlabel("Galactic longitude l [deg]", labelpad=12)
    ax.set_ylabel("Galactic latitude b [deg]")
    ax.grid(True, alpha=0.5)
    return ax


# --- Radio traces ---------------------------------------------------------------------------------


def plot_trace(trace, signal=None, sampling_rate=180e6, ax=None, unit="noise RMS"):
    """A radio trace (n_samples,) against time [ns], optionally with its clean ``signal`` overlaid.

    ``sampling_rate`` in Hz; amplitudes in ``unit`` (dlphys.datasets.radio: Galactic-noise RMS).
    """
    x = np.asarray(trace, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"trace must be one trace of shape (n_samples,), got {x.shape}")
    if not sampling_rate > 0:
        raise ValueError(f"sampling_rate must be positive (Hz), got {sampling_rate}")
    ax = _axes(ax, figsize=(7, 3.5))
    t = np.arange(x.size) / sampling_rate * 1e9
    ax.plot(t, x, color="0.45", lw=0.8, label="trace")
    if signal is not None:
        sig = np.asarray(signal, dtype=np.float64)
        if sig.shape != x.shape:
            raise ValueError(f"signal must have the shape of trace {x.shape}, got {sig.shape}")
        ax.plot(t, sig, color="C3", lw=1.2, label="signal (pulse)")
        ax.legend(loc="upper right", fontsize="small")
    ax.set_xlabel("time t [ns]")
    ax.set_ylabel(f"amplitude [{unit}]")
    ax.set_xlim(t[0], t[-1])
    return ax


def plot_spectrum(trace, sampling_rate=180e6, ax=None, band=(30e6, 80e6), unit="noise RMS", label=None):
    """One-sided power spectral density [unit²/MHz] of a trace (n_samples,) or the mean of (n, n_samples).

    Normalised so that the sum of PSD × bin width equals the mean square of the trace
    (Parseval). Dashed lines mark ``band`` [Hz]; pass ``band=None`` to omit them.
    """
    x = np.asarray(trace, dtype=np.float64)
    if x.ndim not in (1, 2):
        raise ValueError(f"trace must have shape (n_samples,) or (n_traces, n_samples), got {x.shape}")
    if not sampling_rate > 0:
        raise ValueError(f"sampling_rate must be positive (Hz), got {sampling_rate}")
    n = x.shape[-1]
    fs_mhz = sampling_rate / 1e6
    power = np.abs(np.fft.rfft(x, axis=-1)) ** 2 / (n * fs_mhz)
    power[..., 1 : (n + 1) // 2] *= 2.0  # one-sided: fold in the negative frequencies (not DC, not Nyquist)
    psd = power.reshape(-1, power.shape[-1]).mean(axis=0)
    ax = _axes(ax, figsize=(6, 3.5))
    ax.semilogy(np.fft.rfftfreq(n, d=1.0 / fs_mhz), psd, lw=1.0, label=label)
    if band is not None:
        for edge in band:
            ax.axvline(edge / 1e6, color="0.5", ls="--", lw=0.8)
    if label is not None:
        ax.legend(fontsize="small")
    ax.set_xlabel("frequency f [MHz]")
    ax.set_ylabel(f"PSD [({unit})² / MHz]")
    ax.set_xlim(0, fs_mhz / 2)
    if psd.max() > 0:  # show six decades; further down lies only float rounding noise
        ax.set_ylim(bottom=max(ax.get_ylim()[0], 1e-6 * psd.max()), auto=None)
    return ax


# --- Image pairs (X-ray speckle) ------------------------------------------------------------------


def plot_image_pairs(top, bottom, n=4, titles=("clean", "speckled"), log=True, q_pixel=None, unit="photons", ax=None):
    """Show ``n`` pairs of detector images, ``top[i]`` above ``bottom[i]``, sharing one colour scale.

    ``top``, ``bottom``: (N, H, W) patterns in fftshift layout (q = 0 at pixel ``(H//2, W//2)``), e.g.
    clean vs speckled or speckled vs denoised. Axes show q in pixels, or in nm⁻¹ when ``q_pixel``
    (nm⁻¹ per pixel) is given. ``log`` uses a logarithmic colour scale (zeros shown in the lowest
    colour); ``unit`` labels the colour bars. ``ax``: a (2, n) array of Axes, a ``Figure`` to fill,
    or None for a new figure. Returns the (2, n) array of Axes.
    """
    from matplotlib.colors import LogNorm, Normalize

    top, bottom = np.asarray(top), np.asarray(bottom)
    if top.ndim != 3 or top.shape != bottom.shape:
        raise ValueError(
            f"top and bottom must both be (N, H, W) image stacks of one shape, got {top.shape} and {bottom.shape}"
        )
    if not 1 <= n <= len(top):
        raise ValueError(f"n must lie in [1, {len(top)}] (the number of images), got {n}")
    if len(titles) != 2:
        raise ValueError(f"titles must hold two row titles, got {titles!r}")
    if ax is None:
        _, axes = plt.subplots(2, n, figsize=(2.9 * n, 5.4), squeeze=False, layout="constrained")
    elif isinstance(ax, plt.Figure):
        axes = ax.subplots(2, n, squeeze=False)
    else:
        axes = np.asarray(ax, dtype=object)
        if axes.size != 2 * n:
            raise ValueError(f"ax must hold 2 x n = {2 * n} Axes, got {axes.size}")
    axes = axes.reshape(2, n)
    h, w = top.shape[1:]
    scale = 1.0 if q_pixel is None else float(q_pixel)
    extent = np.array([-w // 2 - 0.5, w - w // 2 - 0.5, -h // 2 - 0.5, h - h // 2 - 0.5]) * scale
    q_unit = "pixels" if q_pixel is None else "nm$^{-1}$"
    cmap = plt.get_cmap("viridis")
    cmap = cmap.with_extremes(bad=cmap(0.0))
    for i in range(n):
        pair = np.stack([top[i], bottom[i]]).astype(np.float64)
        if log:
            positive = pair[pair > 0]
            vmax = positive.max() if positive.size else 1.0
            vmin = max(positive.min() if positive.size else 1e-3, vmax * 1e-6)
            norm = LogNorm(vmin=vmin, vmax=vmax, clip=True)
        else:
            norm = Normalize(vmin=pair.min(), vmax=pair.max())
        for row in range(2):
            panel = axes[row, i]
            image = np.ma.masked_less_equal(pair[row], 0) if log else pair[row]
            mappable = panel.imshow(image, origin="lower", extent=extent, cmap=cmap, norm=norm, interpolation="nearest")
            panel.set_title(f"{titles[row]} #{i}", fontsize=9)
            panel.set_xlabel(f"$q_x$ ({q_unit})")
            if i == 0:
                panel.set_ylabel(f"$q_y$ ({q_unit})")
        panel.figure.colorbar(mappable, ax=list(axes[:, i]), shrink=0.8, label=unit)
    return axes


# --- Relevance heat maps (LRP) --------------------------------------------------------------------


def plot_relevance(
    relevance,
    image=None,
    ax=None,
    cmap="bwr",
    vmax=None,
    overlay="contour",
    levels=5,
    alpha=0.6,
    colorbar=True,
    extent=None,
    xlabel="column [pixel]",
    ylabel="row [pixel]",
):
    """Heat map of an LRP relevance map, colours symmetric around zero (white = no relevance).

    ``relevance``: shape ``(H, W)`` or ``(H, W, C)`` (summed over the channels). ``image``: the
    explained input, same ``H, W`` (channels averaged), drawn as ``levels`` grey contour lines
    (``overlay="contour"``) or as a grey picture under the heat map with opacity ``alpha``
    (``overlay="image"``). ``vmax``: colour limit (default ``max |relevance|``). ``extent``:
    ``(left, right, bottom, top)`` in data units, then also pass ``xlabel``/``ylabel`` with units.
    The colour bar is labelled "relevance". Returns the ``Axes``.
    """
    rel = np.asarray(relevance, dtype=float)
    if rel.ndim == 3:
        rel = rel.sum(axis=-1)
    if rel.ndim != 2:
        raise ValueError(f"relevance must have shape (H, W) or (H, W, C); got shape {np.shape(relevance)}")
    if overlay not in ("contour", "image"):
        raise ValueError(f"overlay={overlay!r} is not allowed; use 'contour' or 'image'")
    img = None
    if image is not None:
        img = np.asarray(image, dtype=float)
        img = img.mean(axis=-1) if img.ndim == 3 else img
        if img.shape != rel.shape:
            raise ValueError(
                f"image has shape {np.shape(image)}, which does not match the relevance map {rel.shape} (H, W)"
            )
    ax = _axes(ax)
    if vmax is None:
        vmax = float(np.max(np.abs(rel), initial=0.0)) or 1.0
    kw = {"origin": "upper", "extent": extent, "interpolation": "nearest"}
    if img is not None and overlay == "image":
        ax.imshow(img, cmap="gray", **kw)
        mesh = ax.imshow(rel, cmap=cmap, vmin=-vmax, vmax=vmax, alpha=alpha, **kw)
    else:
        mesh = ax.imshow(rel, cmap=cmap, vmin=-vmax, vmax=vmax, **kw)
        if img is not None and np.ptp(img) > 0:
            rows, cols = img.shape
            left, right, bottom, top = (-0.5, cols - 0.5, rows - 0.5, -0.5) if extent is None else extent
            xc = left + (right - left) * (np.arange(cols) + 0.5) / cols  # pixel centres, row 0 at the top
            yc = top + (bottom - top) * (np.arange(rows) + 0.5) / rows
            ax.contour(xc, yc, img, levels=levels, colors="0.3", linewidths=0.7)
    if colorbar:
        ax.figure.colorbar(mesh, ax=ax, label="relevance")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax
