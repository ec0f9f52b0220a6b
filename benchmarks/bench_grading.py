"""Grading: cost per notebook against plain execution, throughput of a class, and the merge (``make bench``).

For a few exercises an honest submission (the solutions typed into ``notebooks/``) is (1) executed plainly with
nbclient in fast mode, as ``jupyter nbconvert --execute`` would, and (2) graded with ``make grade``'s code path:
normalised, run in the bubblewrap sandbox with the collection of results, judged by the trusted checks, feedback
written. The overhead is (grading − plain) / plain per notebook, summed over the exercises.
Target: sandbox and trusted checks add at most 20 %.

Then a class of crafted students (honest, blank, wrong and cheating notebooks in turn) is graded with one and with
two workers (target: speed-up >= 1.7 on two cores) and, where a Slurm is running (``sinfo`` answers; e.g. the one
of ``cluster/slurm/start-local.sh``), as an array job in 4 shards; the measured cost per notebook gives the
projection for 200 students x 26 exercises on one 2-core machine and on 16 such nodes. Last, 200 x 26 synthetic
results in 4 shards are merged (target: <= 10 s).

Usage: ``python benchmarks/bench_grading.py [--exercises 03_2 04_1 ...] [--students 20] [--skip-overhead]``
(defaults: 03_2, 04_1, 04_3, 07_1, 12_3 for the overhead; the class uses the same exercises). The figures in the
README's "Grading a class" come from ``--exercises 03_2 04_1 04_2 04_3 05_3 07_1 --students 20 --skip-overhead``
(120 notebooks, about 60 minutes with the Slurm part).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
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


def overhead(names: list[str]) -> None:
    """Per notebook: the sandboxed run plus the judge (inputs, checks, feedback) against plain execution.

    What a class pays once (reading the course, checking that bubblewrap works) is printed apart: it does not
    grow with the number of notebooks.
    """
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
            wall = time.perf_counter() - start
            graded = results[0].seconds + results[0].judge_seconds
            points = sum(v["points"] for v in results[0].verdicts)
            print(
                f"{name:36s} plain {plain:5.1f} s   graded {graded:5.1f} s (sandbox {results[0].seconds:4.1f} s, judge "
                f"{results[0].judge_seconds:4.1f} s)   once per class {wall - graded:4.1f} s   {points:g} points"
            )
            total_plain += plain
            total_graded += graded
    overhead = 100 * (total_graded - total_plain) / total_plain
    report("grading overhead per notebook over plain execution", overhead, 20, "%")


def make_class(folder: Path, names: list[str], students: int) -> int:
    kinds = ["honest", "blank", "honest", "cheat", "wrong"]
    count = 0
    for i in range(students):
        for name in names:
            solution = nbformat.read(ROOT / "solutions" / f"{name}.ipynb", as_version=4)
            kind = kinds[(i + len(name)) % len(kinds)]
            if kind == "blank":
                nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
            else:
                nb = answered(solution, name)
                if kind == "cheat":
                    nb.cells.insert(
                        3, nbformat.v4.new_code_cell("import numpy as np\nnp.allclose = lambda *a, **k: True")
                    )
                if kind == "wrong":
                    nb.cells.insert(len(nb.cells), nbformat.v4.new_code_cell("model = params = forward = None"))
            path = folder / f"student{i:03d}" / f"{name}.ipynb"
            path.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, path)
            count += 1
    return count


def throughput(names: list[str], students: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        n = make_class(Path(tmp, "class"), names, students)
        seconds = {}
        for jobs in (1, 2):
            start = time.perf_counter()
            grading.grade(
                Path(tmp, "class"), Path(tmp, f"out{jobs}"), ROOT / "solutions", jobs=jobs, seed=1, log=lambda *a: None
            )
            seconds[jobs] = time.perf_counter() - start
            report(
                f"class of {n} notebooks, {jobs} worker(s): notebooks per minute",
                60 * n / seconds[jobs],
                None,
                "nb/min",
            )
        same = Path(tmp, "out1", "grades.csv").read_bytes() == Path(tmp, "out2", "grades.csv").read_bytes()
        print(f"grades.csv identical for 1 and 2 workers: {same}")
        report("speed-up of 2 workers over 1 (2 cores)", seconds[1] / seconds[2], 1.7, "x", better="higher")
        per = seconds[2] / n * 2  # core-seconds per notebook
        report("projection 200 x 26 on one 2-core machine", 200 * 26 * per / 2 / 3600, None, "h")
        report("projection 200 x 26 on 16 such nodes", 200 * 26 * per / 32 / 3600, None, "h")
        if shutil.which("sinfo") and subprocess.run(["sinfo"], capture_output=True).returncode == 0:
            out = Path(tmp, "slurm")
            out.mkdir()
            (out / ".grading-secret").write_text(json.dumps(1))
            start = time.perf_counter()
            merge = subprocess.run(
                ["bash", "cluster/slurm/submit.sh", str(Path(tmp, "class")), str(out), "4"],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
                env=dict(os.environ, DLPHYS_PYTHON=sys.executable),
            ).stdout.split()[-1]
            while subprocess.run(["squeue", "-h", "-j", merge], capture_output=True, text=True).stdout.strip():
                time.sleep(2)
            slurm = time.perf_counter() - start
            report("single-node Slurm, 4 shards: notebooks per minute", 60 * n / slurm, None, "nb/min")
        else:
            print("no Slurm running here (cluster/slurm/start-local.sh starts one): Slurm figure skipped")


def merge_time() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        verdicts = [
            {"task": str(t), "name": f"check{t}", "points": 1.0, "max_points": 2.0, "message": "m"} for t in range(5)
        ]
        for k in range(4):
            results = [
                grading.Result(
                    f"s{i:03d}",
                    f"{e:02d}_1_exercise",
                    verdicts=verdicts,
                    auto_max={str(t): 2.0 for t in range(5)},
                    feedback="<html>feedback</html>",
                )
                for i in range(k, 200, 4)
                for e in range(26)
            ]
            grading.write_outputs(Path(tmp, f"shard{k}"), results, [], ["synthetic"], {}, {}, "v", (k, 4), False)
        start = time.perf_counter()
        merged = grading.merge(Path(tmp, "merged"), [Path(tmp, f"shard{k}") for k in range(4)])
        report(f"merge of 4 shards, {len(merged)} notebooks (200 x 26)", time.perf_counter() - start, 10, "s")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--exercises", nargs="*", default=DEFAULT)
    parser.add_argument("--students", type=int, default=4, help="students of the class (the issue's figure: 20)")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--skip-class", action="store_true")
    args = parser.parse_args(argv)
    every = sorted(p.stem for p in (ROOT / "solutions").glob("*.ipynb"))
    names = [exercise_of(e, every) for e in args.exercises]
    if not args.skip_overhead:
        overhead(names)
    if not args.skip_class:
        throughput(names, args.students)
    merge_time()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
