"""Read a folder of submissions safely and turn each notebook into the course's notebook with the student's answers.

:func:`collect` walks ``SUBMISSIONS/<student>/...`` without following links: symlinks, hard-linked files, files
over :data:`MAX_NOTEBOOK_BYTES`, names that are not plain (``..``, control characters) and duplicate student ids
each get a reason. :func:`read_notebook` rejects what is not a Jupyter notebook. :func:`normalise` builds the
notebook the sandbox runs: the course's given cells and visible checks (a student's edit of them is reported and
undone), the student's answer cells matched by cell id or, where tools changed the ids (Colab, JupyterLab, an
nbgrader release), by content and position; cells the student added stay where they were. Every submission form
(``notebooks/``, the nbgrader release, after a round trip through Colab or JupyterLab) gives the same notebook
for the same answers. :func:`lint` and :func:`flags` are notes for the instructor, not a security boundary.
"""

from __future__ import annotations

import io
import json
import os
import re
import stat
import tokenize
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from dlphys.course.notebooks import BEGIN, CODE_STUB, MARKDOWN_STUB

MAX_NOTEBOOK_BYTES = 50 << 20
"""A submitted notebook larger than this is not read (a saved notebook with its plots is a few MB)."""


@dataclass
class Submission:
    """One student's notebook of one exercise."""

    student: str
    exercise: str
    path: Path | None = None
    data: bytes = b""
    notes: list[str] = field(default_factory=list)


def student_id(folder: str) -> str | None:
    """A safe student id from a folder name, or None when the name has nothing usable."""
    name = unicodedata.normalize("NFKC", folder)
    name = re.sub(r"[^A-Za-z0-9_.@-]+", "_", name).strip("._-")
    return name[:100] or None


def exercise_of(stem: str, exercises: list[str]) -> str | None:
    """The exercise a file name belongs to: its full name or its number (``03_2``) in the name."""
    for name in exercises:
        if name in stem:
            return name
    for name in exercises:
        code = re.match(r"\d\d_\d+[a-z]?", name).group(0)
        if re.search(rf"(?<![0-9]){re.escape(code)}(?![0-9])", stem):
            return name
    return None


def _read_regular(path: Path, limit: int) -> bytes:
    """Read a regular file without following a link; raise ValueError with the reason otherwise."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if info.st_nlink > 1:
            raise ValueError("a hard link to another file (hand in a copy of the notebook)")
        if info.st_size > limit:
            raise ValueError(f"{info.st_size / 2**20:.0f} MB, more than the {limit >> 20} MB a notebook may have")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
        if len(data) > limit:
            raise ValueError(f"more than the {limit >> 20} MB a notebook may have")
        return data
    finally:
        os.close(fd)


def collect(submissions: Path, exercises: list[str]) -> tuple[list[Submission], list[str], list[Submission]]:
    """(submissions to grade, ignored entries with reasons, unreadable ones with their reason in ``notes``)."""
    found: list[Submission] = []
    ignored: list[str] = []
    unreadable: list[Submission] = []
    seen: dict[str, str] = {}
    for entry in sorted(os.scandir(submissions), key=lambda e: e.name):
        shown = entry.name.encode("unicode_escape").decode("ascii")[:80]
        if entry.is_symlink():
            ignored.append(f"{shown}: a symbolic link, not a student's folder (not followed)")
            continue
        if not entry.is_dir(follow_symlinks=False):
            ignored.append(f"{shown}: not in a student's folder")
            continue
        student = student_id(entry.name)
        if student is None:
            ignored.append(f"{shown}/: no usable student id in the folder name")
            continue
        if student in seen:
            ignored.append(f"{shown}/: same student id {student!r} as {seen[student]}/ (not graded; rename one)")
            continue
        seen[student] = shown
        per_exercise: dict[str, list[tuple[Path, float]]] = {}
        for root, dirs, files in os.walk(entry.path, followlinks=False):
            dirs[:] = sorted(d for d in dirs if d != ".ipynb_checkpoints")
            for link in [d for d in dirs if os.path.islink(os.path.join(root, d))]:
                ignored.append(f"{student}/{link}: a symbolic link to a folder (not followed)")
                dirs.remove(link)
            for name in sorted(files):
                path = Path(root, name)
                rel = path.relative_to(submissions).as_posix().encode("unicode_escape").decode("ascii")
                if not name.endswith(".ipynb"):
                    continue
                exercise = exercise_of(Path(name).stem, exercises)
                if exercise is None:
                    ignored.append(f"{rel}: not an exercise of this course")
                    continue
                if path.is_symlink():
                    unreadable.append(
                        Submission(student, exercise, path, notes=[f"{rel} is a symbolic link (not followed)"])
                    )
                    continue
                per_exercise.setdefault(exercise, []).append((path, path.lstat().st_mtime))
        for exercise, paths in sorted(per_exercise.items()):
            paths.sort(key=lambda item: (item[1], str(item[0])))
            newest = paths[-1][0]
            sub = Submission(student, exercise, newest)
            for other, _ in paths[:-1]:
                sub.notes.append(
                    f"several files for this exercise: graded the newest, {newest.name}; ignored "
                    f"{other.relative_to(submissions).as_posix()}"
                )
            try:
                sub.data = _read_regular(newest, MAX_NOTEBOOK_BYTES)
            except (ValueError, OSError) as exc:
                sub.notes.insert(0, f"{newest.name}: {exc}")
                unreadable.append(sub)
                continue
            found.append(sub)
    # a symlinked notebook next to a real one of the same exercise: the real one is graded
    graded = {(s.student, s.exercise) for s in found}
    unreadable = [u for u in unreadable if (u.student, u.exercise) not in graded]
    return found, ignored, unreadable


def read_notebook(data: bytes) -> nbformat.NotebookNode:
    """The notebook in ``data``; ValueError with a reason a student understands when it is not one."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not a notebook: the file is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"not a notebook: invalid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "the file was probably damaged or edited outside Jupyter"
        ) from None
    except RecursionError:
        raise ValueError("not a notebook: JSON nested too deeply") from None
    if not isinstance(raw, dict) or "cells" not in raw:
        raise ValueError("not a notebook: no list of cells")
    major = raw.get("nbformat")
    if major != 4:
        raise ValueError(f"not a notebook this course can read: nbformat {major!r} (Jupyter writes 4)")
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # nbformat raises several kinds
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"not a valid Jupyter notebook: {message[:200]}") from None
    return nb


