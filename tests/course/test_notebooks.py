"""The student-notebook tool and the solutions/notebooks pair."""

import re
from pathlib import Path

import nbformat
import pytest

from dlphys.course import notebooks

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))


def _notebook(*cells):
    nb = nbformat.v4.new_notebook()
    for kind, source in cells:
        cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
        nb.cells.append(cell)
    return nb


def test_code_solution_becomes_nbgrader_stub_with_marker_indent():
    nb = _notebook(("code", "x = 1\ndef f():\n    ### BEGIN SOLUTION\n    return 42\n    ### END SOLUTION\nprint(x)"))
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="42")]
    nb.cells[0].execution_count = 3
    student = notebooks.student_version(nb)
    cell = student.cells[0]
    assert cell.source == "x = 1\ndef f():\n    # YOUR CODE HERE\n    raise NotImplementedError()\nprint(x)"
    assert cell.outputs == [] and cell.execution_count is None


def test_markdown_answer_becomes_your_answer_here():
    nb = _notebook(("markdown", "# Title"), ("markdown", "Why?\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION"))
    assert notebooks.student_version(nb).cells[1].source == (
        "Why?\nYOUR ANSWER HERE\n\n*(A written answer: graded by hand, 2 points.)*"
    )


def test_several_blocks_in_one_cell_are_all_replaced():
    src = "### BEGIN SOLUTION\na = 1\n### END SOLUTION\nb = 2\n### BEGIN SOLUTION\nc = 3\n### END SOLUTION"
    out = notebooks.student_version(_notebook(("code", src))).cells[0].source
    assert out.count("raise NotImplementedError()") == 2 and "b = 2" in out and "a = 1" not in out


def test_hidden_tests_never_reach_the_student_version():
    src = (
        "# Grading: task 1 (2 points)\nassert model is not None\n### BEGIN HIDDEN TESTS\n"
        "assert secret_check()\n### END HIDDEN TESTS\nprint('done')"
    )
    out = notebooks.student_version(_notebook(("code", src))).cells[0].source
    assert out == "# Grading: task 1 (2 points)\nassert model is not None\nprint('done')"


@pytest.mark.parametrize(
    "source, message",
    [
        ("### BEGIN HIDDEN TESTS\nx = 1", "never closed"),
        ("### BEGIN SOLUTION\nx = 1", "never closed"),
        ("x = 1\n### END SOLUTION", "without a matching"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "nested"),
    ],
)
def test_unbalanced_or_nested_markers_name_notebook_and_cell(source, message):
    nb = _notebook(("markdown", "title"), ("code", source))
    with pytest.raises(notebooks.MarkerError, match=rf"demo.ipynb, cell 1 .*{message}"):
        notebooks.student_version(nb, name="demo.ipynb")


def test_colab_links_point_at_student_notebooks_and_tags_survive():
    nb = _notebook(
        ("markdown", "[x](https://colab.research.google.com/github/o/r/blob/main/solutions/a.ipynb)"), ("code", "N = 1")
    )
    nb.cells[1].metadata = {"tags": ["parameters"], "scrolled": True}
    student = notebooks.student_version(nb)
    assert "/blob/main/notebooks/a.ipynb" in student.cells[0].source
    assert student.cells[1].metadata == {"tags": ["parameters"]}
    assert student.metadata["kernelspec"]["name"] == "python3"


def test_student_notebooks_are_in_sync_with_solutions(tmp_path):
    fresh = notebooks.convert_all(ROOT / "solutions", tmp_path)
    committed = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert committed == sorted(p.name for p in fresh), "run `make notebooks`"
    for path in fresh:
        assert (ROOT / "notebooks" / path.name).read_bytes() == path.read_bytes(), (
            f"notebooks/{path.name} differs from its solution: run `make notebooks`, never edit notebooks/ by hand"
        )


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_solution_follows_the_notebook_conventions(path):
    nb = nbformat.read(path, as_version=4)
    assert re.fullmatch(r"\d\d_\d+_[a-z0-9_]+\.ipynb", path.name)
    title = nb.cells[0]
    assert title.cell_type == "markdown" and title.source.startswith("# Exercise ")
    assert f"/blob/main/solutions/{path.name}" in title.source, "Colab badge must link this notebook"
    assert any('"google.colab" in sys.modules' in c.source for c in nb.cells[:3]), "guarded Colab set-up cell"
    params = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1 and "config" in params[0].source, "one `parameters` cell reading dlphys.config"
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "seed_everything(" in code
    assert "### BEGIN SOLUTION" in code, "a solution notebook must contain solution code"
    assert re.search(r"^assert ", code, re.M), "each solution checks its key result with an assert"
    assert "tf.keras" not in code
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit solutions without outputs"


def test_readme_lists_every_exercise():
    readme = (ROOT / "README.md").read_text()
    for path in SOLUTIONS:
        assert f"solutions/{path.name}" in readme and f"notebooks/{path.name}" in readme, path.name


def test_check_mode_reports_stale_notebooks(tmp_path, capsys):
    src, dest = tmp_path / "solutions", tmp_path / "notebooks"
    src.mkdir()
    nbformat.write(_notebook(("code", "### BEGIN SOLUTION\nx = 1\n### END SOLUTION")), src / "01_1_demo.ipynb")
    assert notebooks.main(["--check", str(src), str(dest)]) == 1
    assert notebooks.main([str(src), str(dest)]) == 0
    assert notebooks.main(["--check", str(src), str(dest)]) == 0


def test_student_title_cell_states_the_grading_limits_the_grader_uses():
    from dlphys.course import grading
    from dlphys.course.sandbox import Limits

    assert (grading.CELL_TIMEOUT, grading.NOTEBOOK_TIMEOUT) == (Limits().cell, Limits().wall)
    nb = _notebook(("markdown", "# Exercise 1.1"), ("code", "x = 1"))
    title = notebooks.student_version(nb).cells[0].source
    assert title.startswith("# Exercise 1.1\n\n**Grading**")
    assert f"at most {Limits().cell:g} s per cell" in title and f"{Limits().wall / 60:g} min in all" in title
