"""Make the student notebooks and the nbgrader course from the solutions: ``python -m dlphys.course.notebooks``.

``solutions/*.ipynb`` is the only copy anyone edits. Solution code sits between
``### BEGIN SOLUTION`` and ``### END SOLUTION`` lines (the nbgrader convention); in a markdown
cell the same markers fence a model answer. A code cell whose first line is
``# Grading: task N (P points)`` is a grading cell; checks the student must not see sit between
``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` lines inside it.

Both outputs come from one implementation. :func:`course_source` gives every cell its nbgrader
metadata: cells with solution code become autograded-answer cells, fenced markdown answers manually
graded answer cells (:data:`MANUAL_POINTS` points each), grading cells test cells with their points and
a ``grade_id`` such as ``task2_test1``, every other cell a locked read-only cell.
:func:`student_version` then runs nbgrader's own ``ClearSolutions``, ``ClearHiddenTests`` and
``ClearOutput`` preprocessors on it (the nbgrader stubs ``# YOUR CODE HERE`` + ``raise
NotImplementedError()``, indented like the marker, and ``YOUR ANSWER HERE``), which is what ``nbgrader
generate_assignment`` does to the course; the student copy keeps only the ``tags`` of cell metadata,
gets the python3 kernelspec, and Colab links point at ``notebooks/`` instead of ``solutions/``.

Usage::

    python -m dlphys.course.notebooks                      # solutions/ -> notebooks/
    python -m dlphys.course.notebooks --check              # exit 1 if notebooks/ is out of date
    python -m dlphys.course.notebooks SRC_DIR DEST_DIR
    python -m dlphys.course.notebooks nbgrader OUT [--solutions DIR]   # nbgrader course directory (make course)
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
MARKDOWN_STUB = "YOUR ANSWER HERE"
GRADING_NOTE = (
    "**Grading** runs your notebook from the top in fast mode (`DLPHYS_FAST=1`), with at most {cell} s per cell and"
    " {wall} min in all: a cell that runs longer is stopped and what it defines is missing. The points come from"
    " the grader's own checks, on fresh inputs; the `# Grading` cells show you their criteria."
)
"""The line added to a student notebook's title cell: how grading runs it, and its limits."""
MODELS_NOTE = (
    " The trained networks the checks score ({names}) are saved (`.keras`) at the end and run by the grader without"
    " your code: build them from Keras layers and `dlphys.layers` alone (no `Lambda` layer, no layer or model class"
    " of your own)."
)
"""Added to :data:`GRADING_NOTE` where the exercise's checks judge saved networks (:mod:`dlphys.course.models`)."""
STAND_IN_NOTE = (
    " The one exception is the `{layer}` layer this page has you write: in the saved network the grader runs"
    " {stand_in} in its place, which computes the forward pass your layer should."
)
"""Added for each layer class the page asks for and the checks replace by a Keras layer (``Exercise.stand_ins``)."""
GRADER_STAND_INS = {
    "AlwaysOnDropout": "its own `keras.layers.Dropout` of your layer's rate that stays on at prediction",
}
"""How :data:`STAND_IN_NOTE` names the grader's own stand-ins (``dlphys.course.models.GRADER_LAYERS``)."""
WALL_TIMEOUT = 900
"""Seconds for a whole notebook in grading (the sandbox's default wall limit)."""
MANUAL_NOTE = "*(A written answer: graded by hand, {points} points.)*"
"""The line under each markdown stub: a student sees what a written answer is worth."""
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


class MarkerError(ValueError):
    """Unbalanced or nested solution markers."""


def _fenced_lines(source: str, begin: str, end: str, where: str):
    """Yield ``(line, state)`` for each line of ``source``: state ``"begin"``, ``"end"``, ``"inside"`` or ``"outside"``.

    Raises :class:`MarkerError` naming ``where`` and the line for nested, unmatched or unclosed markers.
    """
    inside_since: int | None = None
    for number, line in enumerate(source.splitlines(), start=1):
        marker = line.strip()
        if marker.startswith(begin):
            if inside_since is not None:
                raise MarkerError(f"{where}, line {number}: nested {begin!r} (block opened on line {inside_since})")
            inside_since = number
            yield line, "begin"
        elif marker.startswith(end):
            if inside_since is None:
                raise MarkerError(f"{where}, line {number}: {end!r} without a matching {begin!r}")
            inside_since = None
            yield line, "end"
        else:
            yield line, "outside" if inside_since is None else "inside"
    if inside_since is not None:
        raise MarkerError(f"{where}, line {inside_since}: {begin!r} is never closed by {end!r}")


