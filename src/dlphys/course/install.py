"""Where the Colab install cell of every solution installs dlphys from.

The address lives here and nowhere else. A course that forks the repository changes ``REPOSITORY`` (and,
once it tags releases, ``RELEASE_TAG``) and runs::

    python -m dlphys.course.install --fix solutions     # rewrite the install cell of every solution
    python -m dlphys.course.install --check solutions   # exit 1 if a solution's install cell differs

then regenerates the student notebooks. The cell installs the package *with* its dependencies; because
``pyproject.toml`` gives ranges, not pins, pip keeps Colab's preinstalled TensorFlow and Keras when they lie
in the range (``make test-min`` checks that in the oldest allowed environment).
"""

from __future__ import annotations

import argparse
import sys
from importlib import metadata
from pathlib import Path

#: The repository the install cell installs from (``pip install "dlphys @ git+<REPOSITORY>[@<RELEASE_TAG>]"``).
REPOSITORY = "https://github.com/dlphys/dlphys"
#: The release tag the install cell pins, e.g. ``"v0.2.0"``; ``None`` until the first release is tagged.
#: It must name the version in ``pyproject.toml`` (a test checks this).
RELEASE_TAG: str | None = None

_GUARD = "google.colab"
_MAGIC = "%pip install"


def requirement(repository: str = REPOSITORY, tag: str | None = RELEASE_TAG) -> str:
    """The pip requirement of the install cell, e.g. ``dlphys @ git+https://github.com/dlphys/dlphys@v0.2.0``."""
    return f"dlphys @ git+{repository}" + (f"@{tag}" if tag else "")


def install_cell_source(repository: str = REPOSITORY, tag: str | None = RELEASE_TAG) -> str:
    """The source of the guarded Colab install cell (cell 1 of every solution)."""
    return (
        "# Set-up: in Colab, install dlphys (this cell does nothing anywhere else).\n"
        "import sys\n"
        "\n"
        f'if "{_GUARD}" in sys.modules:\n'
        f'    {_MAGIC} -q "{requirement(repository, tag)}"'
    )


def version() -> str:
    """The installed package's version (from its metadata, i.e. from ``pyproject.toml``)."""
    return metadata.version("dlphys")


def _is_install_cell(cell) -> bool:
    return cell.get("cell_type") == "code" and _GUARD in cell.source and _MAGIC in cell.source


def find_install_cell(nb):
    """Index of the notebook's install cell (a code cell guarded by ``google.colab`` that runs ``%pip install``)."""
    for i, cell in enumerate(nb.cells):
        if _is_install_cell(cell):
            return i
    return None


def check(paths, expected: str | None = None) -> list[str]:
    """Problems, one line per notebook whose install cell is missing or differs from ``expected``."""
    import nbformat

    expected = install_cell_source() if expected is None else expected
    problems = []
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        i = find_install_cell(nb)
        if i is None:
            problems.append(f"{path}: no install cell (a code cell with {_GUARD!r} and {_MAGIC!r})")
        elif nb.cells[i].source != expected:
            problems.append(f"{path}: install cell {i} differs from dlphys.course.install.install_cell_source()")
    return problems


def fix(paths, expected: str | None = None) -> list[Path]:
    """Rewrite each notebook's install cell to ``expected``; returns the notebooks that changed.

    Only the cell's source changes (cell id, metadata and every other cell stay as they are); a notebook
    without an install cell raises ``ValueError`` before anything is written.
    """
    import nbformat

    expected = install_cell_source() if expected is None else expected
    notebooks = [(Path(path), nbformat.read(path, as_version=4)) for path in paths]
    missing = [str(path) for path, nb in notebooks if find_install_cell(nb) is None]
    if missing:
        raise ValueError(f"no install cell in: {', '.join(missing)}")
    changed = []
    for path, nb in notebooks:
        cell = nb.cells[find_install_cell(nb)]
        if cell.source != expected:
            cell.source = expected
            nbformat.write(nb, path)
            changed.append(path)
    return changed


def _notebooks(targets) -> list[Path]:
    paths = []
    for target in map(Path, targets):
        paths.extend(sorted(target.glob("*.ipynb")) if target.is_dir() else [target])
    return paths


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dlphys.course.install", description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--fix", action="store_true", help="rewrite the install cells from REPOSITORY/RELEASE_TAG")
    mode.add_argument("--check", action="store_true", help="exit 1 if an install cell differs (the default)")
    parser.add_argument("targets", nargs="*", help="notebooks or folders of notebooks (default: print the cell)")
    args = parser.parse_args(argv)
    if not args.targets:
        print(install_cell_source())
        return 0
    paths = _notebooks(args.targets)
    if args.fix:
        for path in fix(paths):
            print(f"rewrote the install cell of {path}")
        return 0
    problems = check(paths)
    for line in problems:
        print(line, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
