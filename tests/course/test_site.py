"""The course site: front page from the README, one page per exercise, warnings as errors, no broken links."""

import os
import re
import subprocess
import sys
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest

from dlphys.course import site

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


HUB = "https://hub.example.org"


def test_site_builds_with_warnings_as_errors_and_every_exercise_has_a_colab_page(tmp_path):
    out = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "dlphys.course.site", "--source", str(tmp_path / "src"), "--out", str(out)],
        cwd=site.ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "DLPHYS_HUB": HUB},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    notebooks = sorted(p.stem for p in (site.ROOT / "notebooks").glob("*.ipynb"))
    pages = sorted(p.stem for p in (out / "notebooks").glob("*.html"))
    assert pages == notebooks
    for name in notebooks:
        html = (out / "notebooks" / f"{name}.html").read_text(encoding="utf-8")
        assert f"colab.research.google.com/github/dlphys/dlphys/blob/main/notebooks/{name}.ipynb" in html, name
        # the JupyterHub button: nbgitpuller pulls the repository into the student's home and opens the notebook
        pull = re.search(r'href="(https://hub\.example\.org/hub/user-redirect/git-pull\?[^"]+)"', html)
        assert pull, name
        query = parse_qs(urlsplit(unescape(pull[1])).query)
        assert query["repo"] == ["https://github.com/dlphys/dlphys"] and query["urlpath"][0].endswith(f"{name}.ipynb")
    index = (out / "index.html").read_text(encoding="utf-8")
    assert len(re.findall(r'href="notebooks/[^"]+\.html"', index)) >= len(notebooks)


def test_site_needs_no_internet_formulas_and_badges_come_with_it(tmp_path):
    """A hub without internet: no page loads a script, style sheet or image from another host."""
    out = tmp_path / "site"
    site.stage(tmp_path / "src")
    site.build(tmp_path / "src", out)
    external = []
    for page in out.rglob("*.html"):
        if "_static" in page.relative_to(out).parts:
            continue
        for tag, url in re.findall(r'<(script|img|link)[^>]*?(?:src|href)="(https?:[^"]+)"', page.read_text()):
            if tag != "link" or "stylesheet" in url or url.endswith((".css", ".js")):
                external.append(f"{page.relative_to(out)}: {url}")
    assert external == []
    page = (out / "notebooks" / "04_1_network_by_hand.html").read_text(encoding="utf-8")  # formulas
    loader = re.search(r'src="\.\./(_static/mathjax/[\w-]+\.js)"', page)
    assert loader and (out / loader[1]).is_file()
    assert (out / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()  # and its fonts
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "colab-badge.svg" in index and "colab.research.google.com/assets" not in index + page
