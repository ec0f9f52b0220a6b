"""Grade the students' notebooks with nbgrader: ``python -m dlphys.grading SUBMISSIONS OUT`` (``make grade``).

``SUBMISSIONS`` holds one folder per student, as an LMS export gives them: ``SUBMISSIONS/<student>/`` with that
student's notebooks (any depth; a file belongs to exercise ``03_2_wine_linear_regression`` when its name
contains the exercise's name or its number ``03_2``). The run

1. writes the nbgrader course from the solutions into ``OUT/course`` (:func:`dlphys.notebooks.write_course`)
   and runs ``nbgrader generate_assignment`` for every exercise handed in;
2. checks each notebook before running it: a file that is not valid JSON or not a valid notebook is
   rejected, and so is one whose own code (lines not in the handed-out version) installs packages (``pip``,
   ``conda``), runs shell commands or deletes files;
3. runs ``nbgrader autograde`` once per student and exercise in its own process, in fast mode
   (``DLPHYS_FAST=1`` unless the environment sets it), with a per-cell limit (nbgrader interrupts the cell
   and runs the rest) and a per-notebook limit (the process and its kernel are stopped, no points);
4. runs ``nbgrader generate_feedback`` and writes

   - ``OUT/grades.csv``: one row per student, exercise and task: ``points`` of the test cells
     (``kind=auto``) or, for the fenced markdown answers, empty until graded by hand in nbgrader's
     formgrader (``kind=manual``), ``max_points``, ``status`` (``graded``, ``rejected``, ``failed``,
     ``missing``);
   - ``OUT/feedback/<student>/<exercise>.html``: nbgrader's feedback with the executed notebook;
   - ``OUT/report.md``: per student and exercise what happened and why (rejections, failures, cells
     stopped by the time limit, test cells put back, given cells restored).

One bad submission never stops the others. Exit status 0 when grading ran (rejections are results, not
errors), 2 on unusable arguments.

The checks of step 2 stop honest mistakes and casual mischief, not an attacker: give the grader a
throw-away account or container with no access to anything else (nbgrader's advice too).
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from dlphys.notebooks import CELL_TIMEOUT, write_course

NOTEBOOK_TIMEOUT = 600
"""Default seconds one student's notebook may take to autograde (kernel start and every cell)."""

GRADE_ID = re.compile(r"task(?P<task>[0-9]+[a-z]?|[a-z_]+)_(?P<kind>test|answer)\d+")

# What a graded notebook's own code must not do: (pattern, reason). Matched against every code line that
# is not in the handed-out version of the exercise.
FORBIDDEN = [
    (
        re.compile(
            r"(^|[\s;!%(\"'])(pip3?|conda|mamba|uv)\s+(install|uninstall|remove)\b|-m\s+pip\b|\bpip\.main\b"
            r"|\bensurepip\b|^\s*%(pip|conda)\b"
        ),
        "installs or removes packages (pip/conda): a graded notebook must use the packages of the grading "
        "environment, which has everything the exercise needs",
    ),
    (
        re.compile(
            r"\bos\.(remove|unlink|rmdir|removedirs)\b|\bshutil\.(rmtree|move)\b|\.unlink\(|\.rmdir\("
            r"|\bsend2trash\b"
        ),
        "deletes files: a graded notebook may only write its own outputs",
    ),
    (
        re.compile(
            r"^\s*!|^\s*%%(bash|sh|script|system)\b|^\s*%(system|sx|sc)\b|\bos\.(system|popen|exec\w*|spawn\w*)\b"
            r"|\bsubprocess\b|\bpty\.spawn\b"
        ),
        "runs shell commands: a graded notebook may only run Python",
    ),
]


@dataclass
class Result:
    """What happened to one student's notebook of one exercise."""

    student: str
    exercise: str
    status: str = "graded"  # graded | rejected | failed | missing
    reasons: list[str] = field(default_factory=list)  # why rejected/failed
    notes: list[str] = field(default_factory=list)  # what a grader should know about a graded notebook
    path: Path | None = None
    tasks: dict[tuple[str, str], list[float | None]] = field(default_factory=dict)  # (task, kind) -> [points, max]
    feedback: Path | None = None
    seconds: float = 0.0


