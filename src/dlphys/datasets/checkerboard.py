"""Checkerboard / XOR points in the plane, as in TensorFlow Playground's "exclusive or" data.

Points are uniform in the square [-6, 6]²; the label is the colour of the checkerboard square
(``tiles`` × ``tiles`` squares, ``tiles=2`` is XOR: label 1 where x1·x2 > 0). ``noise`` in [0, 1]
displaces each point after labelling by a uniform offset of up to ±5·noise per coordinate
(Playground's convention), so at ``noise=0.5`` many points lie on the "wrong" side: the
regularisation exercise 5.1 uses exactly that.

Coordinates are dimensionless. Used by exercises 3.3 and 5.1.
"""

from __future__ import annotations

import numpy as np

from dlphys import config

EXTENT = 6.0


def simulate(n: int, noise: float = 0.0, tiles: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` labelled points: ``x`` (n, 2) float32 in about [-6, 6]², ``y`` (n,) int 0/1."""
    if n < 1:
        raise ValueError(f"n must be a positive number of points, got {n}")
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise must lie in [0, 1] (Playground's 0-100 %), got {noise}")
    if tiles < 2 or tiles % 2:
        raise ValueError(f"tiles must be an even number >= 2 (2 gives XOR), got {tiles}")
    rng = np.random.default_rng(seed)
    x = rng.uniform(-EXTENT, EXTENT, size=(n, 2))
    cell = np.floor((x + EXTENT) / (2 * EXTENT / tiles)).astype(int)
    y = 1 - (cell.sum(axis=1) % 2)  # tiles=2: label 1 in the quadrants where x1*x2 > 0
    x = x + rng.uniform(-5.0 * noise, 5.0 * noise, size=x.shape)
    return x.astype(np.float32), y.astype(np.int64)


def features(x: np.ndarray, which=("x1", "x2")) -> np.ndarray:
    """Playground's input features computed from points ``x`` (n, 2) → (n, len(which)).

    Names: ``x1``, ``x2``, ``x1^2``, ``x2^2``, ``x1*x2``, ``sin(x1)``, ``sin(x2)``.
    """
    x1, x2 = np.asarray(x, dtype=np.float32).T
    table = {
        "x1": x1,
        "x2": x2,
        "x1^2": x1**2,
        "x2^2": x2**2,
        "x1*x2": x1 * x2,
        "sin(x1)": np.sin(x1),
        "sin(x2)": np.sin(x2),
    }
    unknown = [w for w in which if w not in table]
    if unknown:
        raise ValueError(f"unknown feature(s) {unknown}; choose from {list(table)}")
    return np.stack([table[w] for w in which], axis=1)


def load(n: int | None = None, noise: float = 0.0, seed: int = 0, fast=None, refresh: bool = False):
    """Train and test points ``(x_train, y_train), (x_test, y_test)``, half of ``n`` each.

    ``n`` defaults to 1000 (400 in fast mode). Generation is instant, so nothing is cached.
    """
    fast = config.fast_mode() if fast is None else fast
    n = n if n is not None else (400 if fast else 1000)
    x, y = simulate(n, noise=noise, seed=seed)
    half = n // 2
    return (x[:half], y[:half]), (x[half:], y[half:])
