"""Grade a class: ``python -m dlphys.course.grading SUBMISSIONS OUT`` (``make grade SUBMISSIONS=DIR GRADES=OUT``).

``SUBMISSIONS`` holds one folder per student, as an LMS export gives them (``SUBMISSIONS/<student>/``, any depth;
a file belongs to exercise ``03_2_wine_linear_regression`` when its name contains the exercise's name or its
number ``03_2``). Any form a student hands in is graded the same: the download of ``notebooks/`` (Colab, LMS,
``make dist``), the nbgrader release, a round trip through Colab or JupyterLab.

Two phases, and student code is only ever in the first:

1. **Run** (:mod:`dlphys.course.sandbox`): each notebook, rebuilt from the course's cells and the student's answers
   (:func:`dlphys.course.submission.normalise`), runs in a sandbox that sees only its scratch copy: no network, a
   read-only system, no course directory, solutions, checks, gradebook, other submissions or outputs; limits on
   memory, CPU time, processes and wall time; every process ends with it. After the last cell the sandbox
   evaluates the exercise's declared results (names, and the student's functions and models on the grader's fresh
   inputs) and returns them as arrays, never as pickled objects.
2. **Judge** (:mod:`dlphys.course.checks`): this process, which never runs student code, compares what came
   back with its own computations: the trusted checks of ``dlphys/course/checks/exNN_M.py``. A model an exercise
   declares comes back saved, and is audited and run on the judge's own inputs in a second sandbox that holds no
   student code (:mod:`dlphys.course.models`).

Results are written once, after every sandbox is gone, atomically: ``OUT/grades.csv`` (student, exercise, task,
kind, points, max_points, status), ``OUT/report.md`` (what happened and why, flags for the instructor, the SHA-256
of ``grades.csv``), ``OUT/feedback/<student>/<exercise>.html`` (the checks' verdicts and the executed notebook,
its HTML sanitised). Markdown answers get ``kind=manual`` rows, graded by hand (``make course`` writes the
nbgrader course for the formgrader). Exit status 0 when grading ran, 2 on unusable arguments or no sandbox.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import csv
import functools
import hashlib
import html
import io
import json
import multiprocessing
import os
import re
import secrets
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np

from dlphys.course import checks as checks_api
from dlphys.course import models as models_api
from dlphys.course import sandbox as sb
from dlphys.course import submission as subm
from dlphys.course.notebooks import CELL_TIMEOUT, GRADE_ID_MANUAL, WALL_TIMEOUT, course_source, student_version

NOTEBOOK_TIMEOUT = WALL_TIMEOUT
"""Default seconds one student's notebook may take in the sandbox (kernel start, every cell, the collection)."""
STATUSES = ("graded", "rejected", "failed", "missing")
HERE = Path(__file__).resolve().parent


# ---------------------------------------------------------------------------------------------------- course
@dataclass
class ExerciseCourse:
    """What the grader knows of one exercise (all from the course's own files)."""

    name: str
    notebook: nbformat.NotebookNode  # the student version (what notebooks/ holds)
    manual: dict[str, float]  # task -> points of the markdown answers, graded by hand
    checks: checks_api.Exercise | None
    params: dict
    problem: str = ""  # why it cannot be auto-graded


def _parameters(solution: nbformat.NotebookNode, fast: bool) -> dict:
    """The values of the solution's ``parameters`` cell, run here (course code) in the grading mode."""
    for cell in solution.cells:
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            saved = os.environ.get("DLPHYS_FAST")
            os.environ["DLPHYS_FAST"] = "1" if fast else "0"
            try:
                namespace: dict = {}
                exec(compile(cell.source, "<parameters>", "exec"), namespace)
            finally:
                if saved is None:
                    os.environ.pop("DLPHYS_FAST", None)
                else:
                    os.environ["DLPHYS_FAST"] = saved
            return {k: v for k, v in namespace.items() if k.isupper() or k in ("FAST",)}
    return {}