# ------------------------------------------------------------------------------------------------ collect
def _student_id(folder: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", folder).strip("._") or "student"


def _exercise_of(path: Path, exercises: list[str]) -> str | None:
    stem = path.stem
    for name in exercises:
        if name in stem:
            return name
    for name in exercises:
        code = re.match(r"\d\d_\d+[a-z]?", name).group(0)
        if re.search(rf"(?<![0-9]){re.escape(code)}(?![0-9])", stem):
            return name
    return None


def collect(submissions: Path, exercises: list[str]) -> tuple[list[Result], list[str]]:
    """One :class:`Result` (with ``path``) per student and exercise handed in, and the ignored files."""
    results: list[Result] = []
    ignored: list[str] = []
    seen: dict[str, str] = {}
    for item in sorted(submissions.iterdir()):
        if not item.is_dir():
            ignored.append(f"{item.name}: not in a student's folder")
            continue
        student = _student_id(item.name)
        if student in seen:
            ignored.append(f"{item.name}/: same student id {student!r} as {seen[student]}/ (ignored)")
            continue
        seen[student] = item.name
        found: dict[str, list[Path]] = {}
        for path in sorted(item.rglob("*.ipynb")):
            if ".ipynb_checkpoints" in path.parts:
                continue
            exercise = _exercise_of(path, exercises)
            if exercise is None:
                ignored.append(f"{path.relative_to(submissions)}: not an exercise of this course")
            else:
                found.setdefault(exercise, []).append(path)
        for exercise, paths in sorted(found.items()):
            newest = max(paths, key=lambda p: p.stat().st_mtime)
            result = Result(student, exercise, path=newest)
            for other in paths:
                if other != newest:
                    result.notes.append(
                        f"several files for this exercise: graded the newest, "
                        f"{newest.relative_to(submissions)}; ignored {other.relative_to(submissions)}"
                    )
            results.append(result)
    return results, ignored


# -------------------------------------------------------------------------------------------- pre-check
def precheck(path: Path, handed_out: nbformat.NotebookNode) -> list[str]:
    """Reasons to reject the notebook at ``path`` without running it (empty: run it)."""
    raw = path.read_bytes()
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return [f"not a notebook: the file is not UTF-8 text ({exc.reason} at byte {exc.start})"]
    except json.JSONDecodeError as exc:
        return [
            f"not a notebook: invalid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "the file was probably damaged or edited outside Jupyter"
        ]
    try:
        nb = nbformat.reads(json.dumps(data), as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # nbformat raises several kinds
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return [f"not a valid Jupyter notebook: {message[:200]}"]
    given = {line.strip() for cell in handed_out.cells if cell.cell_type == "code" for line in cell.source.splitlines()}
    reasons = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for number, line in enumerate(cell.source.splitlines(), start=1):
            if line.strip() in given or line.lstrip().startswith("#"):
                continue
            for pattern, why in FORBIDDEN:
                if pattern.search(line):
                    reasons.append(f"cell {index}, line {number} `{line.strip()[:80]}`: {why}")
                    break
    return reasons


def restore_tests(nb: nbformat.NotebookNode, handed_out: nbformat.NotebookNode) -> list[str]:
    """Put back test cells that ``nb`` lacks (in place, after the cell they follow in ``handed_out``).

    Returns notes for the report. nbgrader then overwrites every test cell with the course's own, hidden tests
    included (its checksums catch any edit); nbgrader 0.9.6's own ``add_missing_cells`` fails on a test cell
    that follows a read-only cell, which is where dlphys puts them, so the grader does this step itself.
    """

    def grade_id(cell):
        return cell.metadata.get("nbgrader", {}).get("grade_id")

    notes = []
    present = {grade_id(cell): cell for cell in nb.cells}
    for index, cell in enumerate(handed_out.cells):
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("grade") or meta.get("solution"):
            continue
        if meta["grade_id"] in present:
            if present[meta["grade_id"]].source != cell.source:
                notes.append(f"test cell {meta['grade_id']} was edited: graded with the original")
            continue
        position = 0
        for previous in reversed(handed_out.cells[:index]):
            found = [k for k, c in enumerate(nb.cells) if grade_id(c) == grade_id(previous)]
            if found:
                position = found[0] + 1
                break
        nb.cells.insert(position, copy.deepcopy(cell))
        present[meta["grade_id"]] = cell
        notes.append(
            f"test cell {meta['grade_id']} was missing from the submission: put back from the course and graded"
        )
    return notes


# ------------------------------------------------------------------------------------------------- run
def _nbgrader(args: list[str], course: Path, env: dict, timeout: float, log: Path) -> tuple[int | None, str]:
    """Run ``nbgrader ARGS`` in ``course``; return (exit status or None on timeout, its output)."""
    return run_limited([sys.executable, "-m", "nbgrader", *args], course, env, timeout, log)


def run_limited(command: list[str], cwd: Path, env: dict | None, timeout: float, log: Path) -> tuple[int | None, str]:
    """Run ``command`` with its output in ``log``; after ``timeout`` s stop it and every process it started.

    Returns (exit status, or None when it was stopped; the output).
    """
    import psutil

    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w", encoding="utf-8") as out:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
            # The kernel runs in a session of its own: stop the whole tree, children first.
            try:
                family = psutil.Process(process.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                family = []
            for member in [*family, process]:
                try:
                    member.kill()
                except psutil.NoSuchProcess:
                    pass
            process.wait()
            # A kill is delivered asynchronously: return only once the whole tree is gone.
            psutil.wait_procs(family, timeout=10)
    return code, log.read_text(encoding="utf-8", errors="replace")


def _last_error(log: str) -> str:
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"\w*(Error|Exception)\b", line) or "| ERROR]" in line]
    return (errors[0] if errors else lines[-1] if lines else "no output")[:300]


def _environment(cell_timeout: int) -> dict:
    env = dict(os.environ)
    env.setdefault("DLPHYS_FAST", "1")
    env["DLPHYS_CELL_TIMEOUT"] = str(cell_timeout)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])  # nbgrader runs alembic
    env["PIP_NO_INDEX"] = "1"  # a pip call that slipped through installs nothing from the network
    env.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env


