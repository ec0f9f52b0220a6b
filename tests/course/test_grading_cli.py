"""`python -m dlphys.course.grading` hands every option to `grade()` (the Slurm array relies on --secret)."""

from dlphys.course import grading


def test_secret_file_reaches_grade_so_that_shards_draw_the_same_inputs(tmp_path, monkeypatch):
    seen = {}

    def fake_grade(*args, **kwargs):
        seen.update(kwargs)
        return []

    monkeypatch.setattr(grading, "grade", fake_grade)
    secret = tmp_path / "class.secret"
    grading.main([str(tmp_path), str(tmp_path / "out"), "--shard", "1/4", "--secret", str(secret)])
    assert seen["secret"] == secret and seen["shard"] == (1, 4)