# ------------------------------------------------------------------------------------------------ normalise
def _kind(cell) -> str:
    """given | answer | check (of the course's student version)."""
    first = cell.source.split("\n", 1)[0].strip()
    if cell.cell_type == "code" and first.startswith("# Grading"):
        return "check"
    lines = [line.strip() for line in cell.source.splitlines()]
    if (cell.cell_type == "code" and CODE_STUB[0] in lines) or (
        cell.cell_type == "markdown" and MARKDOWN_STUB in lines
    ):
        return "answer"
    return "given"


def _plain(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


@dataclass
class Normalised:
    notebook: nbformat.NotebookNode
    notes: list[str]
    answers: dict[int, str]  # course cell index -> the student's source of that answer cell


def normalise(submitted: nbformat.NotebookNode, course: nbformat.NotebookNode, solution=None) -> Normalised:
    """The course's notebook ``course`` (the student version) with the student's answers from ``submitted``."""
    kinds = [_kind(cell) for cell in course.cells]
    by_id = {cell.get("id"): i for i, cell in enumerate(course.cells) if cell.get("id")}
    match: dict[int, int] = {}  # submitted index -> course index
    taken: set[int] = set()
    for j, cell in enumerate(submitted.cells):
        i = by_id.get(cell.get("id"))
        if i is not None and i not in taken and course.cells[i].cell_type == cell.cell_type:
            match[j], _ = i, taken.add(i)
    # cells whose id a tool changed: given cells and checks by their text
    by_text: dict[tuple[str, str], list[int]] = {}
    for i, cell in enumerate(course.cells):
        if kinds[i] != "answer" and i not in taken:
            by_text.setdefault((cell.cell_type, _plain(cell.source)), []).append(i)
    for j, cell in enumerate(submitted.cells):
        if j in match:
            continue
        candidates = [i for i in by_text.get((cell.cell_type, _plain(cell.source)), []) if i not in taken]
        if candidates:
            match[j] = candidates[0]
            taken.add(candidates[0])
    # answer cells without their id: the first unmatched cell of the same type between the neighbouring anchors
    order = sorted(match.items())
    for i, kind in enumerate(kinds):
        if kind != "answer" or i in taken:
            continue
        before = max((j for j, ci in order if ci < i), default=-1)
        after = min((j for j, ci in order if ci > i), default=len(submitted.cells))
        for j in range(before + 1, after):
            if j not in match and submitted.cells[j].cell_type == course.cells[i].cell_type:
                match[j] = i
                taken.add(i)
                order = sorted(match.items())
                break

    notes: list[str] = []
    inverse = {i: j for j, i in match.items()}
    added_after: dict[int, list[int]] = {}
    last = -1
    for j in range(len(submitted.cells)):
        if j in match:
            last = match[j]
        else:
            added_after.setdefault(last, []).append(j)
    moved = [j for j, i in sorted(match.items()) if any(i2 < i for j2, i2 in match.items() if j2 > j)]

    out = nbformat.v4.new_notebook()
    out.metadata = {"kernelspec": dict(course.metadata.get("kernelspec", {})), "language_info": {"name": "python"}}
    answers: dict[int, str] = {}

    def add_student_cells(after: int):
        for j in added_after.get(after, []):
            cell = submitted.cells[j]
            if cell.cell_type != "code":
                out.cells.append(nbformat.v4.new_markdown_cell(cell.source))
                continue
            out.cells.append(nbformat.v4.new_code_cell(cell.source))

    add_student_cells(-1)
    for i, cell in enumerate(course.cells):
        j = inverse.get(i)
        label = f"cell {i}"
        if kinds[i] == "answer":
            source = submitted.cells[j].source if j is not None else cell.source
            if j is None:
                notes.append(f"{label}: the answer cell is missing from the submission (graded as unanswered)")
            answers[i] = source
        else:
            source = cell.source
            what = "visible check" if kinds[i] == "check" else "given cell"
            if j is None:
                notes.append(f"{label}: {what} deleted by the student: put back")
            elif _plain(submitted.cells[j].source) != _plain(cell.source):
                notes.append(f"{label}: {what} edited by the student: the course's version was run instead")
        if j is not None:
            meta = submitted.cells[j].get("metadata", {}).get("nbgrader")
            if meta and (meta.get("locked") is False and kinds[i] != "answer"):
                notes.append(f"{label}: its nbgrader metadata was changed (unlocked): ignored")
        new = (nbformat.v4.new_code_cell if cell.cell_type == "code" else nbformat.v4.new_markdown_cell)(source)
        new.id = cell.get("id") or f"cell-{i}"
        if cell.get("metadata", {}).get("tags"):
            new.metadata["tags"] = list(cell.metadata["tags"])
        out.cells.append(new)
        add_student_cells(i)
    added = sum(len(v) for v in added_after.values())
    if added:
        notes.append(f"{added} cell{'s' if added > 1 else ''} added by the student (run where they were)")
    if moved:
        notes.append(f"{len(moved)} cell(s) were moved; the course's order was used")
    return Normalised(out, notes, answers)


# ------------------------------------------------------------------------------------------ lint and flags
LINT = [
    (
        re.compile(r"(^|[\s;!%(\"'])(pip3?|conda|mamba|uv)\s+(install|uninstall)\b|^\s*%(pip|conda)\b|-m\s+pip\b"),
        "installs packages: grading has no network and the packages of the course; the cell fails there",
    ),
    (
        re.compile(r"""["'](/Users/|/home/|[A-Za-z]:\\\\|/content/drive|/mnt/)"""),
        "an absolute path of the student's own machine: the file is not there when the notebook is graded",
    ),
    (re.compile(r"^\s*(from\s+google\.colab|import\s+google\.colab)"), "uses Colab's own module (not there)"),
]

DYNAMIC = "builtins, exec, eval or dynamic imports"

FLAGS = [
    (
        re.compile(r"input_transformers|ast_transformers|\.events\.register|register_magic|set_custom_exc"),
        "changes IPython's machinery (transformers, event hooks, magics, exception handlers)",
    ),
    (
        re.compile(r"\bsys\.(settrace|setprofile|modules\s*\[|meta_path|path_hooks|excepthook)|\bsettrace\b"),
        "changes the interpreter (sys.settrace / modules / import hooks / excepthook)",
    ),
    (
        re.compile(r"\bbuiltins\b|__builtins__|__import__|(?<![.\w])(exec|eval|compile)\s*\("),
        DYNAMIC,
    ),
    (
        re.compile(r"\b(np|numpy)\.\w+\s*=[^=]|\bnp\.testing\.\w+\s*=[^=]|\bkeras\.\w+\s*=[^=]"),
        "replaces a library function (np.allclose = ...)",
    ),
    (
        re.compile(
            r"^\s*!|^\s*%%(bash|sh|script|system|writefile)\b|^\s*%(system|sx|sc)\b|\b\w+\s*=\s*!"
            r"|\bos\.(system|popen|exec\w*|spawn\w*|fork|kill)\b|\bsubprocess\b|\bpty\b|\bctypes\b"
        ),
        "runs shell commands or other processes",
    ),
    (re.compile(r"\bsocket\b|\burllib\b|\brequests\b|\bhttp\.client\b"), "opens network connections"),
    (
        re.compile(r"\.\./|\bos\.(remove|unlink|rmdir|chmod|chown|rename|replace)\b|\bshutil\b|\.ipynb\b|gradebook"),
        "reaches for files outside its own work (other notebooks, parent folders, deletions)",
    ),
    (
        re.compile(r"\bgc\.get_objects\b|\binspect\.(currentframe|stack)\b|\bsys\._getframe\b|\bf_globals\b"),
        "inspects the interpreter's frames or objects",
    ),
]


# Text addressed to whoever (or whatever model) reads a written answer, or hidden from a human reader: flagged, so
# that the answer is read by a person before its points are given.
ADDRESSED = [
    (
        re.compile(
            r"\b(ignore|disregard|forget)\b.{0,40}\b(previous|prior|above|earlier|all|any)\b.{0,20}\b(instructions?|"
            r"prompts?|rules?|rubrics?)\b|\b(system|developer)\s+(prompt|message)\b|\byou\s+are\s+(an?|the)\s+"
            r"(grader|assistant|ai|language\s+model|llm|marker)\b|\b(as|dear)\s+(an?\s+)?(ai|llm|chatgpt|grader|"
            r"language\s+model)\b",
            re.IGNORECASE | re.DOTALL,
        ),
        "addresses the grader or an AI model (prompt injection?): read this answer yourself",
    ),
    (
        re.compile(
            r"\b(give|award|assign|grant)\b.{0,30}\b(full|maximum|max|all(\s+the)?|perfect|top)\s+"
            r"(points|marks|score|credit|grade)\b|\b\d+\s*/\s*\d+\s+(points|marks)\b.{0,30}\b(deserve|earn|award)",
            re.IGNORECASE | re.DOTALL,
        ),
        "asks for points in the answer itself: read this answer yourself",
    ),
    (
        re.compile(
            r"<!--|[\u200b-\u200f\u2060-\u2064\ufeff\u202a-\u202e]|color\s*:\s*(white|#fff\b|#ffffff|transparent)"
            r"|font-size\s*:\s*0|display\s*:\s*none",
            re.IGNORECASE,
        ),
        "text a reader of the rendered notebook does not see (HTML comment, invisible characters or styling)",
    ),
]


def _student_lines(answers: dict[int, str], added: list[str]):
    for index, source in [*answers.items(), *((None, s) for s in added)]:
        for number, line in enumerate(source.splitlines(), start=1):
            if line.strip() and not line.lstrip().startswith("#") and line.strip() not in CODE_STUB:
                yield index, number, line


def _code_lines(source: str) -> dict[int, str]:
    """Each line of ``source`` with its strings and comments blanked (the code a flag may point at).

    A docstring saying "compile (MSE)" is prose, not a call of ``compile``. Where the cell does not tokenize (an
    IPython magic, a syntax error), the lines are returned as they are.
    """
    lines = source.splitlines()
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return dict(enumerate(lines, start=1))
    masked = [list(line) for line in lines]
    for token in tokens:
        if token.type not in (tokenize.STRING, tokenize.COMMENT):
            continue
        (row, col), (end_row, end_col) = token.start, token.end
        for r in range(row, end_row + 1):
            if r - 1 >= len(masked):
                break
            start = col if r == row else 0
            stop = end_col if r == end_row else len(masked[r - 1])
            masked[r - 1][start:stop] = " " * (stop - start)
    return {number: "".join(chars) for number, chars in enumerate(masked, start=1)}


def lint(notebook: nbformat.NotebookNode, course: nbformat.NotebookNode) -> tuple[list[str], list[str]]:
    """(friendly notes on honest mistakes, flags for the instructor) of the student's own code."""
    given = {_plain(cell.source) for cell in course.cells}
    notes, flags = [], []
    for index, cell in enumerate(notebook.cells):
        if _plain(cell.source) in given:
            continue
        for pattern, why in ADDRESSED:
            match = pattern.search(cell.source)
            if match:
                shown = match.group(0)[:80].encode("unicode_escape").decode("ascii")
                flags.append(f"cell {index} ({cell.cell_type}) `{shown}`: {why}")
        if cell.cell_type != "code":
            continue
        code = _code_lines(cell.source)
        for number, line in enumerate(cell.source.splitlines(), start=1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#") or stripped in CODE_STUB:
                continue
            shown = stripped[:80].encode("unicode_escape").decode("ascii")
            for pattern, why in LINT:
                if pattern.search(line):
                    notes.append(f"lint: cell {index}, line {number} `{shown}`: {why}")
                    break
            for pattern, why in FLAGS:
                if pattern.search(code.get(number, line) if why == DYNAMIC else line):
                    flags.append(f"cell {index}, line {number} `{shown}`: {why}")
                    break
    return notes, flags


def has_solution(source: str) -> bool:
    return any(line.strip().startswith(BEGIN) for line in source.splitlines())
