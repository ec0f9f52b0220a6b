"""The trusted checks: one module per exercise, points as announced, and a judge that survives any result file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from dlphys.course import checks
from dlphys.course.notebooks import BEGIN_HIDDEN, GRADING_CELL

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = sorted(p.stem for p in (ROOT / "solutions").glob("*.ipynb"))


def _announced_points(name: str) -> dict[str, float]:
    nb = nbformat.read(ROOT / "solutions" / f"{name}.ipynb", as_version=4)
    points: dict[str, float] = {}
    for cell in nb.cells:
        match = GRADING_CELL.fullmatch(cell.source.split("\n", 1)[0].strip()) if cell.cell_type == "code" else None
        if match:
            points[match["task"]] = points.get(match["task"], 0.0) + float(match["points"])
    return points


@pytest.mark.parametrize("name", SOLUTIONS)
def test_every_exercise_has_checks_worth_the_points_its_page_announces(name):
    exercise = checks.load(name)
    assert exercise.max_points == _announced_points(name)
    assert exercise.collect, "an exercise must declare what the sandbox returns"
    for expression in exercise.collect.values():
        compile(expression, "<collect>", "eval")  # every expression is a Python expression


@pytest.mark.parametrize("name", SOLUTIONS)
def test_no_hidden_test_is_left_in_the_solutions(name):
    """The hidden tests moved into the trusted checks, the one place where the criteria live."""
    text = (ROOT / "solutions" / f"{name}.ipynb").read_text(encoding="utf-8")
    assert BEGIN_HIDDEN not in text


def _results(tmp_path: Path, meta, arrays: dict | None = None) -> Path:
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text(meta if isinstance(meta, str) else json.dumps(meta))
    np.savez(out / "results.npz", **(arrays or {}))
    return out


def test_results_decode_nested_values_without_pickle(tmp_path):
    meta = {"results": {"x": {"ok": {"dict": {"a": {"array": "a0"}, "b": {"list": [{"str": "s"}, {"none": True}]}}}}}}
    results = checks.Results(_results(tmp_path, meta, {"a0": np.arange(3)}))
    value = results["x"]
    assert np.array_equal(value["a"], [0, 1, 2]) and value["b"] == ["s", None]


@pytest.mark.parametrize(
    "meta",
    [
        "not json",
        json.dumps({"results": []}),
        json.dumps({"results": {"x": {"ok": {"array": "missing"}}}}),
        json.dumps({"results": {"x": {"ok": {"bogus": 1}}}}),
        json.dumps({"results": {"x": {"ok": {"dict": {"y": {"list": "no"}}}}}}),
    ],
)
def test_malformed_results_fail_the_check_not_the_grader(tmp_path, meta):
    try:
        results = checks.Results(_results(tmp_path, meta))
    except checks.ResultMissing:
        return
    with pytest.raises(checks.ResultMissing):
        results["x"]


def test_a_pickled_array_is_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text(json.dumps({"results": {"x": {"ok": {"array": "a0"}}}}))
    np.savez(out / "results.npz", a0=np.array([object()], dtype=object))
    with pytest.raises(checks.ResultMissing):
        checks.Results(out)["x"]


def test_student_errors_become_the_checks_message(tmp_path):
    meta = {"results": {"f": {"error": "NameError: name 'forward' is not defined"}, "g": {"error": "ValueError: bad"}}}
    results = checks.Results(_results(tmp_path, meta))
    with pytest.raises(checks.ResultMissing, match="`forward` is not defined"):
        results["f"]
    with pytest.raises(checks.ResultMissing, match="ValueError: bad"):
        results["g"]


def test_a_check_that_raises_gives_zero_with_the_reason():
    exercise = checks.Exercise("00_0_demo", collect={"x": "x"})

    @exercise.check(task="1", points=2)
    def fine(r, ctx):
        pass

    @exercise.check(task="1", points=3)
    def crashes(r, ctx):
        raise ZeroDivisionError("boom")

    @exercise.check(task="2", points=1)
    def fails(r, ctx):
        raise AssertionError("expected more")

    ctx = checks.Context("00_0_demo", 1, {}, True)
    verdicts = exercise.judge(object(), ctx)
    assert [(v.points, v.max_points) for v in verdicts] == [(2, 2), (0, 3), (0, 1)]
    assert "ZeroDivisionError" in verdicts[1].message and verdicts[2].message == "expected more"
    assert all(v.points == 0 and v.message == "nothing" for v in exercise.judge(None, ctx, "nothing"))
    assert exercise.max_points == {"1": 5.0, "2": 1.0}


def test_check_helpers_state_the_criterion():
    with pytest.raises(AssertionError, match=r"expected y of shape \(n, 2\), got \(3,\)"):
        checks.array([1, 2, 3], (None, 2), "y")
    with pytest.raises(AssertionError, match="NaN"):
        checks.array([1, np.nan], name="y")
    assert checks.number(np.array([[2.5]])) == 2.5
    huge = np.broadcast_to(np.uint8(1), (checks.MAX_ELEMENTS + 1,))  # no memory of its own; as floats 256 MB
    with pytest.raises(AssertionError, match="at most"):
        checks.array(huge, (None,), "images")
    assert re.fullmatch(r"ex\d\d_\d+", checks.module_name("04_1_network_by_hand"))


def test_results_behind_a_link_are_not_read(tmp_path):
    """A link in the results folder (the notebook could plant one) is refused, not followed."""
    real = _results(tmp_path, {"results": {"x": {"ok": {"none": True}}}})
    linked = tmp_path / "linked"
    linked.mkdir()
    for name in ("results.json", "results.npz"):
        (linked / name).symlink_to(real / name)
    assert "x" in checks.Results(real)
    with pytest.raises(checks.ResultMissing, match="no results"):
        checks.Results(linked)


def test_a_run_of_a_saved_model_reads_like_a_collected_value_and_says_why_it_is_missing(tmp_path):
    exercise = checks.Exercise("00_0_demo", models={"model": "model"}, runs={"model_test": ("model", "x")})
    assert exercise.collect == {"model:model": "keras_bytes(model)"}
    both = checks.Exercise("00_0_demo", collect={"y": "model.predict(inputs['x'])"}, models={"model": "model"})
    assert list(both.collect) == ["model:model", "y"]  # saved before any expression sees the judge's inputs
    meta = {"results": {"model:model": {"error": "NameError: name 'model' is not defined"}}}
    results = checks.Results(_results(tmp_path, meta))
    ctx = checks.Context("00_0_demo", 1, {}, True, sent={"x": np.ones((2, 3))})
    assert exercise.inputs_for_models(results, ctx) == ({}, {})  # nothing to run: the reason is kept instead
    assert "model_test" not in results
    with pytest.raises(checks.ResultMissing, match=r"could not be saved.*not defined"):
        results["model_test"]
    results.models["model"] = {"layers": [], "outputs": {"model_test": np.zeros((2, 1))}}
    assert "model_test" in results and results["model_test"].shape == (2, 1)
    with pytest.raises(ValueError, match="undeclared models"):
        checks.Exercise("00_0_demo", runs={"p": ("other", "x")})


def test_the_inputs_of_a_run_come_from_the_sent_inputs_or_a_function(tmp_path):
    exercise = checks.Exercise(
        "00_0_demo",
        models={"model": "model"},
        runs={"a": ("model", "fresh/x"), "b": ("model", lambda r, ctx: 2 * ctx.sent["fresh"]["x"])},
    )
    meta = {"results": {"model:model": {"ok": {"array": "a0"}}}}
    results = checks.Results(_results(tmp_path, meta, {"a0": np.frombuffer(b"PK", dtype=np.uint8)}))
    ctx = checks.Context("00_0_demo", 1, {}, True, sent={"fresh": {"x": np.arange(3.0)}})
    archives, inputs = exercise.inputs_for_models(results, ctx)
    assert archives == {"model": b"PK"}
    assert np.array_equal(inputs["model"]["a"], [0, 1, 2]) and np.array_equal(inputs["model"]["b"], [0, 2, 4])
    assert exercise.run_layers == {}


def test_a_run_whose_inputs_cannot_be_made_fails_alone(tmp_path):
    """A run built from an unusable student result (say, attacked images of the wrong shape) costs that run, not
    the model's other runs; a model none of whose runs could be made says why."""

    def unusable(r, ctx):
        raise AssertionError("expected the attacked images of shape (10, 28, 28)")

    exercise = checks.Exercise(
        "00_0_demo",
        models={"model": "model", "other": "other"},
        runs={"good": ("model", "x"), "bad": ("model", unusable), "o": ("other", unusable)},
    )
    meta = {"results": {f"model:{m}": {"ok": {"array": "a0"}} for m in ("model", "other")}}
    results = checks.Results(_results(tmp_path, meta, {"a0": np.frombuffer(b"PK", dtype=np.uint8)}))
    ctx = checks.Context("00_0_demo", 1, {}, True, sent={"x": np.arange(3.0)})
    archives, inputs = exercise.inputs_for_models(results, ctx)
    assert list(archives) == ["model"] and list(inputs["model"]) == ["good"]
    results.models["model"] = {"layers": [], "outputs": {"good": np.zeros(3)}, "run_errors": {}}
    assert np.array_equal(results["good"], np.zeros(3))
    with pytest.raises(checks.ResultMissing, match="of shape"):
        results["bad"]
    with pytest.raises(checks.ResultMissing, match="of shape"):
        results["o"]
    results.models["model"]["run_errors"]["good"] = "ValueError: No such layer: features"
    with pytest.raises(checks.ResultMissing, match=r"could not be run for `good`.*features"):
        results["good"]
    with pytest.raises(ValueError, match="named like collected"):
        checks.Exercise("00_0_demo", models={"m": "m"}, runs={"x": ("m", "x")}, collect={"x": "x"})


def test_a_run_may_name_the_layer_whose_outputs_it_returns():
    exercise = checks.Exercise(
        "00_0_demo",
        models={"model": "model", "other": "other"},
        runs={"out": ("model", "x"), "feat": ("model", "x", "features"), "o": ("other", "x")},
    )
    assert exercise.run_layers == {"model": {"feat": "features"}}
    with pytest.raises(ValueError, match="model, source, layer"):
        checks.Exercise("00_0_demo", models={"model": "model"}, runs={"bad": ("model",)})