def strip_hidden_tests(source: str, where: str) -> str:
    """Drop every ``BEGIN HIDDEN TESTS``/``END HIDDEN TESTS`` block of ``source``, markers included."""
    if BEGIN_HIDDEN not in source and END_HIDDEN not in source:
        return source
    return "\n".join(
        line for line, state in _fenced_lines(source, BEGIN_HIDDEN, END_HIDDEN, where) if state == "outside"
    )


def strip_solutions(source: str, cell_type: str, where: str) -> str:
    """Replace every ``BEGIN``/``END`` block of ``source`` by the student stub; drop hidden tests.

    ``where`` names notebook and cell in error messages.
    """
    out: list[str] = []
    for line, state in _fenced_lines(strip_hidden_tests(source, where), BEGIN, END, where):
        if state == "begin":
            indent = line[: len(line) - len(line.lstrip())]
            if cell_type == "code":
                out.extend(indent + stub for stub in CODE_STUB)
            else:
                out.append(MARKDOWN_STUB)
        elif state == "outside":
            out.append(line)
    return "\n".join(out)


GRADING_CELL = re.compile(r"# Grading: task (?P<task>[0-9]+[a-z]?) \((?P<points>[0-9]+) points?\)")
TASK_HEADING = re.compile(r"^##\s+\((?P<task>[0-9]+[a-z]?)\)", re.M)
GRADE_ID_MANUAL = re.compile(r"task(?P<task>[0-9]+[a-z]?|[a-z_]+)_answer\d+")
"""``grade_id`` of a manually graded markdown answer (``task2_answer1``)."""
MANUAL_POINTS = 2
"""Points of each fenced markdown answer (graded by hand in nbgrader's formgrader)."""


def _task_label(heading: str) -> str:
    """``## (2) Linear regression`` -> ``2``; ``## Discussion`` -> ``discussion``."""
    match = TASK_HEADING.search(heading)
    if match:
        return match["task"]
    title = next(line for line in heading.splitlines() if line.startswith("## "))
    return re.sub(r"[^a-z0-9]+", "_", title[3:].lower()).strip("_") or "intro"


def course_source(nb: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """Return solution ``nb`` with nbgrader cell metadata: the source notebook of the nbgrader course.

    Code cells with a solution block become autograded answers (``taskN_codeK``), markdown cells with one
    manually graded answers (``taskN_answerK``, :data:`MANUAL_POINTS` points), grading cells test cells
    (``taskN_testK`` with the points of their first line), every other cell a locked read-only cell. ``N`` is
    the task of the ``## (N) ...`` section the cell belongs to. Outputs are cleared, solutions and hidden
    tests stay, Colab links point at ``notebooks/`` (what the students open). Raises :class:`MarkerError` on
    unbalanced markers, hidden tests outside a grading cell, or a malformed grading line.
    """
    course = nbformat.v4.new_notebook()
    course.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    task, counts = "intro", {}
    for index, cell in enumerate(nb.cells):
        where = f"{name}, cell {index} ({cell.cell_type})"
        strip_solutions(cell.source, cell.cell_type, where)  # raises MarkerError on unbalanced markers
        source = cell.source.replace("/blob/main/solutions/", "/blob/main/notebooks/")  # students open these
        tags = cell.get("metadata", {}).get("tags")
        metadata = {"tags": list(tags)} if tags else {}
        first = source.split("\n", 1)[0].strip()
        has_solution = any(line.strip().startswith(BEGIN) for line in source.splitlines())
        if cell.cell_type == "markdown" and source.lstrip().startswith("## "):
            task = _task_label(source.lstrip())
        if cell.cell_type == "code" and first.startswith("# Grading"):
            match = GRADING_CELL.fullmatch(first)
            if not match or (match["points"] == "1") != first.endswith("point)"):
                raise MarkerError(f"{where}: grading line {first!r} is not '# Grading: task N (P points)'")
            kind, points, task_of_cell = "test", int(match["points"]), match["task"]
        elif BEGIN_HIDDEN in source:
            raise MarkerError(f"{where}: {BEGIN_HIDDEN!r} outside a grading cell ('# Grading: task N (P points)')")
        elif has_solution and cell.cell_type == "code":
            kind, points, task_of_cell = "code", None, task
        elif has_solution and cell.cell_type == "markdown":
            kind, points, task_of_cell = "answer", MANUAL_POINTS, task
        else:
            kind, points, task_of_cell = "locked", None, task
        if kind == "locked":
            grade_id = f"cell_{cell.get('id') or index}"
        else:
            stem = f"task{task_of_cell}_{kind}"
            counts[stem] = counts.get(stem, 0) + 1
            grade_id = f"{stem}{counts[stem]}"
        meta = {
            "grade": kind in ("test", "answer"),
            "grade_id": grade_id,
            "locked": kind in ("test", "locked"),
            "schema_version": 3,
            "solution": kind in ("code", "answer"),
            "task": False,
        }
        if points is not None:
            meta["points"] = points
        metadata["nbgrader"] = meta
        course.cells.append(_new_cell(cell.cell_type, source, metadata, cell.get("id") or f"cell-{index}"))
    return course


def _new_cell(cell_type: str, source: str, metadata: dict, cell_id: str) -> nbformat.NotebookNode:
    """A fresh nbformat v4 cell of ``cell_type`` (code, markdown or raw) with the given id."""
    make = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell}.get(
        cell_type, nbformat.v4.new_raw_cell
    )
    cell = make(source, metadata=metadata)
    cell.id = cell_id
    return cell


