"""The judge of 19.2 against answers whose quality is known: its own exact methods, and broken ones."""

from __future__ import annotations

import numpy as np
import pytest

from dlphys.course import checks
from dlphys.course.checks import Context
from dlphys.course.checks import ex19_2 as judge
from dlphys.datasets import spectrum

PARAMS = {"N_SIM": 100_000, "N_DATA": 25_000, "ITERATIONS": 4, "SEED": 42}


@pytest.fixture(scope="module")
def prepared():
    exercise = checks.load("19_2_unfolding_spectrum")
    ctx = Context("19_2_unfolding_spectrum", 9, PARAMS, True)
    exercise.prepare(ctx)
    return exercise, ctx


def omnifold(ctx, iterations):
    """Binned OmniFold with the judge's own reweighting: the push weights (iterations, N_SIM)."""
    sim, data = ctx.kept["sim"], ctx.kept["data"]
    nu, pushes = np.ones(len(sim["truth"])), []
    for _ in range(iterations):
        omega = judge.binned_reweight(sim["reco"], nu, data["reco"], np.ones(len(data["reco"])), judge.RECO_BINS)
        nu = judge.binned_reweight(sim["truth"], np.ones_like(nu), sim["truth"], omega, judge.TRUTH_BINS)
        pushes.append(nu)
    return np.array(pushes)


def _results(ctx, gauss=None):
    s, k = ctx.sent, ctx.kept
    pushes = omnifold(ctx, PARAMS["ITERATIONS"])
    counts = np.array([np.histogram(k["sim"]["truth"], judge.TRUTH_BINS, weights=nu)[0] for nu in pushes])
    true_counts = k["true_counts"]
    eddington = np.divide(k["counts"][1:-1], true_counts, out=np.full(20, np.nan), where=true_counts > 0)
    w_refine = spectrum.refinement_weight(k["sim"]["reco"]) * PARAMS["N_DATA"] / PARAMS["N_SIM"]
    return {
        "response": judge.response_matrix(s["truth"], s["reco"]),
        "eddington": np.where(np.isnan(eddington), -1.0, eddington),
        "gauss": judge.gaussian_expectation(s["g_from"], s["g_w_to"].sum()) if gauss is None else gauss,
        "w_refine": w_refine,
        "ibu": judge.ibu(s["counts"], s["matrix"], s["prior"], 3),
        "unfolded": k["unfolded"],
        "unfolded_error": k["unfolded_error"] * 1.1,
        "binned": judge.binned_reweight(s["b_from"], s["b_w_from"], s["b_to"], s["b_w_to"], s["bins"]),
        "omnifold_binned_pushes": pushes[:2],
        "omnifold_binned": counts,
        "omnifold_neural": counts,
        "nu_neural": pushes,
    }


def test_exact_methods_earn_every_point_and_binned_omnifold_is_ibu(prepared):
    exercise, ctx = prepared
    assert exercise.points(_results(ctx), ctx) == {"1": 2, "2": 3, "3": 2, "4": 3}


def test_a_reweighting_that_ignores_the_per_event_weights_loses_its_points(prepared):
    exercise, ctx = prepared
    s = ctx.sent
    ignoring = judge.gaussian_expectation(s["g_from"], 1.0) * s["g_w_from"]  # w_from × the unweighted ratio
    per_task = exercise.points(_results(ctx, gauss=ignoring * s["g_w_to"].sum() / ignoring.sum()), ctx)
    assert per_task["2"] == 1


def test_an_unfolding_that_stops_at_the_prior_or_reports_made_up_counts_loses_its_points(prepared):
    exercise, ctx = prepared
    results = _results(ctx)
    results["ibu"] = np.tile(ctx.sent["prior"] * ctx.sent["counts"].sum() / ctx.sent["prior"].sum(), (3, 1))
    results["unfolded"] = ctx.kept["unfolded"] * 1.01
    results["nu_neural"] = np.ones_like(results["nu_neural"]) * PARAMS["N_DATA"] / PARAMS["N_SIM"]
    per_task = exercise.points(results, ctx)
    assert per_task["3"] == 0 and per_task["4"] == 2


def test_the_judges_ibu_recovers_the_truth_of_the_data(prepared):
    """Not a check of students: the reference itself is within a few per cent of the data's true events."""
    _, ctx = prepared
    populated = ctx.kept["true_counts"] >= 400
    deviation = ctx.kept["unfolded"][-1][populated] / ctx.kept["true_counts"][populated] - 1
    assert np.max(np.abs(deviation)) < 0.08
