"""Helpers of the notebooks' visible checks (the ``# Grading: task N (P points)`` cells).

A visible check tests a student's result against the criterion its task states on the page. Where that needs a
reference (a finite difference, say), it calls a helper from here, so that the check cell never spells out the
method the student is asked to write. Each check cell ends with :func:`passed`, which says what the grader checks
again, and for how many points, on fresh inputs the student never sees.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

__all__ = ["numerical_gradient", "passed"]


def numerical_gradient(
    loss: Callable[[dict], float], params: Mapping[str, np.ndarray], eps: float = 1e-6
) -> dict[str, np.ndarray]:
    """Central finite differences of a scalar ``loss(params)`` with respect to every entry of ``params``.

    Args:
        loss: function of a dict of arrays (the same keys as ``params``) returning a number.
        params: dict name -> array (any shape, float); it is not changed.
        eps: the step, in the units of the parameters.

    Returns:
        dict name -> array of the shape of ``params[name]``: (loss(p + eps) - loss(p - eps)) / (2 eps) per entry.
    """
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict of arrays, got {type(params).__name__}")
    base = {key: np.array(value, dtype=float) for key, value in params.items()}
    result = {}
    for key, value in base.items():
        slope = np.zeros(value.shape)
        for index in np.ndindex(value.shape):
            total = 0.0
            for sign in (1.0, -1.0):
                shifted = {k: v.copy() for k, v in base.items()}
                shifted[key][index] += sign * eps
                total += sign * float(np.squeeze(loss(shifted)))
            slope[index] = total / (2 * eps)
        result[key] = slope
    return result


def passed(task: str, points: int, graded: str) -> None:
    """Close a visible check: print that it passed and what the grader checks again for ``points`` points.

    Args:
        task: the task label of the ``# Grading`` line (``"3"``, ``"4a"``).
        points: the points of that line.
        graded: what the grader's own checks look at, in words (``"your gradients at random parameters"``).
    """
    unit = "point" if points == 1 else "points"
    print(
        f"Task {task}: the visible checks passed. At grading, {points} {unit} come from the grader's own checks "
        f"of {graded}, on fresh inputs drawn with a seed you do not see."
    )
