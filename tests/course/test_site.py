"""The course site: front page from the README, one page per exercise, warnings as errors, no broken links."""

import re
import subprocess
import sys

import pytest

from dlphys import site

README = """# Course

Intro text.

## Exercises

| Exercise | Solution |
|---|---|
| 3.2 | [solution](solutions/03_2_a.ipynb) |

## Full-mode results

| 3.2 | r = 0.55 |

## Other

not on the site
"""


def test_front_page_keeps_tables_and_points_absent_solutions_at_the_repository():
    page = site.front_page(README, ["03_2_a.ipynb"], [], "https://example.org/repo")
    assert "Intro text." in page and "r = 0.55" in page and "not on the site" not in page
    assert "(https://example.org/repo/blob/main/solutions/03_2_a.ipynb)" in page
    assert ":caption: Exercises\n\nnotebooks/03_2_a\n" in page and ":caption: Solutions" not in page


def test_front_page_links_solutions_the_site_contains():
    page = site.front_page(README, ["03_2_a.ipynb"], ["03_2_a.ipynb"], "https://example.org/repo")
    assert "(solutions/03_2_a.ipynb)" in page and ":caption: Solutions\n\nsolutions/03_2_a\n" in page


def test_front_page_needs_the_readme_tables():
    with pytest.raises(ValueError, match="Full-mode results"):
        site.front_page(README.replace("## Full-mode results", "## Results"), [], [], "https://example.org")


def test_stage_names_missing_executed_solutions(tmp_path):
    with pytest.raises(FileNotFoundError, match="make run"):
        site.stage(tmp_path / "src", solutions_dir=tmp_path / "nothing-here")


def test_link_check_finds_missing_pages_and_anchors(tmp_path):
    (tmp_path / "a.html").write_text(
        '<h1 id="top">A</h1><a href="b.html#sec">b</a><a href="#top">up</a>'
        '<img src="img/x.png"><a href="https://example.org/y">ext</a>'
    )
    (tmp_path / "b.html").write_text('<h2 id="other">B</h2><a href="a.html">a</a>')
    broken = site.check_links(tmp_path)
    assert broken == ["a.html: b.html#sec (no anchor #sec)", "a.html: img/x.png (no such file)"]
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "x.png").write_bytes(b"")
    (tmp_path / "b.html").write_text('<h2 id="sec">B</h2>')
    assert site.check_links(tmp_path) == []


def test_site_builds_with_warnings_as_errors_and_every_exercise_has_a_colab_page(tmp_path):
    out = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "dlphys.course.site", "--source", str(tmp_path / "src"), "--out", str(out)],
        cwd=site.ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    notebooks = sorted(p.stem for p in (site.ROOT / "notebooks").glob("*.ipynb"))
    pages = sorted(p.stem for p in (out / "notebooks").glob("*.html"))
    assert pages == notebooks
    for name in notebooks:
        html = (out / "notebooks" / f"{name}.html").read_text(encoding="utf-8")
        assert f"colab.research.google.com/github/dlphys/dlphys/blob/main/notebooks/{name}.ipynb" in html, name
    index = (out / "index.html").read_text(encoding="utf-8")
    assert len(re.findall(r'href="notebooks/[^"]+\.html"', index)) >= len(notebooks)
