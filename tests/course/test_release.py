"""`make release`: the student release holds no solution, no check, no result and no link to them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import nbformat
import pytest

from dlphys.course import release
from dlphys.course.notebooks import BEGIN, END, student_version

ROOT = Path(__file__).resolve().parents[2]
REPO, HUB = "https://github.com/physics-course/dlphys-student", "https://hub.example.org"


def _public_lines() -> set[str]:
    """Lines students see anyway: the student versions and the library outside ``dlphys.course``."""
    public = set()
    for path in (ROOT / "solutions").glob("*.ipynb"):
        for cell in student_version(nbformat.read(path, as_version=4), path.name).cells:
            public |= {line.strip() for line in cell.source.splitlines()}
    for path in (ROOT / "src" / "dlphys").rglob("*.py"):
        if "course" not in path.relative_to(ROOT / "src" / "dlphys").parts:
            public |= {line.strip() for line in path.read_text().splitlines()}
    return public


def _solution_lines() -> set[str]:
    """Lines of the solution blocks that students do not see anyway."""
    found = set()
    for path in (ROOT / "solutions").glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            inside = False
            for line in cell.source.splitlines():
                if line.strip().startswith(BEGIN):
                    inside = True
                elif line.strip().startswith(END):
                    inside = False
                elif inside and len(line.strip()) >= 30:
                    found.add(line.strip())
    return found - _public_lines()


def _check_lines() -> set[str]:
    """Code lines of the trusted checks (not imports, comments, strings) that students do not see anyway."""
    found = set()
    for path in (ROOT / "src" / "dlphys" / "course" / "checks").glob("ex*.py"):
        for line in path.read_text().splitlines():
            text = line.strip()
            if len(text) >= 35 and not text.startswith(("from ", "import ", "#", '"', 'f"')):
                found.add(text)
    return found - _public_lines()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("release") / "dlphys-student"
    release.build(out, REPO, "term-2027", HUB)
    return out


def test_release_has_notebooks_and_package_but_no_solutions_or_grader(built):
    assert sorted(p.name for p in (built / "notebooks").glob("*.ipynb")) == sorted(
        p.name for p in (ROOT / "solutions").glob("*.ipynb")
    )
    assert (built / "src" / "dlphys" / "datasets").is_dir() and not (built / "src" / "dlphys" / "course").exists()
    assert not (built / "solutions").exists()
    assert "dlphys.course" not in (built / "pyproject.toml").read_text()


def test_no_solution_check_or_result_text_appears_anywhere_in_the_release(built):
    text = {p: p.read_text(encoding="utf-8", errors="replace") for p in built.rglob("*") if p.is_file()}
    everything = "\n".join(text.values())
    solution = _solution_lines()
    check = _check_lines()
    assert len(solution) > 100 and len(check) > 100  # the search has something to find
    lines = set()
    for path, content in text.items():
        cells = nbformat.reads(content, as_version=4).cells if path.suffix == ".ipynb" else [None]
        for cell in cells:
            lines |= {line.strip() for line in (cell.source if cell is not None else content).splitlines()}
    leaks = sorted((solution | check) & lines)
    assert leaks == []
    results = (ROOT / "README.md").read_text().split("## Full-mode results", 1)[1].split("\n## ", 1)[0]
    rows = [r.split("|")[-2].strip() for r in results.splitlines() if r.startswith("| ") and "---" not in r]
    assert rows and [r for r in rows[1:] if r in everything] == []
    assert "Full-mode results" not in everything and "/solutions/" not in everything
    assert "BEGIN SOLUTION" not in everything and "HIDDEN TESTS" not in everything


def test_links_and_install_cells_point_at_the_release(built):
    nb = nbformat.read(built / "notebooks" / "04_1_network_by_hand.ipynb", as_version=4)
    title, install = nb.cells[0].source, nb.cells[1].source
    assert f"{release.COLAB}physics-course/dlphys-student/blob/term-2027/notebooks/04_1_network_by_hand.ipynb" in title
    assert f'"dlphys @ git+{REPO}@term-2027"' in install and "github.com/dlphys/dlphys" not in json.dumps(nb)
    readme = (built / "README.md").read_text()
    links = re.findall(r"\((https://hub\.example\.org/hub/user-redirect/git-pull\?[^)]+)\)", readme)
    assert len(links) == len(list((built / "notebooks").glob("*.ipynb")))
    query = parse_qs(urlsplit(links[0]).query)
    assert query["repo"] == [REPO] and query["branch"] == ["term-2027"]
    assert query["urlpath"][0].startswith("lab/tree/dlphys-student/notebooks/")


def test_changes_name_the_changed_notebooks(built, tmp_path):
    later = tmp_path / "later"
    release.build(later, REPO, "term-2027", HUB, previous=built)
    assert "## Changed" in (later / "CHANGES.md").read_text() and "- none" in (later / "CHANGES.md").read_text()
    nb = nbformat.read(built / "notebooks" / "04_1_network_by_hand.ipynb", as_version=4)
    nb.cells[0].source += "\nan erratum"
    nbformat.write(nb, built / "notebooks" / "04_1_network_by_hand.ipynb")
    release.build(tmp_path / "again", REPO, "term-2027", HUB, previous=built)
    assert "- `04_1_network_by_hand.ipynb`" in (tmp_path / "again" / "CHANGES.md").read_text()


def test_hub_link_is_an_nbgitpuller_link():
    link = release.hub_link(
        "https://hub.uni.example/", "https://git.uni.example/course/ex.git", "main", "notebooks/a b.ipynb"
    )
    parts = urlsplit(link)
    assert parts.netloc == "hub.uni.example" and parts.path == "/hub/user-redirect/git-pull"
    assert parse_qs(parts.query) == {
        "repo": ["https://git.uni.example/course/ex.git"],
        "branch": ["main"],
        "urlpath": ["lab/tree/ex/notebooks/a b.ipynb"],
    }


def test_readme_hub_column_links_every_exercise_to_the_hub_or_to_binder():
    from dlphys.course.release import readme_hub_column

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith("| ") and "](notebooks/" in line]
    hub = readme_hub_column(readme, "https://github.com/dlphys/dlphys", "main", "https://hub.uni.example")
    hub_rows = [line for line in hub.splitlines() if line.startswith("| ") and "](notebooks/" in line]
    assert len(hub_rows) == len(rows) == len(list((ROOT / "notebooks").glob("*.ipynb")))
    for line in hub_rows:
        notebook = line.split("](notebooks/", 1)[1].split(")", 1)[0]
        assert line.endswith(f"urlpath=lab/tree/dlphys/notebooks/{notebook}) |"), line
        assert line.count("https://hub.uni.example/hub/user-redirect/git-pull?") == 1
    header = next(line for line in hub.splitlines() if line.startswith("| Chapter |"))
    rule = hub.splitlines()[hub.splitlines().index(header) + 1]
    assert header.count(" | ") + 1 == rule.count("---")  # one rule cell per column
    back = readme_hub_column(hub, "https://github.com/dlphys/dlphys")
    assert back == readme_hub_column(readme, "https://github.com/dlphys/dlphys") == readme  # idempotent, in sync