def load_course(solutions: Path, fast: bool = True) -> dict[str, ExerciseCourse]:
    course = {}
    for path in sorted(Path(solutions).glob("*.ipynb")):
        solution = nbformat.read(path, as_version=4)
        manual: dict[str, float] = {}
        for cell in course_source(solution, path.name).cells:
            meta = cell.metadata["nbgrader"]
            match = GRADE_ID_MANUAL.fullmatch(meta["grade_id"])
            if match:
                manual[match["task"]] = manual.get(match["task"], 0.0) + float(meta["points"])
        try:
            exercise, problem = checks_api.load(path.stem), ""
        except LookupError as exc:
            exercise, problem = None, str(exc)
        course[path.stem] = ExerciseCourse(
            path.stem, student_version(solution, path.name), manual, exercise, _parameters(solution, fast), problem
        )
    if not course:
        raise FileNotFoundError(f"no solution notebooks in {solutions}")
    return course


# ------------------------------------------------------------------------------------------------- records
@dataclass
class Result:
    """What happened to one student's notebook of one exercise."""

    student: str
    exercise: str
    status: str = "graded"
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    verdicts: list[dict] = field(default_factory=list)  # CheckResult as dicts
    manual: dict[str, float] = field(default_factory=dict)
    auto_max: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0  # the sandboxed run: kernel start, every cell, the collection of results
    judge_seconds: float = 0.0  # preparing the inputs, judging, the feedback page
    limits_hit: list[str] = field(default_factory=list)
    feedback: str = ""

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        """(task, kind, points, max_points, status) rows of grades.csv."""
        auto: dict[str, list[float]] = {task: [0.0, m] for task, m in self.auto_max.items()}
        for v in self.verdicts:
            auto.setdefault(v["task"], [0.0, 0.0])
            auto[v["task"]][0] += v["points"] if self.status == "graded" else 0.0
        rows = [(t, "auto", f"{p:g}", f"{m:g}", self.status) for t, (p, m) in auto.items()]
        rows += [(t, "manual", "", f"{m:g}", self.status) for t, m in self.manual.items()]
        return sorted(rows, key=_task_key)


def _task_key(row):
    task, kind = row[0], row[1]
    match = re.match(r"(\d+)(.*)", task)
    return (0, int(match[1]), match[2], kind) if match else (1, 0, task, kind)


# --------------------------------------------------------------------------------------------- one notebook
@dataclass
class Job:
    student: str
    exercise: str
    notebook: str  # the normalised notebook (JSON)
    notes: list[str]
    flags: list[str]
    work: str  # private folder of this job (outside every sandbox)
    limits: sb.Limits
    sandbox: str  # "bwrap" | "container:<image>" | "unsafe"
    data_dirs: list[str]
    env: dict
    seed: int
    params: dict
    keep: bool = False  # keep the job's folder (grader inputs, scratch, log) for debugging


_PREPARED: dict[tuple[str, int], tuple[dict, dict]] = {}


def _make_sandbox(kind: str, data_dirs: list[str]) -> sb.Sandbox:
    if kind == "unsafe":
        return sb.UnsafeSandbox()
    if kind.startswith("container:"):
        return sb.ContainerSandbox(kind.split(":", 1)[1])
    return sb.BwrapSandbox([Path(d) for d in data_dirs])


