"""The judge of 19.1 against answers whose quality is known: perfect classifiers, and ones wrong in specific ways."""

from __future__ import annotations

import numpy as np
import pytest

from dlphys.course import checks
from dlphys.course.checks import Context
from dlphys.course.checks import ex19_1 as judge
from dlphys.datasets import ising

PARAMS = {"N_TEST_PER_T": 40, "FLIP": 0.1, "SIZE": 32, "SEED": 42, "SCAN_LAMBDAS": [0.3, 3.0]}


@pytest.fixture(scope="module")
def prepared():
    exercise = checks.load("19_1_ising_domain_adaptation")
    ctx = Context("19_1_ising_domain_adaptation", 5, PARAMS, True)
    exercise.prepare(ctx)
    return exercise, ctx


def _phase(T, t_cut=ising.TC):
    return (np.asarray(T) < t_cut).astype(float)


def _readable(rng, T, t_cut=ising.TC):
    """Features (n, 8) of one domain from which a linear classifier reads the phase (dimension 0), nothing else."""
    return rng.normal(size=(len(T), 8)) + np.c_[4.0 * _phase(T, t_cut), np.zeros((len(T), 7))]


HEAD = [np.r_[3.0, np.zeros(7)][:, None], np.array([-6.0])]  # Dense(1) weights of _head


def _head(features):
    """P(ordered) of a Dense(1, sigmoid) head on the features: wrong for 2 % of the lattices (Φ(−2))."""
    return 1 / (1 + np.exp(-3.0 * (features[:, 0] - 2.0)))


def _results(ctx, source_cut=1.9):
    """A notebook whose networks know the phase (2 % wrong), except the source CNN on data (ordered only below 1.9)."""
    k, s = ctx.kept, ctx.sent
    rng = np.random.default_rng(0)
    test = {
        "source": _phase(k["T_test"], source_cut),
        "cut": _phase(k["T_test"]),
        "oracle": _phase(k["T_test"]),
        "dann": _phase(k["T_test"]),
    }
    scores = {name: list(judge._figures(p, k["T_test"])) for name, p in test.items()}
    lam1, lam2 = s["lam1"], s["lam2"]
    # the source CNN's features: the phase (on data: ordered only below source_cut) and the domain (dimension 1)
    source = [_readable(rng, k["T_clean"]) + np.r_[0.0, 2.0, np.zeros(6)], _readable(rng, k["T_data"], source_cut)]
    dann = [_readable(rng, k["T_clean"]), _readable(rng, k["T_data"])]  # DANN's: the phase only
    return {
        "source_clean": _head(source[0]),
        "source_data": _head(source[1]),
        "cut_data": _phase(k["T_data"]),
        "oracle_data": _phase(k["T_data"]),
        "dann_clean": _head(dann[0]),
        "dann_data": _head(dann[1]),
        "dann_label": _head(dann[1])[:, None],
        "source_head": HEAD,
        "dann_head": HEAD,
        "dann_layers": ["InputLayer", "Sequential", "Dense", "GradientReversal", "Dense", "Dense"],
        "test": test,
        "scores": scores,
        "grl": [s["x"], -lam1 * s["w"], 0, -lam2 * s["w"]],
        "features": {
            "source": source,
            "oracle": source,
            "dann": dann,
        },
        "scan_test": {"0.3": test["dann"], "3.0": test["source"]},
        "scan_scores": {"0.3": scores["dann"], "3.0": scores["source"]},
    }


def test_a_perfect_answer_earns_every_point(prepared):
    exercise, ctx = prepared
    assert exercise.points(_results(ctx), ctx) == {"1": 2, "2": 2, "3": 1, "4": 1, "5": 2, "6": 1, "7": 1}


def test_the_regenerated_test_set_is_the_notebooks(prepared):
    """21 temperatures × N_TEST_PER_T lattices, read through the detector (about 10 % of the spins flipped)."""
    _, ctx = prepared
    x_test, T_test = ctx.sent["x_test"], ctx.kept["T_test"]
    assert x_test.shape == (21 * 40, 32, 32) and len(np.unique(T_test)) == 21
    clean, _ = ising.simulate(ising.DEFAULT_TEMPERATURES, 40, 32, seed=42 + 3, progress=False)
    assert 0.09 < np.mean(clean != x_test) < 0.11


def test_nothing_returned_earns_nothing(prepared):
    exercise, ctx = prepared
    assert sum(exercise.points({}, ctx).values()) == 0


def test_a_dann_no_better_than_the_source_cnn_loses_its_point(prepared):
    exercise, ctx = prepared
    results = _results(ctx)
    results["dann_data"] = results["source_data"]  # DANN no better than the source CNN on data
    results["dann_label"] = results["source_data"][:, None]
    per_task = exercise.points(results, ctx)
    assert per_task["5"] == 1 and per_task["1"] == 2


