"""Grading cost per notebook against plain execution of the same notebook (``make bench``).

For a few exercises an honest submission (the solutions typed into ``notebooks/``) is (1) executed plainly with
nbclient in fast mode, as ``jupyter nbconvert --execute`` would, and (2) graded with ``make grade``'s code path:
normalised, run in the bubblewrap sandbox with the collection of results, judged by the trusted checks, feedback
written. The overhead is (grading − plain) / plain per notebook, summed over the exercises.
Target: sandbox and trusted checks add at most 20 %.

Usage: ``python benchmarks/bench_grading.py [EXERCISE ...]`` (default: 03_2, 04_1, 04_3, 07_1, 12_3).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("DLPHYS_FAST", "1")
if not os.environ.get("DLPHYS_MIRROR") and Path("../shared/data").is_dir():
    os.environ["DLPHYS_MIRROR"] = str(Path("../shared/data").resolve())

import nbformat
from _report import report
from nbclient import NotebookClient

from dlphys.course import grading, sandbox
from dlphys.course.notebooks import answered
from dlphys.course.submission import exercise_of

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ["03_2", "04_1", "04_3", "07_1", "12_3"]


def plain_seconds(nb: nbformat.NotebookNode) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": tmp}}).execute()
        return time.perf_counter() - start


def main(argv: list[str]) -> int:
    every = sorted(p.stem for p in (ROOT / "solutions").glob("*.ipynb"))
    names = [exercise_of(e, every) for e in (argv or DEFAULT)]
    total_plain = total_graded = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            nb = answered(nbformat.read(ROOT / "solutions" / f"{name}.ipynb", as_version=4), name)
            plain_seconds(nb)  # warm the data cache and the file system
            plain = plain_seconds(nb)
            folder = Path(tmp, name, "submissions", "student")
            folder.mkdir(parents=True)
            nbformat.write(nb, folder / f"{name}.ipynb")
            start = time.perf_counter()
            results = grading.grade(
                folder.parent, Path(tmp, name, "out"), ROOT / "solutions", sandbox.Limits(), seed=1, log=lambda *a: None
            )
            graded = time.perf_counter() - start
            points = sum(v["points"] for v in results[0].verdicts)
            print(f"{name:40s} plain {plain:6.1f} s   graded {graded:6.1f} s   ({points:g} points)")
            total_plain += plain
            total_graded += graded
    overhead = (total_graded - total_plain) / total_plain
    report("grading overhead over plain execution (sum over notebooks)", 100 * overhead, 20, "%")
    report("grading time per notebook (mean)", total_graded / len(names), None, "s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
