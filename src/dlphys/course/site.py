"""Build the course site: ``python -m dlphys.course.site [--solutions DIR] [--out DIR]`` (``make site``).

The site has a front page made from the README (introduction, exercise table, full-mode results) and one page
per exercise: the student version from ``notebooks/``, and, when built with ``--solutions build`` after
``make run``, the executed solution too. Sphinx with myst-nb and sphinx-book-theme renders it (``docs/conf.py``)
without executing anything; warnings are errors. Afterwards every internal link and image of the HTML is
checked: a link to a page or file that the site does not contain fails the build.

Usage::

    python -m dlphys.course.site                          # student versions -> build/site/index.html
    python -m dlphys.course.site --solutions build        # plus the executed solutions of `make run`
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[3]
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
FRONT_SECTIONS = ("Exercises", "Full-mode results")


def _sections(readme: str) -> tuple[str, dict[str, str]]:
    """Split README markdown into its text before the first ``##`` and a dict heading → body."""
    parts = re.split(r"^## (.+)$", readme, flags=re.MULTILINE)
    return parts[0], {parts[i].strip(): parts[i + 1].strip() for i in range(1, len(parts), 2)}


def front_page(readme: str, notebooks: list[str], solutions: list[str], repository: str) -> str:
    """The site's ``index.md``: the README's introduction and tables, plus the hidden tables of contents.

    Links to solutions that the site does not contain point at the repository instead.
    """
    intro, sections = _sections(readme)
    missing = [name for name in FRONT_SECTIONS if name not in sections]
    if missing:
        raise ValueError(f"README.md has no section(s) {missing}; the site's front page is made of them")
    body = [intro.strip()]
    for name in FRONT_SECTIONS:
        body += [f"## {name}", sections[name]]
    text = "\n\n".join(body) + "\n"
    if not solutions:
        text = text.replace("](solutions/", f"]({repository}/blob/main/solutions/")
    for caption, folder, pages in (("Exercises", "notebooks", notebooks), ("Solutions", "solutions", solutions)):
        if pages:
            entries = "\n".join(f"{folder}/{Path(page).stem}" for page in pages)
            text += f"\n```{{toctree}}\n:hidden:\n:caption: {caption}\n\n{entries}\n```\n"
    return text


def stage(dest: Path, solutions_dir: Path | None = None, root: Path = ROOT) -> Path:
    """Write the Sphinx source of the site into ``dest`` (emptied first); return ``dest``."""
    notebooks = sorted((root / "notebooks").glob("*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no student notebooks in {root / 'notebooks'}; run `make notebooks`")
    solutions: list[Path] = []
    if solutions_dir is not None:
        expected = [solutions_dir / p.name for p in notebooks]
        absent = [p.name for p in expected if not p.is_file()]
        if absent:
            raise FileNotFoundError(
                f"{solutions_dir} lacks the executed solutions {absent}; run `make run` (or `DLPHYS_FAST=1 make run`)"
            )
        solutions = expected
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "notebooks").mkdir(parents=True)
    shutil.copy2(root / "docs" / "conf.py", dest / "conf.py")
    shutil.copytree(root / "docs" / "_static", dest / "_static")
    for page in notebooks:
        _copy_offline(page, dest / "notebooks" / page.name)
    if solutions:
        (dest / "solutions").mkdir()
        for page in solutions:
            _copy_offline(page, dest / "solutions" / page.name)
    import importlib.util

    spec = importlib.util.spec_from_file_location("_site_conf", root / "docs" / "conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    readme = (root / "README.md").read_text(encoding="utf-8")
    index = front_page(readme, [p.name for p in notebooks], [p.name for p in solutions], conf.REPOSITORY)
    (dest / "index.md").write_text(index.replace(COLAB_BADGE, "_static/colab-badge.svg"), encoding="utf-8")
    return dest


def _copy_offline(src: Path, dest: Path) -> None:
    """Copy a notebook for the site with the Colab badge taken from the site itself (a hub may have no internet)."""
    dest.write_text(src.read_text(encoding="utf-8").replace(COLAB_BADGE, "../_static/colab-badge.svg"), "utf-8")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.anchors: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("href", "src"):
            if attrs.get(key):
                self.links.append(attrs[key])
        if attrs.get("id"):
            self.anchors.add(attrs["id"])


def check_links(site: Path) -> list[str]:
    """Every internal ``href``/``src`` of the HTML pages in ``site`` that points nowhere, as messages."""
    pages = {}
    for page in site.rglob("*.html"):
        if "_static" in page.relative_to(site).parts:  # theme templates, not pages
            continue
        parser = _Links()
        parser.feed(page.read_text(encoding="utf-8"))
        pages[page.resolve()] = parser
    broken = []
    for page, parser in sorted(pages.items()):
        for link in parser.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "javascript:", "data:")):
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            where = f"{page.relative_to(site.resolve())}: {link}"
            if not target.exists():
                broken.append(f"{where} (no such file)")
            elif parts.fragment and target in pages and unquote(parts.fragment) not in pages[target].anchors:
                broken.append(f"{where} (no anchor #{parts.fragment})")
    return broken


def build(source: Path, out: Path) -> None:
    """Run Sphinx on ``source`` into ``out`` with warnings as errors, then check the internal links."""
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q", "-E", str(source), str(out)]
    result = subprocess.run(command, check=False)
    if result.returncode:
        raise SystemExit(f"the site did not build without warnings (sphinx exit {result.returncode}); see above")
    broken = check_links(out)
    if broken:
        raise SystemExit("broken internal links in the site:\n  " + "\n  ".join(broken))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dlphys.course.site", description=__doc__.splitlines()[0])
    parser.add_argument("--solutions", type=Path, help="folder with executed solutions (build/ after `make run`)")
    parser.add_argument("--out", type=Path, default=Path("build/site"), help="HTML output folder")
    parser.add_argument("--source", type=Path, default=Path("build/site-src"), help="staged Sphinx source")
    args = parser.parse_args(argv)
    try:
        stage(args.source, args.solutions)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    build(args.source, args.out)
    pages = len(list(args.out.glob("notebooks/*.html"))) + len(list(args.out.glob("solutions/*.html")))
    print(f"site: {args.out / 'index.html'} (front page + {pages} exercise pages), all internal links resolve")
    return 0


if __name__ == "__main__":
    sys.exit(main())
