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


# --- Part I: training curves and decision regions -------------------------------------------------


def plot_history(history, metrics=("loss",), ax=None, logy=False):
    """Training and validation curves of a Keras ``History`` (or its ``.history`` dict) against epoch."""
    ax = _axes(ax)
    curves = getattr(history, "history", history)
    for metric in metrics:
        for prefix, style in (("", "-"), ("val_", "--")):
            if prefix + metric in curves:
                values = curves[prefix + metric]
                ax.plot(np.arange(1, len(values) + 1), values, style, label=("validation " if prefix else "training ") + metric)
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


# --- Ising lattices -------------------------------------------------------------------------------


# --- Air-shower footprints on the hexagonal array -------------------------------------------------


# --- Cosmic-ray sky maps --------------------------------------------------------------------------


# --- Radio traces ---------------------------------------------------------------------------------


# --- Image pairs (X-ray speckle) ------------------------------------------------------------------


# --- Relevance heat maps (LRP) --------------------------------------------------------------------