def test_predict_dann_that_is_not_the_models_label_head_loses_the_point(prepared):
    exercise, ctx = prepared
    results = _results(ctx)
    results["dann_label"] = 1 - results["dann_label"]
    assert exercise.points(results, ctx)["5"] == 1
    results = _results(ctx)
    results["dann_layers"] = ["InputLayer", "Sequential", "Dense"]
    assert exercise.points(results, ctx)["5"] == 1


@pytest.mark.parametrize("defect", ["frozen_lambda", "no_reversal", "not_identity"])
def test_a_wrong_gradient_reversal_loses_task_4(prepared, defect):
    exercise, ctx = prepared
    results = _results(ctx)
    x, w, lam1 = ctx.sent["x"], ctx.sent["w"], ctx.sent["lam1"]
    if defect == "frozen_lambda":  # λ as a Python float: the traced function keeps the first value
        results["grl"][3] = -lam1 * w
    elif defect == "no_reversal":
        results["grl"][1], results["grl"][3] = w, w
    else:
        results["grl"][0] = -x
    assert exercise.points(results, ctx)["4"] == 0


def test_a_cut_that_ignores_the_lattice_loses_its_point(prepared):
    exercise, ctx = prepared
    results = _results(ctx)
    results["cut_data"] = np.ones_like(results["cut_data"])
    per_task = exercise.points(results, ctx)
    assert per_task["2"] == 1


def test_a_source_cnn_that_fails_on_clean_lattices_loses_its_point(prepared):
    exercise, ctx = prepared
    results = _results(ctx)
    results["source_clean"] = _phase(ctx.kept["T_clean"], 1.5)  # 6 of 21 temperatures wrong: accuracy 0.71
    assert exercise.points(results, ctx)["1"] == 1


def test_reported_scores_that_do_not_describe_the_functions_lose_their_points(prepared):
    exercise, ctx = prepared
    results = _results(ctx)
    results["scores"] = {name: [1.0, ising.TC] for name in results["scores"]}  # claimed, not computed
    results["scan_scores"] = {lam: [1.0, ising.TC] for lam in results["scan_scores"]}
    per_task = exercise.points(results, ctx)
    # source, cut, oracle, DANN each lose the recomputed score's point, and the scan its point
    assert per_task == {"1": 1, "2": 1, "3": 0, "4": 1, "5": 1, "6": 1, "7": 0}


def test_source_features_that_do_not_tell_the_domains_apart_lose_task_6(prepared):
    """Then the source CNN would not fail on the data: the features returned are not the ones it used."""
    exercise, ctx = prepared
    results = _results(ctx)
    clean, data = results["features"]["source"]
    results["features"]["source"] = [clean - np.r_[0.0, 2.0, np.zeros(6)], data]
    assert exercise.points(results, ctx)["6"] == 0


def test_a_scan_without_the_pages_lambdas_loses_task_7(prepared):
    exercise, ctx = prepared
    results = _results(ctx)
    del results["scan_test"]["3.0"], results["scan_scores"]["3.0"]
    assert exercise.points(results, ctx)["7"] == 0


def test_crossing_temperature_of_a_step_lies_between_its_grid_points():
    T = np.repeat(ising.DEFAULT_TEMPERATURES, 3)
    assert judge.crossing_temperature(T, _phase(T)) == pytest.approx(2.3125)  # halfway from 2.25 to 2.375
    assert judge.crossing_temperature(T, np.zeros(len(T))) == 1.0
    assert judge.crossing_temperature(T, np.ones(len(T))) == 3.5


def test_dann_features_that_are_noise_lose_task_6(prepared):
    """Noise cannot be told apart by domain, but the label head could not read the phase from it either."""
    exercise, ctx = prepared
    results = _results(ctx)
    rng = np.random.default_rng(1)
    results["features"]["dann"] = [rng.normal(size=f.shape) for f in results["features"]["dann"]]
    assert exercise.points(results, ctx)["6"] == 0


def test_features_that_the_label_head_does_not_read_lose_task_6(prepared):
    """A DANN replaced by the rescaled cut (decisions 0/1), or features other than the head's input."""
    exercise, ctx = prepared
    results = _results(ctx)
    for key in ("dann_clean", "dann_data"):
        results[key] = np.round(results[key])
    assert exercise.points(results, ctx)["6"] == 0
    results = _results(ctx)
    results["features"]["dann"] = [f[:, ::-1] for f in results["features"]["dann"]]
    assert exercise.points(results, ctx)["6"] == 0