def run_job(job: Job) -> Result:
    """Sandbox one notebook, then judge what came back (runs in a worker process of the grader, never in the box)."""
    started = time.monotonic()
    result = Result(job.student, job.exercise, notes=list(job.notes), flags=list(job.flags))
    exercise = checks_api.load(job.exercise)
    result.auto_max = exercise.max_points
    work = Path(job.work)
    grader, scratch = work / "grader", work / "scratch"
    grader.mkdir(parents=True, exist_ok=True)
    ctx = checks_api.Context(job.exercise, job.seed, job.params, job.env.get("DLPHYS_FAST", "1") == "1")
    key = (job.exercise, job.seed)
    if key not in _PREPARED:  # the same fresh inputs for every student: made once per worker
        exercise.prepare(ctx)
        _PREPARED.clear()
        _PREPARED[key] = (ctx.sent, ctx.kept)
    ctx.sent, ctx.kept = _PREPARED[key]
    flat: dict[str, np.ndarray] = {}

    def flatten(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                flatten(f"{prefix}{key}/", item)
        else:
            flat[prefix.rstrip("/")] = np.asarray(value)

    flatten("", ctx.sent)
    # the inputs and the spec go to the runner by descriptor, never into /grader, where the notebook could read them
    private = work / "private"
    private.mkdir(exist_ok=True)
    os.chmod(private, 0o700)
    np.savez(private / "inputs.npz", **flat)
    spec = {"cell_timeout": job.limits.cell, "collect": exercise.collect, "collect_timeout": job.limits.cell}
    (private / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    channels = sb.Channels(
        read={"spec": private / "spec.json", "inputs": private / "inputs.npz"},
        write={
            "status": private / "status.json",
            "notebook": private / "executed.ipynb",
            "results": private / "results" / "results.json",
            "arrays": private / "results" / "results.npz",
        },
    )
    (grader / "notebook.ipynb").write_text(job.notebook, encoding="utf-8")
    shutil.copyfile(HERE / "_runner.py", grader / "run.py")
    shutil.copyfile(HERE / "_harvest.py", grader / "harvest.py")
    for path in [work, grader, *grader.iterdir()]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)

    box = _make_sandbox(job.sandbox, job.data_dirs)
    outcome = box.run("run.py", grader, scratch, job.limits, dict(job.env), channels)
    result.seconds, result.limits_hit = outcome.seconds, outcome.limits_hit
    status = _read_json(channels.write["status"])
    for hit in outcome.limits_hit:
        result.notes.append(f"limit hit: {_LIMIT_TEXT.get(hit, hit).format(limits=job.limits)}")
    if isinstance(status, dict):
        cells = status.get("of", 0)
        for index in status.get("timeouts", []):
            if isinstance(index, int) and 0 <= index < cells:
                result.notes.append(f"cell {index} was stopped after the {job.limits.cell:g} s limit per cell")
        errors: dict[str, list[str]] = {}
        for item in status.get("errors", []):
            if isinstance(item, list) and len(item) == 3 and isinstance(item[0], int) and 0 <= item[0] < cells:
                errors.setdefault(str(item[1])[:60], []).append(str(item[0]))
        for name, where in errors.items():
            result.notes.append(f"{name} in cell{'s' if len(where) > 1 else ''} {', '.join(where)}")
        stuck = status.get("stuck")
        if isinstance(stuck, int) and 0 <= stuck < cells:
            result.notes.append(
                f"cell {stuck} went on after the interrupt at the {job.limits.cell:g} s limit per cell; the kernel "
                "was stopped and the cells after it did not run"
            )
        elif status.get("dead"):
            result.notes.append("the kernel died (memory limit, a crash, or os._exit); the cells after it did not run")
        probe = status.get("probe", [])
        if isinstance(probe, list) and len(probe) == 2 and all(isinstance(p, dict) for p in probe):
            changed = [k for k in probe[0] if probe[1].get(k) != probe[0].get(k)]
            if changed:
                result.flags.append("the notebook changed IPython's or Python's machinery: " + ", ".join(changed))
    elif outcome.returncode is None or outcome.limits_hit:
        result.notes.append("the notebook stopped before its first cell had finished")
    returned = private / "results"
    if outcome.returncode not in (0, None) and not outcome.limits_hit and not _has_results(returned):
        tail = [line for line in outcome.log.splitlines() if line.strip()][-3:]
        result.notes.append("the sandboxed run ended with an error: " + " | ".join(t[:200] for t in tail))
    try:
        results = checks_api.Results(returned)
        reason = ""
    except checks_api.ResultMissing as exc:
        results, reason = None, str(exc)
    if results is not None and exercise.models:
        # the saved models, run on the judge's inputs in a second sandbox without the student's code
        try:
            archives, model_inputs = exercise.inputs_for_models(results, ctx)
            if archives:
                entries, seconds = models_api.evaluate(
                    archives,
                    model_inputs,
                    work / "models",
                    box,
                    job.limits,
                    job.env,
                    exercise.stand_ins,
                    exercise.run_layers,
                )
                results.models.update(entries)
                result.seconds += seconds
        except Exception as exc:  # one student's saved models never stop the class's grading
            why = f"the grader could not run the saved models ({type(exc).__name__}: {str(exc)[:200]})"
            results.models.update({name: {"error": why} for name in exercise.models if name not in results.models})
    result.verdicts = [v.__dict__ for v in exercise.judge(results, ctx, reason)]
    if results is None:
        result.status = "failed"
        result.reasons.append(reason + (f" ({', '.join(outcome.limits_hit)} limit)" if outcome.limits_hit else ""))
    result.feedback = _feedback_html(result, channels.write["notebook"])
    result.judge_seconds = time.monotonic() - started - result.seconds
    if not job.keep:
        shutil.rmtree(work, ignore_errors=True)
    return result


_LIMIT_TEXT = {
    "wall time": "stopped after the limit of {limits.wall:g} s for the whole notebook",
    "memory": "the memory limit ({limits.memory:,} bytes) was reached",
    "processes": "the limit of {limits.processes} processes/threads was reached",
    "disk": "it wrote more than {limits.disk:,} bytes or {limits.files:,} files (the disk limit)",
    "cpu time": "the CPU-time limit was reached",
}


def _has_results(folder: Path) -> bool:
    path = folder / "results.json"
    return path.is_file() and path.stat().st_size > 0


def _read_json(path: Path):
    try:
        if path.is_file() and path.stat().st_size < (8 << 20):
            return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    return None


@functools.cache
def _html_exporter():
    """nbconvert's HTML exporter, made once per process (its templates load slowly); :func:`_sanitise` cleans."""
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="basic")