def _nbgrader_clear(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """What ``nbgrader generate_assignment`` does to the cells: clear solutions, hidden tests and outputs."""
    try:
        from nbgrader.preprocessors import ClearHiddenTests, ClearOutput, ClearSolutions
    except ImportError as exc:  # pragma: no cover - nbgrader is in requirements.lock
        raise ImportError("the notebook tool needs nbgrader: pip install 'dlphys[grade]'") from exc
    nb = copy.deepcopy(nb)
    resources: dict = {}
    for preprocessor in (ClearSolutions(), ClearHiddenTests(), ClearOutput()):
        nb, resources = preprocessor.preprocess(nb, resources)
    return nb


def _saved_models(name: str) -> tuple[list[str], dict[str, str]]:
    """The expressions of the networks the trusted checks of exercise ``name`` save and run themselves, and the
    stand-ins of the layers the page has the student write."""
    from dlphys.course import checks  # the checks import this module's neighbours, not this module

    try:
        exercise = checks.load(Path(name).stem)
    except (LookupError, ValueError):
        return [], {}
    # a model the grader has the notebook make on its own data reads as a call on those inputs' names
    shown = [re.sub(r"inputs\[['\"](\w+)['\"]\]", r"\1", expression) for expression in exercise.models.values()]
    return shown, dict(exercise.stand_ins)


def student_version(nb: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """Return the student copy of solution notebook ``nb`` (``nb`` is left unchanged)."""
    cleared = _nbgrader_clear(course_source(nb, name))
    student = nbformat.v4.new_notebook()
    student.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    for index, cell in enumerate(cleared.cells):
        source = cell.source
        if index == 0 and cell.cell_type == "markdown":
            source = f"{source}\n\n{GRADING_NOTE.format(cell=CELL_TIMEOUT, wall=WALL_TIMEOUT // 60)}"
            saved, stand_ins = _saved_models(name)
            if saved:
                source += MODELS_NOTE.format(names=", ".join(f"`{m}`" for m in saved))
            for layer, keras_layer in stand_ins.items():
                stand_in = GRADER_STAND_INS.get(keras_layer, f"`keras.layers.{keras_layer}`")
                source += STAND_IN_NOTE.format(layer=layer, stand_in=stand_in)
        grading = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "markdown" and grading.get("solution") and grading.get("grade"):
            source = f"{source}\n\n{MANUAL_NOTE.format(points=grading['points'])}"
        tags = cell.metadata.get("tags")
        metadata = {"tags": list(tags)} if tags else {}
        student.cells.append(_new_cell(cell.cell_type, source, metadata, cell.id))
    return student


NBGRADER_CONFIG = """\
# nbgrader configuration of the dlphys course, written by `python -m dlphys.course.notebooks nbgrader` (make course).
# source/<exercise>/<exercise>.ipynb are the solutions with nbgrader cell metadata; run from this directory:
#   nbgrader generate_assignment <exercise>     (release/: the student version, same as notebooks/)
#   nbgrader autograde <exercise>               (submitted/<student>/<exercise>/ -> autograded/)
#   nbgrader generate_feedback <exercise>       (feedback/<student>/<exercise>/<exercise>.html)
# `make grade SUBMISSIONS=DIR` (python -m dlphys.course.grading) does all of it for an LMS export.
import os

# Grading runs the exercises in fast mode (small data sets, few epochs: seconds to a minute per notebook),
# as CI does; the grading cells' bounds hold in fast and in full mode. DLPHYS_FAST=0 grades in full mode.
os.environ.setdefault("DLPHYS_FAST", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

c = get_config()  # noqa: F821 (provided by nbgrader)
c.CourseDirectory.course_id = "dlphys"
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
# A cell that runs longer is interrupted (an endless loop, say); the rest of the notebook still runs.
c.Execute.timeout = int(os.environ.get("DLPHYS_CELL_TIMEOUT", "{cell_timeout}"))
c.Execute.interrupt_on_timeout = True
# Every test cell is replaced by the course's own (hidden tests included) before it runs. A deleted test cell:
# `make grade` (python -m dlphys.course.grading) puts it back and grades it; nbgrader 0.9.6's own add_missing_cells
# fails on test cells that follow a read-only cell, so it stays off.
c.OverwriteCells.add_missing_cells = False
"""
CELL_TIMEOUT = 300
"""Default seconds one cell may run during autograding (``Execute.timeout``; ``DLPHYS_CELL_TIMEOUT``)."""


def write_course(src_dir: Path, out: Path, cell_timeout: int = CELL_TIMEOUT) -> list[Path]:
    """Write the nbgrader course directory ``out``: ``nbgrader_config.py`` and ``source/<ex>/<ex>.ipynb``.

    One assignment per solution of ``src_dir``; returns the source notebooks written.
    """
    sources = sorted(src_dir.glob("*.ipynb"))
    if not sources:
        raise FileNotFoundError(f"no notebooks in {src_dir}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "nbgrader_config.py").write_text(
        NBGRADER_CONFIG.replace("{cell_timeout}", str(cell_timeout)), encoding="utf-8"
    )
    written = []
    for src in sources:
        course = course_source(nbformat.read(src, as_version=4), name=src.name)
        nbformat.validate(course)
        dest = out / "source" / src.stem / src.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(nbformat.writes(course) + "\n", encoding="utf-8")
        written.append(dest)
    return written


def convert(src: Path, dest_dir: Path) -> Path:
    """Write the student version of notebook ``src`` into ``dest_dir``; return its path."""
    nb = nbformat.read(src, as_version=4)
    student = student_version(nb, name=src.name)
    nbformat.validate(student)
    dest = dest_dir / src.name
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest.write_text(nbformat.writes(student) + "\n", encoding="utf-8")
    return dest


def convert_all(src_dir: Path, dest_dir: Path) -> list[Path]:
    """Convert every ``*.ipynb`` of ``src_dir``; remove student notebooks without a solution."""
    sources = sorted(src_dir.glob("*.ipynb"))
    if not sources:
        raise FileNotFoundError(f"no notebooks in {src_dir}")
    written = [convert(src, dest_dir) for src in sources]
    for stale in set(dest_dir.glob("*.ipynb")) - set(written):
        stale.unlink()
    return written


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["nbgrader"]:
        return _main_course(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m dlphys.course.notebooks", description="Make student notebooks.")
    parser.add_argument("src", nargs="?", default="solutions", type=Path)
    parser.add_argument("dest", nargs="?", default="notebooks", type=Path)
    parser.add_argument("--check", action="store_true", help="only check that DEST is up to date")
    args = parser.parse_args(argv)
    if args.check:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            fresh = convert_all(args.src, Path(tmp))
            stale = [
                p.name
                for p in fresh
                if not (args.dest / p.name).is_file() or (args.dest / p.name).read_bytes() != p.read_bytes()
            ]
            extra = sorted({p.name for p in args.dest.glob("*.ipynb")} - {p.name for p in fresh})
        if stale or extra:
            print(f"{args.dest}/ is out of date; run `make notebooks`. Differs: {stale + extra}")
            return 1
        print(f"{args.dest}/ is in sync with {args.src}/ ({len(fresh)} notebooks)")
        return 0
    try:
        written = convert_all(args.src, args.dest)
    except MarkerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(written)} student notebooks to {args.dest}/")
    return 0


def _main_course(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dlphys.course.notebooks nbgrader",
        description="Write the nbgrader course directory of the solutions.",
    )
    parser.add_argument("out", type=Path, help="course directory to write (nbgrader_config.py, source/)")
    parser.add_argument("--solutions", default="solutions", type=Path, help="solution notebooks (default: solutions)")
    parser.add_argument(
        "--cell-timeout",
        type=int,
        default=CELL_TIMEOUT,
        help=f"seconds a cell may run when autograding (default {CELL_TIMEOUT})",
    )
    args = parser.parse_args(argv)
    try:
        written = write_course(args.solutions, args.out, args.cell_timeout)
    except MarkerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote the nbgrader course to {args.out}/: nbgrader_config.py and {len(written)} source notebooks")
    return 0


if __name__ == "__main__":
    sys.exit(main())


def answered(nb: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """The student version of solution ``nb`` with the solutions typed in, as an honest student hands it in.

    Every answer cell holds the solution's code (or markdown) without the ``BEGIN``/``END`` marker lines; the
    cells, ids and metadata are those of :func:`student_version` (what ``notebooks/`` holds).
    """
    student = student_version(nb, name)
    for cell, original in zip(student.cells, nb.cells, strict=True):
        if any(line.strip().startswith(BEGIN) for line in original.source.splitlines()):
            lines = strip_hidden_tests(original.source, name).splitlines()
            cell.source = "\n".join(line for line in lines if line.strip() not in (BEGIN, END))
    return student
