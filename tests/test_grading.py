"""Grading with nbgrader: the course directory, and `make grade` on crafted submissions of 3.2 and 4.2.

One call of :func:`dlphys.grading.grade` grades the whole matrix (fast mode, tight limits), and the tests
assert on its outputs (grades.csv, report.md, feedback/):

========  =============================================  ================================================
student   03_2_wine_linear_regression                    04_2_keras_linear_regression
========  =============================================  ================================================
alice     the solution                                   the solution
bob       the untouched student version                  the untouched student version (nested folder,
                                                         LMS-style file name)
carol     wrong answer (task 1: correlation sign flip)   -
dave      syntax error (task 3)                          -
eve       endless loop (task 1)                          -
frank     task 2's test cell deleted                     -
grace     -                                              invalid JSON (a truncated file)
mallory   deletes files                                  calls pip
========  =============================================  ================================================
"""

from __future__ import annotations

import copy
import csv
import time
from pathlib import Path

import nbformat
import pytest

from dlphys import grading, notebooks

ROOT = Path(__file__).resolve().parents[1]
WINE, KERAS = "03_2_wine_linear_regression", "04_2_keras_linear_regression"
LOOP_LIMIT = 20  # seconds per cell in 3.2 (every cell of its solution takes < 2 s in fast mode)


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


# ----------------------------------------------------------------------------- crafted submissions
def _handed_out(name: str) -> tuple[nbformat.NotebookNode, dict[str, str]]:
    """The notebook a student gets (nbgrader metadata, solutions cleared) and the solutions by grade id."""
    source = notebooks.course_source(nbformat.read(ROOT / "solutions" / f"{name}.ipynb", as_version=4), name)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells if c.metadata["nbgrader"]["solution"]}
    return notebooks._nbgrader_clear(source), answers


def _solved(name: str) -> nbformat.NotebookNode:
    nb, answers = _handed_out(name)
    for cell in nb.cells:
        if cell.metadata["nbgrader"]["grade_id"] in answers:
            cell.source = answers[cell.metadata["nbgrader"]["grade_id"]]
    return nb


def _edit(nb, grade_id: str, old: str, new: str) -> nbformat.NotebookNode:
    nb = copy.deepcopy(nb)
    [cell] = [c for c in nb.cells if c.metadata["nbgrader"]["grade_id"] == grade_id]
    assert old in cell.source, (grade_id, old)
    cell.source = cell.source.replace(old, new, 1)
    return nb


