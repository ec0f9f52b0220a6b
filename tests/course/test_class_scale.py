"""A class graded in parallel, incrementally and in shards gives the same grades.csv, byte for byte."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest

from dlphys.course import grading, notebooks, sandbox

ROOT = Path(__file__).resolve().parents[2]
NAME = "04_1_network_by_hand"
LIMITS = sandbox.Limits(wall=120, cell=60)

pytestmark = pytest.mark.skipif(
    os.environ.get("DLPHYS_SKIP_SANDBOX") == "1", reason="DLPHYS_SKIP_SANDBOX=1: no sandbox on this machine"
)


def _class(folder: Path) -> None:
    solution = nbformat.read(ROOT / "solutions" / f"{NAME}.ipynb", as_version=4)
    honest = notebooks.answered(solution, NAME)
    wrong = notebooks.answered(solution, NAME)
    for cell in wrong.cells:
        cell.source = cell.source.replace("1.0 / (1.0 + np.exp(-z))", "np.tanh(z)")
    blank = nbformat.read(ROOT / "notebooks" / f"{NAME}.ipynb", as_version=4)
    for student, nb in (("ana", honest), ("ben", blank), ("cem", wrong), ("dia", honest)):
        (folder / student).mkdir(parents=True)
        nbformat.write(nb, folder / student / f"{NAME}.ipynb")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("scale")
    _class(base / "class")
    one = grading.grade(base / "class", base / "one", ROOT / "solutions", LIMITS, jobs=1, seed=7, log=lambda *a: None)
    two = grading.grade(base / "class", base / "two", ROOT / "solutions", LIMITS, jobs=2, seed=7, log=lambda *a: None)
    shards = [
        grading.grade(
            base / "class", base / f"shard{k}", ROOT / "solutions", LIMITS, seed=7, shard=(k, 2), log=lambda *a: None
        )
        for k in range(2)
    ]
    merged = grading.merge(base / "merged", [base / "shard0", base / "shard1"])
    return {"base": base, "one": one, "two": two, "shards": shards, "merged": merged}


def test_one_and_two_workers_give_the_same_grades_csv(runs):
    base = runs["base"]
    assert (base / "one" / "grades.csv").read_bytes() == (base / "two" / "grades.csv").read_bytes()
    points = {r.student: sum(v["points"] for v in r.verdicts) for r in runs["one"]}
    assert points["ana"] == points["dia"] == 10 and points["ben"] == 0 and 0 < points["cem"] < 10


def test_shards_split_the_class_and_merge_into_the_local_result(runs):
    base = runs["base"]
    students = [{r.student for r in shard} for shard in runs["shards"]]
    assert students[0].isdisjoint(students[1]) and students[0] | students[1] == {"ana", "ben", "cem", "dia"}
    assert (base / "merged" / "grades.csv").read_bytes() == (base / "one" / "grades.csv").read_bytes()
    for student in ("ana", "ben", "cem", "dia"):
        assert (base / "merged" / "feedback" / student / f"{NAME}.html").is_file()


def test_unchanged_notebooks_are_not_graded_again_and_a_late_one_adds_its_rows(runs):
    base = runs["base"]
    logged: list[str] = []
    again = grading.grade(base / "class", base / "one", ROOT / "solutions", LIMITS, seed=7, log=logged.append)
    assert "grading 0 notebooks (4 unchanged, from the cache)" in logged[0]
    assert (base / "one" / "grades.csv").read_bytes() == (base / "two" / "grades.csv").read_bytes()
    shutil.copytree(base / "class" / "ana", base / "class" / "eve")
    logged.clear()
    late = grading.grade(base / "class", base / "one", ROOT / "solutions", LIMITS, seed=7, log=logged.append)
    assert "grading 1 notebooks (4 unchanged" in logged[0]
    assert len(late) == len(again) + 1 and any(r.student == "eve" for r in late)
    logged.clear()
    grading.grade(base / "class", base / "one", ROOT / "solutions", LIMITS, seed=7, log=logged.append, force=True)
    assert "grading 5 notebooks (0 unchanged" in logged[0]
    shutil.rmtree(base / "class" / "eve")


def test_merge_refuses_other_course_versions_and_students_in_two_shards(runs, tmp_path):
    base = runs["base"]
    other = tmp_path / "other"
    shutil.copytree(base / "shard0", other)
    records = json.loads((other / "records.json").read_text())
    records["course_version"] = "0" * 16
    (other / "records.json").write_text(json.dumps(records))
    with pytest.raises(ValueError, match="different course versions"):
        grading.merge(tmp_path / "m1", [base / "shard1", other])
    with pytest.raises(ValueError, match="in two shards"):
        grading.merge(tmp_path / "m2", [base / "shard0", base / "shard0"])
    with pytest.raises(ValueError, match="not a graded shard"):
        grading.merge(tmp_path / "m3", [tmp_path])


def test_shard_of_is_a_stable_hash_of_the_student_id():
    assert [grading.shard_of(s, 4) for s in ("ana", "ben", "cem")] == [
        grading.shard_of(s, 4) for s in ("ana", "ben", "cem")
    ]
    counts = [sum(grading.shard_of(f"student{i}", 4) == k for i in range(400)) for k in range(4)]
    assert min(counts) > 70  # about 100 each
