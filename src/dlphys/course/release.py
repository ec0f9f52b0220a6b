"""A student release without solutions: ``python -m dlphys.course.release OUT --repository URL`` (``make release``).

For courses that keep the solutions private. ``OUT`` becomes a folder to push as its own repository (or branch):

- ``notebooks/`` — the student versions, their Colab links and install cells pointing at the *release*
  (``--repository``, ``--branch``), never at this repository;
- ``src/dlphys/`` and ``pyproject.toml`` — the package the notebooks import, without ``dlphys.course`` (the
  grader, the trusted checks: the answer key);
- ``README.md`` — for students: how to open each exercise (Colab, and the course's JupyterHub through an
  nbgitpuller link when ``--hub`` is given), the data; no results table, no solutions, no links to either;
- ``CHANGES.md`` — what changed per notebook since the release in ``--previous`` (an updated checkout of the
  previous release), and how an update reaches students without overwriting their work;
- ``LICENSE``, ``requirements.lock``, ``data/README.md``.

A test builds a release and searches every file of it for solution code, hidden checks, the results table and
links to them.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import sys
from pathlib import Path
from urllib.parse import quote, urlsplit

import nbformat

from dlphys.course.install import find_install_cell, install_cell_source
from dlphys.course.notebooks import student_version

ROOT = Path(__file__).resolve().parents[3]
COLAB = "https://colab.research.google.com/github/"


def hub_link(hub: str, repository: str, branch: str, notebook: str) -> str:
    """The nbgitpuller link that clones (or updates) ``repository`` into a hub user's home and opens ``notebook``.

    ``notebook`` is the path inside the repository, e.g. ``notebooks/04_1_network_by_hand.ipynb``.
    """
    folder = urlsplit(repository).path.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
    query = f"repo={quote(repository, safe='')}&branch={quote(branch)}&urlpath={quote(f'lab/tree/{folder}/{notebook}')}"
    return f"{hub.rstrip('/')}/hub/user-redirect/git-pull?{query}"


def colab_link(repository: str, branch: str, notebook: str) -> str | None:
    """Colab's link to a notebook of a GitHub repository (None for other hosts: Colab opens GitHub only)."""
    parts = urlsplit(repository)
    if parts.netloc != "github.com":
        return None
    return f"{COLAB}{parts.path.strip('/').removesuffix('.git')}/blob/{branch}/{notebook}"


BINDER = "https://mybinder.org/v2/gh/"
HUB_COLUMN = "JupyterHub"


def binder_link(repository: str, branch: str, notebook: str) -> str | None:
    """mybinder.org's link (a public BinderHub, i.e. a JupyterHub) that opens ``notebook`` of a GitHub repository."""
    parts = urlsplit(repository)
    if parts.netloc != "github.com":
        return None
    return f"{BINDER}{parts.path.strip('/').removesuffix('.git')}/{quote(branch)}?labpath={quote(notebook, safe='')}"


def readme_hub_column(readme: str, repository: str, branch: str = "main", hub: str | None = None) -> str:
    """``readme`` with the exercise table's JupyterHub column filled in (added after Colab where it is missing).

    With ``hub`` every row links to the nbgitpuller link of that hub (:func:`hub_link`); without, to mybinder.org
    (:func:`binder_link`), which needs no hub of the course's own. Text links, no badge images: the course site
    shows the table offline too.
    """
    lines = readme.splitlines(keepends=True)
    out = []
    for line in lines:
        stripped = line.rstrip("\n")
        cells = stripped.split(" | ")
        match = re.search(r"\]\((notebooks/[\w.-]+\.ipynb)\)", stripped)
        if stripped.startswith("| Chapter | Exercise |"):
            header = [c.strip("| ") for c in cells]
            if HUB_COLUMN not in header:
                stripped += f" {HUB_COLUMN} |"
        elif stripped.startswith("|---|") and out and out[-1].startswith("| Chapter | Exercise |"):
            if stripped.count("|---") < out[-1].count(" | ") + 1:
                stripped += "---|"
        elif stripped.startswith("| ") and match and "colab.research.google.com" in stripped:
            notebook = match.group(1)
            link = hub_link(hub, repository, branch, notebook) if hub else binder_link(repository, branch, notebook)
            text = "open on the hub" if hub else "Binder"
            cell = f"[{text}]({link})" if link else "—"
            colab_end = stripped.index(") |", stripped.index("colab.research.google.com/github")) + 3
            stripped = stripped[:colab_end] + f" {cell} |"
        out.append(stripped + ("\n" if line.endswith("\n") else ""))
    return "".join(out)