_SAFE_TAGS = frozenset(
    "a abbr b blockquote br code del div em h1 h2 h3 h4 h5 h6 hr i img li ol p pre s span strong sub sup table "
    "tbody td th thead tr ul".split()
)


def _safe_attribute(tag: str, name: str, value: str) -> bool:
    if name in ("class", "id", "alt", "title", "colspan", "rowspan"):
        return True
    if tag == "a" and name == "href":
        return value.startswith(("#", "https://", "http://"))
    return tag == "img" and name == "src" and value.startswith(("data:image/png;", "data:image/jpeg;"))


def _sanitise(body: str) -> str:
    """Keep the notebook's structure (headings, paragraphs, tables, code, plots), drop every script and style.

    nbconvert's own ``sanitize_html`` keeps only bleach's inline tags, which showed headings, paragraphs and plots
    as escaped text; this keeps a fixed allow-list of tags, no event handlers, links to the web or the page only,
    and images only as embedded PNG/JPEG.
    """
    import bleach

    return bleach.clean(body, tags=_SAFE_TAGS, attributes=_safe_attribute, protocols=["http", "https", "data"])


def _feedback_html(result: Result, executed: Path) -> str:
    """The checks' verdicts and the executed notebook, as one self-contained HTML page (sanitised)."""
    rows = "".join(
        f"<tr><td>{html.escape(v['task'])}</td><td>{v['points']:g} / {v['max_points']:g}</td>"
        f"<td>{'passed' if v['points'] == v['max_points'] else html.escape(v['message'])}</td></tr>"
        for v in result.verdicts
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in result.reasons + result.notes)
    body = ""
    try:
        if executed.is_file() and executed.stat().st_size < (64 << 20):
            nb = nbformat.reads(executed.read_text(encoding="utf-8"), as_version=4)
            body = _sanitise(_html_exporter().from_notebook_node(nb)[0])
    except Exception as exc:  # an unreadable executed notebook: the verdicts are still the feedback
        body = f"<p>The executed notebook could not be shown ({html.escape(type(exc).__name__)}).</p>"
    got = sum(v["points"] for v in result.verdicts)
    total = sum(v["max_points"] for v in result.verdicts)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(result.exercise)}: {html.escape(result.student)}</title></head><body>"
        f"<h1>{html.escape(result.exercise)}</h1><p>{html.escape(result.student)}: {got:g} / {total:g} points "
        "checked automatically on fresh inputs; written answers are graded by hand.</p>"
        f"<table border='1'><tr><th>task</th><th>points</th><th>check</th></tr>{rows}</table>"
        f"<ul>{notes}</ul><hr>{body}</body></html>"
    )


