"""The Slurm path for real (``make test-cluster``): a class graded as an array job on a single-node Slurm.

``make test-cluster`` starts the Slurm of ``cluster/slurm/start-local.sh`` and sets ``DLPHYS_TEST_CLUSTER=1``;
without it these tests are skipped. The class is graded twice: on this machine (``grade``, two workers) and with
``cluster/slurm/submit.sh`` in four shards plus the dependent merge job; both share the class's secret, so the
merged ``grades.csv`` must equal the local one byte for byte.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from dlphys.course import grading, notebooks, sandbox

ROOT = Path(__file__).resolve().parents[2]
SHARDS = 4

pytestmark = pytest.mark.skipif(
    os.environ.get("DLPHYS_TEST_CLUSTER") != "1", reason="needs the local Slurm of `make test-cluster`"
)


def _class(folder: Path) -> None:
    """Ten students, two exercises: honest, blank, wrong and cheating notebooks, and a broken file."""
    made = {}
    for name in ("04_1_network_by_hand", "03_2_wine_linear_regression"):
        solution = nbformat.read(ROOT / "solutions" / f"{name}.ipynb", as_version=4)
        blank = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
        cheat = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
        cheat.cells.insert(3, nbformat.v4.new_code_cell("import numpy as np\nnp.allclose = lambda *a, **k: True"))
        made[name] = {"honest": notebooks.answered(solution, name), "blank": blank, "cheat": cheat}
    plan = {
        "s01": [("04_1_network_by_hand", "honest")],
        "s02": [("04_1_network_by_hand", "blank")],
        "s03": [("03_2_wine_linear_regression", "honest")],
        "s04": [("03_2_wine_linear_regression", "cheat")],
        "s05": [("04_1_network_by_hand", "honest"), ("03_2_wine_linear_regression", "honest")],
        "s06": [("04_1_network_by_hand", "cheat")],
        "s07": [("03_2_wine_linear_regression", "blank")],
        "s08": [("04_1_network_by_hand", "honest"), ("03_2_wine_linear_regression", "blank")],
        "s09": [("04_1_network_by_hand", "blank")],
    }
    for student, items in plan.items():
        for name, kind in items:
            (folder / student).mkdir(parents=True, exist_ok=True)
            nbformat.write(made[name][kind], folder / student / f"{name}.ipynb")
    (folder / "s10").mkdir()
    (folder / "s10" / "04_1_network_by_hand.ipynb").write_text("{not json", encoding="utf-8")


def _wait(job: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        queue = subprocess.run(["squeue", "-h", "-j", job], capture_output=True, text=True).stdout.strip()
        if not queue:
            return
        time.sleep(2)
    subprocess.run(["scancel", job], check=False)
    raise AssertionError(f"Slurm job {job} still queued or running after {seconds} s")


def test_array_job_in_shards_gives_the_local_grades(tmp_path):
    _class(tmp_path / "class")
    cluster_out = tmp_path / "cluster"
    cluster_out.mkdir()
    secret = cluster_out / ".grading-secret"
    secret.write_text("a secret the class shares\n")
    os.chmod(secret, 0o600)
    limits = sandbox.Limits(wall=300, cell=120)
    local = grading.grade(
        tmp_path / "class", tmp_path / "local", ROOT / "solutions", limits, jobs=2, secret=secret, log=lambda *a: None
    )
    assert {r.student for r in local} == {f"s{i:02d}" for i in range(1, 11)}
    env = dict(os.environ, DLPHYS_PYTHON=sys.executable, DLPHYS_GRADE_ARGS="--timeout 300 --cell-timeout 120")
    env["PYTHONPATH"] = str(ROOT / "src")
    submitted = subprocess.run(
        ["bash", str(ROOT / "cluster" / "slurm" / "submit.sh"), str(tmp_path / "class"), str(cluster_out), str(SHARDS)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
    )
    merge_job = submitted.stdout.strip().splitlines()[-1].split(";")[0]
    _wait(merge_job, 900)
    logs = "\n".join(p.read_text(errors="replace")[-2000:] for p in cluster_out.glob("*.log"))
    assert (cluster_out / "grades.csv").is_file(), logs
    assert sorted(p.name for p in cluster_out.glob("shard-*")) == [f"shard-{k}" for k in range(SHARDS)]
    assert (cluster_out / "grades.csv").read_bytes() == (tmp_path / "local" / "grades.csv").read_bytes(), logs
    report = (cluster_out / "report.md").read_text()
    assert f"merged from {SHARDS} shard(s)" in report