def _notes_from_run(course: Path, result: Result, log: str, cell_timeout: int) -> None:
    """Notes on a graded notebook: cells stopped by the limit, test cells put back, given cells restored."""
    graded = course / "autograded" / result.student / result.exercise / f"{result.exercise}.ipynb"
    if not graded.is_file():
        return
    nb = nbformat.read(graded, as_version=4)
    errors: dict[str, list[str]] = {}
    failed: list[str] = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                continue
            if output.get("ename") in ("CellTimeoutError", "KeyboardInterrupt", "TimeoutError"):
                result.notes.append(
                    f"cell {index} ({meta.get('grade_id', 'no id')}) was stopped after the "
                    f"{cell_timeout} s limit per cell; the cells after it still ran"
                )
            elif meta.get("grade"):
                message = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".strip().rstrip(":")
                failed.append(f"{meta.get('grade_id')} ({message.splitlines()[0][:120]})")
            else:
                errors.setdefault(output.get("ename", "Error"), []).append(str(index))
            break
    for ename, cells in errors.items():
        result.notes.append(f"{ename} in cell{'s' if len(cells) > 1 else ''} {', '.join(cells)}")
    if failed:
        result.notes.append("failed tests: " + "; ".join(failed))
    changed = sorted(set(re.findall(r"Attribute 'checksum' for cell (cell_\S+) has changed", log)))
    if changed:
        result.notes.append(f"given (read-only) cells changed by the student were restored: {', '.join(changed)}")


def _scores(course: Path, results: list[Result]) -> None:
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="dlphys") as gradebook:
        for result in results:
            if result.status != "graded":
                continue
            try:
                notebook = gradebook.find_submission_notebook(result.exercise, result.exercise, result.student)
            except MissingEntry:
                result.status = "failed"
                result.reasons.append("nbgrader recorded no grades for this notebook")
                continue
            for grade in notebook.grades:
                match = GRADE_ID.fullmatch(grade.name)
                task = match["task"] if match else grade.name
                kind = "manual" if (match and match["kind"] == "answer") else "auto"
                points, maximum = result.tasks.setdefault((task, kind), [0.0, 0.0])
                score = None if kind == "manual" and grade.manual_score is None else float(grade.score or 0.0)
                result.tasks[(task, kind)] = [
                    None if points is None or score is None else points + score,
                    maximum + float(grade.max_score),
                ]


def _course_tasks(course: Path, exercise: str) -> dict[tuple[str, str], list[float | None]]:
    """(task, kind) -> [0 or None, max points] from the course source: the rows of an ungraded notebook."""
    nb = nbformat.read(course / "source" / exercise / f"{exercise}.ipynb", as_version=4)
    tasks: dict[tuple[str, str], list[float | None]] = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        match = GRADE_ID.fullmatch(meta.get("grade_id", ""))
        if meta.get("grade") and match:
            kind = "manual" if match["kind"] == "answer" else "auto"
            row = tasks.setdefault((match["task"], kind), [0.0 if kind == "auto" else None, 0.0])
            row[1] += float(meta["points"])
    return tasks


