"""Grade the course against itself: ``python -m dlphys.course.trial [EXERCISE ...] --out DIR`` (``make grade-trial``).

For each exercise (a name or number such as ``04_1``; default: all) two students hand in: ``honest``, the
student version of ``notebooks/`` with the solutions typed into its answer cells (what a student who solved
everything hands in), and ``blank``, the untouched student version. Every exercise must give ``honest`` all of its
auto points and ``blank`` none; the exit status is 1 otherwise, and the table says where it failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

from dlphys.course import sandbox as sb
from dlphys.course.grading import CELL_TIMEOUT, NOTEBOOK_TIMEOUT, grade
from dlphys.course.notebooks import answered, student_version
from dlphys.course.submission import exercise_of


def write_class(solutions: Path, exercises: list[str], folder: Path) -> None:
    """``folder/honest/<exercise>.ipynb`` and ``folder/blank/<exercise>.ipynb`` for each exercise."""
    for name in exercises:
        solution = nbformat.read(solutions / f"{name}.ipynb", as_version=4)
        for student, make in (("honest", answered), ("blank", student_version)):
            path = folder / student / f"{name}.ipynb"
            path.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(make(solution, name), path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dlphys.course.trial", description=__doc__.split("\n")[0])
    parser.add_argument("exercises", nargs="*", help="names or numbers (default: every solution)")
    parser.add_argument("--out", type=Path, default=Path("build/grade-trial"))
    parser.add_argument("--solutions", type=Path, default=Path("solutions"))
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=None, help="seed of the grader's inputs (default: a secret)")
    parser.add_argument("--timeout", type=float, default=NOTEBOOK_TIMEOUT)
    parser.add_argument("--keep-work", type=Path, default=None)
    args = parser.parse_args(argv)
    every = sorted(p.stem for p in args.solutions.glob("*.ipynb"))
    chosen = sorted({exercise_of(e, every) or e for e in args.exercises} if args.exercises else set(every))
    unknown = [e for e in chosen if e not in every]
    if unknown:
        parser.error(f"no such exercise: {', '.join(unknown)}")
    write_class(args.solutions, chosen, args.out / "submissions")
    limits = sb.Limits(wall=args.timeout, cell=CELL_TIMEOUT)
    results = grade(
        args.out / "submissions",
        args.out / "grades",
        args.solutions,
        limits,
        args.jobs,
        seed=args.seed,
        keep_work=args.keep_work,
    )
    failed = 0
    print(f"{'exercise':40s} {'honest':>10s} {'blank':>10s}")
    for name in chosen:
        row = {}
        for r in results:
            if r.exercise == name:
                got = sum(v["points"] for v in r.verdicts) if r.status == "graded" else 0.0
                row[r.student] = (got, sum(r.auto_max.values()), r)
        honest, blank = row.get("honest"), row.get("blank")
        ok = honest and blank and honest[0] == honest[1] > 0 and blank[0] == 0
        failed += not ok
        shown = [f"{x[0]:g}/{x[1]:g}" if x else "-" for x in (honest, blank)]
        print(f"{name:40s} {shown[0]:>10s} {shown[1]:>10s}  {'ok' if ok else 'FAILED'}")
        if not ok and honest:
            for v in honest[2].verdicts:
                if v["points"] < v["max_points"]:
                    print(f"    honest, task {v['task']} {v['name']}: {v['message']}")
            for reason in honest[2].reasons:
                print(f"    honest: {reason}")
    print(f"report: {args.out / 'grades' / 'report.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