# --------------------------------------------------------------------------------------------------- outputs
def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def grades_csv(results: list[Result]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", "exercise", "task", "kind", "points", "max_points", "status"])
    for r in sorted(results, key=lambda r: (r.student, r.exercise)):
        for task, kind, points, maximum, status in r.rows():
            writer.writerow([r.student, r.exercise, task, kind, points, maximum, status])
    return buffer.getvalue()


def report_md(results: list[Result], ignored: list[str], settings: list[str], csv_text: str, unsafe: bool) -> str:
    lines = []
    if unsafe:
        lines += [
            "**UNSAFE: graded without a sandbox (--unsafe); the students' code could read and change "
            "everything the grader could, including these grades.**",
            "",
        ]
    lines += ["# Grading report", ""]
    lines += [f"- {s}" for s in settings]
    lines += [f"- grades.csv SHA-256: `{hashlib.sha256(csv_text.encode()).hexdigest()}`", ""]
    counts = {s: sum(r.status == s for r in results) for s in STATUSES}
    lines += [", ".join(f"{n} {s}" for s, n in counts.items()) + f" (of {len(results)} notebooks)", ""]
    flagged = [r for r in results if r.flags or r.limits_hit]
    if flagged:
        lines += [
            "## Flags for the instructor",
            "",
            "Points come only from the trusted checks; these are for you to look at.",
            "",
        ]
        for r in sorted(flagged, key=lambda r: (r.student, r.exercise)):
            items = r.flags + [f"limit hit: {h}" for h in r.limits_hit]
            lines.append(f"- **{r.student} / {r.exercise}**: " + "; ".join(items))
        lines.append("")
    for student in sorted({r.student for r in results}):
        lines.append(f"## {student}")
        for r in sorted((r for r in results if r.student == student), key=lambda r: r.exercise):
            rows = r.rows()
            got = sum(float(p) for _, k, p, _, _ in rows if k == "auto" and p)
            total = sum(float(m) for _, k, _, m, _ in rows if k == "auto")
            manual = sum(float(m) for _, k, _, m, _ in rows if k == "manual")
            head = f"- **{r.exercise}**: {r.status}, {got:g} / {total:g} auto points"
            head += (f" (+ {manual:g} to grade by hand)" if manual else "") + f", {r.seconds:.0f} s"
            lines.append(head)
            lines += [f"  - reason: {x}" for x in r.reasons]
            lines += [f"  - note: {x}" for x in r.notes]
            lines += [f"  - flag: {x}" for x in r.flags]
            for v in r.verdicts:
                if v["points"] < v["max_points"] and r.status == "graded":
                    lines.append(f"  - task {v['task']} ({v['name']}): 0 / {v['max_points']:g}: {v['message']}")
            if r.feedback:
                lines.append(f"  - feedback: feedback/{r.student}/{r.exercise}.html")
        lines.append("")
    if ignored:
        lines += ["## Ignored files", ""] + [f"- {item}" for item in ignored] + [""]
    return "\n".join(lines)


def secret_seed(secret: Path, exercise: str, seed: int | None) -> int:
    """The seed of the grader's inputs for ``exercise``: from ``--seed``, or from the secret in the file ``secret``
    (made on first use; graders that share it, e.g. the shards of one class, draw the same inputs)."""
    if seed is None:
        if not secret.is_file():
            _atomic_write(secret, secrets.token_hex(32))
            os.chmod(secret, 0o600)
        key = secret.read_text().strip()
    else:
        key = str(seed)
    return int.from_bytes(hashlib.sha256(f"{key}/{exercise}".encode()).digest()[:8], "little")


# ------------------------------------------------------------------------------------------------ the grader
def course_version(solutions: Path) -> str:
    """A short hash of everything that decides a grade: the solutions, the checks and the grader itself."""
    digest = hashlib.sha256()
    files = sorted(Path(solutions).glob("*.ipynb")) + sorted(HERE.rglob("*.py"))
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def shard_of(student: str, shards: int) -> int:
    """The shard (0 … shards − 1) a student belongs to: a hash of the id, the same on every machine and run."""
    return int.from_bytes(hashlib.sha256(student.encode()).digest()[:8], "little") % shards


def _job_key(job: Job, version: str) -> str:
    fields = [version, job.student, job.exercise, job.notebook, job.notes, job.flags, job.seed, job.env]
    fields += [job.limits.__dict__, job.sandbox]
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def _load_cached(path: Path) -> Result | None:
    try:
        return Result(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def grade(
    submissions: Path,
    out: Path,
    solutions: Path = Path("solutions"),
    limits: sb.Limits | None = None,
    jobs: int = 1,
    sandbox: str = "bwrap",
    seed: int | None = None,
    keep_work: Path | None = None,
    log=print,
    shard: tuple[int, int] | None = None,
    force: bool = False,
    secret: Path | None = None,
) -> list[Result]:
    """Grade every notebook of ``submissions`` (one folder per student) into ``out``; return the results.

    ``shard=(k, n)`` grades only the students of shard ``k`` of ``n`` (:func:`shard_of`); :func:`merge` joins the
    shards' folders. A notebook graded before with the same content, course version, seed and limits is taken
    from ``out/.cache`` instead of being run again, unless ``force``.
    """
    limits = limits or sb.Limits(wall=NOTEBOOK_TIMEOUT, cell=CELL_TIMEOUT)
    submissions, out = Path(submissions).resolve(), Path(out).resolve()
    if not submissions.is_dir():
        raise FileNotFoundError(f"no submissions folder {submissions}")
    out.mkdir(parents=True, exist_ok=True)
    env = {"DLPHYS_FAST": os.environ.get("DLPHYS_FAST", "1"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env["PYTHONWARNINGS"] = "ignore::DeprecationWarning"
    env["KERAS_BACKEND"] = "tensorflow"
    from dlphys import config

    data_dirs = [config.data_dir()] + [Path(p) for p in os.environ.get(config.MIRROR_ENV, "").split(os.pathsep) if p]
    data_dirs = [d.resolve() for d in data_dirs if d.is_dir()]
    env["DLPHYS_DATA_DIR"] = str(data_dirs[0]) if data_dirs else "/scratch/data"
    mirrors = [str(d) for d in data_dirs[1:]]
    if mirrors:
        env[config.MIRROR_ENV] = os.pathsep.join(mirrors)
    if sandbox == "bwrap":
        sb.default_sandbox([Path(d) for d in data_dirs])  # raises SandboxUnavailable where it cannot work
    course = load_course(solutions, env["DLPHYS_FAST"] == "1")
    version = course_version(solutions)
    found, ignored, unreadable = subm.collect(submissions, sorted(course))
    if shard is not None:
        k, n = shard
        found = [f for f in found if shard_of(f.student, n) == k]
        unreadable = [u for u in unreadable if shard_of(u.student, n) == k]
        ignored = [i for i in ignored if shard_of(subm.student_id(i.split("/", 1)[0]) or "", n) == k]
    results: list[Result] = []
    for bad in unreadable:
        results.append(Result(bad.student, bad.exercise, "rejected", reasons=bad.notes[:1], notes=bad.notes[1:]))
    if keep_work is not None:
        Path(keep_work).mkdir(parents=True, exist_ok=True)
    work_root = Path(tempfile.mkdtemp(prefix="dlphys-grading-", dir=keep_work))
    os.chmod(work_root, 0o711)
    pending: list[Job] = []
    for sub in found:
        ex = course[sub.exercise]
        result = Result(sub.student, sub.exercise, notes=list(sub.notes))
        try:
            submitted = subm.read_notebook(sub.data)
        except ValueError as exc:
            result.status, result.reasons = "rejected", [str(exc)]
            results.append(result)
            continue
        if ex.checks is None:
            result.status, result.reasons = "failed", [ex.problem]
            results.append(result)
            continue
        normal = subm.normalise(submitted, ex.notebook)
        lint_notes, flags = subm.lint(normal.notebook, ex.notebook)
        pending.append(
            Job(
                sub.student,
                sub.exercise,
                nbformat.writes(normal.notebook),
                result.notes + normal.notes + lint_notes,
                flags,
                str(work_root / f"{len(pending):05d}"),
                limits,
                sandbox,
                [str(d) for d in data_dirs],
                env,
                secret_seed(secret or out / ".grading-secret", sub.exercise, seed),
                ex.params,
                keep_work is not None,
            )
        )
    cache = out / ".cache"
    cache.mkdir(exist_ok=True)
    done: list[Result] = []
    to_run: list[tuple[Job, Path]] = []
    for job in pending:
        path = cache / f"{_job_key(job, version)}.json"
        cached = None if force else _load_cached(path)
        if cached is not None:
            done.append(cached)
        else:
            to_run.append((job, path))
    log(f"grading {len(to_run)} notebooks ({len(done)} unchanged, from the cache) with {jobs} worker(s) in {sandbox}")

    def finished(job: Job, result: Result, path: Path) -> None:
        done.append(result)
        _atomic_write(path, json.dumps(result.__dict__))
        log(f"{job.student} / {job.exercise}: {result.status} in {result.seconds:.0f} s")

    try:
        if jobs <= 1:
            for job, path in to_run:
                finished(job, run_job(job), path)
        else:
            context = multiprocessing.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context) as pool:
                futures = {pool.submit(run_job, job): (job, path) for job, path in to_run}
                for future in concurrent.futures.as_completed(futures):
                    job, path = futures[future]
                    finished(job, future.result(), path)
    finally:
        if keep_work is None:
            shutil.rmtree(work_root, ignore_errors=True)
    results += done
    manual = {name: ex.manual for name, ex in course.items()}
    auto = {name: (ex.checks.max_points if ex.checks else {}) for name, ex in course.items()}
    box = sb.UnsafeSandbox() if sandbox == "unsafe" else None
    settings = [
        f"sandbox: {box.describe() if box else sandbox}",
        f"limits per notebook: {limits.wall:g} s wall, {limits.cell:g} s per cell, {limits.memory >> 20} MiB memory, "
        f"{limits.processes} processes/threads, {limits.cpu_seconds} s CPU, {limits.disk >> 20} MiB and "
        f"{limits.files:,} files of disk",
        f"mode: DLPHYS_FAST={env['DLPHYS_FAST']}; course version {version}",
    ]
    if shard is not None:
        settings.append(f"shard {shard[0]} of {shard[1]} (0-based), merged with `dlphys.course.grading merge`")
    return write_outputs(out, results, ignored, settings, manual, auto, version, shard, sandbox == "unsafe")


def write_outputs(
    out: Path,
    results: list[Result],
    ignored: list[str],
    settings: list[str],
    manual: dict[str, dict],
    auto: dict[str, dict],
    version: str,
    shard: tuple[int, int] | None,
    unsafe: bool,
) -> list[Result]:
    """Add the missing rows, then write feedback, ``records.json``, ``grades.csv`` and ``report.md`` (atomically)."""
    results = [r for r in results if r.status != "missing"]
    students = sorted({r.student for r in results})
    handed_in = sorted({r.exercise for r in results})
    have = {(r.student, r.exercise) for r in results}
    for s in students:  # every student who handed in anything gets rows for every exercise someone handed in
        for e in handed_in:
            if (s, e) not in have:
                results.append(
                    Result(s, e, "missing", reasons=["no notebook for this exercise in the student's folder"])
                )
    for r in results:
        r.manual = dict(manual.get(r.exercise, {}))
        if not r.auto_max:
            r.auto_max = dict(auto.get(r.exercise, {}))
    results.sort(key=lambda r: (r.student, r.exercise))
    csv_text = grades_csv(results)
    for r in results:
        if r.feedback:
            _atomic_write(out / "feedback" / r.student / f"{r.exercise}.html", r.feedback)
    records = {
        "course_version": version,
        "shard": list(shard) if shard else None,
        "students": students,
        "ignored": ignored,
        "settings": settings,
        "unsafe": unsafe,
        "results": [{k: v for k, v in r.__dict__.items() if k != "feedback"} | {"feedback": ""} for r in results],
    }
    _atomic_write(out / "records.json", json.dumps(records))
    _atomic_write(out / "grades.csv", csv_text)
    _atomic_write(out / "report.md", report_md(results, ignored, settings, csv_text, unsafe))
    return results


def merge(out: Path, shards: list[Path]) -> list[Result]:
    """Join the output folders of ``grade(..., shard=(k, n))`` into ``out``: one grades.csv, report.md, feedback/.

    Refuses shards of different course versions, the same shard twice, or students graded in two shards.
    """
    out = Path(out)
    loaded = []
    for folder in shards:
        try:
            loaded.append((Path(folder), json.loads((Path(folder) / "records.json").read_text(encoding="utf-8"))))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{folder}: not a graded shard (no readable records.json: {exc})") from None
    versions = {records["course_version"] for _, records in loaded}
    if len(versions) > 1:
        raise ValueError(f"shards of different course versions {sorted(versions)}: regrade them with one version")
    owner: dict[str, Path] = {}
    results: list[Result] = []
    ignored: list[str] = []
    manual: dict[str, dict] = {}
    auto: dict[str, dict] = {}
    for folder, records in loaded:
        for student in records["students"]:
            if student in owner:
                raise ValueError(f"student {student!r} is in two shards ({owner[student]} and {folder})")
            owner[student] = folder
        ignored += records["ignored"]
        for item in records["results"]:
            r = Result(**item)
            if r.status == "missing":
                manual.setdefault(r.exercise, r.manual)
                continue
            html_path = folder / "feedback" / r.student / f"{r.exercise}.html"
            if html_path.is_file():
                r.feedback = html_path.read_text(encoding="utf-8")
            manual.setdefault(r.exercise, r.manual)
            auto.setdefault(r.exercise, r.auto_max)
            results.append(r)
    shards_seen = sorted(tuple(records["shard"]) for _, records in loaded if records.get("shard"))
    settings = list(loaded[0][1]["settings"]) if loaded else []
    settings = [x for x in settings if not x.startswith("shard ")]
    settings.append(f"merged from {len(loaded)} shard(s): " + ", ".join(f"{k}/{n}" for k, n in shards_seen))
    out.mkdir(parents=True, exist_ok=True)
    unsafe = any(records.get("unsafe") for _, records in loaded)
    return write_outputs(out, results, sorted(set(ignored)), settings, manual, auto, versions.pop(), None, unsafe)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["merge"]:
        return _main_merge(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m dlphys.course.grading", description=__doc__.split("\n")[0])
    parser.add_argument("submissions", type=Path, help="one folder per student with their notebooks")
    parser.add_argument("out", type=Path, help="where grades.csv, report.md and feedback/ go")
    parser.add_argument("--solutions", type=Path, default=Path("solutions"), help="solution notebooks")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="notebooks graded at once (cores)")
    parser.add_argument("--timeout", type=float, default=NOTEBOOK_TIMEOUT, help="seconds per notebook")
    parser.add_argument("--cell-timeout", type=float, default=CELL_TIMEOUT, help="seconds per cell")
    parser.add_argument("--memory", type=float, default=6.0, help="GiB of memory per notebook (default 6)")
    parser.add_argument("--processes", type=int, default=512, help="processes and threads per notebook")
    parser.add_argument("--disk", type=float, default=4.0, help="GiB a notebook may write (default 4)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the grader's inputs (default: a secret)")
    parser.add_argument("--shard", metavar="K/N", help="grade only shard K (0 … N−1) of N; join them with `merge`")
    parser.add_argument(
        "--secret", type=Path, metavar="FILE", help="file with the secret of the grader's inputs (OUT/.grading-secret)"
    )
    parser.add_argument("--force", action="store_true", help="regrade notebooks whose results are in the cache")
    parser.add_argument("--keep-work", type=Path, metavar="DIR", help="keep each notebook's sandbox folder in DIR")
    parser.add_argument("--container", metavar="IMAGE", help="run each notebook in this image (podman/docker)")
    parser.add_argument(
        "--unsafe", action="store_true", help="grade WITHOUT a sandbox where none can be made (the report says so)"
    )
    args = parser.parse_args(argv)
    if not args.submissions.is_dir():
        print(f"error: {args.submissions} is not a folder of student folders", file=sys.stderr)
        return 2
    shard = None
    if args.shard:
        match = re.fullmatch(r"(\d+)/(\d+)", args.shard)
        if not match or not int(match[1]) < int(match[2]):
            parser.error(f"--shard {args.shard!r}: expected K/N with 0 <= K < N, e.g. 0/4")
        shard = (int(match[1]), int(match[2]))
    limits = sb.Limits(
        wall=args.timeout,
        cell=args.cell_timeout,
        memory=int(args.memory * sb.GiB),
        processes=args.processes,
        disk=int(args.disk * sb.GiB),
    )
    kind = "unsafe" if args.unsafe else (f"container:{args.container}" if args.container else "bwrap")
    try:
        results = grade(
            args.submissions,
            args.out,
            args.solutions,
            limits,
            max(1, args.jobs),
            kind,
            args.seed,
            args.keep_work,
            shard=shard,
            force=args.force,
            secret=args.secret,
        )
    except sb.SandboxUnavailable as exc:
        print(
            f"error: no sandbox for the students' code: {exc}\n"
            "Grading runs untrusted code; install bubblewrap (make grade does), use --container IMAGE, or "
            "pass --unsafe to grade without isolation (the report will say so).",
            file=sys.stderr,
        )
        return 2
    counts = {s: sum(r.status == s for r in results) for s in STATUSES}
    print(f"{args.out}/grades.csv, report.md, feedback/: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    return 0


def _main_merge(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dlphys.course.grading merge", description="Join graded shards into one grades.csv."
    )
    parser.add_argument("out", type=Path, help="where the merged grades.csv, report.md and feedback/ go")
    parser.add_argument("shards", type=Path, nargs="+", help="the shards' output folders")
    args = parser.parse_args(argv)
    try:
        results = merge(args.out, args.shards)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.out}/grades.csv: {len(results)} notebooks from {len(args.shards)} shards")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