def _release_notebook(solution: Path, repository: str, branch: str) -> nbformat.NotebookNode:
    nb = student_version(nbformat.read(solution, as_version=4), solution.name)
    name = f"notebooks/{solution.name}"
    target = colab_link(repository, branch, name)
    for cell in nb.cells:
        if cell.cell_type == "markdown" and COLAB in cell.source:
            pattern = re.compile(r"\[!\[Open in Colab\]\([^)]*\)\]\(" + re.escape(COLAB) + r"[^)]*\)")
            cell.source = pattern.sub(f"[![Open in Colab]({_BADGE})]({target})" if target else "", cell.source)
    index = find_install_cell(nb)
    if index is not None:
        nb.cells[index].source = install_cell_source(repository, branch)
    return nb


_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"


def _notebook_digest(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return hashlib.sha256("\0".join(c.source for c in nb.cells).encode()).hexdigest()


def changes(new: Path, previous: Path | None) -> str:
    """``CHANGES.md``: new, changed and removed notebooks against the previous release."""
    lines = [
        "# Changes in this release",
        "",
        "Your hub pulls updates with nbgitpuller when you open a notebook from a course link: it merges the new",
        "release into your copy and never overwrites a file you changed (a notebook you edited keeps your version;",
        "delete or rename it to get the new one). In Colab, open the link again for the new version.",
        "",
    ]
    names = sorted(p.name for p in (new / "notebooks").glob("*.ipynb"))
    if previous is None or not (previous / "notebooks").is_dir():
        return "\n".join([*lines, "First release: " + ", ".join(f"`{n}`" for n in names) + ".", ""])
    old = sorted(p.name for p in (previous / "notebooks").glob("*.ipynb"))
    changed = [
        n
        for n in names
        if n in old and _notebook_digest(new / "notebooks" / n) != _notebook_digest(previous / "notebooks" / n)
    ]
    for title, items in (
        ("New", [n for n in names if n not in old]),
        ("Changed (open it again, or compare with your copy)", changed),
        ("Removed", [n for n in old if n not in names]),
    ):
        lines += [f"## {title}", ""] + ([f"- `{n}`" for n in items] or ["- none"]) + [""]
    return "\n".join(lines)


def readme(names: list[str], repository: str, branch: str, hub: str | None) -> str:
    rows = []
    for name in names:
        path = f"notebooks/{name}.ipynb"
        exercise = re.match(r"(\d\d)_(\d+)", name)
        number = f"{int(exercise[1])}.{exercise[2]}" if exercise else name
        links = [f"[notebook]({path})"]
        colab = colab_link(repository, branch, path)
        if colab:
            links.append(f"[Colab]({colab})")
        if hub:
            links.append(f"[JupyterHub]({hub_link(hub, repository, branch, path)})")
        rows.append(f"| {number} | `{name}` | " + " · ".join(links) + " |")
    return "\n".join(
        [
            "# dlphys exercises for students",
            "",
            "Exercises for *Deep Learning for Physics Research* (Erdmann, Glombitza, Kasieczka, Klemradt, World",
            "Scientific 2021), one notebook per exercise, named by chapter and number. Open one from the table: in",
            "Colab its first cell installs the `dlphys` package; on the course's JupyterHub the link copies this",
            "repository into your home folder (and later brings updates without overwriting your work, see",
            "`CHANGES.md`).",
            "",
            "| Exercise | Notebook | Open |",
            "|---|---|---|",
            *rows,
            "",
            "Replace each `# YOUR CODE HERE` / `raise NotImplementedError()` with your code and each",
            "`YOUR ANSWER HERE` with your answer in words. The `# Grading:` cells check your results while you",
            "work; when you hand in, the grader runs your notebook again and checks the same results on fresh data.",
            "",
            "## Data",
            "",
            "Physics data are simulated by `dlphys.datasets` the first time a notebook needs them and cached (set",
            "`DLPHYS_DATA_DIR` to choose where). Real data (wine, MNIST, Fashion-MNIST, CIFAR-10) are downloaded",
            "once and checked; on a hub without internet your instructor sets `DLPHYS_MIRROR` to a folder that has",
            "them.",
            "",
        ]
    )


def build(
    out: Path,
    repository: str,
    branch: str = "main",
    hub: str | None = None,
    previous: Path | None = None,
    root: Path = ROOT,
) -> Path:
    """Write the release into ``out`` (emptied first; ``previous`` may not lie inside it)."""
    out = Path(out)
    if previous is not None and out.resolve() == Path(previous).resolve():
        raise ValueError("--previous must be another folder than OUT")
    if out.exists():
        shutil.rmtree(out)
    (out / "notebooks").mkdir(parents=True)
    solutions = sorted((root / "solutions").glob("*.ipynb"))
    for solution in solutions:
        nbformat.write(_release_notebook(solution, repository, branch), out / "notebooks" / solution.name)
    shutil.copytree(
        root / "src" / "dlphys",
        out / "src" / "dlphys",
        ignore=shutil.ignore_patterns("course", "__pycache__", "*.pyc"),
    )
    project = (root / "pyproject.toml").read_text(encoding="utf-8")
    project = re.sub(r"\n\[project\.scripts\]\n(?:[^\n\[]+\n)*", "\n", project)
    (out / "pyproject.toml").write_text(project, encoding="utf-8")
    for name in ("LICENSE", "requirements.lock"):
        shutil.copy2(root / name, out / name)
    (out / "data").mkdir()
    shutil.copy2(root / "data" / "README.md", out / "data" / "README.md")
    (out / "README.md").write_text(readme([s.stem for s in solutions], repository, branch, hub), encoding="utf-8")
    (out / "CHANGES.md").write_text(changes(out, previous), encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["readme"]:  # make readme [HUB=...]: the README's JupyterHub column
        parser = argparse.ArgumentParser(prog="python -m dlphys.course.release readme")
        parser.add_argument("readme", type=Path)
        parser.add_argument("--repository", default="https://github.com/dlphys/dlphys")
        parser.add_argument("--branch", default="main")
        parser.add_argument("--hub", help="the course's JupyterHub (default: links to mybinder.org)")
        args = parser.parse_args(argv[1:])
        text = args.readme.read_text(encoding="utf-8")
        args.readme.write_text(readme_hub_column(text, args.repository, args.branch, args.hub), encoding="utf-8")
        print(f"{args.readme}: JupyterHub column for {args.hub or 'mybinder.org'}")
        return 0
    parser = argparse.ArgumentParser(prog="python -m dlphys.course.release", description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="the release folder to write (emptied first)")
    parser.add_argument("--repository", required=True, help="where the release is published (its git URL)")
    parser.add_argument("--branch", default="main", help="the release's branch or tag (default main)")
    parser.add_argument("--hub", help="the course's JupyterHub, e.g. https://hub.example.org (nbgitpuller links)")
    parser.add_argument("--previous", type=Path, help="a checkout of the previous release, for CHANGES.md")
    args = parser.parse_args(argv)
    try:
        build(args.out, args.repository, args.branch, args.hub, args.previous)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"student release in {args.out}/: {len(list((args.out / 'notebooks').glob('*.ipynb')))} notebooks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
