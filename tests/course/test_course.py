"""The nbgrader course directory (`make course`): every cell's nbgrader role, malformed grading cells."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from dlphys.course import notebooks

ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------- the course directory
def _notebook(*cells):
    nb = nbformat.v4.new_notebook()
    for kind, source in cells:
        nb.cells.append(nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source))
    return nb


def test_course_source_gives_every_cell_its_nbgrader_role():
    nb = _notebook(
        ("markdown", "# Exercise"),
        ("code", "import numpy as np"),
        ("markdown", "## (2b) Fit\nDefine `w`."),
        ("code", "### BEGIN SOLUTION\nw = 1\n### END SOLUTION"),
        (
            "code",
            "# Grading: task 2b (3 points)\nassert w\n### BEGIN HIDDEN TESTS\nassert w == 1\n### END HIDDEN TESTS",
        ),
        ("code", "# Grading: task 2b (1 point)\nassert w > 0"),
        ("markdown", "## Discussion\nWhy?"),
        ("markdown", "### BEGIN SOLUTION\nBecause.\n### END SOLUTION"),
    )
    meta = [c.metadata["nbgrader"] for c in notebooks.course_source(nb).cells]
    roles = [
        (
            m["grade_id"].split("_", 1)[0] if m["locked"] and not m["grade"] else m["grade_id"],
            m["solution"],
            m["grade"],
            m["locked"],
            m.get("points"),
        )
        for m in meta
    ]
    assert roles == [
        ("cell", False, False, True, None),
        ("cell", False, False, True, None),
        ("cell", False, False, True, None),
        ("task2b_code1", True, False, False, None),
        ("task2b_test1", False, True, True, 3),
        ("task2b_test2", False, True, True, 1),
        ("cell", False, False, True, None),
        ("taskdiscussion_answer1", True, True, False, notebooks.MANUAL_POINTS),
    ]
    assert len({m["grade_id"] for m in meta}) == len(meta), "grade ids must be unique"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("# Grading: task 1 (2 point)\nassert x", "is not '# Grading"),
        ("# Grading: task one (2 points)\nassert x", "is not '# Grading"),
        ("x = 1\n### BEGIN HIDDEN TESTS\nassert x\n### END HIDDEN TESTS", "outside a grading cell"),
    ],
)
def test_malformed_grading_cells_are_errors(source, message):
    with pytest.raises(notebooks.MarkerError, match=message):
        notebooks.course_source(_notebook(("code", source)), name="demo.ipynb")


def test_course_directory_has_config_and_one_source_per_solution(tmp_path):
    assert notebooks.main(["nbgrader", str(tmp_path / "course")]) == 0
    config = (tmp_path / "course" / "nbgrader_config.py").read_text()
    assert 'os.environ.setdefault("DLPHYS_FAST", "1")' in config
    assert "c.Execute.timeout" in config
    solutions = sorted(p.stem for p in (ROOT / "solutions").glob("*.ipynb"))
    assert sorted(p.name for p in (tmp_path / "course" / "source").iterdir()) == solutions
    for name in solutions:
        nb = nbformat.read(tmp_path / "course" / "source" / name / f"{name}.ipynb", as_version=4)
        assert all("nbgrader" in c.metadata for c in nb.cells)
        grading_cells = [c for c in nb.cells if c.source.startswith("# Grading:")]
        assert all(c.metadata["nbgrader"]["grade"] and c.metadata["nbgrader"]["points"] > 0 for c in grading_cells)
