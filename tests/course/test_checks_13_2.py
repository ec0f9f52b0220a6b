"""The judge of 13.2 against thermometers whose quality is known: the exact posterior itself, and worse ones.

No network is trained: the saved model's outputs (what the clean sandbox returns, (μ, ln σ)) are made from the
exact posterior.
"""

from __future__ import annotations

import numpy as np
import pytest

from dlphys.course import checks
from dlphys.course.checks import Context
from dlphys.course.checks import ex13_2 as judge

PARAMS = {"N_CHAINS": 200, "N_TEST_CHAINS": 100, "T_MIN": 1.5, "T_MAX": 3.5, "SIZE": 32, "SEED": 42}


@pytest.fixture(scope="module")
def prepared():
    exercise = checks.load("13_2_ising_thermometer")
    ctx = Context("13_2_ising_thermometer", 3, PARAMS, True)
    exercise.prepare(ctx)
    return exercise, ctx


def _results(ctx, widen=1.0, shift=0.0):
    """What a notebook whose network reports the exact posterior's mean (+ shift σ) and width (× widen) returns."""
    fresh, test = ctx.kept["fresh_posterior"], ctx.kept["test_posterior"]

    def net(posterior):
        return [posterior["mean"] + shift * posterior["std"], widen * posterior["std"]]

    def saved(posterior):  # the saved model's output (n, 2) = (μ, ln σ)
        mu, sigma = net(posterior)
        return np.column_stack([mu, np.log(sigma)]).astype("float32")

    figures = judge._figures(*net(test), ctx.kept["T_test"], test, ctx.kept["grid"])
    y_true, y_pred = ctx.sent["y_true"][:, 0], ctx.sent["y_pred"]
    nll = np.mean(0.5 * ((y_true - y_pred[:, 0]) / np.exp(y_pred[:, 1])) ** 2 + y_pred[:, 1] + 0.5 * np.log(2 * np.pi))
    return {
        "energy_std": judge.energy_std(ctx.sent["T"], 32),
        "exact_mean": test["mean"],
        "exact_std": test["std"],
        "nll": nll,
        "model_fresh": saved(fresh),
        "model_test": saved(test),
        "test": net(test),
        **figures,
    }


def test_the_exact_posterior_as_a_network_earns_every_point(prepared):
    exercise, ctx = prepared
    assert sum(exercise.points(_results(ctx), ctx).values()) == 10


def test_the_regenerated_test_lattices_are_the_notebooks(prepared):
    """The judge rebuilds the test set as the given cell does: 100 temperatures × 10 lattices in fast mode."""
    _, ctx = prepared
    assert ctx.sent["spins_test"].shape == (1000, 32, 32) and len(np.unique(ctx.kept["T_test"])) == 100


@pytest.mark.parametrize(("widen", "shift"), [(1.6, 0.0), (0.6, 0.0), (1.0, 1.2)])
def test_a_width_or_a_mean_far_off_loses_the_points_of_task_2(prepared, widen, shift):
    exercise, ctx = prepared
    per_task = exercise.points(_results(ctx, widen, shift), ctx)
    assert per_task["2"] <= 2 and per_task["3"] == 2  # reported numbers that describe the network still count


def test_reported_numbers_that_do_not_describe_the_network_lose_their_points(prepared):
    exercise, ctx = prepared
    results = _results(ctx, widen=1.2)
    results.update(sigma_ratio=1.0, mean_offset=0.0, nll_gap=results["nll_floor"])
    per_task = exercise.points(results, ctx)
    assert per_task["3"] == 0 and per_task["5"] == 0


def test_the_fresh_lattices_stay_with_the_judge(prepared):
    """Only the saved model sees the fresh lattices; the student's sandbox gets the test lattices alone."""
    exercise, ctx = prepared
    assert "spins" not in ctx.sent and ctx.kept["fresh_spins"].shape == (600, 32, 32)
    assert exercise.runs["model_fresh"][1](None, ctx) is ctx.kept["fresh_spins"]


def test_a_predict_that_returns_the_exact_posterior_instead_of_the_network_earns_nothing_for_it(prepared):
    """One line of code (``predict`` = the exact posterior) against an untrained network: only task 1's work counts."""
    exercise, ctx = prepared
    results = _results(ctx)
    untrained = np.column_stack([np.full(len(ctx.kept["fresh_T"]), 2.5), np.full(len(ctx.kept["fresh_T"]), -2.0)])
    results["model_fresh"] = untrained.astype("float32")
    results["model_test"] = np.column_stack(
        [np.full(len(ctx.kept["T_test"]), 2.5), np.full(len(ctx.kept["T_test"]), -2.0)]
    ).astype("float32")
    per_task = exercise.points(results, ctx)
    assert per_task["1"] == 2 and per_task["2"] == 1  # energy_std, exact and gaussian_nll are the student's work
    assert per_task["3"] == per_task["4"] == per_task["5"] == 0


@pytest.mark.parametrize(("widen", "shift"), [(1.6, 0.0), (0.6, 0.0), (1.0, 1.2)])
def test_error_bars_that_do_not_cover_the_truth_on_fresh_lattices_lose_half_of_task_4(prepared, widen, shift):
    """Task 4 counts coverages; the network's own must also be honest (0.683 and 0.95 within the page's
    tolerance) on lattices it never saw: an untrained or miscalibrated network earns only the counting."""
    exercise, ctx = prepared
    verdicts = {v.name: v for v in exercise.judge(_results(ctx, widen, shift), ctx)}
    assert verdicts["coverages_count_the_test_lattices"].points == 0.5
    assert verdicts["error_bars_cover_the_truth_on_fresh_lattices"].points == 0
    assert "fresh lattices" in verdicts["error_bars_cover_the_truth_on_fresh_lattices"].message
