"""Make the student notebooks from the solutions: ``python -m dlphys.notebooks``.

``solutions/*.ipynb`` is the only copy anyone edits. Solution code sits between
``### BEGIN SOLUTION`` and ``### END SOLUTION`` lines (the nbgrader convention); in a markdown
cell the same markers fence a model answer. The student version replaces every fenced block with
the nbgrader stub (``# YOUR CODE HERE`` + ``raise NotImplementedError()`` in code, indented like
the marker; ``YOUR ANSWER HERE`` in markdown), drops every ``### BEGIN HIDDEN TESTS`` ...
``### END HIDDEN TESTS`` block of a grading cell (markers included), clears outputs and execution counts, keeps only
the ``tags`` of cell metadata, sets the python3 kernelspec, and points Colab links at
``notebooks/`` instead of ``solutions/``.

Usage::

    python -m dlphys.notebooks                      # solutions/ -> notebooks/
    python -m dlphys.notebooks --check              # exit 1 if notebooks/ is out of date
    python -m dlphys.notebooks SRC_DIR DEST_DIR
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
MARKDOWN_STUB = "YOUR ANSWER HERE"
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


class MarkerError(ValueError):
    """Unbalanced or nested solution markers."""


def strip_hidden_tests(source: str, where: str) -> str:
    """Drop every ``BEGIN HIDDEN TESTS``/``END HIDDEN TESTS`` block of ``source``, markers included."""
    if BEGIN_HIDDEN not in source and END_HIDDEN not in source:
        return source
    out: list[str] = []
    inside_since: int | None = None
    for number, line in enumerate(source.splitlines(), start=1):
        marker = line.strip()
        if marker.startswith(BEGIN_HIDDEN):
            if inside_since is not None:
                raise MarkerError(f"{where}, line {number}: nested {BEGIN_HIDDEN!r} (block opened on line {inside_since})")
            inside_since = number
        elif marker.startswith(END_HIDDEN):
            if inside_since is None:
                raise MarkerError(f"{where}, line {number}: {END_HIDDEN!r} without a matching {BEGIN_HIDDEN!r}")
            inside_since = None
        elif inside_since is None:
            out.append(line)
    if inside_since is not None:
        raise MarkerError(f"{where}, line {inside_since}: {BEGIN_HIDDEN!r} is never closed by {END_HIDDEN!r}")
    return "\n".join(out)


def strip_solutions(source: str, cell_type: str, where: str) -> str:
    """Replace every ``BEGIN``/``END`` block of ``source`` by the student stub; drop hidden tests.

    ``where`` names notebook and cell in error messages.
    """
    source = strip_hidden_tests(source, where)
    out: list[str] = []
    inside_since: int | None = None
    for number, line in enumerate(source.splitlines(), start=1):
        marker = line.strip()
        if marker.startswith(BEGIN):
            if inside_since is not None:
                raise MarkerError(f"{where}, line {number}: nested {BEGIN!r} (block opened on line {inside_since})")
            inside_since = number
            indent = line[: len(line) - len(line.lstrip())]
            if cell_type == "code":
                out.extend(indent + stub for stub in CODE_STUB)
            else:
                out.append(MARKDOWN_STUB)
        elif marker.startswith(END):
            if inside_since is None:
                raise MarkerError(f"{where}, line {number}: {END!r} without a matching {BEGIN!r}")
            inside_since = None
        elif inside_since is None:
            out.append(line)
    if inside_since is not None:
        raise MarkerError(f"{where}, line {inside_since}: {BEGIN!r} is never closed by {END!r}")
    return "\n".join(out)


def student_version(nb: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """Return the student copy of solution notebook ``nb`` (``nb`` is left unchanged)."""
    student = nbformat.v4.new_notebook()
    student.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    for index, cell in enumerate(nb.cells):
        where = f"{name}, cell {index} ({cell.cell_type})"
        source = strip_solutions(cell.source, cell.cell_type, where)
        source = source.replace("/blob/main/solutions/", "/blob/main/notebooks/")
        tags = cell.get("metadata", {}).get("tags")
        metadata = {"tags": list(tags)} if tags else {}
        if cell.cell_type == "code":
            new = nbformat.v4.new_code_cell(source, metadata=metadata)
        elif cell.cell_type == "markdown":
            new = nbformat.v4.new_markdown_cell(source, metadata=metadata)
        else:
            new = nbformat.v4.new_raw_cell(source, metadata=metadata)
        new.id = cell.get("id") or f"cell-{index}"
        student.cells.append(new)
    return student


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
    parser = argparse.ArgumentParser(prog="python -m dlphys.notebooks", description="Make student notebooks.")
    parser.add_argument("src", nargs="?", default="solutions", type=Path)
    parser.add_argument("dest", nargs="?", default="notebooks", type=Path)
    parser.add_argument("--check", action="store_true", help="only check that DEST is up to date")
    args = parser.parse_args(argv)
    if args.check:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            fresh = convert_all(args.src, Path(tmp))
            stale = [p.name for p in fresh if not (args.dest / p.name).is_file()
                     or (args.dest / p.name).read_bytes() != p.read_bytes()]
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


if __name__ == "__main__":
    sys.exit(main())
