"""The visible checks (``# Grading`` cells) keep their promise: each ends by saying what the grader checks again."""

import ast
from pathlib import Path

import nbformat
import pytest

from dlphys.course.notebooks import GRADING_CELL

SOLUTIONS = sorted((Path(__file__).resolve().parents[2] / "solutions").glob("*.ipynb"))


def _grading_cells(path):
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type == "code" and cell.source.startswith("# Grading"):
            yield index, GRADING_CELL.fullmatch(cell.source.split("\n", 1)[0].strip()), cell.source


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_every_visible_check_ends_by_announcing_the_graders_points(path):
    for index, header, source in _grading_cells(path):
        last = ast.parse(source).body[-1]
        call = last.value if isinstance(last, ast.Expr) else None
        name = getattr(getattr(call, "func", None), "attr", None) or getattr(getattr(call, "func", None), "id", None)
        assert name == "passed", f"{path.stem} cell {index}: the last line is not passed(task, points, what)"
        task, points, graded = (ast.literal_eval(arg) for arg in call.args)
        assert (task, points) == (header["task"], int(header["points"])), (
            f"{path.stem} cell {index}: passed({task!r}, {points}) differs from its line {header.group(0)!r}"
        )
        assert isinstance(graded, str) and len(graded) > 10, f"{path.stem} cell {index}: say what the grader checks"


def test_numerical_gradient_of_a_quadratic_is_exact():
    import numpy as np

    from dlphys.checking import numerical_gradient

    a = np.array([[1.0, 2.0], [3.0, -1.0]])
    params = {"x": np.array([0.5, -2.0]), "c": np.array(3.0)}
    grad = numerical_gradient(lambda p: p["x"] @ a @ p["x"] + p["c"] ** 2, params, eps=1e-4)
    # central differences are exact for a quadratic up to rounding (~1e-12 / 1e-4)
    np.testing.assert_allclose(grad["x"], (a + a.T) @ params["x"], atol=1e-8)
    np.testing.assert_allclose(grad["c"], 6.0, atol=1e-8)
    assert grad["x"].shape == (2,) and grad["c"].shape == ()