def make_submissions(folder: Path) -> None:
    wine, keras = _solved(WINE), _solved(KERAS)

    def put(student, nb, name, file=None):
        path = folder / student / (file or f"{name}.ipynb")
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)

    put("alice", wine, WINE)
    put("alice", keras, KERAS)
    put("bob", _handed_out(WINE)[0], WINE)
    put("bob", _handed_out(KERAS)[0], KERAS, file=f"submission/{KERAS} (1).ipynb")
    put("carol", _edit(wine, "task1_code2", "correlation = np.array(", "correlation = -np.array("), WINE)
    put(
        "dave",
        _edit(
            wine,
            "task3_code1",
            "y_pred = design_matrix(data.x_test) @ weights",
            "y_pred = design_matrix(data.x_test) @ weights +",
        ),
        WINE,
    )
    put("eve", _edit(wine, "task1_code2", "### BEGIN SOLUTION\n", "### BEGIN SOLUTION\nwhile True:\n    pass\n"), WINE)
    frank = copy.deepcopy(wine)
    frank.cells = [c for c in frank.cells if c.metadata["nbgrader"]["grade_id"] != "task2_test1"]
    put("frank", frank, WINE)
    (folder / "grace").mkdir()
    (folder / "grace" / f"{KERAS}.ipynb").write_text(nbformat.writes(keras)[:5000], encoding="utf-8")
    put(
        "mallory",
        _edit(
            wine,
            "task2_code1",
            "### BEGIN SOLUTION\n",
            "### BEGIN SOLUTION\nimport shutil\nshutil.rmtree('..', ignore_errors=True)\n",
        ),
        WINE,
    )
    put(
        "mallory",
        _edit(keras, "task1_code1", "### BEGIN SOLUTION\n", "### BEGIN SOLUTION\n%pip install xgboost\n"),
        KERAS,
    )


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade the whole matrix once; return (results by (student, exercise), out folder, seconds)."""
    folder = tmp_path_factory.mktemp("grading")
    solutions = folder / "solutions"
    solutions.mkdir()
    for name in (WINE, KERAS):  # a course of the two exercises only
        (solutions / f"{name}.ipynb").write_bytes((ROOT / "solutions" / f"{name}.ipynb").read_bytes())
    make_submissions(folder / "submissions")
    start = time.monotonic()
    results = grading.grade(
        folder / "submissions",
        folder / "out",
        solutions,
        notebook_timeout=300,
        cell_timeout=120,
        cell_timeouts={WINE: LOOP_LIMIT},
    )
    seconds = time.monotonic() - start
    print(f"\ngrading the crafted submissions took {seconds:.0f} s\n" + (folder / "out" / "report.md").read_text())
    return {(r.student, r.exercise): r for r in results}, folder / "out", seconds


def _auto(result) -> tuple[float, float]:
    rows = [v for (task, kind), v in result.tasks.items() if kind == "auto"]
    return sum(v[0] or 0 for v in rows), sum(v[1] for v in rows)


def test_the_solution_earns_full_points_and_feedback(graded):
    results, _out, _ = graded
    for name in (WINE, KERAS):
        alice = results["alice", name]
        assert (alice.status, _auto(alice)) == ("graded", (10, 10)), (alice.notes, alice.tasks)
        assert alice.feedback
        assert alice.feedback.is_file()
        assert "Grading: task" in alice.feedback.read_text()


def test_untouched_student_version_gets_no_test_points_and_no_crash(graded):
    results, _, _ = graded
    for name in (WINE, KERAS):
        bob = results["bob", name]
        assert (bob.status, _auto(bob)) == ("graded", (0, 10)), (bob.reasons, bob.tasks)
        assert any("NotImplementedError" in note for note in bob.notes)


def test_wrong_answer_and_syntax_error_lose_the_points_of_their_task(graded):
    results, _, _ = graded
    carol, dave = results["carol", WINE], results["dave", WINE]
    assert carol.status == "graded"
    assert carol.tasks["1", "auto"][0] == 0
    assert _auto(carol) == (8, 10)
    assert any("failed tests: task1_test1 (AssertionError" in note for note in carol.notes)
    assert dave.status == "graded"
    assert dave.tasks["3", "auto"][0] == 0
    assert _auto(dave) == (6, 10)
    assert any("SyntaxError" in note for note in dave.notes)


def test_endless_loop_is_interrupted_and_the_rest_is_graded(graded):
    results, _, _ = graded
    eve = results["eve", WINE]
    assert (eve.status, _auto(eve)) == ("graded", (8, 10)), (eve.notes, eve.tasks)
    assert any(f"stopped after the {LOOP_LIMIT} s limit" in note for note in eve.notes)


def test_deleted_test_cell_is_put_back_and_graded(graded):
    results, _, _ = graded
    frank = results["frank", WINE]
    assert frank.status == "graded"
    assert _auto(frank) == (10, 10)
    assert any("task2_test1 was missing" in note for note in frank.notes)


def test_invalid_json_and_forbidden_code_are_rejected_with_a_reason(graded):
    results, _, _ = graded
    assert results["grace", KERAS].status == "rejected"
    assert "invalid JSON" in results["grace", KERAS].reasons[0]
    assert results["grace", WINE].status == "missing"
    assert results["mallory", WINE].status == "rejected"
    assert "deletes files" in results["mallory", WINE].reasons[0]
    assert results["mallory", KERAS].status == "rejected"
    assert "pip" in results["mallory", KERAS].reasons[0]


def test_grades_csv_and_report_cover_every_student(graded):
    results, out, _seconds = graded
    with open(out / "grades.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["student"] for r in rows} == {"alice", "bob", "carol", "dave", "eve", "frank", "grace", "mallory"}
    alice = {(r["exercise"], r["task"], r["kind"]): r for r in rows if r["student"] == "alice"}
    assert alice[WINE, "2", "auto"]["points"] == "4"
    assert alice[WINE, "2", "auto"]["max_points"] == "4"
    assert alice[KERAS, "discussion", "manual"]["points"] == ""  # graded by hand in the formgrader
    assert {r["status"] for r in rows if r["student"] == "mallory"} == {"rejected"}
    report = (out / "report.md").read_text()
    for student, name in results:
        assert f"## {student}" in report
        assert name in report
    assert "DLPHYS_FAST=1" in report


def test_release_is_the_student_notebook(graded):
    """nbgrader generate_assignment and the project's tool give the same student notebook."""
    _, out, _ = graded
    for name in (WINE, KERAS):
        release = nbformat.read(out / "course" / "release" / name / f"{name}.ipynb", as_version=4)
        student = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
        assert [c.source for c in release.cells] == [c.source for c in student.cells]
        assert "BEGIN HIDDEN TESTS" not in nbformat.writes(release)


def test_notebook_time_limit_stops_the_process_and_what_it_started(tmp_path):
    """A kernel runs in a session of its own: the per-notebook limit must stop it too."""
    import sys

    import psutil

    pid_file = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'], start_new_session=True)\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(120)\n"
    )
    start = time.monotonic()
    code, _ = grading.run_limited([sys.executable, "-c", script], tmp_path, None, 8, tmp_path / "log.txt")
    assert code is None
    assert time.monotonic() - start < 60
    child = int(pid_file.read_text())
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE
