"""Geometry of hexagonal grids: offset and axial coordinates.

The air-shower array stores its stations as an ``(R, C)`` array in **odd-r offset** coordinates:
array row ``row`` is a line of stations, and odd rows are shifted by half a spacing to the right.
Station ``(row, col)`` sits at::

    x = spacing * (col + 0.5 * (row % 2)),   y = spacing * row * sqrt(3) / 2

(centred so that the middle station is at the origin).

Hexagonal convolutions want **axial** coordinates ``(q, r)`` with ``r = row`` and
``q = col - (row - row % 2) // 2``. Stored as a rectangular array (axis ``-2`` is r, axis ``-1`` is
q, shifted so that the smallest q is column 0), the six neighbours of ``(r, q)`` are
``(r, q±1), (r±1, q), (r-1, q+1), (r+1, q-1)``, and cells that hold no station are zero.
An ``(R, C)`` offset grid becomes an ``(R, C + (R - 1) // 2)`` axial grid.
"""

from __future__ import annotations

import numpy as np


def _check_grid(x: np.ndarray, what: str) -> None:
    if x.ndim < 2:
        raise ValueError(f"{what} must have at least 2 dimensions (..., rows, cols); got shape {x.shape}")


def axial_index(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Axial-array indices ``(r, q_index)`` of each offset cell, both shaped ``(rows, cols)``."""
    row, col = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    return row, col - row // 2 + (rows - 1) // 2


def offset_to_axial(x: np.ndarray, fill: float = 0) -> np.ndarray:
    """Re-index ``(..., R, C)`` odd-r offset data to ``(..., R, C + (R-1)//2)`` axial data.

    Cells of the axial array without a station are set to ``fill``.
    """
    x = np.asarray(x)
    _check_grid(x, "offset data")
    rows, cols = x.shape[-2:]
    r, q = axial_index(rows, cols)
    out = np.full((*x.shape[:-2], rows, cols + (rows - 1) // 2), fill, dtype=x.dtype)
    out[..., r, q] = x
    return out


def axial_to_offset(a: np.ndarray, cols: int | None = None) -> np.ndarray:
    """Inverse of :func:`offset_to_axial`: ``(..., R, Q)`` axial data back to ``(..., R, C)`` offset data.

    ``cols`` defaults to ``Q - (R-1)//2``.
    """
    a = np.asarray(a)
    _check_grid(a, "axial data")
    rows, width = a.shape[-2:]
    if cols is None:
        cols = width - (rows - 1) // 2
    if cols + (rows - 1) // 2 != width:
        raise ValueError(
            f"an axial grid of width {width} with {rows} rows holds {width - (rows - 1) // 2} "
            f"offset columns, not cols={cols}"
        )
    r, q = axial_index(rows, cols)
    return a[..., r, q]


def offset_positions(rows: int = 9, cols: int = 9, spacing: float = 1500.0) -> np.ndarray:
    """Cartesian positions ``(rows, cols, 2)`` [same unit as ``spacing``] of an odd-r offset grid.

    The grid is centred: the station at ``(rows // 2, cols // 2)`` is at the origin.
    """
    row, col = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    x = spacing * (col + 0.5 * (row % 2))
    y = spacing * row * np.sqrt(3.0) / 2.0
    pos = np.stack([x, y], axis=-1)
    return pos - pos[rows // 2, cols // 2]