# -------------------------------------------------------------------------------------------- outputs
def _task_key(item):
    (task, kind), _ = item
    match = re.match(r"(\d+)(.*)", task)
    return (0, int(match[1]), match[2], kind) if match else (1, 0, task, kind)


def write_outputs(out: Path, results: list[Result], ignored: list[str], settings: str) -> None:
    with open(out / "grades.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "exercise", "task", "kind", "points", "max_points", "status"])
        for r in sorted(results, key=lambda r: (r.student, r.exercise)):
            for (task, kind), (points, maximum) in sorted(r.tasks.items(), key=_task_key):
                shown = "" if points is None else f"{points:g}"
                writer.writerow([r.student, r.exercise, task, kind, shown, f"{maximum:g}", r.status])
    lines = ["# Grading report", "", settings, ""]
    counts = {s: sum(r.status == s for r in results) for s in ("graded", "rejected", "failed", "missing")}
    lines += [", ".join(f"{n} {s}" for s, n in counts.items()) + f" (of {len(results)} notebooks)", ""]
    for student in sorted({r.student for r in results}):
        lines.append(f"## {student}")
        for r in sorted((r for r in results if r.student == student), key=lambda r: r.exercise):
            auto = [v for (t, k), v in r.tasks.items() if k == "auto"]
            got, total = sum(v[0] or 0 for v in auto), sum(v[1] for v in auto)
            manual = sum(v[1] for (t, k), v in r.tasks.items() if k == "manual")
            head = f"- **{r.exercise}**: {r.status}"
            if r.status == "graded":
                head += f", {got:g} / {total:g} test points" + (f" (+ {manual:g} to grade by hand)" if manual else "")
                head += f", {r.seconds:.0f} s"
            lines.append(head)
            lines += [f"  - reason: {reason}" for reason in r.reasons]
            lines += [f"  - note: {note}" for note in r.notes]
            if r.feedback:
                lines.append(f"  - feedback: {r.feedback.relative_to(out)}")
        lines.append("")
    if ignored:
        lines += ["## Ignored files", ""] + [f"- {item}" for item in ignored] + [""]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")


# ---------------------------------------------------------------------------------------------- grade
def grade(
    submissions: Path,
    out: Path,
    solutions: Path = Path("solutions"),
    notebook_timeout: int = NOTEBOOK_TIMEOUT,
    cell_timeout: int = CELL_TIMEOUT,
    cell_timeouts: dict[str, int] | None = None,
    log=print,
) -> list[Result]:
    """Grade every notebook of ``submissions`` (one folder per student) into ``out``; return the results.

    ``cell_timeout`` is the limit per cell, ``cell_timeouts`` overrides it for single exercises (name -> s).
    """
    cell_timeouts = dict(cell_timeouts or {})
    submissions, out = Path(submissions).resolve(), Path(out).resolve()
    if not submissions.is_dir():
        raise FileNotFoundError(f"no submissions folder {submissions}")
    course = out / "course"
    if course.exists():
        shutil.rmtree(course)
    write_course(Path(solutions), course, cell_timeout)
    exercises = sorted(p.name for p in (course / "source").iterdir())
    results, ignored = collect(submissions, exercises)
    env = _environment(cell_timeout)
    handed_in = sorted({r.exercise for r in results})

    released: dict[str, nbformat.NotebookNode] = {}
    for exercise in handed_in:
        code, text = _nbgrader(
            ["generate_assignment", exercise, "--force"], course, env, 600, course / "logs" / f"generate_{exercise}.log"
        )
        if code != 0:
            raise RuntimeError(f"nbgrader generate_assignment {exercise} failed: {_last_error(text)}")
        released[exercise] = nbformat.read(course / "release" / exercise / f"{exercise}.ipynb", as_version=4)

    # Every student who handed in anything gets a row for every exercise someone handed in.
    students = sorted({r.student for r in results})
    have = {(r.student, r.exercise) for r in results}
    results += [
        Result(s, e, status="missing", reasons=["no notebook for this exercise in the student's folder"])
        for s in students
        for e in handed_in
        if (s, e) not in have
    ]

    for result in sorted(results, key=lambda r: (r.student, r.exercise)):
        if result.status == "missing":
            continue
        reasons = precheck(result.path, released[result.exercise])
        if reasons:
            result.status, result.reasons = "rejected", reasons
            log(f"{result.student} / {result.exercise}: rejected: {reasons[0]}")
            continue
        target = course / "submitted" / result.student / result.exercise / f"{result.exercise}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        submitted = nbformat.read(result.path, as_version=4)
        result.notes += restore_tests(submitted, released[result.exercise])
        nbformat.write(submitted, target)
        start = time.monotonic()
        limit = cell_timeouts.get(result.exercise, cell_timeout)
        env["DLPHYS_CELL_TIMEOUT"] = str(limit)  # read by nbgrader_config.py
        code, text = _nbgrader(
            ["autograde", result.exercise, "--student", result.student, "--force"],
            course,
            env,
            notebook_timeout,
            course / "logs" / f"autograde_{result.student}_{result.exercise}.log",
        )
        result.seconds = time.monotonic() - start
        if code is None:
            result.status = "failed"
            result.reasons.append(
                f"stopped after the per-notebook limit of {notebook_timeout} s (the notebook ran too "
                "long, e.g. an endless loop that ignores interrupts); no points"
            )
        elif code != 0:
            result.status = "failed"
            result.reasons.append(f"nbgrader autograde failed: {_last_error(text)}")
        else:
            _notes_from_run(course, result, text, limit)
        log(f"{result.student} / {result.exercise}: {result.status} in {result.seconds:.0f} s")

    _scores(course, results)
    for result in results:
        if result.status != "graded":
            result.tasks = _course_tasks(course, result.exercise)

    for exercise in handed_in:
        graded = [r for r in results if r.exercise == exercise and r.status == "graded"]
        if not graded:
            continue
        code, text = _nbgrader(
            ["generate_feedback", exercise, "--force"], course, env, 600, course / "logs" / f"feedback_{exercise}.log"
        )
        for result in graded:
            html = course / "feedback" / result.student / exercise / f"{exercise}.html"
            if html.is_file():
                result.feedback = out / "feedback" / result.student / f"{exercise}.html"
                result.feedback.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(html, result.feedback)
            else:
                result.notes.append(f"no feedback file: {_last_error(text) if code else 'nbgrader wrote none'}")

    special = "".join(f", {t} s in {e}" for e, t in sorted(cell_timeouts.items()))
    settings = (
        f"Fast mode: DLPHYS_FAST={env['DLPHYS_FAST']}; limits: {cell_timeout} s per cell{special}, "
        f"{notebook_timeout} s per notebook. Logs: course/logs/."
    )
    write_outputs(out, results, ignored, settings)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dlphys.grading", description=__doc__.split("\n")[0])
    parser.add_argument("submissions", type=Path, help="one folder per student with their notebooks")
    parser.add_argument("out", type=Path, help="where grades.csv, report.md, feedback/ and course/ go")
    parser.add_argument("--solutions", type=Path, default=Path("solutions"), help="solution notebooks")
    parser.add_argument(
        "--timeout", type=int, default=NOTEBOOK_TIMEOUT, help=f"seconds per notebook (default {NOTEBOOK_TIMEOUT})"
    )
    parser.add_argument(
        "--cell-timeout",
        action="append",
        default=[],
        metavar="[EXERCISE=]SECONDS",
        help=f"seconds per cell (default {CELL_TIMEOUT}); EXERCISE=SECONDS for one exercise",
    )
    args = parser.parse_args(argv)
    cell_timeout, cell_timeouts = CELL_TIMEOUT, {}
    for item in args.cell_timeout:
        name, _, seconds = item.rpartition("=")
        if not seconds.isdigit():
            parser.error(f"--cell-timeout {item!r}: expected SECONDS or EXERCISE=SECONDS")
        if name:
            cell_timeouts[name] = int(seconds)
        else:
            cell_timeout = int(seconds)
    if not args.submissions.is_dir():
        print(f"error: {args.submissions} is not a folder of student folders", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    results = grade(args.submissions, args.out, args.solutions, args.timeout, cell_timeout, cell_timeouts)
    counts = {s: sum(r.status == s for r in results) for s in ("graded", "rejected", "failed", "missing")}
    print(f"{args.out}/grades.csv, report.md, feedback/: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
